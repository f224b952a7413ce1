"""The job options: one model with names, types, defaults and limits, for the API and the crawler.

The API validates a request body with it (strict JSON types); the API hands the validated options
to scrapyd as one JSON spider argument, `-a options={...}`, and the spider validates that again
with the same model. An ad-hoc `scrapy crawl site -a max_pages=50` passes options one by one as
text; those are validated by the same model in lax mode ("50" -> 50, "false" -> False).

The dashboard's forms are generated from this model (control_api/dashboard/forms/option_fields.py):
a field's `description` is its label on the forms, so write it as one, and text after a first "; "
becomes the hint under the input ("Most pages to crawl; 0 means unlimited."); its `ge`/`gt`/`le`/
`lt` are the input's bounds and its default the value a new form shows. A secret option (or a
secret field of a nested model, e.g. a password) is marked
`Field(..., json_schema_extra={"secret": True})`: the form shows a password input and never writes
the value back into a page. The types the forms know, and how each is shown, are listed in
option_fields.py; see docs/architecture.md, "Adding a job option".
"""
from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator


SECRET = {"secret": True}  # a field whose values are never shown (the dashboard's forms agree on it)
REDACTED = "***"  # what the API, exports, logs and pages show in place of a secret
MAX_PATTERNS = 50
MAX_PATTERN_LENGTH = 500
MAX_HEADERS = 20
# Headers a job may not set: hop-by-hop ones (RFC 9110 7.6.1) describe one connection, not the request,
# and Host / Content-Length are the client's to compute; a wrong one breaks or misroutes the request.
REFUSED_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length",
})
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")

Pattern = Annotated[str, StringConstraints(max_length=MAX_PATTERN_LENGTH)]
# A quantified group that holds a quantifier itself, `(a+)+` or `(\w*x?)*`: Python's `re` can take
# exponential time on such a pattern (catastrophic backtracking), and the crawler searches every URL
# with it. Refused up front; a pattern without nested repetition cannot blow up that way.
NESTED_REPETITION = re.compile(r"\((?:[^()\\]|\\.)*(?<!\\)[+*}?](?:[^()\\]|\\.)*\)[+*{]")


def _compiled(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"pattern {pattern!r} is not a valid regular expression ({exc})") from None
        if NESTED_REPETITION.search(pattern):
            raise ValueError(f"pattern {pattern!r} repeats a group that repeats itself (like (a+)+), which can take "
                             "exponential time; write it without the nested repetition")
    return patterns


class BasicAuth(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    username: str = Field(min_length=1, max_length=255, pattern=r"^[^:\x00-\x1f]*$",
                          description="Basic auth user name (no colon).")
    password: str = Field(max_length=255, description="Basic auth password; never shown again.",
                          json_schema_extra=SECRET)


class JobOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    use_sitemap: bool = Field(True, description="Discover pages from robots.txt Sitemap: lines and sitemaps.")
    find_links: bool = Field(True, description="Discover pages by following internal links in HTML.")
    allow_cross_subdomain_links: bool = Field(
        True, description="Also follow links to other subdomains of the same registrable domain."
    )
    max_pages: int = Field(0, ge=0, description="Most pages to crawl; 0 means unlimited.")
    concurrency: int = Field(20, ge=1, le=100, description="Concurrent requests.")
    slow_page_threshold_ms: int = Field(3000, ge=1, le=600_000, description="A page slower than this is slow.")
    check_resources: bool = Field(False, description="Also check same-site images, scripts and stylesheets.")
    check_external_links: bool = Field(
        True, description="Check every link to another site once per job (not counted against max_pages)."
    )
    include: list[Pattern] = Field(
        [], max_length=MAX_PATTERNS,
        description="Crawl only URLs matching one of these regular expressions (the start page always).",
    )
    exclude: list[Pattern] = Field(
        [], max_length=MAX_PATTERNS,
        description="Never request URLs matching one of these regular expressions (recorded skipped).",
    )
    max_depth: int = Field(0, ge=0, le=1000, description="Most links from the start page; 0 means no job limit.")
    headers: dict[str, str] = Field(
        {}, max_length=MAX_HEADERS, description="Extra request headers, sent to this site only.",
        json_schema_extra=SECRET,
    )
    basic_auth: BasicAuth | None = Field(None, description="HTTP basic auth for this site (staging).")

    _patterns = field_validator("include", "exclude")(_compiled)

    @field_validator("headers")
    @classmethod
    def _allowed_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name[:100]!r} is not a header name")
            if name.lower() in REFUSED_HEADERS:
                raise ValueError(f"header {name!r} is not allowed (hop-by-hop or set by the crawler)")
            if len(value) > 4096 or any(char in value for char in "\r\n\x00"):
                # The value is a secret: the message names the header, not what it holds.
                raise ValueError(f"the value of header {name!r} is longer than 4096 characters or holds a line break")
        return headers
    browser_pages: int = Field(
        6, ge=0, le=50,
        description="After the crawl, load this many pages in headless Chromium and record their lab metrics "
        "(LCP, FCP, CLS, TBT, page weight, requests, console errors): half the slowest, half the most important "
        "(start page, navigation, shallowest). 0 turns it off.",
    )

    def scrapy_settings(self) -> dict[str, Any]:
        """The Scrapy settings an option stands for (scrapyd passes them as `-s`)."""
        return {"CONCURRENT_REQUESTS": self.concurrency, "CONCURRENT_REQUESTS_PER_DOMAIN": self.concurrency}


OPTION_FIELDS = tuple(JobOptions.model_fields)


def redacted(options: dict[str, Any]) -> dict[str, Any]:
    """Stored options as any endpoint, export, webhook, log line or page may show them: header
    values and the basic-auth password replaced by "***"."""
    if not options.get("headers") and not options.get("basic_auth"):
        return options
    shown = dict(options)
    if shown.get("headers"):
        shown["headers"] = dict.fromkeys(shown["headers"], REDACTED)
    if shown.get("basic_auth"):
        shown["basic_auth"] = {**shown["basic_auth"], "password": REDACTED}
    return shown


def with_kept_secrets(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """Options sent back as they were shown ("***" in place of a secret) keep the stored secret."""
    merged = dict(new)
    old_headers = old.get("headers") or {}
    if merged.get("headers"):
        merged["headers"] = {name: old_headers.get(name, value) if value == REDACTED else value
                             for name, value in merged["headers"].items()}  # fmt: skip
    auth, old_auth = merged.get("basic_auth"), old.get("basic_auth")
    if auth and old_auth and auth.get("password") == REDACTED and auth.get("username") == old_auth.get("username"):
        merged["basic_auth"] = {**auth, "password": old_auth["password"]}
    return merged


def has_secrets(options: dict[str, Any]) -> bool:
    return bool(options.get("headers") or options.get("basic_auth"))


def _from_text(name: str, value: Any) -> Any:
    """An ad-hoc `-a` argument of a list or object option, given as text: JSON, or the short forms
    `-a exclude=/private/` (one pattern), `-a headers="X-Token: abc"` (one header) and
    `-a basic_auth=user:password`."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text[:1] in ("[", "{") or text == "null":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return value
    if name in ("include", "exclude"):
        return [value] if value else []
    if name == "headers" and ":" in value:
        header, _, header_value = value.partition(":")
        return {header.strip(): header_value.strip()}
    if name == "basic_auth" and ":" in value:
        username, _, password = value.partition(":")
        return {"username": username, "password": password}
    return value


STRUCTURED = ("include", "exclude", "headers", "basic_auth")


class InvalidOptions(ValueError):
    """Options a spider was given that the model refuses; the message names the argument."""


def options_from_spider_arguments(arguments: dict[str, Any]) -> JobOptions:
    """The options of a spider run: `options` (JSON, as the API sends them) and/or single options
    as text (`-a max_pages=50`, for ad-hoc runs); a single option overrides the JSON one."""
    try:
        base = JobOptions.model_validate_json(arguments["options"]) if arguments.get("options") else JobOptions()
        singles = {name: _from_text(name, arguments[name]) if name in STRUCTURED else arguments[name]
                   for name in OPTION_FIELDS if name in arguments}  # fmt: skip
        if not singles:
            return base
        return JobOptions.model_validate({**base.model_dump(), **singles}, strict=False)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        name = field if field in arguments else "options"
        problem = f"{first['msg'][0].lower()}{first['msg'][1:]}"
        if name in ("headers", "basic_auth"):  # the argument holds secrets: name it, do not echo it
            raise InvalidOptions(f"-a {name}=***: {problem}") from None
        if name == "options" and field:
            problem = f"{field}: {problem}"
        raise InvalidOptions(f"-a {name}={arguments.get(name)!r}: {problem}") from None
