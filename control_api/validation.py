"""What flask-openapi3 leaves to us: reading a JSON body strictly, and turning a pydantic
ValidationError into our one error shape, a 400 whose message names the field and what was wrong.

flask-openapi3 reads a body with `request.get_json(silent=True)`, which turns "not JSON", "not UTF-8",
"malformed" and "cut at the size limit" into one silent None. `JsonRequest` (the app's request class)
answers each of those with its own error instead, before any model sees the body.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Request
from gunicorn.http.errors import ParseException
from pydantic import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from control_api.base_schemas import QueryModel
from control_api.errors import ApiError


class JsonRequest(Request):
    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        """The body as JSON: 415 when it is not JSON, 413 when it is too large (chunked too), 400 when
        it is not UTF-8, not valid JSON, too deeply nested, or not an object (every body this API
        takes is an object). `force` and `silent` are ignored: a bad body is never None."""
        if not self.is_json:
            raise ApiError(415, "unsupported_media_type", "Request body must be JSON (Content-Type: application/json).")
        raw = self._read_body()
        try:
            body = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(400, "invalid_json", "Request body is not valid UTF-8.") from None
        except json.JSONDecodeError as exc:
            raise ApiError(400, "invalid_json", f"Request body is not valid JSON: {exc.msg} at position {exc.pos}.") from None
        except RecursionError:  # e.g. 30,000 nested '[': small enough for the size limit, too deep for the parser
            raise ApiError(400, "invalid_json", "Request body is nested too deeply.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_body", "Request body must be a JSON object.")
        return body

    def _read_body(self) -> bytes:
        limit = self.max_content_length
        try:
            raw = self.get_data(cache=True)  # 413 when a Content-Length is over MAX_CONTENT_LENGTH
            # A chunked body has no Content-Length to refuse up front, and Werkzeug returns it cut at
            # the limit without a word (a cut body can still be valid JSON). One byte more from the
            # server's own stream tells a body of exactly the limit from a longer one.
            if self.content_length is None and limit is not None and len(raw) >= limit:
                if self.environ["wsgi.input"].read(1):
                    raise RequestEntityTooLarge()
        except ParseException:  # gunicorn decodes the chunks as we read; a malformed one surfaces here
            raise ApiError(400, "invalid_body", "Request body is not valid chunked transfer encoding.") from None
        return raw


def raise_validation_error(exc: ValidationError) -> None:
    """flask-openapi3's validation_error_callback: raise (not return) so that our error handler
    renders it; the first error is reported."""
    raise validation_error(exc)


def validation_error(exc: ValidationError) -> ApiError:
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"])
    kind = first["type"]
    query_model = _query_models().get(exc.title)
    if query_model is not None:
        return _query_error(query_model, kind, field, first["msg"])
    if kind == "extra_forbidden":
        return ApiError(400, "unknown_field", f"Unknown field '{field}'.")
    if kind == "missing":
        return ApiError(400, "missing_field", f"Field '{field}' is required.")
    if not field:
        return ApiError(400, "invalid_body", "Request body must be a JSON object.")
    if kind == "model_type":
        return ApiError(400, "invalid_field", f"Field '{field}': must be an object.")
    return ApiError(400, "invalid_field", f"Field '{field}': {_sentence(first['msg'])}.")


def _query_error(model: type[QueryModel], kind: str, name: str, message: str) -> ApiError:
    if kind == "extra_forbidden":
        known = ", ".join(model.model_fields)
        takes = f"this endpoint takes {known}" if known else "this endpoint takes no query parameters"
        return ApiError(400, "unknown_parameter", f"Unknown query parameter '{name}'; {takes}.")
    return ApiError(400, "invalid_field", f"Field '{name}': {_sentence(message)}.")


def _query_models(model: type[QueryModel] = QueryModel) -> dict[str, type[QueryModel]]:
    """The query string models by name (a ValidationError knows its model by name only)."""
    models = {model.__name__: model}
    for sub in model.__subclasses__():
        models.update(_query_models(sub))
    return models


def _sentence(message: str) -> str:
    message = message.removeprefix("Value error, ")
    return message[0].lower() + message[1:]
