"""Which IP addresses a crawl may connect to.

By default a crawl is refused for private, loopback, link-local, multicast, reserved and
unspecified addresses so the service cannot be aimed at the network it runs in. The operator can
allow them (ALLOW_PRIVATE_TARGETS) for development and tests. Shared by the API (at create) and the
crawler (at connect time and on redirects), without importing Scrapy.

IPv6 addresses that carry an IPv4 address are judged by the IPv4 address they lead to: a 6to4
router or a NAT64 gateway would deliver `2002:7f00:1::` or `64:ff9b::7f00:1` to 127.0.0.1.
"""
from __future__ import annotations

import ipaddress
import socket

IPv4 = ipaddress.IPv4Address
IPv6 = ipaddress.IPv6Address
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix: IPv4 in the last 32 bits
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use translation: never global


class ForbiddenTarget(Exception):
    pass


class UnresolvableHost(Exception):
    pass


def _is_global(ip: IPv4 | IPv6) -> bool:
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def embedded_ipv4(ip: IPv6) -> list[IPv4]:
    """The IPv4 addresses an IPv6 address leads to: IPv4-mapped, NAT64, 6to4, Teredo (server
    and client)."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in NAT64:
        return [IPv4(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    return []


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, IPv4):
        return _is_global(ip)
    if ip in NAT64_LOCAL:
        return False
    embedded = embedded_ipv4(ip)
    if ip.ipv4_mapped is not None or ip in NAT64:
        # The IPv6 wrapper itself is reserved address space (::ffff:0:0/96, and 64:ff9b::/96
        # inside ::/8); only where it leads matters.
        return _is_global(embedded[0])
    return _is_global(ip) and all(_is_global(ipv4) for ipv4 in embedded)


def resolve(host: str, port: int | None = None) -> list[str]:
    """The addresses of `host`, in getaddrinfo's order (the order to try them in), each once."""
    infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_host(host: str, port: int | None = None) -> list[str]:
    """Resolve `host` and raise ForbiddenTarget if any of its addresses is not public
    (UnresolvableHost if it has none).

    Every address must be public: a name that resolves to one public and one private address
    could otherwise be pinned to the private one by the connection attempt.
    """
    try:
        addresses = resolve(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"{host} does not resolve ({exc})") from None
    for address in addresses:
        if not is_public_address(address):
            raise ForbiddenTarget(f"{host} resolves to {address}, a private or reserved address")
    return addresses
