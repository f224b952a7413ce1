"""Scrapy's per-request components, doing the same work without their per-call overhead.

Every request and every response of a crawl passes through these, so what Scrapy spends around
their work is paid once per URL (issue 23: CPU per page). Each class does what the Scrapy
component it replaces does, for this crawler's settings; crawler/settings.py swaps them in.

- `PlainStatsCollector`: Scrapy 2.19's StatsCollector answers *every* attribute access, its own
  `self._stats` included, through a `__getattribute__` that first looks for a cached wrapper
  (`_cached_<name>`) and so raises and catches an AttributeError on most of them; the wrapper only
  warns when a caller passes the deprecated `spider` argument, which nothing here does. The stats
  are read and bumped several times per request (the scheduler, the downloader, the engine, the
  scraper, the frontier's total): that was ~1.6 % of a crawl's CPU samples.
- `QuietLogFormatter`: the engine's "Crawled (200) <GET ...>" and the scraper's "Scraped from ..."
  are DEBUG messages, yet a LogRecord (a stack walk for the caller, a timestamp) is built for each
  because Scrapy leaves the root logger at NOTSET and filters in its handler. Below DEBUG they are
  not built at all.
- `RequestDefaultsMiddleware`: Scrapy's DefaultHeadersMiddleware, UserAgentMiddleware and
  DownloadTimeoutMiddleware in one call: the same `setdefault`s in the same order (Accept and
  Accept-Language, then User-Agent, then `download_timeout`), at DefaultHeadersMiddleware's place,
  after the job's own headers (crawler/scope.py), so those still win. Each middleware hop costs a
  coroutine step and a deprecation wrapper per request; three became one.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.logformatter import LogFormatter
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.python import without_none_values

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler


class PlainStatsCollector(MemoryStatsCollector):
    """Scrapy's in-memory stats, with plain attribute access (the methods are the same)."""

    __getattribute__ = object.__getattribute__


class QuietLogFormatter(LogFormatter):
    """Scrapy's log formatter, without the per-URL DEBUG messages when LOG_LEVEL is above DEBUG."""

    debug = True

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> QuietLogFormatter:
        formatter = cls()
        level = crawler.settings.get("LOG_LEVEL") or "DEBUG"
        numeric = level if isinstance(level, int) else logging.getLevelName(str(level).upper())
        formatter.debug = not isinstance(numeric, int) or numeric <= logging.DEBUG
        return formatter

    def crawled(self, request, response, spider):
        return super().crawled(request, response, spider) if self.debug else None

    def scraped(self, item, response, spider):
        return super().scraped(item, response, spider) if self.debug else None


class RequestDefaultsMiddleware:
    """DEFAULT_REQUEST_HEADERS, USER_AGENT and DOWNLOAD_TIMEOUT on every request that lacks them."""

    def __init__(self, headers: list[tuple[str, Any]], user_agent: str | None, timeout: float):
        if user_agent:
            headers = [*headers, ("User-Agent", user_agent)]
        self.headers = headers
        self.timeout = timeout

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RequestDefaultsMiddleware:
        settings = crawler.settings
        return cls(list(without_none_values(settings["DEFAULT_REQUEST_HEADERS"]).items()), settings["USER_AGENT"],
                   settings.getfloat("DOWNLOAD_TIMEOUT"))  # fmt: skip

    def process_request(self, request: Request) -> None:
        setdefault = request.headers.setdefault
        for name, value in self.headers:
            setdefault(name, value)
        if self.timeout:
            request.meta.setdefault("download_timeout", self.timeout)
