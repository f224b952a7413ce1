"""Turn what a client typed into a crawlable host: `Example.com`, `localhost:8081`, a pasted URL.

A pasted URL is reduced to its host (lower-cased, IDNA-encoded) and its scheme is kept as the start
scheme; a bare host starts at https with an http fallback. Anything else is refused with a reason.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_HOST_LENGTH = 253
MISTYPED_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/")


class InvalidDomain(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    host: str  # lower-case ASCII (IDNA) host name or IP address
    port: int | None
    scheme: str | None  # None: https first, then http

    @property
    def name(self) -> str:
        """The domain as stored and shown: host, plus the port when it is not the default.
        IPv6 addresses keep their brackets so that the name parses back to the same target."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port else host


def parse_domain(raw: str) -> Target:
    text = raw.strip()
    if not text:
        raise InvalidDomain("must not be empty")
    if any(ch.isspace() for ch in text):
        raise InvalidDomain("must not contain spaces")
    scheme = None
    if MISTYPED_SCHEME.match(text) and "://" not in text:
        raise InvalidDomain("looks like a URL with a mistyped '://'")
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme not in DEFAULT_PORTS:
            raise InvalidDomain(f"scheme {scheme!r} is not supported; use http or https")
    try:
        parts = urlsplit(text if scheme else f"//{text}")
    except ValueError as exc:  # unbalanced brackets, characters that NFKC turns into '/', '@', ...
        raise InvalidDomain(f"is not a valid host name or URL ({exc})") from None
    if parts.username is not None or parts.password is not None:
        raise InvalidDomain("must not contain credentials")
    try:
        port = parts.port
    except ValueError:
        raise InvalidDomain("has an invalid port") from None
    host = _encode_host(parts.hostname or "")
    if port is not None and not 1 <= port <= 65535:
        raise InvalidDomain("has an invalid port")
    if port is not None and scheme and DEFAULT_PORTS[scheme] == port:
        port = None
    return Target(host=host, port=port, scheme=scheme)


def _encode_host(host: str) -> str:
    host = host.rstrip(".")
    if not host:
        raise InvalidDomain("has no host name")
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidDomain(f"is not a valid host name ({exc})") from None
    if len(ascii_host) > MAX_HOST_LENGTH:
        raise InvalidDomain(f"is longer than {MAX_HOST_LENGTH} characters")
    if not all(LABEL.match(label) for label in ascii_host.split(".")):
        raise InvalidDomain("is not a valid host name")
    return ascii_host
