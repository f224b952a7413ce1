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


def revoke_token(session: Session, token: str) -> bool:
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).one_or_none()
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return True
