"""Property-based fuzzing of every operation in /v1/openapi.json (schemathesis, in-process WSGI).

For each operation schemathesis generates valid and invalid path parameters, query strings and
bodies; every response must be a non-5xx with a status code and a body that the OpenAPI document
declares for that operation (error bodies included). Runs once with a valid bearer token, so the
requests reach the views, and once without one. SPEC: "Errors [core]", "Beyond the core [ours]"
(`GET /v1/openapi.json`). Issue "Reliability and security", item 6.
"""
from __future__ import annotations

import re
import os
from urllib.parse import unquote

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from sqlalchemy.orm import Session

from control_api import create_app
from contract.paths import PROJECT_ROOT
from db.models import BrokenLinkReferrer, Task, url_hash, utcnow

# The document is read from the app itself, over WSGI. It is the same for every app instance, so a
# throwaway app (in-memory SQLite, never queried) serves it at collection time; each test then sends
# its requests to the `app` fixture (the suite's database, the fake scheduler attached).
schema = schemathesis.openapi.from_wsgi(
    "/v1/openapi.json", create_app({"TESTING": True, "DATABASE_URL": "sqlite://"})
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,  # a method the path lacks: 405 with an Allow header
    allow_header_conformance,
]
FUZZ_SETTINGS = hypothesis.settings(
    max_examples=int(os.environ.get("FUZZ_MAX_EXAMPLES", "30")),
    deadline=None,
    database=None,  # no example database: every run draws afresh (FUZZ_MAX_EXAMPLES for a long hunt)
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)

# Ids of the jobs seeded for the running test; path parameters often use them, so the job-scoped
# operations reach their 200/409 branches and not only 404.
SEEDED_JOB_IDS: list[str] = []

# Values that broke (or break) web APIs elsewhere, mixed into the generated input on top of what
# schemathesis derives from the document: NUL (PostgreSQL text refuses it), integers past 64 bits
# (SQL OFFSET), injection-looking text, RTL override, very long and non-ASCII strings.
NASTY_TEXT = [
    "\x00", "a\x00b", "'; DROP TABLE jobs; --", "' OR '1'='1", "<script>alert(1)</script>", "%00", "{{7*7}}",
    "${jndi:ldap://x}", "\u202etxt.exe", "../../etc/passwd", "😀", "x" * 5000, "",
]  # fmt: skip
NASTY_NUMBERS = ["9223372036854775807", "9223372036854775808", "-9223372036854775809", "1" + "0" * 40, "1e309", "NaN", "0x10", "-0"]
# Plus, for the body: a lone surrogate (only JSON escapes can carry one) and hosts that make
# urllib.parse.urlsplit raise (unbalanced brackets, characters NFKC turns into '/' or '@').
NASTY_BODY_TEXT = [*NASTY_TEXT, "\ud800", "[", "a]b", "[::1", "https://[x]/", "ex\ufe6bample.com", "ex\uff0fample.com"]
nasty_query_value = st.sampled_from(NASTY_TEXT + NASTY_NUMBERS)


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    if "job_id" not in (path_parameters or {}):
        return st.just(path_parameters)
    choices = [st.just(path_parameters), st.sampled_from(NASTY_TEXT[:-1]).map(lambda v: {**path_parameters, "job_id": v})]
    if SEEDED_JOB_IDS:
        choices.append(st.sampled_from(SEEDED_JOB_IDS).map(lambda job_id: {**path_parameters, "job_id": job_id}))
    return st.one_of(choices)


@schema.hook
def flatmap_query(context, query):
    names = [parameter.name for parameter in context.operation.query]
    if not names:
        return st.just(query)
    nasty = st.tuples(st.sampled_from(names), nasty_query_value).map(lambda kv: {**(query or {}), kv[0]: kv[1]})
    return st.one_of(st.just(query), nasty)


@schema.hook
def flatmap_body(context, body):
    if not isinstance(body, dict):
        return st.just(body)
    fields = ["domain", "source_type", "source_detail", "max_pages"]
    nasty = st.tuples(st.sampled_from(fields), st.sampled_from(NASTY_BODY_TEXT) | st.integers(min_value=2**63 - 2)).map(
        lambda kv: {**body, kv[0]: kv[1]}
    )
    return st.one_of(st.just(body), nasty)


def _task(job_id: str, url: str, **fields) -> Task:
    defaults = dict(found_via="link", status="completed", http_status=200, response_time_ms=120, ttfb_ms=40,
                    content_type="text/html", bytes=1024, cache_status="HIT", depth=1, referrer="https://example.com/")  # fmt: skip
    return Task(job_id=job_id, url=url, url_hash=url_hash(url), **{**defaults, **fields})


@pytest.fixture
def seeded(make_org, make_job, engine):
    """An organisation with a job in every status, the completed one with tasks of every kind of issue."""
    org = make_org("Fuzzed org")
    now = utcnow()
    jobs = {
        "created": make_job(org, status="created"),
        "running": make_job(org, status="running", started_at=now, scrapyd_node="http://scrapyd.invalid"),
        "completed": make_job(org, status="completed", started_at=now, completed_at=now, total_tasks=6,
                              completed_tasks=3, failed_tasks=2, skipped_tasks=1),  # fmt: skip
        "failed": make_job(org, status="failed", started_at=now, completed_at=now, error="The crawl stopped early"),
        # As the API and the crawler leave it: a cancelled job always has its cancelled_at.
        "cancelled": make_job(org, status="cancelled", started_at=now, cancelled_at=now),
    }
    done = jobs["completed"]
    with Session(engine) as session, session.begin():
        session.add_all([
            _task(done, "https://example.com/", found_via="start", depth=0, referrer=None),
            _task(done, "https://example.com/missing", status="failed", http_status=404, is_broken=True, error="HTTP 404"),
            _task(done, "https://example.com/slow", response_time_ms=5000, is_slow=True, cache_status=None),
            _task(done, "https://example.com/hop", redirect_hops=2, final_url="https://example.com/end",
                  redirect_chain=[{"url": "https://example.com/hop", "status": 301},
                                  {"url": "https://example.com/mid", "status": 302}]),  # fmt: skip
            _task(done, "https://example.com/boom", status="failed", http_status=500, is_server_error=True),
            _task(done, "https://example.com/sitemap.xml", kind="sitemap", found_via="sitemap", content_type="application/xml"),
        ])
        missing_hash = url_hash("https://example.com/missing")
        session.add(BrokenLinkReferrer(job_id=done, target_url_hash=missing_hash, referrer="https://example.com/"))
    SEEDED_JOB_IDS[:] = list(jobs.values())
    yield org
    SEEDED_JOB_IDS.clear()


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_with_a_valid_token(case, app, seeded):
    response = case.call(app=app, headers=seeded.headers)
    case.validate_response(response, checks=CHECKS)
    sent = response.request.headers.get("Authorization")
    # schemathesis also sends negative cases without (or with a mangled) Authorization header: only a
    # request that carried our token must get past authentication.
    if sent == seeded.headers["Authorization"]:
        assert response.status_code != 401, response.text


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_without_a_token(case, app):
    case.headers = {key: value for key, value in (case.headers or {}).items() if key.lower() != "authorization"}
    response = case.call(app=app)
    case.validate_response(response, checks=CHECKS)
    # schemathesis also probes methods the path does not have; routing answers those with 405 first.
    if case.path.startswith("/v1/") and response.request.method.upper() == case.operation.method.upper():
        expected = {(401, "unauthorized")}
        if any("/" in unquote(str(value)) for value in (case.path_parameters or {}).values()):
            # An id with a slash is not one path segment: no route matches, 404 before any auth.
            expected.add((404, "not_found"))
        assert (response.status_code, response.json()["error"]["code"]) in expected, response.text


def served_operations() -> set[tuple[str, str]]:
    """(METHOD, path) of every operation the served OpenAPI document describes."""
    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://"})
    document = app.test_client().get("/v1/openapi.json").get_json()
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item if method in methods}


def test_the_fuzzing_covers_every_operation_and_the_docs_say_how_many():
    """Both tests above are parametrized with one case per operation schemathesis read from the
    document: every operation the API serves is fuzzed, and docs/reliability.md states their number."""
    operations = served_operations()
    fuzzed = {(result.ok().method.upper(), result.ok().path) for result in schema.get_all_operations()}
    assert fuzzed == operations
    assert len(operations) > 20  # jobs, schedules, triggers, webhooks, hooks, healthz
    reliability = (PROJECT_ROOT / "docs" / "reliability.md").read_text()
    claimed = [int(number) for number in re.findall(r"all (\d+) operations of `/v1/openapi.json`", reliability)]
    assert claimed == [len(operations)], f"docs/reliability.md says {claimed}; the document has {len(operations)}"
