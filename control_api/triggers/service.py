"""The trigger domain layer: publish hooks that start a crawl when a CMS calls their URL.

The URL's secret is the credential. Only its SHA-256 is stored and a call is looked up by the hash
of what it presents, so the database compares hashes: how long a comparison takes tells a caller
nothing about the secret's characters (the same reason tokens are stored so, control_api/organisations/tokens.py).
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from contract.targets import Target
from contract.vocabulary import SourceType
from control_api.domain_errors import NotFound
from control_api.jobs import service as jobs_service
from control_api.jobs.schemas import CreateJobRequest
from control_api.organisations import limits
from control_api.queries import find_owned
from control_api.schedules.service import previous_job_active, stored_target
from control_api.triggers.schemas import CreateTriggerRequest
from db.models import Job, Trigger, utcnow

if TYPE_CHECKING:
    from control_api.config import ServiceSettings


class TriggerNotFound(NotFound):
    """No such trigger id in the organisation, or (without an id) no trigger has the URL called."""

    def __init__(self, trigger_id: str | None = None):
        super().__init__("trigger_not_found", f"No trigger with id '{trigger_id}'." if trigger_id is not None
                         else "No trigger has this URL (it may have been deleted).")  # fmt: skip


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_trigger(session: Session, organisation_id: int, target: Target, request: CreateTriggerRequest,
                   settings: ServiceSettings) -> tuple[Trigger, str]:
    """The new trigger and its secret (256 random bits), which is not stored and so shown only now.
    Raises LimitReached when the organisation has ORG_MAX_TRIGGERS already."""
    limits.check_room(session, organisation_id, limits.TRIGGERS, settings)
    secret = secrets.token_urlsafe(32)
    trigger = Trigger(
        id=str(uuid.uuid4()),
        organisation_id=organisation_id,
        domain=jobs_service.get_or_create_domain(session, target.name),
        start_scheme=target.scheme,
        options=request.options.model_dump(),
        name=request.name,
        secret_hash=secret_hash(secret),
        created_at=utcnow(),
    )
    session.add(trigger)
    session.flush()
    return trigger, secret


def hook_path(secret: str) -> str:
    """The path a CMS calls; /v1/triggers and the dashboard both show it, once, at creation, as a
    whole URL (control_api/responses.py's public_url)."""
    return f"/hooks/{secret}"


def get_trigger(session: Session, organisation_id: int, trigger_id: str) -> Trigger:
    return find_owned(session, Trigger, organisation_id, trigger_id, TriggerNotFound)


def delete_trigger(session: Session, organisation_id: int, trigger_id: str) -> None:
    """Its URL answers 404 from now on; the jobs it started stay."""
    session.delete(get_trigger(session, organisation_id, trigger_id))


def fire(session: Session, secret: str, settings: ServiceSettings) -> tuple[Job | None, str]:
    """A call of a trigger's URL: (the new `created` job, its id), or (None, the id of the job the
    trigger, or its organisation on that domain, still has `created` or `running`). Dispatch a new
    job after commit with jobs_service.schedule_job. Raises TriggerNotFound for an unknown secret.

    The first statement writes the trigger row, so that calls of one trigger take turns until
    commit: a row lock on PostgreSQL, the database's one write lock on SQLite (a transaction that
    began with a read could not be upgraded to write once another call had committed). Each call
    then sees the job the one before it started.
    """
    hashed = secret_hash(secret)
    called = session.execute(
        update(Trigger).where(Trigger.secret_hash == hashed).values(last_called_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    if not called:
        raise TriggerNotFound()
    trigger = session.scalars(select(Trigger).where(Trigger.secret_hash == hashed)).one()
    active = previous_job_active(session, trigger)
    if active is not None:
        return None, active
    request = CreateJobRequest.model_validate(
        {"domain": trigger.domain.name, "options": trigger.options,
         "source_type": SourceType.WEBHOOK.value, "source_detail": trigger.name}
    )  # fmt: skip
    try:
        job = jobs_service.insert_job(session, trigger.organisation_id, stored_target(trigger), request, settings)
    except jobs_service.JobAlreadyRunning as exc:  # a crawl of the domain is under way already
        return None, exc.job_id
    trigger.last_job_id = job.id
    return job, job.id
