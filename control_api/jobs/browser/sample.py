"""Which pages of a completed job the browser loads: `browser_pages` of them, half the slowest
(by the crawl's response time) and half the most important (the start page, then the pages one
click from it in the order they were recorded, which under max_pages puts its navigation first,
crawler/priority.py, then the shallowest), each page once. Only HTML pages that loaded (2xx), from
the job's own rows: an indexed scan of one job's tasks, once per job."""
from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from contract.vocabulary import FoundVia, TaskKind, TaskStatus
from db.models import Task

HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class Sampled:
    url: str
    reason: str  # slowest or important
    response_time_ms: int | None


def choose(session: Session, job_id: str, count: int) -> list[Sampled]:
    if count <= 0:
        return []
    loaded = (Task.job_id == job_id, Task.kind == TaskKind.PAGE.value, Task.status == TaskStatus.COMPLETED.value,
              Task.content_type.in_(HTML_TYPES), Task.http_status < 300)  # fmt: skip
    columns = (Task.final_url, Task.url, Task.response_time_ms)
    slowest = session.execute(
        select(*columns).where(*loaded).order_by(Task.response_time_ms.desc().nulls_last(), Task.id).limit(count)
    ).all()
    start_first = case((Task.found_via == FoundVia.START.value, 0), else_=1)
    important = session.execute(select(*columns).where(*loaded).order_by(start_first, Task.depth, Task.id).limit(count)).all()
    chosen: dict[str, Sampled] = {}
    quotas = {"slowest": math.floor(count / 2), "important": math.ceil(count / 2)}
    for reason, rows in (("important", important), ("slowest", slowest)):
        for row in rows:
            if quotas[reason] == 0:
                break
            url = row.final_url or row.url
            if url not in chosen:
                chosen[url] = Sampled(url, reason, row.response_time_ms)
                quotas[reason] -= 1
    for row in important + slowest:  # a small site: fill up from either list
        url = row.final_url or row.url
        if len(chosen) < count and url not in chosen:
            chosen[url] = Sampled(url, "important", row.response_time_ms)
    return list(chosen.values())
