"""The frontier: which URLs a crawl takes, and what it remembers about each until it is recorded.

Every URL is admitted at most once (by its normalised key), before any Request object exists, and
the limits are applied there: max_pages (exact, counted at admission), depth, URL length and the
query-string trap. When the job sets max_pages, pages are instead ranked as they are found and the
budget goes to the best ones as they are handed out (crawler/priority.py: start page, its
navigation, sitemap priority, depth). Admitted URLs stay `outstanding` until their record is made, so a cancel can
record the rest as skipped. A record is then released in depth order (crawler/depths.py), so that
its depth is the URL's shortest click depth however the fetches interleave. Referrers are kept only
for URLs not yet released (and for ones that failed), which is what the broken-link report needs,
without storing the whole link graph.

Bounded by design (docs/crawler.md, "Memory bounds"): admitted URLs wait in `pending`, compact and
in breadth-first order, and only `max_in_flight` at a time are handed to a fetcher as Requests
(Scrapy's scheduler, a worker's queue); pages are admitted up to max_pages, which the instance's
MAX_PAGES_PER_JOB caps; at most WAITING_MAX pages over it are remembered (recorded skipped at the
end), the rest are counted, not remembered; the href cache is cleared at HREF_CACHE_MAX entries.

One module past the usual ~300 lines because it is one piece of state: admission, hand-out and
release all read and change the same counts, and splitting them would scatter that invariant.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterator
from typing import Any

from crawler.depths import DepthGate
from crawler.priority import Ranking, parse_priority
from contract.vocabulary import ErrorType, FoundVia, TaskKind, TaskStatus
from crawler.records import TaskInfo, skipped_record
from crawler.urls import SiteScope

MAX_REFERRERS = 20  # referring pages kept per broken link
# Pages over max_pages remembered (each ~1 KB), to be recorded skipped; past it they are only counted.
WAITING_MAX = 10_000
# Absolute hrefs whose key is cached (~250 B each); at the bound the cache starts again empty, which
# costs a re-normalisation of the links met again, not a wrong answer.
HREF_CACHE_MAX = 200_000
UNKNOWN = object()  # an href not seen before
OVER_MAX_PAGES = (ErrorType.MAX_PAGES, "")
# URLs accepted into the crawl (progress: total_tasks), in the crawl's stats: the database pipeline
# reads it there rather than from the spider.
TOTAL_TASKS_STAT = "tasks/total"


class Frontier:
    def __init__(self, scope: SiteScope, *, max_pages: int, max_depth: int, max_url_length: int,
                 max_query_variants: int, on_late_referrer: Callable[[str, str], None],
                 on_total: Callable[[int], None] | None = None, instance_max_pages: int = 0,
                 max_in_flight: int = 1000, on_corrected: Callable[[TaskInfo], None] | None = None,
                 url_filter: Any = None):  # fmt: skip
        """`instance_max_pages` (MAX_PAGES_PER_JOB, 0: none) caps `max_pages` (0: unlimited).
        `on_corrected`: a database job's records are released at once and corrected later
        (crawler/depths.py); without it (a feed) they are held until their depth is final."""
        self.scope = scope
        self.capped_by_instance = bool(instance_max_pages) and not 0 < max_pages <= instance_max_pages
        self.max_pages = instance_max_pages if self.capped_by_instance else max_pages
        self.requested_max_pages = max_pages
        self.max_depth = max_depth
        # The job's include/exclude patterns (crawler/scope.py UrlFilter); None or empty: none.
        self.url_filter = url_filter if url_filter else None
        self.max_url_length = max_url_length
        self.max_query_variants = max_query_variants
        self.on_late_referrer = on_late_referrer
        self.seen: set[str] = set()
        # Absolute URL as linked -> key (None: out of scope); UNKNOWN when missing (the spider reads it).
        self.href_keys: dict[str, str | None] = {}
        self.outstanding: dict[str, TaskInfo] = {}
        self.on_corrected = on_corrected
        self.gate = self._new_gate()
        # Admitted URLs not handed to a fetcher yet, first come first out (breadth-first); at most
        # max_in_flight are with the fetchers at once (as Requests in a scheduler, or downloading).
        self.pending: deque[TaskInfo] = deque()
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.over_limit = 0  # pages found over max_pages
        self.not_remembered = 0  # of those, links neither remembered nor recorded (WAITING_MAX reached)
        self.pending_referrers: dict[str, list[str]] = {}
        self.failed_urls: dict[str, str] = {}  # key -> url of URLs that failed
        self.query_variants: dict[str, int] = {}
        self.pages_admitted = 0
        # Pages over max_pages wait here, unrecorded, in case an admitted page is not fetched after
        # all (robots.txt) and frees its place; at the end of the crawl they are recorded skipped.
        self.waiting: deque[TaskInfo] = deque()
        self.total_tasks = 0
        self.on_total = on_total  # told each new total (the spider puts it in the crawl's stats)
        # The job's own max_pages: pages found wait here, ranked, until their turn (crawler/priority.py).
        self.ranking = Ranking() if max_pages > 0 else None

    def _new_gate(self) -> DepthGate:
        return DepthGate(correct_later=self.on_corrected is not None, on_corrected=self.on_corrected)

    def remember_href(self, absolute: str, key: str | None) -> None:
        if len(self.href_keys) >= HREF_CACHE_MAX:
            self.href_keys.clear()
        self.href_keys[absolute] = key

    def hand_out(self, task: TaskInfo) -> TaskInfo:
        """`task` goes to a fetcher now: it counts against max_in_flight until its record is made."""
        task.sent = True
        self.in_flight += 1
        return task

    def lost(self, elsewhere: Collection[str] = ()) -> list[TaskInfo]:
        """At the crawl's idle: the URLs counted in flight that no fetcher has any more. Idle means
        this process has no Request of the crawl anywhere (Scrapy's scheduler, downloader and
        callbacks are empty) and, in a hub, no worker holds one (`elsewhere`: the keys they hold,
        crawler/roles.py); a URL still counted lost its Request without a record (a callback that
        raised, say)."""
        return [task for task in self.outstanding.values() if task.sent and task.key not in elsewhere]

    def record_lost(self, lost: list[TaskInfo]) -> list[dict[str, Any]]:
        """Their records (skipped, interrupted), which also take them out of the in-flight count. It
        used to be set to 0 instead: the URLs went without a record, and had one come after all,
        the count would have gone below the URLs really in flight, and more than max_in_flight out."""
        records = []
        for task in lost:
            if self.outstanding.get(task.key) is task and task.sent:
                records += self.close(task, skipped_record(task, ErrorType.INTERRUPTED,
                                                           "Not fetched: its request ended without a record"))  # fmt: skip
        return records

    def to_fetch(self) -> Iterator[TaskInfo]:
        """The pending URLs a fetcher may take now."""
        self._promote()
        while self.pending and self.in_flight < self.max_in_flight:
            yield self.hand_out(self.pending.popleft())

    def admit(self, canonical: str, key: str, found_via: str, referrer: str | None, depth: int,
              kind: str) -> tuple[TaskInfo | None, list[dict[str, Any]]]:  # fmt: skip
        """(task to fetch, []), (None, released records: a skip), or (None, []) for a URL already known."""
        if key in self.seen:
            self.note_referrer(key, referrer, found_via, depth)
            return None, []
        if kind == TaskKind.PAGE and self.max_pages and self._remembers_no_more:
            self.over_limit += 1
            self.not_remembered += 1
            return None, []
        depth = self.gate.shortest(referrer, found_via, depth)
        task = TaskInfo(canonical, key, kind, found_via, referrer, depth)
        self.add(task, produces_from=None)
        self.note_referrer(key, referrer, found_via, depth)
        skip = self._skip_reason(task)
        if skip == OVER_MAX_PAGES:
            self.over_limit += 1
            self.waiting.append(task)
            return None, []
        if skip:
            return None, self.close(task, skipped_record(task, *skip))
        if self.ranking is not None and kind == TaskKind.PAGE:
            self.ranking.push(task)  # its turn comes in to_fetch, after the page that found it has been read
            return None, []
        self.gate.produce(task, task.depth)
        self.pending.append(task)
        return task, []

    def add(self, task: TaskInfo, produces_from: int | None) -> None:
        """Count a URL into the crawl: it is outstanding until recorded, and in total_tasks unless it
        is a sitemap document (progress counts the URLs the crawl checks, pages and resources).
        `produces_from`: the shallowest depth of the URLs it may lead to, None if it is not fetched now."""
        self.seen.add(task.key)
        if task.kind == TaskKind.SITEMAP and self.ranking is not None:
            self.ranking.sitemap_work += 1
        if task.kind != TaskKind.SITEMAP:
            self.total_tasks += 1
            if self.on_total is not None:
                self.on_total(self.total_tasks)
        self.outstanding[task.key] = task
        self.gate.track(task)
        if produces_from is not None:
            self.gate.produce(task, produces_from)
        if task.found_via == FoundVia.START and task.kind == TaskKind.PAGE:
            self.pages_admitted += 1

    def count_external(self) -> None:
        """An external link admitted for checking (crawler/external.py): in total_tasks, so that
        progress shows how many checks are pending, but not in the frontier or against max_pages."""
        self.total_tasks += 1
        if self.on_total is not None:
            self.on_total(self.total_tasks)

    def begin_discovery(self, depth: int) -> None:
        """A source of URLs at `depth` or deeper that is not a URL of the crawl (robots.txt) is being read."""
        self.gate.begin(depth)
        if self.ranking is not None:
            self.ranking.sitemap_work += 1

    def end_discovery(self, depth: int) -> list[dict[str, Any]]:
        if self.ranking is not None:
            self.ranking.sitemap_work -= 1
            self._promote()
        return self._released(self.gate.end(depth))

    def note_sitemap_priority(self, value: str | None) -> None:
        """The `<priority>` of the sitemap entry about to be admitted (crawler/priority.py)."""
        if self.ranking is not None:
            self.ranking.sitemap_priority = parse_priority(value)

    def _promote(self) -> None:
        """With a ranking: the best pages found become pending while max_pages has room."""
        ranking = self.ranking
        while ranking is not None and self.pages_admitted < self.max_pages:
            task = ranking.pop_ready()
            if task is None:
                return
            self.pages_admitted += 1
            self.gate.produce(task, task.depth)
            self.pending.append(task)

    @property
    def _remembers_no_more(self) -> bool:
        """Pages over max_pages are only counted from now on (WAITING_MAX are remembered)."""
        if self.ranking is not None:
            return len(self.ranking) >= WAITING_MAX
        return self.pages_admitted >= self.max_pages and len(self.waiting) >= WAITING_MAX

    def _skip_reason(self, task: TaskInfo) -> tuple[str, str] | None:
        if self.url_filter is not None and task.kind != TaskKind.SITEMAP:
            excluded = self.url_filter.skip_reason(task.url)
            if excluded:
                return excluded
        if task.depth > self.max_depth:
            return ErrorType.MAX_DEPTH, f"Deeper than the maximum depth of {self.max_depth} links"
        if len(task.url) > self.max_url_length:
            return ErrorType.URL_TOO_LONG, f"URL longer than {self.max_url_length} characters"
        if "?" in task.key:
            path = task.key.split("?", 1)[0]
            variants = self.query_variants.get(path, 0) + 1
            self.query_variants[path] = variants
            if variants > self.max_query_variants:
                return ErrorType.QUERY_TRAP, f"More than {self.max_query_variants} query-string variants of {path}"
        if task.kind == TaskKind.PAGE and self.max_pages and self.ranking is None:
            if self.pages_admitted >= self.max_pages:
                return OVER_MAX_PAGES
            self.pages_admitted += 1
        return None

    @property
    def pages_full(self) -> bool:
        """max_pages pages are admitted: a page found now would only wait to be skipped (sitemaps
        stop being read; links still wait, in case a robots.txt refusal frees a place). With a
        ranking: once the sitemaps listed enough pages to fill max_pages beside the start page, so
        their priorities compete with the links found, and a 50,000-entry sitemap is still not read
        for a 50-page job."""
        if self.ranking is not None:
            return self.ranking.sitemap_found >= self.max_pages - 1 or self._remembers_no_more
        return bool(self.max_pages) and self.pages_admitted >= self.max_pages

    def release_page(self, task: TaskInfo) -> TaskInfo | None:
        """A page admitted but not fetched (robots.txt): its place goes to the first waiting page,
        which joins the pending URLs (and is returned)."""
        if task.kind != TaskKind.PAGE or not self.max_pages:
            return None
        if self.waiting:
            promoted = self.waiting.popleft()
            self.gate.produce(promoted, promoted.depth)
            self.pending.append(promoted)
            return promoted
        self.pages_admitted -= 1
        return None

    @property
    def to_be_fetched(self) -> int:
        """URLs in hand that this crawl will still fetch: the outstanding ones less the pages over
        max_pages (waiting to be recorded skipped, or ranked past the places left), which are only
        held. What decides whether workers are worth starting (crawler/roles.py)."""
        held = len(self.waiting)
        if self.ranking is not None:
            ranked = len(self.ranking)
            held += ranked - min(ranked, max(0, self.max_pages - self.pages_admitted))
        return len(self.outstanding) - held

    @property
    def has_idle_records(self) -> bool:
        return bool(self.waiting or self.gate.held or self.ranking)

    def idle_records(self) -> list[dict[str, Any]]:
        """When the crawl has nothing else to do: the pages still waiting, skipped over max_pages,
        and any record still held for depth order (nothing can lower its depth any more)."""
        reason = (ErrorType.MAX_PAGES, self.over_limit_reason())
        if self.ranking:  # the pages ranked below the max_pages best
            left_out = self.ranking.drain()
            self.over_limit += len(left_out)
            self.waiting.extend(left_out)
        records = [record for task in self.waiting for record in self.close(task, skipped_record(task, *reason))]
        self.waiting.clear()
        return records + self._released(self.gate.release_all())

    def over_limit_reason(self) -> str:
        if self.capped_by_instance:
            return f"Over this instance's limit of {self.max_pages} pages per job (MAX_PAGES_PER_JOB)"
        return f"Over the job's max_pages ({self.max_pages})"

    def limit_note(self) -> str | None:
        """What the job should say when the instance's page limit stopped it, else None."""
        if not (self.capped_by_instance and self.over_limit):
            return None
        note = f"Stopped at this instance's limit of {self.max_pages} pages per job (MAX_PAGES_PER_JOB)"
        if self.not_remembered:
            note += f"; {self.not_remembered} more links to pages over it were neither followed nor recorded"
        return note

    def note_referrer(self, key: str, referrer: str | None, found_via: str, depth: int | None = None) -> None:
        """`referrer` leads to the URL of `key` (at `depth`, when known): a path that may be shorter,
        and a page to report if the URL turns out broken."""
        if referrer is None:
            return
        task = self.gate.tasks.get(key)
        if task is not None and task.recorded:  # released early: the path may correct its depth
            if depth is not None:
                self.gate.offer(task, referrer, found_via, depth)
            task = None
        if task is None:  # recorded already
            failed_url = self.failed_urls.get(key) if found_via == FoundVia.LINK else None
            if failed_url is not None:
                self.on_late_referrer(failed_url, referrer)
            return
        if depth is not None:
            self.gate.offer(task, referrer, found_via, depth)
        if found_via == FoundVia.LINK:
            referrers = self.pending_referrers.setdefault(key, [])
            if len(referrers) < MAX_REFERRERS and referrer not in referrers:
                referrers.append(referrer)

    def close(self, task: TaskInfo, record: dict[str, Any]) -> list[dict[str, Any]]:
        """A URL's record is made: the records whose depth is now final, this one or not."""
        self.outstanding.pop(task.key, None)
        if task.kind == TaskKind.SITEMAP and self.ranking is not None:
            self.ranking.sitemap_work -= 1
        if task.sent:
            task.sent = False
            self.in_flight -= 1
        return self._released(self.gate.finish(task, record))

    def _released(self, released: list[tuple[TaskInfo, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Final records: the path that reached each URL first among the shortest, its referrers,
        broken or not; the URL is forgotten."""
        records = []
        for task, record in released:
            task.recorded = True
            record.update(depth=task.depth, referrer=task.referrer, found_via=task.found_via)
            referrers = self.pending_referrers.pop(task.key, None)
            if record["status"] == TaskStatus.FAILED:
                self.failed_urls[task.key] = task.url
                if referrers:
                    record["referrers"] = referrers
                    record["is_broken"] = True
            records.append(record)
        return records

    def unfinished_records(self, error_type: str, error: str) -> list[dict[str, Any]]:
        """At a cancel or shutdown: the records held for depth order as they are, and a skipped
        record for every URL admitted but never recorded."""
        records = self._released(self.gate.release_all())
        skipped = [(task, skipped_record(task, error_type, error)) for task in self.outstanding.values()]
        records += self._released(skipped)
        self.outstanding.clear()
        self.waiting.clear()
        self.pending.clear()
        if self.ranking is not None:
            self.ranking.drain()
        self.in_flight = 0
        self.gate = self._new_gate()
        return records
