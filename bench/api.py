"""API latency on PostgreSQL with a realistic amount of data.

A fresh database `bench_<timestamp>` (dropped afterwards) is migrated and filled with 10,000 jobs
of one organisation and 1,000,000 task rows spread over them, by COPY (streamed from a generator,
never built in memory). Job counters match their task rows, as the crawler keeps them. Then
`GET /v1/jobs/{id}` (random jobs) and `GET /v1/jobs?limit=100` are timed one request at a time:
(a) in-process with Flask's test client, which is the app and the database alone, and (b) over
HTTP against gunicorn with 2 workers, which adds the HTTP stack. p50/p99 over 1,000 requests each,
after a warm-up of 50.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg2

from bench.report import Figure, Table
from bench.server import free_port, log
from contract.paths import PROJECT_ROOT

ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
JOBS, TASKS, REQUESTS, WARMUP = 10_000, 1_000_000, 1_000, 50
OPTIONS = json.dumps({"use_sitemap": True, "find_links": True, "allow_cross_subdomain_links": True, "max_pages": 0,
                      "concurrency": 20, "slow_page_threshold_ms": 3000, "check_resources": False})  # fmt: skip


class LineReader:
    """A file-like object over a generator of text lines, for copy_expert (streams, no big string)."""

    def __init__(self, lines):
        self.lines, self.rest = lines, b""

    def read(self, size: int = 65536) -> bytes:
        parts, length = [self.rest], len(self.rest)
        while length < size:
            line = next(self.lines, None)
            if line is None:
                break
            parts.append(line.encode())
            length += len(parts[-1])
        data = b"".join(parts)
        chunk, self.rest = data[:size], data[size:]
        return chunk

    readline = read


def _fill(url: str) -> tuple[list[str], str]:
    """Insert the organisation, its jobs and their tasks; returns (job ids, the org's API token)."""
    from sqlalchemy.orm import Session

    from control_api.jobs.service import get_or_create_domain
    from control_api.organisations.tokens import create_organisation
    from db.engine import make_engine

    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        organisation, token = create_organisation(session, "bench")
        domain_ids = [get_or_create_domain(session, f"site-{n}.example").id for n in range(50)]
        org_id = organisation.id
    engine.dispose()
    rng = random.Random(7)
    now = datetime.now(timezone.utc)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(JOBS)]
    # Tasks per job: uneven like real sites, summing to exactly TASKS.
    weights = [rng.uniform(0.2, 1.8) for _ in range(JOBS)]
    counts = [int(TASKS * w / sum(weights)) for w in weights]
    counts[0] += TASKS - sum(counts)
    # Per-job status split of its tasks: 90 % completed, 7 % failed, the rest skipped.
    split = [(c * 90 // 100, c * 7 // 100, c - c * 90 // 100 - c * 7 // 100) for c in counts]

    def job_lines():
        for n, (job_id, count, (done, failed, skipped)) in enumerate(zip(ids, counts, split)):
            created = now - timedelta(minutes=n * 13)  # ~90 days of history
            row = (job_id, org_id, domain_ids[n % 50], "completed", OPTIONS, "api", created.isoformat(),
                   created.isoformat(), (created + timedelta(minutes=5)).isoformat(), count, done, failed, skipped,
                   done + failed, (done + failed) * 180, done + failed, done, count * 12_000)  # fmt: skip
            yield "\t".join(map(str, row)) + "\n"

    def task_lines():
        stamp = now.isoformat()
        for job_id, (done, failed, skipped) in zip(ids, split):
            for n in range(done + failed + skipped):
                status = "completed" if n < done else "failed" if n < done + failed else "skipped"
                http = "200" if n < done else "404" if n < done + failed else "\\N"
                yield (f"{job_id}\thttps://site.example/docs/page-{n}.html\t{n:016x}\tlink\thttps://site.example/\t"
                       f"{1 + n % 6}\tpage\t{status}\t{http}\t{120 + n % 300}\t{40 + n % 90}\ttext/html\t12000\tf\t"
                       f"HIT\t{'t' if n % 50 == 0 else 'f'}\t{'t' if status == 'failed' else 'f'}\tf\t0\t{stamp}\n")  # fmt: skip

    connection = psycopg2.connect(url)
    with connection, connection.cursor() as cursor:
        cursor.copy_expert(
            "COPY jobs (id, organisation_id, domain_id, status, options, source_type, created_at, started_at, "
            "completed_at, total_tasks, completed_tasks, failed_tasks, skipped_tasks, timed_pages, "
            "response_time_ms_sum, cache_known_pages, cache_hit_pages, total_bytes) FROM STDIN", LineReader(job_lines()))
        cursor.copy_expert(
            "COPY tasks (job_id, url, url_hash, found_via, referrer, depth, kind, status, http_status, "
            "response_time_ms, ttfb_ms, content_type, bytes, truncated, cache_status, is_slow, is_broken, "
            "is_server_error, redirect_hops, fetched_at) FROM STDIN", LineReader(task_lines()))  # fmt: skip
        cursor.execute("ANALYZE")
    connection.close()
    return ids, token


def _add_latency(table: Table, name: str, samples: list[float]) -> None:
    """p50 as a Figure over every sample (so min–max are the fastest and slowest request), then p99."""
    samples = sorted(s * 1000 for s in samples)
    p99 = samples[min(len(samples) - 1, round(0.99 * len(samples)) - 1)]
    table.add(Figure(f"{name} p50", "ms", samples, f"{len(samples)} sequential requests after {WARMUP} warm-up", 2))
    table.add_value(f"{name} p99", p99, "ms", "same requests")


def _time(call, ids: list[str], path_of) -> list[float]:
    rng = random.Random(11)
    for _ in range(WARMUP):
        call(path_of(rng.choice(ids)))
    samples = []
    for _ in range(REQUESTS):
        path = path_of(rng.choice(ids))
        started = time.perf_counter()
        call(path)
        samples.append(time.perf_counter() - started)
    return samples


def _checked(response_status: int, path: str) -> None:
    if response_status != 200:
        raise RuntimeError(f"GET {path} answered {response_status}")


def measure(table: Table, progress=log) -> None:
    """Adds the latency rows to `table`."""
    import requests

    from db import migrate

    name = f"bench_{int(time.time())}"
    admin = psycopg2.connect(f"{ADMIN_URL}/postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    url = f"{ADMIN_URL}/{name}"
    gunicorn = None
    try:
        migrate.upgrade(url)
        started = time.monotonic()
        ids, token = _fill(url)
        load = time.monotonic() - started
        progress(f"api: {JOBS:,} jobs and {TASKS:,} tasks loaded by COPY in {load:.1f} s")
        table.add_value("API data load: 10k jobs + 1M tasks by COPY", load, "s", "set-up cost, not a latency", 1)
        headers = {"Authorization": f"Bearer {token}"}
        paths = {"GET /v1/jobs/{id}": lambda job_id: f"/v1/jobs/{job_id}", "GET /v1/jobs?limit=100": lambda _: "/v1/jobs?limit=100"}

        from control_api import create_app

        app = create_app({"DATABASE_URL": url, "RATE_LIMIT_PER_MINUTE": 0})
        client = app.test_client()

        def in_process(path):
            _checked(client.get(path, headers=headers).status_code, path)

        for label, path_of in paths.items():
            progress(f"api: in-process {label} x {REQUESTS}")
            _add_latency(table, f"{label}, in-process", _time(in_process, ids, path_of))
        app.extensions["db_engine"].dispose()

        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "RATE_LIMIT_PER_MINUTE": "0", "PYTHONPATH": str(PROJECT_ROOT)}
        gunicorn = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                                     "control_api:create_app()"], cwd=PROJECT_ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        session = requests.Session()
        _wait_http(session, f"http://127.0.0.1:{port}/healthz", gunicorn)

        def over_http(path):
            _checked(session.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=30).status_code, path)

        for label, path_of in paths.items():
            progress(f"api: gunicorn -w 2 {label} x {REQUESTS}")
            _add_latency(table, f"{label}, gunicorn -w 2", _time(over_http, ids, path_of))
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(timeout=30)
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def _wait_http(session, url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {process.returncode}")
        try:
            session.get(url, timeout=5)  # any answer will do: 503 only means no scrapyd, unused here
            return
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer {url} within {timeout} s")
