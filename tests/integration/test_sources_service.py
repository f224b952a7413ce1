"""Where jobs come from, on `make run`'s service as a user runs it (`python -m control_api.processes.supervisor`):
the scheduler loop is one of its supervised components, a schedule's run-now job crawls to its end,
and a POST to a trigger URL starts a crawl. SPEC: "Where jobs come from"; README "Recurring crawls,
webhooks and publish hooks"."""
from __future__ import annotations

import os
import signal

import pytest
import requests

from tests.integration.test_service import Service, wait_until

pytestmark = pytest.mark.integration


def finished(service: Service, job_id: str) -> dict | None:
    job = requests.get(f"{service.api}/v1/jobs/{job_id}", headers=service.headers, timeout=10).json()
    return job if job["status"] in ("completed", "failed", "cancelled") else None


def test_run_now_and_a_trigger_url_start_crawls_and_the_scheduler_loop_is_supervised(tmp_path, database_url, site):
    service = Service(tmp_path, database_url)
    try:
        wait_until(lambda: (r := service.health()) is not None and r.status_code == 200 and r.json(), 30, "healthy")
        assert service.health().json()["components"]["schedules"] == "up"

        schedule = requests.post(f"{service.api}/v1/schedules", headers=service.headers, timeout=10, json={
            "domain": site.url("site.test"), "options": {"max_pages": 5}, "interval_hours": 24})  # fmt: skip
        assert schedule.status_code == 201, schedule.text
        # scrapyd lists the project's spiders in a subprocess the first time, and caches the list: on a
        # busy machine that can outlast the API's SCRAPYD_TIMEOUT, so it is done before the first job.
        spiders = requests.get(f"{service.scrapyd}/listspiders.json?project=crawler", auth=service.credentials(), timeout=120)
        assert spiders.json()["spiders"] == ["site"], spiders.text
        run = requests.post(f"{service.api}/v1/schedules/{schedule.json()['id']}/run", headers=service.headers, timeout=60)
        assert run.status_code == 201, run.text
        job = wait_until(lambda: finished(service, run.json()["id"]), 60, "the run-now job ends")
        assert (job["status"], job["source_type"], job["source_detail"]) == ("completed", "scheduler", "run_now")
        assert job["schedule_id"] == schedule.json()["id"] and job["progress"]["completed_tasks"] > 0

        trigger = requests.post(f"{service.api}/v1/triggers", headers=service.headers, timeout=10, json={
            "domain": site.url("www.site.test"), "name": "webflow site_publish"})  # fmt: skip
        assert trigger.status_code == 201, trigger.text
        hook_url = trigger.json()["url"]
        assert hook_url.startswith(f"{service.api}/hooks/")
        called = requests.post(hook_url, json={"triggerType": "site_publish", "payload": {}}, timeout=60)  # no token
        assert called.status_code == 202, called.text
        job = wait_until(lambda: finished(service, called.json()["job_id"]), 60, "the hook's job ends")
        assert (job["status"], job["source_type"], job["source_detail"]) == ("completed", "webhook", "webflow site_publish")

        loop_pid = service.pid("schedules")  # the loop is restarted like the other components
        os.kill(loop_pid, signal.SIGKILL)
        wait_until(lambda: service.pid("schedules") != loop_pid and service.state()["components"]["schedules"]["state"] == "up",
                   15, "the scheduler loop restarted")  # fmt: skip
    finally:
        service.stop()
    assert service.process.returncode == 0, service.output.read_text()[-3000:]
    assert "the scheduler loop" in service.output.read_text()
