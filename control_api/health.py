"""GET /healthz: is the database reachable, and each scrapyd node."""
from __future__ import annotations

from flask import Blueprint, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from control_api.database import engine
from control_api.presenters import json_response
from control_api.scheduler import SchedulerUnavailable
from control_api.schemas import Health

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        with engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError:
        database = "unavailable"
    client = current_app.extensions["scheduler"]
    nodes = {}
    for node in client.urls:
        try:
            client.daemon_status(node)
            nodes[node] = "ok"
        except SchedulerUnavailable:
            nodes[node] = "unavailable"
    healthy = database == "ok" and all(state == "ok" for state in nodes.values())
    body = Health(status="ok" if healthy else "degraded", database=database, scrapyd=nodes)
    return json_response(body, 200 if healthy else 503)
