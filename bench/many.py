"""Many jobs at once (`--only many`): N jobs (default 20) on N different small sites through the
service (`make run`'s stack, bench/service.py), then the same N sites one after another.

The sites are synthetic (bench/site.py) of N sizes spread evenly over 50–500 pages, each on its own
nginx server block and port (bench/vhosts.py): N different hosts as far as the crawler can tell.
All N POSTs go out back to back; scrapyd starts as many crawls as its `max_proc_per_cpu` allows
and queues the rest, as it would in production.

While a phase runs, a thread samples every crawler process (scrapyd's descendants) twice a second
from /proc/PID/smaps_rollup and keeps the peak of the summed RSS and of the summed PSS; pages are
counted from each site's access log (bench/accesslog.py) and each job's POST → completed from the
job's own `completed_at`.
"""
from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

from bench import accesslog
from bench.compare import JobTiming, many_table
from bench.server import free_port, log
from bench.service import Service, cpu_by_role, cpu_seconds, memory_kib, role_totals
from bench.site import ensure_site, write_sitemaps
from bench.vhosts import Vhost, Vhosts
from contract.paths import PROJECT_ROOT


def site_sizes(count: int, smallest: int = 50, largest: int = 500) -> list[int]:
    """`count` distinct sizes spread evenly from `smallest` to `largest` pages."""
    if count == 1:
        return [largest]
    return [smallest + round(i * (largest - smallest) / (count - 1)) for i in range(count)]


class MemorySampler(threading.Thread):
    """Peak summed RSS and PSS of the service's crawler processes while the `with` block runs."""

    def __init__(self, service: Service, interval: float = 0.5):
        super().__init__(daemon=True)
        self.service, self.interval = service, interval
        self.stopping = threading.Event()
        self.peak_rss = self.peak_pss = self.most_processes = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            pids = self.service.crawler_pids()
            rss, pss = memory_kib(pids)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.most_processes = max(self.most_processes, len(pids))
            self.stopping.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        self.join()

    def figures(self) -> dict:
        return {"rss_mb": self.peak_rss / 1024, "pss_mb": self.peak_pss / 1024, "processes": self.most_processes}


class ManyJobs:
    def __init__(self, args, workdir: Path, out: Path):
        self.args, self.workdir, self.out = args, workdir / "many", out
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.problems: list[str] = []
        self.fleet_roles: dict[str, list[dict[str, float]]] = {}  # root -> each run's CPU by process kind

    def sites(self) -> list[tuple[Vhost, int]]:
        sites = []
        for pages in site_sizes(self.args.many_jobs):
            root = ensure_site(self.out / "sites", pages, log)
            vhost = Vhost(f"site-{pages}", root, port=free_port())
            write_sitemaps(root, pages, vhost.origin)
            sites.append((vhost, pages))
        return sites

    def measure(self) -> str:
        sites = self.sites()
        timeout = 1800.0
        with Vhosts([vhost for vhost, _ in sites]), Service(self.workdir) as service:
            with MemorySampler(service) as sampler:
                started = time.time()
                posted = [(vhost, service.post(vhost.origin, self.args.concurrency)) for vhost, _ in sites]
                log(f"many: {len(posted)} jobs posted in {time.time() - started:.1f} s")
                at_once = self.collect(service, posted, started, timeout)
            memory_at_once = sampler.figures()
            log(f"many: at once {sum(j.pages for j in at_once)} pages; peak crawler RSS {memory_at_once['rss_mb']:.0f} MB, "
                f"PSS {memory_at_once['pss_mb']:.0f} MB, {memory_at_once['processes']} processes")  # fmt: skip
            one_by_one = []
            with MemorySampler(service) as sampler:
                for vhost, _ in sites:
                    since = time.time()
                    one_by_one += self.collect(service, [(vhost, service.post(vhost.origin, self.args.concurrency))], since, timeout)
                    log(f"many: one after another, {vhost.name}: {one_by_one[-1].seconds:.1f} s")
            memory_one_by_one = sampler.figures()
        expected = sum(pages for _, pages in sites)
        for label, jobs in (("at once", at_once), ("one after another", one_by_one)):
            fetched = sum(job.pages for job in jobs)
            if fetched < expected:
                self.problems.append(f"{label}: {fetched} of {expected} pages fetched")
        note = (f"{len(sites)} synthetic sites of {min(p for _, p in sites)}–{max(p for _, p in sites)} pages "
                f"({expected:,} pages in all), one nginx server block each; concurrency {self.args.concurrency} per job.")  # fmt: skip
        return note + "\n\n" + many_table(at_once, one_by_one, memory_at_once, memory_one_by_one)

    def fleet(self) -> str:
        """The fleet's cost (`--only fleet`): the same N sites as slow origins (every page held
        50–300 ms, bench/nginxconf.py), N jobs at once through a fresh service; pages per CPU-second
        of every process of the service (bench/service.py `all_pids`), from the first POST until
        every job is terminal. With `--baseline DIR` the same again with the service run from DIR
        (an older commit's tree), the two taking turns `--runs` times."""
        sites = self.sites()
        for vhost, pages in sites:
            vhost.delay = True
        roots = [("this tree", PROJECT_ROOT)]
        if self.args.baseline:
            roots.append((f"baseline {self.args.baseline}", self.args.baseline))
        rows = []
        with Vhosts([vhost for vhost, _ in sites]):
            for run in range(1, self.args.runs + 1):
                for label, root in roots if run % 2 else roots[::-1]:
                    rows.append((label, *self.fleet_once(sites, root, f"fleet-{run}-{len(rows)}")))
        lines = [
            f"{len(sites)} jobs at once through the service (`make run`'s stack, SQLite) on {len(sites)} slow origins "
            f"(the synthetic sites above, every page held 50–300 ms), concurrency {self.args.concurrency} per job; "
            "CPU = user + system seconds of every process of the service and of the crawls they reaped (/proc), "
            "first POST → last job terminal; medians of runs.",
            "",
            "| code | jobs (not completed) | pages | first POST → last completed s | pages/s | CPU s, all processes | pages per CPU-second |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]  # fmt: skip
        for label, root in roots:
            mine = [row[1:] for row in rows if row[0] == label]
            jobs, failed, pages = mine[0][0], max(r[1] for r in mine), statistics.median(r[2] for r in mine)
            wall, cpu = statistics.median(r[3] for r in mine), statistics.median(r[4] for r in mine)
            per_cpu = statistics.median(r[2] / r[4] for r in mine)
            lines.append(f"| {label} | {jobs} ({failed}) | {pages:,.0f} | {wall:.1f} | {pages / wall:.0f} "
                         f"| {cpu:.1f} | {per_cpu:.0f} |")
        lines.append("")
        for label, root in roots:  # where the CPU went: the first run's split, process kind by kind
            split = self.fleet_roles.get(str(root), [{}])[0]
            ranked = sorted(split.items(), key=lambda kv: -kv[1])
            said = ", ".join(f"{role} {seconds:.1f} s" for role, seconds in ranked)
            lines.append(f"- {label}, CPU by process: {said}")
        return "\n".join(lines) + "\n"

    def fleet_once(self, sites: list, root: Path, tag: str) -> tuple[int, int, int, float, float]:
        workdir = self.workdir / tag
        workdir.mkdir(parents=True, exist_ok=True)
        with Service(workdir, root) as service:
            before = cpu_seconds(service.all_pids())
            roles_before = cpu_by_role(service.all_pids())
            started = time.time()
            posted = [(vhost, service.post(vhost.origin, self.args.concurrency)) for vhost, _ in sites]
            jobs = self.collect(service, posted, started, 1800.0)
            wall = max(job.completed for job in jobs) - started
            cpu = cpu_seconds(service.all_pids()) - before
            split = role_totals(roles_before, cpu_by_role(service.all_pids()))
            self.fleet_roles.setdefault(str(root), []).append(split)
        pages = sum(job.pages for job in jobs)
        expected = sum(pages for _, pages in sites)
        if pages < expected:
            self.problems.append(f"fleet ({root}): {pages} of {expected} pages fetched")
        log(f"fleet ({root}): {pages} pages in {wall:.1f} s, {cpu:.1f} CPU-s of the service's processes")
        return len(jobs), sum(job.status != "completed" for job in jobs), pages, wall, cpu

    def collect(self, service: Service, posted: list, since: float, timeout: float) -> list[JobTiming]:
        """Wait for every posted job; then its timing and its pages (its site's log since `since`)."""
        deadline = time.monotonic() + timeout
        waiting = dict(enumerate(posted))
        jobs: dict[int, JobTiming] = {}
        while waiting:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(waiting)} jobs not finished after {timeout:.0f} s")
            for number, (vhost, post) in list(waiting.items()):
                job = service.job(post.job_id)
                if job["status"] in ("completed", "failed", "cancelled"):
                    finished = service.finished(post, job)
                    pages = accesslog.count(vhost.hits(), since, post.posted + finished.seconds + 1.0).pages
                    jobs[number] = JobTiming(vhost.name, pages, post.posted, post.posted + finished.seconds, job["status"])
                    if job["status"] != "completed":
                        self.problems.append(f"job {post.job_id} on {vhost.name} ended {job['status']}: {job.get('error')}")
                    del waiting[number]
            # completed_at is the job's own, so slow polling costs no precision with many jobs; one job
            # at a time is polled fast, because the next POST waits for this poll
            time.sleep(1.0 if len(posted) > 1 else 0.1)
        return [jobs[number] for number in sorted(jobs)]
