"""The layout control_api/ keeps (docs/architecture.md, "Layout"): a package per resource, the
services below the views free of HTTP, and background loops that do not load the web app.

Each test reads or imports the real modules; a file added in the wrong place fails here."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import threading
import time

import pytest

from contract.paths import PROJECT_ROOT
from control_api.processes.background import LOOPS, run_loops
from control_api.processes.supervisor import Component, Supervisor

API = PROJECT_ROOT / "control_api"
MAX_MODULES_PER_FOLDER = 15
# Below the views: what the routes and the dashboard call. These speak in domain errors
# (control_api/domain_errors.py) and never in HTTP.
SERVICES = sorted(
    [*API.glob("*/service.py"), *API.glob("*/*/service.py"), *API.glob("*/schemas.py"), *API.glob("*/*/schemas.py"),
     API / "domain_errors.py", API / "queries.py", API / "base_schemas.py", *API.glob("nodes/*.py"), API / "jobs" / "retention.py",
     API / "jobs" / "targets.py",
     *API.glob("organisations/*.py")]
)  # fmt: skip
# Services that read the app's configuration through flask.current_app: none since their callers pass
# it in (control_api/config.py's ServiceSettings). Keep it empty.
STILL_READ_FLASK_CONFIG: set[str] = set()
WEB = ("flask", "werkzeug", "flask_openapi3")


def runtime_imports(path) -> set[str]:
    """Top-level packages the module imports when it runs (imports for type checkers only excluded)."""
    found: set[str] = set()

    def visit(node):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def modules(folder):
    return [path for path in folder.glob("*.py") if path.name != "__init__.py"]


def test_no_folder_of_control_api_holds_more_than_15_modules():
    folders = [API, *(path for path in API.rglob("*") if path.is_dir() and (path / "__init__.py").exists())]
    crowded = {str(folder.relative_to(PROJECT_ROOT)): len(modules(folder)) for folder in folders
               if len(modules(folder)) > MAX_MODULES_PER_FOLDER}  # fmt: skip
    assert crowded == {}


@pytest.mark.parametrize("path", SERVICES, ids=lambda path: str(path.relative_to(API)))
def test_nothing_below_the_views_imports_flask(path):
    assert path.exists()
    name = str(path.relative_to(API))
    imports_flask = bool(runtime_imports(path) & set(WEB))
    assert imports_flask == (name in STILL_READ_FLASK_CONFIG), (
        f"{name} imports Flask" if imports_flask else f"{name} no longer imports Flask: drop it from the list"
    )


def test_resource_blueprints_are_set_up_in_one_place():
    """openapi.resource_blueprint gives each /v1 resource its tag, bearer token and common errors."""
    offenders = [str(path.relative_to(API)) for path in API.rglob("*.py")
                 if "abp_security=" in path.read_text() and path != API / "openapi.py"]  # fmt: skip
    assert offenders == []


def test_services_raise_domain_errors_not_http_errors():
    offenders = [str(path.relative_to(API)) for path in SERVICES if "ApiError" in path.read_text()]
    assert offenders == []


def test_routes_leave_refusals_to_errors_py():
    """A route lets a service's domain error through (errors.py answers it) rather than building the
    HTTP error itself: then the status and body of a refusal are decided in one place."""
    routes = [*API.glob("*/routes.py"), *API.glob("*/*/routes.py")]
    assert routes
    offenders = [str(path.relative_to(API)) for path in routes if "ApiError" in path.read_text()]
    assert offenders == []


def test_the_dispatcher_and_the_jobs_service_do_not_import_each_other():
    """They did, from inside functions, to hide the loop; now the jobs service uses the dispatcher only."""
    for path in API.glob("nodes/*.py"):
        assert not re.search(r"^\s*(from|import) control_api\.jobs\.service\b", path.read_text(), re.M), path


def test_the_background_loops_do_not_load_the_web_app():
    """What `make run`'s loop processes import (processes/background.py): no route, no view, no dashboard."""
    code = (
        "import json, sys\n"
        "from control_api import create_loop_app\n"
        "import control_api.processes.background, control_api.webhooks.sender\n"
        "import control_api.schedules.recurring_loop, control_api.nodes.reconciler\n"
        "create_loop_app()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                       check=True).stdout)  # fmt: skip
    web = [name for name in loaded if name.startswith(("control_api.dashboard", "flask_openapi3", "flask_wtf"))
           or name.endswith(".routes") or name in ("control_api.openapi", "control_api.health", "control_api.auth")]
    assert web == []
    assert "control_api.nodes.reconciler" in loaded  # the probe did import the loops


def test_a_process_running_two_loops_is_shown_under_both_names(tmp_path):
    component = Component("loops", lambda: subprocess.Popen(["/bin/sleep", "30"]), serves=("reconciler", "schedules"))
    other = Component("api", lambda: subprocess.Popen(["/bin/sleep", "30"]))
    supervisor = Supervisor([component, other], tmp_path / "state.json")
    component.start()
    other.start()
    try:
        supervisor.write_state()
        state = json.loads((tmp_path / "state.json").read_text())["components"]
    finally:
        supervisor.stop()
    assert set(state) == {"reconciler", "schedules", "api"}
    assert state["reconciler"] == state["schedules"] == {"state": "up", "pid": component.process.pid, "restarts": 0}


@pytest.mark.parametrize("names", [["waits", "fails"], ["fails", "waits"]], ids=["in-a-thread", "in-the-main-thread"])
def test_run_loops_returns_when_one_loop_fails_so_the_process_exits_and_is_restarted(monkeypatch, names):
    """A failed loop, in the main thread or another, stops the others through the shared stop event."""
    from flask import Flask

    seen = {}

    def waits(app, stop):
        seen["stopped"] = stop.wait(10)

    def fails(app, stop):
        time.sleep(0.2)
        raise RuntimeError("lost the database for good")

    monkeypatch.setitem(LOOPS, "waits", waits)
    monkeypatch.setitem(LOOPS, "fails", fails)
    started = time.monotonic()
    assert run_loops(Flask(__name__), names, threading.Event()) is False
    assert time.monotonic() - started < 5
    assert seen == {"stopped": True}


def test_every_loop_ends_on_the_one_stop_event_whichever_process_it_shares(monkeypatch):
    """No loop is special: each takes the process's stop event, which SIGTERM sets, and ends on it."""
    from flask import Flask

    ended = []

    def make(name):
        def loop(app, stop):
            stop.wait(30)
            ended.append(name)
        return loop

    for name in ("one", "two", "three"):
        monkeypatch.setitem(LOOPS, name, make(name))
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()  # as the SIGTERM handler does
    started = time.monotonic()
    assert run_loops(Flask(__name__), ["one", "two", "three"], stop) is True
    assert time.monotonic() - started < 5 and sorted(ended) == ["one", "three", "two"]