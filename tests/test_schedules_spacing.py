"""The least time between two runs of a schedule (MIN_SCHEDULE_INTERVAL_MINUTES, default 15): a cron
expression whose times come closer is a 400 naming `cron` on POST and PATCH, as the dashboard's form
says it next to the field; 0 allows any, and a setting above an hour refuses short interval_hours too.
On the suite's database (SQLite, or PostgreSQL with TEST_DATABASE_URL).
SPEC: "Schedules: recurring crawls"; docs/api.md, Minimum spacing."""
from __future__ import annotations

from html import unescape

import pytest

from control_api.schedules.cadence import shortest_gap_minutes
from tests.helpers import assert_error, make_test_app
from tests.test_dashboard import field_error, sign_in
from tests.test_schedules_cron import create, created


@pytest.mark.parametrize("expression, gap", [
    ("* * * * *", 1),
    ("*/5 * * * *", 5),
    ("*/15 * * * *", 15),
    ("0,10 3 * * *", 10),
    ("5,55 0,23 * * *", 10),  # 23:55, then 00:05 the next day
    ("*/30 1-3 * * *", 30),
    ("50 * * * *", 60),
    ("0 3 * * 1", 24 * 60),  # one time a day: a day is the closest two runs can be
    ("@hourly", 60),
])  # fmt: skip
def test_the_shortest_gap_is_read_from_the_minute_and_hour_fields(expression, gap):
    assert shortest_gap_minutes(expression) == gap


@pytest.mark.parametrize("expression, gap", [("* * * * *", "1 minute"), ("*/5 * * * *", "5 minutes"),
                                             ("0,10 3 * * *", "10 minutes"), ("5,55 0,23 * * *", "10 minutes")])
def test_a_cron_expression_with_runs_closer_than_the_minimum_is_400_naming_it(client, org, expression, gap):
    error = assert_error(create(client, org, cron=expression), 400, "invalid_field", "'cron'")
    assert f"runs would be {gap} apart" in error["message"] and "every 15 minutes" in error["message"]
    assert "MIN_SCHEDULE_INTERVAL_MINUTES" in error["message"]
    assert client.get("/v1/schedules", headers=org.headers).get_json()["schedules"] == []


def test_runs_the_minimum_apart_or_more_are_accepted(client, org):
    for expression in ("*/15 * * * *", "*/30 1-3 * * *", "0 3 * * *"):
        assert created(client, org, cron=expression)["cron"] == expression
    assert created(client, org, interval_hours=1)["interval_hours"] == 1


def test_patch_to_closer_runs_is_refused_and_changes_nothing(client, org):
    body = created(client, org, cron="0 3 * * *", timezone="Europe/Paris")
    path = f"/v1/schedules/{body['id']}"
    assert_error(client.patch(path, json={"cron": "*/10 * * * *"}, headers=org.headers), 400, "invalid_field", "'cron'")
    after = client.get(path, headers=org.headers).get_json()
    assert (after["cron"], after["timezone"], after["next_run_at"]) == ("0 3 * * *", "Europe/Paris", body["next_run_at"])
    # another organisation's schedule (or none) is still a 404, whatever the body
    assert_error(client.patch("/v1/schedules/no-such-id", json={"cron": "* * * * *"}, headers=org.headers),
                 404, "schedule_not_found")  # fmt: skip


@pytest.mark.parametrize("minimum, accepted, refused", [
    (0, [{"cron": "* * * * *"}], []),
    (120, [{"cron": "0 */2 * * *"}, {"interval_hours": 2}],
     [({"cron": "0 * * * *"}, "cron"), ({"interval_hours": 1}, "interval_hours")]),
])  # fmt: skip
def test_the_setting_moves_the_minimum(database_url, scheduler, org, minimum, accepted, refused):
    app = make_test_app(database_url, scheduler, MIN_SCHEDULE_INTERVAL_MINUTES=minimum)
    client = app.test_client()
    try:
        for cadence in accepted:
            assert create(client, org, **cadence).status_code == 201, cadence
        for cadence, field in refused:
            error = assert_error(create(client, org, **cadence), 400, "invalid_field", f"'{field}'")
            assert f"{minimum} minutes" in error["message"]
    finally:
        app.extensions["db_engine"].dispose()


def test_the_dashboard_form_shows_the_apis_words_on_the_cron_field(database_url, scheduler, org):
    app = make_test_app(database_url, scheduler)
    client = app.test_client()
    try:
        token = sign_in(client, org)
        response = client.post("/app/schedules/new", data={"domain": "spaced.example", "cadence": "cron",
                                                           "cron": "*/5 * * * *", "timezone": "UTC",
                                                           "csrf_token": token})  # fmt: skip
        assert response.status_code == 400
        api_error = create(client, org, cron="*/5 * * * *").get_json()["error"]["message"]
        shown = unescape(field_error(response, "cron"))
        assert shown == "R" + api_error.removeprefix("Field 'cron': r")  # the API's words, as a sentence
        assert 'value="*/5 * * * *"' in response.get_data(as_text=True)  # kept as typed
        assert client.get("/v1/schedules", headers=org.headers).get_json()["schedules"] == []
    finally:
        app.extensions["db_engine"].dispose()
