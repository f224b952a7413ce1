"""The prefork launcher (crawler/launcher/) under a real scrapyd node: each crawl is forked from the
node's warm zygote, and scrapyd, its logs, its cancel and our reconciler see no difference."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from control_api.nodes.reconciler import Reconciler
from control_api.processes.scrapyd_node import LAUNCHER_SOCKET, start_node, wait_for_launcher, wait_until_ready
from contract.paths import PROJECT_ROOT
from tests.integration.conftest import (HOST_MAP, crawl_pid, forked, free_port, run_crawl, stop_process,
                                       tasks_of, wait_for_job)  # fmt: skip
from tests.integration.test_finished_is_final import own_node  # noqa: F401 - a fixture
from tests.integration.test_reliability import (_alive, assert_counters_match_rows, running_pid, start_slow_crawl,
                                                wait_for_rows)  # fmt: skip

pytestmark = pytest.mark.integration

def wait_for_log(node, job_id: str, pattern: re.Pattern, timeout: float = 20) -> re.Match:
    deadline = time.monotonic() + timeout
    while not (match := pattern.search(node.crawl_log(job_id))):
        assert time.monotonic() < deadline, f"no {pattern.pattern!r} in the log of {job_id}"
        time.sleep(0.1)
    return match


def wait_until_dead(pid: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still alive after {timeout} s"
        time.sleep(0.1)


def scrapyd_says(node, job_id: str, timeout: float = 15) -> str:
    """scrapyd's own line about the end of the job's process ("Process finished" or "Process died: ...")."""
    deadline = time.monotonic() + timeout
    while True:
        for line in (node.workdir / "scrapyd.log").read_text().splitlines():
            if f"job='{job_id}'" in line and ("Process finished" in line or "Process died" in line):
                return line
        assert time.monotonic() < deadline, f"scrapyd logged no end for {job_id}"
        time.sleep(0.1)


def test_a_job_is_forked_by_the_zygote_completes_and_its_log_is_served(live_client, make_org, site, scrapyd):
    org = make_org()
    job = run_crawl(live_client, org, site.url("site.test"), max_pages=5)
    assert job["status"] == "completed"
    log = live_client.get(f"/v1/jobs/{job['id']}/log", headers=org.headers)
    assert log.status_code == 200
    text = log.get_data(as_text=True)
    crawl_pid, zygote_pid = forked(text)
    assert crawl_pid != running_pid_or_none(scrapyd.url, job["id"])  # scrapyd started the runner, not the crawl
    assert "Spider closed (finished)" in text
    assert not _alive(crawl_pid)
    assert "Process finished:" in scrapyd_says(scrapyd, job["id"])


def running_pid_or_none(url: str, job_id: str) -> int | None:
    listing = requests.get(f"{url}/listjobs.json", timeout=5).json()
    return next((entry.get("pid") for group in listing.values() if isinstance(group, list)
                 for entry in group if entry.get("id") == job_id), None)  # fmt: skip


def test_cancel_through_scrapyd_stops_the_forked_crawl(live_client, make_org, site, scrapyd):
    org = make_org()
    try:
        job_id = start_slow_crawl(live_client, org, site, delay=0.3)
        runner_pid = running_pid(scrapyd.url, job_id)
        crawl = crawl_pid(scrapyd, job_id)
        assert crawl != runner_pid and _alive(crawl)
        assert live_client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers).status_code in (200, 202)
        assert wait_for_job(live_client, org.headers, job_id, timeout=30)["status"] == "cancelled"
        wait_until_dead(crawl)
        wait_until_dead(runner_pid)
    finally:
        site.delay = 0.0
    assert "Received SIGINT" in scrapyd.crawl_log(job_id)  # scrapyd's signal reached the crawl through the runner


def test_a_crawl_that_fails_at_start_gives_scrapyd_its_non_zero_status(scrapyd):
    """An unknown spider argument value fails before the crawl starts, as Scrapy's usage errors do:
    `scrapy crawl` exits 2 (crawler/commands/crawl.py check_spider_arguments), also when forked."""
    job_id = "launcher-bad-start"
    requests.post(f"{scrapyd.url}/schedule.json", timeout=5, data={
        "project": "crawler", "spider": "site", "jobid": job_id, "domain": "site.test", "scheme": "gopher",
    }).raise_for_status()  # fmt: skip
    line = scrapyd_says(scrapyd, job_id, timeout=30)
    assert "Process died: exitstatus=2" in line, line
    assert forked(scrapyd.crawl_log(job_id))


def test_the_forked_crawl_killed_fails_its_job_through_the_reconciler(live_app, live_client, make_org, site, scrapyd,
                                                                     engine):  # fmt: skip
    org = make_org()
    try:
        job_id = start_slow_crawl(live_client, org, site)
        wait_for_rows(engine, job_id, 3)
        runner_pid = running_pid(scrapyd.url, job_id)
        os.kill(crawl_pid(scrapyd, job_id), signal.SIGKILL)
        wait_until_dead(runner_pid)  # the runner dies of the same signal
        assert "Process died: exitstatus=None" in scrapyd_says(scrapyd, job_id)
        rows_at_the_kill = len(tasks_of(engine, job_id))
        time.sleep(0.5)
        with live_app.app_context():
            settled = dict(Reconciler.from_app(live_app).run_once())
    finally:
        site.delay = 0.0
    assert "killed or crashed" in settled[job_id]
    job = live_client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
    assert job["status"] == "failed" and "killed or crashed" in job["error"]
    tasks = tasks_of(engine, job_id)
    assert len(tasks) == rows_at_the_kill >= 3  # the pages written before the kill are kept, and nothing after
    assert_counters_match_rows(job, tasks)


def test_the_zygote_dying_costs_no_job_and_a_new_one_takes_over(own_node, make_org, site):  # noqa: F811
    assert wait_for_launcher(own_node.workdir)
    org = make_org()
    first = run_crawl(own_node.client, org, site.url("site.test"), max_pages=3)
    _, zygote_pid = forked(own_node.crawl_log(first["id"]))
    os.kill(zygote_pid, signal.SIGKILL)
    wait_until_dead(zygote_pid)
    second = run_crawl(own_node.client, org, site.url("site.test"), max_pages=3)
    assert second["status"] == "completed"
    assert forked(own_node.crawl_log(second["id"])) is None  # run the plain way, while...
    assert wait_for_launcher(own_node.workdir)  # ...its runner started a new zygote
    third = run_crawl(own_node.client, org, site.url("site.test"), max_pages=3)
    assert third["status"] == "completed"
    _, new_zygote = forked(own_node.crawl_log(third["id"]))
    assert new_zygote != zygote_pid


def test_a_multi_process_crawls_workers_are_forked_too(site, scrapyd, tmp_path):
    """A hub started by the launcher starts its workers through it: their log says so."""
    output, log = tmp_path / "pages.jsonl", tmp_path / "crawl.log"
    env = {**os.environ, "CRAWL_HOST_MAP": HOST_MAP, "ALLOW_PRIVATE_TARGETS": "1", "DATABASE_URL": "sqlite:///nowhere/x.db",
           "CRAWL_PROCESSES": "2", "CRAWL_LAUNCHER_SOCKET": str(scrapyd.workdir / LAUNCHER_SOCKET),
           "CRAWL_LAUNCHER_FALLBACK": "scrapy", "PYTHONPATH": str(PROJECT_ROOT)}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "crawler.launcher.runner", "crawl", "site", "-a", f"domain={site.url('site.test')}",
         "-O", str(output), "-s", "CRAWL_HUB_START_THRESHOLD=0", "-s", f"LOG_FILE={log}", "-s", "LOG_LEVEL=INFO"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    hub_pid, zygote_pid = forked(log.read_text())
    workers = (tmp_path / "crawl.log.workers").read_text()
    worker_pid, worker_zygote = forked(workers)
    assert worker_zygote == zygote_pid and worker_pid != hub_pid
    assert "worker 0 connected" in log.read_text()
    urls = [line for line in output.read_text().splitlines() if line.strip()]
    assert len(urls) > 10


def test_a_scheduled_job_starts_at_once_not_at_the_next_poll_and_the_web_ui_still_works(tmp_path, scrapyd_env):
    """crawler/launcher/webroot.py: schedule.json polls scrapyd's queue itself. With a poll interval
    of 10 minutes, a job that started within seconds was started by that poll, not the timer's."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_node(tmp_path, port, env=scrapyd_env, poll_interval=600)
    try:
        wait_until_ready(url, process)
        assert wait_for_launcher(tmp_path)
        time.sleep(1)  # past the timer's first tick, which TimerService runs at start
        job = "webroot-test"
        answer = requests.post(f"{url}/schedule.json", data={"project": "crawler", "spider": "site", "jobid": job,
                                                              "domain": "http://127.0.0.1:9"}, timeout=30).json()  # fmt: skip
        assert answer["status"] == "ok", answer
        deadline = time.monotonic() + 20
        while True:
            listing = requests.get(f"{url}/listjobs.json", timeout=5).json()
            started = {entry["id"] for entry in listing["running"] + listing["finished"]}
            if job in started:
                break
            assert time.monotonic() < deadline, f"the job is still pending: {listing}"
            time.sleep(0.1)
        home = requests.get(url, timeout=5)
        assert home.status_code == 200 and "Scrapyd" in home.text
        assert job in requests.get(f"{url}/jobs", timeout=5).text
    finally:
        stop_process(process)
