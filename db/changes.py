"""What changed between two crawls of one domain, computed in SQL: one join of the two jobs' task
rows on their indexed URL key per query, so two jobs of 100,000 URLs compare in well under a second
on PostgreSQL (a hash join) and in seconds on SQLite (index look-ups), without loading rows.

Used by the crawler when a job completes (`record_changes`, in the transaction that completes it:
the summary is computed once and the `job.regressed` event is queued with it) and by the API
(`comparison`, `change_rows`). The kinds are defined in contract/changes.py and docs/api.md.
Sitemap documents are discovery inputs, not pages: they are left out on both sides.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, literal_column, not_, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from contract.changes import SLOWER_MIN_MS, BeforeAfter, ChangeKind, ChangeSummary, Comparison
from contract.vocabulary import JobStatus, TaskKind, WebhookEvent
from db.models import BrokenLinkReferrer, Job, Task
from db.webhooks import record_event

REFERRERS_PER_URL = 20  # the crawler keeps no more per broken link (crawler/frontier.py)
# Kinds read from the earlier job's rows (joined to the later job's); all others the other way round.
BEFORE_SIDE_KINDS = (ChangeKind.FIXED_BROKEN_LINKS, ChangeKind.GONE_PAGES)
SIDE_FIELDS = ("status", "http_status", "final_url", "response_time_ms", "cache_status", "is_broken", "is_slow", "error")


def previous_job(session: Session, job: Job) -> Job | None:
    """The organisation's latest `completed` crawl of the job's domain created before it."""
    return session.scalars(
        select(Job)
        .where(Job.organisation_id == job.organisation_id, Job.domain_id == job.domain_id,
               Job.status == JobStatus.COMPLETED.value, Job.created_at < job.created_at, Job.id != job.id)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(1)
    ).first()  # fmt: skip


def _rows_of(job_id: str, name: str):
    """The job's rows but its sitemap documents, as an entity (the columns keep their names)."""
    return aliased(Task, select(Task).where(Task.job_id == job_id, Task.kind != TaskKind.SITEMAP.value).subquery(name))


def _same_url(one, other) -> ColumnElement[bool]:
    # The 16-hex-digit hash is the indexed key (the (job_id, url_hash) index finds a row, a hash join
    # hashes a short string); the URL itself settles the (astronomically rare) collision.
    return and_(one.url_hash == other.url_hash, one.url == other.url)


def _condition(kind: ChangeKind, before, after) -> ColumnElement[bool]:
    """Whether a joined pair of rows (either side NULL where the URL was not crawled) is of `kind`."""
    both = and_(before.id.is_not(None), after.id.is_not(None))
    timed = and_(both, after.kind == TaskKind.PAGE.value, after.response_time_ms.is_not(None),
                 before.response_time_ms.is_not(None))  # fmt: skip
    grown = after.response_time_ms - before.response_time_ms
    conditions = {
        ChangeKind.NEW_BROKEN_LINKS: and_(after.is_broken == True, not_(func.coalesce(before.is_broken, false()))),  # noqa: E712
        ChangeKind.FIXED_BROKEN_LINKS: and_(before.is_broken == True, not_(func.coalesce(after.is_broken, false()))),  # noqa: E712
        ChangeKind.NEW_PAGES: and_(before.id.is_(None), after.is_broken == False),  # noqa: E712
        ChangeKind.GONE_PAGES: and_(after.id.is_(None), before.is_broken == False),  # noqa: E712
        ChangeKind.STATUS_CHANGES: and_(both, after.is_broken == before.is_broken, or_(
            after.status.is_distinct_from(before.status), after.http_status.is_distinct_from(before.http_status),
            after.final_url.is_distinct_from(before.final_url))),  # fmt: skip
        # More than 50 % and more than SLOWER_MIN_MS, in integers: 2 * after > 3 * before.
        ChangeKind.SLOWER_PAGES: and_(timed, grown > SLOWER_MIN_MS, after.response_time_ms * 2 > before.response_time_ms * 3),
        ChangeKind.FASTER_PAGES: and_(timed, -grown > SLOWER_MIN_MS, after.response_time_ms * 2 < before.response_time_ms),
        ChangeKind.NEW_SLOW_PAGES: and_(after.is_slow == True, not_(func.coalesce(before.is_slow, false()))),  # noqa: E712
    }
    return conditions[kind]


class _Join:
    """For the rows of one kind: every row of one job (`primary`) joined to the row of the same URL
    in the other job (`other`), or NULLs. A page of rows then walks one job's rows in order."""

    def __init__(self, before_id: str, after_id: str, before_side: bool):
        self.before, self.after = aliased(Task, name="before"), aliased(Task, name="after")
        self.primary, self.other = (self.before, self.after) if before_side else (self.after, self.before)
        primary_id, other_id = (before_id, after_id) if before_side else (after_id, before_id)
        self.where = and_(self.primary.job_id == primary_id, self.primary.kind != TaskKind.SITEMAP.value)
        self.on = and_(self.other.job_id == other_id, _same_url(self.other, self.primary),
                       self.other.kind != TaskKind.SITEMAP.value)  # fmt: skip

    def select_from(self, *columns):
        return select(*columns).select_from(self.primary).outerjoin(self.other, self.on).where(self.where)

    def condition(self, kind: ChangeKind) -> ColumnElement[bool]:
        return _condition(kind, self.before, self.after)


def _one_full_join(session: Session) -> bool:
    # PostgreSQL hash-joins the two jobs' rows once. SQLite (FULL JOIN since 3.39) does not flatten
    # the subqueries of a FULL JOIN and walks one side once per row of the other: minutes at 100,000
    # URLs, where two LEFT JOINs through the (job_id, url_hash) index take seconds.
    return session.bind.dialect.name == "postgresql"


def _counts(kinds, condition):
    return [func.sum(case((condition(kind), literal_column("1")), else_=literal_column("0"))) for kind in kinds]


def summary(session: Session, before_id: str, after_id: str) -> ChangeSummary:
    """Every kind's count: on PostgreSQL one aggregate over one FULL OUTER JOIN of the two jobs'
    rows on the URL (a hash join); elsewhere two LEFT JOINs, one from each job's side."""
    if _one_full_join(session):
        # A job's rows written minutes ago are not in the planner's statistics yet: estimating a few
        # rows per job, it may sort both sides (to disk at 100,000) for a merge join. A hash join is
        # right at any size here; SET LOCAL ends with this transaction.
        if session.bind.dialect.name == "postgresql":
            session.execute(text("SET LOCAL enable_mergejoin = off"))
        before, after = _rows_of(before_id, "before"), _rows_of(after_id, "after")
        kinds = list(ChangeKind)
        row = session.execute(
            select(*_counts(kinds, lambda kind: _condition(kind, before, after)))
            .select_from(before).join(after, _same_url(before, after), full=True)
        ).one()  # fmt: skip
        return ChangeSummary(**{kind.value: int(value or 0) for kind, value in zip(kinds, row)})
    counts: dict[str, int] = {}
    for before_side in (False, True):
        join = _Join(before_id, after_id, before_side)
        kinds = _side_kinds(before_side)
        row = session.execute(join.select_from(*_counts(kinds, join.condition))).one()
        counts.update({kind.value: int(value or 0) for kind, value in zip(kinds, row)})
    return ChangeSummary(**counts)


def _side_kinds(before_side: bool) -> list[ChangeKind]:
    return [kind for kind in ChangeKind if (kind in BEFORE_SIDE_KINDS) == before_side]


def comparison(session: Session, job: Job, since: Job) -> Comparison:
    """The whole comparison of `job` with the earlier `since` (both with their rows kept)."""
    return Comparison(
        since_job_id=since.id,
        summary=summary(session, since.id, job.id),
        avg_response_time=BeforeAfter(before=since.avg_response_time, after=job.avg_response_time),
        cache_hit_ratio=BeforeAfter(before=since.cache_hit_ratio, after=job.cache_hit_ratio),
    )


def change_rows(session: Session, before_id: str, after_id: str, kind: ChangeKind, limit: int, offset: int
                ) -> list[dict[str, Any]]:  # fmt: skip
    """One page of the URLs of one kind, in the order the crawl met them (how many there are is the
    summary's count): `{url, before, after}` (each side the URL's figures in that crawl, or None where it was not
    crawled), plus `referrers` (the pages linking to it, in the crawl where it was broken) for the
    broken-link kinds."""
    before_side = kind in BEFORE_SIDE_KINDS
    join = _Join(before_id, after_id, before_side)
    other_side = "after" if before_side else "before"
    condition = join.condition(kind)
    columns = [join.primary.url, join.primary.url_hash, join.other.id.label("other_id")]
    for name, side in (("before", join.before), ("after", join.after)):
        columns += [getattr(side, field).label(f"{name}_{field}") for field in SIDE_FIELDS]
    rows = session.execute(
        join.select_from(*columns).where(condition).order_by(join.primary.id).limit(limit).offset(offset)
    ).all()  # fmt: skip
    items = []
    for row in rows:
        item: dict[str, Any] = {"url": row.url}
        for name in ("before", "after"):
            absent = row.other_id is None and name == other_side
            item[name] = None if absent else {field: getattr(row, f"{name}_{field}") for field in SIDE_FIELDS}
        items.append(item)
    if kind in (ChangeKind.NEW_BROKEN_LINKS, ChangeKind.FIXED_BROKEN_LINKS):
        broken_in = after_id if kind == ChangeKind.NEW_BROKEN_LINKS else before_id
        referrers = _referrers(session, broken_in, [row.url_hash for row in rows])
        for item, row in zip(items, rows):
            item["referrers"] = referrers.get(row.url_hash, [])
    return items


def _referrers(session: Session, job_id: str, hashes: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    if not hashes:
        return found
    rows = session.execute(
        select(BrokenLinkReferrer.target_url_hash, BrokenLinkReferrer.referrer)
        .where(BrokenLinkReferrer.job_id == job_id, BrokenLinkReferrer.target_url_hash.in_(hashes))
        .order_by(BrokenLinkReferrer.id)
    )
    for target, referrer in rows:
        if referrer not in found[target] and len(found[target]) < REFERRERS_PER_URL:
            found[target].append(referrer)
    return found


def record_changes(session: Session, job_id: str, at: datetime) -> Comparison | None:
    """At completion, in the completing transaction: compare the job with the organisation's
    previous completed crawl of the domain, store the comparison on the job (None for a first
    crawl, or when that crawl's rows were pruned) and, when it has new broken links or new slow
    pages, queue `job.regressed` for the webhooks subscribed to it. Returns the comparison."""
    job = session.get(Job, job_id)
    since = previous_job(session, job)
    if since is None or since.tasks_pruned_at is not None:
        return None
    changes = comparison(session, job, since)
    session.execute(update(Job).where(Job.id == job_id).values(changes=changes.model_dump(mode="json")))
    if changes.summary.regressed:
        record_event(session, job_id, WebhookEvent.JOB_REGRESSED, at)
    return changes
