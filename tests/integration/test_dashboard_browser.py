"""The dashboard in a real browser: headless Chromium driven by Selenium, against the service as
`make run` serves it (gunicorn, two workers, a generated SECRET_KEY shared through its file), a
real scrapyd and the test site. SPEC: "Dashboard: the same service in a browser".

One browser and one service for the module; the tests run in order as one user's visit (sign in,
start a crawl and watch it, cancel one, filter the list, create a schedule, a trigger and a webhook, sign out)
and each saves a screenshot under var/screenshots/. Every page a test expects to load must leave no error in the browser's
console. Chromium comes from Debian (`make test` installs chromium and chromium-driver when it is
root and they are missing); without it these tests are skipped, saying so.
"""
from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse
from subprocess import Popen

import pytest
import requests

from contract.paths import PROJECT_ROOT
from control_api.dashboard import figures
from control_api.dashboard.forms import option_fields
from tests.integration.conftest import free_port, gunicorn_command, stop_process
from tests.sites.pages import REFERRERS, SITE, fill

pytestmark = pytest.mark.integration

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
BROWSER_TZ = "Asia/Kolkata"  # UTC+5:30: getTimezoneOffset() is -330, so tzOffset=0 would be visibly wrong
WAIT = 90.0

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (requirements-dev.txt)")
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def service(database_url, scrapyd, tmp_path_factory):
    """The API and dashboard under gunicorn on an ephemeral port; yields its base URL."""
    port, workdir = free_port(), tmp_path_factory.mktemp("dashboard")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": database_url, "SCRAPYD_URL": scrapyd.url,
           "ALLOW_PRIVATE_TARGETS": "1", "RATE_LIMIT_PER_MINUTE": "0", "AUTH_FAILURES_PER_MINUTE": "0",
           "SECRET_KEY_FILE": str(workdir / "secret-key")}  # fmt: skip
    log = workdir / "gunicorn.log"
    with log.open("wb") as output:
        process = Popen(gunicorn_command(port), cwd=PROJECT_ROOT, env=env, stdout=output, stderr=output)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield base
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def browser():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} missing: `make test` installs Debian's chromium and chromium-driver when run as root")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER, env={**os.environ, "TZ": BROWSER_TZ}), options=options)
    driver.implicitly_wait(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def visit():
    """What the tests of this module hand on to each other: one user's visit."""
    return {}


def console_errors(driver) -> list[str]:
    """Errors logged in the browser console since the last call (reading the log empties it)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def open_page(driver, url: str) -> None:
    driver.get(url)
    assert console_errors(driver) == [], url


def screenshot(driver, name: str, width: int = 1280) -> Path:
    """The whole page at `width` px: the window is made as tall as the page first."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(height, 600), 6000))
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    return path


def follow(driver, link_text: str, path: str) -> None:
    """Click a link until its page is open: a page that reloads itself (the job page, when its crawl
    ends) can replace the navigation a click started."""

    def opened(driver) -> bool:
        if urlparse(driver.current_url).path == path:
            return True
        driver.find_element(By.LINK_TEXT, link_text).click()
        return False

    wait_for(driver, opened, 15, f"the {link_text} link did not open {path}")


def open_view(driver, link_text: str, query: str) -> None:
    """Click a link to another view of the same page (its query differs) until it is open."""

    def opened(driver) -> bool:
        if query in urlparse(driver.current_url).query:
            return True
        driver.find_element(By.LINK_TEXT, link_text).click()
        return False

    wait_for(driver, opened, 15, f"the {link_text} link did not open ?{query}")
    assert console_errors(driver) == []


def wait_for(driver, condition, timeout: float = WAIT, message: str = ""):
    # The job page reloads itself once its crawl ends: an element may vanish while it is read.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=ignored).until(condition, message)


def text_of(driver, css: str) -> str:
    # The live job page replaces a figure's element when it updates it, so an element found can be
    # gone when its text is read (a StaleElementReferenceException in CI): it is found again.
    for _ in range(4):
        try:
            return driver.find_element(By.CSS_SELECTOR, css).text
        except StaleElementReferenceException:
            time.sleep(0.05)
    return driver.find_element(By.CSS_SELECTOR, css).text


def sign_in(driver, service: str, token: str) -> None:
    field = driver.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token)
    field.send_keys(Keys.ENTER)
    wait_for(driver, lambda d: "/app/sign-in" not in d.current_url, 15, "sign-in did not leave the form")


def start_crawl(driver, service: str, domain: str, **numbers: int) -> str:
    """Fill and send the New crawl form; returns the new job's id (from the page it lands on)."""
    driver.find_element(By.LINK_TEXT, "New crawl").click()
    driver.find_element(By.ID, "domain").send_keys(domain)
    for name, value in numbers.items():
        field = driver.find_element(By.ID, name)
        field.clear()
        field.send_keys(str(value))
    driver.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
    wait_for(driver, lambda d: "/app/jobs/" in d.current_url and not d.current_url.endswith("/new"), 15,
             "the form did not start a job")  # fmt: skip
    assert console_errors(driver) == []
    return driver.current_url.rsplit("/", 1)[1]


# Every table and scrolling region that is wider than its box at the window's width: at 390 px the
# tables are stacked cards (dashboard.css), so none may be cut or scroll sideways.
OVERFLOWING = """
return Array.from(document.querySelectorAll('table, .table-scroll')).filter(function (element) {
  return element.scrollWidth > element.clientWidth + 1;
}).map(function (element) { return element.id || element.className || element.tagName; });
"""
SMALLEST_CHART_TEXT = """
var sizes = Array.from(document.querySelectorAll('.chart .bar-label, .chart .bar-value, .chart figcaption'))
  .map(function (element) { return parseFloat(getComputedStyle(element).fontSize); });
return sizes.length ? Math.min.apply(null, sizes) : null;
"""


def at_phone_width(driver, name: str) -> None:
    """The page at 390 px: no sideways scroll, no table cut, chart labels readable; a screenshot."""
    driver.set_window_size(390, 844)
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
    assert driver.execute_script(OVERFLOWING) == []
    smallest = driver.execute_script(SMALLEST_CHART_TEXT)
    assert smallest is None or smallest >= 12, f"chart text of {smallest} px"
    screenshot(driver, name, width=390)


def test_sign_in_with_a_token_sets_a_strict_session_cookie(browser, service, make_org, visit):
    visit["org"] = org = make_org("Dashboard browser org")
    open_page(browser, f"{service}/app")
    assert "/app/sign-in" in browser.current_url  # not signed in: sent to the form
    field = browser.find_element(By.ID, "token")
    assert browser.find_element(By.CSS_SELECTOR, "label[for=token]").text == "API token"
    field.send_keys("cs_not-a-token", Keys.ENTER)
    wait_for(browser, lambda d: d.find_elements(By.ID, "token-error"), 15)
    assert "unknown or has been revoked" in text_of(browser, "#token-error")
    console_errors(browser)  # the refused sign-in is a 401: its console line is expected

    sign_in(browser, service, org.token)
    assert browser.current_url.startswith(f"{service}/app/jobs")
    assert console_errors(browser) == []
    cookie = browser.get_cookie("crawl_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["path"] == "/app"
    assert cookie["secure"] is False  # plain http on loopback; https makes it Secure (tests/test_dashboard.py)
    assert "Dashboard browser org" in text_of(browser, ".site-header")
    screenshot(browser, "sign-in-jobs-empty")


def test_a_job_started_from_the_form_shows_live_progress_then_its_broken_links(browser, service, site, visit):
    site.reset()  # every cacheable page a MISS again, whatever crawled the site before: warming has work
    start_crawl(browser, service, f"site.test:{site.port}", slow_page_threshold_ms=1000)
    visit["completed_job"] = job_id = browser.current_url.rsplit("/", 1)[1]
    # site.test holds a page that takes 1.5 s to answer, so the page opened right after the post
    # shows the crawl unfinished: what follows can only be the page's script polling for progress.
    assert text_of(browser, "[data-field=status]") in ("created", "running")
    assert float(browser.find_element(By.ID, "job-progress").get_attribute("value")) < 100
    seen = set()

    def finished(driver) -> bool:
        seen.add(driver.find_element(By.ID, "job-progress").get_attribute("value"))
        return text_of(driver, "[data-field=status]") == "completed" and driver.find_elements(By.ID, "broken-by-source")

    wait_for(browser, finished, message="the job page never showed the crawl completed")
    assert browser.find_element(By.ID, "job-progress").get_attribute("value") == "100"
    assert text_of(browser, "#job-percentage") == "100.0 %"
    assert console_errors(browser) == []

    missing = fill(SITE + "/missing", site.port)
    # Grouped by the page that links first; the view by broken URL lists each with its referrers.
    assert browser.find_elements(By.CSS_SELECTOR, "#broken-by-source tbody tr")
    open_view(browser, "By broken URL", "broken=target")
    rows = browser.find_elements(By.CSS_SELECTOR, "#broken-links tbody tr")
    row = next(row for row in rows if row.find_element(By.CSS_SELECTOR, "td.url").text == missing)
    referrers = {item.text for item in row.find_elements(By.CSS_SELECTOR, ".referrers li")}
    assert referrers == {fill(url, site.port) for url in REFERRERS[SITE + "/missing"]}
    assert fill(SITE + "/slow", site.port) in text_of(browser, "#slow-pages")
    assert fill(SITE + "/redirect-1", site.port) in text_of(browser, "#redirect-chains")
    # Every hop listed; the loop marked where it comes back.
    loop = browser.find_element(By.CSS_SELECTOR, "#redirect-chains tr.redirect-loop")
    assert "loop: back to hop 1" in loop.text and len(loop.find_elements(By.CSS_SELECTOR, ".hops li")) >= 3
    # A crawled URL is a link to a new tab that tells the site nothing of this page.
    links = browser.find_elements(By.CSS_SELECTOR, "#issues td.url a[target=_blank], #issues li.url a[target=_blank]")
    assert links and all(link.get_attribute("rel") == "noopener noreferrer" for link in links)
    assert all(link.get_attribute("href").startswith("http") for link in links)
    assert fill(SITE + "/error", site.port) in text_of(browser, "#server-errors")
    assert int(text_of(browser, "#warming div:first-child dd")) > 0  # pages warmed
    status_chart = browser.find_element(By.CSS_SELECTOR, "#status-chart-desc").get_attribute("textContent")
    assert "4xx: " in status_chart and "4xx: 0" not in status_chart

    # The export is the session's too: fetched by the page itself, with its cookie.
    export = browser.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0]).then(r => r.text()).then(done, e => done(String(e)));",
        f"{service}/app/jobs/{job_id}/export.csv",
    )
    assert export.startswith("url,") and missing in export
    screenshot(browser, "job-page")

    # Numbers as they are: each ratio once, one decimal under 100 %, as figures.ratio writes it.
    job = requests.get(f"{service}/v1/jobs/{job_id}", headers=visit["org"].headers, timeout=10).json()
    assert text_of(browser, "[data-field=cache_hit_ratio]") == figures.ratio(job["stats"]["cache_hit_ratio"])
    assert text_of(browser, "[data-field=cache_hit_ratio_after_warming]") == figures.ratio(
        job["stats"]["cache_hit_ratio_after_warming"])
    assert "before warming" not in browser.find_element(By.TAG_NAME, "main").text
    at_phone_width(browser, "job-page-390")  # a phone: the broken links' long URLs and referrers included


LIVE_FIGURES = ("[data-field=avg_response_time]", "[data-field=total_bytes]", "[data-field=issues_slow_pages]",
                "#status-chart [data-chart-total]", "#time-chart [data-chart-total]", "[data-time-field=started_at]")  # fmt: skip


def test_a_running_jobs_page_updates_every_figure_then_is_cancelled_from_it(browser, service, site, visit):
    # slow.test: 30 pages of a second each, one at a time: still running long after the click; each a
    # slow page over 500 ms, so the issue counts move too.
    visit["cancelled_job"] = start_crawl(browser, service, f"slow.test:{site.port}", concurrency=1, slow_page_threshold_ms=500)
    first = {css: text_of(browser, css) for css in LIVE_FIGURES}
    assert first["[data-field=issues_slow_pages]"] == "0" and first["#status-chart [data-chart-total]"] == "0"
    browser.execute_script("window.notReloaded = true")  # gone if the page reloads itself

    def every_figure_moved(driver) -> bool:
        now = {css: text_of(driver, css) for css in LIVE_FIGURES}
        return all(now[css] != first[css] for css in LIVE_FIGURES if css != "[data-time-field=started_at]" or first[css] == "—")

    wait_for(browser, every_figure_moved, 60, "a figure of the running job's page stayed as it was")
    assert text_of(browser, "[data-field=status]") == "running"
    assert browser.execute_script("return window.notReloaded") is True
    assert int(text_of(browser, "[data-field=issues_slow_pages]")) >= 1
    assert "2xx: " in browser.find_element(By.ID, "status-chart-desc").get_attribute("textContent")
    assert browser.find_element(By.CSS_SELECTOR, "[data-time-field=started_at] time")  # a time, not "—"
    screenshot(browser, "job-running-live")
    # Links found (the live counts moved): the cancel then leaves URLs found and not fetched.
    wait_for(browser, lambda d: int(text_of(d, "[data-field=total_tasks]")) > 1, message="the crawl found no links")
    browser.find_element(By.XPATH, "//button[normalize-space()='Cancel crawl']").click()
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".flash"), 15)
    assert "cancelled" in text_of(browser, ".flash")
    assert text_of(browser, "[data-field=status]") == "cancelled"
    assert not browser.find_elements(By.XPATH, "//button[normalize-space()='Cancel crawl']")
    assert console_errors(browser) == []
    job = requests.get(f"{service}/v1/jobs/{visit['cancelled_job']}", headers=visit["org"].headers, timeout=10).json()
    assert job["status"] == "cancelled" and job["source_type"] == "dashboard" and job["source_detail"] == "create_job"
    assert text_of(browser, "[data-field=source]") == "Started from the dashboard"
    # Done of found, not the API's terminal 100: the page says what the cancel kept.
    progress = job["progress"]
    done = progress["completed_tasks"] + progress["failed_tasks"] + progress["skipped_tasks"]
    assert done < progress["total_tasks"], progress  # 30 slow pages: cancelled long before the end
    share = math.floor(done * 1000 / progress["total_tasks"]) / 10
    visit["cancelled_share"] = f"{share:.1f} %"
    assert text_of(browser, "#job-percentage") == visit["cancelled_share"]
    assert float(browser.find_element(By.ID, "job-progress").get_attribute("value")) == share
    assert text_of(browser, "[data-field=done_tasks]") == str(done)
    assert f"before {progress['total_tasks'] - done} of the URLs found" in text_of(browser, "#cancel-note")
    screenshot(browser, "job-cancelled")
    at_phone_width(browser, "job-cancelled-390")
    browser.set_window_size(1280, 900)


def test_the_jobs_list_filters_by_status_and_day_in_the_browsers_time_zone(browser, service, visit):
    open_page(browser, f"{service}/app/jobs")
    assert {row.get_attribute("data-job-id") for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-job-id]")} == {
        visit["completed_job"], visit["cancelled_job"]}
    Select(browser.find_element(By.ID, "filter-status")).select_by_value("cancelled")
    Select(browser.find_element(By.ID, "filter-range")).select_by_value("today")
    browser.find_element(By.XPATH, "//button[normalize-space()='Filter']").click()
    wait_for(browser, lambda d: "status=cancelled" in d.current_url, 15)
    assert console_errors(browser) == []
    assert "range=today" in browser.current_url and "tzOffset=-330" in browser.current_url
    rows = browser.find_elements(By.CSS_SELECTOR, "tr[data-job-id]")
    assert [row.get_attribute("data-job-id") for row in rows] == [visit["cancelled_job"]]
    assert rows[0].find_element(By.CSS_SELECTOR, "[data-field=percentage]").text == visit["cancelled_share"]
    Select(browser.find_element(By.ID, "filter-status")).select_by_value("completed")
    browser.find_element(By.XPATH, "//button[normalize-space()='Filter']").click()
    wait_for(browser, lambda d: "status=completed" in d.current_url, 15)
    assert [row.get_attribute("data-job-id") for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-job-id]")] == [
        visit["completed_job"]]
    open_page(browser, f"{service}/app/jobs")
    screenshot(browser, "jobs-list")
    at_phone_width(browser, "jobs-list-390")
    # Stacked: each cell says its column's name above its value.
    browser.set_window_size(390, 844)
    label = browser.execute_script(
        "return getComputedStyle(document.querySelector('tr[data-job-id] td[data-label=Source]'), '::before').content")
    assert label == '"Source"'
    browser.set_window_size(1280, 900)


def test_500_broken_links_from_one_page_are_one_row_and_the_reverse_view_is_paged(browser, service, site, visit):
    job_id = start_crawl(browser, service, f"broken.test:{site.port}", max_pages=600)
    wait_for(browser, lambda d: text_of(d, "[data-field=status]") == "completed" and d.find_elements(By.ID, "broken-by-source"),
             message="the crawl of broken.test never completed")  # fmt: skip
    assert text_of(browser, "[data-field=issues_broken_links]") == "500"
    rows = browser.find_elements(By.CSS_SELECTOR, "#broken-by-source tbody tr")
    home, also = fill("http://broken.test:{port}/", site.port), fill("http://broken.test:{port}/also", site.port)
    assert [(row.get_attribute("data-source"), row.find_element(By.CSS_SELECTOR, "td.count").text) for row in rows] == [
        (home, "500"), (also, "2")]
    height = browser.execute_script("return document.documentElement.scrollHeight")
    assert height < 6000, f"the job page is {height} px tall"  # the page of 426 rows was 19,149 px
    screenshot(browser, "broken-by-source")

    open_view(browser, "By broken URL", "broken=target")
    seen = []
    for number in range(1, 30):
        page_rows = browser.find_elements(By.CSS_SELECTOR, "#broken-links tbody tr")
        assert len(page_rows) <= 20
        seen += [row.find_element(By.CSS_SELECTOR, "td.url").text for row in page_rows]
        if number == 1:  # linked from two pages: first
            assert [row.find_element(By.CSS_SELECTOR, "td.count").text for row in page_rows[:3]] == ["2", "2", "1"]
            screenshot(browser, "broken-by-target")
        nexts = browser.find_elements(By.CSS_SELECTOR, "#issues .pagination a[rel=next]")
        if not nexts:
            break
        nexts[0].click()
        wait_for(browser, lambda d: f"broken_page={number + 1}" in d.current_url, 15)
        assert console_errors(browser) == []
    assert len(seen) == 500 and len(set(seen)) == 500
    at_phone_width(browser, "broken-by-target-390")
    browser.set_window_size(1280, 900)


def test_the_form_is_labelled_and_reachable_by_keyboard(browser, service):
    open_page(browser, f"{service}/app/jobs/new")
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
        ".filter(el => el.labels.length === 0).map(el => el.name)"
    )
    assert unlabelled == []
    browser.find_element(By.ID, "domain").click()
    expected = ["domain", *option_tab_order(option_fields.option_fields()), "allow_concurrent", "Start crawl"]
    reached = []
    for _ in range(len(expected) + 2):
        reached.append(browser.execute_script("const e = document.activeElement; return e.id || e.textContent.trim()"))
        browser.switch_to.active_element.send_keys(Keys.TAB)
    assert reached[: len(expected)] == expected

    # At 390 px every checkbox stays on its label's first line (long labels wrap beside the box).
    browser.set_window_size(390, 844)
    apart = browser.execute_script(
        "return [...document.querySelectorAll('.checkbox input')].filter(box => {"
        "  const label = box.labels[0].getBoundingClientRect(), rect = box.getBoundingClientRect();"
        "  return label.top >= rect.bottom || label.left < rect.right; }).map(box => box.id)")
    assert apart == []
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    screenshot(browser, "new-job-390", width=390)
    browser.set_window_size(1280, 900)

    browser.find_element(By.ID, "domain").send_keys("not a domain")
    concurrency = browser.find_element(By.ID, "concurrency")
    concurrency.clear()
    concurrency.send_keys("500")
    browser.find_element(By.XPATH, "//button[normalize-space()='Start crawl']").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "concurrency-error"), 15)
    console_errors(browser)  # the refused form is a 400: its console line is expected
    assert "less than or equal to 100" in text_of(browser, "#concurrency-error")
    assert browser.find_element(By.ID, "concurrency").get_attribute("aria-invalid") == "true"
    screenshot(browser, "new-job-errors")


def option_tab_order(fields) -> list[str]:
    """The option fields in the order the form's macro lays them out: the inputs in a row, the
    textareas, each small model's fieldset (the same order inside), then the checkboxes."""
    inputs = [field.name for field in fields if field.kind in option_fields.INPUT_KINDS]
    textareas = [field.name for field in fields if field.kind in option_fields.TEXTAREA_KINDS]
    groups = [name for field in fields if field.kind == "group" for name in option_tab_order(field.children)]
    checkboxes = [field.name for field in fields if field.kind == "checkbox"]
    return inputs + textareas + groups + checkboxes


def test_a_post_without_the_csrf_token_is_refused(browser, service, visit):
    cookies = {cookie["name"]: cookie["value"] for cookie in browser.get_cookies()}
    job_url = f"{service}/app/jobs/{visit['completed_job']}"
    for url, form in ((f"{service}/app/jobs/new", {"domain": "example.com"}),
                      (f"{job_url}/cancel", {}), (f"{service}/app/sign-out", {}),
                      (f"{service}/app/jobs/new", {"domain": "example.com", "csrf_token": "forged"})):  # fmt: skip
        response = requests.post(url, data=form, cookies=cookies, allow_redirects=False, timeout=10)
        assert response.status_code == 400, url
        assert "CSRF" in response.text
    open_page(browser, f"{service}/app/jobs")  # still signed in: nothing above changed the session
    assert browser.find_elements(By.CSS_SELECTOR, "tr[data-job-id]")
    screenshot(browser, "after-forged-posts")


def test_a_schedule_a_trigger_and_a_webhook_are_created_from_their_pages(browser, service, site, visit):
    """Schedules, Triggers and Webhooks pages: create one of each through its form, run the schedule
    now (a real crawl, kept to 3 pages), the trigger's URL shown once and selected by its Copy
    button, the webhook's secret shown once."""
    open_page(browser, f"{service}/app/jobs")
    browser.find_element(By.LINK_TEXT, "Schedules").click()
    browser.find_element(By.LINK_TEXT, "New schedule").click()
    assert console_errors(browser) == []
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('input:not([type=hidden])')].filter(el => el.labels.length === 0).map(el => el.name)")
    assert unlabelled == []
    domain = f"site.test:{site.port}"
    browser.find_element(By.ID, "domain").send_keys(domain)
    for name, value in (("interval_hours", "48"), ("max_pages", "3")):
        field = browser.find_element(By.ID, name)
        field.clear()
        field.send_keys(value)
    browser.find_element(By.XPATH, "//button[normalize-space()='Create schedule']").click()
    wait_for(browser, lambda d: d.current_url.endswith("/app/schedules"), 15, "the form did not create a schedule")
    assert console_errors(browser) == []
    assert f"Schedule for {domain} created: every 48 h." in text_of(browser, ".flash")
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-schedule-id]")
    assert domain in row.text and "48 h" in row.text and row.find_element(By.CSS_SELECTOR, "[data-field=enabled]").text == "Yes"
    browser.set_window_size(390, 844)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    screenshot(browser, "schedules-390", width=390)

    row.find_element(By.XPATH, ".//button[normalize-space()='Run now']").click()
    wait_for(browser, lambda d: "/app/jobs/" in d.current_url, 15, "run now did not open the job")
    wait_for(browser, lambda d: text_of(d, "[data-field=status]") == "completed", message="the run never completed")
    assert console_errors(browser) == []
    job = requests.get(f"{service}/v1/jobs/{browser.current_url.rsplit('/', 1)[1]}", headers=visit["org"].headers, timeout=10).json()
    assert (job["source_type"], job["source_detail"], job["options"]["max_pages"]) == ("scheduler", "run_now", 3)

    follow(browser, "Triggers", "/app/triggers")  # from the job page, which reloads itself when its crawl ends
    browser.find_element(By.LINK_TEXT, "New trigger").click()
    browser.find_element(By.ID, "name").send_keys("webflow-publish")
    browser.find_element(By.ID, "domain").send_keys(domain)
    browser.find_element(By.XPATH, "//button[normalize-space()='Create trigger']").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "hook-url"), 15, "no hook URL shown")
    assert console_errors(browser) == []
    hook = browser.find_element(By.ID, "hook-url")
    url = hook.get_attribute("value")
    assert url.startswith(f"{service}/hooks/") and hook.get_attribute("readonly") is not None
    browser.find_element(By.XPATH, "//button[normalize-space()='Copy']").click()
    wait_for(browser, lambda d: text_of(d, "[data-copy-status=hook-url]"), 5, "the Copy button said nothing")
    selected = browser.execute_script("const e = document.getElementById('hook-url'); return e.value.substring(e.selectionStart, e.selectionEnd)")
    assert selected == url
    assert "Site publish" in text_of(browser, "main")
    screenshot(browser, "trigger-created")
    open_page(browser, f"{service}/app/triggers")
    assert "webflow-publish" in text_of(browser, "tr[data-trigger-id]") and url not in browser.page_source
    screenshot(browser, "triggers")

    browser.find_element(By.LINK_TEXT, "Webhooks").click()
    browser.find_element(By.LINK_TEXT, "New webhook").click()
    browser.find_element(By.ID, "url").send_keys("https://hooks.example.com/crawls")
    browser.find_element(By.XPATH, "//label[normalize-space()='job.started']").click()  # untick one of the four
    browser.find_element(By.XPATH, "//button[normalize-space()='Create webhook']").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "webhook-secret"), 15, "no signing secret shown")
    assert console_errors(browser) == []
    assert browser.find_element(By.ID, "webhook-secret").get_attribute("value").startswith("whsec_")
    browser.find_element(By.LINK_TEXT, "Its deliveries").click()
    assert "job.completed, job.failed, job.cancelled" in text_of(browser, "main") and console_errors(browser) == []
    screenshot(browser, "webhook")


def test_signing_out_ends_the_session_and_another_organisation_sees_no_job(browser, service, make_org, visit):
    open_page(browser, f"{service}/app/jobs")
    signed_in = browser.get_cookie("crawl_session")["value"]
    browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    wait_for(browser, lambda d: "/app/sign-in" in d.current_url, 15)
    assert "signed out" in text_of(browser, ".flash")
    assert console_errors(browser) == []
    # The sign-in form's own CSRF token keeps a cookie, a new one that signs nobody in.
    assert (browser.get_cookie("crawl_session") or {}).get("value") != signed_in
    open_page(browser, f"{service}/app/jobs/{visit['completed_job']}")
    assert "/app/sign-in" in browser.current_url

    sign_in(browser, service, make_org("Another org").token)
    assert browser.current_url.endswith(f"/app/jobs/{visit['completed_job']}")
    assert text_of(browser, "h1") == "Not found"  # another organisation's job: 404, nothing of it shown
    console_errors(browser)  # the 404's console line is expected
    open_page(browser, f"{service}/app/jobs")
    assert browser.find_elements(By.CSS_SELECTOR, "tr[data-job-id]") == []
    screenshot(browser, "other-organisation")


def test_the_api_docs_render_from_our_own_assets(browser, service):
    open_page(browser, f"{service}/app/jobs")
    browser.find_element(By.LINK_TEXT, "API docs").click()
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"), 30, "Swagger UI drew no operation")
    assert "/v1/jobs" in text_of(browser, "#swagger-ui")
    assert console_errors(browser) == []
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(url.startswith(service) for url in resources)  # nothing from elsewhere
    screenshot(browser, "api-docs")
