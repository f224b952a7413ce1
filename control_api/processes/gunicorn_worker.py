"""The API's gunicorn worker: a request reaches the app only once it has arrived whole, so clients
that send slowly cannot stall the API; and the errors gunicorn answers itself are in our JSON shape.

**Slow clients.** gunicorn's threaded worker (`gthread`) waits for a connection's first byte in its
event loop but then reads the request in a pool thread, which a client sending a byte every few
seconds holds for as long as it likes: a handful of them and every thread, and every sync worker,
is taken. This worker reads each request in the event loop instead, without blocking, into a
RequestBuffer (control_api/processes/request_buffer.py), and submits it to the thread pool only once the
headers and body are all there (or the request is already sure to be refused). A request must
arrive whole within API_REQUEST_SECONDS (30 s) of the connection being ready for it, else the
client gets 408 and the connection is closed. What is held is bounded: at most
`worker_connections` requests per worker (control_api/processes/gunicorn_conf.py), each at most gunicorn's
header limits plus the largest body the app accepts (max of API_MAX_BODY_BYTES and
HOOK_MAX_BODY_BYTES). docs/deploy.md says why this rather than a proxy in front.

**JSON error pages.** gunicorn still decides the status of a request it cannot parse, logs the
error and writes the access-log line: its own `handle_error` runs against a stand-in socket, and
only the page it would have sent is replaced. That keeps its mapping of parse errors to statuses
(400, 414, 431, ...) the one source of truth, including for error types a later gunicorn adds.
"""
from __future__ import annotations

import json
import selectors
import time
from functools import partial

from gunicorn import util
from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.workers.gthread import ThreadWorker

from control_api.config import Config
from control_api.errors import HTTP_CODES
from control_api.processes.request_buffer import RequestBuffer

DETAIL_CHARS = 200  # gunicorn's detail quotes the client's bytes (up to a 4 KB request line)
READ_SIZE = 64 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _PageRecorder:
    """Takes the place of the client socket while gunicorn writes its error page."""

    def __init__(self) -> None:
        self.sent = b""

    def gettimeout(self) -> float:
        return 0.0

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def status(self) -> tuple[int, str] | None:
        """(status, reason) from the page's status line, e.g. `HTTP/1.1 431 Request Header Fields Too Large`."""
        parts = self.sent.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        if len(parts) == 3 and parts[1].isdigit():
            return int(parts[1]), parts[2]
        return None


def json_error(status: int, reason: str, message: str) -> bytes:
    error = {"code": HTTP_CODES.get(status, "http_error"), "message": message}
    body = json.dumps({"error": error}, separators=(",", ":"))  # ASCII: the detail's bytes come escaped
    return (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode("latin-1")  # fmt: skip


class JsonErrorPages:
    """For a gunicorn worker class: its error pages in the API's JSON shape."""

    def handle_error(self, req, client, addr, exc) -> None:
        page = _PageRecorder()
        super().handle_error(req, page, addr, exc)
        status, reason = page.status() or (500, "Internal Server Error")
        try:
            util.write_nonblock(client, json_error(status, reason, self._message(status, reason, exc)))
        except Exception:  # the client is gone; gunicorn gives up the same way
            self.log.debug("Failed to send error message.")

    def _message(self, status: int, reason: str, exc: BaseException) -> str:
        if isinstance(exc, LimitRequestLine):
            limit = self.cfg.limit_request_line
            return f"The request line (method, path and query string) is longer than {limit} bytes."
        if isinstance(exc, LimitRequestHeaders):
            return (f"The request headers are too large: at most {self.cfg.limit_request_fields} header fields "
                    f"of {self.cfg.limit_request_field_size} bytes each.")  # fmt: skip
        if status == 500:
            return "An unexpected error occurred."
        detail = str(exc)[:DETAIL_CHARS] or reason
        return f"Malformed HTTP request: {detail}." if status == 400 else f"{reason}: {detail}."


class BufferingWorker(JsonErrorPages, ThreadWorker):
    """gthread, with each request read whole in the event loop before a thread sees it."""

    def init_process(self) -> None:
        config = Config()
        self.request_seconds = config.API_REQUEST_SECONDS
        self.body_limit = max(config.API_MAX_BODY_BYTES, config.HOOK_MAX_BODY_BYTES)
        # As much as gunicorn's parser reads before it answers 414 or 431 (gunicorn/http/message.py).
        fields, field_size = self.cfg.limit_request_fields, self.cfg.limit_request_field_size
        self.header_limit = self.cfg.limit_request_line + 2 + fields * (field_size + 2) + 4
        self.arriving: dict = {}  # connection -> monotonic deadline for its request to be whole
        super().init_process()  # runs the worker

    def enqueue_req(self, conn) -> None:
        """Every way a connection reaches the thread pool (accepted, kept alive, pipelined) comes here:
        a connection whose request has arrived goes on to a thread, any other waits for it first."""
        if getattr(conn, "arrived", None) is not None:
            super().enqueue_req(conn)
            return
        conn.request = RequestBuffer(self.header_limit, self.body_limit)
        conn.sent_continue = False
        read_ahead = conn.parser.unreader.take_buffered() if conn.parser else b""  # pipelined requests
        conn.sock.setblocking(False)
        self.arriving[conn] = time.monotonic() + self.request_seconds
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_request_bytes, conn))
        if read_ahead:
            self._received(conn, read_ahead)

    def on_request_bytes(self, conn, _sock) -> None:
        try:
            data = conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client closed or reset the connection before its request was whole
            self._drop(conn)
            return
        self._received(conn, data)

    def _received(self, conn, data: bytes) -> None:
        request = conn.request
        if request.feed(data):
            self.poller.unregister(conn.sock)
            del self.arriving[conn]
            conn.arrived, conn.request = bytes(request.data), None
            conn.data_ready = True  # gthread must not wait for bytes that are already here
            self.enqueue_req(conn)
        elif request.wants_continue and not conn.sent_continue:
            # The client waits for this before it sends its body. gunicorn sends its own too once the
            # app runs: several 1xx answers before the final one are allowed (RFC 9110, 15.2).
            conn.sent_continue = True
            try:
                conn.sock.send(CONTINUE)
            except OSError:
                pass

    def handle(self, conn):
        """In a pool thread: the parser reads the request from what has arrived, then gthread goes on."""
        arrived, conn.arrived = conn.arrived, None
        conn.sock.setblocking(True)
        conn.init()
        conn.parser.unreader.unread(arrived)
        return super().handle(conn)

    def murder_pending(self) -> None:
        """Also (the event loop calls this every second at least) ends the requests that are too late."""
        super().murder_pending()
        now = time.monotonic()
        for conn, deadline in list(self.arriving.items()):
            if not conn.request.data and not self.alive:
                self._drop(conn)  # stopping: an idle connection is not worth waiting for
            elif now >= deadline:
                if conn.request.data:
                    self.log.info("Request from %s not whole after %.0f s: 408", conn.client, self.request_seconds)
                    message = f"The request did not arrive whole within {self.request_seconds:g} s."
                    try:
                        conn.sock.send(json_error(408, "Request Timeout", message))
                    except OSError:
                        pass
                self._drop(conn)

    def _drop(self, conn) -> None:
        self.poller.unregister(conn.sock)
        self.arriving.pop(conn, None)
        self.nr_conns -= 1
        conn.close()
