"""A wall-clock deadline for one webhook attempt (control_api/webhooks/sender.py).

urllib3's timeouts bound each socket operation: a receiver that sends its answer one byte every few
seconds never lets a read time out, and holds the attempt, and the sender's worker, for as long as
it likes. Here a timer shuts the attempt's socket down when the deadline passes, which ends
whatever read or write is blocked on it at once; the attempt then fails as a timeout and is retried
on the schedule like any other.
"""
from __future__ import annotations

import socket
import threading

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection


class AttemptDeadline:
    """`with AttemptDeadline(10) as deadline:` cuts every socket it watches 10 s after entering."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def __enter__(self) -> AttemptDeadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _cut(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class _Watched:
    """A urllib3 connection whose socket its attempt's deadline watches (set by the pool below)."""

    deadline: AttemptDeadline

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.deadline.watch(sock)
        return sock


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _DeadlinePool:
    def __init__(self, *args, deadline: AttemptDeadline, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def _new_conn(self):
        connection = super()._new_conn()
        connection.deadline = self.deadline
        return connection


class HTTPPool(_DeadlinePool, urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class HTTPSPool(_DeadlinePool, urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection
