"""What changed since an earlier crawl (GET /v1/jobs/{id}/changes) and one URL's history across
crawls (GET /v1/domains/{domain_id}/history). SPEC "What changed since the last crawl"."""
from __future__ import annotations

from flask import g

from control_api.database import session_scope
from control_api.jobs.changes import service as changes_service
from control_api.jobs.changes.schemas import Changes, ChangesQuery, DomainPath, HistoryQuery, UrlHistory
from control_api.jobs.schemas import JobPath
from control_api.openapi import errors, resource_blueprint
from control_api.queries import Page
from control_api.responses import json_response

bp = resource_blueprint("changes", __name__, "/v1", "changes", 400, 404)

NOT_FOUND = "No such job (or `since` job) in your organisation, or no earlier completed crawl to compare with"
CONFLICT = "Either job is not finished yet (job_not_finished)"
GONE = "Either job's per-URL rows were deleted by retention (tasks_pruned)"
NOT_COMPARABLE = "`since` is not an earlier crawl of the same domain (not_comparable)"


@bp.get("/jobs/<job_id>/changes", responses={200: Changes, **errors(409, 410, 422, e404=NOT_FOUND, e409=CONFLICT,
                                                                        e410=GONE, e422=NOT_COMPARABLE)})  # fmt: skip
def job_changes(path: JobPath, query: ChangesQuery):
    """What changed since an earlier crawl: counts per kind, and with `kind` that kind's URLs"""
    with session_scope() as session:
        jobs = changes_service.pair(session, g.organisation_id, path.job_id, query.since)
        comparison = changes_service.comparison(session, jobs)
        body = {"job_id": jobs.job.id, **comparison.model_dump()}
        if query.kind is not None:
            offset, total = query.effective_offset, getattr(comparison.summary, query.kind)
            page = Page(changes_service.rows(session, jobs, query.kind, query.limit, offset), total, query.limit, offset)
            body.update(kind=query.kind, items=page.items, pagination=page.pagination())
    return json_response(Changes.model_validate(body))


@bp.get("/domains/<domain_id>/history", responses={200: UrlHistory, **errors(e404="Your organisation has no crawl of this domain")})
def url_history(path: DomainPath, query: HistoryQuery):
    """One URL across your crawls of a domain, newest first"""
    with session_scope() as session:
        page = changes_service.url_history(session, g.organisation_id, path.domain_id, query.url, query.limit,
                                           query.effective_offset)  # fmt: skip
    return json_response(UrlHistory.model_validate({"domain_id": path.domain_id, "url": query.url, "history": page.items,
                                                    "pagination": page.pagination()}))  # fmt: skip

