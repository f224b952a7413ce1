"""Request and response schemas of /v1/webhooks, and the body of a delivered event."""
from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from contract.changes import Comparison
from contract.vocabulary import WebhookEvent
from control_api.base_schemas import PageQuery, Pagination, refuse_nul, StrictModel
from control_api.jobs.schemas import JobOut

# The event names as a Literal: a strict model takes a JSON string for it (an Enum field would want
# an enum member), and the OpenAPI document lists the names.
EventName = Literal[tuple(event.value for event in WebhookEvent)]  # type: ignore[valid-type]


class CreateWebhookRequest(StrictModel):
    url: str = Field(max_length=2048, description="An http or https URL; it is POSTed each event.",
                     examples=["https://hooks.example.com/crawls"])  # fmt: skip
    events: list[EventName] = Field(min_length=1, max_length=len(WebhookEvent), description="Which events to send.")

    no_nul = field_validator("url")(refuse_nul)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises ValueError for a port that is not a number or out of range)
        except ValueError as exc:
            raise ValueError(f"not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http or https URL with a host, e.g. https://hooks.example.com/crawls")
        if any(character.isspace() for character in value):
            raise ValueError("must not contain whitespace")
        if not value.isascii():
            raise ValueError("must be ASCII: write the host in punycode (xn--...) and percent-encode the path")
        return value

    @field_validator("events")
    @classmethod
    def _each_once(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[EventName]
    created_at: datetime


class CreatedWebhook(WebhookOut):
    secret: str = Field(
        description="`whsec_` + base64 of 32 random bytes: the key of every delivery's `webhook-signature`. "
        "Shown only in this response."
    )


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]
    pagination: Pagination


class WebhookPath(BaseModel):
    webhook_id: str = Field(description="The webhook's id, as returned when it was created.")


class ListWebhooksQuery(PageQuery):
    """Query string of GET /v1/webhooks."""

    limit: int = Field(10, ge=1, le=100)


class ListDeliveriesQuery(PageQuery):
    """Query string of GET /v1/webhooks/{id}/deliveries."""

    limit: int = Field(50, ge=1, le=1000)


class DeliveryOut(BaseModel):
    """One attempt to deliver one message."""

    message_id: str = Field(description="The `webhook-id` header: the same for every attempt of one message.")
    event: EventName
    job_id: str
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null when no answer came.")
    error: str | None = Field(description="Why the attempt failed when there was no answer (timeout, refused ...).")
    succeeded: bool
    next_attempt_at: datetime | None = Field(description="When the message is tried again; null after a success or the last try.")


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut] = Field(description="Newest first.")
    pagination: Pagination


class IssueCounts(BaseModel):
    broken_links: int
    slow_pages: int


class WebhookJob(JobOut):
    """The job as GET /v1/jobs/{id} renders it, plus its issue counts (and, for `job.completed` and
    `job.regressed`, what changed since the previous crawl)."""

    issue_counts: IssueCounts
    changes: Comparison | None = Field(
        None, description="`job.completed` and `job.regressed` only: what changed since the organisation's previous "
        "completed crawl of the domain, as GET /v1/jobs/{id}/changes summarises it; null for a first crawl."
    )


class WebhookPayload(BaseModel):
    """The JSON body POSTed to a webhook (Standard Webhooks)."""

    type: EventName
    timestamp: datetime = Field(description="When the event happened.")
    data: WebhookJob
