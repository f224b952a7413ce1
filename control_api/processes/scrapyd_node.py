"""Run a scrapyd node for this project: `python -m control_api.processes.scrapyd_node [--port N]`.

scrapyd reads `scrapyd.conf` and `scrapy.cfg` from its working directory, so we write both into a
folder of our own (default `var/scrapyd`) and start scrapyd there with the project on PYTHONPATH.
The `crawler` project is then served straight from the source tree, no egg upload. `make run` and
the integration tests both start scrapyd through `start_node`.

With CRAWL_LAUNCHER=prefork (the default) the node also gets a warm launcher: scrapyd's `runner`
is `crawler.launcher.runner`, which has each crawl forked by a zygote process that has already
imported everything a crawl needs (docs/architecture.md, "Starting a crawl"). We start that zygote
here, next to scrapyd, as a command: the API never imports the crawler. CRAWL_LAUNCHER=plain runs
every crawl as a new `python -m scrapyd.runner` process, as scrapyd does by default.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from contract.paths import PROJECT_ROOT

SCRAPYD_CONF = """\
[scrapyd]
bind_address = {bind}
http_port = {port}
username = {username}
password = {password}
# How often scrapyd looks at its queue. Its default of 5 s would be most of a job's start-up time.
poll_interval = {poll_interval}
max_proc = {max_proc}
max_proc_per_cpu = 4
runner = {runner}
# schedule.json starts the job at once instead of at the next poll (crawler/launcher/webroot.py).
webroot = crawler.launcher.webroot.Root
logs_dir = {workdir}/logs
eggs_dir = {workdir}/eggs
dbs_dir = {workdir}/dbs
items_dir =
jobs_to_keep = 100
finished_to_keep = 1000

[settings]
crawler = crawler.settings
"""

LAUNCHERS = ("prefork", "plain")
LAUNCHER_SOCKET = "launcher.sock"
PLAIN_RUNNER = "scrapyd.runner"
PREFORK_RUNNER = "crawler.launcher.runner"
UNIX_PATH_MAX = 107  # sun_path is 108 bytes with its NUL

SCRAPY_CFG = """\
[settings]
default = crawler.settings
crawler = crawler.settings
"""


def write_config(workdir: Path, port: int, bind: str = "127.0.0.1", poll_interval: float = 0.2,
                 max_proc: int = 0, username: str = "", password: str = "", runner: str = PLAIN_RUNNER) -> Path:  # fmt: skip
    if bind not in ("127.0.0.1", "localhost", "::1") and not (username and password):
        raise SystemExit(f"scrapyd bound to {bind} must have SCRAPYD_USERNAME and SCRAPYD_PASSWORD set")
    for name, value in (("SCRAPYD_USERNAME", username), ("SCRAPYD_PASSWORD", password)):
        # A line break would add lines to scrapyd.conf; ConfigParser strips outer spaces.
        if "\n" in value or "\r" in value or value != value.strip():
            raise SystemExit(f"{name} must not contain line breaks or start or end with spaces")
    # Absolute: scrapyd runs in `workdir` and would read a relative logs_dir from there (var/scrapyd/var/...).
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # scrapyd reads the file with ConfigParser, whose interpolation makes '%' special: escape it.
    username, password = username.replace("%", "%%"), password.replace("%", "%%")
    (workdir / "scrapyd.conf").write_text(
        SCRAPYD_CONF.format(bind=bind, port=port, username=username, password=password,
                            poll_interval=poll_interval, max_proc=max_proc, workdir=workdir, runner=runner)  # fmt: skip
    )
    (workdir / "scrapy.cfg").write_text(SCRAPY_CFG)
    return workdir


def launcher_choice(environment: dict[str, str]) -> str:
    launcher = environment.get("CRAWL_LAUNCHER", "").strip().lower() or "prefork"
    if launcher not in LAUNCHERS:
        raise SystemExit(f"CRAWL_LAUNCHER={launcher!r}: expected one of {', '.join(LAUNCHERS)}")
    return launcher


def start_node(workdir: Path, port: int, env: dict[str, str] | None = None, new_session: bool = False,
               **config) -> subprocess.Popen:  # fmt: skip
    """Start scrapyd in `workdir` and, with the prefork launcher, its zygote, which serves while
    this scrapyd lives (a runner starts a new one if it dies). `new_session`: scrapyd and the crawls
    it starts get a process group of their own, so that the node can be stopped (or, in tests,
    killed) as a whole: os.killpg(process.pid, ...)."""
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), environment.get("PYTHONPATH")]))
    socket_path = str(workdir.resolve() / LAUNCHER_SOCKET)
    prefork = launcher_choice(environment) == "prefork"
    if prefork and len(socket_path.encode()) > UNIX_PATH_MAX:
        print(f"scrapyd_node: {socket_path} is too long for a Unix socket; CRAWL_LAUNCHER=plain", file=sys.stderr)
        prefork = False
    environment.pop("CRAWL_LAUNCHER_SOCKET", None)
    if prefork:
        environment["CRAWL_LAUNCHER_SOCKET"] = socket_path
    write_config(workdir, port, runner=PREFORK_RUNNER if prefork else PLAIN_RUNNER, **config)
    with open(workdir / "scrapyd.log", "ab") as log:  # the child keeps its own descriptor
        scrapyd = subprocess.Popen(
            [sys.executable, "-m", "scrapyd", "--pidfile=", "--nodaemon"], cwd=workdir, env=environment,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=new_session,
        )  # fmt: skip
    if prefork:
        with open(workdir / "launcher.log", "ab") as log:  # --detach: returns at once, the zygote runs on
            subprocess.run(
                [sys.executable, "-m", "crawler.launcher.zygote", "--socket", socket_path, "--owner", str(scrapyd.pid),
                 "--detach"], cwd=workdir, env=environment, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
    return scrapyd


def wait_for_launcher(workdir: Path, timeout: float = 30.0) -> bool:
    """Wait until the node's zygote accepts connections (it imports for a second or two first):
    until then each crawl, and scrapyd's spider listing, starts the slow way, competing with the
    zygote for the CPU. True at once for a node without the launcher; False when the zygote does
    not answer within `timeout` (the node still runs crawls, without it)."""
    import socket

    if f"runner = {PREFORK_RUNNER}" not in (workdir / "scrapyd.conf").read_text():
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            try:
                sock.connect(str(workdir / LAUNCHER_SOCKET))
                return True
            except OSError:
                time.sleep(0.05)
    return False


def wait_until_ready(url: str, process: subprocess.Popen | None = None, timeout: float = 30.0,
                     auth: tuple[str, str] | None = None) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"scrapyd exited with code {process.returncode}")
        try:
            if requests.get(f"{url}/daemonstatus.json", timeout=1, auth=auth).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"scrapyd at {url} did not answer within {timeout} s")


def refuse_sqlite_beyond_loopback(bind: str, database_url: str) -> None:
    """A node other machines reach is one of several crawler hosts: its crawls must write to the
    one PostgreSQL database the API reads, never to a SQLite file of their own machine."""
    if bind in ("127.0.0.1", "localhost", "::1"):
        return
    if not database_url.startswith(("postgresql://", "postgres://", "postgresql+")):
        raise SystemExit(
            f"a scrapyd node bound to {bind} serves crawls for an API on another host: set DATABASE_URL to the "
            f"shared PostgreSQL database (postgresql://user:password@db-host/crawl), not "
            f"{database_url.split(':', 1)[0] or 'the default SQLite file'} (docs/deploy.md)"
        )


def main() -> None:
    from urllib.parse import urlsplit

    from dotenv import load_dotenv

    load_dotenv()
    default = urlsplit(os.environ.get("SCRAPYD_URL", "http://127.0.0.1:6800").split(",")[0])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default=os.environ.get("SCRAPYD_BIND", default.hostname or "127.0.0.1"))
    parser.add_argument("--port", type=int, default=default.port or 6800)
    parser.add_argument("--workdir", type=Path, default=PROJECT_ROOT / "var" / "scrapyd")
    parser.add_argument("--poll-interval", type=float, default=float(os.environ.get("SCRAPYD_POLL_INTERVAL", "0.2")))
    parser.add_argument("--max-proc", type=int, default=int(os.environ.get("SCRAPYD_MAX_PROC") or 0),
                        help="crawls run at once (scrapyd max_proc; 0: 4 per CPU); name it as the node's "
                        "'#slots=N' in the API's SCRAPYD_URL")  # fmt: skip
    args = parser.parse_args()
    refuse_sqlite_beyond_loopback(args.bind, os.environ.get("DATABASE_URL", ""))
    process = start_node(
        args.workdir.resolve(), args.port, bind=args.bind, poll_interval=args.poll_interval, max_proc=args.max_proc,
        username=os.environ.get("SCRAPYD_USERNAME", ""), password=os.environ.get("SCRAPYD_PASSWORD", ""),
    )  # fmt: skip
    try:
        sys.exit(process.wait())
    except KeyboardInterrupt:
        process.terminate()
        sys.exit(process.wait())


if __name__ == "__main__":
    main()
