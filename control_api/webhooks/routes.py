"""The /v1/webhooks resource: URLs told when a job of the organisation starts, completes, fails or is
cancelled (Standard Webhooks; the sender is control_api/webhooks/sender.py)."""
from __future__ import annotations

from flask import Response, g

from control_api.base_schemas import NoQuery
from control_api.config import service_settings
from control_api.database import session_scope
from control_api.openapi import errors, resource_blueprint
from control_api.responses import json_response
from control_api.webhooks import service as webhooks_service
from control_api.webhooks.schemas import (
    CreatedWebhook,
    CreateWebhookRequest,
    DeliveryList,
    DeliveryOut,
    ListDeliveriesQuery,
    ListWebhooksQuery,
    WebhookList,
    WebhookOut,
    WebhookPath,
)

bp = resource_blueprint("webhooks", __name__, "/v1/webhooks", "webhooks", 400)

NOT_FOUND = errors(404, e404="No such webhook in your organisation")

LIMIT = "The organisation has as many as it may have (limit_reached, naming the limit)"


@bp.post("", responses={201: CreatedWebhook, **errors(409, 413, 415, 422, e409=LIMIT,
                                                      e422="The URL's host resolves to a private address")})
def create_webhook(query: NoQuery, body: CreateWebhookRequest):
    """Create a webhook; its secret is shown only in this response"""
    settings = service_settings()
    webhooks_service.check_url_allowed(body.url, settings)
    with session_scope() as session:
        endpoint = webhooks_service.create_webhook(session, g.organisation_id, body, settings)
    created = CreatedWebhook.model_validate(endpoint, from_attributes=True)
    return json_response(created, 201, {"Location": f"/v1/webhooks/{endpoint.id}"})


@bp.get("", responses={200: WebhookList})
def list_webhooks(query: ListWebhooksQuery):
    """List webhooks, newest first"""
    with session_scope() as session:
        page = webhooks_service.list_webhooks(session, g.organisation_id, query)
        items = [WebhookOut.model_validate(endpoint, from_attributes=True) for endpoint in page.items]
    return json_response(WebhookList(webhooks=items, pagination=page.pagination()))


@bp.get("/<webhook_id>", responses={200: WebhookOut, **NOT_FOUND})
def get_webhook(path: WebhookPath, query: NoQuery):
    """Get a webhook (without its secret)"""
    with session_scope() as session:
        endpoint = webhooks_service.get_webhook(session, g.organisation_id, path.webhook_id)
        return json_response(WebhookOut.model_validate(endpoint, from_attributes=True))


@bp.delete("/<webhook_id>", responses={204: None, **NOT_FOUND})
def delete_webhook(path: WebhookPath, query: NoQuery):
    """Delete a webhook; its pending deliveries are dropped"""
    with session_scope() as session:
        webhooks_service.delete_webhook(session, g.organisation_id, path.webhook_id)
    return Response(status=204)


@bp.get("/<webhook_id>/deliveries", responses={200: DeliveryList, **NOT_FOUND})
def list_deliveries(path: WebhookPath, query: ListDeliveriesQuery):
    """Delivery attempts of a webhook, newest first"""
    with session_scope() as session:
        endpoint = webhooks_service.get_webhook(session, g.organisation_id, path.webhook_id)
        page = webhooks_service.list_deliveries(session, endpoint, query)
    items = [DeliveryOut.model_validate(item) for item in page.items]
    return json_response(DeliveryList(deliveries=items, pagination=page.pagination()))
