"""The job page's figures, as text, from one place: the page is rendered with them and, while the
crawl runs, its script polls the same JSON (/app/jobs/<id>/progress) and puts each text where its
`data-field` is, so nothing on the page is stale and nothing is formatted twice (here, not in JS).

The counts of issues and the charts read the job's task rows (indexed by job): the script asks for
them every few polls (`figures=1`), the progress bar's own counters on every poll."""
from __future__ import annotations

from typing import Any

from jinja2.filters import do_filesizeformat
from sqlalchemy.orm import Session

from control_api.dashboard import charts, figures
from control_api.jobs.results import service as results_service
from control_api.jobs.schemas import JobOut
from db.models import Job

ISSUE_KINDS = ("broken_links", "external_broken_links", "slow_pages", "redirect_chains", "server_errors")


def stat_fields(detail: JobOut) -> dict[str, str]:
    """The Stats and Cache warming figures, each the text the page shows."""
    stats = detail.stats
    saved = stats.avg_response_time - stats.avg_response_time_after_warming
    after = f"{stats.avg_response_time_after_warming} ms" + (f" ({saved} ms saved per visit)" if saved > 0 else "")
    return {
        "avg_response_time": f"{stats.avg_response_time} ms",
        "total_bytes": do_filesizeformat(stats.total_bytes),
        "cache_hit_ratio": figures.ratio(stats.cache_hit_ratio),
        "pages_warmed": str(stats.pages_warmed),
        "cache_hit_ratio_after_warming": figures.ratio(stats.cache_hit_ratio_after_warming),
        "avg_response_time_after_warming": after,
        "external_links_checked": str(stats.external_links_checked),
    }


def job_charts(session: Session, job_id: str) -> dict[str, charts.BarChart]:
    histogram = results_service.response_time_histogram(session, job_id, charts.RESPONSE_TIME_BOUNDS)
    breakdown = results_service.status_breakdown(session, job_id)
    return {
        "status-chart": charts.bar_chart("Pages by HTTP status", "pages", breakdown),
        "time-chart": charts.bar_chart("Response times", "pages", dict(zip(charts.response_time_labels(), histogram))),
    }


def chart_json(chart: charts.BarChart) -> dict[str, Any]:
    return {"total": chart.total, "bars": {bar.label: bar.count for bar in chart.bars}}


def figures_json(detail: JobOut) -> dict[str, Any]:
    """What every poll carries beside the job itself: the stats' texts and the times."""
    return {
        "fields": stat_fields(detail),
        "times": {"started_at": _iso(detail.started_at), "finished_at": _iso(detail.cancelled_at or detail.completed_at)},
    }


def row_figures_json(session: Session, job: Job) -> dict[str, Any]:
    """What every few polls carry (`figures=1`): the issue counts and the charts, from the rows."""
    counts = results_service.issues_counts(session, job)
    return {
        "issue_counts": {kind: counts[kind] for kind in ISSUE_KINDS},
        "charts": {chart_id: chart_json(chart) for chart_id, chart in job_charts(session, job.id).items()},
    }


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
