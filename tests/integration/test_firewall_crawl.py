"""A crawl answered by a bot firewall (crawler/firewall.py), end to end through scrapyd: a real
loopback site whose pages come back as Cloudflare challenges. The job stops after a few
consecutive challenges and ends `failed` with `blocked_by_firewall` naming the vendor, instead of
fetching every page into a challenge; one challenged page among good ones does not stop a crawl."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integration.conftest import run_crawl, tasks_of

PAGES = 200
CHALLENGE = (b"<!DOCTYPE html><html><head><title>Just a moment...</title><script src=\"/cdn-cgi/challenge-platform/"
             b"h/g/orchestrate/chl_page/v1?ray=8f\"></script></head><body>Checking your browser</body></html>")  # fmt: skip


class ChallengingSite(BaseHTTPRequestHandler):
    """`/` links to /p0../p199. `challenged(path)` (set per server) says which paths get the challenge."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path = self.path.split("?")[0]
        self.server.fetched.append(path)
        if self.server.challenged(path):
            self.answer(403, CHALLENGE, {"Server": "cloudflare", "cf-mitigated": "challenge", "cf-ray": "8f1e-AMS"})
        elif path == "/" or (path.startswith("/p") and path[2:].isdigit()):
            links = "".join(f'<a href="/p{n}">page {n}</a>' for n in range(PAGES)) if path == "/" else '<a href="/">home</a>'
            self.answer(200, f"<html><title>{path}</title><body>{links}</body></html>".encode(), {"Server": "cloudflare"})
        else:
            self.answer(404, b"not found", {})

    def answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def challenging_site():
    servers = []

    def start(challenged):
        server = ThreadingHTTPServer(("127.0.0.1", 0), ChallengingSite)
        server.challenged, server.fetched = challenged, []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_site_whose_pages_are_challenged_fails_blocked_by_firewall_early(live_client, make_org, engine, challenging_site):
    server, origin = challenging_site(lambda path: path.startswith("/p"))
    job = run_crawl(live_client, make_org(), origin, use_sitemap=False, concurrency=2)

    assert job["status"] == "failed"
    assert job["error"].startswith("blocked_by_firewall: Cloudflare answered 5 consecutive")
    tasks = tasks_of(engine, job["id"])
    challenged = [t for t in tasks.values() if t.error_type == "firewall_challenge"]
    assert 5 <= len(challenged) < PAGES / 4  # stopped early, not one challenge per page
    assert all(t.error.startswith("Cloudflare bot challenge") for t in challenged)
    assert sum(path.startswith("/p") for path in server.fetched) < PAGES / 4
    # the rest were not fetched: skipped, and the job's stats still count what was
    assert {t.status for t in tasks.values() if t.error_type == "interrupted"} <= {"skipped"}
    assert job["stats"]["status_counts"]["4xx"] == len(challenged)


def test_a_challenged_start_page_fails_the_job_at_once(live_client, make_org, engine, challenging_site):
    _, origin = challenging_site(lambda path: True)
    job = run_crawl(live_client, make_org(), origin, concurrency=2)
    assert job["status"] == "failed" and job["error"].startswith("blocked_by_firewall: Cloudflare")


def test_one_challenged_page_among_good_ones_does_not_stop_the_crawl(live_client, make_org, engine, challenging_site):
    _, origin = challenging_site(lambda path: path == "/p7")
    job = run_crawl(live_client, make_org(), origin, use_sitemap=False, concurrency=2)
    assert job["status"] == "completed", job["error"]
    tasks = tasks_of(engine, job["id"])
    assert len(tasks) == PAGES + 1
    assert [t.url.rsplit("/", 1)[1] for t in tasks.values() if t.error_type == "firewall_challenge"] == ["p7"]
