"""A database that stays down when the crawl ends (crawler/pipelines.py, docs/reliability.md): the
pipeline keeps its records, retries, and once DATABASE_CLOSE_TIMEOUT_SECONDS have passed saves them
to var/unwritten/<job>.jsonl instead of dropping them.

The crawler reaches PostgreSQL through a TCP relay on loopback that the test cuts, so the outage is
the crawler's alone: the test keeps its own connection, and other users of the server see nothing.
(tests/integration/test_reliability.py restarts the server itself.)"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import make_url
from sqlalchemy.orm import Session

from contract.paths import PROJECT_ROOT
from db.models import Job
from tests.integration.conftest import HOST_MAP, tasks_of
from tests.integration.test_reliability import wait_for_rows
from tests.skips import only_on_postgresql

pytestmark = [pytest.mark.integration, only_on_postgresql("the crawler reaches the server through a TCP relay")]

CLOSE_TIMEOUT = 3  # DATABASE_CLOSE_TIMEOUT_SECONDS for this crawl (600 by default)


class Relay:
    """127.0.0.1:<port> → the database server, until cut: then every connection is closed and the
    port refuses new ones, as a server that went away does; `resume` listens on the same port again."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = 0
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.resume()

    def resume(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.port = self.listener.getsockname()[1]
        self.listener.listen()
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            server = socket.create_connection(self.target)
            with self.lock:
                self.connections += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way: close() alone would not
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            connections, self.connections = self.connections, []
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()


def test_records_are_kept_in_var_unwritten_when_the_database_stays_down(database_url, engine, make_org, make_job, site,
                                                                         tmp_path):  # fmt: skip
    url = make_url(database_url)
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    claim = "u" * 32
    job_id = make_job(make_org(), domain=site.url("site.test").split("//")[1].rstrip("/"), claim=claim)
    unwritten = PROJECT_ROOT / "var" / "unwritten" / f"{job_id}.jsonl"
    feed, log = tmp_path / "pages.jsonl", tmp_path / "crawl.log"
    through_relay = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    env = {**os.environ, "CRAWL_HOST_MAP": HOST_MAP, "ALLOW_PRIVATE_TARGETS": "1", "CRAWL_PROCESSES": "1",
           "DATABASE_URL": through_relay}  # fmt: skip
    site.delay = 0.2
    crawl = subprocess.Popen(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"domain={site.url('site.test')}",
         "-a", f"_job={job_id}", "-a", f"claim={claim}", "-O", str(feed), "-s", "CONCURRENT_REQUESTS=2",
         "-s", "LOG_LEVEL=INFO", "-s", f"LOG_FILE={log}", "-s", f"DATABASE_CLOSE_TIMEOUT_SECONDS={CLOSE_TIMEOUT}"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_rows(engine, job_id, 3)
        relay.cut()  # the database is gone for the crawler, and stays gone past the close timeout
        site.delay = 0.0
        deadline = time.monotonic() + 60
        while "records saved to" not in (log.read_text() if log.exists() else ""):
            assert crawl.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        saved = [json.loads(line) for line in unwritten.read_text().splitlines()]
        relay.resume()  # back before the job's final status gives up (it retries for 5 minutes)
        assert crawl.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        site.delay = 0.0
        if crawl.poll() is None:
            crawl.kill()
            crawl.wait()
        relay.cut()
        unwritten.unlink(missing_ok=True)
    fetched = {record["url"]: record for record in (json.loads(line) for line in feed.read_text().splitlines())}
    rows = tasks_of(engine, job_id)
    saved_pages = {record["url"]: record for record in saved if "url" in record}
    # Every record is in the database or in the file, none in both, and the file's are whole records.
    assert saved_pages and rows
    assert set(rows).isdisjoint(saved_pages)
    assert set(rows) | set(saved_pages) == set(fetched)
    assert all(record == fetched[url] for url, record in saved_pages.items())
    text = log.read_text()
    assert f"database unavailable for {CLOSE_TIMEOUT} s: {len(saved_pages)} records saved to {unwritten}" in text
    # Then: the database came back. The job lacks those records (nothing imports the file), so it
    # ends failed saying where they are, with counters equal to the rows it has.
    with Session(engine) as session:
        job = session.get(Job, job_id)
    assert job.status == "failed"
    assert f"{len(saved_pages)} records were not written; they are kept in {unwritten}" in job.error
    checked = [row for row in rows.values() if row.kind != "sitemap"]
    assert job.total_tasks == len(checked)
    assert job.completed_tasks + job.failed_tasks + job.skipped_tasks == len(checked)
