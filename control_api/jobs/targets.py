"""Refuse crawl targets inside the service's own network unless the operator allows them."""
from __future__ import annotations

from typing import TYPE_CHECKING

from contract.addresses import ForbiddenTarget, UnresolvableHost, check_host
from contract.targets import InvalidDomain, Target, parse_domain
from control_api.domain_errors import Invalid, NotAllowed

if TYPE_CHECKING:
    from control_api.config import ServiceSettings


def target_of(domain: str, settings: ServiceSettings) -> Target:
    """The crawl target a request's `domain` field names: 400 when it is not a host, 422 when it is
    in our own network. Jobs, schedules and triggers all take their domain through here."""
    try:
        target = parse_domain(domain)
    except InvalidDomain as exc:
        raise Invalid("invalid_domain", f"Field 'domain': {exc}.") from None
    check_target(target, settings)
    return target


def check_target(target: Target, settings: ServiceSettings) -> None:
    if settings.allow_private_targets:
        return
    try:
        check_host(target.host, target.port)
    except UnresolvableHost:
        return  # not our network: the crawl fails with a clear DNS error instead
    except ForbiddenTarget as exc:
        raise NotAllowed(
            "forbidden_target", f"Field 'domain': {exc}; crawling private addresses is not allowed."
        ) from None
