"""Bearer-token authentication for /v1 and a per-token rate limit.

The organisation of the token is put on `flask.g.organisation_id`; every query for jobs is scoped
by it, so another organisation's job is simply not found (404, never 403).
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from flask import current_app, g, request

from control_api.database import session_scope
from control_api.errors import ApiError
from control_api.tokens import find_active_token


def authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header:
        raise ApiError(401, "unauthorized", "Missing Authorization header; send 'Authorization: Bearer <token>'.")
    if scheme.lower() != "bearer" or not token or " " in token:
        raise ApiError(401, "unauthorized", "Malformed Authorization header; expected 'Bearer <token>'.")
    with session_scope() as session:
        row = find_active_token(session, token)
        if row is None:
            raise ApiError(401, "unauthorized", "The token is unknown or has been revoked.")
        g.organisation_id = row.organisation_id
        g.token_id = row.id
    _rate_limiter().check(row.id)


class RateLimiter:
    """Sliding one-minute window per token, in process memory (one API process per node)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._hits: dict[int, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, key: int) -> None:
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                retry_after = max(1, int(hits[0] + 60 - now) + 1)
                raise ApiError(
                    429,
                    "rate_limited",
                    f"Rate limit of {self.per_minute} requests a minute exceeded; retry in {retry_after} s.",
                    headers={"Retry-After": str(retry_after)},
                )
            hits.append(now)


def _rate_limiter() -> RateLimiter:
    limiter = current_app.extensions.get("rate_limiter")
    if limiter is None:
        limiter = current_app.extensions["rate_limiter"] = RateLimiter(current_app.config["RATE_LIMIT_PER_MINUTE"])
    return limiter
