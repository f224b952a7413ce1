"""DatabasePipeline: records go to the database in batches, in a thread, off the crawl's path.

A batch is written when it reaches DATABASE_BATCH_SIZE records or every DATABASE_BATCH_SECONDS.
One write is in flight at a time. When the database is unavailable the batch goes back to the
front of the buffer and is retried with backoff, so a database restart loses nothing; closing the
spider waits until every record is written. A batch refused because the job is no longer this
crawler's (cancelled, failed by the reconciler) is not retried: the job must not change, so the
buffer is dropped and the spider closes. Ad-hoc runs (no job id) have no database: the
pipeline is then switched off with NotConfigured and records only go to feeds.

The job store (SQLAlchemy, the models) is imported only once a job id is known: an ad-hoc crawl
never loads it, which saves ~0.2-0.3 s of its start-up. The launcher's zygote preloads it.
"""
from __future__ import annotations

import json
import logging
from time import monotonic
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import task, threads

from crawler import signals as crawl_signals
from crawler.frontier import TOTAL_TASKS_STAT
from contract.paths import PROJECT_ROOT

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.jobstore import JobStore

logger = logging.getLogger(__name__)


class DatabasePipeline:
    def __init__(self, crawler: Crawler, store: JobStore):
        settings = crawler.settings
        self.crawler = crawler
        self.store = store
        self.stats = crawler.stats
        self.batch_size = settings.getint("DATABASE_BATCH_SIZE")
        self.interval = settings.getfloat("DATABASE_BATCH_SECONDS")
        self.retry_max = settings.getfloat("DATABASE_RETRY_MAX_SECONDS")
        self.close_timeout = settings.getfloat("DATABASE_CLOSE_TIMEOUT_SECONDS")
        self.records: list[dict[str, Any]] = []
        self.referrers: list[tuple[str, str]] = []
        self.corrections: list[dict[str, Any]] = []  # shorter paths to URLs recorded already
        self.writing = None  # Deferred of the write in flight
        self.failures = 0
        self.retry_at = 0.0  # monotonic time before which a failed write is not retried
        self.timer = task.LoopingCall(self.flush)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DatabasePipeline:
        job_id = getattr(crawler.spider, "job_id", None)  # scrapyd's `_job` spider argument
        if not job_id:
            raise NotConfigured  # no job id: an ad-hoc crawl writes feeds only (bare: no warning logged)
        from crawler.jobstore import JobStore
        from crawler.lifecycle import JobLifecycle

        store = JobStore(crawler.settings.get("DATABASE_URL"), job_id, getattr(crawler.spider, "claim", None))
        pipeline = cls(crawler, store)
        pipeline.lifecycle = JobLifecycle(crawler, store)  # the job's status transitions, on the same store
        crawler.signals.connect(pipeline.broken_link_referrer, signal=crawl_signals.broken_link_referrer)
        crawler.signals.connect(pipeline.depth_corrected, signal=crawl_signals.depth_corrected)
        return pipeline

    def open_spider(self) -> None:
        self.timer.start(self.interval, now=False)

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        if self.store.lost:
            return item  # the job is not ours any more: it must not change
        self.records.append(item)
        self.lifecycle.observe_record(item)  # a bot firewall's challenges stop the crawl (crawler/firewall.py)
        if len(self.records) >= self.batch_size and self.writing is None and not self.failures:
            self.flush()
        return item

    def broken_link_referrer(self, url: str, referrer: str) -> None:
        if not self.store.lost:
            self.referrers.append((url, referrer))

    def depth_corrected(self, url: str, depth: int, referrer: str | None, found_via: str) -> None:
        if not self.store.lost:
            self.corrections.append({"url": url, "depth": depth, "referrer": referrer, "found_via": found_via})

    @property
    def unwritten(self) -> bool:
        return bool(self.records or self.referrers or self.corrections)

    def flush(self):
        if self.store.lost:
            self.records, self.referrers, self.corrections = [], [], []
            return self.writing
        if self.writing is not None or not self.unwritten or monotonic() < self.retry_at:
            return self.writing
        records, referrers, corrections = self.records, self.referrers, self.corrections
        self.records, self.referrers, self.corrections = [], [], []
        total = self.stats.get_value(TOTAL_TASKS_STAT, 0)
        self.writing = threads.deferToThread(self.store.write_batch, records, referrers, total, corrections)
        self.writing.addCallbacks(self._written, self._failed, errbackArgs=(records, referrers, corrections))
        return self.writing

    def _written(self, _result) -> None:
        self.writing = None
        self.failures = 0

    def _failed(self, failure, records, referrers, corrections) -> None:
        from sqlalchemy.exc import SQLAlchemyError  # loaded with the store (from_crawler)

        from crawler.jobstore import ClaimLost
        from crawler.lifecycle import CLAIM_LOST

        self.writing = None
        if failure.check(ClaimLost):
            dropped = len(records) + len(self.records)
            self.records, self.referrers, self.corrections = [], [], []
            logger.warning("%s: %d records not written; stopping the crawl", failure.value, dropped)
            if self.crawler.engine.spider is not None and self.crawler.engine.running:
                deferred_from_coro(self.crawler.engine.close_spider_async(reason=CLAIM_LOST))
            return
        self.failures += 1
        # Put the batch back in front so nothing is lost and order is kept.
        self.records[:0] = records
        self.referrers[:0] = referrers
        self.corrections[:0] = corrections
        delay = min(self.retry_max, 0.5 * 2**self.failures)
        self.retry_at = monotonic() + delay
        level = logging.WARNING if failure.check(SQLAlchemyError) else logging.ERROR
        logger.log(level, "writing %d records failed (%s); retrying in %.1f s", len(records), failure.value, delay)

    async def close_spider(self) -> None:
        """Write everything before the spider closes, waiting out a database outage."""
        if self.timer.running:
            self.timer.stop()
        deadline = monotonic() + self.close_timeout
        while self.writing is not None or self.unwritten:
            if self.writing is None and monotonic() > deadline:
                self.save_unwritten()
                return
            wait = self.retry_at - monotonic()
            if wait > 0:
                # Imported here: importing the reactor installs one, which the launcher's zygote
                # must not do before it forks (crawler/launcher/zygote.py).
                from twisted.internet import reactor

                await maybe_deferred_to_future(task.deferLater(reactor, wait))
            pending = self.flush()
            if pending is not None:
                await maybe_deferred_to_future(pending)

    def save_unwritten(self) -> None:
        """Last resort when the database stayed down: keep the records on disk, never drop them."""
        path = PROJECT_ROOT / "var" / "unwritten" / f"{self.store.job_id}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as file:
            for record in self.records:
                file.write(json.dumps(record) + "\n")
            for url, referrer in self.referrers:
                file.write(json.dumps({"broken_link": url, "referrer": referrer}) + "\n")
            for correction in self.corrections:
                file.write(json.dumps({"shorter_path": correction}) + "\n")
        logger.error("database unavailable for %.0f s: %d records saved to %s", self.close_timeout, len(self.records), path)
        self.lifecycle.records_unwritten(len(self.records), self.close_timeout, path)
        self.records, self.referrers, self.corrections = [], [], []
