"""Link extraction (crawler/links.py): which hrefs of a page are followed as pages and which are
checked as resources when check_resources is on."""
from __future__ import annotations

from scrapy.http import HtmlResponse

from crawler.links import extract_links

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
