"""The reconciler fails a dead crawler's job with its total set to the rows the crawler wrote that
progress counts: pages and resources, not sitemap documents (the crawler's counters neither), so a
failed job still shows at most 100 % and matches its rows."""
from __future__ import annotations

from sqlalchemy.orm import Session

from control_api.nodes.reconciler import Reconciler
from crawler.jobstore import task_row
from crawler.records import TaskInfo, new_record
from db.models import Job, Task


def test_a_failed_jobs_total_counts_pages_not_sitemap_documents(app, org, make_job, engine, scheduler):
    job_id = make_job(org, status="running", total_tasks=9, completed_tasks=1)
    with Session(engine) as session, session.begin():
        for url, kind in (("http://example.com/", "page"), ("http://example.com/sitemap.xml", "sitemap")):
            task = TaskInfo(url, url, kind, "start", None, 0)
            session.add(Task(**task_row(job_id, new_record(task, "completed", http_status=200))))

    with app.app_context():
        Reconciler(client=scheduler).fail(job_id, "The crawler process ended")

    with Session(engine) as session:
        job = session.get(Job, job_id)
        assert (job.status, job.total_tasks, job.completed_tasks) == ("failed", 1, 1)
