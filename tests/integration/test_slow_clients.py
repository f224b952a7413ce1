"""Slow clients cannot stall the API: connections that send their request a byte every few seconds
(headers or body, to a trigger URL and to `POST /v1/jobs`) while `/healthz` and an authenticated
GET keep answering within a second. gunicorn is started the way `make run` starts it (its config,
two workers) on an ephemeral loopback port. SPEC: "Limits that hold against hostile sites and
clients"; docs/deploy.md, "The API's front door".
"""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from subprocess import Popen

import pytest
import requests

from contract.paths import PROJECT_ROOT
from tests.integration.conftest import free_port, gunicorn_command, serve_in_thread, stop_process

pytestmark = pytest.mark.integration

DRIP_EVERY = 3.0  # seconds between two bytes of a slow client
WATCH_SECONDS = 20.0
ANSWER_WITHIN = 1.0


class FastScrapyd(BaseHTTPRequestHandler):
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
def fast_scrapyd():
    yield from serve_in_thread(FastScrapyd)


@pytest.fixture
def api(tmp_path, database_url, fast_scrapyd):
    yield from start_api(tmp_path, database_url, fast_scrapyd)


def start_api(tmp_path, database_url: str, scrapyd_url: str, **settings: str):
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url, "SCRAPYD_URL": scrapyd_url,
           "RATE_LIMIT_PER_MINUTE": "0", **settings}  # fmt: skip
    with log.open("wb") as output:
        process = Popen(gunicorn_command(port), cwd=PROJECT_ROOT, env=env, stdout=output, stderr=output)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                requests.get(f"{url}/healthz", timeout=2)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield url, port, log
    finally:
        stop_process(process)


class Dripper(threading.Thread):
    """One slow client: sends `request` one byte every DRIP_EVERY seconds until told to stop."""

    def __init__(self, port: int, request: bytes):
        super().__init__(daemon=True)
        self.port, self.request = port, request
        self.stopping = threading.Event()
        self.bytes_sent = 0

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            for byte in self.request:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    return  # the server gave up on us: fine, as long as the others were answered
                self.bytes_sent += 1
                if self.stopping.wait(DRIP_EVERY):
                    return


def drip_requests(token: str) -> list[bytes]:
    body = b"{" + b" " * 99_998 + b"}"
    headers_then_body = (b"POST /hooks/not-a-secret HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body)) + body  # fmt: skip
    job = json.dumps({"domain": "example.com"}).encode()
    create = (f"POST /v1/jobs HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer {token}\r\n"
              f"Content-Type: application/json\r\nContent-Length: {len(job)}\r\n\r\n").encode() + job  # fmt: skip
    return [headers_then_body, create]


def start_drippers(port: int, count: int, token: str) -> list[Dripper]:
    requests_ = drip_requests(token)
    drippers = [Dripper(port, requests_[index % len(requests_)]) for index in range(count)]
    for dripper in drippers:
        dripper.start()
    return drippers


def watch(url: str, headers: dict[str, str]) -> list[tuple[str, float, int]]:
    """GET /healthz and /v1/jobs over fresh connections for WATCH_SECONDS: (path, seconds, status) each."""
    seen = []
    deadline = time.monotonic() + WATCH_SECONDS
    while time.monotonic() < deadline:
        for path, extra in (("/healthz", {}), ("/v1/jobs", headers)):
            started = time.monotonic()
            try:
                status = requests.get(f"{url}{path}", headers={**extra, "Connection": "close"}, timeout=10).status_code
            except requests.RequestException:
                status = 0
            seen.append((path, time.monotonic() - started, status))
        time.sleep(0.2)
    return seen


def test_five_clients_dripping_their_requests_leave_healthz_and_the_api_answering_within_a_second(api, make_org):
    url, port, log = api
    org = make_org("watched while others drip")
    drippers = start_drippers(port, 5, org.token)
    time.sleep(DRIP_EVERY + 0.5)  # every dripper has sent its first bytes and holds its connection
    try:
        seen = watch(url, org.headers)
    finally:
        for dripper in drippers:
            dripper.stopping.set()
    slow = [(path, round(seconds, 2), status) for path, seconds, status in seen
            if seconds >= ANSWER_WITHIN or status != 200]  # fmt: skip
    assert len(seen) >= 20 and not slow, (slow, len(seen), log.read_text()[-3000:])
    assert all(dripper.is_alive() or dripper.bytes_sent > 3 for dripper in drippers)


def test_clients_dripping_a_body_after_quick_headers_do_not_stall_it_either(api, make_org):
    url, port, log = api
    org = make_org("watched while bodies drip")
    drippers = []
    for request in drip_requests(org.token) * 3:  # six connections, each with its headers sent at once
        head, _, body = request.partition(b"\r\n\r\n")
        dripper = Dripper(port, body)
        dripper.head = head + b"\r\n\r\n"
        drippers.append(dripper)
    for dripper in drippers:
        _start_after_head(dripper)
    try:
        seen = watch(url, org.headers)
    finally:
        for dripper in drippers:
            dripper.stopping.set()
    slow = [(path, round(seconds, 2), status) for path, seconds, status in seen
            if seconds >= ANSWER_WITHIN or status != 200]  # fmt: skip
    assert len(seen) >= 20 and not slow, (slow, len(seen), log.read_text()[-3000:])


def _start_after_head(dripper: Dripper) -> None:
    def run() -> None:
        with socket.create_connection(("127.0.0.1", dripper.port), timeout=5) as sock:
            sock.sendall(dripper.head)
            for byte in dripper.request:
                if dripper.stopping.wait(DRIP_EVERY):
                    return
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    return

    dripper.run = run
    dripper.start()


@pytest.fixture
def impatient_api(tmp_path, database_url, fast_scrapyd):
    """The API with API_REQUEST_SECONDS=3."""
    yield from start_api(tmp_path, database_url, fast_scrapyd, API_REQUEST_SECONDS="3")


def test_a_request_that_does_not_arrive_in_time_is_408_in_our_json_shape(impatient_api):
    url, port, log = impatient_api
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /hooks/x HTTP/1.1\r\nHost: api\r\nContent-Length: 10\r\n\r\n12")
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    waited = time.monotonic() - started
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["error"]["code"] == "request_timeout"
    assert 2 <= waited <= 6, waited


def test_kept_alive_and_pipelined_requests_are_each_answered(api):
    url, port, log = api
    request = b"GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        first = _read_answers(sock, 1)
        sock.sendall(request + request[:10])  # the next one pipelined, its rest a moment later
        time.sleep(0.3)
        sock.sendall(request[10:] + b"GET /healthz HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")
        rest = _read_answers(sock, 3)
    assert [answer.split(b"\r\n", 1)[0] for answer in first + rest] == [b"HTTP/1.1 200 OK"] * 4


def _read_answers(sock: socket.socket, count: int) -> list[bytes]:
    """`count` HTTP answers with Content-Length bodies, read off the socket."""
    data, answers = b"", []
    while len(answers) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            length = int(next(line.split(b":", 1)[1] for line in data[:head_end].split(b"\r\n")
                              if line.lower().startswith(b"content-length:")))  # fmt: skip
            if len(data) >= head_end + 4 + length:
                answers.append(data[: head_end + 4 + length])
                data = data[head_end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        assert chunk, (answers, data)
        data += chunk
    return answers
