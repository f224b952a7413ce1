"""The API's rate limits, counted where every gunicorn worker (and every API host) sees the same
counts: in Redis when REDIS_URL is set, else in our own database, so that the default needs no
server of its own.

Both are storages of the `limits` library, counted with its moving window: a key (a token, a
client address) may have at most N hits in any 60 seconds, and a refused request is not a hit, so
hammering while limited does not extend the wait. `limits` has no SQL storage; DatabaseStorage
below is one, on the `rate_limit_hits` table.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app
from limits import RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import MovingWindowSupport, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Engine, delete, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from control_api.errors import ApiError
from db.models import RateLimitHit

logger = logging.getLogger(__name__)

NAMESPACE = "crawl-service"  # first part of every key, for a Redis shared with other applications
SWEEP_SECONDS = 60.0  # how often one process deletes every key's expired hits

hits = RateLimitHit.__table__


class DatabaseStorage(Storage, MovingWindowSupport):
    """A `limits` storage on our database, for the moving window strategy only.

    Taking an entry is one short transaction that first takes the key's lock (on PostgreSQL an
    advisory transaction lock on the key's hash; on SQLite the database's write lock, which its
    first statement, a DELETE, takes) and then counts and inserts, so that two workers can never
    both take the last entry.
    """

    STORAGE_SCHEME = None  # built from the app's engine, not from a URI

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time):
        super().__init__()
        self.engine = engine
        self.clock = clock
        self._swept_at = 0.0

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = self.clock()
        self._sweep(now)
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(_lock_id(key))))
            connection.execute(delete(hits).where(hits.c.key == key, hits.c.at <= now - expiry))
            taken = connection.scalar(select(func.count()).where(hits.c.key == key))
            if taken + amount > limit:
                return False
            connection.execute(insert(hits), [{"key": key, "at": now, "expires_at": now + expiry}] * amount)
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = self.clock()
        with self.engine.connect() as connection:
            oldest, taken = connection.execute(
                select(func.min(hits.c.at), func.count()).where(hits.c.key == key, hits.c.at > now - expiry)
            ).one()
        return (oldest if taken else now), taken

    def _sweep(self, now: float) -> None:
        """Forget the hits of keys that are no longer used (an address that failed once, a revoked token)."""
        if now - self._swept_at < SWEEP_SECONDS:
            return
        self._swept_at = now
        with self.engine.begin() as connection:
            connection.execute(delete(hits).where(hits.c.expires_at <= now))

    def check(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int:
        with self.engine.begin() as connection:
            return connection.execute(delete(hits)).rowcount

    def clear(self, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(hits).where(hits.c.key == key))

    # The fixed window's counters: not used by the moving window, which is all we count with.
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("DatabaseStorage supports the moving window strategy only")

    def get(self, key: str) -> int:
        raise NotImplementedError("DatabaseStorage supports the moving window strategy only")

    def get_expiry(self, key: str) -> float:
        raise NotImplementedError("DatabaseStorage supports the moving window strategy only")


def _lock_id(key: str) -> int:
    """A signed 64-bit number for pg_advisory_xact_lock (a collision only makes two keys wait for each other)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


@dataclass
class RateLimits:
    """The app's limiter: `limits`' moving window over the shared storage."""

    storage: Storage

    def __post_init__(self) -> None:
        self.limiter = MovingWindowRateLimiter(self.storage)

    def hit(self, kind: str, key: object, per_minute: int, what: str) -> None:
        """Count one event of `key` (a request, a failed authentication) against its limit; 429,
        counting nothing, when the limit is used up."""
        if per_minute > 0 and not self._call(self.limiter.hit, RateLimitItemPerMinute(per_minute), kind, key):
            raise self._limited(kind, key, per_minute, what)

    def check(self, kind: str, key: object, per_minute: int, what: str) -> None:
        """429 when `key` has used up its limit; counts nothing."""
        if per_minute > 0 and not self._call(self.limiter.test, RateLimitItemPerMinute(per_minute), kind, key):
            raise self._limited(kind, key, per_minute, what)

    def _limited(self, kind: str, key: object, per_minute: int, what: str) -> ApiError:
        stats = self._call(self.limiter.get_window_stats, RateLimitItemPerMinute(per_minute), kind, key)
        now = getattr(self.storage, "clock", time.time)()  # the clock the storage counted with
        retry_after = max(1, math.ceil(stats.reset_time - now))
        return ApiError(429, "rate_limited", f"Rate limit of {per_minute} {what} exceeded; retry in {retry_after} s.",
                        headers={"Retry-After": str(retry_after)})  # fmt: skip

    @staticmethod
    def _call(method, item, kind: str, key: object):
        try:
            return method(item, NAMESPACE, kind, str(key))
        except StorageError as exc:  # Redis down: refuse rather than let every request through unlimited
            logger.error("rate limit storage unavailable: %s", exc.storage_error)
            raise ApiError(503, "rate_limiter_unavailable",
                           "The rate limiter's storage is unavailable; try again shortly.") from None  # fmt: skip


def init_app(app: Flask) -> None:
    redis_url = app.config.get("REDIS_URL")
    if redis_url:
        storage = storage_from_string(redis_url, wrap_exceptions=True)
    else:
        storage = DatabaseStorage(app.extensions["db_engine"])
    app.extensions["rate_limits"] = RateLimits(storage)


def rate_limits() -> RateLimits:
    return current_app.extensions["rate_limits"]
