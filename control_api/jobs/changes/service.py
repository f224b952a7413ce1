"""What changed since an earlier crawl, and one URL's history across crawls, for one organisation.
The comparison itself is db/changes.py (the crawler uses it too); this layer finds and checks the
two jobs and raises domain errors, which errors.py turns into status codes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from contract.changes import ChangeKind, Comparison
from control_api.domain_errors import Conflict, Gone, NotAllowed, NotFound
from control_api.jobs import service as jobs_service
from control_api.queries import Page, paginate
from db import changes
from db.models import Job, Task, url_hash


class NoEarlierCrawl(NotFound):
    """The job has no earlier completed crawl of its domain to compare with."""

    def __init__(self, job_id: str):
        super().__init__("no_earlier_crawl", f"Job {job_id} has no earlier completed crawl of its domain to compare "
                         "with (a first crawl); pass `since` to compare with another earlier job.")  # fmt: skip


class NotComparable(NotAllowed):
    """`since` is not an earlier crawl of the same domain; `reason` says which way (the dashboard shows it)."""

    def __init__(self, reason: str):
        super().__init__("not_comparable", f"since: {reason}; compare crawls of one domain, the earlier as `since`.")
        self.reason = reason


class NotFinished(Conflict):
    def __init__(self, job: Job):
        super().__init__("job_not_finished", f"Job {job.id} is {job.status}: compare once both jobs have finished.")
        self.job = job


class RowsPruned(Gone):
    def __init__(self, job: Job):
        super().__init__("tasks_pruned", f"Job {job.id}'s per-URL results were deleted on "
                         f"{job.tasks_pruned_at:%Y-%m-%d} (retention): there is nothing to compare.")  # fmt: skip
        self.job = job


class DomainNotFound(NotFound):
    def __init__(self, domain_id: int):
        super().__init__("domain_not_found", f"Your organisation has no crawl of domain {domain_id}.")


@dataclass
class Pair:
    job: Job
    since: Job


def pair(session: Session, organisation_id: int, job_id: str, since_id: str | None) -> Pair:
    """The job and the crawl to compare it with, both terminal, with their rows kept. Raises
    jobs_service.JobNotFound (either job not in the organisation), NoEarlierCrawl, NotComparable,
    NotFinished, RowsPruned."""
    job = jobs_service.get_job(session, organisation_id, job_id)
    if not job.is_terminal:
        raise NotFinished(job)
    if since_id is None:
        since = changes.previous_job(session, job)
        if since is None:
            raise NoEarlierCrawl(job_id)
    else:
        since = jobs_service.get_job(session, organisation_id, since_id)
        if since.domain_id != job.domain_id:
            raise NotComparable(f"job {since.id} crawled {since.domain.name}, not {job.domain.name}")
        if since.id == job.id or (since.created_at, since.id) >= (job.created_at, job.id):
            raise NotComparable(f"job {since.id} was not created before job {job.id}")
    if not since.is_terminal:
        raise NotFinished(since)
    for each in (job, since):
        if each.tasks_pruned_at is not None:
            raise RowsPruned(each)
    return Pair(job, since)


def comparison(session: Session, jobs: Pair) -> Comparison:
    """The comparison the crawler stored at completion when it is the one asked for, else computed."""
    stored = jobs.job.changes
    if stored and stored.get("since_job_id") == jobs.since.id:
        return Comparison.model_validate(stored)
    return changes.comparison(session, jobs.job, jobs.since)


def rows(session: Session, jobs: Pair, kind: ChangeKind, limit: int, offset: int) -> list[dict[str, Any]]:
    return changes.change_rows(session, jobs.since.id, jobs.job.id, kind, limit, offset)


def domain_jobs(session: Session, organisation_id: int, domain_id: int) -> list[Job]:
    """The organisation's jobs on a domain, newest first (for the dashboard's compare page)."""
    return list(session.scalars(
        select(Job).where(Job.organisation_id == organisation_id, Job.domain_id == domain_id)
        .order_by(Job.created_at.desc(), Job.id.desc())
    ))  # fmt: skip


def url_history(session: Session, organisation_id: int, domain_id: int, url: str, limit: int, offset: int
                ) -> Page[dict[str, Any]]:  # fmt: skip
    """One URL across the organisation's crawls of a domain, newest crawl first: what each crawl
    recorded for it. Crawls whose rows retention deleted have none, so they are not in it. Through
    the jobs index, then one (job_id, url_hash) index look-up per job."""
    has_jobs = session.scalar(
        select(Job.id).where(Job.organisation_id == organisation_id, Job.domain_id == domain_id).limit(1)
    )
    if has_jobs is None:
        raise DomainNotFound(domain_id)
    where = (Job.organisation_id == organisation_id, Job.domain_id == domain_id, Task.job_id == Job.id,
             Task.url_hash == url_hash(url), Task.url == url, Task.kind != "sitemap")  # fmt: skip
    newest_first = (
        select(Job.id, Job.created_at, Task).join(Job, Task.job_id == Job.id).where(*where)
        .order_by(Job.created_at.desc(), Job.id.desc())
    )  # fmt: skip
    return paginate(session, newest_first, limit, offset).map(_history_entry)


def _history_entry(row) -> dict[str, Any]:
    job_id, created_at, task = row
    return {"job_id": job_id, "job_created_at": created_at, "fetched_at": task.fetched_at, "status": task.status,
            "http_status": task.http_status, "response_time_ms": task.response_time_ms, "cache_status": task.cache_status,
            "is_broken": task.is_broken, "is_slow": task.is_slow}  # fmt: skip
