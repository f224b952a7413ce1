"""`make run`'s stack for the bench: `python -m control_api.processes.supervisor` (scrapyd + gunicorn + the
reconciler, supervised) with its own VAR_DIR, ports and SQLite database, driven over HTTP as a
user would: POST /v1/jobs, then GET /v1/jobs/ID until the job is terminal.

It also finds the crawler processes (scrapyd's children and theirs, the launcher's zygote and the
crawls it forked, CRAWL_PROCESSES workers included) and sums their memory from /proc/PID/smaps_rollup: RSS counts shared pages once per
process, PSS splits them between the processes that share them (the honest sum).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

from bench.server import free_port, log
from contract.paths import PROJECT_ROOT

TERMINAL = {"completed", "failed", "cancelled"}


@dataclass
class Posted:
    job_id: str
    posted: float  # epoch seconds just before the POST


@dataclass
class Finished:
    job: dict
    seconds: float  # POST -> completed_at (the job's own timestamp)


def supervisor_module(root) -> str:
    """`make run`'s entry point in a tree: control_api.processes.supervisor since issue 22, control_api.service
    before it (a --baseline tree may be older)."""
    return "control_api.processes.supervisor" if (Path(root) / "control_api/processes/supervisor.py").exists() else "control_api.service"


class Service:
    """The service for the duration of a `with` block."""

    def __init__(self, workdir: Path, root: Path = PROJECT_ROOT):
        self.root = root  # the source tree the service runs from (--baseline: an older commit's)
        self.var = workdir / "service-var"
        self.database_url = f"sqlite:///{self.var / 'crawl.db'}"
        self.api_port, self.scrapyd_port = free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.output = workdir / "service.out"
        self.process: subprocess.Popen | None = None
        self.session = requests.Session()

    def __enter__(self) -> Service:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("SCRAPY_", "SCRAPYD_"))}
        env.update({
            "VAR_DIR": str(self.var), "DATABASE_URL": self.database_url, "API_PORT": str(self.api_port),
            "SCRAPYD_URL": f"http://127.0.0.1:{self.scrapyd_port}", "ALLOW_PRIVATE_TARGETS": "1",
            "RATE_LIMIT_PER_MINUTE": "0", "PYTHONUNBUFFERED": "1", "CRAWLER_LOG_LEVEL": "INFO",
            # 20 POSTs at once on a saturated 2-core machine: scrapyd can take over the default 10 s
            # to answer schedule.json, and a job that fails to schedule is a lost measurement.
            "SCRAPYD_TIMEOUT": "60",
            "PYTHONPATH": str(self.root),
        })  # fmt: skip
        with self.output.open("wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", supervisor_module(self.root)], cwd=self.root, env=env,
                                            stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        token = self._wait_for_token()
        self.session.headers["Authorization"] = f"Bearer {token}"
        log(f"service up: API {self.api}, scrapyd :{self.scrapyd_port}, {self.database_url}")
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.session.close()

    def _wait_for_token(self, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited {self.process.returncode}: {self.output.read_text()[-2000:]}")
            lines = self.output.read_text(errors="replace").splitlines()
            for number, line in enumerate(lines):
                if line.startswith("Your API token") and number + 1 < len(lines):
                    return lines[number + 1].strip()
            time.sleep(0.2)
        raise RuntimeError(f"the service printed no token within {timeout:.0f} s; see {self.output}")

    def post(self, origin: str, concurrency: int) -> Posted:
        posted = time.time()
        response = self.session.post(f"{self.api}/v1/jobs", json={"domain": origin, "options": {"concurrency": concurrency}},
                                     timeout=30)  # fmt: skip
        if response.status_code != 201:
            raise RuntimeError(f"POST /v1/jobs answered {response.status_code}: {response.text[:500]}")
        return Posted(response.json()["id"], posted)

    def job(self, job_id: str) -> dict:
        response = self.session.get(f"{self.api}/v1/jobs/{job_id}", timeout=30)
        response.raise_for_status()
        return response.json()

    def finished(self, posted: Posted, job: dict) -> Finished:
        end = datetime.fromisoformat(job["completed_at"]).timestamp() if job.get("completed_at") else time.time()
        return Finished(job, end - posted.posted)

    def wait(self, posted: Posted, timeout: float) -> Finished:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(posted.job_id)
            if job["status"] in TERMINAL:
                return self.finished(posted, job)
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {posted.job_id} still {job['status']} after {timeout:.0f} s")
            time.sleep(0.1)

    def job_log(self, job_id: str) -> Path:
        return self.var / "scrapyd" / "logs" / "crawler" / "site" / f"{job_id}.log"

    def scrapyd_pid(self) -> int | None:
        state = self.var / "run" / f"supervisor-{self.api_port}.json"
        try:
            return json.loads(state.read_text())["components"]["scrapyd"]["pid"]
        except (OSError, ValueError, KeyError):
            return None

    def all_pids(self) -> list[int]:
        """Every process of the service: the supervisor (`control_api.processes.supervisor`), its descendants
        (scrapyd and its runners, gunicorn and its workers, the reconciler and other loops; the
        database is SQLite, in those processes) and the node's warm zygote with the crawls it forked."""
        if self.process is None:
            return []
        pids = [self.process.pid, *descendants(self.process.pid)]
        for zygote in zygotes(str(self.var)):
            pids += [zygote, *descendants(zygote)]
        return sorted(set(pids))

    def crawler_pids(self) -> list[int]:
        """scrapyd's descendants (its runners; crawls of the plain launcher), plus this node's warm
        zygote and the crawls it forked: with the pre-forked launcher a crawl is the zygote's child,
        not scrapyd's, and the zygote's own memory is part of what crawling costs."""
        scrapyd = self.scrapyd_pid()
        pids = descendants(scrapyd) if scrapyd else []
        for zygote in zygotes(str(self.var)):
            pids += [zygote, *descendants(zygote)]
        return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of `pids` and of the children each has reaped (/proc/PID/stat utime, stime,
    cutime, cstime): a crawl that has exited counts in its reaper (scrapyd, or the zygote)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / ticks


# What a process of the service is, by its command line: the first pattern that matches names it.
ROLES = (
    ("crawls (zygote and the crawls it forked)",
     ("crawler.launcher.zygote", "scrapy crawl", "scrapyd.runner", "crawler.launcher")),
    ("scrapyd", ("scrapyd",)),
    ("API (gunicorn)", ("gunicorn",)),
    ("supervisor", ("control_api.processes.supervisor",)),
    ("browser measurements (Chromium, chromedriver)", ("chromium", "chromedriver")),
    ("loops (reconciler, scheduler, webhooks, browser)",
     ("control_api.processes", "control_api.jobs", "control_api.webhooks")),
)  # fmt: skip


def role_of(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    for name, patterns in ROLES:
        if any(pattern in argv for pattern in patterns):
            return name
    words = argv.split()
    module = words[words.index("-m") + 1] if "-m" in words[:-1] else Path(words[0]).name if words else "?"
    return f"other ({module})"


def cpu_by_role(pids: list[int]) -> dict[int, tuple[str, float]]:
    """pid -> (its role, its CPU as `cpu_seconds` counts it): two snapshots subtracted role by role
    say which processes of the service a fleet's CPU went to."""
    return {pid: (role_of(pid), cpu_seconds([pid])) for pid in pids}


def role_totals(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for pid, (role, seconds) in after.items():
        totals[role] = totals.get(role, 0.0) + seconds - before.get(pid, (role, 0.0))[1]
    return totals


def zygotes(var_dir: str) -> list[int]:
    """The pids of `crawler.launcher.zygote` processes whose socket lies under `var_dir`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"crawler.launcher.zygote" in argv and any(var_dir.encode() in arg for arg in argv):
            found.append(int(cmdline.parent.name))
    return found


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...), from /proc/PID/task/*/children."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
            found += children
            queue += children
    return found


def parse_smaps_rollup(text: str) -> tuple[int, int]:
    """(RSS, PSS) in KiB from the text of /proc/PID/smaps_rollup."""
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0])
    return values.get("Rss", 0), values.get("Pss", 0)


def memory_kib(pids: list[int]) -> tuple[int, int]:
    """Summed (RSS, PSS) in KiB of the processes still alive."""
    rss = pss = 0
    for pid in pids:
        try:
            one_rss, one_pss = parse_smaps_rollup(Path(f"/proc/{pid}/smaps_rollup").read_text())
        except OSError:  # it ended between listing and reading
            continue
        rss, pss = rss + one_rss, pss + one_pss
    return rss, pss
