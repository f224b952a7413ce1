"""One nginx serving several sites on 127.0.0.1, one server block (and port) per site.

Used by the real-site comparison (the Debian documentation trees and the synthetic site) and by
the many-jobs part (20 small sites). Each site logs every request to its own access log in the
format of bench/accesslog.py, so that each tool's requests can be counted and timed from the
server's side. A tree served at a path prefix (`prefix`) lives under that URL path, `/` redirects
to it and anything else is a 404: that is how a tree whose pages link to their own install path
(`href="/usr/share/doc/..."`) gets working root-relative links without its HTML being touched.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import accesslog
from bench.nginxconf import Site, render, require_js_module
from bench.server import _wait_for_port, find_nginx, free_port

@dataclass
class Vhost:
    name: str
    root: Path
    prefix: str = ""  # URL path the tree is served under ("/usr/share/doc/x/html/"), "" = at /
    delay: bool = False  # a slow origin: pages held 50–300 ms (bench/nginxconf.py)
    port: int = 0
    log_path: Path | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def start_url(self) -> str:
        return f"{self.origin}{self.prefix or '/'}"

    def hits(self) -> list[accesslog.Hit]:
        if self.log_path is None or not self.log_path.exists():
            return []
        return accesslog.parse(self.log_path.read_text(errors="replace"))


class Vhosts:
    """nginx for a list of vhosts; ports are picked on entry. A context manager."""

    def __init__(self, vhosts: list[Vhost]):
        self.nginx = find_nginx()
        if not self.nginx:
            raise RuntimeError("nginx is needed for the real-site and many-jobs parts (apt-get install nginx-light)")
        self.vhosts = vhosts
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-vhosts-"))
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Vhosts:
        for number, vhost in enumerate(self.vhosts):
            vhost.port = vhost.port or free_port()
            vhost.log_path = self.tmp / f"access-{number}-{vhost.name}.log"
        conf = self.tmp / "nginx.conf"
        sites = [Site(v.port, v.root, v.prefix, v.log_path, delay=v.delay) for v in self.vhosts]
        require_js_module(sites)
        conf.write_text(render(self.tmp, sites, accesslog.ACCESS_FORMAT))
        self.process = subprocess.Popen([self.nginx, "-c", str(conf), "-p", str(self.tmp), "-e", str(self.tmp / "error.log")],
                                        stdout=subprocess.DEVNULL, stderr=open(self.tmp / "stderr.log", "wb"))  # fmt: skip
        for vhost in self.vhosts:
            _wait_for_port(vhost.port, self.process, f"nginx ({vhost.name})")
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        errors = [p.read_text(errors="replace").strip() for p in (self.tmp / "error.log", self.tmp / "stderr.log") if p.exists()]
        self.errors = "\n".join(e for e in errors if e)
        shutil.rmtree(self.tmp, ignore_errors=True)
