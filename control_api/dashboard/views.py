"""The dashboard's pages: sign-in and out, the jobs list, the form that starts a job, the job page
(live progress, stats, issues, cache warming, charts), cancel and the exports. Each view calls the
service layer (jobs_service, results_service) that /v1 calls, scoped to the signed-in organisation."""
from __future__ import annotations

from flask import Response, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy.orm import Session

from contract.vocabulary import JobStatus
from control_api.config import service_settings
from control_api.jobs import service as jobs_service
from control_api.jobs import presenters
from control_api.jobs.results import broken_groups
from control_api.jobs.results import service as results_service
from control_api.jobs.browser import views as browser_views
from control_api.dashboard import change_views, live
from control_api.dashboard.blueprint import bp, error_page, owned_job
from control_api.dashboard.forms.new_job import CreateJobForm
from control_api.dashboard.paging import LAST_PAGE, PAGE_SIZE, pager
from control_api.dashboard.session import sign_in as start_session
from control_api.dashboard.session import sign_out as end_session
from control_api.database import session_scope
from control_api.domain_errors import DomainError
from control_api.errors import http_status
from control_api.organisations.limits import LimitReached
from control_api.jobs.schemas import JOB_STATUSES, RANGES, ListJobsQuery
from control_api.validation import validation_error

FILTERS = ("status", "range", "tzOffset")
RANGE_LABELS = {"all": "Any time", "today": "Today", "24h": "Last 24 hours", "7d": "Last 7 days",
                "30d": "Last 30 days", "90d": "Last 90 days"}  # fmt: skip
TERMINAL = sorted(JobStatus.terminal())


@bp.get("/")
def index():
    return redirect(url_for(".jobs"))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    error = None
    if request.method == "POST":
        if start_session(request.form.get("token", "")):
            return redirect(_safe_next(request.args.get("next")))
        error = "That token is unknown or has been revoked."
    status = 401 if error else 200
    return render_template("dashboard/sign_in.html", error=error, nav_section=None), status


def _safe_next(target: str | None) -> str:
    # Only a path of ours: "next=https://evil.example" or "//evil.example" would be an open redirect.
    if target and target.startswith("/app/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for(".jobs")


@bp.post("/sign-out")
def sign_out():
    end_session()
    flash("You are signed out.")
    return redirect(url_for(".sign_in"))


@bp.get("/jobs")
def jobs():
    filters = {name: request.args[name] for name in FILTERS if request.args.get(name)}
    try:
        query = ListJobsQuery.model_validate({"limit": PAGE_SIZE, "page": request.args.get("page") or 1, **filters})
    except ValidationError as exc:
        return error_page(400, "Bad filter", validation_error(exc).message)
    with session_scope() as session:
        page = jobs_service.list_jobs(session, g.organisation_id, query)
        rows = [presenters.job_list_item(job, ("progress", "stats")) for job in page.items]
    number = query.page or 1
    return render_template(
        "dashboard/jobs.html", nav_section="jobs", rows=rows, page=page, filters=filters, number=number,
        statuses=JOB_STATUSES, ranges={name: RANGE_LABELS[name] for name in RANGES},
        **pager(".jobs", number, page.has_next, **filters),
    )  # fmt: skip


@bp.route("/jobs/new", methods=["GET", "POST"])
def new_job():
    if request.method == "GET":
        return render_template("dashboard/new_job.html", nav_section="new_job", form=CreateJobForm.blank())
    form = CreateJobForm.submitted(request.form)
    if form.request is None:
        return render_template("dashboard/new_job.html", nav_section="new_job", form=form), 400
    scheduler = current_app.extensions["scheduler"]
    try:
        job = jobs_service.start_job(session_scope, scheduler, g.organisation_id, form.request, service_settings())
    except DomainError as exc:
        return render_template("dashboard/new_job.html", nav_section="new_job", form=form.refused(exc)), http_status(exc)
    except LimitReached as exc:
        form.errors["form"] = exc.message
        return render_template("dashboard/new_job.html", nav_section="new_job", form=form), 409
    flash(f"Crawl of {job.domain.name} started.")
    return redirect(url_for(".job", job_id=job.id))


@bp.get("/jobs/<job_id>")
def job(job_id: str):
    with session_scope() as session:
        row = owned_job(session, job_id)
        detail = presenters.job_detail(row)
        browser = browser_views.section(session, row)  # the sampled pages in Chromium (control_api/jobs/browser/)
        if row.tasks_pruned_at is not None:  # no issues, charts or downloads of rows that are gone
            return render_template("dashboard/job.html", nav_section="jobs", job=detail, terminal=TERMINAL,
                                   pruned=str(results_service.TasksPruned(row)), browser=browser,
                                   fields=live.stat_fields(detail))  # fmt: skip
        issues = results_service.issues_report(session, row)
        broken = _broken_view(session, row)
        job_charts = live.job_charts(session, job_id)
        changes = change_views.changes_panel(session, row)
    return render_template(
        "dashboard/job.html", nav_section="jobs", job=detail, issues=issues, terminal=TERMINAL, pruned=None, changes=changes,
        browser=browser, status_chart=job_charts["status-chart"], time_chart=job_charts["time-chart"],
        fields=live.stat_fields(detail), broken=broken,
    )  # fmt: skip


BROKEN_VIEWS = {"source": ("pages", broken_groups.by_source), "target": ("broken links", broken_groups.by_target)}


def _broken_view(session: Session, job) -> dict:
    """The broken links a page at a time, grouped by the page that links (`broken=source`, the
    default) or by broken URL (`broken=target`); `broken_page` is the page of that view."""
    view = request.args.get("broken") if request.args.get("broken") in BROKEN_VIEWS else "source"
    number = request.args.get("broken_page", 1, type=int)
    number = number if 1 <= number <= LAST_PAGE else 1
    noun, read = BROKEN_VIEWS[view]
    page = read(session, job, (number - 1) * PAGE_SIZE, PAGE_SIZE)

    def link(to: int) -> str:
        return url_for(".job", job_id=job.id, broken=view, broken_page=to, _anchor="broken-heading")

    return {"view": view, "page": page, "noun": noun, "previous_url": link(number - 1) if number > 1 else None,
            "next_url": link(number + 1) if page.offset + len(page.rows) < page.total else None}  # fmt: skip


@bp.get("/jobs/<job_id>/progress")
def job_progress(job_id: str):
    """What the job page's script polls while the crawl runs: the job (status, progress, stats, from
    its counters: cheap at any size) and the page's figures as text (live.py); with `figures=1` also
    the issue counts and the charts, which read the job's rows."""
    with session_scope() as session:
        row = owned_job(session, job_id)
        detail = presenters.job_detail(row)
        body = {**detail.model_dump(mode="json", exclude_unset=True), "figures": live.figures_json(detail)}
        if request.args.get("figures") == "1" and row.tasks_pruned_at is None:
            body["figures"].update(live.row_figures_json(session, row))
    return jsonify(body)


@bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str):
    with session_scope() as session:
        try:
            row, newly_cancelled = jobs_service.cancel_job(session, g.organisation_id, job_id)
        except jobs_service.JobNotFound:
            abort(404, "There is no such job in your organisation.")
        except jobs_service.JobFinished as exc:
            flash(f"The job is already {exc.job.status}; it cannot be cancelled.", "error")
            return redirect(url_for(".job", job_id=job_id))
    if newly_cancelled:
        jobs_service.stop_spider(current_app.extensions["scheduler"], row)
    flash("The job is cancelled; the pages crawled so far are kept.")
    return redirect(url_for(".job", job_id=job_id))


@bp.get("/jobs/<job_id>/export.<any(csv, jsonl):fmt>")
def export(job_id: str, fmt: str):
    with session_scope() as session:
        try:
            results_service.require_rows(owned_job(session, job_id))
        except results_service.TasksPruned as exc:  # the API's 410, as a page: never an empty file
            return error_page(410, "Results removed by retention", str(exc))
    return presenters.export_response(job_id, fmt)
