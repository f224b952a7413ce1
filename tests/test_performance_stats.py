"""A job's performance stats (db/performance.py): the percentiles, status counts and issue counts
are computed once, by whoever ends the job, and then agree with the job's /tasks rows, which this
test recomputes them from; they are served in GET job, the list's include=stats and webhook
payloads, and read from the job row (they survive the rows' deletion), null while the job runs."""
from __future__ import annotations

import json
import math
import random

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from contract.record import FEED_FIELDS
from control_api.webhooks.sender import payload
from crawler.jobstore import JobStore
from db.models import Task, WebhookMessage, utcnow
from db.performance import nearest_rank, summarise
from tests.test_dashboard import sign_in

PERFORMANCE_KEYS = ("response_time_p50", "response_time_p75", "response_time_p95", "response_time_p99", "ttfb_p50",
                    "ttfb_p95", "status_counts", "broken_links", "slow_pages", "redirects", "server_errors")  # fmt: skip


def record(n: int, rng: random.Random) -> dict:
    """A varied record: pages and resources, 2xx..5xx and network errors, redirects, warm fetches."""
    row = dict.fromkeys(FEED_FIELDS)
    kind = rng.choices(["page", "resource", "sitemap"], [8, 1, 1])[0]
    http_status = rng.choices([200, 301, 404, 500, 503, None], [60, 3, 10, 5, 2, 5])[0]
    hops = rng.choice([0, 0, 0, 1, 2])
    slow = rng.random() < 0.1
    row.update(
        url=f"http://site.test/p{n}", kind=kind, found_via="link", referrer="http://site.test/", depth=1,
        status="completed" if http_status and http_status < 400 else "failed", http_status=http_status,
        redirect_hops=hops, truncated=False, is_slow=slow, is_broken=http_status in (404, None) and kind != "sitemap",
        is_server_error=bool(http_status and http_status >= 500),
        response_time_ms=(rng.randint(3001, 9000) if slow else rng.randint(1, 3000)) if http_status else None,
        ttfb_ms=rng.randint(1, 500) if http_status and rng.random() < 0.9 else None,
        warm_response_time_ms=rng.randint(1, 50) if http_status and rng.random() < 0.3 else None,
        error_type=None if http_status else rng.choice(["timeout", "redirect_loop"]), referrers=[],
    )  # fmt: skip
    if n % 17 == 0:  # not fetched at all
        row.update(status="skipped", http_status=None, response_time_ms=None, ttfb_ms=None, warm_response_time_ms=None,
                   error_type="robots", is_broken=False, redirect_hops=0)  # fmt: skip
    return row


def crawl(database_url: str, job_id: str, claim: str, count: int, seed: int) -> None:
    """Write `count` records to the running job as the crawler does, in batches."""
    rng = random.Random(seed)
    store = JobStore(database_url, job_id, claim)
    try:
        records = [record(n, rng) for n in range(count)]
        for start in range(0, count, 50):
            store.write_batch(records[start:start + 50], [], count)
    finally:
        store.close()


def all_tasks(client, org, job_id: str) -> list[dict]:
    tasks, offset = [], 0
    while True:
        body = client.get(f"/v1/jobs/{job_id}/tasks?limit=1000&offset={offset}", headers=org.headers).get_json()
        tasks += body["tasks"]
        if not body["pagination"]["has_next"]:
            return tasks
        offset += 1000


def recomputed(tasks: list[dict], referred: set[str] = frozenset()) -> dict:
    """The SPEC's definitions, applied to the rows as the API serves them."""
    timed = [t for t in tasks if t["kind"] == "page" and t["http_status"] is not None]
    times = sorted(t["response_time_ms"] for t in timed if t["response_time_ms"] is not None)
    ttfbs = sorted(t["ttfb_ms"] for t in timed if t["ttfb_ms"] is not None)

    def pct(values, p):  # nearest rank, written out again rather than imported
        return values[math.ceil(p / 100 * len(values)) - 1] if values else None

    checked = [t for t in tasks if t["kind"] != "sitemap" and t["status"] != "skipped"]
    classes = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, "none": 0}
    for t in checked:
        status = t["http_status"]
        classes[f"{status // 100}xx" if status and 200 <= status < 600 else "none"] += 1
    return {
        **{f"response_time_p{p}": pct(times, p) for p in (50, 75, 95, 99)},
        **{f"ttfb_p{p}": pct(ttfbs, p) for p in (50, 95)},
        "status_counts": classes,
        "broken_links": sum(t["status"] == "failed" and t["kind"] != "sitemap" and "broken_link" in t["issues"] for t in tasks),
        "slow_pages": sum("slow" in t["issues"] for t in tasks),
        "redirects": sum(t["kind"] != "sitemap" and (t["redirect_hops"] >= 1 or t["error_type"] in ("redirect_loop", "too_many_redirects")) for t in tasks),
        "server_errors": sum("server_error" in t["issues"] for t in tasks),
    }  # fmt: skip


def test_nearest_rank_percentiles():
    values = list(range(1, 101))
    assert [nearest_rank(values, p) for p in (50, 75, 95, 99)] == [50, 75, 95, 99]
    assert nearest_rank([7], 99) == 7 and nearest_rank([], 50) is None
    assert nearest_rank([1, 2, 3, 1000], 50) == 2 and nearest_rank([1, 2, 3, 1000], 99) == 1000


@pytest.mark.parametrize("seed", [1, 2])
def test_stats_of_a_completed_job_agree_with_its_task_rows(client, org, make_job, database_url, engine, seed):
    job_id = make_job(org, status="running", claim="c1", started_at=utcnow())
    crawl(database_url, job_id, "c1", 700, seed)
    stats = client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()["stats"]
    assert all(stats[key] is None for key in PERFORMANCE_KEYS)  # while it runs: not yet computed
    running_avg = stats["avg_response_time_after_warming"]

    store = JobStore(database_url, job_id, "c1")
    store.finish("completed")
    store.close()

    tasks = all_tasks(client, org, job_id)
    expected = recomputed(tasks)
    stats = client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()["stats"]
    assert {key: stats[key] for key in PERFORMANCE_KEYS} == expected
    assert expected["response_time_p99"] > expected["response_time_p50"] > 0 and expected["status_counts"]["5xx"] > 0
    # the same numbers in the list with include=stats
    listed = client.get("/v1/jobs?include=stats&limit=100", headers=org.headers).get_json()["jobs"]
    assert next(job["stats"] for job in listed if job["id"] == job_id) == stats

    timed = [t for t in tasks if t["kind"] == "page" and t["http_status"] is not None]
    after = round(sum(t["warm_response_time_ms"] or t["response_time_ms"] for t in timed) / len(timed))
    assert stats["avg_response_time_after_warming"] == running_avg == after < stats["avg_response_time"]

    # O(1) to read: from the job row, so the rows' deletion (retention) leaves them as they were
    with Session(engine) as session, session.begin():
        session.execute(delete(Task).where(Task.job_id == job_id))
    assert client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()["stats"] == stats


def test_a_cancelled_job_keeps_the_stats_of_the_rows_it_has(client, org, make_job, database_url, engine):
    job_id = make_job(org, status="running", claim="c2", started_at=utcnow())
    crawl(database_url, job_id, "c2", 120, 3)
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers).status_code == 200
    stats = client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()["stats"]
    assert {key: stats[key] for key in PERFORMANCE_KEYS} == recomputed(all_tasks(client, org, job_id))


def test_webhook_payloads_carry_the_performance_stats(client, org, make_job, database_url, engine):
    job_id = make_job(org, status="running", claim="c3", started_at=utcnow())
    crawl(database_url, job_id, "c3", 60, 4)
    store = JobStore(database_url, job_id, "c3")
    store.finish("completed")
    store.close()
    with Session(engine) as session:
        expected = summarise(session, job_id)
        message = WebhookMessage(job_id=job_id, event="job.completed", created_at=utcnow())
        stats = json.loads(payload(session, message))["data"]["stats"]
    assert {key: stats[key] for key in PERFORMANCE_KEYS} == expected


def test_the_openapi_document_describes_the_performance_stats(client):
    stats = client.get("/v1/openapi.json").get_json()["components"]["schemas"]["Stats"]["properties"]
    assert set(PERFORMANCE_KEYS) | {"avg_response_time_after_warming"} <= set(stats)
    assert "null while it runs" in stats["response_time_p95"]["description"]


def test_the_job_page_shows_the_distribution_once_the_job_ends(client, org, make_job, database_url):
    job_id = make_job(org, status="running", claim="c4", started_at=utcnow())
    crawl(database_url, job_id, "c4", 80, 5)
    sign_in(client, org)
    assert 'id="distribution-pending"' in client.get(f"/app/jobs/{job_id}").get_data(as_text=True)
    store = JobStore(database_url, job_id, "c4")
    store.finish("completed")
    store.close()
    stats = client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()["stats"]
    page = client.get(f"/app/jobs/{job_id}").get_data(as_text=True)
    assert f'data-field="response_time_p95">{stats["response_time_p95"]} ms<' in page
    assert f'data-field="broken_links">{stats["broken_links"]}<' in page
    assert f'2xx: {stats["status_counts"]["2xx"]}, 3xx' in page
    saved = stats["avg_response_time"] - stats["avg_response_time_after_warming"]
    assert f"({saved} ms saved per visit)" in page
