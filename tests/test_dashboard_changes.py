"""The dashboard's view of what changed between crawls: the job page's panel, the compare page and
one URL's history chart, scoped to the signed-in organisation (control_api/dashboard/change_views.py).
The same pages in Chromium: tests/integration/test_dashboard_browser.py."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from db.models import Job
from tests.test_changes import AFTER, BEFORE, EXPECTED, SITE, T0, add_tasks
from tests.test_dashboard import client, sign_in  # noqa: F401 (fixture)


@pytest.fixture
def crawls(make_job, org, engine):
    before = make_job(org, domain="panel.example", status="completed", created_at=T0)
    after = make_job(org, domain="panel.example", status="completed", created_at=T0 + timedelta(days=1))
    add_tasks(engine, before, BEFORE, referrers={"/was-broken": ["/"]})
    add_tasks(engine, after, AFTER, referrers={"/new-broken": ["/", "/new"]})
    with Session(engine) as session:
        domain_id = session.get(Job, after).domain_id
    return before, after, domain_id


def count_of(page: str, kind: str) -> int:
    match = re.search(rf'<tr data-kind="{kind}"[^>]*>\s*<th scope="row">[^<]+</th><td>(\d+)</td>', page)
    assert match, f"no count for {kind}"
    return int(match.group(1))


def test_the_job_page_shows_the_changes_and_the_new_broken_links_with_their_referrers(client, org, crawls):  # noqa: F811
    before, after, domain_id = crawls
    sign_in(client, org)
    page = client.get(f"/app/jobs/{after}").get_data(as_text=True)
    assert "Changes since the previous crawl" in page
    assert (count_of(page, "new_broken_links"), count_of(page, "fixed_broken_links"), count_of(page, "gone_pages")) == (1, 2, 1)
    new_broken = page[page.index('id="new-broken"'):]
    new_broken = new_broken[:new_broken.index("</table>")]
    assert SITE + "/new-broken" in new_broken and f"{SITE}/new</li>" in new_broken and f"{SITE}/</li>" in new_broken
    assert f"/app/domains/{domain_id}/compare?before={before}&amp;after={after}" in page

    # A slow page's URL opens its history across crawls.
    assert f'href="/app/domains/{domain_id}/history?url=http://shop.example/became-slow"' in page

    first = client.get(f"/app/jobs/{before}").get_data(as_text=True)
    assert "first completed crawl of this domain" in first


def test_the_compare_page_lists_each_kinds_urls_for_any_two_crawls(client, org, crawls, make_job):  # noqa: F811
    before, after, domain_id = crawls
    sign_in(client, org)
    # The boxes in either order: the earlier crawl is the one compared against.
    page = client.get(f"/app/domains/{domain_id}/compare", query_string={"before": after, "after": before})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert count_of(text, "status_changes") == 2
    assert f"{SITE}/redirect" in text and f"{SITE}/b" in text
    assert all(f'id="{kind}-heading"' in text for kind in EXPECTED)  # every kind that has URLs lists them
    default = client.get(f"/app/domains/{domain_id}/compare").get_data(as_text=True)
    assert count_of(default, "new_pages") == 1  # the latest two finished crawls


def test_another_organisations_crawls_are_404_on_the_compare_and_history_pages(client, org, make_org, crawls, make_job):  # noqa: F811
    before, after, domain_id = crawls
    stranger = make_org("stranger")
    sign_in(client, stranger)
    assert client.get(f"/app/domains/{domain_id}/compare").status_code == 404
    assert client.get(f"/app/domains/{domain_id}/history", query_string={"url": SITE + "/"}).status_code == 404
    assert client.get(f"/app/jobs/{after}").status_code == 404


def test_a_urls_history_is_a_small_chart_and_a_table(client, org, crawls):  # noqa: F811
    before, after, domain_id = crawls
    sign_in(client, org)
    page = client.get(f"/app/domains/{domain_id}/history", query_string={"url": SITE + "/slower"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    bars = re.findall(r'<rect [^>]*height="([\d.]+)"', text)
    assert [float(height) for height in bars] == [22.5, 90.0]  # 100 ms then 400 ms, oldest on the left
    assert text.count("<tr><td><a href=\"/app/jobs/") == 2
    assert client.get(f"/app/domains/{domain_id}/history").status_code == 400
