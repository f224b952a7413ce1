"""scrapyd's runner under CRAWL_LAUNCHER=prefork: `python -m crawler.launcher.runner crawl site ...`.

Stdlib only, so it starts in a few milliseconds. It asks the node's warm zygote (crawler/launcher/
zygote.py, socket in $CRAWL_LAUNCHER_SOCKET) to fork the crawl with this process's argv, cwd,
environment, stdin, stdout and stderr, then stands in for it towards scrapyd: signals it receives
(scrapyd's cancel) are forwarded to the crawl, and it exits with the crawl's status (re-raising
the signal that killed the crawl, if one did). If this runner is killed, the crawl kills itself.

When the zygote cannot be reached it execs the module it stands for (scrapyd.runner, or the one in
$CRAWL_LAUNCHER_FALLBACK): the job runs as without the launcher, only slower to start, and a zygote
is started again in the background for the next jobs.
"""
from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys

from crawler.launcher.protocol import (DEFAULT_MODULE, FALLBACK_ENV, SOCKET_ENV, STDIO, lock_path, log_path,
                                       recv_frame, send_frame)  # fmt: skip

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


class Runner:
    def __init__(self, path: str | None, module: str, argv: list[str]):
        self.path = path
        self.module = module
        self.argv = argv
        self.sock: socket.socket | None = None
        self.pending: list[int] = []  # signals received before the crawl was forked

    def forward(self, signum: int, frame) -> None:
        if self.sock is None:
            self.pending.append(signum)
            return
        try:
            send_frame(self.sock, {"signal": signum})
        except OSError:
            pass  # the crawl is gone already: its status is on its way

    def launch(self) -> int | None:
        """Fork the crawl in the zygote; its pid, or None when the zygote cannot."""
        if not self.path:
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
            socket.send_fds(sock, [b"R"], list(range(STDIO)))
            send_frame(sock, {"argv": self.argv, "cwd": os.getcwd(), "env": dict(os.environ), "module": self.module})
            reply = recv_frame(sock)
        except OSError:
            sock.close()
            if self.module == DEFAULT_MODULE:  # a job of scrapyd's: its node's zygote died
                start_zygote(self.path)
            return None
        if not reply or "pid" not in reply:
            sock.close()
            print(f"launcher: {(reply or {}).get('error', 'no answer')}; running {self.module} itself",
                  file=sys.stderr, flush=True)  # fmt: skip
            return None
        self.sock = sock
        for signum in self.pending:
            self.forward(signum, None)
        return reply["pid"]

    def wait(self) -> dict | None:
        """The crawl's end: {"exit": code} or {"killed_by": signal}; None if nobody could tell."""
        status = None
        while True:
            try:
                message = recv_frame(self.sock)
            except OSError:
                message = None
            if message is None:  # both the crawl and the zygote have let go: it is over
                return status
            if "exit" in message or "killed_by" in message:
                status = message  # the zygote's word (from waitpid) comes last and wins


def start_zygote(path: str) -> None:
    """Start a zygote for the next jobs, owned by scrapyd (this runner's parent), unless one holds
    the node's lock (it is still importing). Two started at once: the second finds the lock and exits."""
    owner = os.getppid()
    if owner <= 1:  # scrapyd is gone (we were adopted by init): nobody to start a zygote for
        return
    try:
        with open(lock_path(path), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return
    except OSError:
        pass
    with open(log_path(path), "ab") as log:
        subprocess.run([sys.executable, "-m", "crawler.launcher.zygote", "--socket", path, "--owner", str(owner),
                        "--detach"], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, check=False)  # fmt: skip


def exit_like(status: dict | None) -> None:
    if status is None:
        print("launcher: the crawl ended without an exit status (its zygote died)", file=sys.stderr, flush=True)
        sys.exit(1)
    if "killed_by" in status:
        signum = status["killed_by"]
        if signum not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be caught anyway
            signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        sys.exit(128 + signum)
    sys.exit(status["exit"])


def main() -> None:
    module = os.environ.get(FALLBACK_ENV) or DEFAULT_MODULE
    runner = Runner(os.environ.get(SOCKET_ENV), module, sys.argv[1:])
    for signum in FORWARDED:
        signal.signal(signum, runner.forward)
    if runner.launch() is None:
        for signum in FORWARDED:
            signal.signal(signum, signal.SIG_DFL if signum != signal.SIGINT else signal.default_int_handler)
        for signum in runner.pending:  # asked to stop before there was a crawl: stop
            os.kill(os.getpid(), signum)
        os.execv(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]])
    exit_like(runner.wait())


if __name__ == "__main__":
    main()
