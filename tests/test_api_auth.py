"""Bearer-token auth, tenancy and the token CLI. SPEC: "Auth and tenancy [core]", "Operating it [core]"."""
from __future__ import annotations

import pytest

from tests.helpers import assert_error


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


# --- 401 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/v1/jobs"), ("post", "/v1/jobs"), ("get", "/v1/jobs/x"), ("post", "/v1/jobs/x/cancel"), ("delete", "/v1/jobs/x")],
)
def test_missing_authorization_header_is_401_on_every_v1_route(client, method, path):
    assert_error(getattr(client, method)(path), 401, "unauthorized")


def test_wrong_auth_scheme_is_401(client, org):
    assert_error(client.get("/v1/jobs", headers={"Authorization": f"Basic {org.token}"}), 401, "unauthorized")


def test_basic_credentials_are_401(client):
    assert_error(client.get("/v1/jobs", headers={"Authorization": "Basic x"}), 401, "unauthorized")


def test_bearer_without_token_is_401(client):
    assert_error(client.get("/v1/jobs", headers={"Authorization": "Bearer"}), 401, "unauthorized")


def test_bare_token_without_scheme_is_401(client, org):
    assert_error(client.get("/v1/jobs", headers={"Authorization": org.token}), 401, "unauthorized")


def test_unknown_token_is_401(client, org):
    assert_error(client.get("/v1/jobs", headers=bearer(org.token + "x")), 401, "unauthorized")


def test_valid_token_is_accepted(client, org):
    assert client.get("/v1/jobs", headers=org.headers).status_code == 200


def test_revoked_token_is_401_on_the_very_next_request(client, org, runner):
    assert client.get("/v1/jobs", headers=org.headers).status_code == 200

    result = runner.invoke(args=["revoke-token", org.token])

    assert result.exit_code == 0, result.output
    assert_error(client.get("/v1/jobs", headers=org.headers), 401, "unauthorized")


def test_revoking_one_token_leaves_other_organisations_working(client, org, make_org, runner):
    other = make_org("Other")

    runner.invoke(args=["revoke-token", org.token])

    assert client.get("/v1/jobs", headers=other.headers).status_code == 200


def test_unauthorized_create_schedules_nothing(client, scheduler):
    client.post("/v1/jobs", json={"domain": "example.com"}, headers=bearer("cs_nope"))

    assert scheduler.scheduled == []


# --- tenancy: another organisation's job is 404 -------------------------------------------------


@pytest.fixture
def foreign_job(make_org, make_job):
    owner = make_org("Owner")
    return make_job(owner, status="running", scrapyd_node="http://scrapyd.invalid")


def test_get_of_another_organisations_job_is_404(client, org, foreign_job):
    response = client.get(f"/v1/jobs/{foreign_job}", headers=org.headers)

    assert_error(response, 404, "job_not_found")
    assert "running" not in response.get_data(as_text=True)


def test_cancel_of_another_organisations_job_is_404(client, org, foreign_job, scheduler):
    assert_error(client.post(f"/v1/jobs/{foreign_job}/cancel", headers=org.headers), 404, "job_not_found")

    assert scheduler.cancelled == []


def test_delete_of_another_organisations_job_is_404(client, org, foreign_job, scheduler):
    assert_error(client.delete(f"/v1/jobs/{foreign_job}", headers=org.headers), 404, "job_not_found")

    assert scheduler.cancelled == []


def test_another_organisations_job_stays_running_after_foreign_cancel(client, org, make_org, make_job):
    owner = make_org("Owner")
    job_id = make_job(owner, status="running")

    client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers)
    client.delete(f"/v1/jobs/{job_id}", headers=org.headers)

    assert client.get(f"/v1/jobs/{job_id}", headers=owner.headers).get_json()["status"] == "running"


def test_another_organisations_job_never_appears_in_the_list(client, org, foreign_job, make_job):
    own = make_job(org)

    body = client.get("/v1/jobs?limit=100&include=stats,progress,domain", headers=org.headers).get_json()

    assert [job["id"] for job in body["jobs"]] == [own]
    assert body["pagination"]["total"] == 1
    for status in ("running", "created"):
        listed = client.get(f"/v1/jobs?status={status}&limit=100", headers=org.headers).get_json()["jobs"]
        assert foreign_job not in [job["id"] for job in listed]


def test_job_created_through_the_api_belongs_to_the_creating_organisation(client, org, make_org):
    other = make_org("Other")
    job_id = client.post("/v1/jobs", json={"domain": "example.com"}, headers=org.headers).get_json()["id"]

    assert client.get(f"/v1/jobs/{job_id}", headers=org.headers).status_code == 200
    assert_error(client.get(f"/v1/jobs/{job_id}", headers=other.headers), 404, "job_not_found")


# --- CLI ----------------------------------------------------------------------------------------


def test_create_org_prints_a_working_token_as_the_last_line(client, runner):
    result = runner.invoke(args=["create-org", "Acme"])

    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1].strip()
    assert token
    assert client.get("/v1/jobs", headers=bearer(token)).status_code == 200


def test_create_org_tokens_are_distinct_and_separate_organisations(client, runner):
    first = runner.invoke(args=["create-org", "Acme"]).output.strip().splitlines()[-1]
    second = runner.invoke(args=["create-org", "Acme"]).output.strip().splitlines()[-1]
    assert first != second

    job_id = client.post("/v1/jobs", json={"domain": "example.com"}, headers=bearer(first)).get_json()["id"]

    assert client.get(f"/v1/jobs/{job_id}", headers=bearer(second)).status_code == 404


def test_token_is_not_stored_in_clear(runner, engine):
    from sqlalchemy import text

    token = runner.invoke(args=["create-org", "Acme"]).output.strip().splitlines()[-1]

    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM api_tokens")).all()
    assert rows
    assert not any(token in str(value) for row in rows for value in row)


def test_revoke_token_of_unknown_token_fails_with_a_clear_message(runner):
    result = runner.invoke(args=["revoke-token", "cs_no-such-token"])

    assert result.exit_code != 0
    assert "no such token" in result.output.lower()


def test_revoke_token_confirms_success(runner, org):
    result = runner.invoke(args=["revoke-token", org.token])

    assert result.exit_code == 0
    assert "revoked" in result.output.lower()


# --- public endpoints ---------------------------------------------------------------------------


def test_healthz_needs_no_token(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


def test_openapi_needs_no_token(client):
    response = client.get("/v1/openapi.json")

    assert response.status_code == 200
    assert "paths" in response.get_json()
