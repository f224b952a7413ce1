"""Every closed vocabulary of the service, as string enums: members compare equal to their values,
so they serialise as plain strings in JSON, feeds and database columns."""
from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def active(cls) -> tuple[JobStatus, ...]:
        return (cls.CREATED, cls.RUNNING)

    @classmethod
    def terminal(cls) -> frozenset[JobStatus]:
        return frozenset({cls.COMPLETED, cls.FAILED, cls.CANCELLED})


class TaskStatus(StrEnum):
    COMPLETED = "completed"  # fetched, HTTP < 400 after redirects
    FAILED = "failed"  # HTTP >= 400, network error, timeout, redirect loop, refused
    SKIPPED = "skipped"  # not fetched: robots.txt, over max_pages, limits, interrupted


class TaskKind(StrEnum):
    PAGE = "page"
    RESOURCE = "resource"  # an image, script or stylesheet, checked when check_resources is on
    SITEMAP = "sitemap"  # a sitemap document: recorded, but not progress and not against max_pages
    EXTERNAL = "external"  # a link to another site, checked once per job (crawler/external.py)


class FoundVia(StrEnum):
    START = "start"
    LINK = "link"
    SITEMAP = "sitemap"
    ROBOTS = "robots"  # a sitemap named in robots.txt
    DEFAULT = "default"  # a sitemap at a guessed path
    REDIRECT = "redirect"
    RESOURCE = "resource"


class ErrorType(StrEnum):
    # not fetched (skipped)
    ROBOTS = "robots"
    MAX_PAGES = "max_pages"
    MAX_DEPTH = "max_depth"
    URL_TOO_LONG = "url_too_long"
    QUERY_TRAP = "query_trap"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    SITEMAP_LIMIT = "sitemap_limit"  # a sitemap past the job's limit of sitemap documents
    EXCLUDED = "excluded"  # the job's include/exclude patterns keep it out
    # fetched, or tried (failed)
    HTTP_ERROR = "http_error"
    SERVER_ERROR = "server_error"
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    BAD_REDIRECT = "bad_redirect"  # a Location that is not an http(s) URL
    MALFORMED_SITEMAP = "malformed_sitemap"
    DNS = "dns"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_ERROR = "connection_error"
    TIMEOUT = "timeout"
    TLS = "tls"
    NETWORK = "network"
    FORBIDDEN_TARGET = "forbidden_target"
    # An external site known to refuse crawlers (LinkedIn's 999, ...): reported apart, not as broken.
    REFUSED_TO_ROBOTS = "refused_to_robots"
    FIREWALL_CHALLENGE = "firewall_challenge"  # a bot firewall's challenge page instead of the page (crawler/firewall.py)


# The code at the start of a job's `error` when a bot firewall blocked the crawl ("blocked_by_firewall:
# Cloudflare answered ..."): the job ends failed instead of recording a challenge per page.
BLOCKED_BY_FIREWALL = "blocked_by_firewall"


class BrowserStatus(StrEnum):
    """Where a job's browser measurements stand (control_api/jobs/browser/)."""

    PENDING = "pending"  # the job completed; its sample waits for the browser
    MEASURING = "measuring"
    MEASURED = "measured"
    UNAVAILABLE = "unavailable"  # no browser here, or it failed: the note says why
    OFF = "off"  # the job asked for none (browser_pages 0)
    NOT_MEASURED = "not_measured"  # the job did not complete (or ended before measurements existed)


class CacheStatus(StrEnum):
    HIT = "HIT"
    MISS = "MISS"
    EXPIRED = "EXPIRED"
    STALE = "STALE"
    BYPASS = "BYPASS"
    DYNAMIC = "DYNAMIC"


class WarmSkipReason(StrEnum):
    """Why a MISS or EXPIRED page was not fetched again to warm the cache: its response says a
    shared cache must not store it, so a second fetch would only load the origin again."""

    NO_STORE = "no_store"  # Cache-Control: no-store
    PRIVATE = "private"  # Cache-Control: private
    SET_COOKIE = "set_cookie"  # Set-Cookie on a MISS: CDNs do not cache (or strip) it by default


class SourceType(StrEnum):
    """Who created a job. The API accepts any short string (the seed's clients send their own);
    these are the ones the service itself uses."""

    API = "api"
    DASHBOARD = "dashboard"
    SCHEDULER = "scheduler"
    WEBHOOK = "webhook"


class SourceDetail(StrEnum):
    """The `source_detail` values the service itself writes (a trigger's job carries the trigger's
    name instead)."""

    CREATE_JOB = "create_job"
    RECURRING = "recurring"  # a schedule fell due
    RUN_NOW = "run_now"  # POST /v1/schedules/{id}/run

class WebhookEvent(StrEnum):
    """What an outgoing webhook can be told: a job's state changes, named `job.<new status>`."""

    JOB_STARTED = "job.started"
    JOB_COMPLETED = "job.completed"
    JOB_FAILED = "job.failed"
    JOB_CANCELLED = "job.cancelled"
    # Not a state: a completed job with new broken links or new slow pages against its previous
    # crawl (contract/changes.py), told once, in the transaction that completes the job.
    JOB_REGRESSED = "job.regressed"

    @classmethod
    def for_status(cls, status: str) -> WebhookEvent:
        """The event of a job entering `status` (running is `job.started`)."""
        return cls.JOB_STARTED if status == JobStatus.RUNNING else cls(f"job.{status}")
