"""Loopback stand-ins for the other sites a page links to, and a small site that links to them
(tests/integration/test_external_links.py). Every server listens on 127.0.0.1 on a port of its
own; the host names (`site.test`, `ext.test`, `www.linkedin.com`, ...) are pinned to 127.0.0.1 with
CRAWL_HOST_MAP, so no name is ever looked up and nothing leaves loopback.

- `OutboundSite`: `site.test` with N pages that all link to the same external URLs, one page only
  reachable through a redirect from outside, a `mailto:` link and a link to a private address;
  optional basic auth. It logs every request (method, path, Authorization, extra header).
- `OtherSite`: answers by path: `/ok`, `/head-refused` (405 to HEAD, 200 to GET), `/missing` (404),
  `/retry` (429 with Retry-After: 1 the first time, then 200), `/out` (302 to the site's
  `/back`), `/robots999` (999, as LinkedIn answers crawlers); it counts requests per (method, path).
- `silent_port()`: a port that accepts connections and never answers; `dead_port()`: nothing listens.
"""
from __future__ import annotations

import base64
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # a crawler hanging up is not news
        pass


class _Base:
    def __init__(self):
        self.log: list[tuple[str, str, str | None, str | None]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner._handle(self, body=True)

            def do_HEAD(self) -> None:
                owner._handle(self, body=False)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handle(self, handler, body: bool) -> None:
        with self.lock:
            self.log.append((handler.command, handler.path, handler.headers.get("Authorization"),
                             handler.headers.get("X-Staging-Token")))  # fmt: skip
        status, headers, content = self.answer(handler.command, handler.path, handler)
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        if body:
            handler.wfile.write(content)

    def answer(self, method: str, path: str, handler) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError

    def paths(self, method: str | None = None) -> list[str]:
        with self.lock:
            return [path for verb, path, _, _ in self.log if method is None or verb == method]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def html(links: list[str]) -> bytes:
    anchors = "".join(f'<a href="{link}">{link}</a>\n' for link in links)
    return f"<!doctype html><html><head><title>t</title></head><body>{anchors}</body></html>".encode()


class OtherSite(_Base):
    def __init__(self, site_port: int | None = None):
        self.site_port = site_port
        self.hits: Counter[tuple[str, str]] = Counter()
        super().__init__()

    def answer(self, method: str, path: str, handler) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.hits[method, path] += 1
            retry_hits = self.hits["HEAD", "/retry"] + self.hits["GET", "/retry"]
        page = {"Content-Type": "text/html"}
        if path == "/ok":
            return 200, page, html([]) * 50
        if path == "/head-refused":
            return (405, {"Allow": "GET"}, b"") if method == "HEAD" else (200, page, html([]))
        if path == "/missing":
            return 404, page, b"not here"
        if path == "/retry":
            return (429, {"Retry-After": "1"}, b"") if retry_hits == 1 else (200, page, html([]))
        if path == "/out":
            return 302, {"Location": f"http://site.test:{self.site_port}/back"}, b""
        if path == "/robots999":
            return 999, page, b""
        return 404, page, b""


class OutboundSite(_Base):
    """`site.test`: `/` links to pages `/p/0`..`/p/{pages-1}`, each linking to every URL of `external`,
    and to the first of `extra_paths` (path -> the links on that page)."""

    def __init__(self, pages: int, external: list[str], credentials: tuple[str, str] | None = None,
                 extra_paths: dict[str, list[str]] | None = None):  # fmt: skip
        self.pages = pages
        self.external = external
        self.credentials = credentials
        self.extra_paths = extra_paths or {}
        super().__init__()

    def answer(self, method: str, path: str, handler) -> tuple[int, dict[str, str], bytes]:
        page = {"Content-Type": "text/html"}
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
            if handler.headers.get("Authorization") != expected:
                return 401, {"WWW-Authenticate": 'Basic realm="staging"'}, b"who are you?"
        if path == "/robots.txt":
            return 404, page, b""
        if path == "/":
            # The first extra path only: the others are reached through it (a chain, for depth tests).
            return 200, page, html([f"/p/{index}" for index in range(self.pages)] + list(self.extra_paths)[:1])
        if path.startswith("/p/"):
            return 200, page, html(self.external)
        if path in self.extra_paths:
            return 200, page, html(self.extra_paths[path])
        if path == "/back":
            return 200, page, html([])
        return 404, page, b"no such page"


def dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SilentPort:
    """Accepts connections and never answers (a host that hangs)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.running:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.running = False
        self.sock.close()
        for connection in self.accepted:
            connection.close()
