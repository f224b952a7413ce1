"""Who is signed in. The session cookie (signed, readable) holds a random session id, never the
token; the database keeps the id's SHA-256 with the API token that signed in and when the session
expires (DashboardSession). Every request looks the session up, so signing out (its row deleted),
revoking the token, or 12 idle hours end it on the server, whatever copies of the cookie exist.
Other sessions of the same token are rows of their own and carry on."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, request, session
from sqlalchemy import delete, select, update

from control_api.database import session_scope
from control_api.rate_limits import rate_limits
from control_api.organisations.tokens import find_active_token
from db.models import ApiToken, DashboardSession, Organisation, utcnow

FAILURES = "failed authentications a minute from one address"
# A session in use has its expiry pushed back at most this often: one write per visitor per few
# minutes, not one per page.
EXPIRY_REFRESH = timedelta(minutes=5)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def _lifetime() -> timedelta:
    return current_app.permanent_session_lifetime


def signed_in_organisation() -> tuple[int, str] | None:
    """(organisation id, name) while the cookie's session exists, has not expired and its token
    is active; else None (and the cookie is cleared)."""
    session_id = session.get("sid")
    if not isinstance(session_id, str):
        return None
    now = utcnow()
    with session_scope() as db:
        row = db.execute(
            select(Organisation.id, Organisation.name, DashboardSession.expires_at)
            .join(ApiToken, ApiToken.organisation_id == Organisation.id)
            .join(DashboardSession, DashboardSession.token_id == ApiToken.id)
            .where(DashboardSession.id_hash == _hash(session_id), DashboardSession.expires_at > now,
                   ApiToken.revoked_at.is_(None))
        ).first()  # fmt: skip
        if row is not None and row.expires_at - now < _lifetime() - EXPIRY_REFRESH:
            db.execute(update(DashboardSession).where(DashboardSession.id_hash == _hash(session_id))
                       .values(expires_at=now + _lifetime()))  # fmt: skip
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
    session_id = secrets.token_urlsafe(32)
    with session_scope() as db:
        row = find_active_token(db, token.strip()) if token.strip() else None
        if row is not None:
            now = utcnow()
            db.execute(delete(DashboardSession).where(DashboardSession.expires_at <= now))  # what idled out
            db.add(DashboardSession(id_hash=_hash(session_id), token_id=row.id, created_at=now,
                                    expires_at=now + _lifetime()))  # fmt: skip
    if row is None:
        rate_limits().hit("auth-failure", address, per_minute, FAILURES)
        return False
    session.clear()  # a fresh session, and with it a fresh CSRF token
    session["sid"] = session_id
    session.permanent = True  # the cookie, too, expires after PERMANENT_SESSION_LIFETIME without a visit
    return True


def sign_out() -> None:
    session_id = session.get("sid")
    if isinstance(session_id, str):
        with session_scope() as db:
            db.execute(delete(DashboardSession).where(DashboardSession.id_hash == _hash(session_id)))
    session.clear()
