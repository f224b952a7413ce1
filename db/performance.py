"""A job's performance summary: the distribution of its pages, computed once when the job ends.

Percentiles need every value, and a page's `is_broken` flag can still change after its row was
written (a link found later to a URL that had failed), so neither can be a running counter that
stays exact. Instead whoever ends a job (the crawler as it completes or fails it, the API as it
cancels it, the reconciler as it fails a dead crawl) calls `record_performance` in the
transaction that ends it: no row can be added after that (every crawler write checks that the
job is running), so the summary is exact and final, and reading it is O(1) from then on. Its cost
is one pass over the job's rows per job (two columns of the timed pages, and counts by index),
not per batch: the crawl's write path is unchanged.

Definitions (tests/test_performance_stats.py recomputes each one from the /tasks rows):
- timed pages: tasks of kind `page` that got an HTTP response (as for `avg_response_time`);
  `response_time_pNN` over their response times, `ttfb_pNN` over those with a time to first byte,
  by the nearest-rank method (the smallest value with at least NN % of the values at or below it);
- `status_counts`: the URLs the crawl checked and tried (not sitemaps, not skipped) by HTTP status
  class; `none` is no usable status (network error, timeout, refused);
- `broken_links` and `slow_pages` as the issues report counts them; `server_errors`: tasks flagged
  as server errors; `redirects`: checked URLs whose fetch was redirected at least once (or ended in
  a redirect loop or too many redirects).
"""
from __future__ import annotations

import math
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlalchemy.orm import Session

from contract.vocabulary import TaskKind, TaskStatus
from db.models import BrokenLinkReferrer, Job, Task

PERCENTILES = {"response_time": (50, 75, 95, 99), "ttfb": (50, 95)}
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "none")
REDIRECT_ERRORS = ("redirect_loop", "too_many_redirects")


def nearest_rank(sorted_values: list[int], percent: int) -> int | None:
    """The nearest-rank percentile of ascending `sorted_values`; None when there are none."""
    if not sorted_values:
        return None
    return sorted_values[max(1, math.ceil(percent * len(sorted_values) / 100)) - 1]


def _sorted_column(session: Session, job_id: str, column) -> list[int]:
    timed = and_(Task.job_id == job_id, Task.kind == TaskKind.PAGE.value, Task.http_status.is_not(None), column.is_not(None))
    return list(session.scalars(select(column).where(timed).order_by(column)))


def _counts(session: Session, job_id: str) -> dict[str, int]:
    checked = and_(Task.kind != TaskKind.SITEMAP.value, Task.status != TaskStatus.SKIPPED.value)
    status_class = case(
        (and_(Task.http_status >= 200, Task.http_status < 300), "2xx"),
        (and_(Task.http_status >= 300, Task.http_status < 400), "3xx"),
        (and_(Task.http_status >= 400, Task.http_status < 500), "4xx"),
        (and_(Task.http_status >= 500, Task.http_status < 600), "5xx"),
        else_="none",
    )
    rows = session.execute(
        select(status_class, func.count()).where(Task.job_id == job_id, checked).group_by(status_class)
    ).all()
    counts = dict.fromkeys(STATUS_CLASSES, 0) | {name: count for name, count in rows}
    return counts


def _issue_counts(session: Session, job_id: str) -> dict[str, int]:
    def count(*conditions) -> int:
        return session.scalar(select(func.count()).select_from(Task).where(Task.job_id == job_id, *conditions))

    has_referrer = exists().where(BrokenLinkReferrer.job_id == job_id, BrokenLinkReferrer.target_url_hash == Task.url_hash)
    not_sitemap = Task.kind != TaskKind.SITEMAP.value
    return {
        "broken_links": count(Task.status == TaskStatus.FAILED.value, not_sitemap,
                              or_(Task.is_broken.is_(True), has_referrer)),  # fmt: skip
        "slow_pages": count(Task.is_slow.is_(True)),
        "redirects": count(not_sitemap, or_(Task.redirect_hops >= 1, Task.error_type.in_(REDIRECT_ERRORS))),
        "server_errors": count(Task.is_server_error.is_(True)),
    }


def summarise(session: Session, job_id: str) -> dict[str, Any]:
    """The performance summary of job `job_id` from its rows (the shape of `jobs.performance`)."""
    summary: dict[str, Any] = {}
    for name, column in (("response_time", Task.response_time_ms), ("ttfb", Task.ttfb_ms)):
        values = _sorted_column(session, job_id, column)
        summary |= {f"{name}_p{percent}": nearest_rank(values, percent) for percent in PERCENTILES[name]}
    summary["status_counts"] = _counts(session, job_id)
    summary |= _issue_counts(session, job_id)
    return summary


def record_performance(session: Session, job_id: str) -> None:
    """Store the summary on the job; call in the transaction that moves it to a terminal state."""
    session.execute(update(Job).where(Job.id == job_id).values(performance=summarise(session, job_id))
                    .execution_options(synchronize_session=False))  # fmt: skip
