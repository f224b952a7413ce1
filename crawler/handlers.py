"""HTTP download handler that also measures the whole download and the bytes on the wire.

Scrapy already records `download_latency` (request sent → response headers received, connection
set-up included): that is our time to first byte. We add `download_time`, sent → last body byte,
the response time, and `wire_bytes`, the body as received, before HttpCompressionMiddleware undoes
its Content-Encoding (chunked framing and headers not counted). Both are summed over redirect hops
by the spider.
"""
from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response


class TimedHTTPDownloadHandler(HTTP11DownloadHandler):
    async def download_request(self, request: Request) -> Response:
        start = monotonic()
        try:
            response = await super().download_request(request)
        finally:
            request.meta["download_time"] = monotonic() - start
        request.meta["wire_bytes"] = len(response.body)
        return response


def wire_bytes(response: Response) -> int:
    """The body bytes a response took on the wire (its decoded size if it did not come through the
    handler above)."""
    return response.meta.get("wire_bytes", len(response.body))
