"""Aiming a crawl: a job's include/exclude patterns, its depth limit, and the headers and basic-auth
credentials it sends to its own site (contract: SPEC "Outbound links and crawl scope").

- `UrlFilter` says why a URL must not be requested (`excluded`), checked by the frontier when a URL
  is admitted, so an excluded URL never becomes a Request.
- `SiteCredentialsMiddleware` adds the job's headers and `Authorization: Basic` to every request to
  the job's own site (its scope: robots.txt, redirects back to it and warm fetches included) and to
  no other: a redirect or link to another site never carries them.
- Secrets never travel as spider arguments (scrapyd logs those, `ps` shows them): the API sends "***"
  in their place and a job's crawler reads the real values from its job row (`job_secrets`); a hub
  hands them to its workers in the environment (SECRETS_ENV), not on their command line.
"""
from __future__ import annotations

import json
import os
import re
from base64 import b64encode
from typing import TYPE_CHECKING, Any

from scrapy.utils.httpobj import urlparse_cached

from contract.options import REDACTED, JobOptions, has_secrets
from contract.vocabulary import ErrorType
from crawler.urls import DEFAULT_PORTS

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

SECRETS_ENV = "CRAWL_SITE_SECRETS"  # JSON {"headers": ..., "basic_auth": ...}, hub -> workers only


class UrlFilter:
    """include: when given, only matching URLs are crawled; exclude: a matching URL is never requested.
    Patterns are searched in the full URL (Python `re`)."""

    def __init__(self, include: list[str], exclude: list[str]):
        self.include = re.compile("|".join(f"(?:{pattern})" for pattern in include)) if include else None
        self.exclude = re.compile("|".join(f"(?:{pattern})" for pattern in exclude)) if exclude else None

    def __bool__(self) -> bool:
        return self.include is not None or self.exclude is not None

    def skip_reason(self, url: str) -> tuple[str, str] | None:
        if self.exclude is not None and self.exclude.search(url):
            return ErrorType.EXCLUDED, "Matches the job's exclude patterns"
        if self.include is not None and not self.include.search(url):
            return ErrorType.EXCLUDED, "Matches none of the job's include patterns"
        return None


def job_depth_limit(options: JobOptions, instance_limit: int) -> int:
    """The depth a crawl stops at: the job's max_depth when set, never past the instance's trap limit."""
    return min(options.max_depth, instance_limit) if options.max_depth else instance_limit


def has_redacted_secrets(options: JobOptions) -> bool:
    auth = options.basic_auth
    return REDACTED in options.headers.values() or (auth is not None and auth.password == REDACTED)


def job_secrets(database_url: str, job_id: str) -> dict[str, Any]:
    """The job's stored headers and basic_auth (the only copy of the secrets), read from its row."""
    from sqlalchemy import select

    from db.engine import make_engine
    from db.models import Job

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(select(Job.options).where(Job.id == job_id)).scalar_one_or_none() or {}
    finally:
        engine.dispose()
    return {"headers": stored.get("headers") or {}, "basic_auth": stored.get("basic_auth")}


def with_secrets(options: JobOptions, secrets: dict[str, Any]) -> JobOptions:
    return JobOptions.model_validate({**options.model_dump(), "headers": secrets.get("headers") or {},
                                      "basic_auth": secrets.get("basic_auth")})  # fmt: skip


def resolve_secrets(options: JobOptions, job_id: str | None, database_url: str | None) -> JobOptions:
    """The options with their real secrets: from the job row for a job's crawl, from the hub's
    environment for a worker; as given for an ad-hoc run (its user typed them)."""
    if not has_redacted_secrets(options):
        return options
    if os.environ.get(SECRETS_ENV):
        return with_secrets(options, json.loads(os.environ[SECRETS_ENV]))
    if job_id and database_url:
        return with_secrets(options, job_secrets(database_url, job_id))
    return options


def secrets_for_workers(options: JobOptions) -> None:
    """A hub's workers inherit its environment: the secrets go there, not on their command line."""
    if has_secrets(options.model_dump()):
        os.environ[SECRETS_ENV] = json.dumps(options.model_dump(include={"headers", "basic_auth"}))


class SiteCredentialsMiddleware:
    """The job's headers and basic auth on requests to its own site, never on any other."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.headers: dict[bytes, bytes] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SiteCredentialsMiddleware:
        return cls(crawler)

    def _site_headers(self) -> dict[bytes, bytes]:
        if self.headers is None:
            options: JobOptions = getattr(self.crawler.spider, "options", None) or JobOptions()
            headers = {name.encode("latin-1"): value.encode("latin-1", "replace") for name, value in options.headers.items()}
            if options.basic_auth is not None:
                pair = f"{options.basic_auth.username}:{options.basic_auth.password}".encode()
                headers[b"Authorization"] = b"Basic " + b64encode(pair)
            self.headers = headers
        return self.headers

    def process_request(self, request: Request) -> None:
        headers = self._site_headers()
        if not headers:
            return
        if self._own_site(request):
            for name, value in headers.items():
                request.headers[name] = value
        else:  # a request that left the site (a redirect elsewhere) carries none of them
            for name in headers:
                request.headers.pop(name, None)

    def _own_site(self, request: Request) -> bool:
        scope = getattr(self.crawler.spider, "scope", None)
        if scope is None or request.meta.get("external"):
            return False
        parts = urlparse_cached(request)
        try:
            port = parts.port
        except ValueError:
            return False
        if port == DEFAULT_PORTS.get(parts.scheme):
            port = None
        return parts.hostname is not None and scope.contains(parts.hostname, port)


def apply_option_settings(spider: Any, settings: Any) -> None:
    """Before the crawl's settings are frozen (Scrapy builds the spider first): the job's secrets,
    the Scrapy settings of options given one by one (`-a concurrency=50` takes effect), and room
    for external link checks on top of the site's own concurrency, so that they never take a
    request slot from the site's pages (crawler/external.py bounds them)."""
    options: JobOptions = spider.options
    spider.options = resolve_secrets(options, spider.job_id, settings.get("DATABASE_URL"))
    # Every process finds external links; only the hub (or the single process) checks them.
    spider.find_external = options.check_external_links and settings.getbool("CRAWL_CHECK_EXTERNAL_LINKS")
    spider.check_external = spider.find_external and spider.role_name != "worker"
    if settings.frozen:
        return
    if "concurrency" in spider.options_given:
        for name, value in options.scrapy_settings().items():
            settings.set(name, value, priority="cmdline")
    if spider.check_external:
        name = "CONCURRENT_REQUESTS"
        settings.set(name, settings.getint(name) + settings.getint("CRAWL_EXTERNAL_MAX_IN_FLIGHT"),
                     priority=settings.getpriority(name))  # fmt: skip
