"""The dashboard at /app and the API docs at /docs, through Flask's test client with the fake
scheduler: sign-in and the session cookie, CSRF, organisation scoping, the form that starts a job,
the list's filters, cancel, the charts' counts and the signing key. The same pages in a real
browser against a real crawl: tests/integration/test_dashboard_browser.py.
SPEC: "Dashboard: the same service in a browser"; `GET /docs`."""
from __future__ import annotations

import re
import stat
import uuid
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from contract.options import JobOptions
from control_api.jobs.results import service as results_service
from control_api.credentials import ensure_secret_key
from control_api.dashboard.charts import RESPONSE_TIME_BOUNDS
from control_api.organisations.tokens import revoke_token
from control_api.dashboard import live
from db.models import Job, Task, utcnow
from tests.helpers import make_test_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/app/sign-in") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    return CSRF.search(response.get_data(as_text=True)).group(1)


def sign_in(client, org) -> str:
    """Sign `client` in as `org`; returns the CSRF token of its new session."""
    response = client.post("/app/sign-in", data={"token": org.token, "csrf_token": csrf_token(client)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return csrf_token(client, "/app/jobs/new")


def session_cookie(response) -> str:
    cookies = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("crawl_session=")]
    assert len(cookies) == 1, response.headers
    return cookies[0]


def field_error(response, name: str) -> str:
    match = re.search(rf'id="{name}-error">([^<]+)<', response.get_data(as_text=True))
    assert match, f"no error shown for {name}"
    return match.group(1)


@pytest.fixture
def client(database_url, scheduler):
    """A client of an app of its own: not the `app` fixture, for which pytest-flask keeps one
    request context open through the test, so every request would share one `g` (and Flask-WTF
    keeps the CSRF token it made in `g`, which a real server never shares between requests)."""
    app = make_test_app(database_url, scheduler)
    yield app.test_client()
    app.extensions["db_engine"].dispose()


def test_a_signed_out_visitor_is_sent_to_sign_in_and_back_to_the_page_asked_for(client, org):
    response = client.get("/app/jobs?status=running")
    assert response.status_code == 302
    assert response.headers["Location"] == "/app/sign-in?next=/app/jobs?status%3Drunning"
    form = client.get(response.headers["Location"]).get_data(as_text=True)
    token = CSRF.search(form).group(1)
    signed_in = client.post("/app/sign-in?next=/app/jobs?status%3Drunning", data={"token": org.token, "csrf_token": token})
    assert signed_in.headers["Location"] == "/app/jobs?status=running"
    assert client.get("/app/jobs?status=running").status_code == 200
    assert client.get("/app/jobs/00000000-0000-0000-0000-000000000000/progress").status_code == 404


def test_sign_in_refuses_an_unknown_token_and_never_redirects_off_site(client, org):
    refused = client.post("/app/sign-in", data={"token": "cs_wrong", "csrf_token": csrf_token(client)})
    assert refused.status_code == 401
    assert "unknown or has been revoked" in refused.get_data(as_text=True)
    assert client.get("/app/jobs").status_code == 302
    for target in ("https://evil.example/", "//evil.example/app/", "/v1/jobs", "/app/\\evil"):
        response = client.post(f"/app/sign-in?next={quote(target, safe='')}", data={"token": org.token, "csrf_token": csrf_token(client)})
        assert response.headers["Location"] == "/app/jobs", target


def test_the_session_cookie_is_httponly_samesite_lax_and_holds_no_token(client, org):
    response = client.post("/app/sign-in", data={"token": org.token, "csrf_token": csrf_token(client)})
    cookie = session_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/app" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert org.token not in cookie and org.token[10:30] not in cookie


def test_the_cookie_is_secure_over_https_and_forwarded_proto_counts_only_behind_a_proxy(database_url, scheduler, org):
    def cookie_after_sign_in(app, base_url: str, headers: dict) -> str:
        client = app.test_client()
        token = CSRF.search(client.get("/app/sign-in", base_url=base_url, headers=headers).get_data(as_text=True)).group(1)
        response = client.post("/app/sign-in", data={"token": org.token, "csrf_token": token}, base_url=base_url,
                               headers={**headers, "Referer": base_url.replace("http://", "https://") + "/app/sign-in"})  # fmt: skip
        return session_cookie(response)

    direct = make_test_app(database_url, scheduler)
    proxied = make_test_app(database_url, scheduler, BEHIND_PROXY=True)
    forwarded = {"X-Forwarded-Proto": "https"}
    try:
        assert "Secure" in cookie_after_sign_in(direct, "https://localhost", {})
        assert "Secure" not in cookie_after_sign_in(direct, "http://localhost", forwarded)  # anyone can send the header
        assert "Secure" in cookie_after_sign_in(proxied, "http://localhost", forwarded)
        assert "Secure" not in cookie_after_sign_in(proxied, "http://localhost", {})
    finally:
        direct.extensions["db_engine"].dispose()
        proxied.extensions["db_engine"].dispose()


def test_a_revoked_token_signs_its_sessions_out(client, org, engine):
    sign_in(client, org)
    assert client.get("/app/jobs").status_code == 200
    with Session(engine) as session, session.begin():
        assert revoke_token(session, org.token)
    assert client.get("/app/jobs").headers["Location"].startswith("/app/sign-in")


def test_every_dashboard_post_needs_the_csrf_token_and_the_api_none(client, org, make_job):
    job_id = make_job(org, status="running")
    sign_in(client, org)
    for path, form in (("/app/jobs/new", {"domain": "example.com"}), (f"/app/jobs/{job_id}/cancel", {}),
                       ("/app/sign-out", {}), ("/app/jobs/new", {"domain": "example.com", "csrf_token": "forged"})):  # fmt: skip
        response = client.post(path, data=form)
        assert response.status_code == 400, path
        assert response.mimetype == "text/html" and "CSRF" in response.get_data(as_text=True)
    assert client.get("/app/jobs").status_code == 200  # still signed in
    assert client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()["status"] == "running"  # not cancelled
    # /v1 is authenticated by bearer tokens, which a browser never sends by itself: no CSRF token there.
    created = client.post("/v1/jobs", json={"domain": "example.org"}, headers=org.headers)
    assert created.status_code == 201
    signed_out = client.post("/app/sign-in", data={"token": org.token})
    assert signed_out.status_code == 400  # sign-in too: nobody can be signed in to someone else's account


def test_the_form_starts_a_job_as_the_dashboard_with_the_options_typed(client, org, scheduler, engine):
    token = sign_in(client, org)
    response = client.post("/app/jobs/new", data={"domain": "https://Example.com/start", "max_pages": "50",
                                                  "concurrency": "4", "find_links": "1", "csrf_token": token})  # fmt: skip
    assert response.status_code == 302
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    assert [scheduled[0] for scheduled in scheduler.scheduled] == [job_id]
    job = client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
    assert job["domain"] == "example.com" and job["source_type"] == "dashboard" and job["source_detail"] == "create_job"
    assert job["options"] == {**JobOptions().model_dump(), "use_sitemap": False, "find_links": True,
                              "allow_cross_subdomain_links": False, "max_pages": 50, "concurrency": 4,
                              "slow_page_threshold_ms": 3000, "check_resources": False,
                              "check_external_links": False}  # an unticked box is off  # fmt: skip
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Crawl of example.com started." in page and 'data-poll-url="/app/jobs/' in page


def test_form_errors_are_shown_next_to_their_fields_with_the_apis_rules(client, org, scheduler):
    token = sign_in(client, org)
    response = client.post("/app/jobs/new", data={"domain": "example.com", "max_pages": "-1", "concurrency": "many",
                                                  "csrf_token": token})  # fmt: skip
    assert response.status_code == 400
    assert field_error(response, "concurrency") == "Must be a whole number"
    response = client.post("/app/jobs/new", data={"domain": "example.com", "max_pages": "-1", "concurrency": "101",
                                                  "csrf_token": token})  # fmt: skip
    assert field_error(response, "max_pages") == "Input should be greater than or equal to 0"
    assert field_error(response, "concurrency") == "Input should be less than or equal to 100"
    assert 'value="-1"' in response.get_data(as_text=True)  # what was typed stays in the field
    response = client.post("/app/jobs/new", data={"domain": "not a domain", "csrf_token": token})
    api = client.post("/v1/jobs", json={"domain": "not a domain"}, headers=org.headers).get_json()["error"]["message"]
    assert response.status_code == 400 and field_error(response, "domain") == "M" + api.removeprefix("Field 'domain': m")
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert scheduler.scheduled == []


def test_a_second_crawl_of_a_busy_domain_is_refused_on_its_field_unless_allowed(client, org, make_job):
    running = make_job(org, domain="busy.example", status="running")
    token = sign_in(client, org)
    response = client.post("/app/jobs/new", data={"domain": "busy.example", "csrf_token": token})
    assert response.status_code == 409
    assert running in field_error(response, "domain") and "Start even if" in field_error(response, "domain")
    allowed = client.post("/app/jobs/new", data={"domain": "busy.example", "allow_concurrent": "1", "csrf_token": token})
    assert allowed.status_code == 302


def test_a_scheduler_that_is_down_is_said_on_the_form(client, org, scheduler):
    token = sign_in(client, org)
    scheduler.fail_with = "connection refused"
    response = client.post("/app/jobs/new", data={"domain": "example.com", "csrf_token": token})
    assert response.status_code == 503
    assert "could not be scheduled" in response.get_data(as_text=True)


def test_another_organisations_job_is_not_found_on_any_page(client, org, make_org, make_job):
    foreign = make_job(make_org("Other"), status="running")
    token = sign_in(client, org)
    for path in (f"/app/jobs/{foreign}", f"/app/jobs/{foreign}/progress", f"/app/jobs/{foreign}/export.csv"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert foreign not in response.get_data(as_text=True).replace(f"/app/jobs/{foreign}", "")
    assert client.post(f"/app/jobs/{foreign}/cancel", data={"csrf_token": token}).status_code == 404
    assert foreign not in client.get("/app/jobs").get_data(as_text=True)


def test_the_jobs_list_filters_by_status_and_local_day_and_pages(client, org, make_job):
    now = utcnow()
    failed = make_job(org, status="failed", created_at=now - timedelta(minutes=5))
    yesterday = make_job(org, status="completed", created_at=now - timedelta(days=1, hours=1))
    recent = [make_job(org, status="completed", created_at=now - timedelta(seconds=n)) for n in range(21)]
    sign_in(client, org)

    def listed(query: str) -> list[str]:
        response = client.get(f"/app/jobs?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return re.findall(r'data-job-id="([^"]+)"', response.get_data(as_text=True))

    assert listed("status=failed") == [failed]
    assert len(listed("")) == 20 and yesterday not in listed("") and set(listed("page=2")) == {recent[-1], failed, yesterday}
    assert 'href="/app/jobs?status=completed&amp;page=2"' in client.get("/app/jobs?status=completed").get_data(as_text=True)
    assert yesterday not in listed("status=completed&range=24h&page=2")
    # Same semantics as GET /v1/jobs (jobs_service.list_jobs): the tzOffset the browser sends decides the day.
    api = client.get("/v1/jobs?status=completed&range=today&tzOffset=-840&limit=100", headers=org.headers).get_json()
    dashboard = listed("status=completed&range=today&tzOffset=-840") + listed("status=completed&range=today&tzOffset=-840&page=2")
    assert dashboard == [job["id"] for job in api["jobs"]] and set(recent) <= set(dashboard)
    refused = client.get("/app/jobs?range=fortnight")
    assert refused.status_code == 400 and "range" in refused.get_data(as_text=True)


def test_cancel_from_the_job_page_and_a_finished_job_says_why_not(client, org, make_job, scheduler):
    running = make_job(org, status="running", scrapyd_node="http://scrapyd.invalid")
    completed = make_job(org, status="completed")
    token = sign_in(client, org)
    response = client.post(f"/app/jobs/{running}/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert "The job is cancelled" in response.get_data(as_text=True)
    assert scheduler.cancelled == [running]
    assert client.get(f"/app/jobs/{running}/progress").get_json()["status"] == "cancelled"
    response = client.post(f"/app/jobs/{completed}/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert "already completed" in response.get_data(as_text=True)


def test_a_cancelled_jobs_page_and_the_list_show_done_of_found_not_a_full_bar(client, org, make_job):
    cancelled = make_job(org, status="cancelled", total_tasks=1170, completed_tasks=112, source_type="dashboard",
                         source_detail="create_job")
    completed = make_job(org, status="completed", total_tasks=4, completed_tasks=3, failed_tasks=1)
    sign_in(client, org)
    page = client.get(f"/app/jobs/{cancelled}").get_data(as_text=True)
    assert 'value="9.5"' in page and ">9.5 %</span>" in page
    assert '<span data-field="done_tasks">112</span> of' in page and "Cancelled before 1058 of the URLs found" in page
    assert re.search(r"data-field=\"source\"[^>]*>Started from the dashboard</dd>", page)
    assert client.get(f"/app/jobs/{cancelled}/progress").get_json()["progress"]["percentage"] == 100.0  # the API's rule
    listing = client.get("/app/jobs").get_data(as_text=True)
    shown = dict(re.findall(r'data-job-id="([^"]+)">.*?data-field="percentage">([^<]+)<', listing, re.S))
    assert shown == {cancelled: "9.5 %", completed: "100.0 %"}


def test_the_job_page_shows_progress_stats_and_the_charts_counts(client, org, make_job, engine):
    job_id = make_job(org, status="running", total_tasks=10, completed_tasks=4, failed_tasks=1, timed_pages=5,
                      response_time_ms_sum=5000)  # fmt: skip
    times = [50, 99, 100, 700, 2999, 3000, None]
    statuses = [("completed", 200), ("completed", 200), ("completed", 301), ("failed", 404), ("failed", 503),
                ("completed", 200), ("skipped", None)]  # fmt: skip
    with Session(engine) as session, session.begin():
        for n, (time_ms, (status, http_status)) in enumerate(zip(times, statuses)):
            session.add(Task(job_id=job_id, url=f"http://example.com/{n}", url_hash=uuid.uuid4().hex[:16], found_via="link",
                             status=status, http_status=http_status, response_time_ms=time_ms))  # fmt: skip
        session.add(Task(job_id=job_id, url="http://example.com/sitemap.xml", url_hash=uuid.uuid4().hex[:16],
                         found_via="default", kind="sitemap", status="completed", http_status=200, response_time_ms=5))  # fmt: skip
    with Session(engine) as session:
        assert results_service.response_time_histogram(session, job_id, RESPONSE_TIME_BOUNDS) == [2, 1, 0, 1, 0, 1, 1]
        assert results_service.status_breakdown(session, job_id) == {
            "2xx": 3, "3xx": 1, "4xx": 1, "5xx": 1, "no response": 0, "skipped": 1}  # sitemaps are not pages
    sign_in(client, org)
    page = client.get(f"/app/jobs/{job_id}").get_data(as_text=True)
    assert 'value="50.0"' in page and "1000 ms" in page
    assert "2xx: 3; 3xx: 1; 4xx: 1; 5xx: 1; no response: 0; skipped: 1" in page
    assert "under 100 ms: 2; 100–249 ms: 1" in page
    progress = client.get(f"/app/jobs/{job_id}/progress").get_json()
    assert progress["progress"]["percentage"] == 50.0 and progress["status"] == "running"
    # The page's figures ride on the same poll, as the page writes them; the rows' only when asked.
    assert progress["figures"]["fields"]["avg_response_time"] == "1000 ms" and "charts" not in progress["figures"]
    assert 'data-field="avg_response_time">1000 ms<' in page
    with_rows = client.get(f"/app/jobs/{job_id}/progress?figures=1").get_json()["figures"]
    assert with_rows["charts"]["status-chart"] == {
        "total": 7, "bars": {"2xx": 3, "3xx": 1, "4xx": 1, "5xx": 1, "no response": 0, "skipped": 1}}
    assert with_rows["charts"]["time-chart"]["bars"]["under 100 ms"] == 2
    with Session(engine) as session:
        report = results_service.issues_report(session, session.get(Job, job_id))["counts"]
    assert with_rows["issue_counts"] == {kind: report[kind] for kind in live.ISSUE_KINDS}
    export = client.get(f"/app/jobs/{job_id}/export.jsonl")
    assert export.status_code == 200 and export.get_data(as_text=True).count("\n") == 8
    assert export.headers["Content-Disposition"] == f'attachment; filename="job-{job_id}.jsonl"'


def test_pages_forbid_inline_scripts_and_shared_caching(client, org):
    sign_in(client, org)
    response = client.get("/app/jobs")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script>" not in response.get_data(as_text=True)


def test_sign_out_ends_the_session(client, org):
    token = sign_in(client, org)
    response = client.post("/app/sign-out", data={"csrf_token": token}, follow_redirects=True)
    assert "You are signed out." in response.get_data(as_text=True)
    assert client.get("/app/jobs").status_code == 302


def test_sign_out_ends_the_session_on_the_server_for_every_copy_of_its_cookie(database_url, scheduler, org):
    """SPEC: "Signing out of the dashboard ends that session on the server". A copy of the cookie
    taken before the sign-out (a shared computer, a stolen cookie) opens no page and sends no form
    after it; another session of the same token keeps working."""
    app = make_test_app(database_url, scheduler)
    try:
        browser, thief, other_browser = app.test_client(), app.test_client(), app.test_client()
        csrf = sign_in(browser, org)
        sign_in(other_browser, org)
        stolen = browser.get_cookie("crawl_session", path="/app")
        thief.set_cookie("crawl_session", stolen.value, path="/app")
        assert thief.get("/app/jobs").status_code == 200  # the copy works while the session lives

        browser.post("/app/sign-out", data={"csrf_token": csrf})
        thief.set_cookie("crawl_session", stolen.value, path="/app")  # replayed after the sign-out
        page = thief.get("/app/jobs")
        assert page.status_code == 302 and page.headers["Location"].startswith("/app/sign-in")
        thief.set_cookie("crawl_session", stolen.value, path="/app")
        form = thief.post("/app/jobs/new", data={"domain": "replayed.example", "csrf_token": csrf})
        assert form.status_code == 302 and form.headers["Location"].startswith("/app/sign-in")
        thief.set_cookie("crawl_session", stolen.value, path="/app")
        assert thief.get(f"/app/jobs/{uuid.uuid4()}/progress").status_code == 401
        with Session(app.extensions["db_engine"]) as session:
            assert session.scalars(select(Job).where(Job.organisation_id == org.id)).all() == []

        assert other_browser.get("/app/jobs").status_code == 200  # the same token's other session
        other_csrf = csrf_token(other_browser, "/app/jobs/new")
        created = other_browser.post("/app/jobs/new", data={"domain": "still-signed-in.example", "csrf_token": other_csrf})
        assert created.status_code == 302 and "/app/jobs/" in created.headers["Location"]
    finally:
        app.extensions["db_engine"].dispose()


def test_the_api_docs_are_swagger_ui_served_from_our_own_assets(client):
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert 'data-openapi-url="/v1/openapi.json"' in page
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page)
    assert any("swagger-ui-bundle.js" in asset for asset in assets)
    for asset in assets:
        assert asset.startswith("/"), asset  # ours, not a CDN's
        with client.get(asset) as served:  # a file response: closed, or its file stays open
            assert served.status_code == 200, asset
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_signing_key_is_generated_once_kept_private_and_shared(tmp_path, database_url):
    path = tmp_path / "var" / "secret-key"
    key = ensure_secret_key(path)
    assert len(key) >= 40 and ensure_secret_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    app = make_test_app(database_url, SECRET_KEY=None, SECRET_KEY_FILE=path)
    try:
        assert app.secret_key == key
    finally:
        app.extensions["db_engine"].dispose()


def test_failed_sign_ins_count_against_the_apis_per_address_limit(database_url, scheduler, org):
    app = make_test_app(database_url, scheduler, AUTH_FAILURES_PER_MINUTE=2)
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"  # its own count, whatever ran before
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    try:
        statuses = [client.post("/app/sign-in", data={"token": "cs_guess", "csrf_token": csrf_token(client)}).status_code
                    for _ in range(3)]  # fmt: skip
        assert statuses == [401, 401, 429]
        limited = client.post("/app/sign-in", data={"token": org.token, "csrf_token": csrf_token(client)})
        assert limited.status_code == 429 and "Retry-After" in limited.headers  # even the right token, for a minute
    finally:
        app.extensions["db_engine"].dispose()


def test_a_pruned_jobs_page_says_retention_removed_its_results_and_its_downloads_are_410(client, org, make_job, engine):
    """The API answers 410 `tasks_pruned` for the rows retention deleted; the dashboard says the same
    instead of "Broken links (0) None." and an empty CSV."""
    from control_api.jobs.retention import prune
    from tests.test_retention import add_rows

    ended_long_ago = utcnow() - timedelta(days=100)
    job_id = make_job(org, status="completed", created_at=ended_long_ago, completed_at=ended_long_ago,
                      total_tasks=12, completed_tasks=12, timed_pages=12, response_time_ms_sum=1200)  # fmt: skip
    add_rows(engine, job_id, 12)
    kept = make_job(org, status="completed", completed_at=utcnow())
    add_rows(engine, kept, 3)
    assert job_id in prune(engine, days=90).job_ids
    sign_in(client, org)

    page = client.get(f"/app/jobs/{job_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f"removed by retention on {utcnow():%Y-%m-%d}" in text
    assert 'id="pruned"' in text
    assert "Broken links (" not in text and "Download CSV" not in text  # no counts of rows that are gone
    assert '12</span> URLs found' in text  # progress and stats stay
    for fmt in ("csv", "jsonl"):
        download = client.get(f"/app/jobs/{job_id}/export.{fmt}")
        assert download.status_code == 410 and download.mimetype == "text/html"
        assert "removed by retention" in download.get_data(as_text=True)
        assert "attachment" not in download.headers.get("Content-Disposition", "")
    kept_page = client.get(f"/app/jobs/{kept}").get_data(as_text=True)
    assert "Broken links (" in kept_page and 'id="pruned"' not in kept_page
    with client.get(f"/app/jobs/{kept}/export.csv") as download:
        assert download.status_code == 200 and len(download.get_data(as_text=True).splitlines()) == 4
