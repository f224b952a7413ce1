"""The webhook domain layer: create, list, read and delete an organisation's webhooks, and list their
delivery attempts. Views call these; SQL lives here."""
from __future__ import annotations

import base64
import secrets
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from contract.addresses import ForbiddenTarget, UnresolvableHost, check_host
from control_api.base_schemas import PageQuery
from control_api.domain_errors import NotAllowed, NotFound
from control_api.organisations import limits
from control_api.queries import Page, find_owned, paginate
from control_api.webhooks.schemas import CreateWebhookRequest
from db.models import WebhookAttempt, WebhookEndpoint, WebhookMessage, utcnow

if TYPE_CHECKING:
    from control_api.config import ServiceSettings

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64


class WebhookNotFound(NotFound):
    def __init__(self, webhook_id: str):
        super().__init__("webhook_not_found", f"No webhook with id '{webhook_id}'.")


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def check_webhook_url(url: str) -> list[str]:
    """The addresses `url`'s host resolves to, all public; ForbiddenTarget if one is not.
    UnresolvableHost passes through: the caller decides what a name without addresses means."""
    parts = urlsplit(url)
    return check_host(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


def refuse_private_url(url: str) -> None:
    """At creation: the same guard as crawl targets. A name that does not resolve (yet) is accepted,
    as for crawl targets: each delivery checks again, and records the DNS error if it still fails."""
    try:
        check_webhook_url(url)
    except UnresolvableHost:
        pass


def check_url_allowed(url: str, settings: ServiceSettings) -> None:
    """422 for a URL into our own network unless ALLOW_PRIVATE_TARGETS: what /v1/webhooks and the
    dashboard's form both say."""
    if settings.allow_private_targets:
        return
    try:
        refuse_private_url(url)
    except ForbiddenTarget as exc:
        raise NotAllowed("forbidden_target", f"Field 'url': {exc}; webhooks to private addresses are not allowed.") from None


def create_webhook(session: Session, organisation_id: int, request: CreateWebhookRequest,
                   settings: ServiceSettings) -> WebhookEndpoint:
    """Raises LimitReached when the organisation has ORG_MAX_WEBHOOKS already."""
    limits.check_room(session, organisation_id, limits.WEBHOOKS, settings)
    endpoint = WebhookEndpoint(
        id=str(uuid.uuid4()), organisation_id=organisation_id, url=request.url, events=list(request.events),
        secret=new_secret(), created_at=utcnow(),
    )  # fmt: skip
    session.add(endpoint)
    session.flush()
    return endpoint


def get_webhook(session: Session, organisation_id: int, webhook_id: str) -> WebhookEndpoint:
    return find_owned(session, WebhookEndpoint, organisation_id, webhook_id, WebhookNotFound)


def delete_webhook(session: Session, organisation_id: int, webhook_id: str) -> None:
    """Its pending messages and its attempts go with it (ON DELETE CASCADE): nothing more is sent."""
    endpoint = get_webhook(session, organisation_id, webhook_id)
    session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id))


def list_webhooks(session: Session, organisation_id: int, query: PageQuery) -> Page:
    newest_first = select(WebhookEndpoint).where(WebhookEndpoint.organisation_id == organisation_id).order_by(
        WebhookEndpoint.created_at.desc(), WebhookEndpoint.id.desc())
    return paginate(session, newest_first, query.limit, query.effective_offset)


def list_deliveries(session: Session, endpoint: WebhookEndpoint, query: PageQuery) -> Page:
    """The endpoint's attempts, newest first, each with its message's event and job."""
    newest_first = (
        select(WebhookAttempt, WebhookMessage.event, WebhookMessage.job_id)
        .join(WebhookMessage, WebhookMessage.id == WebhookAttempt.message_id)
        .where(WebhookAttempt.endpoint_id == endpoint.id)
        .order_by(WebhookAttempt.attempted_at.desc(), WebhookAttempt.id.desc())
    )  # fmt: skip
    return paginate(session, newest_first, query.limit, query.effective_offset).map(_delivery)


def _delivery(row) -> dict[str, Any]:
    attempt, event, job_id = row
    return {"message_id": attempt.message_id, "event": event, "job_id": job_id, "attempted_at": attempt.attempted_at,
            "status_code": attempt.status_code, "error": attempt.error, "next_attempt_at": attempt.next_attempt_at,
            "succeeded": attempt.status_code is not None and 200 <= attempt.status_code < 300}  # fmt: skip

