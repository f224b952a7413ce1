"""Per-organisation caps: how many schedules, triggers and webhooks an organisation may keep, and
how many of its jobs may be in flight (`created`, waiting for a slot included, or `running`).

The services check them (schedules_service, triggers_service, webhooks_service, and
jobs_service.insert_job, which every job goes through: the API, the dashboard, a schedule's run
and a trigger URL), so every surface refuses alike; LimitReached becomes 409 `limit_reached` in
one place (control_api/errors.py), and the dashboard shows its message on the form. Settings
`ORG_MAX_*` (control_api/config.py), handed to the services in a ServiceSettings by their callers;
0 turns a cap off.

Counting and creating must not interleave, or parallel creates would each see room for one more:
the check first writes the organisation's row, so one organisation's creates take turns until
commit (a row lock on PostgreSQL, the database's one write lock on SQLite), as trigger calls do.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from contract.vocabulary import JobStatus
from db.models import Job, Organisation, Schedule, Trigger, WebhookEndpoint

if TYPE_CHECKING:
    from control_api.config import ServiceSettings


@dataclass(frozen=True)
class Cap:
    setting: str
    what: str  # "schedules", as in "at most 200 schedules"
    model: type
    advice: str = "delete one to add another"

    def count(self, session: Session, organisation_id: int) -> int:
        query = select(func.count()).select_from(self.model).where(self.model.organisation_id == organisation_id)
        if self.model is Job:
            query = query.where(Job.status.in_(JobStatus.active()))
        return session.scalar(query)


SCHEDULES = Cap("ORG_MAX_SCHEDULES", "schedules", Schedule)
TRIGGERS = Cap("ORG_MAX_TRIGGERS", "triggers", Trigger)
WEBHOOKS = Cap("ORG_MAX_WEBHOOKS", "webhooks", WebhookEndpoint)
JOBS_IN_FLIGHT = Cap("ORG_MAX_JOBS_IN_FLIGHT", "jobs in flight (created or running)", Job,
                     "wait for one to finish, or cancel one")  # fmt: skip


class LimitReached(Exception):
    """One more would take the organisation past a cap."""

    def __init__(self, cap: Cap, value: int):
        self.cap, self.value = cap, value
        super().__init__(f"Limit reached: your organisation may have at most {value} {cap.what} ({cap.setting}); "
                         f"{cap.advice}.")  # fmt: skip

    @property
    def message(self) -> str:
        return str(self)


def check_room(session: Session, organisation_id: int, cap: Cap, settings: ServiceSettings) -> None:
    """Raise LimitReached unless the organisation has room for one more; call in the transaction
    that then adds it, before anything else is locked (the organisation's row comes first)."""
    value = settings.org_caps[cap.setting]
    if not value:
        return
    session.execute(
        update(Organisation).where(Organisation.id == organisation_id).values(name=Organisation.name)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if cap.count(session, organisation_id) >= value:
        raise LimitReached(cap, value)
