"""The per-URL record: one dict per URL, the item every pipeline and feed receives, and the one
place that builds it from what a fetch measured.

Its keys are the contract's (`contract/record.py`: FEED_FIELDS, the record plus the referrers of a
broken link). A plain dict keeps the hot path cheap and exports as-is with
`scrapy crawl site -O pages.jsonl`. `docs/crawler.md` says what each field and each timing means.

Builders, from the most to the least measured: `response_record` (a URL that got an answer:
status, timings, sizes, type, cache status, and the redirect chain that led to it), `stopped_chain_record`
(a redirect chain stopped at a loop, too many hops or an unusable Location), `failure_record`
(a fetch that got no answer: the error, the time it took, the hops that did answer), `warm_fields`
(the warm fetch's time and cache status, crawler/warming.py), `new_record`/`skipped_record` (nothing
fetched). The timings come from `Download` alone, so each is computed in one way for every kind of
record; a new kind (a TaskKind) is a TaskInfo with that kind passed to the same builders.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
from crawler.cache_status import normalise_cache_status
from crawler.decoding import DECODED_CUT_FLAG
from crawler.handlers import wire_bytes
from crawler.resolver import REFUSED_HOSTS, ForbiddenAddressError

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response


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


class Download:
    """What fetching a URL measured, summed over the redirect hops that led to this request.

    Scrapy's `download_latency` (sent -> response headers, connection set-up included) and our
    `download_time` (sent -> last body byte, crawler/handlers.py) are per request; the hops before
    it travel in the request's meta (`next_hop_meta`): their chain, their summed time and wire bytes.
    So the response time is every hop's whole download, and the time to first byte is the earlier
    hops' whole downloads plus this one's latency.
    """

    __slots__ = ("hops", "elapsed", "ttfb", "transferred")

    def __init__(self, meta: dict[str, Any], wire: int):
        before = meta.get("elapsed", 0.0)
        self.hops: list[tuple[str, int]] = meta.get("hops", [])
        self.elapsed: float = before + meta.get("download_time", 0.0)  # seconds
        self.ttfb: float = before + meta.get("download_latency", 0.0)  # seconds
        self.transferred: int = meta.get("transferred", 0) + wire  # body bytes on the wire, every hop

    @classmethod
    def of(cls, response: Response) -> Download:
        return cls(response.meta, wire_bytes(response))

    @classmethod
    def failed(cls, request: Request) -> Download:
        return cls(request.meta, 0)

    @property
    def response_time_ms(self) -> int:
        return round(self.elapsed * 1000)

    @property
    def ttfb_ms(self) -> int:
        return round(self.ttfb * 1000)

    def next_hop_meta(self, response: Response) -> dict[str, Any]:
        """The meta of the request that follows `response`'s redirect: the chain so far, with it."""
        return {"hops": [*self.hops, (response.url, response.status)], "elapsed": self.elapsed,
                "transferred": self.transferred}  # fmt: skip


def redirect_chain(hops: list[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"url": url, "status": code} for url, code in hops]


def response_record(task: TaskInfo, response: Response, download: Download, **fields: Any) -> dict[str, Any]:
    """The record of a URL that got an answer: completed under HTTP 400, else failed (the caller
    says why in `fields`, with anything else its kind records). After redirects, the final URL and
    the chain of every hop, this answer included."""
    status = response.status
    record = new_record(
        task,
        TaskStatus.COMPLETED if status < 400 else TaskStatus.FAILED,
        http_status=status,
        response_time_ms=download.response_time_ms,
        ttfb_ms=download.ttfb_ms,
        content_type=content_type_of(response),
        bytes=download.transferred,
        decoded_bytes=len(response.body),
        cache_status=normalise_cache_status(response.headers),
    )
    if download.hops:
        chain = [*redirect_chain(download.hops), {"url": response.url, "status": status}]
        record.update(final_url=response.url, redirect_chain=chain, redirect_hops=len(download.hops))
    record.update(fields)
    return record


def stopped_chain_record(task: TaskInfo, response: Response, download: Download, target: str, error_type: ErrorType,
                         error: str, *, measured: bool = True, **fields: Any) -> dict[str, Any]:
    """The record of a redirect chain stopped at `response` (a loop, too many hops, an unusable
    Location, crawler/redirects.py next_hop): failed, its final URL the target it did not fetch, the
    chain every hop up to this one. This hop's cache status is not the page's: none is recorded.
    `measured=False` (an external check): the answer's status without the timings and sizes."""
    hops = [*download.hops, (response.url, response.status)]
    chain = {"final_url": target, "redirect_chain": redirect_chain(hops), "redirect_hops": len(hops),
             "error_type": error_type, "error": error}  # fmt: skip
    if not measured:
        return new_record(task, TaskStatus.FAILED, http_status=response.status, **chain, **fields)
    return response_record(task, response, download, status=TaskStatus.FAILED, cache_status=None, **chain, **fields)


def failure_record(task: TaskInfo, request: Request, error_type: ErrorType, error: str) -> dict[str, Any]:
    """The record of a fetch that got no answer: how long it tried (none when it never started) and,
    after redirects, the hops that did answer and the URL that did not (a refused address, say)."""
    download = Download.failed(request)
    record = new_record(task, TaskStatus.FAILED, error=error, error_type=error_type,
                        response_time_ms=download.response_time_ms if download.elapsed else None)  # fmt: skip
    if download.hops:
        record.update(final_url=request.url, redirect_chain=redirect_chain(download.hops), redirect_hops=len(download.hops),
                      bytes=download.transferred)  # fmt: skip
    return record


def warm_fields(response: Response) -> dict[str, Any]:
    """What the warm fetch of a page adds to its record (crawler/warming.py)."""
    return {"warm_response_time_ms": Download.of(response).response_time_ms,
            "warm_cache_status": normalise_cache_status(response.headers)}  # fmt: skip


def http_error(status: int) -> tuple[ErrorType, str]:
    """(error_type, error) of a page or resource answered with HTTP 400 or more."""
    return ErrorType.SERVER_ERROR if status >= 500 else ErrorType.HTTP_ERROR, f"HTTP {status}"


def body_cut(response: Response, transferred: int) -> tuple[bool, str | None]:
    """(truncated, error) of a body cut at the size cap, on the wire or once decoded."""
    if DECODED_CUT_FLAG in response.flags:
        return True, f"Body cut at the size cap once decoded ({len(response.body)} bytes; {transferred} on the wire)"
    if "download_stopped" in response.flags:
        return True, "Body cut at the size cap"
    return False, None


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
    # For a prefix that names the failure already: what the innermost error that says anything says
    # (aiohttp's handler chains a silent TimeoutError under Scrapy's "Getting ... took longer than").
    # An error that only repeats its cause's text (Scrapy's wrapping of Twisted's) adds nothing.
    said = (_detail(error) for error in reversed(chain)
            if error.__cause__ is None or str(error) != str(error.__cause__))  # fmt: skip
    detail = next((text for text in said if text), "")
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
