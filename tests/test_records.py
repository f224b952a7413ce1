"""The per-URL record's failure text (crawler/records.py): what a download that got no response
is classified as, in words a person reads once, built from the exceptions Scrapy really raises
(its own, wrapping Twisted's as the cause)."""
from __future__ import annotations

import pytest
from OpenSSL.SSL import Error as SSLError
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
)
from twisted.internet.error import ConnectError, ConnectionDone, DNSLookupError, TCPTimedOutError, TimeoutError
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseNeverReceived

from crawler.records import classify_failure


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
