"""A small loopback website on which every branch that builds a per-URL record ends at least once.

tests/integration/test_record_builder.py crawls it and compares the records field by field with
those the crawler produced before its record builders were folded into one (a fixture captured on
that code). Each path is linked once, from `/` (or listed once, by a sitemap), so that its depth,
referrer and cache status do not depend on the order concurrent fetches finish in.

The CDN headers count requests per path: the first answer is the path's first word, every later
one its second (a MISS warmed to a HIT, say); `close` as a later word drops the connection without
an answer (a warm fetch that fails).
"""
from __future__ import annotations

import gzip
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from time import sleep

HTML = "text/html; charset=utf-8"
XML = "application/xml"
BODY_CAP = 4096  # the crawl's CRAWL_BODY_MAX_BYTES in the test

LINKED = (
    "/hit", "/miss", "/expired", "/stale", "/age", "/varnish", "/no-store", "/private-cache", "/cookie", "/warm-fails",
    "/redirect-1", "/loop-a", "/chain/0", "/bad-redirect", "/redirect-refused", "/missing", "/error", "/slow",
    "/timeout", "/big", "/gzip-big", "/file.pdf", "/private/linked",
)
ASSETS = ("/style.css", "/app.js")


def _page(title: str, links: tuple[str, ...] = (), assets: tuple[str, ...] = ()) -> bytes:
    hrefs = "".join(f'<a href="{href}">{href}</a>\n' for href in links)
    heads = "".join(f'<link rel="stylesheet" href="{href}">\n' if href.endswith(".css")
                    else f'<script src="{href}"></script>\n' for href in assets)  # fmt: skip
    return f"<!DOCTYPE html><html><head><title>{title}</title>{heads}</head><body>{hrefs}</body></html>\n".encode()


def _urlset(base: str, paths: tuple[str, ...]) -> bytes:
    entries = "".join(f"<url><loc>{base}{path}</loc></url>" for path in paths)
    namespace = "http://www.sitemaps.org/schemas/sitemap/0.9"
    return f'<?xml version="1.0"?><urlset xmlns="{namespace}">{entries}</urlset>'.encode()


class RecordsSite:
    """The site on an ephemeral 127.0.0.1 port; `refused` is a port nothing listens on."""

    def __init__(self, refused_port: int):
        self.refused_port = refused_port
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                with site.lock:
                    site.hits[self.path] += 1
                    count = site.hits[self.path]
                answer = site.answer(self.path, count, "gzip" in self.headers.get("Accept-Encoding", ""))
                if answer is None:
                    self.close_connection = True  # no answer at all: the client sees the connection drop
                    return
                status, headers, body, delay = answer
                if delay:
                    sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (the timeout page)
                    self.close_connection = True

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the crawl opens many connections at once; the default 5 drops some

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RecordsSite:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # (first answer, later answers) of each CDN-style path: a header and its values.
    CDN = {
        "/hit": ("X-Cache-Status", "HIT", "HIT"),
        "/miss": ("CF-Cache-Status", "MISS", "HIT"),  # warmed to a HIT
        "/expired": ("CF-Cache-Status", "EXPIRED", "UPDATING"),  # warmed to a STALE
        "/stale": ("Cache-Status", "edge; hit; ttl=-5", "edge; hit"),
        "/varnish": ("X-Varnish", "1234", "1235 1234"),  # a MISS warmed to a HIT by Varnish's ids
        "/no-store": ("CF-Cache-Status", "MISS", "HIT"),
        "/private-cache": ("CF-Cache-Status", "MISS", "HIT"),
        "/cookie": ("CF-Cache-Status", "MISS", "HIT"),
        "/warm-fails": ("CF-Cache-Status", "MISS", "close"),
        "/error": ("X-Cache", "MISS from edge", "MISS from edge"),  # a 500 is not warmed
        "/style.css": ("X-Cache", "TCP_HIT from a1", "TCP_HIT from a1"),
        "/target": ("X-Cache-Status", "HIT", "HIT"),
    }
    MORE_HEADERS = {
        "/no-store": [("Cache-Control", "no-store")],
        "/private-cache": [("Cache-Control", "private, max-age=60")],
        "/cookie": [("Set-Cookie", "session=1; Path=/")],
        "/age": [("Age", "30")],
    }

    def answer(self, path: str, count: int, gzip_ok: bool):
        """(status, headers, body, delay) for a request, or None to drop the connection."""
        headers = [("Content-Type", HTML)]
        if path in self.CDN:
            name, first, later = self.CDN[path]
            value = first if count == 1 else later
            if value == "close":
                return None
            headers.append((name, value))
        headers += self.MORE_HEADERS.get(path, [])
        refused = f"http://127.0.0.1:{self.refused_port}"
        redirects = {
            "/redirect-1": "/redirect-2", "/redirect-2": "/target", "/loop-a": "/loop-b", "/loop-b": "/loop-a",
            "/bad-redirect": "ftp://files.example/x", "/redirect-refused": f"{refused}/gone",
            "/sitemap-moved.xml": "/sitemap-pages.xml",
        }  # fmt: skip
        if path in redirects:
            return 302 if path != "/redirect-1" else 301, [*headers, ("Location", redirects[path])], b"", 0
        if path.startswith("/chain/"):
            return 302, [*headers, ("Location", f"/chain/{int(path[7:]) + 1}")], b"", 0
        if path == "/robots.txt":
            sitemaps = ("/sitemap-index.xml", "/sitemap-missing.xml", "/sitemap-broken.xml", "/sitemap-moved.xml")
            text = "User-agent: *\nDisallow: /private/\n" + "".join(f"Sitemap: {self.base}{s}\n" for s in sitemaps)
            text += f"Sitemap: {refused}/sitemap.xml\n"
            return 200, [("Content-Type", "text/plain")], text.encode(), 0
        if path == "/sitemap-index.xml":
            body = ('<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                    f"<sitemap><loc>{self.base}/sitemap-pages.xml</loc></sitemap></sitemapindex>").encode()  # fmt: skip
            return 200, [("Content-Type", XML), ("X-Cache-Status", "HIT")], body, 0
        if path == "/sitemap-pages.xml":
            body = _urlset(self.base, ("/", "/listed", "/private/listed"))
            if gzip_ok:
                # Stored, not compressed: a compressed size would vary with the port in the URLs.
                return 200, [("Content-Type", XML), ("Content-Encoding", "gzip")], gzip.compress(body, 0, mtime=0), 0
            return 200, [("Content-Type", XML)], body, 0
        if path == "/sitemap-broken.xml":
            return 200, [("Content-Type", XML)], b"this is not xml at all", 0
        if path == "/":
            return 200, headers, _page("Home", LINKED, ASSETS), 0
        if path == "/missing" or path == "/app.js":
            return 404, headers, _page("Not found"), 0
        if path == "/error":
            return 500, headers, _page("Server error"), 0
        if path == "/slow":
            return 200, headers, _page("Slow"), 1.5
        if path == "/timeout":
            return 200, headers, _page("Timeout"), 4.0  # over the crawl's DOWNLOAD_TIMEOUT
        if path == "/big":
            return 200, headers, b"x" * (BODY_CAP * 3), 0
        if path == "/gzip-big":  # small on the wire, over the cap once decoded
            body = b" " * (BODY_CAP * 20)
            if gzip_ok:
                return 200, [*headers, ("Content-Encoding", "gzip")], gzip.compress(body, mtime=0), 0
            return 200, headers, body, 0
        if path == "/file.pdf":
            return 200, [("Content-Type", "application/pdf")], b"%PDF-1.4 " + b"0" * 500, 0
        if path == "/style.css":
            return 200, [("Content-Type", "text/css"), *headers[1:]], b"body { color: black }", 0
        if path.startswith("/private/") or path in ("/listed", "/target", *self.CDN, *self.MORE_HEADERS):
            return 200, headers, _page(path), 0
        return 404, headers, _page("Not found"), 0
