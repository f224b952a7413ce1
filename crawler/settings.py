"""Scrapy settings for the crawler project.

Grouped by area, alphabetical within a group. The middlewares and extensions a site crawl does not
need are switched off: each one costs time on every request. Environment variables (also from
`.env`) set what an operator changes per deployment.
"""
from __future__ import annotations

import os

# Imported here, first thing in a crawl process, though only the download handler uses it: Scrapy's
# TLS modules define deprecated aliases with inspect.stack(), whose cost grows with the depth of the
# import and the number of modules loaded: its three calls cost ~0.15 s of CPU when the spider's
# imports reached it, ~0.08 s here.
import scrapy.core.downloader.contextfactory  # noqa: F401
import scrapy.settings.default_settings as scrapy_defaults
from dotenv import load_dotenv

from db.engine import database_url  # no SQLAlchemy: an ad-hoc crawl never loads it (db/engine.py)

load_dotenv()

BOT_NAME = "crawler"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# --- Identity and politeness -------------------------------------------------------------------
CRAWLER_CONTACT_URL = os.environ.get("CRAWLER_CONTACT_URL", "https://github.com/site-crawl-service/crawl-service")
ROBOTSTXT_OBEY = True
ROBOTSTXT_USER_AGENT = "SiteCrawlBot"
USER_AGENT = f"Mozilla/5.0 (compatible; SiteCrawlBot/1.0; +{CRAWLER_CONTACT_URL})"

# --- Our own components --------------------------------------------------------------------------
CRAWL_ALLOW_PRIVATE_TARGETS = os.environ.get("ALLOW_PRIVATE_TARGETS", "").lower() in {"1", "true", "yes", "on"}
# External link checks (crawler/external.py). CHECK_EXTERNAL_LINKS=0 turns them off for every job
# (the test suite and the benches do, or send the external hosts to loopback with CRAWL_HOST_MAP).
CRAWL_CHECK_EXTERNAL_LINKS = os.environ.get("CHECK_EXTERNAL_LINKS", "1").lower() not in {"0", "false", "no", "off"}
CRAWL_EXTERNAL_MAX_IN_FLIGHT = 8  # checks in flight at once, on top of the site's own concurrency
CRAWL_EXTERNAL_PER_HOST = 2  # checks in flight at once per external host
CRAWL_EXTERNAL_DELAY_SECONDS = float(os.environ.get("EXTERNAL_DELAY_SECONDS") or 0.1)  # between one host's checks: <= 10/s
CRAWL_EXTERNAL_TIMEOUT_SECONDS = float(os.environ.get("EXTERNAL_TIMEOUT_SECONDS") or 15)
CRAWL_EXTERNAL_MAX_URLS = 50_000  # distinct external URLs checked per job; more are counted, not remembered
CRAWL_EXTERNAL_MAX_RETRY_AFTER = 10.0  # a longer Retry-After from a third-party site is cut to this
# Results of definite external checks shared by the instance's jobs (table external_checks), in hours.
CRAWL_EXTERNAL_CACHE_HOURS = float(os.environ.get("EXTERNAL_CACHE_HOURS") or 24)
# Only loopback addresses (127.0.0.0/8, ::1) and names pinned in CRAWL_HOST_MAP: any other name is
# refused without being looked up. The test suite sets it: no test may reach beyond loopback.
CRAWL_LOOPBACK_ONLY = os.environ.get("CRAWL_LOOPBACK_ONLY", "").lower() in {"1", "true", "yes", "on"}
CRAWL_BODY_MAX_BYTES = 2 * 1024 * 1024  # bodies past this, on the wire or decoded, are cut and recorded as truncated
CRAWL_HEARTBEAT_SECONDS = 2.0  # how often a running crawler renews its claim on the job (and so sees a cancel)
# Pin host names to addresses, like curl --resolve: "site.test=127.0.0.1,blog.site.test=127.0.0.1".
CRAWL_HOST_MAP = os.environ.get("CRAWL_HOST_MAP", "")
CRAWL_MAX_DEPTH = 50
CRAWL_MAX_QUERY_VARIANTS = 50  # distinct query strings per path before the rest count as a trap
CRAWL_MAX_REDIRECTS = 10
# Processes per crawl (crawler/hub.py): a hub and CRAWL_PROCESSES-1 workers, started once the crawl
# has CRAWL_HUB_START_THRESHOLD URLs in hand. One Python process saturates one core at ~1,000
# pages/s; two reach 1,200-1,550 on a 2-core machine (docs/performance.md).
CRAWL_PROCESSES = int(os.environ.get("CRAWL_PROCESSES") or min(2, os.cpu_count() or 1))
CRAWL_HUB_START_THRESHOLD = 500  # URLs in hand before a multi-process crawl starts its workers (0: at once)
# The same when no prefork launcher forks the workers (CRAWL_LAUNCHER=plain, ad-hoc runs): each is
# then a new Python process that starts for ~1 s of CPU, about what one process needs to crawl
# 2,000 pages, on the cores the hub needs. A site smaller than this never has this many URLs in
# hand, so it stays in one process (the 1,170-page PostgreSQL docs: 35 s alone, 48 s with a cold
# worker on a loaded 2-core machine; docs/crawler.md).
CRAWL_HUB_START_THRESHOLD_COLD = 2000
CRAWL_HUB_LOCAL_PERCENT = 34  # with several processes, the share of URLs the hub fetches itself
CRAWL_MAX_URL_LENGTH = 2048
# Sitemaps (crawler/sitemaps.py). The sitemap protocol's limits: 50,000 URLs (or sitemaps) and
# 52,428,800 bytes uncompressed per document; the rest of a document is not read.
CRAWL_SITEMAP_MAX_BYTES = 52_428_800  # decoded, read as it is parsed: memory does not grow with it
CRAWL_SITEMAP_MAX_DOCUMENTS = 500  # sitemap documents per job; more are counted, not fetched
CRAWL_SITEMAP_MAX_URLS = 50_000
CRAWL_WARM_PAUSE_SECONDS = 0.5  # pause before re-fetching a MISS to warm the CDN cache
DATABASE_BATCH_SECONDS = 1.0
DATABASE_CLOSE_TIMEOUT_SECONDS = 600.0  # then unwritten records are saved to var/unwritten/
DATABASE_URL = database_url()  # DATABASE_URL, else the SQLite file under var/
DATABASE_BATCH_SIZE = 500
DATABASE_RETRY_MAX_SECONDS = 30.0
# Pages one job crawls at most, whatever its max_pages (0 = unlimited, capped here; 0 here: no cap).
# It bounds a crawl's memory on a site that never ends; the job then says it stopped here (docs/crawler.md).
MAX_PAGES_PER_JOB = int(os.environ.get("MAX_PAGES_PER_JOB") or 100_000)

# --- Concurrency and downloads -------------------------------------------------------------------
CONCURRENT_ITEMS = 4  # per-callback asyncio workers: each costs a Task per response, items are cheap
CONCURRENT_REQUESTS = 20
CONCURRENT_REQUESTS_PER_DOMAIN = 20
DNS_TIMEOUT = 10
DOWNLOADER = "crawler.downloader.SlotBoundDownloader"  # per-slot concurrency that holds (its docstring)
DOWNLOAD_HANDLERS = {
    "http": "crawler.handlers.TimedAiohttpDownloadHandler",
    "https": "crawler.handlers.TimedAiohttpDownloadHandler",
}
DOWNLOAD_MAXSIZE = 0  # the size cap is ours (CRAWL_BODY_MAX_BYTES): cut, not cancelled
DOWNLOAD_TIMEOUT = 20
DOWNLOAD_WARNSIZE = 0
DUPEFILTER_CLASS = "scrapy.dupefilters.BaseDupeFilter"  # the spider deduplicates before building requests
RETRY_HTTP_CODES = [429, 502, 503, 504, 522, 524, 408]
# One site (a handful of hosts) per crawl: the downloader-aware queue's per-pop slot statistics
# buy nothing here and cost 4% of the CPU.
SCHEDULER_PRIORITY_QUEUE = "scrapy.pqueues.ScrapyPriorityQueue"
# Breadth-first: a URL is first reached by its shortest path, so its recorded depth is its click
# depth and CRAWL_MAX_DEPTH only stops traps (Scrapy's default LIFO order reached pages through
# long "next" chains first and skipped 2% of a 10,000-page site as too deep).
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"
RETRY_TIMES = 2

# --- Middlewares, pipelines, extensions ----------------------------------------------------------
# Scrapy's base list without CookiesMiddleware (no cookies are kept: each request stands alone).
# Left out of the base rather than set to None below: Scrapy imports every class named in either,
# and its import (tldextract) cost ~60 ms of CPU in every crawl's start-up.
DOWNLOADER_MIDDLEWARES_BASE = {
    name: order for name, order in scrapy_defaults.DOWNLOADER_MIDDLEWARES_BASE.items()
    if name != "scrapy.downloadermiddlewares.cookies.CookiesMiddleware"
}  # fmt: skip
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,  # the spider scopes links itself
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.middlewares.SafeRobotsTxtMiddleware": 100,  # Scrapy's lets concurrent waiters through
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
    "crawler.scope.SiteCredentialsMiddleware": 120,  # the job's headers and basic auth, its own site only
    # The three below in one call (crawler/lean.py): the same defaults, one middleware hop instead of three.
    "scrapy.downloadermiddlewares.downloadtimeout.DownloadTimeoutMiddleware": None,
    "scrapy.downloadermiddlewares.defaultheaders.DefaultHeadersMiddleware": None,
    "scrapy.downloadermiddlewares.useragent.UserAgentMiddleware": None,
    "crawler.lean.RequestDefaultsMiddleware": 400,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,  # the spider records each hop
    "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware": None,
    "scrapy.downloadermiddlewares.stats.DownloaderStats": None,  # per-request stats we do not read
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    "crawler.middlewares.DelayMiddleware": 560,
    # Scrapy's, with a decoded-size cap that cuts instead of dropping (DOWNLOAD_MAXSIZE is 0).
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "crawler.compression.CappedHttpCompressionMiddleware": 590,
    "crawler.middlewares.PolitenessMiddleware": 840,
    "crawler.middlewares.BodySizeCapMiddleware": 950,
}
SPIDER_MIDDLEWARES = {
    # Every spider middleware wraps each callback's output in one more async generator.
    # StartSpiderMiddleware only sets meta["is_start_request"], which Scrapy reads to queue start
    # requests apart (SCHEDULER_START_*_QUEUE): the spider yields one start request, and nothing
    # here reads the flag, yet it wrapped every response's output.
    "scrapy.spidermiddlewares.start.StartSpiderMiddleware": None,
    "scrapy.spidermiddlewares.httperror.HttpErrorMiddleware": None,  # every status reaches the spider
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,  # a development warning
    "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,  # URL length is a recorded skip
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,  # depth is tracked in the spider
}
# Scrapy's base list without TelnetConsole and RemoteControl (no open ports in a crawler process),
# MemoryDebugger and SpiderState. Left out of the base rather than set to None in EXTENSIONS:
# Scrapy imports every class named in either, enabled or not, and RemoteControl's import
# (aiohttp) alone cost ~0.3 s of every crawl's start-up.
EXTENSIONS_BASE = {
    "scrapy.extensions.corestats.CoreStats": 0,
    "scrapy.extensions.logcount.LogCount": 0,
    "scrapy.extensions.memusage.MemoryUsage": 0,
    "scrapy.extensions.closespider.CloseSpider": 0,
    "scrapy.extensions.feedexport.FeedExporter": 0,
    "scrapy.extensions.logstats.LogStats": 0,
    "scrapy.extensions.throttle.AutoThrottle": 0,
}
EXTENSIONS: dict[str, int | None] = {}
# Feeds: JSON lines without Scrapy's per-field copy of every record (crawler/feeds.py), same bytes.
FEED_EXPORTERS = {name: "crawler.feeds.RecordLinesExporter" for name in ("jsonlines", "jsonl", "jl")}
# For CI (crawler/ci.py): `-O links.xml:junit`, `-O links.md:markdown`.
FEED_EXPORTERS.update(junit="crawler.ci.JUnitReportExporter", markdown="crawler.ci.MarkdownReportExporter")
ITEM_PIPELINES = {
    "crawler.pipelines.DatabasePipeline": 300,
}

# --- Logging and runtime -------------------------------------------------------------------------
# Scrapy's stats and log formatter without their per-request overhead (crawler/lean.py).
STATS_CLASS = "crawler.lean.PlainStatsCollector"
LOG_FORMATTER = "crawler.lean.QuietLogFormatter"
COMMANDS_MODULE = "crawler.commands"  # `scrapy crawl` exits 1 when an ad-hoc crawl could not reach its site
LOG_LEVEL = os.environ.get("CRAWLER_LOG_LEVEL", "INFO")
REMOTE_CONTROL_ENABLED = False
TWISTED_DNS_RESOLVER = "crawler.resolver.GuardedResolver"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
# Scrapy re-parses a callback's source with `ast` on every response to warn about `return value`
# in generators (its cache is keyed by bound methods, which never repeat): 8% of a crawl's CPU.
WARN_ON_GENERATOR_RETURN_VALUE = False
