"""The schedule domain layer: create, list, read, change and delete recurring crawls, and start one
of their runs (now, or because it fell due). Views and the scheduler loop call these."""
from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from contract.options import with_kept_secrets
from contract.targets import Target, parse_domain
from contract.vocabulary import JobStatus, SourceDetail, SourceType
from control_api.domain_errors import NotFound
from control_api.jobs import service as jobs_service
from control_api.jobs.schemas import CreateJobRequest
from control_api.organisations import limits
from control_api.queries import Page, find_owned, paginate
from control_api.schedules.cadence import InvalidCadence, check_spacing, first_run
from control_api.schedules.schemas import CreateScheduleRequest, UpdateScheduleRequest
from db.models import Job, Schedule, utcnow

if TYPE_CHECKING:
    from control_api.config import ServiceSettings

logger = logging.getLogger(__name__)


class ScheduleNotFound(NotFound):
    def __init__(self, schedule_id: str):
        super().__init__("schedule_not_found", f"No schedule with id '{schedule_id}'.")


def create_schedule(session: Session, organisation_id: int, target: Target, request: CreateScheduleRequest,
                    settings: ServiceSettings) -> Schedule:
    """The first recurring run falls due one interval from now, or at the cron expression's next
    time (POST .../run starts one at once). Raises InvalidCadence when runs would come closer than
    MIN_SCHEDULE_INTERVAL_MINUTES, LimitReached when the organisation has ORG_MAX_SCHEDULES already."""
    check_spacing(request.interval_hours, request.cron, settings.min_schedule_interval_minutes)
    limits.check_room(session, organisation_id, limits.SCHEDULES, settings)
    now = utcnow()
    schedule = Schedule(
        id=str(uuid.uuid4()),
        organisation_id=organisation_id,
        domain=jobs_service.get_or_create_domain(session, target.name),
        start_scheme=target.scheme,
        options=request.options.model_dump(),
        interval_hours=request.interval_hours,
        cron=request.cron,
        timezone=(request.timezone or "UTC") if request.cron else None,
        enabled=request.enabled,
        next_run_at=first_run(request.interval_hours, request.cron, request.timezone, now),
        skipped_runs=0,
        created_at=now,
    )
    session.add(schedule)
    session.flush()
    return schedule


def get_schedule(session: Session, organisation_id: int, schedule_id: str, for_update: bool = False) -> Schedule:
    return find_owned(session, Schedule, organisation_id, schedule_id, ScheduleNotFound, for_update)


def list_owned(session: Session, model, organisation_id: int, limit: int, offset: int) -> Page:
    """A page of an organisation's schedules or triggers, newest first."""
    newest_first = select(model).where(model.organisation_id == organisation_id).order_by(
        model.created_at.desc(), model.id.desc())
    return paginate(session, newest_first, limit, offset)


def update_schedule(session: Session, organisation_id: int, schedule_id: str, request: UpdateScheduleRequest,
                    settings: ServiceSettings) -> Schedule:
    """A new cadence (interval, cron expression or timezone), or enabling a disabled schedule,
    restarts it: the next run is one interval from now, or the cron expression's next time.
    Raises InvalidCadence for `timezone` alone on a schedule that runs every interval_hours, and for
    a new cadence whose runs would come closer than MIN_SCHEDULE_INTERVAL_MINUTES."""
    schedule = get_schedule(session, organisation_id, schedule_id, for_update=True)
    check_spacing(request.interval_hours, request.cron, settings.min_schedule_interval_minutes)
    changed = {name for name in request.model_fields_set if getattr(request, name) is not None}
    if "options" in changed:
        schedule.options = with_kept_secrets(request.options.model_dump(), schedule.options)
    restart = False
    if "interval_hours" in changed:
        restart = request.interval_hours != schedule.interval_hours or schedule.cron is not None
        schedule.interval_hours, schedule.cron, schedule.timezone = request.interval_hours, None, None
    elif "cron" in changed or "timezone" in changed:
        if "cron" not in changed and schedule.cron is None:
            raise InvalidCadence("timezone", "timezone goes with cron; this schedule runs every interval_hours")
        cron = request.cron or schedule.cron
        zone = request.timezone or (schedule.timezone if "cron" not in changed or schedule.cron else None) or "UTC"
        restart = (cron, zone) != (schedule.cron, schedule.timezone)
        schedule.interval_hours, schedule.cron, schedule.timezone = None, cron, zone
    if "enabled" in changed:
        restart = restart or (request.enabled and not schedule.enabled)
        schedule.enabled = request.enabled
    if restart:
        schedule.next_run_at = first_run(schedule.interval_hours, schedule.cron, schedule.timezone, utcnow())
    session.flush()
    return schedule


def delete_schedule(session: Session, organisation_id: int, schedule_id: str) -> None:
    """Its jobs stay, and keep their schedule_id."""
    session.delete(get_schedule(session, organisation_id, schedule_id, for_update=True))


def previous_job_active(session: Session, source) -> str | None:
    """The id of the schedule's (or trigger's) last job while it is still `created` or `running`."""
    if source.last_job_id is None:
        return None
    status = session.scalar(select(Job.status).where(Job.id == source.last_job_id))
    return source.last_job_id if status in JobStatus.active() else None


def last_job_statuses(session: Session, sources) -> dict[str, str]:
    """The status of each schedule's (or trigger's) last job, by job id, in one query."""
    ids = {source.last_job_id for source in sources if source.last_job_id}
    if not ids:
        return {}
    return {job_id: status for job_id, status in session.execute(select(Job.id, Job.status).where(Job.id.in_(ids)))}


def stored_target(source) -> Target:
    """The target a schedule or trigger was created for (its domain was checked then)."""
    return replace(parse_domain(source.domain.name), scheme=source.start_scheme)


def start_run(session: Session, schedule: Schedule, detail: SourceDetail, settings: ServiceSettings) -> Job:
    """Insert the run's `created` job (dispatch it after commit, with jobs_service.schedule_job).
    Raises jobs_service.JobAlreadyRunning while the organisation has an active job on the domain,
    which includes the schedule's own previous job."""
    request = CreateJobRequest.model_validate(
        {"domain": schedule.domain.name, "options": schedule.options,
         "source_type": SourceType.SCHEDULER.value, "source_detail": detail.value}
    )  # fmt: skip
    job = jobs_service.insert_job(session, schedule.organisation_id, stored_target(schedule), request, settings,
                                  schedule_id=schedule.id)
    schedule.last_job_id = job.id
    return job


def run_now(session: Session, organisation_id: int, schedule_id: str, settings: ServiceSettings) -> Job:
    schedule = get_schedule(session, organisation_id, schedule_id, for_update=True)
    return start_run(session, schedule, SourceDetail.RUN_NOW, settings)
