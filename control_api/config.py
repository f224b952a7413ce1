"""Configuration: one class reading environment variables (python-dotenv loads `.env` first)."""
from __future__ import annotations

import os

from dotenv import load_dotenv

from control_api.credentials import read_credentials
from db.engine import database_url

load_dotenv()


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    def __init__(self) -> None:
        self.DATABASE_URL = database_url()
        # Comma-separated list of scrapyd nodes; jobs go to the least loaded one.
        self.SCRAPYD_URLS = [u.strip().rstrip("/") for u in os.environ.get("SCRAPYD_URL", "http://127.0.0.1:6800").split(",") if u.strip()]
        # Set in the environment, else the pair `make run` generated for its scrapyd (if any).
        stored = read_credentials() if not os.environ.get("SCRAPYD_USERNAME") else None
        self.SCRAPYD_USERNAME = os.environ.get("SCRAPYD_USERNAME") or (stored and stored[0]) or None
        self.SCRAPYD_PASSWORD = os.environ.get("SCRAPYD_PASSWORD") or (stored and stored[1]) or None
        self.SCRAPYD_PROJECT = os.environ.get("SCRAPYD_PROJECT", "crawler")
        self.SCRAPYD_TIMEOUT = float(os.environ.get("SCRAPYD_TIMEOUT", "10"))
        self.ALLOW_PRIVATE_TARGETS = _flag("ALLOW_PRIVATE_TARGETS")
        self.MAX_CONTENT_LENGTH = int(os.environ.get("API_MAX_BODY_BYTES", 64 * 1024))
        self.RATE_LIMIT_PER_MINUTE = int(os.environ.get("RATE_LIMIT_PER_MINUTE", "600"))
        self.RECONCILE_SECONDS = float(os.environ.get("RECONCILE_SECONDS", "10"))
        self.RECONCILE_GRACE_SECONDS = float(os.environ.get("RECONCILE_GRACE_SECONDS", "30"))
        # Written by `make run`'s supervisor: which of its components are up (read by /healthz).
        self.SUPERVISOR_STATE_FILE = os.environ.get("SUPERVISOR_STATE_FILE") or None
        self.JSON_SORT_KEYS = False
