"""Link extraction from HTML pages: the hrefs a crawl follows and, optionally, the assets it checks
(`<img src>`, `<script src>`, `<object data>` and `<link href>` of any rel or rev).

Parses the body bytes directly (going through `response.selector` first decodes the whole body to
text and re-encodes it). Parsing is the largest single cost of a crawl of real pages, so a UTF-8
page (or a pure-ASCII one, whatever its charset) is parsed with lexbor (selectolax), a browser's
HTML5 parser, twice as fast as lxml on real documentation (1.2 against 2.6 ms for a 100 KB page of
the Python docs; docs/performance.md). Any other page goes to lxml, which decodes the charset of
the Content-Type or of a <meta> itself: lexbor reads UTF-8 only. Both find the same links on every
page of the real trees the bench crawls (`bench/profile_real.py --compare`); they differ where
HTML5 and libxml2 do, e.g. lexbor, like a browser, does not see inside <template>.

Returns raw hrefs, deduplicated per page, with the schemes a crawl never follows and fragments
removed; joining and normalising is the spider's job (it caches by URL).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from lxml import etree
from selectolax.lexbor import LexborHTMLParser

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
RESOURCE_SELECTOR = ", ".join(f"{tag}[{attribute}]" for tag, attribute in RESOURCE_ATTRIBUTES.items())
# A charset named in a <meta> of the first 1,024 bytes, where HTML's prescan looks for it.
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([-\w]+)""", re.IGNORECASE)
UTF8_NAMES = ("utf-8", "utf8")
BASE_TAG = re.compile(rb"<base", re.IGNORECASE)


def extract_links(response: Response, want_resources: bool = False) -> tuple[str, list[str], list[str]]:
    """(base url, page hrefs, resource srcs) of an HTML response."""
    body = response.body
    charset = _charset(response.headers.get(b"Content-Type"))
    if _reads_as_utf8(body, charset):
        base_href, hrefs, srcs = _parse_with_lexbor(body, want_resources)
    else:
        base_href, hrefs, srcs = _parse_with_lxml(body, charset, want_resources)
    base_url = response.url
    if base_href is not None:
        try:
            base_url = urljoin(response.url, base_href.strip())
        except ValueError:  # <base href="//[broken">: not a URL, so the page's own is the base
            pass
    return base_url, _clean(hrefs), _clean(srcs)


def _reads_as_utf8(body: bytes, charset: str | None) -> bool:
    """Whether lexbor, which reads bytes as UTF-8, reads this body as its charset says."""
    if body.isascii():
        # ASCII reads the same in every charset but the 16- and 32-bit ones (NUL bytes) and the
        # ISO-2022 family (escape sequences shift to other characters).
        return b"\x00" not in body and b"\x1b" not in body
    if charset is None:
        declared = META_CHARSET.search(body, 0, 1024)
        charset = declared[1].decode("ascii").lower() if declared else None
    if charset not in UTF8_NAMES:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False  # broken UTF-8: lxml's recovery decides
    return True


def _parse_with_lexbor(body: bytes, want_resources: bool) -> tuple[str | None, list[str | None], list[str | None]]:
    tree = LexborHTMLParser(body)
    # Each query walks the whole tree; a page whose bytes never open a <base> tag has none.
    base = tree.css_first("base[href]") if BASE_TAG.search(body) else None
    hrefs = [element.attrs.get("href") for element in tree.css("a[href], area[href]")]
    srcs: list[str | None] = []
    if want_resources:
        srcs = [element.attrs.get(RESOURCE_ATTRIBUTES[element.tag]) for element in tree.css(RESOURCE_SELECTOR)]
    return (base.attrs.get("href") if base is not None else None), hrefs, srcs


def _parse_with_lxml(body: bytes, charset: str | None, want_resources: bool) -> tuple[str | None, list[str | None], list[str | None]]:
    try:
        root = etree.fromstring(body, _parser(charset))
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:  # an empty or unparseable body has no links
        return None, [], []
    base = root.find(".//base[@href]")
    hrefs = [element.get("href") for element in root.iter("a", "area")]
    srcs: list[str | None] = []
    if want_resources:
        srcs = [element.get(RESOURCE_ATTRIBUTES[element.tag]) for element in root.iter(*RESOURCE_ATTRIBUTES)]
    return (base.get("href") if base is not None else None), hrefs, srcs
