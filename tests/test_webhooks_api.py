"""/v1/webhooks: create, list, get, delete, deliveries; organisation isolation; bad input; the
private-address guard. SPEC "Outgoing webhooks: tell me when a crawl ends"."""
from __future__ import annotations

import base64
import socket

import pytest

from tests.helpers import assert_error, make_test_app

HOOK = "https://hooks.example.com/crawls"


def create(client, org, url: str = HOOK, events=("job.completed",)):
    return client.post("/v1/webhooks", json={"url": url, "events": list(events)}, headers=org.headers)


def test_create_answers_201_with_a_standard_webhooks_secret_shown_once(client, org):
    response = create(client, org, events=["job.completed", "job.failed", "job.completed"])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"id", "url", "events", "secret", "created_at"}
    assert body["url"] == HOOK and body["events"] == ["job.completed", "job.failed"]  # each once
    assert response.headers["Location"] == f"/v1/webhooks/{body['id']}"
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"), validate=True)) >= 24
    assert create(client, org).get_json()["secret"] != body["secret"]

    shown = client.get(f"/v1/webhooks/{body['id']}", headers=org.headers)
    assert shown.status_code == 200
    assert shown.get_json() == {key: body[key] for key in ("id", "url", "events", "created_at")}  # no secret
    listed = client.get("/v1/webhooks", headers=org.headers).get_json()
    assert all("secret" not in item for item in listed["webhooks"])


def test_list_is_paginated_newest_first(client, make_org):
    org = make_org()
    ids = [create(client, org, f"https://hooks.example.com/{n}").get_json()["id"] for n in range(3)]
    first = client.get("/v1/webhooks?limit=2", headers=org.headers).get_json()
    assert [item["id"] for item in first["webhooks"]] == ids[::-1][:2]
    assert first["pagination"] == {"limit": 2, "offset": 0, "total": 3, "has_next": True}
    second = client.get("/v1/webhooks?limit=2&page=2", headers=org.headers).get_json()
    assert [item["id"] for item in second["webhooks"]] == [ids[0]]
    assert second["pagination"]["has_next"] is False
    assert_error(client.get("/v1/webhooks?limit=0", headers=org.headers), 400, "invalid_field", "limit")
    assert_error(client.get("/v1/webhooks?status=x", headers=org.headers), 400, "unknown_parameter", "status")


def test_delete_answers_204_and_then_the_webhook_is_gone(client, org):
    webhook_id = create(client, org).get_json()["id"]
    deleted = client.delete(f"/v1/webhooks/{webhook_id}", headers=org.headers)
    assert deleted.status_code == 204 and deleted.get_data() == b""
    assert_error(client.get(f"/v1/webhooks/{webhook_id}", headers=org.headers), 404, "webhook_not_found", webhook_id)
    assert_error(client.delete(f"/v1/webhooks/{webhook_id}", headers=org.headers), 404, "webhook_not_found")


def test_another_organisations_webhook_is_404_everywhere(client, org, make_org):
    webhook_id = create(client, org).get_json()["id"]
    stranger = make_org("stranger")
    for method, path in (("get", ""), ("delete", ""), ("get", "/deliveries")):
        response = getattr(client, method)(f"/v1/webhooks/{webhook_id}{path}", headers=stranger.headers)
        assert_error(response, 404, "webhook_not_found")
    assert client.get("/v1/webhooks", headers=stranger.headers).get_json()["webhooks"] == []
    assert client.get(f"/v1/webhooks/{webhook_id}", headers=org.headers).status_code == 200  # still there


def test_deliveries_of_a_new_webhook_are_an_empty_page(client, org):
    webhook_id = create(client, org).get_json()["id"]
    body = client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=org.headers).get_json()
    assert body == {"deliveries": [], "pagination": {"limit": 50, "offset": 0, "total": 0, "has_next": False}}


def test_a_token_is_required(client):
    assert_error(client.get("/v1/webhooks"), 401, "unauthorized")
    assert_error(client.post("/v1/webhooks", json={"url": HOOK, "events": ["job.failed"]}), 401, "unauthorized")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"url": HOOK, "events": []}, "invalid_field", "events"),
        ({"url": HOOK, "events": ["job.finished"]}, "invalid_field", "events.0"),
        ({"url": HOOK, "events": "job.completed"}, "invalid_field", "events"),
        ({"url": HOOK}, "missing_field", "events"),
        ({"events": ["job.failed"]}, "missing_field", "url"),
        ({"url": "ftp://hooks.example.com/x", "events": ["job.failed"]}, "invalid_field", "url"),
        ({"url": "hooks.example.com/x", "events": ["job.failed"]}, "invalid_field", "url"),
        ({"url": "https://", "events": ["job.failed"]}, "invalid_field", "url"),
        ({"url": "https://hooks.example.com:99999/", "events": ["job.failed"]}, "invalid_field", "url"),
        ({"url": "https://hooks.example.com/a b", "events": ["job.failed"]}, "invalid_field", "url"),
        ({"url": "https://hooks.example.com/\x00", "events": ["job.failed"]}, "invalid_field", "url"),
        ({"url": 5, "events": ["job.failed"]}, "invalid_field", "url"),
        ({"url": "https://bücher.example/ü", "events": ["job.failed"]}, "invalid_field", "url"),
        ({"url": HOOK, "events": ["job.failed"], "secret": "mine"}, "unknown_field", "secret"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, org, body, code, field):
    message = assert_error(client.post("/v1/webhooks", json=body, headers=org.headers), 400, code, field)["message"]
    if field == "events.0":
        assert "job.started" in message and "job.cancelled" in message  # says what is accepted


def test_bad_ids_are_404_not_500(client, org):
    for webhook_id in ("nope", "%00", "x" * 500):
        assert_error(client.get(f"/v1/webhooks/{webhook_id}", headers=org.headers), 404, "webhook_not_found")


@pytest.fixture
def guarded_client(database_url, scheduler):
    app = make_test_app(database_url, scheduler, ALLOW_PRIVATE_TARGETS=False)
    yield app.test_client()
    app.extensions["db_engine"].dispose()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://localhost/hook", "https://10.1.2.3/",
                                 "http://[::1]:9000/", "http://169.254.169.254/latest/meta-data/"])  # fmt: skip
def test_private_urls_are_refused_with_the_guard_on(guarded_client, org, url):
    response = guarded_client.post("/v1/webhooks", json={"url": url, "events": ["job.failed"]}, headers=org.headers)
    assert "private addresses are not allowed" in assert_error(response, 422, "forbidden_target", "url")["message"]


def test_public_urls_pass_the_guard(guarded_client, org, monkeypatch):
    # No test reaches beyond 127.0.0.1: the name resolves, by this stub, to a public address.
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))])
    response = guarded_client.post("/v1/webhooks", json={"url": HOOK, "events": ["job.failed"]}, headers=org.headers)
    assert response.status_code == 201, response.get_json()


def test_the_openapi_document_describes_the_webhook_endpoints(client):
    paths = client.get("/v1/openapi.json").get_json()["paths"]
    assert set(paths["/v1/webhooks"]) == {"get", "post"}
    assert set(paths["/v1/webhooks/{webhook_id}"]) == {"get", "delete"}
    assert set(paths["/v1/webhooks/{webhook_id}/deliveries"]) == {"get"}
    created = paths["/v1/webhooks"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    assert created.endswith("/CreatedWebhook")
    assert {"404", "401", "429"} <= set(paths["/v1/webhooks/{webhook_id}"]["delete"]["responses"])
