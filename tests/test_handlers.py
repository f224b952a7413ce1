"""crawler/handlers.py: aiohttp's connector errors keep the kind of failure Twisted's client told apart.

The integration tests crawl real loopback servers that refuse, close and speak plain HTTP on an https
URL; these pin the mapping itself, error by error."""
from __future__ import annotations

import errno
import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from scrapy.exceptions import DownloadConnectionRefusedError

from crawler.handlers import _connect_failure
from crawler.records import classify_failure

KEY = ConnectionKey("site.test", 443, True, True, None, None, None, "site.test")


def incubators_error(cause: Exception) -> DownloadConnectionRefusedError:
    """What the incubator's handler raises for every aiohttp connector error."""
    error = DownloadConnectionRefusedError(str(cause))
    error.__cause__ = cause
    return error


def classified(cause: Exception) -> tuple[str, str]:
    error = incubators_error(cause)
    mapped = _connect_failure(error)
    if mapped is not error:
        mapped.__cause__ = cause
    return classify_failure(mapped, "site.test")


@pytest.mark.parametrize(("cause", "error_type"), [
    (aiohttp.ClientConnectorError(KEY, OSError(errno.ECONNREFUSED, "Connection refused")), "connection_refused"),
    (aiohttp.ClientConnectorError(KEY, OSError(errno.EHOSTUNREACH, "No route to host")), "connection_error"),
    (aiohttp.ClientConnectorError(KEY, OSError(errno.ENETUNREACH, "Network is unreachable")), "connection_error"),
    (aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")), "tls"),
])  # fmt: skip
def test_a_connector_error_keeps_its_kind(cause, error_type):
    assert classified(cause)[0] == error_type


def test_an_unreachable_host_says_why():
    error_type, text = classified(aiohttp.ClientConnectorError(KEY, OSError(errno.EHOSTUNREACH, "No route to host")))
    assert (error_type, "No route to host" in text) == ("connection_error", True), text
