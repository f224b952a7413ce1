"""Who admits URLs, who fetches them and who records them: one object per role of a crawl process.

- `SingleProcess`: the frontier admits every URL, this process fetches it and records it.
- `HubProcess`: the same, and it hands a share of the fetching to worker processes it starts once
  the crawl has CRAWL_HUB_START_THRESHOLD URLs in hand (CRAWL_HUB_START_THRESHOLD_COLD when no
  prefork launcher forks them); what they send back goes through the
  frontier like this process's own output (crawler/hub.py has the protocol).
- `WorkerProcess`: fetches what the hub sends and sends back links and records; it admits nothing.

The spider (crawler/spiders/site.py) does the crawling itself (requests, responses, records) and
asks its role where URLs and records go. Each method yields what the spider's callback yields:
Requests and records.

One module because the three roles are one interface with three answers: reading them side by
side is how one checks that a hub crawl records exactly what a single process records.
"""
from __future__ import annotations

import json
import logging
import os
from collections import deque
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.exceptions import DontCloseSpider

from crawler.hub import Hub, HubClient, LinkFound, Message, RecordMade, Released, WorkerLost
from contract.vocabulary import FoundVia, TaskKind
from crawler.launcher.protocol import SOCKET_ENV
from contract.options import redacted
from crawler.records import TaskInfo
from crawler.scope import secrets_for_workers

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy.http import Response

    from crawler.spiders.site import SiteSpider

logger = logging.getLogger(__name__)

SENT_TO_WORKERS_STAT = "hub/sent_to_workers"  # URLs the hub handed to its workers to fetch

# Settings a worker must share with its hub to crawl the same way.
WORKER_SETTINGS = ("CONCURRENT_REQUESTS", "CONCURRENT_REQUESTS_PER_DOMAIN", "DOWNLOAD_TIMEOUT", "LOG_LEVEL",
                   "CRAWL_ALLOW_PRIVATE_TARGETS", "CRAWL_HOST_MAP", "CRAWL_LOOPBACK_ONLY", "CRAWL_BODY_MAX_BYTES", "RETRY_TIMES", "LOG_FORMAT")  # fmt: skip


def split_concurrency(concurrency: int, local_percent: int, workers: int) -> tuple[int, int]:
    """(the hub's own requests at once, each worker's) once the workers run. A crawl's concurrency
    is the politeness the user set for the site: its processes share it, they do not each have it
    (each used to take the whole of it, so a hub and a worker had twice `concurrency` requests at
    the origin; bench/slow.py counts them there). Shared as the URLs are (CRAWL_HUB_LOCAL_PERCENT);
    (concurrency, 0) when it is too small to share: no workers then."""
    own = max(1, round(concurrency * local_percent / 100))
    each = (concurrency - own) // workers if workers else 0
    return (own, each) if each >= 1 else (concurrency, 0)


def role_for(spider: SiteSpider, role: str, hub_path: str | None) -> SingleProcess | HubProcess | WorkerProcess:
    if role == "worker":
        return WorkerProcess(spider, hub_path)
    if spider.crawler.settings.getint("CRAWL_PROCESSES") > 1:
        return HubProcess(spider)
    return SingleProcess(spider)


class SingleProcess:
    reads_sitemaps = True
    is_worker = False
    fetching_elsewhere: frozenset[str] = frozenset()  # keys of URLs another process is fetching

    def __init__(self, spider: SiteSpider):
        self.spider = spider
        self.frontier = spider.frontier

    async def start(self) -> bool:
        """Get ready; True when this process crawls from the start page."""
        return True

    def admit(self, canonical: str, key: str, found_via: str, referrer: str | None, depth: int, kind: str) -> Iterator[Any]:
        if kind == TaskKind.EXTERNAL:  # checked apart from the site's URLs (crawler/external.py)
            if self.spider.external is not None:
                yield from self.spider.external.admit(canonical, key, referrer, depth)
            return
        task, records = self.frontier.admit(canonical, key, found_via, referrer, depth, kind)
        if task is not None:
            yield from self.pump()
        yield from records

    def known_link(self, key: str, referrer: str, depth: int, kind: str) -> None:
        """A link to a URL already admitted: only its referrer and depth may be news."""
        self.frontier.note_referrer(key, referrer, FoundVia.LINK, depth)

    def known_external(self, key: str, referrer: str, depth: int) -> None:
        if self.spider.external is not None:
            self.spider.external.note_referrer(key, referrer)

    def pump(self) -> Iterator[Request]:
        """Hand pending URLs to the fetchers, as many as the frontier's in-flight bound allows."""
        for task in self.frontier.to_fetch():
            yield from self.dispatch(task)

    def dispatch(self, task: TaskInfo) -> Iterator[Request]:
        yield self.spider.request(task)

    def finish(self, task: TaskInfo, record: dict[str, Any]) -> list[Any]:
        """The record as items, with any others it made final (depth order, max_pages), and the
        Requests for the pending URLs whose turn it now is."""
        return [*self.frontier.close(task, record), *self.pump()]

    def release(self, task: TaskInfo) -> Iterator[Any]:
        """A page that was not fetched (robots.txt) frees its place under max_pages."""
        self.frontier.release_page(task)
        yield from self.pump()

    def check_idle(self) -> None:
        """Raise DontCloseSpider while the crawl is not over."""

    async def close(self) -> None:
        pass


class HubProcess(SingleProcess):
    def __init__(self, spider: SiteSpider):
        super().__init__(spider)
        settings = spider.crawler.settings
        self.threshold = settings.getint("CRAWL_HUB_START_THRESHOLD")
        if self.threshold and not os.environ.get(SOCKET_ENV):
            # Without the prefork launcher a worker is a new Python process that starts for ~1 s
            # of CPU, on cores the hub needs: it pays only on a large site (docs/crawler.md).
            self.threshold = max(self.threshold, settings.getint("CRAWL_HUB_START_THRESHOLD_COLD"))
        workers = settings.getint("CRAWL_PROCESSES") - 1
        self.own_concurrency, self.worker_concurrency = split_concurrency(
            settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") or settings.getint("CONCURRENT_REQUESTS"),
            settings.getint("CRAWL_HUB_LOCAL_PERCENT"), workers)  # fmt: skip
        self.share_reached = False  # the hub's own downloads are within its share: workers may get URLs
        self.for_workers: deque[TaskInfo] = deque()  # the workers' URLs, until they may get them
        self.hub = Hub(self, workers, settings.getint("CRAWL_HUB_LOCAL_PERCENT"), self.worker_args(),
                       quiet=bool(settings.get("LOG_FILE")))  # fmt: skip

    def worker_args(self) -> list[str]:
        spider, settings = self.spider, self.spider.crawler.settings
        secrets_for_workers(spider.options)  # crawler/scope.py: in their environment, not their arguments
        args = ["-a", f"domain={spider.netloc}", "-a", f"options={json.dumps(redacted(spider.options.model_dump()))}"]
        args += ["-s", "STATS_DUMP=False"]  # the hub's stats are the crawl's
        for name in WORKER_SETTINGS:
            value = self.worker_concurrency if name.startswith("CONCURRENT_REQUESTS") else settings.get(name)  # its share
            args += ["-s", f"{name}={value}"]
        if settings.get("LOG_FILE"):
            args += ["-s", f"LOG_FILE={settings.get('LOG_FILE')}.workers"]
        return args

    async def start(self) -> bool:
        if self.threshold == 0 and self.worker_concurrency:
            await self.hub.start(wait=True)
        return True

    def admit(self, canonical: str, key: str, found_via: str, referrer: str | None, depth: int, kind: str) -> Iterator[Any]:
        # URLs in hand grow here (most wait in the frontier, not handed out yet): counted as they come.
        self.start_workers_when_due()
        yield from super().admit(canonical, key, found_via, referrer, depth, kind)

    def start_workers_when_due(self) -> None:
        if not self.hub.started and self.worker_concurrency and self.frontier.to_be_fetched >= self.threshold:
            # Worth the workers' start-up only once the crawl has this many URLs to fetch in hand:
            # not the pages found over max_pages, which are only held (a 50-page job that found
            # 2,000 links fetches 50, and a worker would start for nothing).
            logger.info("%d URLs in hand: starting %d workers", self.frontier.to_be_fetched, self.hub.workers)
            self.hub.start_soon()

    def dispatch(self, task: TaskInfo) -> Iterator[Request]:
        self.start_workers_when_due()
        if self.hub.started and self.hub.wants(task):
            if self.own_share_reached() and self.hub.assign(task):
                self.spider.crawler.stats.inc_value(SENT_TO_WORKERS_STAT)
                return
            if not self.share_reached and self.hub.workers_coming:
                # Kept for the workers rather than queued here, where only this process's share
                # of the concurrency would fetch it once they run.
                self.for_workers.append(task)
                return
        yield self.spider.request(task)

    def pump(self) -> Iterator[Request]:
        if self.for_workers and (self.own_share_reached() or not self.hub.workers_coming):
            while self.for_workers:
                task = self.for_workers.popleft()
                if self.hub.assign(task):
                    self.spider.crawler.stats.inc_value(SENT_TO_WORKERS_STAT)
                else:
                    yield self.spider.request(task)
        yield from super().pump()

    @property
    def fetching_elsewhere(self) -> set[str]:
        return {*self.hub.assigned, *(task.key for task in self.for_workers)}

    def own_share_reached(self) -> bool:
        """Whether workers may be sent URLs: once one is connected, this process keeps to its share
        of the concurrency (until then it uses the whole, a worker's start-up can take seconds),
        and the workers get URLs once this process's own downloads are within that share, so the
        crawl's processes together never have more than `concurrency` requests at the origin."""
        if self.share_reached:
            return True
        if not any(self.hub.outboxes):
            return False
        downloader = self.spider.crawler.engine.downloader
        if downloader.total_concurrency != self.own_concurrency:
            # Scrapy's downloader takes requests while fewer than total_concurrency are in it, and
            # starts each slot's (host's) up to the slot's concurrency.
            downloader.total_concurrency = downloader.domain_concurrency = self.own_concurrency
            for slot in downloader.slots.values():
                slot.concurrency = min(slot.concurrency, self.own_concurrency)
        self.share_reached = sum(len(slot.transferring) for slot in downloader.slots.values()) <= self.own_concurrency
        return self.share_reached

    def schedule_hub_drain(self) -> None:
        """The hub has messages: handle them in a callback, where Requests and items can be yielded."""
        self.spider.crawler.engine.crawl(Request("data:,", callback=self._drain, dont_filter=True,
                                                 meta={"dont_obey_robotstxt": True}, priority=100))  # fmt: skip

    def _drain(self, response: Response) -> list[Any]:
        """The workers' messages, every one handled now, in the order they came; what they make
        (records, Requests) is returned for Scrapy to take.

        Not a generator: Scrapy takes a callback's output a piece at a time, interleaved with other
        callbacks' (items go through the pipelines asynchronously), so two drains used to be under
        way at once, each handling a message only when its previous output was taken. A later
        drain could then handle a worker's RecordMade for a page before an earlier, suspended one
        handled the LinkFound that page sent first: the page stopped counting as a producer, and a
        record it was about to shorten was released at the deeper depth (the 1,000-page depth
        test with 2 processes failed so now and then; tests/test_depth_order.py has the sequence)."""
        return list(self._handle(self.hub.drain()))

    def _handle(self, messages: list[Message]) -> Iterator[Any]:
        for message in messages:
            if isinstance(message, LinkFound):
                if message.canonical is None and message.kind == TaskKind.EXTERNAL:
                    self.known_external(message.key, message.referrer, message.depth)
                elif message.canonical is None:
                    self.frontier.note_referrer(message.key, message.referrer, message.found_via, message.depth)
                else:
                    yield from self.admit(message.canonical, message.key, message.found_via, message.referrer,
                                          message.depth, message.kind)  # fmt: skip
            elif isinstance(message, RecordMade):
                task = self.frontier.outstanding.get(message.key)
                if task is not None:
                    yield from self.frontier.close(task, message.record)
            elif isinstance(message, Released):
                task = self.frontier.outstanding.get(message.key)
                if task is not None:
                    yield from SingleProcess.release(self, task)
            elif isinstance(message, WorkerLost):  # fetch its unfinished URLs here
                for key in message.keys:
                    task = self.frontier.outstanding.get(key)
                    if task is not None:
                        yield self.spider.request(task)
        yield from self.pump()

    def check_idle(self) -> None:
        if self.for_workers:
            # Kept for workers that are still starting, while this process has nothing else to
            # fetch: fetched here now (within its share, it is idle) rather than after a start-up
            # that can take seconds, on a crawl that would otherwise be over.
            self.spider.crawler.engine.crawl(Request("data:,", callback=self._fetch_kept_here, dont_filter=True,
                                                     meta={"dont_obey_robotstxt": True}))  # fmt: skip
            raise DontCloseSpider
        if self.hub.busy:
            raise DontCloseSpider

    def _fetch_kept_here(self, response: Response) -> Iterator[Any]:
        if not any(self.hub.outboxes):  # else a worker connected meanwhile: pump hands them out
            while self.for_workers:
                yield self.spider.request(self.for_workers.popleft())
        yield from self.pump()

    async def close(self) -> None:
        await self.hub.stop()


class WorkerProcess:
    reads_sitemaps = False  # the hub reads them
    is_worker = True
    fetching_elsewhere: frozenset[str] = frozenset()

    def __init__(self, spider: SiteSpider, hub_path: str):
        self.spider = spider
        self.crawler = spider.crawler
        self.client = HubClient(self, hub_path)

    async def start(self) -> bool:
        await self.client.connect()
        return False  # the hub sends the URLs

    def fetch_for_hub(self, url: str, key: str, kind: str, found_via: str, referrer: str | None, depth: int) -> None:
        self.crawler.engine.crawl(self.spider.request(TaskInfo(url, key, kind, found_via, referrer, depth)))

    def admit(self, canonical: str, key: str, found_via: str, referrer: str | None, depth: int, kind: str) -> Iterator[Any]:
        self.client.link(canonical, key, found_via, referrer, depth, kind)
        return iter(())

    def known_link(self, key: str, referrer: str, depth: int, kind: str) -> None:
        self.client.link(None, key, FoundVia.LINK, referrer, depth, kind)

    def known_external(self, key: str, referrer: str, depth: int) -> None:
        self.client.link(None, key, FoundVia.LINK, referrer, depth, TaskKind.EXTERNAL)

    def finish(self, task: TaskInfo, record: dict[str, Any]) -> list[dict[str, Any]]:
        self.client.record(task.key, record)
        return []

    def release(self, task: TaskInfo) -> Iterator[Any]:
        self.client.released(task.key)
        return iter(())

    def check_idle(self) -> None:
        if not self.client.stopped:
            raise DontCloseSpider

    async def close(self) -> None:
        self.client.close()
