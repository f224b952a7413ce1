"""Sitemap discovery for the `site` spider, built on Scrapy's own sitemap parsing.

robots.txt `Sitemap:` lines first; without any, `/sitemap.xml` and `/sitemap_index.xml` are tried.
Indexes are followed, gzip sitemaps unpacked (size-capped). A sitemap that robots.txt or an index
names but that fails or is not a sitemap is recorded as a failed `sitemap` task; a guessed default
that is simply absent is not. While robots.txt or a sitemap is being read the frontier knows that
URLs of depth 1 may still come (crawler/depths.py).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from scrapy import Request
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from contract.vocabulary import ErrorType, FoundVia, TaskKind, TaskStatus
from crawler.cache_status import normalise_cache_status
from crawler.handlers import wire_bytes
from crawler.records import TaskInfo, classify_failure, content_type_of, new_record
from crawler.urls import normalise

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

DEFAULT_SITEMAPS = ("/sitemap.xml", "/sitemap_index.xml")
SITEMAP_DEPTH = 1  # the depth of the URLs a sitemap lists


class SitemapDiscovery:
    def __init__(self, spider, max_bytes: int):
        self.spider = spider
        self.max_bytes = max_bytes
        self.requested: set[str] = set()
        self.started = False

    def start(self, site_url: str) -> Iterator[Request]:
        """Called with the start page's URL (after redirects): look at its robots.txt, once."""
        if self.started:
            return
        self.started = True
        robots = urljoin(site_url, "/robots.txt")
        self.spider.frontier.begin_discovery(SITEMAP_DEPTH)
        yield Request(robots, callback=self.parse_robots, errback=self.robots_failed,
                      meta={"dont_obey_robotstxt": True, "handle_httpstatus_all": True, "site_url": site_url},
                      dont_filter=True)  # fmt: skip

    def parse_robots(self, response: Response) -> Iterator[Any]:
        declared = list(sitemap_urls_from_robots(response.body, base_url=response.url)) if response.status == 200 else []
        if declared:
            for url in declared:
                yield from self._sitemap(url, found_via=FoundVia.ROBOTS, referrer=response.url, guessed=False)
        else:
            yield from self._defaults(response.meta["site_url"])
        yield from self.spider.frontier.end_discovery(SITEMAP_DEPTH)

    def robots_failed(self, failure: Failure) -> Iterator[Any]:
        yield from self._defaults(failure.request.meta["site_url"])
        yield from self.spider.frontier.end_discovery(SITEMAP_DEPTH)

    def _defaults(self, site_url: str) -> Iterator[Any]:
        for path in DEFAULT_SITEMAPS:
            yield from self._sitemap(urljoin(site_url, path), found_via=FoundVia.DEFAULT, referrer=None, guessed=True)

    def _sitemap(self, url: str, found_via: FoundVia, referrer: str | None, guessed: bool) -> Iterator[Any]:
        normalised = normalise(url)
        if normalised is None or normalised[1] in self.requested:
            return
        self.requested.add(normalised[1])
        task = TaskInfo(normalised[0], "sitemap:" + normalised[1], TaskKind.SITEMAP, found_via, referrer, 0)
        if guessed:  # a task only if it turns out to exist
            self.spider.frontier.begin_discovery(SITEMAP_DEPTH)
        else:
            self.spider.frontier.add(task, produces_from=SITEMAP_DEPTH)
        yield Request(normalised[0], callback=self.parse_sitemap, errback=self.sitemap_failed, dont_filter=True,
                      meta={"task": task, "guessed": guessed, "handle_httpstatus_all": True})  # fmt: skip

    def parse_sitemap(self, response: Response) -> Iterator[Any]:
        task: TaskInfo = response.meta["task"]
        guessed = response.meta["guessed"]
        if guessed:
            if response.status < 300:
                self.spider.frontier.add(task, produces_from=SITEMAP_DEPTH)
            yield from self.spider.frontier.end_discovery(SITEMAP_DEPTH)
            if response.status >= 300:
                return  # no sitemap at the conventional address: nothing to report
        record = new_record(
            task, TaskStatus.COMPLETED, http_status=response.status, bytes=wire_bytes(response),
            decoded_bytes=len(response.body),
            response_time_ms=round(response.meta.get("download_time", 0.0) * 1000),
            ttfb_ms=round(response.meta.get("download_latency", 0.0) * 1000),
            content_type=content_type_of(response), cache_status=normalise_cache_status(response.headers),
        )  # fmt: skip
        if response.status >= 400:
            record.update(status=TaskStatus.FAILED, error_type=ErrorType.HTTP_ERROR, error=f"HTTP {response.status}")
            yield from self.spider.finish(task, record)
            return
        sitemap = self._parse(response)
        if sitemap is None:
            record.update(status=TaskStatus.FAILED, error_type=ErrorType.MALFORMED_SITEMAP, error="Not a valid sitemap (XML urlset or sitemapindex)")
            yield from self.spider.finish(task, record)
            return
        for entry in sitemap:
            loc = entry.get("loc")
            if not loc:
                continue
            if sitemap.type == "sitemapindex":
                yield from self._sitemap(loc, found_via=FoundVia.SITEMAP, referrer=response.url, guessed=False)
            else:
                yield from self.spider.accept(loc, FoundVia.SITEMAP, response.url, SITEMAP_DEPTH)
        # Recorded after its URLs are admitted: until then, URLs of depth 1 may still come from it.
        yield from self.spider.finish(task, record)

    def sitemap_failed(self, failure: Failure) -> Iterator[Any]:
        task: TaskInfo = failure.request.meta["task"]
        if failure.request.meta["guessed"]:
            yield from self.spider.frontier.end_discovery(SITEMAP_DEPTH)
            return
        # The host, so that an address the guard refused is `forbidden_target`, not a DNS error.
        error_type, error = classify_failure(failure.value, urlsplit(failure.request.url).hostname)
        yield from self.spider.finish(task, new_record(task, TaskStatus.FAILED, error_type=error_type, error=error))

    def _parse(self, response: Response) -> Sitemap | None:
        body = response.body
        if body[:2] == b"\x1f\x8b":  # a .xml.gz file served as is, not as Content-Encoding
            try:
                body = gunzip(body, max_size=self.max_bytes)
            except Exception:  # noqa: BLE001 - any decompression failure means "not a sitemap"
                return None
        try:
            sitemap = Sitemap(body)
        except Exception:  # noqa: BLE001 - lxml raises several types on garbage
            return None
        return sitemap if sitemap.type in ("urlset", "sitemapindex") else None
