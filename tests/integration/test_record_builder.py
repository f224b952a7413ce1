"""Records did not change when the crawler's record builders became one (crawler/records.py).

An ad-hoc crawl of tests/sites/records_site.py (every way a record is built: pages, resources,
redirect chains, loops, too many redirects, a bad Location, a redirect to a refused port, 404/500,
a timeout, a slow page, bodies cut on the wire and once decoded, CDN headers warmed, not warmed and
a warm fetch that fails, robots.txt skips, sitemaps good, gzip, missing, malformed, redirected and
refused) is compared field by field with data/records_before.jsonl, the records the crawler
produced before the change (captured on its code with RECORDS_FIXTURE_WRITE=1). Timings vary from
run to run: only whether each one is there is compared. Run once in one process and once with a
hub and a worker, whose records cross a process boundary (crawler/hub.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contract.paths import PROJECT_ROOT
from tests.integration.conftest import free_port
from tests.sites.records_site import BODY_CAP, RecordsSite

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parent / "data" / "records_before.jsonl"
TIMINGS = ("response_time_ms", "ttfb_ms", "warm_response_time_ms")


def normalised(records: list[dict], site: RecordsSite) -> list[dict]:
    """The records without what varies between runs: the ports, the timings' values, the order."""
    def ports(value):
        if isinstance(value, str):
            return value.replace(str(site.refused_port), "{refused}").replace(str(site.port), "{port}")
        if isinstance(value, list):
            return [ports(item) for item in value]
        if isinstance(value, dict):
            return {key: ports(item) for key, item in value.items()}
        return value

    out = []
    for record in records:
        record = ports(record)
        for name in TIMINGS:
            record[name] = None if record[name] is None else "<ms>"
        if record.get("referrers"):
            record["referrers"] = sorted(record["referrers"])
        out.append(record)
    return sorted(out, key=lambda record: (record["url"], record["kind"]))


def crawl(site: RecordsSite, tmp_path: Path, processes: int) -> list[dict]:
    output = tmp_path / "records.jsonl"
    env = {**os.environ, "ALLOW_PRIVATE_TARGETS": "1", "CRAWL_HOST_MAP": "", "CRAWL_PROCESSES": str(processes),
           "DATABASE_URL": "sqlite:///nowhere/x.db"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"domain={site.base}", "-a", "check_resources=true",
         "-a", "slow_page_threshold_ms=1000", "-O", str(output), "-s", f"CRAWL_BODY_MAX_BYTES={BODY_CAP}",
         "-s", "DOWNLOAD_TIMEOUT=2", "-s", "RETRY_TIMES=0", "-s", "CRAWL_HUB_START_THRESHOLD=0",
         "-s", "LOG_LEVEL=INFO"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    (tmp_path / "crawl.log").write_text(result.stderr)
    # Only the settings a hub hands its workers (crawler/roles.py WORKER_SETTINGS) are set here.
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in output.read_text().splitlines()]


@pytest.mark.parametrize("processes", [1, 2])
def test_every_record_is_what_the_crawler_recorded_before_its_builders_became_one(tmp_path, processes):
    with RecordsSite(refused_port=free_port()) as site:
        records = normalised(crawl(site, tmp_path, processes), site)
    if os.environ.get("RECORDS_FIXTURE_WRITE") and processes == 1:
        FIXTURE.parent.mkdir(exist_ok=True)
        FIXTURE.write_text("".join(json.dumps(record, sort_keys=True) + "\n" for record in records))
    before = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    assert [record["url"] for record in records] == [record["url"] for record in before]
    for now, then in zip(records, before):
        assert now == then, now["url"]
