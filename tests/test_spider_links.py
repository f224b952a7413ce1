"""The spider's link handling on one response, without a crawl: what a page's hrefs become (requests
for new in-scope URLs, nothing for the rest), and a page whose hrefs are not all URLs is recorded."""
from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from contract.vocabulary import FoundVia, TaskKind, TaskStatus
from crawler import settings as project_settings
from crawler.records import TaskInfo, new_record
from crawler.spiders.site import SiteSpider
from crawler.urls import normalise


@pytest.fixture
def spider():
    settings = {name: getattr(project_settings, name) for name in dir(project_settings) if name.isupper()}
    settings.update(CRAWL_PROCESSES=1, ITEM_PIPELINES={})
    crawler = get_crawler(SiteSpider, settings)
    return SiteSpider.from_crawler(crawler, domain="site.test", scheme="http")


def fetch(spider, url: str, body: str) -> tuple[list[str], list[dict]]:
    """(URLs requested, records made) when `url`, linked from the start page, answers `body`."""
    start = TaskInfo(*normalise("http://site.test/")[:2], TaskKind.PAGE, FoundVia.START, None, 0)
    spider.frontier.add(start, produces_from=0)
    canonical, key, _, _ = normalise(url)
    spider.frontier.admit(canonical, key, FoundVia.LINK, start.url, 1, TaskKind.PAGE)
    task = next(spider.frontier.to_fetch())  # handed to this process's fetcher
    spider.frontier.close(start, new_record(start, TaskStatus.COMPLETED))  # records are released in depth order
    request = Request(url, meta={"task": task})
    response = HtmlResponse(url, body=body.encode(), headers={"Content-Type": "text/html; charset=utf-8"}, request=request)
    output = list(spider.parse(response))
    return [item.url for item in output if isinstance(item, Request)], [item for item in output if isinstance(item, dict)]


def test_relative_hrefs_become_one_request_per_page(spider):
    body = """<a href="../guide/intro.html#top">1</a> <a href="./same.html">2</a> <a href="same.html#x">3</a>
    <a href="../../../../root.html">4</a> <a href="?page=2">5</a> <a href="caf\u00e9.html">6</a>
    <a href="https://other.test/x">7</a> <a href="../guide/intro.html">8</a>"""
    urls, _ = fetch(spider, "http://site.test/docs/a/index.html", body)
    assert urls == [
        "http://site.test/docs/guide/intro.html", "http://site.test/docs/a/same.html", "http://site.test/root.html",
        "http://site.test/docs/a/index.html?page=2", "http://site.test/docs/a/caf%C3%A9.html",
    ]  # fmt: skip


def test_a_page_with_an_href_that_is_not_a_url_is_still_recorded(spider):
    # urljoin raises ValueError on "//[": the callback used to fail there and the page had no record.
    urls, records = fetch(spider, "http://site.test/docs/", '<a href="//[broken">x</a> <a href="ok.html">ok</a>')
    assert urls == ["http://site.test/docs/ok.html"]
    assert [(record["url"], record["status"]) for record in records] == [("http://site.test/docs/", "completed")]
