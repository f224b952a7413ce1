"""Crawler behaviour on the small sites of tests/sites/behaviour.py, through ad-hoc crawls: IPv6
literal targets, the recorded depth when a deeper path arrives first (one process and several,
and on bench/site.py's 1,000-page site), a host that recovers after one 503 Retry-After, and
sitemaps on addresses the guard refuses."""
from __future__ import annotations

import re
import socket
import threading
import time
from collections import deque
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.site import generate
from tests.integration.test_crawl_options import adhoc_crawl
from tests.sites.behaviour import BEHAVIOUR_HOST_MAP, DEPTHS, PAGE_COUNT
from tests.sites.server import SiteServer

pytestmark = pytest.mark.integration


def behaviour_env(**extra: str) -> dict[str, str]:
    return {"CRAWL_HOST_MAP": BEHAVIOUR_HOST_MAP, **extra}


def records_by_url(records: list[dict]) -> dict[str, dict]:
    by_url = {record["url"]: record for record in records}
    assert len(by_url) == len(records), "a URL was recorded twice"
    return by_url


# --- IPv6 literals ----------------------------------------------------------------------------


def ipv6_loopback_missing() -> str | None:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError as exc:
        return f"this machine has no IPv6 loopback (binding [::1] failed: {exc})"
    return None


@pytest.fixture(scope="module")
def v6_site():
    reason = ipv6_loopback_missing()
    if reason:
        pytest.skip(reason)
    with SiteServer(address="::1") as server:
        yield server


def test_an_ipv6_literal_site_keeps_its_brackets_in_every_url(v6_site, tmp_path):
    base = f"http://[::1]:{v6_site.port}"
    records = records_by_url(adhoc_crawl(v6_site, tmp_path, domain=base + "/", env={"CRAWL_HOST_MAP": ""}))
    # /page/ spelled as http://[0:0:0:0:0:0:0:1]:PORT/page/ is the same page as /page.
    paths = ("/", "/page", "/redirect", "/landing", "/sitemap.xml", "/from-sitemap")
    assert set(records) == {base + path for path in paths}
    assert {record["status"] for record in records.values()} == {"completed"}
    redirect = records[base + "/redirect"]
    assert redirect["final_url"] == base + "/landing"
    assert redirect["redirect_chain"] == [
        {"url": base + "/redirect", "status": 302}, {"url": base + "/landing", "status": 200},
    ]  # fmt: skip
    assert records[base + "/landing"]["found_via"] == "redirect"
    assert records[base + "/from-sitemap"]["found_via"] == "sitemap"


@pytest.mark.parametrize("allow_private", ["1", "0"])
def test_a_redirect_to_an_ipv6_literal_is_a_recorded_hop(v6_site, tmp_path, allow_private):
    """v6.test is pinned to ::1 by the operator (trusted); its /redirect points at http://[::1]:PORT/landing,
    which the guard refuses when it is on."""
    site = f"http://v6.test:{v6_site.port}"
    landing = f"http://[::1]:{v6_site.port}/landing"
    v6_site.reset()
    records = records_by_url(adhoc_crawl(v6_site, tmp_path, "-a", "use_sitemap=false", domain=site + "/",
                                         env={"CRAWL_HOST_MAP": "v6.test=::1", "ALLOW_PRIVATE_TARGETS": allow_private}))  # fmt: skip
    assert not [url for url, record in records.items() if record["error_type"] == "interrupted"]
    redirect = records[site + "/redirect"]
    assert redirect["final_url"] == landing
    if allow_private == "1":
        assert (redirect["status"], redirect["http_status"], redirect["redirect_hops"]) == ("completed", 200, 1)
        assert redirect["redirect_chain"] == [{"url": site + "/redirect", "status": 302}, {"url": landing, "status": 200}]  # fmt: skip
        assert v6_site.hits("/landing", "[::1]") == 1
    else:
        assert (redirect["status"], redirect["error_type"]) == ("failed", "forbidden_target")
        assert redirect["redirect_chain"] == [{"url": site + "/redirect", "status": 302}]
        assert v6_site.hits("/landing", "[::1]") == 0 and v6_site.hits("/robots.txt", "[::1]") == 0


# --- Depth ------------------------------------------------------------------------------------


@pytest.mark.parametrize("processes", [1, 3])
def test_recorded_depth_is_the_click_depth_even_when_a_deeper_path_arrives_first(site, tmp_path, processes):
    """/target is linked from /a (depth 1, answers after 1 s) and from /c (depth 2, fast): the
    depth-3 path arrives first, every time. Three runs each, in one process and in three."""
    base = site.url("depth.test", "")
    for attempt in range(3):
        (tmp_path / str(attempt)).mkdir()
        records = records_by_url(adhoc_crawl(site, tmp_path / str(attempt), "-s", "CRAWL_HUB_START_THRESHOLD=0",
                                             domain=base + "/", env=behaviour_env(CRAWL_PROCESSES=str(processes))))  # fmt: skip
        depths = {url.removeprefix(base): record["depth"] for url, record in records.items()}
        assert depths == DEPTHS, f"attempt {attempt}"
        assert records[base + "/target"]["referrer"] == base + "/a"
        assert records[base + "/target-child"]["referrer"] == base + "/target"


class QuietStaticHandler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def docs_site(tmp_path_factory):
    """bench/site.py's documentation site: a link tree plus random "see also" links, served as files."""
    root = tmp_path_factory.mktemp("docs-site")
    generate(root, 1000)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietStaticHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def click_depths(root) -> dict[str, int]:
    """Every page's shortest number of clicks from /, by breadth-first search over the files."""
    href = re.compile(r'<a href="(/[^"#?]*)"')
    links = {}
    for file in root.rglob("*.html"):
        path = "/" + file.relative_to(root).as_posix()
        links["/" if path == "/index.html" else path] = href.findall(file.read_text())
    depths, queue = {"/": 0}, deque(["/"])
    while queue:
        page = queue.popleft()
        for target in links.get(page, ()):
            if target not in depths:
                depths[target] = depths[page] + 1
                queue.append(target)
    return depths


@pytest.mark.parametrize("processes", [1, 2])
def test_every_page_of_a_1000_page_site_is_recorded_at_its_click_depth(docs_site, tmp_path, processes):
    root, port = docs_site
    origin = f"http://127.0.0.1:{port}"
    records = adhoc_crawl(None, tmp_path, "-a", "use_sitemap=false", "-s", "CRAWL_HUB_START_THRESHOLD=0",
                          domain=origin + "/", env={"CRAWL_HOST_MAP": "", "CRAWL_PROCESSES": str(processes)})
    recorded = {record["url"].removeprefix(origin): record["depth"] for record in records if record["kind"] == "page"}
    expected = click_depths(root)
    assert len(recorded) == len(expected) == 1000
    wrong = {path: (depth, expected[path]) for path, depth in recorded.items() if depth != expected[path]}
    assert not wrong, f"{len(wrong)} pages at the wrong depth (recorded, shortest), e.g. {list(wrong.items())[:5]}"


# --- Retry-After ------------------------------------------------------------------------------


def timed_crawl(site, tmp_path, host: str) -> tuple[float, list[dict]]:
    tmp_path.mkdir()
    started = time.monotonic()
    records = adhoc_crawl(site, tmp_path, domain=site.url(host), env=behaviour_env())
    return time.monotonic() - started, records


def test_one_retry_after_slows_the_host_down_for_a_moment_not_for_the_rest_of_the_crawl(site, tmp_path):
    """41 pages at robots.txt's Crawl-delay of 0.05 s. On slowdown.test /p/1 answers 503 with
    Retry-After: 1 once: the crawl may lose a couple of seconds, not 40 x 1 s."""
    site.reset()
    calm_seconds, calm = timed_crawl(site, tmp_path / "calm", "calm.test")
    disturbed_seconds, disturbed = timed_crawl(site, tmp_path / "slowdown", "slowdown.test")
    pages = [record for record in disturbed if record["kind"] == "page"]
    assert len(pages) == len([record for record in calm if record["kind"] == "page"]) == PAGE_COUNT + 1
    assert {record["status"] for record in pages} == {"completed"}
    assert site.hits("/p/1", "slowdown.test") == 2  # the 503, then the retry after Retry-After
    assert disturbed_seconds < calm_seconds + 8, (calm_seconds, disturbed_seconds)
    log = (tmp_path / "slowdown" / "crawl.log").read_text()
    assert "slowdown.test asked us to slow down: 1.0 s between requests" in log
    assert "slowdown.test eased back to 0.05 s between requests" in log  # robots.txt's Crawl-delay stays the floor


# --- The private-address guard ----------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(site, tmp_path_factory):
    """One crawl of guard.test (pinned to loopback by the operator, so trusted) with the guard on."""
    site.reset()
    tmp_path = tmp_path_factory.mktemp("guarded")
    env = behaviour_env(ALLOW_PRIVATE_TARGETS="0")
    records = records_by_url(adhoc_crawl(site, tmp_path, domain=site.url("guard.test"), env=env))
    return records, site.url("guard.test", ""), (tmp_path / "crawl.log").read_text(), site.requests


def test_sitemaps_on_private_addresses_are_refused_once_as_forbidden_target(guarded, site):
    """robots.txt names http://127.0.0.2:1/sitemap.xml; the sitemap index names
    http://localhost:PORT/sitemap-private.xml."""
    records, base, log, requests = guarded
    sitemaps = {url: (r["status"], r["error_type"]) for url, r in records.items() if r["kind"] == "sitemap"}
    assert sitemaps == {
        "http://127.0.0.2:1/sitemap.xml": ("failed", "forbidden_target"),
        f"http://localhost:{site.port}/sitemap-private.xml": ("failed", "forbidden_target"),
        base + "/sitemap-index.xml": ("completed", None),
        base + "/sitemap-pages.xml": ("completed", None),
    }
    assert (records[base + "/listed"]["status"], records[base + "/listed"]["found_via"]) == ("completed", "sitemap")
    assert not [path for host, path, _ in requests if host == "localhost"]
    assert "retry/count" not in log  # refused once, not retried as a DNS error


def test_a_redirect_to_the_ipv6_loopback_is_refused_as_a_recorded_hop(guarded):
    records, base, _, _ = guarded
    refused = records[base + "/to-ipv6"]
    assert (refused["status"], refused["error_type"]) == ("failed", "forbidden_target")
    assert refused["final_url"] == "http://[::1]:1/landing"
    assert refused["redirect_chain"] == [{"url": base + "/to-ipv6", "status": 302}]
    assert not [url for url, record in records.items() if record["error_type"] == "interrupted"]
