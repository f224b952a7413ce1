"""Job options and faults that need a crawl of their own: max_pages (exact at any concurrency),
find_links, use_sitemap, cross-subdomain links, an unreachable start URL, cancel mid-crawl,
timeouts, Retry-After, resource checks, and the ad-hoc `scrapy crawl` run's feed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
import requests

from contract.paths import PROJECT_ROOT
from tests.integration.conftest import HOST_MAP, free_port, run_crawl, tasks_of, wait_for_job

pytestmark = pytest.mark.integration

PAGE_PATHS_EXCLUDED = ("/robots.txt", "/sitemap")


def fetched_pages(site) -> list[tuple[str, str]]:
    return [(h, p) for h, p, _ in site.requests if not p.startswith(PAGE_PATHS_EXCLUDED)]


@pytest.mark.parametrize("concurrency", [1, 100])
def test_max_pages_is_exact_even_at_high_concurrency(live_client, make_org, site, engine, concurrency):
    site.reset()
    job = run_crawl(live_client, make_org(), site.url("site.test"), max_pages=7, concurrency=concurrency,
                    use_sitemap=False)  # fmt: skip
    tasks = tasks_of(engine, job["id"])
    fetched = {t.url for t in tasks.values() if t.status != "skipped"}
    assert len(fetched) == 7
    # Warm fetches re-request a page already counted; distinct pages fetched is what max_pages caps.
    assert len(set(fetched_pages(site))) == 7
    over = [t for t in tasks.values() if t.status == "skipped" and t.error_type == "max_pages"]
    assert over and job["progress"]["skipped_tasks"] >= len(over)


def test_sitemap_documents_are_tasks_but_neither_progress_nor_against_max_pages(live_client, make_org, site, engine):
    job = run_crawl(live_client, make_org(), site.url("site.test"), max_pages=5)
    tasks = tasks_of(engine, job["id"]).values()
    progress = job["progress"]
    assert sum(t.kind == "sitemap" and t.status == "completed" for t in tasks) == 3  # recorded, every one
    assert progress["total_tasks"] == sum(t.kind != "sitemap" for t in tasks)
    assert progress["completed_tasks"] + progress["failed_tasks"] == 5  # max_pages, sitemaps not among them
    assert progress["skipped_tasks"] == sum(t.kind != "sitemap" and t.status == "skipped" for t in tasks)
    assert progress["completed_tasks"] + progress["failed_tasks"] + progress["skipped_tasks"] == progress["total_tasks"]


def test_find_links_off_crawls_only_the_start_page_and_sitemaps(live_client, make_org, site, engine):
    job = run_crawl(live_client, make_org(), site.url("site.test"), find_links=False)
    paths = {url.split(str(site.port), 1)[1] for url, t in tasks_of(engine, job["id"]).items() if t.kind == "page"}
    assert paths == {"/", "/about", "/orphan-from-sitemap", "/products", "/news", "/news/2026"}


def test_use_sitemap_off_never_reads_sitemaps(live_client, make_org, site, engine):
    site.reset()
    job = run_crawl(live_client, make_org(), site.url("site.test"), use_sitemap=False)
    urls = tasks_of(engine, job["id"])
    assert not any("orphan-from-sitemap" in url or "sitemap" in url for url in urls)
    assert not any("sitemap" in path for _, path, _ in site.requests)


def test_cross_subdomain_off_keeps_www_but_not_other_subdomains(live_client, make_org, site, engine):
    job = run_crawl(live_client, make_org(), site.url("site.test"), allow_cross_subdomain_links=False, use_sitemap=False)
    hosts = {url.split("//", 1)[1].split(":", 1)[0] for url in tasks_of(engine, job["id"])}
    assert hosts == {"site.test", "www.site.test"}


def test_unreachable_start_url_fails_the_job_with_a_clear_error(live_client, make_org, engine):
    job = run_crawl(live_client, make_org(), f"http://127.0.0.1:{free_port()}")
    assert job["status"] == "failed"
    assert "could not be reached" in job["error"] and "refused" in job["error"].lower()
    assert job["progress"]["percentage"] == 100.0
    (start,) = tasks_of(engine, job["id"]).values()
    assert (start.status, start.error_type) == ("failed", "connection_refused")


def test_unresolvable_start_host_fails_with_a_dns_error(live_client, make_org):
    job = run_crawl(live_client, make_org(), "http://no-such-host.invalid")
    assert job["status"] == "failed" and "DNS" in job["error"]
    assert job["error"].count("DNS lookup failed") == 1, job["error"]  # not "DNS lookup failed: DNS lookup failed: ..."


def scrapyd_finished(scrapyd, job_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while job_id not in {entry["id"] for entry in requests.get(f"{scrapyd.url}/listjobs.json", timeout=5).json()["finished"]}:
        assert time.monotonic() < deadline, f"the crawl of job {job_id} was still alive after {timeout} s"
        time.sleep(0.2)


def test_cancel_mid_crawl_stops_it_and_the_job_never_changes_after(live_client, make_org, site, engine, scrapyd):
    """Cancelled is final: the rows and counters the cancel answered with are the job's for good."""
    org = make_org()
    site.delay = 0.3
    try:
        created = live_client.post(
            "/v1/jobs", json={"domain": site.url("site.test"), "options": {"concurrency": 1}}, headers=org.headers
        ).get_json()
        wait_for_job(live_client, org.headers, created["id"], until={"running"})
        time.sleep(2)
        cancelled = live_client.post(f"/v1/jobs/{created['id']}/cancel", headers=org.headers)
        assert cancelled.status_code == 200
        at_cancel = live_client.get(f"/v1/jobs/{created['id']}", headers=org.headers).get_json()
        rows_at_cancel = len(tasks_of(engine, created["id"]))
        scrapyd_finished(scrapyd, created["id"])
    finally:
        site.delay = 0.0
    job = live_client.get(f"/v1/jobs/{created['id']}", headers=org.headers).get_json()
    tasks = tasks_of(engine, created["id"])
    assert job["status"] == "cancelled" and job["cancelled_at"]
    assert job["progress"] == at_cancel["progress"] and job["stats"] == at_cancel["stats"]
    assert len(tasks) == rows_at_cancel > 0
    assert job["progress"]["percentage"] == 100.0
    counts = Counter(t.status for t in tasks.values())
    assert job["progress"]["completed_tasks"] == counts["completed"]
    assert job["progress"]["failed_tasks"] + job["progress"]["skipped_tasks"] == counts["failed"] + counts["skipped"]
    requests_then = len(site.requests)
    time.sleep(1.5)
    assert len(site.requests) == requests_then  # nothing fetched after the crawl stopped


def adhoc_crawl(site, tmp_path, *args: str, env: dict | None = None, domain: str | None = None,
                exit_code: int = 0, python: tuple[str, ...] = ("-m", "scrapy")) -> list[dict]:  # fmt: skip
    output = tmp_path / "pages.jsonl"
    env = {**os.environ, "CRAWL_HOST_MAP": HOST_MAP, "ALLOW_PRIVATE_TARGETS": "1", "DATABASE_URL": "sqlite:///nowhere/x.db",
           **(env or {})}  # fmt: skip
    result = subprocess.run(
        [sys.executable, *python, "crawl", "site", "-a", f"domain={domain or site.url('site.test')}", "-O", str(output),
         "-s", "LOG_LEVEL=INFO", "-s", "LOG_FORMAT=%(process)d %(asctime)s %(levelname)s [%(name)s] %(message)s", *args],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    (tmp_path / "crawl.log").write_text(result.stderr)  # kept for post-mortems
    assert result.returncode == exit_code, result.stderr[-3000:]
    return [json.loads(line) for line in output.read_text().splitlines()]


def test_the_start_pages_fallback_from_https_to_http_is_logged_as_information_not_as_an_error(site, tmp_path):
    """A domain without a scheme starts at https; the test site speaks http only."""
    (start,) = adhoc_crawl(site, tmp_path, "-a", "use_sitemap=false", "-a", "find_links=false",
                           domain=f"site.test:{site.port}")  # fmt: skip
    assert (start["url"], start["status"]) == (site.url("site.test"), "completed")
    log = (tmp_path / "crawl.log").read_text()
    assert " ERROR " not in log, [line for line in log.splitlines() if " ERROR " in line]
    assert "INFO [crawler.spiders.site] start page over https failed (TLS error: " in log
    assert f"trying http://site.test:{site.port}/" in log


def test_an_adhoc_crawl_never_loads_the_database_layer(site, tmp_path):
    """No job id, nothing written to a database: SQLAlchemy, the models and the job store stay
    unimported (they cost ~0.3 s of every ad-hoc crawl's start-up). The crawl runs as `python -m
    scrapy` does, and writes the names of its modules when it exits."""
    modules = tmp_path / "modules.txt"
    probe = ("import atexit, runpy, sys; "
             f"atexit.register(lambda: open({str(modules)!r}, 'w').write('\\n'.join(sys.modules))); "
             "runpy.run_module('scrapy', run_name='__main__', alter_sys=True)")
    (start,) = adhoc_crawl(site, tmp_path, "-a", "use_sitemap=false", "-a", "find_links=false", python=("-c", probe))
    assert (start["url"], start["status"]) == (site.url("site.test"), "completed")
    loaded = set(modules.read_text().splitlines())
    assert {"crawler.spiders.site", "crawler.pipelines", "db.engine"} <= loaded  # the probe saw the crawl's modules
    assert not {name for name in loaded if name.partition(".")[0] == "sqlalchemy"}
    assert not loaded & {"db.models", "crawler.jobstore", "crawler.lifecycle"}


def test_an_adhoc_crawl_of_a_refused_private_target_says_so_and_exits_non_zero(tmp_path):
    port = free_port()
    (start,) = adhoc_crawl(None, tmp_path, domain=f"127.0.0.1:{port}", exit_code=1,
                           env={"ALLOW_PRIVATE_TARGETS": "0", "CRAWL_HOST_MAP": ""})  # fmt: skip
    assert (start["status"], start["error_type"]) == ("failed", "forbidden_target")
    log = (tmp_path / "crawl.log").read_text()
    assert (f"ERROR [crawler.spiders.site] crawl failed: The site could not be reached at https://127.0.0.1:{port}/: "
            "127.0.0.1 is a private or reserved address (refused). "
            "Set ALLOW_PRIVATE_TARGETS=1 to crawl private, loopback and link-local addresses") in log  # fmt: skip
    assert "trying http://" not in log  # the guard's answer does not depend on the scheme


def test_timeout_is_recorded_as_a_failed_url(site, tmp_path):
    records = {r["url"]: r for r in adhoc_crawl(site, tmp_path, "-a", "start_path=/faults", "-s", "DOWNLOAD_TIMEOUT=1",
                                                "-s", "RETRY_TIMES=0", "-a", "use_sitemap=false")}  # fmt: skip
    timeout = records[site.url("site.test", "/timeout")]
    assert (timeout["status"], timeout["error_type"]) == ("failed", "timeout")


def test_retry_after_slows_down_and_then_succeeds(site, tmp_path):
    site.reset()
    records = {r["url"]: r for r in adhoc_crawl(site, tmp_path, "-a", "start_path=/faults", "-s", "DOWNLOAD_TIMEOUT=1",
                                                "-a", "use_sitemap=false")}  # fmt: skip
    retried = records[site.url("site.test", "/retry-after")]
    assert (retried["status"], retried["http_status"]) == ("completed", 200)
    assert site.hits("/retry-after") == 3  # 429, 429, 200: retried, not given up, not hammered


def test_check_resources_records_assets_as_resource_tasks(site, tmp_path):
    records = adhoc_crawl(site, tmp_path, "-a", "check_resources=true", "-a", "use_sitemap=false")
    resources = {r["url"].split(str(site.port), 1)[1]: r for r in records if r["kind"] == "resource"}
    assert set(resources) == {"/static/site.css", "/static/logo.png", "/static/app.js"}
    assert resources["/static/site.css"]["content_type"] == "text/css"
    assert (resources["/static/app.js"]["status"], resources["/static/app.js"]["http_status"]) == ("failed", 404)
    assert resources["/static/app.js"]["is_broken"]  # referenced by a page, and missing


def test_adhoc_run_yields_the_same_records_as_a_job(live_client, make_org, site, engine, tmp_path):
    job = run_crawl(live_client, make_org(), site.url("site.test"), use_sitemap=False)
    from_job = [(t.url, t.status, t.http_status, t.error_type) for t in tasks_of(engine, job["id"]).values()]
    records = adhoc_crawl(site, tmp_path, "-a", "use_sitemap=false")
    from_feed = [(r["url"], r["status"], r["http_status"], r["error_type"]) for r in records]

    def split(rows):  # which calendar months fall past the trap limit depends on fetch order
        return {row for row in rows if "/calendar?" not in row[0]}, Counter(row[1] for row in rows if "/calendar?" in row[0])

    assert split(from_feed) == split(from_job)
    assert set(records[0]) >= {"url", "found_via", "referrer", "depth", "status", "response_time_ms", "ttfb_ms",
                               "cache_status", "warm_cache_status", "redirect_chain", "bytes", "content_type"}  # fmt: skip


def test_several_processes_record_exactly_what_one_process_records(site, tmp_path):
    """CRAWL_PROCESSES=3: a hub and two workers. Same URLs, statuses and issues. (A feed record
    carries the referrers known when its URL failed; later ones go to the database only, so
    that list depends on timing and is not compared here.)"""
    site.reset()  # every cache sequence starts with a MISS again
    single = adhoc_crawl(site, tmp_path, "-s", "CRAWL_MAX_QUERY_VARIANTS=5")
    (tmp_path / "multi").mkdir()
    site.reset()
    multi = adhoc_crawl(site, tmp_path / "multi", "-s", "CRAWL_MAX_QUERY_VARIANTS=5", "-s", "CRAWL_HUB_START_THRESHOLD=0",
                        env={"CRAWL_PROCESSES": "3"})

    # /about is also the end of /redirect-1's chain: which of the two asks first (and gets the
    # MISS) depends on timing, in one process as in three.
    order_dependent = {site.url("site.test", "/about"), site.url("site.test", "/redirect-1")}

    # The robots.txt row is the separate, xfail test below.
    robots_row = site.url("site.test", "/private/secret")

    def summary(records):
        calendar = Counter(r["status"] for r in records if "/calendar?" in r["url"])
        rows = {(r["url"], r["status"], r["http_status"], r["error_type"], r["is_broken"], r["is_slow"],
                 None if r["url"] in order_dependent else (r["cache_status"], r["warm_cache_status"]),
                 r["redirect_hops"], bool(r["referrers"]))
                for r in records if "/calendar?" not in r["url"] and r["url"] != robots_row}  # fmt: skip
        return rows, calendar

    assert len(multi) == len(single)
    assert summary(multi) == summary(single)


def test_a_job_crawled_by_several_processes_is_complete_in_the_database(live_client, make_org, make_job, site, engine,
                                                                         database_url, tmp_path):  # fmt: skip
    org = make_org()
    claim = uuid.uuid4().hex
    job_id = make_job(org, domain=f"site.test:{site.port}", claim=claim)
    site.reset()
    env = {**os.environ, "CRAWL_HOST_MAP": HOST_MAP, "ALLOW_PRIVATE_TARGETS": "1", "DATABASE_URL": database_url,
           "CRAWL_PROCESSES": "2"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"_job={job_id}", "-a", f"claim={claim}",
         "-a", f"domain={site.url('site.test')}",
         "-a", "slow_page_threshold_ms=1000", "-s", "LOG_LEVEL=WARNING", "-s", "CRAWL_HUB_START_THRESHOLD=0"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    job = live_client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
    tasks = tasks_of(engine, job_id)
    assert job["status"] == "completed" and len(tasks) == 78
    assert job["progress"]["total_tasks"] == 75  # the 3 sitemap documents are not progress
    counts = Counter(t.status for t in tasks.values() if t.kind != "sitemap")
    assert (job["progress"]["completed_tasks"], job["progress"]["failed_tasks"], job["progress"]["skipped_tasks"]) == (
        counts["completed"], counts["failed"], counts["skipped"])
    issues = live_client.get(f"/v1/jobs/{job_id}/issues", headers=org.headers).get_json()
    broken = {item["url"]: set(item["referrers"]) for item in issues["broken_links"]}
    assert broken[site.url("site.test", "/missing")] == {
        site.url("site.test", "/"), site.url("site.test", "/about"), site.url("site.test", "/products/3"),
        site.url("www.site.test", "/about"),
    }  # fmt: skip
    assert [item["url"] for item in issues["slow_pages"]] == [site.url("site.test", "/slow")]


def test_several_processes_obey_robots_txt_every_time(site, tmp_path):
    """A worker gets a burst of URLs for hosts whose robots.txt it has not read yet: every one of
    them must wait for it and be judged by it (tests/test_robots_middleware.py has the cause)."""
    for attempt in range(5):
        (tmp_path / str(attempt)).mkdir()
        records = adhoc_crawl(site, tmp_path / str(attempt), "-a", "use_sitemap=false", "-s", "CRAWL_HUB_START_THRESHOLD=0",
                              env={"CRAWL_PROCESSES": "2"})
        secret = next(r for r in records if r["url"] == site.url("site.test", "/private/secret"))
        assert (secret["status"], secret["error_type"]) == ("skipped", "robots"), f"attempt {attempt}"


def test_sitemaps_are_read_when_the_start_page_redirects(site, tmp_path):
    """example.com -> www.example.com is the usual start: the site behind the redirect still has
    its sitemaps read (they used to be skipped whenever the start page redirected)."""
    site.reset()
    records = adhoc_crawl(site, tmp_path, "-a", "start_path=/redirect-1")
    start = next(r for r in records if r["url"] == site.url("site.test", "/redirect-1"))
    assert start["redirect_hops"] == 2
    sitemaps = [r for r in records if r["kind"] == "sitemap"]
    assert sitemaps and all(r["status"] == "completed" for r in sitemaps)
    assert any(r["found_via"] == "sitemap" for r in records if r["kind"] == "page")
