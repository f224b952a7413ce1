"""The per-URL record: one dict per URL, the item every pipeline and feed receives.

Its keys are the contract's (`contract/record.py`: FEED_FIELDS, the record plus the referrers of a
broken link). A plain dict keeps the hot path cheap and exports as-is with
`scrapy crawl site -O pages.jsonl`. `docs/crawler.md` says what each field and each timing means.
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

from contract.record import FEED_FIELDS
from contract.vocabulary import CacheStatus, ErrorType, FoundVia, TaskKind, TaskStatus
from crawler.resolver import REFUSED_HOSTS, ForbiddenAddressError

# A first fetch with one of these cache statuses is fetched again to warm the cache.
WARM_STATUSES = frozenset({CacheStatus.MISS, CacheStatus.EXPIRED})


class TaskInfo:
    """What the crawl knows about a URL before fetching it; travels in request.meta."""

    __slots__ = ("url", "key", "kind", "found_via", "referrer", "depth", "level")

    def __init__(self, url: str, key: str, kind: TaskKind, found_via: FoundVia, referrer: str | None, depth: int):
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


def new_record(task: TaskInfo, status: TaskStatus, **fields: Any) -> dict[str, Any]:
    record = dict.fromkeys(FEED_FIELDS)
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


def skipped_record(task: TaskInfo, error_type: ErrorType, error: str) -> dict[str, Any]:
    return new_record(task, TaskStatus.SKIPPED, error_type=error_type, error=error)


def _causes(exception: BaseException) -> list[BaseException]:
    chain = [exception]
    while chain[-1].__cause__ is not None and len(chain) < 5:
        chain.append(chain[-1].__cause__)
    return chain


def classify_failure(exception: BaseException, host: str | None = None) -> tuple[ErrorType, str]:
    """(error_type, human text) for a download that produced no response.

    Scrapy wraps Twisted's errors in its own (CannotResolveHostError, ...) with the original as
    the cause, so the whole chain is looked at, most specific first.
    """
    chain = _causes(exception)
    detail = str(chain[-1]) or type(chain[-1]).__name__
    for error in chain:
        if isinstance(error, ForbiddenAddressError):
            return ErrorType.FORBIDDEN_TARGET, str(error)
        if isinstance(error, (CannotResolveHostError, DNSLookupError)) and host and host.lower() in REFUSED_HOSTS:
            return ErrorType.FORBIDDEN_TARGET, REFUSED_HOSTS[host.lower()]
    for error in chain:
        if isinstance(error, (CannotResolveHostError, DNSLookupError)):
            return ErrorType.DNS, f"DNS lookup failed: {detail}"
        if isinstance(error, (DownloadConnectionRefusedError, ConnectionRefusedError)):
            return ErrorType.CONNECTION_REFUSED, "Connection refused"
        if isinstance(error, (DownloadTimeoutError, TimeoutError, TCPTimedOutError)):
            return ErrorType.TIMEOUT, f"Timed out: {detail}"
        if isinstance(error, ConnectError):
            return ErrorType.CONNECTION_ERROR, f"Could not connect: {detail}"
    text = " ".join(str(error) for error in chain)
    if "SSL" in text or "certificate" in text.lower():
        return ErrorType.TLS, f"TLS error: {detail}"
    return ErrorType.NETWORK, f"{type(exception).__name__}: {detail}"
