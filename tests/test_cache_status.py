"""Table-driven tests for crawler.cache_status.normalise_cache_status."""
from __future__ import annotations

import pytest
from scrapy.http import Headers

from contract.vocabulary import CacheStatus
from crawler.cache_status import normalise_cache_status

AKAMAI_HOST = "from a23-45-67-89.deploy.static.akamaitechnologies.com (AkamaiGHost/21.1.0.1-1) (-)"

CASES = [
    # Cloudflare CF-Cache-Status
    pytest.param({"CF-Cache-Status": "HIT"}, "HIT", id="cf-hit"),
    pytest.param({"CF-Cache-Status": "MISS"}, "MISS", id="cf-miss"),
    pytest.param({"CF-Cache-Status": "EXPIRED"}, "EXPIRED", id="cf-expired"),
    pytest.param({"CF-Cache-Status": "STALE"}, "STALE", id="cf-stale"),
    pytest.param({"CF-Cache-Status": "BYPASS"}, "BYPASS", id="cf-bypass"),
    pytest.param({"CF-Cache-Status": "DYNAMIC"}, "DYNAMIC", id="cf-dynamic"),
    pytest.param({"CF-Cache-Status": "REVALIDATED"}, "HIT", id="cf-revalidated"),
    pytest.param({"CF-Cache-Status": "UPDATING"}, "STALE", id="cf-updating"),
    pytest.param({"CF-Cache-Status": "NONE"}, None, id="cf-none"),
    pytest.param({"CF-Cache-Status": "UNKNOWN"}, None, id="cf-unknown"),
    pytest.param({"cf-cache-status": "  hit \t"}, "HIT", id="cf-lowercase-whitespace"),
    pytest.param({"CF-Cache-Status": "SOMETHING-NEW"}, None, id="cf-unrecognised-value"),
    # RFC 9211 Cache-Status
    pytest.param({"Cache-Status": "ExampleCache; hit"}, "HIT", id="rfc-hit"),
    pytest.param({"Cache-Status": "Nginx; fwd=miss"}, "MISS", id="rfc-fwd-miss"),
    pytest.param({"Cache-Status": "cdn; fwd=stale"}, "EXPIRED", id="rfc-fwd-stale"),
    pytest.param({"Cache-Status": "cdn; fwd=stale; fwd-status=304"}, "HIT",
                 id="rfc-fwd-stale-revalidated"),
    pytest.param({"Cache-Status": "cache; fwd=uri-miss"}, "MISS", id="rfc-fwd-uri-miss"),
    pytest.param({"Cache-Status": "cache; fwd=vary-miss"}, "MISS", id="rfc-fwd-vary-miss"),
    pytest.param({"Cache-Status": "cache; fwd=bypass"}, "BYPASS", id="rfc-fwd-bypass"),
    pytest.param({"Cache-Status": "cache; fwd=request"}, "BYPASS", id="rfc-fwd-request"),
    pytest.param({"Cache-Status": "cache; fwd=method"}, "BYPASS", id="rfc-fwd-method"),
    pytest.param({"Cache-Status": "cache; fwd=uri-miss; stored"}, "MISS", id="rfc-stored-miss"),
    pytest.param({"Cache-Status": "cache; stored"}, "MISS", id="rfc-stored-only"),
    pytest.param({"Cache-Status": "cache; collapsed"}, "MISS", id="rfc-collapsed-only"),
    pytest.param({"Cache-Status": "cache; hit; stale"}, "STALE", id="rfc-hit-stale"),
    pytest.param({"Cache-Status": "cache; hit; ttl=-30"}, "STALE", id="rfc-hit-negative-ttl"),
    pytest.param({"Cache-Status": "cache; hit; ttl=300"}, "HIT", id="rfc-hit-positive-ttl"),
    pytest.param({"Cache-Status": "cache; hit=?0; fwd=miss"}, "MISS", id="rfc-hit-false"),
    pytest.param({"Cache-Status": "cache; fwd=teapot"}, None, id="rfc-unknown-fwd"),
    pytest.param({"Cache-Status": "cache"}, None, id="rfc-no-params"),
    pytest.param({"Cache-Status": "Origin; hit, CDN; fwd=uri-miss; stored"}, "MISS",
                 id="rfc-list-last-member-wins-miss"),
    pytest.param({"Cache-Status": "Origin; fwd=miss; stored, CDN; hit; ttl=60"}, "HIT",
                 id="rfc-list-last-member-wins-hit"),
    pytest.param({"Cache-Status": '"Edge, Inc"; hit; detail="a;b, fwd=miss"'}, "HIT",
                 id="rfc-quoted-strings-with-separators"),
    # Fastly X-Cache / X-Served-By / X-Cache-Hits
    pytest.param({"X-Cache": "HIT", "X-Served-By": "cache-lhr7321-LHR"}, "HIT", id="fastly-hit"),
    pytest.param({"X-Cache": "MISS, MISS", "X-Served-By": "cache-iad-1-IAD, cache-lhr-2-LHR"},
                 "MISS", id="fastly-shield-miss-edge-miss"),
    pytest.param({"X-Cache": "MISS, HIT", "X-Served-By": "cache-iad-1-IAD, cache-lhr-2-LHR"},
                 "HIT", id="fastly-edge-hit"),
    pytest.param({"X-Cache": "HIT, MISS", "X-Served-By": "cache-iad-1-IAD, cache-lhr-2-LHR"},
                 "MISS", id="fastly-edge-miss-after-shield-hit"),
    pytest.param({"X-Cache": "MISS, HIT-STALE"}, "HIT", id="fastly-hit-anywhere-in-edge-value"),
    pytest.param({"X-Cache": ["HIT", "MISS"]}, "MISS", id="fastly-repeated-header-last-wins"),
    pytest.param({"X-Cache": "MISS", "X-Cache-Hits": "0, 5"}, "MISS", id="fastly-x-cache-wins"),
    pytest.param({"X-Cache-Hits": "0, 3"}, "HIT", id="fastly-cache-hits-only"),
    pytest.param({"X-Cache-Hits": "0"}, "MISS", id="fastly-cache-hits-zero"),
    pytest.param({"X-Cache": "PASS"}, "BYPASS", id="fastly-pass"),
    # Akamai X-Cache / X-Cache-Remote
    pytest.param({"X-Cache": f"TCP_HIT {AKAMAI_HOST}"}, "HIT", id="akamai-tcp-hit"),
    pytest.param({"X-Cache": f"TCP_MISS {AKAMAI_HOST}"}, "MISS", id="akamai-tcp-miss"),
    pytest.param({"X-Cache": f"TCP_REFRESH_HIT {AKAMAI_HOST}"}, "HIT", id="akamai-refresh-hit"),
    pytest.param({"X-Cache": f"TCP_REFRESH_MISS {AKAMAI_HOST}"}, "EXPIRED",
                 id="akamai-refresh-miss"),
    pytest.param({"X-Cache": f"TCP_REFRESH_FAIL_HIT {AKAMAI_HOST}"}, "STALE",
                 id="akamai-refresh-fail-hit"),
    pytest.param({"X-Cache": f"TCP_MEM_HIT {AKAMAI_HOST}"}, "HIT", id="akamai-mem-hit"),
    pytest.param({"X-Cache": f"TCP_IMS_HIT {AKAMAI_HOST}"}, "HIT", id="akamai-ims-hit"),
    pytest.param({"X-Cache": f"TCP_DENIED {AKAMAI_HOST}"}, "BYPASS", id="akamai-denied"),
    pytest.param({"X-Cache": f"TCP_COOKIE_DENY {AKAMAI_HOST}"}, "BYPASS", id="akamai-cookie-deny"),
    pytest.param({"X-Cache": f"TCP_NC_MISS {AKAMAI_HOST}"}, "MISS", id="akamai-nc-miss"),
    pytest.param({"X-Cache": f"tcp_hit {AKAMAI_HOST}"}, "HIT", id="akamai-lowercase"),
    pytest.param({"X-Cache-Remote": f"TCP_HIT {AKAMAI_HOST}"}, "HIT", id="akamai-remote-only"),
    pytest.param({"X-Cache": f"TCP_MISS {AKAMAI_HOST}", "X-Cache-Remote": f"TCP_HIT {AKAMAI_HOST}"},
                 "MISS", id="akamai-edge-wins-over-remote"),
    # CloudFront X-Cache
    pytest.param({"X-Cache": "Hit from cloudfront"}, "HIT", id="cloudfront-hit"),
    pytest.param({"X-Cache": "Miss from cloudfront"}, "MISS", id="cloudfront-miss"),
    pytest.param({"X-Cache": "RefreshHit from cloudfront"}, "HIT", id="cloudfront-refresh-hit"),
    pytest.param({"X-Cache": "Error from cloudfront"}, None, id="cloudfront-error"),
    pytest.param({"X-Cache": "LambdaGeneratedResponse from cloudfront"}, "DYNAMIC",
                 id="cloudfront-lambda"),
    pytest.param({"X-Cache": "  miss   FROM  CloudFront "}, "MISS", id="cloudfront-case-spacing"),
    pytest.param({"X-Cache": "Error from cloudfront", "Age": "30"}, None,
                 id="cloudfront-error-not-overridden-by-age"),
    # Varnish / Squid
    pytest.param({"X-Cache": "HIT", "X-Varnish": "123 456"}, "HIT", id="varnish-x-cache-hit"),
    pytest.param({"X-Cache": "MISS", "X-Varnish": "123 456"}, "MISS", id="varnish-x-cache-wins"),
    pytest.param({"X-Varnish": "32770 32769"}, "HIT", id="varnish-two-ids"),
    pytest.param({"X-Varnish": "32770"}, "MISS", id="varnish-one-id"),
    pytest.param({"Via": "1.1 varnish (Varnish/7.4)", "Age": "120"}, "HIT", id="via-varnish-age"),
    pytest.param({"Via": "1.1 varnish", "Age": "0"}, "MISS", id="via-varnish-age-zero"),
    pytest.param({"Via": "1.1 varnish"}, None, id="via-varnish-no-age"),
    pytest.param({"Via": "1.1 varnish", "Age": "-1"}, None, id="via-varnish-bad-age"),
    pytest.param({"X-Cache": "MISS from hit-proxy.example"}, "MISS", id="squid-host-not-read"),
    # Vercel
    pytest.param({"X-Vercel-Cache": "HIT"}, "HIT", id="vercel-hit"),
    pytest.param({"X-Vercel-Cache": "MISS"}, "MISS", id="vercel-miss"),
    pytest.param({"X-Vercel-Cache": "STALE"}, "STALE", id="vercel-stale"),
    pytest.param({"X-Vercel-Cache": "PRERENDER"}, "HIT", id="vercel-prerender"),
    pytest.param({"X-Vercel-Cache": "REVALIDATED"}, "HIT", id="vercel-revalidated"),
    pytest.param({"x-vercel-cache": "bypass"}, "BYPASS", id="vercel-bypass-lowercase"),
    # nginx proxy_cache ($upstream_cache_status)
    pytest.param({"X-Cache-Status": "HIT"}, "HIT", id="nginx-hit"),
    pytest.param({"X-Cache-Status": "MISS"}, "MISS", id="nginx-miss"),
    pytest.param({"X-Cache-Status": "EXPIRED"}, "EXPIRED", id="nginx-expired"),
    pytest.param({"X-Cache-Status": "STALE"}, "STALE", id="nginx-stale"),
    pytest.param({"X-Cache-Status": "UPDATING"}, "STALE", id="nginx-updating"),
    pytest.param({"X-Cache-Status": "REVALIDATED"}, "HIT", id="nginx-revalidated"),
    pytest.param({"X-Cache-Status": "BYPASS"}, "BYPASS", id="nginx-bypass"),
    pytest.param({"X-Cache-Status": "MISS, HIT"}, "HIT", id="nginx-list-last-wins"),
    # Age fallback
    pytest.param({"Age": "42"}, "HIT", id="age-positive"),
    pytest.param({"Age": "0"}, None, id="age-zero"),
    pytest.param({"Age": "soon"}, None, id="age-not-integer"),
    pytest.param({"Age": "-5"}, None, id="age-negative"),
    pytest.param({"Via": "1.1 vegur", "Age": "5"}, "HIT", id="age-with-non-varnish-via"),
    # Edge cases and precedence between vendors
    pytest.param({}, None, id="no-headers"),
    pytest.param({"Server": "nginx", "Content-Type": "text/html"}, None, id="no-cache-headers"),
    pytest.param({"X-Cache": "banana"}, None, id="x-cache-unknown-value"),
    pytest.param({"CF-Cache-Status": "", "X-Cache": "HIT"}, "HIT", id="empty-header-is-absent"),
    pytest.param({b"CF-Cache-Status": b"HIT"}, "HIT", id="bytes-keys-and-values"),
    pytest.param({"CF-Cache-Status": "DYNAMIC", "X-Cache-Status": "HIT"}, "DYNAMIC",
                 id="precedence-cloudflare-over-nginx"),
    pytest.param({"CF-Cache-Status": "MISS", "X-Cache": "HIT", "Age": "100"}, "MISS",
                 id="precedence-cloudflare-over-x-cache-and-age"),
    pytest.param({"CF-Cache-Status": "NONE", "X-Cache-Status": "HIT"}, None,
                 id="precedence-first-present-decides-even-if-none"),
    pytest.param({"X-Vercel-Cache": "MISS", "Cache-Status": "cache; hit"}, "MISS",
                 id="precedence-vercel-over-rfc9211"),
    pytest.param({"Cache-Status": "cdn; fwd=uri-miss", "X-Cache": "HIT"}, "MISS",
                 id="precedence-rfc9211-over-x-cache"),
    pytest.param({"X-Cache-Status": "EXPIRED", "X-Cache": "HIT"}, "EXPIRED",
                 id="precedence-nginx-over-x-cache"),
    pytest.param({"X-Cache": "MISS", "Age": "3600"}, "MISS", id="precedence-x-cache-over-age"),
    pytest.param({"X-Varnish": "7", "Via": "1.1 varnish", "Age": "9"}, "MISS",
                 id="precedence-x-varnish-over-via-age"),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_normalise_cache_status(raw, expected):
    status = normalise_cache_status(Headers(raw))
    assert status == expected
    # A member of the contract's vocabulary, not a look-alike string: records, rows and the API share it.
    assert status is None or type(status) is CacheStatus


class _StrHeaders:
    """A case-insensitive mapping whose values are str, as the function also accepts."""

    def __init__(self, raw: dict[str, str]):
        self._raw = {k.lower(): v for k, v in raw.items()}

    def get(self, name: str):
        return self._raw.get(name.lower())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param({"CF-Cache-Status": "revalidated"}, "HIT", id="str-cloudflare"),
        pytest.param({"X-Cache": "TCP_REFRESH_MISS from a1"}, "EXPIRED", id="str-akamai"),
        pytest.param({"Cache-Status": "cdn; hit"}, "HIT", id="str-rfc9211"),
        pytest.param({"Age": "12"}, "HIT", id="str-age"),
        pytest.param({}, None, id="str-empty"),
    ],
)
def test_str_valued_mapping(raw, expected):
    status = normalise_cache_status(_StrHeaders(raw))
    assert status == expected and (status is None or type(status) is CacheStatus)
