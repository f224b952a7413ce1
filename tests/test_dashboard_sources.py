"""The dashboard's schedules, triggers and webhooks pages, through Flask's test client with the fake
scheduler: create, list, enable/disable, run now, delete (after a confirmation page), the secrets
shown once, field errors in the API's words, CSRF on every post, and another organisation's
schedule, trigger or webhook a 404. In a real browser: tests/integration/test_dashboard_browser.py.
SPEC: "Dashboard: ... schedules, webhooks and triggers pages"."""
from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy.orm import Session

from db.models import WebhookAttempt, WebhookMessage, utcnow
from tests.helpers import make_test_app
from tests.test_dashboard import field_error, sign_in


@pytest.fixture
def client(database_url, scheduler):
    app = make_test_app(database_url, scheduler)
    yield app.test_client()
    app.extensions["db_engine"].dispose()


def api(client, org, path: str):
    response = client.get(path, headers=org.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def text(response) -> str:
    return response.get_data(as_text=True)


def make_schedule(client, org, **body) -> dict:
    response = client.post("/v1/schedules", json={"domain": "example.com", "interval_hours": 6, **body}, headers=org.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_schedule_created_from_the_form_is_listed_with_its_options(client, org):
    token = sign_in(client, org)
    assert 'href="/app/schedules" aria-current="page"' in text(client.get("/app/schedules/new"))
    response = client.post("/app/schedules/new", data={"domain": "https://Sched.example/blog", "interval_hours": "12",
                                                       "max_pages": "40", "find_links": "1", "csrf_token": token})  # fmt: skip
    assert response.status_code == 302 and response.headers["Location"] == "/app/schedules"
    [schedule] = api(client, org, "/v1/schedules")["schedules"]
    assert schedule["domain"] == "sched.example" and schedule["interval_hours"] == 12 and schedule["enabled"] is False
    assert schedule["options"]["max_pages"] == 40 and schedule["options"]["find_links"] is True
    assert schedule["options"]["use_sitemap"] is False  # an unticked box is false, as on the job form
    page = text(client.get("/app/schedules"))
    assert "Schedule for sched.example created: every 12 h once enabled." in page
    row = re.search(rf'<tr data-schedule-id="{schedule["id"]}">(.*?)</tr>', page, re.S).group(1)
    assert "sched.example" in row and "12 h" in row
    # the options that differ from the defaults, by their API names (every option is on the form)
    assert "max_pages: 40" in row and "use_sitemap: off" in row and "find_links" not in row
    assert '<td data-field="enabled">No</td>' in row and ">Enable<" in row and ">Run now<" in row


def test_a_cron_schedule_from_the_form_runs_at_its_times_in_its_zone(client, org):
    token = sign_in(client, org)
    page = text(client.get("/app/schedules/new"))
    assert 'name="cadence" type="radio" value="cron"' in page and '<option value="Europe/Paris">' in page
    response = client.post("/app/schedules/new", data={"domain": "cron.example", "cadence": "cron", "interval_hours": "24",
                                                       "cron": " 30 2  * * * ", "timezone": "Europe/Paris",
                                                       "enabled": "1", "csrf_token": token})  # fmt: skip
    assert response.status_code == 302, text(response)
    [schedule] = api(client, org, "/v1/schedules")["schedules"]
    assert (schedule["cron"], schedule["timezone"], schedule["interval_hours"]) == ("30 2 * * *", "Europe/Paris", None)
    listed = unescape(text(client.get("/app/schedules")))
    assert "Schedule for cron.example created: at “30 2 * * *” (Europe/Paris)." in listed

    for data, name, api_body in (({"cron": "0 24 * * *", "timezone": "UTC"}, "cron", {"cron": "0 24 * * *"}),
                                 ({"cron": "", "timezone": "UTC"}, "cron", {"cron": ""}),
                                 ({"cron": "0 3 * * *", "timezone": "Paris"}, "timezone",
                                  {"cron": "0 3 * * *", "timezone": "Paris"})):  # fmt: skip
        response = client.post("/app/schedules/new", data={"domain": "bad.example", "cadence": "cron", **data,
                                                           "csrf_token": token})  # fmt: skip
        api_error = client.post("/v1/schedules", json={"domain": "bad.example", **api_body},
                                headers=org.headers).get_json()["error"]["message"]  # fmt: skip
        assert response.status_code == 400
        assert unescape(field_error(response, name))[1:] == api_error.removeprefix(f"Field '{name}': ")[1:-1]  # the API's words
    assert len(api(client, org, "/v1/schedules")["schedules"]) == 1


def test_schedule_form_errors_are_the_apis_next_to_their_fields(client, org):
    token = sign_in(client, org)
    response = client.post("/app/schedules/new", data={"domain": "example.com", "interval_hours": "169",
                                                       "max_pages": "-1", "csrf_token": token})  # fmt: skip
    assert response.status_code == 400
    api_error = client.post("/v1/schedules", json={"domain": "example.com", "interval_hours": 169},
                            headers=org.headers).get_json()["error"]["message"]  # fmt: skip
    assert field_error(response, "interval_hours") == "Input should be less than or equal to 168"
    assert api_error == "Field 'interval_hours': input should be less than or equal to 168."
    assert field_error(response, "max_pages") == "Input should be greater than or equal to 0"
    assert 'value="169"' in text(response) and 'aria-invalid="true"' in text(response)
    response = client.post("/app/schedules/new", data={"domain": "example.com", "interval_hours": "", "csrf_token": token})
    assert field_error(response, "interval_hours") == "Give interval_hours (hours between runs, 1..168) or cron (a cron expression)"
    response = client.post("/app/schedules/new", data={"domain": "not a domain", "interval_hours": "6", "csrf_token": token})
    api_error = client.post("/v1/schedules", json={"domain": "not a domain", "interval_hours": 6},
                            headers=org.headers).get_json()["error"]["message"]  # fmt: skip
    assert response.status_code == 400 and field_error(response, "domain") == "M" + api_error.removeprefix("Field 'domain': m")
    assert api(client, org, "/v1/schedules")["schedules"] == []


def test_disable_enable_run_now_and_delete_from_the_list(client, org, scheduler, engine):
    schedule = make_schedule(client, org, domain="run.example")
    token = sign_in(client, org)
    disabled = client.post(f"/app/schedules/{schedule['id']}/enabled", data={"enabled": "0", "csrf_token": token})
    assert disabled.status_code == 302
    assert api(client, org, f"/v1/schedules/{schedule['id']}")["enabled"] is False
    assert "Schedule for run.example disabled." in text(client.get("/app/schedules"))
    client.post(f"/app/schedules/{schedule['id']}/enabled", data={"enabled": "1", "csrf_token": token})
    assert api(client, org, f"/v1/schedules/{schedule['id']}")["enabled"] is True

    ran = client.post(f"/app/schedules/{schedule['id']}/run", data={"csrf_token": token})
    assert ran.status_code == 302 and ran.headers["Location"].startswith("/app/jobs/")
    job_id = ran.headers["Location"].rsplit("/", 1)[1]
    assert [scheduled[0] for scheduled in scheduler.scheduled] == [job_id]
    job = api(client, org, f"/v1/jobs/{job_id}")
    assert (job["source_type"], job["source_detail"], job["schedule_id"]) == ("scheduler", "run_now", schedule["id"])
    assert "Run of the schedule for run.example started." in text(client.get(ran.headers["Location"]))
    listed = text(client.get("/app/schedules"))
    assert f'href="/app/jobs/{job_id}"' in listed and "badge-created" in listed

    # A second run while the first is still active is refused, in the API's words.
    again = client.post(f"/app/schedules/{schedule['id']}/run", data={"csrf_token": token}, follow_redirects=True)
    assert f"Job {job_id} (created) is already crawling this schedule&#39;s domain" in text(again)
    assert len(scheduler.scheduled) == 1

    confirm = client.get(f"/app/schedules/{schedule['id']}/delete")
    assert confirm.status_code == 200 and "Delete the schedule for run.example (every 6 h)?" in text(confirm)
    assert api(client, org, f"/v1/schedules/{schedule['id']}")  # asking is not deleting
    deleted = client.post(f"/app/schedules/{schedule['id']}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "Schedule for run.example deleted; its jobs are kept." in text(deleted)
    assert client.get(f"/v1/schedules/{schedule['id']}", headers=org.headers).status_code == 404
    assert api(client, org, f"/v1/jobs/{job_id}")["schedule_id"] == schedule["id"]


def test_run_now_with_scrapyd_down_shows_the_failed_job(client, org, scheduler):
    schedule = make_schedule(client, org, domain="down.example")
    token = sign_in(client, org)
    scheduler.fail_with = "connection refused"
    ran = client.post(f"/app/schedules/{schedule['id']}/run", data={"csrf_token": token}, follow_redirects=True)
    assert "could not be scheduled" in text(ran) and "connection refused" in text(ran)
    [job] = api(client, org, f"/v1/jobs?schedule_id={schedule['id']}")["jobs"]
    assert job["status"] == "failed"


def test_a_trigger_shows_its_url_once_then_lists_and_deletes(client, org, scheduler):
    token = sign_in(client, org)
    response = client.post("/app/triggers/new", data={"name": "webflow-publish", "domain": "hook.example",
                                                      "max_pages": "25", "csrf_token": token})  # fmt: skip
    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    url = re.search(r'id="hook-url" type="text" value="([^"]+)" readonly', text(response)).group(1)
    assert url.startswith("http://localhost/hooks/") and "Site publish" in text(response)
    assert 'label for="hook-url"' in text(response)
    [trigger] = api(client, org, "/v1/triggers")["triggers"]
    assert trigger["name"] == "webflow-publish" and trigger["options"]["max_pages"] == 25

    # The URL shown is the one that works, and it is nowhere on the list afterwards.
    called = client.post(url.removeprefix("http://localhost"), json={"site": "x"})
    assert called.status_code == 202
    job_id = called.get_json()["job_id"]
    listed = text(client.get("/app/triggers"))
    assert url.rsplit("/", 1)[1] not in listed
    assert "webflow-publish" in listed and f'href="/app/jobs/{job_id}"' in listed

    confirm = client.get(f"/app/triggers/{trigger['id']}/delete")
    assert "Delete the trigger “webflow-publish” (hook.example)?" in text(confirm)
    client.post(f"/app/triggers/{trigger['id']}/delete", data={"csrf_token": token})
    assert api(client, org, "/v1/triggers")["triggers"] == []
    assert client.post(url.removeprefix("http://localhost")).status_code == 404


def test_trigger_form_errors_are_the_apis(client, org):
    token = sign_in(client, org)
    response = client.post("/app/triggers/new", data={"name": "", "domain": "example.com", "max_pages": "x",
                                                      "csrf_token": token})  # fmt: skip
    assert response.status_code == 400 and field_error(response, "max_pages") == "Must be a whole number"
    response = client.post("/app/triggers/new", data={"name": "", "domain": "example.com", "csrf_token": token})
    assert field_error(response, "name") == "String should have at least 1 character"
    api_error = client.post("/v1/triggers", json={"name": "", "domain": "example.com"}, headers=org.headers).get_json()
    assert api_error["error"]["message"] == "Field 'name': string should have at least 1 character."
    assert api(client, org, "/v1/triggers")["triggers"] == []


def test_a_webhook_shows_its_secret_once_and_its_deliveries(client, org, engine, make_job):
    token = sign_in(client, org)
    response = client.post("/app/webhooks/new", data={"url": "https://hooks.example.com/crawls",
                                                      "events": ["job.completed", "job.failed"], "csrf_token": token})  # fmt: skip
    assert response.status_code == 201
    secret = re.search(r'id="webhook-secret" type="text" value="(whsec_[^"]+)" readonly', text(response)).group(1)
    [webhook] = api(client, org, "/v1/webhooks")["webhooks"]
    assert webhook["url"] == "https://hooks.example.com/crawls" and webhook["events"] == ["job.completed", "job.failed"]
    listed = text(client.get("/app/webhooks"))
    assert "https://hooks.example.com/crawls" in listed and "job.completed, job.failed" in listed and secret not in listed

    assert "Nothing delivered yet" in text(client.get(f"/app/webhooks/{webhook['id']}"))
    job_id = make_job(org, domain="delivered.example", status="completed")
    with Session(engine) as session, session.begin():
        message = WebhookMessage(id="msg_dashboard_test", endpoint_id=webhook["id"], event="job.completed", job_id=job_id,
                                 created_at=utcnow(), next_attempt_at=None, attempts=1)  # fmt: skip
        session.add(message)
        session.flush()
        session.add(WebhookAttempt(message_id=message.id, endpoint_id=webhook["id"], attempted_at=utcnow(), status_code=500,
                                   error=None, next_attempt_at=utcnow()))  # fmt: skip
    page = text(client.get(f"/app/webhooks/{webhook['id']}"))
    deliveries = re.search(r'<table class="sources" id="deliveries">(.*?)</table>', page, re.S).group(1)
    assert "job.completed" in deliveries and f'href="/app/jobs/{job_id}"' in deliveries and "badge-failed\">500" in deliveries
    assert api(client, org, f"/v1/webhooks/{webhook['id']}/deliveries")["deliveries"][0]["status_code"] == 500

    assert "Delete the webhook to https://hooks.example.com/crawls?" in text(client.get(f"/app/webhooks/{webhook['id']}/delete"))
    client.post(f"/app/webhooks/{webhook['id']}/delete", data={"csrf_token": token})
    assert api(client, org, "/v1/webhooks")["webhooks"] == []


def test_webhook_form_errors_are_the_apis(client, org):
    token = sign_in(client, org)
    response = client.post("/app/webhooks/new", data={"url": "ftp://files.example", "csrf_token": token})
    assert response.status_code == 400
    assert field_error(response, "url") == "Must be an http or https URL with a host, e.g. https://hooks.example.com/crawls"
    assert field_error(response, "events") == "List should have at least 1 item after validation, not 0"
    api_error = client.post("/v1/webhooks", json={"url": "ftp://files.example", "events": ["job.failed"]}, headers=org.headers)
    assert api_error.get_json()["error"]["message"] == ("Field 'url': must be an http or https URL with a host, "
                                                        "e.g. https://hooks.example.com/crawls.")  # fmt: skip
    response = client.post("/app/webhooks/new", data={"url": "https://x.example", "events": ["job.exploded"], "csrf_token": token})
    assert response.status_code == 400 and unescape(field_error(response, "events")).startswith("Input should be 'job.started'")
    assert api(client, org, "/v1/webhooks")["webhooks"] == []


def test_private_targets_are_refused_on_their_field_when_not_allowed(database_url, scheduler, org):
    app = make_test_app(database_url, scheduler, ALLOW_PRIVATE_TARGETS=False)
    client = app.test_client()
    try:
        token = sign_in(client, org)
        for path, data, name in (("/app/schedules/new", {"domain": "127.0.0.1", "interval_hours": "6"}, "domain"),
                                 ("/app/triggers/new", {"name": "n", "domain": "127.0.0.1"}, "domain"),
                                 ("/app/webhooks/new", {"url": "http://127.0.0.1/x", "events": "job.failed"}, "url")):  # fmt: skip
            response = client.post(path, data={**data, "csrf_token": token})
            assert response.status_code == 422, path
            assert "not allowed" in field_error(response, name), path
    finally:
        app.extensions["db_engine"].dispose()


def test_every_post_needs_the_csrf_token(client, org):
    schedule = make_schedule(client, org)
    trigger = client.post("/v1/triggers", json={"name": "t", "domain": "example.com"}, headers=org.headers).get_json()
    webhook = client.post("/v1/webhooks", json={"url": "https://h.example/", "events": ["job.failed"]}, headers=org.headers).get_json()
    sign_in(client, org)
    for path, form in (("/app/schedules/new", {"domain": "example.org", "interval_hours": "6"}),
                       (f"/app/schedules/{schedule['id']}/enabled", {"enabled": "0"}),
                       (f"/app/schedules/{schedule['id']}/run", {}), (f"/app/schedules/{schedule['id']}/delete", {}),
                       ("/app/triggers/new", {"name": "t2", "domain": "example.org"}),
                       (f"/app/triggers/{trigger['id']}/delete", {}),
                       ("/app/webhooks/new", {"url": "https://h2.example/", "events": "job.failed"}),
                       (f"/app/webhooks/{webhook['id']}/delete", {}),
                       (f"/app/schedules/{schedule['id']}/delete", {"csrf_token": "forged"})):  # fmt: skip
        response = client.post(path, data=form)
        assert response.status_code == 400 and "CSRF" in text(response), path
    assert len(api(client, org, "/v1/schedules")["schedules"]) == 1
    assert api(client, org, f"/v1/schedules/{schedule['id']}")["enabled"] is True
    assert len(api(client, org, "/v1/triggers")["triggers"]) == 1
    assert len(api(client, org, "/v1/webhooks")["webhooks"]) == 1
    assert api(client, org, "/v1/jobs")["jobs"] == []


def test_another_organisations_schedule_trigger_and_webhook_are_not_found(client, org, make_org):
    other = make_org("Other")
    schedule = make_schedule(client, other, domain="theirs.example")
    trigger = client.post("/v1/triggers", json={"name": "theirs", "domain": "theirs.example"}, headers=other.headers).get_json()
    webhook = client.post("/v1/webhooks", json={"url": "https://theirs.example/", "events": ["job.failed"]},
                          headers=other.headers).get_json()  # fmt: skip
    token = sign_in(client, org)
    for path in (f"/app/schedules/{schedule['id']}/delete", f"/app/triggers/{trigger['id']}/delete",
                 f"/app/webhooks/{webhook['id']}", f"/app/webhooks/{webhook['id']}/delete"):  # fmt: skip
        assert client.get(path).status_code == 404, path
    for path in (f"/app/schedules/{schedule['id']}/enabled", f"/app/schedules/{schedule['id']}/run",
                 f"/app/schedules/{schedule['id']}/delete", f"/app/triggers/{trigger['id']}/delete",
                 f"/app/webhooks/{webhook['id']}/delete"):  # fmt: skip
        response = client.post(path, data={"csrf_token": token, "enabled": "0"})
        assert response.status_code == 404 and "theirs" not in text(response), path
    for page in ("/app/schedules", "/app/triggers", "/app/webhooks"):
        assert "theirs" not in text(client.get(page)), page
    assert api(client, other, f"/v1/schedules/{schedule['id']}")["enabled"] is True
    assert api(client, other, "/v1/jobs")["jobs"] == []
    assert len(api(client, other, "/v1/triggers")["triggers"]) == 1 and len(api(client, other, "/v1/webhooks")["webhooks"]) == 1


def test_the_lists_page_through_and_link_each_page_in_the_nav(client, org):
    for number in range(21):
        make_schedule(client, org, domain=f"s{number}.example")
    sign_in(client, org)
    first = text(client.get("/app/schedules"))
    assert first.count("data-schedule-id=") == 20 and "Schedules 1–20 of 21" in first and 'href="/app/schedules?page=2"' in first
    second = text(client.get("/app/schedules?page=2"))
    assert second.count("data-schedule-id=") == 1 and "s0.example" in second
    assert text(client.get("/app/schedules?page=nonsense")).count("data-schedule-id=") == 20
    for label, path in (("Schedules", "/app/schedules"), ("Triggers", "/app/triggers"), ("Webhooks", "/app/webhooks")):
        assert f'<a href="{path}">{label}</a>' in first or f'<a href="{path}" aria-current="page">{label}</a>' in first
