"""Schemas of what changed between crawls (GET /v1/jobs/{id}/changes) and of one URL's history
across crawls (GET /v1/domains/{domain_id}/history). The comparison itself is contract.changes,
the same model the crawler stores on a completed job and the webhook carries."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from contract.changes import ChangeKind, Comparison
from contract.vocabulary import CacheStatus, TaskStatus
from control_api.base_schemas import PageQuery, Pagination, refuse_nul


class ChangesQuery(PageQuery):
    """Query string of GET /v1/jobs/{id}/changes."""

    since: str | None = Field(None, max_length=36, description="An earlier terminal job of your organisation on the same "
                              "domain; default: the previous completed one.")  # fmt: skip
    kind: ChangeKind | None = Field(None, description="List the URLs of this kind (one of the summary's keys).")
    limit: int = Field(50, ge=1, le=1000)

    no_nul = field_validator("since")(refuse_nul)


class ChangeSide(BaseModel):
    """A URL as one of the two crawls recorded it."""

    status: TaskStatus
    http_status: int | None
    final_url: str | None = Field(description="Where its redirects led; null without redirects.")
    response_time_ms: int | None
    cache_status: CacheStatus | None
    is_broken: bool
    is_slow: bool
    error: str | None


class ChangeRow(BaseModel):
    url: str
    before: ChangeSide | None = Field(description="In the earlier crawl; null when it was not crawled then.")
    after: ChangeSide | None = Field(description="In this crawl; null when it was not crawled now.")
    referrers: list[str] | None = Field(None, description="Broken-link kinds: the pages linking to it, in the crawl "
                                        "where it was broken.")  # fmt: skip


class Changes(Comparison):
    """The comparison, and with `kind` one page of that kind's URLs."""

    job_id: str
    kind: ChangeKind | None = Field(None, description="Present with `kind`: the kind listed.")
    items: list[ChangeRow] | None = Field(None, description="Present with `kind`: its URLs, in the order the crawl met them.")
    pagination: Pagination | None = Field(None, description="Present with `kind`.")


class DomainPath(BaseModel):
    # Bounded like the column (a 32-bit integer on PostgreSQL), so a huge id is a 400, not a 500.
    domain_id: int = Field(ge=1, le=2**31 - 1, description="The `domain_id` of the domain's jobs.")


class HistoryQuery(PageQuery):
    """Query string of GET /v1/domains/{domain_id}/history."""

    url: str = Field(max_length=8192, description="The URL as the crawls recorded it (a task's `url`).")
    limit: int = Field(50, ge=1, le=1000)

    no_nul = field_validator("url")(refuse_nul)


class HistoryEntry(BaseModel):
    job_id: str
    job_created_at: datetime
    fetched_at: datetime
    status: TaskStatus
    http_status: int | None
    response_time_ms: int | None
    cache_status: CacheStatus | None
    is_broken: bool
    is_slow: bool


class UrlHistory(BaseModel):
    domain_id: int
    url: str
    history: list[HistoryEntry] = Field(description="Newest crawl first; crawls whose rows retention deleted are not in it.")
    pagination: Pagination
