"""The per-URL record: one dict per URL, the item every pipeline and feed receives.

A plain dict keeps the hot path cheap and exports as-is with `scrapy crawl site -O pages.jsonl`.
`docs/crawler.md` says what each field and each timing means.
"""
from __future__ import annotations

from typing import Any

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
)
from twisted.internet.error import (
    ConnectError,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)

from crawler.resolver import REFUSED_HOSTS, ForbiddenAddressError

RECORD_FIELDS = (
    "url", "kind", "found_via", "referrer", "depth", "status", "http_status", "final_url",
    "redirect_chain", "redirect_hops", "response_time_ms", "ttfb_ms", "content_type", "bytes",
    "truncated", "cache_status", "warm_response_time_ms", "warm_cache_status", "error", "error_type",
    "is_slow", "is_broken", "is_server_error", "referrers",
)  # fmt: skip

KIND_PAGE, KIND_RESOURCE, KIND_SITEMAP = "page", "resource", "sitemap"
COMPLETED, FAILED, SKIPPED = "completed", "failed", "skipped"
WARM_STATUSES = frozenset({"MISS", "EXPIRED"})


class TaskInfo:
    """What the crawl knows about a URL before fetching it; travels in request.meta."""

    __slots__ = ("url", "key", "kind", "found_via", "referrer", "depth", "level")

    def __init__(self, url: str, key: str, kind: str, found_via: str, referrer: str | None, depth: int):
        self.url = url
        self.key = key
        self.kind = kind
        self.found_via = found_via
        self.referrer = referrer
        self.depth = depth  # may go down until the record is released (crawler/depths.py)
        self.level: int | None = None  # while fetched: the shallowest depth it may lead to


def content_type_of(response) -> str | None:
    """The media type of a response, lower-cased, without parameters."""
    value = response.headers.get(b"Content-Type")
    return (value.decode("latin-1").split(";", 1)[0].strip().lower() or None) if value else None


def new_record(task: TaskInfo, status: str, **fields: Any) -> dict[str, Any]:
    record = dict.fromkeys(RECORD_FIELDS)
    record.update(
        url=task.url,
        kind=task.kind,
        found_via=task.found_via,
        referrer=task.referrer,
        depth=task.depth,
        status=status,
        redirect_hops=0,
        truncated=False,
        is_slow=False,
        is_broken=False,
        is_server_error=False,
    )
    record.update(fields)
    return record


def skipped_record(task: TaskInfo, error_type: str, error: str) -> dict[str, Any]:
    return new_record(task, SKIPPED, error_type=error_type, error=error)


def _causes(exception: BaseException) -> list[BaseException]:
    chain = [exception]
    while chain[-1].__cause__ is not None and len(chain) < 5:
        chain.append(chain[-1].__cause__)
    return chain


def classify_failure(exception: BaseException, host: str | None = None) -> tuple[str, str]:
    """(error_type, human text) for a download that produced no response.

    Scrapy wraps Twisted's errors in its own (CannotResolveHostError, ...) with the original as
    the cause, so the whole chain is looked at, most specific first.
    """
    chain = _causes(exception)
    detail = str(chain[-1]) or type(chain[-1]).__name__
    for error in chain:
        if isinstance(error, ForbiddenAddressError):
            return "forbidden_target", str(error)
        if isinstance(error, (CannotResolveHostError, DNSLookupError)) and host and host.lower() in REFUSED_HOSTS:
            return "forbidden_target", REFUSED_HOSTS[host.lower()]
    for error in chain:
        if isinstance(error, (CannotResolveHostError, DNSLookupError)):
            return "dns", f"DNS lookup failed: {detail}"
        if isinstance(error, (DownloadConnectionRefusedError, ConnectionRefusedError)):
            return "connection_refused", "Connection refused"
        if isinstance(error, (DownloadTimeoutError, TimeoutError, TCPTimedOutError)):
            return "timeout", f"Timed out: {detail}"
        if isinstance(error, ConnectError):
            return "connection_error", f"Could not connect: {detail}"
    text = " ".join(str(error) for error in chain)
    if "SSL" in text or "certificate" in text.lower():
        return "tls", f"TLS error: {detail}"
    return "network", f"{type(exception).__name__}: {detail}"
