"""gunicorn's sync worker, answering the errors gunicorn raises before Flask sees a request (request
line or headers too large, a malformed request line or header) in our one JSON error shape instead
of gunicorn's HTML page.

gunicorn still decides the status, logs the error and writes the access-log line: its own
`handle_error` runs against a stand-in socket, and only the page it would have sent is replaced.
That keeps its mapping of parse errors to statuses (400, 414, 431, ...) the one source of truth,
including for error types a later gunicorn adds.
"""
from __future__ import annotations

import json

from gunicorn import util
from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.workers.sync import SyncWorker

from control_api.errors import HTTP_CODES

DETAIL_CHARS = 200  # gunicorn's detail quotes the client's bytes (up to a 4 KB request line)


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


class JsonErrorWorker(SyncWorker):
    def handle_error(self, req, client, addr, exc) -> None:
        page = _PageRecorder()
        super().handle_error(req, page, addr, exc)
        status, reason = page.status() or (500, "Internal Server Error")
        error = {"code": HTTP_CODES.get(status, "http_error"), "message": self._message(status, reason, exc)}
        body = json.dumps({"error": error}, separators=(",", ":"))  # ASCII: the detail's bytes come escaped
        response = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n{body}")  # fmt: skip
        try:
            util.write_nonblock(client, response.encode("latin-1"))
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
