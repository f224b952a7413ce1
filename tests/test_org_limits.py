"""Per-organisation caps: schedules, triggers, webhooks and jobs in flight. Over a cap is 409
`limit_reached` whose message names the limit and its value, from the API, the dashboard's forms,
a trigger URL and a schedule's run; the scheduler loop skips and records a run instead. Another
organisation is not affected, and parallel creates do not slip past a cap. SPEC: "Limits that hold
against hostile sites and clients"; control_api/organisations/limits.py.
"""
from __future__ import annotations

import re
import threading
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.models import Job, Schedule
from tests.helpers import assert_error, make_test_app
from tests.test_dashboard import sign_in
from tests.test_schedules import iso, run_due_at

CAP = 2
CAPS = {"ORG_MAX_SCHEDULES": CAP, "ORG_MAX_TRIGGERS": CAP, "ORG_MAX_WEBHOOKS": CAP, "ORG_MAX_JOBS_IN_FLIGHT": CAP}


@pytest.fixture
def capped_app(database_url, scheduler):
    """Not named `app`: pytest-flask would keep a request context open through the test, and the
    dashboard's CSRF tokens live in `g` (tests/test_dashboard.py says more)."""
    app = make_test_app(database_url, scheduler, **CAPS)
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def client(capped_app):
    return capped_app.test_client()


def add(client, org, kind: str, number: int):
    """POST one schedule, trigger, webhook or job of `org`; each on its own domain."""
    domain = f"site-{number}.example"
    body = {"schedules": {"domain": domain, "interval_hours": 6}, "triggers": {"domain": domain, "name": f"t{number}"},
            "webhooks": {"url": f"http://127.0.0.1:9/{number}", "events": ["job.completed"]},
            "jobs": {"domain": domain}}[kind]  # fmt: skip
    return client.post(f"/v1/{kind}", json=body, headers=org.headers)


def assert_limit(response, setting: str, what: str) -> None:
    error = assert_error(response, 409, "limit_reached")
    assert setting in error["message"] and f"at most {CAP} {what}" in error["message"], error["message"]


@pytest.mark.parametrize("kind, setting, what", [
    ("schedules", "ORG_MAX_SCHEDULES", "schedules"),
    ("triggers", "ORG_MAX_TRIGGERS", "triggers"),
    ("webhooks", "ORG_MAX_WEBHOOKS", "webhooks"),
])  # fmt: skip
def test_one_over_the_cap_is_409_naming_it_until_one_is_deleted(client, make_org, kind, setting, what):
    org, other = make_org(f"capped {kind}"), make_org(f"not capped {kind}")
    made = [add(client, org, kind, number) for number in range(CAP)]
    assert [response.status_code for response in made] == [201] * CAP

    assert_limit(add(client, org, kind, CAP), setting, what)
    assert client.get(f"/v1/{kind}", headers=org.headers).get_json()["pagination"]["total"] == CAP
    assert add(client, other, kind, 0).status_code == 201  # another organisation has its own count

    assert client.delete(f"/v1/{kind}/{made[0].get_json()['id']}", headers=org.headers).status_code == 204
    assert add(client, org, kind, CAP).status_code == 201


def test_jobs_in_flight_are_capped_and_a_finished_or_cancelled_job_makes_room(client, make_org, engine):
    org = make_org("capped jobs")
    jobs = [add(client, org, "jobs", number).get_json()["id"] for number in range(CAP)]

    assert_limit(add(client, org, "jobs", CAP), "ORG_MAX_JOBS_IN_FLIGHT", "jobs in flight")
    assert client.post(f"/v1/jobs/{jobs[0]}/cancel", headers=org.headers).status_code == 200
    assert add(client, org, "jobs", CAP).status_code == 201
    with Session(engine) as session, session.begin():
        session.execute(update(Job).where(Job.id == jobs[1]).values(status="completed"))
    assert add(client, org, "jobs", CAP + 1).status_code == 201


def test_a_trigger_url_and_run_now_over_the_jobs_cap_are_409_and_start_nothing(client, make_org, engine):
    org = make_org("capped hooks")
    trigger = add(client, org, "triggers", 90).get_json()
    schedule = add(client, org, "schedules", 91).get_json()
    for number in range(CAP):
        assert add(client, org, "jobs", number).status_code == 201

    assert_limit(client.post(trigger["url"].removeprefix("http://localhost")), "ORG_MAX_JOBS_IN_FLIGHT", "jobs in flight")
    assert_limit(client.post(f"/v1/schedules/{schedule['id']}/run", headers=org.headers), "ORG_MAX_JOBS_IN_FLIGHT",
                 "jobs in flight")  # fmt: skip
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.organisation_id == org.id)) == CAP


def test_a_due_run_over_the_jobs_cap_is_skipped_and_recorded(capped_app, client, make_org, scheduler):
    org = make_org("capped schedule runs")
    schedule = add(client, org, "schedules", 0).get_json()
    for number in range(1, CAP + 1):
        assert add(client, org, "jobs", number).status_code == 201

    [outcome] = run_due_at(capped_app, scheduler, iso(schedule["next_run_at"]) + timedelta(seconds=1), schedule["id"])

    assert outcome.job is None and "ORG_MAX_JOBS_IN_FLIGHT" in outcome.skipped_because
    after = client.get(f"/v1/schedules/{schedule['id']}", headers=org.headers).get_json()
    assert after["skipped_runs"] == 1 and after["last_job_id"] is None
    assert iso(after["next_run_at"]) == iso(schedule["next_run_at"]) + timedelta(hours=6)  # the next on the cadence


@pytest.mark.parametrize("kind, form", [
    ("jobs", {"domain": "form.example"}),
    ("schedules", {"domain": "form.example", "interval_hours": "6"}),
    ("triggers", {"domain": "form.example", "name": "from the form"}),
    ("webhooks", {"url": "http://127.0.0.1:9/form", "events": "job.completed"}),
])  # fmt: skip
def test_the_dashboard_form_shows_the_same_message(capped_app, client, make_org, kind, form):
    org = make_org(f"capped {kind} in the dashboard")
    api = capped_app.test_client()
    for number in range(CAP):
        assert add(api, org, kind, number).status_code == 201
    message = add(api, org, kind, CAP).get_json()["error"]["message"]
    token = sign_in(client, org)

    response = client.post(f"/app/{kind}/new", data={**form, "csrf_token": token})

    assert response.status_code == 409, response.get_data(as_text=True)[-1500:]
    shown = re.search(r'<p class="field-error" role="alert">([^<]+)</p>', response.get_data(as_text=True))
    assert shown and unescape(shown.group(1)) == message


def test_parallel_creates_do_not_slip_past_the_cap(capped_app, make_org, engine):
    org = make_org("racing creates")
    statuses: list[int] = []
    start = threading.Barrier(8)

    def create(number: int) -> None:
        client = capped_app.test_client()
        start.wait()
        statuses.append(add(client, org, "schedules", number).status_code)

    threads = [threading.Thread(target=create, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] * CAP + [409] * (8 - CAP)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Schedule).where(Schedule.organisation_id == org.id)) == CAP
