"""Operator view of the nodes (`flask --app control_api nodes`) and a crawler machine's refusals
(`python -m control_api.processes.scrapyd_node` beyond loopback needs PostgreSQL)."""
from __future__ import annotations

import pytest

from control_api.processes.scrapyd_node import refuse_sqlite_beyond_loopback


def test_nodes_lists_each_node_its_slots_and_its_running_jobs(app, runner, scheduler, org, make_job):
    scheduler.urls = ["http://node-a.invalid", "http://node-b.invalid"]
    scheduler.slots = {"http://node-a.invalid": 3}
    job_id = make_job(org, status="running", scrapyd_node="http://node-a.invalid")
    result = runner.invoke(args=["nodes"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("http://node-a.invalid  up    slots 3, free 2") for line in lines), result.output
    assert f"    running {job_id}" in lines
    assert any(line.startswith("http://node-b.invalid  up    slots unlimited") for line in lines)
    assert "waiting for a free slot" in lines[-1]
    scheduler.fail_with = "scrapyd at http://node-a.invalid is unreachable: ConnectionError"
    result = runner.invoke(args=["nodes"])
    assert "http://node-a.invalid  DOWN  slots 3, not answering" in result.output


@pytest.mark.parametrize("url", ["", "sqlite:///var/crawl.db"])
def test_a_node_bound_beyond_loopback_refuses_sqlite(url):
    with pytest.raises(SystemExit, match="shared PostgreSQL"):
        refuse_sqlite_beyond_loopback("0.0.0.0", url)
    refuse_sqlite_beyond_loopback("127.0.0.1", url)  # one machine: fine
    refuse_sqlite_beyond_loopback("0.0.0.0", "postgresql://crawl@db/crawl")
