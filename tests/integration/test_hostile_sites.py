"""Hostile sites (tests/sites/hostile.py) against the real crawler: compression bombs on pages and
sitemaps, an endless chain of sitemap indexes (with a 42 MB urlset, under max_pages, and without
max_pages), a urlset past the protocol's 50,000 URLs. Ad-hoc crawls whose memory is sampled while
they run, and one job through the API and scrapyd."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter

import pytest

from contract.paths import PROJECT_ROOT
from tests.integration.conftest import run_crawl, tasks_of
from tests.sites.hostile import BOMB_SIZE, HostileServer

pytestmark = pytest.mark.integration

BODY_CAP = 2 * 1024 * 1024  # CRAWL_BODY_MAX_BYTES
SITEMAP_CAP = 52_428_800  # CRAWL_SITEMAP_MAX_BYTES
MAX_DOCUMENTS = 500  # CRAWL_SITEMAP_MAX_DOCUMENTS
MEMORY_GROWTH_LIMIT_MB = 50


def _memory_mb(pid: int) -> tuple[int | None, int | None]:
    """(VmRSS, VmHWM: the peak since the process started) in MB, None once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            fields = dict(line.split(":", 1) for line in status)
    except (OSError, ValueError):
        return None, None
    if "VmRSS" not in fields:  # exited, not yet reaped
        return None, None
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


class MeasuredCrawl:
    """An ad-hoc crawl of a hostile server, its records, its time, and its memory: `baseline_mb`
    when the site got its first request (Scrapy and the crawler loaded), `peak_mb` the highest
    resident size the process reached (VmHWM, read until it exits)."""

    def __init__(self, server: HostileServer, tmp_path, *args: str, timeout: float = 120.0):
        output = tmp_path / "pages.jsonl"
        env = {**os.environ, "ALLOW_PRIVATE_TARGETS": "1", "DATABASE_URL": "sqlite:///nowhere/x.db", "CRAWL_PROCESSES": "1"}
        started = time.monotonic()
        with open(tmp_path / "crawl.log", "w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"domain={server.base}/", "-O", str(output),
                 "-s", "LOG_LEVEL=INFO", *args], cwd=PROJECT_ROOT, env=env, stderr=log)  # fmt: skip
            self.baseline_mb = self.peak_mb = None
            try:
                while process.poll() is None:
                    rss, peak = _memory_mb(process.pid)
                    if self.baseline_mb is None and server.first_request_at is not None:
                        self.baseline_mb = rss
                    self.peak_mb = peak or self.peak_mb
                    assert time.monotonic() - started < timeout, f"the crawl still runs after {timeout} s"
                    time.sleep(0.02)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        self.seconds = time.monotonic() - started
        self.log = (tmp_path / "crawl.log").read_text()
        assert process.returncode == 0, self.log[-3000:]
        records = [json.loads(line) for line in output.read_text().splitlines()]
        self.records = {record["url"]: record for record in records}
        assert len(self.records) == len(records), "a URL was recorded twice"
        self.base = server.base

    def record(self, path: str) -> dict:
        return self.records[self.base + path]

    @property
    def growth_mb(self) -> int:
        return self.peak_mb - self.baseline_mb

    def stat(self, name: str) -> int:
        """A value of the crawl's stats dump (0 when absent)."""
        for line in self.log.splitlines():
            if f"'{name}':" in line:
                return int(line.split(":", 1)[1].strip().rstrip(",}"))
        return 0


# --- Compression bombs --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    with HostileServer("bombs") as server:
        yield MeasuredCrawl(server, tmp_path_factory.mktemp("bombs")), server.paths


@pytest.mark.parametrize("path, encoding", [("/bomb/gzip3", "gzip, gzip, gzip"), ("/bomb/gzip", "gzip"),
                                            ("/bomb/deflate", "deflate"), ("/bomb/br", "br")])  # fmt: skip
def test_a_compression_bomb_page_is_cut_at_the_body_cap_once_decoded(bombs, path, encoding):
    """A few hundred bytes (triple gzip, brotli) or 260 KB (gzip, deflate) that decode to 256 MiB."""
    crawl, _ = bombs
    page = crawl.record(path)
    assert (page["status"], page["truncated"]) == ("completed", True), page
    assert page["decoded_bytes"] == BODY_CAP < BOMB_SIZE
    assert page["bytes"] < 300_000  # the wire bytes, as sent
    assert page["error"].startswith("Body cut at the size cap once decoded"), page["error"]


@pytest.mark.parametrize("path, listed", [("/bomb-sitemap.xml.gz", "/from-gz-sitemap"),
                                          ("/bomb-sitemap.xml", "/from-ce-sitemap"),
                                          ("/bomb-sitemap-twice.xml.gz", "/from-twice-sitemap")])  # fmt: skip
def test_a_compression_bomb_sitemap_is_read_up_to_the_sitemap_cap(bombs, path, listed):
    """A .xml.gz file, a sitemap sent with Content-Encoding: gzip, and both at once: one URL, then
    256 MiB of blanks. The URL is crawled; the document is read up to 50 MB decoded and no further."""
    crawl, _ = bombs
    sitemap = crawl.record(path)
    assert (sitemap["kind"], sitemap["status"], sitemap["truncated"]) == ("sitemap", "completed", True), sitemap
    assert sitemap["decoded_bytes"] == SITEMAP_CAP < BOMB_SIZE
    assert sitemap["error"].startswith("Cut at the sitemap size cap"), sitemap["error"]
    assert (crawl.record(listed)["status"], crawl.record(listed)["found_via"]) == ("completed", "sitemap")


def test_the_crawl_goes_on_after_the_bombs_and_its_memory_stays_flat(bombs):
    crawl, _ = bombs
    assert crawl.record("/after-2")["status"] == "completed"  # linked from /after, after the bombs
    # Was 79 -> 1,625 MB: every bomb decoded whole, 256 MiB each, on the crawler's reactor thread.
    assert crawl.growth_mb < MEMORY_GROWTH_LIMIT_MB, (crawl.baseline_mb, crawl.peak_mb)


# --- Sitemap caps -------------------------------------------------------------------------------


def test_an_endless_sitemap_index_chain_is_bounded_by_the_documents_cap(tmp_path):
    """Every index lists three new ones, forever; no max_pages. 500 documents are read, the next
    is recorded skipped saying why, the rest are counted."""
    with HostileServer("chain") as server:
        crawl = MeasuredCrawl(server, tmp_path, timeout=60)
    kinds = Counter((record["kind"], record["status"], record["error_type"]) for record in crawl.records.values())
    assert kinds == {("sitemap", "completed", None): MAX_DOCUMENTS, ("sitemap", "skipped", "sitemap_limit"): 1,
                     ("page", "completed", None): 1}  # fmt: skip
    (skipped,) = [record for record in crawl.records.values() if record["error_type"] == "sitemap_limit"]
    assert f"limit of {MAX_DOCUMENTS} sitemap documents" in skipped["error"]
    assert crawl.stat("sitemaps/over_limit") > 1
    assert sum(1 for path in server.paths if path.startswith("/sitemap-index-")) == MAX_DOCUMENTS
    assert crawl.growth_mb < MEMORY_GROWTH_LIMIT_MB, (crawl.baseline_mb, crawl.peak_mb)


def test_a_urlset_of_more_than_50000_urls_is_read_up_to_50000(tmp_path):
    """50,000 entries for /same, then /beyond-1 .. /beyond-5: those five are never admitted."""
    with HostileServer("too_many_urls") as server:
        crawl = MeasuredCrawl(server, tmp_path, timeout=60)
    sitemap = crawl.record("/many.xml")
    assert (sitemap["status"], sitemap["truncated"]) == ("completed", True)
    assert sitemap["error"] == "More than 50000 entries: the rest were not read (the sitemap protocol's limit)"
    assert crawl.record("/same")["status"] == "completed"
    assert not [url for url in crawl.records if "/beyond-" in url]
    assert not [path for path in server.paths if path.startswith("/beyond-")]


def test_a_sitemap_index_chain_with_a_big_urlset_admits_max_pages_and_ends(live_client, make_org, engine):
    """The chain, and a 42 MB urlset in every index, for a job with max_pages 10, through the API
    and scrapyd. Was: still running after 2 min with 32,782 sitemap tasks and 833,459 total_tasks."""
    with HostileServer("chain", big=True) as server:
        started = time.monotonic()
        job = run_crawl(live_client, make_org(), server.base, timeout=60, max_pages=10)
        seconds = time.monotonic() - started
    assert job["status"] == "completed", job
    progress = job["progress"]
    assert progress["total_tasks"] == progress["completed_tasks"] == 10, progress
    tasks = tasks_of(engine, job["id"])
    kinds = Counter(task.kind for task in tasks.values())
    assert kinds["page"] == 10
    assert 0 < kinds["sitemap"] <= MAX_DOCUMENTS + 1
    big = tasks[server.base + "/big-urlset.xml"]
    assert big.error == "Not read to the end: the job's max_pages (10) pages were admitted"
    assert seconds < 60
    print(f"chain with max_pages 10: {seconds:.1f} s, progress {progress}, tasks {dict(kinds)}")
