"""Scrapy's downloader with the next requests ready: a free place starts the next request at once.

Scrapy hands a request to the downloader only while fewer than CONCURRENT_REQUESTS are in it, and
both our CONCURRENT_REQUESTS and CONCURRENT_REQUESTS_PER_DOMAIN are the job's `concurrency`. So
when a download ended, the next request was not waiting in the downloader: it came only after the
engine's next turn of the event loop, behind the parsing of every response already received. On
a slow origin (pages answering in 50–300 ms) that left a third of the places empty (a median of
12–13 of 20 requests at the origin on a busy machine, bench/slow.py).

Here up to `concurrency` more requests wait ready in the downloader (CONCURRENT_REQUESTS is
doubled for the engine), and the downloads themselves stay capped at `concurrency` across all
hosts of the crawl (`transfer_limit`), exactly as before: a request waiting here has passed the
downloader middlewares (robots.txt, retry delays) and only waits for a place.
"""
from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING

from scrapy.core.downloader import Downloader
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.core.downloader import Slot
    from scrapy.crawler import Crawler
    from scrapy.http import Response


class ReadyDownloader(Downloader):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        # The most downloads at once, all hosts together: the crawl's concurrency. A hub lowers it
        # to its share when its workers run (crawler/roles.py).
        self.transfer_limit = self.domain_concurrency or self.total_concurrency
        self.total_concurrency = 2 * self.transfer_limit  # downloading + waiting ready
        self.starting = 0  # taken from a slot's queue, download not begun yet (a task is scheduled)

    def set_transfer_limit(self, limit: int) -> None:
        self.transfer_limit = limit
        self.total_concurrency = 2 * limit

    @property
    def transferring(self) -> int:
        return sum(len(slot.transferring) for slot in self.slots.values())

    def _process_queue(self, slot: Slot) -> None:
        """Start what the slot's queue may within the crawl-wide limit; then, with places left,
        the other slots' queues (a place freed on one host may be another host's turn)."""
        self._start(slot)
        for other in list(self.slots.values()):
            if other is not slot and other.queue and self.transferring + self.starting < self.transfer_limit:
                self._start(other)

    def _start(self, slot: Slot) -> None:
        """Scrapy's Downloader._process_queue (2.19), with the limit counted across slots and
        counting the downloads it has scheduled but not begun: Scrapy's own loop relies on a queue
        never longer than the free places, which the waiting requests here make untrue."""
        if slot.latercall:
            return
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and self.transferring + self.starting < self.transfer_limit:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            self.starting += 1
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:  # one at a time: the next after the delay
                self._start(slot)
                break

    async def _download(self, slot: Slot, request: Request) -> Response:
        self.starting -= 1  # Downloader._download counts it in slot.transferring from its first line
        return await super()._download(slot, request)
