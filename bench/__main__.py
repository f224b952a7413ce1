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
PARTS = ("crawl", "api", "real", "slow", "many", "fleet", "changes")
ALL_TREES = ("python", "postgresql", "apache", "synthetic")
KNOWN_TREES = (*ALL_TREES, "git")


def trees_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in KNOWN_TREES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown tree(s) {', '.join(unknown) or '(none)'}; known: {', '.join(KNOWN_TREES)}")
    return names


def concurrency_list(text: str) -> list[int]:
    try:
        values = [int(value) for value in text.split(",") if value.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not values or not all(1 <= value <= 100 for value in values):
        raise argparse.ArgumentTypeError("each concurrency must be 1..100 (the API's limit)")
    return values


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
    parser.add_argument("--only", choices=PARTS, action="append",
                        help="run only this part (repeatable): crawl (synthetic site), api (latency), "
                             "real (real sites vs linkinator and wget), slow (the real sites as slow origins), "
                             "many (20 jobs at once), fleet (20 jobs at once on slow origins: pages per CPU-second), "
                             "changes (two crawls of 100,000 URLs compared, SQLite and PostgreSQL)")  # fmt: skip
    parser.add_argument("--trees", type=trees_list, default=list(ALL_TREES),
                        help=f"real part: which sites, comma-separated (default {','.join(ALL_TREES)}; also: git)")
    parser.add_argument("--slow-concurrency", type=concurrency_list, default=[20, 100],
                        help="slow part: the concurrencies to compare at, comma-separated (default 20,100)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="slow and fleet parts: also run ours from this source tree (e.g. `git archive` of an "
                             "older commit, with its .venv link), taking turns with this one: before/after in one run")
    parser.add_argument("--many-jobs", type=int, default=20, help="many part: jobs (sites) at once (default 20)")
    args = parser.parse_args(argv)
    args.only = args.only or list(PARTS)
    if args.pages < 10 or args.runs < 1 or not 1 <= args.concurrency <= 100 or not 1 <= args.many_jobs <= 100:
        parser.error("--pages must be >= 10, --runs >= 1, --concurrency 1..100 (the API's limit), --many-jobs 1..100")
    return args


def commit() -> str:
    """The commit the figures come from (`+dirty` when the work tree has changes)."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=OUT.parent).stdout.strip()

    return (git("rev-parse", "--short", "HEAD") or "unknown") + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Imported here so that `--help` works before anything heavy is installed.
    from bench.report import Table
    from bench.server import ensure_tools, log
    from bench.suite import Findings, run_crawl_suite

    started, measured_commit = time.monotonic(), commit()  # the code measured is the code at the start
    OUT.mkdir(exist_ok=True)
    shutil.rmtree(OUT / "logs", ignore_errors=True)
    (OUT / "logs").mkdir()
    table, findings = Table(), Findings()
    sections = []
    if {"crawl", "real", "slow", "many", "fleet"} & set(args.only):
        table.notes += ensure_tools()
    if "real" in args.only:
        from bench.real import RealSites

        real = RealSites(args, OUT / "logs", OUT)
        sections.append("## Real sites: ours, linkinator and wget side by side\n\n" + real.measure())
        findings.add("real sites", real.problems)
    if "slow" in args.only:
        from bench.slow import SlowOrigins

        slow = SlowOrigins(args, OUT / "logs", OUT)
        sections.append("## Slow origins: pages held 50–300 ms, ours and linkinator at the same concurrency\n\n"
                        + slow.measure())  # fmt: skip
        findings.add("slow origins", slow.problems)
    if "many" in args.only:
        from bench.many import ManyJobs

        many = ManyJobs(args, OUT / "logs", OUT)
        sections.append(f"## {args.many_jobs} jobs at once through the service\n\n" + many.measure())
        findings.add("many jobs", many.problems)
    if "fleet" in args.only:
        from bench.many import ManyJobs

        fleet = ManyJobs(args, OUT / "logs", OUT)
        sections.append(f"## Fleet cost: {args.many_jobs} jobs at once on slow origins\n\n" + fleet.fleet())
        findings.add("fleet", fleet.problems)
    if "crawl" in args.only:
        run_crawl_suite(args, table, OUT, findings)
    if "api" in args.only and not args.api_skip:
        import psycopg2

        from bench import api

        try:
            api.measure(table)
        except psycopg2.OperationalError as exc:  # no server on this machine: say so, keep the crawl figures
            log(f"PostgreSQL at {api.ADMIN_URL} is unreachable: {exc}")
            table.notes.append(f"API latency not measured: PostgreSQL at {api.ADMIN_URL} is unreachable (BENCH_PG_URL)")
    if "changes" in args.only:
        from bench import changes

        sections.append("## What changed since the last crawl: two crawls of 100,000 URLs compared\n\n"
                        + changes.measure(log))  # fmt: skip
    elapsed = time.monotonic() - started
    header = (
        f"Bench run {datetime.now():%Y-%m-%d %H:%M} at commit {measured_commit}: parts {','.join(args.only)}; "
        f"synthetic site {args.pages:,} pages, {args.runs} run(s), concurrency "
        f"{args.concurrency}{' and 64' if args.concurrency_sweep else ''}{', --scale' if args.scale else ''}; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.machine()}; took {elapsed:.0f} s"
    )  # fmt: skip
    findings_lines = findings.lines()
    if findings_lines:
        table.notes.append("Crawl log findings (ERROR/WARNING lines, deduplicated):")
        table.notes += [f"  {line}" for line in findings_lines]
    if table.rows:  # the synthetic-site crawl and API latency table, with the notes under it
        sections.append(table.markdown("## Synthetic site (crawl phase, through the API) and API latency"))
    elif table.notes:
        sections.append(table.notes_markdown() + "\n")
    text = "\n".join([header, "", *sections])
    print(text)
    (OUT / "results.md").write_text(text)
    log(f"table written to {OUT / 'results.md'}; crawl logs in {OUT / 'logs'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
