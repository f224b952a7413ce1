"""Which pages a crawl keeps when the job's `max_pages` cuts it short.

Without a page limit every page is crawled and the order hardly matters (breadth-first, as the
frontier hands them out). With one, first come first served keeps whatever the start page lists
first and leaves out the pages its owner marks as important. The contract's order instead:

  0. the start page (and where it redirects);
  1. the links in the start page's navigation (`<nav>`, `<header>`, `role="navigation"`), in
     their order: a site's own table of contents;
  2. sitemap entries that state a `<priority>`, highest first (then in the sitemap's order);
  3. everything else by click depth, then in the order found.

`Ranking` holds the pages found and not yet handed out: the budget is spent when a page is handed
to a fetcher, on the best page known then, not when a page is found. Sitemaps are read until they
listed enough pages to fill max_pages (crawler/frontier.py `pages_full`), as before: a priority
ranks the entries read, and an entry past that point of a huge sitemap is not read at all.
Ranks 2 and 3 also wait while sitemaps are still being read (robots.txt, the documents and their
indexes: `sitemap_work`), or a body link found first would take the place of a sitemap entry marked
important that arrives a moment later; the navigation's pages are fetched meanwhile. The frontier
uses it only when the job sets max_pages (crawler/frontier.py): an unlimited crawl is unchanged.
"""
from __future__ import annotations

import heapq
import itertools
from typing import TYPE_CHECKING

from selectolax.lexbor import LexborHTMLParser

from contract.vocabulary import FoundVia
from crawler.urls import LinkBase, SiteScope, normalise_within

if TYPE_CHECKING:
    from scrapy.http import Response

    from crawler.records import TaskInfo

NAVIGATION_LINKS = "nav a[href], header a[href], [role=navigation] a[href]"
START, NAVIGATION, SITEMAP_PRIORITY, BY_DEPTH = range(4)


def parse_priority(value: str | None) -> float | None:
    """A sitemap entry's `<priority>` (0.0-1.0), None when absent or not a number in range."""
    try:
        priority = float(value) if value is not None else None
    except ValueError:
        return None
    return priority if priority is not None and 0.0 <= priority <= 1.0 else None


def navigation_keys(body: bytes, base: str, scope: SiteScope) -> list[str]:
    """The keys of the site's pages linked from a page's navigation, in document order."""
    resolve = LinkBase(base).resolve
    keys: dict[str, None] = {}
    for element in LexborHTMLParser(body).css(NAVIGATION_LINKS):
        href = (element.attrs.get("href") or "").strip().partition("#")[0]
        if not href:
            continue
        try:
            normalised = normalise_within(resolve(href), scope)
        except ValueError:
            continue
        if normalised is not None:
            keys.setdefault(normalised[1])
    return list(keys)


class Ranking:
    def __init__(self) -> None:
        self.navigation: dict[str, int] = {}  # key -> position in the start page's navigation
        self.sitemap_priority: float | None = None  # of the sitemap entry being admitted now
        self.sitemap_work = 0  # sitemap documents and robots.txt being read
        self.sitemap_found = 0  # pages first found in a sitemap
        self.heap: list[tuple[int, float, int, TaskInfo]] = []
        self.order = itertools.count()

    def __len__(self) -> int:
        return len(self.heap)

    def read_start_page(self, response: Response, scope: SiteScope) -> None:
        """The start page's navigation: its pages come right after it. Called before its links are admitted."""
        self.navigation = {key: n for n, key in enumerate(navigation_keys(response.body, response.url, scope))}

    def rank(self, task: TaskInfo) -> tuple[int, float]:
        if task.depth == 0 and task.found_via in (FoundVia.START, FoundVia.REDIRECT):
            return START, 0
        position = self.navigation.get(task.key)
        if position is not None:
            return NAVIGATION, position
        if task.found_via == FoundVia.SITEMAP and self.sitemap_priority is not None:
            return SITEMAP_PRIORITY, -self.sitemap_priority
        return BY_DEPTH, task.depth

    def push(self, task: TaskInfo) -> None:
        self.sitemap_found += task.found_via == FoundVia.SITEMAP
        rank, within = self.rank(task)
        heapq.heappush(self.heap, (rank, within, next(self.order), task))

    def pop_ready(self) -> TaskInfo | None:
        """The best page, unless it must wait for the sitemaps still being read."""
        if not self.heap or (self.sitemap_work > 0 and self.heap[0][0] >= SITEMAP_PRIORITY):
            return None
        return heapq.heappop(self.heap)[3]

    def drain(self) -> list[TaskInfo]:
        """Every page left, best first: the ones max_pages leaves out."""
        tasks = [entry[3] for entry in sorted(self.heap)]
        self.heap.clear()
        return tasks
