"""The scheduler loop: every SCHEDULE_POLL_SECONDS, start the runs of the schedules that fell due.

Each due schedule is claimed in one transaction that locks its row (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so several loops share the work and never wait for each other), moves `next_run_at` to
the next time on its cadence after now (an interval, or a cron expression in a timezone: cadence.py), and inserts the run's job. Whoever commits that transaction
ran the run; a loop that looks later finds `next_run_at` in the future. A run missed while no loop
was running is started once, not once per missed interval. A run that falls due while the previous
job is still active, or while the organisation has ORG_MAX_JOBS_IN_FLIGHT jobs in flight
(control_api/organisations/limits.py), starts nothing and is counted on the schedule (`skipped_runs`,
`last_skipped_at`); it is not queued for later, the next run comes on the cadence.

We keep the due time in a column of our own rather than using APScheduler: its 3.x SQLAlchemy job
store has no multi-process claim (two schedulers on one store both fire a job), its 4.x data stores
that do are pre-release, and either way the job, the claim and the skip must commit in one
transaction of our database, which one UPDATE of `next_run_at` gives with less code.

SQLite has no row locks, so there only one loop may run: it holds an exclusive lock on a file beside
the database (released by the kernel when the process dies), and a second loop refuses to start.
"""
from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from contract.vocabulary import SourceDetail
from control_api.config import service_settings
from control_api.database import session_scope
from control_api.jobs import service as jobs_service
from control_api.nodes.scrapyd_client import SchedulerUnavailable, ScrapydClient
from control_api.organisations.limits import LimitReached
from control_api.schedules.cadence import next_run_after
from control_api.schedules.service import previous_job_active, start_run
from db.models import Job, Schedule, utcnow

logger = logging.getLogger(__name__)


class AnotherSchedulerRunning(Exception):
    """A second scheduler loop on one SQLite database."""


@dataclass
class RunOutcome:
    schedule_id: str
    job: Job | None = None
    skipped_because: str | None = None

    def describe(self) -> str:
        if self.job is not None:
            return f"schedule {self.schedule_id}: started job {self.job.id} ({self.job.status})"
        return f"schedule {self.schedule_id}: run skipped: {self.skipped_because}"


@dataclass
class ScheduleRunner:
    client: ScrapydClient
    poll_seconds: float = 10.0
    clock: Callable[[], datetime] = utcnow  # injectable, so tests need not wait for an interval
    session_factory: Callable = session_scope

    @classmethod
    def from_app(cls, app: Flask) -> ScheduleRunner:
        return cls(client=app.extensions["scheduler"], poll_seconds=float(app.config["SCHEDULE_POLL_SECONDS"]))

    def run_due(self) -> list[RunOutcome]:
        """Start (or skip) every run due now; returns what was done, one entry per run."""
        outcomes = []
        while (outcome := self._claim_next_due()) is not None:
            outcomes.append(outcome)
            logger.info("%s", outcome.describe())
            if outcome.job is not None:
                try:
                    jobs_service.schedule_job(self.session_factory, self.client, outcome.job)
                except SchedulerUnavailable as exc:  # the job is `failed` with the reason; the schedule goes on
                    logger.warning("job %s of schedule %s could not be dispatched: %s", outcome.job.id, outcome.schedule_id, exc)
        return outcomes

    def _claim_next_due(self) -> RunOutcome | None:
        now = self.clock()
        with self.session_factory() as session:
            schedule_id = session.scalar(
                select(Schedule.id)
                .where(Schedule.enabled.is_(True), Schedule.next_run_at <= now)
                .order_by(Schedule.next_run_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if schedule_id is None:
                return None
            schedule = session.get(Schedule, schedule_id)
            schedule.next_run_at = next_run_after(schedule, now)  # the claim: see the module's docstring
            busy = previous_job_active(session, schedule)
            reason = None
            if busy is None:
                try:
                    job = start_run(session, schedule, SourceDetail.RECURRING, service_settings())  # the app's caps
                    return RunOutcome(schedule.id, job=job)
                except jobs_service.JobAlreadyRunning as exc:
                    busy = exc.job_id
                except LimitReached as exc:  # the organisation's jobs in flight: this run is skipped, not queued
                    reason = exc.message
            schedule.skipped_runs += 1
            schedule.last_skipped_at = now
            reason = reason or f"job {busy} on {schedule.domain.name} is still active"
            return RunOutcome(schedule.id, skipped_because=reason)

    def run_forever(self, stop: threading.Event) -> Iterator[list[RunOutcome]]:
        """run_due() every poll_seconds until `stop` is set."""
        while not stop.is_set():
            try:
                yield self.run_due()
            except OperationalError as exc:  # database away or (SQLite) busy: try again next time
                logger.warning("scheduler: database error, retrying in %.0f s: %s", self.poll_seconds, exc.orig)
            stop.wait(self.poll_seconds)


@contextmanager
def single_scheduler_on_sqlite(database_url: str) -> Iterator[None]:
    """On SQLite, hold the one scheduler lock for as long as the block runs, or raise
    AnotherSchedulerRunning. On PostgreSQL, any number of loops may run."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    lock_path = Path(f"{url.database}.scheduler.lock")
    with lock_path.open("a") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AnotherSchedulerRunning(
                f"another scheduler loop is already running on the SQLite database {url.database} (it holds "
                f"{lock_path}); on SQLite only one scheduler may run. Stop the other one, or use PostgreSQL "
                "(DATABASE_URL) to run several."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
