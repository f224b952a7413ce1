"""Sitemap discovery for the `site` spider, built on Scrapy's own sitemap parsing.

robots.txt `Sitemap:` lines first; without any, `/sitemap.xml` and `/sitemap_index.xml` are tried.
Indexes are followed, gzip sitemaps unpacked. A sitemap that robots.txt or an index names but that
fails or is not a sitemap is recorded as a failed `sitemap` task; a guessed default that is simply
absent is not. While robots.txt or a sitemap is being read the frontier knows that URLs of depth 1
may still come (crawler/depths.py).

Bounded whatever the site serves: a document is decoded as lxml reads it (crawler/decoding.py), up
to CRAWL_SITEMAP_MAX_BYTES decoded and CRAWL_SITEMAP_MAX_URLS entries, the sitemap protocol's
limits (50 MB, 50,000), and never whole in memory (Scrapy's `Sitemap` drops each entry once read);
a job reads at most CRAWL_SITEMAP_MAX_DOCUMENTS documents (the first one over the limit is a
skipped task, `sitemap_limit`, the others a stat); and no urlset is read further once the job's
`max_pages` pages are admitted, since every URL after that would only wait to be skipped (indexes
are still followed, within the documents limit, so that every sitemap is recorded).
"""
from __future__ import annotations

import logging
from itertools import chain
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import lxml.etree
from scrapy import Request
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from contract.vocabulary import ErrorType, FoundVia, TaskKind, TaskStatus
from crawler.compression import CONTENT_ENCODINGS, DECODE_LAZILY
from crawler.decoding import GZIP_MAGIC, DecodedReader, decode_layers, decoded_chunks
from crawler.records import Download, TaskInfo, classify_failure, new_record, response_record, skipped_record
from crawler.urls import normalise

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

DEFAULT_SITEMAPS = ("/sitemap.xml", "/sitemap_index.xml")
SITEMAP_DEPTH = 1  # the depth of the URLs a sitemap lists
OVER_LIMIT_STAT = "sitemaps/over_limit"  # sitemaps named past CRAWL_SITEMAP_MAX_DOCUMENTS, not fetched
AFTER_MAX_PAGES_STAT = "sitemaps/not_read_max_pages"  # urlsets not read to the end: max_pages reached


class StreamedSitemap(Sitemap):
    """Scrapy's Sitemap over a binary file rather than bytes, so that the document is decoded as
    it is parsed. The parser options are Scrapy's (entities never resolved)."""

    def __init__(self, stream: DecodedReader):
        self.xmliter = lxml.etree.iterparse(
            stream, recover=True, remove_comments=True, resolve_entities=False, remove_blank_text=True,
            collect_ids=False, remove_pis=True, events=("start", "end"),
        )  # fmt: skip
        _, root = next(self.xmliter)
        self.type = self._get_tag_name(root)


def _document(body: bytes, encodings: list[bytes]) -> Iterator[bytes]:
    """The sitemap's bytes: its Content-Encoding undone, and a .xml.gz file's gzip too."""
    chunks = decoded_chunks(body, encodings)
    first = next(chunks, b"")
    chunks = chain([first], chunks)
    yield from decode_layers(chunks, [b"gzip"]) if first.startswith(GZIP_MAGIC) else chunks


class SitemapDiscovery:
    def __init__(self, spider, *, max_bytes: int, max_urls: int, max_documents: int):
        self.spider = spider
        self.max_bytes = max_bytes
        self.max_urls = max_urls
        self.max_documents = max_documents
        self.requested: set[str] = set()  # at most max_documents keys
        self.over_limit_recorded = False
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
        task = TaskInfo(normalised[0], "sitemap:" + normalised[1], TaskKind.SITEMAP, found_via, referrer, 0)
        if len(self.requested) >= self.max_documents:
            yield from self._over_limit(task)
            return
        self.requested.add(normalised[1])
        if guessed:  # a task only if it turns out to exist
            self.spider.frontier.begin_discovery(SITEMAP_DEPTH)
        else:
            self.spider.frontier.add(task, produces_from=SITEMAP_DEPTH)
        yield Request(normalised[0], callback=self.parse_sitemap, errback=self.sitemap_failed, dont_filter=True,
                      meta={"task": task, "guessed": guessed, "handle_httpstatus_all": True, DECODE_LAZILY: True})  # fmt: skip

    def _count(self, stat: str) -> None:
        self.spider.crawler.stats.inc_value(stat)

    def _over_limit(self, task: TaskInfo) -> Iterator[Any]:
        """A sitemap past the job's documents limit: the first is recorded skipped, saying why;
        the rest (an endless chain of indexes names them without end) are only counted."""
        self._count(OVER_LIMIT_STAT)
        if self.over_limit_recorded:
            return
        self.over_limit_recorded = True
        logger.warning("more than %d sitemap documents: %s and any later ones are not read", self.max_documents, task.url)
        self.spider.frontier.add(task, produces_from=None)
        yield from self.spider.finish(task, skipped_record(
            task, ErrorType.SITEMAP_LIMIT,
            f"Over the limit of {self.max_documents} sitemap documents per job: this one and any later ones are not read",
        ))  # fmt: skip

    def parse_sitemap(self, response: Response) -> Iterator[Any]:
        task: TaskInfo = response.meta["task"]
        guessed = response.meta["guessed"]
        if guessed:
            if response.status < 300:
                self.spider.frontier.add(task, produces_from=SITEMAP_DEPTH)
            yield from self.spider.frontier.end_discovery(SITEMAP_DEPTH)
            if response.status >= 300:
                return  # no sitemap at the conventional address: nothing to report
        # A sitemap's redirect is not followed (its 3xx reads as no sitemap) and a 5xx is an
        # http_error, not a server-error page.
        record = response_record(task, response, Download.of(response))
        if response.status >= 400:
            record.update(error_type=ErrorType.HTTP_ERROR, error=f"HTTP {response.status}")
            yield from self.spider.finish(task, record)
            return
        stream = DecodedReader(_document(response.body, response.meta.get(CONTENT_ENCODINGS, ())), self.max_bytes)
        sitemap = self._parse(stream)
        if sitemap is None:
            reason = f": {stream.error}" if stream.error else ""
            record.update(status=TaskStatus.FAILED, error_type=ErrorType.MALFORMED_SITEMAP, decoded_bytes=stream.decoded_bytes,
                          error=f"Not a valid sitemap (XML urlset or sitemapindex){reason}")  # fmt: skip
            yield from self.spider.finish(task, record)
            return
        entries, stopped = 0, None
        index = sitemap.type == "sitemapindex"
        for entry in self._entries(sitemap, record):
            if not index and self.spider.frontier.pages_full:
                self._count(AFTER_MAX_PAGES_STAT)
                stopped = f"Not read to the end: the job's max_pages ({self.spider.frontier.max_pages}) pages were admitted"
                break
            if entries == self.max_urls:
                record["truncated"] = True
                stopped = f"More than {self.max_urls} entries: the rest were not read (the sitemap protocol's limit)"
                break
            entries += 1
            loc = entry.get("loc")
            if not loc:
                continue
            if index:
                yield from self._sitemap(loc, found_via=FoundVia.SITEMAP, referrer=response.url, guessed=False)
            else:
                self.spider.frontier.note_sitemap_priority(entry.get("priority"))  # ranks it under max_pages
                yield from self.spider.accept(loc, FoundVia.SITEMAP, response.url, SITEMAP_DEPTH)
        record["decoded_bytes"] = stream.decoded_bytes
        if stream.cut:
            record["truncated"] = True
            stopped = f"Cut at the sitemap size cap: {stream.decoded_bytes} bytes decoded ({record['bytes']} on the wire)"
        elif "download_stopped" in response.flags:
            record["truncated"] = True
            stopped = f"Cut at the size cap on the wire ({record['bytes']} bytes)"
        record["error"] = record["error"] or stopped
        # Recorded after its URLs are admitted: until then, URLs of depth 1 may still come from it.
        yield from self.spider.finish(task, record)

    @staticmethod
    def _entries(sitemap: StreamedSitemap, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The document's entries until it ends or breaks beyond what lxml's recovery mends."""
        try:
            yield from sitemap
        except Exception as exc:  # noqa: BLE001 - what was read so far stands; the record says where it broke
            record["error"] = f"Not read to the end: {exc}"

    def sitemap_failed(self, failure: Failure) -> Iterator[Any]:
        task: TaskInfo = failure.request.meta["task"]
        if failure.request.meta["guessed"]:
            yield from self.spider.frontier.end_discovery(SITEMAP_DEPTH)
            return
        # The host, so that an address the guard refused is `forbidden_target`, not a DNS error.
        error_type, error = classify_failure(failure.value, urlsplit(failure.request.url).hostname)
        # No timing, unlike a page's failure_record: a sitemap that did not answer is not a measured page.
        yield from self.spider.finish(task, new_record(task, TaskStatus.FAILED, error_type=error_type, error=error))

    @staticmethod
    def _parse(stream: DecodedReader) -> StreamedSitemap | None:
        try:
            sitemap = StreamedSitemap(stream)
        except Exception:  # noqa: BLE001 - lxml raises several types on garbage
            return None
        return sitemap if sitemap.type in ("urlset", "sitemapindex") else None
