"""One JSON error shape for every failure: {"error": {"code": ..., "message": ...}}."""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from control_api.domain_errors import Conflict, DomainError, Gone, Invalid, NotAllowed, NotFound, Unavailable
from control_api.organisations.limits import LimitReached

logger = logging.getLogger(__name__)

bp = Blueprint("errors", __name__)

# Codes for the HTTP errors Werkzeug raises on its own (routing, body size, methods) and those
# gunicorn answers before the app sees the request (control_api/processes/gunicorn_worker.py).
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    417: "expectation_failed",
    422: "unprocessable",
    429: "rate_limited",
    431: "header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
    503: "service_unavailable",
}


# The HTTP status of each kind of refusal the services raise (control_api/domain_errors.py).
DOMAIN_STATUS: dict[type[DomainError], int] = {
    Invalid: 400, NotFound: 404, Conflict: 409, Gone: 410, NotAllowed: 422, Unavailable: 503,
}


def http_status(error: DomainError) -> int:
    """Its kind's status; a DomainError of no kind above is a bug of ours, hence 500."""
    return next((status for kind, status in DOMAIN_STATUS.items() if isinstance(error, kind)), 500)


class ApiError(Exception):
    """An error a view raises on purpose; rendered as the one JSON shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(headers or {})
    return response


@bp.app_errorhandler(ApiError)
def handle_api_error(error: ApiError):
    return error_response(error.status, error.code, error.message, error.headers)


@bp.app_errorhandler(DomainError)
def handle_domain_error(error: DomainError):
    return error_response(http_status(error), error.code, error.message)


@bp.app_errorhandler(HTTPException)
def handle_http_exception(error: HTTPException):
    status = error.code or 500
    messages = {
        404: "No such resource.",
        405: f"Method not allowed; allowed: {', '.join(sorted(error.valid_methods))}."
        if getattr(error, "valid_methods", None)
        else "Method not allowed.",
        413: "Request body is too large.",
    }
    headers = dict(error.get_headers()) if status == 405 else {}
    headers.pop("Content-Type", None)
    return error_response(status, HTTP_CODES.get(status, "http_error"), messages.get(status, error.description), headers)


@bp.app_errorhandler(LimitReached)
def handle_limit_reached(error: LimitReached):
    return error_response(409, "limit_reached", error.message)


@bp.app_errorhandler(OperationalError)
def handle_database_unavailable(error: OperationalError):
    logger.error("database error: %s", error.orig)
    return error_response(503, "database_unavailable", "The database is unavailable; try again shortly.")


@bp.app_errorhandler(Exception)
def handle_unexpected(error: Exception):
    logger.exception("unhandled error")
    return error_response(500, "internal_error", "An unexpected error occurred.")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
