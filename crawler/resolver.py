"""DNS resolver that refuses private targets and can pin host names to addresses.

Installed through Scrapy's DNS_RESOLVER, so the check runs on the very address each connection is
made to: a name that resolved to a public address when the job was created but to 10.0.0.1 now is
refused here, and so is a redirect into a private range. CRAWL_HOST_MAP pins names to addresses
(like curl --resolve) for tests and for staging hosts; a pinned name is the operator's explicit
choice, so it is not checked, while every other name (and every IP literal) is.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.resolver import CachingThreadedResolver
from twisted.internet import defer
from twisted.internet.error import DNSLookupError

from crawler.addresses import is_public_address

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class ForbiddenAddressError(DNSLookupError):
    """The host resolved to a private, loopback, link-local or reserved address."""


# Twisted turns a resolver's error into a generic "no results for hostname lookup", so the reason
# a host was refused is kept here (one crawl per process) for the spider to record per URL.
REFUSED_HOSTS: dict[str, str] = {}


def parse_host_map(text: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {host.strip().lower(): address.strip() for host, address in pairs}


class GuardedResolver(CachingThreadedResolver):
    def __init__(self, reactor, cache_size, timeout, host_map: dict[str, str], allow_private: bool):
        super().__init__(reactor, cache_size, timeout)
        self.host_map = host_map
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor):
        settings = crawler.settings
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        return cls(
            reactor,
            cache_size,
            settings.getfloat("DNS_TIMEOUT"),
            parse_host_map(settings.get("CRAWL_HOST_MAP", "")),
            settings.getbool("CRAWL_ALLOW_PRIVATE_TARGETS"),
        )

    def getHostByName(self, name, timeout=()):
        pinned = self.host_map.get(name.lower())
        if pinned:  # pinned by the operator: trusted, even when private
            return defer.succeed(pinned)
        return super().getHostByName(name, timeout).addCallback(self._check, name)

    def _check(self, address: str, name: str) -> str:
        if not self.allow_private and not is_public_address(address):
            reason = f"{name} resolves to {address}, a private or reserved address (refused)"
            REFUSED_HOSTS[name.lower()] = reason
            raise ForbiddenAddressError(reason)
        return address
