"""Several crawler machines, proven on three real scrapyd nodes on loopback (max_proc 1, 2 and 2,
each its own port, folder and process group) sharing one PostgreSQL database with the API and two
`flask reconcile --loop` processes (two dispatchers at once, as with two API hosts).

Capacity-aware dispatch, the waiting line and fairness across organisations, cancel on the node
that runs a job, and a node killed mid-crawl (scrapyd and its crawls, SIGKILL to the process group):
its jobs fail once silent for the grace period (a few reconcile rounds later) with their pages,
later jobs run on the others, and it is used again once restarted; the jobs a lost node never
started run on the others. control_api/nodes/dispatcher.py and control_api/nodes/reconciler.py describe the rules."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from control_api.processes.scrapyd_node import LAUNCHER_SOCKET, start_node, wait_for_launcher, wait_until_ready
from contract.paths import PROJECT_ROOT
from db.models import Job
from tests.helpers import make_test_app
from tests.integration.conftest import free_port, tasks_of, wait_for_job
from tests.integration.test_reliability import assert_counters_match_rows, running_pid, wait_for_rows
from tests.sites.server import SiteServer
from tests.skips import only_on_postgresql

pytestmark = [
    pytest.mark.integration,
    only_on_postgresql("several scrapyd nodes share one database; SQLite is refused for them, docs/deploy.md"),
]

MAX_PROC = (1, 2, 2)
GRACE = 5  # RECONCILE_GRACE_SECONDS of the loops: a killed node's jobs fail a few seconds after it
SMALL = {"allow_cross_subdomain_links": False, "use_sitemap": False}  # blog.site.test: two pages


@dataclass
class Node:
    url: str
    port: int
    workdir: Path
    max_proc: int
    env: dict
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = start_node(self.workdir, self.port, env=self.env, new_session=True, max_proc=self.max_proc)
        wait_until_ready(self.url, self.process)

    def kill(self) -> None:
        """SIGKILL scrapyd and every crawl it started: the machine is gone."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@dataclass
class Sampler:
    """daemonstatus.json of every node, every 0.1 s: the most each ever ran, and ran plus queued."""

    nodes: list[Node]
    most_running: dict = field(default_factory=dict)
    most_busy: dict = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopping.wait(0.1):
            for node in self.nodes:
                try:
                    status = requests.get(f"{node.url}/daemonstatus.json", timeout=1).json()
                except (requests.RequestException, ValueError):
                    continue
                self.most_running[node.url] = max(self.most_running.get(node.url, 0), status["running"])
                busy = status["running"] + status["pending"]
                self.most_busy[node.url] = max(self.most_busy.get(node.url, 0), busy)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()


@pytest.fixture(scope="module")
def small_site():
    with SiteServer() as server:  # its own, so its delay does not slow the other modules' crawls
        yield server


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, scrapyd_env, database_url):
    nodes = []
    for index, max_proc in enumerate(MAX_PROC):
        port = free_port()
        workdir = tmp_path_factory.mktemp(f"node{index}")
        nodes.append(Node(f"http://127.0.0.1:{port}", port, workdir, max_proc, scrapyd_env))
    scrapyd_url = ",".join(f"{node.url}#slots={node.max_proc}" for node in nodes)
    settings = {"RECONCILE_SECONDS": "1", "RECONCILE_GRACE_SECONDS": str(GRACE), "DISPATCH_SECONDS": "0.3"}
    loops_env = {**os.environ, **scrapyd_env, **settings, "SCRAPYD_URL": scrapyd_url,
                 "SCRAPYD_CREDENTIALS_FILE": str(tmp_path_factory.mktemp("none") / "credentials")}  # fmt: skip
    flask = str(Path(sys.executable).parent / "flask")
    loops = []
    try:
        for node in nodes:
            node.start()
        for _ in range(2):  # two dispatchers at once
            loops.append(subprocess.Popen([flask, "--app", "control_api", "reconcile", "--loop"], cwd=PROJECT_ROOT,
                                          env=loops_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        app = make_test_app(database_url, SCRAPYD_URLS=[node.url for node in nodes],
                            SCRAPYD_SLOTS={node.url: node.max_proc for node in nodes})  # fmt: skip
        yield nodes, app, app.test_client()
        app.extensions["db_engine"].dispose()
    finally:
        for loop in loops:
            loop.terminate()
            loop.wait(timeout=15)
        for node in nodes:
            if node.process is not None:
                node.stop()


def post(client, org, domain: str, **options) -> str:
    body = {"domain": domain, "options": {**SMALL, **options}, "allow_concurrent": True}
    response = client.post("/v1/jobs", json=body, headers=org.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def wait_idle(nodes: list[Node], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for node in nodes:
        while True:
            listing = requests.get(f"{node.url}/listjobs.json", timeout=5).json()
            if not listing["running"] and not listing["pending"]:
                break
            assert time.monotonic() < deadline, f"{node.url} still busy: {listing}"
            time.sleep(0.2)
    # A dispatcher round that asked the nodes before they went idle may still be handing out jobs
    # with those loads (DISPATCH_SECONDS is 0.3 here): let it end, so that a test's next job is placed
    # on the loads it sees now.
    time.sleep(1.0)


def jobs_by_id(engine, job_ids: list[str]) -> dict[str, Job]:
    with Session(engine) as session:
        return {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(job_ids)))}


def test_fifteen_jobs_spread_by_free_slots_and_no_node_runs_over_its_capacity(cluster, small_site, make_org, engine):
    nodes, _, client = cluster
    org = make_org()
    sampler = Sampler(nodes)
    try:
        job_ids = [post(client, org, small_site.url("blog.site.test")) for _ in range(15)]
        finished = [wait_for_job(client, org.headers, job_id, timeout=120) for job_id in job_ids]
    finally:
        sampler.stop()
    assert [job["status"] for job in finished] == ["completed"] * 15
    jobs = jobs_by_id(engine, job_ids)
    for node in nodes:
        assert sampler.most_running.get(node.url, 0) <= node.max_proc
        assert sampler.most_busy.get(node.url, 0) <= node.max_proc, "jobs piled up in a scrapyd queue"
    assert {job.scrapyd_node for job in jobs.values()} == {node.url for node in nodes}
    for node in nodes:  # every node was filled to its capacity while jobs waited
        assert sampler.most_running.get(node.url, 0) == node.max_proc


def test_one_organisations_twenty_jobs_do_not_starve_anothers_one(cluster, small_site, make_org, engine):
    _, _, client = cluster
    org_a, org_b = make_org("A"), make_org("B")
    # Each reply waits a little, so that A's jobs still wait for slots when B's arrives: a node
    # starts a job the moment it is scheduled, and unslowed crawls of this small site end about as
    # fast as the test can post them.
    small_site.delay = 0.1
    try:
        a_jobs = [post(client, org_a, small_site.url("blog.site.test")) for _ in range(20)]
        b_job = post(client, org_b, small_site.url("blog.site.test"))
        for org, job_id in [(org_a, job_id) for job_id in a_jobs] + [(org_b, b_job)]:
            assert wait_for_job(client, org.headers, job_id, timeout=180)["status"] == "completed"
    finally:
        small_site.delay = 0.0
    jobs = jobs_by_id(engine, [*a_jobs, b_job])
    assert jobs[b_job].started_at < jobs[a_jobs[-1]].started_at
    # Stronger: B took one of the first slots that freed after it was posted. Not strictly the first:
    # created_at is stamped before the create commits, and a round already under way (two loops and
    # the API run them) does not see B yet, so at most one A job per dispatcher may slip in first.
    a_after_b = sorted(jobs[job_id].dispatched_at for job_id in a_jobs if jobs[job_id].dispatched_at > jobs[b_job].created_at)
    assert len(a_after_b) > 3 and jobs[b_job].dispatched_at <= a_after_b[3]
    assert [jobs[job_id].dispatched_at for job_id in a_jobs] == sorted(jobs[job_id].dispatched_at for job_id in a_jobs)


def test_cancel_reaches_the_second_node_and_stops_its_crawl(cluster, small_site, make_org, engine):
    nodes, _, client = cluster
    org = make_org()
    wait_idle(nodes)  # crawls of the last test may still be exiting
    small_site.delay = 0.3
    try:
        job_id = post(client, org, small_site.url("site.test"), concurrency=1)
        assert jobs_by_id(engine, [job_id])[job_id].scrapyd_node == nodes[1].url  # the most free slots, first listed
        running_pid(nodes[1].url, job_id)
        assert client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers).status_code == 200
        deadline = time.monotonic() + 15
        while job_id not in {entry["id"] for entry in requests.get(f"{nodes[1].url}/listjobs.json", timeout=5).json()["finished"]}:
            assert time.monotonic() < deadline, "the crawl on the second node did not stop"
            time.sleep(0.2)
    finally:
        small_site.delay = 0.0
    job = client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
    assert job["status"] == "cancelled"
    assert_counters_match_rows(job, tasks_of(engine, job_id))


def test_a_killed_node_fails_its_jobs_the_others_take_new_ones_and_it_returns(cluster, small_site, make_org, engine):
    nodes, _, client = cluster
    lost = nodes[2]
    org = make_org()
    wait_idle(nodes)
    small_site.delay = 0.5  # a site.test crawl at concurrency 1 then lasts ~20 s: mid-crawl when killed
    try:
        slow = [post(client, org, small_site.url("site.test"), concurrency=1) for _ in range(5)]  # every slot
        deadline = time.monotonic() + 30  # a crawl of the last test may still be exiting: then one waits a moment
        while not all(job.scrapyd_node for job in jobs_by_id(engine, slow).values()):
            assert time.monotonic() < deadline, "five slots free, but not every job was dispatched"
            time.sleep(0.2)
        on_lost = [job.id for job in jobs_by_id(engine, slow).values() if job.scrapyd_node == lost.url]
        assert on_lost
        for job_id in on_lost:  # claimed by its crawler (a job not started yet would go to another node)
            wait_for_job(client, org.headers, job_id, timeout=60, until={"running"})
            wait_for_rows(engine, job_id, 1)
        lost.kill()
        killed_at = time.monotonic()
        failed = [wait_for_job(client, org.headers, job_id, timeout=60) for job_id in on_lost]
        # Failed once the crawler has been silent for the grace period: a few reconcile rounds (1 s) after.
        assert time.monotonic() - killed_at < GRACE + 20
        for job in failed:
            assert job["status"] == "failed" and "was lost" in job["error"] and lost.url in job["error"]
            tasks = tasks_of(engine, job["id"])
            assert tasks  # the pages written before the node died are kept
            assert_counters_match_rows(job, tasks)
        for job_id in slow:  # the others' crawls are not needed any more
            client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers)
    finally:
        small_site.delay = 0.0
    after = [post(client, org, small_site.url("blog.site.test")) for _ in range(4)]
    for job_id in after:
        assert wait_for_job(client, org.headers, job_id, timeout=120)["status"] == "completed"
    assert lost.url not in {job.scrapyd_node for job in jobs_by_id(engine, after).values()}

    lost.start()  # the machine is back
    small_site.delay = 0.2
    try:
        again = [post(client, org, small_site.url("site.test"), concurrency=1, max_pages=5) for _ in range(5)]
        for job_id in again:
            assert wait_for_job(client, org.headers, job_id, timeout=120)["status"] == "completed"
    finally:
        small_site.delay = 0.0
    assert lost.url in {job.scrapyd_node for job in jobs_by_id(engine, again).values()}


def zygote_of(node: Node) -> int:
    """The pid of the node's launcher zygote (it runs detached, outside the node's process group)."""
    socket_path = str(node.workdir.resolve() / LAUNCHER_SOCKET)
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [word.decode(errors="replace") for word in argv]
        if "crawler.launcher.zygote" in words and socket_path in words and str(node.process.pid) in words:
            return int(entry.name)
    raise AssertionError(f"no zygote for {node.url}")


def test_a_lost_nodes_jobs_not_started_yet_go_back_to_the_waiting_line_and_run_elsewhere(cluster, small_site, make_org,
                                                                                        engine):  # fmt: skip
    """Jobs handed to a node that never started them (its launcher frozen, so each crawl waits to be
    forked) are not failed with the node: once it has been unreachable for the grace period they
    are dispatched again, to the other nodes, and complete there."""
    nodes, _, client = cluster
    lost = nodes[2]
    org = make_org()
    wait_idle(nodes)
    assert wait_for_launcher(lost.workdir)
    # scrapyd lists the project's spiders through the launcher too, once, and caches the list:
    # done now, so that schedule.json still answers once the zygote is frozen.
    spiders = requests.get(f"{lost.url}/listspiders.json", params={"project": "crawler"}, timeout=30).json()
    assert "site" in spiders["spiders"]
    zygote = zygote_of(lost)
    os.kill(zygote, signal.SIGSTOP)  # the node takes jobs and never starts their crawls
    try:
        job_ids = [post(client, org, small_site.url("blog.site.test")) for _ in range(sum(MAX_PROC))]  # every slot
        deadline = time.monotonic() + 30
        while not all(job.scrapyd_node for job in jobs_by_id(engine, job_ids).values()):
            assert time.monotonic() < deadline, "not every job was dispatched"
            time.sleep(0.2)
        stuck = [job.id for job in jobs_by_id(engine, job_ids).values() if job.scrapyd_node == lost.url]
        assert stuck, "no job was handed to the node"
        others = [job_id for job_id in job_ids if job_id not in stuck]
        for job_id in others:
            assert wait_for_job(client, org.headers, job_id, timeout=60)["status"] == "completed"
        assert {job.status for job in jobs_by_id(engine, stuck).values()} == {"created"}  # handed over, never started
        lost.kill()
        killed_at = time.monotonic()
        finished = [wait_for_job(client, org.headers, job_id, timeout=60) for job_id in stuck]
        waited = time.monotonic() - killed_at
    finally:
        os.kill(zygote, signal.SIGKILL)
        if lost.process.poll() is not None:
            lost.start()  # the machine is back, for the tests after this one
    assert [job["status"] for job in finished] == ["completed"] * len(stuck)
    assert GRACE < waited < GRACE + 20  # requeued once the node had been silent for the grace period
    for job_id, job in jobs_by_id(engine, stuck).items():
        assert job.scrapyd_node in {nodes[0].url, nodes[1].url}  # run by another node
        tasks = tasks_of(engine, job_id)
        assert tasks
        assert_counters_match_rows(client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json(), tasks)
