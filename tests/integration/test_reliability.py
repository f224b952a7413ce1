"""Faults injected into the real components: the crawler process killed, scrapyd frozen or
restarted, the database restarted mid-crawl, private targets reached through DNS or redirects.
Each test states the outcome a user relies on; docs/reliability.md lists them."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from control_api.nodes.reconciler import Reconciler
from control_api.processes.scrapyd_node import start_node, wait_for_launcher, wait_until_ready
from tests.helpers import make_test_app
from tests.integration.conftest import ScrapydNode, crawl_pid, free_port, stop_process, tasks_of, wait_for_job
from tests.integration.test_crawl_options import adhoc_crawl
from tests.skips import only_on_postgresql

pytestmark = pytest.mark.integration

# A crawler whose job stopped being its own notices at its next heartbeat (CRAWL_HEARTBEAT_SECONDS,
# 2 s) and has exited within 1.5 s more (closing the spider, in-flight requests): docs/reliability.md.
STOPS_WITHIN_SECONDS = 2 + 1.5


def assert_counters_match_rows(job: dict, tasks: dict) -> None:
    checked = [t for t in tasks.values() if t.kind != "sitemap"]  # progress does not count sitemap documents
    counts = Counter(t.status for t in checked)
    progress = job["progress"]
    assert progress["completed_tasks"] == counts["completed"]
    assert progress["failed_tasks"] == counts["failed"]
    assert progress["skipped_tasks"] == counts["skipped"]
    assert progress["total_tasks"] == len(checked)


def start_slow_crawl(client, org, site, delay: float = 0.2, concurrency: int = 2) -> str:
    site.delay = delay
    created = client.post(
        "/v1/jobs", json={"domain": site.url("site.test"), "options": {"concurrency": concurrency}}, headers=org.headers
    )
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


def wait_for_rows(engine, job_id: str, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(tasks_of(engine, job_id)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} task rows after {timeout} s"
        time.sleep(0.2)


def running_pid(scrapyd_url: str, job_id: str, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = requests.get(f"{scrapyd_url}/listjobs.json", timeout=5).json()["running"]
        for entry in running:
            if entry["id"] == job_id:
                return entry["pid"]
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never ran on {scrapyd_url}")


# --- SSRF at fetch time -----------------------------------------------------------------------


def test_crawler_refuses_a_start_host_that_now_resolves_to_loopback(site, tmp_path):
    """DNS can change between create and fetch: the crawler checks the address it connects to."""
    records = adhoc_crawl(site, tmp_path, "-a", "use_sitemap=false", env={"ALLOW_PRIVATE_TARGETS": "0", "CRAWL_HOST_MAP": ""},
                          domain=f"http://127.0.0.1:{site.port}", exit_code=1)  # fmt: skip
    (start,) = records
    assert (start["status"], start["error_type"]) == ("failed", "forbidden_target")
    assert "private" in start["error"]


def test_crawler_refuses_a_redirect_into_a_private_range(site, tmp_path):
    site.reset()
    records = adhoc_crawl(site, tmp_path, "-a", "use_sitemap=false", "-a", "start_path=/faults",
                          "-s", "DOWNLOAD_TIMEOUT=1", env={"ALLOW_PRIVATE_TARGETS": "0"})  # fmt: skip
    by_url = {r["url"]: r for r in records}
    refused = by_url[site.url("site.test", "/redirect-internal")]
    assert (refused["status"], refused["error_type"]) == ("failed", "forbidden_target")
    assert not any(host == "127.0.0.1" for host, _, _ in site.requests)  # never connected


# --- the crawler process dies -------------------------------------------------------------------


def test_killed_crawler_fails_its_job_keeps_its_pages_and_counters(live_app, live_client, make_org, site, scrapyd, engine):
    org = make_org()
    try:
        job_id = start_slow_crawl(live_client, org, site)
        wait_for_rows(engine, job_id, 5)
        runner, crawl = running_pid(scrapyd.url, job_id), crawl_pid(scrapyd, job_id)
        assert crawl != runner  # scrapyd lists the launcher's runner; the zygote's child does the crawling
        os.kill(crawl, signal.SIGKILL)
        wait_for_scrapyd_to_finish(scrapyd.url, job_id)  # the runner dies of the same signal
        rows_at_the_kill = len(tasks_of(engine, job_id))
        reconciler = Reconciler.from_app(live_app)
        with live_app.app_context():
            settled = dict(reconciler.run_once())
    finally:
        site.delay = 0.0
    assert "killed or crashed" in settled[job_id]
    job = live_client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
    assert job["status"] == "failed" and "killed or crashed" in job["error"] and job["completed_at"]
    tasks = tasks_of(engine, job_id)
    assert len(tasks) == rows_at_the_kill >= 5  # every page recorded before the kill is still there
    assert_counters_match_rows(job, tasks)
    assert job["progress"]["percentage"] == 100.0


def wait_for_scrapyd_to_finish(scrapyd_url: str, job_id: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    def finished() -> set[str]:
        return {entry["id"] for entry in requests.get(f"{scrapyd_url}/listjobs.json", timeout=5).json()["finished"]}

    while job_id not in finished():
        assert time.monotonic() < deadline, f"scrapyd still runs {job_id} {timeout} s after its crawl was killed"
        time.sleep(0.2)


# --- scrapyd unavailable ------------------------------------------------------------------------


def test_create_with_scrapyd_down_is_201_and_the_dispatcher_hands_the_job_over_once_it_is_up(
    tmp_path, database_url, scrapyd_env, make_org, site
):
    """Nothing listens at SCRAPYD_URL: the job waits as `created` (it used to be 503 and `failed`);
    once scrapyd is up, a dispatch round (`reconcile --loop` runs one every second) sends it."""
    from control_api.database import session_scope
    from control_api.nodes.dispatcher import dispatch_waiting

    port = free_port()
    app = make_test_app(database_url, SCRAPYD_URLS=[f"http://127.0.0.1:{port}"])
    client, org = app.test_client(), make_org()
    node = None
    try:
        started = time.monotonic()
        response = client.post("/v1/jobs", json={"domain": site.url("site.test")}, headers=org.headers)
        assert response.status_code == 201 and time.monotonic() - started < 1.0, response.get_json()
        job_id = response.get_json()["id"]
        with app.app_context():
            assert dispatch_waiting(session_scope, app.extensions["scheduler"]) == []  # still down: it waits
        waiting = client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
        assert (waiting["status"], waiting["error"]) == ("created", None)

        node = start_node(tmp_path, port, env=scrapyd_env)
        wait_until_ready(f"http://127.0.0.1:{port}", node)
        with app.app_context():  # (a job another test left waiting may go too: the database is shared)
            assert (job_id, f"http://127.0.0.1:{port}") in dispatch_waiting(session_scope, app.extensions["scheduler"])
        job = wait_for_job(client, org.headers, job_id)
        assert job["status"] == "completed" and job["progress"]["completed_tasks"] > 0, job
    finally:
        if node is not None:
            stop_process(node)
        app.extensions["db_engine"].dispose()


def test_cancel_with_scrapyd_frozen_still_cancels_and_the_spider_stops_itself(
    live_app, live_client, make_org, site, scrapyd, engine
):
    org = make_org()
    job_id = start_slow_crawl(live_client, org, site, delay=0.5, concurrency=1)  # ~40 s if left alone
    running_pid(scrapyd.url, job_id)
    crawler_pid = crawl_pid(scrapyd, job_id)  # the crawl itself, not the launcher's runner scrapyd lists
    scrapyd.process.send_signal(signal.SIGSTOP)  # scrapyd unreachable: connections hang
    try:
        started = time.monotonic()
        response = live_client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers)
        assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
        assert time.monotonic() - started < 2.0  # cancel.json waits the handover timeout, not SCRAPYD_TIMEOUT
        deadline = time.monotonic() + STOPS_WITHIN_SECONDS
        while _alive(crawler_pid):
            assert time.monotonic() < deadline, "the spider did not notice the cancel in the database"
            time.sleep(0.1)
    finally:
        scrapyd.process.send_signal(signal.SIGCONT)
        site.delay = 0.0
    job = live_client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
    assert job["status"] == "cancelled"
    assert_counters_match_rows(job, tasks_of(engine, job_id))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by scrapyd) counts as gone.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def test_scrapyd_restart_runs_queued_jobs_and_the_reconciler_settles_the_rest(
    tmp_path, database_url, scrapyd_env, make_org, site, engine
):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    node = start_node(tmp_path, port, env=scrapyd_env, max_proc=1)
    app = make_test_app(database_url, SCRAPYD_URLS=[url])
    client, org = app.test_client(), make_org()
    try:
        wait_until_ready(url, node)
        assert wait_for_launcher(tmp_path)
        first = start_slow_crawl(client, org, site)
        running_pid(url, first)
        first_crawl = crawl_pid(ScrapydNode(url, node, tmp_path), first)
        second = client.post("/v1/jobs", json={"domain": site.url("blog.site.test")}, headers=org.headers).get_json()["id"]
        assert requests.get(f"{url}/listjobs.json", timeout=5).json()["pending"][0]["id"] == second
        node.kill()  # scrapyd dies; its queue is on disk
        node.wait()
        os.kill(first_crawl, signal.SIGKILL)  # its crawl goes with it (the machine restarted, say)
        site.delay = 0.0
        node = start_node(tmp_path, port, env=scrapyd_env, max_proc=1)
        wait_until_ready(url, node)
        assert wait_for_launcher(tmp_path)
        queued = wait_for_job(client, org.headers, second, timeout=60)
        assert queued["status"] == "completed"  # the queued job ran after the restart
        reconciler = Reconciler(client=app.extensions["scheduler"], grace=timedelta(seconds=0))
        with app.app_context():
            settled = dict(reconciler.run_once())
        assert "no record" in settled[first] or "killed or crashed" in settled[first]
        job = client.get(f"/v1/jobs/{first}", headers=org.headers).get_json()
        assert job["status"] == "failed"
        assert_counters_match_rows(job, tasks_of(engine, first))
    finally:
        site.delay = 0.0
        stop_process(node)
        app.extensions["db_engine"].dispose()


# --- the database restarts mid-crawl ------------------------------------------------------------


def cluster_serving(engine) -> tuple[str, str]:
    """(version, name) of the Debian cluster that serves this engine's database: the one whose data
    directory is the server's own, whatever its name or port (not simply the newest `main`)."""
    with engine.connect() as connection:
        data_directory = connection.execute(text("SHOW data_directory")).scalar()
    try:
        listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        pytest.skip("pg_lsclusters (Debian's postgresql-common) is not installed: cannot restart the server")
    for line in listing.splitlines():
        version, name, _port, _status, _owner, directory, *_ = line.split()
        if Path(directory).resolve() == Path(data_directory).resolve():
            return version, name
    raise AssertionError(f"no cluster in pg_lsclusters has the data directory {data_directory}:\n{listing}")


def server_started_at(engine):
    engine.dispose()
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_postmaster_start_time()")).scalar()


OUTAGE_SECONDS = 3.0  # long enough for the pipeline's 1 s batches to meet the server down


@only_on_postgresql("restarts the PostgreSQL server")
def test_postgresql_restart_mid_crawl_loses_no_page(live_client, make_org, site, scrapyd, engine):
    org = make_org()
    baseline = live_client.post("/v1/jobs", json={"domain": site.url("site.test")}, headers=org.headers).get_json()["id"]
    expected = len(tasks_of(engine, wait_for_job(live_client, org.headers, baseline)["id"]))
    version, cluster = cluster_serving(engine)
    started_before = server_started_at(engine)
    try:
        job_id = start_slow_crawl(live_client, org, site, delay=0.2, concurrency=2)
        wait_for_rows(engine, job_id, 3)
        engine.dispose()
        pg_ctlcluster = ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster]
        subprocess.run([*pg_ctlcluster, "stop", "--", "-m", "fast"], check=True, timeout=60)
        time.sleep(OUTAGE_SECONDS)  # the crawl goes on fetching meanwhile
        subprocess.run([*pg_ctlcluster, "start"], check=True, timeout=60)
    finally:
        site.delay = 0.0
    assert server_started_at(engine) > started_before  # the server that serves the test database restarted
    job = wait_for_job(live_client, org.headers, job_id, timeout=120)
    assert job["status"] == "completed"
    tasks = tasks_of(engine, job_id)
    assert len(tasks) == expected  # no page missing
    assert_counters_match_rows(job, tasks)
    log = scrapyd.crawl_log(job_id)
    # The outage reached the crawl: its writes failed and were retried, and nothing was lost.
    failed_write = re.compile(r"writing \d+ records failed \(\(psycopg2.OperationalError\).*?\); retrying in", re.S)
    failed_writes = failed_write.findall(log)
    assert failed_writes, log[-3000:]
