"""Outgoing webhooks end to end: the sender as `make run` runs it (`flask deliver-webhooks --loop`,
a process of its own), real HTTP receivers on 127.0.0.1, and a real crawl through real scrapyd.
SPEC "Outgoing webhooks: tell me when a crawl ends"."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from standardwebhooks import Webhook

from control_api.webhooks.service import new_secret
from contract.paths import PROJECT_ROOT
from tests.integration.conftest import free_port, run_crawl
from tests.integration.test_service import Service

pytestmark = pytest.mark.integration

FLASK = str(Path(sys.executable).parent / "flask")
RECEIVER_SCRIPT = PROJECT_ROOT / "docs" / "examples" / "webhook_receiver.py"


class Sender:
    """`flask --app control_api deliver-webhooks --loop` with short retry delays."""

    def __init__(self, tmp_path: Path, database_url: str, **config: str):
        env = {**os.environ, "DATABASE_URL": database_url, "ALLOW_PRIVATE_TARGETS": "1", "WEBHOOK_POLL_SECONDS": "0.1",
               "WEBHOOK_RETRY_SECONDS": "0.3,0.3,0.3", **config}  # fmt: skip
        self.output = tmp_path / f"sender-{time.monotonic_ns()}.out"
        with self.output.open("wb") as out:
            self.process = subprocess.Popen([FLASK, "--app", "control_api", "deliver-webhooks", "--loop"], cwd=PROJECT_ROOT,
                                            env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        assert self.process.returncode == 0, self.output.read_text()[-3000:]


@pytest.fixture
def start_sender(tmp_path, database_url):
    senders: list[Sender] = []

    def start(**config: str) -> Sender:
        senders.append(Sender(tmp_path, database_url, **config))
        return senders[-1]

    yield start
    for sender in senders:
        sender.stop()


class ScriptedReceiver:
    """An HTTP server on loopback that records every POST and answers with `statuses` in turn (200
    once they run out), after `delay` seconds."""

    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0):
        self.statuses, self.delay = list(statuses or []), delay
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                time.sleep(receiver.delay)
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/crawls?source=test"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[ScriptedReceiver] = []

    def make(statuses: list[int] | None = None, delay: float = 0.0) -> ScriptedReceiver:
        made.append(ScriptedReceiver(statuses, delay))
        return made[-1]

    yield make
    for server in made:
        server.close()


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def create_webhook(client, org, url: str, events=("job.cancelled",)) -> dict:
    response = client.post("/v1/webhooks", json={"url": url, "events": list(events)}, headers=org.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def deliveries(client, org, webhook_id: str) -> list[dict]:
    response = client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=org.headers)
    assert response.status_code == 200
    return response.get_json()["deliveries"]


def cancelled_job(client, org, make_job) -> str:
    job_id = make_job(org, status="running", total_tasks=3, completed_tasks=2, failed_tasks=1)
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers).status_code == 200
    return job_id


def test_the_example_receiver_verifies_a_delivery_and_refuses_a_forgery(client, org, make_job, start_sender):
    port = free_port()
    hook = create_webhook(client, org, f"http://127.0.0.1:{port}/")
    process = subprocess.Popen([sys.executable, str(RECEIVER_SCRIPT), "--port", str(port)], cwd=PROJECT_ROOT,
                               env={**os.environ, "WEBHOOK_SECRET": hook["secret"]}, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert process.stdout.readline().strip() == f"listening on http://127.0.0.1:{port}/"
        job_id = cancelled_job(client, org, make_job)
        start_sender()
        line = json.loads(process.stdout.readline())
        assert line == {"webhook_id": line["webhook_id"], "repeat": False, "type": "job.cancelled", "job_id": job_id,
                        "status": "cancelled", "pages": 3, "broken_links": 0, "slow_pages": 0}  # fmt: skip
        assert line["webhook_id"].startswith("msg_")

        # Signed with another secret: refused.
        now, body = datetime.now(timezone.utc), '{"type": "job.completed"}'
        forged = {"webhook-id": "msg_forged", "webhook-timestamp": str(int(now.timestamp())),
                  "webhook-signature": Webhook(new_secret()).sign("msg_forged", now, body)}  # fmt: skip
        assert requests.post(f"http://127.0.0.1:{port}/", data=body, headers=forged, timeout=5).status_code == 400
        assert json.loads(process.stdout.readline()) == {"refused": "No matching signature found"}
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_a_failed_delivery_is_retried_under_the_same_webhook_id_until_a_2xx(client, org, make_job, receiver, start_sender):
    flaky = receiver([500, 500])
    hook = create_webhook(client, org, flaky.url)
    job_id = cancelled_job(client, org, make_job)
    start_sender()
    wait_until(lambda: len(deliveries(client, org, hook["id"])) == 3, 20, "three attempts recorded")

    assert len(flaky.requests) == 3
    ids = {headers["webhook-id"] for headers, _ in flaky.requests}
    assert len(ids) == 1 and ids.pop().startswith("msg_")
    bodies = {body for _, body in flaky.requests}
    assert len(bodies) == 1  # the same message each time
    for headers, body in flaky.requests:  # each attempt signed afresh, each verifies
        assert Webhook(hook["secret"]).verify(body, headers) == json.loads(body)
        assert headers["Content-Type"] == "application/json"
    event = json.loads(bodies.pop())
    assert set(event) == {"type", "timestamp", "data"} and event["type"] == "job.cancelled"
    job = client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()
    assert event["data"] == {**job, "issue_counts": {"broken_links": 0, "slow_pages": 0}}
    assert datetime.fromisoformat(event["timestamp"]) == datetime.fromisoformat(job["cancelled_at"])

    newest_first = deliveries(client, org, hook["id"])
    assert [(d["status_code"], d["succeeded"]) for d in newest_first] == [(200, True), (500, False), (500, False)]
    assert newest_first[0]["next_attempt_at"] is None
    assert all(d["next_attempt_at"] > d["attempted_at"] for d in newest_first[1:])
    assert {(d["event"], d["job_id"], d["message_id"]) for d in newest_first} == {("job.cancelled", job_id, flaky.requests[0][0]["webhook-id"])}
    assert newest_first[1]["error"] == "HTTP 500"


def test_a_delivery_pending_when_the_sender_stops_is_sent_after_it_starts_again(client, org, make_job, receiver, start_sender):
    flaky = receiver([503])
    hook = create_webhook(client, org, flaky.url)
    cancelled_job(client, org, make_job)
    first = start_sender(WEBHOOK_RETRY_SECONDS="2")
    wait_until(lambda: deliveries(client, org, hook["id"]), 20, "the first attempt recorded")
    first.stop()
    retry_at = datetime.fromisoformat(deliveries(client, org, hook["id"])[0]["next_attempt_at"])
    while datetime.now(timezone.utc) < retry_at + timedelta(seconds=1):
        time.sleep(0.2)
    assert len(flaky.requests) == 1  # nobody sends while the sender is stopped

    start_sender(WEBHOOK_RETRY_SECONDS="2")
    wait_until(lambda: len(flaky.requests) == 2, 20, "the pending delivery sent after the restart")
    assert flaky.requests[0][0]["webhook-id"] == flaky.requests[1][0]["webhook-id"]
    wait_until(lambda: deliveries(client, org, hook["id"])[0]["succeeded"], 10, "the success recorded")


def test_the_sender_gives_up_after_the_last_retry_and_records_timeouts(client, org, make_job, receiver, start_sender):
    slow = receiver([500, 500, 500, 500], delay=1.0)  # past the timeout: no answer is ever read
    hook = create_webhook(client, org, slow.url)
    cancelled_job(client, org, make_job)
    start_sender(WEBHOOK_RETRY_SECONDS="0.2,0.2", WEBHOOK_TIMEOUT_SECONDS="0.3")
    wait_until(lambda: len(deliveries(client, org, hook["id"])) == 3, 20, "three attempts recorded")
    time.sleep(1.5)  # a fourth attempt would have come by now
    attempts = deliveries(client, org, hook["id"])
    assert len(attempts) == 3
    assert [d["error"] for d in attempts] == ["no answer within 0.3 s"] * 3
    assert [d["status_code"] for d in attempts] == [None] * 3
    assert attempts[0]["next_attempt_at"] is None and attempts[1]["next_attempt_at"] is not None


def test_the_private_address_guard_is_checked_again_at_delivery(client, org, make_job, receiver, start_sender):
    # Created while private targets were allowed; the sender runs with the guard on.
    local = receiver()
    hook = create_webhook(client, org, local.url)
    cancelled_job(client, org, make_job)
    start_sender(ALLOW_PRIVATE_TARGETS="", WEBHOOK_RETRY_SECONDS="30")
    attempt = wait_until(lambda: deliveries(client, org, hook["id"]), 20, "the attempt recorded")[0]
    assert attempt["status_code"] is None and "127.0.0.1 is a private or reserved address" in attempt["error"]
    assert local.requests == []


def test_a_real_crawl_fires_started_and_completed_once_each(live_client, make_org, site, receiver, start_sender):
    org = make_org("webhook crawl")
    listener = receiver()
    hook = create_webhook(live_client, org, listener.url, events=["job.started", "job.completed", "job.failed", "job.cancelled"])
    start_sender()
    job = run_crawl(live_client, org, site.url("site.test"), max_pages=20)
    assert job["status"] == "completed"
    wait_until(lambda: len(listener.requests) >= 2, 20, "two deliveries")
    time.sleep(1)  # room for a duplicate to show up, were there one
    events = [json.loads(body) for _, body in listener.requests]
    assert sorted(event["type"] for event in events) == ["job.completed", "job.started"]
    assert len({headers["webhook-id"] for headers, _ in listener.requests}) == 2
    for headers, body in listener.requests:
        Webhook(hook["secret"]).verify(body, headers)
    completed = next(event for event in events if event["type"] == "job.completed")
    issues = live_client.get(f"/v1/jobs/{job['id']}/issues", headers=org.headers).get_json()["counts"]
    final = live_client.get(f"/v1/jobs/{job['id']}", headers=org.headers).get_json()
    assert completed["data"] == {**final, "issue_counts": {"broken_links": issues["broken_links"], "slow_pages": issues["slow_pages"]},
                                 "changes": None}  # the organisation's first crawl of the site: nothing to compare with
    assert completed["data"]["progress"]["total_tasks"] > 0
    assert {event["data"]["id"] for event in events} == {job["id"]}


def test_make_run_keeps_a_sender_alive_that_announces_a_crawl(tmp_path, database_url, site, receiver):
    listener = receiver()
    service = Service(tmp_path, database_url)
    try:
        hook = requests.post(f"{service.api}/v1/webhooks", json={"url": listener.url, "events": ["job.completed"]},
                             headers=service.headers, timeout=10)  # fmt: skip
        assert hook.status_code == 201, hook.text
        sender_pid = wait_until(lambda: service.state()["components"]["webhooks"]["pid"], 10, "the sender up")
        os.kill(sender_pid, signal.SIGKILL)  # restarted with back-off; the message waits in the database
        created = requests.post(f"{service.api}/v1/jobs", json={"domain": site.url("site.test"), "max_pages": 5},
                                headers=service.headers, timeout=10)  # fmt: skip
        assert created.status_code == 201, created.text
        wait_until(lambda: listener.requests, 60, "the completed job announced")
        event = json.loads(listener.requests[0][1])
        assert (event["type"], event["data"]["id"], event["data"]["status"]) == ("job.completed", created.json()["id"], "completed")
        assert service.state()["components"]["webhooks"]["restarts"] == 1
    finally:
        service.stop()
    assert service.process.returncode == 0, service.output.read_text()[-3000:]


def test_deliver_webhooks_without_loop_sends_what_is_due_and_exits(runner, client, org, make_job, receiver):
    listener = receiver([500])
    hook = create_webhook(client, org, listener.url)
    cancelled_job(client, org, make_job)
    result = runner.invoke(args=["deliver-webhooks"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"\d+ webhook attempt\(s\) made\.\n", result.output)
    assert [(d["status_code"], d["succeeded"]) for d in deliveries(client, org, hook["id"])] == [(500, False)]
    assert len(listener.requests) == 1  # the retry is not due yet: run once does not wait for it
