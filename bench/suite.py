"""The crawl part of the bench: server ceiling, crawl phase (pipeline off/on), baseline, whole crawl
through the API, memory at scale. Runs of the three crawl-phase kinds are interleaved (off, on,
baseline, off, on, ...) so that a slow drift of the machine hits them alike."""
from __future__ import annotations

import re
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from bench import crawl
from bench.crawl_api import ApiCrawler
from bench.report import Figure, Table, ratio
from bench.server import SiteServer, ceiling, free_port, log
from bench.site import ensure_site, page_path, write_sitemaps

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(,\d+)? ")


class Findings:
    """Problems seen in crawl logs, deduplicated (timestamps removed), with how often each came up."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, where: str, problems: list[str]) -> None:
        for problem in problems:
            self.counts[f"{where}: {TIMESTAMP.sub('', problem)}"] += 1

    def lines(self) -> list[str]:
        return [f"{text} (x{count})" for text, count in self.counts.most_common()]


@contextmanager
def served(out: Path, pages: int, access_log: bool = False):
    """The site of `pages` pages (generated once, cached under bench/out/sites) on a fresh port."""
    root = ensure_site(out / "sites", pages, log)
    port = free_port()
    write_sitemaps(root, pages, f"http://127.0.0.1:{port}")
    server = SiteServer(root, port, access_log=access_log)
    try:
        with server:
            yield server
    finally:
        errors = server.errors()
        if errors:
            log(f"server error log:\n{errors[-2000:]}")
        server.cleanup()


def run_crawl_suite(args, table: Table, out: Path, findings: Findings) -> None:
    workdir = out / "logs"
    concurrencies = [args.concurrency] + ([64] if args.concurrency_sweep and args.concurrency != 64 else [])
    with served(out, args.pages) as server:
        url = server.origin + page_path(args.pages // 2, args.pages)
        log(f"server: {server.kind} at {server.origin}; wrk -t1 -c20 -d5s {url}")
        server_ceiling = table.add(Figure(f"Server ceiling ({server.kind}, wrk -t1 -c20 -d5s, one page)", "req/s",
                                          [v for v in [ceiling(url)] if v is not None], "1 run; the most any crawl could reach", 0))  # fmt: skip
        target = crawl.Target(server.origin, args.pages, workdir)
        for concurrency in concurrencies:
            _crawl_phase(args, table, target, concurrency, server_ceiling, findings)
    for concurrency in concurrencies:
        _through_api(args, table, out, workdir, concurrency, findings)
    if args.scale:
        for pages in (10_000, 100_000):
            if pages != args.pages:
                _at_scale(table, out, workdir, pages, args.concurrency, findings)


def _crawl_phase(args, table: Table, target: crawl.Target, c: int, server_ceiling: Figure, findings: Findings) -> None:
    n = f"{target.pages:,} pages"
    off, on, multi, base = ([] for _ in range(4))
    checks = []

    def pipeline_on_processes(target, c, tag):
        return crawl.crawl_pipeline_on(target, c, tag, processes=args.processes)

    kinds = [("pipeline off", off, crawl.crawl_ours), ("pipeline on", on, crawl.crawl_pipeline_on)]
    if args.processes > 1:
        kinds.append((f"pipeline on {args.processes} processes", multi, pipeline_on_processes))
    kinds.append(("baseline", base, crawl.crawl_baseline))
    for run in range(1, args.runs + 1):
        for kind, results, function in kinds:
            result = function(target, c, f"c{c}-run{run}-{kind.replace(' ', '-')}")
            results.append(result)
            findings.add(kind, result.problems)
            log(f"crawl c={c} run {run}/{args.runs} {kind}: {result.pages} pages in {result.crawl_seconds:.2f} s = "
                f"{result.pages_per_second:.0f} pages/s, {result.cpu_seconds:.2f} CPU s, {result.max_rss_mb:.0f} MB")  # fmt: skip
            if result.check:
                checks.append(f"{result.check['counters']} = {result.check['rows']}"
                              + (" ✓" if result.check["counters"] == result.check["rows"] else " ✗"))  # fmt: skip

    def fig(name, unit, results, attr, note="", digits=1):
        return table.add(Figure(f"{name} (c={c})", unit, [getattr(r, attr) for r in results], note, digits))

    how = f"{n}; pages / Scrapy elapsed_time_seconds"
    fetched = f"of {target.pages:,}"
    fast_off = fig("Crawl phase, pipeline off", "pages/s", off, "pages_per_second", how, 0)
    fig("↳ pages fetched, pipeline off", fetched, off, "pages", "distinct pages with an HTTP response", 0)
    share = ratio(fast_off, server_ceiling)
    table.add_value(f"↳ pipeline off as a share of the server ceiling (c={c})", None if share is None else share * 100,
                    "%", "medians: how far the crawler is from the server's limit", 1)  # fmt: skip
    fig("CPU per 1,000 pages, pipeline off", "CPU s", off, "cpu_per_1000_pages", "user+sys of the crawler process (wait4), start-up included", 2)
    fig("Peak RSS, pipeline off", "MB", off, "max_rss_mb", f"ru_maxrss, {n}", 0)
    fast_on = fig("Crawl phase, pipeline on (SQLite)", "pages/s", on, "pages_per_second", how, 0)
    fig("↳ pages fetched, pipeline on", fetched, on, "pages", "distinct pages with an HTTP response", 0)
    fig("CPU per 1,000 pages, pipeline on", "CPU s", on, "cpu_per_1000_pages", "user+sys, database writes included", 2)
    fig("Peak RSS, pipeline on", "MB", on, "max_rss_mb", f"ru_maxrss, {n}", 0)
    cost = 1 - ratio(fast_on, fast_off) if ratio(fast_on, fast_off) is not None else None
    table.add_value(f"Pipeline cost = 1 − on ÷ off (c={c})", None if cost is None else cost * 100, "%", "medians", 1)
    table.add_value(f"Job counters = task rows, pipeline on (c={c})", "; ".join(checks), "",
                    "completed+failed+skipped vs rows, each run")  # fmt: skip
    fast_base = fig("Baseline CrawlSpider", "pages/s", base, "pages_per_second", how + "; Scrapy defaults", 0)
    fig("↳ pages fetched, baseline", fetched, base, "pages", "distinct pages with an HTTP response", 0)
    fig("CPU per 1,000 pages, baseline", "CPU s", base, "cpu_per_1000_pages", "", 2)
    fig("Peak RSS, baseline", "MB", base, "max_rss_mb", "", 0)
    table.add_value(f"Ours (pipeline off) × baseline (c={c})", ratio(fast_off, fast_base), "×", "medians")
    table.add_value(f"Ours (pipeline on, 1 process) × baseline (c={c})", ratio(fast_on, fast_base), "×", "medians")
    if multi:
        fast_multi = fig(f"Crawl phase, pipeline on, {args.processes} processes", "pages/s", multi, "pages_per_second",
                         how + "; one hub + workers (CRAWL_PROCESSES)", 0)  # fmt: skip
        fig(f"↳ pages fetched, {args.processes} processes", fetched, multi, "pages", "distinct pages with an HTTP response", 0)
        fig(f"CPU per 1,000 pages, {args.processes} processes", "CPU s", multi, "cpu_per_1000_pages", "hub + workers", 2)
        fig(f"Peak RSS, {args.processes} processes", "MB", multi, "max_rss_mb", "largest process", 0)
        table.add_value(f"Ours (pipeline on, {args.processes} processes) × baseline (c={c})", ratio(fast_multi, fast_base),
                        "×", "medians")  # fmt: skip


def _through_api(args, table: Table, out: Path, workdir: Path, c: int, findings: Findings) -> None:
    results = []
    with served(out, args.pages, access_log=True) as server, ApiCrawler(workdir) as api:
        for run in range(1, args.runs + 1):
            result = api.crawl(server, c, args.pages, timeout=crawl.Target(server.origin, args.pages, workdir).timeout)
            results.append(result)
            findings.add("via API/scrapyd", result.problems)
            log(f"api crawl c={c} run {run}/{args.runs}: {result.pages} pages, POST->completed {result.seconds:.2f} s "
                f"= {result.pages_per_second:.0f} pages/s; POST->first request {result.first_request_seconds}")  # fmt: skip
    table.add(Figure(f"Whole crawl via API + scrapyd, POST → completed (c={c})", "pages/s",
                     [r.pages_per_second for r in results], f"{args.pages:,} pages; job completed_at − POST", 0))  # fmt: skip
    table.add(Figure(f"↳ pages fetched via API (c={c})", f"of {args.pages:,}", [r.pages for r in results],
                     "task rows of kind page with an HTTP status", 0))  # fmt: skip
    table.add(Figure(f"POST → first request at nginx (c={c})", "s",
                     [r.first_request_seconds for r in results if r.first_request_seconds is not None],
                     "first $msec in nginx's access log after the POST", 2))  # fmt: skip


def _at_scale(table: Table, out: Path, workdir: Path, pages: int, c: int, findings: Findings) -> None:
    log(f"scale: pipeline-on crawl of {pages:,} pages (one run)")
    with served(out, pages) as server:
        result = crawl.crawl_pipeline_on(crawl.Target(server.origin, pages, workdir), c, f"scale-{pages}")
    findings.add(f"scale {pages}", result.problems)
    log(f"scale {pages:,}: {result.pages_per_second:.0f} pages/s, {result.max_rss_mb:.0f} MB peak")
    table.add(Figure(f"Peak RSS, pipeline on, {pages:,} pages (c={c})", "MB", [result.max_rss_mb], "ru_maxrss, --scale", 0))
    table.add(Figure(f"Crawl phase, pipeline on, {pages:,} pages (c={c})", "pages/s", [result.pages_per_second], "--scale", 0))
    table.add(Figure(f"CPU per 1,000 pages, pipeline on, {pages:,} pages (c={c})", "CPU s",
                     [result.cpu_per_1000_pages], "--scale", 2))  # fmt: skip
