"""CPU per page of the crawler on a real documentation tree, and a check that its records did not change.

    python -m bench.profile_real TREE [TREE ...] [--runs 3] [--save DIR] [--compare DIR] [--profile DIR]

Each TREE (a directory such as /usr/share/doc/postgresql-doc-15/html) is served by nginx on an
ephemeral 127.0.0.1 port (a generated nginx.conf in a temporary directory, autoindex off, one
worker, `X-Cache-Status: HIT` as bench/server.py sends, so no page is fetched twice to warm a
cache) and crawled `--runs` times in one process (`CRAWL_PROCESSES=1`), the pipeline off (an
ad-hoc crawl), `-O` a JSON-lines feed. CPU = user + system seconds of the crawler process from
`os.wait4` on its pid. The fixed start-up cost is measured the same way on a one-page tree
(an empty index.html: imports, robots.txt and sitemap look-ups, the feed, shutdown), so two figures
are printed per tree, medians of the runs: total CPU ÷ pages, and (CPU − start-up CPU) ÷ pages.

`--gzip` has nginx gzip-encode every text response (pages, sitemaps), as most real servers do, so
that the crawl decodes every body.

`--save DIR` keeps each tree's records, normalised (sorted by URL, without what varies with the order
concurrent fetches finish in: see `normalised`), as DIR/<name>.jsonl; `--compare DIR` diffs the last
run's against them and exits 1 on any difference or on a referrer that makes no sense: the "no
recorded field lost" check of a hot-path change. `--profile DIR` adds one
cProfile run per tree (DIR/<name>.prof; `python -m pstats` reads it). `--wget` also runs
`wget --spider -r` (bench/tools.py's command line) `--runs` times on the same server, in the same
run, and prints its CPU per page (its own count of files) beside ours, and the ratio: issue 23's
"CPU per page within 2x of wget's" as measured on one machine at one moment.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.nginxconf import Site, render
from bench.server import free_port
from bench.tools import WGET_OK_CODES, parse_wget, wget_command

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
# Vary with the machine's load, not with the crawler's logic: left out of the comparison.
VARYING_FIELDS = ("response_time_ms", "ttfb_ms", "is_slow", "warm_response_time_ms", "referrer", "referrers")

class Nginx:
    """nginx serving `root` on 127.0.0.1 until stopped (a context manager)."""

    def __init__(self, root: Path, gzip: bool = False):
        self.root = root
        self.gzip = gzip
        self.tmp = Path(tempfile.mkdtemp(prefix="profile-real-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Nginx:
        conf = self.tmp / "nginx.conf"
        conf.write_text(render(self.tmp, [Site(self.port, self.root, gzip=self.gzip)]))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(self.tmp)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"nginx did not start on port {self.port}: {self.tmp / 'error.log'}")

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)


def crawl(port: int, feed: Path, log: Path, profile: Path | None = None) -> float:
    """One ad-hoc crawl of the site on `port`; its CPU seconds (user + system)."""
    command = [PYTHON]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += [str(ROOT / ".venv" / "bin" / "scrapy"), "crawl", "site", "-a", f"domain=127.0.0.1:{port}",
                "-a", "start_path=/", "-s", "CRAWL_PROCESSES=1", "-s", "LOGSTATS_INTERVAL=0",
                "-s", "LOG_LEVEL=INFO", "-O", f"{feed}:jsonlines"]  # fmt: skip
    env = {**os.environ, "ALLOW_PRIVATE_TARGETS": "1", "CRAWL_PROCESSES": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"crawl exited {process.returncode}; log: {log}")
    return usage.ru_utime + usage.ru_stime


def wget_crawl(port: int, work: Path) -> tuple[float, int, float]:
    """One `wget --spider -r` of the site on `port`: (CPU seconds, files it counted, wall seconds)."""
    scratch = work / "wget"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    started = time.monotonic()
    process = subprocess.Popen(wget_command(f"http://127.0.0.1:{port}/", scratch), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)  # fmt: skip
    output = process.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) not in WGET_OK_CODES:
        raise RuntimeError(f"wget exited {os.waitstatus_to_exitcode(status)}: {output[-500:]}")
    return usage.ru_utime + usage.ru_stime, parse_wget(output)["downloaded"], wall


def read_records(feed: Path) -> list[dict]:
    with feed.open(encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def normalised(records: list[dict], port: int) -> list[str]:
    """One JSON line per record, sorted by URL, the site's ephemeral port written as SITE, without
    what varies from run to run with the order in which concurrent fetches finish: the timing fields,
    the referrer (which of the pages at the shortest depth was seen first) and the referrers of a
    broken link (those seen before its record was released), both checked by `inconsistencies`
    instead, and the byte counts of a body cut at the size cap (where the cut fell in a chunk)."""
    lines = []
    for record in records:
        record = {key: value for key, value in record.items() if key not in VARYING_FIELDS}
        if record.get("truncated"):
            record.pop("bytes", None)
            record.pop("decoded_bytes", None)
        line = json.dumps(record, sort_keys=True, ensure_ascii=False)
        lines.append(line.replace(f"127.0.0.1:{port}", "SITE"))
    return sorted(lines, key=lambda line: (json.loads(line)["url"], line))


def inconsistencies(records: list[dict]) -> list[str]:
    """What the comparison leaves out, checked for sense: a referrer is a recorded page one link
    shallower (as deep, for a redirect's target), and every referrer of a broken link was recorded."""
    depth_of = {record["url"]: record["depth"] for record in records}
    problems = []
    for record in records:
        referrer = record.get("referrer")
        if referrer is not None and record["found_via"] in ("link", "redirect"):
            step = 0 if record["found_via"] == "redirect" else 1
            if depth_of.get(referrer) != record["depth"] - step:
                problems.append(f"{record['url']}: referrer {referrer} at depth {depth_of.get(referrer)}")
        for page in record.get("referrers") or ():
            if page not in depth_of:
                problems.append(f"{record['url']}: referrer {page} not recorded")
    return problems


def report_difference(label: str, before: list[str], now: list[str]) -> int:
    """Print how two normalised record lists differ; 1 if they do."""
    changed = sorted(set(before) ^ set(now), key=lambda line: json.loads(line)["url"])
    if not changed and len(before) == len(now):
        print(f"  {label}: {len(now)} records, identical")
        return 0
    print(f"  {label}: {len(before)} records before, {len(now)} now, {len(changed)} lines differ:")
    for line in changed[:10]:
        print(f"    {'-' if line in before else '+'} {line[:600]}")
    return 1


def pages_fetched(records: list[dict]) -> int:
    return sum(1 for record in records if record.get("kind") == "page" and record.get("http_status") is not None)


def tree_name(tree: Path) -> str:
    return "-".join(part for part in tree.parts[-3:] if part not in ("/", "usr", "share", "doc", "html"))


def startup_cpu(runs: int, work: Path) -> float:
    """Median CPU of a crawl of a one-page site: what every crawl costs before its pages."""
    site = work / "one-page"
    site.mkdir(exist_ok=True)
    (site / "index.html").write_text("<!doctype html><title>one</title><p>one page</p>")
    with Nginx(site) as server:
        return statistics.median(crawl(server.port, work / "one.jsonl", work / "one.log") for _ in range(runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=3, help="crawls per tree (at least 1)")
    parser.add_argument("--save", type=Path, help="keep each tree's normalised records here")
    parser.add_argument("--compare", type=Path, help="diff each tree's normalised records against these")
    parser.add_argument("--profile", type=Path, help="also write one cProfile of each tree's crawl here")
    parser.add_argument("--wget", action="store_true", help="also measure wget --spider -r on each tree")
    parser.add_argument("--gzip", action="store_true", help="nginx sends every page gzip-encoded")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="profile-real-work-"))
    differences = 0
    try:
        startup = startup_cpu(max(args.runs, 1), work)
        print(f"start-up CPU (one-page site, median of {args.runs}): {startup:.3f} s", flush=True)
        wget_columns = " wget files | wget CPU/page ms | ours ÷ wget (whole) | ours ÷ wget (minus start-up) |"
        print("| tree | pages | CPU s (runs) | CPU/page ms | (CPU - start-up)/page ms |" + (wget_columns if args.wget else ""))
        print("|---|---|---|---|---|" + ("---|---|---|---|" if args.wget else ""))
        for tree in args.trees:
            name = tree_name(tree)
            feed, log = work / f"{name}.jsonl", work / f"{name}.log"
            with Nginx(tree.resolve(), gzip=args.gzip) as server:
                cpus = [crawl(server.port, feed, log) for _ in range(max(args.runs, 1))]
                wgets = [wget_crawl(server.port, work) for _ in range(max(args.runs, 1))] if args.wget else []
                if args.profile:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    crawl(server.port, work / "profiled.jsonl", log, profile=args.profile / f"{name}.prof")
            records = read_records(feed)
            pages = pages_fetched(records)
            cpu = statistics.median(cpus)
            runs = ", ".join(f"{value:.2f}" for value in cpus)
            row = f"| {name} | {pages} | {cpu:.2f} ({runs}) | {cpu * 1000 / pages:.2f} | {(cpu - startup) * 1000 / pages:.2f} |"
            if wgets:
                files = wgets[-1][1]
                wget_page = statistics.median(value for value, _, _ in wgets) / max(files, 1)
                row += (f" {files} | {wget_page * 1000:.2f} | {cpu / pages / wget_page:.1f} |"
                        f" {(cpu - startup) / pages / wget_page:.1f} |")  # fmt: skip
            print(row, flush=True)
            lines = normalised(records, server.port)
            problems = inconsistencies(records)
            if problems:
                differences += 1
                print(f"  {name}: {len(problems)} referrers that make no sense: {problems[:5]}")
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                (args.save / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
            if args.compare:
                before = (args.compare / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
                differences += report_difference(name, before, lines)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
