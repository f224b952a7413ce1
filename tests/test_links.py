"""Link extraction (crawler/links.py): which hrefs of a page are followed as pages and which are
checked as resources when check_resources is on."""
from __future__ import annotations

import pytest
from scrapy.http import HtmlResponse

from crawler.links import _charset, _clean, _parse_with_lexbor, _parse_with_lxml, _reads_as_utf8, extract_links

PAGE = b"""<!DOCTYPE html>
<html><head>
<base href="/docs/">
<link rel="stylesheet" href="/site.css">
<link rel="icon" href="/favicon.ico">
<link rel="preload" href="/font.woff2" as="font">
<link rel="manifest" href="manifest.json">
<link rel="alternate" hreflang="de" href="/de/">
<link rev="made" href="/humans.txt">
<link href="/no-rel.txt">
<link rel="icon" href="data:,">
<script src="/app.js"></script>
</head><body>
<a href="/about">About</a> <a href="mailto:someone@example.com">Mail</a> <a href="#top">Top</a>
<area href="/map-area" alt="">
<img src="/logo.png" alt="">
<object data="/movie.svg" type="image/svg+xml"></object>
<object type="application/x-nothing"></object>
<link rel="stylesheet" href="/site.css">
</body></html>"""


def extract(want_resources: bool):
    return extract_links(HtmlResponse("http://site.test/docs/page", body=PAGE, encoding="utf-8"), want_resources)


def test_every_link_href_whatever_its_rel_or_rev_and_object_data_are_resources():
    base, links, resources = extract(want_resources=True)
    assert base == "http://site.test/docs/"
    assert links == ["/about", "/map-area"]
    assert sorted(resources) == sorted([
        "/site.css", "/favicon.ico", "/font.woff2", "manifest.json", "/de/", "/humans.txt", "/no-rel.txt",
        "/app.js", "/logo.png", "/movie.svg",
    ])  # fmt: skip


def test_resources_are_not_extracted_unless_asked_for():
    _, links, resources = extract(want_resources=False)
    assert links == ["/about", "/map-area"] and resources == []


# --- Which parser reads a page (crawler/links.py: lexbor for UTF-8, lxml for other charsets) ------

def links_of(body: bytes, content_type: str = "text/html") -> list[str]:
    return extract_links(HtmlResponse("http://site.test/", body=body, headers={"Content-Type": content_type}))[1]


@pytest.mark.parametrize(("body", "content_type", "lexbor"), [
    (b'<a href="/x">x</a>', "text/html", True),  # ASCII reads the same in any charset
    (b'<a href="/x">x</a>', "text/html; charset=windows-1252", True),
    ('<meta charset="utf-8"><a href="/caf\u00e9">x</a>'.encode(), "text/html", True),
    ('<a href="/caf\u00e9">x</a>'.encode(), "text/html; charset=UTF-8", True),
    ('<a href="/caf\u00e9">x</a>'.encode("latin-1"), "text/html; charset=iso-8859-1", False),
    ('<a href="/caf\u00e9">x</a>'.encode(), "text/html", False),  # undeclared: lxml's rules
    (b'<meta charset="utf-8"><a href="/caf\xe9">x</a>', "text/html", False),  # broken UTF-8
    ('<a href="/x">x</a>'.encode("utf-16"), "text/html; charset=utf-16", False),
    ('<a href="/\u65e5">x</a>'.encode("iso-2022-jp"), "text/html; charset=iso-2022-jp", False),  # ASCII bytes, escapes
])  # fmt: skip
def test_utf8_and_ascii_pages_are_read_by_lexbor_and_other_charsets_by_lxml(body, content_type, lexbor):
    charset = _charset(content_type.encode())
    assert _reads_as_utf8(body, charset) is lexbor


@pytest.mark.parametrize(("body", "content_type"), [
    ('<a href="/caf\u00e9">x</a>'.encode(), "text/html; charset=utf-8"),
    ('<a href="/caf\u00e9">x</a>'.encode("latin-1"), "text/html; charset=iso-8859-1"),
    ('<a href="/caf\u00e9">x</a>'.encode("cp1252"), "text/html; charset=windows-1252"),
    ('<meta http-equiv="Content-Type" content="text/html; charset=utf-8"><a href="/caf\u00e9">x</a>'.encode(), "text/html"),
    ('<a href="/caf\u00e9">x</a>'.encode("utf-16"), "text/html; charset=utf-16"),
])  # fmt: skip
def test_a_non_ascii_href_is_decoded_by_the_pages_charset_whichever_parser_reads_it(body, content_type):
    assert links_of(body, content_type) == ["/caf\u00e9"]


# Markup whose links the two parsers must agree on: what HTML hides from a parser (comments, raw
# text), attribute syntax, character references, malformed nesting.
TRICKY = [
    '<!-- <a href="/in-comment"> --><a href="/after-comment">',
    '<!--><a href="/after-empty-comment">-->',
    '<script>document.write("<a href=/in-script>")</script><a href="/after-script">',
    '<script>var s = "</div><a href=/still-script>";</script><a href="/z">',
    '<style>a[href="/in-style"]{}</style><title><a href="/in-title"></title><a href="/after-title">',
    '<textarea><a href="/in-textarea"></textarea><a href="/after-textarea">',
    '<noscript><a href="/in-noscript"></noscript>',
    '<img alt="<a href=/in-attribute>"><a href="/after-attribute">',
    '<a href="/first" href="/second">', '<A HREF=/upper>', "<a href='/single'>", '<a href = "/spaced" >',
    '<a href=/bare/>', '<a\thref="/tab">', '<a/href="/slash">', '<p <a href="/in-p">', '<a <a href="/q">',
    '<a href="/one"<a href="/two">', '<a href="/x?a=1&amp;b=2&#38;c=3">', '<a href="/&lt;&gt;">',
    '<a href="  /padded  ">', '<a href="">', '<a href>', '<a name="anchor">', '<area href="/map">',
    '<table><a href="/fostered"><tr><td><a href="/cell"></td></tr></table>',
    '<svg><a href="/svg"></a></svg>', '<![CDATA[<a href="/cdata">]]><a href="/after-cdata">',
    '<?php echo 1 ?><a href="/after-pi">', '<base href="/b1/"><base href="/b2/"><a href="x">',
    '<a href="/unclosed', '<a href="/a"><a href="/b"></a></a>', '<div><a href="/d"></span></div>',
]


@pytest.mark.parametrize("html", TRICKY)
@pytest.mark.parametrize("want_resources", [False, True])
def test_lexbor_and_lxml_find_the_same_links(html, want_resources):
    page = (html + '<img src="/i.png"><script src="/s.js"></script><link href="/l.css">').encode()
    lexbor = _parse_with_lexbor(page, want_resources)
    lxml = _parse_with_lxml(page, "utf-8", want_resources)
    assert (lexbor[0], _clean(lexbor[1]), _clean(lexbor[2])) == (lxml[0], _clean(lxml[1]), _clean(lxml[2]))


def test_links_inside_a_template_are_not_followed_as_a_browser_does_not_show_them():
    assert links_of(b'<template><a href="/in-template"></a></template><a href="/page">') == ["/page"]
