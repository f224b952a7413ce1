"""scrapyd's basic-auth credentials for `make run`: generated once, kept in a file only we can read.

scrapyd has no other access control, so anybody who can reach its port could schedule crawls or
read every organisation's crawl logs. `make run` therefore always starts it with a user name and
password: SCRAPYD_USERNAME / SCRAPYD_PASSWORD when set, else a pair generated on the first run and
kept in var/scrapyd/credentials (mode 0600) so that restarts, the reconcile CLI and the operator
(for scrapyd's web UI) use the same pair.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from db.engine import PROJECT_ROOT

DEFAULT_PATH = PROJECT_ROOT / "var" / "scrapyd" / "credentials"


def credentials_path() -> Path:
    return Path(os.environ.get("SCRAPYD_CREDENTIALS_FILE") or DEFAULT_PATH)


def read_credentials(path: Path | None = None) -> tuple[str, str] | None:
    path = path or credentials_path()
    try:
        stored = json.loads(path.read_text())
        return stored["username"], stored["password"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure_credentials(path: Path | None = None) -> tuple[str, str]:
    """The stored pair, creating it (readable by this user only) when there is none yet."""
    path = path or credentials_path()
    existing = read_credentials(path)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    username, password = "crawl-operator", secrets.token_urlsafe(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({"username": username, "password": password}, file)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed
    return username, password
