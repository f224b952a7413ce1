"""/v1/schedules and the scheduler loop's runs, in process with a fake scrapyd and an injected clock
(the loop as real processes: tests/integration/test_schedule_loops.py).
SPEC: "Where jobs come from", "Schedules: recurring crawls"."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from control_api.schedules.recurring_loop import ScheduleRunner
from db.models import Job, Schedule, utcnow
from tests.helpers import assert_error, make_test_app

SCHEDULE_FIELDS = {
    "id", "domain", "domain_id", "options", "interval_hours", "cron", "timezone", "enabled", "next_run_at", "last_job_id",
    "skipped_runs", "last_skipped_at", "created_at",
}  # fmt: skip


def create(client, org, **body):
    return client.post("/v1/schedules", json={"domain": "example.com", "interval_hours": 6, **body}, headers=org.headers)


def created(client, org, **body) -> dict:
    response = create(client, org, **body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def run_due_at(app, scheduler, when: datetime, schedule_id: str) -> list:
    """One pass of the scheduler loop as if the time were `when`; what it did to this schedule."""
    with app.app_context():
        outcomes = ScheduleRunner(client=scheduler, clock=lambda: when).run_due()
    return [outcome for outcome in outcomes if outcome.schedule_id == schedule_id]


def jobs_of(client, org, schedule_id: str) -> list[dict]:
    response = client.get(f"/v1/jobs?schedule_id={schedule_id}&limit=100", headers=org.headers)
    assert response.status_code == 200
    return response.get_json()["jobs"]


def finish(engine, job_id: str) -> None:
    with Session(engine) as session, session.begin():
        session.execute(update(Job).where(Job.id == job_id).values(status="completed", completed_at=utcnow()))


def test_create_returns_the_schedule_due_one_interval_from_now(client, org):
    before = utcnow()
    body = created(client, org, domain="https://Example.com/blog", options={"max_pages": 50}, interval_hours=24)

    assert set(body) == SCHEDULE_FIELDS
    assert body["domain"] == "example.com" and isinstance(body["domain_id"], int)
    assert body["options"]["max_pages"] == 50 and body["options"]["use_sitemap"] is True
    assert body["enabled"] is True and body["last_job_id"] is None and body["skipped_runs"] == 0
    assert before + timedelta(hours=24) <= iso(body["next_run_at"]) <= utcnow() + timedelta(hours=24)
    assert body["created_at"].endswith("Z")


@pytest.mark.parametrize("interval", [0, 169, -1, "24", 1.5])
def test_interval_outside_1_to_168_hours_or_not_an_integer_is_400(client, org, interval):
    assert_error(create(client, org, interval_hours=interval), 400, None, "interval_hours")


@pytest.mark.parametrize("interval", [1, 168])
def test_interval_bounds_are_accepted(client, org, interval):
    assert created(client, org, interval_hours=interval)["interval_hours"] == interval


@pytest.mark.parametrize(
    ("body", "field"),
    [({"domain": "not a host"}, "domain"), ({"options": {"concurrency": 0}}, "options.concurrency"),
     ({"options": {"max_pages": -1}}, "options.max_pages"), ({"enabled": "yes"}, "enabled"), ({"colour": 1}, "colour")],
)  # fmt: skip
def test_domain_and_options_are_validated_as_for_a_job(client, org, body, field):
    assert_error(create(client, org, **body), 400, None, field)


def test_missing_interval_is_400(client, org):
    response = client.post("/v1/schedules", json={"domain": "example.com"}, headers=org.headers)
    assert_error(response, 400, None, "interval_hours")


def test_private_target_is_refused_with_the_guard_on(database_url, scheduler, org):
    app = make_test_app(database_url, scheduler, ALLOW_PRIVATE_TARGETS=False)
    try:
        response = create(app.test_client(), org, domain="127.0.0.1:8080")
        assert_error(response, 422, "forbidden_target", "domain")
    finally:
        app.extensions["db_engine"].dispose()


def test_list_get_patch_and_delete(client, org):
    ids = [created(client, org, domain=f"site{n}.example")["id"] for n in range(3)]

    page = client.get("/v1/schedules?limit=2", headers=org.headers).get_json()
    assert [s["id"] for s in page["schedules"]] == ids[::-1][:2]
    assert page["pagination"] == {"limit": 2, "offset": 0, "total": 3, "has_next": True}
    assert [s["id"] for s in client.get("/v1/schedules?limit=2&page=2", headers=org.headers).get_json()["schedules"]] == ids[:1]
    assert client.get(f"/v1/schedules/{ids[0]}", headers=org.headers).get_json()["domain"] == "site0.example"

    before = utcnow()
    patched = client.patch(f"/v1/schedules/{ids[0]}", json={"interval_hours": 48, "enabled": False,
                                                           "options": {"max_pages": 7}}, headers=org.headers)  # fmt: skip
    assert patched.status_code == 200
    body = patched.get_json()
    assert (body["interval_hours"], body["enabled"], body["options"]["max_pages"]) == (48, False, 7)
    assert iso(body["next_run_at"]) >= before + timedelta(hours=48)  # a new interval restarts the cadence
    assert_error(client.patch(f"/v1/schedules/{ids[0]}", json={"interval_hours": 169}, headers=org.headers), 400, None, "interval_hours")
    assert_error(client.patch(f"/v1/schedules/{ids[0]}", json={"domain": "x.example"}, headers=org.headers), 400, None, "domain")

    deleted = client.delete(f"/v1/schedules/{ids[0]}", headers=org.headers)
    assert deleted.status_code == 204 and deleted.data == b""
    assert_error(client.get(f"/v1/schedules/{ids[0]}", headers=org.headers), 404, "schedule_not_found")
    assert_error(client.delete(f"/v1/schedules/{ids[0]}", headers=org.headers), 404, "schedule_not_found")


def test_another_organisations_schedule_is_404(client, org, make_org):
    schedule_id = created(client, org)["id"]
    other = make_org("Other")

    assert_error(client.get(f"/v1/schedules/{schedule_id}", headers=other.headers), 404, "schedule_not_found")
    assert_error(client.patch(f"/v1/schedules/{schedule_id}", json={"enabled": False}, headers=other.headers), 404, "schedule_not_found")
    assert_error(client.post(f"/v1/schedules/{schedule_id}/run", headers=other.headers), 404, "schedule_not_found")
    assert_error(client.delete(f"/v1/schedules/{schedule_id}", headers=other.headers), 404, "schedule_not_found")
    assert client.get("/v1/schedules", headers=other.headers).get_json()["schedules"] == []
    assert client.get(f"/v1/schedules/{schedule_id}", headers=org.headers).status_code == 200


def test_schedules_need_the_bearer_token(client):
    assert_error(client.get("/v1/schedules"), 401, "unauthorized")


def test_run_now_starts_a_job_carrying_the_schedule(client, org, scheduler):
    schedule = created(client, org, options={"max_pages": 5})

    response = client.post(f"/v1/schedules/{schedule['id']}/run", headers=org.headers)

    assert response.status_code == 201
    job = response.get_json()
    assert (job["source_type"], job["source_detail"], job["schedule_id"]) == ("scheduler", "run_now", schedule["id"])
    assert job["status"] == "created" and job["domain"] == "example.com" and job["options"]["max_pages"] == 5
    assert [entry[0] for entry in scheduler.scheduled] == [job["id"]]  # handed to scrapyd like an API job
    assert client.get(f"/v1/schedules/{schedule['id']}", headers=org.headers).get_json()["last_job_id"] == job["id"]
    assert [j["id"] for j in jobs_of(client, org, schedule["id"])] == [job["id"]]
    # The schedule's cadence is not moved by a run started by hand.
    assert client.get(f"/v1/schedules/{schedule['id']}", headers=org.headers).get_json()["next_run_at"] == schedule["next_run_at"]


def test_run_now_while_the_previous_job_is_active_is_409(client, org):
    schedule_id = created(client, org)["id"]
    first = client.post(f"/v1/schedules/{schedule_id}/run", headers=org.headers).get_json()

    error = assert_error(client.post(f"/v1/schedules/{schedule_id}/run", headers=org.headers), 409, "job_already_running")
    assert first["id"] in error["message"]


def test_jobs_filter_by_schedule_and_api_jobs_have_none(client, org):
    schedule_id = created(client, org, domain="filtered.example")["id"]
    api_job = client.post("/v1/jobs", json={"domain": "other.example"}, headers=org.headers).get_json()
    run = client.post(f"/v1/schedules/{schedule_id}/run", headers=org.headers).get_json()

    assert api_job["schedule_id"] is None
    assert client.get(f"/v1/jobs/{api_job['id']}", headers=org.headers).get_json()["schedule_id"] is None
    assert [j["id"] for j in jobs_of(client, org, schedule_id)] == [run["id"]]
    assert jobs_of(client, org, "no-such-schedule") == []
    assert {j["id"] for j in client.get("/v1/jobs", headers=org.headers).get_json()["jobs"]} == {api_job["id"], run["id"]}


def test_a_due_run_creates_one_recurring_job(app, client, org, scheduler):
    schedule = created(client, org, interval_hours=6)
    due = iso(schedule["next_run_at"])

    assert run_due_at(app, scheduler, due - timedelta(seconds=1), schedule["id"]) == []
    [outcome] = run_due_at(app, scheduler, due + timedelta(seconds=5), schedule["id"])
    assert run_due_at(app, scheduler, due + timedelta(seconds=6), schedule["id"]) == []  # the same run: not again

    [job] = jobs_of(client, org, schedule["id"])
    assert job["id"] == outcome.job.id
    assert (job["source_type"], job["source_detail"], job["schedule_id"]) == ("scheduler", "recurring", schedule["id"])
    assert job["id"] in [entry[0] for entry in scheduler.scheduled]
    after = client.get(f"/v1/schedules/{schedule['id']}", headers=org.headers).get_json()
    assert iso(after["next_run_at"]) == due + timedelta(hours=6) and after["last_job_id"] == job["id"]


def test_runs_missed_while_down_start_one_job_and_keep_the_cadence(app, client, org, scheduler, engine):
    schedule = created(client, org, interval_hours=6)
    due = iso(schedule["next_run_at"])
    restarted_at = due + timedelta(days=3, minutes=1)  # twelve runs missed

    assert len(run_due_at(app, scheduler, restarted_at, schedule["id"])) == 1
    assert run_due_at(app, scheduler, restarted_at, schedule["id"]) == []

    assert len(jobs_of(client, org, schedule["id"])) == 1
    after = client.get(f"/v1/schedules/{schedule['id']}", headers=org.headers).get_json()
    assert iso(after["next_run_at"]) == due + timedelta(days=3, hours=6)


def test_a_run_due_while_the_previous_job_is_active_is_skipped_and_recorded(app, client, org, scheduler, engine, caplog):
    schedule = created(client, org, interval_hours=6)
    previous = client.post(f"/v1/schedules/{schedule['id']}/run", headers=org.headers).get_json()  # stays `created`
    due = iso(schedule["next_run_at"])

    with caplog.at_level("INFO", logger="control_api.schedules.recurring_loop"):
        [outcome] = run_due_at(app, scheduler, due + timedelta(seconds=1), schedule["id"])

    assert outcome.job is None and previous["id"] in outcome.skipped_because
    assert f"schedule {schedule['id']}: run skipped" in caplog.text
    after = client.get(f"/v1/schedules/{schedule['id']}", headers=org.headers).get_json()
    assert after["skipped_runs"] == 1 and after["last_skipped_at"] is not None
    assert after["last_job_id"] == previous["id"] and iso(after["next_run_at"]) == due + timedelta(hours=6)
    assert [j["id"] for j in jobs_of(client, org, schedule["id"])] == [previous["id"]]

    finish(engine, previous["id"])  # once it is over, the next due run starts a job again
    [outcome] = run_due_at(app, scheduler, due + timedelta(hours=6, seconds=1), schedule["id"])
    assert outcome.job is not None and len(jobs_of(client, org, schedule["id"])) == 2


def test_a_disabled_schedule_does_not_run(app, client, org, scheduler):
    schedule = created(client, org, enabled=False)
    assert run_due_at(app, scheduler, iso(schedule["next_run_at"]) + timedelta(days=1), schedule["id"]) == []
    assert jobs_of(client, org, schedule["id"]) == []


def test_a_run_scrapyd_refuses_fails_its_job_and_the_schedule_goes_on(app, client, org, scheduler):
    schedule = created(client, org)
    scheduler.fail_with = "connection refused"
    [outcome] = run_due_at(app, scheduler, iso(schedule["next_run_at"]), schedule["id"])

    [job] = jobs_of(client, org, schedule["id"])
    assert job["id"] == outcome.job.id and job["status"] == "failed" and "connection refused" in job["error"]
    after = client.get(f"/v1/schedules/{schedule['id']}", headers=org.headers).get_json()
    assert iso(after["next_run_at"]) > iso(schedule["next_run_at"])


def test_deleting_a_schedule_keeps_its_jobs(client, org, engine):
    schedule_id = created(client, org)["id"]
    job = client.post(f"/v1/schedules/{schedule_id}/run", headers=org.headers).get_json()
    assert client.delete(f"/v1/schedules/{schedule_id}", headers=org.headers).status_code == 204
    assert client.get(f"/v1/jobs/{job['id']}", headers=org.headers).get_json()["schedule_id"] == schedule_id
    with Session(engine) as session:
        assert session.get(Schedule, schedule_id) is None
