"""The triggers pages: the list, the form that creates a publish hook (its URL shown once, in the
answer to that form: only a hash of its secret is stored) and the delete confirmation. Each view
calls triggers_service, as /v1/triggers does, scoped to the signed-in organisation."""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for

from control_api.config import service_settings
from control_api.responses import public_url
from control_api.schedules import service as schedules_service
from control_api.triggers import service as triggers_service
from control_api.dashboard.forms import option_fields
from control_api.dashboard.forms import sources as source_forms
from control_api.dashboard.blueprint import bp
from control_api.dashboard.paging import PAGE_SIZE, page_number, pager
from control_api.database import session_scope
from control_api.domain_errors import DomainError
from control_api.errors import http_status
from control_api.organisations.limits import LimitReached
from control_api.jobs.targets import target_of
from db.models import Trigger

NOT_FOUND = "There is no such trigger in your organisation."


@bp.get("/triggers")
def triggers():
    number = page_number()
    with session_scope() as session:
        page = schedules_service.list_owned(session, Trigger, g.organisation_id, PAGE_SIZE, (number - 1) * PAGE_SIZE)
        statuses = schedules_service.last_job_statuses(session, page.items)
        rows = [{"id": trigger.id, "name": trigger.name, "domain": trigger.domain.name,
                 "options": option_fields.summary(trigger.options), "last_called_at": trigger.last_called_at,
                 "last_job_id": trigger.last_job_id, "last_job_status": statuses.get(trigger.last_job_id)}
                for trigger in page.items]  # fmt: skip
    return render_template(
        "dashboard/triggers.html", nav_section="triggers", rows=rows, page=page,
        **pager(".triggers", number, page.has_next),
    )  # fmt: skip


@bp.route("/triggers/new", methods=["GET", "POST"])
def new_trigger():
    if request.method == "GET":
        return _form_page(source_forms.blank_trigger())
    form = source_forms.submitted_trigger(request.form)
    if form.request is None:
        return _form_page(form, 400)
    settings = service_settings()
    try:
        target = target_of(form.request.domain, settings)
    except DomainError as exc:
        return _form_page(form.refused(exc, "domain"), http_status(exc))
    try:
        with session_scope() as session:
            trigger, secret = triggers_service.create_trigger(session, g.organisation_id, target, form.request, settings)
            created = {"name": trigger.name, "domain": trigger.domain.name, "url": public_url(triggers_service.hook_path(secret))}
    except LimitReached as exc:
        form.errors["form"] = exc.message
        return _form_page(form, 409)
    # Rendered here, not after a redirect: the URL is in no cookie and no log, and this page is no-store.
    return render_template("dashboard/trigger_created.html", nav_section="triggers", trigger=created), 201


def _form_page(form, status: int = 200):
    return render_template("dashboard/trigger_new.html", nav_section="triggers", form=form), status


@bp.route("/triggers/<trigger_id>/delete", methods=["GET", "POST"])
def delete_trigger(trigger_id: str):
    """GET asks for confirmation, POST deletes: the URL answers 404 from then on."""
    with session_scope() as session:
        try:
            trigger = triggers_service.get_trigger(session, g.organisation_id, trigger_id)
            what = f"the trigger “{trigger.name}” ({trigger.domain.name})"
            if request.method == "GET":
                return render_template("dashboard/confirm_delete.html", nav_section="triggers", what=what,
                                       note="Its URL stops working at once; the jobs it started are kept.",
                                       cancel_url=url_for(".triggers"))  # fmt: skip
            triggers_service.delete_trigger(session, g.organisation_id, trigger_id)
        except triggers_service.TriggerNotFound:
            abort(404, NOT_FOUND)
    flash(f"Deleted {what}; its URL no longer starts crawls.")
    return redirect(url_for(".triggers"))
