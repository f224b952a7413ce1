"""Refuse crawl targets inside the service's own network unless the operator allows them."""
from __future__ import annotations

from flask import current_app

from contract.addresses import ForbiddenTarget, UnresolvableHost, check_host
from contract.targets import InvalidDomain, Target, parse_domain
from control_api.domain_errors import Invalid, NotAllowed


def target_of(domain: str) -> Target:
    """The crawl target a request's `domain` field names: 400 when it is not a host, 422 when it is
    in our own network. Jobs, schedules and triggers all take their domain through here."""
    try:
        target = parse_domain(domain)
    except InvalidDomain as exc:
        raise Invalid("invalid_domain", f"Field 'domain': {exc}.") from None
    check_target(target)
    return target


def check_target(target: Target) -> None:
    if current_app.config["ALLOW_PRIVATE_TARGETS"]:
        return
    try:
        check_host(target.host, target.port)
    except UnresolvableHost:
        return  # not our network: the crawl fails with a clear DNS error instead
    except ForbiddenTarget as exc:
        raise NotAllowed(
            "forbidden_target", f"Field 'domain': {exc}; crawling private addresses is not allowed."
        ) from None
