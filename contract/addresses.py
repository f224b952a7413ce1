"""Which IP addresses a crawl may connect to.

By default a crawl is refused for private, loopback, link-local, multicast, reserved and
unspecified addresses so the service cannot be aimed at the network it runs in. The operator can
allow them (ALLOW_PRIVATE_TARGETS) for development and tests. Shared by the API (at create) and the
crawler (at connect time and on redirects), without importing Scrapy.

What is public comes from the IANA IPv4 and IPv6 Special-Purpose Address Registries, in the form
CPython's `ipaddress` keeps them: `SPECIAL_PURPOSE_SOURCE` names the release whose tables are
written down below. Older Pythons (this project runs on 3.11) have older tables, in which
192.0.0.8, 192.0.0.11-255 and 3fff::/20 are public; newer ones may know more blocks. So an address
is public only when both these tables and the running Python's `is_global` say so: upgrading Python
can only add blocks. On top of the registries we refuse multicast, reserved, unspecified and the
deprecated site-local fec0::/10 (RFC 3879: never on the internet, still routed inside some networks).

IPv6 addresses that carry an IPv4 address are judged by the IPv4 address they lead to: a NAT64
gateway would deliver `64:ff9b::7f00:1` to 127.0.0.1. 6to4 (2002::/16) and Teredo (2001::/32) are
outside the public blocks altogether.

A refusal never says which address a name resolved to: that would map the service's own network
for whoever asks (`intranet.example resolves to 10.0.3.7`).
"""
from __future__ import annotations

import ipaddress
import socket

IPv4 = ipaddress.IPv4Address
IPv6 = ipaddress.IPv6Address
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix: IPv4 in the last 32 bits

SPECIAL_PURPOSE_SOURCE = "CPython 3.14 ipaddress (IANA special-purpose address registries, RFC 9637 included)"
# Blocks the registries mark not globally reachable, and the blocks inside them that are.
NOT_GLOBAL_IPV4 = tuple(ipaddress.IPv4Network(block) for block in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.0.170/31", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "240.0.0.0/4", "255.255.255.255/32",
))  # fmt: skip
GLOBAL_IPV4 = tuple(ipaddress.IPv4Network(block) for block in ("192.0.0.9/32", "192.0.0.10/32"))
NOT_GLOBAL_IPV6 = tuple(ipaddress.IPv6Network(block) for block in (
    "::1/128", "::/128", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16",
    "3fff::/20", "fc00::/7", "fe80::/10",
))  # fmt: skip
GLOBAL_IPV6 = tuple(ipaddress.IPv6Network(block) for block in (
    "2001:1::1/128", "2001:1::2/128", "2001:3::/32", "2001:4:112::/48", "2001:20::/28", "2001:30::/28",
))  # fmt: skip
SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")


class ForbiddenTarget(Exception):
    pass


class UnresolvableHost(Exception):
    pass


def registries_say_global(ip: IPv4 | IPv6) -> bool:
    not_global, exceptions = (NOT_GLOBAL_IPV4, GLOBAL_IPV4) if ip.version == 4 else (NOT_GLOBAL_IPV6, GLOBAL_IPV6)
    return not any(ip in block for block in not_global) or any(ip in block for block in exceptions)


def _is_global(ip: IPv4 | IPv6) -> bool:
    return (registries_say_global(ip) and ip.is_global
            and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip in SITE_LOCAL))  # fmt: skip


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
    embedded = embedded_ipv4(ip)
    if ip.ipv4_mapped is not None or ip in NAT64:
        # The IPv6 wrapper itself is reserved address space (::ffff:0:0/96, and 64:ff9b::/96
        # inside ::/8); only where it leads matters.
        return _is_global(embedded[0])
    return _is_global(ip) and all(_is_global(ipv4) for ipv4 in embedded)


def forbidden_reason(host: str) -> str:
    """Why `host` is refused, without the address it resolved to."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        return f"{host} is a private or reserved address"
    except ValueError:
        return f"{host} resolves to a private or reserved address"


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
            raise ForbiddenTarget(forbidden_reason(host))
    return addresses
