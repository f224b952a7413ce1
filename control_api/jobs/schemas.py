"""Request and response schemas (pydantic). They validate requests and serialise responses, and the
views declare them to flask-openapi3, which validates with them and builds the OpenAPI document.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, create_model, field_validator, model_validator

from contract.options import OPTION_FIELDS, JobOptions
from contract.vocabulary import JobStatus
from control_api.base_schemas import PageQuery, Pagination, StrictModel, comma_list, refuse_nul

JOB_STATUSES = tuple(JobStatus)
RANGES = ("today", "24h", "7d", "30d", "90d", "all")
INCLUDES = ("stats", "progress", "domain")


class _CreateJobFields(StrictModel):
    domain: str = Field(
        max_length=2048,
        description="Host name (optionally with port) or a pasted URL, reduced to its host.",
        examples=["example.com"],
    )
    options: JobOptions = Field(default_factory=JobOptions)
    source_type: str = Field("api", min_length=1, max_length=32)
    source_detail: str | None = Field(None, max_length=255)
    allow_concurrent: bool = Field(
        False,
        description="Start this job even while another job of your organisation on the same domain is "
        "`created` or `running` (otherwise that is 409 `job_already_running`).",
    )

    no_nul = field_validator("source_type", "source_detail")(refuse_nul)

    @model_validator(mode="after")
    def _merge_flat_options(self) -> _CreateJobFields:
        flat = {name: getattr(self, name) for name in OPTION_FIELDS if name in self.model_fields_set}
        if flat:  # nested wins, field by field
            self.options = JobOptions.model_validate({**flat, **self.options.model_dump(exclude_unset=True)})
        return self


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # absent means "as in options", not null


def _flat_option(name: str) -> tuple[Any, Any]:
    """An option accepted at the top level of the create body: same type and limits, no default."""
    field = JobOptions.model_fields[name]
    description = f"Flat form of `options.{name}`; `options.{name}` wins when both are given."
    annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return annotation, Field(None, description=description, json_schema_extra=_without_default)


# The body of POST /v1/jobs: the fields above plus every option flat at the top level.
CreateJobRequest = create_model(
    "CreateJobRequest",
    __base__=_CreateJobFields,
    __module__=__name__,
    **{name: _flat_option(name) for name in OPTION_FIELDS},
)


class Progress(BaseModel):
    total_tasks: int
    completed_tasks: int
    failed_tasks: int
    skipped_tasks: int
    percentage: float


# Percentiles use the nearest-rank method; all of these are computed once when the job ends.
StatusClass = Literal["2xx", "3xx", "4xx", "5xx", "none"]
_AT_END = "{}; computed when the job ends, null while it runs."


class Stats(BaseModel):
    avg_response_time: int = Field(description="Mean response time in ms over fetched pages (0 before any).")
    cache_hit_ratio: float | None = Field(description="Hits over pages whose cache status is known.")
    total_bytes: int = Field(description="Bytes as transferred on the wire: the compressed size when the server compressed.")
    pages_warmed: int = Field(description="Pages fetched a second time to warm the cache (they came back MISS or EXPIRED).")
    cache_hit_ratio_after_warming: float | None = Field(
        description="Hits over pages whose cache status is known, counting a warmed page by its second fetch."
    )
    external_links_checked: int = Field(0, description="Links to other sites checked (or answered by the instance's cache).")
    external_broken: int = Field(0, description="Of those, broken: HTTP >= 400, unreachable or timed out.")
    external_from_cache: int = Field(0, description="Of those checked, answered by the instance's shared cache.")
    avg_response_time_after_warming: int = Field(
        description="Mean response time in ms over fetched pages, a warmed page counted by its second fetch: "
        "what a next visitor waits (compare avg_response_time)."
    )
    # The distribution, computed once when the job ends (db/performance.py): null while it runs.
    response_time_p50: int | None = Field(description=_AT_END.format("Median response time in ms over fetched pages"))
    response_time_p75: int | None = Field(description=_AT_END.format("75th percentile response time in ms"))
    response_time_p95: int | None = Field(description=_AT_END.format("95th percentile response time in ms"))
    response_time_p99: int | None = Field(description=_AT_END.format("99th percentile response time in ms"))
    ttfb_p50: int | None = Field(description=_AT_END.format("Median time to first byte in ms"))
    ttfb_p95: int | None = Field(description=_AT_END.format("95th percentile time to first byte in ms"))
    status_counts: dict[StatusClass, int] | None = Field(description=_AT_END.format(
        "Checked URLs (not sitemaps, not skipped) by HTTP status class: 2xx, 3xx, 4xx, 5xx, and none (no response)"))
    broken_links: int | None = Field(description=_AT_END.format("Internal links whose target failed, as /issues counts them"))
    slow_pages: int | None = Field(description=_AT_END.format("Pages slower than the job's threshold"))
    redirects: int | None = Field(description=_AT_END.format("Checked URLs that redirected at least once"))
    server_errors: int | None = Field(description=_AT_END.format("URLs that answered 5xx"))


class CreatedJob(BaseModel):
    id: str
    domain: str = Field(description="The host, e.g. example.com or localhost:8081.")
    domain_id: int = Field(description="The same for every job on this domain.")
    status: JobStatus
    organisation_id: str = Field(description="The organisation of the token that created the job.")
    created_at: datetime
    options: JobOptions
    source_type: str
    source_detail: str | None
    schedule_id: str | None = Field(description="The schedule that started the job; null when none.")


class JobOut(CreatedJob):
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    error: str | None
    progress: Progress
    stats: Stats
    tasks_pruned_at: datetime | None = Field(
        None, description="When retention deleted the job's per-URL rows (its /tasks, /issues and /export then "
        "answer 410 tasks_pruned); progress and stats are kept. Absent while the rows are kept."
    )


class JobListItem(CreatedJob):
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    error: str | None
    progress: Progress | None = Field(None, description="Present with include=progress.")
    stats: Stats | None = Field(None, description="Present with include=stats.")


class JobList(BaseModel):
    jobs: list[JobListItem]
    pagination: Pagination


class CancelledJob(BaseModel):
    id: str
    status: Literal["cancelled"]
    cancelled_at: datetime


class JobPath(BaseModel):
    job_id: str = Field(description="The job's id (a UUID), as returned when it was created.")


class ListJobsQuery(PageQuery):
    """Query string of GET /v1/jobs."""

    limit: int = Field(10, ge=1, le=100)
    status: str | None = Field(None, description="One status or a comma-separated list.")
    range: Literal[RANGES] = "all"  # type: ignore[valid-type]
    tzOffset: int = Field(0, ge=-840, le=840, description="JavaScript Date.getTimezoneOffset() in minutes.")
    include: str | None = Field(
        None, description="Comma-separated: stats, progress, domain (accepted; every job already has `domain`)."
    )
    schedule_id: str | None = Field(None, max_length=36, description="Only the jobs this schedule started.")

    no_nul = field_validator("schedule_id")(refuse_nul)

    @field_validator("status")
    @classmethod
    def _known_statuses(cls, value: str | None) -> str | None:
        comma_list(value, JOB_STATUSES, "status")
        return value

    @field_validator("include")
    @classmethod
    def _known_includes(cls, value: str | None) -> str | None:
        comma_list(value, INCLUDES, "include")
        return value

    @property
    def statuses(self) -> tuple[str, ...]:
        return comma_list(self.status, JOB_STATUSES, "status")

    @property
    def includes(self) -> tuple[str, ...]:
        return comma_list(self.include, INCLUDES, "include")
