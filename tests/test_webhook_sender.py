"""The sender's bookkeeping, on the real database: two senders never take the same message, a
taken message is leased past its attempt's timeout, and the retry schedule runs out."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from control_api.webhooks.sender import WebhookSender
from db.models import WebhookMessage, utcnow


def queue_cancelled_jobs(client, org, make_job, count: int, url: str = "http://127.0.0.1:9/") -> list[str]:
    response = client.post("/v1/webhooks", json={"url": url, "events": ["job.cancelled"]}, headers=org.headers)
    assert response.status_code == 201
    job_ids = [make_job(org, status="running") for _ in range(count)]
    for job_id in job_ids:
        assert client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers).status_code == 200
    return job_ids


NO_CAPS = {"per_endpoint": 10_000, "per_organisation": 10_000}  # for the tests of leasing


def taken_ids(sender: WebhookSender, limit: int) -> list[str]:
    return [message.message_id for message in sender.take_due(limit, sender.in_flight())]


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
    senders = [WebhookSender(engine, retry_delays=[1.0], **NO_CAPS) for _ in range(2)]
    taken: list[list[str]] = [[], []]
    start = threading.Barrier(2)

    def take(index: int) -> None:
        start.wait()
        for _ in range(10):
            taken[index] += [message.message_id for message in senders[index].take_due(5, senders[index].in_flight())]

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
    sender = WebhookSender(engine, retry_delays=[1.0], timeout=10.0, **NO_CAPS)
    before = utcnow()
    assert set(taken_ids(sender, 10_000)) >= due_messages(engine, job_ids)
    with Session(engine) as session:
        message = session.scalars(select(WebhookMessage).where(WebhookMessage.job_id == job_ids[0])).one()
    assert message.next_attempt_at > before + timedelta(seconds=10)
    assert not set(taken_ids(sender, 10_000)) & due_messages(engine, job_ids)  # not taken twice


def test_the_retry_schedule_grows_and_runs_out(engine):
    sender = WebhookSender(engine, retry_delays=[5, 300, 1800])
    now = utcnow()
    assert [sender.next_attempt(n, now) for n in (1, 2, 3, 4)] == [
        now + timedelta(seconds=5), now + timedelta(seconds=300), now + timedelta(seconds=1800), None,
    ]  # fmt: skip


def test_attempts_at_once_are_capped_per_endpoint_and_per_organisation(client, make_org, make_job, engine):
    busy, other = make_org("busy receivers"), make_org("one quiet receiver")
    jobs_to_slow = queue_cancelled_jobs(client, busy, make_job, 10, url="http://127.0.0.1:9/slow")
    jobs_to_second = queue_cancelled_jobs(client, busy, make_job, 3, url="http://127.0.0.1:9/second")
    jobs_of_other = queue_cancelled_jobs(client, other, make_job, 1)
    mine = due_messages(engine, jobs_to_slow + jobs_to_second + jobs_of_other)
    with Session(engine) as session, session.begin():  # only this test's messages are due meanwhile
        others = session.execute(
            update(WebhookMessage).where(WebhookMessage.id.not_in(mine), WebhookMessage.next_attempt_at.is_not(None))
            .values(next_attempt_at=utcnow() + timedelta(hours=1)).returning(WebhookMessage.id)
        ).scalars().all()  # fmt: skip
    sender = WebhookSender(engine, retry_delays=[1.0], per_endpoint=2, per_organisation=3)
    in_flight = sender.in_flight()
    try:
        first = sender.take_due(8, in_flight)
        for message in first:
            in_flight.add(message)
        again = sender.take_due(8, in_flight)
    finally:
        with Session(engine) as session, session.begin():
            session.execute(update(WebhookMessage).where(WebhookMessage.id.in_(others)).values(next_attempt_at=utcnow()))
    ids = [message.message_id for message in first]
    assert len(set(ids) & due_messages(engine, jobs_to_slow)) == 2  # the endpoint's cap
    assert len(set(ids) & due_messages(engine, jobs_to_second)) == 1  # the organisation's cap (3) reached
    assert set(ids) & due_messages(engine, jobs_of_other)  # the other organisation is not held up
    assert again == []  # the busy organisation is full until its attempts end
