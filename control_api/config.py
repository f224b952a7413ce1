"""Configuration: one pydantic-settings model of the environment variables, also read from `.env`.

Every variable keeps its name, default and type; a bad value stops the app with a ConfigError that
names the variable and says what was wrong, instead of a traceback from deep inside `float()`.
An empty variable counts as unset, as it always did. Flask reads the upper-case attributes
(`app.config.from_object(Config())`); `create_app(overrides)` applies its overrides after them.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import click
from flask import current_app
from pydantic import Field, NonNegativeFloat, field_validator, NonNegativeInt, PositiveFloat, PositiveInt, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.paths import PROJECT_ROOT
from control_api.credentials import read_credentials
from db.engine import DEFAULT_SQLITE_PATH


class ConfigError(click.ClickException):
    """A variable of the environment or `.env` has a value we cannot use. A ClickException, so that
    the operator commands (`flask --app control_api ...`) print it as an error, not a traceback."""


class Config(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", env_ignore_empty=True, case_sensitive=True, extra="ignore",
        validate_default=True,
    )  # fmt: skip

    DATABASE_URL: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    # Comma-separated list of scrapyd nodes, each optionally with its capacity: `http://a:6800#slots=4`
    # (its max_proc). Jobs go to the node with the most free slots (SCRAPYD_URLS, SCRAPYD_SLOTS).
    SCRAPYD_URL: str = "http://127.0.0.1:6800"
    # Set in the environment, else the pair `make run` generated for its scrapyd (if any).
    SCRAPYD_USERNAME: str | None = None
    SCRAPYD_PASSWORD: str | None = None
    SCRAPYD_CREDENTIALS_FILE: Path | None = None  # where that pair is kept (control_api/credentials.py)
    SCRAPYD_PROJECT: str = "crawler"
    SCRAPYD_TIMEOUT: PositiveFloat = 10.0
    # What an API request waits for scrapyd when it hands a job over or cancels one (the dispatcher's
    # loop takes over when that is not enough): a frozen scrapyd must not hold an API worker.
    SCRAPYD_HANDOVER_TIMEOUT: PositiveFloat = 0.5
    ALLOW_PRIVATE_TARGETS: bool = False
    API_MAX_BODY_BYTES: PositiveInt = 64 * 1024  # Flask's MAX_CONTENT_LENGTH
    # A request must arrive whole (headers and body) within this many seconds, else 408: the API's
    # gunicorn worker reads requests before a thread sees them (control_api/processes/gunicorn_worker.py).
    API_REQUEST_SECONDS: PositiveFloat = 30.0
    RATE_LIMIT_PER_MINUTE: NonNegativeInt = 600  # per token; 0 turns the limit off
    AUTH_FAILURES_PER_MINUTE: NonNegativeInt = 20  # per client address; 0 turns the limit off
    # Where the rate limits count: Redis when set, else our own database (control_api/rate_limits.py).
    REDIS_URL: str | None = None
    RECONCILE_SECONDS: PositiveFloat = 10.0
    RECONCILE_GRACE_SECONDS: NonNegativeFloat = 30.0
    # How often `reconcile --loop` hands waiting jobs to free slots (control_api/nodes/dispatcher.py).
    DISPATCH_SECONDS: PositiveFloat = 1.0
    # Per-URL rows (tasks, broken-link referrers) of jobs that ended longer ago are deleted, in
    # transactions of RETENTION_BATCH rows, every RETENTION_SECONDS (control_api/jobs/retention.py). 0 keeps them.
    RETENTION_DAYS: NonNegativeFloat = 90.0
    RETENTION_BATCH: PositiveInt = 5000
    RETENTION_SECONDS: PositiveFloat = 3600.0
    # Signs the dashboard's session cookie and CSRF tokens. Unset: a key generated once and kept in
    # SECRET_KEY_FILE (default var/secret-key, readable by this user only), shared by every worker.
    SECRET_KEY: str | None = None
    SECRET_KEY_FILE: Path | None = None
    # Behind a reverse proxy that terminates TLS: trust its X-Forwarded-Proto, so that the session
    # cookie is Secure when the browser speaks https. Off, that header is the client's own to write.
    BEHIND_PROXY: bool = False
    # How often the scheduler loop looks for due schedules (one indexed query each time).
    SCHEDULE_POLL_SECONDS: PositiveFloat = 10.0
    # The service's address as CMSs reach it, for trigger URLs; else the request's own host URL.
    PUBLIC_BASE_URL: str | None = None
    HOOK_MAX_BODY_BYTES: PositiveInt = 1024 * 1024  # POST /hooks/<secret>: any body up to this, ignored
    # Outgoing webhooks (control_api/webhooks/sender.py): seconds to wait before each retry of a
    # delivery that failed (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: about a day in all), the
    # wall-clock deadline of one POST (connect, send, answer), how many POSTs run at once, and how
    # often the sender looks for due ones.
    WEBHOOK_RETRY_SECONDS: str = "5,300,1800,7200,18000,36000,36000"
    WEBHOOK_TIMEOUT_SECONDS: PositiveFloat = 10.0
    WEBHOOK_WORKERS: PositiveInt = 8
    # Attempts at once to one endpoint, and to all endpoints of one organisation: a slow receiver
    # holds that many of the WEBHOOK_WORKERS, never all of them.
    WEBHOOK_ATTEMPTS_PER_ENDPOINT: PositiveInt = 2
    WEBHOOK_ATTEMPTS_PER_ORGANISATION: PositiveInt = 4
    WEBHOOK_POLL_SECONDS: PositiveFloat = 1.0
    # Pages one job crawls at most, whatever its max_pages (0: no cap). Read by the crawler
    # (crawler/settings.py); here so that a bad value stops `make run` with a message naming it.
    MAX_PAGES_PER_JOB: NonNegativeInt = 100_000
    # Per-organisation caps (control_api/organisations/limits.py): over one is 409 `limit_reached`; 0 turns it off.
    ORG_MAX_SCHEDULES: NonNegativeInt = 200
    ORG_MAX_TRIGGERS: NonNegativeInt = 200
    ORG_MAX_WEBHOOKS: NonNegativeInt = 20
    ORG_MAX_JOBS_IN_FLIGHT: NonNegativeInt = 100  # `created` (waiting for a slot included) or `running`
    # The least time between two runs of a schedule (control_api/schedules/cadence.py): a cron
    # expression with runs closer than this, or a shorter interval_hours, is a 400; 0 allows any.
    MIN_SCHEDULE_INTERVAL_MINUTES: NonNegativeInt = 15
    # Written by `make run`'s supervisor: which of its components are up (read by /healthz).
    SUPERVISOR_STATE_FILE: str | None = None
    JSON_SORT_KEYS: ClassVar[bool] = False

    def __init__(self, **values) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(describe(exc)) from None

    @model_validator(mode="after")
    def _stored_scrapyd_credentials(self) -> Config:
        if not self.SCRAPYD_USERNAME:
            stored = read_credentials(self.SCRAPYD_CREDENTIALS_FILE)
            if stored:
                self.SCRAPYD_USERNAME = stored[0]
                self.SCRAPYD_PASSWORD = self.SCRAPYD_PASSWORD or stored[1]
        return self

    @model_validator(mode="after")
    def _nodes(self) -> Config:
        nodes = parse_nodes(self.SCRAPYD_URL)  # raises ValueError on a bad `#slots=`
        if len(nodes) > 1 and self.DATABASE_URL.startswith("sqlite"):
            raise ValueError(
                "several scrapyd nodes need one shared PostgreSQL database: set DATABASE_URL to "
                "postgresql://... (SQLite is a file on one machine; docs/deploy.md)"
            )
        return self

    @field_validator("WEBHOOK_RETRY_SECONDS")
    @classmethod
    def _retry_delays(cls, value: str) -> str:
        retry_delays(value)
        return value

    @property
    def WEBHOOK_RETRY_DELAYS(self) -> list[float]:  # noqa: N802
        return retry_delays(self.WEBHOOK_RETRY_SECONDS)

    @property
    def SCRAPYD_URLS(self) -> list[str]:  # noqa: N802 (Flask reads upper-case names only)
        return list(parse_nodes(self.SCRAPYD_URL))

    @property
    def SCRAPYD_SLOTS(self) -> dict[str, int]:  # noqa: N802
        """Each node's configured capacity; a node without `#slots=` is absent (no limit of ours)."""
        return {url: slots for url, slots in parse_nodes(self.SCRAPYD_URL).items() if slots is not None}

    @property
    def MAX_CONTENT_LENGTH(self) -> int:  # noqa: N802
        return self.API_MAX_BODY_BYTES


ORG_CAPS = ("ORG_MAX_SCHEDULES", "ORG_MAX_TRIGGERS", "ORG_MAX_WEBHOOKS", "ORG_MAX_JOBS_IN_FLIGHT")


@dataclass(frozen=True)
class ServiceSettings:
    """The settings the services act on. Their callers (the views, the recurring-crawl loop) read
    them from the app and pass them in, so no service reads Flask's configuration (tests/test_layers.py)."""

    allow_private_targets: bool  # ALLOW_PRIVATE_TARGETS: crawl targets and webhook URLs in our own network
    org_caps: Mapping[str, int]  # ORG_MAX_* by name (control_api/organisations/limits.py); 0 is no cap
    min_schedule_interval_minutes: int  # MIN_SCHEDULE_INTERVAL_MINUTES

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> ServiceSettings:
        return cls(allow_private_targets=bool(config["ALLOW_PRIVATE_TARGETS"]),
                   org_caps={name: int(config[name]) for name in ORG_CAPS},
                   min_schedule_interval_minutes=int(config["MIN_SCHEDULE_INTERVAL_MINUTES"]))  # fmt: skip


def service_settings() -> ServiceSettings:
    """The current app's, as a view passes them to a service (read per request: a test may change
    the app's config after creating it)."""
    return ServiceSettings.of(current_app.config)


class ServiceConfig(Config):
    """What `make run` (control_api/processes/supervisor.py) reads on top of the API's configuration."""

    API_HOST: str = "127.0.0.1"
    API_PORT: int = Field(default=8000, ge=1, le=65535)
    API_WORKERS: PositiveInt = 2
    VAR_DIR: Path = PROJECT_ROOT / "var"
    SCRAPYD_BIND: str | None = None  # default: SCRAPYD_URL's host
    SCRAPYD_POLL_INTERVAL: PositiveFloat = 0.2

    @field_validator("VAR_DIR")
    @classmethod
    def _absolute_var_dir(cls, value: Path) -> Path:
        # Its paths reach children that run in other directories (scrapyd in var/scrapyd): one meaning for all.
        return value.resolve()


def parse_nodes(value: str) -> dict[str, int | None]:
    """`http://a:6800#slots=4, http://b:6800` -> {"http://a:6800": 4, "http://b:6800": None}."""
    nodes: dict[str, int | None] = {}
    for item in value.split(","):
        url, _, fragment = item.strip().partition("#")
        url = url.strip().rstrip("/")
        if not url:
            continue
        slots = None
        if fragment:
            key, _, number = fragment.partition("=")
            if key.strip() != "slots" or not number.strip().isdigit() or int(number) < 1:
                raise ValueError(f"{item.strip()!r}: a node takes '#slots=N' (N >= 1, its scrapyd max_proc), nothing else")
            slots = int(number)
        nodes[url] = slots
    return nodes

def retry_delays(text: str) -> list[float]:
    """`5,300,1800` as seconds; each a positive number."""
    try:
        delays = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError("must be comma-separated numbers of seconds, e.g. 5,300,1800") from None
    if not all(0 < delay < float("inf") for delay in delays):
        raise ValueError("every delay must be a positive number of seconds")
    return delays


def describe(error: ValidationError) -> str:
    """`NAME='value': what is wrong` for each bad variable, on one line each."""
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "configuration"
        value = f"={item['input']!r}" if isinstance(item.get("input"), str | int | float) else ""
        problems.append(f"  {name}{value}: {item['msg']}")
    return "Invalid configuration (environment variables or .env):\n" + "\n".join(problems)
