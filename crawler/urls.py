"""URL normalisation and site scope.

Every discovered URL is reduced to a *key* before a Request is built: fragment dropped, scheme and
host lower-cased, default port removed, query sorted (w3lib's canonicalize_url), and the scheme and
a trailing slash left out, so that `http://x/a/` and `https://x/a` are one page. An IPv6 host is
written in its compressed form and keeps its brackets in the URL and the key (`http://[::1]:8081/`):
without them its colons would read as a port. The scope decides which hosts belong to the site: the
start host, its `www.` twin, and (when allowed) every other subdomain of the registrable domain; an
IP address has no subdomains.
"""
from __future__ import annotations

import ipaddress
from functools import lru_cache
from urllib.parse import urlsplit

import tldextract
from w3lib.url import canonicalize_url

DEFAULT_PORTS = {"http": 80, "https": 443}
_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # bundled list: no network


@lru_cache(maxsize=1024)
def registrable_domain(host: str) -> str:
    """`blog.example.co.uk` -> `example.co.uk`; hosts without a public suffix keep two labels."""
    parts = _extract(host)
    if parts.suffix and parts.domain:
        return f"{parts.domain}.{parts.suffix}"
    labels = host.split(".")
    return ".".join(labels[-2:])


def normalise(url: str) -> tuple[str, str, str, int | None] | None:
    """Return (canonical url, key, host, port) or None when it is not an http(s) URL."""
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
        self.suffix = "." + registrable_domain(self.host)

    def contains(self, host: str, port: int | None) -> bool:
        if port != self.port:
            return False
        if host == self.host or host == "www." + self.host:
            return True
        return self.allow_subdomains and (host.endswith(self.suffix) or host == self.suffix[1:])
