"""crawler/sitemaps.py's reading of a document: Scrapy's Sitemap over a stream decoded as it is
parsed, whatever wraps it (Content-Encoding, a .xml.gz file, both)."""
from __future__ import annotations

import gzip

import brotli

from crawler.decoding import DecodedReader
from crawler.sitemaps import StreamedSitemap, _document

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>http://site.test/a</loc><priority>0.8</priority></url>
<url><loc>http://site.test/b</loc></url>
</urlset>"""


def read(body: bytes, encodings: list[bytes], cap: int = 0) -> tuple[list[str], DecodedReader]:
    reader = DecodedReader(_document(body, encodings), cap)
    sitemap = StreamedSitemap(reader)
    assert sitemap.type == "urlset"
    return [entry["loc"] for entry in sitemap], reader


def test_a_sitemap_is_read_plain_encoded_as_a_gz_file_and_as_a_gz_file_encoded_again():
    for body, encodings in [(URLSET, []), (brotli.compress(URLSET), [b"br"]), (gzip.compress(URLSET), []),
                            (gzip.compress(gzip.compress(URLSET)), [b"gzip"])]:  # fmt: skip
        locs, reader = read(body, encodings)
        assert locs == ["http://site.test/a", "http://site.test/b"]
        assert (reader.decoded_bytes, reader.cut) == (len(URLSET), False)


def test_a_sitemap_cut_at_its_cap_still_gives_the_entries_before_the_cut():
    body = URLSET.replace(b"</urlset>", b" " * 100_000 + b"<url><loc>http://site.test/late</loc></url></urlset>")
    locs, reader = read(gzip.compress(body), [b"gzip"], cap=len(URLSET) + 50_000)
    assert locs == ["http://site.test/a", "http://site.test/b"]
    assert reader.cut and reader.decoded_bytes == len(URLSET) + 50_000


def test_a_sitemap_index_is_told_apart():
    index = b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>http://site.test/s1.xml</loc></sitemap></sitemapindex>'
    sitemap = StreamedSitemap(DecodedReader(_document(index, []), 0))
    assert sitemap.type == "sitemapindex" and [entry["loc"] for entry in sitemap] == ["http://site.test/s1.xml"]
