"""One job's crawl of cdn.test (tests/sites/behaviour.py), a site behind a CDN, checked where a
user sees it: the job's progress and stats through the API, its task rows, and an ad-hoc run's feed.

- bytes: a task keeps its wire bytes (`bytes`, the compressed size of a gzip page) and its decoded
  size (`decoded_bytes`); the job's `total_bytes` is the sum of the wire bytes.
- progress: the sitemap document is a task of kind `sitemap`, not counted in progress.
- warming: MISS pages a cache may keep are fetched again; `no-store`, `private` and `Set-Cookie`
  pages are not, and say why; the stats give the pages warmed and the hit ratio after warming;
  the sitemap's cache status is recorded too.
- resources: every `<link href>` (any rel or rev) and `<object data>` is checked.
"""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
import uuid

import pytest

from contract.paths import PROJECT_ROOT
from tests.integration.conftest import tasks_of
from tests.integration.test_crawl_options import adhoc_crawl
from tests.sites.behaviour import BEHAVIOUR_HOST_MAP, CDN_RESOURCES

pytestmark = pytest.mark.integration

PAGES = ("/", "/cached", "/no-store", "/private", "/cookie", "/gzip", "/resources", "/listed")


@pytest.fixture(scope="module")
def crawl(live_client, make_org, make_job, site, engine, database_url):
    """A job (made as the API makes it, then crawled by `scrapy crawl` with its claim, as scrapyd
    would) of cdn.test with check_resources on."""
    org = make_org()
    claim = uuid.uuid4().hex
    job_id = make_job(org, domain=f"cdn.test:{site.port}", claim=claim)
    site.reset()
    env = {**os.environ, "CRAWL_HOST_MAP": BEHAVIOUR_HOST_MAP, "ALLOW_PRIVATE_TARGETS": "1", "DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"_job={job_id}", "-a", f"claim={claim}",
         "-a", f"domain={site.url('cdn.test')}", "-a", "check_resources=true", "-s", "LOG_LEVEL=WARNING"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    job = live_client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
    assert job["status"] == "completed", job
    base = site.url("cdn.test", "")
    tasks = {url.removeprefix(base): task for url, task in tasks_of(engine, job_id).items()}
    return job, tasks, site.requests


def test_a_gzip_page_keeps_its_wire_bytes_and_its_decoded_size(crawl, site):
    _, tasks, _ = crawl
    page = tasks["/gzip"]
    served = site.answer("cdn.test", "/gzip", "gzip")
    assert served.headers["Content-Encoding"] == "gzip"
    assert page.bytes == len(served.body) < page.decoded_bytes == len(gzip.decompress(served.body))
    plain = tasks["/cached"]
    assert plain.bytes == plain.decoded_bytes > 0  # not compressed: one size


def test_total_bytes_is_the_sum_of_the_wire_bytes_of_every_task(crawl):
    job, tasks, _ = crawl
    assert job["stats"]["total_bytes"] == sum(task.bytes or 0 for task in tasks.values())
    assert job["stats"]["total_bytes"] < sum(task.decoded_bytes or 0 for task in tasks.values())


def test_the_sitemap_is_a_task_but_not_progress(crawl):
    job, tasks, _ = crawl
    sitemaps = {path for path, task in tasks.items() if task.kind == "sitemap"}
    assert sitemaps == {"/sitemap.xml"} and tasks["/sitemap.xml"].status == "completed"
    assert job["progress"]["total_tasks"] == len(tasks) - 1 == len(PAGES) + len(CDN_RESOURCES)
    assert job["progress"]["completed_tasks"] == len(PAGES) + len(CDN_RESOURCES)


@pytest.mark.parametrize(
    ("path", "first", "warm", "skipped"),
    [
        ("/", "MISS", "HIT", None),
        ("/cached", "MISS", "HIT", None),
        ("/no-store", "MISS", None, "no_store"),
        ("/private", "MISS", None, "private"),
        ("/cookie", "MISS", None, "set_cookie"),
        ("/gzip", None, None, None),  # no cache header: nothing to warm
    ],
)
def test_only_pages_a_cache_may_keep_are_warmed_and_the_others_say_why(crawl, path, first, warm, skipped):
    _, tasks, requests = crawl
    task = tasks[path]
    assert (task.cache_status, task.warm_cache_status, task.warm_skipped_reason) == (first, warm, skipped)
    assert sum(host == "cdn.test" and target == path for host, target, _ in requests) == (2 if warm else 1)


def test_stats_report_the_pages_warmed_and_the_hit_ratio_after_warming(crawl):
    job, _, _ = crawl
    # Five pages with a cache header, all MISS at first; the two a cache may keep are HIT after warming.
    assert job["stats"]["cache_hit_ratio"] == 0.0
    assert (job["stats"]["pages_warmed"], job["stats"]["cache_hit_ratio_after_warming"]) == (2, 0.4)


def test_a_sitemap_gets_its_cache_status_too(crawl):
    _, tasks, _ = crawl
    assert tasks["/sitemap.xml"].cache_status == "MISS"


def test_every_link_href_and_object_data_is_a_checked_resource(crawl):
    _, tasks, _ = crawl
    resources = {path: task for path, task in tasks.items() if task.kind == "resource"}
    assert set(resources) == set(CDN_RESOURCES)
    assert {(task.status, task.referrer.rsplit("/", 1)[1]) for task in resources.values()} == {("completed", "resources")}


def test_an_adhoc_feed_carries_both_sizes_and_the_reason_a_page_was_not_warmed(site, tmp_path):
    site.reset()
    records = {record["url"].split(str(site.port), 1)[1]: record
               for record in adhoc_crawl(site, tmp_path, domain=site.url("cdn.test"), env={"CRAWL_HOST_MAP": BEHAVIOUR_HOST_MAP})}  # fmt: skip
    assert records["/gzip"]["bytes"] < records["/gzip"]["decoded_bytes"]
    assert records["/cookie"]["warm_skipped_reason"] == "set_cookie"
