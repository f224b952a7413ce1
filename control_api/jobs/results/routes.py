"""Crawl results of a job: /v1/jobs/{id}/tasks, one task's record (/tasks/{task_id}), /issues, /export (streamed CSV or JSON lines) and
/log (the crawler's log, read from its scrapyd node for the job's organisation only)."""
from __future__ import annotations

from flask import Response, current_app, g, stream_with_context

from control_api.base_schemas import NoQuery
from control_api.database import session_scope
from control_api.jobs import service as jobs_service
from control_api.jobs.presenters import export_response
from control_api.jobs.results import service as results_service
from control_api.jobs.results.schemas import ExportQuery, IssuesReport, ListTasksQuery, TaskDetail, TaskList, TaskOut, TaskPath
from control_api.jobs.schemas import JobPath
from control_api.openapi import errors, resource_blueprint, streamed
from control_api.responses import json_response

bp = resource_blueprint("results", __name__, "/v1/jobs/<job_id>", "results", 400, 404)


PRUNED = "The job's per-URL rows were deleted by retention (tasks_pruned)"


def _job_with_rows(session, job_id: str):
    """The job, when its per-URL rows are still kept (control_api/jobs/retention.py); errors.py turns
    JobNotFound into 404 and TasksPruned into 410."""
    return results_service.require_rows(jobs_service.get_job(session, g.organisation_id, job_id))


@bp.get("/tasks", responses={200: TaskList, **errors(410, e410=PRUNED)})
def list_tasks(path: JobPath, query: ListTasksQuery):
    """Per-URL results, filtered, sorted and paginated"""
    with session_scope() as session:
        _job_with_rows(session, path.job_id)
        page = results_service.list_tasks(session, path.job_id, query).map(
            lambda task: TaskOut.model_validate({**_columns(task), "issues": results_service.task_issues(task)}))
    return json_response(TaskList(tasks=page.items, pagination=page.pagination()))


NO_TASK = "No such job, or no such task in it"


@bp.get("/tasks/<task_id>", responses={200: TaskDetail, **errors(404, 410, e410=PRUNED, e404=NO_TASK)})
def get_task(path: TaskPath, query: NoQuery):
    """One URL's full record: every column, its issues, its redirect chain and its referrers"""
    with session_scope() as session:
        _job_with_rows(session, path.job_id)
        task = results_service.require_task(session, path.job_id, path.task_id)
        referrers = results_service.task_referrers(session, task)
        detail = TaskDetail.model_validate({**_columns(task), "issues": results_service.task_issues(task),
                                            "referrers": referrers, "referrer_count": len(referrers)})  # fmt: skip
    return json_response(detail)


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
        node = jobs_service.get_job(session, g.organisation_id, job_id).scrapyd_node
    scheduler = current_app.extensions["scheduler"]
    upstream = results_service.open_crawl_log(scheduler, node, job_id)
    return Response(stream_with_context(scheduler.log_chunks(node, upstream)), mimetype="text/plain")


def _columns(task) -> dict:
    return {column.key: getattr(task, column.key) for column in task.__table__.columns}
