"""A light page and a deliberately heavy one, for the browser measurements (control_api/jobs/browser/):
the heavy page waits for a large image (its LCP element, served after a delay), shifts its layout
after the first paint and runs a long script, and logs an error to the console. Served by
`HeavySite` on an ephemeral loopback port."""
from __future__ import annotations

import random
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IMAGE_DELAY_SECONDS = 0.8


def noise_png(width: int, height: int, seed: int = 20) -> bytes:
    """A valid PNG of random pixels: incompressible, so it weighs what its size says (~3 bytes a pixel)."""
    rng = random.Random(seed)
    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


LIGHT = b"""<!DOCTYPE html><html><head><title>Light</title></head><body>
<h1>A light page</h1><p>Some text and nothing else.</p></body></html>"""

HEAVY = b"""<!DOCTYPE html><html><head><title>Heavy</title><script src="/app.js" defer></script></head><body>
<div id="top"></div>
<h1>A heavy page</h1><p>Text that moves when the banner arrives.</p>
<img src="/hero.png" width="1200" height="700" alt="hero">
<p>More text below the hero image.</p>
</body></html>"""

# After the first paint: a banner pushes everything down (a layout shift), then 600 ms of busy work
# (a long task), and an error in the console.
APP_JS = b"""
setTimeout(() => {
  const banner = document.createElement('div');
  banner.style.height = '300px';
  banner.textContent = 'Late banner';
  document.getElementById('top').appendChild(banner);
}, 150);
setTimeout(() => {
  const end = performance.now() + 600;
  while (performance.now() < end) { Math.sqrt(Math.random()); }
  console.error('heavy page: something went wrong');
}, 250);
"""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        routes = {"/light": (LIGHT, "text/html"), "/heavy": (HEAVY, "text/html"), "/app.js": (APP_JS, "text/javascript"),
                  "/hero.png": (self.server.image, "image/png"), "/favicon.ico": (b"", "image/x-icon")}  # fmt: skip
        body, content_type = routes.get(self.path, (b"not found", "text/plain"))
        if self.path == "/hero.png":
            time.sleep(IMAGE_DELAY_SECONDS)
        self.send_response(200 if self.path in routes else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HeavySite:
    def __enter__(self) -> HeavySite:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.image = noise_png(1200, 700)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
