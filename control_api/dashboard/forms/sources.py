"""The forms that create a schedule, a trigger and a webhook: browser fields in, the API's own
request model out (CreateScheduleRequest, CreateTriggerRequest, CreateWebhookRequest), so a form
accepts and refuses exactly what /v1 does, and each refusal is shown next to its field in the
API's words (without the "Field 'x': " that the API puts before them)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from functools import lru_cache
from zoneinfo import available_timezones

from pydantic import BaseModel, ValidationError
from werkzeug.datastructures import MultiDict

from contract.vocabulary import WebhookEvent
from control_api.dashboard.forms import errors as form_errors
from control_api.dashboard.forms import option_fields
from control_api.errors import ApiError
from control_api.schedules.schemas import CreateScheduleRequest
from control_api.triggers.schemas import CreateTriggerRequest
from control_api.webhooks.schemas import CreateWebhookRequest

INTERVAL_CHOICES = (1, 6, 12, 24, 48, 168)  # offered in the form's list; any 1..168 is accepted
EVENTS = tuple(event.value for event in WebhookEvent)


@dataclass
class SourceForm:
    """One form's values as typed, its errors (field name, or "form", -> message) and, once valid,
    the validated request."""

    model: type[BaseModel]
    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    request: Any = None

    def validate(self, body: dict) -> SourceForm:
        if self.errors:
            return self
        try:
            self.request = self.model.model_validate(body)
        except ValidationError as exc:
            self.errors.update(form_errors.field_errors(exc))
        return self

    def refused(self, error: ApiError, field_name: str) -> SourceForm:
        """The form again with a service refusal (target_of's 400/422 on the domain or URL)."""
        self.request = None
        self.errors[field_name] = form_errors.sentence(error.message.removeprefix(f"Field '{field_name}': "))
        return self


def _whole_number(form: MultiDict, name: str, values: dict, errors: dict) -> int | None:
    """A number field of the form's own (not an option), as an integer; empty is None."""
    values[name] = raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        errors[name] = "must be a whole number"
        return None


def blank_schedule() -> SourceForm:
    return SourceForm(CreateScheduleRequest, {"domain": "", "cadence": "interval", "interval_hours": "24", "cron": "",
                                              "timezone": "UTC", **option_fields.blank_values(),
                                              "enabled": True})  # fmt: skip


def submitted_schedule(form: MultiDict) -> SourceForm:
    """The cadence radio picks what is sent: `interval_hours`, or `cron` with `timezone` (the API
    takes exactly one cadence; the other fields' values are kept as typed, and not sent)."""
    read = option_fields.read_options(form)
    cadence = "cron" if form.get("cadence") == "cron" else "interval"
    values: dict[str, Any] = {"domain": form.get("domain", "").strip(), "cadence": cadence,
                              "cron": form.get("cron", "").strip(), "timezone": form.get("timezone", "").strip(),
                              **read.values, "enabled": "enabled" in form}  # fmt: skip
    errors = dict(read.errors)
    body = {"domain": values["domain"], "options": read.options, "enabled": values["enabled"]}
    interval_hours = _whole_number(form, "interval_hours", values, errors)
    if cadence == "interval":
        if interval_hours is not None:
            body["interval_hours"] = interval_hours
    else:
        errors.pop("interval_hours", None)  # not sent: what is typed there does not matter
        body["cron"] = values["cron"]
        if values["timezone"]:
            body["timezone"] = values["timezone"]
    return SourceForm(CreateScheduleRequest, values, errors).validate(body)


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """The IANA zones the timezone field offers, places first (any zone the API takes is accepted)."""
    places = sorted(name for name in available_timezones() if "/" in name and not name.startswith(("Etc/", "posix/", "right/")))
    return (*places, "UTC")


def blank_trigger() -> SourceForm:
    return SourceForm(CreateTriggerRequest, {"name": "", "domain": "", **option_fields.blank_values()})


def submitted_trigger(form: MultiDict) -> SourceForm:
    read = option_fields.read_options(form)
    values = {"name": form.get("name", "").strip(), "domain": form.get("domain", "").strip(), **read.values}
    body = {"name": values["name"], "domain": values["domain"], "options": read.options}
    return SourceForm(CreateTriggerRequest, values, dict(read.errors)).validate(body)


def blank_webhook() -> SourceForm:
    return SourceForm(CreateWebhookRequest, {"url": "", "events": list(EVENTS)})


def submitted_webhook(form: MultiDict) -> SourceForm:
    values = {"url": form.get("url", "").strip(), "events": form.getlist("events")}
    return SourceForm(CreateWebhookRequest, values).validate(values)

