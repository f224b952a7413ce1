"""The frontier: which URLs a crawl takes, and what it remembers about each until it is recorded.

Every URL is admitted at most once (by its normalised key), before any Request object exists, and
the limits are applied there: max_pages (exact, counted at admission), depth, URL length and the
query-string trap. Admitted URLs stay `outstanding` until their record is closed, so a cancel can
record the rest as skipped. Referrers are kept only for URLs not yet resolved (and for ones that
failed), which is what the broken-link report needs, without storing the whole link graph.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from crawler.records import FAILED, KIND_PAGE, TaskInfo, skipped_record
from crawler.urls import SiteScope

MAX_REFERRERS = 20  # referring pages kept per broken link
UNKNOWN = object()  # an href not seen before
OVER_MAX_PAGES = ("max_pages", "")


class Frontier:
    def __init__(self, scope: SiteScope, *, max_pages: int, max_depth: int, max_url_length: int,
                 max_query_variants: int, on_late_referrer: Callable[[str, str], None]):  # fmt: skip
        self.scope = scope
        self.max_pages = max_pages
        self.max_depth = max_depth
        self.max_url_length = max_url_length
        self.max_query_variants = max_query_variants
        self.on_late_referrer = on_late_referrer
        self.seen: set[str] = set()
        self.href_keys: dict[str, str | None] = {}  # absolute URL as linked -> key (None: out of scope)
        self.outstanding: dict[str, TaskInfo] = {}
        self.pending_referrers: dict[str, list[str]] = {}
        self.failed_urls: dict[str, str] = {}  # key -> url of URLs that failed
        self.query_variants: dict[str, int] = {}
        self.pages_admitted = 0
        # Pages over max_pages wait here, unrecorded, in case an admitted page is not fetched after
        # all (robots.txt) and frees its place; at the end of the crawl they are recorded skipped.
        self.waiting: deque[TaskInfo] = deque()
        self.total_tasks = 0

    def known_href(self, absolute: str) -> Any:
        """The key cached for a linked URL, None if it is out of scope, UNKNOWN if never seen."""
        return self.href_keys.get(absolute, UNKNOWN)

    def remember_href(self, absolute: str, key: str | None) -> None:
        self.href_keys[absolute] = key

    def admit(self, canonical: str, key: str, found_via: str, referrer: str | None, depth: int,
              kind: str) -> tuple[TaskInfo | None, dict[str, Any] | None]:  # fmt: skip
        """(task to fetch, None), (None, skipped record), or (None, None) for a URL already known."""
        if key in self.seen:
            self.note_referrer(key, referrer, found_via)
            return None, None
        task = TaskInfo(canonical, key, kind, found_via, referrer, depth)
        self.add(task)
        self.note_referrer(key, referrer, found_via)
        skip = self._skip_reason(task)
        if skip == OVER_MAX_PAGES:
            self.waiting.append(task)
            return None, None
        if skip:
            return None, self.close(task, skipped_record(task, *skip))
        return task, None

    def add(self, task: TaskInfo) -> None:
        """Count a URL into the crawl: it is in total_tasks and outstanding until recorded."""
        self.seen.add(task.key)
        self.total_tasks += 1
        self.outstanding[task.key] = task
        if task.found_via == "start" and task.kind == KIND_PAGE:
            self.pages_admitted += 1

    def _skip_reason(self, task: TaskInfo) -> tuple[str, str] | None:
        if task.depth > self.max_depth:
            return "max_depth", f"Deeper than the maximum depth of {self.max_depth} links"
        if len(task.url) > self.max_url_length:
            return "url_too_long", f"URL longer than {self.max_url_length} characters"
        if "?" in task.key:
            path = task.key.split("?", 1)[0]
            variants = self.query_variants.get(path, 0) + 1
            self.query_variants[path] = variants
            if variants > self.max_query_variants:
                return "query_trap", f"More than {self.max_query_variants} query-string variants of {path}"
        if task.kind == KIND_PAGE and self.max_pages:
            if self.pages_admitted >= self.max_pages:
                return OVER_MAX_PAGES
            self.pages_admitted += 1
        return None

    def release_page(self, task: TaskInfo) -> TaskInfo | None:
        """A page admitted but not fetched (robots.txt): its place goes to the first waiting page,
        which is returned for the caller to fetch."""
        if task.kind != KIND_PAGE or not self.max_pages:
            return None
        if self.waiting:
            return self.waiting.popleft()
        self.pages_admitted -= 1
        return None

    def over_limit_records(self) -> list[dict[str, Any]]:
        """The pages still waiting when the crawl has nothing else to do: skipped, over max_pages."""
        reason = ("max_pages", f"Over the job's max_pages ({self.max_pages})")
        records = [self.close(task, skipped_record(task, *reason)) for task in self.waiting]
        self.waiting.clear()
        return records

    def note_referrer(self, key: str, referrer: str | None, found_via: str) -> None:
        if referrer is None or found_via != "link":
            return
        failed_url = self.failed_urls.get(key)
        if failed_url is not None:
            self.on_late_referrer(failed_url, referrer)
        elif key in self.outstanding:
            referrers = self.pending_referrers.setdefault(key, [])
            if len(referrers) < MAX_REFERRERS and referrer not in referrers:
                referrers.append(referrer)

    def close(self, task: TaskInfo, record: dict[str, Any]) -> dict[str, Any]:
        """A URL's record is final: attach its referrers, flag a broken link, forget the URL."""
        self.outstanding.pop(task.key, None)
        referrers = self.pending_referrers.pop(task.key, None)
        if record["status"] == FAILED:
            self.failed_urls[task.key] = task.url
            if referrers:
                record["referrers"] = referrers
                record["is_broken"] = True
        return record

    def unfinished_records(self, error_type: str, error: str) -> list[dict[str, Any]]:
        """Records for URLs admitted but never recorded (a cancel or shutdown): all skipped."""
        records = [skipped_record(task, error_type, error) for task in self.outstanding.values()]
        self.outstanding.clear()
        self.waiting.clear()
        return records
