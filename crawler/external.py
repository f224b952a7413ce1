"""External link checks: every http(s) link from a crawled page to another site, checked once per job.

A check is HEAD first, then GET when HEAD is refused or answers >= 400 (many servers answer 405, 403
or 404 to HEAD only); redirects are followed here and recorded hop by hop; the body is never read
past its first bytes (the status is all a check needs). Politeness towards sites that are not the
customer's: at most CRAWL_EXTERNAL_PER_HOST checks in flight per host (its own Scrapy download slot,
with CRAWL_EXTERNAL_DELAY_SECONDS between requests), and at most CRAWL_EXTERNAL_MAX_IN_FLIGHT in all,
held here rather than in Scrapy's queues: the site's own pages never wait behind a slow third party
(settings give the checks their own share of CONCURRENT_REQUESTS, crawler/scope.py). A 429 is
retried after its Retry-After, cut to CRAWL_EXTERNAL_MAX_RETRY_AFTER. Targets pass the same
private-address guard as the site (crawler/resolver.py).

Checks are tasks of kind `external`, in total_tasks (progress shows how many are pending) but not in
the frontier and not against max_pages. Only the hub (or the single process) checks: workers send
the links they find to it like any other (crawler/roles.py). Definite answers are shared between
jobs through the instance's cache (crawler/external_cache.py) when the crawl has a database.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.exceptions import StopDownload

from contract.external import classify_answer
from contract.vocabulary import ErrorType, FoundVia, TaskKind
from crawler import signals as crawl_signals
from crawler.records import (
    Download,
    TaskInfo,
    classify_failure,
    failure_record,
    new_record,
    response_record,
    skipped_record,
    stopped_chain_record,
)
from crawler.redirects import next_hop
from crawler.urls import normalise

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

MAX_REFERRERS = 50  # pages kept per external URL (every one, up to this, is reported when it is broken)
EXTERNAL_KEY = "\0"  # marks an external URL's key in the spider's href cache
CHECKED_STAT = "external/checked"
BROKEN_STAT = "external/broken"
FROM_CACHE_STAT = "external/from_cache"
NOT_CHECKED_STAT = "external/not_checked"


class ExternalLink:
    __slots__ = ("task", "referrers", "host", "done", "broken")

    def __init__(self, task: TaskInfo, host: str):
        self.task = task
        self.referrers: list[str] = [task.referrer] if task.referrer else []
        self.host = host
        self.done = False
        self.broken = False


class ExternalChecker:
    def __init__(self, spider, settings, cache=None):
        self.spider = spider
        self.crawler = spider.crawler
        self.per_host = settings.getint("CRAWL_EXTERNAL_PER_HOST")
        self.max_in_flight = settings.getint("CRAWL_EXTERNAL_MAX_IN_FLIGHT")
        self.delay = settings.getfloat("CRAWL_EXTERNAL_DELAY_SECONDS")
        self.timeout = settings.getfloat("CRAWL_EXTERNAL_TIMEOUT_SECONDS")
        self.retry_after_cap = settings.getfloat("CRAWL_EXTERNAL_MAX_RETRY_AFTER")
        self.max_redirects = settings.getint("CRAWL_MAX_REDIRECTS")
        self.max_urls = settings.getint("CRAWL_EXTERNAL_MAX_URLS")
        self.not_checked = 0  # distinct external URLs met past max_urls
        self.cache = cache  # crawler/external_cache.py ExternalCache, or None
        self.links: dict[str, ExternalLink] = {}
        self.waiting: dict[str, deque[ExternalLink]] = {}  # host -> links not sent yet
        self.host_in_flight: dict[str, int] = {}
        self.in_flight = 0
        # Cache look-ups (crawler/external_cache.py) run in a thread: the links waiting for one, the
        # answers not taken yet, and whether one is running.
        self.to_look_up: list[ExternalLink] = []
        self.answers: list[tuple[list[ExternalLink], dict[str, dict[str, Any]]]] = []
        self.looking_up = False
        crawler = spider.crawler
        crawler.signals.connect(self.bytes_received, signal=signals.bytes_received)

    @property
    def pending(self) -> int:
        """Checks not sent yet (a look-up in its thread counts: the crawl must wait for it)."""
        waiting = sum(len(queue) for queue in self.waiting.values())
        return waiting + len(self.to_look_up) + len(self.answers) + self.looking_up

    def bytes_received(self, data: bytes, request: Request, spider) -> None:
        """A check needs the status, not the body: stop at the first bytes (the response is kept)."""
        if request.meta.get("external"):
            raise StopDownload(fail=False)

    # --- Admission --------------------------------------------------------------------------------

    def admit(self, canonical: str, key: str, referrer: str | None, depth: int) -> Iterator[Any]:
        link = self.links.get(key)
        if link is not None:
            self.note_referrer(key, referrer)
            return
        if self.max_urls and len(self.links) >= self.max_urls:
            # A hostile page set could link to millions of distinct URLs: memory stays bounded.
            if not self.not_checked:
                logger.warning("%d external URLs met: more are counted, not checked (CRAWL_EXTERNAL_MAX_URLS)", self.max_urls)
            self.not_checked += 1
            self.crawler.stats.inc_value(NOT_CHECKED_STAT)
            return
        host = normalise(canonical)[2]
        task = TaskInfo(canonical, key, TaskKind.EXTERNAL, FoundVia.LINK, referrer, depth)
        link = self.links[key] = ExternalLink(task, host)
        self.spider.frontier.count_external()
        url_filter = self.spider.frontier.url_filter
        excluded = url_filter.skip_reason(canonical) if url_filter is not None else None
        if excluded:
            yield from self._done(link, skipped_record(task, *excluded), counted=False)
            return
        if self.cache is not None:
            self.to_look_up.append(link)
            self._look_up_soon()
            return
        self.waiting.setdefault(host, deque()).append(link)
        yield from self.pump()

    # --- The instance's cache ---------------------------------------------------------------------

    def _look_up_soon(self) -> None:
        if self.looking_up or not self.to_look_up:
            return
        from twisted.internet import threads

        from crawler.external_cache import LOOKUP_BATCH

        batch, self.to_look_up = self.to_look_up[:LOOKUP_BATCH], self.to_look_up[LOOKUP_BATCH:]
        self.looking_up = True
        looked_up = threads.deferToThread(self.cache.lookup_many, [link.task.url for link in batch])
        looked_up.addErrback(lambda failure: logger.warning("external cache: %s", failure.value) or {})
        looked_up.addCallback(self._looked_up, batch)

    def _looked_up(self, answers: dict[str, dict[str, Any]], batch: list[ExternalLink]) -> None:
        """Back in the reactor: records and Requests can only come out of a callback, so a data:
        request (no network) hands the answers to `take_answers`."""
        self.looking_up = False
        self.answers.append((batch, answers))
        self.crawler.engine.crawl(Request("data:,", callback=self.take_answers, dont_filter=True,
                                          meta={"dont_obey_robotstxt": True}))  # fmt: skip
        self._look_up_soon()

    def take_answers(self, response: Response | None = None) -> Iterator[Any]:
        answers, self.answers = self.answers, []
        for batch, cached in answers:
            for link in batch:
                if link.done:  # a cancel recorded it meanwhile
                    continue
                answer = cached.get(link.task.url)
                if answer is not None:
                    self.crawler.stats.inc_value(FROM_CACHE_STAT)
                    yield from self._done(link, new_record(link.task, **answer), counted=True)
                else:
                    self.waiting.setdefault(link.host, deque()).append(link)
        yield from self.pump()

    def note_referrer(self, key: str, referrer: str | None) -> None:
        link = self.links.get(key)
        if link is None or referrer is None or referrer in link.referrers:
            return
        if not link.done:
            if len(link.referrers) < MAX_REFERRERS:
                link.referrers.append(referrer)
        elif link.broken:  # recorded already: the database adds the page to its referrers
            self.crawler.signals.send_catch_log(crawl_signals.broken_link_referrer, url=link.task.url,
                                                referrer=referrer)  # fmt: skip

    # --- Sending ----------------------------------------------------------------------------------

    def pump(self) -> Iterator[Request]:
        """The checks whose turn it is: per host and in all, within their bounds."""
        if self.in_flight >= self.max_in_flight or not self.waiting:
            return
        for host in list(self.waiting):
            queue = self.waiting[host]
            while queue and self.host_in_flight.get(host, 0) < self.per_host and self.in_flight < self.max_in_flight:
                link = queue.popleft()
                self.host_in_flight[host] = self.host_in_flight.get(host, 0) + 1
                self.in_flight += 1
                yield self._request(link, link.task.url, "HEAD", {})
            if not queue:
                del self.waiting[host]
            if self.in_flight >= self.max_in_flight:
                return

    def _request(self, link: ExternalLink, url: str, method: str, carried: dict[str, Any]) -> Request:
        """`carried`: the redirect hops so far, their time and bytes (records.Download.next_hop_meta)."""
        slot = f"external:{link.host}"
        downloader = self.crawler.engine.downloader
        downloader.per_slot_settings.setdefault(slot, {"concurrency": self.per_host, "delay": self.delay, "jitter": 0})
        meta = {
            "external": link, "download_slot": slot, "download_timeout": self.timeout, "handle_httpstatus_all": True,
            "dont_redirect": True, "dont_obey_robotstxt": True, "max_retry_times": 1, **carried,  # 429: once
            "retry_after_cap": self.retry_after_cap,
        }  # fmt: skip
        return Request(url, method=method, callback=self.on_response, errback=self.on_error, meta=meta,
                       dont_filter=True)  # fmt: skip

    # --- Answers ----------------------------------------------------------------------------------

    def on_response(self, response: Response) -> Iterator[Any]:
        link: ExternalLink = response.meta["external"]
        download = Download.of(response)  # the one place timings are computed (crawler/records.py)
        method = response.request.method
        status = response.status
        if 300 <= status < 400 and status != 304 and b"Location" in response.headers:
            target, stop = next_hop(response, [*download.hops, (response.url, status)], self.max_redirects)
            if stop is None:
                yield self._request(link, target, method, download.next_hop_meta(response))
            else:
                yield from self._finish(link, stopped_chain_record(link.task, response, download, target, *stop,
                                                                   measured=False, is_broken=True))  # fmt: skip
            return
        if method == "HEAD" and status >= 400 and status != 429:
            # Refused or answered differently to HEAD: GET tells (from where the redirects led).
            # The HEAD's own time is not the answer's: GET starts from the hops before it.
            carried = {name: response.meta[name] for name in ("hops", "elapsed", "transferred") if name in response.meta}
            yield self._request(link, response.url, "GET", carried)
            return
        # classify_answer's status (a refusing site is failed, not broken) overrides the builder's.
        yield from self._finish(link, response_record(link.task, response, download, **classify_answer(link.host, status)))

    def on_error(self, failure: Failure) -> Iterator[Any]:
        request = failure.request
        link: ExternalLink = request.meta["external"]
        error_type, error = classify_failure(failure.value, urlsplit(request.url).hostname)
        record = failure_record(link.task, request, error_type, error)
        # A private target is refused, not broken; a network failure or timeout is reported broken.
        record["is_broken"] = error_type != ErrorType.FORBIDDEN_TARGET
        yield from self._finish(link, record)

    def _finish(self, link: ExternalLink, record: dict[str, Any]) -> Iterator[Any]:
        self.in_flight -= 1
        left = self.host_in_flight.get(link.host, 1) - 1
        if left:
            self.host_in_flight[link.host] = left
        else:
            self.host_in_flight.pop(link.host, None)
        if self.cache is not None:
            self.cache.store(link.task.url, record)
        yield from self._done(link, record, counted=True)
        yield from self.pump()

    def _done(self, link: ExternalLink, record: dict[str, Any], counted: bool) -> Iterator[Any]:
        link.done = True
        link.broken = bool(record.get("is_broken"))
        if counted:
            self.crawler.stats.inc_value(CHECKED_STAT)
        if link.broken:
            self.crawler.stats.inc_value(BROKEN_STAT)
            record["referrers"] = list(link.referrers)
        link.referrers = []
        yield record

    # --- Closing ----------------------------------------------------------------------------------

    def unfinished_records(self, error_type: str, error: str) -> list[dict[str, Any]]:
        """At a cancel or shutdown: every check not made, skipped."""
        records = [skipped_record(link.task, error_type, error) for link in self.links.values() if not link.done]
        for link in self.links.values():
            link.done = True
        self.waiting.clear()
        return records
