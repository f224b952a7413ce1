"""Reading what the crawler recorded: per-URL tasks (filtered, sorted, paginated), the issues
report, and a streamed export. Every query is scoped to one job through its indexes.

One module because every reader here is the same thing: a query over one job's Task rows (and their
broken-link referrers) that the API and the dashboard both call, so the filters, the issue rules and
the "pruned" refusal exist once; the crawl log is read here too because it is the same job's result."""
from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import requests
from sqlalchemy import Select, and_, case, exists, func, literal_column, or_, select
from sqlalchemy.orm import Session

from contract.external import outcome
from contract.vocabulary import ErrorType
from contract.record import EXPORT_COLUMNS
from control_api.domain_errors import Gone, NotFound
from control_api.jobs.results.schemas import ListTasksQuery
from control_api.nodes.scrapyd_client import SchedulerUnavailable, ScrapydClient
from control_api.queries import Page, paginate
from db.models import BrokenLinkReferrer, Job, Task

ISSUE_LIST_LIMIT = 500  # items per category in the issues report; `counts` has the totals
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes Excel, LibreOffice or Sheets evaluate a cell


class TasksPruned(Gone):
    """The job's per-URL rows were deleted by retention (control_api/jobs/retention.py): the API answers
    410 `tasks_pruned`, the dashboard a page that says so, with this one message."""

    def __init__(self, job: Job):
        super().__init__("tasks_pruned", f"Job {job.id}'s per-URL results were removed by retention on "
                         f"{job.tasks_pruned_at:%Y-%m-%d}; its progress and stats are still on the job.")  # fmt: skip
        self.job = job


class TaskNotFound(NotFound):
    def __init__(self, job_id: str, task_id: int):
        super().__init__("task_not_found", f"Job {job_id} has no task with id {task_id}.")


class LogNotFound(NotFound):
    def __init__(self, job_id: str):
        super().__init__("log_not_found", f"Job {job_id} has no crawl log (it never ran, or its node no longer keeps it).")


class LogUnreadable(SchedulerUnavailable):
    """The job's node did not serve its crawl log: str() is the node's reason, the message says what failed."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.message = f"The crawl log could not be read: {reason}."


def require_rows(job: Job) -> Job:
    """The job, while its per-URL rows are kept; TasksPruned once retention deleted them."""
    if job.tasks_pruned_at is not None:
        raise TasksPruned(job)
    return job


def task_issues(task: Task) -> list[str]:
    issues = []
    if task.is_broken:
        issues.append("broken_link")
    if task.is_slow:
        issues.append("slow")
    if task.redirect_hops >= 2 or task.error_type in ("redirect_loop", "too_many_redirects"):
        issues.append("redirect_chain")
    if task.is_server_error:
        issues.append("server_error")
    return issues


def _issue_condition(issue: str):
    return {
        "broken_link": Task.is_broken.is_(True),
        "slow": Task.is_slow.is_(True),
        "redirect_chain": or_(Task.redirect_hops >= 2, Task.error_type.in_(("redirect_loop", "too_many_redirects"))),
        "server_error": Task.is_server_error.is_(True),
    }[issue]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _status_class_condition(classes: tuple[str, ...]):
    """`2xx` is 200..299 and so on; `none` is a row without an HTTP status."""
    options = []
    for name in classes:
        low = int(name[0]) * 100 if name != "none" else None
        options.append(Task.http_status.is_(None) if low is None else Task.http_status.between(low, low + 99))
    return or_(*options)


# The start of an absolute URL up to its path: a scheme, "://" and the authority (host, port).
URL_ORIGIN = "^[a-z][a-z0-9+.-]*://[^/?#]*"


def _path_prefix_condition(prefix: str):
    """URLs whose path starts with `prefix`, on any host of the crawl (a crawl may follow links to
    subdomains). A regular expression anchored at the start of the URL, the same on both databases:
    PostgreSQL's `~`, and on SQLite the REGEXP function SQLAlchemy registers (Python's re). re.escape
    only escapes with a backslash before a non-alphanumeric character, which both read as that
    character. A LIKE 'http%://%/docs%' would also match /x/docs, since its % crosses slashes; a
    LIKE of the prefix anywhere in the URL goes first, as a cheap test that every match passes (on
    PostgreSQL it cut a 100,000-row job's count from 120 to 90 ms when half the URLs hold the text)."""
    anywhere = Task.url.like(f"%{_escape_like(prefix)}%", escape="\\")
    return and_(anywhere, Task.url.regexp_match(URL_ORIGIN + re.escape(prefix)))


def filtered_tasks(job_id: str, query: ListTasksQuery) -> Select:
    conditions = [Task.job_id == job_id]
    if query.statuses:
        conditions.append(Task.status.in_(query.statuses))
    if query.cache_statuses:
        known = [status for status in query.cache_statuses if status != "none"]
        options = [Task.cache_status.in_(known)] if known else []
        if "none" in query.cache_statuses:
            options.append(Task.cache_status.is_(None))
        conditions.append(or_(*options))
    if query.issue:
        conditions.append(_issue_condition(query.issue))
    if query.kind:
        conditions.append(Task.kind == query.kind)
    if query.status_classes:
        conditions.append(_status_class_condition(query.status_classes))
    if query.search:
        conditions.append(Task.url.like(f"%{_escape_like(query.search)}%", escape="\\"))
    if query.path_prefix:
        conditions.append(_path_prefix_condition(query.path_prefix))
    return select(Task).where(*conditions)


def list_tasks(session: Session, job_id: str, query: ListTasksQuery) -> Page[Task]:
    column = getattr(Task, query.sort.removeprefix("-"))
    order = (column.desc() if query.sort.startswith("-") else column.asc()).nulls_last()  # same on both databases
    return paginate(session, filtered_tasks(job_id, query).order_by(order, Task.id), query.limit, query.effective_offset)


def get_task(session: Session, job_id: str, task_id: int) -> Task | None:
    """The job's task with this id, or None (another job's task is None too)."""
    return session.scalars(select(Task).where(Task.id == task_id, Task.job_id == job_id)).one_or_none()


def require_task(session: Session, job_id: str, task_id: int) -> Task:
    """get_task(), or TaskNotFound."""
    task = get_task(session, job_id, task_id)
    if task is None:
        raise TaskNotFound(job_id, task_id)
    return task


def open_crawl_log(client: ScrapydClient, node: str | None, job_id: str) -> requests.Response:
    """The job's crawl log as its node streams it (read it with client.log_chunks). LogNotFound when
    the job has no node or its node keeps no log; LogUnreadable when the node does not serve it."""
    try:
        upstream = client.crawl_log(node, job_id) if node else None
    except SchedulerUnavailable as exc:
        raise LogUnreadable(str(exc)) from None
    if upstream is None:
        raise LogNotFound(job_id)
    return upstream


def task_referrers(session: Session, task: Task) -> list[str]:
    """The pages linking to `task`'s URL as the crawler kept them: the broken-link referrers of a URL
    whose fetch failed (up to crawler/frontier.py's MAX_REFERRERS), after the page (or sitemap) it
    was found on first. The crawler keeps no other referrers of a URL that was fetched fine."""
    kept = [task.referrer] if task.referrer else []
    for referrer in _referrers_of(session, task.job_id, [task])[task.url_hash]:
        if referrer not in kept:
            kept.append(referrer)
    return kept


def broken_condition(job: Job):
    has_referrer = exists().where(
        BrokenLinkReferrer.job_id == job.id, BrokenLinkReferrer.target_url_hash == Task.url_hash
    )
    return and_(Task.job_id == job.id, Task.status == "failed", Task.kind.not_in(("sitemap", "external")),
                or_(Task.is_broken.is_(True), has_referrer))  # fmt: skip


# The site's charts are about the site: sitemap documents and links to other sites are left out.
SITE_CHART_EXCLUDED = ("sitemap", "external")


def _external_condition(job: Job, error_type: str | None = None):
    """Checked links to other sites that are broken (HTTP >= 400, unreachable, timed out), or with
    `error_type` refused_to_robots, those a site known to refuse crawlers would not answer."""
    if error_type is None:
        return and_(Task.job_id == job.id, Task.kind == "external", Task.is_broken.is_(True))
    return and_(Task.job_id == job.id, Task.kind == "external", Task.error_type == error_type)


def _referrers_of(session: Session, job_id: str, tasks) -> dict[str, list[str]]:
    referrers: dict[str, list[str]] = defaultdict(list)
    if tasks:
        rows = session.execute(
            select(BrokenLinkReferrer.target_url_hash, BrokenLinkReferrer.referrer)
            .where(BrokenLinkReferrer.job_id == job_id, BrokenLinkReferrer.target_url_hash.in_([t.url_hash for t in tasks]))
            .order_by(BrokenLinkReferrer.id)
        )
        for target, referrer in rows:
            if referrer not in referrers[target]:
                referrers[target].append(referrer)
    return referrers


def external_issues(session: Session, job: Job) -> dict[str, Any]:
    """Broken links to other sites, apart from the site's own, each with every page linking to it;
    and apart again those a site known to refuse crawlers did not answer (not counted as broken)."""
    report: dict[str, Any] = {}
    for name, condition in (("external_broken_links", _external_condition(job)),
                            ("external_refused_to_robots", _external_condition(job, ErrorType.REFUSED_TO_ROBOTS))):  # fmt: skip
        tasks = session.scalars(select(Task).where(condition).order_by(Task.id).limit(ISSUE_LIST_LIMIT)).all()
        referrers = _referrers_of(session, job.id, tasks)
        report[name] = [
            {"url": t.url, "http_status": t.http_status, "error": t.error, "outcome": outcome(t.status, t.error_type),
             "final_url": t.final_url, "referrers": referrers[t.url_hash], "referrer_count": len(referrers[t.url_hash])}
            for t in tasks
        ]  # fmt: skip
        report[name + "_count"] = session.scalar(select(func.count()).select_from(Task).where(condition))
    return report


def _slow_condition(job: Job):
    return and_(Task.job_id == job.id, Task.is_slow.is_(True))


def issue_counts(session: Session, job: Job) -> dict[str, int]:
    """The numbers of broken links and slow pages, counted as the issues report counts them."""
    return {
        "broken_links": session.scalar(select(func.count()).select_from(Task).where(broken_condition(job))),
        "slow_pages": session.scalar(select(func.count()).select_from(Task).where(_slow_condition(job))),
    }


def _chain_condition(job: Job):
    return and_(Task.job_id == job.id, Task.kind != "external", _issue_condition("redirect_chain"))


def _server_condition(job: Job):
    return and_(Task.job_id == job.id, Task.kind != "external", Task.is_server_error.is_(True))


def issues_counts(session: Session, job: Job) -> dict[str, int]:
    """Every count of the issues report, without its lists (what the live job page polls)."""

    def count(condition) -> int:
        return session.scalar(select(func.count()).select_from(Task).where(condition))

    return {
        "broken_links": count(broken_condition(job)),
        "slow_pages": count(_slow_condition(job)),
        "redirect_chains": count(_chain_condition(job)),
        "server_errors": count(_server_condition(job)),
        "external_broken_links": count(_external_condition(job)),
        "external_refused_to_robots": count(_external_condition(job, ErrorType.REFUSED_TO_ROBOTS)),
    }


def issues_report(session: Session, job: Job) -> dict[str, Any]:
    broken_links = broken_condition(job)
    chain_condition = _chain_condition(job)
    slow_condition = _slow_condition(job)
    server_condition = _server_condition(job)

    broken = session.scalars(select(Task).where(broken_links).order_by(Task.id).limit(ISSUE_LIST_LIMIT)).all()
    referrers = _referrers_of(session, job.id, broken)
    external = external_issues(session, job)
    counts = issues_counts(session, job)
    external.pop("external_broken_links_count"), external.pop("external_refused_to_robots_count")
    return {
        "slow_page_threshold_ms": job.options.get("slow_page_threshold_ms", 3000),
        "counts": counts,
        **external,
        "broken_links": [
            {"url": t.url, "http_status": t.http_status, "error": t.error,
             "referrers": referrers[t.url_hash], "referrer_count": len(referrers[t.url_hash])}
            for t in broken
        ],  # fmt: skip
        "slow_pages": [
            {"url": t.url, "response_time_ms": t.response_time_ms, "ttfb_ms": t.ttfb_ms}
            for t in session.scalars(select(Task).where(slow_condition).order_by(Task.response_time_ms.desc()).limit(ISSUE_LIST_LIMIT))
        ],
        "redirect_chains": [
            {"url": t.url, "final_url": t.final_url, "hops": t.redirect_hops, "chain": t.redirect_chain or [], "error_type": t.error_type}
            for t in session.scalars(select(Task).where(chain_condition).order_by(Task.id).limit(ISSUE_LIST_LIMIT))
        ],
        "server_errors": [
            {"url": t.url, "http_status": t.http_status, "referrer": t.referrer}
            for t in session.scalars(select(Task).where(server_condition).order_by(Task.id).limit(ISSUE_LIST_LIMIT))
        ],
    }


def response_time_histogram(session: Session, job_id: str, bounds: tuple[int, ...]) -> list[int]:
    """How many of the job's timed pages and resources fall in each response-time bucket: under
    bounds[0] ms, [bounds[0], bounds[1]), ..., and bounds[-1] ms or more (len(bounds) + 1 counts).
    One grouped query; the buckets are literals, so PostgreSQL sees the same expression in the
    select and the GROUP BY."""
    bucket = case(
        *((Task.response_time_ms < literal_column(str(int(bound))), literal_column(str(index))) for index, bound in enumerate(bounds)),
        else_=literal_column(str(len(bounds))),
    )  # fmt: skip
    rows = session.execute(
        select(bucket, func.count())
        .where(Task.job_id == job_id, Task.kind.not_in(SITE_CHART_EXCLUDED), Task.response_time_ms.is_not(None))
        .group_by(bucket)
    )
    counts = [0] * (len(bounds) + 1)
    for index, count in rows:
        counts[int(index)] = count
    return counts


STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "no response", "skipped")


def status_breakdown(session: Session, job_id: str) -> dict[str, int]:
    """The job's pages and resources by HTTP status class (after redirects); `no response` for a
    network error, timeout or refusal, `skipped` for URLs not fetched."""
    def label(text: str):
        return literal_column(f"'{text}'")

    status_class = case(
        (Task.status == "skipped", label("skipped")),
        (Task.http_status.is_(None), label("no response")),
        (Task.http_status < literal_column("300"), label("2xx")),
        (Task.http_status < literal_column("400"), label("3xx")),
        (Task.http_status < literal_column("500"), label("4xx")),
        else_=label("5xx"),
    )
    rows = session.execute(
        select(status_class, func.count()).where(Task.job_id == job_id, Task.kind.not_in(SITE_CHART_EXCLUDED))
        .group_by(status_class)
    )
    counts = dict.fromkeys(STATUS_CLASSES, 0)
    for name, count in rows:
        counts[name] = count
    return counts


def _export_row(task: Task) -> dict[str, Any]:
    return {column: getattr(task, column) for column in EXPORT_COLUMNS}


def _csv_cell(value: Any) -> Any:
    """A text cell a spreadsheet would read as a formula, prefixed with `'` so that it shows as text
    (OWASP "CSV injection"): crawled sites control URLs, content types and error text. Numbers and
    booleans are ours (booleans spelled true/false, as in JSON); JSON lines are for scripts and
    stay literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_lines(session: Session, job_id: str, fmt: str, batch: int = 1000) -> Iterator[str]:
    """Stream rows in batches through a server-side cursor: memory stays flat at any job size."""
    result = session.execute(
        select(Task).where(Task.job_id == job_id).order_by(Task.id).execution_options(stream_results=True, yield_per=batch)
    ).scalars()
    if fmt == "jsonl":
        for task in result:
            yield json.dumps(_export_row(task), ensure_ascii=False) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    for count, task in enumerate(result, 1):
        writer.writerow({column: _csv_cell(value) for column, value in _export_row(task).items()})
        if count % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
