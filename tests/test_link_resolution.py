"""Resolving a page's hrefs (crawler/urls.py LinkBase): the fast path must give exactly what
`urljoin` gives (origin + href for a root-relative href, as the crawler always did), for the
relative links real documentation sites are made of and for the odd ones that must take urljoin."""
from __future__ import annotations

from urllib.parse import urljoin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scrapy.http import HtmlResponse

from crawler.links import extract_links
from crawler.urls import LinkBase

BASES = [
    "http://site.test/", "http://site.test/docs/a/page.html", "http://site.test/docs/a/", "http://site.test/x",
    "http://site.test/docs/page.html?v=1/2", "http://site.test/a//b/c", "http://site.test/a/./b/c",
    "http://site.test/a/../c.html", "https://Site.Test:8443/a;p/b;q", "http://site.test", "http://site.test?x=/y",
    "http://u@site.test/a/", "http://site.test/é/", "HTTP://site.test/a/x", "http://site.test/a/.",
    "ftp://site.test/a/", "http://site.test/a/b;", "http://[::1]:8081/a/b",
]  # fmt: skip


def expected(base: str, href: str) -> str:
    if href.startswith("/") and not href.startswith("//"):
        return LinkBase(base).origin + href
    return href if href.startswith(("http://", "https://")) else urljoin(base, href)


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize(
    "href",
    [
        "page.html", "sub/page.html", "./page.html", "../page.html", "../../up/two.html", "../../../../../top.html",
        "./../x/./y.html", "a/../b.html", "..", ".", "../", "./", "..//x", ".//x", "x//y", "?q=1", "?", "x?", "x?q=a:b",
        "/root.html", "//other.test/x", "https://other.test/x", "mailto:x@y", "c:x", "x;p", "x\ty", "é/ü.html",
        "%C3%A9.html", "x#frag", "x?#f", "\x01x", "x\x7f", "\u00a0x",
    ],
)  # fmt: skip
def test_every_kind_of_href_resolves_as_urljoin_does(base, href):
    assert LinkBase(base).resolve(href) == expected(base, href)


PIECES = list("ab./?;:#%=&-_~ \t\n\x01é") + ["..", "./", "../", "//", "x.html", "?q=1", "%2F"]


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(BASES), st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("".join))
def test_any_href_resolves_as_urljoin_does(base, href):
    href = href.strip()
    if not href:
        return
    try:
        want = expected(base, href)
    except ValueError:
        return
    assert LinkBase(base).resolve(href) == want


def links_of(body: str, url: str = "http://site.test/docs/a/page.html") -> tuple[str, list[str]]:
    base, links, _ = extract_links(HtmlResponse(url, body=body.encode(), encoding="utf-8"))
    page = LinkBase(base)
    return base, [page.resolve(href) for href in links]


def test_fragments_are_cut_so_one_page_linked_at_two_anchors_is_one_link():
    _, urls = links_of('<a href="x.html#a">1</a><a href="x.html#b">2</a><a href="#top">3</a><a href="?p=2#c">4</a>')
    assert urls == ["http://site.test/docs/a/x.html", "http://site.test/docs/a/page.html?p=2"]


def test_relative_links_resolve_against_the_base_href():
    base, urls = links_of('<base href="/other/dir/"><a href="../up.html">u</a><a href="./here.html">h</a>'
                          '<a href="?q=1">q</a><a href="/root">r</a>')  # fmt: skip
    assert base == "http://site.test/other/dir/"
    assert urls == ["http://site.test/other/up.html", "http://site.test/other/dir/here.html",
                    "http://site.test/other/dir/?q=1", "http://site.test/root"]  # fmt: skip


def test_non_ascii_hrefs_keep_their_characters_for_normalisation():
    _, urls = links_of('<meta charset="utf-8"><a href="caf\u00e9/men\u00fc.html">x</a>')
    assert urls == ["http://site.test/docs/a/caf\u00e9/men\u00fc.html"]


def test_a_broken_base_href_leaves_the_page_url_as_the_base():
    base, urls = links_of('<base href="//[broken"><a href="x.html">x</a>')
    assert base == "http://site.test/docs/a/page.html" and urls == ["http://site.test/docs/a/x.html"]
