"""The instance's cache of external link checks, shared by its jobs (table `external_checks`).

A job's crawl asks it before checking an external URL and tells it every definite answer: an HTTP
answer (ok, broken, refused_to_robots), never a timeout, a network error, a refused address or a
429/5xx (those may be different in a minute). Entries are fresh for CRAWL_EXTERNAL_CACHE_HOURS
(default 24; 0 turns the cache off). An ad-hoc crawl has no database and no cache.

Look-ups are made in batches (one indexed query for up to LOOKUP_BATCH URLs) and answers written in
batches, both in a thread, off the crawl's path; a crawl's end deletes the answers past the TTL. A database error makes the cache answer "not
cached" (the check is then made): a cache must never fail a crawl.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from scrapy import signals

from contract.vocabulary import ErrorType, TaskStatus

if TYPE_CHECKING:
    from scrapy.settings import Settings

logger = logging.getLogger(__name__)

# The fields of a record that are the check's answer (the rest, referrer and depth, are the job's).
RESULT_FIELDS = ("status", "http_status", "final_url", "redirect_chain", "redirect_hops", "content_type", "error",
                 "error_type", "is_broken", "is_server_error")  # fmt: skip
WRITE_BATCH = 100
LOOKUP_BATCH = 200


def is_definite(record: dict[str, Any]) -> bool:
    if record["status"] == TaskStatus.COMPLETED:
        return True
    code = record.get("http_status")
    if record["status"] != TaskStatus.FAILED or code is None:
        return False  # skipped, or no HTTP answer (timeout, DNS, refused address, ...)
    return record.get("error_type") in (ErrorType.HTTP_ERROR, ErrorType.REFUSED_TO_ROBOTS) and code != 429


class ExternalCache:
    def __init__(self, database_url: str, ttl_hours: float):
        from db.engine import make_engine

        self.engine = make_engine(database_url)
        self.ttl = timedelta(hours=ttl_hours)
        self.unwritten: dict[str, tuple[str, dict[str, Any]]] = {}
        self.broken = False

    def lookup_many(self, urls: list[str]) -> dict[str, dict[str, Any]]:
        """url -> the cached answer's record fields (with `from_cache`) for the fresh ones; run in a
        thread (crawler/external.py), one indexed query per batch."""
        if self.broken or not urls:
            return {}
        from sqlalchemy import select

        from db.models import ExternalCheck, url_hash, utcnow

        wanted = set(urls)
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(
                    select(ExternalCheck.url, ExternalCheck.result)
                    .where(ExternalCheck.url_hash.in_([url_hash(url) for url in wanted]),
                           ExternalCheck.checked_at > utcnow() - self.ttl)
                ).all()  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - see the module's docstring
            logger.warning("external check cache unavailable (%s); checking without it", exc)
            self.broken = True
            return {}
        return {row.url: {**{name: row.result.get(name) for name in RESULT_FIELDS}, "from_cache": True}
                for row in rows if row.url in wanted}  # fmt: skip

    def store(self, url: str, record: dict[str, Any]) -> None:
        if is_definite(record) and not record.get("from_cache"):
            self.unwritten[url] = (url, {name: record.get(name) for name in RESULT_FIELDS})
            if len(self.unwritten) >= WRITE_BATCH:
                self.flush_soon()

    def flush_soon(self) -> None:
        from twisted.internet import threads

        batch, self.unwritten = list(self.unwritten.values()), {}
        threads.deferToThread(self.write, batch).addErrback(
            lambda failure: logger.warning("external check cache not written: %s", failure.value))

    def write(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        """Upsert: the newest answer wins (delete then insert, the same on SQLite and PostgreSQL)."""
        if not batch or self.broken:
            return
        from sqlalchemy import delete, insert

        from db.models import ExternalCheck, url_hash, utcnow

        now = utcnow()
        rows = {url_hash(url): {"url_hash": url_hash(url), "url": url, "result": result, "checked_at": now}
                for url, result in batch}  # fmt: skip
        with self.engine.begin() as connection:
            connection.execute(delete(ExternalCheck).where(ExternalCheck.url_hash.in_(list(rows))))
            connection.execute(insert(ExternalCheck), list(rows.values()))

    def prune(self) -> None:
        """Answers past the TTL are of no use to any job: the table holds about one day of them."""
        from sqlalchemy import delete

        from db.models import ExternalCheck, utcnow

        with self.engine.begin() as connection:
            connection.execute(delete(ExternalCheck).where(ExternalCheck.checked_at <= utcnow() - self.ttl))

    def close(self) -> None:
        """At the end of the crawl: what is left, written now."""
        batch, self.unwritten = list(self.unwritten.values()), {}
        try:
            self.write(batch)
            self.prune()
        except Exception as exc:  # noqa: BLE001
            logger.warning("external check cache not written: %s", exc)
        self.engine.dispose()


def external_cache(spider: Any, settings: Settings) -> ExternalCache | None:
    """The cache for a job's crawl (it has a database), None for an ad-hoc run or when turned off."""
    ttl = settings.getfloat("CRAWL_EXTERNAL_CACHE_HOURS")
    if not spider.check_external or not spider.job_id or ttl <= 0 or not settings.get("DATABASE_URL"):
        return None
    cache = ExternalCache(settings.get("DATABASE_URL"), ttl)
    spider.crawler.signals.connect(cache.close, signal=signals.spider_closed)
    return cache
