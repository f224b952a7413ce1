"""The form that starts a job: browser form fields in, the API's own request model out.

A browser sends text; the fields are turned into the types POST /v1/jobs takes (numbers as
integers, a checkbox as a boolean) and validated by the same `CreateJobRequest`, so the dashboard
accepts and refuses exactly what the API does, and each refusal is shown next to its field.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

from contract.options import JobOptions
from control_api.errors import ApiError
from control_api.jobs.schemas import CreateJobRequest

NUMBER_FIELDS = ("max_pages", "concurrency", "slow_page_threshold_ms")
CHECKBOXES = ("use_sitemap", "find_links", "allow_cross_subdomain_links", "check_resources")
# start_job's refusals that are about the domain field; anything else is about the whole form.
DOMAIN_ERRORS = {"invalid_domain", "forbidden_target", "job_already_running"}


@dataclass
class CreateJobForm:
    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)  # field name (or "form") -> message
    request: CreateJobRequest | None = None

    @classmethod
    def blank(cls) -> CreateJobForm:
        return cls({"domain": "", **JobOptions().model_dump(), "allow_concurrent": False})

    @classmethod
    def submitted(cls, form: MultiDict) -> CreateJobForm:
        values: dict[str, Any] = {"domain": form.get("domain", "").strip()}
        options: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name in NUMBER_FIELDS:
            values[name] = raw = form.get(name, "").strip()
            if raw:  # empty: the API's default
                try:
                    options[name] = int(raw)
                except ValueError:
                    errors[name] = "must be a whole number"
        for name in CHECKBOXES:
            options[name] = values[name] = name in form
        values["allow_concurrent"] = "allow_concurrent" in form
        if errors:
            return cls(values, errors)
        body = {"domain": values["domain"], "options": options, "allow_concurrent": values["allow_concurrent"],
                "source_type": "dashboard", "source_detail": "create_job"}  # fmt: skip
        try:
            return cls(values, request=CreateJobRequest.model_validate(body))
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                errors.setdefault(str(error["loc"][-1]) if error["loc"] else "form", _sentence(error["msg"]))
            return cls(values, errors)

    def refused(self, error: ApiError) -> CreateJobForm:
        """The form again with the service's refusal (an ApiError of start_job) on its field."""
        message = error.message.removeprefix("Field 'domain': ")
        if error.code == "job_already_running":
            message = message.split("; ")[0] + '; wait for it, cancel it, or tick "Start even if" below.'
        self.errors["domain" if error.code in DOMAIN_ERRORS else "form"] = message
        return self


def _sentence(message: str) -> str:
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]
