"""The /v1/jobs resource: create, list, get and cancel crawl jobs."""
from __future__ import annotations

from flask import current_app, g

from control_api.base_schemas import NoQuery
from control_api.config import service_settings
from control_api.database import session_scope
from control_api.jobs import presenters
from control_api.jobs import service as jobs_service
from control_api.jobs.schemas import CancelledJob, CreatedJob, CreateJobRequest, JobList, JobOut, JobPath, ListJobsQuery
from control_api.openapi import errors, resource_blueprint
from control_api.responses import json_response

bp = resource_blueprint("jobs", __name__, "/v1/jobs", "jobs")


def scheduler():
    return current_app.extensions["scheduler"]


CREATE_CONFLICT = ("Your organisation already has a created or running job on this domain (job_already_running), "
                   "or as many jobs in flight as it may have (limit_reached)")


@bp.post("", responses={201: CreatedJob, **errors(400, 409, 413, 415, 422, e409=CREATE_CONFLICT)})
def create_job(query: NoQuery, body: CreateJobRequest):
    """Create a crawl job"""
    job = jobs_service.start_job(session_scope, scheduler(), g.organisation_id, body, service_settings())
    return json_response(presenters.created_job(job), 201, {"Location": f"/v1/jobs/{job.id}"})


@bp.get("", responses={200: JobList, **errors(400)})
def list_jobs(query: ListJobsQuery):
    """List jobs, newest first"""
    with session_scope() as session:
        page = jobs_service.list_jobs(session, g.organisation_id, query)
        items = [presenters.job_list_item(job, query.includes) for job in page.items]
    pagination = page.pagination()
    return json_response(JobList(jobs=items, pagination=pagination))


@bp.get("/<job_id>", responses={200: JobOut, **errors(400, 404)})
def get_job(path: JobPath, query: NoQuery):
    """Get a job with progress and stats"""
    with session_scope() as session:
        job = jobs_service.get_job(session, g.organisation_id, path.job_id)
        return json_response(presenters.job_detail(job))


CANCEL_RESPONSES = {200: CancelledJob, **errors(400, 404, 409, e409="The job already completed or failed")}


@bp.post("/<job_id>/cancel", responses=CANCEL_RESPONSES)
@bp.delete("/<job_id>", responses=CANCEL_RESPONSES)
def cancel_job(path: JobPath, query: NoQuery):
    """Cancel a job (idempotent)"""
    with session_scope() as session:
        job, newly_cancelled = jobs_service.cancel_job(session, g.organisation_id, path.job_id)
    if newly_cancelled:
        jobs_service.stop_spider(scheduler(), job)
    return json_response(CancelledJob(id=job.id, status="cancelled", cancelled_at=job.cancelled_at))
