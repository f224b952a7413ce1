"""The schema: organisations, their API tokens and dashboard sessions, domains, crawl jobs and
per-URL tasks, the scrapyd nodes and rate-limit counts, where jobs come from (recurring schedules,
publish-hook triggers) and where their news goes (webhook endpoints, the outbox and its attempts).

One module on purpose, past the usual ~300 lines: it is one `Base.metadata`, which Alembic's
autogenerate, the migrations' tests and every foreign key read as a whole; each class is a table
and nothing else (queries live in db/changes.py, db/webhooks.py and the services).

A job carries its own progress counters and stats sums, updated by the crawler in the same
transaction as each batch of task rows, so reading a job never scans its tasks.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from contract.vocabulary import BrowserStatus, CacheStatus, JobStatus, TaskKind, TaskStatus, WarmSkipReason, WebhookEvent

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both databases (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# BIGINT autoincrement is not a rowid alias on SQLite, so fall back to INTEGER there.
BigId = BigInteger().with_variant(Integer(), "sqlite")

Timestamp = Annotated[datetime, mapped_column(UTCDateTime())]
OptionalTimestamp = Annotated[datetime | None, mapped_column(UTCDateTime())]
Counter = Annotated[int, mapped_column(BigInteger, default=0, server_default="0")]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def vocabulary(enum_class) -> Enum:
    """A contract vocabulary stored as its string values in a VARCHAR (no database enum type, so
    adding a value needs no migration); rows read back as enum members, which compare equal to
    their strings."""
    return Enum(enum_class, native_enum=False, create_constraint=False, length=16, validate_strings=True,
                values_callable=lambda members: [member.value for member in members])  # fmt: skip


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="organisation")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # SHA-256 of the token: tokens are 256-bit random strings, so a fast hash is not guessable.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    revoked_at: Mapped[OptionalTimestamp]

    organisation: Mapped[Organisation] = relationship(back_populates="tokens")


class DashboardSession(Base):
    """A dashboard sign-in. Its cookie holds a random id, of which only the SHA-256 is kept here;
    signing out deletes the row, so every copy of the cookie stops working at once."""

    __tablename__ = "dashboard_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    expires_at: Mapped[Timestamp] = mapped_column(index=True)  # pushed back as the session is used


class Domain(Base):
    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_organisation_created", "organisation_id", "created_at"),
        Index("ix_jobs_organisation_status_created", "organisation_id", "status", "created_at"),
        Index("ix_jobs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id"))
    status: Mapped[JobStatus] = mapped_column(vocabulary(JobStatus), default=JobStatus.CREATED)
    # "https" or "http" when the client pasted a URL; None means https with an http fallback.
    start_scheme: Mapped[str | None] = mapped_column(String(8))
    options: Mapped[dict[str, Any]] = mapped_column(JSON(none_as_null=True))
    source_type: Mapped[str] = mapped_column(String(32), default="api")
    source_detail: Mapped[str | None] = mapped_column(String(255))
    # The schedule that started the job. No foreign key: a job outlives its deleted schedule and
    # still says where it came from.
    schedule_id: Mapped[str | None] = mapped_column(String(36), index=True)
    scrapyd_node: Mapped[str | None] = mapped_column(String(255))
    # The dispatch claim: a random id written when the API hands the job to scrapyd and presented
    # by the crawler on every write. Only the crawler holding it may move the job or add rows, and
    # only while the job is `running`; a crawler started any other way writes nothing.
    claim: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)

    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    started_at: Mapped[OptionalTimestamp]
    completed_at: Mapped[OptionalTimestamp]
    cancelled_at: Mapped[OptionalTimestamp]
    # When the job was handed to scrapyd, and when its crawler last proved it was alive: the
    # reconciler's grace period for a crawl its node does not list counts from the later of the two.
    dispatched_at: Mapped[OptionalTimestamp]
    heartbeat_at: Mapped[OptionalTimestamp]

    # Progress: maintained by the crawler in the same transaction as the task rows.
    total_tasks: Mapped[Counter]
    completed_tasks: Mapped[Counter]
    failed_tasks: Mapped[Counter]
    skipped_tasks: Mapped[Counter]
    # Stats as running sums, so the averages and ratios are O(1) to read.
    timed_pages: Mapped[Counter]
    response_time_ms_sum: Mapped[Counter]
    cache_known_pages: Mapped[Counter]
    cache_hit_pages: Mapped[Counter]
    # Pages fetched a second time to warm the cache, and pages whose cache status after warming
    # (the warm fetch's, else the first) is HIT: the hit ratio a next visitor would see.
    warmed_pages: Mapped[Counter]
    cache_hit_pages_after_warming: Mapped[Counter]
    total_bytes: Mapped[Counter]  # wire bytes: the compressed size when the server compressed
    # External link checks (crawler/external.py): made or answered from the instance's cache, broken,
    # and of those checked how many the cache answered.
    external_checked: Mapped[Counter]
    external_broken: Mapped[Counter]
    external_from_cache: Mapped[Counter]
    # Per timed page, the warm fetch's response time when it was warmed, else the first fetch's:
    # what a next visitor waits, as a running sum like response_time_ms_sum.
    response_time_after_warming_ms_sum: Mapped[Counter]
    # The distribution of the job's pages (percentiles, status and issue counts), computed once by
    # whoever ends the job, in the transaction that ends it (db/performance.py); null while it runs.
    performance: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # Browser measurements of a sample of the pages (control_api/jobs/browser/): `pending` once the job
    # completes, then `measuring` (since browser_claimed_at), `measured` or `unavailable` (the note
    # says why), or `off`; null for a job that did not complete.
    browser_status: Mapped[BrowserStatus | None] = mapped_column(vocabulary(BrowserStatus))
    browser_note: Mapped[str | None] = mapped_column(Text)
    browser_claimed_at: Mapped[OptionalTimestamp]
    # When retention deleted the job's per-URL rows (tasks, broken-link referrers); the counters and
    # stats above stay as they were (control_api/jobs/retention.py).
    tasks_pruned_at: Mapped[OptionalTimestamp]
    # What changed since the organisation's previous completed crawl of the domain (a
    # contract.changes.Comparison), computed once by the crawler in the transaction that completes
    # the job; null for a first crawl and for jobs that did not complete (db/changes.py).
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    domain: Mapped[Domain] = relationship(lazy="joined")

    @property
    def is_terminal(self) -> bool:
        return self.status in JobStatus.terminal()

    @property
    def avg_response_time(self) -> int:
        """Mean response time in ms over fetched pages; 0 before any."""
        return round(self.response_time_ms_sum / self.timed_pages) if self.timed_pages else 0

    @property
    def avg_response_time_after_warming(self) -> int:
        """Mean response time in ms over fetched pages, a warmed page counted by its warm fetch."""
        return round(self.response_time_after_warming_ms_sum / self.timed_pages) if self.timed_pages else 0

    @property
    def cache_hit_ratio(self) -> float | None:
        """Hits over pages whose cache status is known; None when none is known."""
        return round(self.cache_hit_pages / self.cache_known_pages, 4) if self.cache_known_pages else None


def url_hash(url: str) -> str:
    """`tasks.url_hash`: an indexed key per URL, for look-ups within a job and joins between jobs."""
    return hashlib.sha1(url.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class Task(Base):
    """One URL of one job: what was found, how, and how it performed."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_job_status", "job_id", "status"),
        Index("ix_tasks_job_cache_status", "job_id", "cache_status"),
        Index("ix_tasks_job_url", "job_id", "url_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    # First 16 hex chars of SHA-1(url): a short, indexable key for per-job URL look-ups.
    url_hash: Mapped[str] = mapped_column(String(16))
    found_via: Mapped[str] = mapped_column(String(16))  # start, sitemap, link, resource, redirect
    referrer: Mapped[str | None] = mapped_column(Text)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[TaskKind] = mapped_column(vocabulary(TaskKind), default=TaskKind.PAGE)
    status: Mapped[TaskStatus] = mapped_column(vocabulary(TaskStatus))
    http_status: Mapped[int | None] = mapped_column(Integer)
    final_url: Mapped[str | None] = mapped_column(Text)
    redirect_chain: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    response_time_ms: Mapped[int | None] = mapped_column(Integer)
    ttfb_ms: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(255))
    bytes: Mapped[int | None] = mapped_column(BigInteger)  # on the wire
    decoded_bytes: Mapped[int | None] = mapped_column(BigInteger)  # after Content-Encoding is undone
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    cache_status: Mapped[CacheStatus | None] = mapped_column(vocabulary(CacheStatus))
    error: Mapped[str | None] = mapped_column(Text)
    error_type: Mapped[str | None] = mapped_column(String(32))
    warm_response_time_ms: Mapped[int | None] = mapped_column(Integer)
    warm_cache_status: Mapped[CacheStatus | None] = mapped_column(vocabulary(CacheStatus))
    warm_skipped_reason: Mapped[WarmSkipReason | None] = mapped_column(vocabulary(WarmSkipReason))
    # Issue flags, set by the crawler when it records the row.
    is_slow: Mapped[bool] = mapped_column(Boolean, default=False)
    is_broken: Mapped[bool] = mapped_column(Boolean, default=False)
    is_server_error: Mapped[bool] = mapped_column(Boolean, default=False)
    redirect_hops: Mapped[int] = mapped_column(Integer, default=0)
    fetched_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class BrokenLinkReferrer(Base):
    """A page that links to a URL whose fetch failed (one row per referring page, capped per URL)."""

    __tablename__ = "broken_link_referrers"
    __table_args__ = (Index("ix_broken_link_referrers_job_target", "job_id", "target_url_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    target_url_hash: Mapped[str] = mapped_column(String(16))
    referrer: Mapped[str] = mapped_column(Text)


class BrowserPage(Base):
    """One page of a job's browser sample and its lab metrics (control_api/jobs/browser/measure.py)."""

    __tablename__ = "browser_pages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(16))  # why sampled: slowest or important
    response_time_ms: Mapped[int | None] = mapped_column(Integer)  # the crawl's, for comparison
    lcp_ms: Mapped[int | None] = mapped_column(Integer)
    fcp_ms: Mapped[int | None] = mapped_column(Integer)
    cls: Mapped[float | None] = mapped_column(Double)
    tbt_ms: Mapped[int | None] = mapped_column(Integer)
    page_weight_bytes: Mapped[int | None] = mapped_column(BigInteger)
    request_count: Mapped[int | None] = mapped_column(Integer)
    console_errors: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float] = mapped_column(Double, default=0.0)  # wall time in the browser
    measured_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class ScrapydNode(Base):
    """What the dispatcher and the reconciler, in any process, know of one scrapyd node: its row is
    the lock that serialises dispatch to it (control_api/nodes/dispatcher.py), and `unreachable_since`
    marks a node that stopped answering (control_api/nodes/reconciler.py) until it answers again."""

    __tablename__ = "scrapyd_nodes"

    url: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_seen_at: Mapped[OptionalTimestamp]
    unreachable_since: Mapped[OptionalTimestamp]


class RateLimitHit(Base):
    """One request counted against an API rate limit when the limits are kept in our own database
    (control_api/rate_limits.py): a key's moving window is its hits of the last minute. Rows past
    `expires_at` count for nothing and are swept."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255))
    at: Mapped[float] = mapped_column(Double)  # Unix time in seconds, as the `limits` library counts
    expires_at: Mapped[float] = mapped_column(Double, index=True)


class Schedule(Base):
    """A recurring crawl. `next_run_at` is the claim: the scheduler loop that moves it forward, in
    the transaction that also inserts the run's job, is the one that runs it (control_api/schedules/recurring_loop.py)."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_enabled_next_run", "enabled", "next_run_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id"))
    start_scheme: Mapped[str | None] = mapped_column(String(8))
    options: Mapped[dict[str, Any]] = mapped_column(JSON(none_as_null=True))
    # The cadence: every `interval_hours`, or at the times of `cron` in `timezone` (one of the two is
    # set; control_api/schedules/cadence.py).
    interval_hours: Mapped[int | None] = mapped_column(Integer)
    cron: Mapped[str | None] = mapped_column(String(120))
    timezone: Mapped[str | None] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[Timestamp]
    last_job_id: Mapped[str | None] = mapped_column(String(36))
    # Runs that fell due while the previous job was still active, so started nothing.
    skipped_runs: Mapped[Counter]
    last_skipped_at: Mapped[OptionalTimestamp]
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    domain: Mapped[Domain] = relationship(lazy="joined")


class Trigger(Base):
    """An incoming publish hook: POST /hooks/<secret> starts a crawl. Only the secret's SHA-256 is
    stored (a 256-bit random secret needs no slow hash), so the URL is shown once, at creation."""

    __tablename__ = "triggers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id"))
    start_scheme: Mapped[str | None] = mapped_column(String(8))
    options: Mapped[dict[str, Any]] = mapped_column(JSON(none_as_null=True))
    name: Mapped[str] = mapped_column(String(255))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_job_id: Mapped[str | None] = mapped_column(String(36))
    last_called_at: Mapped[OptionalTimestamp]
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    domain: Mapped[Domain] = relationship(lazy="joined")

class WebhookEndpoint(Base):
    """A URL of an organisation told about its jobs' state changes (control_api/webhooks/routes.py)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_organisation_created", "organisation_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)  # WebhookEvent values
    # Kept as issued (`whsec_...`), unlike API tokens, which we store hashed: a token is only ever
    # compared, but the secret is the HMAC key every delivery is signed with, so the sender needs it
    # itself. Encrypting it under a key kept beside the database would protect nothing from whoever
    # can read both.
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)


class WebhookMessage(Base):
    """One event for one endpoint: the transactional outbox. Written in the same transaction as the
    job's state change (db/webhooks.py), sent and retried by the sender (control_api/webhooks/sender.py)
    until a 2xx or the retry schedule runs out. Its id is the `webhook-id` of every attempt."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "job_id", "event", name="uq_webhook_messages_endpoint_job_event"),
        Index("ix_webhook_messages_next_attempt_at", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    event: Mapped[WebhookEvent] = mapped_column(vocabulary(WebhookEvent))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)  # when the event happened
    # The body as first sent, so that every retry carries the same message under the same id.
    body: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the sender should try next (while an attempt is in flight: when it may be taken over);
    # None once delivered or given up.
    next_attempt_at: Mapped[OptionalTimestamp]
    delivered_at: Mapped[OptionalTimestamp]


class WebhookAttempt(Base):
    """One POST of a message, as GET /v1/webhooks/{id}/deliveries lists it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_endpoint_attempted", "endpoint_id", "attempted_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("webhook_messages.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    attempted_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[OptionalTimestamp]  # the retry this attempt scheduled, if any


class ExternalCheck(Base):
    """The instance's cache of external link checks (crawler/external_cache.py), shared by every job
    and organisation: a third-party URL's definite answer (an HTTP status, never a timeout or a
    network error), so that recurring crawls do not ask the same site again within the TTL."""

    __tablename__ = "external_checks"

    url_hash: Mapped[str] = mapped_column(String(16), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)  # the record's outcome fields
    checked_at: Mapped[Timestamp] = mapped_column(default=utcnow, index=True)
