"""The API behind the WSGI server it ships with: gunicorn started the way `make run` starts it
(`--config python:control_api.processes.gunicorn_conf`, two workers) on an ephemeral loopback port, and spoken
to over raw sockets so that chunked bodies and malformed requests reach it byte for byte; the test
client cannot send those. SPEC: "Errors [core]" (one JSON shape, 413 body too large, no HTML pages).
"""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from subprocess import Popen

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contract.paths import PROJECT_ROOT
from db.models import Job
from tests.integration.conftest import free_port, gunicorn_command, serve_in_thread, stop_process

pytestmark = pytest.mark.integration

LIMIT = 64 * 1024  # API_MAX_BODY_BYTES's default
CREATE = {"domain": "example.com"}


class ScrapydThatSaysOk(BaseHTTPRequestHandler):
    """Answers every scrapyd call with success, so that a job that reaches scheduling is a 201."""

    def _ok(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"status": "ok", "jobid": "x", "pending": 0, "running": 0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _ok

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def fake_scrapyd():
    yield from serve_in_thread(ScrapydThatSaysOk)


@pytest.fixture(scope="module")
def api_port(database_url, fake_scrapyd, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url, "SCRAPYD_URL": fake_scrapyd,
           "ALLOW_PRIVATE_TARGETS": "1", "RATE_LIMIT_PER_MINUTE": "0"}  # fmt: skip
    command = gunicorn_command(port)
    with log.open("wb") as output:
        process = Popen(command, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=output)
    try:
        wait_until_answering(port, process, log)
        yield port
    finally:
        stop_process(process)


def wait_until_answering(port: int, process: Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            if exchange(port, b"GET /healthz HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")[0]:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"gunicorn did not answer within {timeout:.0f} s:\n{log.read_text()}")


def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send the request as is, read the response until the server closes: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def chunked_post(token: str, body: bytes, chunk_size: int = 4096) -> bytes:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + chunk_size]), body[i : i + chunk_size])
                      for i in range(0, len(body), chunk_size))  # fmt: skip
    return (b"POST /v1/jobs HTTP/1.1\r\nHost: api\r\nConnection: close\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunks + b"0\r\n\r\n")  # fmt: skip


def padded(size: int, tail: bytes = b"") -> bytes:
    """`{"domain": "example.com"}` padded with JSON whitespace to `size` bytes, then `tail`."""
    text = json.dumps(CREATE).encode()
    return text[:-1] + b" " * (size - len(text)) + b"}" + tail


def assert_json_error(response: tuple[int, dict[str, str], bytes], status: int, code: str) -> str:
    got_status, headers, body = response
    assert got_status == status, body[:300]
    assert headers.get("content-type") == "application/json", headers
    error = json.loads(body)
    assert set(error) == {"error"} and set(error["error"]) == {"code", "message"}, error
    assert error["error"]["code"] == code, error
    assert isinstance(error["error"]["message"], str) and error["error"]["message"]
    assert b"<html" not in body.lower()
    return error["error"]["message"]


def jobs_of(engine, org) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Job).where(Job.organisation_id == org.id))


# --- chunked bodies and the size limit (D5) -----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        padded(LIMIT, b', "source_type": "the rest of the body"}'),  # its first 64 KiB alone are valid JSON
        padded(LIMIT + 1),  # one byte over
        padded(LIMIT * 3),
    ],
    ids=["valid-json-cut-at-the-limit", "limit-plus-one", "three-times-the-limit"],
)
def test_chunked_body_over_the_limit_is_413_and_creates_no_job(api_port, org, engine, body):
    assert len(body) > LIMIT

    response = exchange(api_port, chunked_post(org.token, body))

    assert_json_error(response, 413, "payload_too_large")
    assert jobs_of(engine, org) == 0


def test_chunked_body_of_16_mib_is_refused_while_it_is_still_being_sent(api_port, org, engine):
    # The server stops reading at the limit: the client gets the 413 long before it could send it all.
    request = chunked_post(org.token, padded(16 * 1024 * 1024), chunk_size=65536)
    with socket.create_connection(("127.0.0.1", api_port), timeout=10) as sock:
        sender = threading.Thread(target=send_until_refused, args=(sock, request))
        sender.start()
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
        sender.join()

    assert response.startswith(b"HTTP/1.1 413 ")
    assert json.loads(response.partition(b"\r\n\r\n")[2])["error"]["code"] == "payload_too_large"
    assert jobs_of(engine, org) == 0


def send_until_refused(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:  # broken pipe or reset once the server has answered and closed
        pass


def test_chunked_body_of_exactly_the_limit_creates_the_job(api_port, org, engine):
    status, _, body = exchange(api_port, chunked_post(org.token, padded(LIMIT)))

    assert status == 201, body
    assert json.loads(body)["domain"] == "example.com"
    assert jobs_of(engine, org) == 1


def test_malformed_chunked_framing_is_400_not_500(api_port, org, engine):
    request = chunked_post(org.token, json.dumps(CREATE).encode()).replace(b"\r\n\r\n19\r\n", b"\r\n\r\nzz\r\n", 1)
    assert b"\r\n\r\nzz\r\n" in request

    assert_json_error(exchange(api_port, request), 400, "invalid_body")
    assert jobs_of(engine, org) == 0


# --- errors gunicorn answers before Flask sees the request (D6) ---------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: api\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
         431, "header_fields_too_large"),
        (b"GET /healthz HTTP/1.1\r\nHost: api\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n",
         431, "header_fields_too_large"),
        (b"GET /v1/jobs?path=" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: api\r\n\r\n", 414, "uri_too_long"),
        (b"GARBAGE\r\n\r\n", 400, "bad_request"),
        (b"GET /healthz HTTP/9.9\r\nHost: api\r\n\r\n", 400, "bad_request"),
        (b"GET /healthz HTTP/1.1\r\nHost: api\r\nBad Header: y\r\n\r\n", 400, "bad_request"),
        (b"GET /healthz HTTP/1.1\r\nHost: api\r\nX-<script>: y\r\n\r\n", 400, "bad_request"),
        (b"POST /v1/jobs HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         400, "bad_request"),
    ],
    ids=["20-kb-header", "150-headers", "10-kb-uri", "malformed-request-line", "unknown-http-version",
         "space-in-header-name", "markup-in-header-name", "content-length-and-chunked"],
)  # fmt: skip
def test_errors_of_the_wsgi_server_are_our_json_shape(api_port, request_bytes, status, code):
    message = assert_json_error(exchange(api_port, request_bytes), status, code)

    assert len(message) <= 300


def test_server_error_messages_say_what_was_wrong(api_port):
    too_long = exchange(api_port, b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: api\r\n\r\n")
    too_large = exchange(api_port, b"GET / HTTP/1.1\r\nHost: api\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")

    assert "4094 bytes" in assert_json_error(too_long, 414, "uri_too_long")
    assert "8190 bytes" in assert_json_error(too_large, 431, "header_fields_too_large")


def test_requests_within_the_limits_still_reach_the_api(api_port, org):
    request = (b"GET /v1/jobs/" + b"a" * 3_000 + b" HTTP/1.1\r\nHost: api\r\nConnection: close\r\n"
               b"Authorization: Bearer " + org.token.encode() + b"\r\n"
               b"X-Big: " + b"a" * 8_000 + b"\r\n\r\n")  # fmt: skip

    assert_json_error(exchange(api_port, request), 404, "job_not_found")  # the API's own answer
