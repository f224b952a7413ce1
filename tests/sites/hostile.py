"""Hostile sites on loopback for the decoded-size and sitemap caps (issue 18, items 2 and 3).

`HostileServer(site)` serves one of them on 127.0.0.1 (ephemeral port) from a thread and records
when its first request came (for a test that measures the crawler's memory from that moment):

- `BOMBS`: `/` links to compression bombs, each a few hundred bytes to a few hundred KB that
  expand to 256 MiB (`Content-Encoding: gzip, gzip, gzip`; gzip; deflate; br), and to `/after`,
  which links on to `/after-2`; robots.txt names three sitemap bombs: a `.xml.gz` file, a sitemap
  sent with `Content-Encoding: gzip`, and a `.xml.gz` file sent with `Content-Encoding: gzip` on
  top, each a urlset of one URL followed by 256 MiB of blanks.
- `CHAIN`: robots.txt names `/sitemap-index-0.xml`; index N lists indexes 3N+1..3N+3, forever,
  and, with `big=True`, `/big-urlset.xml`, a urlset of 740,000 URLs sent with `Content-Encoding:
  gzip` (1.9 MB on the wire, 42 MB decoded).
- `TOO_MANY_URLS`: a urlset of 50,000 entries for `/same` and then `/beyond-1` .. `/beyond-5`.
"""
from __future__ import annotations

import gzip
import threading
import time
import zlib
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli

BOMB_SIZE = 256 * 1024 * 1024  # decoded bytes of every bomb
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
BIG_URLSET_URLS = 740_000
PAGE = b"<!doctype html><title>%s</title><p>%s</p>"


def _compressed_blanks(compressor) -> bytes:
    """BOMB_SIZE blanks through a streaming compressor, 1 MiB at a time."""
    block = b" " * (1 << 20)
    if isinstance(compressor, brotli.Compressor):
        parts = [compressor.process(block) for _ in range(BOMB_SIZE >> 20)]
        parts.append(compressor.finish())
    else:
        parts = [compressor.compress(block) for _ in range(BOMB_SIZE >> 20)]
        parts.append(compressor.flush())
    return b"".join(parts)


@cache
def gzip_bomb() -> bytes:
    return _compressed_blanks(zlib.compressobj(9, zlib.DEFLATED, 31))


@cache
def triple_gzip_bomb() -> bytes:
    return gzip.compress(gzip.compress(gzip_bomb(), 9, mtime=0), 9, mtime=0)


@cache
def deflate_bomb() -> bytes:
    return _compressed_blanks(zlib.compressobj(9, zlib.DEFLATED, 15))


@cache
def brotli_bomb() -> bytes:
    return _compressed_blanks(brotli.Compressor(quality=5))


def sitemap_bomb(url: str) -> bytes:
    """A gzip file: a urlset that lists `url`, then 256 MiB of blanks, never closed (a second
    gzip member, which every gzip reader appends)."""
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="{SITEMAP_NS}"><url><loc>{url}</loc></url>\n'
    return gzip.compress(head.encode(), mtime=0) + gzip_bomb()


def urlset(urls) -> bytes:
    entries = "".join(f"<url><loc>{url}</loc></url>\n" for url in urls)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="{SITEMAP_NS}">\n{entries}</urlset>\n'.encode()


def sitemap_index(urls) -> bytes:
    entries = "".join(f"<sitemap><loc>{url}</loc></sitemap>\n" for url in urls)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="{SITEMAP_NS}">\n{entries}</sitemapindex>\n'.encode()


@cache
def big_urlset(base: str) -> bytes:
    return gzip.compress(urlset(f"{base}/page/{n}" for n in range(BIG_URLSET_URLS)), 6, mtime=0)


class Answer:
    def __init__(self, body: bytes, content_type: str = "text/html", encoding: str | None = None):
        self.body, self.content_type, self.encoding = body, content_type, encoding


def bombs(path: str, base: str) -> Answer | None:
    links = ["/bomb/gzip3", "/bomb/gzip", "/bomb/deflate", "/bomb/br", "/after"]
    if path == "/":
        return Answer(PAGE % (b"Bombs", "".join(f'<a href="{link}">{link}</a>' for link in links).encode()))
    if path == "/robots.txt":
        names = ("/bomb-sitemap.xml.gz", "/bomb-sitemap.xml", "/bomb-sitemap-twice.xml.gz")
        return Answer("".join(f"Sitemap: {base}{name}\n" for name in names).encode(), "text/plain")
    if path == "/after":
        return Answer(PAGE % (b"After", b'<a href="/after-2">on</a>'))
    if path in ("/after-2", "/from-gz-sitemap", "/from-ce-sitemap", "/from-twice-sitemap"):
        return Answer(PAGE % (path.encode(), b"still crawling"))
    encoded = {"/bomb/gzip3": (triple_gzip_bomb, "gzip, gzip, gzip"), "/bomb/gzip": (gzip_bomb, "gzip"),
               "/bomb/deflate": (deflate_bomb, "deflate"), "/bomb/br": (brotli_bomb, "br")}  # fmt: skip
    if path in encoded:
        make, encoding = encoded[path]
        return Answer(make(), "text/html", encoding)
    if path == "/bomb-sitemap.xml.gz":
        return Answer(sitemap_bomb(f"{base}/from-gz-sitemap"), "application/x-gzip")
    if path == "/bomb-sitemap.xml":
        return Answer(sitemap_bomb(f"{base}/from-ce-sitemap"), "application/xml", "gzip")
    if path == "/bomb-sitemap-twice.xml.gz":
        return Answer(gzip.compress(sitemap_bomb(f"{base}/from-twice-sitemap"), mtime=0), "application/x-gzip", "gzip")
    return None


def chain(path: str, base: str, big: bool) -> Answer | None:
    if path == "/":
        return Answer(PAGE % (b"Chain", b"no links"))
    if path == "/robots.txt":
        return Answer(f"Sitemap: {base}/sitemap-index-0.xml\n".encode(), "text/plain")
    if path.startswith("/sitemap-index-") and path.endswith(".xml"):
        n = int(path.removeprefix("/sitemap-index-").removesuffix(".xml"))
        children = [f"{base}/sitemap-index-{3 * n + k}.xml" for k in (1, 2, 3)]
        return Answer(sitemap_index(children + ([f"{base}/big-urlset.xml"] if big else [])), "application/xml")
    if big and path == "/big-urlset.xml":
        return Answer(big_urlset(base), "application/xml", "gzip")
    if path.startswith("/page/"):
        return Answer(PAGE % (path.encode(), b"a page"))
    return None


def too_many_urls(path: str, base: str) -> Answer | None:
    if path == "/":
        return Answer(PAGE % (b"Many", b"no links"))
    if path == "/robots.txt":
        return Answer(f"Sitemap: {base}/many.xml\n".encode(), "text/plain")
    if path == "/many.xml":
        urls = [f"{base}/same"] * 50_000 + [f"{base}/beyond-{n}" for n in range(1, 6)]
        return Answer(gzip.compress(urlset(urls), mtime=0), "application/xml", "gzip")
    if path == "/same" or path.startswith("/beyond-"):
        return Answer(PAGE % (path.encode(), b"listed"))
    return None


class HostileServer:
    """`with HostileServer("bombs") as server:` — `server.base` is its URL, `server.paths` what
    was requested, `server.first_request_at` the monotonic time of the first request."""

    def __init__(self, site: str, big: bool = False):
        self.site, self.big = site, big
        self.paths: list[str] = []
        self.first_request_at: float | None = None

    def answer(self, path: str) -> Answer | None:
        if self.site == "bombs":
            return bombs(path, self.base)
        if self.site == "chain":
            return chain(path, self.base, self.big)
        return too_many_urls(path, self.base)

    def __enter__(self) -> HostileServer:
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if server_self.first_request_at is None:
                    server_self.first_request_at = time.monotonic()
                path = self.path.split("?", 1)[0]
                server_self.paths.append(path)
                answer = server_self.answer(path)
                if answer is None:
                    answer = Answer(b"not found", "text/plain")
                    self.send_response(404)
                else:
                    self.send_response(200)
                self.send_header("Content-Type", answer.content_type)
                if answer.encoding:
                    self.send_header("Content-Encoding", answer.encoding)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                try:
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):  # the crawler stopped reading at its cap
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        # Made before the crawl asks, so that they are answered at once, as files would be.
        if self.site == "chain" and self.big:
            big_urlset(self.base)
        if self.site == "bombs":
            for make in (triple_gzip_bomb, deflate_bomb, brotli_bomb):
                make()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
