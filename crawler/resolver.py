"""DNS resolver that refuses private targets and can pin host names to addresses.

Installed through Scrapy's TWISTED_DNS_RESOLVER as the reactor's name resolver, so the check runs
on the very addresses each connection is made to: a name that resolved to a public address when
the job was created but to 10.0.0.1 now is refused here, and so is a redirect into a private range,
IP literals included (Twisted hands `127.0.0.1` and `::1` to the resolver too). It resolves IPv4
and IPv6 (Scrapy's default resolver is IPv4-only, so an `http://[::1]/` target could not be
crawled at all). CRAWL_HOST_MAP pins names to addresses (like curl --resolve) for tests and for
staging hosts; a pinned name is the operator's explicit choice, so it is not checked, while every
other name (and every IP literal) is.

The rules are `AddressGuard`'s, which the default download handler (aiohttp's client,
crawler/handlers.py) applies through its own resolver; the reactor's resolver below still guards
Twisted's handler and every other connection Twisted makes.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
from typing import TYPE_CHECKING

from scrapy.utils.datatypes import LocalCache
from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IHostnameResolver, IHostResolution
from twisted.internet.threads import deferToThreadPool
from zope.interface import implementer

from contract.addresses import forbidden_reason, is_public_address, resolve

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class ForbiddenAddressError(DNSLookupError):
    """The host resolved to a private, loopback, link-local or reserved address."""


# Twisted turns a resolver's error into a generic "no results for hostname lookup", so the reason
# a host was refused is kept here for the spider to record per URL. A module-level table on purpose:
# Scrapy builds the reactor's resolver once per process from the CrawlerProcess, not from a Crawler
# (scrapy/crawler.py, build_from_crawler(resolver_class, self)), so it has no crawler, no signals
# and no components to hand the reason to; and each crawl runs in a process of its own.
REFUSED_HOSTS: dict[str, str] = {}


def parse_host_map(text: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {host.strip().lower(): address.strip() for host, address in pairs}


@implementer(IHostResolution)
class HostResolution:
    def __init__(self, name: str):
        self.name = name

    def cancel(self) -> None:  # pragma: no cover - HostnameEndpoint never cancels a resolution
        raise NotImplementedError


class AddressGuard:
    """The rules both HTTP clients' resolvers apply (Twisted's below, aiohttp's in
    crawler/handlers.py): pinned names, the test suite's loopback-only mode, and no private answer."""

    def __init__(self, host_map: dict[str, str], allow_private: bool, loopback_only: bool = False,
                 cache_size: int = 0):  # fmt: skip
        self.host_map = host_map
        self.allow_private = allow_private
        self.loopback_only = loopback_only
        self.cache: LocalCache[str, list[str]] = LocalCache(cache_size)

    @classmethod
    def from_settings(cls, settings) -> AddressGuard:
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        return cls(
            parse_host_map(settings.get("CRAWL_HOST_MAP", "")),
            settings.getbool("CRAWL_ALLOW_PRIVATE_TARGETS"),
            settings.getbool("CRAWL_LOOPBACK_ONLY"),
            cache_size,
        )

    def known(self, name: str) -> list[str] | None:
        """The addresses for `name` without a look-up (pinned, cached, or a loopback-only decision,
        which raises when it refuses), or None when it must be looked up and then `check`ed."""
        pinned = self.host_map.get(name.lower())
        if pinned:  # pinned by the operator: trusted, even when private
            return [pinned]
        if self.loopback_only:
            return self._loopback(name)
        return self.cache.get(name)

    def literal(self, host: str) -> list[str] | None:
        """The guard's answer for a host that is an IP literal (None for a name): aiohttp connects to
        a literal without asking its resolver, so its handler asks here first."""
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return None
        return self.known(host) or self.check([host.strip("[]")], host)

    def _loopback(self, name: str) -> list[str]:
        """CRAWL_LOOPBACK_ONLY (the test suite): a loopback literal or `localhost`, else refused
        without a look-up, so that no test can resolve or reach a public name by mistake."""
        literal = name.strip("[]")
        if literal.lower().endswith(".invalid"):  # RFC 6761: never exists, so no look-up is needed to say so
            raise DNSLookupError(f"{name}: Name or service not known")
        if literal.lower() == "localhost":
            return self.check(["127.0.0.1"], name)
        try:
            if ipaddress.ip_address(literal).is_loopback:  # still subject to the private-address guard
                return self.check([literal], name)
        except ValueError:
            pass
        reason = f"{name}: not a loopback address or a name pinned in CRAWL_HOST_MAP (CRAWL_LOOPBACK_ONLY, refused)"
        REFUSED_HOSTS[name.lower()] = reason
        raise ForbiddenAddressError(reason)

    @staticmethod
    def lookup(name: str) -> list[str]:
        try:
            return resolve(name)
        except (socket.gaierror, UnicodeError) as exc:
            raise DNSLookupError(f"{name}: {exc}") from None

    def check(self, addresses: list[str], name: str) -> list[str]:
        """Every address must be public: a client tries each in turn, so one private address
        among public ones would still be connected to."""
        if not self.allow_private:
            for address in addresses:
                if not is_public_address(address):
                    reason = f"{forbidden_reason(name)} (refused)"
                    REFUSED_HOSTS[name.lower()] = reason
                    raise ForbiddenAddressError(reason)
        self.cache[name] = addresses  # a no-op when DNSCACHE_ENABLED is off
        return addresses


@implementer(IHostnameResolver)
class GuardedResolver:
    """Twisted's name resolver with the guard (for the Twisted download handler, and Twisted's own
    connections)."""

    def __init__(self, reactor, cache_size: int, timeout: float, host_map: dict[str, str], allow_private: bool,
                 loopback_only: bool = False, guard: AddressGuard | None = None):  # fmt: skip
        self.reactor = reactor
        self.timeout = timeout
        self.guard = guard or AddressGuard(host_map, allow_private, loopback_only, cache_size)

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor):
        guard = AddressGuard.from_settings(crawler.settings)
        return cls(reactor, 0, crawler.settings.getfloat("DNS_TIMEOUT"), {}, False, guard=guard)

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    def resolveHostName(self, resolutionReceiver, hostName: str, portNumber: int = 0, addressTypes=None,
                        transportSemantics: str = "TCP") -> IHostResolution:  # fmt: skip
        resolution = HostResolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)

        def deliver(addresses: list[str]) -> None:
            for address in addresses:
                kind = IPv6Address if ":" in address else IPv4Address
                resolutionReceiver.addressResolved(kind("TCP", address, portNumber))

        def no_addresses(failure) -> None:  # the endpoint then fails with DNSLookupError
            logger.debug("%s: no address to connect to (%s)", hostName, failure.value)

        d = self.addresses(hostName)
        d.addCallbacks(deliver, no_addresses)
        d.addBoth(lambda _: resolutionReceiver.resolutionComplete())
        return resolution

    def addresses(self, name: str) -> defer.Deferred:
        """The addresses to connect to for `name`: pinned, cached, or looked up and checked."""
        try:
            known = self.guard.known(name)
        except Exception:
            return defer.fail()
        if known is not None:
            return defer.succeed(known)
        d = deferToThreadPool(self.reactor, self.reactor.getThreadPool(), self.guard.lookup, name)
        d.addTimeout(self.timeout, self.reactor)
        return d.addCallback(self._check, name)

    def _check(self, addresses: list[str], name: str) -> list[str]:
        return self.guard.check(addresses, name)
