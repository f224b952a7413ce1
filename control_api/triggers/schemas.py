"""Request and response schemas of publish-hook triggers (/v1/triggers, /hooks/<secret>). `domain`
and `options` are validated exactly as for a job and a schedule."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from contract.options import JobOptions
from control_api.base_schemas import Pagination, StrictModel, refuse_nul
from control_api.schedules.schemas import DOMAIN_FIELD


class CreateTriggerRequest(StrictModel):
    domain: str = DOMAIN_FIELD
    options: JobOptions = Field(default_factory=JobOptions)
    name: str = Field(min_length=1, max_length=255, description="Becomes the `source_detail` of the jobs it starts.",
                      examples=["webflow-publish"])  # fmt: skip

    no_nul = field_validator("name")(refuse_nul)


class TriggerOut(BaseModel):
    id: str
    domain: str
    options: JobOptions
    name: str
    last_job_id: str | None
    last_called_at: datetime | None
    created_at: datetime


class CreatedTrigger(TriggerOut):
    url: str = Field(description="POST here to start a crawl. Shown only now: only a hash of its secret is stored.")


class TriggerList(BaseModel):
    triggers: list[TriggerOut]
    pagination: Pagination


class TriggerPath(BaseModel):
    trigger_id: str = Field(description="The trigger's id (a UUID).")


class HookPath(BaseModel):
    secret: str = Field(description="The secret part of the trigger's URL (any other string is simply unknown: 404).")


class HookAccepted(BaseModel):
    job_id: str = Field(description="The crawl started by this call, or the trigger's crawl still created or running.")
