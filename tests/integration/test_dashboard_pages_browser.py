"""The pages browser (issue 24 item 3) in headless Chromium against a real crawl of the test site
(200s, 404, 500, a two-hop redirect chain, a redirect loop, a slow page, a subdomain, an external
link, a robots-refused URL): each filter is set in the browser's form, and the rows the page shows
are those `GET /v1/jobs/{id}/tasks` answers for the same query; one URL's record page shows its
chain and referrers; at 390 px no table is wider than its box. Fixtures and helpers are those of
test_dashboard_browser.py (gunicorn as `make run` serves it, a real scrapyd)."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from tests.integration.test_dashboard_browser import (  # noqa: F401  (browser and service are fixtures)
    By, Select, at_phone_width, browser, console_errors, open_page, screenshot, service, sign_in, wait_for,
)
from tests.sites.pages import SITE, fill

pytestmark = pytest.mark.integration

ROWS = "#pages tbody tr"
# (what the user sets in the form, as /tasks names it): each alone, then some together.
FILTERS = [
    {"status_class": "2xx"},
    {"status_class": "4xx"},
    {"status_class": "5xx"},
    {"status_class": "none"},
    {"issue": "slow"},
    {"issue": "broken_link"},
    {"issue": "redirect_chain"},
    {"cache_status": "none"},
    {"kind": "sitemap"},
    {"status": "skipped"},
    {"q": "redirect"},
    {"path_prefix": "/products"},
    {"sort": "-response_time_ms"},
    {"status_class": "2xx", "path_prefix": "/", "sort": "-url"},
    {"q": "site.test", "status_class": "4xx,5xx"},  # a comma list: typed into the address, not the form
]


@pytest.fixture(scope="module")
def crawled(service, site, make_org):
    """A completed crawl of site.test, started through the API; (org, job id)."""
    org = make_org("Pages browser org")
    created = requests.post(f"{service}/v1/jobs", json={"domain": f"site.test:{site.port}", "slow_page_threshold_ms": 1000},
                            headers=org.headers, timeout=10)  # fmt: skip
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    deadline = time.monotonic() + 120
    while (job := requests.get(f"{service}/v1/jobs/{job_id}", headers=org.headers, timeout=10).json())["status"] != "completed":
        assert job["status"] in ("created", "running") and time.monotonic() < deadline, job
        time.sleep(0.5)
    return org, job_id


def api_urls(service: str, org, job_id: str, query: dict[str, str]) -> list[str]:
    response = requests.get(f"{service}/v1/jobs/{job_id}/tasks", params={**query, "limit": 20}, headers=org.headers, timeout=10)
    assert response.status_code == 200, response.text
    return [task["url"] for task in response.json()["tasks"]]


def shown_urls(driver) -> list[str]:
    return [row.get_attribute("data-url") for row in driver.find_elements(By.CSS_SELECTOR, ROWS)]


def apply_in_form(driver, query: dict[str, str]) -> None:
    """Set each field of the form as a user would, send it, and wait for the page it opens."""
    for name, value in query.items():
        field = driver.find_element(By.ID, f"filter-{name}")
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        else:
            field.clear()
            field.send_keys(value)
    driver.find_element(By.CSS_SELECTOR, "#pages-filters button[type=submit]").click()
    sent = {"sort": "id", **query}  # the sort select always has a value; blank fields are left out here
    wait_for(driver, lambda d: {k: v[0] for k, v in parse_qs(urlparse(d.current_url).query).items()} == sent, 15,
             f"the form did not send {query}")  # fmt: skip
    assert console_errors(driver) == []


def test_each_filter_in_the_browser_shows_what_tasks_answers(browser, service, site, crawled):
    org, job_id = crawled
    open_page(browser, f"{service}/app")
    sign_in(browser, service, org.token)
    open_page(browser, f"{service}/app/jobs/{job_id}")
    browser.find_element(By.ID, "pages-link").click()
    wait_for(browser, lambda d: urlparse(d.current_url).path == f"/app/jobs/{job_id}/pages", 15)
    everything = shown_urls(browser)
    assert len(everything) == 20 and everything == api_urls(service, org, job_id, {})  # the site has more than 20 URLs
    assert browser.find_element(By.CSS_SELECTOR, ".pagination a[rel=next]")
    screenshot(browser, "pages-browser")
    at_phone_width(browser, "pages-browser-390")  # 20 rows of long URLs as stacked cards
    browser.set_window_size(1280, 900)

    empty = []
    for query in FILTERS:
        if "," in query.get("status_class", ""):
            open_page(browser, f"{service}/app/jobs/{job_id}/pages?" + "&".join(f"{k}={v}" for k, v in query.items()))
        else:
            open_page(browser, f"{service}/app/jobs/{job_id}/pages")
            apply_in_form(browser, query)
        shown = shown_urls(browser)
        assert shown == api_urls(service, org, job_id, query), query
        if not shown:
            empty.append(query)
            assert browser.find_element(By.ID, "pages-empty")
    assert empty == [], "every filter matches some URL of the test site"

    # What the filters found, as the site is made (tests/sites/pages.py).
    def urls(**query) -> set[str]:
        return set(api_urls(service, org, job_id, query))

    assert fill(SITE + "/missing", site.port) in urls(status_class="4xx")
    assert fill(SITE + "/error", site.port) in urls(status_class="5xx")
    assert any("/slow" in url for url in urls(issue="slow"))
    assert all(urlparse(url).path.startswith("/products") for url in urls(path_prefix="/products"))


def test_paging_keeps_the_filters(browser, service, crawled):
    org, job_id = crawled
    open_page(browser, f"{service}/app/jobs/{job_id}/pages")
    apply_in_form(browser, {"sort": "url"})
    first = shown_urls(browser)
    browser.find_element(By.CSS_SELECTOR, ".pagination a[rel=next]").click()
    wait_for(browser, lambda d: "page=2" in d.current_url, 15)
    assert console_errors(browser) == []
    assert shown_urls(browser) == api_urls(service, org, job_id, {"sort": "url", "page": "2"})
    assert not set(first) & set(shown_urls(browser))
    assert Select(browser.find_element(By.ID, "filter-sort")).first_selected_option.get_attribute("value") == "url"


def test_a_urls_record_shows_its_chain_and_referrers_and_fits_a_phone(browser, service, crawled):
    org, job_id = crawled
    open_page(browser, f"{service}/app/jobs/{job_id}/pages")
    apply_in_form(browser, {"q": "/redirect-1"})
    browser.find_element(By.CSS_SELECTOR, f"{ROWS} td.url a").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "record-url"), 15)
    assert console_errors(browser) == []
    task_id = int(urlparse(browser.current_url).path.rsplit("/", 1)[1])
    record = requests.get(f"{service}/v1/jobs/{job_id}/tasks/{task_id}", headers=org.headers, timeout=10).json()
    assert browser.find_element(By.ID, "record-url").text == record["url"]
    hops = [item.find_element(By.CSS_SELECTOR, ".url").text for item in browser.find_elements(By.CSS_SELECTOR, "#chain-hops li")]
    assert hops == [hop["url"] for hop in record["redirect_chain"]] and len(hops) == 3
    referrers = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#referrer-list li")]
    assert referrers == record["referrers"] and referrers
    links = browser.find_elements(By.CSS_SELECTOR, "main a[target=_blank]")
    assert links and all(link.get_attribute("rel") == "noopener noreferrer" for link in links)
    assert browser.find_element(By.CSS_SELECTOR, "[data-field=response_time_ms]").text.endswith("ms")
    screenshot(browser, "page-record")
    at_phone_width(browser, "page-record-390")
    browser.set_window_size(1280, 900)

    # Back to the browser with its filter.
    browser.find_element(By.LINK_TEXT, "Back to the pages").click()
    wait_for(browser, lambda d: "q=%2Fredirect-1" in d.current_url or "q=/redirect-1" in d.current_url, 15)
