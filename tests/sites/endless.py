"""An endless website on loopback: every page links to new pages, for ever.

`/` and every `/p/N` answer a small HTML page linking to `/p/(N*FAN_OUT+1)` ... `/p/(N*FAN_OUT+FAN_OUT)`
(`/` is N=0), so a crawl never runs out of URLs and its frontier grows FAN_OUT times faster than it
fetches. No robots.txt, no sitemap (404), no cache headers (nothing is warmed). The server counts
the pages it served, which is what a test compares with the rows a crawl stored. Run
`python -m tests.sites.endless --port N` to serve from a separate process.
"""
from __future__ import annotations

import argparse
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAN_OUT = 20  # new links on every page


def page(number: int) -> bytes:
    links = "".join(f'<li><a href="/p/{number * FAN_OUT + i}">page {number * FAN_OUT + i}</a></li>'
                    for i in range(1, FAN_OUT + 1))  # fmt: skip
    title = f"<title>Page {number}</title>"
    return f"<!doctype html><html><head>{title}</head><body><ul>{links}</ul></body></html>".encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        number = 0 if path == "/" else int(path[3:]) if path.startswith("/p/") and path[3:].isdigit() else None
        body, status = (page(number), 200) if number is not None else (b"not found", 404)
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8" if status == 200 else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if status == 200:
            self.server.site.served()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request, client_address) -> None:
        pass  # the crawler hung up (killed by a test)


class EndlessSite:
    """The endless site on 127.0.0.1 (port 0: the OS picks one); a context manager."""

    def __init__(self, port: int = 0):
        self._lock = threading.Lock()
        self._pages = 0
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.site = self
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"endless-{self.port}", daemon=True)  # fmt: skip

    def served(self) -> None:
        with self._lock:
            self._pages += 1

    @property
    def pages_served(self) -> int:
        """Pages answered 200 so far (each fully written to the crawler)."""
        with self._lock:
            return self._pages

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> EndlessSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with EndlessSite(args.port) as site:
        print(f"listening on {site.port}", flush=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(5):
            print(f"{site.pages_served} pages served", flush=True)


if __name__ == "__main__":
    main()
