"""Schemas of a job's crawl results: the tasks list and its query, the issues report and the export
query (the job schemas are in control_api/jobs/schemas.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from contract.external import ExternalOutcome
from contract.record import RedirectHop, TaskRecord
from contract.vocabulary import CacheStatus, TaskKind, TaskStatus
from control_api.base_schemas import comma_list, PageQuery, Pagination, QueryModel, refuse_nul

TASK_STATUSES = tuple(TaskStatus)
CACHE_STATUSES = (*CacheStatus, "none")
ISSUE_TYPES = ("broken_link", "slow", "redirect_chain", "server_error")
TASK_SORTS = ("id", "url", "response_time_ms", "ttfb_ms", "http_status", "bytes", "depth")
TASK_KINDS = tuple(TaskKind)
# HTTP status classes of the final response; `none` is a URL with no HTTP status at all: a network
# error, a timeout, a refusal, or a URL that was not fetched (status=skipped).
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "none")
MAX_ROW_ID = 2**63 - 1  # the tasks table's BIGINT id: a larger one is no row (never a 500 on PostgreSQL)


class TaskOut(TaskRecord):
    """A task as the API serves it: the per-URL record plus its row id, issue list and time."""

    id: int
    issues: list[str]
    fetched_at: datetime


class TaskDetail(TaskOut):
    """One URL's full record: every column, its issues, its redirect chain and the pages linking to it."""

    referrers: list[str] = Field(
        description="Pages linking to this URL as the crawler kept them: `referrer` (the page or sitemap it was "
        "found on first), then, for a URL whose fetch failed, up to 20 pages that link to it. The crawler keeps no "
        "other referrers of a URL fetched without error."
    )
    referrer_count: int


class TaskPath(BaseModel):
    job_id: str = Field(description="The job's id (a UUID), as returned when it was created.")
    task_id: int = Field(ge=1, le=MAX_ROW_ID, description="The task's `id`, as `/tasks` lists it.")


class TaskList(BaseModel):
    tasks: list[TaskOut]
    pagination: Pagination


class ListTasksQuery(PageQuery):
    """Query string of GET /v1/jobs/{id}/tasks."""

    limit: int = Field(50, ge=1, le=1000)
    status: str | None = Field(None, description="completed, failed, skipped; comma-separated.")
    cache_status: str | None = Field(None, description="HIT, MISS, EXPIRED, STALE, BYPASS, DYNAMIC, none.")
    issue: Literal[ISSUE_TYPES] | None = None  # type: ignore[valid-type]
    kind: TaskKind | None = None
    status_class: str | None = Field(
        None, description="HTTP status class of the final response: 1xx, 2xx, 3xx, 4xx, 5xx, or none (no HTTP "
        "status: a network error, a timeout, or a URL not fetched); comma-separated."
    )
    q: str | None = Field(None, max_length=2048, description="Search: a substring of the URL (case-sensitive).")
    path_prefix: str | None = Field(
        None, max_length=2048,
        description="The URL's path starts with this, on any host of the crawl: `/docs/` matches "
        "https://example.com/docs/a and https://blog.example.com/docs/b, not https://example.com/x/docs/. "
        "Starts with /.",
    )
    path: str | None = Field(None, max_length=2048, description="Deprecated: the same as `q` (a substring of the URL).",
                             json_schema_extra={"deprecated": True})
    sort: str = Field("id", description="Field to sort by, '-' prefix for descending, e.g. -response_time_ms.")

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: str | None) -> str | None:
        comma_list(value, TASK_STATUSES, "status")
        return value

    @field_validator("cache_status")
    @classmethod
    def _cache_statuses(cls, value: str | None) -> str | None:
        comma_list(value, CACHE_STATUSES, "cache_status")
        return value

    no_nul = field_validator("path", "q", "path_prefix")(refuse_nul)

    @field_validator("status_class")
    @classmethod
    def _status_classes(cls, value: str | None) -> str | None:
        comma_list(value, STATUS_CLASSES, "status_class")
        return value

    @field_validator("path_prefix")
    @classmethod
    def _path_prefix(cls, value: str | None) -> str | None:
        if value and not value.startswith("/"):
            raise ValueError("must start with / (a URL path, e.g. /docs/)")
        return value or None

    @field_validator("sort")
    @classmethod
    def _sort(cls, value: str) -> str:
        if value.removeprefix("-") not in TASK_SORTS:
            raise ValueError(f"unknown sort {value!r}; expected one of {', '.join(TASK_SORTS)} (prefix - for descending)")
        return value

    @property
    def statuses(self) -> tuple[str, ...]:
        return comma_list(self.status, TASK_STATUSES, "status")

    @property
    def status_classes(self) -> tuple[str, ...]:
        return comma_list(self.status_class, STATUS_CLASSES, "status_class")

    @property
    def search(self) -> str | None:
        """`q`, or the deprecated `path` when `q` is not given."""
        return self.q or self.path or None

    @property
    def cache_statuses(self) -> tuple[str, ...]:
        return comma_list(self.cache_status, CACHE_STATUSES, "cache_status")


class BrokenLink(BaseModel):
    url: str
    http_status: int | None
    error: str | None
    referrers: list[str]
    referrer_count: int


class SlowPage(BaseModel):
    url: str
    response_time_ms: int
    ttfb_ms: int | None


class RedirectChain(BaseModel):
    url: str
    final_url: str | None
    hops: int
    chain: list[RedirectHop]
    error_type: str | None


class ServerError(BaseModel):
    url: str
    http_status: int
    referrer: str | None


class IssueCounts(BaseModel):
    broken_links: int
    slow_pages: int
    redirect_chains: int
    server_errors: int
    external_broken_links: int = Field(0, description="Broken links to other sites.")
    external_refused_to_robots: int = Field(0, description="Links to sites that refuse crawlers (not broken).")


class ExternalLink(BaseModel):
    url: str
    http_status: int | None
    error: str | None
    outcome: ExternalOutcome = Field(description="broken, unreachable, timeout, refused_to_robots, ...")
    final_url: str | None = Field(description="Where its redirects led, if any.")
    referrers: list[str] = Field(description="The pages linking to it.")
    referrer_count: int


class IssuesReport(BaseModel):
    slow_page_threshold_ms: int
    counts: IssueCounts
    broken_links: list[BrokenLink]
    slow_pages: list[SlowPage]
    redirect_chains: list[RedirectChain]
    server_errors: list[ServerError]
    external_broken_links: list[ExternalLink] = Field(
        [], description="Broken links to other sites (checked with check_external_links), apart from the site's own."
    )
    external_refused_to_robots: list[ExternalLink] = Field(
        [], description="Links to sites known to refuse crawlers (LinkedIn's 999, ...): not checked, not broken."
    )


class ExportQuery(QueryModel):
    format: Literal["csv", "jsonl"] = "jsonl"
