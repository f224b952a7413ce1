"""crawler/lean.py: the leaner stand-ins do what Scrapy's components did, for the crawler's settings."""
from __future__ import annotations

from scrapy import Request
from scrapy.downloadermiddlewares.defaultheaders import DefaultHeadersMiddleware
from scrapy.downloadermiddlewares.downloadtimeout import DownloadTimeoutMiddleware
from scrapy.downloadermiddlewares.useragent import UserAgentMiddleware
from scrapy.http import Response
from scrapy.utils.project import get_project_settings
from scrapy.utils.test import get_crawler

from crawler.lean import PlainStatsCollector, QuietLogFormatter, RequestDefaultsMiddleware


def _crawler(**settings):
    return get_crawler(settings_dict=settings)


def test_the_crawler_uses_the_lean_components():
    settings = get_project_settings()
    assert settings["STATS_CLASS"] == "crawler.lean.PlainStatsCollector"
    assert settings["LOG_FORMATTER"] == "crawler.lean.QuietLogFormatter"
    assert settings.getdict("DOWNLOADER_MIDDLEWARES")["crawler.lean.RequestDefaultsMiddleware"] == 400
    assert "scrapy.downloadermiddlewares.cookies.CookiesMiddleware" not in settings.getdict("DOWNLOADER_MIDDLEWARES_BASE")


def test_plain_stats_collector_counts_like_scrapys():
    stats = PlainStatsCollector(_crawler())
    stats.inc_value("a")
    stats.inc_value("a", 2)
    stats.set_value("b", 5)
    stats.max_value("b", 3)
    stats.min_value("c", 7)
    assert stats.get_stats() == {"a": 3, "b": 5, "c": 7}
    assert stats.get_value("missing", 0) == 0


def test_quiet_log_formatter_drops_the_per_url_messages_only_above_debug():
    request = Request("http://site.test/")
    response = Response("http://site.test/", request=request)
    quiet = QuietLogFormatter.from_crawler(_crawler(LOG_LEVEL="INFO"))
    assert quiet.crawled(request, response, None) is None
    assert quiet.scraped({"url": "x"}, response, None) is None
    assert quiet.spider_error(Exception("no"), request, response, None) is not None  # other messages stay
    loud = QuietLogFormatter.from_crawler(_crawler(LOG_LEVEL="DEBUG"))
    assert loud.crawled(request, response, None)["msg"].startswith("Crawled")
    assert loud.scraped({"url": "x"}, response, None) is not None


def test_request_defaults_set_what_scrapys_three_middlewares_set_in_the_same_order():
    crawler = _crawler(USER_AGENT="Bot/1", DOWNLOAD_TIMEOUT=7)
    ours, theirs = Request("http://site.test/"), Request("http://site.test/")
    RequestDefaultsMiddleware.from_crawler(crawler).process_request(ours)
    for middleware in (DownloadTimeoutMiddleware, DefaultHeadersMiddleware, UserAgentMiddleware):
        instance = middleware.from_crawler(crawler)
        instance.process_request(theirs)
    assert list(ours.headers.items()) == list(theirs.headers.items())
    assert ours.headers[b"User-Agent"] == b"Bot/1"
    assert ours.meta["download_timeout"] == theirs.meta["download_timeout"] == 7


def test_request_defaults_leave_a_jobs_own_headers_and_timeout():
    middleware = RequestDefaultsMiddleware.from_crawler(_crawler(USER_AGENT="Bot/1"))
    request = Request("http://site.test/", headers={"User-Agent": "Mine", "Accept": "text/html"},
                      meta={"download_timeout": 3})  # fmt: skip
    middleware.process_request(request)
    assert request.headers[b"User-Agent"] == b"Mine"
    assert request.headers[b"Accept"] == b"text/html"
    assert request.meta["download_timeout"] == 3
