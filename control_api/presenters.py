"""Turn Job rows into the response schemas. Progress and stats come from the job's own counters."""
from __future__ import annotations

from flask import Response
from pydantic import BaseModel

from control_api.schemas import CreatedJob, JobListItem, JobOut, Progress, Stats
from db.models import Job


def json_response(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # exclude_unset: optional objects (include=stats, ...) are absent unless asked for, not null.
    return Response(model.model_dump_json(exclude_unset=True), status=status, mimetype="application/json", headers=headers)


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
    )


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
        "options": job.options,
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
