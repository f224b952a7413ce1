"""The browser loop (`flask measure-browsers --loop`, supervised by `make run`): takes completed
jobs whose sample waits (`browser_status` pending), loads the sample in one headless Chromium per
job and stores the metrics, one job at a time (niced: a browser costs ~2 s of CPU per page and
must not slow the crawls on a small machine). A job is claimed with a conditional update, so two
loops never measure the same job; a claim older than CLAIM_STALE (a loop that died mid-job) is
taken over. With no browser installed a job's section becomes `unavailable`, saying why, at once:
the job itself completed long before and stays completed.

The loop's stop event (control_api/processes/background.py: SIGTERM, Ctrl-C) ends it at once, even
mid-page: a watcher kills the browser (measure.py's `Browser.kill`), the page's wait fails, and the
job goes back to `pending` for the next loop. A loop that starts kills the browsers of a loop that
died without closing them (`kill_orphans`)."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import and_, delete, insert, or_, select, update

from contract.vocabulary import BrowserStatus, JobStatus
from control_api.jobs.browser.measure import Browser, BrowserUnavailable, kill_orphans, unavailable_reason
from control_api.jobs.browser.sample import choose
from db.models import BrowserPage, Job, utcnow

logger = logging.getLogger(__name__)

CLAIM_STALE = timedelta(minutes=15)
IDLE_SECONDS = 2.0
WATCH_SECONDS = 0.2  # how often a measurement's watcher looks at the stop event


class Stopped(Exception):
    """The loop was told to stop mid-measurement: the browser is gone, the job waits again."""


@contextmanager
def killed_on_stop(browser: Browser, stop: threading.Event | None) -> Iterator[None]:
    """While the block runs, a thread that kills `browser` as soon as `stop` is set: a page load
    blocks its thread for up to PAGE_TIMEOUT_SECONDS, a stop must not."""
    if stop is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if stop.wait(WATCH_SECONDS):
                browser.kill()
                return

    watcher = threading.Thread(target=watch, name="browser-stop", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


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


def _release(session_scope, job_id: str) -> None:
    """Give a claimed job back, as it was before the claim (stopped mid-measurement)."""
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == job_id, Job.browser_status == BrowserStatus.MEASURING.value)
                        .values(browser_status=BrowserStatus.PENDING.value, browser_claimed_at=None))  # fmt: skip


def measure_job(session_scope, job_id: str, count: int, stop: threading.Event | None = None) -> BrowserStatus:
    """Measure one claimed job's sample; returns the status it ends with (PENDING: `stop` came
    first, and the job waits for the next loop)."""
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
        with Browser() as browser, killed_on_stop(browser, stop):
            for page in sample:
                if stop is not None and stop.is_set():
                    raise Stopped
                metrics = browser.measure(page.url)
                rows.append({**metrics.as_row(), "reason": page.reason, "response_time_ms": page.response_time_ms})
            if stop is not None and stop.is_set():  # the last page may have been cut short by the kill
                raise Stopped
    except Exception as exc:
        # Killed on stop, whatever the failure it caused (a refused connection to the driver, a
        # browser that did not start, Stopped): the job goes back to waiting.
        if stop is not None and stop.is_set():
            _release(session_scope, job_id)
            logger.info("job %s: browser measurements stopped; the job waits for the next loop", job_id)
            return BrowserStatus.PENDING
        if not isinstance(exc, BrowserUnavailable):
            raise
        _finish(session_scope, job_id, BrowserStatus.UNAVAILABLE, str(exc))
        return BrowserStatus.UNAVAILABLE
    seconds = sum(row["seconds"] for row in rows)
    _finish(session_scope, job_id, BrowserStatus.MEASURED, f"{len(rows)} pages in {seconds:.1f} s of browser time", rows)
    logger.info("job %s: %d pages measured in the browser (%.1f s)", job_id, len(rows), seconds)
    return BrowserStatus.MEASURED


def run_once(session_scope, stop: threading.Event | None = None) -> int:
    """Measure every job waiting now (until `stop`); returns how many."""
    done = 0
    while not (stop is not None and stop.is_set()) and (claimed := claim_next(session_scope)) is not None:
        if measure_job(session_scope, *claimed, stop=stop) != BrowserStatus.PENDING:
            done += 1
    return done


def run(session_scope, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            if run_once(session_scope, stop):
                continue
        except Exception:  # noqa: BLE001 - a database outage or a browser crash: log, wait, go on
            logger.exception("browser measurements failed; retrying")
        stop.wait(IDLE_SECONDS)


def run_loop(session_scope, stop: threading.Event | None) -> int:
    """`flask measure-browsers [--loop]` and `make run`'s browser loop: once (returns how many jobs
    were measured), or until `stop`."""
    if stop is None:
        return run_once(session_scope)
    # The operator command's log; in make run's loop process, configured already (a no-op).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    kill_orphans()
    logger.info("browser measurements: %s", unavailable_reason() or "Chromium found")
    run(session_scope, stop)
    return 0
