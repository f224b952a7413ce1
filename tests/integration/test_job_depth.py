"""A job's rows get their shortest click depth even though its records go to the database before
their depth is final (docs/crawler.md, "Depth"): on tests/sites/behaviour.py's depth site the
depth-3 path to /target arrives first (/a, one click down, answers after 1 s), its row is written at
depth 3 and corrected when /a's link arrives. Through the API, scrapyd and the launcher."""
from __future__ import annotations

import pytest

from control_api.processes.scrapyd_node import start_node, wait_for_launcher, wait_until_ready
from tests.helpers import make_test_app
from tests.integration.conftest import HOST_MAP, free_port, stop_process, tasks_of, wait_for_job
from tests.sites.behaviour import BEHAVIOUR_HOST_MAP, DEPTHS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def behaviour_node(tmp_path_factory, scrapyd_env, database_url):
    """A scrapyd node that resolves the behaviour sites' names to loopback."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("scrapyd-behaviour")
    process = start_node(workdir, port, env={**scrapyd_env, "CRAWL_HOST_MAP": f"{HOST_MAP},{BEHAVIOUR_HOST_MAP}"})
    url = f"http://127.0.0.1:{port}"
    app = make_test_app(database_url, SCRAPYD_URLS=[url])
    try:
        wait_until_ready(url, process)
        assert wait_for_launcher(workdir)
        yield app
    finally:
        app.extensions["db_engine"].dispose()
        stop_process(process)


def test_a_jobs_rows_end_at_their_click_depth_when_the_deeper_path_arrives_first(behaviour_node, site, make_org,
                                                                                  engine):  # fmt: skip
    client, org = behaviour_node.test_client(), make_org()
    base = site.url("depth.test", "")
    created = client.post("/v1/jobs", json={"domain": base + "/"}, headers=org.headers)
    assert created.status_code == 201, created.get_json()
    job = wait_for_job(client, org.headers, created.get_json()["id"])
    assert job["status"] == "completed", job
    rows = {url.removeprefix(base): row for url, row in tasks_of(engine, job["id"]).items() if row.kind == "page"}
    assert {path: row.depth for path, row in rows.items()} == DEPTHS
    assert rows["/target"].referrer == base + "/a" and rows["/target"].found_via == "link"
    assert rows["/target-child"].referrer == base + "/target"
