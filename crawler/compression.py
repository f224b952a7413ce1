"""Scrapy's HttpCompressionMiddleware with our decoded-size cap: a body whose Content-Encoding
expands past CRAWL_BODY_MAX_BYTES is cut there, like a body that is too big on the wire
(crawler/middlewares.py BodySizeCapMiddleware), instead of being decoded whole.

Scrapy's own cap is DOWNLOAD_MAXSIZE, which our settings set to 0 because it cancels the download
and keeps nothing (a page over the cap would vanish from the report): with it at 0, Scrapy's
middleware decoded `Content-Encoding: gzip, gzip, gzip` of 281 bytes into 256 MiB. Everything
else is Scrapy's: the Accept-Encoding header, which encodings it decodes (the supported ones, from
the last applied), the warning for the others, the stats and the response class chosen again
from the decoded body.

A request with `meta["decode_lazily"]` (a sitemap) keeps its encoded body: its reader decodes it
as it parses, with the sitemap's own cap (crawler/sitemaps.py), so a 50 MB sitemap is never whole
in memory; the encodings to undo go in `meta["content_encodings"]`.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.exceptions import NotConfigured
from scrapy.http import TextResponse
from scrapy.responsetypes import responsetypes

from crawler.decoding import DECODED_CUT_FLAG, decode_capped

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

DECODE_LAZILY = "decode_lazily"  # request.meta: leave the body encoded, the callback decodes it
CONTENT_ENCODINGS = "content_encodings"  # request.meta: what such a callback must undo, in order


class CappedHttpCompressionMiddleware(HttpCompressionMiddleware):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler=crawler)
        self.max_decoded_bytes = crawler.settings.getint("CRAWL_BODY_MAX_BYTES")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CappedHttpCompressionMiddleware:
        if not crawler.settings.getbool("COMPRESSION_ENABLED"):
            raise NotConfigured
        return cls(crawler)

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Response:
        content_encoding = response.headers.getlist("Content-Encoding")
        if request.method == "HEAD" or not content_encoding:
            return response
        to_decode, to_keep = self._split_encodings(content_encoding)
        if request.meta.get(DECODE_LAZILY):
            request.meta[CONTENT_ENCODINGS] = to_decode
            return response
        body, cut = decode_capped(response.body, to_decode, self.max_decoded_bytes)
        if cut:
            logger.info("%s: body cut at %d bytes decoded (%d bytes on the wire, Content-Encoding %s)",
                        response.url, len(body), len(response.body), b", ".join(content_encoding).decode("latin-1"))  # fmt: skip
        if to_keep:
            self._warn_unknown_encoding(response, to_keep)
        response.headers["Content-Encoding"] = to_keep
        if self.stats:
            self.stats.inc_value("httpcompression/response_bytes", len(body))
            self.stats.inc_value("httpcompression/response_count")
        respcls = responsetypes.from_args(headers=response.headers, url=response.url, body=body)
        kwargs: dict[str, Any] = {"body": body}
        if issubclass(respcls, TextResponse):
            kwargs["encoding"] = None  # as Scrapy: the charset is guessed again from the decoded body
        if cut:
            kwargs["flags"] = [*response.flags, DECODED_CUT_FLAG]
        response = response.replace(cls=respcls, **kwargs)
        if not to_keep:
            del response.headers["Content-Encoding"]
        return response
