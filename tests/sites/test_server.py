"""Quick checks of the test website itself, fetched with urllib over loopback."""
from __future__ import annotations

import gzip
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .server import SiteServer

SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # hand the 3xx back as an HTTPError, so its status and Location can be read


# ProxyHandler({}): ignore any http_proxy in the environment, the server is on loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def fetch(port: int, host: str, path: str = "/", method: str = "GET"):
    """Connect to 127.0.0.1 and ask for `path` on virtual host `host`: (status, headers, body)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Host": f"{host}:{port}"}, method=method
    )
    try:
        response = _OPENER.open(request, timeout=5)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        return response.status, response.headers, response.read()


@pytest.fixture
def server():
    with SiteServer() as site:
        yield site


@pytest.mark.parametrize(
    ("host", "path", "status", "title"),
    [
        ("site.test", "/", 200, b"<title>Home</title>"),
        ("www.site.test", "/about", 200, b"<title>About</title>"),
        ("blog.site.test", "/", 200, b"<title>Blog</title>"),
        ("other.test", "/external", 200, b"<title>External</title>"),
        ("other.test", "/about", 404, b"<title>Not found</title>"),
        ("unknown.test", "/", 404, b"<title>Not found</title>"),
        ("site.test", "/missing", 404, b"<title>Not found</title>"),
        ("site.test", "/error", 500, b"<title>Server error</title>"),
    ],
)
def test_virtual_hosts_route(server, host, path, status, title):
    got_status, headers, body = fetch(server.port, host, path)
    assert (got_status, title in body) == (status, True)
    assert int(headers["Content-Length"]) == len(body)
    assert server.hits(path, host) == 1


def test_www_links_point_at_the_main_site(server):
    _, _, body = fetch(server.port, "www.site.test", "/about")
    assert f'href="http://site.test:{server.port}/missing"'.encode() in body


def test_head_has_headers_but_no_body(server):
    _, get_headers, body = fetch(server.port, "site.test", "/file.pdf")
    status, head_headers, head_body = fetch(server.port, "site.test", "/file.pdf", method="HEAD")
    assert (status, head_body, head_headers["Content-Type"]) == (200, b"", "application/pdf")
    assert head_headers["Content-Length"] == get_headers["Content-Length"] == str(len(body))


def test_robots_txt_names_the_sitemap_index_with_the_real_port(server):
    _, _, body = fetch(server.port, "site.test", "/robots.txt")
    assert "Disallow: /private/" in body.decode()
    assert f"Sitemap: http://site.test:{server.port}/sitemap_index.xml" in body.decode()


def test_gzip_sitemap_decompresses_to_a_urlset(server):
    status, headers, body = fetch(server.port, "site.test", "/sitemap-more.xml.gz")
    assert (status, headers["Content-Type"]) == (200, "application/x-gzip")
    root = ET.fromstring(gzip.decompress(body))
    assert root.tag == SITEMAP_NS + "urlset"
    locs = [loc.text for loc in root.iter(SITEMAP_NS + "loc")]
    assert locs == [server.url("site.test", "/news"), server.url("site.test", "/news/2026")]


@pytest.mark.parametrize(
    ("path", "header", "first", "later"),
    [
        ("/about", "CF-Cache-Status", "MISS", "HIT"),
        ("/products", "X-Cache", "MISS, MISS", "MISS, HIT"),
        ("/news", "X-Cache", "Miss from cloudfront", "Hit from cloudfront"),
        ("/products/1", "x-vercel-cache", "MISS", "HIT"),
        ("/products/2", "X-Cache-Status", "MISS", "HIT"),
        ("/products/3", "Cache-Status", "site; fwd=miss", "site; hit"),
        ("/products/4", "X-Cache", "TCP_MISS from a1", "TCP_HIT from a1"),
        ("/products/5", "CF-Cache-Status", "EXPIRED", "HIT"),
        ("/", "CF-Cache-Status", "DYNAMIC", "DYNAMIC"),
        ("/news/2026", "CF-Cache-Status", "BYPASS", "BYPASS"),
    ],
)
def test_cache_headers_go_miss_then_hit(server, path, header, first, later):
    seen = [fetch(server.port, "site.test", path)[1][header] for _ in range(3)]
    assert seen == [first, later, later]


def test_a_compressed_page_is_gzip_only_for_a_client_that_accepts_gzip(server):
    plain = server.answer("cdn.test", "/gzip")
    packed = server.answer("cdn.test", "/gzip", "gzip, deflate, br")
    assert "Content-Encoding" not in plain.headers and packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.body) == plain.body and len(packed.body) < len(plain.body) // 4


def test_extra_headers_come_with_the_cdn_ones(server):
    headers = server.answer("cdn.test", "/no-store").headers
    assert (headers["CF-Cache-Status"], headers["Cache-Control"]) == ("MISS", "no-store")


def test_cache_is_keyed_by_host_and_query(server):
    fetch(server.port, "site.test", "/about")
    assert fetch(server.port, "www.site.test", "/about")[1]["CF-Cache-Status"] == "MISS"
    fetch(server.port, "site.test", "/products")
    assert fetch(server.port, "site.test", "/products?a=1&b=2")[1]["X-Cache"] == "MISS, MISS"


def test_redirect_chain_and_loop_statuses(server):
    hops = {}
    for path in ("/redirect-1", "/redirect-2", "/loop-a", "/loop-b"):
        status, headers, _ = fetch(server.port, "site.test", path)
        hops[path] = (status, headers["Location"])
    assert hops == {
        "/redirect-1": (301, "/redirect-2"),
        "/redirect-2": (302, "/about"),
        "/loop-a": (302, "/loop-b"),
        "/loop-b": (302, "/loop-a"),
    }


def test_calendar_links_to_neighbouring_months_and_rejects_bad_ones(server):
    _, _, body = fetch(server.port, "site.test", "/calendar?month=2026-01")
    assert b"/calendar?month=2025-12" in body and b"/calendar?month=2026-02" in body
    assert fetch(server.port, "site.test", "/calendar?month=2026-13")[0] == 404
    assert fetch(server.port, "site.test", "/calendar?month=0999-12")[0] == 404


def test_reset_clears_log_and_counters(server):
    assert [fetch(server.port, "site.test", "/retry-after")[0] for _ in range(3)] == [429, 429, 200]
    fetch(server.port, "site.test", "/about")
    assert fetch(server.port, "site.test", "/about")[1]["CF-Cache-Status"] == "HIT"
    assert server.hits("/about") == 2
    server.reset()
    assert server.requests == [] and server.hits("/about") == 0
    assert fetch(server.port, "site.test", "/about")[1]["CF-Cache-Status"] == "MISS"
    status, headers, _ = fetch(server.port, "site.test", "/retry-after")
    assert (status, headers["Retry-After"]) == (429, "1")
    assert server.requests == [
        ("site.test", "/about", f"Python-urllib/{sys.version_info[0]}.{sys.version_info[1]}"),
        ("site.test", "/retry-after", f"Python-urllib/{sys.version_info[0]}.{sys.version_info[1]}"),
    ]


def test_runs_as_a_separate_process():
    root = Path(__file__).resolve().parents[2]  # the project root, where `tests` is importable
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.sites.server", "--port", "0"], cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("listening on ")
        assert fetch(int(line.split()[-1]), "site.test", "/")[0] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
