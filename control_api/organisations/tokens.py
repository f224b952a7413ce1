"""API tokens: created once and shown once, stored as SHA-256 hashes, revoked by setting a date."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import ApiToken, Organisation, utcnow

TOKEN_PREFIX = "cs_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_organisation(session: Session, name: str) -> tuple[Organisation, str]:
    organisation = Organisation(name=name)
    session.add(organisation)
    session.flush()
    return organisation, issue_token(session, organisation)


def issue_token(session: Session, organisation: Organisation) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(organisation_id=organisation.id, token_hash=hash_token(token), prefix=token[:10]))
    session.flush()
    return token


def find_active_token(session: Session, token: str) -> ApiToken | None:
    digest = hash_token(token)
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).one_or_none()
    # The index lookup is by hash; compare again in constant time so timing tells nothing.
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        return None
    return row


def development_token(session: Session, stored: str | None, name: str) -> tuple[str, int, bool]:
    """(token, organisation id, is_new) for `make run`'s own organisation: `stored` while it is
    active; a new token for the organisation it belonged to once it is revoked (its jobs stay in
    view); a new organisation when the database does not know it (reset, or another database)."""
    if stored:
        if (active := find_active_token(session, stored)) is not None:
            return stored, active.organisation_id, False
        revoked = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(stored))).one_or_none()
        if revoked is not None:
            return issue_token(session, revoked.organisation), revoked.organisation_id, True
    organisation, token = create_organisation(session, name)
    return token, organisation.id, True


def revoke_token(session: Session, token: str) -> bool:
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).one_or_none()
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return True
