"""A crawl of a site that never ends (tests/sites/endless.py: every page links to 20 new pages), run
the way a job runs: the API, scrapyd, the prefork launcher, a hub and its worker (the default
settings, workers started at CRAWL_HUB_START_THRESHOLD), `max_pages: 0`.

For over two minutes every crawl process (the zygote's children: the hub and its worker) stays under
the documented memory bound, and the rows stored keep pace with the pages the site served; then
the hub, the process that fetches and writes, is killed with SIGKILL and the rows lost are within
the pipeline's bound. On a node whose MAX_PAGES_PER_JOB is small the instance's limit ends the job,
which says so."""
from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_api.nodes.reconciler import Reconciler
from control_api.processes.scrapyd_node import start_node, wait_for_launcher, wait_until_ready
from db.models import Task
from tests.helpers import make_test_app
from tests.integration.conftest import free_port, stop_process, tasks_of, wait_for_job
from tests.integration.test_reliability import assert_counters_match_rows, running_pid
from tests.sites.endless import FAN_OUT, EndlessSite

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RSS_BOUND_MB = 300  # docs/crawler.md, "Memory bounds": per crawl process
CRAWL_SECONDS = 125
BATCH_RECORDS, BATCH_SECONDS = 500, 1.0  # the pipeline's promise (DATABASE_BATCH_SIZE, _SECONDS)


@pytest.fixture(scope="module")
def endless():
    with EndlessSite() as site:
        yield site


def zygote_of(log: str) -> int:
    found = re.search(r"forked by the launcher's zygote (\d+)", log)
    assert found, f"the crawl was not forked by the launcher: {log[:500]}"
    return int(found[1])


def children_of(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == parent:
                children.append(int(entry.name))
    return children


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found[1]) / 1024 if found else None


def pages_stored(engine, job_id: str) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Task).where(
            Task.job_id == job_id, Task.kind == "page", Task.status == "completed"))  # fmt: skip


class ServedHistory:
    """The site's served count, sampled every 0.1 s, so a check can ask what it was a second ago."""

    def __init__(self, site: EndlessSite):
        self.site = site
        self.samples: list[tuple[float, int]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopping.wait(0.1):
            self.samples.append((time.monotonic(), self.site.pages_served))

    def at(self, moment: float) -> int:
        return max((count for when, count in self.samples if when <= moment), default=0)

    def __enter__(self) -> ServedHistory:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()


def test_an_endless_site_stays_within_the_memory_bound_and_its_rows_keep_pace(
    endless, live_app, live_client, make_org, scrapyd, engine
):
    org = make_org()
    body = {"domain": endless.url(), "options": {"max_pages": 0}}
    created = live_client.post("/v1/jobs", json=body, headers=org.headers)
    assert created.status_code == 201, created.get_json()
    job_id = created.get_json()["id"]
    running_pid(scrapyd.url, job_id)
    deadline = time.monotonic() + 30
    while "forked by the launcher's zygote" not in scrapyd.crawl_log(job_id):
        assert time.monotonic() < deadline, "the crawl never logged its start"
        time.sleep(0.2)
    zygote = zygote_of(scrapyd.crawl_log(job_id))
    peak: dict[int, float] = {}
    at_25_s: dict[int, float] = {}  # for the record (docs/crawler.md): RSS early on and at the end
    lags = []  # (pages served a second before, rows stored now)
    with ServedHistory(endless) as served:
        started = time.monotonic()
        next_pace_check = started + 10
        while time.monotonic() - started < CRAWL_SECONDS:
            for pid in children_of(zygote):
                rss = rss_mb(pid)
                if rss is not None:
                    peak[pid] = max(peak.get(pid, 0.0), rss)
            now = time.monotonic()
            if not at_25_s and now - started >= 25:
                at_25_s = {pid: rss_mb(pid) for pid in children_of(zygote)}
            if now >= next_pace_check:
                lags.append((served.at(now - BATCH_SECONDS), pages_stored(engine, job_id)))
                next_pace_check = now + 10
            time.sleep(1.0)
        hub = int(re.search(r"crawl process (\d+) forked", scrapyd.crawl_log(job_id))[1])
        os.kill(hub, signal.SIGKILL)
        killed_at = time.monotonic()
        time.sleep(0.5)
        fetched_before_kill = served.at(killed_at)
        fetched_a_second_before = served.at(killed_at - BATCH_SECONDS)
    stored_after_kill = pages_stored(engine, job_id)
    print(f"RSS at 25 s (MB) {({pid: round(mb or 0) for pid, mb in at_25_s.items()})}; "
          f"peak RSS (MB) {({pid: round(mb) for pid, mb in peak.items()})}; (served a second before, stored) {lags}; "
          f"at the kill: {fetched_before_kill} served, {stored_after_kill} stored")

    assert len(peak) >= 2, f"expected a hub and a worker under the zygote, saw {sorted(peak)}"
    assert max(peak.values()) < RSS_BOUND_MB, f"peak RSS by process (MB): {peak}"
    assert fetched_before_kill > 5000, f"only {fetched_before_kill} pages fetched in {CRAWL_SECONDS} s"
    behind = [(fetched, stored) for fetched, stored in lags if stored < fetched - BATCH_RECORDS]
    assert len(lags) >= 10 and not behind, f"rows more than {BATCH_RECORDS} behind a second's fetching: {lags}"
    lost = fetched_before_kill - stored_after_kill
    assert lost <= max(BATCH_RECORDS, fetched_before_kill - fetched_a_second_before) + BATCH_RECORDS, (
        f"{lost} pages fetched but not stored at the kill ({fetched_before_kill} fetched, {stored_after_kill} stored; "
        f"{fetched_before_kill - fetched_a_second_before} in its last second)")

    time.sleep(1)  # let scrapyd see the crawl end
    with live_app.app_context():
        Reconciler.from_app(live_app).run_once()
    job = live_client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
    assert job["status"] == "failed"
    assert_counters_match_rows(job, tasks_of(engine, job_id))


@pytest.fixture(scope="module")
def capped_node(tmp_path_factory, scrapyd_env, database_url):
    """A second scrapyd node whose crawls may fetch 600 pages per job."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("scrapyd-capped")
    process = start_node(workdir, port, env={**scrapyd_env, "MAX_PAGES_PER_JOB": "600"})
    url = f"http://127.0.0.1:{port}"
    app = make_test_app(database_url, SCRAPYD_URLS=[url])
    try:
        wait_until_ready(url, process)
        assert wait_for_launcher(workdir)
        yield app
    finally:
        app.extensions["db_engine"].dispose()
        stop_process(process)


def test_the_instance_page_limit_ends_an_unlimited_job_which_says_so(endless, capped_node, make_org, engine):
    client, org = capped_node.test_client(), make_org()
    created = client.post("/v1/jobs", json={"domain": endless.url(), "options": {"max_pages": 0}}, headers=org.headers)
    assert created.status_code == 201, created.get_json()
    job = wait_for_job(client, org.headers, created.get_json()["id"], timeout=120)
    tasks = tasks_of(engine, job["id"])
    fetched = [t for t in tasks.values() if t.kind == "page" and t.status == "completed"]
    over = [t for t in tasks.values() if t.status == "skipped" and t.error_type == "max_pages"]
    assert job["status"] == "completed" and len(fetched) == 600
    assert job["error"].startswith("Stopped at this instance's limit of 600 pages per job (MAX_PAGES_PER_JOB)")
    # 600 pages link to 12,000 more: 10,000 are recorded skipped (the frontier's bound), the rest counted.
    assert len(over) == 10_000
    assert over[0].error == "Over this instance's limit of 600 pages per job (MAX_PAGES_PER_JOB)"
    assert f"; {600 * FAN_OUT - 599 - 10_000} more links" in job["error"]
    assert_counters_match_rows(job, tasks)
