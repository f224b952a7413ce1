"""External link checks as jobs: a real scrapyd node of its own (external checks on, the other
sites' names pinned to 127.0.0.1) and the suite's database. A staging site behind basic auth
and a header is crawled with its secrets, which appear in no answer, export, log, webhook payload
or page; broken external links are reported apart with every referrer; a second job within the
cache's TTL asks the other site nothing (tests/sites/outbound.py has the servers)."""
from __future__ import annotations

import pytest

from control_api.jobs import presenters
from db.models import Job
from tests.helpers import make_test_app
from tests.integration.conftest import free_port, stop_process, wait_for_job
from tests.sites.outbound import OtherSite, OutboundSite
from tests.test_dashboard import sign_in
from control_api.processes.scrapyd_node import start_node, wait_for_launcher, wait_until_ready

pytestmark = pytest.mark.integration

PASSWORD, TOKEN = "pw-staging-6402", "tok-staging-8817"


@pytest.fixture(scope="module")
def node(tmp_path_factory, database_url):
    env = {"DATABASE_URL": database_url, "ALLOW_PRIVATE_TARGETS": "1", "CHECK_EXTERNAL_LINKS": "1",
           "CRAWL_HOST_MAP": "site.test=127.0.0.1,ext.test=127.0.0.1,www.linkedin.com=127.0.0.1",
           "EXTERNAL_DELAY_SECONDS": "0.05", "CRAWLER_LOG_LEVEL": "DEBUG", "CRAWL_PROCESSES": "1"}  # fmt: skip
    workdir = tmp_path_factory.mktemp("scrapyd-external")
    port = free_port()
    process = start_node(workdir, port, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
        assert wait_for_launcher(workdir)
        yield url, workdir
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def app(node, database_url):
    app = make_test_app(database_url, SCRAPYD_URLS=[node[0]])
    yield app
    app.extensions["db_engine"].dispose()


def test_a_staging_job_checks_external_links_reports_them_apart_and_never_shows_its_secrets(app, node, make_org):
    client = app.test_client()
    org = make_org()
    other = OtherSite()
    external = [f"http://ext.test:{other.port}/ok", f"http://ext.test:{other.port}/missing",
                f"http://www.linkedin.com:{other.port}/robots999"]  # fmt: skip
    site = OutboundSite(25, external, credentials=("preview", PASSWORD))
    options = {"basic_auth": {"username": "preview", "password": PASSWORD}, "headers": {"X-Staging-Token": TOKEN},
               "use_sitemap": False}  # fmt: skip
    try:
        created = client.post("/v1/jobs", json={"domain": f"http://site.test:{site.port}", "options": options},
                              headers=org.headers)  # fmt: skip
        assert created.status_code == 201, created.get_json()
        job = wait_for_job(client, org.headers, created.get_json()["id"])
        asked = dict(other.hits)
        assert job["status"] == "completed", job
        assert job["stats"]["external_links_checked"] == 3 and job["stats"]["external_broken"] == 1
        assert job["stats"]["external_from_cache"] == 0
        # The site was crawled with its credentials: every page answered 200.
        assert job["progress"]["completed_tasks"] == 26 + 1 and job["progress"]["failed_tasks"] == 2  # + /ok; /missing, 999
        assert all(entry[3] == TOKEN for entry in site.log) and not any(entry[2] or entry[3] for entry in other.log)

        issues = client.get(f"/v1/jobs/{job['id']}/issues", headers=org.headers).get_json()
        assert issues["broken_links"] == [] and issues["counts"]["external_broken_links"] == 1
        (broken,) = issues["external_broken_links"]
        assert (broken["url"], broken["http_status"], broken["outcome"]) == (external[1], 404, "broken")
        # Every page that links to it, those met after its record was written included.
        assert broken["referrer_count"] == 25
        assert sorted(broken["referrers"]) == sorted(f"http://site.test:{site.port}/p/{index}" for index in range(25))
        assert [link["url"] for link in issues["external_refused_to_robots"]] == [external[2]]

        export = client.get(f"/v1/jobs/{job['id']}/export?format=csv", headers=org.headers).get_data(as_text=True)
        assert all(url in export for url in external)
        # The secrets: in no answer, export, log, webhook payload or page.
        fetched = client.get(f"/v1/jobs/{job['id']}", headers=org.headers)
        assert fetched.get_json()["options"]["basic_auth"]["password"] == "***"
        log = client.get(f"/v1/jobs/{job['id']}/log", headers=org.headers).get_data(as_text=True)
        assert "Spider closed" in log or "spider_closed" in log or "finished" in log
        with app.app_context():
            from sqlalchemy.orm import Session

            with Session(app.extensions["db_engine"]) as session:
                payload = presenters.job_detail(session.get(Job, job["id"])).model_dump_json()
        sign_in(client, org)
        page = client.get(f"/app/jobs/{job['id']}").get_data(as_text=True)
        assert "external-broken-links" in page and external[1] in page
        scrapyd_logs = "".join(path.read_text(errors="replace") for path in node[1].rglob("*.log"))
        assert "Process started" in scrapyd_logs and "X-Staging-Token" in scrapyd_logs  # its arguments are logged
        for text in (fetched.get_data(as_text=True), export, log, payload, page, scrapyd_logs,
                     client.get("/v1/jobs?include=stats,progress", headers=org.headers).get_data(as_text=True)):
            assert PASSWORD not in text and TOKEN not in text

        # Within the cache's TTL a second job asks the other site nothing: the answers are the same.
        again = client.post("/v1/jobs", json={"domain": f"http://site.test:{site.port}", "options": options},
                            headers=org.headers)  # fmt: skip
        second = wait_for_job(client, org.headers, again.get_json()["id"])
        assert second["status"] == "completed"
        assert dict(other.hits) == asked
        assert second["stats"]["external_links_checked"] == 3 and second["stats"]["external_from_cache"] == 3
        assert second["stats"]["external_broken"] == 1
        again_issues = client.get(f"/v1/jobs/{second['id']}/issues", headers=org.headers).get_json()
        assert [link["url"] for link in again_issues["external_broken_links"]] == [external[1]]
    finally:
        site.close()
        other.close()
