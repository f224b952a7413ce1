"""The reconciler and a scrapyd node that stops answering (control_api/nodes/reconciler.py): its silent
running jobs fail with pages kept, the jobs it never started wait again for another node, and a
crawler that still reports keeps its job. tests/integration/test_nodes.py kills a real node."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_api.nodes.reconciler import Reconciler
from control_api.nodes.scrapyd_client import SchedulerUnavailable
from crawler.jobstore import task_row
from crawler.records import TaskInfo, new_record
from db.models import Job, ScrapydNode, Task, utcnow

LOST, ALIVE = "http://lost-node.invalid", "http://alive-node.invalid"


class Nodes:
    urls = [LOST, ALIVE]

    def list_jobs(self, node: str) -> dict:
        if node == LOST:
            raise SchedulerUnavailable(f"scrapyd at {node} is unreachable: ConnectionError")
        return {"pending": [], "running": [], "finished": []}


def test_a_lost_nodes_jobs_fail_or_go_back_to_the_waiting_line(app, org, make_job, engine):
    long_ago = utcnow() - timedelta(minutes=5)
    silent = make_job(org, status="running", scrapyd_node=LOST, claim="s" * 32, created_at=long_ago,
                      heartbeat_at=long_ago, completed_tasks=1, total_tasks=7)  # fmt: skip
    reporting = make_job(org, status="running", scrapyd_node=LOST, claim="r" * 32, created_at=long_ago,
                         heartbeat_at=utcnow())  # fmt: skip
    never_started = make_job(org, status="created", scrapyd_node=LOST, claim="n" * 32, created_at=long_ago)
    with Session(engine) as session, session.begin():
        url = "http://example.com/"
        session.add(Task(**task_row(silent, new_record(TaskInfo(url, url, "page", "start", None, 0), "completed",
                                                       http_status=200))))  # fmt: skip
    reconciler = Reconciler(client=Nodes(), grace=timedelta(seconds=30))
    with app.app_context():
        first = dict(reconciler.run_once())
        with Session(engine) as session, session.begin():  # the node has been silent longer than the grace
            session.get(ScrapydNode, LOST).unreachable_since = long_ago
        second = dict(reconciler.run_once())

    assert "stopped answering" in first[silent] and "lost" in first[silent]
    assert reporting not in first and reporting not in second
    with Session(engine) as session:
        failed, kept, requeued = (session.get(Job, job_id) for job_id in (silent, reporting, never_started))
        assert (failed.status, failed.total_tasks, failed.completed_tasks) == ("failed", 1, 1)  # pages kept, counters = rows
        assert session.scalar(select(Task.id).where(Task.job_id == silent)) is not None
        assert kept.status == "running"
        assert (requeued.status, requeued.scrapyd_node, requeued.claim, requeued.dispatched_at) == ("created", None, None, None)
        assert session.get(ScrapydNode, ALIVE).unreachable_since is None
    with Session(engine) as session, session.begin():  # not left waiting for the rest of the suite
        session.get(Job, never_started).status = "cancelled"
        session.get(Job, reporting).status = "cancelled"
