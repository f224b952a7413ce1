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
from contract.vocabulary import ErrorType, FoundVia, TaskKind, TaskStatus
from crawler.resolver import REFUSED_HOSTS, ForbiddenAddressError


class TaskInfo:
    """What the crawl knows about a URL before fetching it; travels in request.meta."""

    __slots__ = ("url", "key", "kind", "found_via", "referrer", "depth", "level", "sent", "recorded")

    def __init__(self, url: str, key: str, kind: TaskKind, found_via: FoundVia, referrer: str | None, depth: int):
        self.url = url
        self.key = key
        self.kind = kind
        self.found_via = found_via
        self.referrer = referrer
        self.depth = depth  # may go down until the record is released (crawler/depths.py)
        self.level: int | None = None  # while fetched: the shallowest depth it may lead to
        self.sent = False  # handed to a fetcher (this process or a worker), record not made yet
        self.recorded = False  # its record went out; its depth may still be corrected (crawler/depths.py)


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
    """The exception and what caused it, outermost first: Python's `__cause__`, and the first of
    the Failures that twisted.web's ResponseFailed (ResponseNeverReceived, ...) wraps."""
    chain = [exception]
    while len(chain) < 5:
        reasons = getattr(chain[-1], "reasons", None)
        cause = chain[-1].__cause__ or (getattr(reasons[0], "value", None) if reasons else None)
        if cause is None:
            break
        chain.append(cause)
    return chain


def _detail(error: BaseException) -> str:
    """What the innermost error says beyond the sentence Twisted opens every message of its class
    with (its docstring: "DNS lookup failed", "An error occurred while connecting"); the error
    type and our prefix say that already, and "DNS lookup failed: DNS lookup failed: ..." says it
    twice. Empty when that sentence is all it says."""
    text = str(error).strip()
    generic = (type(error).__doc__ or "").strip()
    if generic and text.startswith(generic):
        text = text[len(generic):].lstrip(":. ")
    return text.rstrip(".")


def _say(prefix: str, detail: str) -> str:
    return f"{prefix}: {detail}" if detail else prefix


def classify_failure(exception: BaseException, host: str | None = None) -> tuple[ErrorType, str]:
    """(error_type, human text) for a download that produced no response.

    Scrapy wraps Twisted's errors in its own (CannotResolveHostError, ...) with the original as
    the cause, so the whole chain is looked at, most specific first.
    """
    chain = _causes(exception)
    detail = _detail(chain[-1])  # for a prefix that names the failure already
    for error in chain:
        if isinstance(error, ForbiddenAddressError):
            return ErrorType.FORBIDDEN_TARGET, str(error)
        if isinstance(error, (CannotResolveHostError, DNSLookupError)) and host and host.lower() in REFUSED_HOSTS:
            return ErrorType.FORBIDDEN_TARGET, REFUSED_HOSTS[host.lower()]
    for error in chain:
        if isinstance(error, (CannotResolveHostError, DNSLookupError)):
            return ErrorType.DNS, _say("DNS lookup failed", detail)
        if isinstance(error, (DownloadConnectionRefusedError, ConnectionRefusedError)):
            return ErrorType.CONNECTION_REFUSED, "Connection refused"
        if isinstance(error, (DownloadTimeoutError, TimeoutError, TCPTimedOutError)):
            return ErrorType.TIMEOUT, _say("Timed out", detail)
        if isinstance(error, ConnectError):
            return ErrorType.CONNECTION_ERROR, _say("Could not connect", detail)
    text = " ".join(str(error) for error in chain)
    said = str(chain[-1]).strip().rstrip(".")
    if "SSL" in text or "certificate" in text.lower():
        return ErrorType.TLS, _say("TLS error", said)
    return ErrorType.NETWORK, _say(type(exception).__name__, said)
