"""Request and response schemas of schedules (/v1/schedules), recurring crawls of a domain. `domain`
and `options` are validated exactly as for a job; triggers (control_api/triggers/schemas.py) take
the same domain field and list query."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from contract.options import JobOptions
from control_api.base_schemas import PageQuery, Pagination, StrictModel
from control_api.schedules.cadence import CRON_MAX_LENGTH, check_cron, check_timezone

DOMAIN_FIELD = Field(max_length=2048, description="Host name (optionally with port) or a pasted URL, reduced to its host.",
                     examples=["example.com"])  # fmt: skip
CRON_FIELD = Field(None, max_length=CRON_MAX_LENGTH, examples=["0 3 * * 1"], description=(
    "Instead of interval_hours: a 5-field cron expression (minute hour day-of-month month day-of-week, or "
    "@daily, @weekly...), its times read in `timezone`."))  # fmt: skip
TIMEZONE_FIELD = Field(None, max_length=64, examples=["Europe/Paris"], description=(
    "With cron: the IANA time zone its times are in (default UTC); daylight saving is followed, each "
    "wall-clock time runs once."))  # fmt: skip
BOTH = "give either interval_hours or cron, not both"


class CadenceFields(StrictModel):
    """`cron` and `timezone` come before `interval_hours`, so that its check sees them: every error
    names one field (the API's 400 and the dashboard's form both show it there)."""

    cron: str | None = CRON_FIELD
    timezone: str | None = TIMEZONE_FIELD

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


class CreateScheduleRequest(CadenceFields):
    domain: str = DOMAIN_FIELD
    options: JobOptions = Field(default_factory=JobOptions)
    interval_hours: int | None = Field(None, ge=1, le=168, validate_default=True, examples=[24], description=(
        "Hours between runs, 1..168 (usually 6, 12, 24 or 48); or give cron instead."))  # fmt: skip
    enabled: bool = True

    @field_validator("interval_hours")
    @classmethod
    def _one_cadence(cls, value: int | None, info: ValidationInfo) -> int | None:
        if "cron" not in info.data or "timezone" not in info.data:
            return value  # cron or timezone was refused: that error is the one to show
        cron, zone = info.data["cron"], info.data["timezone"]
        if value is not None and cron is not None:
            raise ValueError(BOTH)
        if value is None and cron is None:
            raise ValueError("give interval_hours (hours between runs, 1..168) or cron (a cron expression)")
        if zone is not None and cron is None:
            raise ValueError("timezone goes with cron; runs every interval_hours need none")
        return value


class UpdateScheduleRequest(CadenceFields):
    """PATCH: only the fields sent change. `interval_hours` or `cron` switches the schedule to that
    cadence (the other is cleared); `timezone` alone re-times a cron schedule."""

    options: JobOptions | None = None
    interval_hours: int | None = Field(None, ge=1, le=168, description="Hours between runs, 1..168.")
    enabled: bool | None = None

    @field_validator("interval_hours")
    @classmethod
    def _not_both(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("cron") is not None:
            raise ValueError(BOTH)
        if value is not None and info.data.get("timezone") is not None:
            raise ValueError("timezone goes with cron; runs every interval_hours need none")
        return value


class ScheduleOut(BaseModel):
    id: str
    domain: str
    domain_id: int
    options: JobOptions
    interval_hours: int | None = Field(description="Hours between runs; null when the schedule runs on `cron`.")
    cron: str | None = Field(description="The cron expression its runs follow; null when it runs every interval_hours.")
    timezone: str | None = Field(description="The IANA zone of the cron expression's times; null without cron.")
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
