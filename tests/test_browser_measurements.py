"""Browser measurements of a job's sample (control_api/jobs/browser/): which pages are sampled, the
section's states through GET /v1/jobs/{id}/browser, and a machine without a browser: the job stays
completed and the section says `unavailable` and why. The measurements themselves, in real
Chromium: tests/integration/test_browser_metrics.py."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy.orm import Session

from contract.options import JobOptions
from control_api.jobs.browser import measure, runner
from control_api.jobs.browser.sample import choose
from db.models import BrowserPage, Job, Task, url_hash, utcnow
from tests.helpers import assert_error
from tests.test_dashboard import sign_in


def add_tasks(engine, job_id: str, pages: list[tuple]) -> None:
    """pages: (path, depth, found_via, response_time_ms, status, content_type)."""
    with Session(engine) as session, session.begin():
        for path, depth, found_via, time_ms, status, content_type in pages:
            url = f"http://site.test{path}"
            session.add(Task(job_id=job_id, url=url, url_hash=url_hash(url), found_via=found_via, depth=depth,
                             status=status, http_status=200 if status == "completed" else 404,
                             response_time_ms=time_ms, content_type=content_type))  # fmt: skip


SITE_PAGES = [
    ("/", 0, "start", 100, "completed", "text/html"),
    ("/nav1", 1, "link", 50, "completed", "text/html"),
    ("/nav2", 1, "link", 60, "completed", "text/html"),
    ("/slow", 2, "link", 4000, "completed", "text/html"),
    ("/slower", 3, "link", 9000, "completed", "text/html"),
    ("/slow-pdf", 1, "link", 20000, "completed", "application/pdf"),  # not HTML: not for the browser
    ("/missing", 1, "link", 30000, "failed", "text/html"),  # did not load
    ("/deep", 4, "link", 10, "completed", "text/html"),
]


def test_the_sample_is_half_slowest_half_most_important(org, make_job, engine):
    job_id = make_job(org, status="completed")
    add_tasks(engine, job_id, SITE_PAGES)
    with Session(engine) as session:
        sample = choose(session, job_id, 4)
        everything = choose(session, job_id, 50)
        assert choose(session, job_id, 0) == []
    assert [(page.url.removeprefix("http://site.test"), page.reason) for page in sample] == [
        ("/", "important"), ("/nav1", "important"), ("/slower", "slowest"), ("/slow", "slowest")]
    assert {page.url.removeprefix("http://site.test") for page in everything} == {"/", "/nav1", "/nav2", "/slow", "/slower", "/deep"}


@contextmanager
def scope_of(engine):
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def browser(client, org, job_id: str) -> dict:
    response = client.get(f"/v1/jobs/{job_id}/browser", headers=org.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_without_a_browser_the_completed_job_says_unavailable_and_why(client, org, make_job, engine, monkeypatch):
    monkeypatch.setattr(measure, "CHROMIUM", "/nonexistent/chromium")
    job_id = make_job(org, status="completed", completed_at=utcnow(), browser_status="pending")
    add_tasks(engine, job_id, SITE_PAGES)
    assert browser(client, org, job_id)["status"] == "pending"

    assert runner.run_once(lambda: scope_of(engine)) >= 1

    section = browser(client, org, job_id)
    assert section["status"] == "unavailable" and section["pages"] == []
    assert "Chromium is not installed" in section["note"] and "/nonexistent/chromium" in section["note"]
    assert client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()["status"] == "completed"


def test_a_job_that_asked_for_no_measurements_is_off(client, org, make_job, engine):
    options = JobOptions(browser_pages=0).model_dump()
    job_id = make_job(org, status="completed", completed_at=utcnow(), browser_status="pending")
    with Session(engine) as session, session.begin():
        session.get(Job, job_id).options = options
    assert runner.run_once(lambda: scope_of(engine)) >= 1
    assert browser(client, org, job_id)["status"] == "off"


@pytest.mark.parametrize("status", ["running", "failed", "cancelled"])
def test_a_job_that_did_not_complete_is_not_measured(client, org, make_job, status):
    section = browser(client, org, make_job(org, status=status))
    assert section["status"] == "not_measured" and section["pages"] == [] and section["note"]


def test_a_claimed_job_is_not_measured_twice(org, make_job, engine):
    job_id = make_job(org, status="completed", completed_at=utcnow(), browser_status="pending")
    scope = lambda: scope_of(engine)  # noqa: E731
    claimed = []
    while (next_job := runner.claim_next(scope)) is not None:  # every job waiting now, this one among them
        claimed.append(next_job)
    assert claimed.count((job_id, 6)) == 1
    with Session(engine) as session:
        assert session.get(Job, job_id).browser_status == "measuring"


def test_browser_pages_is_a_job_option_from_0_to_50(client, org):
    for value in (-1, 51, "many"):
        response = client.post("/v1/jobs", json={"domain": "example.com", "options": {"browser_pages": value}}, headers=org.headers)
        assert_error(response, 400, None)
    assert JobOptions().browser_pages == 6


def test_an_unknown_job_is_404(client, org):
    assert_error(client.get("/v1/jobs/nope/browser", headers=org.headers), 404, "job_not_found")


def test_the_job_page_shows_the_browser_section(client, org, make_job, engine):
    job_id = make_job(org, status="completed", completed_at=utcnow(), browser_status="measured", browser_note="1 pages in 2.0 s")
    with Session(engine) as session, session.begin():
        session.add(BrowserPage(job_id=job_id, url="http://site.test/heavy", reason="slowest", lcp_ms=1148, fcp_ms=80,
                                cls=0.2257, tbt_ms=553, page_weight_bytes=2522882, request_count=4,
                                console_errors=["app.js 10:10 boom"], seconds=2.0))  # fmt: skip
    sign_in(client, org)
    page = client.get(f"/app/jobs/{job_id}").get_data(as_text=True)
    assert "<strong>measured</strong>: 1 pages in 2.0 s" in page
    row = page.split('data-browser-page="http://site.test/heavy"', 1)[1].split("</tr>", 1)[0]
    assert all(text in row for text in ("1148 ms", "80 ms", "0.226", "553 ms", "2.5 MB", ">4<", "app.js 10:10 boom"))
    unmeasured = make_job(org, status="failed")
    assert "<strong>not measured</strong>: The job did not complete" in client.get(f"/app/jobs/{unmeasured}").get_data(as_text=True)
