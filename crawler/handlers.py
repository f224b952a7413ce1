"""HTTP download handlers that also measure the whole download and the bytes on the wire.

Scrapy records `download_latency` (request sent → response headers received, connection set-up
included): that is our time to first byte. We add `download_time`, sent → last body byte, the
response time, and `wire_bytes`, the body as received, before HttpCompressionMiddleware undoes its
Content-Encoding (chunked framing and headers not counted). Both are summed over redirect hops by
the spider.

The default handler is aiohttp's client (its HTTP parser is C, llhttp) behind Scrapy's streaming
handler interface, as scrapy-download-handlers-incubator builds it: on the real trees of
`bench/profile_real.py`, taking turns with Twisted's client, it cost 16 % less CPU per page beyond
the start-up on apache, 14 % on postgresql and 3 % on python, records identical (docs/performance.md). aiohttp resolves names itself, so the address guard of crawler/resolver.py
is installed as its resolver, and asked first about IP literals (aiohttp connects to those without
a resolver). Twisted's handler stays, guarded by the reactor's resolver, for a site whose broken
responses only its lenient parser reads: DOWNLOAD_HANDLERS = {"http": ...TimedHTTPDownloadHandler}.
"""
from __future__ import annotations

import asyncio
import errno
import socket
from contextlib import asynccontextmanager
from time import monotonic
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.http_exceptions import HttpProcessingError
from scrapy.core.downloader.handlers._base_streaming import BaseStreamingDownloadHandler
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    ResponseDataLossError,
)
from scrapy.utils.ssl import _make_ssl_context
from scrapy_download_handlers_incubator.handlers import aiohttp as incubator
from twisted.internet.error import ConnectError, DNSLookupError

from crawler.resolver import AddressGuard

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response


class _Timed:
    async def download_request(self, request: Request) -> Response:
        start = monotonic()
        try:
            response = await super().download_request(request)  # type: ignore[misc]
        finally:
            request.meta["download_time"] = monotonic() - start
        request.meta["wire_bytes"] = len(response.body)
        return response


class TimedHTTPDownloadHandler(_Timed, HTTP11DownloadHandler):
    """Twisted's client (Scrapy's default handler)."""


class GuardedAiohttpResolver(AbstractResolver):
    """aiohttp's resolver with the address guard: a refusal or a failed look-up is an OSError, which
    aiohttp reports as ClientConnectorDNSError and the handler as CannotResolveHostError, the guard's
    own error kept as its cause (crawler/records.py classifies by the cause)."""

    def __init__(self, guard: AddressGuard, timeout: float):
        self.guard = guard
        self.timeout = timeout

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            addresses = self.guard.known(host)
            if addresses is None:
                loop = asyncio.get_running_loop()
                found = await asyncio.wait_for(loop.run_in_executor(None, self.guard.lookup, host), self.timeout)
                addresses = self.guard.check(found, host)
        except DNSLookupError as exc:  # ForbiddenAddressError included
            raise OSError(str(exc)) from exc
        except TimeoutError as exc:
            raise OSError(f"{host}: no answer in {self.timeout:g} s") from exc
        return [
            {"hostname": host, "host": address, "port": port, "proto": 0, "flags": socket.AI_NUMERICHOST,
             "family": socket.AF_INET6 if ":" in address else socket.AF_INET}
            for address in addresses
        ]  # fmt: skip

    async def close(self) -> None:
        pass


class TimedAiohttpDownloadHandler(_Timed, incubator.AiohttpDownloadHandler):
    """aiohttp's client, guarded. Its session is the incubator's (pool bounded by CONCURRENT_REQUESTS,
    no cookies, no automatic decompression or headers) with our resolver in its connector."""

    # Experimental upstream; here it passes the crawler's whole suite, hostile servers included,
    # so its start-up warning would only be noise in every crawl's log.
    experimental: ClassVar[bool] = False

    def __init__(self, crawler: Crawler):
        # The incubator's __init__ builds its connector with no way to pass a resolver: the base
        # class is set up here and the same session built with ours.
        BaseStreamingDownloadHandler.__init__(self, crawler)
        settings = crawler.settings
        self.guard = AddressGuard.from_settings(settings)
        self._ssl_context = _make_ssl_context(settings)
        self._resolver = GuardedAiohttpResolver(self.guard, settings.getfloat("DNS_TIMEOUT"))
        connector = incubator._TCPConnector(
            resolver=self._resolver, local_addr=self._bind_address,
            limit=self._pool_size_total, limit_per_host=self._pool_size_per_host,
        )  # fmt: skip
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
            response_class=incubator._ClientResponse,
            skip_auto_headers=("Accept", "Accept-Encoding", "Content-Type", "User-Agent"),
        )  # fmt: skip

    @asynccontextmanager
    async def _make_request(self, request: Request, timeout: float) -> AsyncIterator[incubator._ClientResponse]:
        try:
            self.guard.literal(urlsplit(request.url).hostname or "")
        except DNSLookupError as exc:  # the reason is in REFUSED_HOSTS, where crawler/records.py reads it
            raise CannotResolveHostError(str(exc)) from None
        try:
            async with super()._make_request(request, timeout) as response:
                yield response
        except DownloadConnectionRefusedError as exc:
            raise _connect_failure(exc) from exc.__cause__
        except (DownloadFailedError, ResponseDataLossError) as exc:
            plain = _parser_message(exc)
            if plain is None:
                raise
            raise type(exc)(plain) from None  # records say the innermost error's text: this one


def _connect_failure(exc: DownloadConnectionRefusedError) -> Exception:
    """The incubator calls every aiohttp connector error "connection refused"; Twisted's client
    told a refused connection from a failed TLS handshake and an unreachable host, and so do the
    records (error_type connection_refused, tls, connection_error)."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientSSLError):  # a handshake or certificate failure
        return DownloadFailedError(f"TLS handshake failed: {cause}")
    if isinstance(cause, aiohttp.ClientConnectorError) and cause.os_error.errno != errno.ECONNREFUSED:
        return ConnectError(string=str(cause.os_error) or str(cause))
    return exc


def _parser_message(exc: Exception) -> str | None:
    """What aiohttp's parser said about a wrong answer, on one line. Its errors print as
    "400, message:\n  Bad status line: ..." over several lines, where 400 is no status the server
    sent; the record's error says "Bad status line: ..."."""
    cause = exc.__cause__
    while cause is not None:
        message = getattr(cause, "message", None)
        parser_error = isinstance(cause, (aiohttp.ClientResponseError, HttpProcessingError))
        if parser_error and isinstance(message, str) and message:
            return " ".join(message.split())
        cause = cause.__cause__
    return None


def wire_bytes(response: Response) -> int:
    """The body bytes a response took on the wire (its decoded size if it did not come through a
    handler above)."""
    return response.meta.get("wire_bytes", len(response.body))
