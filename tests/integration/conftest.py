"""Real processes for integration tests: the test website on loopback and a scrapyd node that runs
the crawler from this source tree against the suite's database. Ports are ephemeral."""
from __future__ import annotations

import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from subprocess import Popen, TimeoutExpired

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from control_api.processes.scrapyd_node import start_node, wait_for_launcher, wait_until_ready
from db.models import Task
from tests.helpers import make_test_app
from tests.sites.server import SiteServer

# The crawler resolves the test site's names to loopback itself: no /etc/hosts change needed.
# slow.test and broken.test (tests/sites/behaviour.py) are there for the dashboard's browser tests.
HOST_MAP = ",".join(f"{host}=127.0.0.1" for host in ("site.test", "www.site.test", "blog.site.test", "other.test", "slow.test",
                                                     "broken.test"))
TERMINAL = {"completed", "failed", "cancelled"}
# The first line of a crawl's log under the prefork launcher (docs/architecture.md).
FORKED = re.compile(r"crawl process (\d+) forked by the launcher's zygote (\d+)")


def serve_in_thread(handler) -> Iterator[str]:
    """A small HTTP server (a fake scrapyd, say) on an ephemeral loopback port, for a `yield from`
    fixture: yields its URL, stops it afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def gunicorn_command(port: int, *access_log: str) -> list[str]:
    """The API under gunicorn as `make run` starts it (its config, two workers), on this port."""
    return [str(Path(sys.executable).parent / "gunicorn"), "--config", "python:control_api.processes.gunicorn_conf",
            "--workers", "2", "--bind", f"127.0.0.1:{port}", *(access_log or ("--access-logfile", "-")),
            "control_api:create_app()"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ScrapydNode:
    url: str
    process: Popen
    workdir: Path

    def crawl_log(self, job_id: str) -> str:
        path = self.workdir / "logs" / "crawler" / "site" / f"{job_id}.log"
        return path.read_text() if path.exists() else ""


def forked(log: str) -> tuple[int, int] | None:
    """(crawl pid, zygote pid) from a crawl's log, when the launcher forked it."""
    match = FORKED.search(log)
    return (int(match[1]), int(match[2])) if match else None


def crawl_pid(node, job_id: str, timeout: float = 20) -> int:
    """The pid of the process that crawls: under the prefork launcher the zygote's child, not the
    small runner whose pid scrapyd lists (killing that one is not killing the crawl)."""
    deadline = time.monotonic() + timeout
    while (found := forked(node.crawl_log(job_id))) is None:
        assert time.monotonic() < deadline, f"no 'crawl process N forked' line in the log of {job_id}"
        time.sleep(0.1)
    return found[0]


def stop_process(process: Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def site():
    with SiteServer() as server:
        yield server


@pytest.fixture(scope="session")
def scrapyd_env(database_url) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "ALLOW_PRIVATE_TARGETS": "1",
        "CRAWL_HOST_MAP": HOST_MAP,
        "CRAWLER_LOG_LEVEL": "INFO",
    }


@pytest.fixture(scope="session")
def scrapyd(tmp_path_factory, scrapyd_env):
    port = free_port()
    workdir = tmp_path_factory.mktemp("scrapyd")
    process = start_node(workdir, port, env=scrapyd_env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
        assert wait_for_launcher(workdir), "the node's launcher did not start: see launcher.log"
        yield ScrapydNode(url, process, workdir)
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def live_app(database_url, scrapyd):
    app = make_test_app(database_url, SCRAPYD_URLS=[scrapyd.url])  # a real ScrapydClient
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture(scope="session")
def live_client(live_app):
    return live_app.test_client()


def wait_for_job(client, headers: dict, job_id: str, timeout: float = 90.0, until=TERMINAL) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/v1/jobs/{job_id}", headers=headers).get_json()
        if body["status"] in until:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {body['status']} after {timeout} s: {body}")
        time.sleep(0.2)


def tasks_of(engine, job_id: str) -> dict[str, Task]:
    """The job's task rows by URL (URLs are unique within a job)."""
    with Session(engine) as session:
        rows = session.scalars(select(Task).where(Task.job_id == job_id)).all()
    by_url = {row.url: row for row in rows}
    assert len(by_url) == len(rows), "a URL was recorded twice"
    return by_url


def run_crawl(client, org, domain: str, timeout: float = 90.0, **options) -> dict:
    response = client.post("/v1/jobs", json={"domain": domain, "options": options}, headers=org.headers)
    assert response.status_code == 201, response.get_json()
    return wait_for_job(client, org.headers, response.get_json()["id"], timeout=timeout)
