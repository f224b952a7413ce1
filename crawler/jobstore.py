"""The crawler's side of the database: one job's status, task rows and counters.

Each batch of records is written in one transaction together with the job's counter increments,
so the counters always equal the task rows, and reading progress never scans tasks. Methods are
blocking; the pipeline and the extension call them in a thread, off the crawl's reactor.
"""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_exponential

from contract.record import RECORD_FIELDS
from contract.vocabulary import BrowserStatus, CacheStatus, TaskKind, TaskStatus
from db.changes import record_changes
from db.engine import make_engine
from db.models import BrokenLinkReferrer, Job, JobStatus, Task, url_hash, utcnow
from db.performance import record_performance
from db.webhooks import record_job_event

logger = logging.getLogger(__name__)



def task_row(job_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """The `tasks` row of a record: its contract fields (contract/record.py), plus keys and a time."""
    row = {name: record[name] for name in RECORD_FIELDS}
    if row["content_type"]:
        row["content_type"] = row["content_type"][:255]
    row.update(job_id=job_id, url_hash=url_hash(record["url"]), fetched_at=utcnow())
    return row


COUNTERS = ("completed_tasks", "failed_tasks", "skipped_tasks", "timed_pages", "response_time_ms_sum",
            "cache_known_pages", "cache_hit_pages", "warmed_pages", "cache_hit_pages_after_warming", "total_bytes",
            "external_checked", "external_broken", "external_from_cache",
            "response_time_after_warming_ms_sum")  # fmt: skip


def counter_increments(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """What a batch adds to the job's counters. Progress counts the URLs the crawl checks, not
    sitemap documents; total_bytes is every task's wire bytes; the other stats are over pages
    that got a response, the cache ones over pages whose cache status is known."""
    counts = dict.fromkeys(COUNTERS, 0)
    for record in records:
        counts["total_bytes"] += record["bytes"] or 0
        if record["kind"] == TaskKind.SITEMAP:
            continue
        counts[record["status"] + "_tasks"] += 1
        if record["kind"] == TaskKind.EXTERNAL:
            if record["status"] != TaskStatus.SKIPPED:
                counts["external_checked"] += 1
                counts["external_broken"] += record["is_broken"]
                counts["external_from_cache"] += bool(record.get("from_cache"))
            continue
        if record["kind"] != TaskKind.PAGE or record["http_status"] is None:
            continue
        counts["timed_pages"] += 1
        counts["response_time_ms_sum"] += record["response_time_ms"] or 0
        # What a next visitor waits: the warm fetch's time when the page was warmed.
        counts["response_time_after_warming_ms_sum"] += record["warm_response_time_ms"] or record["response_time_ms"] or 0
        if record["cache_status"] is not None:
            counts["cache_known_pages"] += 1
            counts["cache_hit_pages"] += record["cache_status"] == CacheStatus.HIT
            counts["warmed_pages"] += record["warm_response_time_ms"] is not None
            after_warming = record["warm_cache_status"] or record["cache_status"]
            counts["cache_hit_pages_after_warming"] += after_warming == CacheStatus.HIT
    return counts


# One executemany on the table (SQLAlchemy's ORM would read a list of parameters as an update by
# primary key): a row found by its job and URL (through the (job_id, url_hash) index) takes the path.
_tasks = Task.__table__
CORRECT_PATH = (
    update(_tasks)
    .where(_tasks.c.job_id == bindparam("c_job"), _tasks.c.url_hash == bindparam("c_hash"),
           _tasks.c.url == bindparam("c_url"))
    .values(depth=bindparam("c_depth"), referrer=bindparam("c_referrer"), found_via=bindparam("c_found_via"))
)


class ClaimLost(Exception):
    """The job is no longer this crawler's to write: not `running`, or dispatched to another claim."""


class JobStore:
    """One crawl's writes to its job, each checked against the dispatch claim in its own transaction.

    A job is written only while it is `running` and its `claim` is the one this crawler was started
    with. The job row is updated first in every transaction, so on PostgreSQL the row lock orders
    us against a concurrent cancel or reconciler, and a batch whose claim check fails is rolled
    back whole: a job in a terminal state never gains a row or a count.
    """

    def __init__(self, database_url: str | None, job_id: str, claim: str | None):
        self.engine = make_engine(database_url)
        self.job_id = job_id
        self.claim = claim
        self.lost: str | None = None  # why the job stopped being ours; then nothing more is written

    def _lose(self, reason: str) -> ClaimLost:
        self.lost = self.lost or reason
        return ClaimLost(reason)

    def _owned(self, *extra):
        return (Job.id == self.job_id, Job.claim == self.claim, Job.status == JobStatus.RUNNING.value, *extra)

    def claim_job(self) -> None:
        """created -> running (with started_at and a first heartbeat), only for the dispatched claim.

        Raises ClaimLost, with the reason, when the job is missing, was started already, is
        terminal (it failed to schedule, it was cancelled) or was dispatched under another claim.
        """
        if not self.claim:
            raise self._lose("the crawl has no dispatch claim (it was not scheduled by the API)")
        now = utcnow()
        with Session(self.engine) as session, session.begin():
            result = session.execute(
                update(Job)
                .where(Job.id == self.job_id, Job.claim == self.claim, Job.status == JobStatus.CREATED.value)
                .values(status=JobStatus.RUNNING.value, started_at=now, heartbeat_at=now)
            )
            if result.rowcount == 1:
                record_job_event(session, self.job_id, JobStatus.RUNNING, now)  # in this transaction: the outbox
                return
            job = session.execute(select(Job.status, Job.claim).where(Job.id == self.job_id)).one_or_none()
        if job is None:
            raise self._lose(f"job {self.job_id} is not in the database")
        if job.claim != self.claim:
            raise self._lose(f"job {self.job_id} was dispatched under another claim")
        raise self._lose(f"job {self.job_id} is {job.status}, not waiting to start")

    def heartbeat(self) -> str | None:
        """Prove this crawler alive. Returns None while the job is ours; else the job's status
        (`cancelled`, `failed`, ...) or `lost` when it was dispatched anew, and the claim is lost."""
        if self.lost:
            return "lost"
        with Session(self.engine) as session, session.begin():
            result = session.execute(update(Job).where(*self._owned()).values(heartbeat_at=utcnow()))
            if result.rowcount == 1:
                return None
            status = session.scalar(select(Job.status).where(Job.id == self.job_id, Job.claim == self.claim)) or "lost"
        self._lose(f"job {self.job_id} is {status}")
        return status

    def write_batch(self, records: list[dict[str, Any]], referrers: list[tuple[str, str]], total_tasks: int,
                    corrections: list[dict[str, Any]] = ()) -> None:  # fmt: skip
        """Insert `records`, add `referrers` of broken links, and apply `corrections`, shorter paths
        to URLs recorded earlier ({url, depth, referrer, found_via}, in the order found), after the
        inserts: a correction may be for a record of this batch."""
        if self.lost:  # e.g. a second crawler presenting a running job's claim, refused at claim_job
            raise ClaimLost(self.lost)
        counts = counter_increments(records)
        rows = [task_row(self.job_id, record) for record in records]
        referrer_rows = [
            {"job_id": self.job_id, "target_url_hash": url_hash(record["url"]), "referrer": referrer}
            for record in records
            for referrer in record["referrers"] or ()
        ]
        referrer_rows += [{"job_id": self.job_id, "target_url_hash": url_hash(url), "referrer": ref} for url, ref in referrers]
        values = {name: getattr(Job, name) + amount for name, amount in counts.items() if amount}
        values["total_tasks"] = func.max(Job.total_tasks, total_tasks) if self.engine.dialect.name == "sqlite" else func.greatest(Job.total_tasks, total_tasks)
        values["heartbeat_at"] = utcnow()
        with Session(self.engine) as session, session.begin():
            # The claim check first: it locks the job row, and a refused batch writes nothing.
            if session.execute(update(Job).where(*self._owned()).values(**values)).rowcount != 1:
                raise self._lose(f"job {self.job_id} is no longer this crawler's to write")
            if rows:
                session.execute(insert(Task), rows)
            if referrer_rows:
                session.execute(insert(BrokenLinkReferrer), referrer_rows)
            if referrers:  # links found after their target had failed: the target is a broken link too
                late_targets = {url_hash(url) for url, _ in referrers}
                session.execute(
                    update(Task)
                    .where(Task.job_id == self.job_id, Task.url_hash.in_(late_targets), Task.kind != "sitemap")
                    .values(is_broken=True)
                )
            if corrections:
                session.execute(CORRECT_PATH, [
                    {"c_job": self.job_id, "c_hash": url_hash(c["url"]), "c_url": c["url"], "c_depth": c["depth"],
                     "c_referrer": c["referrer"], "c_found_via": c["found_via"]} for c in corrections
                ])  # fmt: skip

    def finish(self, status: str, error: str | None = None, total_from_rows: bool = False) -> None:
        """running -> a terminal state, only while the job is still ours; raises ClaimLost otherwise.
        `total_from_rows`: records were accepted that never reached the database, so `total_tasks`
        becomes the rows written (as the reconciler does for a dead crawler): counters = rows."""
        if self.lost:
            raise ClaimLost(self.lost)
        now = utcnow()
        values: dict[str, Any] = {"status": status, "error": error}
        if total_from_rows:
            values["total_tasks"] = (select(func.count()).select_from(Task)
                                      .where(Task.job_id == self.job_id, Task.kind != TaskKind.SITEMAP).scalar_subquery())  # fmt: skip
        if status == JobStatus.CANCELLED.value:
            values["cancelled_at"] = now
        else:
            values["completed_at"] = now
        if status == JobStatus.COMPLETED.value:  # a sample of its pages waits for the browser (control_api/jobs/browser/)
            values["browser_status"] = BrowserStatus.PENDING.value
        with Session(self.engine) as session, session.begin():
            if session.execute(update(Job).where(*self._owned()).values(**values)).rowcount != 1:
                raise self._lose(f"job {self.job_id} is no longer this crawler's to finish")
            record_job_event(session, self.job_id, status, now)
            record_performance(session, self.job_id)  # exact: no row can follow a terminal state
            if status == JobStatus.COMPLETED.value:
                self._record_changes(session, now)

    def _record_changes(self, session: Session, now) -> None:
        """What changed since the previous crawl, computed once, with the completion (db/changes.py).
        A failure of the comparison must not keep the job from completing: it is rolled back to its
        savepoint and logged, and the job completes without it. An outage is raised, to be retried."""
        try:
            with session.begin_nested():
                record_changes(session, self.job_id, now)
        except Exception as exc:
            if _is_disconnect(exc):
                raise
            logger.exception("job %s: what changed since the previous crawl could not be computed", self.job_id)

    def status(self) -> str | None:
        with Session(self.engine) as session:
            return session.scalar(select(Job.status).where(Job.id == self.job_id))

    def retrying(self, method, *args, timeout: float = 300.0):
        """Call a store method, retrying with growing waits (0.5 s doubling to 10 s, for up to
        `timeout` s) while the database is unreachable or restarting, or SQLite's file is busy.
        Anything else, ClaimLost first of all, is raised at once."""

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception()
            logger.warning("database unavailable (%s); retrying in %.1f s", getattr(error, "orig", error),
                           state.next_action.sleep)  # fmt: skip

        for attempt in Retrying(retry=retry_if_exception(_is_disconnect), stop=stop_after_delay(timeout),
                                wait=wait_exponential(multiplier=0.5, max=10.0), before_sleep=log_retry,
                                reraise=True):  # fmt: skip
            with attempt:
                return method(*args)

    def close(self) -> None:
        self.engine.dispose()


def _is_disconnect(exc: BaseException) -> bool:
    """Whether `exc` is a database outage worth waiting out, judged by exception class and error
    code, not by message text (which varies with the server's version and language):

    - SQLAlchemy saw the connection die (`connection_invalidated`, from the dialect's is_disconnect);
    - PostgreSQL's SQLSTATE says connection exception (class 08), shutting down or starting up
      (57P01-57P03), or too many connections (53300: everybody reconnecting after a restart);
    - SQLite's file is busy or locked by another writer;
    - an OperationalError the server never answered with a code: the client could not reach it.
    """
    if not isinstance(exc, DBAPIError):  # ClaimLost, and every error of our own
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith("08") or sqlstate in {"57P01", "57P02", "57P03", "53300"}
    sqlite_code = getattr(exc.orig, "sqlite_errorcode", None)
    if sqlite_code is not None:  # an extended code keeps its primary code in the low byte
        return sqlite_code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return isinstance(exc, OperationalError)
