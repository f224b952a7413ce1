"""Bearer-token authentication for /v1, a per-token rate limit and a per-address limit on failed
authentications.

The organisation of the token is put on `flask.g.organisation_id`; every query for jobs is scoped
by it, so another organisation's job is simply not found (404, never 403).
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Hashable

from flask import current_app, g, request

from control_api.database import session_scope
from control_api.errors import ApiError
from control_api.tokens import find_active_token

DEFAULT_AUTH_FAILURES_PER_MINUTE = 20
REALM = "crawl-service"


def authenticate() -> None:
    # Guessing tokens costs a minute per AUTH_FAILURES_PER_MINUTE wrong ones. The address is the
    # socket's peer: X-Forwarded-For is the client's own to write, so it is not trusted. (Behind a
    # reverse proxy every client would share the proxy's address; we run without one.)
    address = request.remote_addr or ""
    failures = _limiter(
        "auth_failure_limiter", _auth_failures_per_minute(), "failed authentications a minute from one address"
    )
    failures.check(address, count=False)
    try:
        g.organisation_id, g.token_id = _verify_token(request.headers.get("Authorization", ""))
    except ApiError:
        failures.count(address)
        raise
    _limiter("rate_limiter", current_app.config["RATE_LIMIT_PER_MINUTE"], "requests a minute").check(g.token_id)


def _verify_token(header: str) -> tuple[int, int]:
    """(organisation id, token id) of the bearer token in `header`; 401 otherwise."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header:
        raise _unauthorized("Missing Authorization header; send 'Authorization: Bearer <token>'.")
    if scheme.lower() != "bearer" or not token or " " in token:
        raise _unauthorized("Malformed Authorization header; expected 'Bearer <token>'.", "invalid_request")
    with session_scope() as session:
        row = find_active_token(session, token)
        if row is None:
            raise _unauthorized("The token is unknown or has been revoked.", "invalid_token")
        return row.organisation_id, row.id


def _unauthorized(message: str, error: str | None = None) -> ApiError:
    """401 with the challenge RFC 6750 asks for: no error code when no credentials were sent."""
    challenge = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


class RateLimiter:
    """Sliding one-minute window per key (a token, a client address), in process memory: each
    gunicorn worker counts on its own, so the effective limit is up to workers × the setting until
    the counts move to shared storage."""

    MAX_KEYS = 10_000  # past this many keys, those idle for a minute are forgotten

    def __init__(self, per_minute: int, what: str):
        self.per_minute = per_minute
        self.what = what
        self._hits: dict[Hashable, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: Hashable, count: bool = True) -> None:
        """429 if `key` is at the limit; otherwise count this event against it when `count`."""
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        with self._lock:
            hits = self._recent(key, now)
            if len(hits) >= self.per_minute:
                retry_after = max(1, int(hits[0] + 60 - now) + 1)
                raise ApiError(
                    429,
                    "rate_limited",
                    f"Rate limit of {self.per_minute} {self.what} exceeded; retry in {retry_after} s.",
                    headers={"Retry-After": str(retry_after)},
                )
            if count:
                hits.append(now)

    def count(self, key: Hashable) -> None:
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        with self._lock:
            self._recent(key, now).append(now)

    def _recent(self, key: Hashable, now: float) -> deque[float]:
        if key not in self._hits and len(self._hits) >= self.MAX_KEYS:
            self._hits = {k: hits for k, hits in self._hits.items() if hits and hits[-1] > now - 60}
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - 60:
            hits.popleft()
        return hits


def _limiter(name: str, per_minute: int, what: str) -> RateLimiter:
    limiter = current_app.extensions.get(name)
    if limiter is None:
        limiter = current_app.extensions[name] = RateLimiter(per_minute, what)
    return limiter


def _auth_failures_per_minute() -> int:
    # Not in Config yet: the app's config wins, then the environment, then the default.
    value = current_app.config.get("AUTH_FAILURES_PER_MINUTE")
    if value is None:
        value = os.environ.get("AUTH_FAILURES_PER_MINUTE", DEFAULT_AUTH_FAILURES_PER_MINUTE)
    return int(value)
