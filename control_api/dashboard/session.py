"""Who is signed in: the session cookie holds the id of the API token that signed in (never the
token itself, the cookie is signed but readable), checked against the database on every request."""
from __future__ import annotations

from flask import current_app, request, session
from sqlalchemy import select

from control_api.database import session_scope
from control_api.rate_limits import rate_limits
from control_api.tokens import find_active_token
from db.models import ApiToken, Organisation

FAILURES = "failed authentications a minute from one address"


def signed_in_organisation() -> tuple[int, str] | None:
    """(organisation id, name) of the session's token while that token is active, else None."""
    token_id = session.get("token_id")
    if not isinstance(token_id, int):
        return None
    with session_scope() as db:
        row = db.execute(
            select(Organisation.id, Organisation.name)
            .join(ApiToken, ApiToken.organisation_id == Organisation.id)
            .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        ).first()
    if row is None:
        session.clear()
        return None
    return row.id, row.name


def sign_in(token: str) -> bool:
    """Start a session for `token` when it is active. Failures count against the same per-address
    limit as /v1's (429 past it), so the form is no faster way to guess tokens."""
    address = request.remote_addr or ""
    per_minute = current_app.config["AUTH_FAILURES_PER_MINUTE"]
    rate_limits().check("auth-failure", address, per_minute, FAILURES)
    with session_scope() as db:
        row = find_active_token(db, token.strip()) if token.strip() else None
        token_id = row.id if row is not None else None
    if token_id is None:
        rate_limits().hit("auth-failure", address, per_minute, FAILURES)
        return False
    session.clear()  # a fresh session, and with it a fresh CSRF token
    session["token_id"] = token_id
    session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME without a visit
    return True


def sign_out() -> None:
    session.clear()
