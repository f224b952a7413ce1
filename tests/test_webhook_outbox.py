"""The outbox (db/webhooks.py): every state change of a job queues one message per subscribed
webhook of the job's organisation, in the transaction of the change, wherever the change happens:
the crawler's claim and finish, the cancel endpoint, a dispatch failure, the reconciler."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from control_api.nodes.reconciler import Reconciler
from crawler.jobstore import ClaimLost, JobStore
from db.models import WebhookMessage
from db.webhooks import record_job_event

CLAIM = "c" * 32
EVERY_EVENT = ["job.started", "job.completed", "job.failed", "job.cancelled"]


@pytest.fixture
def webhook(client):
    def make(org, events=EVERY_EVENT) -> str:
        response = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": events}, headers=org.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    return make


def messages(engine, job_id: str) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.execute(
            select(WebhookMessage.endpoint_id, WebhookMessage.event).where(WebhookMessage.job_id == job_id)
        ).all()
    return sorted((endpoint_id, str(event)) for endpoint_id, event in rows)


def test_the_crawler_queues_started_when_it_claims_and_completed_when_it_finishes(database_url, engine, org, make_job, webhook):
    hook = webhook(org)
    job_id = make_job(org, status="created", claim=CLAIM)
    store = JobStore(database_url, job_id, CLAIM)
    try:
        store.claim_job()
        assert messages(engine, job_id) == [(hook, "job.started")]
        store.finish("completed")
        assert messages(engine, job_id) == sorted([(hook, "job.started"), (hook, "job.completed")])
    finally:
        store.close()


def test_a_refused_claim_or_finish_queues_nothing(database_url, engine, org, make_job, webhook):
    webhook(org)
    job_id = make_job(org, status="cancelled", claim=CLAIM)
    store = JobStore(database_url, job_id, CLAIM)
    try:
        with pytest.raises(ClaimLost):
            store.claim_job()
        with pytest.raises(ClaimLost):
            store.finish("completed")
    finally:
        store.close()
    assert messages(engine, job_id) == []


def test_cancel_queues_cancelled_once(client, engine, org, make_job, webhook):
    hook = webhook(org)
    job_id = make_job(org, status="running")
    for _ in range(2):  # the second cancel changes nothing: no second event
        assert client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers).status_code == 200
    assert messages(engine, job_id) == [(hook, "job.cancelled")]


def test_a_dispatch_failure_queues_failed(client, engine, org, scheduler, webhook):
    hook = webhook(org)
    scheduler.fail_with = "scrapyd is down"
    response = client.post("/v1/jobs", json={"domain": "example.com"}, headers=org.headers)
    assert response.status_code == 503
    job_id = client.get("/v1/jobs", headers=org.headers).get_json()["jobs"][0]["id"]
    assert messages(engine, job_id) == [(hook, "job.failed")]


def test_the_reconciler_queues_failed(app, engine, org, make_job, scheduler, webhook):
    hook = webhook(org)
    job_id = make_job(org, status="running")
    with app.app_context():
        reconciler = Reconciler(client=scheduler)
        reconciler.fail(job_id, "The crawler process ended")
        reconciler.fail(job_id, "The crawler process ended")  # already failed: no second event
    assert messages(engine, job_id) == [(hook, "job.failed")]


def test_only_subscribed_webhooks_of_the_jobs_organisation_get_a_message(client, engine, make_org, make_job, webhook):
    org, stranger = make_org(), make_org("stranger")
    failed_only = webhook(org, ["job.failed"])
    cancelled_too = webhook(org, ["job.cancelled", "job.failed"])
    webhook(stranger)
    job_id = make_job(org, status="created")
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers).status_code == 200
    assert messages(engine, job_id) == [(cancelled_too, "job.cancelled")]
    assert failed_only != cancelled_too


def test_an_event_is_queued_once_per_job_and_webhook_even_if_recorded_twice(engine, org, make_job, webhook):
    hook = webhook(org)
    job_id = make_job(org, status="failed")
    for _ in range(2):
        with Session(engine) as session, session.begin():
            record_job_event(session, job_id, "failed")
    assert messages(engine, job_id) == [(hook, "job.failed")]


def test_a_deleted_webhook_takes_its_messages_with_it(client, engine, org, make_job, webhook):
    hook = webhook(org)
    job_id = make_job(org, status="running")
    client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers)
    assert client.delete(f"/v1/webhooks/{hook}", headers=org.headers).status_code == 204
    assert messages(engine, job_id) == []
