"""Which IP addresses a crawl may connect to.

By default a crawl is refused for private, loopback, link-local, multicast, reserved and
unspecified addresses so the service cannot be aimed at the network it runs in. The operator can
allow them (ALLOW_PRIVATE_TARGETS) for development and tests. Shared by the API (at create) and the
crawler (at connect time and on redirects), without importing Scrapy.
"""
from __future__ import annotations

import ipaddress
import socket


class ForbiddenTarget(Exception):
    pass


class UnresolvableHost(Exception):
    pass


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def resolve(host: str, port: int | None = None) -> list[str]:
    infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


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
