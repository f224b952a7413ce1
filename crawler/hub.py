"""Several processes for one crawl (CRAWL_PROCESSES > 1): one hub, N-1 workers.

One Python process tops out at one core. With CRAWL_PROCESSES=N the job's spider becomes the
*hub*: it keeps the frontier (admission, max_pages, referrers), the database pipeline, sitemaps and
a share of the fetching, and starts N-1 *worker* spiders as child processes. A URL is fetched by
the process its key hashes to; workers fetch, parse, normalise links and send back link batches
and finished records over a Unix socket (length-prefixed pickle frames, between our own processes
only, in a private temporary directory). Every record still passes through the hub's frontier and
its item pipeline, so counters, referrers and feeds are exactly as with one process.

A worker that dies hands its unfinished URLs back to the hub; a hub that dies closes the socket
and its workers stop.

One module because it is one protocol: the frames, the socket and both ends of it (what the hub
sends and what a worker answers) change together; the roles that use it are crawler/roles.py.
"""
from __future__ import annotations

import asyncio
import logging
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any, NamedTuple

from scrapy.utils.defer import deferred_from_coro

from crawler.launcher.protocol import FALLBACK_ENV, SOCKET_ENV
from contract.paths import PROJECT_ROOT

logger = logging.getLogger(__name__)

FRAME = struct.Struct("!I")


# --- The messages between the hub and its workers -----------------------------------------------


class Fetch(NamedTuple):
    """hub -> worker: fetch this URL (the fields of a crawler.records.TaskInfo)."""

    url: str
    key: str
    kind: str
    found_via: str
    referrer: str | None
    depth: int


class Stop(NamedTuple):
    """hub -> worker: the crawl is over; close."""


class LinkFound(NamedTuple):
    """worker -> hub: a link to admit (`canonical` is None for one the worker knows is already
    admitted: then only the referrer and depth are news)."""

    canonical: str | None
    key: str
    found_via: str
    referrer: str | None
    depth: int
    kind: str


class RecordMade(NamedTuple):
    """worker -> hub: the finished record of a URL the hub sent."""

    key: str
    record: dict[str, Any]


class Released(NamedTuple):
    """worker -> hub: a page that was not fetched after all frees its place under max_pages."""

    key: str


class WorkerLost(NamedTuple):
    """hub to itself: a worker died; the hub fetches these unfinished URLs."""

    keys: list[str]


Message = Fetch | Stop | LinkFound | RecordMade | Released | WorkerLost


async def read_frames(reader: asyncio.StreamReader):
    while True:
        try:
            header = await reader.readexactly(FRAME.size)
            yield pickle.loads(await reader.readexactly(FRAME.unpack(header)[0]))
        except (asyncio.IncompleteReadError, ConnectionError):
            return


class Outbox:
    """Messages to one peer, sent as one frame per event-loop turn."""

    def __init__(self, writer: asyncio.StreamWriter):
        self.writer = writer
        self.messages: list[Message] = []

    def put(self, message: Message) -> None:
        if not self.messages:
            asyncio.get_running_loop().call_soon(self.flush)
        self.messages.append(message)

    def flush(self) -> None:
        if self.messages and not self.writer.is_closing():
            frame = pickle.dumps(self.messages, protocol=pickle.HIGHEST_PROTOCOL)
            self.writer.write(FRAME.pack(len(frame)) + frame)
        self.messages = []


class Hub:
    """The hub side: a Unix socket server, the worker processes, and which URL went where."""

    def __init__(self, owner, workers: int, local_percent: int, worker_args: list[str], quiet: bool = False):
        self.owner = owner
        self.workers = workers
        self.local_percent = local_percent
        self.worker_args = worker_args
        # Under scrapyd the workers log to their own file and must not hold scrapyd's pipes to the
        # hub open: scrapyd sees a crawl end only when every holder of its pipes has exited.
        self.quiet = quiet
        self.directory = Path(tempfile.mkdtemp(prefix="crawl-hub-"))
        self.path = str(self.directory / "hub.sock")
        self.outboxes: list[Outbox] = []
        self.assigned: dict[str, int] = {}  # key -> index of the worker fetching it
        self.inbox: list[Message] = []
        self.draining = False
        self.processes: list[subprocess.Popen] = []
        self.started = False
        self.stopping = False  # the crawl is over: a worker that connects now is told to stop at once
        self.server = None

    def start_soon(self) -> None:
        """Start the workers in the background; URLs are fetched here until they connect."""
        self.started = True
        asyncio.get_running_loop().create_task(self.start())

    async def start(self, wait: bool = False) -> None:
        """Listen and start the workers; with `wait`, until they are connected (tests, benchmarks)."""
        self.started = True
        if self.stopping:  # the crawl ended before this task ran: no workers to start
            return
        self.server = await asyncio.start_unix_server(self._connected, path=self.path)
        os.chmod(self.path, 0o600)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
        # Under the prefork launcher (crawler/launcher/) a worker is forked from the node's warm
        # zygote in milliseconds instead of starting a Python process for ~1 s of CPU.
        launcher = ["crawler.launcher.runner"] if env.get(SOCKET_ENV) else []
        env[FALLBACK_ENV] = "scrapy"
        for index in range(self.workers):
            command = [sys.executable, "-m", *(launcher or ["scrapy"]), "crawl", "site", "-a", "role=worker",
                       "-a", f"hub={self.path}", "-a", f"worker_index={index}", *self.worker_args]  # fmt: skip
            output = subprocess.DEVNULL if self.quiet else None
            self.processes.append(subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                                   stdout=output, stderr=output, start_new_session=self.quiet))  # fmt: skip
        logger.info("hub at %s: started %d workers", self.path, self.workers)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while wait and len(self.outboxes) < self.workers and loop.time() < deadline:
            if any(process.poll() is not None for process in self.processes):
                break
            await asyncio.sleep(0.05)

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(self.outboxes)
        self.outboxes.append(Outbox(writer))
        logger.info("worker %d connected", index)
        if self.stopping:
            # Still starting when the crawl ended (a small crawl is over before a worker's ~1 s
            # start-up): it would wait for work, and the hub for it, until stop()'s timeout.
            self.outboxes[index].put(Stop())
        async for messages in read_frames(reader):
            self.receive(messages)
        writer.close()
        logger.info("worker %d disconnected", index)
        self.outboxes[index] = None
        orphans = [key for key, owner in self.assigned.items() if owner == index]
        for key in orphans:
            del self.assigned[key]
        if orphans:
            self.receive([WorkerLost(orphans)])

    def wants(self, task) -> bool:
        """Whether `task`'s key hashes to the workers' share (else the hub fetches it)."""
        return zlib.crc32(task.key.encode()) % 100 >= self.local_percent

    @property
    def workers_coming(self) -> bool:
        """Started, and a worker is connected, or starting, or still alive."""
        return self.started and (not self.processes or any(self.outboxes)
                                 or any(process.poll() is None for process in self.processes))  # fmt: skip

    def assign(self, task) -> bool:
        """Send a task to the worker its key hashes to; False means: fetch it here."""
        slot = zlib.crc32(task.key.encode()) % 100
        if slot < self.local_percent:
            return False
        outboxes = [(i, o) for i, o in enumerate(self.outboxes) if o is not None]
        if not outboxes:
            return False
        index, outbox = outboxes[slot % len(outboxes)]
        self.assigned[task.key] = index
        outbox.put(Fetch(task.url, task.key, task.kind, task.found_via, task.referrer, task.depth))
        return True

    def receive(self, messages: list[Message]) -> None:
        self.inbox.extend(messages)
        if not self.draining:
            self.draining = True
            self.owner.schedule_hub_drain()

    def drain(self) -> list[Message]:
        messages, self.inbox, self.draining = self.inbox, [], False
        for message in messages:
            if isinstance(message, RecordMade):
                self.assigned.pop(message.key, None)
        return messages

    @property
    def busy(self) -> bool:
        return bool(self.assigned or self.inbox or self.draining)

    async def stop(self) -> None:
        self.stopping = True
        if self.server is None:
            return
        for outbox in self.outboxes:
            if outbox is not None:
                outbox.put(Stop())
                outbox.flush()
        if not self.outboxes:
            # None ever connected: still starting, they hold nothing of the crawl's. Ended now
            # rather than waited for (one that connects first is told to stop, `_connected`).
            logger.info("stopping %d workers that had not connected yet", len(self.processes))
            for process in self.processes:
                if process.poll() is None:
                    process.terminate()
        loop = asyncio.get_running_loop()
        for process in self.processes:
            try:
                await asyncio.wait_for(loop.run_in_executor(None, process.wait), timeout=30)
            except asyncio.TimeoutError:
                process.kill()
        for outbox in self.outboxes:
            if outbox is not None:
                outbox.writer.close()
        self.server.close()
        await self.server.wait_closed()
        await asyncio.sleep(0)  # let the connection handlers see the end of their streams
        shutil.rmtree(self.directory, ignore_errors=True)


class HubClient:
    """The worker side: tasks in, link batches and records out."""

    def __init__(self, owner, path: str):
        self.owner = owner
        self.path = path
        self.outbox: Outbox | None = None
        self.listener: asyncio.Task | None = None
        self.stopped = False

    async def connect(self) -> None:
        reader, writer = await asyncio.open_unix_connection(self.path)
        self.outbox = Outbox(writer)
        self.listener = asyncio.get_running_loop().create_task(self._listen(reader))

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        async for messages in read_frames(reader):
            for message in messages:
                if isinstance(message, Fetch):
                    self.owner.fetch_for_hub(*message)
                elif isinstance(message, Stop):
                    self.stop()
        self.stop()  # the hub is gone

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            deferred_from_coro(self.owner.crawler.engine.close_spider_async(reason="finished"))

    def close(self) -> None:
        """At the worker's spider_closed: send what is left, then hang up."""
        if self.outbox is not None:
            self.outbox.flush()
            self.outbox.writer.close()
        if self.listener is not None and not self.listener.done():
            self.listener.cancel()

    def link(self, canonical: str | None, key: str, found_via: str, referrer: str | None, depth: int, kind: str) -> None:
        self.outbox.put(LinkFound(canonical, key, found_via, referrer, depth, kind))

    def record(self, key: str, record: dict[str, Any]) -> None:
        self.outbox.put(RecordMade(key, record))

    def released(self, key: str) -> None:
        self.outbox.put(Released(key))
