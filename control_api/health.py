"""GET /healthz: is the database reachable, each scrapyd node, and (under `make run`) each of the
supervised components. Anything down makes it 503 `degraded`, naming what is down.

Nodes are asked all at once with a short timeout (HEALTH_SCRAPYD_TIMEOUT): a frozen scrapyd is
reported `unavailable` within about a second instead of holding the request (and an API worker)
for SCRAPYD_TIMEOUT, 10 s, for each node in turn."""
from __future__ import annotations

import json
import time
from typing import Literal

from flask import current_app
from flask_openapi3 import APIBlueprint
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from control_api.database import engine
from control_api.nodes.scrapyd_client import SchedulerUnavailable, ask_each
from control_api.responses import json_response

bp = APIBlueprint("health", __name__)


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    scrapyd: dict[str, str]
    # Under `make run`: the supervisor and each component it keeps alive (scrapyd, api, reconciler,
    # schedules, webhooks; the reconciler and the schedule loop share one process).
    components: dict[str, Literal["up", "down", "starting"]] | None = None


# The supervisor rewrites its state file every half second; older than this, it is not running.
SUPERVISOR_STALE_SECONDS = 10.0
HEALTH_SCRAPYD_TIMEOUT = 1.0  # a node slower than this to answer daemonstatus.json is reported unavailable


@bp.get("/healthz", responses={200: Health, 503: Health})
def healthz():
    """Database and scrapyd reachability"""
    try:
        with engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError:
        database = "unavailable"
    client = current_app.extensions["scheduler"].with_timeout(HEALTH_SCRAPYD_TIMEOUT)
    nodes = {node: "unavailable" if isinstance(answer, SchedulerUnavailable) else "ok"
             for node, answer in ask_each(client.urls, client.daemon_status).items()}  # fmt: skip
    components = supervised_components(current_app.config.get("SUPERVISOR_STATE_FILE"))
    healthy = (
        database == "ok"
        and all(state == "ok" for state in nodes.values())
        and all(state == "up" for state in (components or {}).values())
    )
    body = Health(status="ok" if healthy else "degraded", database=database, scrapyd=nodes, components=components)
    return json_response(body, 200 if healthy else 503)


def supervised_components(path: str | None) -> dict[str, str] | None:
    """{component: "up" | "down" | "starting"} from the supervisor's state file; None when the API
    runs unsupervised. A missing or stale file means the supervisor itself is down."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            state = json.load(file)
        if time.time() - float(state["updated_at"]) > SUPERVISOR_STALE_SECONDS:
            return {"supervisor": "down"}
        return {"supervisor": "up", **{name: part["state"] for name, part in state["components"].items()}}
    except (OSError, ValueError, KeyError, TypeError):
        return {"supervisor": "down"}
