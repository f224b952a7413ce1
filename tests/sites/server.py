"""A real HTTP server on loopback that serves the test website described in `pages.py`.

`SiteServer` runs a `ThreadingHTTPServer` on 127.0.0.1 (port 0: the OS picks one) in a background
thread and routes each request by its Host header, so one port serves the virtual hosts
`site.test`, `www.site.test` (the same pages), `blog.site.test` and `other.test` (and the small
sites of `behaviour.py`); any other host is a 404. It speaks HTTP/1.1 with keep-alive, answers GET
and HEAD, logs nothing, and records every request as (host, path, user agent) so a test can check
what a crawl fetched — `hits()` counts them and `reset()` clears the log and the per-URL counters
behind the CDN MISS-then-HIT headers and the 429s of /retry-after. `SiteServer(address="::1")`
serves the same on the IPv6 loopback. Run `python -m tests.sites.server --port N` to serve from a separate
process: it prints `listening on PORT` and serves until SIGINT or SIGTERM.
"""
from __future__ import annotations

import argparse
import gzip
import html
import random
import re
import signal
import socket
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, NamedTuple
from urllib.parse import parse_qs, urlsplit

from .behaviour import BEHAVIOUR_HOSTS
from .pages import (
    BIG_BYTES,
    BROKEN_SITEMAP,
    CDN_STYLES,
    EXPECTED,
    HOSTS,
    HTML,
    NEVER_FETCHED,
    ORDER_DEPENDENT,
    PDF_BYTES,
    REFERRERS,
    ROBOTS_TXT,
    SITE,
    SITE_HOST,
    SITEMAP_INDEX,
    SITEMAPS,
    UNLINKED,
    WWW_HOST,
    Expect,
    Page,
    expected_for,
    fill,
)

ALL_HOSTS = {**HOSTS, **BEHAVIOUR_HOSTS}

# The site's data is re-exported, so a test needs one import.
__all__ = [
    "EXPECTED",
    "NEVER_FETCHED",
    "ORDER_DEPENDENT",
    "REFERRERS",
    "UNLINKED",
    "Expect",
    "SiteServer",
    "expected_for",
]


@dataclass(frozen=True)
class Ctx:
    """What a body builder needs to know about the request."""

    port: int
    path: str
    query: str
    origin: str  # prefixed to root-relative hrefs ("" but on the www alias)


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0


# --- bodies --------------------------------------------------------------------------------------
def href(link: str, ctx: Ctx) -> str:
    url = fill(link, ctx.port)
    return ctx.origin + url if url.startswith("/") else url


def render_assets(assets: tuple[str, ...]) -> str:
    tags = {".css": '<link rel="stylesheet" href="{}">', ".png": '<img src="{}" alt="">', ".js": '<script src="{}"></script>'}
    return "".join(tags[asset[asset.rfind("."):]].format(html.escape(asset)) for asset in assets)


def render_html(title: str, links: tuple[str, ...], ctx: Ctx, assets: tuple[str, ...] = ()) -> bytes:
    items = "".join(
        f'<li><a href="{html.escape(href(link, ctx))}">{html.escape(href(link, ctx))}</a></li>\n'
        for link in links
    )
    listing = f"<ul>\n{items}</ul>\n" if items else ""
    title = html.escape(title)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n'
        f'<head><meta charset="utf-8"><title>{title}</title>{render_assets(assets)}</head>\n'
        f"<body>\n<h1>{title}</h1>\n{listing}</body>\n</html>\n"
    ).encode()


def sitemap_index(ctx: Ctx) -> bytes:
    entries = "".join(f"  <sitemap><loc>{fill(SITE, ctx.port)}{path}</loc></sitemap>\n" for path in SITEMAP_INDEX)
    return _xml("sitemapindex", entries)


def urlset(ctx: Ctx) -> bytes:
    entries = "".join(f"  <url><loc>{fill(SITE, ctx.port)}{path}</loc></url>\n" for path in SITEMAPS[ctx.path])
    return _xml("urlset", entries)


def _xml(root: str, entries: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{root} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</{root}>\n'
    ).encode()


def urlset_gzip(ctx: Ctx) -> bytes:
    # The body itself is gzip (no Content-Encoding), as for a real sitemap.xml.gz file.
    return gzip.compress(urlset(ctx), mtime=0)


MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
FIRST_MONTH, LAST_MONTH = 1000 * 12, 9999 * 12 + 11  # months since year 0, for years 1000..9999


def calendar(ctx: Ctx) -> bytes | None:
    """A month page linking to the month before and after: an endless chain of query URLs."""
    months = parse_qs(ctx.query).get("month", [])
    match = MONTH.fullmatch(months[0]) if len(months) == 1 else None
    if not match or int(match[1]) < 1000:
        return None
    index = int(match[1]) * 12 + int(match[2]) - 1
    links = tuple(
        f"/calendar?month={i // 12:04d}-{i % 12 + 1:02d}"
        for i in (index - 1, index + 1)
        if FIRST_MONTH <= i <= LAST_MONTH
    )
    return render_html(f"Calendar {months[0]}", links, ctx)


def big(ctx: Ctx) -> bytes:
    # The only link is at the very end, past the body cap: a capped crawl never sees it.
    return _big_body(href("/big-tail", ctx))


@cache
def _big_body(tail_href: str) -> bytes:
    head = '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Big</title></head>\n<body>\n'
    tail = f'<p><a href="{tail_href}">the end</a></p>\n</body>\n</html>\n'
    line = "<p>Filler text, so that this page is bigger than the crawler's body cap.</p>\n"
    count = (BIG_BYTES - len(head) - len(tail)) // len(line) + 1
    return (head + line * count + tail).encode()


def pdf(ctx: Ctx) -> bytes:
    return _pdf_body()


@cache
def _pdf_body() -> bytes:
    # Seeded noise, so every run serves the same bytes. The href in the middle is a trap: a
    # crawler that parsed the PDF as HTML would request /from-pdf.
    noise = random.Random(2026).randbytes(PDF_BYTES)
    half = PDF_BYTES // 2
    return b"%PDF-1.4\n" + noise[:half] + b'<a href="/from-pdf">x</a>' + noise[half:] + b"\n%%EOF\n"


def asset(ctx: Ctx) -> bytes:
    return b"/* asset */" if ctx.path.endswith(".css") else b"\x89PNG\r\n\x1a\n" + bytes(64)


BUILDERS: dict[str, Callable[[Ctx], bytes | None]] = {
    "asset": asset,
    "robots": lambda ctx: fill(ROBOTS_TXT, ctx.port).encode(),
    "sitemap_index": sitemap_index,
    "urlset": urlset,
    "urlset_gzip": urlset_gzip,
    "broken_sitemap": lambda ctx: fill(BROKEN_SITEMAP, ctx.port).encode(),
    "calendar": calendar,
    "big": big,
    "pdf": pdf,
}


# --- HTTP plumbing -------------------------------------------------------------------------------
def host_name(header: str) -> str:
    """The Host header without its port, lower-cased: "Site.Test:8080" -> "site.test"."""
    host = header.strip().lower()
    if host.startswith("["):  # an IPv6 literal: its colons are not a port
        return host.partition("]")[0] + "]"
    return host.partition(":")[0].rstrip(".")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so every reply carries Content-Length
    server_version = "SiteTest/1.0"
    timeout = 30  # let an idle keep-alive connection (and its thread) go

    def setup(self) -> None:
        super().setup()
        self.server.site._track(self.connection, is_open=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.site._track(self.connection, is_open=False)

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _serve(self, send_body: bool) -> None:
        site = self.server.site
        host = host_name(self.headers.get("Host", ""))
        site._record(host, self.path, self.headers.get("User-Agent", ""))
        reply = site.answer(host, self.path, self.headers.get("Accept-Encoding", ""))
        # Sleep on the stop event, so stopping the server cuts /slow and /timeout short.
        if reply.delay and site._stopping.wait(reply.delay):
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if send_body:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck in /timeout must not hold up interpreter exit
    allow_reuse_address = True
    request_queue_size = 256  # the default backlog of 5 drops bursts of connects: 1 s SYN retries

    def __init__(self, site: SiteServer, address: str, port: int):
        self.site = site
        if ":" in address:
            self.address_family = socket.AF_INET6
        super().__init__((address, port), _Handler)

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client hung up, e.g. after its own download timeout
        super().handle_error(request, client_address)


class SiteServer:
    """The test website on 127.0.0.1 (or `address`, e.g. "::1"); use as a context manager, or
    start() and stop()."""

    def __init__(self, port: int = 0, address: str = "127.0.0.1"):
        self._lock = threading.Lock()
        self._requests: list[tuple[str, str, str]] = []
        self._counts: Counter[tuple[str, str]] = Counter()  # (host, path) -> requests so far
        self._connections: set = set()
        self._stopping = threading.Event()
        self.delay = 0.0  # extra seconds before every reply, for tests that need a crawl to last
        self._httpd = _HTTPServer(self, address, port)  # bound now, so .port is known before start()
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"site-{self.port}", daemon=True
        )

    def start(self) -> SiteServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:  # end keep-alive connections too, so their threads exit now
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    # --- the request log ---
    @property
    def requests(self) -> list[tuple[str, str, str]]:
        """A snapshot of the requests so far: (host without port, path with query, user agent)."""
        with self._lock:
            return list(self._requests)

    def hits(self, path: str, host: str = SITE_HOST) -> int:
        """How many requests asked `host` for exactly `path` (query included)."""
        return sum(1 for h, p, _ in self.requests if h == host and p == path)

    def reset(self) -> None:
        """Forget the request log and the counters: every URL is a cache MISS again."""
        with self._lock:
            self._requests.clear()
            self._counts.clear()

    def _record(self, host: str, path: str, user_agent: str) -> None:
        with self._lock:
            self._requests.append((host, path, user_agent))

    def _count(self, host: str, path: str) -> int:
        with self._lock:
            self._counts[host, path] += 1
            return self._counts[host, path]

    def _track(self, connection, is_open: bool) -> None:
        with self._lock:
            (self._connections.add if is_open else self._connections.discard)(connection)

    # --- routing ---
    def answer(self, host: str, target: str, accept_encoding: str = "") -> Reply:
        """The reply for one request; counts it for the cache and 429 sequences. A page marked
        `compress` is gzip-encoded for a client that accepts gzip."""
        parts = urlsplit(target)
        origin = fill(SITE, self.port) if host == WWW_HOST else ""  # the www copy links to site.test
        ctx = Ctx(self.port, parts.path, parts.query, origin)
        page = ALL_HOSTS.get(host, {}).get(parts.path)
        if page is None:
            return not_found(ctx)
        # Counted per host and full target: /products?a=1&b=2 and www.site.test/about have their
        # own cache entries, as on a real CDN.
        count = self._count(host, target)
        if count <= page.fail_first:
            headers = {"Content-Type": HTML, "Retry-After": "1"}
            return Reply(page.fail_status, headers, render_html("Slow down", (), ctx))
        if page.text is not None:
            body = fill(page.text, self.port).encode()
        elif page.builder:
            body = BUILDERS[page.builder](ctx)
        else:
            body = render_html(page.title or "Redirect", page.links, ctx, page.assets)
        if body is None:
            return not_found(ctx)
        headers = page_headers(page, count, self.port)
        if page.compress and "gzip" in accept_encoding.lower():
            body = gzip.compress(body, mtime=0)
            headers.update({"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        return Reply(page.status, headers, body, page.delay + self.delay)


def page_headers(page: Page, count: int, port: int = 0) -> dict[str, str]:
    headers = {"Content-Type": page.content_type}
    if page.location:
        headers["Location"] = fill(page.location, port)
    if page.cdn:
        first, later = CDN_STYLES[page.cdn]
        headers.update(first if count == 1 else later)
    headers.update(page.headers)
    return headers


def not_found(ctx: Ctx) -> Reply:
    return Reply(404, {"Content-Type": HTML}, render_html("Not found", (), ctx))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the test website on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    args = parser.parse_args(argv)
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    with SiteServer(args.port) as server:
        print(f"listening on {server.port}", flush=True)
        done.wait()


if __name__ == "__main__":
    main()
