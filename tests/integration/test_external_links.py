"""External link checks and an aimed crawl, on real servers: `site.test` and the other sites it links
to are loopback servers on ports of their own (tests/sites/outbound.py), every name pinned to
127.0.0.1 with CRAWL_HOST_MAP; the resolver refuses any other name (CRAWL_LOOPBACK_ONLY) and the
private-address test uses 127.0.0.2. Ad-hoc crawls (`scrapy crawl site -O records.jsonl`) here;
tests/integration/test_external_jobs.py runs them as jobs (cache, stats, issues, secrets)."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from xml.etree import ElementTree
from http.server import BaseHTTPRequestHandler

import pytest

from contract.paths import PROJECT_ROOT
from tests.sites.outbound import OtherSite, OutboundSite, SilentPort, _Server, dead_port, html

pytestmark = pytest.mark.integration

HOSTS = ("site.test", "ext.test", "www.linkedin.com", "dead.test", "silent.test", "retry.test")


def crawl_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "CRAWL_HOST_MAP": ",".join(f"{host}=127.0.0.1" for host in HOSTS),
            "ALLOW_PRIVATE_TARGETS": "1", "CHECK_EXTERNAL_LINKS": "1", "CRAWL_LOOPBACK_ONLY": "1",
            "EXTERNAL_TIMEOUT_SECONDS": "2", "EXTERNAL_DELAY_SECONDS": "0.05", "DATABASE_URL": "sqlite:///nowhere/x.db",
            "CRAWL_PROCESSES": "1", **extra}  # fmt: skip


def crawl(tmp_path, site_port: int, *args: str, env: dict | None = None, exit_code: int = 0) -> list[dict]:
    output = tmp_path / "records.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"domain=http://site.test:{site_port}", "-O",
         str(output), "-s", "LOG_LEVEL=DEBUG", *args],
        cwd=PROJECT_ROOT, env=env or crawl_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    (tmp_path / "crawl.log").write_text(result.stderr)
    assert result.returncode == exit_code, result.stderr[-3000:]
    return [json.loads(line) for line in output.read_text().splitlines()] if output.exists() else []


@pytest.fixture
def other():
    server = OtherSite()
    yield server
    server.close()


@pytest.fixture
def silent():
    port = SilentPort()
    yield port
    port.close()


def test_each_kind_of_external_answer_is_checked_once_and_classified(tmp_path, other, silent):
    ext = f"http://ext.test:{other.port}"
    links = {
        "ok": f"{ext}/ok", "head_refused": f"{ext}/head-refused", "missing": f"{ext}/missing", "retry": f"{ext}/retry",
        "out_and_back": f"{ext}/out", "linkedin": f"http://www.linkedin.com:{other.port}/robots999",
        "dead": f"http://dead.test:{dead_port()}/", "silent": f"http://silent.test:{silent.port}/",
    }  # fmt: skip
    site = OutboundSite(200, [*links.values(), "mailto:someone@ext.test", "tel:+100", "javascript:void(0)"])
    other.site_port = site.port
    try:
        started = time.monotonic()
        records = crawl(tmp_path, site.port)
        elapsed = time.monotonic() - started
    finally:
        site.close()
    external = {record["url"]: record for record in records if record["kind"] == "external"}
    assert set(external) == set(links.values())  # mailto:, tel: and javascript: are not links to check

    def outcome(name):
        record = external[links[name]]
        return record["status"], record["http_status"], record["error_type"], record["is_broken"]

    assert outcome("ok") == ("completed", 200, None, False)
    assert outcome("head_refused") == ("completed", 200, None, False)  # 405 to HEAD, fine to GET
    assert outcome("missing") == ("failed", 404, "http_error", True)
    assert outcome("retry") == ("completed", 200, None, False)  # 429 + Retry-After: 1, then fine
    assert outcome("linkedin") == ("failed", 999, "refused_to_robots", False)  # apart, not broken
    assert outcome("dead") == ("failed", None, "connection_refused", True)
    assert outcome("silent") == ("failed", None, "timeout", True)
    back = external[links["out_and_back"]]
    assert back["status"] == "completed" and back["final_url"] == f"http://site.test:{site.port}/back"
    assert [hop["status"] for hop in back["redirect_chain"]] == [302, 200]
    # Linked from 200 pages, each checked once: HEAD, and GET only where HEAD was refused or failed.
    assert other.hits["HEAD", "/ok"] == 1 and other.hits["GET", "/ok"] == 0
    assert (other.hits["HEAD", "/head-refused"], other.hits["GET", "/head-refused"]) == (1, 1)
    assert (other.hits["HEAD", "/missing"], other.hits["GET", "/missing"]) == (1, 1)
    assert other.hits["HEAD", "/retry"] == 2  # the 429, then the retry after Retry-After
    # Every page that links to a broken URL is named (up to 50 in the record; late ones go to the database).
    assert len(external[links["missing"]]["referrers"]) >= 10
    assert all(referrer.startswith(f"http://site.test:{site.port}/p/") for referrer in external[links["missing"]]["referrers"])
    # Not against max_pages, and the crawl's own pages are all there.
    pages = [record for record in records if record["kind"] == "page"]
    assert len(pages) == 201 and all(record["status"] == "completed" for record in pages)
    assert elapsed < 60


def test_external_checks_do_not_count_against_max_pages(tmp_path, other):
    site = OutboundSite(5, [f"http://ext.test:{other.port}/ok", f"http://ext.test:{other.port}/missing"])
    try:
        records = crawl(tmp_path, site.port, "-a", "max_pages=3")
    finally:
        site.close()
    fetched = [r for r in records if r["kind"] == "page" and r["status"] != "skipped"]
    external = [r for r in records if r["kind"] == "external"]
    assert len(fetched) == 3 and len(external) == 2


def test_check_external_links_off_and_the_instance_switch_request_nothing(tmp_path, other):
    site = OutboundSite(3, [f"http://ext.test:{other.port}/ok"])
    try:
        by_option = crawl(tmp_path, site.port, "-a", "check_external_links=false")
        by_instance = crawl(tmp_path, site.port, env=crawl_env(CHECK_EXTERNAL_LINKS="0"))
    finally:
        site.close()
    for records in (by_option, by_instance):
        assert [r for r in records if r["kind"] == "external"] == []
    assert other.paths() == []


def test_a_private_external_target_is_refused_not_fetched(tmp_path):
    """The guard of the job's own domain (ALLOW_PRIVATE_TARGETS off): 127.0.0.2 is a loopback address,
    so it is refused before any connection; a server listens there to prove it is not asked."""
    private = _Server(("127.0.0.2", 0), BaseHTTPRequestHandler)
    requests = []
    private.RequestHandlerClass = type("Count", (BaseHTTPRequestHandler,), {
        "do_HEAD": lambda self: requests.append(self.path), "do_GET": lambda self: requests.append(self.path)})
    threading.Thread(target=private.serve_forever, daemon=True).start()
    target = f"http://127.0.0.2:{private.server_address[1]}/intranet"
    site = OutboundSite(1, [target])
    try:
        # site.test is pinned (an operator's explicit choice, trusted); the link's literal is checked.
        records = crawl(tmp_path, site.port, env=crawl_env(ALLOW_PRIVATE_TARGETS="0", CRAWL_LOOPBACK_ONLY="0"))
    finally:
        site.close()
        private.shutdown()
        private.server_close()
    (record,) = [r for r in records if r["kind"] == "external"]
    assert (record["url"], record["status"], record["error_type"], record["is_broken"]) == (
        target, "failed", "forbidden_target", False)
    assert requests == []


def test_at_most_two_checks_at_a_time_per_external_host(tmp_path):
    """Ten slow URLs on one host, and the crawl's own concurrency at 20: the host never sees more than 2."""
    state = {"active": 0, "peak": 0}
    lock = threading.Lock()

    class Slow(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:
            with lock:
                state["active"] += 1
                state["peak"] = max(state["peak"], state["active"])
            time.sleep(0.3)
            with lock:
                state["active"] -= 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    slow = _Server(("127.0.0.1", 0), Slow)
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    site = OutboundSite(3, [f"http://ext.test:{slow.server_address[1]}/{index}" for index in range(10)])
    try:
        records = crawl(tmp_path, site.port, "-a", "concurrency=20")
    finally:
        site.close()
        slow.shutdown()
        slow.server_close()
    assert len([r for r in records if r["kind"] == "external" and r["status"] == "completed"]) == 10
    assert state["peak"] == 2


def test_include_exclude_and_max_depth_shape_what_is_requested(tmp_path, other):
    extra = {"/deep/1": ["/deep/2"], "/deep/2": ["/deep/3"], "/deep/3": []}
    site = OutboundSite(12, [f"http://ext.test:{other.port}/ok"], extra_paths=extra)
    try:
        records = crawl(tmp_path, site.port, "-a", r"exclude=/p/1\d$", "-a", "max_depth=2",
                        "-a", "check_external_links=false")  # fmt: skip
        requested = set(site.paths())
    finally:
        site.close()
    by_path = {r["url"].split(str(site.port), 1)[1]: r for r in records}
    assert {"/p/10", "/p/11"} & requested == set()
    assert (by_path["/p/10"]["status"], by_path["/p/10"]["error_type"]) == ("skipped", "excluded")
    assert {"/p/1", "/p/9", "/deep/1", "/deep/2"} <= requested and "/deep/3" not in requested
    assert by_path["/deep/3"]["error_type"] == "max_depth"

    site = OutboundSite(12, [], extra_paths=extra)
    try:
        records = crawl(tmp_path, site.port, "-a", "include=/p/[0-3]$", "-a", "check_external_links=false")
        requested = set(site.paths())
    finally:
        site.close()
    assert requested - {"/robots.txt", "/sitemap.xml", "/sitemap_index.xml"} == {"/", "/p/0", "/p/1", "/p/2", "/p/3"}
    skipped = {r["url"].split(str(site.port), 1)[1] for r in records if r["error_type"] == "excluded"}
    assert skipped == {f"/p/{index}" for index in range(4, 12)} | {"/deep/1"}  # /deep/2 is linked from /deep/1 only


def test_a_staging_site_behind_basic_auth_is_crawled_with_credentials_sent_to_it_only(tmp_path, other):
    other_link = f"http://ext.test:{other.port}/ok"
    site = OutboundSite(3, [other_link], credentials=("preview", "pw-7310"))
    try:
        refused = crawl(tmp_path, site.port, "-a", "use_sitemap=false")
        crawled = crawl(tmp_path, site.port, "-a", "basic_auth=preview:pw-7310", "-a", "headers=X-Staging-Token: tok-5521")
        log = (tmp_path / "crawl.log").read_text()
        site_log = list(site.log)
    finally:
        site.close()
    start = refused[0]
    assert (start["http_status"], start["status"]) == (401, "failed") and len(refused) == 1
    pages = [r for r in crawled if r["kind"] == "page"]
    assert len(pages) == 4 and all(r["http_status"] == 200 for r in pages)
    # Every request to the site carried both (robots.txt included); the other site saw neither.
    with_credentials = [entry for entry in site_log if entry[2] and entry[3] == "tok-5521"]
    assert {path for _, path, _, _ in with_credentials} >= {"/", "/robots.txt", "/p/0", "/p/1", "/p/2"}
    assert [entry for entry in other.log if entry[2] or entry[3]] == [] and other.hits["HEAD", "/ok"] == 1
    # The password is in no record and no log line.
    assert "pw-7310" not in log and "tok-5521" not in log
    assert "pw-7310" not in (tmp_path / "records.jsonl").read_text()


def test_a_hubs_workers_send_the_credentials_and_leave_external_checks_to_the_hub(tmp_path, other):
    """Two processes from the first URL: the worker fetches a share of the pages with the job's
    credentials (handed over in its environment, not its arguments), and every external link it
    finds is checked once, by the hub."""
    site = OutboundSite(60, [f"http://ext.test:{other.port}/ok", f"http://ext.test:{other.port}/missing"],
                        credentials=("preview", "pw-7310"))  # fmt: skip
    try:
        records = crawl(tmp_path, site.port, "-a", "basic_auth=preview:pw-7310", "-a", "use_sitemap=false",
                        "-s", "CRAWL_HUB_START_THRESHOLD=0", env=crawl_env(CRAWL_PROCESSES="2"))  # fmt: skip
    finally:
        site.close()
    log = (tmp_path / "crawl.log").read_text()
    assert "started 1 workers" in log and "pw-7310" not in log
    sent = re.search(r"'hub/sent_to_workers': (\d+)", log)
    assert sent and int(sent.group(1)) > 10  # the worker fetched its share
    pages = [r for r in records if r["kind"] == "page"]
    assert len(pages) == 61 and all(r["http_status"] == 200 for r in pages), [r for r in pages if r["http_status"] != 200][:3]
    external = {r["url"]: r for r in records if r["kind"] == "external"}
    assert len(external) == 2 and other.hits["HEAD", "/ok"] == 1 and other.hits["HEAD", "/missing"] == 1


def test_adhoc_concurrency_takes_effect(tmp_path):
    """`-a concurrency=N` was accepted and silently ignored: the site now sees at most N at a time."""
    state = {"active": 0, "peak": 0}
    lock = threading.Lock()
    pages = [f"/p/{index}" for index in range(30)]

    class Site(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with lock:
                state["active"] += 1
                state["peak"] = max(state["peak"], state["active"])
            time.sleep(0.05)
            body = html(pages) if self.path == "/" else html([])
            with lock:
                state["active"] -= 1
            self.send_response(200 if self.path != "/robots.txt" else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        peaks = {}
        for concurrency in (2, 10):
            state["peak"] = 0
            crawl(tmp_path, server.server_address[1], "-a", f"concurrency={concurrency}", "-a", "use_sitemap=false")
            peaks[concurrency] = state["peak"]
    finally:
        server.shutdown()
        server.server_close()
    assert peaks[2] == 2 and peaks[10] > 2, peaks


def test_no_name_is_looked_up_in_the_test_environment(tmp_path):
    """CRAWL_LOOPBACK_ONLY (set for the whole suite by tests/conftest.py): a name that is not pinned is
    refused without a look-up, so no test can reach a public address by mistake."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    site = OutboundSite(1, [f"http://example.com:{port}/", f"http://ext.test:{port}/"])
    try:
        records = crawl(tmp_path, site.port)
    finally:
        site.close()
    by_url = {r["url"]: r for r in records if r["kind"] == "external"}
    assert by_url[f"http://example.com:{port}/"]["error_type"] == "forbidden_target"
    assert "CRAWL_LOOPBACK_ONLY" in by_url[f"http://example.com:{port}/"]["error"]
    assert by_url[f"http://ext.test:{port}/"]["error_type"] == "connection_refused"  # pinned: connected to loopback


def test_a_ci_run_writes_junit_and_markdown_reports_and_fails_on_broken_links(tmp_path, other):
    missing = f"http://ext.test:{other.port}/missing"
    site = OutboundSite(3, [f"http://ext.test:{other.port}/ok", missing], extra_paths={"/extra": ["/nowhere"]})
    junit, markdown = tmp_path / "links.xml", tmp_path / "links.md"
    try:
        crawl(tmp_path, site.port, "-O", f"{junit}:junit", "-O", f"{markdown}:markdown", "-a", "fail_on=broken",
              exit_code=3)  # fmt: skip
        log = (tmp_path / "crawl.log").read_text()
        clean = crawl(tmp_path, site.port, "-a", "fail_on=broken", "-a", r"exclude=/extra|/missing")
    finally:
        site.close()
    assert "2 broken links found (-a fail_on=broken): exit status 3" in log
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert int(suite.get("failures")) == 2 and int(suite.get("tests")) == len(cases)
    nowhere = f"http://site.test:{site.port}/nowhere"
    assert {name for name, case in cases.items() if case.find("failure") is not None} == {missing, nowhere}
    assert cases[missing].find("failure").get("message") == "HTTP 404"
    assert f"http://site.test:{site.port}/p/0" in cases[missing].find("failure").text
    assert cases[nowhere].get("classname") == "links.page" and cases[missing].get("classname") == "links.external"
    text = markdown.read_text()
    assert "**2 broken**" in text and f"| {missing} | external | HTTP 404 |" in text and nowhere in text
    assert all(not record["is_broken"] for record in clean)  # exit 0 (crawl() checks it) without broken links


def test_an_unknown_fail_on_is_refused(tmp_path):
    result = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "site", "-a", "domain=site.test", "-a", "fail_on=slow"],
                            cwd=PROJECT_ROOT, env=crawl_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    # A usage error (2), never read as "broken links found" (3, crawler/ci.py BROKEN_EXIT_CODE).
    assert result.returncode == 2 and "-a fail_on='slow': expected one of broken" in result.stderr


def test_distinct_external_urls_past_the_instance_bound_are_counted_not_checked(tmp_path, other):
    site = OutboundSite(2, [f"http://ext.test:{other.port}/ok?n={index}" for index in range(30)])
    try:
        records = crawl(tmp_path, site.port, "-s", "CRAWL_EXTERNAL_MAX_URLS=10")
    finally:
        site.close()
    assert len([r for r in records if r["kind"] == "external"]) == 10
    assert "'external/not_checked': 20" in (tmp_path / "crawl.log").read_text()
    assert len({path for _, path in other.hits}) == 10
