"""The `site` spider: crawl one website and record every URL it finds.

Discovery: the start page, robots.txt `Sitemap:` lines (else /sitemap.xml and /sitemap_index.xml,
indexes and gzip included), and internal links in HTML. Each URL is normalised and deduplicated
before a Request is built, so a link seen on every page costs one dict lookup. Redirects are
followed here, not by RedirectMiddleware, so every hop is recorded and loops are caught instead
of being dropped by a duplicate filter. Every URL ends as exactly one record (completed, failed or
skipped); `crawler/pipelines.py` writes them.

One module past the usual ~300 lines because it is one thing, Scrapy's spider: the callbacks that
turn a response or a failure into a record share the spider's state (frontier, role, schemes), and
what could leave has left (discovery in sitemaps.py/links.py/frontier.py, redirects, warming, how a
record is built in records.py, the process roles in roles.py).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest, UsageError

from contract.options import OPTION_FIELDS, InvalidOptions, options_from_spider_arguments
from contract.targets import InvalidDomain, parse_domain
from contract.vocabulary import ErrorType, FoundVia, TaskKind
from crawler import signals as crawl_signals
from crawler.ci import FAIL_ON, BrokenLinkCounter
from crawler.external import EXTERNAL_KEY, ExternalChecker
from crawler.external_cache import external_cache
from crawler.frontier import TOTAL_TASKS_STAT, UNKNOWN, Frontier
from crawler.firewall import mark_challenge
from crawler.links import extract_links
from crawler.records import (
    Download,
    TaskInfo,
    body_cut,
    classify_failure,
    failure_record,
    http_error,
    response_record,
    skipped_record,
)
from crawler.redirects import follow_redirect
from crawler.roles import role_for
from crawler.scope import UrlFilter, apply_option_settings, job_depth_limit
from crawler.sitemaps import SitemapDiscovery
from crawler.urls import LinkBase, SiteScope, normalise, normalise_within
from crawler.warming import CacheWarmer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

STARTS = (FoundVia.START, FoundVia.REDIRECT)  # at depth 0: the start page and its redirect's target
HTML_TYPES = ("text/html", "application/xhtml+xml")  # the pages whose links are followed
# URLs handed to the fetchers at once (crawler/frontier.py), per request slot of the crawl
# (CONCURRENT_REQUESTS x CRAWL_PROCESSES): enough queued to keep every slot busy (a finished URL
# hands out the next at once), few enough that the Requests stay small whatever the site, and that
# a hub starting its workers has few of their URLs already queued in its own Scrapy scheduler,
# where only the hub's share of the concurrency fetches them (25 per slot, at least 500, left a
# slow origin's last third to the hub alone: bench/slow.py). The rest wait in the frontier, compact.
IN_FLIGHT_PER_SLOT = 4
MIN_IN_FLIGHT = 64


class SiteSpider(Spider):
    name = "site"

    def __init__(
        self,
        domain: str | None = None,
        scheme: str | None = None,
        start_path: str = "/",
        role: str = "crawl",
        hub: str | None = None,
        fail_on: str | None = None,
        **kwargs: Any,
    ):
        """`-a options={json}` (as the API sends them) and/or single options (`-a max_pages=50`),
        both validated by the contract's JobOptions model."""
        try:
            options = options_from_spider_arguments(kwargs)
        except InvalidOptions as exc:
            raise UsageError(str(exc)) from None
        # Options given one by one (`-a concurrency=50`) also set the Scrapy settings they stand for.
        self.options_given = {name for name in OPTION_FIELDS if name in kwargs}
        for name in ("options", *OPTION_FIELDS):
            kwargs.pop(name, None)
        super().__init__(**kwargs)
        if not domain:
            raise UsageError("missing the site to crawl: use -a domain=example.com")
        try:
            target = parse_domain(domain)
        except InvalidDomain as exc:
            raise UsageError(f"-a domain={domain!r} {exc}") from None
        if scheme not in (None, "http", "https"):
            raise UsageError(f"-a scheme={scheme!r}: expected http or https")
        if not start_path.startswith("/"):
            raise UsageError(f"-a start_path={start_path!r}: must start with /")
        if fail_on not in (None, *FAIL_ON):  # crawler/ci.py: an ad-hoc crawl as a CI link check
            raise UsageError(f"-a fail_on={fail_on!r}: expected one of {', '.join(FAIL_ON)}")
        self.fail_on = fail_on
        if role not in ("crawl", "worker") or (role == "worker" and not hub):
            raise UsageError("-a role=worker needs -a hub=SOCKET (workers are started by the hub)")
        self.options = options
        self.start_path = start_path
        self.role_name, self.hub_path = role, hub
        self.job_id: str | None = kwargs.get("_job") if role == "crawl" else None
        self.netloc = target.name
        self.schemes = [scheme or target.scheme] if (scheme or target.scheme) else ["https", "http"]
        self.scope = SiteScope(target.host, target.port, options.allow_cross_subdomain_links)
        self.use_sitemap = options.use_sitemap
        self.find_links = options.find_links
        self.check_resources = options.check_resources
        self.max_pages = options.max_pages
        self.slow_threshold = options.slow_page_threshold_ms / 1000.0
        self.start_error: str | None = None  # the start page could not be fetched: the job fails
        self.adhoc_failure: str | None = None  # the same for a run with no job (crawler/commands/crawl.py)

    @classmethod
    def check_arguments(cls, **kwargs: Any) -> None:
        """Raise UsageError for a bad `-a` argument (crawler/commands/crawl.py calls it before the
        crawl starts): the constructor checks every argument and touches nothing outside the spider."""
        cls(**kwargs)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        apply_option_settings(spider, settings)  # crawler/scope.py: -a concurrency, secrets, external share
        spider.max_redirects = settings.getint("CRAWL_MAX_REDIRECTS")
        spider.warmer = CacheWarmer(spider, settings.getfloat("CRAWL_WARM_PAUSE_SECONDS"))
        spider.frontier = Frontier(
            spider.scope,
            max_pages=spider.max_pages,
            max_depth=job_depth_limit(spider.options, settings.getint("CRAWL_MAX_DEPTH")),
            url_filter=UrlFilter(spider.options.include, spider.options.exclude),
            max_url_length=settings.getint("CRAWL_MAX_URL_LENGTH"),
            max_query_variants=settings.getint("CRAWL_MAX_QUERY_VARIANTS"),
            on_late_referrer=spider._late_referrer,
            on_total=lambda total: crawler.stats.set_value(TOTAL_TASKS_STAT, total),
            instance_max_pages=settings.getint("MAX_PAGES_PER_JOB"),
            max_in_flight=max(MIN_IN_FLIGHT, IN_FLIGHT_PER_SLOT * settings.getint("CONCURRENT_REQUESTS")
                              * max(1, settings.getint("CRAWL_PROCESSES"))),  # fmt: skip
            # A job's rows can be corrected in place: its records go out at once (crawler/depths.py).
            on_corrected=spider._depth_corrected if spider.job_id else None,
        )
        spider.sitemaps = SitemapDiscovery(
            spider,
            max_bytes=settings.getint("CRAWL_SITEMAP_MAX_BYTES"),
            max_urls=settings.getint("CRAWL_SITEMAP_MAX_URLS"),
            max_documents=settings.getint("CRAWL_SITEMAP_MAX_DOCUMENTS"),
        )
        crawler.signals.connect(spider.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(spider.spider_closed, signal=signals.spider_closed)
        spider.role = role_for(spider, spider.role_name, spider.hub_path)  # crawler/roles.py
        spider.broken_links = BrokenLinkCounter(crawler) if spider.fail_on else None
        spider.external = ExternalChecker(spider, settings, external_cache(spider, settings)) if spider.check_external else None
        return spider

    def spider_idle(self) -> None:
        """Nothing left to fetch here: wait for the workers (or, in a worker, for the hub), then
        record the pages that waited over max_pages (and any record still held for depth order),
        then close."""
        self.role.check_idle()
        if self.external is not None and self.external.pending:
            if not self.external.looking_up:  # else its answer wakes the crawl (crawler/external.py)
                self.crawler.engine.crawl(Request("data:,", callback=self._pump_external, dont_filter=True,
                                                  meta={"dont_obey_robotstxt": True}))  # fmt: skip
            raise DontCloseSpider
        lost = self.frontier.lost(self.role.fetching_elsewhere) if self.frontier.in_flight else None
        if lost:  # recorded, out of the in-flight count (crawler/frontier.py lost)
            logger.warning("%d URLs counted in flight at idle had no request any more (e.g. %s): recorded interrupted",
                           len(lost), lost[0].url)  # fmt: skip
            self.crawler.engine.crawl(Request("data:,", callback=self._record_lost, cb_kwargs={"lost": lost},
                                              dont_filter=True, meta={"dont_obey_robotstxt": True}))  # fmt: skip
            raise DontCloseSpider
        if self.frontier.pending:
            self.crawler.engine.crawl(Request("data:,", callback=self._pump, dont_filter=True,
                                              meta={"dont_obey_robotstxt": True}))  # fmt: skip
            raise DontCloseSpider
        if self.frontier.has_idle_records:
            # A data: request costs no network; its callback yields the records as items.
            self.crawler.engine.crawl(Request("data:,", callback=self._record_idle, dont_filter=True,
                                              meta={"dont_obey_robotstxt": True}))  # fmt: skip
            raise DontCloseSpider

    def _record_lost(self, response: Response, lost: list[TaskInfo]) -> Iterator[Any]:
        yield from self.frontier.record_lost(lost)
        yield from self.role.pump()

    def _record_idle(self, response: Response) -> Iterator[dict[str, Any]]:
        yield from self.frontier.idle_records()

    def _pump_external(self, response: Response) -> Iterator[Any]:
        yield from self.external.take_answers()

    def _pump(self, response: Response) -> Iterator[Request]:
        yield from self.role.pump()

    async def spider_closed(self) -> None:
        note = self.limit_note()
        if note:
            logger.warning("%s", note)
            self.crawler.stats.set_value("frontier/limit_note", note)
        await self.role.close()

    def limit_note(self) -> str | None:
        """Why the crawl stopped short of the site when the instance's MAX_PAGES_PER_JOB did it."""
        return None if self.role.is_worker else self.frontier.limit_note()

    # --- Start ----------------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        if not await self.role.start():
            return
        url = f"{self.schemes[0]}://{self.netloc}{self.start_path}"
        canonical, key, _, _ = normalise(url)
        task = TaskInfo(canonical, key, TaskKind.PAGE, FoundVia.START, None, 0)
        self.frontier.add(task, produces_from=0)
        yield self.request(self.frontier.hand_out(task), scheme_index=0)

    # --- Accepting URLs -------------------------------------------------------------------------

    def accept(self, url: str, found_via: FoundVia, referrer: str | None, depth: int, kind: TaskKind = TaskKind.PAGE) -> Iterator[Any]:
        """Yield a Request for a new in-scope URL, a skipped record, or nothing for one already known."""
        normalised = normalise(url)
        if normalised is not None and self.scope.contains(normalised[2], normalised[3]):
            yield from self.role.admit(normalised[0], normalised[1], found_via, referrer, depth, kind)

    def _late_referrer(self, url: str, referrer: str) -> None:
        self.crawler.signals.send_catch_log(crawl_signals.broken_link_referrer, url=url, referrer=referrer)

    def _depth_corrected(self, task: TaskInfo) -> None:
        """A shorter path to a URL whose record went out already: the stored row follows it."""
        self.crawler.signals.send_catch_log(crawl_signals.depth_corrected, url=task.url, depth=task.depth,
                                            referrer=task.referrer, found_via=task.found_via)  # fmt: skip

    def request(self, task: TaskInfo, url: str | None = None, scheme_index: int | None = None, **meta: Any) -> Request:
        meta.update(task=task, handle_httpstatus_all=True, dont_redirect=True)
        if scheme_index is not None and len(self.schemes) > 1:
            # Scheme not known yet: fail fast to the http fallback, and leave robots.txt to the
            # first request after it (Scrapy fetches robots.txt once per host, with that request's scheme).
            meta.update(scheme_index=scheme_index, dont_obey_robotstxt=True)
            if scheme_index + 1 < len(self.schemes):
                # Not retried (a retry that gives up logs an ERROR): the fallback is the retry.
                meta["dont_retry"] = True
        return Request(url or task.url, callback=self.parse, errback=self.on_error, meta=meta, dont_filter=True)

    def finish(self, task: TaskInfo, record: dict[str, Any]) -> list[Any]:
        """The record as items here (and the Requests whose turn it now is), or, in a worker, sent
        to the hub (crawler/roles.py)."""
        return self.role.finish(task, record)

    # --- Responses ------------------------------------------------------------------------------

    def parse(self, response: Response) -> Iterator[Any]:
        task: TaskInfo = response.meta["task"]
        download = Download.of(response)
        status = response.status
        if 300 <= status < 400 and status != 304 and b"Location" in response.headers:
            yield from follow_redirect(self, response, task, download)
            return
        hops = download.hops
        # The start page, or where its redirects led (example.com -> www.example.com): its site's sitemaps.
        if task.depth == 0 and task.found_via in STARTS and not hops and self.use_sitemap and self.role.reads_sitemaps:
            yield from self.sitemaps.start(response.url)
        truncated, cut = body_cut(response, download.transferred)
        error_type, error = http_error(status) if status >= 400 else (None, cut)
        record = response_record(
            task, response, download, truncated=truncated, error_type=error_type, error=error,
            is_slow=task.kind == TaskKind.PAGE and download.elapsed > self.slow_threshold, is_server_error=status >= 500,
        )  # fmt: skip
        mark_challenge(record, response)  # a bot firewall's challenge: the job may be blocked (crawler/firewall.py)
        if hops:
            yield from self.accept(response.url, FoundVia.REDIRECT, task.url, task.depth)
        elif task.kind == TaskKind.PAGE and status < 400 and not truncated and record["content_type"] in HTML_TYPES:
            yield from self._follow_links(response, task)
        warm = self.warmer.request(response, task, record)
        if warm is not None:
            yield warm
            return
        yield from self.finish(task, record)

    def _follow_links(self, response: Response, task: TaskInfo) -> Iterator[Any]:
        base, links, resources = extract_links(response, want_resources=self.check_resources)
        if task.depth == 0 and task.found_via in STARTS and self.frontier.ranking is not None:
            self.frontier.ranking.read_start_page(response, self.scope)  # its navigation first under max_pages
        resolve = LinkBase(base).resolve
        # Each absolute URL's key is cached, so that a link met again (the navigation of every page)
        # costs a resolution and one dict lookup instead of a canonicalisation and a scope check.
        # This loop runs for every link of every page: kept flat, a generator only for a new URL.
        cached_key = self.frontier.href_keys.get
        known_link = self.role.known_link
        referrer, depth = task.url, task.depth + 1
        for hrefs, kind in ((links if self.find_links else (), TaskKind.PAGE), (resources, TaskKind.RESOURCE)):
            for href in hrefs:
                try:
                    absolute = resolve(href)
                except ValueError:  # "//[broken": not a URL; the page is still recorded
                    continue
                key = cached_key(absolute, UNKNOWN)
                if key is UNKNOWN:
                    yield from self._new_link(absolute, referrer, depth, kind)
                elif key is not None:
                    if key[0] == EXTERNAL_KEY:  # a link to another site, checked or being checked
                        self.role.known_external(key[1:], referrer, depth)
                    else:
                        known_link(key, referrer, depth, kind)

    def _new_link(self, absolute: str, referrer: str, depth: int, kind: str) -> Iterator[Any]:
        normalised = normalise_within(absolute, self.scope)
        key = normalised[1] if normalised is not None else None
        if key is None and self.find_external and kind == TaskKind.PAGE:
            external = normalise(absolute)  # None for mailto:, tel:, javascript:, data: (never requested)
            if external is not None:
                self.frontier.remember_href(absolute, EXTERNAL_KEY + external[1])
                yield from self.role.admit(external[0], external[1], FoundVia.LINK, referrer, depth, TaskKind.EXTERNAL)
                return
        self.frontier.remember_href(absolute, key)
        if key is not None:
            yield from self.role.admit(normalised[0], key, FoundVia.LINK, referrer, depth, kind)

    def on_error(self, failure: Failure) -> Iterator[Any]:
        request = failure.request
        task: TaskInfo = request.meta["task"]
        if failure.check(IgnoreRequest):
            yield from self.role.release(task)
            yield from self.finish(task, skipped_record(task, ErrorType.ROBOTS, "Disallowed by robots.txt"))
            return
        error_type, error = classify_failure(failure.value, urlsplit(request.url).hostname)
        scheme_index = request.meta.get("scheme_index")
        if scheme_index is not None and scheme_index + 1 < len(self.schemes) and error_type != ErrorType.FORBIDDEN_TARGET:
            fallback = f"{self.schemes[scheme_index + 1]}://{self.netloc}{self.start_path}"
            logger.info("start page over %s failed (%s); trying %s", self.schemes[scheme_index], error, fallback)
            task.url = fallback
            yield self.request(task, url=fallback, scheme_index=scheme_index + 1)
            return
        if task.found_via == FoundVia.START and not request.meta.get("hops"):
            self._start_failed(request.url, error_type, error)
        yield from self.finish(task, failure_record(task, request, error_type, error))

    def _start_failed(self, url: str, error_type: ErrorType, error: str) -> None:
        self.start_error = f"The site could not be reached at {url}: {error}"
        if self.job_id is None and not self.role.is_worker:  # a job records it; an ad-hoc run has only its log
            hint = ""
            if error_type == ErrorType.FORBIDDEN_TARGET:
                hint = ". Set ALLOW_PRIVATE_TARGETS=1 to crawl private, loopback and link-local addresses"
            self.adhoc_failure = self.start_error + hint
            logger.error("crawl failed: %s", self.adhoc_failure)

    # --- Closing --------------------------------------------------------------------------------

    def unfinished_records(self, error_type: str, error: str) -> list[dict[str, Any]]:
        records = self.frontier.unfinished_records(error_type, error)
        if self.external is not None:
            records += self.external.unfinished_records(error_type, error)
        return records
