"""Run one crawler process and account for it: wall time, CPU seconds, peak RSS, Scrapy stats.

CPU and memory come from `os.wait4` on the crawler's own pid, i.e. the kernel's rusage of exactly
that process (user + system CPU, `ru_maxrss` = peak resident set in KiB), which is what
`/usr/bin/time -v` prints, without counting the benchmark driver or the web server.
The crawl time is Scrapy's own `elapsed_time_seconds` (spider opened -> closed), read from the
stats dump at the end of the log, so interpreter start-up and imports are not counted as crawling.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

STAT_KEYS = ("elapsed_time_seconds", "response_received_count", "item_scraped_count", "finish_reason",
             "log_count/ERROR", "log_count/WARNING", "downloader/response_count")  # fmt: skip
PROBLEM = re.compile(r"\] (ERROR|WARNING|CRITICAL):|^Traceback", re.MULTILINE)


@dataclass
class ProcessRun:
    returncode: int
    wall_seconds: float
    cpu_seconds: float
    max_rss_mb: float
    log: str
    stats: dict = field(default_factory=dict)

    def problems(self, limit: int = 10) -> list[str]:
        """The crawl log's ERROR/WARNING lines and traceback heads (the bench reports them)."""
        lines = self.log.splitlines()
        found = []
        for number, line in enumerate(lines):
            if PROBLEM.search(line):
                found.append(line.strip()[:300] if not line.startswith("Traceback") else
                             " | ".join(l.strip() for l in lines[number:number + 12])[:600])  # fmt: skip
            if len(found) >= limit:
                break
        return found


def parse_stats(log: str) -> dict:
    """The values we use from Scrapy's final 'Dumping Scrapy stats' block (a pformat'ed dict)."""
    block = log[log.rfind("Dumping Scrapy stats"):] if "Dumping Scrapy stats" in log else ""
    stats = {}
    for key in STAT_KEYS:
        match = re.search(rf"'{re.escape(key)}': ('[^']*'|[\d.]+)", block)
        if match:
            value = match.group(1)
            stats[key] = value.strip("'") if value.startswith("'") else float(value)
    return stats


def run(command: list[str], env: dict[str, str], cwd: Path, log_path: Path, timeout: float,
        ok_codes: tuple[int, ...] = (0,)) -> ProcessRun:  # fmt: skip
    """Run `command` to the end (killed after `timeout` s), stdout+stderr to `log_path`; an exit
    code outside `ok_codes` raises (linkinator and wget exit non-zero when they found a broken link)."""
    started = time.monotonic()
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT)
    timer = threading.Timer(timeout, process.kill)  # every run is bounded in time
    timer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)  # we reaped it: tell Popen
    wall = time.monotonic() - started
    log = log_path.read_text(errors="replace")
    if process.returncode not in ok_codes:
        raise RuntimeError(f"{' '.join(command[:6])}... exited {process.returncode} after {wall:.0f} s "
                           f"(timeout {timeout:.0f} s); log: {log_path}\n{log[-2000:]}")  # fmt: skip
    return ProcessRun(
        returncode=process.returncode,
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024.0,
        log=log,
        stats=parse_stats(log),
    )


def count_feed_pages(feed: Path) -> tuple[int, Counter]:
    """(distinct pages fetched, why the other pages were not): a page is fetched when its
    `kind=page` record has an HTTP status; the rest are counted by `error_type`.

    Records without `kind` (the baseline spider's) all count as pages. Distinct URLs, because a
    plain CrawlSpider fetches its start URL twice (start requests bypass the duplicate filter)."""
    pages: set[str] = set()
    not_fetched: Counter = Counter()
    with feed.open(encoding="utf-8") as file:
        for line in file:
            record = json.loads(line)
            if record.get("kind", "page") != "page":
                continue
            if record.get("http_status", record.get("status")) is not None:
                pages.add(record["url"])
            else:
                not_fetched[record.get("error_type")] += 1
    return len(pages), not_fetched
