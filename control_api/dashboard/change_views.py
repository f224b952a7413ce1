"""What changed between crawls, in the browser: the job page's "Changes since the previous crawl"
panel, the page comparing any two crawls of a domain, and one URL's history as a small chart. They
call changes_service, as GET /v1/jobs/{id}/changes and /v1/domains/{id}/history do, scoped to the
signed-in organisation."""
from __future__ import annotations

from typing import Any

from flask import abort, g, render_template, request
from sqlalchemy.orm import Session

from contract.changes import ChangeKind
from control_api.jobs.changes import service as changes_service
from control_api.dashboard import charts
from control_api.dashboard.blueprint import bp, owned_job
from control_api.database import session_scope
from db.models import Job

ROWS_SHOWN = 20  # URLs of each kind on the page; the API pages through all of them
HISTORY_SHOWN = 30  # crawls in a URL's chart
KIND_LABELS = {
    ChangeKind.NEW_BROKEN_LINKS: "New broken links",
    ChangeKind.FIXED_BROKEN_LINKS: "Fixed broken links",
    ChangeKind.NEW_PAGES: "New pages",
    ChangeKind.GONE_PAGES: "Pages gone",
    ChangeKind.STATUS_CHANGES: "Status or redirect changed",
    ChangeKind.SLOWER_PAGES: "Slower pages",
    ChangeKind.FASTER_PAGES: "Faster pages",
    ChangeKind.NEW_SLOW_PAGES: "New slow pages",
}


def changes_panel(session: Session, job: Job) -> dict[str, Any]:
    """What the job page shows of its changes: the comparison and the new broken links with their
    referrers, or why there is nothing to show."""
    try:
        pair = changes_service.pair(session, g.organisation_id, job.id, None)
    except changes_service.NotFinished:
        return {"note": "Available when the crawl has ended."}
    except changes_service.NoEarlierCrawl:
        return {"note": "This is the first completed crawl of this domain: nothing to compare with yet."}
    except changes_service.RowsPruned as exc:
        return {"note": f"The per-URL results of job {exc.job.id} were deleted by retention: nothing to compare."}
    comparison = changes_service.comparison(session, pair)
    return {
        "comparison": comparison, "since": pair.since, "labels": KIND_LABELS,
        "new_broken": changes_service.rows(session, pair, ChangeKind.NEW_BROKEN_LINKS, ROWS_SHOWN, 0),
    }  # fmt: skip


@bp.get("/domains/<int:domain_id>/compare")
def compare(domain_id: int):
    """Two crawls of a domain side by side: `before` and `after` job ids (default: the latest two
    finished ones); the earlier of the two is always the one compared against."""
    with session_scope() as session:
        crawls = [job for job in changes_service.domain_jobs(session, g.organisation_id, domain_id) if job.is_terminal]
        if not crawls:
            abort(404, "Your organisation has no finished crawl of this domain.")
        picked = [owned_job(session, request.args[name]) for name in ("before", "after") if request.args.get(name)]
        if any(job.domain_id != domain_id for job in picked):
            abort(404, "That crawl is not one of this domain's.")
        if len(picked) < 2:
            picked = crawls[:2]
        picked.sort(key=lambda job: (job.created_at, job.id))
        context: dict[str, Any] = {"crawls": crawls, "domain": crawls[0].domain.name, "domain_id": domain_id,
                                   "labels": KIND_LABELS, "before": picked[0], "after": picked[-1]}  # fmt: skip
        if len(picked) == 2 and picked[0].id != picked[1].id:
            try:
                pair = changes_service.pair(session, g.organisation_id, picked[1].id, picked[0].id)
            except changes_service.NotComparable as exc:
                context["note"] = f"These crawls cannot be compared: {exc.reason}."
            except changes_service.RowsPruned as exc:
                context["note"] = f"The per-URL results of job {exc.job.id} were deleted by retention."
            except changes_service.NotFinished as exc:
                context["note"] = f"Job {exc.job.id} is still {exc.job.status}."
            else:
                comparison = changes_service.comparison(session, pair)
                context["comparison"] = comparison
                context["rows"] = {kind: changes_service.rows(session, pair, kind, ROWS_SHOWN, 0)
                                   for kind in ChangeKind if getattr(comparison.summary, kind)}  # fmt: skip
        else:
            context["note"] = "Pick two different crawls to compare."
    return render_template("dashboard/compare.html", nav_section="jobs", rows_shown=ROWS_SHOWN, **context)


@bp.get("/domains/<int:domain_id>/history")
def url_history(domain_id: int):
    """One URL across the organisation's crawls of a domain: a small chart of its response times
    and a table, newest crawl first."""
    url = request.args.get("url", "")
    if not url or "\x00" in url or len(url) > 8192:
        abort(400, "Give the URL whose history you want (?url=...).")
    with session_scope() as session:
        try:
            history = changes_service.url_history(session, g.organisation_id, domain_id, url, HISTORY_SHOWN, 0)
            entries, total = history.items, history.total
        except changes_service.DomainNotFound:
            abort(404, "Your organisation has no crawl of this domain.")
    return render_template("dashboard/url_history.html", nav_section="jobs", url=url, entries=entries, total=total,
                           domain_id=domain_id, chart=charts.history_chart(list(reversed(entries))))  # fmt: skip
