"""`make run`: migrate the database, then start and supervise scrapyd, the API and the background
loops (control_api/processes/background.py: the reconciler and the recurring-crawl loop share one
process; the webhook sender and the browser measurements share another, niced).

Each component is a child process. One that dies is restarted with growing back-off (1 s doubling
to 30 s, back to 1 s once it has stayed up a minute) while the others stay up; what is up is written
every half second to a state file that /healthz reads, so the API answers 503 `degraded` naming
what is down meanwhile. Ctrl-C or SIGTERM stops everything, however the service was started: the
handlers are installed explicitly, since a shell that starts `make run &` from a script has it inherit
SIGINT ignored, and a child that the same signal to the process group stopped is not restarted.

scrapyd listens on loopback with basic-auth credentials (control_api/credentials.py), so only the
API and the operator can schedule crawls or read their logs; everything under var/ is created
readable by this user only. A crawler orphaned by a dead scrapyd keeps its job only while it keeps
renewing its claim (crawler/jobstore.py), so supervision never has to hunt for orphans.

The organisation "Local development" and its API token are made on the first run and kept in
var/dev-token (0600; the token alone, so `TOKEN=$(cat var/dev-token)` works, the organisation's id
in var/dev-organisation); later runs print the same token while the database still accepts it, so the
jobs made before a restart are still listed after it.

One module past the usual ~300 lines because it is one thing, `make run`'s process tree: the
components, their back-off and the signal handling must be read together to see that a stop
never becomes a restart.
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from dotenv import load_dotenv

from contract.paths import PROJECT_ROOT
from control_api.config import ConfigError, ServiceConfig

logger = logging.getLogger("control_api.processes.supervisor")

BACKOFF_START, BACKOFF_MAX, STABLE_AFTER = 1.0, 30.0, 60.0
TICK = 0.5
DEV_ORGANISATION = "Local development"
# `scheme://user:password@host`: the password runs to the last `@` before the path (it may hold `@`, `/`, `:`).
PASSWORD_IN_AUTHORITY = re.compile(r"^([a-zA-Z][\w+.-]*://[^:/@]*:)[^\s]*@(?=[^@]*$)")
PASSWORD_IN_QUERY = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def wait_for_http(url: str, process: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with code {process.returncode}; see the output above")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not start within {timeout:.0f} s")


@dataclass
class Component:
    """A child process kept alive: restarted after it dies, with back-off."""

    name: str
    launch: Callable[[], subprocess.Popen]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None  # monotonic time of the next start while it is down
    backoff: float = BACKOFF_START
    restarts: int = 0
    # The names /healthz shows for it: one process may run several loops, each still named.
    serves: tuple[str, ...] = ()

    def start(self) -> None:
        self.process = self.launch()
        self.started_at, self.restart_at = time.monotonic(), None

    @property
    def state(self) -> str:
        return "up" if self.process is not None and self.process.poll() is None else "down"

    def check(self, now: float) -> None:
        """Notice a death and plan the restart; restart when its time has come."""
        if self.restart_at is None and self.state == "down":
            code = self.process.returncode if self.process else None
            if now - self.started_at > STABLE_AFTER:
                self.backoff = BACKOFF_START
            logger.error("%s exited (code %s); restarting in %.0f s", self.name, code, self.backoff)
            self.restart_at = now + self.backoff
            self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        elif self.restart_at is not None and now >= self.restart_at:
            self.restarts += 1
            logger.warning("restarting %s (restart %d)", self.name, self.restarts)
            try:
                self.start()
            except OSError as exc:
                logger.error("could not start %s: %s", self.name, exc)
                self.restart_at = now + self.backoff

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class StopRequest:
    """SIGINT and SIGTERM: the supervisor stops its children and exits, once.

    Installed explicitly for both signals: Python leaves SIGINT alone when it was ignored at start
    (as `make run &` in a non-interactive shell has it), and then only the children would stop, to be
    restarted as crashed. Before supervision begins the signal interrupts start-up (KeyboardInterrupt);
    once the loop runs it only sets the flag, so a restart in progress is never cut in half and a
    child that the same signal already stopped is not mistaken for a crash. A second signal while
    stopping is ignored: the stop is already under way."""

    def __init__(self) -> None:
        self.requested = False
        self.supervising = False

    def install(self) -> None:
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)

    def __call__(self, signum: int, frame: object) -> None:
        if self.requested:
            return
        self.requested = True
        if not self.supervising:
            raise KeyboardInterrupt


@dataclass
class Supervisor:
    components: list[Component]
    state_file: Path
    stop_request: StopRequest = field(default_factory=StopRequest)

    @property
    def stopping(self) -> bool:
        return self.stop_request.requested

    @stopping.setter
    def stopping(self, value: bool) -> None:  # for a caller that supervises in a thread of its own
        self.stop_request.requested = value

    def write_state(self) -> None:
        state = {
            "updated_at": time.time(),
            "pid": os.getpid(),
            "components": {
                name: {"state": c.state, "pid": c.process.pid if c.process else None, "restarts": c.restarts}
                for c in self.components
                for name in c.serves or (c.name,)
            },
        }
        partial = self.state_file.with_suffix(".tmp")
        partial.write_text(json.dumps(state))
        partial.replace(self.state_file)  # atomic: /healthz never reads half a file

    def run(self) -> None:
        self.stop_request.supervising = True
        while not self.stopping:
            now = time.monotonic()
            for component in self.components:
                if self.stopping:  # the signal that stops us may have stopped this child too: no restart
                    break
                component.check(now)
            self.write_state()
            time.sleep(TICK)

    def stop(self) -> None:
        for component in self.components:
            component.stop()
        for component in self.components:
            component.wait()
        self.state_file.unlink(missing_ok=True)


def main() -> None:
    stop_request = StopRequest()
    stop_request.install()
    load_dotenv()  # into the environment, which scrapyd, its crawlers and the API inherit
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = ServiceConfig()
    except ConfigError as exc:
        raise SystemExit(exc.format_message()) from None
    os.umask(0o077)  # the database, scrapyd's logs and the credentials: this user's only
    var = settings.VAR_DIR
    var.mkdir(parents=True, exist_ok=True)
    var.chmod(0o700)
    (var / "run").mkdir(exist_ok=True)
    os.environ.setdefault("SCRAPYD_CREDENTIALS_FILE", str(var / "scrapyd" / "credentials"))
    os.environ.setdefault("SECRET_KEY_FILE", str(var / "secret-key"))  # the dashboard's, when SECRET_KEY is unset

    from control_api.credentials import ensure_credentials, ensure_secret_key, read_dev_token, write_dev_token

    if not os.environ.get("SCRAPYD_USERNAME"):
        os.environ["SCRAPYD_USERNAME"], os.environ["SCRAPYD_PASSWORD"] = ensure_credentials()
    if not settings.SECRET_KEY:
        ensure_secret_key()  # made here once, so the API's workers all read the same key
    host, port = settings.API_HOST, str(settings.API_PORT)
    state_file = var / "run" / f"supervisor-{port}.json"
    os.environ["SUPERVISOR_STATE_FILE"] = str(state_file)  # inherited by the API: /healthz reads it

    from control_api import create_loop_app
    from control_api.database import session_scope
    from control_api.processes.scrapyd_node import start_node, wait_for_launcher, wait_until_ready
    from control_api.organisations.tokens import development_token
    from db import migrate

    app = create_loop_app()  # configuration and database only: the web app runs in gunicorn
    config = app.config
    migrate.upgrade(config["DATABASE_URL"])
    print(f"Database ready: {masked_url(config['DATABASE_URL'])}")

    scrapyd_url = config["SCRAPYD_URLS"][0]
    scrapyd_parts = urlsplit(scrapyd_url)
    username, password = config["SCRAPYD_USERNAME"], config["SCRAPYD_PASSWORD"]
    bin_dir = Path(sys.executable).parent
    scrapyd = Component("scrapyd", lambda: start_node(
        var / "scrapyd", scrapyd_parts.port or 6800,
        bind=settings.SCRAPYD_BIND or scrapyd_parts.hostname or "127.0.0.1",
        poll_interval=settings.SCRAPYD_POLL_INTERVAL, username=username, password=password,
        max_proc=config["SCRAPYD_SLOTS"].get(scrapyd_url, 0),  # its `#slots=N`, so the two agree
    ))  # fmt: skip
    api = Component("api", lambda: subprocess.Popen(
        [str(bin_dir / "gunicorn"), "--config", "python:control_api.processes.gunicorn_conf",
         "--workers", str(settings.API_WORKERS), "--bind", f"{host}:{port}",
         # One control socket per instance: two services on one machine must not share gunicorn's default.
         "--control-socket", str(var / "run" / f"gunicorn-{port}.ctl"),
         "--access-logfile", "-", "control_api:create_app()"],
        cwd=PROJECT_ROOT,
    ))  # fmt: skip
    # The reconciler and the recurring-crawl loop: one process, without the web app (processes/background.py).
    loops = Component("loops", lambda: subprocess.Popen(
        [sys.executable, "-m", "control_api.processes.background", "reconcile", "schedules"], cwd=PROJECT_ROOT,
        preexec_fn=background_child,
    ), serves=("reconciler", "schedules"))  # fmt: skip
    # Outgoing webhooks (webhooks/sender.py) and the browser measurements of completed jobs
    # (control_api/jobs/browser/): a process apart from the reconciler's, so a slow receiver or page
    # never delays it, and niced, as Chromium (which inherits it) must not slow the crawls. The two
    # share it, a thread each: both wait most of the time, and the browser's work is Chromium's, in
    # processes of its own; a process of its own cost the browser loop ~50 MB PSS while idle
    # (docs/performance.md, "Idle footprint of make run").
    webhooks = Component("webhooks", lambda: subprocess.Popen(
        [sys.executable, "-m", "control_api.processes.background", "webhooks", "browsers"], cwd=PROJECT_ROOT,
        preexec_fn=lambda: background_child(nice=10),
    ), serves=("webhooks", "browsers"))  # fmt: skip
    supervisor = Supervisor([scrapyd, api, loops, webhooks], state_file, stop_request)
    try:
        scrapyd.start()
        wait_until_ready(scrapyd_url, scrapyd.process, auth=(username, password))
        if not wait_for_launcher(var / "scrapyd"):
            logger.warning("the crawler launcher did not start (see var/scrapyd/launcher.log); crawls start without it")
        api.start()
        wait_for_http(f"http://{host}:{port}/healthz", api.process, "the API")
        token_file = var / "dev-token"
        with app.app_context(), session_scope() as session:
            token, organisation_id, new = development_token(session, read_dev_token(token_file), DEV_ORGANISATION)
        write_dev_token(token_file, token, organisation_id)
        loops.start()
        print_welcome(host, port, scrapyd_url, token, token_file, new, config["ALLOW_PRIVATE_TARGETS"], username,
                      password)  # fmt: skip
        # Last, and niced: on a busy machine its start-up (a Python process importing the app) slowed
        # scrapyd's answer to the first crawls past SCRAPYD_TIMEOUT; deliveries can wait a moment.
        webhooks.start()
        supervisor.run()
    except KeyboardInterrupt:
        pass
    finally:
        stop_request.requested = True  # a signal from here on must not interrupt the stop
        supervisor.stop()
        print("Stopped scrapyd, the API, the reconciler, the scheduler loop, the webhook sender and the browser loop.")


def background_child(nice: int = 0) -> None:
    """In a background loop's process, before it runs: Ctrl-C reaches the whole process group, and a
    Python process still importing when it came printed a KeyboardInterrupt traceback per process.
    Ignored here, and left ignored by the loops (processes/background.py's stop_on_signals), the
    supervisor stops these with SIGTERM, which every loop takes as its stop: the work in hand
    finishes (a webhook attempt) or is cut at once (a browser page), and the process exits 0."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        os.nice(nice)


def masked_url(url: str) -> str:
    """The database URL with its password (in the authority, or a `password=` query parameter as
    libpq takes it) replaced by `***`: what `make run` prints reaches terminals and CI logs."""
    masked = PASSWORD_IN_AUTHORITY.sub(r"\1***@", url)
    return PASSWORD_IN_QUERY.sub(r"\1***", masked)


def print_welcome(host: str, port: str, scrapyd_url: str, token: str, token_file: Path, new_token: bool,
                  allow_private: bool, username: str, password: str) -> None:  # fmt: skip
    print(f"""
Crawl service is running.
  Dashboard:  http://{host}:{port}/app   (sign in with the API token below)
  API:        http://{host}:{port}/v1/jobs   (OpenAPI: http://{host}:{port}/v1/openapi.json, docs: http://{host}:{port}/docs)
  Health:     http://{host}:{port}/healthz   (503 "degraded" while a component restarts)
  scrapyd UI: {scrapyd_url}/   user {username}, password {password}
              (kept in {os.environ["SCRAPYD_CREDENTIALS_FILE"]}, readable by you only)
  Private/loopback targets are {"ALLOWED (ALLOW_PRIVATE_TARGETS=1)" if allow_private else "refused; set ALLOW_PRIVATE_TARGETS=1 to crawl localhost"}.

Your API token for the organisation "{DEV_ORGANISATION}" ({"new" if new_token else "the same as last time"}; kept in {token_file}, readable by you only):
{token}

In a shell, as README's examples use them:
  API=http://{host}:{port}; TOKEN=$(cat {token_file})

Start a crawl:
  curl -s -X POST http://{host}:{port}/v1/jobs -H "Authorization: Bearer {token}" \\
       -H "Content-Type: application/json" -d '{{"domain": "example.com", "options": {{"max_pages": 100}}}}'
Then: curl -s http://{host}:{port}/v1/jobs/JOB_ID -H "Authorization: Bearer {token}"
Crawl log: curl -s http://{host}:{port}/v1/jobs/JOB_ID/log -H "Authorization: Bearer {token}"
Ctrl-C stops everything.
""", flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # stopped before anything was started (during the migration): nothing to stop
        sys.exit(130)
