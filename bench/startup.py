"""Fixed costs of a crawl: `python -m bench.startup [--runs N] [--docs] [--processes 1,2]`.

Prints, for the plain scrapyd runner and the prefork launcher (CRAWL_LAUNCHER=plain|prefork):

- POST -> first request: from just before POST /v1/jobs to the first request nginx logs (the API
  in-process, a real scrapyd node, SQLite; bench/crawl_api.py).
- POST -> completed for the 100-page synthetic site (bench/site.py).
- an ad-hoc `scrapy crawl site` (max_pages=1): process start -> first request, for a domain
  without a scheme (https tried first; nginx speaks http) and with `http://`.

With --docs, also POST -> completed for the Debian PostgreSQL documentation tree (~1,200 pages
with relative links) for each CRAWL_PROCESSES value in --processes, and with --synthetic N for the
synthetic site of N pages: whether a multi-process crawl pays at that size. Each figure is the
median of --runs runs. Timings only: correctness is the tests' job (a job that does not complete
is reported as a problem).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.crawl_api import ApiCrawler
from bench.server import SiteServer, free_port, log
from bench.site import ensure_site, write_sitemaps
from contract.paths import PROJECT_ROOT

DOCS = Path("/usr/share/doc/postgresql-doc-15/html")


class Node:
    """An ApiCrawler (scrapyd + API) whose node runs with these crawler environment variables."""

    def __init__(self, workdir: Path, env: dict[str, str]):
        self.env = env
        self.crawler = ApiCrawler(workdir)
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> ApiCrawler:
        from control_api.processes.scrapyd_node import wait_for_launcher

        for name, value in self.env.items():  # start_node passes our environment on to scrapyd
            self.saved[name] = os.environ.get(name)
            os.environ[name] = value
        self.crawler.__enter__()
        if not wait_for_launcher(self.crawler.scrapyd_dir, timeout=60):
            log("the launcher did not start: see launcher.log")
        time.sleep(1.0)  # let the node settle: its spider listing is cached after the first job
        return self.crawler

    def __exit__(self, *exc_info) -> None:
        self.crawler.__exit__(*exc_info)
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def api_runs(workdir: Path, env: dict[str, str], server: SiteServer, pages: int, runs: int) -> tuple[list, list]:
    firsts, totals = [], []
    with Node(workdir, env) as crawler:
        crawler.crawl(server, 20, pages, timeout=300)  # warm-up: spider listing, SQLite file, page cache
        for _ in range(runs):
            result = crawler.crawl(server, 20, pages, timeout=300)
            for problem in result.problems[:3]:
                log(f"problem: {problem}")
            firsts.append(result.first_request_seconds)
            totals.append(result.seconds)
    return firsts, totals


def adhoc_first_request(server: SiteServer, domain: str, runs: int) -> list[float]:
    """Process start -> first request nginx logs, for `scrapy crawl site -a domain=... max_pages=1`."""
    env = {**os.environ, "ALLOW_PRIVATE_TARGETS": "1", "CRAWL_PROCESSES": "1", "DATABASE_URL": "sqlite:///nowhere/x.db"}
    times = []
    for _ in range(runs):
        started = time.time()
        subprocess.run([sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"domain={domain}", "-a", "max_pages=1",
                        "-a", "use_sitemap=false", "-s", "LOG_LEVEL=WARNING"], cwd=PROJECT_ROOT, env=env,
                       capture_output=True, timeout=120, check=True)  # fmt: skip
        times.append(min(t for t in server.logged_times() if t >= started) - started)
    return times


def median(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):6.2f} s" if known else "     n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--docs", action="store_true", help="also crawl the PostgreSQL docs tree")
    parser.add_argument("--synthetic", type=int, default=0, help="also crawl the synthetic site of this many pages")
    parser.add_argument("--processes", default="1,2", help="CRAWL_PROCESSES values for --docs/--synthetic")
    parser.add_argument("--launchers", default="plain,prefork")
    args = parser.parse_args()
    launchers = args.launchers.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        tmp = Path(tmp)
        small = ensure_site(tmp / "sites", 100)
        with SiteServer(small, free_port(), access_log=True) as server:
            write_sitemaps(small, 100, server.origin)
            host = server.origin.split("://", 1)[1]
            print(f"ad-hoc scrapy crawl, process start -> first request (median of {args.runs}):")
            print(f"  domain={host:<22} {median(adhoc_first_request(server, host, args.runs))}")
            print(f"  domain=http://{host:<15} {median(adhoc_first_request(server, server.origin, args.runs))}")
            for launcher in launchers:
                firsts, totals = api_runs(tmp / f"small-{launcher}", {"CRAWL_LAUNCHER": launcher, "CRAWL_PROCESSES": "1"},
                                          server, 100, args.runs)  # fmt: skip
                print(f"CRAWL_LAUNCHER={launcher:<8} POST -> first request {median(firsts)}   "
                      f"100-page site POST -> completed {median(totals)}")  # fmt: skip
        sites = []
        if args.docs:
            sites.append(("docs", DOCS, 1100))
        if args.synthetic:
            root = ensure_site(tmp / "sites", args.synthetic)
            sites.append((f"synthetic-{args.synthetic}", root, args.synthetic))
        for name, root, pages in sites:
            with SiteServer(root, free_port(), access_log=True) as server:
                if name.startswith("synthetic"):
                    write_sitemaps(root, pages, server.origin)
                for launcher in launchers:
                    for processes in args.processes.split(","):
                        env = {"CRAWL_LAUNCHER": launcher, "CRAWL_PROCESSES": processes}
                        _, totals = api_runs(tmp / f"{name}-{launcher}-{processes}", env, server, pages, args.runs)
                        print(f"{name}: CRAWL_LAUNCHER={launcher:<8} CRAWL_PROCESSES={processes}  "
                              f"POST -> completed {median(totals)}")  # fmt: skip


if __name__ == "__main__":
    main()
