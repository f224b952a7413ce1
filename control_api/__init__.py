"""The control API: create_app() is the Flask app serving /v1/jobs, /v1/schedules, /v1/triggers,
/hooks, /v1/openapi.json and /healthz, and the dashboard (/app) and API docs (/docs) for browsers;
create_loop_app() is what the background loops run on (control_api/processes/background.py)."""
from __future__ import annotations

from typing import Any

from flask import Flask

from control_api.config import Config


def create_app(config: dict[str, Any] | None = None) -> Flask:
    from control_api.openapi import ApiApp

    app = ApiApp(__name__)  # Flask, with flask-openapi3 building /v1/openapi.json from the routes
    app.config.from_object(Config())
    if config:
        app.config.update(config)
    app.json.sort_keys = False

    from control_api import cli, dashboard, database, errors, health, log_redaction, openapi, rate_limits
    from control_api.jobs import routes as jobs
    from control_api.jobs.results import routes as results
    from control_api.nodes.scrapyd_client import ScrapydClient

    log_redaction.init_app(app)
    database.init_app(app)
    rate_limits.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    app.extensions["scheduler"] = ScrapydClient.from_config(app.config)
    app.register_api(jobs.bp)
    app.register_api(results.bp)
    app.register_blueprint(openapi.bp)
    app.register_api(health.bp)
    dashboard.init_app(app)
    from control_api.schedules import routes as schedules  # where jobs come from
    from control_api.triggers import routes as triggers

    app.register_api(schedules.bp)
    app.register_api(triggers.bp)
    app.register_api(triggers.hooks_bp)
    from control_api.webhooks import routes as webhooks

    app.register_api(webhooks.bp)
    from control_api.jobs.changes import routes as changes  # what changed between crawls

    app.register_api(changes.bp)
    from control_api.jobs.browser import views as browser_views  # browser measurements of a job's sample

    app.register_api(browser_views.bp)
    return app


def create_loop_app(config: dict[str, Any] | None = None) -> Flask:
    """The configuration, the database and the scrapyd client, with no routes: what the background
    loops need (control_api/processes/background.py), without importing the views or the dashboard."""
    app = Flask(__name__)
    app.config.from_object(Config())
    if config:
        app.config.update(config)

    from control_api import database
    from control_api.nodes.scrapyd_client import ScrapydClient

    database.init_app(app)
    app.extensions["scheduler"] = ScrapydClient.from_config(app.config)
    return app
