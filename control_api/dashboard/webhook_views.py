"""The webhooks pages: the list, the form that creates one (its signing secret shown once, in the
answer to that form), one webhook's recent deliveries, and the delete confirmation. Each view calls
webhooks_service, as /v1/webhooks does, scoped to the signed-in organisation."""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for

from control_api.config import service_settings
from control_api.webhooks import service as webhooks_service
from control_api.dashboard.forms import sources as source_forms
from control_api.dashboard.blueprint import bp
from control_api.dashboard.paging import PAGE_SIZE, page_number, pager
from control_api.database import session_scope
from control_api.domain_errors import DomainError
from control_api.errors import http_status
from control_api.organisations.limits import LimitReached
from control_api.webhooks.schemas import ListDeliveriesQuery, ListWebhooksQuery

DELIVERIES_SHOWN = 50
NOT_FOUND = "There is no such webhook in your organisation."


@bp.get("/webhooks")
def webhooks():
    number = page_number()
    with session_scope() as session:
        page = webhooks_service.list_webhooks(session, g.organisation_id, ListWebhooksQuery(limit=PAGE_SIZE, page=number))
        rows = [{"id": endpoint.id, "url": endpoint.url, "events": list(endpoint.events), "created_at": endpoint.created_at}
                for endpoint in page.items]  # fmt: skip
    return render_template(
        "dashboard/webhooks.html", nav_section="webhooks", rows=rows, page=page,
        **pager(".webhooks", number, page.has_next),
    )  # fmt: skip


@bp.route("/webhooks/new", methods=["GET", "POST"])
def new_webhook():
    if request.method == "GET":
        return _form_page(source_forms.blank_webhook())
    form = source_forms.submitted_webhook(request.form)
    if form.request is None:
        return _form_page(form, 400)
    settings = service_settings()
    try:
        webhooks_service.check_url_allowed(form.request.url, settings)
    except DomainError as exc:
        return _form_page(form.refused(exc, "url"), http_status(exc))
    try:
        with session_scope() as session:
            endpoint = webhooks_service.create_webhook(session, g.organisation_id, form.request, settings)
            created = {"id": endpoint.id, "url": endpoint.url, "events": list(endpoint.events),
                       "secret": endpoint.secret}  # fmt: skip
    except LimitReached as exc:
        form.errors["form"] = exc.message
        return _form_page(form, 409)
    # Rendered here, not after a redirect, so the secret is in no cookie; this page is no-store.
    return render_template("dashboard/webhook_created.html", nav_section="webhooks", webhook=created), 201


def _form_page(form, status: int = 200):
    return render_template("dashboard/webhook_new.html", nav_section="webhooks", form=form,
                           events=source_forms.EVENTS), status  # fmt: skip


@bp.get("/webhooks/<webhook_id>")
def webhook(webhook_id: str):
    with session_scope() as session:
        try:
            endpoint = webhooks_service.get_webhook(session, g.organisation_id, webhook_id)
        except webhooks_service.WebhookNotFound:
            abort(404, NOT_FOUND)
        deliveries = webhooks_service.list_deliveries(session, endpoint, ListDeliveriesQuery(limit=DELIVERIES_SHOWN))
        shown = {"id": endpoint.id, "url": endpoint.url, "events": list(endpoint.events), "created_at": endpoint.created_at}
    return render_template("dashboard/webhook.html", nav_section="webhooks", webhook=shown, deliveries=deliveries)


@bp.route("/webhooks/<webhook_id>/delete", methods=["GET", "POST"])
def delete_webhook(webhook_id: str):
    """GET asks for confirmation, POST deletes (its pending deliveries are dropped)."""
    with session_scope() as session:
        try:
            endpoint = webhooks_service.get_webhook(session, g.organisation_id, webhook_id)
            what = f"the webhook to {endpoint.url}"
            if request.method == "GET":
                return render_template("dashboard/confirm_delete.html", nav_section="webhooks", what=what,
                                       note="Deliveries not yet sent are dropped.", cancel_url=url_for(".webhooks"))  # fmt: skip
            webhooks_service.delete_webhook(session, g.organisation_id, webhook_id)
        except webhooks_service.WebhookNotFound:
            abort(404, NOT_FOUND)
    flash(f"Deleted {what}.")
    return redirect(url_for(".webhooks"))
