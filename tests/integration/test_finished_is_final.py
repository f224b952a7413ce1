"""Finished means finished: a crawl writes only into the running job it was dispatched for.

Each test reproduces a way a crawl used to write into a job the API had already reported as
ended (docs/reliability.md, D1, D2, D4), with real scrapyd and crawler processes: a scrapyd frozen
while the job was created, a crawler orphaned by a scrapyd killed mid-crawl, and a crawl scheduled
on scrapyd by hand for somebody else's finished job.
"""
from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from control_api.nodes.reconciler import Reconciler
from control_api.processes.scrapyd_node import start_node, wait_for_launcher, wait_until_ready
from db.models import Job
from tests.helpers import make_test_app
from tests.integration.conftest import crawl_pid, free_port, stop_process, tasks_of, wait_for_job
from tests.integration.test_reliability import (STOPS_WITHIN_SECONDS, _alive, assert_counters_match_rows, running_pid,
                                                start_slow_crawl, wait_for_rows)  # fmt: skip

pytestmark = pytest.mark.integration


@pytest.fixture
def own_node(tmp_path, database_url, scrapyd_env, engine):
    """A scrapyd node of this test's own, to freeze or kill, and an app that schedules on it."""

    class Node:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        workdir = tmp_path

        def start(self, launcher: bool = True):
            self.process = start_node(tmp_path, self.port, env=scrapyd_env)
            wait_until_ready(self.url, self.process)
            # Until its launcher is up a node starts crawls and its spider listing the slow way.
            assert not launcher or wait_for_launcher(tmp_path)

        def finished(self, job_id: str, timeout: float = 30) -> None:
            deadline = time.monotonic() + timeout
            while True:
                listing = requests.get(f"{self.url}/listjobs.json", timeout=5).json()
                if job_id in {entry["id"] for entry in listing["finished"]}:
                    return
                assert time.monotonic() < deadline, f"scrapyd did not finish {job_id}: {listing}"
                time.sleep(0.2)

        def crawl_log(self, job_id: str) -> str:
            path = tmp_path / "logs" / "crawler" / "site" / f"{job_id}.log"
            return path.read_text() if path.exists() else ""

    node = Node()
    node.engine = engine
    node.start()
    node.app = make_test_app(database_url, SCRAPYD_URLS=[node.url])
    node.client = node.app.test_client()
    yield node
    if node.process.poll() is None:
        node.process.send_signal(signal.SIGCONT)
    stop_process(node.process)
    node.app.extensions["db_engine"].dispose()


def job_row(engine, job_id: str) -> Job:
    with Session(engine) as session:
        return session.scalars(select(Job).where(Job.id == job_id)).one()


def wait_until_dead(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        assert time.monotonic() < deadline, f"crawler {pid} still alive after {timeout} s"
        time.sleep(0.2)


def test_a_frozen_scrapyd_holds_neither_create_nor_healthz_and_runs_the_job_once_thawed(own_node, make_org, site):
    """scrapyd frozen (SIGSTOP): POST /v1/jobs answers 201 `created` within a second (it used to
    wait SCRAPYD_TIMEOUT, 10 s, and fail the job) and /healthz answers within two (was 17 s) saying
    scrapyd is unavailable. The hand-over stays on the node: thawed, scrapyd starts the job with
    its claim and the crawl completes."""
    org = make_org()
    own_node.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = own_node.client.post("/v1/jobs", json={"domain": site.url("site.test")}, headers=org.headers)
        create_seconds = time.monotonic() - started
        started = time.monotonic()
        health = own_node.client.get("/healthz")
        health_seconds = time.monotonic() - started
        waiting = own_node.client.get(f"/v1/jobs/{response.get_json()['id']}", headers=org.headers).get_json()
    finally:
        own_node.process.send_signal(signal.SIGCONT)
    assert response.status_code == 201 and response.get_json()["status"] == "created", response.get_json()
    assert create_seconds < 1.0, create_seconds
    assert health.status_code == 503 and health.get_json()["scrapyd"] == {own_node.url: "unavailable"}
    assert health_seconds < 2.0, health_seconds
    assert (waiting["status"], waiting["error"]) == ("created", None)
    job = wait_for_job(own_node.client, org.headers, waiting["id"])
    assert job["status"] == "completed" and job["progress"]["completed_tasks"] > 0, job
    assert own_node.client.get("/healthz").status_code == 200


def test_d1_a_crawl_scrapyd_starts_after_its_job_was_cancelled_writes_nothing(own_node, make_org, site, engine):
    """scrapyd frozen at create: 201, and the job is cancelled in the database while scrapyd is still
    frozen (a cancel whose cancel.json is lost). Thawed, scrapyd runs the crawl it was handed anyway,
    and that crawler must find the job not its own and exit without a row. (It used to be a failed
    create that scrapyd ran once thawed: rows and counters written into a failed job.)"""
    from control_api.jobs import service as jobs_service
    from control_api.database import session_scope

    org = make_org()
    own_node.process.send_signal(signal.SIGSTOP)
    try:
        response = own_node.client.post("/v1/jobs", json={"domain": site.url("site.test")}, headers=org.headers)
        assert response.status_code == 201, response.get_json()
        job_id = response.get_json()["id"]
        with own_node.app.app_context(), session_scope() as session:
            assert jobs_service.cancel_job(session, org.id, job_id)[1]
    finally:
        own_node.process.send_signal(signal.SIGCONT)
    own_node.finished(job_id)  # scrapyd did run it once thawed
    assert "not crawling" in own_node.crawl_log(job_id)
    job = own_node.client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
    assert (job["status"], job["started_at"]) == ("cancelled", None)
    assert tasks_of(engine, job_id) == {}
    assert job["progress"]["total_tasks"] == job["progress"]["completed_tasks"] == 0


@pytest.mark.parametrize("with_claim", [False, True], ids=["no-claim", "claim-read-from-ps"])
def test_d4_a_crawl_scheduled_by_hand_for_a_finished_job_changes_nothing(
    live_client, make_org, site, engine, scrapyd, with_claim
):
    """Somebody schedules a crawl on scrapyd with the id of another organisation's completed job,
    even with the claim a local user could read in `ps` while it ran: the job does not change."""
    owner = make_org("victim")
    created = live_client.post("/v1/jobs", json={"domain": site.url("site.test")}, headers=owner.headers).get_json()
    before = wait_for_job(live_client, owner.headers, created["id"])
    assert before["status"] == "completed"
    rows_before = len(tasks_of(engine, created["id"]))
    arguments = {"project": "crawler", "spider": "site", "jobid": created["id"], "domain": site.url("site.test")}
    if with_claim:
        arguments["claim"] = job_row(engine, created["id"]).claim
    answer = requests.post(f"{scrapyd.url}/schedule.json", data=arguments, timeout=5).json()
    assert answer["status"] == "ok"  # this scrapyd has no credentials: the claim is what protects the job
    deadline = time.monotonic() + 30
    while "not crawling" not in scrapyd.crawl_log(created["id"]):
        assert time.monotonic() < deadline, scrapyd.crawl_log(created["id"])[-2000:]
        time.sleep(0.2)
    time.sleep(1)
    after = live_client.get(f"/v1/jobs/{created['id']}", headers=owner.headers).get_json()
    assert after == before
    assert len(tasks_of(engine, created["id"])) == rows_before


def orphan_a_running_crawl(node, org, site, delay: float, concurrency: int) -> tuple[str, int]:
    """Start a slow crawl, let it write a few rows, then kill its scrapyd and start a new one that
    knows nothing of it: the crawler is orphaned. Returns (job id, pid of the crawl process: the
    launcher's fork, not the runner scrapyd lists)."""
    job_id = start_slow_crawl(node.client, org, site, delay=delay, concurrency=concurrency)
    crawler_pid = crawl_pid(node, job_id)
    assert crawler_pid != running_pid(node.url, job_id)
    wait_for_rows(node.engine, job_id, 3)
    node.process.kill()
    node.process.wait()
    node.start(launcher=False)  # no waiting: the orphan is checked while it still crawls
    return job_id, crawler_pid


def test_d2_an_orphaned_crawler_keeps_its_job_and_finishes_into_it(own_node, make_org, site, engine):
    """scrapyd killed mid-crawl: the crawler, reparented to init, still holds its claim and renews it;
    the reconciler of the restarted service leaves the job alone, and the crawl completes into it."""
    org = make_org()
    try:
        job_id, crawler_pid = orphan_a_running_crawl(own_node, org, site, delay=0.1, concurrency=2)
        reconciler = Reconciler(client=own_node.app.extensions["scheduler"], grace=timedelta(seconds=5))
        with own_node.app.app_context():
            assert job_id not in dict(reconciler.run_once())
        assert _alive(crawler_pid)
        site.delay = 0.0
        job = wait_for_job(own_node.client, org.headers, job_id, timeout=60)
    finally:
        site.delay = 0.0
    assert job["status"] == "completed"
    assert_counters_match_rows(job, tasks_of(engine, job_id))
    wait_until_dead(crawler_pid, 10)


def test_d2_an_orphaned_crawler_whose_job_was_failed_stops_within_seconds_and_writes_nothing(
    own_node, make_org, site, engine
):
    org = make_org()
    try:
        job_id, crawler_pid = orphan_a_running_crawl(own_node, org, site, delay=0.3, concurrency=2)
        reconciler = Reconciler(client=own_node.app.extensions["scheduler"], grace=timedelta(seconds=0))
        with own_node.app.app_context():
            assert "no record" in dict(reconciler.run_once())[job_id]
        failed_at = time.monotonic()
        failed = own_node.client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
        rows = len(tasks_of(engine, job_id))
        wait_until_dead(crawler_pid, 10)  # heartbeat every 2 s: it notices and stops
        stopped_after = time.monotonic() - failed_at
    finally:
        site.delay = 0.0
        if _alive(crawler_pid):
            os.kill(crawler_pid, signal.SIGKILL)
    assert stopped_after < STOPS_WITHIN_SECONDS
    job = own_node.client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
    assert job == failed and job["status"] == "failed"
    assert len(tasks_of(engine, job_id)) == rows
    assert_counters_match_rows(job, tasks_of(engine, job_id))


def test_the_reconciler_grace_counts_from_the_last_heartbeat_not_from_creation(own_node, make_org, site, engine):
    """A job created long ago whose crawler reports in is not failed for being old."""
    org = make_org()
    try:
        job_id = start_slow_crawl(own_node.client, org, site, delay=0.3, concurrency=1)
        running_pid(own_node.url, job_id)
        with Session(engine) as session, session.begin():
            job = session.get(Job, job_id)
            job.created_at = job.created_at - timedelta(hours=1)
            job.dispatched_at = job.dispatched_at - timedelta(hours=1)
        time.sleep(2.5)  # one heartbeat
        own_node.process.kill()  # the node forgets the crawl; the crawler keeps reporting
        own_node.process.wait()
        own_node.start()
        reconciler = Reconciler(client=own_node.app.extensions["scheduler"], grace=timedelta(seconds=10))
        with own_node.app.app_context():
            assert job_id not in dict(reconciler.run_once())
        assert own_node.client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()["status"] == "running"
        own_node.client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers)
    finally:
        site.delay = 0.0
