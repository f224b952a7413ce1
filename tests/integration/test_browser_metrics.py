"""Browser measurements in real headless Chromium (control_api/jobs/browser/measure.py): a deliberately
heavy page (a large image that arrives late, a layout shift, a long script, a console error) comes
out worse than a light page on every metric, and a completed job's sample is measured by the
browser loop and served by GET /v1/jobs/{id}/browser. Prints the browser seconds per page."""
from __future__ import annotations

import shutil
from contextlib import contextmanager

import pytest
from sqlalchemy.orm import Session

from control_api.jobs.browser import runner
from control_api.jobs.browser.measure import CHROMEDRIVER, CHROMIUM, Browser
from db.models import Job, Task, url_hash, utcnow
from tests.sites.heavy import HeavySite

pytestmark = pytest.mark.skipif(
    not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)),
    reason=f"{CHROMIUM} or {CHROMEDRIVER} missing: `make browser` installs Debian's chromium and chromium-driver",
)


@pytest.fixture(scope="module")
def heavy_site():
    with HeavySite() as site:
        yield site


def test_a_heavy_page_measures_worse_than_a_light_one(heavy_site):
    with Browser() as browser:
        light = browser.measure(heavy_site.origin + "/light")
        heavy = browser.measure(heavy_site.origin + "/heavy")
    print(f"\nlight: {light}\nheavy: {heavy}")
    assert light.error is None and heavy.error is None
    assert heavy.lcp_ms > light.lcp_ms + 500  # the hero image arrives 0.8 s late
    assert light.fcp_ms is not None and heavy.fcp_ms is not None and heavy.lcp_ms >= heavy.fcp_ms
    assert heavy.cls > 0.1 and light.cls == 0  # the banner pushes the page down
    assert heavy.tbt_ms >= 300 and light.tbt_ms == 0  # 600 ms of script: ~550 ms blocking
    assert heavy.page_weight_bytes > 2_000_000 > 10_000 > light.page_weight_bytes  # a 2.5 MB image
    assert heavy.request_count >= 3 > light.request_count - 1  # page, script, image (and the icon, once)
    assert any("something went wrong" in error for error in heavy.console_errors)
    assert not [error for error in light.console_errors if "favicon" not in error]


def test_the_browser_loop_measures_a_completed_jobs_sample(client, org, make_job, engine, heavy_site):
    job_id = make_job(org, status="completed", completed_at=utcnow(), browser_status="pending")
    with Session(engine) as session, session.begin():
        for path, time_ms, depth, found_via in (("/light", 5, 0, "start"), ("/heavy", 900, 1, "link")):
            url = heavy_site.origin + path
            session.add(Task(job_id=job_id, url=url, url_hash=url_hash(url), found_via=found_via, depth=depth,
                             status="completed", http_status=200, response_time_ms=time_ms, content_type="text/html"))  # fmt: skip

    @contextmanager
    def scope():
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session

    with scope() as session:  # claim this job only: other tests' jobs point at sites long gone
        session.get(Job, job_id).browser_status = "measuring"
    assert runner.measure_job(scope, job_id, 2) == "measured"

    section = client.get(f"/v1/jobs/{job_id}/browser", headers=org.headers).get_json()
    assert section["status"] == "measured" and section["browser_pages"] == 6
    pages = {page["url"].removeprefix(heavy_site.origin): page for page in section["pages"]}
    assert {path: page["reason"] for path, page in pages.items()} == {"/light": "important", "/heavy": "slowest"}
    for metric in ("lcp_ms", "tbt_ms", "page_weight_bytes", "cls"):
        assert pages["/heavy"][metric] > pages["/light"][metric], metric
    seconds = [page["seconds"] for page in section["pages"]]
    print(f"\nbrowser seconds per sampled page: {seconds} ({section['note']})")
    assert all(0 < s < 30 for s in seconds)
