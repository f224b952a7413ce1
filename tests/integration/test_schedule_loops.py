"""The scheduler loop as `make run` starts it (`flask --app control_api run-schedules --loop`), as
real processes on the suite's database, handing real crawls to a real scrapyd: two loops on
PostgreSQL start each due run exactly once, a restart after missed runs starts one job, and on
SQLite a second loop refuses to start. Time is driven by moving `next_run_at` into the past, not
by waiting an interval. SPEC: "Where jobs come from", "Schedules: recurring crawls"."""
from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from subprocess import PIPE, STDOUT, Popen

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from contract.paths import PROJECT_ROOT
from db.models import Job, Schedule, utcnow
from tests.integration.conftest import stop_process
from tests.skips import only_on_postgresql, only_on_sqlite

pytestmark = pytest.mark.integration


def start_loop(database_url: str, scrapyd_url: str, output: Path) -> Popen:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SCRAPYD_")}
    env.update({"DATABASE_URL": database_url, "SCRAPYD_URL": scrapyd_url, "SCHEDULE_POLL_SECONDS": "0.05",
                "PYTHONUNBUFFERED": "1"})  # fmt: skip
    with output.open("ab") as out:
        return Popen([str(Path(sys.executable).parent / "flask"), "--app", "control_api", "run-schedules", "--loop"],
                     cwd=PROJECT_ROOT, env=env, stdout=out, stderr=STDOUT)  # fmt: skip


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def make_due(engine, schedule_ids: list[str], ago: timedelta = timedelta(seconds=1)) -> None:
    with Session(engine) as session, session.begin():
        session.execute(update(Schedule).where(Schedule.id.in_(schedule_ids)).values(next_run_at=utcnow() - ago))


def jobs_by_schedule(engine, schedule_ids: list[str]) -> dict[str, list[Job]]:
    with Session(engine) as session:
        jobs = session.scalars(select(Job).where(Job.schedule_id.in_(schedule_ids))).all()
    return {schedule_id: [job for job in jobs if job.schedule_id == schedule_id] for schedule_id in schedule_ids}


def all_run(engine, schedule_ids: list[str], runs: int) -> bool:
    """Every schedule has `runs` jobs and its next run is in the future again."""
    with Session(engine) as session:
        pending = session.scalar(select(func.count()).where(Schedule.id.in_(schedule_ids), Schedule.next_run_at <= utcnow()))
    return pending == 0 and all(len(j) >= runs for j in jobs_by_schedule(engine, schedule_ids).values())


def cancel_jobs(live_client, engine, schedule_ids: list[str], orgs: dict[str, object]) -> None:
    """End the schedules' jobs through the API and scrapyd, as a user would: the next due run would
    be skipped while they are active. (A scheduled crawl that runs to its end: test_sources_service.py.)"""
    for schedule_id, jobs in jobs_by_schedule(engine, schedule_ids).items():
        for job in jobs:
            response = live_client.post(f"/v1/jobs/{job.id}/cancel", headers=orgs[schedule_id].headers)
            assert response.status_code in (200, 409)  # 409: it had completed already


def create_schedules(live_client, make_org, site, count: int) -> dict[str, object]:
    """{schedule id: its organisation}: one schedule in each of `count` organisations (a job
    conflicts only with its own organisation's); every other one on a cron expression in a zone
    with daylight saving, whose claim is the same move of `next_run_at`."""
    ids = {}
    for n in range(count):
        org = make_org(f"scheduled {n}")
        cadence = {"interval_hours": 6} if n % 2 == 0 else {"cron": "15 3 * * *", "timezone": "America/New_York"}
        body = {"domain": site.url("site.test"), "options": {"max_pages": 3}, **cadence}
        response = live_client.post("/v1/schedules", json=body, headers=org.headers)
        assert response.status_code == 201, response.get_json()
        ids[response.get_json()["id"]] = org
    return ids


@only_on_postgresql("several loops need its row locks; on SQLite a second loop refuses to start, tested below")
def test_two_loops_start_each_due_run_once_and_a_restart_runs_missed_runs_once(
    tmp_path, database_url, engine, scrapyd, live_client, make_org, site
):
    orgs = create_schedules(live_client, make_org, site, 4)
    schedule_ids = list(orgs)
    loops = [start_loop(database_url, scrapyd.url, tmp_path / f"loop-{n}.out") for n in range(2)]
    try:
        for runs in (1, 2):  # two due runs of every schedule, each raced for by both loops
            make_due(engine, schedule_ids)
            wait_until(lambda: all_run(engine, schedule_ids, runs), 60, f"run {runs} of every schedule started")
            time.sleep(0.5)  # room for a duplicate, were there one
            cancel_jobs(live_client, engine, schedule_ids, orgs)
            assert all(loop.poll() is None for loop in loops)
        jobs = jobs_by_schedule(engine, schedule_ids)
        assert {schedule_id: len(j) for schedule_id, j in jobs.items()} == {schedule_id: 2 for schedule_id in schedule_ids}
        for job in (job for j in jobs.values() for job in j):
            assert (job.source_type, job.source_detail) == ("scheduler", "recurring")
    finally:
        for loop in loops:
            stop_process(loop)
    outputs = "".join((tmp_path / f"loop-{n}.out").read_text() for n in range(2))
    assert outputs.count(": started job ") == 8, outputs

    # Down for a day and a bit: four runs missed, one job when a loop starts again.
    restarted = schedule_ids[:1]
    make_due(engine, restarted, ago=timedelta(hours=25))
    loop = start_loop(database_url, scrapyd.url, tmp_path / "loop-restarted.out")
    try:
        wait_until(lambda: all_run(engine, restarted, 3), 60, "the missed run started")
        time.sleep(0.5)
    finally:
        stop_process(loop)
        cancel_jobs(live_client, engine, restarted, orgs)
    assert len(jobs_by_schedule(engine, restarted)[restarted[0]]) == 3
    with Session(engine) as session:
        assert session.get(Schedule, restarted[0]).next_run_at > utcnow()


@only_on_sqlite("the single-scheduler rule is SQLite's")
def test_a_second_loop_on_sqlite_refuses_to_start(tmp_path, database_url, scrapyd):
    lock_path = Path(f"{make_url(database_url).database}.scheduler.lock")

    def holds_the_lock(process: Popen) -> bool:
        """Whether `process` holds an flock on the lock file (read from /proc/locks, so that looking
        never takes the lock itself)."""
        if not lock_path.exists():
            return False
        inode = lock_path.stat().st_ino
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if fields[1] == "FLOCK" and fields[4] == str(process.pid) and fields[5].rsplit(":", 1)[-1] == str(inode):
                return True
        return False

    first = start_loop(database_url, scrapyd.url, tmp_path / "first.out")
    try:
        wait_until(lambda: holds_the_lock(first), 30, "the first loop holds the lock")
        env = {**os.environ, "DATABASE_URL": database_url}
        second = Popen([str(Path(sys.executable).parent / "flask"), "--app", "control_api", "run-schedules", "--loop"],
                       cwd=PROJECT_ROOT, env=env, stdout=PIPE, stderr=STDOUT, text=True)  # fmt: skip
        output, _ = second.communicate(timeout=60)
        assert second.returncode == 1
        assert "Refusing to start: another scheduler loop is already running on the SQLite database" in output
        assert "Traceback" not in output
        assert first.poll() is None
    finally:
        stop_process(first)
    # The lock goes with the process that held it: a loop starts again after it.
    again = start_loop(database_url, scrapyd.url, tmp_path / "again.out")
    try:
        wait_until(lambda: holds_the_lock(again), 30, "the next loop holds the lock")
        time.sleep(0.5)
        assert again.poll() is None, (tmp_path / "again.out").read_text()
    finally:
        stop_process(again)
