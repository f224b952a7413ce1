"""The secrets `make run` keeps in var/, each in a file only we can read: scrapyd's basic-auth
credentials, the local development organisation's API token (var/dev-token) and the key that signs
the dashboard's session cookies (var/secret-key).

scrapyd has no other access control, so anybody who can reach its port could schedule crawls or
read every organisation's crawl logs. `make run` therefore always starts it with a user name and
password: SCRAPYD_USERNAME / SCRAPYD_PASSWORD when set, else a pair generated on the first run and
kept in var/scrapyd/credentials (mode 0600) so that restarts, the reconcile CLI and the operator
(for scrapyd's web UI) use the same pair. The development token is kept so that the jobs made
before a restart stay visible with the same token after it (control_api/processes/supervisor.py).
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from contract.paths import PROJECT_ROOT

DEFAULT_PATH = PROJECT_ROOT / "var" / "scrapyd" / "credentials"
DEFAULT_SECRET_KEY_PATH = PROJECT_ROOT / "var" / "secret-key"


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
    username, password = "crawl-operator", secrets.token_urlsafe(24)
    write_private(path, {"username": username, "password": password})
    return username, password


def read_dev_token(path: Path) -> str | None:
    """The local development organisation's token that `make run` kept in `path`, if any: the token
    alone on one line (so `TOKEN=$(cat var/dev-token)` works), or the JSON object earlier versions wrote."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text.startswith("{"):
        try:
            return str(json.loads(text)["token"]) or None
        except (ValueError, KeyError, TypeError):
            return None
    return text or None


def write_dev_token(path: Path, token: str, organisation_id: int) -> None:
    """The token alone in `path`; the organisation's id, for the operator's eyes (the token alone says
    whose it is), in `dev-organisation` next to it."""
    write_private_text(path, token + "\n")
    write_private_text(path.with_name("dev-organisation"), f"{organisation_id}\n")


def write_private(path: Path, data: dict) -> None:
    """Write `data` as JSON to `path`, readable and writable by this user only."""
    write_private_text(path, json.dumps(data))


def write_private_text(path: Path, text: str) -> None:
    """Write `text` to `path`, readable and writable by this user only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed


def ensure_secret_key(path: Path | None = None) -> str:
    """The dashboard's signing key kept in `path`, generated on first use.

    Every gunicorn worker builds its own app and may get here at the same moment; a key each would
    sign cookies the other workers refuse. So the first writer wins: the key is written whole to a
    private temporary file and hard-linked into place, which fails if another worker was first, and
    then everyone reads the one file.
    """
    path = Path(path or os.environ.get("SECRET_KEY_FILE") or DEFAULT_SECRET_KEY_PATH)
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    candidate = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(48))
    try:
        os.link(candidate, path)
    except FileExistsError:
        pass  # another process was first: its key it is
    finally:
        candidate.unlink()
    return _read_key(path)


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        raise ValueError(f"{path} is empty; delete it to have a new key generated")
    return key
