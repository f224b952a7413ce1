"""JobLifecycle: a job's status transitions, driven by the spider's signals.

spider_opened: `created` -> `running` with started_at (a job already cancelled closes at once).
While running: look for a cancel in the database every CRAWL_CANCEL_CHECK_SECONDS, so a cancel
that never reached scrapyd still stops the crawl. spider_closed: URLs accepted but never fetched
are recorded as skipped, then the job ends `completed`, `failed` (with the reason) or `cancelled`.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import task, threads

from crawler.jobstore import JobStore
from db.models import JobStatus

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

CLOSE_REASONS = {
    "finished": None,
    "cancelled": "cancelled",
    "shutdown": "The crawler process was stopped before the crawl finished",
    "memusage_exceeded": "The crawl used more memory than allowed",
}


class JobLifecycle:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.interval = crawler.settings.getfloat("CRAWL_CANCEL_CHECK_SECONDS")
        self.store: JobStore | None = None
        self.cancel_check = task.LoopingCall(self.check_cancelled)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JobLifecycle:
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    async def spider_opened(self, spider: Spider) -> None:
        self.store = JobStore.for_crawler(self.crawler)
        if self.store is None:
            return
        status = await maybe_deferred_to_future(threads.deferToThread(self.store.retrying, self.store.mark_running))
        if status == JobStatus.CANCELLED.value:
            logger.info("job %s was cancelled before it started", self.store.job_id)
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="cancelled"))
            return
        self.cancel_check.start(self.interval, now=False)

    def check_cancelled(self):
        d = threads.deferToThread(self.store.status)
        d.addCallbacks(self._cancel_if_needed, lambda failure: logger.warning("status check failed: %s", failure.value))
        return d

    def _cancel_if_needed(self, status: str | None) -> None:
        if status == JobStatus.CANCELLED.value and self.cancel_check.running:
            logger.info("job %s was cancelled: stopping the crawl", self.store.job_id)
            self.cancel_check.stop()
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="cancelled"))

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.store is None:
            return
        if self.cancel_check.running:
            self.cancel_check.stop()
        # Read off the reactor: a database that is restarting must not freeze the crawl's shutdown.
        recorded = await maybe_deferred_to_future(threads.deferToThread(self.store.retrying, self.store.status))
        status, error = self.final_status(spider, reason, recorded)
        unfinished = spider.unfinished_records(
            "cancelled" if status == JobStatus.CANCELLED.value else "interrupted",
            "Not fetched: the job was cancelled" if status == JobStatus.CANCELLED.value else f"Not fetched: {error}",
        )
        store = self.store

        def finish() -> str:
            if unfinished:
                store.retrying(store.write_batch, unfinished, [], spider.total_tasks)
            return store.retrying(store.finish, status, error)

        final = await maybe_deferred_to_future(threads.deferToThread(finish))
        logger.info("job %s ended %s (close reason %r)", store.job_id, final, reason)
        store.close()

    @staticmethod
    def final_status(spider: Spider, reason: str, recorded: str | None) -> tuple[str, str | None]:
        """The job's terminal state from the close reason and the status the database holds."""
        if reason == "cancelled" or recorded == JobStatus.CANCELLED.value:
            return JobStatus.CANCELLED.value, None
        if spider.start_error:
            return JobStatus.FAILED.value, spider.start_error
        if reason == "finished":
            return JobStatus.COMPLETED.value, None
        return JobStatus.FAILED.value, CLOSE_REASONS.get(reason) or f"The crawl stopped early ({reason})"
