"""Bearer-token authentication for /v1, a per-token rate limit and a per-address limit on failed
authentications.

The organisation of the token is put on `flask.g.organisation_id`; every query for jobs is scoped
by it, so another organisation's job is simply not found (404, never 403). Both limits are counted
in storage every API worker shares (control_api/rate_limits.py).
"""
from __future__ import annotations

from flask import current_app, g, request

from control_api.database import session_scope
from control_api.errors import ApiError
from control_api.organisations.tokens import find_active_token
from control_api.rate_limits import rate_limits

REALM = "crawl-service"


def authenticate() -> None:
    # Guessing tokens costs a minute per AUTH_FAILURES_PER_MINUTE wrong ones. The address is the
    # socket's peer: X-Forwarded-For is the client's own to write, so it is not trusted. (Behind a
    # reverse proxy every client would share the proxy's address; we run without one.)
    address = request.remote_addr or ""
    failures_per_minute = current_app.config["AUTH_FAILURES_PER_MINUTE"]
    limits, what = rate_limits(), "failed authentications a minute from one address"
    limits.check("auth-failure", address, failures_per_minute, what)
    try:
        g.organisation_id, g.token_id = _verify_token(request.headers.get("Authorization", ""))
    except ApiError:
        # Counted in one step with the check: of failures racing in on several workers, those
        # past the limit are 429 too, not 401.
        limits.hit("auth-failure", address, failures_per_minute, what)
        raise
    limits.hit("token", g.token_id, current_app.config["RATE_LIMIT_PER_MINUTE"], "requests a minute")


def _verify_token(header: str) -> tuple[int, int]:
    """(organisation id, token id) of the bearer token in `header`; 401 otherwise."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header:
        raise _unauthorized("Missing Authorization header; send 'Authorization: Bearer <token>'.")
    if scheme.lower() != "bearer" or not token or " " in token:
        raise _unauthorized("Malformed Authorization header; expected 'Bearer <token>'.", "invalid_request")
    with session_scope() as session:
        row = find_active_token(session, token)
        if row is None:
            raise _unauthorized("The token is unknown or has been revoked.", "invalid_token")
        return row.organisation_id, row.id


def _unauthorized(message: str, error: str | None = None) -> ApiError:
    """401 with the challenge RFC 6750 asks for: no error code when no credentials were sent."""
    challenge = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})
