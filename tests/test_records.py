"""The per-URL record's failure text (crawler/records.py): what a download that got no response
is classified as, in words a person reads once, built from the exceptions Scrapy really raises
(its own, wrapping Twisted's as the cause)."""
from __future__ import annotations

import pytest
from OpenSSL.SSL import Error as SSLError
from scrapy import Request
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
)
from scrapy.http import HtmlResponse
from twisted.internet.error import ConnectError, ConnectionDone, DNSLookupError, TCPTimedOutError, TimeoutError
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseNeverReceived

from contract.vocabulary import CacheStatus, ErrorType, FoundVia, TaskKind
from crawler.records import Download, TaskInfo, classify_failure, failure_record, response_record, warm_fields


def never_received(error: Exception) -> ResponseNeverReceived:
    """What twisted.web raises when the connection failed before a response: a list of Failures."""
    try:
        raise error
    except type(error):
        return ResponseNeverReceived([Failure()])


def wrapped(outer: type[Exception], inner: Exception) -> Exception:
    """`outer` raised from `inner`, as scrapy.utils._download_handlers.wrap_twisted_exceptions does."""
    try:
        try:
            raise inner
        except Exception as cause:
            raise outer(str(cause)) from cause
    except outer as error:
        return error


def explained(outer: Exception, inner: Exception) -> Exception:
    """`outer`, with its own message, raised from a silent `inner` (the aiohttp handler's timeout)."""
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    ("exception", "error_type", "text"),
    [
        (wrapped(CannotResolveHostError, DNSLookupError("no results for hostname lookup: no-such-host.invalid")),
         "dns", "DNS lookup failed: no results for hostname lookup: no-such-host.invalid"),
        (DNSLookupError(), "dns", "DNS lookup failed"),
        (wrapped(DownloadTimeoutError, TimeoutError()), "timeout", "Timed out"),
        (DownloadTimeoutError("Getting http://site.test/ took longer than 1.0 seconds."), "timeout",
         "Timed out: Getting http://site.test/ took longer than 1.0 seconds"),
        (TCPTimedOutError(110, "Connection timed out"), "timeout", "Timed out: 110: Connection timed out"),
        (explained(DownloadTimeoutError("Getting http://site.test/ took longer than 1.0 seconds."), TimeoutError()),
         "timeout", "Timed out: Getting http://site.test/ took longer than 1.0 seconds"),  # aiohttp's handler
        (ConnectError("Network is unreachable"), "connection_error", "Could not connect: Network is unreachable"),
        (wrapped(DownloadConnectionRefusedError, ConnectionRefusedError()), "connection_refused", "Connection refused"),
        (wrapped(DownloadFailedError, never_received(SSLError([("SSL routines", "", "wrong version number")]))),
         "tls", "TLS error: [('SSL routines', '', 'wrong version number')]"),
        (wrapped(DownloadFailedError, never_received(ConnectionDone())), "network",
         "DownloadFailedError: Connection was closed cleanly"),
    ],
)  # fmt: skip
def test_a_failure_is_classified_and_its_text_says_each_thing_once(exception, error_type, text):
    assert classify_failure(exception, "site.test") == (error_type, text)


# --- The builders: one Download per response or failure, the same fields for every kind -------------

AFTER_ONE_HOP = {"hops": [("http://site.test/old", 301)], "elapsed": 0.100, "transferred": 100,
                 "download_time": 0.050, "download_latency": 0.020, "wire_bytes": 40}  # fmt: skip


def answered(meta: dict, url: str = "http://site.test/new", status: int = 200, **headers) -> HtmlResponse:
    headers = {"Content-Type": "text/html; charset=utf-8", **headers}
    return HtmlResponse(url, status=status, body=b"<p>x</p>", headers=headers, request=Request(url, meta=dict(meta)))


def task_of(kind: TaskKind) -> TaskInfo:
    return TaskInfo("http://site.test/old", "k", kind, FoundVia.LINK, "http://site.test/", 1)


def test_a_fetch_after_a_hop_sums_the_hops_time_and_bytes_and_times_its_first_byte_after_them():
    download = Download.of(answered(AFTER_ONE_HOP))
    assert (download.response_time_ms, download.ttfb_ms, download.transferred) == (150, 120, 140)


@pytest.mark.parametrize("kind", list(TaskKind))
def test_every_kind_gets_the_same_answered_record(kind):
    response = answered(AFTER_ONE_HOP, **{"CF-Cache-Status": "HIT"})
    record = response_record(task_of(kind), response, Download.of(response))
    assert (record["kind"], record["status"], record["http_status"], record["content_type"]) == (
        kind, "completed", 200, "text/html")
    sizes = (record["response_time_ms"], record["ttfb_ms"], record["bytes"], record["decoded_bytes"])
    assert sizes == (150, 120, 140, 8)
    assert record["cache_status"] is CacheStatus.HIT
    assert record["final_url"] == "http://site.test/new" and record["redirect_hops"] == 1
    assert record["redirect_chain"] == [{"url": "http://site.test/old", "status": 301},
                                        {"url": "http://site.test/new", "status": 200}]


def test_an_answer_of_400_or_more_is_failed_and_the_caller_says_why():
    response = answered({}, status=404)
    record = response_record(task_of(TaskKind.PAGE), response, Download.of(response), error="HTTP 404")
    assert (record["status"], record["error"], record["redirect_chain"]) == ("failed", "HTTP 404", None)


def test_a_failure_is_timed_only_when_it_started_and_keeps_the_hops_that_answered():
    never = failure_record(task_of(TaskKind.PAGE), Request("http://site.test/x"), ErrorType.DNS, "DNS lookup failed")
    assert (never["status"], never["response_time_ms"], never["ttfb_ms"]) == ("failed", None, None)
    assert (never["redirect_hops"], never["redirect_chain"]) == (0, None)
    after = failure_record(task_of(TaskKind.PAGE), Request("http://site.test/new", meta=dict(AFTER_ONE_HOP)),
                           ErrorType.CONNECTION_REFUSED, "Connection refused")  # fmt: skip
    assert (after["response_time_ms"], after["bytes"], after["final_url"]) == (150, 100, "http://site.test/new")
    assert after["redirect_chain"] == [{"url": "http://site.test/old", "status": 301}]


def test_a_warm_fetch_adds_its_own_time_and_cache_status():
    warm = answered({"download_time": 0.030, "download_latency": 0.010}, **{"X-Cache": "TCP_HIT from a1"})
    assert warm_fields(warm) == {"warm_response_time_ms": 30, "warm_cache_status": CacheStatus.HIT}
