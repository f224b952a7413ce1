"""The form that starts a job: browser form fields in, the API's own request model out.

A browser sends text; the option fields (generated from JobOptions, see option_fields.py) are
turned into the types POST /v1/jobs takes and validated by the same `CreateJobRequest`, so the
dashboard accepts and refuses exactly what the API does, and each refusal is shown next to its field.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

from control_api.dashboard.forms import errors as form_errors
from control_api.dashboard.forms import option_fields
from control_api.domain_errors import DomainError
from control_api.jobs.schemas import CreateJobRequest

# start_job's refusals that are about the domain field; anything else is about the whole form.
DOMAIN_ERRORS = {"invalid_domain", "forbidden_target", "job_already_running"}


@dataclass
class CreateJobForm:
    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)  # field name (or "form") -> message
    request: CreateJobRequest | None = None

    @classmethod
    def blank(cls) -> CreateJobForm:
        return cls({"domain": "", **option_fields.blank_values(), "allow_concurrent": False})

    @classmethod
    def submitted(cls, form: MultiDict) -> CreateJobForm:
        read = option_fields.read_options(form)
        values = {"domain": form.get("domain", "").strip(), **read.values}
        values["allow_concurrent"] = "allow_concurrent" in form
        if read.errors:
            return cls(values, read.errors)
        body = {"domain": values["domain"], "options": read.options, "allow_concurrent": values["allow_concurrent"],
                "source_type": "dashboard", "source_detail": "create_job"}  # fmt: skip
        try:
            return cls(values, request=CreateJobRequest.model_validate(body))
        except ValidationError as exc:
            return cls(values, form_errors.field_errors(exc))

    def refused(self, error: DomainError) -> CreateJobForm:
        """The form again with the service's refusal (a DomainError of start_job) on its field."""
        message = error.message.removeprefix("Field 'domain': ")
        if error.code == "job_already_running":
            message = message.split("; ")[0] + '; wait for it, cancel it, or tick "Start even if" below.'
        self.errors["domain" if error.code in DOMAIN_ERRORS else "form"] = message
        return self
