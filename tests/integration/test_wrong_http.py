"""A server that answers HTTP wrongly: every URL still gets a record that says what went wrong.

The download handler is aiohttp's client (crawler/handlers.py), whose parser (llhttp) is stricter
than Twisted's lenient one. A raw socket server on loopback answers each path with one kind of
wrong answer; an ad-hoc crawl of it must end, record every URL once (a page where the answer could
be read, a per-URL error where it could not), log no traceback, and take seconds, not the timeout.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.integration.test_crawl_options import adhoc_crawl

INDEX_LINKS = ("/garbage", "/short", "/no-reason", "/huge-header", "/silent", "/bad-chunks", "/lf-only", "/ok")
INDEX = ("<html><body>" + "".join(f'<a href="{path}">{path}</a>' for path in INDEX_LINKS) + "</body></html>").encode()


def answer(path: str) -> bytes | None:
    """The bytes sent for `path` before the connection is closed (None: close without a word)."""
    html = b"<html><body>fine</body></html>"
    if path == "/":
        return b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(INDEX), INDEX)
    if path == "/garbage":
        return b"THIS IS NOT HTTP\r\n\r\n"
    if path == "/short":  # promises 10,000 bytes, sends 11
        return b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 10000\r\n\r\n<html>short"
    if path == "/no-reason":  # no reason phrase: legal, and read as a page
        return b"HTTP/1.1 200\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(html), html)
    if path == "/huge-header":  # one 200 KB header line
        return b"HTTP/1.1 200 OK\r\nX-Filler: " + b"a" * 200_000 + b"\r\nContent-Length: 2\r\n\r\nok"
    if path == "/silent":
        return None
    if path == "/bad-chunks":
        return b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n"
    if path == "/lf-only":  # bare LF line ends, which some old servers send
        return b"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: %d\n\n%s" % (len(html), html)
    if path == "/ok":
        return b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(html), html)
    return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class WrongServer:
    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    @staticmethod
    def handle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            path = request.split(b" ", 2)[1].decode()
            reply = answer(path)
            if reply:
                conn.sendall(reply)

    def stop(self) -> None:
        self.stopped = True
        self.sock.close()


@pytest.fixture
def wrong_server():
    server = WrongServer()
    yield server
    server.stop()


def test_every_wrong_answer_is_a_record_that_says_what_went_wrong(wrong_server, tmp_path):
    base = f"http://127.0.0.1:{wrong_server.port}"
    started = time.monotonic()
    records = adhoc_crawl(None, tmp_path, "-a", "use_sitemap=false", "-s", "RETRY_TIMES=0", "-s", "DOWNLOAD_TIMEOUT=10",
                          "-s", "ROBOTSTXT_OBEY=false", domain=base)  # fmt: skip
    took = time.monotonic() - started
    by_path = {record["url"].removeprefix(base): record for record in records}
    assert sorted(by_path) == sorted(("/", *INDEX_LINKS)), sorted(by_path)  # each URL once
    assert len(records) == len(by_path)
    for path in ("/", "/no-reason", "/ok"):
        assert (by_path[path]["status"], by_path[path]["http_status"]) == ("completed", 200), by_path[path]
    for path in ("/garbage", "/short", "/huge-header", "/silent", "/bad-chunks"):
        record = by_path[path]
        assert (record["status"], record["http_status"]) == ("failed", None), record
        assert record["error_type"] == "network" and record["error"], record
        assert "\n" not in record["error"] and "400, message" not in record["error"], record  # one line, no false status
    assert "Bad status line" in by_path["/garbage"]["error"]
    assert "received 11 of 10000 bytes" in by_path["/short"]["error"]
    # Bare LF line ends: read as a page, or refused with a reason; never lost.
    assert by_path["/lf-only"]["status"] in {"completed", "failed"} and (
        by_path["/lf-only"]["status"] == "completed" or by_path["/lf-only"]["error"])  # fmt: skip
    log = (tmp_path / "crawl.log").read_text()
    assert "Traceback" not in log, log[-3000:]
    assert took < 30, took  # no answer waits for DOWNLOAD_TIMEOUT: each wrong answer ends its connection
