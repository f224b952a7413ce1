"""Link extraction from HTML pages: the hrefs a crawl follows and, optionally, the assets it checks.

Returns raw href strings, deduplicated per page, with the schemes a crawl never follows removed
early; joining and normalising is left to the spider, which caches by href.
"""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin

if TYPE_CHECKING:
    from scrapy.http import TextResponse

PAGE_LINKS = "//a/@href | //area/@href"
RESOURCE_LINKS = "//img/@src | //script/@src | //link[contains(concat(' ', normalize-space(@rel), ' '), ' stylesheet ')]/@href"
NOT_FOLLOWED = ("#", "mailto:", "javascript:", "tel:", "data:", "ftp:", "sms:")


def _clean(values: list[str]) -> list[str]:
    unique = dict.fromkeys(value.strip() for value in values)
    return [value for value in unique if value and not value.lower().startswith(NOT_FOLLOWED)]


def extract_links(response: TextResponse, want_resources: bool = False) -> tuple[str, list[str], list[str]]:
    """(base url, page hrefs, resource srcs) of an HTML response.

    XPath runs on the lxml tree parsel already built, not through Selector objects: wrapping each
    of ~25 attribute values a page in a Selector cost more than the query itself.
    """
    root = response.selector.root
    base = root.xpath("//base/@href")
    base_url = urljoin(response.url, str(base[0]).strip()) if base else response.url
    links = _clean(root.xpath(PAGE_LINKS))
    resources = _clean(root.xpath(RESOURCE_LINKS)) if want_resources else []
    return base_url, links, resources
