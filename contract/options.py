"""The job options: one model with names, types, defaults and limits, for the API and the crawler.

The API validates a request body with it (strict JSON types); the API hands the validated options
to scrapyd as one JSON spider argument, `-a options={...}`, and the spider validates that again
with the same model. An ad-hoc `scrapy crawl site -a max_pages=50` passes options one by one as
text; those are validated by the same model in lax mode ("50" -> 50, "false" -> False).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


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


class InvalidOptions(ValueError):
    """Options a spider was given that the model refuses; the message names the argument."""


def options_from_spider_arguments(arguments: dict[str, Any]) -> JobOptions:
    """The options of a spider run: `options` (JSON, as the API sends them) and/or single options
    as text (`-a max_pages=50`, for ad-hoc runs); a single option overrides the JSON one."""
    try:
        base = JobOptions.model_validate_json(arguments["options"]) if arguments.get("options") else JobOptions()
        singles = {name: arguments[name] for name in OPTION_FIELDS if name in arguments}
        if not singles:
            return base
        return JobOptions.model_validate({**base.model_dump(), **singles}, strict=False)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        name = field if field in arguments else "options"
        problem = f"{first['msg'][0].lower()}{first['msg'][1:]}"
        if name == "options" and field:
            problem = f"{field}: {problem}"
        raise InvalidOptions(f"-a {name}={arguments.get(name)!r}: {problem}") from None
