"""The real-site comparison (`--only real`): our crawler, linkinator and `wget --spider -r` on the
Debian documentation trees (bench/trees.py) and the synthetic site, side by side in the same run.

One nginx serves every tree on its own port (bench/vhosts.py). For each run and each tree, every
tool crawls the tree once, in an order that rotates from run to run (run 1: ours, ours 1 process,
service, linkinator, wget; run 2 starts with the second tool; ...), so a slow drift of the busy
machine hits all tools alike. Measured for each:

- wall time of the whole process (interpreter or node start-up included) and its CPU (user+sys)
  and peak RSS from `os.wait4` (bench/proc.py); CPU and RSS of a process include its reaped
  children, so CRAWL_PROCESSES workers count in CPU and the largest process gives the peak RSS;
- through the service (`make run`'s stack, bench/service.py): POST → `completed` (the job's own
  `completed_at`) and POST → the first request nginx logged for that tree;
- pages and URLs from nginx's access log between the tool's start and end (bench/accesslog.py),
  so every tool is counted the same way; each tool's own summary is kept as a note.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import accesslog, proc, tools
from bench.compare import ToolRun, tree_table
from bench.crawl import crawler_env
from bench.server import free_port, log
from bench.service import Service
from bench.site import ensure_site, write_sitemaps
from bench.trees import ensure_trees, html_files
from bench.vhosts import Vhost, Vhosts
from contract.paths import PROJECT_ROOT

OURS, OURS_ONE, SERVICE, LINKINATOR, WGET = ("ours", "ours, CRAWL_PROCESSES=1", "ours via the service (make run)",
                                             "linkinator", "wget --spider -r")  # fmt: skip


def package_version(package: str) -> str:
    result = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
    return result.stdout.strip() or "?"


def rotated(items: list, run: int) -> list:
    shift = (run - 1) % len(items)
    return items[shift:] + items[:shift]


def site_vhosts(args, out: Path) -> tuple[list[Vhost], dict[str, str]]:
    """The trees asked for (`--trees`) plus the synthetic site; and a line describing each for the report."""
    trees = ensure_trees([name for name in args.trees if name != "synthetic"], log)
    vhosts, about = [], {}
    for tree in trees:
        vhosts.append(tree.vhost())
        about[tree.name] = (f"{tree.package} {package_version(tree.package)}: {html_files(tree.root):,} .html files "
                            f"under {tree.root}; links {tree.links}"
                            + (f"; served under {tree.prefix}" if tree.prefix else ""))  # fmt: skip
    if "synthetic" in args.trees:
        root = ensure_site(out / "sites", args.pages, log)
        synthetic = Vhost("synthetic", root, port=free_port())
        write_sitemaps(root, args.pages, synthetic.origin)
        vhosts.append(synthetic)
        about["synthetic"] = f"bench/site.py, {args.pages:,} pages (relative and root-relative links, sitemaps)"
    return vhosts, about


class RealSites:
    def __init__(self, args, workdir: Path, out: Path):
        self.args, self.workdir, self.out = args, workdir, out
        self.concurrency = args.concurrency
        self.runs: dict[str, list[ToolRun]] = {}
        self.problems: list[str] = []
        self.linkinator = tools.ensure_linkinator(log)
        self.wget_version = tools.wget_version()
        default_processes = os.environ.get("CRAWL_PROCESSES") or str(min(2, os.cpu_count() or 1))
        self.ours_label = f"{OURS} (CRAWL_PROCESSES={default_processes}, the default)"

    def measure(self) -> str:
        vhosts, about = site_vhosts(self.args, self.out)
        kinds = [OURS, OURS_ONE, SERVICE]
        if self.linkinator:
            kinds.append(LINKINATOR)
        else:
            self.problems.append("linkinator could not be installed (npm): its rows are missing")
        if self.wget_version:
            kinds.append(WGET)
        with Vhosts(vhosts) as server, Service(self.workdir) as service:
            for run in range(1, self.args.runs + 1):
                for vhost in vhosts:
                    for kind in rotated(kinds, run):
                        result = self.one(kind, vhost, service, f"{vhost.name}-run{run}")
                        self.runs.setdefault(vhost.name, []).append(result)
                        log(f"real {vhost.name} run {run}/{self.args.runs} {result.tool}: {result.pages} pages "
                            f"({result.urls} URLs) in {result.seconds:.1f} s"
                            + (f", CPU {result.cpu_seconds:.1f} s, {result.peak_rss_mb:.0f} MB" if result.cpu_seconds else "")
                            + (f", POST->first request {result.first_request:.2f} s" if result.first_request else ""))  # fmt: skip
        if server.errors:
            log(f"nginx error log (404s of links the trees themselves break are expected):\n{server.errors[-1500:]}")
        tables = [tree_table(f"{name}: {about[name]}", runs, LINKINATOR) for name, runs in self.runs.items()]
        return "\n".join(tables)

    def one(self, kind: str, vhost: Vhost, service: Service, tag: str) -> ToolRun:
        timeout = 300.0 + html_files(str(vhost.root)) * 0.3
        if kind == SERVICE:
            return self.through_service(vhost, service, timeout)
        started = time.time()
        if kind in (OURS, OURS_ONE):
            label = self.ours_label if kind == OURS else kind
            command = [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"domain={vhost.origin}",
                       "-s", f"CONCURRENT_REQUESTS={self.concurrency}", "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={self.concurrency}",
                       "-s", "LOG_LEVEL=INFO", "-s", "LOGSTATS_INTERVAL=0"]  # fmt: skip
            env = crawler_env(DATABASE_URL=f"sqlite:///{self.workdir / 'unused.db'}")
            env.pop("CRAWL_PROCESSES", None)
            if kind == OURS_ONE:
                env["CRAWL_PROCESSES"] = "1"
            run = proc.run(command, env, PROJECT_ROOT, self.workdir / f"{tag}-ours-{kind == OURS_ONE}.log", timeout)
            self.problems += [f"{vhost.name} {kind}: {line}" for line in run.problems(3)]
            note = ""
        elif kind == LINKINATOR:
            label = f"linkinator {tools.LINKINATOR_VERSION}"
            command = tools.linkinator_command(vhost.start_url, vhost.origin, self.concurrency)
            run = proc.run(command, dict(os.environ), self.workdir, self.workdir / f"{tag}-linkinator.log", timeout,
                           tools.LINKINATOR_OK_CODES)  # fmt: skip
            own = tools.parse_linkinator(run.log)
            note = f"its own count: {own['checked']:,} URLs checked, {own['broken']:,} broken, {own['skipped']:,} skipped"
        else:
            label = f"wget {self.wget_version} --spider -r"
            scratch = self.workdir / f"{tag}-wget"
            command = tools.wget_command(vhost.start_url, scratch)
            run = proc.run(command, dict(os.environ), self.workdir, self.workdir / f"{tag}-wget.log", timeout, tools.WGET_OK_CODES)
            shutil.rmtree(scratch, ignore_errors=True)
            own = tools.parse_wget(run.log)
            note = f"its own count: {own['downloaded']:,} files downloaded, {own['broken']:,} broken URLs"
        counts = accesslog.count(vhost.hits(), started, time.time())
        return ToolRun(label, run.wall_seconds, counts.pages, counts.urls, run.cpu_seconds, run.max_rss_mb, note=note)

    def through_service(self, vhost: Vhost, service: Service, timeout: float) -> ToolRun:
        posted = service.post(vhost.origin, self.concurrency)
        finished = service.wait(posted, timeout)
        # completed_at is the job's own timestamp: the window ends a moment after it
        counts = accesslog.count(vhost.hits(), posted.posted, posted.posted + finished.seconds + 1.0)
        job = finished.job
        if job["status"] != "completed":
            self.problems.append(f"{vhost.name} via the service: job {posted.job_id} ended {job['status']}: {job.get('error')}")
        first = None if counts.first is None else counts.first - posted.posted
        return ToolRun(SERVICE, finished.seconds, counts.pages, counts.urls, first_request=first)
