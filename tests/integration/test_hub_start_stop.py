"""When a multi-process crawl (crawler/hub.py, crawler/roles.py) starts its worker, and how soon it
ends when the crawl is over before the worker is up.

- A max_pages job that finds ~2,100 links fetches max_pages of them: the pages over the limit are only
  held, so they do not count towards CRAWL_HUB_START_THRESHOLD(_COLD) and no worker starts.
- A worker started for a crawl that a small loopback site gets over before the worker is up (a
  Python process takes ~1 s to start, several under load): the URLs kept for it are fetched by the
  hub once it is idle, and the worker is stopped at the end (terminated if it never connected,
  told to stop if it connects late) instead of being waited for.
"""
from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integration.test_crawl_options import adhoc_crawl

pytestmark = pytest.mark.integration

LINKS = 2100  # pages the start page links to: over CRAWL_HUB_START_THRESHOLD_COLD (2,000)


class ManyLinks(BaseHTTPRequestHandler):
    """/ links to /p/0 .. /p/2099; each of those links back to /."""

    def do_GET(self):
        if self.path == "/":
            body = "".join(f'<a href="/p/{n}">{n}</a>' for n in range(LINKS))
        elif self.path.startswith("/p/"):
            body = '<a href="/">home</a>'
        else:
            self.send_error(404)
            return
        data = f"<html><body>{body}</body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def many_links():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ManyLinks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


SLOW_WORKER = """import sys, time
if "role=worker" in sys.argv:  # a worker that takes WORKER_START_SECONDS to start, whatever the load
    time.sleep(%d)
"""
WORKER_START_SECONDS = 15


def timed(tmp_path, origin: str, *args: str, env: dict | None = None) -> tuple[float, list[dict], str]:
    started = time.monotonic()
    records = adhoc_crawl(None, tmp_path, "-a", "use_sitemap=false", *args, domain=origin + "/",
                          env={"CRAWL_HOST_MAP": "", "CRAWL_PROCESSES": "2", **(env or {})})  # fmt: skip
    return time.monotonic() - started, records, (tmp_path / "crawl.log").read_text()


def test_a_max_pages_job_that_finds_2000_links_starts_no_worker_and_ends_promptly(many_links, tmp_path):
    elapsed, records, log = timed(tmp_path, many_links, "-a", "max_pages=20")
    pages = [record for record in records if record["kind"] == "page"]
    assert len([page for page in pages if page["status"] != "skipped"]) == 20
    assert len(pages) == LINKS + 1  # the others recorded skipped over max_pages, as before
    assert not re.search(r"URLs in hand: starting \d+ workers", log), log[-3000:]
    assert elapsed < 20, f"{elapsed:.1f} s"


def test_a_worker_still_starting_when_the_crawl_ends_is_stopped_as_it_connects(many_links, tmp_path):
    """Started after the first URL (thresholds 1), for a 20-page crawl, and slow to start (15 s, a
    sitecustomize on its PYTHONPATH): the crawl does not wait for the worker's start-up (it did,
    holding the worker's share of the URLs for it), nor the hub for the worker at the end."""
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(SLOW_WORKER % WORKER_START_SECONDS)
    elapsed, records, log = timed(tmp_path, many_links, "-a", "max_pages=20", "-s", "CRAWL_HUB_START_THRESHOLD=1",
                                  "-s", "CRAWL_HUB_START_THRESHOLD_COLD=1", env={"PYTHONPATH": str(slow)})  # fmt: skip
    assert re.search(r"URLs in hand: starting 1 workers", log), log[-3000:]
    assert len([r for r in records if r["kind"] == "page" and r["status"] != "skipped"]) == 20
    assert "stopping 1 workers that had not connected yet" in log and "worker 0 connected" not in log, log[-3000:]
    assert elapsed < WORKER_START_SECONDS, f"{elapsed:.1f} s: the crawl or the hub waited for the worker"
