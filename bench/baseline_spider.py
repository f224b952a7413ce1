"""Baseline for the crawl benchmark: the plainest Scrapy crawl of a site, to compare ours against.

`scrapy runspider bench/baseline_spider.py -a start=http://127.0.0.1:PORT/`, run outside the
project directory so Scrapy's defaults apply, not `crawler/settings.py`. A CrawlSpider following
every same-host <a> link and yielding one small item per response: what "crawl a site with
Scrapy" costs before any of our recording, scoping, timing and cache-status work.
"""
from urllib.parse import urlsplit

from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule


class BaselineSpider(CrawlSpider):
    name = "baseline"

    def __init__(self, start: str, *args, **kwargs):
        parts = urlsplit(start)
        self.start_urls = [start]
        self.allowed_domains = [parts.hostname]  # OffsiteMiddleware: host names without a port
        # LinkExtractor compares the whole netloc, so here the port is part of the "domain".
        self.rules = (Rule(LinkExtractor(allow_domains=[parts.netloc]), callback="parse_item", follow=True),)
        super().__init__(*args, **kwargs)  # compiles self.rules

    def parse_start_url(self, response):
        # The start page is a page too: record it like every other, so both crawls count alike.
        return self.parse_item(response)

    def parse_item(self, response):
        yield {"url": response.url, "status": response.status}
