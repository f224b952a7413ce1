"""A crawl's `concurrency` is the most requests the site sees at once, in one process or several.

A loopback site that holds every page 60 ms (a slow origin) and counts the requests it is serving
at once. A hub and its worker used to take the whole concurrency each (twice the user's politeness
at the origin, issue 23); they now share it (crawler/roles.py `split_concurrency`), and the worker
still gets its share of the URLs."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from contract.paths import PROJECT_ROOT

pytestmark = pytest.mark.integration

PAGES = 300
HOLD_SECONDS = 0.06


class CountingSite(ThreadingHTTPServer):
    """Pages /p/0 ... /p/{PAGES-1}, each linking to the next ten; the peak of requests in service."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), CountingHandler)
        self.lock = threading.Lock()
        self.serving = self.peak = self.requests = 0
        self.hosts: list[str] = []  # origins the links alternate between ([]: relative links)


class CountingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        site: CountingSite = self.server
        with site.lock:
            site.serving += 1
            site.requests += 1
            site.peak = max(site.peak, site.serving)
        try:
            match = re.fullmatch(r"/(?:p/(\d+))?", self.path)
            if match is None:
                body, status = b"not here", 404
            else:
                time.sleep(HOLD_SECONDS)
                number = int(match[1] or 0)
                # With two hosts (`site.hosts`), every other link goes to the other one.
                hosts = site.hosts or [""]
                links = "".join(f'<a href="{hosts[n % len(hosts)]}/p/{n}">{n}</a>'
                                for n in range(number * 10 + 1, min(PAGES, number * 10 + 11)))  # fmt: skip
                body, status = f"<html><body>{links}</body></html>".encode(), 200
        finally:
            with site.lock:
                site.serving -= 1  # the answer is decided: the next request may come
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if status == 200 else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def counting_site():
    site = CountingSite()
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    yield site
    site.shutdown()
    site.server_close()


@pytest.mark.parametrize("concurrency", [3, 8])
def test_a_hub_and_its_worker_together_never_exceed_the_concurrency(counting_site, tmp_path, concurrency):
    output = tmp_path / "pages.jsonl"
    env = {**os.environ, "ALLOW_PRIVATE_TARGETS": "1", "DATABASE_URL": "sqlite:///nowhere/x.db", "CRAWL_PROCESSES": "2"}
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"domain=http://127.0.0.1:{counting_site.server_port}",
         "-s", f"CONCURRENT_REQUESTS={concurrency}", "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={concurrency}",
         "-a", "use_sitemap=false", "-O", str(output), "-s", "LOG_LEVEL=INFO",
         "-s", "CRAWL_HUB_START_THRESHOLD=0"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in output.read_text().splitlines()]
    pages = {record["url"] for record in records if record.get("http_status") == 200}
    assert len(pages) == PAGES
    assert "worker 0 connected" in result.stderr
    sent = re.search(r"'hub/sent_to_workers': (\d+)", result.stderr)
    assert sent and int(sent[1]) > PAGES // 4, result.stderr[-3000:]  # the worker fetched its share
    assert counting_site.peak <= concurrency, f"{counting_site.peak} requests at once with concurrency {concurrency}"
    assert counting_site.peak == concurrency  # and the concurrency was used


def test_one_process_keeps_the_concurrency_across_the_sites_hosts(counting_site, tmp_path):
    """www and blog of one site, same server: `concurrency` counts them together (a download that
    ends starts a waiting request of either host, crawler/downloader.py)."""
    port = counting_site.server_port
    counting_site.hosts = [f"http://www.site.test:{port}", f"http://blog.site.test:{port}"]
    output = tmp_path / "pages.jsonl"
    env = {**os.environ, "ALLOW_PRIVATE_TARGETS": "1", "DATABASE_URL": "sqlite:///nowhere/x.db", "CRAWL_PROCESSES": "1",
           "CRAWL_HOST_MAP": "www.site.test=127.0.0.1,blog.site.test=127.0.0.1"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"domain=http://www.site.test:{port}",
         "-s", "CONCURRENT_REQUESTS=6", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=6", "-a", "use_sitemap=false",
         "-O", str(output), "-s", "LOG_LEVEL=INFO"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in output.read_text().splitlines()]
    fetched = {record["url"] for record in records if record.get("http_status") == 200}
    assert {url.split("/")[2].split(":")[0] for url in fetched} == {"www.site.test", "blog.site.test"}
    assert len({url.split(":", 2)[2].split("/", 1)[1] for url in fetched}) == PAGES  # every page, on one host or both
    assert counting_site.peak == 6, f"{counting_site.peak} requests at once with concurrency 6"
