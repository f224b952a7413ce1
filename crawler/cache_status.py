"""Normalise the CDN / reverse-proxy cache status of a crawled response to one word.

Every CDN reports whether it served a page from cache in its own header and vocabulary
(Cloudflare's CF-Cache-Status, Fastly/Akamai/CloudFront/Varnish's overloaded X-Cache, RFC 9211
Cache-Status, ...). normalise_cache_status() reads only the handful of headers that matter and maps
them to a CacheStatus (contract/vocabulary.py: HIT, MISS, EXPIRED, STALE, BYPASS, DYNAMIC) or None
(no CDN header, or a value that says nothing about the cache). It runs once per crawled page, so it
does plain string work on a few direct header look-ups: no regular expressions and no copy of the
whole header mapping.
"""
from __future__ import annotations

from contract.vocabulary import CacheStatus

HIT, MISS, EXPIRED, STALE, BYPASS, DYNAMIC = (CacheStatus.HIT, CacheStatus.MISS, CacheStatus.EXPIRED,
                                              CacheStatus.STALE, CacheStatus.BYPASS, CacheStatus.DYNAMIC)
# Single-word vocabularies (Cloudflare, Vercel, nginx $upstream_cache_status, plain X-Cache) share
# one table: they agree on the words they have in common, and a shared table keeps them consistent.
_TOKENS: dict[str, CacheStatus] = {status.value: status for status in CacheStatus}
_TOKENS |= {
    "REVALIDATED": HIT,  # the cached copy was confirmed by the origin and served from cache
    "PRERENDER": HIT,  # Vercel: served from the build-time prerender
    "UPDATING": STALE,  # served the old copy while a refresh is in flight
    "PASS": BYPASS,  # Varnish/Fastly: the request was passed to the origin uncached
}
# CloudFront names the outcome as the first word of "<Outcome> from cloudfront".
_CLOUDFRONT = {"HIT": HIT, "REFRESHHIT": HIT, "MISS": MISS, "LAMBDAGENERATEDRESPONSE": DYNAMIC,
               "FUNCTIONGENERATEDRESPONSE": DYNAMIC}
# Akamai (and Edgecast) TCP_* codes the _HIT/_MISS suffix rule in _x_cache would get wrong.
_AKAMAI = {
    "TCP_REFRESH_MISS": EXPIRED, "TCP_EXPIRED_MISS": EXPIRED,
    "TCP_REFRESH_FAIL_HIT": STALE,  # origin unreachable, the stale copy was served
    "TCP_DENIED": BYPASS, "TCP_COOKIE_DENY": BYPASS, "TCP_CLIENT_REFRESH_MISS": BYPASS,
}
# RFC 9211 fwd= reasons: did the cache choose not to use a cached copy (BYPASS) or have none (MISS)?
_FWD = {"bypass": BYPASS, "method": BYPASS, "request": BYPASS, "stale": EXPIRED,
        "miss": MISS, "uri-miss": MISS, "vary-miss": MISS, "partial": MISS}


def normalise_cache_status(headers) -> CacheStatus | None:
    """Return the CacheStatus `headers` report, or None.

    Headers are checked in this order, most specific first, and the first one present decides,
    even when its value is not recognised (then None): a header further down the list is usually
    one set by an origin or an inner cache, and reporting it would credit the wrong cache.

    1. CF-Cache-Status (Cloudflare)
    2. X-Vercel-Cache (Vercel)
    3. Cache-Status (RFC 9211)
    4. X-Cache-Status (nginx proxy_cache)
    5. X-Cache (Akamai TCP_*, CloudFront "... from cloudfront", Fastly, Varnish, Squid)
    6. X-Cache-Remote (Akamai parent tier; the edge's X-Cache wins when both are present)
    7. X-Cache-Hits (Fastly hit counter)
    8. X-Varnish (two request ids mean a hit)
    9. Via naming varnish, judged by Age (positive: HIT, zero: MISS)
    10. Age alone: a positive integer means HIT; Age: 0 or no Age is not enough evidence (None).

    Where a header lists several caches, the entry nearest the client (the last) is used.
    """
    for name, parse in _CHAIN:
        value = _text(headers, name)
        if value is not None:
            return parse(value)
    age = _int(_text(headers, "Age"))
    via = _text(headers, "Via")
    if via is not None and "varnish" in via.lower():
        # Varnish always sends Age: 0 for a fresh fetch and the object's age for a hit.
        return None if age is None or age < 0 else (HIT if age > 0 else MISS)
    return HIT if age is not None and age > 0 else None


def _text(headers, name: str) -> str | None:
    # Scrapy's Headers.get returns the last value of a repeated header, which holds the entry
    # nearest the client, so there is no need to join getlist(). Header bytes are latin-1 by spec.
    value = headers.get(name)
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value.strip() or None  # an empty header counts as absent


def _last(value: str) -> str:
    return value.rpartition(",")[2].strip()


def _int(value: str | None) -> int | None:
    try:
        return int(_last(value)) if value is not None else None
    except ValueError:
        return None


def _token(value: str) -> CacheStatus | None:
    return _TOKENS.get(_last(value).upper())


def _x_cache(value: str) -> CacheStatus | None:
    words = _last(value).upper().split()
    if not words:
        return None
    head = words[0]
    if words[-1] == "CLOUDFRONT":
        return _CLOUDFRONT.get(head)  # Error, Redirect, LimitExceeded, ... say nothing: None
    if head.startswith("TCP_"):  # Akamai: TCP_HIT, TCP_MEM_HIT, TCP_IMS_HIT, TCP_NC_MISS, ...
        return _AKAMAI.get(head) or (
            HIT if head.endswith("_HIT") else MISS if head.endswith("_MISS") else None)
    # Fastly / Varnish / Squid. Only the first word is inspected so that a host name after
    # "from" (e.g. "MISS from hit-proxy") cannot be mistaken for the outcome.
    return _TOKENS.get(head) or (HIT if "HIT" in head else MISS if "MISS" in head else None)


def _hits(value: str) -> CacheStatus | None:
    count = _int(value)
    return None if count is None else (HIT if count > 0 else MISS)


def _x_varnish(value: str) -> CacheStatus | None:
    # Varnish sends its own request id, plus the id of the request that stored the object on a hit.
    ids = _last(value).split()
    if not ids or not all(i.isdigit() for i in ids):
        return None
    return HIT if len(ids) >= 2 else MISS


def _cache_status(value: str) -> CacheStatus | None:
    # Quoted strings (cache names, key=, detail=) may contain "," or ";" and carry nothing we
    # read, so drop them before splitting. (An escaped quote inside one is not worth handling.)
    if '"' in value:
        value = "".join(value.split('"')[::2])
    # RFC 9211: each cache appends itself, so the last list member is the one nearest the client.
    params = {}
    for part in _last(value).split(";")[1:]:
        key, eq, val = part.partition("=")
        params[key.strip().lower()] = val.strip().lower() if eq else "?1"
    if params.get("hit", "?0") != "?0":
        ttl = _int(params.get("ttl"))
        stale = "stale" in params or (ttl is not None and ttl < 0)
        return STALE if stale else HIT
    fwd = params.get("fwd")
    if fwd is not None:
        if fwd == "stale" and params.get("fwd-status") == "304":
            return HIT  # the stale copy was revalidated and served from cache
        return _FWD.get(fwd)
    # No hit and no fwd: a response that was stored or collapsed must have come from upstream.
    return MISS if "stored" in params or "collapsed" in params else None


# The precedence order documented in normalise_cache_status(); Via and Age are handled there.
_CHAIN = (
    ("CF-Cache-Status", _token), ("X-Vercel-Cache", _token), ("Cache-Status", _cache_status),
    ("X-Cache-Status", _token), ("X-Cache", _x_cache), ("X-Cache-Remote", _x_cache),
    ("X-Cache-Hits", _hits), ("X-Varnish", _x_varnish),
)
