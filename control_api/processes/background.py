"""The background loops `make run` supervises, without the web application.

    python -m control_api.processes.background reconcile schedules   # one process, a thread each
    python -m control_api.processes.background webhooks browsers     # another, niced

`reconcile` fails dead crawls, hands waiting jobs to free slots and applies retention
(control_api/nodes/); `schedules` starts the recurring crawls that are due (control_api/schedules/);
`webhooks` sends the webhook messages (control_api/webhooks/sender.py); `browsers` measures the
sampled pages of completed jobs in headless Chromium (control_api/jobs/browser/runner.py). Each also
runs alone as an operator command (`flask --app control_api reconcile --loop`, `run-schedules --loop`,
`deliver-webhooks --loop`, `measure-browsers --loop`), which calls the same functions.

Every loop has the same shape: `loop(app, stop)` runs once when `stop` is None, else until the
event `stop` is set, waiting on it (never in `time.sleep`) so that it ends promptly. A process runs
its loops a thread each, with one stop event: SIGTERM or SIGINT sets it, every loop finishes
the step in hand (a webhook attempt, a browser page: the browser is killed, not waited for) and the
process exits 0. Which loops share a process is `make run`'s choice (supervisor.py), nothing here:
the reconciler and the schedule loop share one, as both wait most of the time; the webhook sender
and the browser loop share another, niced, so that a slow receiver or a slow page never delays
the reconciler. A loop that dies stops the others and takes its process with it (exit code 1), so
the supervisor restarts it.

They run on create_loop_app(): the configuration, the database and the scrapyd client, and no
routes, views or dashboard, so a loop process imports a fraction of what the API does (figures in
docs/performance.md, "Idle footprint of `make run`").
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import click
from flask import Flask

logger = logging.getLogger(__name__)

# How long a stopping process waits for its loops to finish the step in hand: a webhook attempt
# ends by WEBHOOK_TIMEOUT_SECONDS (10 s), a scrapyd call by SCRAPYD_TIMEOUT; the supervisor waits 15 s.
STOP_GRACE_SECONDS = 12.0
# After a loop failed, how long the others get to stop before the process exits anyway.
FAILED_GRACE_SECONDS = 5.0
LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def reconcile(app: Flask, stop: threading.Event | None) -> None:
    """Fail jobs whose crawler process died and hand waiting jobs to free slots, once or until
    `stop`: then dispatch every DISPATCH_SECONDS, reconcile every RECONCILE_SECONDS and apply
    retention every RETENTION_SECONDS."""
    from control_api.database import session_scope
    from control_api.nodes.dispatcher import dispatch_waiting
    from control_api.nodes.reconciler import Reconciler
    from control_api.nodes.scrapyd_client import SchedulerUnavailable

    config = app.config
    reconciler = Reconciler.from_app(app)
    every = {"reconcile": reconciler.interval, "dispatch": float(config["DISPATCH_SECONDS"]),
             "prune": float(config["RETENTION_SECONDS"])}  # fmt: skip
    due = dict.fromkeys(every, 0.0)
    while True:
        now = time.monotonic()
        if now >= due["reconcile"]:
            for job_id, reason in reconciler.run_once():
                click.echo(f"{job_id}: failed: {reason}")
            due["reconcile"] = now + every["reconcile"]
        if now >= due["dispatch"]:
            try:
                for job_id, node in dispatch_waiting(session_scope, reconciler.client):
                    click.echo(f"{job_id}: dispatched to {node}")
            except SchedulerUnavailable as exc:  # jobs keep waiting until a node answers
                click.echo(f"dispatch: {exc}")
            due["dispatch"] = now + every["dispatch"]
        if stop is None:
            break
        if now >= due["prune"]:
            prune_and_report(app)
            due["prune"] = now + every["prune"]
        if stop.wait(max(0.05, min(due.values()) - time.monotonic())):
            break


def prune_and_report(app: Flask) -> None:
    from control_api.database import engine
    from control_api.jobs.retention import prune

    config = app.config
    report = prune(engine(), float(config["RETENTION_DAYS"]), int(config["RETENTION_BATCH"]))
    if report.jobs:
        click.echo(f"retention: {report.rows} rows of {report.jobs} jobs deleted in {report.seconds:.1f} s "
                   f"({report.rows_per_second:.0f} rows/s, {report.transactions} transactions, longest "
                   f"{report.longest_transaction * 1000:.0f} ms)")  # fmt: skip


def run_schedules(app: Flask, stop: threading.Event | None) -> None:
    """Start the runs of the recurring crawls that are due, once or every SCHEDULE_POLL_SECONDS
    until `stop`. On SQLite only one such loop may run: AnotherSchedulerRunning otherwise."""
    from control_api.schedules.recurring_loop import ScheduleRunner, single_scheduler_on_sqlite

    runner = ScheduleRunner.from_app(app)
    with single_scheduler_on_sqlite(app.config["DATABASE_URL"]):
        for outcomes in runner.run_forever(stop) if stop is not None else [runner.run_due()]:
            for outcome in outcomes:
                click.echo(outcome.describe())


def deliver_webhooks(app: Flask, stop: threading.Event | None) -> None:
    """Send the webhook messages that are due, once or until `stop` (then finish the attempts in flight)."""
    from control_api.webhooks.sender import run_sender

    run_sender(app, stop)


def measure_browsers(app: Flask, stop: threading.Event | None) -> None:
    """Load the sampled pages of completed jobs in headless Chromium, once or until `stop` (the
    browser in hand is killed and its job left for the next loop)."""
    from control_api.database import session_scope
    from control_api.jobs.browser.runner import run_loop

    measured = run_loop(session_scope, stop)
    if stop is None:
        click.echo(f"{measured} job(s) measured in the browser.")


LOOPS: dict[str, Callable[[Flask, threading.Event | None], None]] = {
    "reconcile": reconcile, "schedules": run_schedules, "webhooks": deliver_webhooks, "browsers": measure_browsers,
}


def stop_on_signals() -> threading.Event:
    """The stop event of this process: SIGTERM and SIGINT set it. Main thread only. A SIGINT ignored
    at start stays ignored: `make run` starts its loops so (supervisor.py's background_child), a
    terminal's Ctrl-C reaching its whole group, and stops them with SIGTERM."""
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, handle)
    return stop


def run_command(app: Flask, name: str, loop: bool) -> None:
    """An operator's command (`flask reconcile [--loop]` and the others): the loop once, or in
    this thread until SIGTERM or Ctrl-C."""
    LOOPS[name](app, stop_on_signals() if loop else None)


def run_loops(app: Flask, names: list[str], stop: threading.Event) -> bool:
    """Run the named loops until `stop` is set: True, or until one of them ends by itself, which
    it only does when it failed (logged): False. Any loop that ends sets `stop`, so the others end
    too, and are waited for within a grace period.

    The first loop runs in this (the main) thread, each other one in a thread of its own, so a
    process of one loop runs it as a plain program would."""
    failed = threading.Event()

    def run(name: str) -> None:
        try:
            with app.app_context():
                LOOPS[name](app, stop)
        except BaseException as exc:
            # Imported only here: it loads the jobs and schedules services (~4 MB), which a process
            # without the schedule loop never needs.
            from control_api.schedules.recurring_loop import AnotherSchedulerRunning

            if isinstance(exc, AnotherSchedulerRunning):
                logger.error("the %s loop refused to start: %s", name, exc)
            else:
                logger.error("the %s loop failed", name, exc_info=exc)
            failed.set()
        else:
            if not stop.is_set():
                logger.error("the %s loop ended", name)
                failed.set()
        finally:
            stop.set()

    threads = [threading.Thread(target=run, args=(name,), name=name, daemon=True) for name in names[1:]]
    for thread in threads:
        thread.start()
    run(names[0])
    deadline = time.monotonic() + (FAILED_GRACE_SECONDS if failed.is_set() else STOP_GRACE_SECONDS)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    late = [thread.name for thread in threads if thread.is_alive()]
    if late:
        logger.warning("the %s loop(s) did not stop in time; exiting without them", ", ".join(late))
    return not failed.is_set()


def main(argv: list[str]) -> None:
    names = argv or ["reconcile", "schedules"]
    unknown = [name for name in names if name not in LOOPS]
    if unknown:
        raise SystemExit(f"unknown loop(s) {', '.join(unknown)}; choose from {', '.join(LOOPS)}")
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    from control_api import create_loop_app

    app = create_loop_app()
    stopped = run_loops(app, names, stop_on_signals())
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: a loop that did not stop in time is a daemon thread, and exiting must not wait for it.
    os._exit(0 if stopped else 1)  # 1: a loop failed, the supervisor restarts the process


if __name__ == "__main__":
    main(sys.argv[1:])
