"""The test website as data: every page of every virtual host, plus what a crawl should find.

Four host names are served, all on one loopback port (the crawler pins them to 127.0.0.1 with
CRAWL_HOST_MAP): `site.test` is the main site, `www.site.test` serves the same pages (their
root-relative links are rewritten to absolute site.test URLs, so the www alias adds one URL to a
crawl instead of a second copy of the site), `blog.site.test` is a subdomain site and `other.test`
an external site. Hrefs and sitemap entries are templates: "{port}" becomes the server's real port.

EXPECTED documents a full crawl of http://site.test:PORT/ with the default options (use_sitemap,
find_links, allow_cross_subdomain_links on; check_resources off), a slow threshold of 1000 ms and
the default settings (2 MB body cap, 50 query variants per path). robots.txt and the sitemaps are
discovery inputs, not pages, so they are not in it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

SITE_HOST = "site.test"
WWW_HOST = "www.site.test"
BLOG_HOST = "blog.site.test"
OTHER_HOST = "other.test"

SITE = "http://site.test:{port}"
WWW = "http://www.site.test:{port}"
BLOG = "http://blog.site.test:{port}"
OTHER = "http://other.test:{port}"

HTML = "text/html; charset=utf-8"
XML = "application/xml"


@dataclass(frozen=True)
class Page:
    title: str = ""
    links: tuple[str, ...] = ()  # hrefs, in document order
    status: int = 200
    location: str | None = None  # Location header of a redirect
    cdn: str | None = None  # cache-header style, a key of CDN_STYLES
    delay: float = 0.0  # seconds to wait before answering
    content_type: str = HTML
    builder: str | None = None  # name of a body builder in server.py, for generated bodies
    fail_first: int = 0  # answer fail_status (Retry-After: 1) to this many requests first
    assets: tuple[str, ...] = ()  # stylesheet, image and script URLs the page references
    fail_status: int = 429
    text: str | None = None  # a fixed body (robots.txt, sitemaps), "{port}" filled in
    headers: tuple[tuple[str, str], ...] = ()  # more response headers (Cache-Control, Set-Cookie, ...)
    compress: bool = False  # gzip the body (Content-Encoding) when the request accepts gzip


# --- site.test (and www.site.test) ---------------------------------------------------------------
HOME_LINKS = (
    "/about",
    "/products",
    "/news",
    BLOG + "/",  # cross-subdomain: crawled because allow_cross_subdomain_links is on
    WWW + "/about",  # the www alias: same site, crawled as its own URL
    OTHER + "/external",  # external: checked once, its links never followed
    "/private/secret",  # disallowed by robots.txt: never fetched
    "/missing",  # 404
    "/error",  # 500
    "/slow",  # 1.5 s, over the tests' 1000 ms slow threshold
    "/redirect-1",  # 301 -> /redirect-2, 302 -> /about: a two-hop chain
    "/loop-a",  # 302 -> /loop-b, 302 -> /loop-a
    "/calendar?month=2026-01",  # an infinite calendar: a query trap
    "/big",  # 3 MB, over the 2 MB body cap
    "/file.pdf",  # binary: recorded, never parsed
    "/about#team",  # the fragment is dropped: the same URL as /about
    "/products?b=2&a=1",  # the query is sorted: the same URL as the next one
    "/products?a=1&b=2",
)

ASSETS = ("/static/site.css", "/static/logo.png", "/static/app.js")

SITE_PAGES: dict[str, Page] = {
    "/robots.txt": Page(content_type="text/plain; charset=utf-8", builder="robots"),
    "/sitemap_index.xml": Page(content_type=XML, builder="sitemap_index"),
    "/sitemap-pages.xml": Page(content_type=XML, builder="urlset"),
    "/sitemap-more.xml.gz": Page(content_type="application/x-gzip", builder="urlset_gzip"),
    "/sitemap-broken.xml": Page(content_type=XML, builder="broken_sitemap"),  # not in the index
    "/": Page("Home", HOME_LINKS, cdn="cloudflare-dynamic", assets=ASSETS),
    "/about": Page("About", ("/", "/missing"), cdn="cloudflare", assets=ASSETS),
    # Assets: fetched only with check_resources; app.js is missing (a broken resource).
    "/static/site.css": Page(content_type="text/css", builder="asset"),
    "/static/logo.png": Page(content_type="image/png", builder="asset"),
    "/products": Page("Products", tuple(f"/products/{n}" for n in range(1, 6)), cdn="fastly"),
    "/products/1": Page("Product 1", ("/products",), cdn="vercel"),
    "/products/2": Page("Product 2", ("/products",), cdn="nginx"),
    "/products/3": Page("Product 3", ("/products", "/missing"), cdn="cache-status"),
    "/products/4": Page("Product 4", ("/products",), cdn="akamai"),
    "/products/5": Page("Product 5", ("/products",), cdn="cloudflare-expired"),
    "/news": Page("News", ("/",), cdn="cloudfront"),
    "/news/2026": Page("News 2026", ("/",), cdn="cloudflare-bypass"),
    "/orphan-from-sitemap": Page("Orphan", ("/",)),  # only the sitemap lists it
    "/private/secret": Page("Secret", ("/",)),  # served, so a crawler ignoring robots.txt shows
    "/missing": Page("Not found", status=404),
    "/error": Page("Server error", status=500),
    "/slow": Page("Slow", ("/",), delay=1.5),
    "/timeout": Page("Timeout", delay=10.0),  # not linked: a test sets a short download timeout
    "/retry-after": Page("Retry after", fail_first=2),  # not linked
    "/faults": Page("Faults", ("/timeout", "/retry-after", "/redirect-internal")),  # not linked: fault tests' start
    "/redirect-internal": Page(status=302, location="http://127.0.0.1:{port}/about"),  # into a private range
    "/redirect-1": Page(status=301, location="/redirect-2"),
    "/redirect-2": Page(status=302, location="/about"),
    "/loop-a": Page(status=302, location="/loop-b"),
    "/loop-b": Page(status=302, location="/loop-a"),
    "/calendar": Page("Calendar", builder="calendar"),  # /calendar?month=YYYY-MM
    "/big": Page("Big", builder="big"),
    "/file.pdf": Page(content_type="application/pdf", builder="pdf"),
}

SITEMAP_INDEX = ("/sitemap-pages.xml", "/sitemap-more.xml.gz")
SITEMAPS = {
    "/sitemap-pages.xml": ("/", "/about", "/orphan-from-sitemap", "/products"),
    "/sitemap-more.xml.gz": ("/news", "/news/2026"),
}
ROBOTS_TXT = (
    "User-agent: *\n"
    "Disallow: /private/\n"
    "Crawl-delay: 0\n"  # zero, so tests are fast
    "Sitemap: " + SITE + "/sitemap_index.xml\n"
)
# Truncated inside a start tag: lxml in recover mode (Scrapy's Sitemap) reads an empty urlset, a
# strict parser raises. Either way /from-broken-sitemap must not be fetched.
BROKEN_SITEMAP = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<urlset <url><loc>' + SITE + '/from-broken-sitemap</loc></url></urlset'
)
BIG_BYTES = 3 * 1024 * 1024
PDF_BYTES = 20 * 1024

# --- the other hosts -----------------------------------------------------------------------------
BLOG_PAGES: dict[str, Page] = {
    "/": Page("Blog", ("/post-1", SITE + "/")),
    "/post-1": Page("Post 1", ("/",)),
}
OTHER_PAGES: dict[str, Page] = {
    "/external": Page("External", ("/elsewhere",)),  # /elsewhere is not served: never fetched
}
HOSTS: dict[str, dict[str, Page]] = {
    SITE_HOST: SITE_PAGES,
    WWW_HOST: SITE_PAGES,
    BLOG_HOST: BLOG_PAGES,
    OTHER_HOST: OTHER_PAGES,
}

# --- CDN cache headers ---------------------------------------------------------------------------
# style -> (headers of the first request to a host+path, headers of every later one). Each style
# is a different vendor's way of saying MISS/HIT, so cache detection is tested for all of them.
CDN_STYLES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "cloudflare": ({"CF-Cache-Status": "MISS"}, {"CF-Cache-Status": "HIT"}),
    "cloudflare-expired": ({"CF-Cache-Status": "EXPIRED"}, {"CF-Cache-Status": "HIT"}),
    "cloudflare-dynamic": ({"CF-Cache-Status": "DYNAMIC"}, {"CF-Cache-Status": "DYNAMIC"}),
    "cloudflare-bypass": ({"CF-Cache-Status": "BYPASS"}, {"CF-Cache-Status": "BYPASS"}),
    "fastly": (
        {"X-Served-By": "cache-iad-kiad7000025-IAD, cache-lhr-egll1980033-LHR", "X-Cache": "MISS, MISS"},
        {"X-Served-By": "cache-iad-kiad7000025-IAD, cache-lhr-egll1980033-LHR", "X-Cache": "MISS, HIT"},
    ),
    "cloudfront": ({"X-Cache": "Miss from cloudfront"}, {"X-Cache": "Hit from cloudfront"}),
    "vercel": ({"x-vercel-cache": "MISS"}, {"x-vercel-cache": "HIT"}),
    "nginx": ({"X-Cache-Status": "MISS"}, {"X-Cache-Status": "HIT"}),
    "cache-status": ({"Cache-Status": "site; fwd=miss"}, {"Cache-Status": "site; hit"}),  # RFC 9211
    "akamai": ({"X-Cache": "TCP_MISS from a1"}, {"X-Cache": "TCP_HIT from a1"}),
}


# --- what a full default crawl should record -----------------------------------------------------
class Expect(NamedTuple):
    status: int | None  # HTTP status the URL ends with (after redirects); None: never answered
    kind: str  # ok, broken_link, server_error, slow, redirect_chain, redirect_loop, ...
    cache: str | None = None  # first cache status; None: no cache header
    warm_cache: str | None = None  # cache status of the warming re-fetch; None: not re-fetched
    final_url: str | None = None  # for redirects
    hops: int = 0


# A redirected URL's cache status comes from its last hop (/about), which answers MISS or HIT
# depending on whether /about itself was fetched first: tests should not assert it.
ORDER_DEPENDENT = "order-dependent"

EXPECTED: dict[str, Expect] = {
    SITE + "/": Expect(200, "ok", "DYNAMIC", None),
    SITE + "/about": Expect(200, "ok", "MISS", "HIT"),
    SITE + "/products": Expect(200, "ok", "MISS", "HIT"),
    SITE + "/products?a=1&b=2": Expect(200, "ok", "MISS", "HIT"),  # its own cache key
    SITE + "/products/1": Expect(200, "ok", "MISS", "HIT"),
    SITE + "/products/2": Expect(200, "ok", "MISS", "HIT"),
    SITE + "/products/3": Expect(200, "ok", "MISS", "HIT"),
    SITE + "/products/4": Expect(200, "ok", "MISS", "HIT"),
    SITE + "/products/5": Expect(200, "ok", "EXPIRED", "HIT"),
    SITE + "/news": Expect(200, "ok", "MISS", "HIT"),
    SITE + "/news/2026": Expect(200, "ok", "BYPASS", None),
    SITE + "/orphan-from-sitemap": Expect(200, "ok"),
    SITE + "/private/secret": Expect(None, "robots_disallowed"),
    SITE + "/missing": Expect(404, "broken_link"),
    SITE + "/error": Expect(500, "server_error"),
    SITE + "/slow": Expect(200, "slow"),
    SITE + "/redirect-1": Expect(
        200, "redirect_chain", ORDER_DEPENDENT, ORDER_DEPENDENT, final_url=SITE + "/about", hops=2
    ),
    SITE + "/loop-a": Expect(302, "redirect_loop"),
    SITE + "/calendar?month=2026-01": Expect(200, "ok"),  # the trap's first variant is fetched
    SITE + "/big": Expect(200, "truncated"),
    SITE + "/file.pdf": Expect(200, "non_html"),
    WWW + "/about": Expect(200, "ok", "MISS", "HIT"),  # cache keys include the host
    BLOG + "/": Expect(200, "ok"),
    BLOG + "/post-1": Expect(200, "ok"),
    OTHER + "/external": Expect(200, "ok"),
}

# Pages that link to /missing. The www copy of /about links to it too (rewritten to site.test).
REFERRERS: dict[str, frozenset[str]] = {
    SITE + "/missing": frozenset({SITE + "/", SITE + "/about", SITE + "/products/3", WWW + "/about"}),
}

# The calendar links to the previous and next month forever: CRAWL_MAX_QUERY_VARIANTS (50) of
# /calendar?month=... are fetched, then further months end as (None, "query_trap_skipped").
QUERY_TRAP_PATH = "/calendar"

# Not part of the default crawl; what a test that crawls them directly should see.
UNLINKED: dict[str, Expect] = {
    SITE + "/timeout": Expect(None, "timeout"),  # with a download timeout under 10 s
    SITE + "/retry-after": Expect(200, "ok"),  # after two 429s, within RETRY_TIMES = 2
}

# (host, path) pairs a default crawl must never request.
NEVER_FETCHED: tuple[tuple[str, str], ...] = (
    (SITE_HOST, "/private/secret"),  # robots.txt
    (OTHER_HOST, "/elsewhere"),  # linked only from an external page
    (SITE_HOST, "/from-pdf"),  # an href inside the PDF's bytes
    (SITE_HOST, "/big-tail"),  # linked at the end of /big, past the body cap
    (SITE_HOST, "/from-broken-sitemap"),
    (SITE_HOST, "/timeout"),
    (SITE_HOST, "/retry-after"),
    (SITE_HOST, "/sitemap-broken.xml"),
)


def fill(template: str, port: int) -> str:
    """Put the server's port into a URL template (replace, not format: hrefs may hold braces)."""
    return template.replace("{port}", str(port))


def expected_for(port: int) -> dict[str, Expect]:
    """EXPECTED with real URLs."""
    return {
        fill(url, port): exp._replace(final_url=exp.final_url and fill(exp.final_url, port))
        for url, exp in EXPECTED.items()
    }
