"""The rate limits hold for the whole service, not per gunicorn worker: gunicorn started the way
`make run` starts it, with two workers, spoken to over a fresh connection per request so that both
workers answer. SPEC: "Errors [core]" (429 rate limited); README, RATE_LIMIT_PER_MINUTE and
AUTH_FAILURES_PER_MINUTE. Once with the default storage (our own database), once with REDIS_URL.
"""
from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from subprocess import Popen

import pytest
import redis
import requests
from sqlalchemy import text

from contract.paths import PROJECT_ROOT
from tests.integration.conftest import free_port, gunicorn_command, serve_in_thread, stop_process

pytestmark = pytest.mark.integration

TOKEN_LIMIT = 12
FAILURE_LIMIT = 5
REDIS_URL = "redis://127.0.0.1:6379/15"


class SlowScrapyd(BaseHTTPRequestHandler):
    """A scrapyd that says it is up, for /healthz."""

    def do_GET(self) -> None:
        body = json.dumps({"status": "ok", "pending": 0, "running": 0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def slow_scrapyd():
    yield from serve_in_thread(SlowScrapyd)


class Gunicorn:
    def __init__(self, tmp_path: Path, database_url: str, scrapyd_url: str, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "gunicorn.log"
        self.access_log = tmp_path / "access.log"
        environment = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url, "SCRAPYD_URL": scrapyd_url,
                       "RATE_LIMIT_PER_MINUTE": str(TOKEN_LIMIT), "AUTH_FAILURES_PER_MINUTE": str(FAILURE_LIMIT),
                       **env}  # fmt: skip
        # The worker's pid on each access-log line, to prove which worker answered what.
        command = gunicorn_command(self.port, "--access-logfile", str(self.access_log), "--access-logformat", "%(p)s %(s)s %(U)s")
        with self.log.open("wb") as output:
            self.process = Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=output, stderr=output)
        self._wait_until_answering()

    def _wait_until_answering(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                requests.get(f"{self.url}/v1/openapi.json", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise AssertionError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.log.read_text()}")

    def get_jobs(self, headers: dict[str, str]) -> requests.Response:
        # A new session per request: a fresh connection, which either worker may accept.
        with requests.Session() as session:
            return session.get(f"{self.url}/v1/jobs", headers={**headers, "Connection": "close"}, timeout=10)

    def on_each_worker(self, first, then) -> tuple[list[requests.Response], list[requests.Response]]:
        """Run `first` on one worker and `then` on the other.

        Workers share the listening socket, and the API's worker reads requests in an event loop
        even while its threads are busy, so keeping one busy no longer steers requests to the
        other: one worker is stopped (SIGSTOP) while the other answers `first`, then the other way
        round for `then`.
        """
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        assert len(children) == 2, children
        one, other = (int(pid) for pid in children)
        first_responses = self._while_stopped(other, first)
        # A worker writes its access-log line just after the answer: let `one` write its last before it stops.
        self._logged(len(first_responses))
        then_responses = self._while_stopped(one, then)
        workers = self._logged(len(first_responses) + len(then_responses))
        by_first, by_then = set(workers[: len(first_responses)]), set(workers[len(first_responses) :])
        assert len(by_first) == len(by_then) == 1 and by_first != by_then, workers
        return first_responses, then_responses

    def _logged(self, count: int, timeout: float = 10.0) -> list[str]:
        """The pids of the access log's /v1/jobs lines, once there are `count` of them."""
        deadline = time.monotonic() + timeout
        while True:
            workers = [pid for pid, _status, path in (line.split() for line in self.access_log.read_text().splitlines())
                       if path == "/v1/jobs"]  # fmt: skip
            if len(workers) >= count or time.monotonic() > deadline:
                return workers
            time.sleep(0.05)

    @staticmethod
    def _while_stopped(pid: int, run):
        os.kill(pid, signal.SIGSTOP)
        try:
            return run()
        finally:
            os.kill(pid, signal.SIGCONT)


@pytest.fixture(params=["database", "redis"])
def gunicorn(request, tmp_path, database_url, engine, slow_scrapyd):
    env = {}
    if request.param == "redis":
        redis.Redis.from_url(REDIS_URL).flushdb()
        env["REDIS_URL"] = REDIS_URL
    else:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM rate_limit_hits"))
    server = Gunicorn(tmp_path, database_url, slow_scrapyd, **env)
    yield server
    stop_process(server.process)
    if request.param == "redis":
        redis.Redis.from_url(REDIS_URL).flushdb()


def test_one_token_gets_its_limit_once_across_two_workers(gunicorn, make_org):
    org = make_org("limited across workers")
    half = TOKEN_LIMIT // 2 + 3

    first, then = gunicorn.on_each_worker(lambda: [gunicorn.get_jobs(org.headers) for _ in range(half)],
                                          lambda: [gunicorn.get_jobs(org.headers) for _ in range(half)])  # fmt: skip

    statuses = [response.status_code for response in first + then]
    assert statuses == [200] * TOKEN_LIMIT + [429] * (2 * half - TOKEN_LIMIT)
    for response in first + then:
        if response.status_code == 429:
            assert response.json()["error"]["code"] == "rate_limited"
            assert response.headers["Retry-After"].isdigit() and 1 <= int(response.headers["Retry-After"]) <= 60


def test_failed_authentications_from_one_address_are_counted_across_two_workers(gunicorn, make_org):
    org = make_org("guessed at")

    def guesses():
        return [gunicorn.get_jobs({"Authorization": f"Bearer cs_guess{i}"}) for i in range(FAILURE_LIMIT)]

    first, then = gunicorn.on_each_worker(guesses, lambda: guesses() + [gunicorn.get_jobs(org.headers)])

    assert [response.status_code for response in first] == [401] * FAILURE_LIMIT
    # The other worker knows the address is locked out: a good token from it is refused too.
    assert [response.status_code for response in then] == [429] * (FAILURE_LIMIT + 1)
    assert all(response.json()["error"]["code"] == "rate_limited" for response in then)


def test_concurrent_requests_of_one_token_on_two_workers_get_exactly_the_limit(gunicorn, make_org):
    org = make_org("in parallel")

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: gunicorn.get_jobs(org.headers), range(TOKEN_LIMIT * 2 + 6)))

    statuses = [response.status_code for response in responses]
    assert (statuses.count(200), statuses.count(429)) == (TOKEN_LIMIT, TOKEN_LIMIT + 6)
