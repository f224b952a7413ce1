"""max_pages keeps the important pages (crawler/priority.py), in a real crawl of a loopback site of
2,000 articles: the start page lists 200 articles in its body before its navigation (10 sections,
last in the document), and its sitemap marks 5 campaign pages, linked from nowhere, priority 1.0
after 30 ordinary entries. With max_pages 50 the crawl keeps the start page, every navigation
page and every campaign page, and fills the rest by depth; first come first served kept 49 articles."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from contract.paths import PROJECT_ROOT

ARTICLES, SECTIONS, CAMPAIGNS = 2000, 10, 5


def page(links: list[str], nav: list[str] = ()) -> bytes:
    body = "".join(f'<a href="{href}">{href}</a> ' for href in links)
    navigation = "".join(f'<a href="{href}">{href}</a> ' for href in nav)
    return (f"<html><head><title>t</title></head><body><header><a href='/'>Home</a></header><main>{body}</main>"
            f"<nav>{navigation}</nav></body></html>").encode()  # fmt: skip


def sitemap(origin: str) -> bytes:
    entries = [(f"/article/{n}", "0.3") for n in range(30)] + [(f"/campaign/{n}", "1.0") for n in range(CAMPAIGNS)]
    urls = "".join(f"<url><loc>{origin}{path}</loc><priority>{p}</priority></url>" for path, p in entries)
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'.encode()


class ArticleSite(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path, origin = self.path, f"http://{self.headers['Host']}"
        kind, _, number = path.strip("/").partition("/")
        if path == "/":
            body = page([f"/article/{n}" for n in range(200)], nav=[f"/section/{n}" for n in range(SECTIONS)])
        elif path == "/robots.txt":
            body = f"User-agent: *\nAllow: /\nSitemap: {origin}/sitemap.xml\n".encode()
        elif path == "/sitemap.xml":
            body = sitemap(origin)
        elif kind == "section" and number.isdigit():
            body = page([f"/article/{int(number) * 200 + n}" for n in range(200)])
        elif kind in ("article", "campaign") and number.isdigit() and int(number) < ARTICLES:
            body = page([f"/article/{(int(number) + step) % ARTICLES}" for step in range(1, 6)])
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/xml" if path.endswith(".xml") else "text/html" if path != "/robots.txt" else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def article_site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ArticleSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_max_pages_keeps_the_start_page_its_navigation_and_the_sitemaps_priorities(article_site, tmp_path):
    output = tmp_path / "pages.jsonl"
    # Two processes allowed: 2,000 links found start no worker for a 50-page crawl (only the pages
    # it will fetch count towards CRAWL_HUB_START_THRESHOLD_COLD, crawler/frontier.py to_be_fetched).
    env = {**os.environ, "ALLOW_PRIVATE_TARGETS": "1", "DATABASE_URL": "sqlite:///nowhere/x.db", "CRAWL_PROCESSES": "2"}
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"domain=http://{article_site}", "-a", "max_pages=50",
         "-O", str(output), "-s", "LOG_LEVEL=INFO"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    (tmp_path / "crawl.log").write_text(result.stderr)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in output.read_text().splitlines()]
    pages = {r["url"].split(article_site, 1)[1]: r for r in records if r["kind"] == "page"}
    fetched = {path for path, r in pages.items() if r["status"] != "skipped"}
    assert len(fetched) == 50
    assert {"/", *(f"/section/{n}" for n in range(SECTIONS)), *(f"/campaign/{n}" for n in range(CAMPAIGNS))} <= fetched
    # the rest by depth: articles the start page links to, none of the deeper pages
    assert all(pages[path]["depth"] == 1 for path in fetched - {"/"})
    assert {r["error_type"] for r in pages.values() if r["status"] == "skipped"} == {"max_pages"}
    assert "starting 1 workers" not in result.stderr
