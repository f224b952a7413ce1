"""The pages browser of a job at /app/jobs/<id>/pages (control_api/dashboard/page_views.py), through
Flask's test client: each filter shows the rows `/v1/jobs/{id}/tasks` answers for the same query,
paged; a bad value is a 400 page in the API's words; one URL's record page shows its timing, cache,
chain and referrers; another organisation's job and a pruned job are refused. The same in Chromium
against a real crawl: tests/integration/test_dashboard_pages_browser.py."""
from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy.orm import Session

from db.models import Task, utcnow
from tests.test_dashboard import client, sign_in  # noqa: F401  (client is a fixture)
from tests.test_tasks_browse import SITE, site_job  # noqa: F401  (site_job is a fixture)

ROW_URL = re.compile(r'<tr data-url="([^"]+)" data-task-id="(\d+)"')


def shown(client, job_id: str, **query) -> list[str]:
    response = client.get(f"/app/jobs/{job_id}/pages", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [url.replace("&amp;", "&") for url, _ in ROW_URL.findall(response.get_data(as_text=True))]


def api(client, org, job_id: str, **query) -> list[str]:
    response = client.get(f"/v1/jobs/{job_id}/tasks", query_string={"limit": 20, **query}, headers=org.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [task["url"] for task in response.get_json()["tasks"]]


@pytest.mark.parametrize(
    "query",
    [{}, {"status_class": "4xx"}, {"status_class": "none"}, {"issue": "slow"}, {"issue": "broken_link"}, {"cache_status": "none"},
     {"kind": "page"}, {"path_prefix": "/docs/"}, {"q": "%_"}, {"status": "failed", "sort": "-url"}, {"sort": "-response_time_ms"}],
)  # fmt: skip
def test_each_filter_shows_what_the_api_answers(client, org, site_job, query):  # noqa: F811
    sign_in(client, org)
    assert shown(client, site_job, **query) == api(client, org, site_job, **query)


def test_the_job_page_links_to_the_browser_and_rows_link_to_records(client, org, site_job):  # noqa: F811
    sign_in(client, org)
    assert f'href="/app/jobs/{site_job}/pages"' in client.get(f"/app/jobs/{site_job}").get_data(as_text=True)
    text = client.get(f"/app/jobs/{site_job}/pages", query_string={"q": "missing"}).get_data(as_text=True)
    (url, task_id), = ROW_URL.findall(text)
    assert url == f"{SITE}/missing" and f'href="/app/jobs/{site_job}/pages/{task_id}"' in text
    assert 'selected>4xx' not in text and 'value="missing"' in text  # the form keeps what was asked


def test_pages_of_more_than_20_rows_are_paged_keeping_the_filters(client, org, make_job, engine):  # noqa: F811
    job_id = make_job(org, status="completed")
    with Session(engine) as session, session.begin():
        for n in range(45):
            url = f"{SITE}/p/{n:02d}"
            session.add(Task(job_id=job_id, url=url, url_hash=hashlib.sha1(url.encode()).hexdigest()[:16], found_via="link",
                             status="completed", http_status=200))  # fmt: skip
    sign_in(client, org)
    first = client.get(f"/app/jobs/{job_id}/pages", query_string={"path_prefix": "/p/", "sort": "-url"}).get_data(as_text=True)
    assert "Pages 1–20 of 45" in first
    next_link = re.search(r'<a href="([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
    assert "path_prefix=/p/" in next_link.replace("%2F", "/") and "sort=-url" in next_link and "page=2" in next_link
    second = client.get(next_link).get_data(as_text=True)
    assert [url for url, _ in ROW_URL.findall(second)] == [f"{SITE}/p/{n:02d}" for n in range(24, 4, -1)]
    assert shown(client, job_id, path_prefix="/p/", sort="-url", page=3) == api(client, org, job_id, path_prefix="/p/", sort="-url", page=3)


@pytest.mark.parametrize(("query", "field"), [({"status_class": "6xx"}, "status_class"), ({"path_prefix": "docs"}, "path_prefix"),
                                              ({"sort": "nope"}, "sort"), ({"kind": "x"}, "kind")])  # fmt: skip
def test_a_bad_filter_value_is_a_400_page_in_the_apis_words(client, org, site_job, query, field):  # noqa: F811
    sign_in(client, org)
    response = client.get(f"/app/jobs/{site_job}/pages", query_string=query)
    assert response.status_code == 400 and response.mimetype == "text/html"
    api_message = client.get(f"/v1/jobs/{site_job}/tasks", query_string=query, headers=org.headers).get_json()["error"]["message"]
    assert field in api_message
    assert api_message.replace("'", "&#39;") in response.get_data(as_text=True)


def test_one_urls_record_page(client, org, site_job):  # noqa: F811
    sign_in(client, org)
    text = client.get(f"/app/jobs/{site_job}/pages", query_string={"q": "/old"}).get_data(as_text=True)
    (_, old_id), = ROW_URL.findall(text)
    record = client.get(f"/app/jobs/{site_job}/pages/{old_id}").get_data(as_text=True)
    assert 'id="chain-hops"' in record and record.count("<li") >= 3 and f"{SITE}/older" in record
    assert f'<a href="{SITE}/docs/" target="_blank" rel="noopener noreferrer">' in record

    (_, missing_id), = ROW_URL.findall(client.get(f"/app/jobs/{site_job}/pages", query_string={"q": "/missing"}).get_data(as_text=True))
    record = client.get(f"/app/jobs/{site_job}/pages/{missing_id}").get_data(as_text=True)
    assert "Linked from (3)" in record and 'data-field="http_status">404<' in record and 'data-field="issues">Broken<' in record
    slow = client.get(f"/app/jobs/{site_job}/pages", query_string={"issue": "slow"}).get_data(as_text=True)
    (_, slow_id), = ROW_URL.findall(slow)
    assert 'data-field="response_time_ms">4000 ms<' in client.get(f"/app/jobs/{site_job}/pages/{slow_id}").get_data(as_text=True)


def test_another_organisations_job_task_or_a_pruned_job_is_refused(client, org, make_org, make_job, site_job):  # noqa: F811
    sign_in(client, org)
    (_, task_id), = ROW_URL.findall(client.get(f"/app/jobs/{site_job}/pages", query_string={"q": "/missing"}).get_data(as_text=True))
    assert client.get(f"/app/jobs/{site_job}/pages/99999999").status_code == 404
    assert client.get(f"/app/jobs/{site_job}/pages/99999999999999999999999").status_code == 404
    pruned = make_job(org, status="completed", tasks_pruned_at=utcnow())
    for path in (f"/app/jobs/{pruned}/pages", f"/app/jobs/{pruned}/pages/{task_id}"):
        response = client.get(path)
        assert response.status_code == 410 and "removed by retention" in response.get_data(as_text=True)
    other = make_org("Other pages org")
    mine = make_job(other, status="completed")
    sign_in(client, other)
    for path in (f"/app/jobs/{site_job}/pages", f"/app/jobs/{site_job}/pages/{task_id}", f"/app/jobs/{mine}/pages/{task_id}"):
        assert client.get(path).status_code == 404, path
