"""A form's refusals in the API's words, each next to its field: what the request model (the one
/v1 validates with) said, as "field name (or "form") -> message"."""
from __future__ import annotations

from pydantic import ValidationError

from control_api.dashboard.forms import option_fields


def field_errors(exc: ValidationError) -> dict[str, str]:
    """The first refusal of each field: ("options", "max_pages") is the max_pages field,
    ("options", "include", 2) the include field's third line, ("events", 2) the events field."""
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        name, detail = _field(error["loc"])
        message = "is required" if error["type"] == "missing" else sentence(error["msg"])
        errors.setdefault(name, f"{detail}: {message}" if detail else message)
    return errors


def _field(loc: tuple) -> tuple[str, str]:
    if len(loc) > 1 and loc[0] == "options":
        return option_fields.field_of(loc[1:]) or ("options", "")
    return next((str(part) for part in reversed(loc) if isinstance(part, str)), "form"), ""


def sentence(message: str) -> str:
    """A pydantic message as the end of a sentence: "Value error, Must be ..." -> "must be ..."."""
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]
