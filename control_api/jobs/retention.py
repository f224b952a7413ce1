"""Retention: a job's per-URL rows (tasks, broken-link referrers) are deleted RETENTION_DAYS after
the job ended; the job row, its counters and its stats stay, and `tasks_pruned_at` says when.

The tasks table grows by one row per URL per crawl; without this it grows forever. Rows are
deleted in transactions of RETENTION_BATCH rows (by primary key, found through the job_id index),
so no transaction holds row locks or SQLite's write lock for long and crawls keep writing
meanwhile. `tasks_pruned_at` is set first: from then on the job's per-URL endpoints answer 410
`tasks_pruned`, never a half-deleted page. Run by `reconcile --loop` every RETENTION_SECONDS, or
once by `flask --app control_api prune`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from contract.vocabulary import JobStatus
from db.models import BrokenLinkReferrer, Job, Task, utcnow

TERMINAL = [status.value for status in JobStatus.terminal()]


@dataclass
class PruneReport:
    jobs: int = 0
    rows: int = 0
    seconds: float = 0.0
    transactions: int = 0
    longest_transaction: float = 0.0  # seconds
    job_ids: list[str] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def expired_jobs(session: Session, cutoff: datetime) -> list[str]:
    """Ended jobs whose end is older than `cutoff` and whose rows are not pruned yet, oldest first."""
    ended = func.coalesce(Job.completed_at, Job.cancelled_at, Job.created_at)
    # A prune interrupted half-way (the process stopped) is taken up again.
    pruned_unfinished = Job.tasks_pruned_at.is_not(None) & exists().where(Task.job_id == Job.id)
    return list(session.scalars(
        select(Job.id)
        .where(Job.status.in_(TERMINAL), ended < cutoff, or_(Job.tasks_pruned_at.is_(None), pruned_unfinished))
        .order_by(ended)
    ))  # fmt: skip


def prune(engine: Engine, days: float, batch: int = 5000, now: datetime | None = None) -> PruneReport:
    """Delete the per-URL rows of every job that ended more than `days` ago; 0 days keeps everything."""
    report = PruneReport()
    if days <= 0:
        return report
    now = now or utcnow()
    started = time.perf_counter()
    with Session(engine) as session:
        job_ids = expired_jobs(session, now - timedelta(days=days))
    for job_id in job_ids:
        with Session(engine) as session, session.begin():
            session.execute(update(Job).where(Job.id == job_id, Job.tasks_pruned_at.is_(None)).values(tasks_pruned_at=now))
        for model in (Task, BrokenLinkReferrer):
            while True:
                began = time.perf_counter()
                with Session(engine) as session, session.begin():
                    ids = select(model.id).where(model.job_id == job_id).limit(batch).scalar_subquery()
                    deleted = session.execute(
                        delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False)
                    ).rowcount
                report.transactions += 1
                report.longest_transaction = max(report.longest_transaction, time.perf_counter() - began)
                report.rows += deleted
                if deleted < batch:
                    break
        report.jobs += 1
        report.job_ids.append(job_id)
    report.seconds = time.perf_counter() - started
    return report
