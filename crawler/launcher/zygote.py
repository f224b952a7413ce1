"""The warm parent of a node's crawls: `python -m crawler.launcher.zygote --socket PATH [--owner PID]`.

It imports once what every crawl imports (Scrapy, Twisted's modules, SQLAlchemy and the database
drivers, pydantic models, this crawler, its settings and every component they name), then forks
one child per request from a runner (crawler/launcher/runner.py). The child takes the runner's
argv, cwd, environment and stdio and runs the module the runner stands for (`scrapyd.runner`, or
`scrapy` for a worker of a multi-process crawl) as `python -m` would, with nothing left to import.

Fork safety: no reactor is installed here (an import that would install one is refused during the
preload and left to the child), no thread runs, no database engine or connection exists, and no
logging is configured. The child resets signal handlers, re-imports `crawler.settings` (it reads
the environment), and `random` reseeds itself after fork. The child stays in the zygote's process
group; scrapyd signals the runner, which forwards.

The zygote serves until its owner (scrapyd) exits, or SIGTERM/SIGINT; then it stops listening and
waits for its running crawls, so that their runners still get their exit status.

One module past the usual ~300 lines because it is one process: the preload, the fork and the
child's set-up must be read together to check the fork-safety rules above.
"""
from __future__ import annotations

import argparse
import atexit
import fcntl
import gc
import importlib
import logging
import os
import runpy
import selectors
import signal
import socket
import sys
import threading
import time
import traceback

from crawler.launcher.protocol import FORKED_ENV, STDIO, lock_path, recv_frame, send_frame

logger = logging.getLogger("crawler.launcher")

# What a crawl imports on its way to the first request, beyond what the settings name.
PRELOAD = (
    "pkg_resources", "scrapyd.runner", "scrapy.cmdline", "scrapy.crawler", "scrapy.commands.crawl",
    "crawler.commands.crawl", "crawler.spiders.site", "crawler.pipelines", "crawler.hub", "crawler.roles",
    "crawler.jobstore", "crawler.lifecycle",  # a job's pipeline imports them on start (ad-hoc crawls never do)
    "twisted.internet.asyncioreactor", "twisted.internet.ssl", "twisted.web.client", "twisted.names.client",
    "OpenSSL.SSL", "cryptography.x509", "service_identity", "scrapy.core.engine", "scrapy.core.scraper",
    "scrapy.core.downloader.handlers.http11", "scrapy.core.downloader.tls", "scrapy.core.downloader.contextfactory",
    "scrapy.utils.log", "scrapy.utils.reactor", "scrapy.logformatter", "scrapy.statscollectors",
    "scrapy.http", "scrapy.selector", "lxml.html", "parsel", "protego", "scrapy.robotstxt",
    "sqlalchemy.orm", "sqlalchemy.dialects.sqlite.pysqlite", "sqlalchemy.dialects.postgresql.psycopg2",
    "psycopg2", "psycopg2.extras", "sqlite3", "db.models", "db.engine", "contract.options", "contract.record",
    "tldextract", "dotenv", "json", "asyncio", "concurrent.futures",
)  # fmt: skip
# Settings that name classes or modules a crawl loads.
COMPONENT_SETTINGS = (
    "DOWNLOADER_MIDDLEWARES_BASE", "DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES_BASE", "SPIDER_MIDDLEWARES",
    "EXTENSIONS_BASE", "EXTENSIONS", "ITEM_PIPELINES_BASE", "ITEM_PIPELINES", "DOWNLOAD_HANDLERS_BASE",
    "DOWNLOAD_HANDLERS", "FEED_EXPORTERS_BASE", "FEED_STORAGES_BASE",
)  # fmt: skip
CLASS_SETTINGS = (
    "SCHEDULER", "SCHEDULER_PRIORITY_QUEUE", "SCHEDULER_MEMORY_QUEUE", "SCHEDULER_DISK_QUEUE", "DUPEFILTER_CLASS",
    "STATS_CLASS", "LOG_FORMATTER", "REQUEST_FINGERPRINTER_CLASS", "DOWNLOADER", "SPIDER_LOADER_CLASS",
    "TWISTED_DNS_RESOLVER", "DOWNLOADER_CLIENTCONTEXTFACTORY", "ROBOTSTXT_PARSER", "ITEM_PROCESSOR",
    "DOWNLOADER_HTTPCLIENTFACTORY", "SCRAPER_SLOT_MAX_ACTIVE_SIZE",
)  # fmt: skip
REACTOR = "twisted.internet.reactor"


class _NoReactor:
    """Refuse the import of Twisted's global reactor while preloading: importing it installs the
    default reactor, which a fork must not share (and Scrapy must choose it, in the child)."""

    def find_spec(self, name, path=None, target=None):
        if name == REACTOR:
            raise ImportError("the reactor is installed by the crawl, not the zygote")
        return None


def preload() -> list[str]:
    """Import what a crawl needs; the names that could not be imported here (they are imported
    by each crawl instead)."""
    skipped = []
    blocker = _NoReactor()
    sys.meta_path.insert(0, blocker)
    try:
        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - optional; the crawl imports it itself
                skipped.append(f"{name} ({exc.__class__.__name__}: {exc})")
        skipped += _preload_components()
        _warm_up()
    finally:
        sys.meta_path.remove(blocker)
    sys.modules.pop("crawler.settings", None)  # read again by each crawl, in its environment
    if REACTOR in sys.modules:
        raise SystemExit("launcher: a preloaded module installed a reactor; cannot fork safely")
    return skipped


def _preload_components() -> list[str]:
    from scrapy.cmdline import _get_commands_dict
    from scrapy.settings import Settings
    from scrapy.utils.misc import load_object

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    _get_commands_dict(settings, inproject=True)  # imports every command module, as the CLI does
    names = [settings.get(name) for name in CLASS_SETTINGS]
    for name in COMPONENT_SETTINGS:
        names += list(settings.getdict(name))
    skipped = []
    for path in names:
        if isinstance(path, str) and "." in path:
            try:
                load_object(path)
            except Exception as exc:  # noqa: BLE001
                skipped.append(f"{path} ({exc.__class__.__name__}: {exc})")
    return skipped


def _warm_up() -> None:
    """What a crawl builds on first use: the public suffix list's lookup tree (~0.15 s with
    tldextract's import), and the package metadata behind the "Versions" lines of its log (~10 ms
    of every crawl's start)."""
    from scrapy.settings.default_settings import LOG_VERSIONS
    from scrapy.utils.versions import get_versions

    from crawler.urls import registrable_domain

    registrable_domain("www.example.co.uk")
    get_versions(LOG_VERSIONS)


class Zygote:
    def __init__(self, path: str, owner: int | None):
        self.path = path
        self.owner = owner
        self.selector = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.lock_fd: int | None = None
        self.jobs: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, connection)
        self.stopping = False
        self.owner_fd: int | None = None
        self.wakeup_r, self.wakeup_w = socket.socketpair()

    # --- serving ------------------------------------------------------------------------------

    def lock(self) -> bool:
        """Take the node's lock before the slow preload, so that a second zygote started meanwhile
        (by runners that found no socket yet) exits at once; False when another zygote has it.
        The lock file names the holder's owner: a zygote for a new scrapyd on the same node waits
        a little for the one of the scrapyd that just died, which lets go as soon as it notices."""
        self.lock_fd = os.open(lock_path(self.path), os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + 10
        while True:
            try:
                fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(self.lock_fd, 32, 0).decode(errors="replace").strip()
                if holder == str(self.owner) or time.monotonic() > deadline:
                    os.close(self.lock_fd)
                    return False
                time.sleep(0.05)
        os.ftruncate(self.lock_fd, 0)
        os.pwrite(self.lock_fd, str(self.owner).encode(), 0)
        return True

    def listen(self) -> None:
        try:
            os.unlink(self.path)  # a dead zygote's socket
        except FileNotFoundError:
            pass
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        os.chmod(self.path, 0o600)
        self.listener.listen(64)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")

    def serve(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: setattr(self, "stopping", True))
        self.wakeup_w.setblocking(False)
        signal.set_wakeup_fd(self.wakeup_w.fileno())
        self.selector.register(self.wakeup_r, selectors.EVENT_READ, "wakeup")
        if self.owner:
            try:
                self.owner_fd = os.pidfd_open(self.owner)
                self.selector.register(self.owner_fd, selectors.EVENT_READ, "owner")
            except ProcessLookupError:
                self.stopping = True
        while self.listener is not None or self.jobs:
            if self.stopping and self.listener is not None:
                self.stop_listening()
                continue
            for key, _ in self.selector.select():
                if key.data == "accept":
                    self.accept()
                elif key.data == "owner":
                    self.selector.unregister(key.fileobj)
                    os.close(key.fileobj)
                    self.owner_fd = None
                    self.stopping = True
                elif key.data == "wakeup":
                    self.wakeup_r.recv(512)
                else:
                    self.reap(key.fileobj)

    def stop_listening(self) -> None:
        """Let a new zygote take the node (the lock and the path), keep reporting on running crawls."""
        self.selector.unregister(self.listener)
        if os.path.exists(self.path) and os.stat(self.path).st_ino == os.fstat(self.listener.fileno()).st_ino:
            os.unlink(self.path)
        self.listener.close()
        self.listener = None
        os.close(self.lock_fd)
        logger.info("zygote %d: stopped listening, %d crawl(s) still running", os.getpid(), len(self.jobs))

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            conn.settimeout(5)  # a local runner sends at once; never block the node on one
            data, fds, _, _ = socket.recv_fds(conn, 1, STDIO)
            if not data and not fds:  # a probe (scrapyd_node.wait_for_launcher): it only connected
                conn.close()
                return
            request = recv_frame(conn)
            if len(fds) != STDIO or not request or not {"argv", "cwd", "env", "module"} <= request.keys():
                raise ValueError("bad request")
            conn.settimeout(None)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                self.become_crawl(conn, fds, request)  # never returns
            send_frame(conn, {"pid": pid})
            self.jobs[self.register_child(pid)] = (pid, conn)
            logger.info("zygote %d: forked %d for %s", os.getpid(), pid, " ".join(request["argv"][:2]))
        except (OSError, ValueError) as exc:
            logger.warning("zygote %d: refused a request: %s", os.getpid(), exc)
            try:
                send_frame(conn, {"error": f"zygote refused the request: {exc}"})
            except OSError:
                pass
            conn.close()
        finally:
            for fd in fds:
                os.close(fd)

    def register_child(self, pid: int) -> int:
        pidfd = os.pidfd_open(pid)
        self.selector.register(pidfd, selectors.EVENT_READ, "child")
        return pidfd

    def reap(self, pidfd: int) -> None:
        pid, conn = self.jobs.pop(pidfd)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        try:
            send_frame(conn, {"killed_by": signum} if signum else {"exit": os.WEXITSTATUS(status)})
        except OSError:
            pass  # the runner is gone
        conn.close()

    # --- in the child -------------------------------------------------------------------------

    def become_crawl(self, conn: socket.socket, fds: list[int], request: dict) -> None:
        code = 1
        try:
            self.forget_parent_state(conn)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                os.close(fd)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            os.environ[FORKED_ENV] = f"{os.getppid()} {time.time():.6f}"
            threading.Thread(target=watch_runner, args=(conn,), name="launcher-runner-watch", daemon=True).start()
            sys.argv = [request["module"], *request["argv"]]
            sys.modules.pop(request["module"], None)  # preloaded; run afresh as __main__, as `python -m` does
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exit_code(exc.code)
        except BaseException:  # noqa: BLE001 - report it as Python would, then exit 1
            traceback.print_exc()
        finally:
            try:
                atexit._run_exitfuncs()  # what a normal interpreter exit runs (logging's flush, ...)
                sys.stdout.flush()
                sys.stderr.flush()
                send_frame(conn, {"exit": code})
            finally:
                os._exit(code)

    def forget_parent_state(self, conn: socket.socket) -> None:
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.selector.close()
        for pidfd, (_, other) in self.jobs.items():
            os.close(pidfd)
            other.close()
        self.jobs.clear()
        self.listener.close()
        os.close(self.lock_fd)
        if self.owner_fd is not None:
            os.close(self.owner_fd)
        self.wakeup_r.close()
        self.wakeup_w.close()
        for handler in list(logging.root.handlers):  # the crawl configures its own logging
            logging.root.removeHandler(handler)
        logging.root.setLevel(logging.WARNING)



def watch_runner(conn: socket.socket) -> None:
    """In the crawl: deliver the signals the runner forwards; die with the runner."""
    while True:
        try:
            message = recv_frame(conn)
        except OSError:
            message = None
        if message is None:  # the runner was killed: so is its crawl, as without the launcher
            os.kill(os.getpid(), signal.SIGKILL)
        elif message.get("signal"):
            os.kill(os.getpid(), message["signal"])


def exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, help="Unix socket to listen on")
    parser.add_argument("--owner", type=int, help="serve while this process (scrapyd) lives")
    parser.add_argument("--detach", action="store_true", help="return at once; the zygote runs on in the background")
    args = parser.parse_args()
    if args.owner is not None and args.owner <= 1:
        raise SystemExit("launcher: --owner must be scrapyd's pid; init never exits")
    if args.detach and os.fork() != 0:
        os._exit(0)  # whoever started us waits for this exit only; init adopts the zygote
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(name)s] %(levelname)s: %(message)s")
    zygote = Zygote(os.path.abspath(args.socket), args.owner)
    if not zygote.lock():
        logger.info("zygote %d: another zygote serves %s", os.getpid(), args.socket)
        return
    started = time.monotonic()
    skipped = preload()
    for name in skipped:
        logger.info("zygote: left to each crawl: %s", name)
    if threading.active_count() != 1:
        raise SystemExit("launcher: a preloaded module started a thread; cannot fork safely")
    zygote.listen()
    gc.collect()
    gc.freeze()  # the preloaded objects stay shared with the children: the collector never writes to them
    logger.info("zygote %d: ready at %s in %.2f s", os.getpid(), args.socket, time.monotonic() - started)
    zygote.serve()


if __name__ == "__main__":
    main()
