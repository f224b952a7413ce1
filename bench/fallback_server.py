"""Fallback site server when nginx cannot be installed: `python -m bench.fallback_server ROOT PORT [LOG]`.

Python's ThreadingHTTPServer with the same CDN header as the nginx config and, when LOG is given,
the same `$msec $status $uri` access-log lines. It is much slower than nginx; the report says when
it was used. Runs in its own process so it never shares a GIL with the benchmark driver.
"""
from __future__ import annotations

import functools
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as with nginx
    log_file = None
    lock = threading.Lock()

    def end_headers(self) -> None:
        self.send_header("X-Cache-Status", "HIT")
        super().end_headers()

    def log_request(self, code="-", size="-") -> None:
        if self.log_file is not None:
            with self.lock:
                self.log_file.write(f"{time.time():.3f} {code} {self.path}\n")
                self.log_file.flush()

    def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # no per-request stderr line: it would dominate the server's time


def main() -> None:
    root, port = sys.argv[1], int(sys.argv[2])
    if len(sys.argv) > 3 and sys.argv[3]:
        Handler.log_file = open(sys.argv[3], "a", encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Handler, directory=root))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
