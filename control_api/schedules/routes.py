"""The /v1/schedules resource: recurring crawls of a domain, and starting one of their runs now."""
from __future__ import annotations

from flask import Response, current_app, g

from contract.options import redacted
from control_api.base_schemas import NoQuery
from control_api.config import service_settings
from control_api.database import session_scope
from control_api.jobs import presenters
from control_api.jobs import service as jobs_service
from control_api.jobs.routes import CREATE_CONFLICT
from control_api.jobs.schemas import CreatedJob
from control_api.jobs.targets import target_of
from control_api.openapi import errors, resource_blueprint
from control_api.responses import json_response
from control_api.schedules import service as schedules_service
from control_api.schedules.schemas import (
    CreateScheduleRequest,
    ListQuery,
    ScheduleList,
    ScheduleOut,
    SchedulePath,
    UpdateScheduleRequest,
)
from db.models import Schedule

bp = resource_blueprint("schedules", __name__, "/v1/schedules", "schedules")

NOT_FOUND = "No such schedule in your organisation"

LIMIT = "The organisation has as many as it may have (limit_reached, naming the limit)"


@bp.post("", responses={201: ScheduleOut, **errors(400, 409, 413, 415, 422, e409=LIMIT)})
def create_schedule(query: NoQuery, body: CreateScheduleRequest):
    """Create a recurring crawl"""
    settings = service_settings()
    target = target_of(body.domain, settings)
    with session_scope() as session:
        schedule = schedules_service.create_schedule(session, g.organisation_id, target, body, settings)
    return json_response(schedule_out(schedule), 201, {"Location": f"/v1/schedules/{schedule.id}"})


@bp.get("", responses={200: ScheduleList, **errors(400)})
def list_schedules(query: ListQuery):
    """List schedules, newest first"""
    with session_scope() as session:
        page = schedules_service.list_owned(session, Schedule, g.organisation_id, query.limit, query.effective_offset)
        items = [schedule_out(schedule) for schedule in page.items]
    pagination = page.pagination()
    return json_response(ScheduleList(schedules=items, pagination=pagination))


@bp.get("/<schedule_id>", responses={200: ScheduleOut, **errors(400, 404, e404=NOT_FOUND)})
def get_schedule(path: SchedulePath, query: NoQuery):
    """Get a schedule"""
    with session_scope() as session:
        return json_response(schedule_out(schedules_service.get_schedule(session, g.organisation_id, path.schedule_id)))


@bp.patch("/<schedule_id>", responses={200: ScheduleOut, **errors(400, 404, 413, 415, e404=NOT_FOUND)})
def update_schedule(path: SchedulePath, query: NoQuery, body: UpdateScheduleRequest):
    """Change a schedule's options, cadence (interval, or cron and timezone) or enabled flag"""
    with session_scope() as session:
        schedule = schedules_service.update_schedule(session, g.organisation_id, path.schedule_id, body,
                                                     service_settings())
        return json_response(schedule_out(schedule))


@bp.delete("/<schedule_id>", responses={204: None, **errors(400, 404, e404=NOT_FOUND)})
def delete_schedule(path: SchedulePath, query: NoQuery):
    """Delete a schedule (its jobs stay)"""
    with session_scope() as session:
        schedules_service.delete_schedule(session, g.organisation_id, path.schedule_id)
    return Response(status=204)


@bp.post("/<schedule_id>/run", responses={201: CreatedJob, **errors(400, 404, 409, e404=NOT_FOUND, e409=CREATE_CONFLICT)})
def run_schedule_now(path: SchedulePath, query: NoQuery):
    """Start one run of a schedule now"""
    with session_scope() as session:
        job = schedules_service.run_now(session, g.organisation_id, path.schedule_id, service_settings())
    jobs_service.schedule_job(session_scope, current_app.extensions["scheduler"], job)
    return json_response(presenters.created_job(job), 201, {"Location": f"/v1/jobs/{job.id}"})


def schedule_out(schedule: Schedule) -> ScheduleOut:
    return ScheduleOut(
        id=schedule.id, domain=schedule.domain.name, domain_id=schedule.domain_id, options=redacted(schedule.options),
        interval_hours=schedule.interval_hours, cron=schedule.cron, timezone=schedule.timezone,
        enabled=schedule.enabled, next_run_at=schedule.next_run_at,
        last_job_id=schedule.last_job_id, skipped_runs=schedule.skipped_runs, last_skipped_at=schedule.last_skipped_at,
        created_at=schedule.created_at,
    )  # fmt: skip
