"""URL normalisation and site scope.

Every discovered URL is reduced to a *key* before a Request is built: fragment dropped, scheme and
host lower-cased, default port removed, query sorted (w3lib's canonicalize_url), and the scheme and
a trailing slash left out, so that `http://x/a/` and `https://x/a` are one page. An IPv6 host is
written in its compressed form and keeps its brackets in the URL and the key (`http://[::1]:8081/`):
without them its colons would read as a port. The scope decides which hosts belong to the site: the
start host, its `www.` twin, and (when allowed) every other subdomain of the registrable domain; an
IP address has no subdomains.

`LinkBase` turns a page's hrefs into absolute URLs, exactly as `urljoin` does, without its cost in
the common cases.
"""
from __future__ import annotations

import ipaddress
from functools import cached_property, lru_cache
from urllib.parse import SplitResult, urljoin, urlsplit

from w3lib.url import canonicalize_url

DEFAULT_PORTS = {"http": 80, "https": 443}


@lru_cache(maxsize=1)
def _suffix_list():
    """tldextract with its bundled list (no network); imported on first use: ~80 ms with the
    modules it brings (requests among them), for a crawl that meets a second host."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=1024)
def registrable_domain(host: str) -> str:
    """`blog.example.co.uk` -> `example.co.uk`; hosts without a public suffix keep two labels."""
    parts = _suffix_list()(host)
    if parts.suffix and parts.domain:
        return f"{parts.domain}.{parts.suffix}"
    labels = host.split(".")
    return ".".join(labels[-2:])


def normalise(url: str) -> tuple[str, str, str, int | None] | None:
    """Return (canonical url, key, host, port) or None when it is not an http(s) URL."""
    target = _target(url)
    return _canonical(*target) if target is not None else None


def normalise_within(url: str, scope: SiteScope) -> tuple[str, str, str, int | None] | None:
    """normalise(url) for a URL of the site, None for any other: a page's links to other sites
    (a changelog links to thousands of issues) cost a split, not a canonicalisation."""
    target = _target(url)
    if target is None or not scope.contains(target[2], target[4]):
        return None
    return _canonical(*target)


def _target(url: str) -> tuple[SplitResult, str, str, str, int | None] | None:
    """(parts, scheme, host, host as written in a URL, port), or None when not an http(s) URL."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        port = parts.port
    except ValueError:
        return None
    if port == DEFAULT_PORTS[scheme]:
        port = None
    host = parts.hostname  # lower-cased by urlsplit, brackets removed
    literal = host
    if ":" in host:
        try:
            host = ipaddress.IPv6Address(host).compressed
        except ValueError:
            return None
        literal = f"[{host}]"
    return parts, scheme, host, literal, port


def _canonical(parts: SplitResult, scheme: str, host: str, literal: str, port: int | None) -> tuple[str, str, str, int | None]:
    netloc = f"{literal}:{port}" if port else literal
    canonical = canonicalize_url(parts._replace(scheme=scheme, netloc=netloc).geturl())
    rest = canonical.split("://", 1)[1]
    path_end = rest.find("?")
    path = rest if path_end < 0 else rest[:path_end]
    if path.endswith("/") and path.count("/") > 1:
        rest = path.rstrip("/") + ("" if path_end < 0 else rest[path_end:])
    return canonical, rest, host, port


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class SiteScope:
    def __init__(self, host: str, port: int | None, allow_subdomains: bool):
        self.host = host.removeprefix("www.")
        self.port = port
        # 127.0.0.1 and 10.0.0.1 both "end with .0.1": addresses share no domain.
        self.allow_subdomains = allow_subdomains and not is_ip_address(host)

    @cached_property
    def suffix(self) -> str:
        """The registrable domain with a leading dot, looked up only for a link to another host
        (the first look-up builds the public suffix list's tree: ~60 ms)."""
        return "." + registrable_domain(self.host)

    def contains(self, host: str, port: int | None) -> bool:
        if port != self.port:
            return False
        if host == self.host or host == "www." + self.host:
            return True
        return self.allow_subdomains and (host.endswith(self.suffix) or host == self.suffix[1:])


class LinkBase:
    """A page's base URL, ready to resolve its hrefs: the same absolute URL as `urljoin(base, href)`
    (and, for a root-relative href, origin + href, as the crawler always did), ~50 times cheaper
    for the hrefs real pages are made of.

    urljoin parses both URLs and rebuilds the result (~20 µs); a documentation site with relative
    links paid that for every link of every page. A path-relative href made of leading `../` and
    `./` steps and then a path with no dot segment, no empty segment and nothing urljoin would
    rewrite (a colon that may end a scheme, a control character, `;` params, an empty query)
    resolves to the base's directory, that many levels up (never above the root), + the rest, when
    that directory is itself plain. Everything else goes through urljoin. Fragments are cut before
    (crawler/links.py).
    """

    __slots__ = ("base", "origin", "site", "directories")

    def __init__(self, base: str):
        self.base = base
        self.origin = base[: base.find("/", base.find("//") + 2)] if base.count("/") > 2 else base
        self.directories: list[str] = []  # the base's directory path, then each parent up to "/"
        try:
            parts = urlsplit(base)
        except ValueError:
            return
        path = parts.path
        directory = path[: path.rfind("/") + 1]
        self.site = f"{parts.scheme}://{parts.netloc}"
        # urljoin drops the base's last segment, then resolves dot segments and squeezes empty ones
        # in what is left: a directory with none of them is used as it is.
        if (parts.scheme in ("http", "https") and parts.netloc and directory.startswith("/") and "//" not in directory
                and "/./" not in directory and "/../" not in directory):  # fmt: skip
            while directory != "/":
                self.directories.append(directory)
                directory = directory[: directory.rfind("/", 0, -1) + 1]
            self.directories.append("/")

    def resolve(self, href: str) -> str:
        first = href[0]
        if first == "/":
            return urljoin(self.base, href) if href.startswith("//") else self.origin + href
        if first == "h" and href.startswith(("http://", "https://")):
            return href
        if self.directories and first > " " and first != "?":
            rest, up = href, 0
            while rest.startswith("../") or rest.startswith("./"):
                if rest[1] == ".":
                    up, rest = up + 1, rest[3:]
                else:
                    rest = rest[2:]
            if _plain_relative(rest):
                return self.site + self.directories[min(up, len(self.directories) - 1)] + rest
        return urljoin(self.base, href)


def _plain_relative(href: str) -> bool:
    """A path-relative href urljoin would append to the base's directory unchanged ("" too)."""
    path, question, query = href.partition("?")
    if question and not query:
        return False  # "x?" loses its "?" in urljoin
    return (
        ":" not in path  # "mailto:x", "c:x": a scheme, for urlsplit
        and ";" not in path  # params, which urljoin takes apart and may drop
        and "./" not in path and not path.endswith(".")  # ".", "..", "./x", "a/../b"
        and "//" not in path and not path.startswith("/")  # ".//x": an empty segment
        and "#" not in href  # cut before; "x?#f" would lose its "?"
        and href.isprintable()  # urlsplit removes tabs and newlines; other controls: leave them to it
    )  # fmt: skip
