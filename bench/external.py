"""External link checks against a real tree: do they slow the site's own crawl, and how long do they take?

`python -m bench.external [--runs 2] [--tree postgresql] [--latency-ms 30]`

The tree (bench/trees.py) is copied and every absolute http(s) href in it is pointed at a loopback
stand-in: `https://postgr.es/p/2ab` becomes `http://postgr.es:PORT/p/2ab`, with every such host name
pinned to 127.0.0.1 (CRAWL_HOST_MAP) and CRAWL_LOOPBACK_ONLY on, so nothing leaves loopback while
each external host keeps its own name (and so its own download slot and per-host bound). The
stand-in answers every request after `--latency-ms` (a third-party site is further away than
nginx) and records, per host, how many requests it had in flight at once. nginx serves the copy.

Each run crawls the copy twice, in turn: `check_external_links=false` (before) and `true` (after);
measured for each: the site's own crawl from nginx's access log (first to last request), the whole
process's wall time, and for the after run the checks made and the stand-in's peak per host.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench import accesslog
from bench.crawl import crawler_env
from bench.trees import TREES, ensure_trees
from bench.vhosts import Vhost, Vhosts
from contract.paths import PROJECT_ROOT

ABSOLUTE_HREF = re.compile(r'href="https?://([A-Za-z0-9.-]+)(?::\d+)?([^"]*)"')


class StandIn:
    """Every external site at once: 200 after a delay, and the peak in flight per host."""

    def __init__(self, latency: float):
        self.latency = latency
        self.lock = threading.Lock()
        self.active: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, body: bool) -> None:
                host = (self.headers.get("Host") or "").split(":")[0]
                with owner.lock:
                    owner.active[host] += 1
                    owner.requests[host] += 1
                    owner.peak[host] = max(owner.peak[host], owner.active[host])
                time.sleep(owner.latency)
                with owner.lock:
                    owner.active[host] -= 1
                content = b"<html><body>stand-in</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if body:
                    self.wfile.write(content)

            def do_HEAD(self) -> None:
                self._answer(False)

            def do_GET(self) -> None:
                self._answer(True)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.peak.clear()
            self.requests.clear()


def pointed_copy(root: Path, target: Path, port: int) -> set[str]:
    """The tree copied to `target` with its absolute hrefs sent to the stand-in; the hosts it named."""
    hosts: set[str] = set()

    def point(match: re.Match) -> str:
        hosts.add(match.group(1).lower())
        return f'href="http://{match.group(1)}:{port}{match.group(2)}"'

    shutil.copytree(root, target, symlinks=False)
    for page in target.rglob("*.html"):
        text = page.read_text(errors="surrogateescape")
        pointed = ABSOLUTE_HREF.sub(point, text)
        if pointed != text:
            page.write_text(pointed, errors="surrogateescape")
    return hosts


def crawl(vhost: Vhost, workdir: Path, tag: str, checks: bool, host_map: str) -> dict:
    feed = workdir / f"{tag}.jsonl"
    env = crawler_env(CRAWL_HOST_MAP=host_map, CRAWL_LOOPBACK_ONLY="1", CHECK_EXTERNAL_LINKS="1",
                      DATABASE_URL=f"sqlite:///{workdir / 'unused.db'}", CRAWL_PROCESSES="1")  # fmt: skip
    command = [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"domain={vhost.origin}",
               "-a", f"check_external_links={str(checks).lower()}", "-s", "LOG_LEVEL=INFO", "-s", "LOGSTATS_INTERVAL=0",
               "-O", f"{feed}:jsonlines"]  # fmt: skip
    started = time.time()
    with open(workdir / f"{tag}.log", "w") as log:
        subprocess.run(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=1800)
    ended = time.time()
    site = accesslog.count(vhost.hits(), started, ended)
    records = [json.loads(line) for line in feed.read_text().splitlines()]
    external = [r for r in records if r["kind"] == "external"]
    return {
        "wall_s": round(ended - started, 1),
        "site_crawl_s": round(site.last - site.first, 1) if site.first else None,
        "pages": site.pages,
        "site_requests": site.requests,
        "external_checked": len(external),
        "external_broken": sum(r["is_broken"] for r in external),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--tree", default="postgresql", choices=sorted(TREES))
    parser.add_argument("--latency-ms", type=float, default=30.0)
    args = parser.parse_args()
    (tree,) = ensure_trees([args.tree], print)
    workdir = Path(tempfile.mkdtemp(prefix="bench-external-"))
    stand_in = StandIn(args.latency_ms / 1000)
    hosts = pointed_copy(Path(tree.root), workdir / "tree", stand_in.port)
    host_map = ",".join(f"{host}=127.0.0.1" for host in sorted(hosts))
    vhost = Vhost(tree.name, workdir / "tree", tree.prefix)
    results = []
    with Vhosts([vhost]):
        for run in range(1, args.runs + 1):
            for checks in (False, True):
                stand_in.reset()
                result = crawl(vhost, workdir, f"run{run}-{'on' if checks else 'off'}", checks, host_map)
                result.update(run=run, checks=checks, stand_in_requests=sum(stand_in.requests.values()),
                              stand_in_peak_per_host=max(stand_in.peak.values(), default=0))  # fmt: skip
                results.append(result)
                print(json.dumps(result), flush=True)
    print(f"# {tree.name}: {len(hosts)} external hosts, stand-in latency {args.latency_ms:.0f} ms; work files in {workdir}")


if __name__ == "__main__":
    main()
