"""JobLifecycle: a job's status transitions, driven by the spider's signals.

It belongs to the database pipeline (crawler/pipelines.py), which creates it with the job's store:
one component owns the store, and an ad-hoc crawl (no job) has neither.

spider_opened: the crawler claims its job, `created` -> `running`, presenting the dispatch claim
the API wrote; a job that is not waiting for this claim (it failed to schedule, was cancelled,
finished, or was never dispatched by the API) closes the spider at once and nothing is written.
While running: every CRAWL_HEARTBEAT_SECONDS the crawler renews its claim; when the job is no
longer its own (cancelled, failed by the reconciler) the crawl stops within that period.
spider_closed: URLs accepted but never fetched are recorded as skipped, then the job ends
`completed` or `failed` (with the reason), both only while the job is still this crawler's.
Every record passes `observe_record` on its way to the database: a crawl answered by a bot
firewall's challenges stops early and fails `blocked_by_firewall` (crawler/firewall.py).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import task, threads

from contract.vocabulary import JobStatus
from crawler.firewall import DEFAULT_CONSECUTIVE_CHALLENGES, ChallengeWatch
from crawler.frontier import TOTAL_TASKS_STAT
from crawler.jobstore import ClaimLost, JobStore

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

CLAIM_LOST = "claim_lost"  # close reason: the job stopped being this crawler's
BLOCKED = "blocked_by_firewall"  # close reason: a bot firewall answers the crawl with challenges
CLOSE_REASONS = {
    "finished": None,
    "shutdown": "The crawler process was stopped before the crawl finished",
    "memusage_exceeded": "The crawl used more memory than allowed",
}


class JobLifecycle:
    def __init__(self, crawler: Crawler, store: JobStore):
        self.crawler = crawler
        self.store = store
        self.interval = crawler.settings.getfloat("CRAWL_HEARTBEAT_SECONDS")
        self.claimed = False  # the job became ours at spider_opened (store.lost says if it still is)
        self.unwritten: str | None = None  # why the job cannot be complete: records kept on disk instead
        self.heartbeat = task.LoopingCall(self.renew_claim)
        self.firewall = ChallengeWatch(crawler.settings.getint("CRAWL_FIREWALL_CHALLENGES", DEFAULT_CONSECUTIVE_CHALLENGES))
        self.blocked: str | None = None  # the job's error once a firewall blocked the crawl
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    async def spider_opened(self, spider: Spider) -> None:
        try:
            await maybe_deferred_to_future(threads.deferToThread(self.store.retrying, self.store.claim_job))
        except ClaimLost as exc:
            logger.warning("not crawling: %s", exc)
            self.stop(CLAIM_LOST)
            return
        self.claimed = True
        self.heartbeat.start(self.interval, now=False)

    def renew_claim(self):
        d = threads.deferToThread(self.store.heartbeat)
        d.addCallbacks(self._check_owner, lambda failure: logger.warning("heartbeat failed: %s", failure.value))
        return d

    def _check_owner(self, lost_status: str | None) -> None:
        if lost_status is None or not self.heartbeat.running:
            return
        if lost_status == JobStatus.CANCELLED.value:
            logger.info("job %s was cancelled: stopping the crawl", self.store.job_id)
        else:
            logger.warning("job %s is no longer this crawler's (%s): stopping the crawl", self.store.job_id, lost_status)
        self.stop(lost_status if lost_status == JobStatus.CANCELLED.value else CLAIM_LOST)

    def records_unwritten(self, count: int, waited: float, path) -> None:
        """The pipeline gave up waiting for the database and kept `count` records in `path`: the
        job, whose rows lack them, ends failed saying so, not completed."""
        self.unwritten = (f"The database was unavailable for {waited:.0f} s when the crawl ended: {count} records "
                          f"were not written; they are kept in {path}")  # fmt: skip

    def observe_record(self, record: dict) -> None:
        """A record on its way to the database: stop the crawl once a firewall blocks it."""
        if self.blocked is None and (verdict := self.firewall.observe(record)):
            logger.warning("job %s: %s", self.store.job_id, verdict)
            self.blocked = verdict
            self.stop(BLOCKED)

    def stop(self, reason: str) -> None:
        if self.heartbeat.running:
            self.heartbeat.stop()
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=reason))

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.heartbeat.running:
            self.heartbeat.stop()
        store = self.store
        if not self.claimed or store.lost:  # never ours, or cancelled / failed elsewhere: not ours to touch
            logger.info("job %s: crawl closed (%s); the job was not this crawler's to finish", store.job_id, reason)
            store.close()
            return
        status, error = self.final_status(spider, reason)
        if reason in ("finished", BLOCKED) and (blocked := self.blocked or self.firewall.verdict_at_end()):
            status, error = JobStatus.FAILED.value, blocked
        if self.unwritten:
            status, error = JobStatus.FAILED.value, self.unwritten
        unfinished = spider.unfinished_records("interrupted", f"Not fetched: {error}")

        def finish() -> str:
            try:
                if unfinished:
                    store.retrying(store.write_batch, unfinished, [], self.crawler.stats.get_value(TOTAL_TASKS_STAT, 0))
                store.retrying(store.finish, status, error, self.unwritten is not None)
            except ClaimLost as exc:
                logger.warning("job %s not finished by this crawler: %s", store.job_id, exc)
                return "no longer ours"
            return status

        final = await maybe_deferred_to_future(threads.deferToThread(finish))
        logger.info("job %s ended %s (close reason %r)", store.job_id, final, reason)
        store.close()

    @staticmethod
    def final_status(spider: Spider, reason: str) -> tuple[str, str | None]:
        """The job's terminal state from the close reason."""
        if spider.start_error:
            return JobStatus.FAILED.value, spider.start_error
        if reason == "finished":  # completed; `error` says so when the instance's page limit stopped it
            return JobStatus.COMPLETED.value, spider.limit_note()
        return JobStatus.FAILED.value, CLOSE_REASONS.get(reason) or f"The crawl stopped early ({reason})"
