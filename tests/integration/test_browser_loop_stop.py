"""No Chromium outlives the browser loop (control_api/jobs/browser/): killed test runs used to leave
`chromedriver` processes behind, with defunct Chromium children. Real headless Chromium, a real loop
process (`python -m control_api.processes.background webhooks browsers`, as `make run` starts it) measuring a
loopback page that never finishes loading; the loop's descendants (and every process carrying its pid
in CRAWL_BROWSER_OWNER, such as Chromium's crash handler, which detaches) are recorded mid-page, then:
- SIGTERM: the loop exits 0 within seconds, every recorded process is gone, the job waits again;
- SIGKILL (no clean-up at all): the next loop to start kills what the dead one left;
- an exception inside `with Browser()`: the same clean-up, in this process."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from contract.paths import PROJECT_ROOT
from control_api.jobs.browser.measure import CHROMEDRIVER, CHROMIUM, OWNER_VARIABLE, Browser
from db.models import Job, Task, url_hash

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)),
                       reason=f"{CHROMIUM} or {CHROMEDRIVER} missing: `make browser` installs them"),  # fmt: skip
]

LOOPS = ("webhooks", "browsers")  # the process `make run` starts them in (processes/supervisor.py)
LONG_AGO = datetime(2000, 1, 1, tzinfo=timezone.utc)  # oldest completed job: the loop takes ours first


class SlowPage:
    """A loopback server whose page never loads: it answers nothing until released (or 120 s)."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.release = threading.Event()
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/slow":
                    self.send_error(404)
                    return
                page.requested.set()
                page.release.wait(120)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slow"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_page():
    page = SlowPage()
    yield page
    page.close()


def processes() -> dict[int, tuple[int, str, str, str]]:
    """Every process: pid → (ppid, state, start time, command)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        found[int(proc.name)] = (int(fields[1]), fields[0], fields[19], command)
    return found


def owned_by(pid: int) -> dict[int, tuple[str, str]]:
    """The live descendants of `pid` and the processes whose CRAWL_BROWSER_OWNER is `pid`:
    pid → (start time, command)."""
    table = processes()
    tree, frontier = set(), [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, (ppid, *_rest) in table.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    marker = f"{OWNER_VARIABLE}={pid}".encode()
    for other in table:
        try:
            if marker in (Path(f"/proc/{other}/environ").read_bytes().split(b"\0")):
                tree.add(other)
        except OSError:
            continue
    return {p: (table[p][2], table[p][3]) for p in tree if p in table and table[p][1] != "Z"}


def still_running(recorded: dict[int, tuple[str, str]]) -> list[str]:
    """The recorded processes that still run (the same pid and start time, not a zombie)."""
    table = processes()
    return [f"{p} {command}" for p, (started, command) in recorded.items()
            if p in table and table[p][2] == started and table[p][1] != "Z"]  # fmt: skip


def wait_for(probe, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)
    return value


def start_loop(database_url: str, output: Path) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SCRAPYD_")}
    env.update({"DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    with output.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "control_api.processes.background", *LOOPS], cwd=PROJECT_ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def waiting_job(make_job, org, engine, url: str) -> str:
    job_id = make_job(org, status="completed", completed_at=LONG_AGO, browser_status="pending")
    with Session(engine) as session, session.begin():
        session.add(Task(job_id=job_id, url=url, url_hash=url_hash(url), found_via="start", depth=0,
                         status="completed", http_status=200, response_time_ms=5, content_type="text/html"))  # fmt: skip
    return job_id


def browser_status(engine, job_id: str) -> str:
    with Session(engine) as session:
        return session.get(Job, job_id).browser_status


def mid_page(loop: subprocess.Popen, page: SlowPage, output: Path) -> dict[int, tuple[str, str]]:
    """Once the loop's Chromium asks for the slow page: what the loop owns then (chromedriver and Chromium)."""
    wait_for(lambda: page.requested.is_set() or loop.poll() is not None, 90, "Chromium asked for the slow page")
    assert loop.poll() is None, output.read_text()[-3000:]
    time.sleep(0.5)  # the page's wait has begun
    recorded = owned_by(loop.pid)
    commands = " ".join(command for _, command in recorded.values())
    assert "chromedriver" in commands and "chromium" in commands, recorded
    return recorded


def kill_all(recorded: dict[int, tuple[str, str]]) -> None:
    for line in still_running(recorded):  # never leave them to the next test, whatever the verdict
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_sigterm_mid_page_stops_the_loop_with_its_chromium_and_gives_the_job_back(
    tmp_path, database_url, engine, make_job, org, slow_page
):
    job_id = waiting_job(make_job, org, engine, slow_page.url)
    output = tmp_path / "loop.out"
    loop = start_loop(database_url, output)
    recorded, code, stopped_in = {}, None, None
    try:
        recorded = mid_page(loop, slow_page, output)
        assert browser_status(engine, job_id) == "measuring"
        sent = time.monotonic()
        loop.send_signal(signal.SIGTERM)
        code = loop.wait(timeout=15)
        stopped_in = time.monotonic() - sent
        deadline = time.monotonic() + 5  # zombies are reaped by init: gone from the table in a moment
        while still_running(recorded) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        if loop.poll() is None:
            os.killpg(loop.pid, signal.SIGKILL)
            loop.wait()
        left = still_running(recorded)
        kill_all(recorded)
    printed = output.read_text()
    print(f"\nstopped in {stopped_in:.1f} s; {len(recorded)} browser processes recorded, all gone")
    assert code == 0, printed[-3000:]
    assert stopped_in < 10, printed[-3000:]  # not the page's 30 s timeout, nor the supervisor's 15 s kill
    assert left == []
    assert "Traceback" not in printed, printed[-3000:]
    assert browser_status(engine, job_id) == "pending"  # measured by the next loop, in full


def test_a_loop_killed_outright_leaves_chromium_that_the_next_loop_kills(
    tmp_path, database_url, engine, make_job, org, slow_page
):
    job_id = waiting_job(make_job, org, engine, slow_page.url)
    output = tmp_path / "loop.out"
    first = start_loop(database_url, output)
    recorded, second = {}, None
    try:
        recorded = mid_page(first, slow_page, output)
        os.killpg(first.pid, signal.SIGKILL)  # its group only: chromedriver leads a group of its own
        first.wait()
        time.sleep(1)
        assert [line for line in still_running(recorded) if "chromedriver" in line], "nothing was orphaned"
        second = start_loop(database_url, output)
        wait_for(lambda: not still_running(recorded), 30, "the orphans killed by the next loop")
    finally:
        for loop in (first, second):
            if loop is not None and loop.poll() is None:
                os.killpg(loop.pid, signal.SIGTERM)
                try:
                    loop.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(loop.pid, signal.SIGKILL)
                    loop.wait()
        kill_all(recorded)
        with Session(engine) as session, session.begin():  # the stale claim must not reach other tests' loops
            session.get(Job, job_id).browser_status = "off"
    assert "killed" in output.read_text() and "browser process" in output.read_text()


def test_an_exception_inside_the_browser_block_takes_chromium_with_it(slow_page):
    me = os.getpid()
    before = set(owned_by(me))
    loading, failures = None, []

    def load(browser: Browser) -> None:
        try:
            browser.measure(slow_page.url)
        except Exception as exc:  # noqa: BLE001 - the driver killed under it: expected
            failures.append(exc)

    with pytest.raises(RuntimeError, match="a loop failing mid-page"):
        with Browser() as browser:
            loading = threading.Thread(target=load, args=(browser,), daemon=True)
            loading.start()
            wait_for(slow_page.requested.is_set, 30, "Chromium asked for the slow page")
            recorded = {pid: owner for pid, owner in owned_by(me).items() if pid not in before}
            assert any("chromedriver" in command for _, command in recorded.values()), recorded
            raise RuntimeError("a loop failing mid-page")
    try:
        wait_for(lambda: not still_running(recorded), 5, "the browser processes gone")
        loading.join(10)
        assert not loading.is_alive()
    finally:
        kill_all(recorded)
