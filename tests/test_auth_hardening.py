"""Token hardening: hashed at rest, compared in constant time, never logged, revoked at once, rate
limited per token, and guessing limited per client address, the counts shared by every API worker
(tests/integration/test_rate_limits_shared.py runs two gunicorn workers); 401s carry a Bearer challenge. SPEC: "Auth and tenancy [core]", "Errors [core]" (429).
Issue "Reliability and security", item 8.

Already covered in tests/test_api_auth.py, not repeated here: a revoked token is 401 on the very
next request through the same app (test_revoked_token_is_401_on_the_very_next_request), other
organisations keep working after a revoke, and no api_tokens column holds the token in clear
(test_token_is_not_stored_in_clear).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading

import pytest
import redis
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from control_api import create_app, rate_limits
from control_api.organisations import tokens
from control_api.errors import ApiError
from db.engine import make_engine
from db.models import ApiToken, Organisation
from tests.helpers import assert_error, make_test_app

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
REDIS_URL = "redis://127.0.0.1:6379/15"  # the suite's own Redis database, flushed by the tests that use it


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- stored hashed ------------------------------------------------------------------------------


def test_token_row_holds_only_the_sha256_of_the_token(runner, engine):
    token = runner.invoke(args=["create-org", "Acme"]).output.strip().splitlines()[-1]

    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT * FROM api_tokens WHERE token_hash = :h"), {"h": hashlib.sha256(token.encode()).hexdigest()}
        ).mappings().all()  # fmt: skip
    assert len(rows) == 1
    row = rows[0]
    assert SHA256_HEX.match(row["token_hash"])
    # Apart from the hash, only the short display prefix ("cs_" and 7 characters) is derived from it;
    # the secret rest of the token is nowhere in the row.
    secret = token[len(row["prefix"]):]
    assert len(secret) >= 36
    for name, value in row.items():
        assert token not in str(value), name
        assert secret not in str(value), name
        assert token[3:] not in str(value), name
    assert len(row["prefix"]) <= 10 and token.startswith(row["prefix"])


def test_every_token_hash_in_the_table_is_64_hex(make_org, engine):
    make_org("One")
    make_org("Two")

    with engine.connect() as connection:
        hashes = connection.execute(text("SELECT token_hash FROM api_tokens")).scalars().all()
    assert hashes
    assert all(SHA256_HEX.match(value) for value in hashes)


# --- constant-time comparison -------------------------------------------------------------------


def test_find_active_token_compares_with_hmac_compare_digest(client, org, monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)

    assert client.get("/v1/jobs", headers=org.headers).status_code == 200

    digest = hashlib.sha256(org.token.encode()).hexdigest()
    assert calls == [(digest, digest)]


def test_compare_digest_decides_the_outcome(client, org, monkeypatch):
    # If the constant-time comparison says no, the token is refused: it is not decoration.
    monkeypatch.setattr(tokens.hmac, "compare_digest", lambda a, b: False)

    assert_error(client.get("/v1/jobs", headers=org.headers), 401, "unauthorized")


# --- never logged -------------------------------------------------------------------------------


@pytest.fixture
def all_logs(caplog):
    """Every logger, ours and third-party (SQLAlchemy's SQL echo included), at DEBUG."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def logged_text(caplog) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(repr(record.__dict__))
    return caplog.text + "\n".join(parts)


def test_token_never_appears_in_any_log_line(app, runner, all_logs, engine):
    app.logger.setLevel(logging.DEBUG)
    created = runner.invoke(args=["create-org", "Logged org"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    client = app.test_client()

    assert client.get("/v1/jobs", headers=bearer(token)).status_code == 200
    job = client.post("/v1/jobs", json={"domain": "example.com"}, headers=bearer(token)).get_json()
    assert client.get(f"/v1/jobs/{job['id']}", headers=bearer(token)).status_code == 200
    assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=bearer(token)).status_code == 200
    assert client.get("/v1/jobs?limit=0", headers=bearer(token)).status_code == 400
    near_miss = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get("/v1/jobs", headers=bearer(near_miss)).status_code == 401
    assert client.get("/v1/jobs", headers={"Authorization": f"Basic {token}"}).status_code == 401
    assert client.get("/v1/jobs", headers={"Authorization": f"Bearer {token} extra"}).status_code == 401
    revoked = runner.invoke(args=["revoke-token", token])
    assert revoked.exit_code == 0, revoked.output
    assert client.get("/v1/jobs", headers=bearer(token)).status_code == 401

    logs = logged_text(all_logs)
    # The capture is thorough: SQLAlchemy's statements and parameters are in it, the hash included.
    assert hashlib.sha256(token.encode()).hexdigest() in logs, "SQL logging was not captured: the check would prove little"
    secret = token[len(tokens.TOKEN_PREFIX):]
    for value in (token, secret, near_miss, secret[7:]):
        assert value not in logs


def test_token_is_not_logged_when_a_request_fails_unexpectedly(app, org, all_logs, monkeypatch):
    # An unhandled error logs a traceback: the Authorization header must not be in it.
    def boom(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr("control_api.jobs.service.list_jobs", boom)

    response = app.test_client().get("/v1/jobs", headers=org.headers)

    assert response.status_code == 500
    assert org.token not in response.get_data(as_text=True)
    assert "unhandled error" in all_logs.text
    assert org.token not in logged_text(all_logs)


def test_token_is_not_echoed_in_error_responses(client, org):
    for headers in (bearer(org.token + "x"), {"Authorization": f"Token {org.token}"}, bearer(f"{org.token} {org.token}")):
        response = client.get("/v1/jobs", headers=headers)
        assert response.status_code == 401
        assert org.token not in response.get_data(as_text=True)


# --- revocation ---------------------------------------------------------------------------------


def test_token_revoked_by_another_process_fails_on_the_next_request(client, org, engine):
    # The CLI runs in its own process: nothing in the API may cache a token as valid.
    assert client.get("/v1/jobs", headers=org.headers).status_code == 200

    with Session(engine) as session, session.begin():
        assert tokens.revoke_token(session, org.token)

    assert_error(client.get("/v1/jobs", headers=org.headers), 401, "unauthorized")


def test_revoking_twice_keeps_the_first_revocation_time(engine, org):
    with Session(engine) as session, session.begin():
        tokens.revoke_token(session, org.token)
    with Session(engine) as session:
        first = session.scalars(select(ApiToken.revoked_at).where(ApiToken.organisation_id == org.id)).one()
    with Session(engine) as session, session.begin():
        assert tokens.revoke_token(session, org.token)
    with Session(engine) as session:
        assert session.scalars(select(ApiToken.revoked_at).where(ApiToken.organisation_id == org.id)).one() == first


# --- 401 answers carry a Bearer challenge (RFC 6750) --------------------------------------------


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, 'Bearer realm="crawl-service"'),  # no credentials sent: no error code
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 'Bearer realm="crawl-service", error="invalid_request"'),
        ({"Authorization": "Bearer"}, 'Bearer realm="crawl-service", error="invalid_request"'),
        ({"Authorization": "Bearer cs_a cs_b"}, 'Bearer realm="crawl-service", error="invalid_request"'),
        (bearer("cs_unknown"), 'Bearer realm="crawl-service", error="invalid_token"'),
    ],
    ids=["missing", "other-scheme", "no-token", "two-tokens", "unknown-token"],
)
def test_401_carries_www_authenticate_bearer(client, headers, challenge):
    response = client.get("/v1/jobs", headers=headers)

    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == challenge


def test_revoked_token_is_challenged_as_an_invalid_token_on_every_route(client, org, make_job, runner):
    job_id = make_job(org)
    assert runner.invoke(args=["revoke-token", org.token]).exit_code == 0

    for method, path in [("GET", "/v1/jobs"), ("POST", "/v1/jobs"), ("GET", f"/v1/jobs/{job_id}"),
                         ("POST", f"/v1/jobs/{job_id}/cancel"), ("DELETE", f"/v1/jobs/{job_id}"),
                         ("GET", f"/v1/jobs/{job_id}/tasks"), ("GET", f"/v1/jobs/{job_id}/issues"),
                         ("GET", f"/v1/jobs/{job_id}/export?format=csv"), ("GET", f"/v1/jobs/{job_id}/log")]:  # fmt: skip
        response = client.open(path, method=method, headers=org.headers, json={"domain": "example.com"} if method == "POST" else None)
        assert_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="crawl-service", error="invalid_token"', path


def test_answers_other_than_401_carry_no_challenge(client, org):
    assert "WWW-Authenticate" not in client.get("/v1/jobs", headers=org.headers).headers
    assert "WWW-Authenticate" not in client.get("/v1/jobs?limit=0", headers=org.headers).headers


# --- rate limit per token -----------------------------------------------------------------------


def limited(app):
    """The app, its rate limits counted from nothing (the suite's tests share one database)."""
    app.extensions["rate_limits"].storage.reset()
    return app


@pytest.fixture
def limited_app(database_url, scheduler):
    app = limited(make_test_app(database_url, scheduler, RATE_LIMIT_PER_MINUTE=3))
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def clock(request):
    """The clock the rate limits count with (shared by every API process: wall-clock seconds),
    moved by hand."""

    class Clock:
        now = 1_800_000_000.0

        def __call__(self) -> float:
            return self.now

    fake = Clock()
    for name in ("limited_app", "guarded_app"):
        if name in request.fixturenames:
            request.getfixturevalue(name).extensions["rate_limits"].storage.clock = fake
    return fake


def test_fourth_request_in_a_minute_is_429_with_an_integer_retry_after(limited_app, org):
    client = limited_app.test_client()

    statuses = [client.get("/v1/jobs", headers=org.headers).status_code for _ in range(3)]
    response = client.get("/v1/jobs", headers=org.headers)

    assert statuses == [200, 200, 200]
    assert_error(response, 429, "rate_limited")
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= 60


def test_rate_limit_counts_every_v1_route_of_the_token(limited_app, org, make_job):
    client = limited_app.test_client()
    job_id = make_job(org)

    assert client.get(f"/v1/jobs/{job_id}", headers=org.headers).status_code == 200
    assert client.get(f"/v1/jobs/{job_id}/tasks", headers=org.headers).status_code == 200
    assert client.post("/v1/jobs", json={"domain": "example.com", "allow_concurrent": True}, headers=org.headers).status_code == 201

    assert_error(client.get(f"/v1/jobs/{job_id}/issues", headers=org.headers), 429, "rate_limited")
    assert_error(client.post("/v1/jobs", json={"domain": "example.com"}, headers=org.headers), 429, "rate_limited")


def test_rate_limited_create_creates_and_schedules_nothing(limited_app, org, scheduler, engine):
    client = limited_app.test_client()
    for _ in range(3):
        client.post("/v1/jobs", json={"domain": "example.com", "allow_concurrent": True}, headers=org.headers)

    assert client.post("/v1/jobs", json={"domain": "example.com"}, headers=org.headers).status_code == 429

    assert len(scheduler.scheduled) == 3
    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM jobs WHERE organisation_id = :o"), {"o": org.id}).scalar()
    assert count == 3


def test_another_token_is_not_affected_by_a_limited_one(limited_app, org, make_org):
    client = limited_app.test_client()
    other = make_org("Other")
    for _ in range(4):
        client.get("/v1/jobs", headers=org.headers)
    assert client.get("/v1/jobs", headers=org.headers).status_code == 429

    assert [client.get("/v1/jobs", headers=other.headers).status_code for _ in range(3)] == [200, 200, 200]


def test_limit_is_per_token_even_within_one_organisation(limited_app, org, engine):
    with Session(engine) as session, session.begin():
        organisation = session.get(Organisation, org.id)
        second = tokens.issue_token(session, organisation)
    client = limited_app.test_client()
    for _ in range(3):
        client.get("/v1/jobs", headers=org.headers)
    assert client.get("/v1/jobs", headers=org.headers).status_code == 429

    assert client.get("/v1/jobs", headers=bearer(second)).status_code == 200


def test_retry_after_is_honest(limited_app, org, clock):
    client = limited_app.test_client()
    for _ in range(3):
        assert client.get("/v1/jobs", headers=org.headers).status_code == 200
        clock.now += 5
    limited = client.get("/v1/jobs", headers=org.headers)
    assert limited.status_code == 429
    retry_after = int(limited.headers["Retry-After"])

    clock.now += retry_after - 1.5
    assert client.get("/v1/jobs", headers=org.headers).status_code == 429  # still inside the window
    clock.now += 1.5
    assert client.get("/v1/jobs", headers=org.headers).status_code == 200  # waiting as told is enough


def test_window_slides_after_a_minute(limited_app, org, clock):
    client = limited_app.test_client()
    for _ in range(3):
        client.get("/v1/jobs", headers=org.headers)
    assert client.get("/v1/jobs", headers=org.headers).status_code == 429

    clock.now += 61

    assert [client.get("/v1/jobs", headers=org.headers).status_code for _ in range(3)] == [200, 200, 200]
    assert client.get("/v1/jobs", headers=org.headers).status_code == 429


def test_refused_requests_do_not_extend_the_wait(limited_app, org, clock):
    client = limited_app.test_client()
    for _ in range(3):
        client.get("/v1/jobs", headers=org.headers)
    for _ in range(20):  # a client hammering while limited
        clock.now += 2
        assert client.get("/v1/jobs", headers=org.headers).status_code == 429

    clock.now += 21

    assert client.get("/v1/jobs", headers=org.headers).status_code == 200


def test_public_endpoints_are_not_rate_limited(limited_app):
    client = limited_app.test_client()

    assert all(client.get("/healthz").status_code == 200 for _ in range(5))
    assert all(client.get("/v1/openapi.json").status_code == 200 for _ in range(5))


def test_unknown_token_is_401_not_429(limited_app, org):
    client = limited_app.test_client()
    for _ in range(3):
        client.get("/v1/jobs", headers=org.headers)

    assert_error(client.get("/v1/jobs", headers=bearer("cs_unknown")), 401, "unauthorized")


# --- rate limit of failed authentications per client address ------------------------------------


@pytest.fixture
def guarded_app(database_url, scheduler):
    app = limited(make_test_app(database_url, scheduler, AUTH_FAILURES_PER_MINUTE=3))
    yield app
    app.extensions["db_engine"].dispose()


def from_address(address: str, **headers: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}, "headers": headers}


def test_fourth_failed_authentication_from_an_address_is_429_even_with_a_good_token(guarded_app, org):
    client = guarded_app.test_client()
    guesses = [bearer("cs_guess1"), {"Authorization": "Basic x"}, {}]  # unknown, malformed, missing

    statuses = [client.get("/v1/jobs", **from_address("192.0.2.1", **headers)).status_code for headers in guesses]
    limited = client.get("/v1/jobs", **from_address("192.0.2.1", **bearer("cs_guess4")))

    assert statuses == [401, 401, 401]
    assert_error(limited, 429, "rate_limited")
    assert limited.headers["Retry-After"].isdigit() and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert_error(client.get("/v1/jobs", **from_address("192.0.2.1", **org.headers)), 429, "rate_limited")


def test_hundred_wrong_tokens_meet_the_default_limit_of_twenty(database_url, scheduler, monkeypatch):
    monkeypatch.delenv("AUTH_FAILURES_PER_MINUTE", raising=False)
    app = limited(create_app({"TESTING": True, "DATABASE_URL": database_url}))  # the default, not the test helper's 0
    client = app.test_client()
    try:
        statuses = [client.get("/v1/jobs", **from_address("192.0.2.1", **bearer(f"cs_guess{i}"))).status_code
                    for i in range(100)]  # fmt: skip
    finally:
        app.extensions["db_engine"].dispose()

    assert statuses == [401] * 20 + [429] * 80


def test_other_addresses_are_not_affected(guarded_app, org):
    client = guarded_app.test_client()
    for i in range(4):
        client.get("/v1/jobs", **from_address("192.0.2.1", **bearer(f"cs_guess{i}")))
    assert client.get("/v1/jobs", **from_address("192.0.2.1", **org.headers)).status_code == 429

    other = [client.get("/v1/jobs", **from_address("192.0.2.2", **org.headers)).status_code for _ in range(3)]
    assert other == [200] * 3
    assert client.get("/v1/jobs", **from_address("2001:db8::1", **org.headers)).status_code == 200
    assert_error(client.get("/v1/jobs", **from_address("192.0.2.2", **bearer("cs_guess"))), 401, "unauthorized")


def test_x_forwarded_for_does_not_change_the_counted_address(guarded_app, org):
    # The header is the client's to write: a guesser must not get a fresh allowance per value.
    client = guarded_app.test_client()
    for i in range(3):
        guess = from_address("192.0.2.1", **bearer(f"cs_guess{i}"), **{"X-Forwarded-For": f"203.0.113.{i}"})
        client.get("/v1/jobs", **guess)

    forwarded = from_address("192.0.2.1", **org.headers, **{"X-Forwarded-For": "203.0.113.99"})
    assert_error(client.get("/v1/jobs", **forwarded), 429, "rate_limited")


def test_successful_and_refused_requests_are_not_counted_as_failures(guarded_app, org, clock):
    client = guarded_app.test_client()
    assert all(client.get("/v1/jobs", **from_address("192.0.2.1", **org.headers)).status_code == 200 for _ in range(10))
    guesses = [client.get("/v1/jobs", **from_address("192.0.2.1", **bearer("cs_guess"))).status_code for _ in range(4)]
    assert guesses == [401, 401, 401, 429]
    for _ in range(20):  # hammering while locked out does not extend the lock-out
        clock.now += 2
        assert client.get("/v1/jobs", **from_address("192.0.2.1", **bearer("cs_guess"))).status_code == 429

    clock.now += 21

    assert client.get("/v1/jobs", **from_address("192.0.2.1", **org.headers)).status_code == 200


def test_address_is_let_in_again_after_the_retry_after_it_was_given(guarded_app, org, clock):
    client = guarded_app.test_client()
    for i in range(3):
        client.get("/v1/jobs", **from_address("192.0.2.1", **bearer(f"cs_guess{i}")))
        clock.now += 5
    limited = client.get("/v1/jobs", **from_address("192.0.2.1", **org.headers))
    assert limited.status_code == 429
    retry_after = int(limited.headers["Retry-After"])

    clock.now += retry_after - 1.5
    assert client.get("/v1/jobs", **from_address("192.0.2.1", **org.headers)).status_code == 429
    clock.now += 1.5
    assert client.get("/v1/jobs", **from_address("192.0.2.1", **org.headers)).status_code == 200


def test_addresses_idle_for_a_minute_are_forgotten(guarded_app, clock, engine):
    # One row per failure of every address that ever failed would let a scan from many addresses
    # fill the table: what is older than a minute is swept (at the latest a minute later).
    limits = guarded_app.extensions["rate_limits"]
    for i in range(1000):
        limits.hit("auth-failure", f"192.0.2.{i}", 3, "failed authentications")
        clock.now += 0.5

    with engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM rate_limit_hits")).scalar()
    assert rows <= 241  # at most the last two minutes' addresses (240), and the one just counted
    limits.hit("auth-failure", "192.0.2.999", 3, "failed authentications")
    limits.hit("auth-failure", "192.0.2.999", 3, "failed authentications")  # its third failure within the minute: sweeping kept the first
    with pytest.raises(ApiError) as refused:
        limits.check("auth-failure", "192.0.2.999", 3, "failed authentications")
    assert refused.value.status == 429


# --- the counts are shared ----------------------------------------------------------------------


def test_two_apps_on_one_database_share_one_count(limited_app, database_url, scheduler, org):
    # As two gunicorn workers are: tests/integration/test_rate_limits_shared.py runs the real thing.
    other_worker = make_test_app(database_url, scheduler, RATE_LIMIT_PER_MINUTE=3)
    try:
        first, second = limited_app.test_client(), other_worker.test_client()
        statuses = [client.get("/v1/jobs", headers=org.headers).status_code for client in (first, second, first, second)]
    finally:
        other_worker.extensions["db_engine"].dispose()

    assert statuses == [200, 200, 200, 429]


def test_concurrent_requests_never_take_more_than_the_limit(database_url):
    # The count and the insert are one locked step: many threads at once take exactly the limit.
    engine = make_engine(database_url)
    storage = rate_limits.DatabaseStorage(engine)
    storage.reset()
    limiter = rate_limits.RateLimits(storage)
    granted = []

    def take() -> None:
        try:
            limiter.hit("token", "concurrent", 25, "requests a minute")
            granted.append(1)
        except ApiError as refused:
            assert refused.status == 429

    try:
        threads = [threading.Thread(target=take) for _ in range(60)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        engine.dispose()

    assert len(granted) == 25


def test_redis_url_counts_in_redis(database_url, scheduler, org):
    client_redis = redis.Redis.from_url(REDIS_URL)
    client_redis.flushdb()
    app = make_test_app(database_url, scheduler, RATE_LIMIT_PER_MINUTE=2, REDIS_URL=REDIS_URL)
    try:
        client = app.test_client()
        statuses = [client.get("/v1/jobs", headers=org.headers).status_code for _ in range(3)]
        keys = [key.decode() for key in client_redis.keys("*")]
    finally:
        app.extensions["db_engine"].dispose()
        client_redis.flushdb()

    assert statuses == [200, 200, 429]
    assert keys and all("crawl-service/token/" in key for key in keys), keys


def test_redis_down_is_503_not_unlimited(database_url, scheduler, org):
    app = make_test_app(database_url, scheduler, RATE_LIMIT_PER_MINUTE=2, REDIS_URL="redis://127.0.0.1:9/0")
    try:
        response = app.test_client().get("/v1/jobs", headers=org.headers)
    finally:
        app.extensions["db_engine"].dispose()

    assert_error(response, 503, "rate_limiter_unavailable")
