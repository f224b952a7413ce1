"""How an external link check's answer is classified, shared by the crawler (which records it) and
the API (which reports it): ok, broken (HTTP >= 400), unreachable (DNS, refused, reset, TLS),
timeout, refused_to_robots (a site known to turn crawlers away answered as it does to every
crawler: reported apart, not as broken) and refused (a private address: not fetched)."""
from __future__ import annotations

from enum import StrEnum
from typing import Any

from contract.vocabulary import ErrorType, TaskStatus

# Sites that answer crawlers 999 or 403 whatever the page (LinkedIn's 999 is the well-known one);
# a host matches itself and its subdomains.
CRAWLER_REFUSING_SITES = ("linkedin.com", "instagram.com", "facebook.com", "twitter.com", "x.com", "quora.com",
                          "tiktok.com", "crunchbase.com", "glassdoor.com", "indeed.com")  # fmt: skip
REFUSING_STATUSES = (401, 403, 429, 451, 999)


class ExternalOutcome(StrEnum):
    OK = "ok"
    BROKEN = "broken"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    REFUSED_TO_ROBOTS = "refused_to_robots"
    REFUSED = "refused"  # a private, loopback or link-local target: not fetched
    EXCLUDED = "excluded"


def refuses_crawlers(host: str) -> bool:
    host = host.lower()
    return any(host == site or host.endswith("." + site) for site in CRAWLER_REFUSING_SITES)


def classify_answer(host: str, status: int) -> dict[str, Any]:
    """The record fields an HTTP answer to a check gives (the answer after redirects, GET if HEAD failed)."""
    if status < 400:
        return {"status": TaskStatus.COMPLETED}
    if status == 999 or (status in REFUSING_STATUSES and refuses_crawlers(host)):
        return {"status": TaskStatus.FAILED, "error_type": ErrorType.REFUSED_TO_ROBOTS, "is_broken": False,
                "error": f"HTTP {status}: this site refuses crawlers, so the link could not be checked"}
    server_error = status >= 500
    return {"status": TaskStatus.FAILED, "error_type": ErrorType.SERVER_ERROR if server_error else ErrorType.HTTP_ERROR,
            "error": f"HTTP {status}", "is_broken": True, "is_server_error": server_error}  # fmt: skip


UNREACHABLE = frozenset({ErrorType.DNS, ErrorType.CONNECTION_REFUSED, ErrorType.CONNECTION_ERROR, ErrorType.TLS,
                         ErrorType.NETWORK, ErrorType.REDIRECT_LOOP, ErrorType.TOO_MANY_REDIRECTS,
                         ErrorType.BAD_REDIRECT})  # fmt: skip


def outcome(status: str, error_type: str | None) -> ExternalOutcome:
    """The outcome of an external task from its recorded status and error type."""
    if status == TaskStatus.COMPLETED:
        return ExternalOutcome.OK
    if error_type == ErrorType.EXCLUDED:
        return ExternalOutcome.EXCLUDED
    if error_type == ErrorType.REFUSED_TO_ROBOTS:
        return ExternalOutcome.REFUSED_TO_ROBOTS
    if error_type == ErrorType.FORBIDDEN_TARGET:
        return ExternalOutcome.REFUSED
    if error_type == ErrorType.TIMEOUT:
        return ExternalOutcome.TIMEOUT
    if error_type in UNREACHABLE:
        return ExternalOutcome.UNREACHABLE
    return ExternalOutcome.BROKEN
