"""The browser loop (`flask measure-browsers --loop`, supervised by `make run`): takes completed
jobs whose sample waits (`browser_status` pending), loads the sample in one headless Chromium per
job and stores the metrics, one job at a time (niced: a browser costs ~2 s of CPU per page and
must not slow the crawls on a small machine). A job is claimed with a conditional update, so two
loops never measure the same job; a claim older than CLAIM_STALE (a loop that died mid-job) is
taken over. With no browser installed a job's section becomes `unavailable`, saying why, at once:
the job itself completed long before and stays completed."""
from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta

from sqlalchemy import and_, delete, insert, or_, select, update

from contract.vocabulary import BrowserStatus, JobStatus
from control_api.jobs.browser.measure import Browser, BrowserUnavailable, unavailable_reason
from control_api.jobs.browser.sample import choose
from db.models import BrowserPage, Job, utcnow

logger = logging.getLogger(__name__)

CLAIM_STALE = timedelta(minutes=15)
IDLE_SECONDS = 2.0


def claim_next(session_scope) -> tuple[str, int] | None:
    """(job id, browser_pages) of the oldest job waiting for the browser, now claimed; None when none waits."""
    now = utcnow()
    waiting = or_(Job.browser_status == BrowserStatus.PENDING.value,
                  and_(Job.browser_status == BrowserStatus.MEASURING.value, Job.browser_claimed_at < now - CLAIM_STALE))  # fmt: skip
    with session_scope() as session:
        job_id = session.scalar(select(Job.id).where(Job.status == JobStatus.COMPLETED.value, waiting)
                                .order_by(Job.completed_at).limit(1))  # fmt: skip
        if job_id is None:
            return None
        claimed = session.execute(
            update(Job).where(Job.id == job_id, waiting)
            .values(browser_status=BrowserStatus.MEASURING.value, browser_claimed_at=now)
        ).rowcount  # fmt: skip
        options = session.scalar(select(Job.options).where(Job.id == job_id)) or {}
    return (job_id, int(options.get("browser_pages", 6))) if claimed else None


def _finish(session_scope, job_id: str, status: BrowserStatus, note: str | None, rows: list[dict] = ()) -> None:
    with session_scope() as session:
        session.execute(delete(BrowserPage).where(BrowserPage.job_id == job_id))  # a stale claim's leftovers
        if rows:
            session.execute(insert(BrowserPage), [{**row, "job_id": job_id} for row in rows])
        session.execute(update(Job).where(Job.id == job_id).values(browser_status=status.value, browser_note=note))


def measure_job(session_scope, job_id: str, count: int) -> BrowserStatus:
    """Measure one claimed job's sample; returns the status it ends with."""
    if count <= 0:
        _finish(session_scope, job_id, BrowserStatus.OFF, "The job asked for no browser measurements (browser_pages 0)")
        return BrowserStatus.OFF
    with session_scope() as session:
        sample = choose(session, job_id, count)
    if not sample:
        _finish(session_scope, job_id, BrowserStatus.MEASURED, "No HTML page of the job loaded: nothing to measure")
        return BrowserStatus.MEASURED
    reason = unavailable_reason()
    if reason:
        _finish(session_scope, job_id, BrowserStatus.UNAVAILABLE, reason)
        return BrowserStatus.UNAVAILABLE
    rows = []
    try:
        with Browser() as browser:
            for page in sample:
                metrics = browser.measure(page.url)
                rows.append({**metrics.as_row(), "reason": page.reason, "response_time_ms": page.response_time_ms})
    except BrowserUnavailable as exc:
        _finish(session_scope, job_id, BrowserStatus.UNAVAILABLE, str(exc))
        return BrowserStatus.UNAVAILABLE
    seconds = sum(row["seconds"] for row in rows)
    _finish(session_scope, job_id, BrowserStatus.MEASURED, f"{len(rows)} pages in {seconds:.1f} s of browser time", rows)
    logger.info("job %s: %d pages measured in the browser (%.1f s)", job_id, len(rows), seconds)
    return BrowserStatus.MEASURED


def run_once(session_scope) -> int:
    """Measure every job waiting now; returns how many."""
    done = 0
    while (claimed := claim_next(session_scope)) is not None:
        measure_job(session_scope, *claimed)
        done += 1
    return done


def run(session_scope, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            if run_once(session_scope):
                continue
        except Exception:  # noqa: BLE001 - a database outage or a browser crash: log, wait, go on
            logger.exception("browser measurements failed; retrying")
        stop.wait(IDLE_SECONDS)


def run_loop(session_scope, loop: bool) -> int:
    """`flask measure-browsers [--loop]`."""
    if not loop:
        return run_once(session_scope)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logger.info("browser measurements: %s", unavailable_reason() or "Chromium found")
    run(session_scope, stop)
    return 0
