"""Parse request bodies and query strings into schemas, turning every failure into a 400/415
whose message names the field and what was wrong with it."""
from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import request
from gunicorn.http.errors import ParseException
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from control_api.errors import ApiError
from contract.options import OPTION_FIELDS, JobOptions
from control_api.schemas import CreateJobRequest

M = TypeVar("M", bound=BaseModel)


def json_body() -> Any:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Request body must be JSON (Content-Type: application/json).")
    raw = _read_body()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "Request body is not valid UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"Request body is not valid JSON: {exc.msg} at position {exc.pos}.") from None
    except RecursionError:  # e.g. 30,000 nested '[': small enough for the size limit, too deep for the parser
        raise ApiError(400, "invalid_json", "Request body is nested too deeply.") from None


def _read_body() -> bytes:
    limit = request.max_content_length
    try:
        raw = request.get_data(cache=True)  # 413 when a Content-Length is over MAX_CONTENT_LENGTH
        # A chunked body has no Content-Length to refuse up front, and Werkzeug returns it cut at the
        # limit without a word (a cut body can still be valid JSON). One byte more from the server's
        # own stream tells a body of exactly the limit from a longer one.
        if request.content_length is None and limit is not None and len(raw) >= limit:
            if request.environ["wsgi.input"].read(1):
                raise RequestEntityTooLarge()
    except ParseException:  # gunicorn decodes the chunks as we read; a malformed one surfaces here
        raise ApiError(400, "invalid_body", "Request body is not valid chunked transfer encoding.") from None
    return raw


def validation_error(exc: ValidationError, prefix: str = "") -> ApiError:
    first = exc.errors(include_url=False)[0]
    field = prefix + ".".join(str(part) for part in first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        return ApiError(400, "unknown_field", f"Unknown field '{field}'.")
    if kind == "missing":
        return ApiError(400, "missing_field", f"Field '{field}' is required.")
    message = first["msg"].removeprefix("Value error, ")
    if field:
        return ApiError(400, "invalid_field", f"Field '{field}': {message[0].lower()}{message[1:]}.")
    return ApiError(400, "invalid_body", f"{message}.")


def parse(model: type[M], data: Any, prefix: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, prefix) from None


def parse_query(model: type[M]) -> M:
    return parse(model, request.args.to_dict(flat=True))


def parse_create_job(body: Any) -> CreateJobRequest:
    """Accept options nested under `options` or flat at the top level; nested wins."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "Request body must be a JSON object.")
    body = dict(body)
    flat = {name: body.pop(name) for name in OPTION_FIELDS if name in body}
    nested = body.get("options", {})
    if not isinstance(nested, dict):
        raise ApiError(400, "invalid_field", "Field 'options': must be an object.")
    if flat:
        parse(JobOptions, flat)  # report a bad flat field under its own name
    body["options"] = {**flat, **nested}
    return parse(CreateJobRequest, body)
