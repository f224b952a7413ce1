"""The outbox of outgoing webhooks: a job's state change, recorded as messages to send.

Whoever moves a job (the crawler when it starts and finishes, the API when it cancels or cannot
dispatch, the reconciler when a crawler died) calls `record_job_event` in the SAME transaction as
the status update. So a message exists exactly when the change was committed: no event for a change
rolled back, no change without its event, even if a process dies right after. The sender
(control_api/webhooks/sender.py) delivers the messages later, with retries.

One message per subscribed endpoint of the job's organisation; the unique (endpoint, job, event)
constraint makes each event fire once per job even if it were recorded twice.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from contract.vocabulary import WebhookEvent
from db.models import Job, WebhookEndpoint, WebhookMessage, utcnow


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def record_job_event(session: Session, job_id: str, status: str, at: datetime | None = None) -> int:
    """Queue the event of job `job_id` entering `status` (at `at`, by default now) for every endpoint
    of its organisation subscribed to it; returns how many messages were queued. Call inside the
    transaction that changed the status."""
    return record_event(session, job_id, WebhookEvent.for_status(status), at)


def record_event(session: Session, job_id: str, event: WebhookEvent, at: datetime | None = None) -> int:
    """Queue `event` of job `job_id` for every endpoint of its organisation subscribed to it (once per
    endpoint, job and event); returns how many messages were queued. Call inside the transaction
    whose change the event tells."""
    organisation_id = session.scalar(select(Job.organisation_id).where(Job.id == job_id))
    endpoints = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.organisation_id == organisation_id)
    ).all()
    # An organisation has a handful of endpoints: filtering their event lists here is simpler than a
    # JSON containment query that each database spells differently.
    subscribed = [endpoint.id for endpoint in endpoints if event in endpoint.events]
    if not subscribed:
        return 0
    now = utcnow()
    rows = [
        {"id": new_message_id(), "endpoint_id": endpoint_id, "job_id": job_id, "event": event.value,
         "created_at": at or now, "attempts": 0, "next_attempt_at": now}
        for endpoint_id in subscribed
    ]  # fmt: skip
    dialect_insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    session.execute(dialect_insert(WebhookMessage).values(rows).on_conflict_do_nothing())
    return len(rows)
