"""The job domain layer: create, list, read and cancel jobs. Views call these; SQL and scrapyd
calls live here, not in views."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from contract.targets import Target
from contract.vocabulary import JobStatus
from control_api.domain_errors import Conflict, NotFound
from control_api.jobs.schemas import CreateJobRequest, ListJobsQuery
from control_api.jobs.targets import target_of
from control_api.nodes.dispatcher import SCHEDULE_FAILED, dispatch_waiting
from control_api.nodes.scrapyd_client import SchedulerUnavailable, ScrapydClient
from control_api.organisations import limits
from control_api.queries import Page, find_owned, paginate
from db.models import Domain, Job, utcnow
from db.performance import record_performance
from db.webhooks import record_job_event

if TYPE_CHECKING:
    from control_api.config import ServiceSettings

logger = logging.getLogger(__name__)


class JobNotFound(NotFound):
    def __init__(self, job_id: str):
        super().__init__("job_not_found", f"No job with id '{job_id}'.")


class JobFinished(Conflict):
    """Cancel of a job that already completed or failed."""

    def __init__(self, job: Job):
        super().__init__("job_finished", f"Job {job.id} is already {job.status}; it cannot be cancelled.")
        self.job = job


class JobAlreadyRunning(Conflict):
    """A create for a domain on which the organisation already has an active job. A schedule's run
    cannot send `allow_concurrent`, so its message does not offer it."""

    def __init__(self, job_id: str, status: str, domain: str, for_schedule: bool = False):
        advice = ("this schedule's domain; wait for it to finish or cancel it." if for_schedule else
                  f'{domain}; wait for it to finish, cancel it, or send "allow_concurrent": true to start another.')
        super().__init__("job_already_running", f"Job {job_id} ({status}) is already crawling {advice}")
        self.job_id = job_id
        self.status = status


class ScheduleRefused(SchedulerUnavailable):
    """A node refused the job (schedule_job): the job is `failed`, and the message names it."""

    def __init__(self, job: Job, reason: str):
        super().__init__(reason)
        self.message = f"The crawl could not be scheduled, job {job.id} failed: {reason}."


def get_or_create_domain(session: Session, name: str) -> Domain:
    """Race-safe: parallel creates for one domain end with one row (INSERT .. ON CONFLICT DO NOTHING)."""
    dialect_insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    session.execute(dialect_insert(Domain).values(name=name, created_at=utcnow()).on_conflict_do_nothing())
    return session.scalars(select(Domain).where(Domain.name == name)).one()


def insert_job(
    session: Session, organisation_id: int, target: Target, request: CreateJobRequest, settings: ServiceSettings,
    schedule_id: str | None = None,
) -> Job:
    """Store a new `created` job. Without `allow_concurrent`, raise JobAlreadyRunning when the
    organisation already has a `created` or `running` job on the domain; LimitReached when it has
    ORG_MAX_JOBS_IN_FLIGHT such jobs on any domains."""
    limits.check_room(session, organisation_id, limits.JOBS_IN_FLIGHT, settings)  # locks the organisation first
    domain = get_or_create_domain(session, target.name)
    # The domain row stays locked until this transaction commits, so that of parallel creates for one
    # domain each sees the jobs of those before it (PostgreSQL, READ COMMITTED: the query below takes
    # its snapshot after the lock is granted). SQLite has no row locks and needs none: the domain
    # INSERT above already holds its one write lock. Locked for every create, concurrent or not, so
    # that a create allowing concurrency cannot slip past one that does not.
    session.execute(select(Domain.id).where(Domain.id == domain.id).with_for_update())
    if not request.allow_concurrent:
        active = session.execute(
            select(Job.id, Job.status)
            .where(Job.organisation_id == organisation_id, Job.domain_id == domain.id, Job.status.in_(JobStatus.active()))
            .order_by(Job.created_at)
            .limit(1)
        ).first()
        if active is not None:
            raise JobAlreadyRunning(active.id, active.status, target.name, for_schedule=schedule_id is not None)
    job = Job(
        id=str(uuid.uuid4()),
        organisation_id=organisation_id,
        domain_id=domain.id,
        domain=domain,
        status=JobStatus.CREATED.value,
        start_scheme=target.scheme,
        options=request.options.model_dump(),
        source_type=request.source_type,
        source_detail=request.source_detail,
        schedule_id=schedule_id,
        created_at=utcnow(),
    )
    session.add(job)
    session.flush()
    return job


def start_job(session_factory, client: ScrapydClient, organisation_id: int, request: CreateJobRequest,
              settings: ServiceSettings) -> Job:
    """Create a job from a validated request and hand it to scrapyd: what POST /v1/jobs and the
    dashboard's form both do. Refusals are domain errors (control_api/domain_errors.py) whose message names the field, so that both
    say the same thing (the dashboard shows it next to the field)."""
    target = target_of(request.domain, settings)
    with session_factory() as session:
        job = insert_job(session, organisation_id, target, request, settings)
    return schedule_job(session_factory, client, job)


def schedule_job(session_factory, client: ScrapydClient, job: Job) -> Job:
    """Offer a stored `created` job to the dispatcher (control_api/nodes/dispatcher.py), which hands the
    waiting jobs, fairly across organisations, to nodes with a free slot. The job is then on its
    way to a node (`scrapyd_node` set), or waits as `created` for a slot, or for a node that answers;
    the next dispatch round (`reconcile --loop`) sends it. scrapyd is asked with the short handover
    timeout (SCRAPYD_HANDOVER_TIMEOUT): what calls this is an API request, which a frozen scrapyd
    must not hold. Only a node that refuses the job fails it: ScheduleRefused is raised.
    """
    try:
        dispatch_waiting(session_factory, client.for_handover())
    except SchedulerUnavailable as exc:  # no node answered: the job waits for the next round
        logger.warning("job %s waits for a scrapyd node that answers: %s", job.id, exc)
    with session_factory() as session:
        current = session.execute(
            select(Job.status, Job.scrapyd_node, Job.claim, Job.dispatched_at, Job.error, Job.completed_at)
            .where(Job.id == job.id)
        ).one()
    job.status, job.scrapyd_node, job.claim, job.dispatched_at, job.error, job.completed_at = current
    if job.status == JobStatus.FAILED.value:  # its node refused schedule.json
        raise ScheduleRefused(job, (job.error or "").removeprefix(SCHEDULE_FAILED))
    return job


def get_job(session: Session, organisation_id: int, job_id: str, for_update: bool = False) -> Job:
    return find_owned(session, Job, organisation_id, job_id, JobNotFound, for_update)


def created_since(range_name: str, tz_offset_minutes: int, now: datetime | None = None) -> datetime | None:
    """Start of a `range` window in UTC. `today` and `Nd` are whole local days (today and the N-1
    before it), local time being UTC minus `tz_offset_minutes` as JavaScript reports it."""
    now = now or datetime.now(timezone.utc)
    if range_name == "all":
        return None
    if range_name == "24h":
        return now - timedelta(hours=24)
    local_offset = timedelta(minutes=-tz_offset_minutes)
    local_now = now + local_offset
    local_midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = 1 if range_name == "today" else int(range_name.rstrip("d"))
    return local_midnight - timedelta(days=days - 1) - local_offset


def list_jobs(session: Session, organisation_id: int, query: ListJobsQuery) -> Page[Job]:
    conditions = [Job.organisation_id == organisation_id]
    if query.statuses:
        conditions.append(Job.status.in_(query.statuses))
    if query.schedule_id is not None:
        conditions.append(Job.schedule_id == query.schedule_id)
    since = created_since(query.range, query.tzOffset)
    if since is not None:
        conditions.append(Job.created_at >= since)
    newest_first = select(Job).where(*conditions).order_by(Job.created_at.desc(), Job.id.desc())
    return paginate(session, newest_first, query.limit, query.effective_offset)


def cancel_job(session: Session, organisation_id: int, job_id: str) -> tuple[Job, bool]:
    """Mark the job cancelled. Returns (job, newly_cancelled); raises JobFinished for completed/failed."""
    job = get_job(session, organisation_id, job_id, for_update=True)
    if job.status == JobStatus.CANCELLED.value:
        return job, False
    if job.is_terminal:
        raise JobFinished(job)
    # Conditional update: a crawler finishing at the same instant cannot be overwritten, nor overwrite us.
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status.in_([JobStatus.CREATED.value, JobStatus.RUNNING.value]))
        .values(status=JobStatus.CANCELLED.value, cancelled_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        record_performance(session, job.id)  # the crawler can add no row from now on
    session.refresh(job)
    if result.rowcount == 0 and job.status != JobStatus.CANCELLED.value:
        raise JobFinished(job)
    if result.rowcount == 1:
        record_job_event(session, job.id, JobStatus.CANCELLED, now)
    return job, result.rowcount == 1


def stop_spider(client: ScrapydClient, job: Job) -> None:
    """Best effort, with the short handover timeout: the spider also polls the database and stops
    itself within seconds when it sees `cancelled`."""
    if not job.scrapyd_node:
        return
    try:
        client.for_handover().cancel(job.scrapyd_node, job.id)
    except SchedulerUnavailable as exc:
        logger.warning("cancel of job %s did not reach scrapyd (%s); the spider will stop on its own", job.id, exc)
