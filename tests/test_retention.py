"""Retention (control_api/jobs/retention.py): per-URL rows of jobs that ended long ago are deleted in
batches; the job, its counters and stats stay and say the rows were pruned; its per-URL endpoints
answer 410 tasks_pruned."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_api.jobs.retention import prune
from crawler.jobstore import task_row
from crawler.records import TaskInfo, new_record
from db.models import BrokenLinkReferrer, Job, Task, utcnow
from tests.helpers import assert_error


def add_rows(engine, job_id: str, count: int) -> None:
    with Session(engine) as session, session.begin():
        for index in range(count):
            url = f"http://example.com/{index}"
            record = new_record(TaskInfo(url, url, "page", "link", None, 1), "completed", http_status=200)
            session.add(Task(**task_row(job_id, record)))
        session.add(BrokenLinkReferrer(job_id=job_id, target_url_hash="0" * 16, referrer="http://example.com/"))


def rows(engine, model, job_id: str) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model).where(model.job_id == job_id))


def test_old_jobs_rows_are_deleted_in_batches_and_their_counters_kept(client, org, make_job, engine):
    ended_long_ago = utcnow() - timedelta(days=100)
    counters = {"total_tasks": 12, "completed_tasks": 12, "timed_pages": 12, "response_time_ms_sum": 1200, "total_bytes": 4096}
    old = make_job(org, status="completed", created_at=ended_long_ago, completed_at=ended_long_ago, **counters)
    recent = make_job(org, status="completed", completed_at=utcnow() - timedelta(days=10), **counters)
    running = make_job(org, status="running", created_at=ended_long_ago)
    for job_id in (old, recent, running):
        add_rows(engine, job_id, 12)
    before = client.get(f"/v1/jobs/{old}", headers=org.headers).get_json()

    report = prune(engine, days=90, batch=5)

    assert old in report.job_ids and recent not in report.job_ids and running not in report.job_ids
    assert rows(engine, Task, old) == rows(engine, BrokenLinkReferrer, old) == 0
    assert rows(engine, Task, recent) == rows(engine, Task, running) == 12
    assert report.transactions >= 3 + 1  # 12 task rows in batches of 5, then the referrer
    after = client.get(f"/v1/jobs/{old}", headers=org.headers).get_json()
    assert after.pop("tasks_pruned_at")
    assert after == before  # progress, stats and everything else unchanged
    assert "tasks_pruned_at" not in client.get(f"/v1/jobs/{recent}", headers=org.headers).get_json()
    for endpoint in ("tasks", "issues", "export?format=csv"):
        assert_error(client.get(f"/v1/jobs/{old}/{endpoint}", headers=org.headers), 410, "tasks_pruned")
    assert client.get(f"/v1/jobs/{recent}/tasks", headers=org.headers).status_code == 200
    assert old not in prune(engine, days=90, batch=5).job_ids  # done once


def test_an_interrupted_prune_is_taken_up_again_and_zero_days_keeps_everything(org, make_job, engine):
    ended_long_ago = utcnow() - timedelta(days=100)
    job_id = make_job(org, status="failed", created_at=ended_long_ago, completed_at=ended_long_ago,
                      tasks_pruned_at=ended_long_ago)  # fmt: skip
    add_rows(engine, job_id, 3)
    assert prune(engine, days=0).rows == 0 and rows(engine, Task, job_id) == 3
    assert job_id in prune(engine, days=90).job_ids
    assert rows(engine, Task, job_id) == 0
    with Session(engine) as session:
        assert session.get(Job, job_id).tasks_pruned_at is not None
