"""Refuse crawl targets inside the service's own network unless the operator allows them."""
from __future__ import annotations

from flask import current_app

from contract.targets import Target
from control_api.errors import ApiError
from contract.addresses import ForbiddenTarget, UnresolvableHost, check_host


def check_target(target: Target) -> None:
    if current_app.config["ALLOW_PRIVATE_TARGETS"]:
        return
    try:
        check_host(target.host, target.port)
    except UnresolvableHost:
        return  # not our network: the crawl fails with a clear DNS error instead
    except ForbiddenTarget as exc:
        raise ApiError(
            422, "forbidden_target", f"Field 'domain': {exc}; crawling private addresses is not allowed."
        ) from None
