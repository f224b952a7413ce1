"""The default multi-process path, as a job runs it: scrapyd starts the crawl through the node's
launcher with the settings as shipped (CRAWL_PROCESSES = 2 on a 2-core machine,
CRAWL_HUB_START_THRESHOLD = 500), and on a site of 1,000 pages the hub starts its worker while the
crawl is under way, once it has 500 URLs in hand (docs/crawler.md, "Processes and start-up").
Every other multi-process test starts the workers at once (threshold 0)."""
from __future__ import annotations

import os
import re

import pytest

from tests.integration.conftest import forked, tasks_of, wait_for_job
from tests.integration.test_crawl_behaviour import click_depths, docs_site  # noqa: F401 - a fixture
from tests.integration.test_reliability import assert_counters_match_rows

pytestmark = pytest.mark.integration


def test_a_large_job_starts_its_worker_mid_crawl_at_the_default_threshold(live_client, make_org, scrapyd, engine,
                                                                           docs_site):  # noqa: F811
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: every crawl runs in one process (CRAWL_PROCESSES defaults to the cores, at most 2)")
    root, port = docs_site
    origin = f"http://127.0.0.1:{port}"
    org = make_org()
    body = {"domain": origin, "options": {"use_sitemap": False}}  # found by links: the threshold is met mid-crawl
    created = live_client.post("/v1/jobs", json=body, headers=org.headers)
    assert created.status_code == 201, created.get_json()
    job = wait_for_job(live_client, org.headers, created.get_json()["id"], timeout=180)
    assert job["status"] == "completed", job

    log = scrapyd.crawl_log(job["id"])
    hub_pid, zygote_pid = forked(log)
    started = re.search(r"(\d+) URLs in hand: starting 1 workers", log)
    assert started, log[-3000:]
    assert int(started[1]) == 500  # the default threshold, not 0: the worker joined a crawl under way
    assert "worker 0 connected" in log
    workers_log = (scrapyd.workdir / "logs" / "crawler" / "site" / f"{job['id']}.log.workers").read_text()
    worker_pid, worker_zygote = forked(workers_log)
    assert worker_zygote == zygote_pid and worker_pid != hub_pid  # forked by the node's launcher too
    sent_to_worker = re.search(r"'hub/sent_to_workers': (\d+)", log)  # the hub's stats, dumped at the end
    assert sent_to_worker and int(sent_to_worker[1]) > 10, log[-3000:]

    tasks = tasks_of(engine, job["id"])
    assert_counters_match_rows(job, tasks)
    pages = {url.removeprefix(origin): row for url, row in tasks.items() if row.kind == "page"}
    expected = click_depths(root)
    assert len(pages) == len(expected) == 1000
    wrong = {path: (row.depth, expected[path]) for path, row in pages.items() if row.depth != expected[path]}
    assert not wrong, f"{len(wrong)} pages at the wrong depth (recorded, shortest), e.g. {list(wrong.items())[:5]}"
