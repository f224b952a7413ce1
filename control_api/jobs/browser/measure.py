"""Load pages in headless Chromium (Debian's `chromium` and `chromedriver`, through Selenium) and
read their lab metrics as web.dev defines them.

Observers installed before any script of the page (CDP `Page.addScriptToEvaluateOnNewDocument`)
collect the browser's own performance entries:
- FCP: the `first-contentful-paint` paint entry;
- LCP: the last `largest-contentful-paint` entry before the measurement ends (no input is given, so
  it is the final candidate);
- CLS: the largest session window of `layout-shift` entries without recent input (shifts less than
  1 s apart, a window at most 5 s long), web.dev's definition since 2021;
- TBT: the sum over `longtask` entries after FCP of their time past 50 ms (Lighthouse's lab metric,
  measured here to the end of the page's quiet period rather than to Time to Interactive).
Page weight and request count come from the DevTools network events (chromedriver's performance
log): every response's `encodedDataLength` as transferred, whatever its origin (the Resource Timing
API hides the size of cross-origin resources). Console errors are the browser log's SEVERE entries
(uncaught exceptions, console.error, failed loads).

The browser's HTTP cache is disabled so that every page is weighed as a first visit.

No browser outlives its measurement. chromedriver starts in a process group of its own, which
Chromium and its helpers join; closing the Browser quits the driver and then kills that group, so
a Chromium that hung, or a driver whose session broke, goes too. `kill()` does the same from another
thread, at once (the loop's stop: SIGTERM mid-page). A loop process that dies without closing
(SIGKILL, OOM) leaves the group behind: each carries its owner's pid in CRAWL_BROWSER_OWNER, and the
next loop to start kills the groups whose owner is gone (`kill_orphans`).
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PAGE_TIMEOUT_SECONDS = 30
QUIET_SECONDS = 1.5  # after `load`, for late LCP candidates, shifts and long tasks
MAX_CONSOLE_ERRORS = 20
OWNER_VARIABLE = "CRAWL_BROWSER_OWNER"  # in the environment of chromedriver and Chromium: the loop's pid

OBSERVERS = r"""
(() => {
  const perf = {lcp: null, cls: 0, windowValue: 0, windowStart: 0, windowLast: 0, longTasks: []};
  window.__perfMeasure = perf;
  const observe = (type, callback) => {
    try { new PerformanceObserver((list) => list.getEntries().forEach(callback)).observe({type, buffered: true}); }
    catch (e) { /* an entry type this Chromium does not know */ }
  };
  observe('largest-contentful-paint', (entry) => { perf.lcp = entry.renderTime || entry.loadTime || entry.startTime; });
  observe('layout-shift', (entry) => {
    if (entry.hadRecentInput) return;
    if (perf.windowValue && entry.startTime - perf.windowLast < 1000 && entry.startTime - perf.windowStart < 5000) {
      perf.windowValue += entry.value;
    } else {
      perf.windowValue = entry.value;
      perf.windowStart = entry.startTime;
    }
    perf.windowLast = entry.startTime;
    perf.cls = Math.max(perf.cls, perf.windowValue);
  });
  observe('longtask', (entry) => { perf.longTasks.push([entry.startTime, entry.duration]); });
})();
"""

SNAPSHOT = r"""
const perf = window.__perfMeasure;
const fcpEntry = performance.getEntriesByName('first-contentful-paint')[0];
const fcp = fcpEntry ? fcpEntry.startTime : null;
let tbt = 0;
if (perf) for (const [start, duration] of perf.longTasks) if (fcp !== null && start + duration > fcp) tbt += Math.max(0, duration - 50);
return {fcp: fcp, lcp: perf ? perf.lcp : null, cls: perf ? perf.cls : null, tbt: perf ? tbt : null, observed: !!perf};
"""


class BrowserUnavailable(Exception):
    """No usable Chromium here: the job's browser section says why."""


@dataclass
class PageMetrics:
    url: str
    lcp_ms: int | None = None
    fcp_ms: int | None = None
    cls: float | None = None
    tbt_ms: int | None = None
    page_weight_bytes: int | None = None
    request_count: int | None = None
    console_errors: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0  # wall time this page took in the browser

    def as_row(self) -> dict:
        return asdict(self)


def unavailable_reason() -> str | None:
    """Why no page can be measured here, or None when Chromium, its driver and Selenium are present."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if shutil.which(path) is None]
    if missing:
        return f"Chromium is not installed on this machine ({', '.join(missing)} not found; `make browser` installs it)"
    if importlib.util.find_spec("selenium") is None:  # found, not imported: an idle loop need not hold Selenium
        return "Selenium is not installed (requirements.txt)"
    return None


class Browser:
    """One headless Chromium for a sample of pages; a context manager."""

    def __init__(self, window: tuple[int, int] = (1350, 940)):
        reason = unavailable_reason()
        if reason:
            raise BrowserUnavailable(reason)
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-extensions", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-default-apps", "--disable-sync",
                         "--mute-audio", f"--window-size={window[0]},{window[1]}"):  # fmt: skip
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        # process_group=0: chromedriver leads a group of its own, which Chromium joins (see the module's doc).
        self.service = Service(executable_path=CHROMEDRIVER, popen_kw={"process_group": 0},
                               env={**os.environ, OWNER_VARIABLE: str(os.getpid())})  # fmt: skip
        self.driver = None
        try:
            self.driver = webdriver.Chrome(service=self.service, options=options)
            self.driver.set_page_load_timeout(PAGE_TIMEOUT_SECONDS)
            self.driver.execute_cdp_cmd("Network.enable", {})
            self.driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
            self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVERS})
        except WebDriverException as exc:
            self.close()
            raise BrowserUnavailable(f"Chromium did not start: {exc.msg or exc}") from None
        except BaseException:
            self.close()
            raise

    @property
    def group(self) -> int | None:
        """chromedriver's process group (its pid), where Chromium runs too; None before it started."""
        process = getattr(self.service, "process", None)
        return process.pid if process is not None else None

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Quit the driver (it closes Chromium), then kill whatever of its group is left."""
        try:
            if self.driver is not None:
                self.driver.quit()
        except Exception:  # noqa: BLE001 - a browser that died already: nothing left to stop
            logger.debug("browser quit failed", exc_info=True)
        finally:
            self.kill()
            process = getattr(self.service, "process", None)
            if process is not None:
                try:
                    process.wait(5)  # reap chromedriver; Chromium, its child, is reaped by init
                except Exception:  # noqa: BLE001 - killed above: only a stuck kernel would keep it
                    logger.warning("chromedriver %s did not exit", process.pid)

    def kill(self) -> None:
        """Kill chromedriver and Chromium at once (SIGKILL to their group); safe from any thread.
        A measurement waiting on them then fails with a WebDriverException."""
        if self.group is not None:
            try:
                os.killpg(self.group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):  # gone already (and reaped)
                pass

    def measure(self, url: str) -> PageMetrics:
        """Load `url` and read its metrics; a page that fails to load says why in `error`."""
        from selenium.common.exceptions import WebDriverException

        metrics = PageMetrics(url)
        started = time.monotonic()
        self.driver.get_log("performance")  # what the previous page left
        self.driver.get_log("browser")
        try:
            self.driver.get(url)
            time.sleep(QUIET_SECONDS)
            snapshot = self.driver.execute_script(SNAPSHOT)
        except WebDriverException as exc:
            metrics.error = (exc.msg or str(exc)).splitlines()[0][:500]
            snapshot = None
        if snapshot:
            metrics.fcp_ms = _ms(snapshot["fcp"])
            metrics.lcp_ms = _ms(snapshot["lcp"])
            metrics.cls = round(snapshot["cls"], 4) if snapshot["cls"] is not None else None
            metrics.tbt_ms = _ms(snapshot["tbt"])
        metrics.page_weight_bytes, metrics.request_count = network_totals(self.driver.get_log("performance"))
        metrics.console_errors = [entry["message"][:500] for entry in self.driver.get_log("browser")
                                  if entry.get("level") == "SEVERE"][:MAX_CONSOLE_ERRORS]  # fmt: skip
        metrics.seconds = round(time.monotonic() - started, 2)
        return metrics


def _ms(value: float | None) -> int | None:
    return round(value) if value is not None else None


def network_totals(log: list[dict]) -> tuple[int, int]:
    """(bytes transferred, requests) of a page load from chromedriver's performance log: every
    request sent, and the encoded (on the wire) length of every response that finished loading."""
    requests, weight = set(), 0
    for entry in log:
        message = json.loads(entry["message"])["message"]
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent" and not params.get("request", {}).get("url", "").startswith("data:"):
            requests.add(params["requestId"])
        elif method == "Network.loadingFinished":
            weight += int(params.get("encodedDataLength") or 0)
    return weight, len(requests)


def kill_orphans() -> int:
    """Kill the chromedriver and Chromium processes left by browser loops that died without closing
    them (their CRAWL_BROWSER_OWNER is a pid no longer running); returns how many. Another user's
    processes are not readable, and not ours to kill."""
    killed = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or not ours
            continue
        prefix = OWNER_VARIABLE.encode() + b"="
        owner = next((item.removeprefix(prefix) for item in environ if item.startswith(prefix)), None)
        if owner is None or not owner.isdigit() or Path(f"/proc/{int(owner)}").exists():
            continue
        try:
            os.kill(int(proc.name), signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, PermissionError):
            pass
    if killed:
        logger.warning("killed %d browser process(es) left by a browser loop that died", killed)
    return killed
