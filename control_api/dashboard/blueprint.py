"""The dashboard's blueprint, its guard (CSRF on every post, a signed-in session on every page but
sign-in) and what every response carries (security headers, error pages in HTML)."""
from __future__ import annotations

from flask import Blueprint, abort, g, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from control_api.dashboard import csrf
from control_api.dashboard.forms import option_fields
from control_api.dashboard.nav import NAV
from control_api.dashboard.session import signed_in_organisation
from control_api.domain_errors import DomainError
from control_api.errors import ApiError, http_status
from control_api.jobs import service as jobs_service
from db.models import Job

bp = Blueprint("dashboard", __name__, url_prefix="/app", template_folder="templates", static_folder="static")

PUBLIC_ENDPOINTS = {"dashboard.sign_in", "dashboard.static"}
JSON_ENDPOINTS = {"dashboard.job_progress"}
# Every script and style is a file of ours: no inline code runs, whatever a crawled URL contains.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")  # fmt: skip


@bp.app_context_processor
def navigation():
    return {"nav_items": NAV}


# Read at render time, so the forms follow option_fields.MODEL (a test adds an option to it).
bp.add_app_template_global(lambda: option_fields.option_fields(), "job_option_fields")


@bp.before_request
def guard():
    if request.method == "POST":
        csrf.protect()  # 400 CSRFError without a valid token, sign-in included
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    organisation = signed_in_organisation()
    if organisation is None:
        if request.endpoint in JSON_ENDPOINTS:
            return jsonify({"error": {"code": "unauthorized", "message": "Sign in again."}}), 401
        return redirect(url_for("dashboard.sign_in", next=request.full_path.rstrip("?")))
    g.organisation_id, g.organisation_name = organisation
    return None


@bp.after_request
def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "dashboard.static":
        response.headers["Cache-Control"] = "no-store"  # an organisation's pages stay out of shared caches
    return response


def error_page(status: int, title: str, message: str):
    return render_template("dashboard/error.html", status=status, title=title, message=message), status


def owned_job(session: Session, job_id: str) -> Job:
    """The signed-in organisation's job, else the dashboard's 404 page (not the domain's JobNotFound
    message, which names the id, as domain_error() below would show it)."""
    try:
        return jobs_service.get_job(session, g.organisation_id, job_id)
    except jobs_service.JobNotFound:
        abort(404, "There is no such job in your organisation.")


@bp.errorhandler(CSRFError)
def csrf_refused(error: CSRFError):
    return error_page(400, "Form expired or forged",
                      f"{error.description} Go back, reload the page and send the form again.")  # fmt: skip


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException):
    titles = {404: "Not found", 405: "Method not allowed"}
    return error_page(error.code or 500, titles.get(error.code, error.name), error.description or "")


@bp.errorhandler(ApiError)
def api_error(error: ApiError):
    page = error_page(error.status, "Request refused", error.message)
    return (*page, error.headers)


@bp.errorhandler(DomainError)
def domain_error(error: DomainError):
    return error_page(http_status(error), "Request refused", error.message)


@bp.errorhandler(OperationalError)
def database_unavailable(error: OperationalError):
    return error_page(503, "Database unavailable", "The database is unavailable; try again shortly.")
