"""Publish hooks: /v1/triggers (manage them with a bearer token) and POST /hooks/<secret> (call one:
the secret in the path is the credential, so a CMS can start a crawl with a plain URL)."""
from __future__ import annotations

from flask import Response, current_app, g, request
from flask_openapi3 import APIBlueprint, Tag

from contract.options import redacted
from control_api.base_schemas import NoQuery
from control_api.config import service_settings
from control_api.database import session_scope
from control_api.jobs import service as jobs_service
from control_api.jobs.targets import target_of
from control_api.openapi import errors, resource_blueprint
from control_api.rate_limits import rate_limits
from control_api.responses import json_response, public_url
from control_api.schedules.schemas import ListQuery
from control_api.schedules.service import list_owned
from control_api.triggers import service as triggers_service
from control_api.triggers.schemas import (
    CreatedTrigger,
    CreateTriggerRequest,
    HookAccepted,
    HookPath,
    TriggerList,
    TriggerOut,
    TriggerPath,
)
from db.models import Trigger

bp = resource_blueprint("triggers", __name__, "/v1/triggers", "triggers")

hooks_bp = APIBlueprint("hooks", __name__, url_prefix="/hooks", abp_tags=[Tag(name="triggers")])

NOT_FOUND = "No such trigger in your organisation"

LIMIT = "The organisation has as many as it may have (limit_reached, naming the limit)"


@bp.post("", responses={201: CreatedTrigger, **errors(400, 409, 413, 415, 422, e409=LIMIT)})
def create_trigger(query: NoQuery, body: CreateTriggerRequest):
    """Create a publish hook; its URL is shown only in this answer"""
    settings = service_settings()
    target = target_of(body.domain, settings)
    with session_scope() as session:
        trigger, secret = triggers_service.create_trigger(session, g.organisation_id, target, body, settings)
    created = CreatedTrigger(url=public_url(triggers_service.hook_path(secret)), **trigger_fields(trigger))
    return json_response(created, 201, {"Location": f"/v1/triggers/{trigger.id}"})


@bp.get("", responses={200: TriggerList, **errors(400)})
def list_triggers(query: ListQuery):
    """List triggers, newest first"""
    with session_scope() as session:
        page = list_owned(session, Trigger, g.organisation_id, query.limit, query.effective_offset)
        items = [TriggerOut(**trigger_fields(trigger)) for trigger in page.items]
    pagination = page.pagination()
    return json_response(TriggerList(triggers=items, pagination=pagination))


@bp.get("/<trigger_id>", responses={200: TriggerOut, **errors(400, 404, e404=NOT_FOUND)})
def get_trigger(path: TriggerPath, query: NoQuery):
    """Get a trigger (without its URL, whose secret is not stored)"""
    with session_scope() as session:
        trigger = triggers_service.get_trigger(session, g.organisation_id, path.trigger_id)
        return json_response(TriggerOut(**trigger_fields(trigger)))


@bp.delete("/<trigger_id>", responses={204: None, **errors(400, 404, e404=NOT_FOUND)})
def delete_trigger(path: TriggerPath, query: NoQuery):
    """Delete a trigger: its URL answers 404 from now on"""
    with session_scope() as session:
        triggers_service.delete_trigger(session, g.organisation_id, path.trigger_id)
    return Response(status=204)


HOOK_ERRORS = errors(404, 409, 413, 429, 503, e404="Unknown or deleted trigger", e413="Body over 1 MB",
                     e409="The organisation has as many jobs in flight as it may have (limit_reached)")  # fmt: skip


@hooks_bp.post("/<secret>", responses={202: HookAccepted, **HOOK_ERRORS})
def call_hook(path: HookPath):
    """Start the trigger's crawl (no bearer token; any body up to 1 MB is accepted and ignored)"""
    # Guessing secrets costs what guessing tokens costs; each trigger URL has the per-token limit.
    limits, address = rate_limits(), request.remote_addr or ""
    failures_per_minute, what = current_app.config["AUTH_FAILURES_PER_MINUTE"], "unknown hook URLs a minute from one address"
    limits.check("auth-failure", address, failures_per_minute, what)
    hashed = triggers_service.secret_hash(path.secret)
    limits.hit("hook", hashed, current_app.config["RATE_LIMIT_PER_MINUTE"], "calls a minute of this hook")
    _read_and_ignore_body()
    try:
        with session_scope() as session:
            job, job_id = triggers_service.fire(session, path.secret, service_settings())
    except triggers_service.TriggerNotFound:  # the domain's 404, counted as a failed authentication
        limits.hit("auth-failure", address, failures_per_minute, what)
        raise
    if job is not None:
        jobs_service.schedule_job(session_scope, current_app.extensions["scheduler"], job)
    return json_response(HookAccepted(job_id=job_id), 202)


def _read_and_ignore_body() -> None:
    """CMSs send their own JSON (or anything else); read it, up to HOOK_MAX_BODY_BYTES, else 413."""
    request.max_content_length = current_app.config["HOOK_MAX_BODY_BYTES"]
    request._read_body()  # our JsonRequest's bounded read, chunked bodies included


def trigger_fields(trigger: Trigger) -> dict:
    return {"id": trigger.id, "domain": trigger.domain.name, "options": redacted(trigger.options), "name": trigger.name,
            "last_job_id": trigger.last_job_id, "last_called_at": trigger.last_called_at,
            "created_at": trigger.created_at}  # fmt: skip
