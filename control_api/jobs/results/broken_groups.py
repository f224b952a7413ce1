"""The broken links of a job a page at a time, in two views: by the page that links (one row per
source page with its broken targets, most first) and by the broken URL (one row per target with the
pages linking to it, most linked first). A site where one page links to 500 dead URLs is then one row
of the first view, not 500 rows of a table."""
from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import desc, func, select
from sqlalchemy.orm import Session, aliased

from control_api.jobs.results.service import broken_condition
from db.models import BrokenLinkReferrer, Job, Task

TARGETS_PER_SOURCE = 100  # broken targets listed in one source page's row; the count says how many in all
REFERRERS_PER_TARGET = 20  # the crawler keeps at most 20 per broken URL (crawler/frontier.py MAX_REFERRERS)


class GroupPage(NamedTuple):
    rows: list[dict[str, Any]]
    total: int  # rows in the whole view
    offset: int


def by_source(session: Session, job: Job, offset: int, limit: int) -> GroupPage:
    """Source pages linking to broken URLs, those with most broken targets first, each with up to
    TARGETS_PER_SOURCE of them (url, http_status, error) and `count`, the number of all of them."""
    link = aliased(BrokenLinkReferrer)  # apart from the one broken_condition's EXISTS reads
    targets = select(Task.url_hash).where(broken_condition(job)).correlate(None)
    linking = (link.job_id == job.id) & link.target_url_hash.in_(targets)
    count = func.count(func.distinct(link.target_url_hash)).label("count")
    grouped = select(link.referrer, count).where(linking).group_by(link.referrer)
    total = session.scalar(select(func.count()).select_from(grouped.subquery()))
    sources = session.execute(grouped.order_by(desc(count), link.referrer).offset(offset).limit(limit)).all()
    rows = []
    for source, number in sources:
        broken = session.execute(
            select(Task.url, Task.http_status, Task.error)
            .join(link, (link.job_id == Task.job_id) & (link.target_url_hash == Task.url_hash))
            .where(link.job_id == job.id, link.referrer == source, broken_condition(job))
            .distinct().order_by(Task.url).limit(TARGETS_PER_SOURCE)
        ).all()  # fmt: skip
        rows.append({"source": source, "count": number,
                     "targets": [{"url": url, "http_status": status, "error": error} for url, status, error in broken]})  # fmt: skip
    return GroupPage(rows, total or 0, offset)


def by_target(session: Session, job: Job, offset: int, limit: int) -> GroupPage:
    """Broken URLs, those linked from most pages first, each with the pages linking to it."""
    referrer_count = (
        select(func.count(func.distinct(BrokenLinkReferrer.referrer)))
        .where(BrokenLinkReferrer.job_id == job.id, BrokenLinkReferrer.target_url_hash == Task.url_hash)
        .scalar_subquery()
    )
    condition = broken_condition(job)
    total = session.scalar(select(func.count()).select_from(Task).where(condition))
    tasks = session.execute(
        select(Task.url, Task.url_hash, Task.http_status, Task.error, referrer_count.label("referrer_count"))
        .where(condition).order_by(desc("referrer_count"), Task.url).offset(offset).limit(limit)
    ).all()  # fmt: skip
    referrers: dict[str, list[str]] = {task.url_hash: [] for task in tasks}
    if tasks:
        for target, referrer in session.execute(
            select(BrokenLinkReferrer.target_url_hash, BrokenLinkReferrer.referrer)
            .where(BrokenLinkReferrer.job_id == job.id, BrokenLinkReferrer.target_url_hash.in_(list(referrers)))
            .order_by(BrokenLinkReferrer.id)
        ):  # fmt: skip
            if referrer not in referrers[target] and len(referrers[target]) < REFERRERS_PER_TARGET:
                referrers[target].append(referrer)
    rows = [{"url": task.url, "http_status": task.http_status, "error": task.error, "count": task.referrer_count,
             "referrers": referrers[task.url_hash]} for task in tasks]  # fmt: skip
    return GroupPage(rows, total or 0, offset)
