"""Aiming a crawl (SPEC "Outbound links and crawl scope"), without a crawl: the scope options are
validated with a 400 naming the option and the bad value; secrets are never shown ("***") by the
API nor sent to scrapyd, and a job's crawler reads them from its row; ad-hoc `-a` forms; the
frontier records excluded URLs as skipped `excluded`; the depth limit; how an external check's
answer is classified and which answers the instance's cache keeps. Crawls that prove all this on
a real loopback site are in tests/integration/test_external_links.py."""
from __future__ import annotations

import json

import pytest
from scrapy.exceptions import UsageError
from scrapy.crawler import Crawler

from contract.external import ExternalOutcome, classify_answer, outcome
from contract.options import JobOptions, redacted
from contract.vocabulary import ErrorType, TaskStatus
from crawler.external_cache import is_definite
from crawler.frontier import Frontier
from crawler.records import new_record
from crawler.scope import UrlFilter, job_depth_limit, resolve_secrets
from crawler.spiders.site import SiteSpider
from crawler.urls import SiteScope, normalise

SECRETS = {"headers": {"X-Staging-Token": "tok-4242"}, "basic_auth": {"username": "preview", "password": "pw-9191"}}


def create(client, org, **options):
    return client.post("/v1/jobs", json={"domain": "example.com", "options": options}, headers=org.headers)


@pytest.mark.parametrize(("options", "named"), [
    ({"include": ["/docs/(unclosed"]}, ["options.include", "/docs/(unclosed"]),
    ({"exclude": ["ok", "*bad"]}, ["options.exclude", "*bad"]),
    ({"exclude": ["^(a+)+$"]}, ["options.exclude", "(a+)+", "exponential"]),  # catastrophic backtracking
    ({"include": ["x"] * 51}, ["options.include", "50"]),
    ({"exclude": ["a" * 501]}, ["options.exclude", "500"]),
    ({"max_depth": -1}, ["options.max_depth"]),
    ({"headers": {"Host": "evil.test"}}, ["options.headers", "Host"]),
    ({"headers": {"Transfer-Encoding": "chunked"}}, ["options.headers", "Transfer-Encoding"]),
    ({"headers": {"Bad Name": "x"}}, ["options.headers", "Bad Name"]),
    ({"headers": {f"X-{index}": "v" for index in range(21)}}, ["options.headers", "20"]),
    ({"basic_auth": {"username": "u"}}, ["options.basic_auth.password"]),
    ({"basic_auth": {"username": "a:b", "password": "p"}}, ["options.basic_auth.username"]),
    ({"include": "/docs/"}, ["options.include"]),
])  # fmt: skip
def test_a_bad_scope_option_is_a_400_naming_the_option_and_the_value(client, org, options, named):
    response = create(client, org, **options)
    assert response.status_code == 400, response.get_json()
    message = response.get_json()["error"]["message"]
    for text in named:
        assert text in message, message


def test_a_header_value_with_a_line_break_is_refused_without_echoing_it(client, org):
    response = create(client, org, headers={"X-Token": "secret-value\r\nX-Injected: 1"})
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert "X-Token" in message and "secret-value" not in message


def test_secrets_are_stored_but_every_answer_shows_stars(client, org, scheduler, engine):
    created = create(client, org, **SECRETS, include=["/docs/"], max_depth=3)
    assert created.status_code == 201, created.get_json()
    job_id = created.get_json()["id"]
    shown = {"headers": {"X-Staging-Token": "***"}, "basic_auth": {"username": "preview", "password": "***"}}
    for body in (created.get_json(), client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json(),
                 client.get("/v1/jobs?include=stats,progress", headers=org.headers).get_json()["jobs"][0]):  # fmt: skip
        assert {name: body["options"][name] for name in shown} == shown
        assert body["options"]["include"] == ["/docs/"] and body["options"]["max_depth"] == 3
    # scrapyd logs its spider arguments: the secrets are not among them.
    _, arguments, _ = scheduler.scheduled[-1]
    assert "tok-4242" not in json.dumps(arguments) and "pw-9191" not in json.dumps(arguments)
    # The crawler reads them from the job's row, the only copy.
    spider_options = JobOptions.model_validate_json(arguments["options"])
    resolved = resolve_secrets(spider_options, job_id, str(engine.url.render_as_string(hide_password=False)))
    assert resolved.headers == SECRETS["headers"] and resolved.basic_auth.password == "pw-9191"


def test_schedules_and_triggers_show_stars_and_keep_the_secret_when_sent_back(client, org, engine):
    body = {"domain": "example.com", "options": SECRETS, "interval_hours": 24}
    schedule = client.post("/v1/schedules", json=body, headers=org.headers).get_json()
    assert schedule["options"]["basic_auth"]["password"] == "***"
    assert schedule["options"]["headers"] == {"X-Staging-Token": "***"}
    # A client that sends back what it was shown keeps the stored secret, not "***".
    patched = client.patch(f"/v1/schedules/{schedule['id']}", json={"options": schedule["options"]}, headers=org.headers)
    assert patched.status_code == 200, patched.get_json()
    from db.models import Schedule
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        stored = session.get(Schedule, schedule["id"]).options
    assert stored["basic_auth"]["password"] == "pw-9191" and stored["headers"]["X-Staging-Token"] == "tok-4242"
    trigger = client.post("/v1/triggers", json={"domain": "example.com", "options": SECRETS, "name": "cms"},
                          headers=org.headers).get_json()  # fmt: skip
    assert trigger["options"]["basic_auth"]["password"] == "***"
    listed = client.get("/v1/triggers", headers=org.headers).get_data(as_text=True)
    assert "pw-9191" not in listed and "tok-4242" not in listed


def test_redacted_leaves_options_without_secrets_as_they_are():
    plain = JobOptions().model_dump()
    assert redacted(plain) is plain
    assert redacted({**plain, **SECRETS})["basic_auth"] == {"username": "preview", "password": "***"}


def test_adhoc_arguments_take_the_short_forms_and_never_echo_a_secret():
    spider = SiteSpider(domain="example.com", include="/docs/", exclude='["\\\\.pdf$", "/private/"]',
                        headers="X-Staging-Token: tok", basic_auth="preview:pw:with:colons", max_depth="2")  # fmt: skip
    options = spider.options
    assert options.include == ["/docs/"] and options.exclude == ["\\.pdf$", "/private/"]
    assert options.headers == {"X-Staging-Token": "tok"} and options.max_depth == 2
    assert (options.basic_auth.username, options.basic_auth.password) == ("preview", "pw:with:colons")
    with pytest.raises(UsageError, match="include") as refused:
        SiteSpider(domain="example.com", include="(")
    assert "(" in str(refused.value)
    with pytest.raises(UsageError) as refused:
        SiteSpider(domain="example.com", headers="Host: sneaky-secret")
    assert "-a headers=***" in str(refused.value) and "sneaky-secret" not in str(refused.value)


def test_adhoc_concurrency_sets_the_crawls_concurrency():
    """`-a concurrency=N` was accepted and ignored; now it is the crawl's CONCURRENT_REQUESTS."""
    # As Scrapy does: the spider is built before the crawl's settings are frozen.
    crawler = Crawler(SiteSpider, {"CRAWL_CHECK_EXTERNAL_LINKS": False, "CRAWL_PROCESSES": 1})
    SiteSpider.from_crawler(crawler, domain="example.com", concurrency="3")
    assert crawler.settings.getint("CONCURRENT_REQUESTS") == 3
    assert crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 3
    # External checks get a share of their own on top: the site's pages keep all of theirs.
    crawler = Crawler(SiteSpider, {"CRAWL_CHECK_EXTERNAL_LINKS": True, "CRAWL_EXTERNAL_MAX_IN_FLIGHT": 8,
                                       "CRAWL_PROCESSES": 1})  # fmt: skip
    SiteSpider.from_crawler(crawler, domain="example.com", concurrency="3")
    assert crawler.settings.getint("CONCURRENT_REQUESTS") == 3 + 8
    assert crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 3


def test_include_and_exclude_search_the_full_url_and_exclude_wins():
    url_filter = UrlFilter(include=["/docs/", r"\?lang=en"], exclude=[r"/docs/old/", r"\.pdf$"])
    assert url_filter.skip_reason("http://site.test/docs/a") is None
    assert url_filter.skip_reason("http://site.test/blog?lang=en") is None
    assert url_filter.skip_reason("http://site.test/blog")[0] == ErrorType.EXCLUDED
    assert url_filter.skip_reason("http://site.test/docs/old/a")[0] == ErrorType.EXCLUDED
    assert url_filter.skip_reason("http://site.test/docs/a.pdf")[0] == ErrorType.EXCLUDED
    assert not UrlFilter([], [])


def test_the_frontier_records_an_excluded_url_as_skipped_and_never_hands_it_out():
    frontier = Frontier(SiteScope("site.test", None, True), max_pages=0, max_depth=50, max_url_length=2048,
                        max_query_variants=50, on_late_referrer=lambda *a: None,
                        url_filter=UrlFilter([], ["/private/"]))  # fmt: skip
    canonical, key, _, _ = normalise("http://site.test/private/a")
    task, records = frontier.admit(canonical, key, "link", "http://site.test/", 1, "page")
    assert task is None
    assert [(r["url"], r["status"], r["error_type"]) for r in records] == [(canonical, "skipped", "excluded")]
    canonical, key, _, _ = normalise("http://site.test/public")
    task, records = frontier.admit(canonical, key, "link", "http://site.test/", 1, "page")
    assert task is not None and records == [] and list(frontier.to_fetch()) == [task]


def test_the_jobs_depth_limit_never_goes_past_the_instances():
    assert job_depth_limit(JobOptions(), 50) == 50
    assert job_depth_limit(JobOptions(max_depth=2), 50) == 2
    assert job_depth_limit(JobOptions(max_depth=500), 50) == 50


@pytest.mark.parametrize(("host", "status", "expected"), [
    ("ext.test", 200, ExternalOutcome.OK),
    ("ext.test", 404, ExternalOutcome.BROKEN),
    ("ext.test", 503, ExternalOutcome.BROKEN),
    ("ext.test", 999, ExternalOutcome.REFUSED_TO_ROBOTS),
    ("www.linkedin.com", 999, ExternalOutcome.REFUSED_TO_ROBOTS),
    ("www.linkedin.com", 403, ExternalOutcome.REFUSED_TO_ROBOTS),
    ("ext.test", 403, ExternalOutcome.BROKEN),
    ("notlinkedin.com", 403, ExternalOutcome.BROKEN),
])  # fmt: skip
def test_an_answer_is_classified(host, status, expected):
    answer = classify_answer(host, status)
    assert outcome(answer["status"], answer.get("error_type")) == expected
    assert answer.get("is_broken", False) == (expected == ExternalOutcome.BROKEN)


@pytest.mark.parametrize(("error_type", "expected"), [
    (ErrorType.TIMEOUT, ExternalOutcome.TIMEOUT), (ErrorType.DNS, ExternalOutcome.UNREACHABLE),
    (ErrorType.CONNECTION_REFUSED, ExternalOutcome.UNREACHABLE), (ErrorType.TLS, ExternalOutcome.UNREACHABLE),
    (ErrorType.FORBIDDEN_TARGET, ExternalOutcome.REFUSED),
])  # fmt: skip
def test_a_failure_is_classified(error_type, expected):
    assert outcome(TaskStatus.FAILED, error_type) == expected


def test_the_cache_keeps_definite_answers_only():
    from crawler.records import TaskInfo

    task = TaskInfo("http://ext.test/a", "ext.test/a", "external", "link", None, 1)

    def record(**fields):
        return new_record(task, fields.pop("status"), **fields)

    assert is_definite(record(status="completed", http_status=200))
    assert is_definite(record(status="failed", http_status=404, error_type="http_error"))
    assert is_definite(record(status="failed", http_status=999, error_type="refused_to_robots"))
    assert not is_definite(record(status="failed", http_status=429, error_type="http_error"))
    assert not is_definite(record(status="failed", http_status=503, error_type="server_error"))
    assert not is_definite(record(status="failed", error_type="timeout"))
    assert not is_definite(record(status="failed", error_type="dns"))
    assert not is_definite(record(status="failed", error_type="forbidden_target"))
    assert not is_definite(record(status="skipped", error_type="excluded"))


def test_the_instance_cache_answers_fresh_definite_results_and_forgets_old_ones(database_url, engine):
    from datetime import timedelta

    from sqlalchemy import update

    from crawler.external_cache import ExternalCache
    from crawler.records import TaskInfo
    from db.models import ExternalCheck, url_hash, utcnow

    def record(url, status, **fields):
        return new_record(TaskInfo(url, url, "external", "link", None, 1), status, **fields)

    cache = ExternalCache(database_url, ttl_hours=24)
    fresh, old, timeout = "http://ext.test/fresh-42", "http://ext.test/old-42", "http://ext.test/slow-42"
    cache.store(fresh, record(fresh, "failed", http_status=404, error_type="http_error", error="HTTP 404", is_broken=True))
    cache.store(old, record(old, "completed", http_status=200))
    cache.store(timeout, record(timeout, "failed", error_type="timeout", is_broken=True))
    cache.close()  # writes what is left
    with engine.begin() as connection:
        connection.execute(update(ExternalCheck).where(ExternalCheck.url_hash == url_hash(old))
                           .values(checked_at=utcnow() - timedelta(hours=25)))  # fmt: skip
    cache = ExternalCache(database_url, ttl_hours=24)
    answers = cache.lookup_many([fresh, old, timeout, "http://ext.test/never-42"])
    assert set(answers) == {fresh}
    assert answers[fresh]["http_status"] == 404 and answers[fresh]["is_broken"] and answers[fresh]["from_cache"]
    cache.close()  # and prunes the answers past the TTL
    with engine.connect() as connection:
        kept = {row.url for row in connection.execute(ExternalCheck.__table__.select())}
    assert fresh in kept and old not in kept and timeout not in kept
