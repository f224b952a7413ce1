"""The forms that create a schedule, a trigger and a webhook: browser fields in, the API's own
request model out (CreateScheduleRequest, CreateTriggerRequest, CreateWebhookRequest), so a form
accepts and refuses exactly what /v1 does, and each refusal is shown next to its field in the
API's words (without the "Field 'x': " that the API puts before them)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from werkzeug.datastructures import MultiDict

from contract.options import JobOptions
from contract.vocabulary import WebhookEvent
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
            for error in exc.errors(include_url=False):
                # ("options", "max_pages") is the max_pages field, ("events", 2) the events one
                name = next((str(part) for part in reversed(error["loc"]) if isinstance(part, str)), "form")
                message = "is required" if error["type"] == "missing" else _sentence(error["msg"])
                self.errors.setdefault(name, message)
        return self

    def refused(self, error: ApiError, field_name: str) -> SourceForm:
        """The form again with a service refusal (target_of's 400/422 on the domain or URL)."""
        self.request = None
        self.errors[field_name] = _sentence(error.message.removeprefix(f"Field '{field_name}': "))
        return self


def _whole_numbers(form: MultiDict, names: tuple[str, ...], values: dict, errors: dict) -> dict[str, int]:
    """The number fields typed, as integers; an empty one is left out (the API's default applies)."""
    numbers = {}
    for name in names:
        values[name] = raw = form.get(name, "").strip()
        if raw:
            try:
                numbers[name] = int(raw)
            except ValueError:
                errors[name] = "must be a whole number"
    return numbers


def blank_schedule() -> SourceForm:
    defaults = JobOptions()
    return SourceForm(CreateScheduleRequest, {"domain": "", "interval_hours": "24", "max_pages": defaults.max_pages,
                                              "use_sitemap": defaults.use_sitemap, "find_links": defaults.find_links,
                                              "enabled": True})  # fmt: skip


def submitted_schedule(form: MultiDict) -> SourceForm:
    values: dict[str, Any] = {"domain": form.get("domain", "").strip()}
    errors: dict[str, str] = {}
    numbers = _whole_numbers(form, ("interval_hours", "max_pages"), values, errors)
    options: dict[str, Any] = {name: numbers[name] for name in ("max_pages",) if name in numbers}
    for name in ("use_sitemap", "find_links", "enabled"):
        values[name] = name in form
    options.update(use_sitemap=values["use_sitemap"], find_links=values["find_links"])
    body = {"domain": values["domain"], "options": options, "enabled": values["enabled"]}
    if "interval_hours" in numbers:
        body["interval_hours"] = numbers["interval_hours"]
    return SourceForm(CreateScheduleRequest, values, errors).validate(body)


def blank_trigger() -> SourceForm:
    return SourceForm(CreateTriggerRequest, {"name": "", "domain": "", "max_pages": JobOptions().max_pages})


def submitted_trigger(form: MultiDict) -> SourceForm:
    values: dict[str, Any] = {"name": form.get("name", "").strip(), "domain": form.get("domain", "").strip()}
    errors: dict[str, str] = {}
    options = _whole_numbers(form, ("max_pages",), values, errors)
    body = {"name": values["name"], "domain": values["domain"], "options": options}
    return SourceForm(CreateTriggerRequest, values, errors).validate(body)


def blank_webhook() -> SourceForm:
    return SourceForm(CreateWebhookRequest, {"url": "", "events": list(EVENTS)})


def submitted_webhook(form: MultiDict) -> SourceForm:
    values = {"url": form.get("url", "").strip(), "events": form.getlist("events")}
    return SourceForm(CreateWebhookRequest, values).validate(values)


def _sentence(message: str) -> str:
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]
