"""Downloader middlewares: politeness (crawl-delay, Retry-After), retries with backoff, the warm
fetch's pause, and the body size cap (cut, not cancelled)."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from time import monotonic
from typing import TYPE_CHECKING

from protego import Protego
from scrapy import Request, signals
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred
from scrapy.exceptions import StopDownload
from scrapy.utils.response import response_status_message

from contract.vocabulary import ErrorType
from crawler.records import classify_failure

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER = 60.0
BACKOFF_BASE = 0.5
EASED_MARGIN = 0.1  # a raised delay this close to its floor is back at the floor


def parse_retry_after(value: bytes | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), capped; None if absent/bad."""
    if not value:
        return None
    text = value.decode("latin-1").strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(text) - datetime.now(timezone.utc)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class SafeRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, fixed for requests that wait for the same robots.txt.

    Scrapy 2.19 lets every request to a host wait on one shared Deferred while its robots.txt
    downloads, and awaits it through asyncio, which *consumes* the Deferred's result: the first
    waiter gets the parser, every later one gets None, which means "allow everything". A crawl
    that sends several requests to a new host at once would fetch disallowed URLs. Here each
    waiter gets a Deferred of its own, fed from the shared one, which keeps its result.
    """

    async def robot_parser(self, request: Request):
        pending = self._parsers.get(urlparse_cached(request).netloc)
        if isinstance(pending, Deferred):
            mine: Deferred = Deferred()

            def relay(result):
                mine.callback(result)
                return result

            pending.addBoth(relay)
            return await maybe_deferred_to_future(mine)
        return await super().robot_parser(request)


class DelayMiddleware:
    """Hold a request for `meta["delay_seconds"]` before it is downloaded (retry backoff, warm pause)."""

    async def process_request(self, request: Request) -> None:
        delay = request.meta.pop("delay_seconds", 0)
        if delay:
            await asyncio.sleep(delay)


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, spaced out: Retry-After when the server sends one, else exponential backoff."""

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        retry_after = parse_retry_after(response.headers.get(b"Retry-After"))
        if retry_after is not None and "retry_after_cap" in request.meta:  # an external check's own bound
            retry_after = min(retry_after, request.meta["retry_after_cap"])
        retry.meta["delay_seconds"] = retry_after if retry_after is not None else self._backoff(retry)
        return retry

    def process_exception(self, request: Request, exception: Exception) -> Request | Response | None:
        if classify_failure(exception, urlparse_cached(request).hostname)[0] == ErrorType.FORBIDDEN_TARGET:
            return None  # the guard refused the address: asking again cannot change the answer
        if request.meta.get("external"):
            return None  # a link check (crawler/external.py) is asked once: its failure is its answer
        retry = super().process_exception(request, exception)
        if isinstance(retry, Request):
            retry.meta["delay_seconds"] = self._backoff(retry)
        return retry

    @staticmethod
    def _backoff(request: Request) -> float:
        return BACKOFF_BASE * 2 ** (request.meta.get("retry_times", 1) - 1)


class PolitenessMiddleware:
    """Per-host delay. robots.txt's Crawl-delay is its floor. A 429/503 with Retry-After raises it
    to at least that; then every answer to a request sent after the raise that is not another
    server error halves it back towards the floor. Answers to requests that were already on their
    way when the server complained do not count, so the slow-down is real; and the floor is only
    ever Crawl-delay, so one overloaded moment costs about twice its Retry-After, not the rest of
    the crawl. (The retried request itself waits the full Retry-After: BackoffRetryMiddleware.)"""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.user_agent = crawler.settings.get("ROBOTSTXT_USER_AGENT") or "*"
        self.floor: dict[str, float] = {}  # slot key -> Crawl-delay (or the slot's own start delay)
        self.raised_at: dict[str, float] = {}  # slot key -> when a Retry-After last raised its delay

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PolitenessMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        downloader = self.crawler.engine.downloader
        key = downloader.get_slot_key(request)
        slot = downloader.slots.get(key)
        if slot is None:
            return response
        floor = self.floor.setdefault(key, slot.delay)
        if request.url.endswith("/robots.txt") and response.status == 200:
            self._apply_crawl_delay(key, slot, response)
        elif response.status in (429, 503):
            retry_after = parse_retry_after(response.headers.get(b"Retry-After"))
            if retry_after:
                self.raised_at[key] = monotonic()
                if retry_after > slot.delay:
                    slot.delay = retry_after
                    logger.info("%s asked us to slow down: %.1f s between requests", key, slot.delay)
        elif key in self.raised_at and response.status < 500 and self._sent_after_raise(request, key):
            slot.delay /= 2
            if slot.delay <= floor + EASED_MARGIN:
                slot.delay = floor
                del self.raised_at[key]
                logger.info("%s eased back to %.2f s between requests", key, floor)
        return response

    def _sent_after_raise(self, request: Request, key: str) -> bool:
        sent_at = monotonic() - request.meta.get("download_time", 0.0)
        return sent_at >= self.raised_at[key]

    def _apply_crawl_delay(self, key: str, slot, response: Response) -> None:
        logger.debug("robots.txt of %s: %d bytes, %r", key, len(response.body), response.body[:120])
        try:
            robots = Protego.parse(response.body.decode("utf-8", "replace"))
            delay = robots.crawl_delay(self.user_agent)
        except Exception:  # noqa: BLE001 - a broken robots.txt must not stop the crawl
            return
        if delay:
            # The floor only: robots.txt is read again (for its Sitemap lines) while a Retry-After
            # may have raised the delay, which must still ease back down to Crawl-delay.
            self.floor[key] = min(float(delay), MAX_RETRY_AFTER)
            slot.delay = max(slot.delay, self.floor[key])
            logger.info("robots.txt Crawl-delay for %s: %.2f s", key, self.floor[key])


class BodySizeCapMiddleware:
    """Stop receiving a body past CRAWL_BODY_MAX_BYTES: the response is kept, cut, and flagged
    `download_stopped` (Scrapy's DOWNLOAD_MAXSIZE would cancel it and keep nothing)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BodySizeCapMiddleware:
        middleware = cls(crawler.settings.getint("CRAWL_BODY_MAX_BYTES"))
        if middleware.max_bytes:
            crawler.signals.connect(middleware.bytes_received, signal=signals.bytes_received)
        return middleware

    def bytes_received(self, data: bytes, request: Request, spider) -> None:
        received = request.meta.get("bytes_received", 0) + len(data)
        request.meta["bytes_received"] = received
        if received > self.max_bytes:
            raise StopDownload(fail=False)
