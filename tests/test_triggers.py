"""/v1/triggers and POST /hooks/<secret>, in process with a fake scrapyd (a real crawl started by a
hook and a burst of concurrent calls: tests/integration/test_triggers_live.py).
SPEC: "Where jobs come from", "Incoming publish hooks: crawl when the site changes"."""
from __future__ import annotations

import hashlib
import logging
import uuid
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Trigger
from tests.helpers import assert_error, make_test_app
from tests.test_schedules import finish

MB = 1024 * 1024


def create(client, org, **body):
    return client.post("/v1/triggers", json={"domain": "example.com", "name": "webflow-publish", **body}, headers=org.headers)


def created(client, org, **body) -> dict:
    response = create(client, org, **body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def hook_path(trigger: dict) -> str:
    return urlsplit(trigger["url"]).path


@pytest.fixture
def trigger(client, org) -> dict:
    return created(client, org, options={"max_pages": 20})


def test_create_returns_the_url_once_and_stores_only_its_hash(client, org, engine):
    body = created(client, org, domain="https://Example.com/", options={"max_pages": 20})

    assert {"id", "domain", "options", "name", "url", "created_at"} <= set(body)
    assert body["domain"] == "example.com" and body["name"] == "webflow-publish" and body["options"]["max_pages"] == 20
    assert body["url"].startswith("http://localhost/hooks/")  # the request's host URL without PUBLIC_BASE_URL
    secret = body["url"].rsplit("/", 1)[1]
    assert len(secret) >= 43  # 256 random bits, URL-safe base64
    with Session(engine) as session:
        row = session.scalars(select(Trigger).where(Trigger.id == body["id"])).one()
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    shown = client.get(f"/v1/triggers/{body['id']}", headers=org.headers).get_json()
    assert "url" not in shown and secret not in str(shown)


def test_public_base_url_makes_the_trigger_url(database_url, scheduler, org):
    app = make_test_app(database_url, scheduler, PUBLIC_BASE_URL="https://crawl.example.org/")
    try:
        assert created(app.test_client(), org)["url"].startswith("https://crawl.example.org/hooks/")
    finally:
        app.extensions["db_engine"].dispose()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": ""}, "name"), ({"name": "x" * 256}, "name"), ({"domain": "not a host"}, "domain"),
     ({"options": {"concurrency": 101}}, "options.concurrency"), ({"secret": "mine"}, "secret")],
)  # fmt: skip
def test_bad_fields_are_400(client, org, body, field):
    assert_error(create(client, org, **body), 400, None, field)


def test_private_target_is_refused_with_the_guard_on(database_url, scheduler, org):
    app = make_test_app(database_url, scheduler, ALLOW_PRIVATE_TARGETS=False)
    try:
        assert_error(create(app.test_client(), org, domain="localhost:8081"), 422, "forbidden_target", "domain")
    finally:
        app.extensions["db_engine"].dispose()


def test_list_get_delete_and_another_organisation(client, org, make_org):
    ids = [created(client, org, name=f"hook {n}")["id"] for n in range(3)]
    page = client.get("/v1/triggers?limit=2", headers=org.headers).get_json()
    assert [t["id"] for t in page["triggers"]] == ids[::-1][:2]
    assert page["pagination"] == {"limit": 2, "offset": 0, "total": 3, "has_next": True}
    assert all("url" not in t for t in page["triggers"])
    assert_error(client.get("/v1/triggers?limit=101", headers=org.headers), 400, None, "limit")

    other = make_org("Other")
    assert_error(client.get(f"/v1/triggers/{ids[0]}", headers=other.headers), 404, "trigger_not_found")
    assert_error(client.delete(f"/v1/triggers/{ids[0]}", headers=other.headers), 404, "trigger_not_found")
    assert client.get("/v1/triggers", headers=other.headers).get_json()["triggers"] == []

    assert client.delete(f"/v1/triggers/{ids[0]}", headers=org.headers).status_code == 204
    assert_error(client.get(f"/v1/triggers/{ids[0]}", headers=org.headers), 404, "trigger_not_found")


def test_a_call_starts_a_webhook_job_without_a_bearer_token(client, org, trigger, scheduler):
    response = client.post(hook_path(trigger), json={"triggerType": "site_publish", "payload": {"site": "x"}})

    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    assert set(response.get_json()) == {"job_id"}
    job = client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
    assert (job["source_type"], job["source_detail"], job["schedule_id"]) == ("webhook", "webflow-publish", None)
    assert job["domain"] == "example.com" and job["options"]["max_pages"] == 20
    assert [entry[0] for entry in scheduler.scheduled] == [job_id]
    shown = client.get(f"/v1/triggers/{trigger['id']}", headers=org.headers).get_json()
    assert shown["last_job_id"] == job_id and shown["last_called_at"] is not None


def test_a_call_while_the_previous_job_is_active_returns_that_job(client, org, trigger, scheduler, engine):
    first = client.post(hook_path(trigger)).get_json()["job_id"]
    again = client.post(hook_path(trigger), data=b"not json", content_type="text/plain")

    assert again.status_code == 202 and again.get_json() == {"job_id": first}
    assert len(scheduler.scheduled) == 1

    finish(engine, first)
    third = client.post(hook_path(trigger)).get_json()["job_id"]
    assert third != first and len(scheduler.scheduled) == 2


def test_unknown_and_deleted_secrets_are_404(client, org, trigger):
    assert_error(client.post("/hooks/not-a-secret"), 404, "trigger_not_found")
    assert_error(client.post(hook_path(trigger) + "x"), 404, "trigger_not_found")
    assert client.delete(f"/v1/triggers/{trigger['id']}", headers=org.headers).status_code == 204
    assert_error(client.post(hook_path(trigger)), 404, "trigger_not_found")


def test_a_body_up_to_1_mb_is_accepted_and_a_bigger_one_is_413(client, trigger, engine):
    exactly = client.post(hook_path(trigger), data=b"x" * MB, content_type="application/octet-stream")
    assert exactly.status_code == 202
    finish(engine, exactly.get_json()["job_id"])
    assert_error(client.post(hook_path(trigger), data=b"x" * (MB + 1), content_type="application/json"), 413, "payload_too_large")


def test_only_post_is_allowed(client, trigger):
    assert_error(client.get(hook_path(trigger)), 405, "method_not_allowed")


def test_calls_are_rate_limited_per_hook_and_guesses_per_address(database_url, scheduler, org, engine):
    app = make_test_app(database_url, scheduler, RATE_LIMIT_PER_MINUTE=2, AUTH_FAILURES_PER_MINUTE=2)
    try:
        client = app.test_client()
        trigger = client.post("/v1/triggers", json={"domain": "limited.example", "name": "n"}, headers=org.headers).get_json()
        assert [client.post(hook_path(trigger)).status_code for _ in range(2)] == [202, 202]
        limited = assert_error(client.post(hook_path(trigger)), 429, "rate_limited")
        assert "calls a minute of this hook" in limited["message"]

        address = {"REMOTE_ADDR": f"2001:db8::{uuid.uuid4().hex[:4]}"}  # counts of earlier runs on the same database: not ours
        guesses = [client.post(f"/hooks/guess-{n}", environ_base=address).status_code for n in range(3)]
        assert guesses == [404, 404, 429]
    finally:
        app.extensions["db_engine"].dispose()


def test_openapi_documents_schedules_triggers_and_the_hook_without_a_token(client):
    document = client.get("/v1/openapi.json").get_json()
    paths = document["paths"]
    assert set(paths["/v1/schedules/{schedule_id}"]) == {"get", "patch", "delete"}
    assert "201" in paths["/v1/schedules/{schedule_id}/run"]["post"]["responses"]
    assert set(paths["/v1/triggers"]) == {"get", "post"} and set(paths["/v1/triggers/{trigger_id}"]) == {"get", "delete"}
    hook = paths["/hooks/{secret}"]["post"]
    assert "security" not in hook and "requestBody" not in hook  # no token; the body is not ours to validate
    assert {"202", "404", "413", "429"} <= set(hook["responses"])
    schedule_fields = document["components"]["schemas"]["CreateScheduleRequest"]["properties"]
    [interval] = [kind for kind in schedule_fields["interval_hours"]["anyOf"] if kind["type"] == "integer"]
    assert (interval["minimum"], interval["maximum"]) == (1, 168)  # or null, with cron instead
    assert "cron expression" in schedule_fields["cron"]["description"] and "IANA" in schedule_fields["timezone"]["description"]
    assert "url" in document["components"]["schemas"]["CreatedTrigger"]["required"]
    assert "url" not in document["components"]["schemas"]["TriggerOut"]["properties"]



def test_request_log_lines_show_no_trigger_secret(app, trigger, caplog):
    """werkzeug's request lines (`flask run`) and gunicorn's access lines (through the same filter;
    the real gunicorn: tests/integration/test_triggers_live.py) show `/hooks/abcd***`."""
    from control_api.log_redaction import RedactHookPaths

    secret = hook_path(trigger).rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logging.getLogger("werkzeug").info('%s - - "%s" %s -', "127.0.0.1", f"POST /hooks/{secret} HTTP/1.1", 202)
        logging.getLogger("werkzeug").info('127.0.0.1 - - "POST /%%68ooks/%s HTTP/1.1" 404 -', secret)
    assert secret[:8] not in caplog.text
    assert f'"POST /hooks/{secret[:4]}*** HTTP/1.1" 202' in caplog.text and f"/%68ooks/{secret[:4]}***" in caplog.text
    record = logging.LogRecord("gunicorn.access", logging.INFO, "", 0, '%(r)s "%(f)s"',
                               ({"r": f"POST /hooks/{secret}?x=1 HTTP/1.1", "f": f"https://cms/hooks/{secret}"},), None)  # fmt: skip
    assert RedactHookPaths().filter(record)
    assert record.getMessage() == f'POST /hooks/{secret[:4]}***?x=1 HTTP/1.1 "https://cms/hooks/{secret[:4]}***"'
