"""What the runner and the zygote say to each other over the zygote's Unix socket. Stdlib only.

runner -> zygote: one byte carrying the runner's stdin, stdout and stderr (SCM_RIGHTS), then one
    frame: {"argv": [...], "cwd": ..., "env": {...}, "module": "scrapyd.runner"}.
zygote -> runner: {"pid": N} once the crawl is forked, or {"error": "..."} (then the runner falls
    back to running the module itself); at the end {"exit": code} or {"signal": number}.
runner -> crawl:  {"signal": number} for each SIGINT/SIGTERM/... the runner receives.

A frame is a 4-byte big-endian length and a JSON object. The crawl shares the zygote's end of the
connection: it reads the signals; the runner closing its end (it was killed) kills the crawl.
"""
from __future__ import annotations

import json
import os
import socket
import struct

FRAME = struct.Struct("!I")
SOCKET_ENV = "CRAWL_LAUNCHER_SOCKET"  # where the node's zygote listens; unset: no launcher
FALLBACK_ENV = "CRAWL_LAUNCHER_FALLBACK"  # the module the runner stands for (default scrapyd.runner)
FORKED_ENV = "CRAWL_LAUNCHER_FORKED"  # set in a forked crawl: "<zygote pid> <fork time>"
DEFAULT_MODULE = "scrapyd.runner"
STDIO = 3  # stdin, stdout, stderr


def send_frame(sock: socket.socket, message: dict) -> None:
    payload = json.dumps(message).encode()
    sock.sendall(FRAME.pack(len(payload)) + payload)


def recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket) -> dict | None:
    """The next frame, or None at the end of the stream."""
    header = recv_exactly(sock, FRAME.size)
    if header is None:
        return None
    payload = recv_exactly(sock, FRAME.unpack(header)[0])
    return None if payload is None else json.loads(payload)


def lock_path(socket_path: str) -> str:
    return socket_path + ".lock"


def log_path(socket_path: str) -> str:
    return os.path.splitext(socket_path)[0] + ".log"
