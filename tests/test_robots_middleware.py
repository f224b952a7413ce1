"""Several requests that wait for the same robots.txt must all be judged by it.

Scrapy 2.19's RobotsTxtMiddleware hands the parser to the first waiter only (awaiting a Deferred
through asyncio consumes its result); the others get None and are let through."""
from __future__ import annotations

import asyncio

import pytest
from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import TextResponse
from scrapy.utils.test import get_crawler

from crawler.middlewares import SafeRobotsTxtMiddleware

ROBOTS = b"User-agent: *\nDisallow: /private/\n"


class FakeEngine:
    """Serves robots.txt when the test says so: the requests must be waiting at that moment."""

    def __init__(self):
        self.release = asyncio.Event()

    async def download_async(self, request):
        await self.release.wait()
        return TextResponse(request.url, body=ROBOTS, encoding="utf-8")


@pytest.fixture
def middleware():
    crawler = get_crawler(settings_dict={"ROBOTSTXT_OBEY": True, "ROBOTSTXT_USER_AGENT": "SiteCrawlBot"})
    crawler.engine = FakeEngine()
    return SafeRobotsTxtMiddleware.from_crawler(crawler)


def test_every_request_waiting_for_robots_txt_is_judged_by_it(middleware):
    async def scenario():
        urls = ["http://site.test/private/a", "http://site.test/private/b", "http://site.test/ok", "http://site.test/private/c"]
        tasks = [asyncio.ensure_future(middleware.process_request(Request(url))) for url in urls]
        await asyncio.sleep(0.01)  # all four are now waiting for the one robots.txt
        middleware.crawler.engine.release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(scenario())
    assert [isinstance(result, IgnoreRequest) for result in results] == [True, True, False, True]
