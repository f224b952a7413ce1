"""Configuration: one class reading environment variables (python-dotenv loads `.env` first)."""
from __future__ import annotations

import os

from dotenv import load_dotenv

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
        self.SCRAPYD_USERNAME = os.environ.get("SCRAPYD_USERNAME") or None
        self.SCRAPYD_PASSWORD = os.environ.get("SCRAPYD_PASSWORD") or None
        self.SCRAPYD_PROJECT = os.environ.get("SCRAPYD_PROJECT", "crawler")
        self.SCRAPYD_TIMEOUT = float(os.environ.get("SCRAPYD_TIMEOUT", "10"))
        self.ALLOW_PRIVATE_TARGETS = _flag("ALLOW_PRIVATE_TARGETS")
        self.MAX_CONTENT_LENGTH = int(os.environ.get("API_MAX_BODY_BYTES", 64 * 1024))
        self.RATE_LIMIT_PER_MINUTE = int(os.environ.get("RATE_LIMIT_PER_MINUTE", "600"))
        self.RECONCILE_SECONDS = float(os.environ.get("RECONCILE_SECONDS", "10"))
        self.RECONCILE_GRACE_SECONDS = float(os.environ.get("RECONCILE_GRACE_SECONDS", "30"))
        self.JSON_SORT_KEYS = False
