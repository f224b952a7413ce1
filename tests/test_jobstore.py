"""The crawler's writes are held to its dispatch claim: a job that is not `running` under the
crawler's claim never gains a row, a count or a new status (crawler/jobstore.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.jobstore import ClaimLost, JobStore
from crawler.records import TaskInfo, new_record
from db.models import Job, Task

CLAIM = "a" * 32


@pytest.fixture
def store_for(database_url):
    stores = []

    def make(job_id: str, claim: str | None = CLAIM) -> JobStore:
        stores.append(JobStore(database_url, job_id, claim))
        return stores[-1]

    yield make
    for store in stores:
        store.close()


def record(url: str = "http://example.com/") -> dict:
    return {**new_record(TaskInfo(url=url, key=url, kind="page", found_via="start", referrer=None, depth=0), "completed",
                         http_status=200, response_time_ms=12, bytes=100), "referrers": None}  # fmt: skip


def job_state(engine, job_id: str) -> tuple:
    with Session(engine) as session:
        job = session.get(Job, job_id)
        rows = session.scalar(select(func.count()).select_from(Task).where(Task.job_id == job_id))
        return job.status, job.started_at, job.completed_tasks, job.total_bytes, job.error, rows


def test_the_dispatched_crawler_claims_writes_and_finishes_its_job(make_job, org, store_for, engine):
    job_id = make_job(org, claim=CLAIM)
    store = store_for(job_id)
    store.claim_job()
    assert store.heartbeat() is None
    store.write_batch([record()], [], 1)
    store.finish("completed")
    status, started_at, completed, total_bytes, _, rows = job_state(engine, job_id)
    assert (status, completed, total_bytes, rows) == ("completed", 1, 100, 1) and started_at


def test_a_job_finished_without_some_of_its_records_counts_the_rows_it_has(make_job, org, store_for, engine):
    """Records kept in var/unwritten/ (the database stayed down) are not rows: total_tasks, which
    counted them as accepted, becomes the rows written (tests/integration/test_database_outage.py)."""
    job_id = make_job(org, claim=CLAIM)
    store = store_for(job_id)
    store.claim_job()
    store.write_batch([record("http://example.com/"), record("http://example.com/a")], [], 5)
    store.finish("failed", "2 records were not written", total_from_rows=True)
    with Session(engine) as session:
        job = session.get(Job, job_id)
        assert (job.status, job.total_tasks, job.completed_tasks) == ("failed", 2, 2)


@pytest.mark.parametrize(
    ("claim", "status", "why"),
    [(None, "created", "no dispatch claim"), ("b" * 32, "created", "another claim"), (CLAIM, "failed", "failed"),
     (CLAIM, "cancelled", "cancelled"), (CLAIM, "completed", "completed"), (CLAIM, "running", "running")],
)  # fmt: skip
def test_a_crawler_started_for_a_job_not_waiting_for_its_claim_writes_nothing(make_job, org, store_for, engine, claim,
                                                                              status, why):  # fmt: skip
    job_id = make_job(org, claim=CLAIM, status=status)
    before = job_state(engine, job_id)
    store = store_for(job_id, claim)
    with pytest.raises(ClaimLost, match=why):
        store.claim_job()
    assert store.lost
    with pytest.raises(ClaimLost):
        store.write_batch([record()], [], 1)
    assert job_state(engine, job_id) == before


@pytest.mark.parametrize("ended_as", ["cancelled", "failed"])
def test_a_job_ended_elsewhere_refuses_the_crawlers_next_batch_whole(make_job, org, store_for, engine, ended_as):
    job_id = make_job(org, claim=CLAIM)
    store = store_for(job_id)
    store.claim_job()
    store.write_batch([record("http://example.com/a")], [], 2)
    with Session(engine) as session, session.begin():
        session.get(Job, job_id).status = ended_as  # the cancel endpoint or the reconciler
    before = job_state(engine, job_id)

    with pytest.raises(ClaimLost):
        store.write_batch([record("http://example.com/b")], [("http://example.com/x", "http://example.com/a")], 3)
    with pytest.raises(ClaimLost):
        store.finish("completed")

    assert job_state(engine, job_id) == before
    assert before[0] == ended_as and before[-1] == 1
    assert store.heartbeat() == "lost"  # once lost, the store never writes again


def test_heartbeat_reports_a_cancel(make_job, org, store_for, engine):
    job_id = make_job(org, claim=CLAIM)
    store = store_for(job_id)
    store.claim_job()
    with Session(engine) as session, session.begin():
        session.get(Job, job_id).status = "cancelled"
    assert store.heartbeat() == "cancelled"
    assert store.lost


def test_a_shorter_path_found_after_the_write_corrects_the_stored_row(make_job, org, store_for, engine):
    """A job's records go out before their depth is final (crawler/depths.py); a correction, in the
    same batch as its record or a later one, gives the row its shortest path, counters untouched."""
    job_id = make_job(org, claim=CLAIM)
    store = store_for(job_id)
    store.claim_job()
    deep = {**record("http://example.com/target"), "depth": 3, "referrer": "http://example.com/c"}
    other = {**record("http://example.com/other"), "depth": 3, "referrer": "http://example.com/c"}
    child = {**record("http://example.com/child"), "depth": 4, "referrer": "http://example.com/target"}
    store.write_batch([deep, other], [], 3)
    store.write_batch([child], [], 3, [
        {"url": "http://example.com/target", "depth": 2, "referrer": "http://example.com/a", "found_via": "link"},
        {"url": "http://example.com/child", "depth": 3, "referrer": "http://example.com/target", "found_via": "link"},
    ])  # fmt: skip
    with Session(engine) as session:
        rows = {row.url: (row.depth, row.referrer) for row in session.scalars(select(Task).where(Task.job_id == job_id))}
    assert rows == {"http://example.com/target": (2, "http://example.com/a"),
                    "http://example.com/other": (3, "http://example.com/c"),
                    "http://example.com/child": (3, "http://example.com/target")}  # fmt: skip
    assert job_state(engine, job_id)[2] == 3
