"""Operator commands: `flask --app control_api create-org NAME | revoke-token TOKEN | migrate |
reconcile | run-schedules`."""
from __future__ import annotations

import click
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from control_api.database import session_scope
from control_api.tokens import create_organisation, revoke_token
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
@click.option("--loop", is_flag=True, help="Keep running, every RECONCILE_SECONDS.")
def reconcile_command(loop: bool) -> None:
    """Fail jobs whose crawler process died (compares the database with scrapyd's listjobs.json)."""
    import time

    from flask import current_app

    from control_api.reconciler import Reconciler

    reconciler = Reconciler.from_app(current_app)
    while True:
        for job_id, reason in reconciler.run_once():
            click.echo(f"{job_id}: failed: {reason}")
        if not loop:
            break
        time.sleep(reconciler.interval)


@click.command("run-schedules")
@click.option("--loop", is_flag=True, help="Keep running, every SCHEDULE_POLL_SECONDS.")
def run_schedules_command(loop: bool) -> None:
    """Start the runs of the schedules that are due (on SQLite, one such command at a time)."""
    from flask import current_app

    from control_api.schedule_runner import AnotherSchedulerRunning, ScheduleRunner, single_scheduler_on_sqlite

    runner = ScheduleRunner.from_app(current_app)
    try:
        with single_scheduler_on_sqlite(current_app.config["DATABASE_URL"]):
            for outcomes in runner.run_forever() if loop else [runner.run_due()]:
                for outcome in outcomes:
                    click.echo(outcome.describe())
    except AnotherSchedulerRunning as exc:
        raise click.ClickException(f"Refusing to start: {exc}") from None

@click.command("deliver-webhooks")
@click.option("--loop", is_flag=True, help="Keep running (SIGTERM finishes the attempts in flight, then stops).")
def deliver_webhooks_command(loop: bool) -> None:
    """Send the webhook messages that are due (control_api/webhook_sender.py)."""
    from control_api.webhook_sender import run_sender

    run_sender(loop)


def init_app(app: Flask) -> None:
    for command in (create_org_command, revoke_token_command, migrate_command, reconcile_command, run_schedules_command):
        app.cli.add_command(command)
    app.cli.add_command(deliver_webhooks_command)
