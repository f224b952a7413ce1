"""What the pages browser asks of `/v1/jobs/{id}/tasks` (a status class, a URL search, a path prefix
on any host) and one URL's record, `/v1/jobs/{id}/tasks/{task_id}`: every column, its issues, its
redirect chain and its referrers; 404 for another job's or organisation's task. Both databases."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy.orm import Session

from db.models import BrokenLinkReferrer, Task
from tests.helpers import assert_error

SITE = "https://example.com"
ROWS = [  # url, status, http_status, extra columns
    (f"{SITE}/", "completed", 200, {"found_via": "start"}),
    (f"{SITE}/docs/", "completed", 200, {"referrer": f"{SITE}/"}),
    (f"{SITE}/docs/intro", "completed", 200, {"is_slow": True, "response_time_ms": 4000, "referrer": f"{SITE}/docs/"}),
    (f"{SITE}/x/docs/", "completed", 200, {}),  # "docs/" later in the path: not under /docs/
    (f"{SITE}/docsy", "completed", 200, {}),
    (f"{SITE}/search?q=/docs/", "completed", 200, {}),  # "/docs/" in the query only
    ("https://blog.example.com/docs/post", "completed", 200, {}),  # another host of the crawl, same path prefix
    (f"{SITE}/old", "completed", 200, {"redirect_hops": 2, "final_url": f"{SITE}/docs/",
                                       "redirect_chain": [{"url": f"{SITE}/old", "status": 301},
                                                          {"url": f"{SITE}/older", "status": 302},
                                                          {"url": f"{SITE}/docs/", "status": 200}]}),
    (f"{SITE}/missing", "failed", 404, {"is_broken": True, "referrer": f"{SITE}/"}),
    (f"{SITE}/error", "failed", 500, {"is_server_error": True, "is_broken": True}),
    (f"{SITE}/100%_done", "failed", 410, {"is_broken": True}),
    (f"{SITE}/down", "failed", None, {"error": "Connection refused", "error_type": "connection_refused", "is_broken": True}),
    (f"{SITE}/private", "skipped", None, {"error_type": "robots"}),
]


def url_hash(url: str) -> str:
    return hashlib.sha1(url.encode()).hexdigest()[:16]


@pytest.fixture
def site_job(org, make_job, engine):
    job_id = make_job(org, status="completed")
    with Session(engine) as session, session.begin():
        for url, status, http_status, extra in ROWS:
            session.add(Task(job_id=job_id, url=url, url_hash=url_hash(url), status=status, http_status=http_status,
                             **{"found_via": "link", **extra}))  # fmt: skip
        for referrer in (f"{SITE}/", f"{SITE}/docs/", f"{SITE}/docs/intro"):
            session.add(BrokenLinkReferrer(job_id=job_id, target_url_hash=url_hash(f"{SITE}/missing"), referrer=referrer))
    return job_id


def urls(client, org, job_id, **query) -> list[str]:
    response = client.get(f"/v1/jobs/{job_id}/tasks", query_string={"limit": 1000, **query}, headers=org.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [task["url"] for task in response.get_json()["tasks"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status_class": "4xx"}, [f"{SITE}/missing", f"{SITE}/100%_done"]),
        ({"status_class": "5xx,4xx"}, [f"{SITE}/missing", f"{SITE}/error", f"{SITE}/100%_done"]),
        ({"status_class": "none"}, [f"{SITE}/down", f"{SITE}/private"]),
        ({"status_class": "none", "status": "failed"}, [f"{SITE}/down"]),
        ({"status_class": "3xx"}, []),
        ({"path_prefix": "/docs/"}, [f"{SITE}/docs/", f"{SITE}/docs/intro", "https://blog.example.com/docs/post"]),
        ({"path_prefix": "/docs"}, [f"{SITE}/docs/", f"{SITE}/docs/intro", f"{SITE}/docsy", "https://blog.example.com/docs/post"]),
        ({"path_prefix": "/100%_"}, [f"{SITE}/100%_done"]),
        ({"path_prefix": "/1.0"}, []),  # the dot is a dot, not "any character"
        ({"path_prefix": "/search?q="}, [f"{SITE}/search?q=/docs/"]),
        ({"q": "docs/"}, [f"{SITE}/docs/", f"{SITE}/docs/intro", f"{SITE}/x/docs/", f"{SITE}/search?q=/docs/",
                          "https://blog.example.com/docs/post"]),
        ({"q": "%_"}, [f"{SITE}/100%_done"]),
        ({"path": "blog."}, ["https://blog.example.com/docs/post"]),  # the deprecated alias of q
        ({"q": "intro", "path": "blog."}, [f"{SITE}/docs/intro"]),  # q wins
        ({"issue": "slow"}, [f"{SITE}/docs/intro"]),
        ({"issue": "broken_link", "status_class": "4xx", "q": "missing"}, [f"{SITE}/missing"]),
        ({"path_prefix": "/docs/", "sort": "-url"}, [f"{SITE}/docs/intro", f"{SITE}/docs/", "https://blog.example.com/docs/post"]),
    ],
)  # fmt: skip
def test_the_browsers_filters(client, org, site_job, query, expected):
    assert urls(client, org, site_job, **query) == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [({"status_class": "6xx"}, "status_class"), ({"status_class": "2xx,"}, "status_class"), ({"status_class": "4XX"}, "status_class"),
     ({"path_prefix": "docs"}, "path_prefix"), ({"path_prefix": "/a\x00"}, "path_prefix"), ({"q": "a\x00"}, "q"),
     ({"q": "x" * 2049}, "q")],
)  # fmt: skip
def test_bad_filter_values_are_400_naming_the_field(client, org, site_job, query, field):
    assert_error(client.get(f"/v1/jobs/{site_job}/tasks", query_string=query, headers=org.headers), 400, "invalid_field", field)


def task_id(client, org, job_id, url: str) -> int:
    tasks = client.get(f"/v1/jobs/{job_id}/tasks", query_string={"limit": 1000}, headers=org.headers).get_json()["tasks"]
    return next(task["id"] for task in tasks if task["url"] == url)


def test_one_urls_record_has_every_column_its_issues_and_referrers(client, org, site_job):
    listed = client.get(f"/v1/jobs/{site_job}/tasks", query_string={"q": "/missing"}, headers=org.headers).get_json()["tasks"][0]

    response = client.get(f"/v1/jobs/{site_job}/tasks/{listed['id']}", headers=org.headers)

    assert response.status_code == 200, response.get_data(as_text=True)
    record = response.get_json()
    assert {**record, "referrers": None, "referrer_count": None} == {**listed, "referrers": None, "referrer_count": None}
    assert record["issues"] == ["broken_link"]
    # the page it was found on first, then every page the crawler kept as linking to it, once each
    assert record["referrers"] == [f"{SITE}/", f"{SITE}/docs/", f"{SITE}/docs/intro"] and record["referrer_count"] == 3


def test_a_redirected_urls_record_has_its_chain(client, org, site_job):
    record = client.get(f"/v1/jobs/{site_job}/tasks/{task_id(client, org, site_job, f'{SITE}/old')}", headers=org.headers).get_json()
    assert [hop["url"] for hop in record["redirect_chain"]] == [f"{SITE}/old", f"{SITE}/older", f"{SITE}/docs/"]
    assert record["issues"] == ["redirect_chain"] and record["referrers"] == [] and record["final_url"] == f"{SITE}/docs/"


def test_another_jobs_or_organisations_task_is_404(client, org, make_org, make_job, site_job):
    other_org = make_org("Other org")
    other_job = make_job(other_org, status="completed")
    mine = task_id(client, org, site_job, f"{SITE}/")
    assert_error(client.get(f"/v1/jobs/{site_job}/tasks/{mine}", headers=other_org.headers), 404, "job_not_found")
    assert_error(client.get(f"/v1/jobs/{other_job}/tasks/{mine}", headers=other_org.headers), 404, "task_not_found")
    for missing in ("999999999", "9223372036854775807"):
        assert_error(client.get(f"/v1/jobs/{site_job}/tasks/{missing}", headers=org.headers), 404, "task_not_found")


@pytest.mark.parametrize("value", ["0", "-1", "abc", "9223372036854775808", "1" + "0" * 40, "1.5"])
def test_a_task_id_that_is_no_row_id_is_400(client, org, site_job, value):
    assert_error(client.get(f"/v1/jobs/{site_job}/tasks/{value}", headers=org.headers), 400, "invalid_field", "task_id")


def test_a_pruned_jobs_record_is_410(client, org, make_job):
    from db.models import utcnow

    job_id = make_job(org, status="completed", tasks_pruned_at=utcnow())
    assert_error(client.get(f"/v1/jobs/{job_id}/tasks/1", headers=org.headers), 410, "tasks_pruned")
