"""Turn Job rows into the response schemas (progress and stats come from the job's own counters),
and a job's results into a file download."""
from __future__ import annotations

from flask import Response, stream_with_context
from sqlalchemy.orm import Session

from contract.options import redacted
from control_api.database import engine
from control_api.jobs.results.service import export_lines
from control_api.jobs.schemas import CreatedJob, JobListItem, JobOut, Progress, Stats
from db.models import Job


def progress(job: Job) -> Progress:
    done = job.completed_tasks + job.failed_tasks + job.skipped_tasks
    if job.is_terminal:
        percentage = 100.0
    elif job.total_tasks:
        percentage = min(100.0, round(done * 100.0 / job.total_tasks, 1))
    else:
        percentage = 0.0
    return Progress(
        total_tasks=job.total_tasks,
        completed_tasks=job.completed_tasks,
        failed_tasks=job.failed_tasks,
        skipped_tasks=job.skipped_tasks,
        percentage=percentage,
    )


def stats(job: Job) -> Stats:
    known = job.cache_known_pages
    return Stats(
        avg_response_time=job.avg_response_time,
        cache_hit_ratio=job.cache_hit_ratio,
        total_bytes=job.total_bytes,
        pages_warmed=job.warmed_pages,
        cache_hit_ratio_after_warming=round(job.cache_hit_pages_after_warming / known, 4) if known else None,
        avg_response_time_after_warming=job.avg_response_time_after_warming,
        **performance(job),
        **external_stats(job),
    )


def external_stats(job: Job) -> dict[str, int]:
    """Outbound link checks (crawler/external.py), from the job's own counters."""
    return {"external_links_checked": job.external_checked, "external_broken": job.external_broken,
            "external_from_cache": job.external_from_cache}


PERFORMANCE_FIELDS = ("response_time_p50", "response_time_p75", "response_time_p95", "response_time_p99", "ttfb_p50",
                      "ttfb_p95", "status_counts", "broken_links", "slow_pages", "redirects", "server_errors")  # fmt: skip


def performance(job: Job) -> dict:
    """The summary stored when the job ended (db/performance.py); every field null before that."""
    stored = job.performance or {}
    return {name: stored.get(name) for name in PERFORMANCE_FIELDS}


def _base(job: Job) -> dict:
    return {
        "id": job.id,
        "domain": job.domain.name,
        "domain_id": job.domain_id,
        "status": job.status,
        "organisation_id": str(job.organisation_id),
        "created_at": job.created_at,
        "options": redacted(job.options),
        "source_type": job.source_type,
        "source_detail": job.source_detail,
        "schedule_id": job.schedule_id,
    }


def created_job(job: Job) -> CreatedJob:
    return CreatedJob(**_base(job))


def job_detail(job: Job) -> JobOut:
    return JobOut(
        started_at=job.started_at,
        completed_at=job.completed_at,
        cancelled_at=job.cancelled_at,
        error=job.error,
        progress=progress(job),
        stats=stats(job),
        **({"tasks_pruned_at": job.tasks_pruned_at} if job.tasks_pruned_at else {}),
        **_base(job),
    )


def job_list_item(job: Job, includes: tuple[str, ...]) -> JobListItem:
    extra = {}
    if "progress" in includes:
        extra["progress"] = progress(job)
    if "stats" in includes:
        extra["stats"] = stats(job)
    return JobListItem(
        started_at=job.started_at,
        completed_at=job.completed_at,
        cancelled_at=job.cancelled_at,
        error=job.error,
        **extra,
        **_base(job),
    )


def export_response(job_id: str, fmt: str) -> Response:
    """Every task of the job as a CSV or JSON-lines attachment, streamed through a server-side cursor
    in a session of its own (the request's has ended when the body is sent): what the API's export
    and the dashboard's download link both answer."""

    def generate():
        with Session(engine()) as session:
            yield from export_lines(session, job_id, fmt)

    return Response(
        stream_with_context(generate()), mimetype="text/csv" if fmt == "csv" else "application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="job-{job_id}.{fmt}"'},
    )  # fmt: skip
