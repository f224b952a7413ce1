"""The walking skeleton end to end: a job created through the API runs as a real scrapyd spider
run against the test site on loopback, and its progress, stats and tasks are read back."""
from __future__ import annotations

import time

import pytest

from tests.integration.conftest import tasks_of, wait_for_job

pytestmark = pytest.mark.integration


def test_job_created_through_the_api_runs_on_scrapyd_and_completes(live_client, make_org, site, scrapyd, engine):
    org = make_org()
    created = live_client.post("/v1/jobs", json={"domain": site.url("site.test")}, headers=org.headers)
    assert created.status_code == 201
    job_id = created.get_json()["id"]

    job = wait_for_job(live_client, org.headers, job_id)

    assert job["status"] == "completed", scrapyd.crawl_log(job_id)[-3000:]
    assert job["started_at"] and job["completed_at"] and job["error"] is None
    tasks = tasks_of(engine, job_id)
    checked = [t for t in tasks.values() if t.kind != "sitemap"]  # progress counts pages, not sitemap documents
    by_status = {status: sum(t.status == status for t in checked) for status in ("completed", "failed", "skipped")}
    progress = job["progress"]
    assert progress == {
        "total_tasks": len(checked),
        "completed_tasks": by_status["completed"],
        "failed_tasks": by_status["failed"],
        "skipped_tasks": by_status["skipped"],
        "percentage": 100.0,
    }
    pages = [t for t in tasks.values() if t.kind == "page" and t.http_status is not None]
    assert job["stats"]["avg_response_time"] == round(sum(t.response_time_ms for t in pages) / len(pages))
    assert job["stats"]["total_bytes"] == sum(t.bytes or 0 for t in tasks.values())
    known = [t for t in pages if t.cache_status]
    assert job["stats"]["cache_hit_ratio"] == round(sum(t.cache_status == "HIT" for t in known) / len(known), 4)
    # What the site holds: its home page, a page only in the sitemap, a subdomain page, a 404.
    base = f"http://site.test:{site.port}"
    assert tasks[f"{base}/"].status == "completed"
    assert tasks[f"{base}/orphan-from-sitemap"].found_via == "sitemap"
    assert tasks[f"http://blog.site.test:{site.port}/post-1"].status == "completed"
    assert tasks[f"{base}/missing"].http_status == 404
    listed = live_client.get("/v1/jobs?include=progress", headers=org.headers).get_json()
    assert [j["id"] for j in listed["jobs"]] == [job_id]


def test_first_page_is_fetched_within_two_seconds_of_the_post(live_client, make_org, site):
    org = make_org()
    site.reset()
    posted = time.monotonic()
    created = live_client.post("/v1/jobs", json={"domain": site.url("blog.site.test")}, headers=org.headers)
    assert created.status_code == 201
    while not any(host == "blog.site.test" and path == "/" for host, path, _ in site.requests):
        assert time.monotonic() - posted < 2, "no page fetched 2 s after the POST"
        time.sleep(0.02)
    wait_for_job(live_client, org.headers, created.get_json()["id"])
