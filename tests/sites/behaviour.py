"""Extra virtual hosts for crawler-behaviour tests, each a small site of its own.

None of them is linked from `site.test`, so a default crawl (and its exact totals in `pages.py`)
never reaches them; a test crawls one directly, pinning its name to loopback with CRAWL_HOST_MAP.

- `depth.test`: /target is two clicks away through a slow page and three through fast ones, so a
  crawl that records the first path it happens to see records the wrong depth.
- `slowdown.test` and its undisturbed twin `calm.test`: 40 fast pages and a robots.txt with
  `Crawl-delay: 0.05` that takes 0.5 s to answer; on slowdown.test the first request for /p/1 gets
  `503 Retry-After: 1`, while the crawl's second read of robots.txt (for its Sitemap lines) is on
  its way.
- `guard.test`: what the private-address guard must refuse: robots.txt and its sitemap index name
  sitemaps on loopback addresses, and /to-ipv6 redirects to the IPv6 loopback literal.
- `v6.test` and `[::1]`: the site served on the IPv6 loopback (`SiteServer(address="::1")`), with
  links, a redirect and a sitemap entry that spell the IPv6 literal.
- `slow.test`: a start page linking to 30 pages that each take a second to answer, so that a crawl
  of it at concurrency 1 is still running half a minute later (the dashboard's cancel test).
- `broken.test`: a start page linking to 500 URLs that are not there (404) and to /also, which links
  to two of them: the dashboard's grouped, paged broken links.
- `cdn.test`: a site behind a CDN (Cloudflare's MISS-then-HIT): two pages a cache may keep, three
  it must not (`Cache-Control: no-store`, `private`, a `Set-Cookie`), a gzip-compressed page, a
  sitemap that is cached too, and a page whose `<link>`s of several rels and rev and an `<object>`
  are its resources.
"""
from __future__ import annotations

from .pages import XML, Page

DEPTH_HOST = "depth.test"
SLOWDOWN_HOST = "slowdown.test"
CALM_HOST = "calm.test"
GUARD_HOST = "guard.test"
V6_HOST = "v6.test"
V6_LITERAL = "[::1]"
CDN_HOST = "cdn.test"
SLOW_HOST = "slow.test"
BROKEN_HOST = "broken.test"

DEPTH_PAGES: dict[str, Page] = {
    "/": Page("Depth", ("/a", "/b")),
    "/a": Page("A", ("/target",), delay=1.0),  # the short path, slow
    "/b": Page("B", ("/c",)),
    "/c": Page("C", ("/target",)),  # the long path, fast
    "/target": Page("Target", ("/target-child",)),
    "/target-child": Page("Target child", ()),
}
# Click depths: what every run must record, whichever path arrives first.
DEPTHS = {"/": 0, "/a": 1, "/b": 1, "/c": 2, "/target": 2, "/target-child": 3}

PAGE_COUNT = 40
_NUMBERED = tuple(f"/p/{n}" for n in range(1, PAGE_COUNT + 1))
CALM_PAGES: dict[str, Page] = {
    "/robots.txt": Page(content_type="text/plain; charset=utf-8", text="User-agent: *\nCrawl-delay: 0.05\n", delay=0.5),
    "/": Page("Calm", _NUMBERED),
    **{path: Page(f"Page {path}") for path in _NUMBERED},
}
SLOWDOWN_PAGES: dict[str, Page] = {
    **CALM_PAGES,
    "/p/1": Page("Page /p/1", fail_first=1, fail_status=503),  # Retry-After: 1, once
}

GUARD_PAGES: dict[str, Page] = {
    "/robots.txt": Page(content_type="text/plain; charset=utf-8", text=(
        "User-agent: *\n"
        "Sitemap: http://127.0.0.2:1/sitemap.xml\n"  # a loopback address: refused
        "Sitemap: http://guard.test:{port}/sitemap-index.xml\n"
    )),  # fmt: skip
    "/sitemap-index.xml": Page(content_type=XML, text=(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        "  <sitemap><loc>http://localhost:{port}/sitemap-private.xml</loc></sitemap>\n"  # resolves to loopback
        "  <sitemap><loc>http://guard.test:{port}/sitemap-pages.xml</loc></sitemap>\n"
        "</sitemapindex>\n"
    )),  # fmt: skip
    "/sitemap-pages.xml": Page(content_type=XML, text=(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        "  <url><loc>http://guard.test:{port}/listed</loc></url>\n"
        "</urlset>\n"
    )),  # fmt: skip
    "/": Page("Guard", ("/to-ipv6",)),
    "/listed": Page("Listed", ()),
    "/to-ipv6": Page(status=302, location="http://[::1]:1/landing"),  # nothing listens there either
}

V6 = "http://[::1]:{port}"
V6_PAGES: dict[str, Page] = {
    # The same page spelled as a relative link and as a fully written-out IPv6 literal.
    "/": Page("IPv6", ("/page", "http://[0:0:0:0:0:0:0:1]:{port}/page/", "/redirect")),
    "/page": Page("Page", ("/",)),
    "/redirect": Page(status=302, location=V6 + "/landing"),
    "/landing": Page("Landing", ()),
    "/from-sitemap": Page("From the sitemap", ()),
    "/sitemap.xml": Page(content_type=XML, text=(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        "  <url><loc>" + V6 + "/from-sitemap</loc></url>\n"
        "</urlset>\n"
    )),  # fmt: skip
}

CDN = "http://cdn.test:{port}"
CDN_PAGES: dict[str, Page] = {
    "/robots.txt": Page(content_type="text/plain; charset=utf-8", text="User-agent: *\nSitemap: " + CDN + "/sitemap.xml\n"),
    "/sitemap.xml": Page(content_type=XML, cdn="cloudflare", text=(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        "  <url><loc>" + CDN + "/listed</loc></url>\n"
        "</urlset>\n"
    )),  # fmt: skip
    "/": Page("CDN", ("/cached", "/no-store", "/private", "/cookie", "/gzip", "/resources"), cdn="cloudflare"),
    "/cached": Page("Cached", (), cdn="cloudflare"),
    "/no-store": Page("No store", (), cdn="cloudflare", headers=(("Cache-Control", "no-store"),)),
    "/private": Page("Private", (), cdn="cloudflare", headers=(("Cache-Control", "private, max-age=60"),)),
    "/cookie": Page("Cookie", (), cdn="cloudflare", headers=(("Set-Cookie", "session=1; Path=/; HttpOnly"),)),
    "/gzip": Page("Gzip", ("/",) * 300, compress=True),  # 300 identical links: compresses well
    "/listed": Page("Listed", ()),  # only the sitemap lists it
    "/resources": Page(text=(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Resources</title>\n'
        '<link rel="stylesheet" href="/style.css">\n<link rel="icon" href="/favicon.ico">\n'
        '<link rel="preload" href="/font.woff2" as="font" crossorigin>\n<link rel="manifest" href="/manifest.json">\n'
        '<link rev="made" href="/humans.txt">\n</head>\n'
        '<body><object data="/movie.svg" type="image/svg+xml"></object></body></html>\n'
    )),  # fmt: skip
    **{path: Page(content_type=kind, text="x") for path, kind in (
        ("/style.css", "text/css"), ("/favicon.ico", "image/x-icon"), ("/font.woff2", "font/woff2"),
        ("/manifest.json", "application/manifest+json"), ("/humans.txt", "text/plain"), ("/movie.svg", "image/svg+xml"),
    )},  # fmt: skip
}
CDN_RESOURCES = ("/style.css", "/favicon.ico", "/font.woff2", "/manifest.json", "/humans.txt", "/movie.svg")

_SLOW_PAGES = tuple(f"/page/{n}" for n in range(1, 31))
SLOW_PAGES: dict[str, Page] = {"/": Page("Slow", _SLOW_PAGES), **{path: Page(path, ("/",), delay=1.0) for path in _SLOW_PAGES}}

BROKEN_COUNT = 500
BROKEN_TARGETS = tuple(f"/gone/{n}" for n in range(1, BROKEN_COUNT + 1))  # no such pages: 404
BROKEN_PAGES: dict[str, Page] = {"/": Page("Broken", ("/also", *BROKEN_TARGETS)), "/also": Page("Also", BROKEN_TARGETS[:2])}

BEHAVIOUR_HOSTS: dict[str, dict[str, Page]] = {
    DEPTH_HOST: DEPTH_PAGES,
    SLOWDOWN_HOST: SLOWDOWN_PAGES,
    CALM_HOST: CALM_PAGES,
    GUARD_HOST: GUARD_PAGES,
    V6_HOST: V6_PAGES,
    V6_LITERAL: V6_PAGES,
    CDN_HOST: CDN_PAGES,
    SLOW_HOST: SLOW_PAGES,
    BROKEN_HOST: BROKEN_PAGES,
}
BEHAVIOUR_HOST_MAP = ",".join(f"{host}=127.0.0.1" for host in (DEPTH_HOST, SLOWDOWN_HOST, CALM_HOST, GUARD_HOST, CDN_HOST))
