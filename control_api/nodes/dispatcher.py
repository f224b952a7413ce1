"""The dispatcher: hands `created` jobs to scrapyd nodes with a free slot, fairly across organisations.

A node's free slots are its capacity (SCRAPYD_URL's `#slots=N`, its max_proc) minus what is busy
on it: the larger of the jobs our database has handed to it that have not ended, and what its
scrapyd lists running or pending (a crawl whose job ended may still be exiting), counted once each. When every
node is full, jobs wait here as `created` instead of piling into one scrapyd's queue, and the
next round (`reconcile --loop`, every DISPATCH_SECONDS, and every job create) sends them on.

Fairness: each free slot goes to the organisation with the fewest jobs in flight (dispatched or
running), its oldest waiting job first; ties go to the organisation whose oldest job waited
longest. One organisation's 100 waiting jobs therefore never keep another's single job waiting
for more than the next free slot.

Safe with several API workers and loops at once: a round locks the node rows it dispatches to
(PostgreSQL: FOR UPDATE SKIP LOCKED, so a second round takes the other nodes or none; SQLite:
its one write lock), counts and assigns inside that transaction, and takes each job with
FOR UPDATE SKIP LOCKED, so a job is dispatched once and a slot is given once. The assignment (claim,
node) is committed before scrapyd is called, as before: the crawler claims the job by it.

A node that does not answer costs a round one timeout, never a failed job: a schedule.json that
never reached it gives the job back to the waiting line (claim cleared, the next round sends it);
one that was sent without an answer in time (a frozen scrapyd) leaves the job on that node, which
starts it when it thaws, with its claim. Should it never start it, the reconciler settles the job as
it settles every dispatched job (docs/reliability.md). The round's later jobs for that node wait
for the next round. Only a node that answers with a refusal fails the job.
"""
from __future__ import annotations

import json
import logging
import math
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from contract.options import JobOptions, redacted
from contract.vocabulary import JobStatus
from control_api.nodes.scrapyd_client import SchedulerSilent, SchedulerUnavailable, SchedulerUnreachable, ScrapydClient, ask_each
from db.models import Job, ScrapydNode, utcnow
from db.webhooks import record_job_event

logger = logging.getLogger(__name__)

IN_FLIGHT = (JobStatus.CREATED.value, JobStatus.RUNNING.value)
UNLIMITED_ROUND = 50
SCHEDULE_FAILED = "Could not schedule the crawl: "  # jobs one round hands to nodes without a configured capacity


@dataclass
class NodeLoad:
    url: str
    slots: int | None  # None: no capacity configured, scrapyd queues the excess
    reachable: bool
    error: str | None = None  # why it did not answer
    running: set[str] = field(default_factory=set)  # job ids, as its scrapyd lists them
    pending: set[str] = field(default_factory=set)
    ours: set[str] = field(default_factory=set)  # jobs our database handed to it that have not ended

    @property
    def busy(self) -> int:
        # A union, not a sum or a maximum: a crawl whose job ended may still be exiting (scrapyd's,
        # not ours), and one just handed over may not be listed yet (ours, not scrapyd's).
        return len(self.ours | self.running | self.pending)

    @property
    def free(self) -> float:
        if not self.reachable:
            return 0
        return math.inf if self.slots is None else max(0, self.slots - self.busy)


def probe_nodes(client: ScrapydClient) -> dict[str, NodeLoad]:
    """Ask every node's listjobs.json (outside any transaction: a dead node may take a timeout)."""
    loads = {}
    configured = getattr(client, "slots", {})
    if len(client.urls) == 1 and not configured:  # one node, no capacity: nothing to decide, so no need to ask
        return {client.urls[0]: NodeLoad(client.urls[0], None, reachable=True)}
    for url, listing in ask_each(client.urls, client.list_jobs).items():
        slots = configured.get(url)
        if isinstance(listing, SchedulerUnavailable):
            logger.info("dispatcher: skipping %s", listing)
            loads[url] = NodeLoad(url, slots, reachable=False, error=str(listing))
            continue
        running = {entry["id"] for entry in listing.get("running", [])}
        pending = {entry["id"] for entry in listing.get("pending", [])}
        loads[url] = NodeLoad(url, slots, True, running=running, pending=pending)
    return loads


def jobs_on(session: Session, urls: list[str]) -> dict[str, set[str]]:
    """{node: ids of the jobs handed to it that have not ended}."""
    rows = session.execute(
        select(Job.scrapyd_node, Job.id)
        .where(Job.scrapyd_node.in_(urls), Job.status.in_(IN_FLIGHT), Job.dispatched_at.is_not(None))
    ).all()
    ours: dict[str, set[str]] = {}
    for node, job_id in rows:
        ours.setdefault(node, set()).add(job_id)
    return ours


def ensure_node_rows(session: Session, urls: list[str]) -> None:
    dialect_insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    for url in urls:
        session.execute(dialect_insert(ScrapydNode).values(url=url).on_conflict_do_nothing())


def lock_nodes(session: Session, urls: list[str]) -> list[str]:
    """The nodes this round may dispatch to: on PostgreSQL those no other round holds; on SQLite all
    of them, once a write has taken the database's single write lock (held to the commit)."""
    now = utcnow()
    if session.bind.dialect.name == "sqlite":
        session.execute(update(ScrapydNode).where(ScrapydNode.url.in_(urls)).values(last_seen_at=now))
        return list(urls)
    locked = list(session.scalars(
        select(ScrapydNode.url).where(ScrapydNode.url.in_(urls)).with_for_update(skip_locked=True)
    ))  # fmt: skip
    if locked:
        session.execute(update(ScrapydNode).where(ScrapydNode.url.in_(locked)).values(last_seen_at=now))
    return locked


def fair_order(session: Session, limit: int) -> list[str]:
    """Up to `limit` waiting job ids, interleaved across organisations (see the module's docstring)."""
    rank = func.row_number().over(partition_by=Job.organisation_id, order_by=(Job.created_at, Job.id)).label("rank")
    waiting = (
        select(Job.id, Job.organisation_id, Job.created_at, rank)
        .where(Job.status == JobStatus.CREATED.value, Job.dispatched_at.is_(None))
        .subquery()
    )
    rows = session.execute(
        select(waiting.c.id, waiting.c.organisation_id, waiting.c.created_at)
        .where(waiting.c.rank <= limit)
        .order_by(waiting.c.organisation_id, waiting.c.rank)
    ).all()
    queues: dict[int, list] = {}
    for row in rows:
        queues.setdefault(row.organisation_id, []).append(row)
    in_flight = dict(session.execute(
        select(Job.organisation_id, func.count())
        .where(Job.organisation_id.in_(list(queues)), Job.status.in_(IN_FLIGHT), Job.dispatched_at.is_not(None))
        .group_by(Job.organisation_id)
    ).all())  # fmt: skip
    order = []
    while queues and len(order) < limit:
        organisation = min(queues, key=lambda org: (in_flight.get(org, 0), queues[org][0].created_at, org))
        order.append(queues[organisation].pop(0).id)
        in_flight[organisation] = in_flight.get(organisation, 0) + 1
        if not queues[organisation]:
            del queues[organisation]
    return order


def take_job(session: Session, job_id: str) -> bool:
    """Lock a waiting job for this round; False when another round has it or it is no longer waiting."""
    return session.scalar(
        select(Job.id)
        .where(Job.id == job_id, Job.status == JobStatus.CREATED.value, Job.dispatched_at.is_(None))
        .with_for_update(skip_locked=True)
    ) is not None


def assign(session_factory, client: ScrapydClient) -> list[tuple[str, str, str]]:
    """One round's decisions, committed: [(job id, node, claim)]. Raises SchedulerUnreachable when
    no node answers."""
    with session_factory() as session:  # most rounds of an idle service end here, asking no node
        if session.scalar(select(Job.id).where(Job.status == JobStatus.CREATED.value, Job.dispatched_at.is_(None)).limit(1)) is None:
            return []
    loads = probe_nodes(client)
    reachable = [url for url, load in loads.items() if load.reachable]
    if not reachable:
        raise SchedulerUnreachable("; ".join(load.error or load.url for load in loads.values()) or "no scrapyd node")
    assignments = []
    with session_factory() as session:
        ensure_node_rows(session, reachable)
        locked = lock_nodes(session, reachable)
        for url, job_ids in jobs_on(session, locked).items():
            loads[url].ours = job_ids
        nodes = [loads[url] for url in locked]
        free_total = sum(min(node.free, UNLIMITED_ROUND) for node in nodes)
        if not free_total:
            return []
        now = utcnow()
        for job_id in fair_order(session, int(free_total)):
            best = max(nodes, key=lambda node: (node.free, -node.busy))
            if not best.free:
                break
            if not take_job(session, job_id):
                continue
            claim = uuid.uuid4().hex
            session.execute(
                update(Job).where(Job.id == job_id).values(claim=claim, dispatched_at=now, scrapyd_node=best.url)
            )
            best.ours.add(job_id)
            assignments.append((job_id, best.url, claim))
    return assignments


def spider_arguments(job: Job) -> tuple[dict, dict]:
    """scrapyd `schedule.json` spider arguments and Scrapy settings for a job: the options travel as
    one JSON argument that the spider validates with the same contract model."""
    options = JobOptions.model_validate(job.options)
    # Secrets never travel as spider arguments (scrapyd logs those): the crawler reads them from the
    # job's row (crawler/scope.py), where they are the only copy.
    args = {"domain": job.domain.name, "options": json.dumps(redacted(options.model_dump()))}
    if job.start_scheme:
        args["scheme"] = job.start_scheme
    if job.claim:
        args["claim"] = job.claim
    return args, options.scrapy_settings()


def send(session_factory, client: ScrapydClient, job_id: str, node: str, claim: str) -> bool:
    """schedule.json for one assigned job; True when scrapyd took it. When it refuses it, the job is
    `failed` with the reason, as it always was (docs/reliability.md): a crawl that scrapyd starts
    anyway later finds a failed job and writes nothing. No answer raises SchedulerUnreachable or
    SchedulerSilent for dispatch_waiting to handle."""
    with session_factory() as session:
        job = session.get(Job, job_id)
        args, settings = spider_arguments(job)
    try:
        client.schedule(job_id, args, settings, node=node)
        return True
    except (SchedulerUnreachable, SchedulerSilent):
        raise
    except SchedulerUnavailable as exc:
        with session_factory() as session:
            now = utcnow()
            failed = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.claim == claim, Job.status == JobStatus.CREATED.value)
                .values(status=JobStatus.FAILED.value, error=f"{SCHEDULE_FAILED}{exc}", completed_at=now)
            ).rowcount
            if failed:
                record_job_event(session, job_id, JobStatus.FAILED, now)  # in this transaction: the outbox
        if failed:
            logger.warning("dispatcher: job %s failed: %s", job_id, exc)
        else:  # scrapyd did take it, and its crawler already claimed the job: it runs
            logger.warning("scrapyd answered badly (%s) but job %s started anyway", exc, job_id)
        return not failed


def release(session_factory, job_id: str, claim: str) -> None:
    """Give a job whose schedule.json never reached its node back to the waiting line."""
    with session_factory() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.claim == claim, Job.status == JobStatus.CREATED.value)
            .values(claim=None, dispatched_at=None, scrapyd_node=None)
        )


def dispatch_waiting(session_factory, client: ScrapydClient) -> list[tuple[str, str]]:
    """Hand waiting jobs to free slots; returns [(job id, node)] of those scrapyd accepted."""
    sent, silent = [], set()
    for job_id, node, claim in assign(session_factory, client):
        if node in silent:  # it did not answer this round: the job waits for the next one
            release(session_factory, job_id, claim)
            continue
        try:
            if send(session_factory, client, job_id, node, claim):
                sent.append((job_id, node))
        except SchedulerUnreachable as exc:
            logger.warning("dispatcher: job %s waits for the next round: %s", job_id, exc)
            release(session_factory, job_id, claim)
            silent.add(node)
        except SchedulerSilent as exc:
            logger.warning("dispatcher: job %s stays on %s, which may still start it: %s", job_id, node, exc)
            silent.add(node)
    return sent
