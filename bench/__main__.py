"""`make bench` / `python -m bench`: measure the crawler and the API, print one markdown table.

Progress goes to stderr as it runs; the table goes to stdout at the end and to
bench/out/results.md (bench/out is git-ignored; it also keeps the generated sites, reused across
runs, and the crawl logs of the last run under bench/out/logs). docs/performance.md explains
every figure.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000, help="pages of the synthetic site (default 1000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each crawl measurement (median, min–max)")
    parser.add_argument("--concurrency", type=int, default=20, help="CONCURRENT_REQUESTS of every crawl (default 20)")
    parser.add_argument("--concurrency-sweep", action="store_true", help="also measure every crawl figure at 64")
    parser.add_argument("--scale", action="store_true",
                        help="also crawl 10,000- and 100,000-page sites once with the pipeline on (peak RSS); minutes")
    parser.add_argument("--processes", type=int, default=2,
                        help="also crawl with the pipeline on in this many processes (CRAWL_PROCESSES; 1 = skip)")
    parser.add_argument("--api-skip", action="store_true", help="skip the API latency part (PostgreSQL)")
    parser.add_argument("--only", choices=("crawl", "api"), help="run only the crawl part or only the API part")
    args = parser.parse_args(argv)
    if args.pages < 10 or args.runs < 1 or not 1 <= args.concurrency <= 100:
        parser.error("--pages must be >= 10, --runs >= 1, --concurrency 1..100 (the API's limit)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Imported here so that `--help` works before anything heavy is installed.
    from bench.report import Table
    from bench.server import ensure_tools, log
    from bench.suite import Findings, run_crawl_suite

    started = time.monotonic()
    OUT.mkdir(exist_ok=True)
    shutil.rmtree(OUT / "logs", ignore_errors=True)
    (OUT / "logs").mkdir()
    table, findings = Table(), Findings()
    if args.only != "api":
        table.notes += ensure_tools()
        run_crawl_suite(args, table, OUT, findings)
    if args.only != "crawl" and not args.api_skip:
        import psycopg2

        from bench import api

        try:
            api.measure(table)
        except psycopg2.OperationalError as exc:  # no server on this machine: say so, keep the crawl figures
            log(f"PostgreSQL at {api.ADMIN_URL} is unreachable: {exc}")
            table.notes.append(f"API latency not measured: PostgreSQL at {api.ADMIN_URL} is unreachable (BENCH_PG_URL)")
    elapsed = time.monotonic() - started
    header = (
        f"Bench run {datetime.now():%Y-%m-%d %H:%M}: {args.pages:,} pages, {args.runs} run(s), concurrency "
        f"{args.concurrency}{' and 64' if args.concurrency_sweep else ''}{', --scale' if args.scale else ''}; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.machine()}; took {elapsed:.0f} s"
    )  # fmt: skip
    findings_lines = findings.lines()
    if findings_lines:
        table.notes.append("Crawl log findings (ERROR/WARNING lines, deduplicated):")
        table.notes += [f"  {line}" for line in findings_lines]
    text = table.markdown(header)
    print(text)
    (OUT / "results.md").write_text(text)
    log(f"table written to {OUT / 'results.md'}; crawl logs in {OUT / 'logs'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
