"""The app class and GET /v1/openapi.json. flask-openapi3 builds the document from the registered
routes: each view declares its path, query and body models in its signature and its responses in
its route decorator, and the same models validate the request.

We keep from flask-openapi3 only what serves our contract: its document UI (an HTML index at
/v1/ and pages that load their scripts from a CDN) stays off, validation errors are raised as our
own 400s (control_api/validation.py), and bodies are read by our request class.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask_openapi3 import APIBlueprint, Info, OpenAPI, Tag

from control_api.auth import authenticate
from control_api.base_schemas import ErrorResponse
from control_api.validation import JsonRequest, raise_validation_error

bp = Blueprint("openapi", __name__)

BEARER = [{"bearer": []}]
ERROR_SCHEMA = {"$ref": f"#/components/schemas/{ErrorResponse.__name__}"}
ERRORS = {
    400: "Bad field or query parameter: the message names it",
    401: "Missing, malformed or unknown token",
    404: "No such job in your organisation",
    409: "State conflict",
    410: "Gone: deleted by retention",
    413: "Body too large",
    415: "Body is not JSON",
    422: "Target not allowed",
    429: "Rate limited",
    503: "Scheduler or database unavailable",
}
# Every /v1 operation may answer these: authentication, rate limit, database down.
COMMON_ERRORS = (401, 429, 503)


def errors(*statuses: int, **descriptions: str) -> dict[int, dict[str, Any]]:
    """OpenAPI responses in our one error shape for `statuses` (`descriptions` override by status,
    keyed `e409=...`)."""
    return {
        status: {
            "description": descriptions.get(f"e{status}", ERRORS[status]),
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        for status in statuses
    }


def resource_blueprint(name: str, import_name: str, url_prefix: str, tag: str, *extra_errors: int) -> APIBlueprint:
    """A /v1 resource's blueprint: its operations under `tag` in the document, each behind a bearer
    token (checked before every view) and answering COMMON_ERRORS and `extra_errors` in our shape."""
    bp = APIBlueprint(name, import_name, url_prefix=url_prefix, abp_tags=[Tag(name=tag)], abp_security=BEARER,
                      abp_responses=errors(*COMMON_ERRORS, *extra_errors))  # fmt: skip
    bp.before_request(authenticate)
    return bp


def streamed(description: str, *media_types: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}} for media_type in media_types}}


class ApiApp(OpenAPI):
    """Flask with flask-openapi3: routes of an APIBlueprint registered with `register_api` are in the
    document."""

    request_class = JsonRequest

    def __init__(self, import_name: str, **kwargs: Any) -> None:
        super().__init__(
            import_name,
            info=Info(title="Crawl service API", version="1.0.0"),
            security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
            validation_error_status=400,
            validation_error_model=ErrorResponse,
            validation_error_callback=raise_validation_error,
            doc_ui=False,
            **kwargs,
        )

    def generate_spec_json(self) -> None:
        super().generate_spec_json()
        # flask-openapi3 gives every operation that declares no 400 its own validation error body (a
        # list). An operation of ours that validates declares its 400 in our shape; one that does
        # not (GET /healthz) cannot answer 400 at all.
        for path_item in self.spec_json["paths"].values():
            for operation in path_item.values():
                bad_request = operation["responses"].get("400", {})
                if bad_request.get("content", {}).get("application/json", {}).get("schema", {}).get("type") == "array":
                    del operation["responses"]["400"]


@bp.get("/v1/openapi.json")
def openapi_json():
    return jsonify(current_app.api_doc)
