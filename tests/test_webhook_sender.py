"""The sender's bookkeeping, on the real database: two senders never take the same message, a
taken message is leased past its attempt's timeout, and the retry schedule runs out."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from control_api.webhook_sender import WebhookSender
from db.models import WebhookMessage, utcnow


def queue_cancelled_jobs(client, org, make_job, count: int) -> list[str]:
    response = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["job.cancelled"]}, headers=org.headers)
    assert response.status_code == 201
    job_ids = [make_job(org, status="running") for _ in range(count)]
    for job_id in job_ids:
        assert client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers).status_code == 200
    return job_ids


def due_messages(engine, job_ids: list[str]) -> set[str]:
    with Session(engine) as session:
        return set(session.scalars(select(WebhookMessage.id).where(WebhookMessage.job_id.in_(job_ids))))


def test_two_senders_taking_at_once_never_take_the_same_message(client, org, make_job, engine):
    job_ids = queue_cancelled_jobs(client, org, make_job, 40)
    mine = due_messages(engine, job_ids)
    # Only this test's messages are due: others' are pushed into the future for the duration.
    with Session(engine) as session, session.begin():
        others = session.execute(
            update(WebhookMessage).where(WebhookMessage.id.not_in(mine), WebhookMessage.next_attempt_at.is_not(None))
            .values(next_attempt_at=utcnow() + timedelta(hours=1)).returning(WebhookMessage.id)
        ).scalars().all()  # fmt: skip
    senders = [WebhookSender(engine, retry_delays=[1.0]) for _ in range(2)]
    taken: list[list[str]] = [[], []]
    start = threading.Barrier(2)

    def take(index: int) -> None:
        start.wait()
        for _ in range(10):
            taken[index] += senders[index].take_due(5)

    threads = [threading.Thread(target=take, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not set(taken[0]) & set(taken[1])
        assert sorted(taken[0] + taken[1]) == sorted(mine)  # each exactly once, none left behind
    finally:
        with Session(engine) as session, session.begin():
            session.execute(update(WebhookMessage).where(WebhookMessage.id.in_(others)).values(next_attempt_at=utcnow()))


def test_a_taken_message_is_leased_past_the_attempts_timeout(client, org, make_job, engine):
    job_ids = queue_cancelled_jobs(client, org, make_job, 1)
    sender = WebhookSender(engine, retry_delays=[1.0], timeout=10.0)
    before = utcnow()
    assert set(sender.take_due(10_000)) >= due_messages(engine, job_ids)
    with Session(engine) as session:
        message = session.scalars(select(WebhookMessage).where(WebhookMessage.job_id == job_ids[0])).one()
    assert message.next_attempt_at > before + timedelta(seconds=10)
    assert not set(sender.take_due(10_000)) & due_messages(engine, job_ids)  # not taken twice


def test_the_retry_schedule_grows_and_runs_out(engine):
    sender = WebhookSender(engine, retry_delays=[5, 300, 1800])
    now = utcnow()
    assert [sender.next_attempt(n, now) for n in (1, 2, 3, 4)] == [
        now + timedelta(seconds=5), now + timedelta(seconds=300), now + timedelta(seconds=1800), None,
    ]  # fmt: skip
