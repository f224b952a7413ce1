"""The dispatcher's decisions (control_api/nodes/dispatcher.py) with scrapyd nodes faked: capacity, the
waiting line, fairness across organisations, cancel of a waiting job, several dispatchers at once.
tests/integration/test_nodes.py proves the same on real scrapyd nodes."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from control_api.jobs import service as jobs_service
from control_api.nodes.dispatcher import dispatch_waiting
from control_api.nodes.scrapyd_client import SchedulerSilent, SchedulerUnavailable, SchedulerUnreachable
from db.models import Job, utcnow

A, B, C = "http://node-a.invalid", "http://node-b.invalid", "http://node-c.invalid"


@dataclass
class FakeNodes:
    """scrapyd nodes as the dispatcher sees them: listjobs, and schedule.json recorded."""

    slots: dict[str, int]
    down: set[str] = field(default_factory=set)
    refuse: set[str] = field(default_factory=set)  # answer daemonstatus, refuse schedule.json
    unreachable: set[str] = field(default_factory=set)  # schedule.json: no connection
    silent: set[str] = field(default_factory=set)  # schedule.json: sent, no answer in time (frozen)
    reported: dict[str, dict] = field(default_factory=dict)
    scheduled: list[tuple[str, str]] = field(default_factory=list)  # (job id, node)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def urls(self) -> list[str]:
        return list(self.slots)

    def list_jobs(self, node: str) -> dict:
        if node in self.down:
            raise SchedulerUnavailable(f"scrapyd at {node} is unreachable: ConnectionError")
        return {"status": "ok", "running": [], "pending": [], "finished": [], **self.reported.get(node, {})}

    def for_handover(self) -> FakeNodes:
        return self

    def schedule(self, job_id: str, spider_args: dict, settings: dict, node: str | None = None) -> str:
        if node in self.refuse:
            raise SchedulerUnavailable(f"scrapyd at {node} refused schedule.json: busy")
        if node in self.unreachable:
            raise SchedulerUnreachable(f"scrapyd at {node} is unreachable: ConnectionError")
        if node in self.silent:
            with self.lock:
                self.scheduled.append((job_id, f"silent {node}"))
            raise SchedulerSilent(f"scrapyd at {node} did not answer within 0.5 s (ReadTimeout)")
        with self.lock:
            self.scheduled.append((job_id, node))
        return node


@pytest.fixture
def session_factory(engine):
    return sessionmaker(engine, expire_on_commit=False).begin


@pytest.fixture
def waiting(make_job, engine):
    """Make waiting jobs (created, not dispatched); those a test leaves waiting are cancelled after
    it, so no later dispatch round of the suite sees them."""
    made = []

    def make(org, count: int = 1) -> list[str]:
        start = utcnow() - timedelta(minutes=10)
        ids = [make_job(org, created_at=start + timedelta(seconds=len(made) + i), dispatched_at=None) for i in range(count)]
        made.extend(ids)
        return ids

    yield make
    with Session(engine) as session, session.begin():
        session.execute(update(Job).where(Job.id.in_(made), Job.status.in_(["created", "running"]))
                        .values(status="cancelled", cancelled_at=utcnow()))  # fmt: skip


def node_of(engine, job_id: str) -> str | None:
    with Session(engine) as session:
        return session.scalar(select(Job.scrapyd_node).where(Job.id == job_id))


def finish(engine, *job_ids: str) -> None:
    with Session(engine) as session, session.begin():
        session.execute(update(Job).where(Job.id.in_(job_ids)).values(status="completed", completed_at=utcnow()))


def test_jobs_go_to_the_most_free_slots_and_wait_when_every_node_is_full(session_factory, engine, org, waiting):
    nodes = FakeNodes({A: 1, B: 2})
    jobs = waiting(org, 5)

    sent = dispatch_waiting(session_factory, nodes)

    assert [job for job, _ in sent] == jobs[:3]  # oldest first
    assert sorted(node for _, node in sent) == [A, B, B]
    assert [node_of(engine, job) for job in jobs[3:]] == [None, None]  # waiting in our database
    assert dispatch_waiting(session_factory, nodes) == []  # still full
    finish(engine, next(job for job, node in sent if node == B))
    assert dispatch_waiting(session_factory, nodes) == [(jobs[3], B)]  # the freed slot, the oldest


def test_a_node_busy_by_its_own_report_gets_nothing(session_factory, org, waiting):
    exiting = [{"id": "a-crawl-whose-job-ended"}]  # its process still exits: its slot is not free yet
    nodes = FakeNodes({A: 2, B: 2}, reported={B: {"running": exiting, "pending": [{"id": "started-elsewhere"}]}})
    waiting(org, 3)
    assert [node for _, node in dispatch_waiting(session_factory, nodes)] == [A, A]


def test_an_unreachable_node_is_avoided_and_none_reachable_raises(session_factory, org, waiting):
    nodes = FakeNodes({A: 4, B: 2}, down={A})
    waiting(org, 3)
    assert [node for _, node in dispatch_waiting(session_factory, nodes)] == [B, B]
    nodes.down = {A, B}
    with pytest.raises(SchedulerUnavailable, match="unreachable"):
        dispatch_waiting(session_factory, nodes)


def test_a_refused_schedule_fails_the_job_with_the_reason(session_factory, engine, org, waiting):
    nodes = FakeNodes({A: 1}, refuse={A})
    (job,) = waiting(org)
    assert dispatch_waiting(session_factory, nodes) == []
    with Session(engine) as session:
        row = session.get(Job, job)
        assert row.status == "failed" and "refused schedule.json" in row.error


def test_one_organisation_many_jobs_does_not_starve_another(session_factory, engine, make_org, waiting):
    nodes = FakeNodes({A: 1, B: 1})
    org_a, org_b = make_org("A"), make_org("B")
    a_jobs = waiting(org_a, 20)
    (b_job,) = waiting(org_b)  # posted after all of A's
    order = []
    while len(order) < 21:
        sent = dispatch_waiting(session_factory, nodes)
        assert sent, "a free slot was left unused"
        order += [job for job, _ in sent]
        finish(engine, *(job for job, _ in sent))
    assert order.index(b_job) < 2  # B's one job took the first slot A did not already hold
    assert [job for job in order if job != b_job] == a_jobs  # A's own jobs oldest first


def test_a_cancelled_waiting_job_never_dispatches(session_factory, client, org, waiting):
    nodes = FakeNodes({A: 1})
    first, second = waiting(org, 2)
    assert client.post(f"/v1/jobs/{first}/cancel", headers=org.headers).status_code == 200
    assert dispatch_waiting(session_factory, nodes) == [(second, A)]
    assert dispatch_waiting(session_factory, nodes) == []


def test_create_leaves_the_job_waiting_when_no_node_answers(session_factory, engine, org, waiting):
    """It used to fail the job (503): the next round sends it once a node answers."""
    nodes = FakeNodes({A: 1}, down={A})
    (job_id,) = waiting(org)
    with Session(engine) as session:
        job = session.get(Job, job_id)
    assert jobs_service.schedule_job(session_factory, nodes, job) is job
    assert (job.status, job.scrapyd_node, job.claim, job.error) == ("created", None, None, None)
    nodes.down = set()
    assert dispatch_waiting(session_factory, nodes) == [(job_id, A)]


def claims(engine, *job_ids: str) -> list[tuple]:
    with Session(engine) as session:
        rows = session.execute(select(Job.id, Job.status, Job.scrapyd_node, Job.claim).where(Job.id.in_(job_ids))).all()
    return sorted((job_ids.index(row.id), row.status, row.scrapyd_node, row.claim is not None) for row in rows)


def test_a_schedule_that_never_reached_its_node_gives_the_jobs_back_to_the_waiting_line(session_factory, engine, org, waiting):
    nodes = FakeNodes({A: 5}, unreachable={A})
    jobs = waiting(org, 3)
    assert dispatch_waiting(session_factory, nodes) == []
    assert claims(engine, *jobs) == [(0, "created", None, False), (1, "created", None, False), (2, "created", None, False)]
    assert nodes.scheduled == []  # one attempt, not one timeout per job
    nodes.unreachable = set()
    assert sorted(dispatch_waiting(session_factory, nodes)) == sorted((job, A) for job in jobs)


def test_a_schedule_sent_to_a_frozen_node_stays_on_it_and_the_rest_wait(session_factory, engine, org, waiting):
    """No answer in time: the node may still start the first job (with its claim) when it thaws, so
    the job stays on it; the round's other jobs for it were never sent and wait for the next round."""
    nodes = FakeNodes({A: 5}, silent={A})
    first, *others = waiting(org, 3)
    assert dispatch_waiting(session_factory, nodes) == []
    assert nodes.scheduled == [(first, f"silent {A}")]
    assert claims(engine, first, *others) == [(0, "created", A, True), (1, "created", None, False), (2, "created", None, False)]
    nodes.silent = set()
    assert sorted(dispatch_waiting(session_factory, nodes)) == sorted((job, A) for job in others)


def test_several_dispatchers_at_once_never_give_a_slot_or_a_job_twice(session_factory, engine, org, waiting):
    nodes = FakeNodes({A: 1, B: 2, C: 2})
    jobs = waiting(org, 12)
    errors = []

    def rounds():
        try:
            for _ in range(5):
                dispatch_waiting(session_factory, nodes)
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=rounds) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    sent = [job for job, _ in nodes.scheduled]
    assert len(sent) == len(set(sent)) == 5  # every slot filled, none twice, no job twice
    assert sent == jobs[:5] or sorted(sent) == sorted(jobs[:5])
    per_node = {node: sum(1 for _, n in nodes.scheduled if n == node) for node in nodes.urls}
    assert per_node == {A: 1, B: 2, C: 2}
