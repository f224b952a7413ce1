"""`make run`: migrate the database, start a scrapyd node and the API under gunicorn, print a token.

Runs in the foreground; Ctrl-C (or SIGTERM) stops both processes. The job reconciler runs inside
this process, on a timer, so a crawler that died is noticed without another service to run.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
from dotenv import load_dotenv

from db.engine import PROJECT_ROOT

logger = logging.getLogger("control_api.service")


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


def main() -> None:
    load_dotenv()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from control_api import create_app
    from control_api.database import session_scope
    from control_api.reconciler import Reconciler
    from control_api.scrapyd_node import start_node, wait_until_ready
    from control_api.tokens import create_organisation
    from db import migrate

    app = create_app()
    config = app.config
    migrate.upgrade(config["DATABASE_URL"])
    print(f"Database ready: {config['DATABASE_URL']}")

    scrapyd_url = config["SCRAPYD_URLS"][0]
    scrapyd_parts = urlsplit(scrapyd_url)
    scrapyd = start_node(
        PROJECT_ROOT / "var" / "scrapyd",
        scrapyd_parts.port or 6800,
        bind=os.environ.get("SCRAPYD_BIND", scrapyd_parts.hostname or "127.0.0.1"),
        poll_interval=float(os.environ.get("SCRAPYD_POLL_INTERVAL", "0.2")),
        username=config["SCRAPYD_USERNAME"] or "",
        password=config["SCRAPYD_PASSWORD"] or "",
    )
    auth = (config["SCRAPYD_USERNAME"], config["SCRAPYD_PASSWORD"]) if config["SCRAPYD_USERNAME"] else None
    processes = [scrapyd]
    try:
        wait_until_ready(scrapyd_url, scrapyd, auth=auth)
        host, port = os.environ.get("API_HOST", "127.0.0.1"), os.environ.get("API_PORT", "8000")
        api = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--workers", os.environ.get("API_WORKERS", "2"),
             "--bind", f"{host}:{port}", "--access-logfile", "-", "control_api:create_app()"],
            cwd=PROJECT_ROOT,
        )  # fmt: skip
        processes.append(api)
        wait_for_http(f"http://{host}:{port}/healthz", api, "the API")
        with app.app_context(), session_scope() as session:
            _, token = create_organisation(session, "Local development")
        print_welcome(host, port, scrapyd_url, token, config["ALLOW_PRIVATE_TARGETS"])
        reconciler = Reconciler.from_app(app)
        stop = {"now": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
        while not stop["now"] and all(p.poll() is None for p in processes):
            with app.app_context():
                reconciler.run_once()
            time.sleep(reconciler.interval)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        print("Stopped scrapyd and the API.")


def print_welcome(host: str, port: str, scrapyd_url: str, token: str, allow_private: bool) -> None:
    print(f"""
Crawl service is running.
  API:        http://{host}:{port}/v1/jobs   (OpenAPI: http://{host}:{port}/v1/openapi.json)
  scrapyd UI: {scrapyd_url}/
  Private/loopback targets are {"ALLOWED (ALLOW_PRIVATE_TARGETS=1)" if allow_private else "refused; set ALLOW_PRIVATE_TARGETS=1 to crawl localhost"}.

A new API token for the organisation "Local development" (shown once):
{token}

Start a crawl:
  curl -s -X POST http://{host}:{port}/v1/jobs -H "Authorization: Bearer {token}" \\
       -H "Content-Type: application/json" -d '{{"domain": "example.com", "options": {{"max_pages": 100}}}}'
Then: curl -s http://{host}:{port}/v1/jobs/JOB_ID -H "Authorization: Bearer {token}"
Ctrl-C stops everything.
""", flush=True)


if __name__ == "__main__":
    main()
