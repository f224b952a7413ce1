"""What changed between two real crawls, in headless Chromium: the job page's "Changes since the
previous crawl" panel, the compare page and a URL's history chart, served by gunicorn as `make run`
serves them. The site is the one of test_changes_crawl.py, changed between its two crawls."""
from __future__ import annotations

import pytest

from tests.integration.conftest import run_crawl
from tests.integration.test_changes_crawl import OPTIONS, changing_site  # noqa: F401 (fixture)
from tests.integration.test_dashboard_browser import (browser, console_errors, open_page, screenshot, service,  # noqa: F401
                                                      sign_in, text_of, wait_for)  # fmt: skip

pytestmark = pytest.mark.integration

from selenium.webdriver.common.by import By  # noqa: E402 (after test_dashboard_browser's importorskip)
from selenium.webdriver.support.ui import Select  # noqa: E402


def counts(driver, table_id: str) -> dict[str, int]:
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return {row.get_attribute("data-kind"): int(row.find_element(By.TAG_NAME, "td").text) for row in rows}


EXPECTED = {"new_broken_links": 1, "fixed_broken_links": 1, "new_pages": 0, "gone_pages": 1, "status_changes": 1,
            "slower_pages": 1, "faster_pages": 0, "new_slow_pages": 1}  # fmt: skip


def test_the_panel_the_compare_page_and_a_urls_history_in_chromium(browser, service, live_client, make_org,  # noqa: F811
                                                                   changing_site):  # noqa: F811
    org = make_org("Dashboard changes org")
    first = run_crawl(live_client, org, changing_site.origin, **OPTIONS)
    changing_site.second_version()
    second = run_crawl(live_client, org, changing_site.origin, **OPTIONS)
    assert (first["status"], second["status"]) == ("completed", "completed")

    open_page(browser, f"{service}/app/sign-in")
    sign_in(browser, service, org.token)
    open_page(browser, f"{service}/app/jobs/{first['id']}")
    assert "first completed crawl" in text_of(browser, "#changes-note")

    open_page(browser, f"{service}/app/jobs/{second['id']}")
    assert text_of(browser, "#changes-heading") == "Changes since the previous crawl"
    assert counts(browser, "change-counts") == EXPECTED
    regressions = browser.find_elements(By.CSS_SELECTOR, "#change-counts tr.regression")
    assert {row.get_attribute("data-kind") for row in regressions} == {"new_broken_links", "new_slow_pages"}
    row = browser.find_element(By.CSS_SELECTOR, "#new-broken tbody tr")
    assert row.find_element(By.CSS_SELECTOR, "td.url").text == changing_site.url("/new-missing")
    assert [item.text for item in row.find_elements(By.CSS_SELECTOR, ".referrers li")] == [changing_site.url("/")]
    # The panel comes before the issues: what broke since last time is the first thing read.
    panel_y = browser.find_element(By.ID, "changes").location["y"]
    assert panel_y < browser.find_element(By.ID, "issues").location["y"]
    screenshot(browser, "job-changes-panel")

    browser.find_element(By.LINK_TEXT, "compare any two crawls").click()
    wait_for(browser, lambda d: "/compare" in d.current_url, 15)
    assert console_errors(browser) == []
    assert counts(browser, "compare-counts") == EXPECTED
    assert changing_site.url("/old-page") in text_of(browser, "#gone_pages")
    assert changing_site.url("/b") in text_of(browser, "#status_changes")
    # The same crawl in both boxes: nothing to compare, said so.
    Select(browser.find_element(By.ID, "after")).select_by_value(first["id"])
    browser.find_element(By.CSS_SELECTOR, ".compare-form button").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "compare-note"), 15)
    assert "two different crawls" in text_of(browser, "#compare-note")
    browser.back()
    wait_for(browser, lambda d: d.find_elements(By.ID, "slower_pages"), 15)
    screenshot(browser, "compare-crawls")

    browser.find_element(By.CSS_SELECTOR, "#slower_pages td.url a").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "history-chart"), 15)
    assert console_errors(browser) == []
    assert text_of(browser, "#history-heading") == changing_site.url("/slow-later")
    bars = browser.find_elements(By.CSS_SELECTOR, "#history-chart rect")
    heights = [float(bar.get_attribute("height")) for bar in bars]
    assert len(heights) == 2 and heights[1] == 90.0 and heights[0] < 30  # the slow crawl on the right, tallest
    assert len(browser.find_elements(By.CSS_SELECTOR, "#url-history tbody tr")) == 2
    screenshot(browser, "url-history")
