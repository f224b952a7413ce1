"""The job option fields of the dashboard's forms, generated from `contract.options.JobOptions`.

Every form that takes options (new crawl, new schedule, new trigger) renders them with one macro
(templates/dashboard/option_fields.html) and reads them back with `read_options`, so an option
added to JobOptions appears in every form, with its label (the field's description), input type,
bounds (ge/gt/le/lt) and default, and no dashboard file changes. A description's text after its
first "; " is the hint under the input ("Most pages to crawl; 0 means unlimited": label "Most pages
to crawl", hint "0 means unlimited. 0 or more."), except on a checkbox. How a type is shown and read:

  bool              a checkbox; unticked is False
  int, float        a number input with min/max; empty is the default (None if the type allows it)
  str               a text input (a password input if secret); empty is the default (None if allowed)
  Literal, Enum     a select of the choices
  list[str]         a textarea, one entry per line (blank lines dropped)
  dict[str, str]    a textarea, one "Name: value" per line
  a small model     a fieldset of its own fields, named "outer.inner"; all left empty is the
                    default (None if allowed)

A secret (a `SecretStr`, or `json_schema_extra={"secret": True}`) is a password input whose value
is never put back into a page, and a list row shows only that it is set. A field whose name ends
in `_ms` shows "ms" after its bounds. A type not in the table is refused when the fields are first
built (TypeError naming the option), not when someone opens a form.

One module past the usual ~300 lines because it is one thing: the table above, both ways (the
field a type renders as and the parser that reads it back), which must change together.
"""
from __future__ import annotations

import enum
import math
import types
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from werkzeug.datastructures import MultiDict

from contract.options import JobOptions

# The model the forms are generated from; a test replaces it with a subclass holding extra options.
MODEL: type[BaseModel] = JobOptions

INPUT_KINDS = ("number", "text", "password", "select")  # side by side in a row
TEXTAREA_KINDS = ("lines", "pairs")


@dataclass(frozen=True)
class OptionField:
    name: str  # the form field's name and id: "max_pages", or "basic_auth.password" inside a model
    key: str  # the option's own name in its model
    label: str
    kind: str  # checkbox, number, text, password, select, lines, pairs or group
    hint: str = ""
    default: Any = None
    nullable: bool = False  # the type allows None: an empty input means None
    number_type: type = int
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    enum_type: type[enum.Enum] | None = None
    children: tuple[OptionField, ...] = ()

    @property
    def step(self) -> str:
        return "1" if self.number_type is int else "any"


def option_fields() -> tuple[OptionField, ...]:
    return fields_of(MODEL)


@lru_cache(maxsize=8)
def fields_of(model: type[BaseModel], prefix: str = "") -> tuple[OptionField, ...]:
    return tuple(_field(prefix + name, name, info) for name, info in model.model_fields.items())


def _field(name: str, key: str, info: FieldInfo) -> OptionField:
    annotation, nullable = _without_none(info.annotation)
    description = (info.description or key.replace("_", " ").capitalize()).rstrip(".")
    default = None if info.is_required() else info.get_default(call_default_factory=True)
    if annotation is bool:  # a checkbox's label is the whole description
        return OptionField(name, key, description, "checkbox", default=default, nullable=nullable)
    label, _, note = description.partition("; ")  # "Most pages to crawl; 0 means unlimited"
    note = f"{note[:1].upper()}{note[1:]}." if note else ""
    common = {"name": name, "key": key, "label": label, "default": default, "nullable": nullable}
    if annotation in (int, float):
        low, high = _bounds(info.metadata, annotation)
        return OptionField(kind="number", number_type=annotation, minimum=low, maximum=high,
                           hint=_hint(note, _number_hint(low, high, nullable, key, annotation)), **common)  # fmt: skip
    if annotation is SecretStr or (annotation is str and _is_secret(info)):
        return OptionField(kind="password", hint=_hint(note, "Never shown again once sent."), **common)
    if annotation is str:
        return OptionField(kind="text", hint=_hint(note, "Empty for none." if nullable else ""), **common)
    if get_origin(annotation) is Literal:
        choices = tuple(str(choice) for choice in get_args(annotation))
        return OptionField(kind="select", choices=choices, hint=note, **common)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        choices = tuple(str(member.value) for member in annotation)
        return OptionField(kind="select", choices=choices, enum_type=annotation, hint=note, **common)
    if get_origin(annotation) is list and _only_text(get_args(annotation)):
        return OptionField(kind="lines", hint=_hint(note, "One per line."), **common)
    if get_origin(annotation) is dict and _only_text(get_args(annotation)):
        return OptionField(kind="pairs", hint=_hint(note, "One “Name: value” per line."), **common)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return OptionField(kind="group", children=fields_of(annotation, f"{name}."), hint=note, **common)
    raise TypeError(f"job option {name!r}: the dashboard cannot show a field of type {info.annotation!r}; "
                    "add its kind to control_api/dashboard/forms/option_fields.py")  # fmt: skip


def _hint(*sentences: str) -> str:
    return " ".join(sentence for sentence in sentences if sentence)


def _without_none(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        others = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(others) == 1:
            return others[0], len(others) < len(get_args(annotation))
    return annotation, False


def _is_secret(info: FieldInfo) -> bool:
    return isinstance(info.json_schema_extra, dict) and bool(info.json_schema_extra.get("secret"))


def _only_text(arguments: tuple) -> bool:
    """list[str], dict[str, str], also with constraints (Annotated[str, ...]) on the str."""
    return all(arg is str or get_origin(arg) is Annotated and get_args(arg)[0] is str for arg in arguments)


def _bounds(metadata: list, number_type: type) -> tuple[float | None, float | None]:
    low = high = None
    for constraint in metadata:
        if isinstance(constraint, annotated_types.Ge):
            low = constraint.ge
        elif isinstance(constraint, annotated_types.Gt):  # a form's min is inclusive
            low = constraint.gt + 1 if number_type is int else constraint.gt
        elif isinstance(constraint, annotated_types.Le):
            high = constraint.le
        elif isinstance(constraint, annotated_types.Lt):
            high = constraint.lt - 1 if number_type is int else constraint.lt
    return low, high


def _number_hint(low: float | None, high: float | None, nullable: bool, key: str, number_type: type) -> str:
    unit = " ms" if key.endswith("_ms") else ""
    if low is not None and high is not None:
        hint = f"{low:,} to {high:,}{unit}"
    elif low is not None:
        hint = f"{low:,}{unit} or more"
    elif high is not None:
        hint = f"At most {high:,}{unit}"
    else:
        hint = f"{'A whole number' if number_type is int else 'A number'}{unit}"
    return f"{hint}; empty for none." if nullable else f"{hint}."


# What a form shows: the values as text, never a secret.


def blank_values() -> dict[str, Any]:
    """The fields of a new form: each option's default."""
    return shown_values({field.key: field.default for field in option_fields()})


def shown_values(options: dict[str, Any] | BaseModel | None, fields: tuple[OptionField, ...] | None = None) -> dict:
    """The form's values for these options (a model, or a dict where a missing option is its default)."""
    if isinstance(options, BaseModel):
        options = dict(options)
    options = options or {}
    values: dict[str, Any] = {}
    for field in option_fields() if fields is None else fields:
        value = options.get(field.key, field.default)
        if field.kind == "group":
            values.update(shown_values(value, field.children))
        elif field.kind != "password":
            values[field.name] = _shown(field, value)
    return values


def _shown(field: OptionField, value: Any) -> Any:
    if field.kind == "checkbox":
        return bool(value)
    if value is None:
        return ""
    if field.kind == "lines":
        return "\n".join(str(line) for line in value)
    if field.kind == "pairs":
        return "\n".join(f"{name}: {text}" for name, text in value.items())
    return str(value.value if isinstance(value, enum.Enum) else value)


# What a form sends back: an options dict for the request model, the text as typed, and the
# errors found before validation (a number that is not one, a header line without a colon).


@dataclass
class ReadOptions:
    options: dict[str, Any]
    values: dict[str, Any]
    errors: dict[str, str]


def read_options(form: MultiDict, fields: tuple[OptionField, ...] | None = None) -> ReadOptions:
    read = ReadOptions({}, {}, {})
    for field in option_fields() if fields is None else fields:
        if field.kind == "group":
            inner = read_options(form, field.children)
            read.values.update(inner.values)
            read.errors.update(inner.errors)
            if _anything_typed(form, field.children):
                read.options[field.key] = inner.options
            elif field.nullable:
                read.options[field.key] = None
            continue
        if field.kind == "checkbox":
            read.options[field.key] = read.values[field.name] = field.name in form
            continue
        raw = form.get(field.name, "")
        if field.kind != "password":  # a secret is never put back into the page
            read.values[field.name] = raw
        if field.kind not in TEXTAREA_KINDS and field.kind != "password":
            raw = raw.strip()
        if not raw.strip() and field.kind not in TEXTAREA_KINDS:
            if field.nullable:
                read.options[field.key] = None
            continue  # otherwise the model's default applies
        try:
            read.options[field.key] = _parsed(field, raw)
        except ValueError as exc:
            read.errors[field.name] = str(exc)
    return read


def _anything_typed(form: MultiDict, fields: tuple[OptionField, ...]) -> bool:
    return any(
        _anything_typed(form, field.children) if field.kind == "group" else bool(form.get(field.name, "").strip())
        for field in fields
    )


def _parsed(field: OptionField, raw: str) -> Any:
    if field.kind == "number":
        return _number(field, raw)
    if field.kind == "select" and field.enum_type is not None:
        try:
            return field.enum_type(raw)
        except ValueError:
            raise ValueError(f"must be one of {', '.join(field.choices)}") from None
    if field.kind == "lines":
        lines = [line.strip() for line in raw.splitlines() if line.strip()]
        return None if not lines and field.nullable else lines
    if field.kind == "pairs":
        pairs = _pairs(raw)
        return None if not pairs and field.nullable else pairs
    return raw


def _number(field: OptionField, raw: str) -> int | float:
    if field.number_type is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError("must be a whole number") from None
    try:
        number = float(raw)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ValueError("must be a number")
    return number


def _pairs(raw: str) -> dict[str, str]:
    pairs = {}
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ValueError(f"line {number}: write it as “Name: value”")
        pairs[name.strip()] = value.strip()
    return pairs


def field_of(loc: tuple[str | int, ...]) -> tuple[str, str] | None:
    """The option field a refusal at `loc` (inside the options) is about, and what inside it:
    ("include", 2) is the include field's third line; None when loc names no option."""
    fields, names = option_fields(), []
    for position, part in enumerate(loc):
        field = next((field for field in fields if field.key == part), None)
        if field is None:
            return (".".join(names), _detail(loc[position:])) if names else None
        names.append(part)
        fields = field.children
    return (".".join(names), "") if names else None


def _detail(rest: tuple) -> str:
    first = rest[0]
    return f"line {first + 1}" if isinstance(first, int) else str(first)


# A list row's short account of a schedule's or trigger's options.


def summary(options: dict[str, Any], fields: tuple[OptionField, ...] | None = None) -> list[str]:
    """The stored options that differ from their defaults, by their API names: "max_pages: 40"."""
    parts = []
    for field in option_fields() if fields is None else fields:
        if field.key not in options:
            continue
        value = options[field.key]
        default = field.default.model_dump() if isinstance(field.default, BaseModel) else field.default
        if value == _stored(default):
            continue
        if field.kind == "group" and isinstance(value, dict):
            parts.extend(summary(value, field.children))
        elif field.kind == "password":
            parts.append(f"{field.name}: set")
        elif field.kind == "checkbox":
            parts.append(f"{field.name}: {'on' if value else 'off'}")
        elif field.kind in TEXTAREA_KINDS and value:
            parts.append(f"{field.name}: {len(value)} {'entry' if len(value) == 1 else 'entries'}")
        else:
            parts.append(f"{field.name}: {'none' if value is None else value}")
    return parts


def _stored(value: Any) -> Any:
    """A default as the JSON column holds it (an enum by its value)."""
    return value.value if isinstance(value, enum.Enum) else value
