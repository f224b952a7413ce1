"""Schedules on a cron expression in a timezone (control_api/schedules/cadence.py): the API's checks
(400 naming the field), runs at wall-clock times across daylight saving changes, and the scheduler
loop's exactly-once claim with two loops. In process with a fake scrapyd and an injected clock, on
the suite's database (SQLite, or PostgreSQL with TEST_DATABASE_URL).
SPEC: "Schedules: recurring crawls" (cron and timezone)."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from control_api.schedules.recurring_loop import ScheduleRunner
from db.models import Job, Schedule, utcnow
from tests.helpers import assert_error
from tests.test_schedules import iso, jobs_of

UTC = timezone.utc


def create(client, org, **cadence):
    return client.post("/v1/schedules", json={"domain": "example.com", **cadence}, headers=org.headers)


def created(client, org, **cadence) -> dict:
    response = create(client, org, **cadence)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def set_next_run(engine, schedule_id: str, when: datetime) -> None:
    """As if the schedule had been made just before `when`: its next run is the first cron time after it."""
    from control_api.schedules.cadence import next_cron_time

    with Session(engine) as session, session.begin():
        schedule = session.get(Schedule, schedule_id)
        schedule.next_run_at = next_cron_time(schedule.cron, schedule.timezone, when)


def runs_between(app, scheduler, engine, schedule_id: str, start: datetime, end: datetime, step_minutes: int = 10):
    """Drive the loop over [start, end] every `step_minutes`, ending each run's job at once so no
    run is skipped; the UTC times at which it started a job for this schedule."""
    from datetime import timedelta

    started, now = [], start
    with app.app_context():
        runner = ScheduleRunner(client=scheduler, clock=lambda: now)
        while now <= end:
            for outcome in runner.run_due():
                if outcome.schedule_id == schedule_id and outcome.job is not None:
                    started.append(now)
                    with Session(engine) as session, session.begin():
                        session.execute(update(Job).where(Job.id == outcome.job.id).values(status="completed",
                                                                                         completed_at=utcnow()))
            now += timedelta(minutes=step_minutes)
    with Session(engine) as session, session.begin():  # its next run is in the real past: keep it from other tests' loops
        session.execute(update(Schedule).where(Schedule.id == schedule_id).values(enabled=False))
    return started


def test_a_cron_schedule_in_a_timezone_falls_at_its_next_time_there(client, org):
    body = created(client, org, cron="0  9 * * 1", timezone="Europe/Paris")
    assert (body["cron"], body["timezone"], body["interval_hours"]) == ("0 9 * * 1", "Europe/Paris", None)
    due = iso(body["next_run_at"])
    local = due.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert (local.weekday(), local.hour, local.minute) == (0, 9, 0) and 0 < (due - utcnow()).days + 1 <= 7
    assert client.get(f"/v1/schedules/{body['id']}", headers=org.headers).get_json()["cron"] == "0 9 * * 1"


def test_cron_without_a_timezone_is_utc_and_interval_schedules_have_neither(client, org):
    body = created(client, org, cron="@daily")
    assert body["timezone"] == "UTC" and iso(body["next_run_at"]).time() == datetime.min.time()
    interval = created(client, org, interval_hours=6)
    assert (interval["cron"], interval["timezone"]) == (None, None)


@pytest.mark.parametrize(("cadence", "field", "words"), [
    ({"cron": "61 * * * *"}, "cron", "not a valid cron expression"),
    ({"cron": "hello"}, "cron", "5 fields"),
    ({"cron": "0 0 * * * *"}, "cron", "5 fields"),  # seconds: not ours
    ({"cron": "0 0 30 2 *"}, "cron", "never matches"),
    ({"cron": ""}, "cron", "5 fields"),
    ({"cron": 5}, "cron", None),
    ({"cron": "0 3 * * *", "timezone": "Mars/Olympus_Mons"}, "timezone", "not an IANA time zone"),
    ({"cron": "0 3 * * *", "timezone": "../../etc/passwd"}, "timezone", "not an IANA time zone"),
    ({"cron": "0 3 * * *", "timezone": "localtime"}, "timezone", "not an IANA time zone"),
    ({"cron": "0 3 * * *", "interval_hours": 6}, "interval_hours", "either interval_hours or cron, not both"),
    ({"timezone": "Europe/Paris", "interval_hours": 6}, "interval_hours", "timezone goes with cron"),
    ({"timezone": "Europe/Paris"}, "interval_hours", "give interval_hours"),
    ({}, "interval_hours", "give interval_hours"),
])  # fmt: skip
def test_a_bad_cadence_is_400_naming_the_field(client, org, cadence, field, words):
    error = assert_error(create(client, org, **cadence), 400, "invalid_field", f"'{field}'")
    assert words is None or words in error["message"]


def test_patch_switches_between_cadences_and_restarts_them(client, org):
    body = created(client, org, interval_hours=6)
    to_cron = client.patch(f"/v1/schedules/{body['id']}", json={"cron": "30 2 * * *", "timezone": "Asia/Tokyo"},
                           headers=org.headers).get_json()  # fmt: skip
    assert (to_cron["interval_hours"], to_cron["cron"], to_cron["timezone"]) == (None, "30 2 * * *", "Asia/Tokyo")
    assert iso(to_cron["next_run_at"]).time().replace(second=0) == datetime(2000, 1, 1, 17, 30).time()  # 02:30 JST
    new_zone = client.patch(f"/v1/schedules/{body['id']}", json={"timezone": "UTC"}, headers=org.headers).get_json()
    assert new_zone["cron"] == "30 2 * * *" and iso(new_zone["next_run_at"]).strftime("%H:%M") == "02:30"
    back = client.patch(f"/v1/schedules/{body['id']}", json={"interval_hours": 12}, headers=org.headers).get_json()
    assert (back["interval_hours"], back["cron"], back["timezone"]) == (12, None, None)
    error = assert_error(client.patch(f"/v1/schedules/{body['id']}", json={"timezone": "Europe/Paris"}, headers=org.headers),
                         400, "invalid_field", "'timezone'")  # fmt: skip
    assert "timezone goes with cron" in error["message"]
    assert_error(client.patch(f"/v1/schedules/{body['id']}", json={"cron": "0 3 * * *", "interval_hours": 6},
                              headers=org.headers), 400, "invalid_field", "'interval_hours'")  # fmt: skip
    assert_error(client.patch(f"/v1/schedules/{body['id']}", json={"cron": "0 25 * * *"}, headers=org.headers),
                 400, "invalid_field", "'cron'")  # fmt: skip


def test_autumn_daylight_saving_runs_a_repeated_wall_clock_time_once(app, client, org, scheduler, engine):
    """Europe/Paris, 25 October 2026: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice. A daily
    02:30 runs once that night (at the first), then at 02:30 CET, an hour later in UTC."""
    body = created(client, org, cron="30 2 * * *", timezone="Europe/Paris")
    set_next_run(engine, body["id"], at("2026-10-24T12:00:00+00:00"))
    started = runs_between(app, scheduler, engine, body["id"], at("2026-10-24T12:00:00+00:00"),
                           at("2026-10-26T12:00:00+00:00"))  # fmt: skip
    assert started == [at("2026-10-25T02:30:00+02:00"), at("2026-10-26T02:30:00+01:00")]
    assert len(jobs_of(client, org, body["id"])) == 2


def test_spring_daylight_saving_runs_a_missing_wall_clock_time_once_after_the_jump(app, client, org, scheduler, engine):
    """America/New_York, 8 March 2026: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist that
    day. The daily run happens once, at 03:30 EDT (02:30 read with the offset before the jump); every
    half hour from 01:00 to 03:30 runs at each instant once."""
    body = created(client, org, cron="30 2 * * *", timezone="America/New_York")
    set_next_run(engine, body["id"], at("2026-03-07T12:00:00+00:00"))
    started = runs_between(app, scheduler, engine, body["id"], at("2026-03-07T12:00:00+00:00"),
                           at("2026-03-09T12:00:00+00:00"))  # fmt: skip
    assert started == [at("2026-03-08T03:30:00-04:00"), at("2026-03-09T02:30:00-04:00")]

    half_hours = created(client, org, cron="*/30 1-3 * * *", timezone="America/New_York")
    set_next_run(engine, half_hours["id"], at("2026-03-08T05:00:00+00:00"))
    started = runs_between(app, scheduler, engine, half_hours["id"], at("2026-03-08T05:00:00+00:00"),
                           at("2026-03-08T09:00:00+00:00"))  # fmt: skip
    local = [when.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York")).strftime("%H:%M") for when in started]
    assert local == ["01:00", "01:30", "03:00", "03:30"]  # 02:00 and 02:30 fall on 03:00 and 03:30: once each


def test_two_loops_start_each_due_cron_run_once(app, client, org, scheduler, engine, database_url):
    """Two scheduler loops look at the same moment (threads, each with its own sessions): one job per
    due run. On PostgreSQL they race for the row lock (FOR UPDATE SKIP LOCKED); SQLite serialises
    the claiming transactions (there `make run` allows one loop: test_schedule_loops.py)."""
    ids = [created(client, org, cron="0 4 * * *", timezone=zone, domain=f"cron{n}.example")["id"]
           for n, zone in enumerate(("Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC"))]  # fmt: skip
    with Session(engine) as session, session.begin():
        session.execute(update(Schedule).where(Schedule.id.in_(ids)).values(next_run_at=utcnow()))
    now = utcnow()
    barrier, outcomes, failures = threading.Barrier(2), [], []

    def loop() -> None:
        try:
            with app.app_context():
                runner = ScheduleRunner(client=scheduler, clock=lambda: now)
                barrier.wait()
                outcomes.extend(runner.run_due())
        except Exception as exc:  # noqa: BLE001 - reported below, with the other loop's result
            failures.append(exc)

    threads = [threading.Thread(target=loop) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    started = [outcome.schedule_id for outcome in outcomes if outcome.job is not None and outcome.schedule_id in ids]
    assert sorted(started) == sorted(ids)  # each due run once, whichever loop claimed it
    with Session(engine) as session:
        assert sorted(session.scalars(select(Job.schedule_id).where(Job.schedule_id.in_(ids)))) == sorted(ids)
        for schedule in session.scalars(select(Schedule).where(Schedule.id.in_(ids))):
            assert schedule.next_run_at > now  # moved to the next 04:00 in its zone
            local = schedule.next_run_at.astimezone(__import__("zoneinfo").ZoneInfo(schedule.timezone))
            assert (local.hour, local.minute) == (4, 0)
