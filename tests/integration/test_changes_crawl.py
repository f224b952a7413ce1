"""What changed since the last crawl, end to end: a real website on loopback whose content changes
between two real crawls through real scrapyd, the comparison through the API, and the alerts
through the real webhook sender to a real receiver. SPEC "What changed since the last crawl"."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from tests.integration.conftest import run_crawl
from tests.integration.test_webhooks import create_webhook, receiver, start_sender, wait_until  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

SLOW_SECONDS = 1.3  # the page made slow: over the job's 1000 ms threshold, and far over 200 ms and +50 %
PLAIN = ("/about", "/products", "/a", "/b", "/slow-later")


class Server(ThreadingHTTPServer):
    # The default listen backlog of 5 drops connections when 8 links are fetched at once, and the
    # client's SYN is retried a second later: a page would look 1 s slower than it is.
    request_queue_size = 128


class ChangingSite:
    """A small site on an ephemeral loopback port whose pages a test rewrites between crawls:
    `pages` maps a path to (status, links, redirect target, delay in seconds)."""

    def __init__(self):
        self.pages: dict[str, tuple[int, tuple[str, ...], str | None, float]] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                status, links, location, delay = site.pages.get(self.path, (404, (), None, 0.0))
                time.sleep(delay)
                body = "".join(f'<a href="{link}">{link}</a>\n' for link in links)
                data = f"<!DOCTYPE html><html><head><title>{self.path}</title></head><body>{body}</body></html>".encode()
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def first_version(self) -> None:
        self.pages = {path: (200, (), None, 0.0) for path in PLAIN}
        self.pages.update({
            "/": (200, (*PLAIN, "/old-page", "/missing", "/go"), None, 0.0),
            "/old-page": (200, (), None, 0.0),
            "/go": (301, (), "/a", 0.0),
            # /missing is not served: a broken link
        })  # fmt: skip

    def second_version(self) -> None:
        """One page removed, one new broken link, one fixed, one page made slow, one redirect changed."""
        self.pages["/"] = (200, (*PLAIN, "/missing", "/go", "/new-missing"), None, 0.0)
        del self.pages["/old-page"]
        self.pages["/missing"] = (200, (), None, 0.0)
        self.pages["/slow-later"] = (200, (), None, SLOW_SECONDS)
        self.pages["/go"] = (301, (), "/b", 0.0)


@pytest.fixture
def changing_site():
    site = ChangingSite()
    site.first_version()
    yield site
    site.close()


OPTIONS = {"use_sitemap": False, "slow_page_threshold_ms": 1000}


def kind_urls(client, org, job_id: str, kind: str) -> list[str]:
    body = client.get(f"/v1/jobs/{job_id}/changes", query_string={"kind": kind}, headers=org.headers).get_json()
    return sorted(item["url"] for item in body["items"])


def test_two_crawls_of_a_changed_site_list_exactly_what_changed_and_alert_once(live_client, make_org, changing_site,
                                                                                receiver, start_sender):  # noqa: F811
    org = make_org("changes crawl")
    listener = receiver()
    hook = create_webhook(live_client, org, listener.url, events=["job.completed", "job.regressed"])
    start_sender()
    first = run_crawl(live_client, org, changing_site.origin, **OPTIONS)
    assert first["status"] == "completed", first
    first_changes = live_client.get(f"/v1/jobs/{first['id']}/changes", headers=org.headers)
    assert first_changes.status_code == 404 and first_changes.get_json()["error"]["code"] == "no_earlier_crawl"

    changing_site.second_version()
    second = run_crawl(live_client, org, changing_site.origin, **OPTIONS)
    assert second["status"] == "completed", second

    body = live_client.get(f"/v1/jobs/{second['id']}/changes", headers=org.headers).get_json()
    assert body["since_job_id"] == first["id"]
    expected = {
        "new_broken_links": ["/new-missing"], "fixed_broken_links": ["/missing"], "new_pages": [],
        "gone_pages": ["/old-page"], "status_changes": ["/go"], "slower_pages": ["/slow-later"], "faster_pages": [],
        "new_slow_pages": ["/slow-later"],
    }  # fmt: skip
    assert body["summary"] == {kind: len(paths) for kind, paths in expected.items()}
    for kind, paths in expected.items():
        assert kind_urls(live_client, org, second["id"], kind) == [changing_site.url(path) for path in paths], kind
    broken = live_client.get(f"/v1/jobs/{second['id']}/changes", query_string={"kind": "new_broken_links"},
                             headers=org.headers).get_json()["items"][0]  # fmt: skip
    assert broken["referrers"] == [changing_site.url("/")] and broken["after"]["http_status"] == 404
    redirect = live_client.get(f"/v1/jobs/{second['id']}/changes", query_string={"kind": "status_changes"},
                               headers=org.headers).get_json()["items"][0]  # fmt: skip
    assert (redirect["before"]["final_url"], redirect["after"]["final_url"]) == (changing_site.url("/a"), changing_site.url("/b"))
    assert body["avg_response_time"]["after"] > body["avg_response_time"]["before"]

    # Three messages: two job.completed (the first with changes null) and one job.regressed.
    wait_until(lambda: len(listener.requests) >= 3, 30, "three deliveries")
    time.sleep(1.5)  # room for a duplicate to show up, were there one
    events = [Webhook(hook["secret"]).verify(raw, headers) for headers, raw in listener.requests]
    by_type = sorted((event["type"], event["data"]["id"]) for event in events)
    assert by_type == sorted([("job.completed", first["id"]), ("job.completed", second["id"]), ("job.regressed", second["id"])])
    completed = {event["data"]["id"]: event for event in events if event["type"] == "job.completed"}
    assert completed[first["id"]]["data"]["changes"] is None
    regressed = next(event for event in events if event["type"] == "job.regressed")
    assert regressed["data"]["changes"] == completed[second["id"]]["data"]["changes"]
    assert regressed["data"]["changes"]["summary"] == body["summary"]
    assert regressed["data"]["changes"]["since_job_id"] == first["id"]
    assert regressed["data"]["status"] == "completed"
