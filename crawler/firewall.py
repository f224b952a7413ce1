"""Bot-firewall challenges: recognise a vendor's challenge page, and end a job that keeps getting them.

A site behind a bot firewall (Cloudflare, Akamai, DataDome, Imperva, ...) that decides our crawler
is a bot answers every page with a challenge (a JavaScript or CAPTCHA interstitial, usually a 403,
429 or 503). Crawling on would record thousands of identical challenge pages and tell the user
nothing about their site, so:

- `detect` names the vendor of a challenge from the response's status, headers and the start of
  its body, by the table `SIGNATURES` (shapes captured from the vendors' challenge pages; one test
  per vendor in tests/test_firewall.py);
- the spider marks such a page's record (`mark_challenge`: error_type `firewall_challenge`, the
  vendor in `error`), in whichever process fetched it, so the mark reaches the process that
  records the job (a worker's records go to the hub);
- `ChallengeWatch`, fed every record there (crawler/lifecycle.py), says the job is blocked after
  `CRAWL_FIREWALL_CHALLENGES` consecutive challenged pages (default 5: one challenged page among
  good ones is a protected form, not a blocked crawl), or at the end when every page that got a
  response was a challenge (a blocked start page has no links, so the crawl ends after it).

The job then ends `failed` with the error `blocked_by_firewall: <vendor> ...`; the URLs not yet
fetched are recorded as skipped (interrupted), not fetched into more challenges.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contract.vocabulary import BLOCKED_BY_FIREWALL, ErrorType, TaskKind

DEFAULT_CONSECUTIVE_CHALLENGES = 5
BODY_BYTES = 32 * 1024  # challenge pages say who they are near the top; a page's tail is never read
# Where a hint is looked for: the challenges any status may carry (Imperva's iframe page, Sucuri's
# JavaScript challenge) are pages of about 1 KB that name their vendor in the first few hundred bytes.
HINT_BYTES = 4 * 1024
CHALLENGE_STATUSES = frozenset({202, 403, 405, 429, 503})


@dataclass(frozen=True)
class Signature:
    """One shape of a vendor's challenge: every condition given must hold.

    `statuses`: the HTTP statuses it comes with (None: any); `header`: a response header that must be
    present, and `header_value`, a regex its value must match (case-insensitive); `body`: markers,
    lower-case bytes, one of which the first BODY_BYTES of the body must contain; `hint`: for a
    signature that any status may carry (so every ordinary page meets it), a word of the vendor's
    that its challenge always has, looked for in the first HINT_BYTES of the raw body first. Every
    page of every crawl passes here: an ordinary 2xx page costs two substring searches of 4 KiB and
    a look at its headers (~30 µs on this loaded 2-core machine), where case-insensitive regexes over
    32 KiB cost ~4 ms; the body is lower-cased only for an error status or a hint found."""

    vendor: str
    statuses: frozenset[int] | None = None
    header: str | None = None
    header_value: str | None = None
    body: tuple[bytes, ...] = ()
    hint: bytes | None = None

    def matches(self, status: int, header: Callable[[str], str | None], raw_body: bytes,
                lowered_body: Callable[[], bytes]) -> bool:  # fmt: skip
        if self.statuses is not None and status not in self.statuses:
            return False
        if self.header is not None:
            value = header(self.header)
            if value is None or (self.header_value and not re.search(self.header_value, value, re.I)):
                return False
        if not self.body:
            return True
        if self.hint is not None and raw_body.find(self.hint, 0, HINT_BYTES) < 0:
            return False
        body = lowered_body()
        return any(marker in body for marker in self.body)


CLOUDFLARE, AKAMAI, DATADOME, IMPERVA = "Cloudflare", "Akamai", "DataDome", "Imperva (Incapsula)"
SUCURI, AWS_WAF, PERIMETERX, VERCEL, KASADA = "Sucuri", "AWS WAF", "PerimeterX (HUMAN)", "Vercel", "Kasada"

# Definitive headers first (a vendor saying "this is a challenge"), then body shapes that only a
# challenge page has, each tied to the statuses it is served with so an ordinary page that
# mentions the vendor is not taken for one.
SIGNATURES: tuple[Signature, ...] = (
    # Cloudflare: managed/JS challenges carry `cf-mitigated: challenge` (any status, usually 403).
    Signature(CLOUDFLARE, header="cf-mitigated", header_value=r"challenge"),
    # Older/JS challenges and "Attention Required" blocks: the interstitial's markers.
    Signature(CLOUDFLARE, CHALLENGE_STATUSES, body=(b"/cdn-cgi/challenge-platform/", b"__cf_chl_", b"cf-chl-", b"cf_chl_opt")),
    Signature(CLOUDFLARE, CHALLENGE_STATUSES, header="server", header_value=r"cloudflare",
              body=(b"<title>just a moment...</title>", b"<title>attention required! | cloudflare</title>")),  # fmt: skip
    # Vercel's attack-challenge mode.
    Signature(VERCEL, header="x-vercel-mitigated", header_value=r"challenge"),
    # AWS WAF challenge/CAPTCHA actions (202 for a challenge, 405 for a CAPTCHA).
    Signature(AWS_WAF, header="x-amzn-waf-action", header_value=r"challenge|captcha"),
    Signature(AWS_WAF, CHALLENGE_STATUSES, body=(b"awswafintegration", b".token.awswaf.com", b".sdk.awswaf.com")),
    # Akamai Bot Manager: "Access Denied ... Reference #18.xxxx" from AkamaiGHost, or its sec-cpt interstitial.
    Signature(AKAMAI, CHALLENGE_STATUSES, header="server", header_value=r"AkamaiGHost|AkamaiNetStorage",
              body=(b"access denied", b"reference&#32;#", b"reference #")),  # fmt: skip
    Signature(AKAMAI, CHALLENGE_STATUSES, body=(b"sec-if-cpt-container", b"/_sec/cp_challenge/", b"bm-verify")),
    # DataDome: its own headers on a blocked answer, or the captcha-delivery.com interstitial.
    Signature(DATADOME, frozenset({403, 405, 429}), header="x-datadome"),
    Signature(DATADOME, frozenset({403, 405, 429}), header="x-dd-b"),
    Signature(DATADOME, CHALLENGE_STATUSES, body=(b"captcha-delivery.com", b"var dd={")),
    # Imperva/Incapsula: the interstitial's iframe (?CWUDNSAI=, often with status 200) or its incident id.
    # Not the bare script /_Incapsula_Resource?SWJIYLWA=...: every page it serves has that.
    Signature(IMPERVA, body=(b"_incapsula_resource?cwudnsai", b"incapsula incident id", b"request unsuccessful. incapsula"),
              hint=b"ncapsula"),  # fmt: skip
    # Sucuri: its block header, or the CloudProxy JavaScript challenge / block page.
    Signature(SUCURI, header="x-sucuri-block"),
    Signature(SUCURI, body=(b"sucuri_cloudproxy_js", b"sucuri website firewall - access denied"), hint=b"ucuri"),
    # PerimeterX / HUMAN: the px-captcha block page.
    Signature(PERIMETERX, CHALLENGE_STATUSES, body=(b"px-captcha", b"_pxcaptcha", b"window._pxappid")),
    # Kasada: a 429 carrying its challenge headers.
    Signature(KASADA, frozenset({429}), header="x-kpsdk-ct"),
)


def detect(status: int, header: Callable[[str], str | None], body: bytes) -> str | None:
    """The vendor whose challenge this response is, or None. `header(name)`: a header's value or None."""
    lowered: list[bytes] = []

    def lowered_body() -> bytes:  # lower-cased once, and only when a signature reads the body
        if not lowered:
            lowered.append(body[:BODY_BYTES].lower())
        return lowered[0]

    for signature in SIGNATURES:
        if signature.matches(status, header, body, lowered_body):
            return signature.vendor
    return None


def header_reader(response: Any) -> Callable[[str], str | None]:
    """A Scrapy response's header by lower-case name, its first value decoded, or None (the
    headers are read once, on the first look-up)."""
    headers: dict[str, str] = {}

    def header(name: str) -> str | None:
        if not headers:
            headers.update((key.decode("latin-1").lower(), (values[0] if values else b"").decode("latin-1"))
                           for key, values in response.headers.items())  # fmt: skip
            headers.setdefault("", "")  # read: an empty response's headers are not read again
        return headers.get(name)

    return header


def mark_challenge(record: dict[str, Any], response: Any) -> None:
    """Mark the record of a page that came back as a firewall challenge (the spider's hook)."""
    if record["kind"] == TaskKind.SITEMAP:
        return
    vendor = detect(response.status, header_reader(response), response.body)
    if vendor is not None:
        record["error_type"] = ErrorType.FIREWALL_CHALLENGE
        record["error"] = f"{vendor} bot challenge (HTTP {response.status})"


class ChallengeWatch:
    """Counts challenged pages among the job's records, in the order they are recorded."""

    def __init__(self, threshold: int = DEFAULT_CONSECUTIVE_CHALLENGES):
        self.threshold = max(1, threshold)
        self.consecutive = 0
        self.answered_pages = 0  # pages (not resources or sitemaps) that got an HTTP response
        self.challenged_pages = 0
        self.vendor: str | None = None
        self.first_url: str | None = None

    def observe(self, record: dict[str, Any]) -> str | None:
        """Take one record; returns the job's error once `threshold` challenges came in a row."""
        if record["kind"] != TaskKind.PAGE or record["http_status"] is None:
            return None
        self.answered_pages += 1
        if record["error_type"] != ErrorType.FIREWALL_CHALLENGE:
            self.consecutive = 0
            return None
        self.challenged_pages += 1
        self.consecutive += 1
        if self.vendor is None:
            self.vendor, self.first_url = record["error"].split(" bot challenge", 1)[0], record["url"]
        return self.verdict() if self.consecutive >= self.threshold else None

    def verdict_at_end(self) -> str | None:
        """At the end of a crawl: blocked when every page that got a response was a challenge."""
        if self.challenged_pages and self.challenged_pages == self.answered_pages:
            return self.verdict()
        return None

    def verdict(self) -> str:
        return (f"{BLOCKED_BY_FIREWALL}: {self.vendor} answered {self.consecutive} consecutive page(s) with a "
                f"bot challenge (first: {self.first_url}); allow the crawler's user agent in the firewall")  # fmt: skip
