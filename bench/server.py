"""Serve the benchmark site on 127.0.0.1, and measure that server's own ceiling with wrk.

nginx is the server because a crawl figure only means something when the server is not the
bottleneck: one nginx worker serves static files several times faster than a Python crawler can
fetch and parse them, and `wrk` shows by how much (the ceiling printed next to every crawl figure).
A fresh machine has neither tool, so `ensure_tools` installs them with apt (we run as root). When
apt cannot, the site is served by Python's ThreadingHTTPServer instead, and the report says so:
crawl figures against that server measure the server as much as the crawler.

Every response carries `X-Cache-Status: HIT`, as a CDN would, so the crawler's cache-status code
runs on every page (HIT: no warm re-fetch, so the crawl fetches each page exactly once).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.nginxconf import JS_MODULE, Site, render

# `$msec $status $uri`, space-separated: what `logged_times` reads (and bench/fallback_server.py writes).
LOG_FORMAT = "'$msec $status $request_uri'"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def ensure_tools() -> list[str]:
    """Install nginx-light (with its js module) and wrk with apt when missing; returns notes for the report."""
    if find_nginx() and shutil.which("wrk") and JS_MODULE.exists():
        return []
    # libnginx-mod-http-js: the slow origins' timer (bench/nginxconf.py)
    log("nginx, its js module or wrk missing: apt-get install -y nginx-light libnginx-mod-http-js wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for command in (["apt-get", "update"], ["apt-get", "install", "-y", "nginx-light", "libnginx-mod-http-js", "wrk"]):
            subprocess.run(command, env=env, check=True, timeout=600, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (OSError, subprocess.SubprocessError) as exc:
        log(f"apt-get failed ({exc.__class__.__name__}): falling back to Python's http.server")
    notes = []
    if not find_nginx():
        notes.append("nginx could not be installed: the site was served by Python's ThreadingHTTPServer")
    if not shutil.which("wrk"):
        notes.append("wrk could not be installed: no server ceiling measured")
    return notes


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout} s")


class SiteServer:
    """nginx (or the Python fallback) serving `root` on 127.0.0.1:`port`; a context manager.

    `access_log=True` logs `$msec $status $uri` per request (to time a crawl's first request);
    otherwise logging is off, because writing a log line per request costs the server CPU that the
    crawler on the same two cores would otherwise get.
    """

    def __init__(self, root: Path, port: int, access_log: bool = False):
        self.root, self.port, self.access_log = root.resolve(), port, access_log  # nginx: relative = to -p
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        self.log_path = self.tmp / "access.log"
        self.nginx = find_nginx()
        self.kind = "nginx" if self.nginx else "python-http.server"
        self.process: subprocess.Popen | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SiteServer:
        if self.nginx:
            conf = self.tmp / "nginx.conf"
            site = Site(self.port, self.root, access_log=self.log_path if self.access_log else None)
            conf.write_text(render(self.tmp, [site], LOG_FORMAT))
            command = [self.nginx, "-c", str(conf), "-p", str(self.tmp), "-e", str(self.tmp / "error.log")]
        else:
            command = [sys.executable, "-m", "bench.fallback_server", str(self.root), str(self.port),
                       str(self.log_path) if self.access_log else ""]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(self.tmp / "stderr.log", "wb"))
        _wait_for_port(self.port, self.process, self.kind)
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # nginx: SIGTERM is a fast shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def logged_times(self) -> list[float]:
        """Epoch seconds of every logged request so far (access_log=True only)."""
        if not self.log_path.exists():
            return []
        times = []
        for line in self.log_path.read_text().splitlines():
            try:
                times.append(float(line.split(" ", 1)[0]))
            except ValueError:
                continue
        return times

    def errors(self) -> str:
        """The server's error log (nginx) or stderr (fallback): anything here is worth reporting."""
        texts = []
        for name in ("error.log", "stderr.log"):
            path = self.tmp / name
            if path.exists():
                texts.append(path.read_text(errors="replace").strip())
        return "\n".join(text for text in texts if text)

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def ceiling(url: str, seconds: int = 5, connections: int = 20) -> float | None:
    """Requests/s that the server sustains on one URL: `wrk -t1 -c20 -d5s` (None without wrk)."""
    wrk = shutil.which("wrk")
    if not wrk:
        return None
    result = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{seconds}s", url],
                            capture_output=True, text=True, timeout=seconds + 30)  # fmt: skip
    match = re.search(r"Requests/sec:\s*([\d.]+)", result.stdout)
    if not match:
        log(f"wrk gave no Requests/sec: {result.stdout[-500:]} {result.stderr[-500:]}")
        return None
    return float(match.group(1))
