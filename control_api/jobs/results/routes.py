"""Crawl results of a job: /v1/jobs/{id}/tasks, /issues, /export (streamed CSV or JSON lines) and
/log (the crawler's log, read from its scrapyd node for the job's organisation only)."""
from __future__ import annotations

from flask import Response, current_app, g, stream_with_context
from flask_openapi3 import APIBlueprint, Tag

from control_api.auth import authenticate
from control_api.base_schemas import NoQuery
from control_api.database import session_scope
from control_api.errors import ApiError
from control_api.jobs import service as jobs_service
from control_api.jobs.presenters import export_response
from control_api.jobs.results import service as results_service
from control_api.jobs.results.schemas import ExportQuery, IssuesReport, ListTasksQuery, TaskList, TaskOut
from control_api.jobs.schemas import JobPath
from control_api.nodes.scrapyd_client import SchedulerUnavailable
from control_api.openapi import BEARER, COMMON_ERRORS, errors, streamed
from control_api.responses import json_response

bp = APIBlueprint(
    "results", __name__, url_prefix="/v1/jobs/<job_id>",
    abp_tags=[Tag(name="results")], abp_security=BEARER, abp_responses=errors(*COMMON_ERRORS, 400, 404),
)  # fmt: skip
bp.before_request(authenticate)


def _job(session, job_id: str):
    try:
        return jobs_service.get_job(session, g.organisation_id, job_id)
    except jobs_service.JobNotFound:
        raise ApiError(404, "job_not_found", f"No job with id '{job_id}'.") from None


PRUNED = "The job's per-URL rows were deleted by retention (tasks_pruned)"


def _job_with_rows(session, job_id: str):
    """The job, when its per-URL rows are still kept (control_api/jobs/retention.py); 410 once pruned."""
    try:
        return results_service.require_rows(_job(session, job_id))
    except results_service.TasksPruned as exc:
        raise ApiError(410, "tasks_pruned", str(exc)) from None


@bp.get("/tasks", responses={200: TaskList, **errors(410, e410=PRUNED)})
def list_tasks(path: JobPath, query: ListTasksQuery):
    """Per-URL results, filtered, sorted and paginated"""
    with session_scope() as session:
        _job_with_rows(session, path.job_id)
        page = results_service.list_tasks(session, path.job_id, query).map(
            lambda task: TaskOut.model_validate({**_columns(task), "issues": results_service.task_issues(task)}))
    return json_response(TaskList(tasks=page.items, pagination=page.pagination()))


@bp.get("/issues", responses={200: IssuesReport, **errors(410, e410=PRUNED)})
def issues(path: JobPath, query: NoQuery):
    """Broken links with their referrers, slow pages, redirect chains, server errors"""
    with session_scope() as session:
        job = _job_with_rows(session, path.job_id)
        report = results_service.issues_report(session, job)
    return json_response(IssuesReport.model_validate(report))


@bp.get("/export", responses={200: streamed("The job's tasks", "text/csv", "application/x-ndjson"), **errors(410, e410=PRUNED)})
def export(path: JobPath, query: ExportQuery):
    """Every task, streamed as CSV or JSON lines"""
    job_id = path.job_id
    with session_scope() as session:
        _job_with_rows(session, job_id)
    return export_response(job_id, query.format)


@bp.get("/log", responses={200: streamed("The crawl log", "text/plain"), **errors(404, e404="No such job, or it has no log")})
def crawl_log(path: JobPath, query: NoQuery):
    """The crawler's log for this job, streamed as text"""
    job_id = path.job_id
    with session_scope() as session:
        node = _job(session, job_id).scrapyd_node
    scheduler = current_app.extensions["scheduler"]
    try:
        upstream = scheduler.crawl_log(node, job_id) if node else None
    except SchedulerUnavailable as exc:
        raise ApiError(503, "scheduler_unavailable", f"The crawl log could not be read: {exc}.") from None
    if upstream is None:
        raise ApiError(404, "log_not_found", f"Job {job_id} has no crawl log (it never ran, or its node no longer keeps it).")
    return Response(stream_with_context(scheduler.log_chunks(node, upstream)), mimetype="text/plain")


def _columns(task) -> dict:
    return {column.key: getattr(task, column.key) for column in task.__table__.columns}
