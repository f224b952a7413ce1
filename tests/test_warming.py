"""Which MISS pages are fetched again to warm the cache (crawler/warming.py): only those a shared
cache may keep."""
from __future__ import annotations

import pytest
from scrapy.http import Headers

from crawler.warming import warm_skip_reason


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, None),
        ({"Cache-Control": "public, max-age=600"}, None),
        ({"Cache-Control": "no-cache"}, None),  # stored, revalidated each time: warming still helps
        ({"Cache-Control": 'private="Set-Cookie", max-age=60'}, None),  # storable without that field
        ({"Cache-Control": "no-store"}, "no_store"),
        ({"Cache-Control": "Max-Age=0, No-Store"}, "no_store"),
        ({"Cache-Control": ["max-age=60", "private"]}, "private"),  # the header repeated
        ({"Cache-Control": "private, no-store"}, "no_store"),
        ({"Set-Cookie": "session=1; Path=/"}, "set_cookie"),
        ({"Cache-Control": "public", "Set-Cookie": "a=b"}, "set_cookie"),
    ],
)
def test_a_response_a_shared_cache_must_not_keep_is_not_warmed(headers, reason):
    assert warm_skip_reason(Headers(headers)) == reason
