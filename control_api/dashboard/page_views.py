"""The pages browser of a job (/app/jobs/<id>/pages): a form of the filters, sorts and paging of
`GET /v1/jobs/{id}/tasks`, read by the same schema (ListTasksQuery) and the same service function
(results_service.list_tasks), so the page shows what the API answers for the same query; and one
URL's record (/app/jobs/<id>/pages/<task_id>), as `GET /v1/jobs/{id}/tasks/{task_id}` gives it."""
from __future__ import annotations

from flask import abort, render_template, request, url_for
from pydantic import ValidationError

from contract.vocabulary import CacheStatus, TaskKind, TaskStatus
from control_api.dashboard.blueprint import bp, error_page, owned_job
from control_api.dashboard.paging import PAGE_SIZE, page_number, pager
from control_api.database import session_scope
from control_api.jobs import presenters
from control_api.jobs.results import service as results_service
from control_api.jobs.results.schemas import STATUS_CLASSES, ListTasksQuery
from control_api.validation import validation_error

# The form's fields, named as /tasks names its parameters (`path`, q's deprecated alias, is not offered).
FILTERS = ("q", "path_prefix", "status_class", "status", "issue", "cache_status", "kind", "sort")
STATUS_CLASS_LABELS = {name: name if name != "none" else "no response" for name in STATUS_CLASSES}
ISSUE_LABELS = {
    "broken_link": "Broken", "slow": "Slow", "redirect_chain": "Redirect chain", "server_error": "Server error",
}  # fmt: skip
SORTS = {
    "id": "Discovery order", "url": "URL, A to Z", "-url": "URL, Z to A",
    "-response_time_ms": "Slowest first", "response_time_ms": "Fastest first", "-ttfb_ms": "Slowest first byte first",
    "http_status": "HTTP status, lowest first", "-http_status": "HTTP status, highest first",
    "-bytes": "Largest first", "depth": "Shallowest first", "-depth": "Deepest first",
}  # fmt: skip
CHOICES = {
    "status_class": STATUS_CLASS_LABELS,
    "status": {status.value: status.value for status in TaskStatus},
    "issue": ISSUE_LABELS,
    "cache_status": {**{status.value: status.value for status in CacheStatus}, "none": "unknown"},
    "kind": {kind.value: kind.value for kind in TaskKind},
}


def _pruned(row):
    try:
        results_service.require_rows(row)
    except results_service.TasksPruned as exc:  # the API's 410, as a page
        return error_page(410, "Results removed by retention", str(exc))
    return None


@bp.get("/jobs/<job_id>/pages")
def pages(job_id: str):
    filters = {name: request.args[name] for name in FILTERS if request.args.get(name)}
    number = page_number()
    with session_scope() as session:
        row = owned_job(session, job_id)
        if (gone := _pruned(row)) is not None:
            return gone
        detail = presenters.job_detail(row)
        try:
            query = ListTasksQuery.model_validate({"limit": PAGE_SIZE, "page": number, **filters})
        except ValidationError as exc:
            return _render(detail, filters, error=validation_error(exc).message), 400
        page = results_service.list_tasks(session, job_id, query)
        rows = [{"task": task, "issues": results_service.task_issues(task)} for task in page.items]
    links = pager(".pages", number, page.has_next, job_id=job_id, **filters)
    return _render(detail, filters, page=page, rows=rows, **links)


def _render(job, filters: dict[str, str], **context):
    return render_template("dashboard/pages.html", nav_section="jobs", job=job, filters=filters, choices=CHOICES,
                           sorts=SORTS, issue_labels=ISSUE_LABELS, **context)  # fmt: skip


@bp.get("/jobs/<job_id>/pages/<int:task_id>")
def page_record(job_id: str, task_id: int):
    with session_scope() as session:
        row = owned_job(session, job_id)
        if (gone := _pruned(row)) is not None:
            return gone
        task = results_service.get_task(session, job_id, task_id) if task_id <= 2**63 - 1 else None
        if task is None:
            abort(404, "This job has no such page.")
        detail = presenters.job_detail(row)
        record = {
            "task": task,
            "issues": results_service.task_issues(task),
            "referrers": results_service.task_referrers(session, task),
            # as the issues report gives a chain, for the chain_hops filter (dashboard/chains.py)
            "chain": {"url": task.url, "final_url": task.final_url, "chain": task.redirect_chain,
                      "error_type": task.error_type},
        }  # fmt: skip
    back = request.referrer if _is_our_browser(request.referrer, job_id) else url_for(".pages", job_id=job_id)
    return render_template("dashboard/page_record.html", nav_section="jobs", job=detail, back=back,
                           issue_labels=ISSUE_LABELS, **record)  # fmt: skip


def _is_our_browser(referrer: str | None, job_id: str) -> bool:
    """The browser's page with its filters, to go back to, when that is where the user came from."""
    prefix = url_for(".pages", job_id=job_id, _external=True)
    return bool(referrer) and (referrer == prefix or referrer.startswith(prefix + "?"))
