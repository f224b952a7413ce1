"""Request and response schemas of schedules (/v1/schedules), recurring crawls of a domain. `domain`
and `options` are validated exactly as for a job; triggers (control_api/triggers/schemas.py) take
the same domain field and list query."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from contract.options import JobOptions
from control_api.base_schemas import PageQuery, Pagination, StrictModel

DOMAIN_FIELD = Field(max_length=2048, description="Host name (optionally with port) or a pasted URL, reduced to its host.",
                     examples=["example.com"])  # fmt: skip
INTERVAL_FIELD = Field(ge=1, le=168, description="Hours between runs, 1..168 (usually 6, 12, 24 or 48).", examples=[24])


class CreateScheduleRequest(StrictModel):
    domain: str = DOMAIN_FIELD
    options: JobOptions = Field(default_factory=JobOptions)
    interval_hours: int = INTERVAL_FIELD
    enabled: bool = True


class UpdateScheduleRequest(StrictModel):
    """PATCH: only the fields sent change."""

    options: JobOptions | None = None
    interval_hours: int | None = Field(None, ge=1, le=168, description="Hours between runs, 1..168.")
    enabled: bool | None = None


class ScheduleOut(BaseModel):
    id: str
    domain: str
    domain_id: int
    options: JobOptions
    interval_hours: int
    enabled: bool
    next_run_at: datetime = Field(description="When the next recurring run falls due (it runs within the scheduler's poll interval).")
    last_job_id: str | None
    skipped_runs: int = Field(description="Runs that fell due while the previous job was still active, so started nothing.")
    last_skipped_at: datetime | None
    created_at: datetime


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]
    pagination: Pagination


class SchedulePath(BaseModel):
    schedule_id: str = Field(description="The schedule's id (a UUID).")


class ListQuery(PageQuery):
    """Query string of GET /v1/schedules and GET /v1/triggers: pagination as for jobs."""

    limit: int = Field(10, ge=1, le=100)
