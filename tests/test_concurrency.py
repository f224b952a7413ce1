"""Races: parallel creates for one domain, and cancels racing with a crawl that completes.
Run against PostgreSQL in CI (TEST_DATABASE_URL), where row locks and ON CONFLICT matter most."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.jobstore import ClaimLost, JobStore
from db.models import Domain, Job


def test_fifty_parallel_creates_for_one_domain_make_fifty_jobs_and_one_domain(app, org, engine):
    domain = f"race-{uuid.uuid4().hex[:8]}.example"
    barrier = Barrier(50)

    def create(_):
        client = app.test_client()
        barrier.wait()
        return client.post("/v1/jobs", json={"domain": domain, "allow_concurrent": True}, headers=org.headers)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(create, range(50)))

    assert [r.status_code for r in responses] == [201] * 50
    assert len({r.get_json()["domain_id"] for r in responses}) == 1
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Domain).where(Domain.name == domain)) == 1
        domain_id = responses[0].get_json()["domain_id"]
        assert session.scalar(select(func.count()).select_from(Job).where(Job.domain_id == domain_id)) == 50


def test_parallel_creates_for_one_domain_and_organisation_make_one_job_and_409_for_the_rest(app, org, make_org, make_job, engine):
    # The domain row lock: each create sees the jobs of those before it (SPEC: one active job per
    # domain unless allow_concurrent). Another organisation, racing at the same time, is not refused.
    domain = f"race-{uuid.uuid4().hex[:8]}.example"
    other = make_org("Other racer")
    # The domain exists already (a finished crawl): creating its row cannot be what orders the racers.
    make_job(org, domain=domain, status="completed")
    racers = [org] * 10 + [other]
    barrier = Barrier(len(racers))

    def create(racer):
        client = app.test_client()
        barrier.wait()
        return client.post("/v1/jobs", json={"domain": domain}, headers=racer.headers)

    with ThreadPoolExecutor(max_workers=len(racers)) as pool:
        responses = list(pool.map(create, racers))

    ours, theirs = responses[:10], responses[10]
    assert sorted(r.status_code for r in ours) == [201] + [409] * 9
    assert theirs.status_code == 201
    created = next(r for r in ours if r.status_code == 201).get_json()["id"]
    assert all(r.get_json()["error"]["code"] == "job_already_running" for r in ours if r.status_code == 409)
    assert all(created in r.get_json()["error"]["message"] for r in ours if r.status_code == 409)
    with Session(engine) as session:
        domain_id = session.scalar(select(Domain.id).where(Domain.name == domain))
        active = select(func.count()).select_from(Job).where(
            Job.domain_id == domain_id, Job.organisation_id == org.id, Job.status == "created"
        )
        assert session.scalar(active) == 1


def test_two_cancels_racing_with_completion_leave_one_consistent_terminal_state(app, org, make_job, database_url):
    for _ in range(10):
        job_id = make_job(org, status="running", claim="c" * 32)
        store = JobStore(database_url, job_id, "c" * 32)
        barrier = Barrier(3)

        def cancel():
            client = app.test_client()
            barrier.wait()
            return client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers)

        def complete():
            barrier.wait()
            try:
                store.finish("completed")
                return "completed"
            except ClaimLost:  # a cancel came first: the crawler may not touch the job
                return store.status()

        with ThreadPoolExecutor(max_workers=3) as pool:
            cancels = [pool.submit(cancel), pool.submit(cancel)]
            finished = pool.submit(complete)
            codes = sorted(c.result().status_code for c in cancels)
            final_from_crawler = finished.result()
        store.close()
        job = app.test_client().get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
        assert job["status"] == final_from_crawler
        if job["status"] == "cancelled":
            assert codes == [200, 200]  # the second cancel is the idempotent repeat
            bodies = {c.result().get_json()["cancelled_at"] for c in cancels}
            assert len(bodies) == 1 and job["completed_at"] is None
        else:
            assert job["status"] == "completed" and codes == [409, 409] and job["cancelled_at"] is None
