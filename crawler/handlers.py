"""HTTP download handler that also measures the whole download.

Scrapy already records `download_latency` (request sent → response headers received, connection
set-up included): that is our time to first byte. We add `download_time`, sent → last body byte,
the response time. Both are summed over redirect hops by the spider.
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
            return await super().download_request(request)
        finally:
            request.meta["download_time"] = monotonic() - start
