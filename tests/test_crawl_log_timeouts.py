"""GET /v1/jobs/{id}/log against a scrapyd node that is slow or silent (control_api/nodes/scrapyd_client.py,
crawl_log): real loopback servers, one that accepts connections and never answers, one that sends
the log's head and then stops. The API answers 503 in JSON within seconds, not after SCRAPYD_TIMEOUT
(set to 60 s here), and a log that stops mid-way ends with a line saying so."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from control_api.nodes.scrapyd_client import LOG_CONNECT_TIMEOUT, LOG_READ_TIMEOUT
from tests.helpers import make_test_app

SCRAPYD_TIMEOUT = 60.0
BOUND = LOG_CONNECT_TIMEOUT + LOG_READ_TIMEOUT + 3  # seconds; far below SCRAPYD_TIMEOUT


class Node:
    """A loopback 'scrapyd' that accepts every connection and sends `head` (maybe nothing), then
    keeps the connection open without another byte until closed."""

    def __init__(self, head: bytes = b"") -> None:
        self.head = head
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)
            if self.head:
                connection.recv(65536)  # the request
                connection.sendall(self.head)

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def node_app(database_url):
    apps = []

    def make(node: Node):
        app = make_test_app(database_url, SCRAPYD_URLS=[node.url], SCRAPYD_TIMEOUT=SCRAPYD_TIMEOUT)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["db_engine"].dispose()


def test_a_node_that_accepts_and_never_answers_gives_503_in_seconds(node_app, make_job, org):
    node = Node()
    try:
        app = node_app(node)
        job_id = make_job(org, status="completed", scrapyd_node=node.url)
        started = time.monotonic()
        response = app.test_client().get(f"/v1/jobs/{job_id}/log", headers=org.headers)
        waited = time.monotonic() - started
    finally:
        node.close()
    assert response.status_code == 503, response.data
    error = response.get_json()["error"]
    assert error["code"] == "scheduler_unavailable" and "did not answer within" in error["message"], error
    assert LOG_READ_TIMEOUT - 0.5 < waited < BOUND, waited


def test_a_log_that_stops_coming_ends_with_a_line_saying_so(node_app, make_job, org):
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
            b"2026-12-07 02:00:00 [scrapy.core.engine] INFO: Spider opened\n")  # fmt: skip
    node = Node(head)
    try:
        app = node_app(node)
        job_id = make_job(org, status="completed", scrapyd_node=node.url)
        started = time.monotonic()
        response = app.test_client().get(f"/v1/jobs/{job_id}/log", headers=org.headers)
        text = response.get_data(as_text=True)
        waited = time.monotonic() - started
    finally:
        node.close()
    assert response.status_code == 200
    assert text.startswith("2026-12-07 02:00:00 [scrapy.core.engine] INFO: Spider opened\n"), text
    assert "the crawl log is cut short here" in text and node.url in text, text
    assert waited < BOUND, waited
