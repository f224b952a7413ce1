"""What changed since the last crawl, at scale: two crawls of 100,000 URLs each compared on SQLite
and on PostgreSQL (`python -m bench --only changes`).

Each database is fresh (a temporary SQLite file; a PostgreSQL database `bench_changes_<time>`,
dropped afterwards), migrated, and given one organisation, one domain and two completed jobs of
100,000 task rows each, written directly. The second crawl differs from the first as a site does
between two crawls: 1 % of URLs gone and 1 % new, 0.5 % newly broken and 0.5 % fixed, 1 % slower,
1 % faster, 0.5 % redirected elsewhere. Timed (median of 5, after one warm-up): the summary, as the
crawler computes it when the job completes and as GET /v1/jobs/{id}/changes serves it, and one page
of 50 rows of one kind (the first page, and one deep in the list; the API takes their total from the
summary).
"""
from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

TASKS = 100_000
RUNS = 5
ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")


def _rows(job_id: str, second: bool, rng: random.Random):
    """The task rows of one crawl; the second differs from the first by the shares above."""
    from db.models import url_hash

    now = datetime.now(timezone.utc)
    for n in range(TASKS + (TASKS // 100 if second else 0)):
        roll = rng.random()
        if second and n < TASKS and roll < 0.01:
            continue  # gone
        if not second and n >= TASKS:
            continue
        url = f"https://site.example/docs/page-{n}.html"
        row = {"job_id": job_id, "url": url, "url_hash": url_hash(url), "found_via": "link", "depth": 1 + n % 6,
               "kind": "page", "status": "completed", "http_status": 200, "response_time_ms": 120 + n % 300,
               "cache_status": "HIT", "is_broken": False, "is_slow": False, "is_server_error": False,
               "redirect_hops": 0, "truncated": False, "fetched_at": now}  # fmt: skip
        broken_before = n % 200 == 7
        broken = (broken_before and not (second and roll < 0.5)) or (second and n % 200 == 11)
        if broken:
            row.update(status="failed", http_status=404, is_broken=True)
        if second and n % 100 == 3:
            row["response_time_ms"] = row["response_time_ms"] * 3 + 300  # slower
        if not second and n % 100 == 5:
            row["response_time_ms"] = row["response_time_ms"] * 3 + 300  # faster in the second
        if second and n % 200 == 13:
            row.update(final_url=f"https://site.example/moved-{n}.html", redirect_hops=1)
        yield row


def _load(url: str) -> tuple[str, str, float]:
    """Migrate and fill a database; returns (earlier job id, later job id, seconds taken)."""
    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from control_api.jobs.service import get_or_create_domain
    from control_api.organisations.tokens import create_organisation
    from db import migrate
    from db.engine import make_engine
    from db.models import Job, Task

    started = time.monotonic()
    migrate.upgrade(url)
    engine = make_engine(url)
    rng = random.Random(21)
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    created = datetime.now(timezone.utc) - timedelta(days=1)
    with Session(engine) as session, session.begin():
        organisation, _ = create_organisation(session, "bench changes")
        domain = get_or_create_domain(session, "site.example")
        for index, job_id in enumerate(ids):
            session.add(Job(id=job_id, organisation_id=organisation.id, domain_id=domain.id, status="completed", options={},
                            created_at=created + timedelta(hours=index), timed_pages=TASKS,
                            response_time_ms_sum=TASKS * (270 + index)))  # fmt: skip
    for index, job_id in enumerate(ids):
        batch = []
        for row in _rows(job_id, bool(index), rng):
            batch.append(row)
            if len(batch) == 5000:
                with Session(engine) as session, session.begin():
                    session.execute(insert(Task), batch)
                batch = []
        if batch:
            with Session(engine) as session, session.begin():
                session.execute(insert(Task), batch)
    with engine.begin() as connection:  # committed: statistics analysed in a rolled-back transaction are lost
        connection.exec_driver_sql("ANALYZE tasks" if engine.dialect.name == "postgresql" else "ANALYZE")
    engine.dispose()
    return ids[0], ids[1], time.monotonic() - started


def _median_ms(call) -> tuple[float, object]:
    result = call()  # warm-up
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


def _measure(url: str, label: str, progress) -> list[str]:
    from sqlalchemy.orm import Session

    from contract.changes import ChangeKind
    from db import changes
    from db.engine import make_engine
    from db.models import Job

    before_id, after_id, load = _load(url)
    progress(f"changes: {label}: 2 x {TASKS:,} tasks loaded in {load:.1f} s")
    engine = make_engine(url)
    lines = []
    try:
        with Session(engine) as session:
            before, after = session.get(Job, before_id), session.get(Job, after_id)
            summary_ms, comparison = _median_ms(lambda: changes.comparison(session, after, before))
            total = comparison.summary.new_broken_links
            first_ms, _ = _median_ms(lambda: changes.change_rows(session, before_id, after_id, ChangeKind.NEW_BROKEN_LINKS, 50, 0))
            deep_ms, _ = _median_ms(lambda: changes.change_rows(session, before_id, after_id, ChangeKind.STATUS_CHANGES, 50, 400))
            gone_ms, _ = _median_ms(lambda: changes.change_rows(session, before_id, after_id, ChangeKind.GONE_PAGES, 50, 0))
    finally:
        engine.dispose()
    counts = ", ".join(f"{kind} {count:,}" for kind, count in comparison.summary.model_dump().items())
    lines.append(f"| {label} | summary (all kinds) | {summary_ms:,.0f} ms |")
    lines.append(f"| {label} | 50 rows of new_broken_links (with referrers), page 1 of {total:,} | {first_ms:,.0f} ms |")
    lines.append(f"| {label} | 50 rows of status_changes at offset 400 | {deep_ms:,.0f} ms |")
    lines.append(f"| {label} | 50 rows of gone_pages (from the earlier crawl's side) | {gone_ms:,.0f} ms |")
    progress(f"changes: {label}: summary {summary_ms:.0f} ms ({counts})")
    return lines


def measure(progress) -> str:
    """The section of the bench report: a markdown table of the timings on each database."""
    lines = ["| database | what | median of 5 |", "|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="bench-changes-") as directory:
        lines += _measure(f"sqlite:///{Path(directory) / 'changes.db'}", "SQLite", progress)
    import psycopg2

    name = f"bench_changes_{int(time.time())}"
    try:
        admin = psycopg2.connect(f"{ADMIN_URL}/postgres")
    except psycopg2.OperationalError as exc:
        lines.append(f"\nPostgreSQL not measured: {ADMIN_URL} is unreachable ({exc}).")
        return "\n".join(lines) + "\n"
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    try:
        lines += _measure(f"{ADMIN_URL}/{name}", "PostgreSQL", progress)
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
    return "\n".join(lines) + "\n"
