"""Request and response schemas (pydantic). They validate requests, serialise responses and are
the single source of the OpenAPI document (control_api/openapi.py builds it from these classes).
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

JOB_STATUSES = ("created", "running", "completed", "failed", "cancelled")
RANGES = ("today", "24h", "7d", "30d", "90d", "all")
INCLUDES = ("stats", "progress", "domain")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class JobOptions(StrictModel):
    use_sitemap: bool = Field(True, description="Discover pages from robots.txt Sitemap: lines and sitemaps.")
    find_links: bool = Field(True, description="Discover pages by following internal links in HTML.")
    allow_cross_subdomain_links: bool = Field(
        True, description="Also follow links to other subdomains of the same registrable domain."
    )
    max_pages: int = Field(0, ge=0, description="Most pages to crawl; 0 means unlimited.")
    concurrency: int = Field(20, ge=1, le=100, description="Concurrent requests.")
    slow_page_threshold_ms: int = Field(3000, ge=1, le=600_000, description="A page slower than this is slow.")
    check_resources: bool = Field(False, description="Also check same-site images, scripts and stylesheets.")


OPTION_FIELDS = tuple(JobOptions.model_fields)


class CreateJobRequest(StrictModel):
    domain: str = Field(
        max_length=2048,
        description="Host name (optionally with port) or a pasted URL, reduced to its host.",
        examples=["example.com"],
    )
    options: JobOptions = Field(default_factory=JobOptions)
    source_type: str = Field("api", min_length=1, max_length=32)
    source_detail: str | None = Field(None, max_length=255)


class Progress(BaseModel):
    total_tasks: int
    completed_tasks: int
    failed_tasks: int
    skipped_tasks: int
    percentage: float


class Stats(BaseModel):
    avg_response_time: int | None = Field(description="Mean response time in ms over fetched pages.")
    cache_hit_ratio: float | None = Field(description="Hits over pages whose cache status is known.")
    total_bytes: int


class DomainOut(BaseModel):
    id: int
    name: str


class CreatedJob(BaseModel):
    id: str
    domain: str
    domain_id: int
    status: Literal[JOB_STATUSES]  # type: ignore[valid-type]
    organisation_id: int
    created_at: datetime
    options: JobOptions
    source_type: str
    source_detail: str | None


class JobOut(CreatedJob):
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    error: str | None
    progress: Progress
    stats: Stats


class JobListItem(BaseModel):
    id: str
    domain_id: int
    status: Literal[JOB_STATUSES]  # type: ignore[valid-type]
    organisation_id: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    error: str | None
    options: JobOptions
    source_type: str
    source_detail: str | None
    progress: Progress | None = Field(None, description="Present with include=progress.")
    stats: Stats | None = Field(None, description="Present with include=stats.")
    domain: DomainOut | None = Field(None, description="Present with include=domain.")


class Pagination(BaseModel):
    limit: int
    offset: int
    total: int
    has_next: bool


class JobList(BaseModel):
    jobs: list[JobListItem]
    pagination: Pagination


class CancelledJob(BaseModel):
    id: str
    status: Literal["cancelled"]
    cancelled_at: datetime


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    scrapyd: dict[str, str]


def _comma_list(value: str | None, allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = tuple(item.strip() for item in value.split(","))
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise ValueError(f"unknown {name} {unknown[0]!r}; expected one of {', '.join(allowed)}")
    return items


class ListJobsQuery(BaseModel):
    """Query string of GET /v1/jobs (strings are coerced: this is a query string, not JSON)."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(10, ge=1, le=100)
    offset: int = Field(0, ge=0)
    page: int | None = Field(None, ge=1, description="1-based page; offset = (page-1)*limit.")
    status: str | None = Field(None, description="One status or a comma-separated list.")
    range: Literal[RANGES] = "all"  # type: ignore[valid-type]
    tzOffset: int = Field(0, ge=-840, le=840, description="JavaScript Date.getTimezoneOffset() in minutes.")
    include: str | None = Field(None, description="Comma-separated: stats, progress, domain.")

    @field_validator("status")
    @classmethod
    def _known_statuses(cls, value: str | None) -> str | None:
        _comma_list(value, JOB_STATUSES, "status")
        return value

    @field_validator("include")
    @classmethod
    def _known_includes(cls, value: str | None) -> str | None:
        _comma_list(value, INCLUDES, "include")
        return value

    @property
    def statuses(self) -> tuple[str, ...]:
        return _comma_list(self.status, JOB_STATUSES, "status")

    @property
    def includes(self) -> tuple[str, ...]:
        return _comma_list(self.include, INCLUDES, "include")

    @property
    def effective_offset(self) -> int:
        return (self.page - 1) * self.limit if self.page is not None else self.offset
