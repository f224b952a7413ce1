"""What changed since the last crawl (db/changes.py, GET /v1/jobs/{id}/changes, GET
/v1/domains/{id}/history, the summary stored at completion and `job.regressed`), on task rows
written directly. SPEC "What changed since the last crawl"; the real two-crawl test is
tests/integration/test_changes_crawl.py."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from contract.changes import ChangeKind
from control_api.webhooks.sender import payload
from crawler.jobstore import JobStore
from crawler.records import TaskInfo, new_record
from db.models import BrokenLinkReferrer, Job, Task, WebhookMessage, url_hash

T0 = datetime(2026, 11, 1, 3, 0, tzinfo=timezone.utc)
SITE = "http://shop.example"
CLAIM = "d" * 32


def add_tasks(engine, job_id: str, pages: dict[str, dict], referrers: dict[str, list[str]] | None = None) -> None:
    """Task rows of a job, by path: each a page that answered 200 in 10 ms unless told otherwise."""
    with Session(engine) as session, session.begin():
        for path, fields in pages.items():
            url = SITE + path
            values = {"status": "completed", "http_status": 200, "response_time_ms": 10, "kind": "page", **fields}
            session.add(Task(job_id=job_id, url=url, url_hash=url_hash(url), found_via="link", **values))
        for path, pages_linking in (referrers or {}).items():
            for referrer in pages_linking:
                session.add(BrokenLinkReferrer(job_id=job_id, target_url_hash=url_hash(SITE + path), referrer=SITE + referrer))


BROKEN = {"status": "failed", "http_status": 404, "is_broken": True, "error": "HTTP 404"}
# One URL per kind (and a few that must count as nothing), before and after.
BEFORE = {
    "/": {}, "/same": {"response_time_ms": 400},
    "/gone": {}, "/was-broken": BROKEN, "/broken-and-gone": BROKEN,
    "/redirect": {"final_url": SITE + "/a"}, "/now-500": {},
    "/slower": {"response_time_ms": 100}, "/faster": {"response_time_ms": 900},
    "/noise": {"response_time_ms": 100},  # +150 ms: more than 50 %, not more than 200 ms
    "/became-slow": {"response_time_ms": 2900},
    "/sitemap.xml": {"kind": "sitemap", "content_type": "application/xml"},
}  # fmt: skip
AFTER = {
    "/": {}, "/same": {"response_time_ms": 590},  # +190 ms, +47 %: neither
    "/new": {}, "/new-broken": BROKEN, "/was-broken": {},
    "/redirect": {"final_url": SITE + "/b"}, "/now-500": {"status": "failed", "http_status": 500, "is_server_error": True},
    "/slower": {"response_time_ms": 400}, "/faster": {"response_time_ms": 300},
    "/noise": {"response_time_ms": 250},
    "/became-slow": {"response_time_ms": 3100, "is_slow": True},
}  # fmt: skip
EXPECTED = {
    "new_broken_links": ["/new-broken"], "fixed_broken_links": ["/was-broken", "/broken-and-gone"],
    "new_pages": ["/new"], "gone_pages": ["/gone"], "status_changes": ["/redirect", "/now-500"],
    "slower_pages": ["/slower"], "faster_pages": ["/faster"], "new_slow_pages": ["/became-slow"],
}  # fmt: skip


@pytest.fixture
def two_crawls(make_job, org, engine):
    before = make_job(org, domain="shop.example", status="completed", created_at=T0)
    after = make_job(org, domain="shop.example", status="completed", created_at=T0 + timedelta(days=1))
    add_tasks(engine, before, BEFORE, referrers={"/was-broken": ["/", "/same"], "/broken-and-gone": ["/gone"]})
    add_tasks(engine, after, AFTER, referrers={"/new-broken": ["/", "/new"]})
    return before, after


def changes(client, org, job_id: str, **query):
    return client.get(f"/v1/jobs/{job_id}/changes", query_string=query, headers=org.headers)


def test_each_kind_counts_and_lists_exactly_its_urls(client, org, two_crawls):
    before, after = two_crawls
    response = changes(client, org, after)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["job_id"] == after and body["since_job_id"] == before  # the previous completed crawl, by default
    assert body["summary"] == {kind: len(paths) for kind, paths in EXPECTED.items()}
    assert "items" not in body
    for kind, paths in EXPECTED.items():
        listed = changes(client, org, after, kind=kind).get_json()
        assert [item["url"] for item in listed["items"]] == [SITE + path for path in paths], kind
        assert listed["kind"] == kind and listed["pagination"]["total"] == len(paths)


def test_rows_carry_both_sides_and_the_referrers_of_broken_links(client, org, two_crawls):
    _, after = two_crawls
    new_broken = changes(client, org, after, kind="new_broken_links").get_json()["items"]
    assert new_broken == [{"url": SITE + "/new-broken", "before": None, "referrers": [SITE + "/", SITE + "/new"],
                           "after": {"status": "failed", "http_status": 404, "final_url": None, "response_time_ms": 10,
                                     "cache_status": None, "is_broken": True, "is_slow": False, "error": "HTTP 404"}}]  # fmt: skip
    fixed = {item["url"]: item for item in changes(client, org, after, kind="fixed_broken_links").get_json()["items"]}
    assert fixed[SITE + "/was-broken"]["referrers"] == [SITE + "/", SITE + "/same"]  # where it was broken: before
    assert fixed[SITE + "/was-broken"]["after"]["http_status"] == 200
    assert fixed[SITE + "/broken-and-gone"]["after"] is None
    redirect = changes(client, org, after, kind="status_changes").get_json()["items"][0]
    assert (redirect["before"]["final_url"], redirect["after"]["final_url"]) == (SITE + "/a", SITE + "/b")
    assert "referrers" not in redirect
    gone = changes(client, org, after, kind="gone_pages").get_json()["items"][0]
    assert gone["after"] is None and gone["before"]["http_status"] == 200


def test_the_figures_before_and_after_come_from_the_jobs_stats(client, org, make_job, engine):
    before = make_job(org, domain="figures.example", status="completed", created_at=T0, timed_pages=4,
                      response_time_ms_sum=1000, cache_known_pages=4, cache_hit_pages=1)  # fmt: skip
    after = make_job(org, domain="figures.example", status="completed", created_at=T0 + timedelta(hours=1), timed_pages=2,
                     response_time_ms_sum=301)  # fmt: skip
    body = changes(client, org, after).get_json()
    assert body["avg_response_time"] == {"before": 250, "after": 150}
    assert body["cache_hit_ratio"] == {"before": 0.25, "after": None}
    assert body["summary"] == dict.fromkeys(EXPECTED, 0)


def test_rows_are_paged(client, org, make_job, engine):
    before = make_job(org, domain="paged.example", status="completed", created_at=T0)
    after = make_job(org, domain="paged.example", status="completed", created_at=T0 + timedelta(hours=1))
    add_tasks(engine, after, {f"/p{n}": {} for n in range(7)})
    first = changes(client, org, after, kind="new_pages", limit=3).get_json()
    assert [item["url"] for item in first["items"]] == [f"{SITE}/p{n}" for n in range(3)]
    assert first["pagination"] == {"limit": 3, "offset": 0, "total": 7, "has_next": True}
    last = changes(client, org, after, kind="new_pages", limit=3, page=3).get_json()
    assert [item["url"] for item in last["items"]] == [f"{SITE}/p6"]
    assert last["pagination"] == {"limit": 3, "offset": 6, "total": 7, "has_next": False}
    assert before  # compared with it


def test_since_picks_any_earlier_terminal_crawl_of_the_domain(client, org, make_job, engine):
    first = make_job(org, domain="since.example", status="cancelled", created_at=T0)
    second = make_job(org, domain="since.example", status="completed", created_at=T0 + timedelta(hours=1))
    third = make_job(org, domain="since.example", status="failed", created_at=T0 + timedelta(hours=2))
    add_tasks(engine, first, {"/": {}, "/old": {}})
    add_tasks(engine, second, {"/": {}})
    add_tasks(engine, third, {"/": {}, "/new": {}})
    assert changes(client, org, third).get_json()["since_job_id"] == second  # the previous *completed* one
    body = changes(client, org, third, since=first).get_json()
    assert body["since_job_id"] == first
    assert (body["summary"]["new_pages"], body["summary"]["gone_pages"]) == (1, 1)


def error(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


def test_a_first_crawl_has_nothing_to_compare_with_404(client, org, make_job):
    only = make_job(org, domain="first.example", status="completed")
    assert error(changes(client, org, only)) == (404, "no_earlier_crawl")
    assert error(changes(client, org, "no-such-job")) == (404, "job_not_found")


def test_another_organisations_job_as_since_is_404(client, org, make_org, make_job):
    theirs = make_job(make_org("other"), domain="shared.example", status="completed", created_at=T0)
    ours = make_job(org, domain="shared.example", status="completed", created_at=T0 + timedelta(hours=1))
    assert error(changes(client, org, ours, since=theirs)) == (404, "job_not_found")
    assert error(changes(client, org, ours)) == (404, "no_earlier_crawl")  # theirs is not our previous crawl either


def test_jobs_that_are_not_finished_are_409(client, org, make_job):
    earlier = make_job(org, domain="busy.example", status="completed", created_at=T0)
    running = make_job(org, domain="busy.example", status="running", created_at=T0 + timedelta(hours=1))
    assert error(changes(client, org, running)) == (409, "job_not_finished")
    later = make_job(org, domain="busy.example", status="completed", created_at=T0 + timedelta(hours=2))
    assert error(changes(client, org, later, since=running)) == (409, "job_not_finished")
    assert changes(client, org, later).get_json()["since_job_id"] == earlier


def test_pruned_rows_are_410(client, org, make_job):
    pruned = make_job(org, domain="old.example", status="completed", created_at=T0, tasks_pruned_at=T0 + timedelta(days=90))
    kept = make_job(org, domain="old.example", status="completed", created_at=T0 + timedelta(days=91))
    response = changes(client, org, kept)
    assert error(response) == (410, "tasks_pruned")
    assert pruned in response.get_json()["error"]["message"]


def test_since_must_be_an_earlier_crawl_of_the_same_domain_422(client, org, make_job):
    one = make_job(org, domain="one.example", status="completed", created_at=T0)
    two = make_job(org, domain="two.example", status="completed", created_at=T0 + timedelta(hours=1))
    three = make_job(org, domain="two.example", status="completed", created_at=T0 + timedelta(hours=2))
    assert error(changes(client, org, two, since=one)) == (422, "not_comparable")
    assert error(changes(client, org, two, since=three)) == (422, "not_comparable")
    assert error(changes(client, org, two, since=two)) == (422, "not_comparable")


@pytest.mark.parametrize("query", [{"kind": "new_brokn_links"}, {"colour": "red"}, {"limit": 0}, {"since": "a\x00b"}])
def test_bad_query_strings_are_400(client, org, two_crawls, query):
    _, after = two_crawls
    assert changes(client, org, after, **query).status_code == 400


# --- computed once, at completion -----------------------------------------------------------------

def record(path: str, status: str = "completed", http_status: int = 200, **fields) -> dict:
    url = SITE + path
    task = TaskInfo(url=url, key=url, kind="page", found_via="link", referrer=None, depth=1)
    return {**new_record(task, status, http_status=http_status, response_time_ms=10, **fields), "referrers": None}


def crawl(database_url, make_job, org, created_at, records, referrers=()) -> str:
    """A job that a crawler (its JobStore) claims, writes and completes."""
    job_id = make_job(org, domain="alerts.example", claim=CLAIM, created_at=created_at)
    store = JobStore(database_url, job_id, CLAIM)
    try:
        store.claim_job()
        store.write_batch(records, list(referrers), len(records))
        store.finish("completed")
    finally:
        store.close()
    return job_id


@pytest.fixture
def webhook(client):
    def make(org, events) -> str:
        response = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": events}, headers=org.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    return make


def events_of(engine, job_id: str) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.execute(select(WebhookMessage.endpoint_id, WebhookMessage.event).where(WebhookMessage.job_id == job_id))
        return sorted((endpoint, str(event)) for endpoint, event in rows)


def stored_changes(engine, job_id: str) -> dict | None:
    with Session(engine) as session:
        return session.get(Job, job_id).changes


def test_completion_stores_the_comparison_and_a_regression_is_announced_once(database_url, engine, client, org, make_job,
                                                                               webhook):  # fmt: skip
    told = webhook(org, ["job.regressed"])
    completed_only = webhook(org, ["job.completed"])
    first = crawl(database_url, make_job, org, T0, [record("/"), record("/a")])
    assert stored_changes(engine, first) is None  # a first crawl
    assert events_of(engine, first) == [(completed_only, "job.completed")]

    second = crawl(database_url, make_job, org, T0 + timedelta(days=1),
                   [record("/"), record("/a"), record("/gone-wrong", "failed", 404, is_broken=True)], [(SITE + "/gone-wrong", SITE + "/")])  # fmt: skip
    stored = stored_changes(engine, second)
    assert stored["since_job_id"] == first
    assert stored["summary"] == {**dict.fromkeys(EXPECTED, 0), "new_broken_links": 1}
    assert events_of(engine, second) == sorted([(completed_only, "job.completed"), (told, "job.regressed")])
    # The API serves what was stored, and the same when it computes it.
    served = changes(client, org, second).get_json()
    assert {key: served[key] for key in stored} == stored

    # No new broken link and no new slow page: no regression, though things changed.
    third = crawl(database_url, make_job, org, T0 + timedelta(days=2), [record("/"), record("/b")])
    assert stored_changes(engine, third)["summary"]["fixed_broken_links"] == 1
    assert events_of(engine, third) == [(completed_only, "job.completed")]


def test_a_new_slow_page_is_a_regression(database_url, engine, org, make_job, webhook):
    told = webhook(org, ["job.regressed"])
    crawl(database_url, make_job, org, T0, [record("/")])
    second = crawl(database_url, make_job, org, T0 + timedelta(days=1), [record("/", is_slow=True)])
    assert stored_changes(engine, second)["summary"]["new_slow_pages"] == 1
    assert events_of(engine, second) == [(told, "job.regressed")]


def test_a_failing_comparison_does_not_keep_the_job_from_completing(database_url, engine, org, make_job, monkeypatch):
    def broken(*args):
        raise RuntimeError("a bug in the comparison")

    monkeypatch.setattr("crawler.jobstore.record_changes", broken)
    crawl(database_url, make_job, org, T0, [record("/")])
    second = crawl(database_url, make_job, org, T0 + timedelta(days=1), [record("/")])
    with Session(engine) as session:
        job = session.get(Job, second)
        assert (job.status, job.changes, job.completed_tasks) == ("completed", None, 1)


def test_the_completed_and_regressed_payloads_carry_the_changes_others_do_not(database_url, engine, org, make_job, webhook):
    hook = webhook(org, ["job.completed", "job.regressed", "job.started"])
    first = crawl(database_url, make_job, org, T0, [record("/")])
    second = crawl(database_url, make_job, org, T0 + timedelta(days=1), [record("/", is_slow=True)])
    with Session(engine) as session:
        bodies = {(message.job_id, str(message.event)): json.loads(payload(session, message))
                  for message in session.scalars(select(WebhookMessage).where(WebhookMessage.endpoint_id == hook))}  # fmt: skip
    assert bodies[(first, "job.completed")]["data"]["changes"] is None
    assert "changes" not in bodies[(first, "job.started")]["data"]
    for event in ("job.completed", "job.regressed"):
        data = bodies[(second, event)]["data"]
        assert data["changes"]["since_job_id"] == first and data["changes"]["summary"]["new_slow_pages"] == 1
        assert data["id"] == second and data["status"] == "completed"


# --- one URL across crawls ------------------------------------------------------------------------

def history(client, org, domain_id: int, url: str, **query):
    return client.get(f"/v1/domains/{domain_id}/history", query_string={"url": url, **query}, headers=org.headers)


def test_a_urls_history_is_newest_first_paged_and_keeps_to_retention_and_the_organisation(client, org, make_org, make_job,
                                                                                          engine):  # fmt: skip
    jobs = [make_job(org, domain="history.example", status="completed", created_at=T0 + timedelta(days=n)) for n in range(4)]
    for n, job_id in enumerate(jobs):
        add_tasks(engine, job_id, {"/page": {"response_time_ms": 100 + n, "cache_status": "HIT" if n else "MISS"}, "/other": {}})
    theirs = make_job(make_org("other"), domain="history.example", status="completed", created_at=T0 + timedelta(days=9))
    add_tasks(engine, theirs, {"/page": {"response_time_ms": 999}})
    with Session(engine) as session, session.begin():  # retention deleted the oldest crawl's rows
        session.execute(update(Job).where(Job.id == jobs[0]).values(tasks_pruned_at=T0 + timedelta(days=90)))
        session.query(Task).filter(Task.job_id == jobs[0]).delete()
        domain_id = session.get(Job, jobs[0]).domain_id

    first = history(client, org, domain_id, SITE + "/page", limit=2)
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert [(entry["job_id"], entry["response_time_ms"]) for entry in body["history"]] == [(jobs[3], 103), (jobs[2], 102)]
    assert body["pagination"] == {"limit": 2, "offset": 0, "total": 3, "has_next": True}
    assert body["history"][0]["cache_status"] == "HIT" and body["url"] == SITE + "/page"
    rest = history(client, org, domain_id, SITE + "/page", limit=2, offset=2).get_json()
    assert [entry["job_id"] for entry in rest["history"]] == [jobs[1]]
    assert history(client, org, domain_id, SITE + "/never").get_json()["history"] == []


def test_history_of_a_domain_the_organisation_never_crawled_is_404(client, org, make_org, make_job, engine):
    theirs = make_job(make_org("other"), domain="theirs.example", status="completed")
    with Session(engine) as session:
        domain_id = session.get(Job, theirs).domain_id
    response = history(client, org, domain_id, SITE + "/")
    assert error(response) == (404, "domain_not_found")
    assert history(client, org, domain_id, SITE + "/", colour="red").status_code == 400
    assert client.get(f"/v1/domains/{domain_id}/history", headers=org.headers).status_code == 400  # url is required


def test_every_kind_is_a_summary_key():
    assert [kind.value for kind in ChangeKind] == list(EXPECTED)


@pytest.mark.parametrize("one_full_join", [True, False])
def test_the_full_join_and_the_two_left_joins_count_the_same(two_crawls, engine, monkeypatch, one_full_join):
    """PostgreSQL counts over one FULL OUTER JOIN, SQLite from each side: each way on each database."""
    from db import changes as db_changes

    before, after = two_crawls
    monkeypatch.setattr(db_changes, "_one_full_join", lambda session: one_full_join)
    with Session(engine) as session:
        counted = db_changes.summary(session, before, after)
    assert counted.model_dump() == {kind: len(paths) for kind, paths in EXPECTED.items()}
