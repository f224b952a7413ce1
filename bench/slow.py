"""Slow origins (`--only slow`): the real trees served with every page held 50–300 ms (nginx's js
module, bench/nginxconf.py), ours against linkinator at the same concurrency (20 and 100).

For each concurrency, run and tree, each tool crawls once (the order alternates from run to run):
- **ours**: a whole ad-hoc `scrapy crawl site` process (start-up included), default CRAWL_PROCESSES,
  with a JSON-lines feed: its records give the site's link tree (each URL's referrer);
- **linkinator** at `--concurrency C`, the same scope as in the real part (bench/tools.py).
Measured: wall, CPU (os.wait4), pages and URLs (nginx's log), pages/s against the ideal crawl of
the tree's shape and latencies, and the requests in flight at the origin (bench/inflight.py).
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import accesslog, proc, tools
from bench.crawl import crawler_env
from bench.inflight import ideal_seconds, in_flight
from bench.nginxconf import hold_ms
from bench.real import site_vhosts
from bench.server import log
from bench.trees import html_files
from bench.vhosts import Vhost, Vhosts
from contract.paths import PROJECT_ROOT

OURS, BASELINE, LINKINATOR = "ours", "baseline", "linkinator"
NOMINAL_LATENCY = 0.175  # mean hold of a page (50–300 ms, uniform)


@dataclass
class SlowRun:
    tool: str
    concurrency: int
    seconds: float
    cpu_seconds: float
    pages: int
    urls: int
    span: float = 0.0  # the origin's view: first request arrived → last answer sent
    ideal: float = 0.0
    median_in_flight: float | None = None
    median_when_known: float | None = None
    peak_in_flight: int | None = None


def parents_from_feed(feed: Path, origin: str) -> dict[str, str | None]:
    """URI -> URI of its referrer (None for the start) from our crawl's records."""
    parents: dict[str, str | None] = {}
    cut = len(origin)
    with feed.open() as lines:
        for line in lines:
            record = json.loads(line)
            url, referrer = record.get("url", ""), record.get("referrer")
            if not url.startswith(origin):
                continue
            parents[url[cut:] or "/"] = referrer[cut:] or "/" if referrer and referrer.startswith(origin) else None
    return parents


def latency_of(uri: str) -> float:
    return hold_ms(uri) / 1000.0 or 0.001  # what is not held answers in about a millisecond


class SlowOrigins:
    def __init__(self, args, workdir: Path, out: Path):
        self.args, self.workdir, self.out = args, workdir, out
        self.concurrencies = args.slow_concurrency
        self.runs: dict[tuple[str, int], list[SlowRun]] = {}
        self.problems: list[str] = []
        self.linkinator = tools.ensure_linkinator(log)
        if not self.linkinator:
            self.problems.append("linkinator could not be installed (npm): its rows are missing")

    def measure(self) -> str:
        vhosts, about = site_vhosts(self.args, self.out)
        for vhost in vhosts:
            vhost.delay = True
        kinds = [OURS, *([BASELINE] if self.args.baseline else []), *([LINKINATOR] if self.linkinator else [])]
        with Vhosts(vhosts):
            for run in range(1, self.args.runs + 1):
                for concurrency in self.concurrencies:
                    for vhost in vhosts:
                        parents: dict[str, str | None] = {}
                        pair = [self.one(kind, vhost, concurrency, f"{vhost.name}-c{concurrency}-run{run}", parents)
                                for kind in (kinds if run % 2 else kinds[::-1])]  # fmt: skip
                        for result, hits in pair:  # the tree (from ours' records) is known once both ran
                            self.count_in_flight(result, hits, parents)
                            self.runs.setdefault((vhost.name, concurrency), []).append(result)
                            log(f"slow {vhost.name} c={concurrency} run {run} {result.tool}: {result.pages} pages in "
                                f"{result.seconds:.1f} s (ideal {result.ideal:.1f}), CPU {result.cpu_seconds:.1f} s, "
                                f"in flight median {result.median_in_flight} / when known {result.median_when_known}, "
                                f"peak {result.peak_in_flight}")  # fmt: skip
        return self.table(about)

    def one(self, kind: str, vhost: Vhost, concurrency: int, tag: str, parents: dict) -> tuple[SlowRun, list]:
        timeout = 300.0 + html_files(str(vhost.root)) * 0.3
        started = time.time()
        if kind in (OURS, BASELINE):
            root = self.args.baseline if kind == BASELINE else PROJECT_ROOT
            feed = self.workdir / f"slow-{tag}-{kind}.jl"
            command = [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"domain={vhost.origin}",
                       "-s", f"CONCURRENT_REQUESTS={concurrency}", "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={concurrency}",
                       "-s", "LOG_LEVEL=INFO", "-s", "LOGSTATS_INTERVAL=0", "-O", f"{feed}:jsonlines"]  # fmt: skip
            env = crawler_env(DATABASE_URL=f"sqlite:///{self.workdir / 'unused.db'}", PYTHONPATH=str(root))
            run = proc.run(command, env, root, self.workdir / f"slow-{tag}-{kind}.log", timeout)
            self.problems += [f"slow {vhost.name} {kind}: {line}" for line in run.problems(3)]
            if kind == OURS:
                parents.update(parents_from_feed(feed, vhost.origin))
        else:
            command = tools.linkinator_command(vhost.start_url, vhost.origin, concurrency)
            run = proc.run(command, dict(os.environ), self.workdir, self.workdir / f"slow-{tag}-linkinator.log",
                           timeout, tools.LINKINATOR_OK_CODES)  # fmt: skip
        hits = [hit for hit in vhost.hits() if started <= hit.time <= time.time()]
        counts = accesslog.count(hits)
        span = max(hit.time for hit in hits) - min(hit.arrived for hit in hits) if hits else 0.0
        return SlowRun(kind, concurrency, run.wall_seconds, run.cpu_seconds, counts.pages, counts.urls, span), hits

    @staticmethod
    def count_in_flight(result: SlowRun, hits: list, parents: dict[str, str | None]) -> None:
        result.ideal = ideal_seconds(parents, latency_of, result.concurrency)
        flight = in_flight(hits, parents, result.concurrency)
        if flight is not None:
            result.median_in_flight, result.median_when_known, result.peak_in_flight = \
                flight.median, flight.median_when_known, flight.peak  # fmt: skip

    def table(self, about: dict[str, str]) -> str:
        lines = [
            "Every page (a URI ending in `/` or `.html`) held 50–300 ms by nginx (njs timer, fixed per URI; mean "
            f"~{NOMINAL_LATENCY * 1000:.0f} ms), other files at once. Whole processes (start-up included); "
            "in flight counted at the origin from nginx's `$msec` and `$request_time`; medians of runs. "
            "**Ideal** = a crawler costing no time, breadth-first, `concurrency` requests in flight whenever "
            "that many URLs are known, on the same link tree and latencies (bench/inflight.py); it starts at the "
            "first request, so compare it with *first request → last answer* (the wall time adds the process's start-up).",
            "",
            "| tree | concurrency | tool | wall s | pages | pages/s | first request → last answer s | ideal s "
            "| (first → last) ÷ ideal | concurrency ÷ latency, pages/s "
            "| in flight at an arrival, median | the same while ≥ concurrency URLs known | peak in flight | CPU s |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for (tree, concurrency), runs in self.runs.items():
            ideal = statistics.median(run.ideal for run in runs if run.tool == OURS)
            for tool in (OURS, BASELINE, LINKINATOR):
                mine = [run for run in runs if run.tool == tool]
                if not mine:
                    continue
                wall = statistics.median(run.seconds for run in mine)
                span = statistics.median(run.span for run in mine)
                pages = statistics.median(run.pages for run in mine)
                label = {OURS: "ours", BASELINE: f"ours at {self.args.baseline}"}.get(tool, f"linkinator {tools.LINKINATOR_VERSION}")
                lines.append(
                    f"| {tree} | {concurrency} | {label} | {wall:.1f} | {pages:,.0f} | {pages / wall:.0f} "
                    f"| {span:.1f} | {ideal:.1f} | {span / ideal:.2f} | {concurrency / NOMINAL_LATENCY:.0f} | {_median(run.median_in_flight for run in mine)} "
                    f"| {_median(run.median_when_known for run in mine)} | {_median(run.peak_in_flight for run in mine)} "
                    f"| {statistics.median(run.cpu_seconds for run in mine):.1f} |")  # fmt: skip
        lines.append("")
        lines += [f"- {name}: {text}" for name, text in about.items()]
        return "\n".join(lines) + "\n"


def _median(values) -> str:
    present = [value for value in values if value is not None]
    return f"{statistics.median(present):.0f}" if present else "—"
