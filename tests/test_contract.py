"""The crawl contract end to end: every job option, given a non-default value, goes API -> scrapyd
arguments -> spider and arrives with its value and type, validated by the same model on both sides
(adding an option is a change to contract/options.py plus its use). And the boundary holds:
neither crawler/ nor control_api/ imports the other."""
from __future__ import annotations

import json
import subprocess

import pytest
from scrapy.exceptions import UsageError

from contract.options import OPTION_FIELDS, JobOptions, redacted
from crawler.spiders.site import SiteSpider
from contract.paths import PROJECT_ROOT


NON_DEFAULT = {  # the options that are not bools or ints
    "include": ["/docs/", r"\?page=\d+$"],
    "exclude": ["/private/"],
    "headers": {"X-Staging-Token": "s3cret-header"},
    "basic_auth": {"username": "preview", "password": "s3cret-password"},
}


def non_default(name: str):
    field = JobOptions.model_fields[name]
    if name in NON_DEFAULT:
        return NON_DEFAULT[name]
    if field.annotation in (bool, "bool"):
        return not field.default
    return field.default + 7  # within every int option's bounds


def test_every_option_walks_from_the_api_through_scrapyd_arguments_to_the_spider(client, org, scheduler):
    options = {name: non_default(name) for name in OPTION_FIELDS}
    created = client.post("/v1/jobs", json={"domain": "example.com", "options": options}, headers=org.headers)
    assert created.status_code == 201, created.get_json()
    # Secrets are never shown again: "***" in their place, in the answer and in scrapyd's arguments
    # (scrapyd logs those); the crawler reads them from the job's row (tests/test_crawl_scope.py).
    assert created.get_json()["options"] == redacted(options) != options
    assert created.get_json()["options"]["basic_auth"] == {"username": "preview", "password": "***"}

    _, arguments, settings = scheduler.scheduled[-1]
    assert set(arguments) <= {"domain", "scheme", "claim", "options"}  # one argument carries them all
    assert "s3cret" not in json.dumps(arguments)
    spider = SiteSpider(**arguments, _job="j")

    assert spider.options.model_dump() == redacted(options)
    assert settings == spider.options.scrapy_settings() == {
        "CONCURRENT_REQUESTS": options["concurrency"], "CONCURRENT_REQUESTS_PER_DOMAIN": options["concurrency"]}  # fmt: skip
    assert spider.max_pages == options["max_pages"]
    assert spider.slow_threshold == options["slow_page_threshold_ms"] / 1000
    assert (spider.use_sitemap, spider.find_links, spider.check_resources, spider.scope.allow_subdomains) == (
        options["use_sitemap"], options["find_links"], options["check_resources"], options["allow_cross_subdomain_links"])  # fmt: skip


def test_adhoc_single_options_are_validated_by_the_same_model():
    spider = SiteSpider(domain="example.com", max_pages="50", use_sitemap="false")
    assert (spider.max_pages, spider.use_sitemap) == (50, False)
    # The API's limits, not the spider's own: a value the API refuses, the spider refuses too.
    for argument in ({"max_pages": "-1"}, {"slow_page_threshold_ms": "0"}, {"concurrency": "101"},
                     {"use_sitemap": "maybe"}, {"options": json.dumps({"max_pages": "7"})},
                     {"options": json.dumps({"unknown": 1})}):  # fmt: skip
        with pytest.raises(UsageError, match=next(iter(argument))):
            SiteSpider(domain="example.com", **argument)


@pytest.mark.parametrize(("package", "other"), [("crawler", "control_api"), ("control_api", "crawler")])
def test_the_crawler_and_the_api_never_import_each_other(package, other):
    found = subprocess.run(["grep", "-rnE", f"^\\s*(from|import) {other}\\b", package, "--include=*.py"],
                           cwd=PROJECT_ROOT, capture_output=True, text=True)  # fmt: skip
    assert found.stdout == ""
