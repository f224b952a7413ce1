"""Link extraction from HTML pages: the hrefs a crawl follows and, optionally, the assets it checks
(`<img src>`, `<script src>`, `<object data>` and `<link href>` of any rel or rev).

Parses the body bytes with lxml directly. Going through `response.selector` first decodes the
whole body to text (encoding sniffing included) and re-encodes it for lxml: 230 µs a page against
40 µs here, the largest single cost of a crawl. lxml honours the Content-Type charset we pass and
a <meta charset> on its own. Returns raw hrefs, deduplicated per page, with the schemes a crawl
never follows and fragments removed; joining and normalising is the spider's job (it caches by URL).
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from lxml import etree

if TYPE_CHECKING:
    from scrapy.http import Response

NOT_FOLLOWED = ("#", "mailto:", "javascript:", "tel:", "data:", "ftp:", "sms:")


@lru_cache(maxsize=32)
def _parser(encoding: str | None) -> etree.HTMLParser:
    try:
        return etree.HTMLParser(encoding=encoding, recover=True, no_network=True, remove_comments=True, remove_pis=True)
    except LookupError:  # a charset lxml does not know: let it sniff
        return _parser(None)


def _charset(content_type: bytes | None) -> str | None:
    if not content_type:
        return None
    for part in content_type.decode("latin-1").split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'").lower() or None
    return None


def _clean(values) -> list[str]:
    """Hrefs without surrounding space and without their fragment (normalisation drops it: cut here,
    `page.html#a` and `page.html#b` are one href to resolve, not two), deduplicated."""
    unique = dict.fromkeys(value.strip() for value in values if value)
    return list(dict.fromkeys(
        value.partition("#")[0] if "#" in value else value
        for value in unique if value and not value.lower().startswith(NOT_FOLLOWED)
    ))  # fmt: skip


# The attribute that names the URL a resource element loads. Every <link> counts, whatever its
# rel or rev (stylesheet, icon, preload, manifest, alternate, ...): each is a URL the page points at.
RESOURCE_ATTRIBUTES = {"img": "src", "script": "src", "link": "href", "object": "data"}


def extract_links(response: Response, want_resources: bool = False) -> tuple[str, list[str], list[str]]:
    """(base url, page hrefs, resource srcs) of an HTML response."""
    try:
        root = etree.fromstring(response.body, _parser(_charset(response.headers.get(b"Content-Type"))))
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:  # an empty or unparseable body has no links
        return response.url, [], []
    base = root.find(".//base[@href]")
    base_url = response.url
    if base is not None:
        try:
            base_url = urljoin(response.url, base.get("href").strip())
        except ValueError:  # <base href="//[broken">: not a URL, so the page's own is the base
            pass
    links = _clean(element.get("href") for element in root.iter("a", "area"))
    resources: list[str] = []
    if want_resources:
        resources = _clean(element.get(RESOURCE_ATTRIBUTES[element.tag]) for element in root.iter(*RESOURCE_ATTRIBUTES))
    return base_url, links, resources
