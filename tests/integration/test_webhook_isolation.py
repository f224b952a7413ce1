"""One organisation's slow webhook receiver cannot delay another's deliveries: the sender as `make
run` runs it (`flask deliver-webhooks --loop`), a receiver on loopback that answers one byte at a
time with a dozen messages waiting for it, and another organisation's healthy receiver.
SPEC: "Limits that hold against hostile sites and clients"; control_api/webhooks/sender.py.
"""
from __future__ import annotations

import re
import select
import socket
import threading
import time

import pytest

from tests.integration.test_webhooks import (  # noqa: F401 (fixtures)
    cancelled_job, create_webhook, deliveries, receiver, start_sender, wait_until,
)

pytestmark = pytest.mark.integration

DRIP_EVERY = 1.0  # seconds between two bytes of the slow receiver's answer
DEADLINE = 3.0  # WEBHOOK_TIMEOUT_SECONDS: each attempt's wall-clock deadline
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
# A connection counts as open from its accept until the receiver sees the sender close it, less
# this much: the moment between the sender's close and the receiver's noticing (its thread waking
# on a busy machine) must not make one attempt look as if it overlapped the next.
NOTICE_SLACK = 0.5


class DripReceiver:
    """Reads each request, then sends its status line and headers one byte every DRIP_EVERY seconds."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hooks/drip"
        self.connections = 0
        self.lifetimes: list[tuple[float, float]] = []  # (accepted, closed by the sender), monotonic
        self.lock = threading.Lock()
        self.closing = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(client,), daemon=True).start()

    def _drip(self, client: socket.socket) -> None:
        accepted = time.monotonic()
        with self.lock:
            self.connections += 1
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                request += client.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
            while len(body) < length:  # all of it: what is left unread would make the close a reset
                body += client.recv(65536)
            for byte in ANSWER:
                client.sendall(bytes([byte]))
                readable, _, _ = select.select([client], [], [], DRIP_EVERY)
                if self.closing.is_set() or (readable and not client.recv(1)):
                    break  # the sender closed the connection: it cut the attempt, as it should
        except OSError:
            pass
        finally:
            client.close()
            with self.lock:
                self.lifetimes.append((accepted, time.monotonic() - NOTICE_SLACK))

    @property
    def most_open(self) -> int:
        """The most connections the sender held open at once."""
        with self.lock:
            events = sorted([(start, 1) for start, _ in self.lifetimes] + [(end, -1) for _, end in self.lifetimes])
        open_now = most = 0
        for _, change in events:
            open_now += change
            most = max(most, open_now)
        return most

    def close(self) -> None:
        self.closing.set()
        self.listener.close()


@pytest.fixture
def drip_receiver():
    server = DripReceiver()
    yield server
    server.close()


def test_a_receiver_that_drips_its_answer_delays_only_its_own_organisations_deliveries(
    client, make_org, make_job, drip_receiver, receiver, start_sender,  # noqa: F811
):
    slow_org, other_org = make_org("drip receiver"), make_org("healthy receiver")
    slow_hook = create_webhook(client, slow_org, drip_receiver.url)
    for _ in range(12):
        cancelled_job(client, slow_org, make_job)
    healthy = receiver()
    create_webhook(client, other_org, healthy.url)
    start_sender(WEBHOOK_TIMEOUT_SECONDS=str(DEADLINE), WEBHOOK_RETRY_SECONDS="1,1,1,1,1,1,1,1")
    wait_until(lambda: drip_receiver.connections >= 1, 30, "the sender busy with the drip receiver")
    time.sleep(1.0)

    cancelled_at = time.monotonic()
    cancelled_job(client, other_org, make_job)
    wait_until(lambda: healthy.requests, 5, "the other organisation's delivery")
    delay = time.monotonic() - cancelled_at

    attempts = wait_until(lambda: deliveries(client, slow_org, slow_hook["id"]), DEADLINE + 10, "a cut attempt recorded")
    assert attempts[0]["status_code"] is None
    assert attempts[0]["error"] == f"no answer within {DEADLINE:g} s"
    assert attempts[0]["next_attempt_at"] is not None  # retried on the schedule
    assert drip_receiver.most_open <= 2  # WEBHOOK_ATTEMPTS_PER_ENDPOINT
    print(f"other organisation's delivery {delay:.2f} s after its event")
