"""Operator commands: `flask --app control_api create-org NAME | revoke-token TOKEN | migrate |
reconcile | run-schedules`."""
from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError

from control_api.database import session_scope
from control_api.organisations.tokens import create_organisation, revoke_token
from db import migrate


@click.command("create-org")
@click.argument("name")
def create_org_command(name: str) -> None:
    """Create an organisation and print its new API token (shown once, as the last line)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise click.BadParameter("must be 1 to 200 characters", param_hint="NAME")
    try:
        with session_scope() as session:
            organisation, token = create_organisation(session, name)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database error: {exc.__class__.__name__}; did you run 'migrate'?") from None
    click.echo(f"Created organisation {organisation.id} ({name}). Its API token, shown only once:")
    click.echo(token)


@click.command("revoke-token")
@click.argument("token")
def revoke_token_command(token: str) -> None:
    """Revoke an API token; it fails from the very next request."""
    with session_scope() as session:
        found = revoke_token(session, token.strip())
    if not found:
        raise click.ClickException("no such token")
    click.echo("Token revoked.")


@click.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the database schema (Alembic upgrade head)."""
    from flask import current_app

    migrate.upgrade(current_app.config["DATABASE_URL"])
    click.echo("Database is up to date.")


@click.command("reconcile")
@click.option("--loop", is_flag=True, help="Keep running: dispatch every DISPATCH_SECONDS, reconcile every "
              "RECONCILE_SECONDS, prune every RETENTION_SECONDS.")  # fmt: skip
def reconcile_command(loop: bool) -> None:
    """Fail jobs whose crawler process died (compares the database with scrapyd's listjobs.json),
    hand waiting jobs to free slots, and (with --loop) apply retention."""
    from flask import current_app

    from control_api.processes.background import run_command

    run_command(current_app, "reconcile", loop)


@click.command("prune")
def prune_command() -> None:
    """Delete the per-URL rows of jobs that ended more than RETENTION_DAYS ago (in batches)."""
    from flask import current_app

    from control_api.processes.background import prune_and_report

    if not float(current_app.config["RETENTION_DAYS"]):
        click.echo("RETENTION_DAYS is 0: every row is kept.")
        return
    prune_and_report(current_app)
    click.echo("Retention applied.")


@click.command("nodes")
def nodes_command() -> None:
    """Each scrapyd node: reachable or since when not, slots, busy, and the jobs running on it."""
    from flask import current_app
    from sqlalchemy import select

    from control_api.nodes.dispatcher import jobs_on, probe_nodes
    from db.models import Job, ScrapydNode

    client = current_app.extensions["scheduler"]
    loads = probe_nodes(client)
    with session_scope() as session:
        for url, job_ids in jobs_on(session, list(loads)).items():
            loads[url].ours = job_ids
        down = dict(session.execute(select(ScrapydNode.url, ScrapydNode.unreachable_since)).all())
        running = session.execute(
            select(Job.scrapyd_node, Job.id).where(Job.scrapyd_node.in_(list(loads)), Job.status == "running")
        ).all()
        waiting = session.scalar(
            select(func.count()).select_from(Job).where(Job.status == "created", Job.dispatched_at.is_(None))
        )
    for url, load in loads.items():
        slots = "unlimited" if load.slots is None else str(load.slots)
        if load.reachable:
            free = "-" if load.slots is None else str(int(load.free))
            state = f"up    slots {slots}, free {free}, scrapyd running {len(load.running)} pending {len(load.pending)}, busy {load.busy}"
        else:
            since = down.get(url)
            state = f"DOWN  slots {slots}, not answering" + (f" since {since:%Y-%m-%d %H:%M:%S} UTC" if since else "")
        click.echo(f"{url}  {state}")
        for node, job_id in running:
            if node == url:
                click.echo(f"    running {job_id}")
    click.echo(f"{waiting} job(s) waiting for a free slot")


@click.command("run-schedules")
@click.option("--loop", is_flag=True, help="Keep running, every SCHEDULE_POLL_SECONDS.")
def run_schedules_command(loop: bool) -> None:
    """Start the runs of the schedules that are due (on SQLite, one such command at a time)."""
    from flask import current_app

    from control_api.processes.background import run_command
    from control_api.schedules.recurring_loop import AnotherSchedulerRunning

    try:
        run_command(current_app, "schedules", loop)
    except AnotherSchedulerRunning as exc:
        raise click.ClickException(f"Refusing to start: {exc}") from None


@click.command("deliver-webhooks")
@click.option("--loop", is_flag=True, help="Keep running (SIGTERM finishes the attempts in flight, then stops).")
def deliver_webhooks_command(loop: bool) -> None:
    """Send the webhook messages that are due (control_api/webhooks/sender.py)."""
    from flask import current_app

    from control_api.processes.background import run_command

    run_command(current_app, "webhooks", loop)


@click.command("measure-browsers")
@click.option("--loop", is_flag=True, help="Keep running (SIGTERM stops it at once: the browser is killed, "
              "the job in hand waits for the next run).")  # fmt: skip
def measure_browsers_command(loop: bool) -> None:
    """Load the sampled pages of completed jobs in headless Chromium (control_api/jobs/browser/runner.py)."""
    from flask import current_app

    from control_api.processes.background import run_command

    run_command(current_app, "browsers", loop)


def init_app(app: Flask) -> None:
    for command in (create_org_command, revoke_token_command, migrate_command, reconcile_command, prune_command,
                    nodes_command, run_schedules_command):
        app.cli.add_command(command)
    app.cli.add_command(deliver_webhooks_command)
    app.cli.add_command(measure_browsers_command)
