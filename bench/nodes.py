"""Several scrapyd nodes against one: the same small-site jobs, total time and jobs/min.

    .venv/bin/python -m bench.nodes --database-url postgresql://postgres@127.0.0.1:5432/bench_nodes \
        --jobs 50 --layouts 1x2,3x2

A layout `NxS` is N scrapyd nodes of S slots (max_proc) each, all on this machine, sharing one
PostgreSQL database (it must exist; it is migrated). The API runs in-process (Flask test client)
with capacity-aware dispatch (control_api/nodes/dispatcher.py); one thread runs the dispatch rounds as
`reconcile --loop` would (every 0.3 s). The site is the test suite's blog.site.test (two pages and
robots.txt, tests/sites), so a job is mostly the crawler process's start-up, scheduling and the
lifecycle writes: the per-job overhead that more nodes spread. Each job's rows are then counted, and
the retention prune of all of them measured (rows/s, longest transaction). docs/scale.md has figures.
"""
from __future__ import annotations

import argparse
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

HOST_MAP = "blog.site.test=127.0.0.1,site.test=127.0.0.1"


def run_layout(database_url: str, nodes: int, slots: int, jobs: int, workdir: Path) -> dict:
    from control_api import create_app
    from control_api.database import session_scope
    from control_api.nodes.dispatcher import dispatch_waiting
    from control_api.nodes.scrapyd_client import SchedulerUnavailable
    from control_api.processes.scrapyd_node import start_node, wait_until_ready
    from control_api.organisations.tokens import create_organisation
    from tests.integration.conftest import free_port
    from tests.sites.server import SiteServer

    env = {"DATABASE_URL": database_url, "ALLOW_PRIVATE_TARGETS": "1", "CRAWL_HOST_MAP": HOST_MAP}
    processes, urls = [], []
    with SiteServer() as site:
        try:
            for index in range(nodes):
                port = free_port()
                processes.append(start_node(workdir / f"node{index}", port, env=env, new_session=True, max_proc=slots))
                urls.append(f"http://127.0.0.1:{port}")
            for url, process in zip(urls, processes):
                wait_until_ready(url, process)
            app = create_app({"DATABASE_URL": database_url, "SCRAPYD_URLS": urls, "SCRAPYD_SLOTS": dict.fromkeys(urls, slots),
                              "ALLOW_PRIVATE_TARGETS": True, "RATE_LIMIT_PER_MINUTE": 0})  # fmt: skip
            engine = app.extensions["db_engine"]
            with Session(engine) as session, session.begin():
                _, token = create_organisation(session, f"bench {nodes}x{slots}")
            headers = {"Authorization": f"Bearer {token}"}
            client = app.test_client()
            stopping = threading.Event()

            def dispatch_loop() -> None:
                with app.app_context():
                    while not stopping.wait(0.3):
                        try:
                            dispatch_waiting(session_scope, app.extensions["scheduler"])
                        except SchedulerUnavailable:
                            pass

            dispatcher = threading.Thread(target=dispatch_loop, daemon=True)
            dispatcher.start()
            body = {"domain": site.url("blog.site.test"), "allow_concurrent": True,
                    "options": {"allow_cross_subdomain_links": False, "use_sitemap": False}}  # fmt: skip
            started = time.monotonic()
            ids = []
            for _ in range(jobs):
                response = client.post("/v1/jobs", json=body, headers=headers)
                assert response.status_code == 201, response.get_json()
                ids.append(response.get_json()["id"])
            statuses = {}
            while len(statuses) < len(ids):
                for job_id in ids:
                    if job_id not in statuses:
                        status = client.get(f"/v1/jobs/{job_id}", headers=headers).get_json()["status"]
                        if status in ("completed", "failed", "cancelled"):
                            statuses[job_id] = status
                time.sleep(0.2)
            seconds = time.monotonic() - started
            stopping.set()
            dispatcher.join()
            from db.models import Job

            with Session(engine) as session:
                per_node = dict(session.execute(
                    select(Job.scrapyd_node, func.count()).where(Job.id.in_(ids)).group_by(Job.scrapyd_node)
                ).all())  # fmt: skip
            engine.dispose()
            return {"layout": f"{nodes}x{slots}", "seconds": seconds, "jobs_per_minute": jobs / seconds * 60,
                    "completed": sum(1 for s in statuses.values() if s == "completed"), "jobs": jobs,
                    "per_node": sorted(per_node.values())}  # fmt: skip
        finally:
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=30)


def measure_prune(database_url: str, rows: int, batch: int) -> dict:
    """Insert `rows` task rows for one job that ended 100 days ago, then prune them in batches."""
    import uuid
    from datetime import timedelta

    from contract.options import JobOptions
    from control_api.jobs.service import get_or_create_domain
    from control_api.jobs.retention import prune
    from control_api.organisations.tokens import create_organisation
    from crawler.jobstore import task_row
    from crawler.records import TaskInfo, new_record
    from db.engine import make_engine
    from db.models import Job, Task, utcnow

    engine = make_engine(database_url)
    long_ago = utcnow() - timedelta(days=100)
    with Session(engine) as session, session.begin():
        organisation, _ = create_organisation(session, "bench prune")
        domain = get_or_create_domain(session, "prune.bench")
        job_id = str(uuid.uuid4())
        job = Job(id=job_id, organisation_id=organisation.id, domain_id=domain.id, status="completed",
                  options=JobOptions().model_dump(), created_at=long_ago, completed_at=long_ago)  # fmt: skip
        session.add(job)
    # Written as crawlers write them: DATABASE_BATCH_SIZE (500) rows per transaction, with the job's
    # counter update in the same transaction; the rate is the database's ceiling for one writer.
    written, insert_seconds = 0, 0.0
    while written < rows:
        chunk = []
        for index in range(written, min(rows, written + 500)):
            url = f"http://prune.bench/page/{index}"
            chunk.append(task_row(job_id, new_record(TaskInfo(url, url, "page", "link", None, 1), "completed", http_status=200)))
        began = time.perf_counter()
        with Session(engine) as session, session.begin():
            session.execute(update(Job).where(Job.id == job_id).values(completed_tasks=Job.completed_tasks + len(chunk)))
            session.execute(Task.__table__.insert(), chunk)
        insert_seconds += time.perf_counter() - began
        written += len(chunk)
    # Other old jobs of this database (earlier bench runs) would be pruned too: leave only ours due.
    with Session(engine) as session, session.begin():
        session.execute(update(Job).where(Job.id != job_id, Job.tasks_pruned_at.is_(None), Job.created_at < utcnow() - timedelta(days=90))
                        .values(tasks_pruned_at=utcnow()))  # fmt: skip
    report = prune(engine, days=90, batch=batch)
    engine.dispose()
    return {"insert_rows_per_second": written / insert_seconds, "rows": report.rows, "seconds": report.seconds, "rows_per_second": report.rows_per_second,
            "transactions": report.transactions, "longest_transaction_ms": report.longest_transaction * 1000}  # fmt: skip


def main() -> None:
    from db import migrate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database (several nodes need one)")
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--layouts", default="1x2,3x2", help="comma-separated NODESxSLOTS")
    parser.add_argument("--prune-rows", type=int, default=200_000)
    parser.add_argument("--prune-batch", type=int, default=5000)
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        raise SystemExit("bench.nodes needs PostgreSQL: several nodes share one database (docs/deploy.md)")
    migrate.upgrade(args.database_url)
    with tempfile.TemporaryDirectory(prefix="bench-nodes-") as tmp:
        for layout in filter(None, args.layouts.split(",")):
            nodes, slots = (int(part) for part in layout.split("x"))
            result = run_layout(args.database_url, nodes, slots, args.jobs, Path(tmp) / layout)
            print(f"{result['layout']}: {result['completed']}/{result['jobs']} completed in {result['seconds']:.1f} s, "
                  f"{result['jobs_per_minute']:.1f} jobs/min, jobs per node {result['per_node']}", flush=True)  # fmt: skip
    if args.prune_rows:
        result = measure_prune(args.database_url, args.prune_rows, args.prune_batch)
        print(f"insert: {result['insert_rows_per_second']:.0f} task rows/s, one writer, 500 rows per transaction", flush=True)
        print(f"prune: {result['rows']} rows in {result['seconds']:.1f} s = {result['rows_per_second']:.0f} rows/s, "
              f"{result['transactions']} transactions of <= {args.prune_batch} rows, longest {result['longest_transaction_ms']:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
