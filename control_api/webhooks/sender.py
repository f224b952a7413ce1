"""The webhook sender: delivers the outbox's messages (db/webhooks.py) as Standard Webhooks.

`flask --app control_api deliver-webhooks --loop` is its own process, supervised by `make run` like
the reconciler: a receiver that takes its full timeout, or a thousand messages at once, then never
delays failing dead crawls or answering the API, and a crash of either leaves the other running.

Each tick it takes the due messages, as many as it has free workers (a bounded thread pool), and
at most WEBHOOK_ATTEMPTS_PER_ENDPOINT attempts at once to one endpoint and
WEBHOOK_ATTEMPTS_PER_ORGANISATION to one organisation's endpoints: a slow or dead receiver holds
that many workers, never all of them, so the other organisations' messages keep going. Every
attempt ends by its wall-clock deadline, WEBHOOK_TIMEOUT_SECONDS, however slowly the receiver
answers (control_api/webhooks/deadline.py). Taking a message moves its `next_attempt_at` past
the attempt's timeout, in a transaction that skips rows another sender holds (`FOR UPDATE SKIP
LOCKED` on PostgreSQL; SQLite has one writer at a time), so two senders never send one attempt
twice; a sender that dies mid-attempt leaves the message due again once that lease runs out. Every
attempt is recorded; a non-2xx answer or no answer schedules the next try after the next of
WEBHOOK_RETRY_SECONDS, until they run out. All of it is in the database, so what is pending when
the service stops is sent after it starts again: at least once, and receivers dedupe by webhook-id.

The body is built from the job row at the first attempt and kept, so every retry sends the same
message under the same id. The URL's host is checked against the private-address guard at every
attempt and the connection goes to the address that was checked, so a name re-pointed at the
service's own network after the webhook was created (DNS rebinding) is refused, not reached.

Just past ~300 lines, one thing: taking, sending and recording an attempt share the lease rules above.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import certifi
import click
import urllib3
from flask import Flask
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from contract.addresses import ForbiddenTarget, UnresolvableHost
from contract.vocabulary import WebhookEvent
from control_api.jobs import presenters
from control_api.jobs.results import service as results_service
from control_api.webhooks.deadline import AttemptDeadline, HTTPPool, HTTPSPool
from control_api.webhooks.inflight import InFlight, Taken
from control_api.webhooks.schemas import IssueCounts, WebhookJob, WebhookPayload
from control_api.webhooks.service import check_webhook_url
from db.models import Job, WebhookAttempt, WebhookEndpoint, WebhookMessage, utcnow

logger = logging.getLogger(__name__)

USER_AGENT = "crawl-service-webhooks/1.0"
LEASE_MARGIN = timedelta(seconds=60)  # on top of the timeout: how long a taken message stays ours
MAX_ANSWER_BYTES = 64 * 1024  # of a receiver's answer we read (and ignore) before closing
CHANGE_EVENTS = (WebhookEvent.JOB_COMPLETED, WebhookEvent.JOB_REGRESSED)  # their payloads carry `changes`
CANDIDATES_PER_WORKER = 4  # due messages looked at per free worker, so capped endpoints do not hide the rest


class DeadlinePassed(Exception):
    """The attempt was cut at its wall-clock deadline."""


class DeliveryRefused(Exception):
    """The attempt was not made: the URL's host is private or does not resolve."""


@dataclass
class WebhookSender:
    engine: Engine
    retry_delays: list[float]
    timeout: float = 10.0
    workers: int = 8
    poll_interval: float = 1.0
    allow_private: bool = False
    per_endpoint: int = 2
    per_organisation: int = 4

    @classmethod
    def from_app(cls, app: Flask) -> WebhookSender:
        config = app.config
        return cls(
            engine=app.extensions["db_engine"], retry_delays=config["WEBHOOK_RETRY_DELAYS"],
            timeout=config["WEBHOOK_TIMEOUT_SECONDS"], workers=config["WEBHOOK_WORKERS"],
            poll_interval=config["WEBHOOK_POLL_SECONDS"], allow_private=config["ALLOW_PRIVATE_TARGETS"],
            per_endpoint=config["WEBHOOK_ATTEMPTS_PER_ENDPOINT"],
            per_organisation=config["WEBHOOK_ATTEMPTS_PER_ORGANISATION"],
        )  # fmt: skip

    # --- the loop ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set; then finish the attempts in flight."""
        in_flight: dict[Future, Taken] = {}
        counts = self.in_flight()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="webhook") as pool:
            while not stop.is_set():
                for future in [future for future in in_flight if future.done()]:
                    counts.remove(in_flight.pop(future))
                try:
                    free = self.workers - len(in_flight)
                    taken = self.take_due(free, counts) if free > 0 else []
                except SQLAlchemyError as exc:  # the database restarting: wait it out, do not die
                    logger.warning("webhook sender: database unavailable (%s)", getattr(exc, "orig", exc))
                    taken = []
                for message in taken:
                    counts.add(message)
                    in_flight[pool.submit(self.deliver, message.message_id)] = message
                if not taken:
                    stop.wait(self.poll_interval)

    def run_once(self) -> int:
        """Deliver what is due until nothing is (a batch of `workers` at a time, so that no lease runs
        out while its message waits for a worker); returns how many attempts were made."""
        attempts = 0
        with ThreadPoolExecutor(self.workers, thread_name_prefix="webhook") as pool:
            while taken := self.take_due(self.workers, self.in_flight()):
                list(pool.map(self.deliver, [message.message_id for message in taken]))
                attempts += len(taken)
        return attempts

    def in_flight(self) -> InFlight:
        return InFlight(self.per_endpoint, self.per_organisation)

    def take_due(self, limit: int, in_flight: InFlight) -> list[Taken]:
        """Lease up to `limit` due messages to this sender, none that would put its endpoint or its
        organisation over their caps given what is `in_flight` (not changed here)."""
        now = utcnow()
        lease_until = now + timedelta(seconds=self.timeout) + LEASE_MARGIN
        query = (
            select(WebhookMessage.id, WebhookMessage.next_attempt_at, WebhookMessage.endpoint_id,
                   WebhookEndpoint.organisation_id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
            .where(WebhookMessage.next_attempt_at <= now)
            .order_by(WebhookMessage.next_attempt_at)
            .limit(limit * CANDIDATES_PER_WORKER)
            .with_for_update(skip_locked=True, of=WebhookMessage)  # PostgreSQL; SQLite renders no locking clause
        )  # fmt: skip
        if full := in_flight.full_endpoints():
            query = query.where(WebhookMessage.endpoint_id.not_in(full))
        if full := in_flight.full_organisations():
            query = query.where(WebhookEndpoint.organisation_id.not_in(full))
        picked = in_flight.copy()
        with Session(self.engine) as session, session.begin():
            taken = []
            for message_id, planned, endpoint_id, organisation_id in session.execute(query).all():
                if len(taken) == limit:
                    break
                if not picked.has_room(endpoint_id, organisation_id):
                    continue
                # Conditional, so that on SQLite too a message another sender took meanwhile is left alone.
                leased = session.execute(
                    update(WebhookMessage)
                    .where(WebhookMessage.id == message_id, WebhookMessage.next_attempt_at == planned)
                    .values(next_attempt_at=lease_until)
                ).rowcount
                if leased:
                    taken.append(Taken(message_id, endpoint_id, organisation_id))
                    picked.add(taken[-1])
        return taken

    # --- one attempt ------------------------------------------------------------------------------

    def deliver(self, message_id: str) -> None:
        try:
            prepared = self._prepare(message_id)
            if prepared is None:
                return
            url, secret, body = prepared
            status_code, error = None, None
            try:
                status_code = self.post(url, body, self.headers(message_id, secret, body))
            except DeliveryRefused as exc:
                error = str(exc)
            except DeadlinePassed:  # however the receiver trickled its answer, to its owner this is a timeout
                error = f"no answer within {self.timeout:g} s"
            except Exception as exc:  # whatever the URL or the receiver did, it is this attempt's failure
                error = describe_failure(exc, self.timeout)
            self._record(message_id, status_code, error)
        except Exception:  # a bug or a database outage: the lease makes the message due again later
            logger.exception("webhook message %s: attempt not recorded", message_id)

    def _prepare(self, message_id: str) -> tuple[str, str, str] | None:
        """The URL, secret and body of a message; the body is built and kept at its first attempt."""
        with Session(self.engine) as session, session.begin():
            message = session.get(WebhookMessage, message_id)
            if message is None or message.delivered_at is not None:
                return None  # its webhook was deleted, or another sender delivered it after our lease ran out
            endpoint = session.get(WebhookEndpoint, message.endpoint_id)
            if message.body is None:
                message.body = payload(session, message)
            return endpoint.url, endpoint.secret, message.body

    @staticmethod
    def headers(message_id: str, secret: str, body: str) -> dict[str, str]:
        timestamp = utcnow()  # of this attempt: receivers refuse signatures older than a few minutes
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }

    def post(self, url: str, body: str, headers: dict[str, str]) -> int:
        """POST `body` to `url` and return the answer's status; no redirects are followed (a 3xx is
        not a delivery). Raises DeliveryRefused for a private or unresolvable host."""
        parts = urlsplit(url)
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        address = parts.hostname
        if not self.allow_private:
            try:
                address = check_webhook_url(url)[0]
            except (ForbiddenTarget, UnresolvableHost) as exc:
                raise DeliveryRefused(str(exc)) from None
        host_header = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        if parts.port:
            host_header += f":{parts.port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        tls = {"server_hostname": parts.hostname, "assert_hostname": parts.hostname, "ca_certs": certifi.where()}
        pool_class = HTTPSPool if https else HTTPPool
        with AttemptDeadline(self.timeout) as deadline, pool_class(
            address, port, timeout=urllib3.Timeout(total=self.timeout), retries=False, maxsize=1, deadline=deadline,
            **(tls if https else {}),
        ) as pool:  # fmt: skip
            try:
                response = pool.urlopen("POST", target, body=body.encode("utf-8"),
                                        headers={**headers, "Host": host_header}, redirect=False,
                                        assert_same_host=False, preload_content=False)  # fmt: skip
                response.read(MAX_ANSWER_BYTES)
                response.release_conn()
            except Exception:
                if deadline.expired:
                    raise DeadlinePassed() from None
                raise
            return response.status

    def _record(self, message_id: str, status_code: int | None, error: str | None) -> None:
        now = utcnow()
        delivered = status_code is not None and 200 <= status_code < 300
        with Session(self.engine) as session, session.begin():
            message = session.get(WebhookMessage, message_id, with_for_update=True)
            if message is None:
                return  # its webhook was deleted during the attempt
            message.attempts += 1
            next_attempt_at = self.next_attempt(message.attempts, now) if not delivered else None
            message.next_attempt_at = next_attempt_at
            if delivered:
                message.delivered_at = now
            if error is None and not delivered:
                error = f"HTTP {status_code}"
            session.add(WebhookAttempt(message_id=message_id, endpoint_id=message.endpoint_id, attempted_at=now,
                                       status_code=status_code, error=error, next_attempt_at=next_attempt_at))  # fmt: skip
        if not delivered:
            logger.warning("webhook message %s: %s; next attempt %s", message_id, error, next_attempt_at or "none (gave up)")

    def next_attempt(self, attempts_made: int, now: datetime) -> datetime | None:
        if attempts_made > len(self.retry_delays):
            return None
        return now + timedelta(seconds=self.retry_delays[attempts_made - 1])


def payload(session: Session, message: WebhookMessage) -> str:
    """`{"type", "timestamp", "data"}`: data is the job as GET /v1/jobs/{id} renders it, with the
    counts of its broken links and slow pages, and what changed since its previous crawl for the
    events of a completed job (stored on the job when it completed: db/changes.py)."""
    job = session.get(Job, message.job_id)
    data = WebhookJob.model_validate({
        **presenters.job_detail(job).model_dump(exclude_unset=True),  # absent fields stay absent, as in GET
        "issue_counts": IssueCounts(**results_service.issue_counts(session, job)),
        **({"changes": job.changes} if message.event in CHANGE_EVENTS else {}),
    })  # fmt: skip
    return WebhookPayload(type=message.event, timestamp=message.created_at, data=data).model_dump_json(exclude_unset=True)


def describe_failure(exc: Exception, timeout: float) -> str:
    if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return f"could not connect: {exc.__cause__ or exc}" if exc.__cause__ else "could not connect"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return f"TLS error: {exc}"
    return f"{exc.__class__.__name__}: {exc}"


def run_sender(app: Flask, stop: threading.Event | None) -> None:
    """`flask deliver-webhooks [--loop]`: once, or until `stop` (processes/background.py sets it on
    SIGTERM or Ctrl-C), then finish the attempts in flight."""
    sender = WebhookSender.from_app(app)
    if stop is None:
        click.echo(f"{sender.run_once()} webhook attempt(s) made.")
        return
    # The operator command's log; in make run's loop process, configured already (a no-op).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logger.info("delivering webhooks (%d workers)", sender.workers)
    sender.run(stop)
