"""Publish hooks on the API as `make run` serves it (gunicorn, several worker processes), handing
crawls to a real scrapyd that crawls the test site: a burst of concurrent calls of one trigger URL
starts one crawl, on SQLite and on PostgreSQL. SPEC: "Incoming publish hooks"."""
from __future__ import annotations

import http.client
import os
import time
from concurrent.futures import ThreadPoolExecutor
from subprocess import Popen
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from contract.paths import PROJECT_ROOT
from db.models import Job
from tests.integration.conftest import free_port, gunicorn_command, stop_process, wait_for_job

pytestmark = pytest.mark.integration

BURST = 10


@pytest.fixture
def api(tmp_path, database_url, scrapyd):
    """gunicorn with four workers, so that the burst's calls race in separate processes."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("SCRAPYD_")}
    env.update({"DATABASE_URL": database_url, "SCRAPYD_URL": scrapyd.url, "ALLOW_PRIVATE_TARGETS": "1"})
    command = gunicorn_command(port, "--access-logfile", str(tmp_path / "access.log"))
    command[command.index("--workers") + 1] = "4"
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as output:
        process = Popen(command, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=output)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        try:
            requests.get(f"{url}/v1/openapi.json", timeout=2)
            break
        except requests.RequestException:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    yield url
    stop_process(process)


def call(url: str) -> requests.Response:
    with requests.Session() as session:  # a fresh connection per call, which any worker may accept
        return session.post(url, data=b'{"triggerType": "site_publish"}', timeout=30,
                            headers={"Content-Type": "application/json", "Connection": "close"})  # fmt: skip


def test_a_burst_of_calls_starts_one_crawl_and_a_deleted_trigger_is_404(api, site, make_org, engine, live_client):
    org = make_org("publishes")
    created = requests.post(f"{api}/v1/triggers", headers=org.headers, timeout=10,
                            json={"domain": site.url("site.test"), "name": "cms publish", "options": {"max_pages": 5}})  # fmt: skip
    assert created.status_code == 201, created.text
    trigger = created.json()
    assert trigger["url"].startswith(f"{api}/hooks/")

    site.delay = 0.3  # the crawl is still running when the last call of the burst arrives
    try:
        with ThreadPoolExecutor(BURST) as pool:
            answers = list(pool.map(call, [trigger["url"]] * BURST))
    finally:
        site.delay = 0.0

    assert [answer.status_code for answer in answers] == [202] * BURST, [a.text for a in answers]
    job_ids = {answer.json()["job_id"] for answer in answers}
    assert len(job_ids) == 1
    with Session(engine) as session:
        jobs = session.scalars(select(Job).where(Job.organisation_id == org.id)).all()
    assert [job.id for job in jobs] == list(job_ids)

    job = wait_for_job(live_client, org.headers, jobs[0].id)
    assert (job["status"], job["source_type"], job["source_detail"]) == ("completed", "webhook", "cms publish")
    assert 0 < job["progress"]["completed_tasks"] <= 5

    assert requests.delete(f"{api}/v1/triggers/{trigger['id']}", headers=org.headers, timeout=10).status_code == 204
    gone = call(trigger["url"])
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "trigger_not_found"
    assert call(f"{api}/hooks/{urlsplit(trigger['url']).path.rsplit('/', 1)[1][:-1]}").status_code == 404


def test_the_access_log_of_gunicorn_shows_no_trigger_secret(api, site, make_org, tmp_path):
    """SPEC: "trigger paths are redacted in access logs": a call (202), an unknown secret (404), the
    same with a query string and with `/hooks/` percent-encoded; gunicorn's access log as `make run`
    writes it shows `/hooks/<4 characters>***` and never a secret."""
    org = make_org("logs")
    created = requests.post(f"{api}/v1/triggers", headers=org.headers, timeout=10,
                            json={"domain": site.url("site.test"), "name": "cms", "options": {"max_pages": 2}})  # fmt: skip
    assert created.status_code == 201, created.text
    secret = urlsplit(created.json()["url"]).path.rsplit("/", 1)[1]
    guess = "Gu3ssedSecretThatIsNotStoredAnywhere0123456"
    assert call(f"{api}/hooks/{secret}").status_code == 202
    assert call(f"{api}/hooks/{secret}?source=webflow").status_code == 202
    assert call(f"{api}/hooks/{guess}").status_code == 404
    raw = http.client.HTTPConnection(urlsplit(api).hostname, urlsplit(api).port, timeout=10)  # requests decodes %68
    raw.request("POST", f"/%68ooks/{guess}")
    assert raw.getresponse().status == 404
    raw.close()

    deadline = time.monotonic() + 10
    while (log := (tmp_path / "access.log").read_text()).count("/hooks/") + log.count("/%68ooks/") < 4:
        assert time.monotonic() < deadline, log
        time.sleep(0.1)
    assert secret[:8] not in log and guess[:8] not in log
    assert f'"POST /hooks/{secret[:4]}*** HTTP/1.1" 202' in log
    assert f'"POST /hooks/{secret[:4]}***?source=webflow HTTP/1.1" 202' in log
    assert f'"POST /hooks/{guess[:4]}*** HTTP/1.1" 404' in log and f'"POST /%68ooks/{guess[:4]}*** HTTP/1.1" 404' in log
