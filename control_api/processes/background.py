"""The background loops `make run` supervises, without the web application.

    python -m control_api.processes.background reconcile schedules   # one process, a thread each
    python -m control_api.processes.background webhooks

`reconcile` fails dead crawls, hands waiting jobs to free slots and applies retention
(control_api/nodes/); `schedules` starts the recurring crawls that are due (control_api/schedules/);
`webhooks` sends the webhook messages (control_api/webhooks/sender.py). Each also runs alone as an
operator command (`flask --app control_api reconcile --loop`, `run-schedules --loop`,
`deliver-webhooks --loop`), which calls the same functions.

They run on create_loop_app(): the configuration, the database and the scrapyd client, and no
routes, views or dashboard, so a loop process imports a fraction of what the API does (figures in
docs/performance.md, "Idle footprint of `make run`"). The reconciler and the schedule loop share a
process: both wait most of the time and neither blocks for long. The webhook sender keeps its own,
niced, so that a slow receiver never delays the reconciler. A loop that dies takes its process with
it (exit code 1) so the supervisor restarts it.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable

import click
from flask import Flask

logger = logging.getLogger(__name__)


def reconcile(app: Flask, loop: bool) -> None:
    """Fail jobs whose crawler process died, hand waiting jobs to free slots and, when looping,
    apply retention: dispatch every DISPATCH_SECONDS, reconcile every RECONCILE_SECONDS, prune every
    RETENTION_SECONDS."""
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
        if loop and now >= due["prune"]:
            prune_and_report(app)
            due["prune"] = now + every["prune"]
        if not loop:
            break
        time.sleep(max(0.05, min(due.values()) - time.monotonic()))


def prune_and_report(app: Flask) -> None:
    from control_api.database import engine
    from control_api.jobs.retention import prune

    config = app.config
    report = prune(engine(), float(config["RETENTION_DAYS"]), int(config["RETENTION_BATCH"]))
    if report.jobs:
        click.echo(f"retention: {report.rows} rows of {report.jobs} jobs deleted in {report.seconds:.1f} s "
                   f"({report.rows_per_second:.0f} rows/s, {report.transactions} transactions, longest "
                   f"{report.longest_transaction * 1000:.0f} ms)")  # fmt: skip


def run_schedules(app: Flask, loop: bool) -> None:
    """Start the runs of the recurring crawls that are due, once or every SCHEDULE_POLL_SECONDS.
    On SQLite only one such loop may run: AnotherSchedulerRunning otherwise."""
    from control_api.schedules.recurring_loop import ScheduleRunner, single_scheduler_on_sqlite

    runner = ScheduleRunner.from_app(app)
    with single_scheduler_on_sqlite(app.config["DATABASE_URL"]):
        for outcomes in runner.run_forever() if loop else [runner.run_due()]:
            for outcome in outcomes:
                click.echo(outcome.describe())


def deliver_webhooks(app: Flask, loop: bool) -> None:
    """Send the webhook messages that are due, once or until SIGTERM or Ctrl-C (the main thread's)."""
    from control_api.webhooks.sender import run_sender

    run_sender(loop)


def measure_browsers(app: Flask, loop: bool) -> None:
    """Load the sampled pages of completed jobs in headless Chromium, once or until SIGTERM or Ctrl-C
    (the main thread's, like the webhook sender)."""
    from control_api.jobs.browser.runner import run_loop
    from control_api.database import session_scope

    run_loop(session_scope, loop)


LOOPS: dict[str, Callable[[Flask, bool], None]] = {
    "reconcile": reconcile, "schedules": run_schedules, "webhooks": deliver_webhooks, "browsers": measure_browsers,
}
# Loops that handle SIGTERM in the main thread: each runs in a process of its own.
OWN_PROCESS = ("webhooks", "browsers")


def run_loops(app: Flask, names: list[str]) -> None:
    """Run the named loops, each in its own thread; return (with an error logged) as soon as one
    ends, since a loop only ends by failing."""
    ended = threading.Event()

    def run(name: str) -> None:
        from control_api.schedules.recurring_loop import AnotherSchedulerRunning

        try:
            with app.app_context():
                LOOPS[name](app, True)
        except AnotherSchedulerRunning as exc:
            logger.error("the %s loop refused to start: %s", name, exc)
        except BaseException:
            logger.exception("the %s loop failed", name)
        finally:
            ended.set()

    for name in names:
        threading.Thread(target=run, args=(name,), name=name, daemon=True).start()
    ended.wait()


def main(argv: list[str]) -> None:
    names = argv or ["reconcile", "schedules"]
    unknown = [name for name in names if name not in LOOPS]
    if unknown:
        raise SystemExit(f"unknown loop(s) {', '.join(unknown)}; choose from {', '.join(LOOPS)}")
    for name in OWN_PROCESS:
        if name in names and names != [name]:
            raise SystemExit(f"the {name} loop runs in a process of its own (it handles SIGTERM in the main thread)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from control_api import create_loop_app

    app = create_loop_app()
    if len(names) == 1 and names[0] in OWN_PROCESS:  # its own signal handling finishes the work in hand
        with app.app_context():
            LOOPS[names[0]](app, True)
        return
    try:
        run_loops(app, names)
    except KeyboardInterrupt:
        return
    sys.stdout.flush()
    os._exit(1)  # a loop failed: the supervisor restarts the process (daemon threads end with it)


if __name__ == "__main__":
    main(sys.argv[1:])
