"""One full crawl of the test site through the API (module-scoped), then one test per fault or
feature asserting how it was classified in the tasks, the issues report and the job's stats.

The site is tests/sites: a sitemap index with a gzip child, robots rules, broken links, a 500, a
slow page, a redirect chain and a loop, an infinite calendar, a page over the size cap, a PDF,
a subdomain, and CDN headers of several vendors in MISS-then-HIT sequences.
"""
from __future__ import annotations

from collections import Counter

import pytest

from tests.integration.conftest import run_crawl, tasks_of
from tests.sites.server import _pdf_body

pytestmark = pytest.mark.integration

CALENDAR_VARIANTS = 50  # CRAWL_MAX_QUERY_VARIANTS


@pytest.fixture(scope="module")
def crawl(live_client, make_org, site, engine):
    site.reset()
    org = make_org()
    job = run_crawl(live_client, org, site.url("site.test"), slow_page_threshold_ms=1000)
    tasks = tasks_of(engine, job["id"])

    class Crawl:
        pass

    result = Crawl()
    result.org, result.job, result.tasks, result.requests = org, job, tasks, site.requests
    result.base = f"http://site.test:{site.port}"
    result.port = site.port
    result.issues = live_client.get(f"/v1/jobs/{job['id']}/issues", headers=org.headers).get_json()
    return result


def task(crawl, path: str, host: str = "site.test"):
    return crawl.tasks[f"http://{host}:{crawl.port}{path}"]


def test_the_whole_crawl_has_exact_totals(crawl):
    assert crawl.job["status"] == "completed"
    statuses = Counter(t.status for t in crawl.tasks.values())
    kinds = Counter(t.kind for t in crawl.tasks.values())
    # 19 pages + 50 calendar months + 3 sitemaps completed; /missing, /error, /loop-a failed;
    # /private/secret (robots) and two calendar months past the trap limit skipped.
    assert statuses == {"completed": 19 + CALENDAR_VARIANTS + 3, "failed": 3, "skipped": 3}
    assert kinds == {"page": 19 + CALENDAR_VARIANTS + 3 + 3, "sitemap": 3}
    assert len(crawl.tasks) == 78
    # Progress counts the URLs the crawl checks: the 3 sitemap documents are tasks, not progress.
    progress = crawl.job["progress"]
    assert progress["total_tasks"] == kinds["page"] == 75
    assert (progress["completed_tasks"], progress["failed_tasks"], progress["skipped_tasks"]) == (69, 3, 3)
    assert progress["percentage"] == 100.0


def test_every_page_of_the_site_is_found(crawl):
    expected = {
        "/", "/about", "/products", "/products/1", "/products/2", "/products/3", "/products/4", "/products/5",
        "/products?a=1&b=2", "/news", "/news/2026", "/orphan-from-sitemap", "/slow", "/redirect-1", "/big",
        "/file.pdf", "/missing", "/error", "/loop-a", "/private/secret", "/calendar?month=2026-01",
    }  # fmt: skip
    found = {url.removeprefix(crawl.base) for url in crawl.tasks if url.startswith(crawl.base + "/")}
    assert expected <= found
    assert f"http://www.site.test:{crawl.port}/about" in crawl.tasks
    assert f"http://blog.site.test:{crawl.port}/post-1" in crawl.tasks


def test_fragments_and_query_order_are_normalised(crawl):
    assert not any("#" in url for url in crawl.tasks)
    assert sum("/products?" in url for url in crawl.tasks) == 1


def test_sitemap_index_and_gzip_child_are_followed(crawl):
    sitemaps = {t.url.removeprefix(crawl.base): t for t in crawl.tasks.values() if t.kind == "sitemap"}
    assert set(sitemaps) == {"/sitemap_index.xml", "/sitemap-pages.xml", "/sitemap-more.xml.gz"}
    assert sitemaps["/sitemap_index.xml"].found_via == "robots"
    assert all(t.status == "completed" for t in sitemaps.values())
    assert task(crawl, "/orphan-from-sitemap").found_via == "sitemap"
    assert task(crawl, "/orphan-from-sitemap").referrer == crawl.base + "/sitemap-pages.xml"
    assert task(crawl, "/news/2026").referrer == crawl.base + "/sitemap-more.xml.gz"


def test_robots_disallowed_page_is_skipped_and_never_fetched(crawl):
    secret = task(crawl, "/private/secret")
    assert (secret.status, secret.error_type, secret.http_status) == ("skipped", "robots", None)
    assert ("site.test", "/private/secret") not in {(h, p) for h, p, _ in crawl.requests}


def test_robots_txt_is_asked_for_with_our_named_user_agent(crawl):
    agents = {agent for host, path, agent in crawl.requests if path == "/robots.txt"}
    assert agents and all("SiteCrawlBot" in agent and "+http" in agent for agent in agents)


def test_broken_link_is_reported_with_every_referring_page(crawl):
    missing = task(crawl, "/missing")
    assert (missing.status, missing.http_status, missing.error_type, missing.is_broken) == ("failed", 404, "http_error", True)
    broken = {item["url"]: item for item in crawl.issues["broken_links"]}
    referrers = set(broken[crawl.base + "/missing"]["referrers"])
    assert referrers == {
        crawl.base + "/", crawl.base + "/about", crawl.base + "/products/3", f"http://www.site.test:{crawl.port}/about",
    }


def test_server_error_is_classified(crawl):
    error = task(crawl, "/error")
    assert (error.status, error.http_status, error.error_type, error.is_server_error) == ("failed", 500, "server_error", True)
    assert [item["url"] for item in crawl.issues["server_errors"]] == [crawl.base + "/error"]


def test_slow_page_is_over_the_threshold_and_only_it(crawl):
    slow = task(crawl, "/slow")
    assert slow.is_slow and slow.response_time_ms >= 1000 and slow.status == "completed"
    assert [item["url"] for item in crawl.issues["slow_pages"]] == [crawl.base + "/slow"]
    assert crawl.issues["slow_page_threshold_ms"] == 1000


def test_redirect_chain_records_each_hop_and_the_final_url(crawl):
    redirect = task(crawl, "/redirect-1")
    assert redirect.status == "completed" and redirect.http_status == 200
    assert redirect.redirect_hops == 2
    assert redirect.final_url == crawl.base + "/about"
    assert [(hop["url"].removeprefix(crawl.base), hop["status"]) for hop in redirect.redirect_chain] == [
        ("/redirect-1", 301), ("/redirect-2", 302), ("/about", 200),
    ]
    chains = {item["url"]: item for item in crawl.issues["redirect_chains"]}
    assert chains[crawl.base + "/redirect-1"]["hops"] == 2


def test_redirect_loop_is_caught_and_failed(crawl):
    loop = task(crawl, "/loop-a")
    assert (loop.status, loop.error_type) == ("failed", "redirect_loop")
    assert [hop["url"].removeprefix(crawl.base) for hop in loop.redirect_chain] == ["/loop-a", "/loop-b"]
    assert crawl.issues["redirect_chains"] and any(i["error_type"] == "redirect_loop" for i in crawl.issues["redirect_chains"])


def test_infinite_calendar_is_bounded_by_the_query_trap_limit(crawl):
    calendar = [t for t in crawl.tasks.values() if "/calendar?" in t.url]
    assert sum(t.status == "completed" for t in calendar) == CALENDAR_VARIANTS
    trapped = [t for t in calendar if t.status == "skipped"]
    assert len(trapped) == 2 and all(t.error_type == "query_trap" for t in trapped)
    fetched = [p for h, p, _ in crawl.requests if p.startswith("/calendar?")]
    assert len(fetched) == CALENDAR_VARIANTS


def test_page_over_the_size_cap_is_cut_and_recorded(crawl):
    big = task(crawl, "/big")
    assert big.status == "completed" and big.truncated
    assert 2 * 1024 * 1024 <= big.bytes < 3 * 1024 * 1024
    assert f"{crawl.base}/big-tail" not in crawl.tasks  # its only link is past the cap


def test_binary_file_is_recorded_not_parsed(crawl):
    pdf = task(crawl, "/file.pdf")
    assert (pdf.status, pdf.content_type) == ("completed", "application/pdf")
    assert pdf.bytes == len(_pdf_body())
    assert f"{crawl.base}/from-pdf" not in crawl.tasks


def test_subdomain_is_crawled_and_external_site_is_not(crawl):
    assert task(crawl, "/", host="blog.site.test").found_via == "link"
    hosts = {host for host, _, _ in crawl.requests}
    assert "other.test" not in hosts


@pytest.mark.parametrize(
    ("path", "first", "warm"),
    [
        ("/products", "MISS", "HIT"),  # Fastly
        ("/news", "MISS", "HIT"),  # CloudFront
        ("/products/1", "MISS", "HIT"),  # Vercel
        ("/products/2", "MISS", "HIT"),  # nginx X-Cache-Status
        ("/products/3", "MISS", "HIT"),  # RFC 9211 Cache-Status
        ("/products/4", "MISS", "HIT"),  # Akamai
        ("/products/5", "EXPIRED", "HIT"),  # Cloudflare EXPIRED
        ("/", "DYNAMIC", None),  # not re-fetched
        ("/news/2026", "BYPASS", None),  # not re-fetched
    ],
)
def test_cache_status_and_warming(crawl, path, first, warm):
    record = task(crawl, path)
    assert (record.cache_status, record.warm_cache_status) == (first, warm)
    assert (record.warm_response_time_ms is not None) == (warm is not None)
    assert Counter(p for h, p, _ in crawl.requests if h == "site.test")[path] == (2 if warm else 1)


def test_cache_hit_ratio_counts_first_fetches_with_a_known_cache_status(crawl):
    known = [t for t in crawl.tasks.values() if t.kind == "page" and t.http_status and t.cache_status]
    hits = sum(t.cache_status == "HIT" for t in known)
    assert crawl.job["stats"]["cache_hit_ratio"] == round(hits / len(known), 4)


def test_every_fetched_page_has_its_measurements(crawl):
    for record in crawl.tasks.values():
        if record.http_status is None:
            continue
        assert record.response_time_ms is not None and record.ttfb_ms is not None, record.url
        assert record.ttfb_ms <= record.response_time_ms + 1, record.url
        assert record.bytes is not None and record.content_type, record.url
        assert record.depth >= 0 and record.found_via in {"start", "link", "sitemap", "robots", "redirect"}


def test_tasks_endpoint_filters_and_sorts(crawl, live_client):
    url = f"/v1/jobs/{crawl.job['id']}/tasks"
    headers = crawl.org.headers
    failed = live_client.get(f"{url}?status=failed&limit=100", headers=headers).get_json()
    assert {t["url"] for t in failed["tasks"]} == {crawl.base + p for p in ("/missing", "/error", "/loop-a")}
    assert failed["pagination"]["total"] == 3
    misses = live_client.get(f"{url}?cache_status=MISS,EXPIRED&limit=100", headers=headers).get_json()
    assert all(t["cache_status"] in ("MISS", "EXPIRED") for t in misses["tasks"]) and misses["tasks"]
    slowest = live_client.get(f"{url}?sort=-response_time_ms&limit=1", headers=headers).get_json()
    assert slowest["tasks"][0]["url"] == crawl.base + "/slow"
    assert slowest["pagination"]["has_next"] is True
    broken = live_client.get(f"{url}?issue=broken_link", headers=headers).get_json()
    assert crawl.base + "/missing" in {t["url"] for t in broken["tasks"]}
    by_path = live_client.get(f"{url}?path=products/&limit=100", headers=headers).get_json()
    assert {t["url"].removeprefix(crawl.base) for t in by_path["tasks"]} == {f"/products/{n}" for n in range(1, 6)}
    assert live_client.get(f"{url}?sort=nope", headers=headers).status_code == 400
    assert live_client.get(f"{url}?status=nope", headers=headers).status_code == 400


def test_results_of_another_organisation_are_not_found(crawl, live_client, make_org):
    other = make_org()
    for suffix in ("tasks", "issues", "export"):
        response = live_client.get(f"/v1/jobs/{crawl.job['id']}/{suffix}", headers=other.headers)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "job_not_found"


def test_export_streams_every_task_as_csv_and_jsonl(crawl, live_client):
    import csv
    import io
    import json

    url = f"/v1/jobs/{crawl.job['id']}/export"
    jsonl = live_client.get(f"{url}?format=jsonl", headers=crawl.org.headers)
    assert jsonl.status_code == 200 and jsonl.is_streamed
    rows = [json.loads(line) for line in jsonl.get_data(as_text=True).splitlines()]
    assert {row["url"] for row in rows} == set(crawl.tasks)
    as_csv = live_client.get(f"{url}?format=csv", headers=crawl.org.headers)
    assert as_csv.mimetype == "text/csv"
    assert len(list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))) == len(crawl.tasks)
    assert live_client.get(f"{url}?format=xml", headers=crawl.org.headers).status_code == 400
