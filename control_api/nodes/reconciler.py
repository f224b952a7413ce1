"""The reconciler: settles jobs whose crawler died, by comparing the database with scrapyd.

A job `created` or `running` in the database must be pending or running on its scrapyd node. If
the node lists it as finished while the database still says active, the process ended without
closing the job (SIGKILL, out of memory, a crash): the job becomes `failed` with that reason, and
its total is set to the task rows written, so counters match rows. A job the node does not list
(scrapyd was restarted and forgot it, or scheduling never completed) fails once the grace period
has passed since its last sign of life: its dispatch, or the crawler's latest heartbeat. A crawler
orphaned by a dead scrapyd keeps its heartbeat and so its job; once the job is failed here, its
next heartbeat or write is refused and it stops (the dispatch claim, crawler/jobstore.py).

A node that does not answer is marked unreachable (scrapyd_nodes.unreachable_since; the dispatcher
sends it nothing meanwhile). Its running jobs whose crawler has been silent for the grace period
fail ("node lost"), their pages kept and total set to the rows, as above; a crawler that still
renews its claim is still crawling and keeps its job. Its jobs that were handed to it but never
started go back to the waiting line once it has been unreachable for the grace period, and the
dispatcher sends them to another node; should the lost node start one later, that crawl finds
its claim gone and writes nothing. Jobs waiting for a slot (`created`, not dispatched) are the
dispatcher's and are left alone.

Runs every RECONCILE_SECONDS inside `make run`, or once with `flask --app control_api reconcile`.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from contract.vocabulary import JobStatus, TaskKind
from control_api.database import session_scope
from control_api.nodes.dispatcher import ensure_node_rows
from control_api.nodes.scrapyd_client import SchedulerUnavailable, ScrapydClient
from db.models import Job, ScrapydNode, Task, utcnow
from db.performance import record_performance
from db.webhooks import record_job_event

if TYPE_CHECKING:
    from flask import Flask  # from_app's argument only

logger = logging.getLogger(__name__)

ACTIVE = (JobStatus.CREATED.value, JobStatus.RUNNING.value)


@dataclass
class Reconciler:
    client: ScrapydClient
    interval: float = 10.0
    grace: timedelta = timedelta(seconds=30)

    @classmethod
    def from_app(cls, app: Flask) -> Reconciler:
        return cls(
            client=app.extensions["scheduler"],
            interval=float(app.config.get("RECONCILE_SECONDS", 10)),
            grace=timedelta(seconds=float(app.config.get("RECONCILE_GRACE_SECONDS", 30))),
        )

    def run_once(self) -> list[tuple[str, str]]:
        """Fail the jobs whose crawl is gone, requeue those a lost node never started; returns
        [(job id, reason)] of the failed ones."""
        with session_scope() as session:
            active = session.execute(
                select(Job.id, Job.status, Job.scrapyd_node, Job.created_at, Job.dispatched_at, Job.heartbeat_at)
                .where(Job.status.in_(ACTIVE), Job.dispatched_at.is_not(None))  # not those waiting for a slot
            ).all()
        by_node: dict[str | None, list] = defaultdict(list)
        for job in active:
            by_node[job.scrapyd_node].append(job)
        settled, requeue = [], []
        now = utcnow()
        def silent(job) -> bool:
            last_sign = max(filter(None, (job.created_at, job.dispatched_at, job.heartbeat_at)))
            return now - last_sign > self.grace

        for node in self.client.urls:
            by_node.setdefault(node, [])
        for node, jobs in by_node.items():
            if node is None:
                settled += [(job.id, "The crawl was never handed to scrapyd") for job in jobs if silent(job)]
                continue
            try:
                listing = self.client.list_jobs(node)
            except SchedulerUnavailable as exc:
                logger.warning("reconciler: %s", exc)
                down_since = self.mark_node(node, reachable=False)
                lost = now - down_since > self.grace
                for job in jobs:
                    if job.status == JobStatus.RUNNING.value and silent(job):
                        settled.append((job.id, f"The scrapyd node {node} stopped answering (since "
                                                 f"{down_since:%H:%M:%S} UTC) and the crawler stopped reporting: "
                                                 "the node was lost"))  # fmt: skip
                    elif job.status == JobStatus.CREATED.value and lost:
                        requeue.append(job.id)
                continue
            self.mark_node(node, reachable=True)
            alive = {entry["id"] for entry in listing.get("pending", []) + listing.get("running", [])}
            finished = {entry["id"] for entry in listing.get("finished", [])}
            for job in jobs:
                if job.id in alive:
                    continue
                if job.id in finished:
                    settled.append((job.id, "The crawler process ended without finishing the job (killed or crashed)"))
                elif silent(job):
                    settled.append((job.id, f"scrapyd at {node} has no record of this crawl and its crawler stopped reporting"))
        for job_id, reason in settled:
            self.fail(job_id, reason)
        for job_id in requeue:
            self.requeue(job_id)
        return settled

    def mark_node(self, node: str, reachable: bool):
        """Record whether the node answered; returns since when it has not (now, if it just stopped)."""
        now = utcnow()
        with session_scope() as session:
            ensure_node_rows(session, [node])
            if reachable:
                session.execute(update(ScrapydNode).where(ScrapydNode.url == node).values(unreachable_since=None))
                return None
            session.execute(
                update(ScrapydNode)
                .where(ScrapydNode.url == node, ScrapydNode.unreachable_since.is_(None))
                .values(unreachable_since=now)
            )
            return session.scalar(select(ScrapydNode.unreachable_since).where(ScrapydNode.url == node))

    def requeue(self, job_id: str) -> None:
        """A job handed to a lost node that never started waits again for a slot on another node."""
        with session_scope() as session:
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.CREATED.value)
                .values(claim=None, dispatched_at=None, scrapyd_node=None)
            )
        if result.rowcount:
            logger.warning("job %s requeued: its node was lost before it started", job_id)

    def fail(self, job_id: str, reason: str) -> None:
        with session_scope() as session:
            # Progress counts the URLs the crawl checks, not sitemap documents (the crawler's counters neither).
            rows = session.scalar(
                select(func.count()).select_from(Task).where(Task.job_id == job_id, Task.kind != TaskKind.SITEMAP)
            )
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status.in_(ACTIVE))
                .values(status=JobStatus.FAILED.value, error=reason, completed_at=utcnow(), total_tasks=rows)
            )
            if result.rowcount:
                record_job_event(session, job_id, JobStatus.FAILED)
                record_performance(session, job_id)
        if result.rowcount:
            logger.warning("job %s failed: %s", job_id, reason)
