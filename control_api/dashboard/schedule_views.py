"""The schedules pages: the list (with enable/disable, run now and delete), the form that creates one
and the delete confirmation. Each view calls schedules_service (and jobs_service to dispatch a run),
as /v1/schedules does, scoped to the signed-in organisation: another's schedule is a 404."""
from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for

from control_api.config import service_settings
from control_api.jobs import service as jobs_service
from control_api.schedules import service as schedules_service
from control_api.dashboard.forms import option_fields
from control_api.dashboard.forms import sources as source_forms
from control_api.dashboard.blueprint import bp
from control_api.dashboard.paging import PAGE_SIZE, page_number, pager
from control_api.database import session_scope
from control_api.domain_errors import DomainError
from control_api.errors import http_status
from control_api.organisations.limits import LimitReached
from control_api.nodes.scrapyd_client import SchedulerUnavailable
from control_api.schedules.cadence import InvalidCadence
from control_api.schedules.schemas import UpdateScheduleRequest
from control_api.jobs.targets import target_of
from db.models import Schedule

NOT_FOUND = "There is no such schedule in your organisation."


@bp.get("/schedules")
def schedules():
    number = page_number()
    with session_scope() as session:
        page = schedules_service.list_owned(session, Schedule, g.organisation_id, PAGE_SIZE, (number - 1) * PAGE_SIZE)
        statuses = schedules_service.last_job_statuses(session, page.items)
        rows = [_row(schedule, statuses) for schedule in page.items]
    return render_template(
        "dashboard/schedules.html", nav_section="schedules", rows=rows, page=page,
        **pager(".schedules", number, page.has_next),
    )  # fmt: skip


def _row(schedule: Schedule, statuses: dict[str, str]) -> dict:
    return {"id": schedule.id, "domain": schedule.domain.name, "cadence": cadence_words(schedule),
            "enabled": schedule.enabled, "next_run_at": schedule.next_run_at, "skipped_runs": schedule.skipped_runs,
            "last_skipped_at": schedule.last_skipped_at, "options": option_fields.summary(schedule.options),
            "last_job_id": schedule.last_job_id, "last_job_status": statuses.get(schedule.last_job_id)}  # fmt: skip


@bp.route("/schedules/new", methods=["GET", "POST"])
def new_schedule():
    if request.method == "GET":
        return _form_page(source_forms.blank_schedule())
    form = source_forms.submitted_schedule(request.form)
    if form.request is None:
        return _form_page(form, 400)
    settings = service_settings()
    try:
        target = target_of(form.request.domain, settings)
    except DomainError as exc:
        return _form_page(form.refused(exc, "domain"), http_status(exc))
    try:
        with session_scope() as session:
            schedule = schedules_service.create_schedule(session, g.organisation_id, target, form.request, settings)
            domain, cadence = schedule.domain.name, cadence_words(schedule)
    except InvalidCadence as exc:  # runs closer than MIN_SCHEDULE_INTERVAL_MINUTES: on its field, as the API says it
        return _form_page(form.refused(exc, exc.field), http_status(exc))
    except LimitReached as exc:
        form.errors["form"] = exc.message
        return _form_page(form, 409)
    flash(f"Schedule for {domain} created: {cadence}"
          f"{'' if form.request.enabled else ' once enabled'}.")  # fmt: skip
    return redirect(url_for(".schedules"))


def cadence_words(schedule: Schedule) -> str:
    if schedule.cron is not None:
        return f"at “{schedule.cron}” ({schedule.timezone})"
    return f"every {schedule.interval_hours} h"


def _form_page(form, status: int = 200):
    return render_template("dashboard/schedule_new.html", nav_section="schedules", form=form,
                           interval_choices=source_forms.INTERVAL_CHOICES, zone_names=source_forms.zone_names()), status  # fmt: skip


@bp.post("/schedules/<schedule_id>/enabled")
def set_schedule_enabled(schedule_id: str):
    enabled = request.form.get("enabled") == "1"
    with session_scope() as session:
        try:
            schedule = schedules_service.update_schedule(session, g.organisation_id, schedule_id,
                                                         UpdateScheduleRequest(enabled=enabled), service_settings())  # fmt: skip
        except schedules_service.ScheduleNotFound:
            abort(404, NOT_FOUND)
        domain = schedule.domain.name
    flash(f"Schedule for {domain} {'enabled' if enabled else 'disabled'}.")
    return redirect(url_for(".schedules"))


@bp.post("/schedules/<schedule_id>/run")
def run_schedule_now(schedule_id: str):
    """One run now, as POST /v1/schedules/{id}/run: source_type "scheduler", source_detail "run_now"."""
    with session_scope() as session:
        try:
            job = schedules_service.run_now(session, g.organisation_id, schedule_id, service_settings())
        except schedules_service.ScheduleNotFound:
            abort(404, NOT_FOUND)
        except jobs_service.JobAlreadyRunning as exc:
            flash(f"Job {exc.job_id} ({exc.status}) is already crawling this schedule's domain; wait for it to finish "
                  "or cancel it.", "error")  # fmt: skip
            return redirect(url_for(".schedules"))
        except LimitReached as exc:
            flash(exc.message, "error")
            return redirect(url_for(".schedules"))
    try:
        jobs_service.schedule_job(session_scope, current_app.extensions["scheduler"], job)
    except SchedulerUnavailable as exc:
        flash(f"The crawl could not be scheduled, job {job.id} failed: {exc}.", "error")
        return redirect(url_for(".job", job_id=job.id))
    flash(f"Run of the schedule for {job.domain.name} started.")
    return redirect(url_for(".job", job_id=job.id))


@bp.route("/schedules/<schedule_id>/delete", methods=["GET", "POST"])
def delete_schedule(schedule_id: str):
    """GET asks for confirmation (no script needed), POST deletes; the schedule's jobs stay."""
    with session_scope() as session:
        try:
            if request.method == "GET":
                schedule = schedules_service.get_schedule(session, g.organisation_id, schedule_id)
                what = f"the schedule for {schedule.domain.name} ({cadence_words(schedule)})"
                return render_template("dashboard/confirm_delete.html", nav_section="schedules", what=what,
                                       note="The jobs it started are kept.", cancel_url=url_for(".schedules"))  # fmt: skip
            schedule = schedules_service.get_schedule(session, g.organisation_id, schedule_id)
            domain = schedule.domain.name
            schedules_service.delete_schedule(session, g.organisation_id, schedule_id)
        except schedules_service.ScheduleNotFound:
            abort(404, NOT_FOUND)
    flash(f"Schedule for {domain} deleted; its jobs are kept.")
    return redirect(url_for(".schedules"))
