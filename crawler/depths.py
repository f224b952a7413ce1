"""Shortest click depths under concurrency: records are released in depth order.

Breadth-first order alone does not give every URL its shortest depth: fetches run concurrently, so
a fast page two links down can reveal a URL before a slow page one link down does, and with several
processes a worker's link batch can arrive before another's. So a URL's depth can still go down
while its record waits here, and a record is *released* (handed to the pipelines) only once no
unfinished URL could still lead to it by a shorter path.

Each unfinished URL is a *producer* at the shallowest depth it can lead to: a page or resource at
its own depth (a redirect's target keeps its depth, a link adds one), a sitemap at 1, and so are a
robots.txt or a guessed sitemap still being read. A record at depth d is released when no producer
is shallower than d. Until then a shorter path lowers the URL's depth, referrer and found_via, and
the depth of every URL it led to that is itself still unreleased (the links between unreleased URLs
are kept for that). Only pages waiting over max_pages are not producers: one promoted later
(robots.txt freed its place) may reach a URL more shortly than its released record says.

Bounded, two ways (docs/crawler.md, "Memory bounds"). A job's records go to the database, where a
row can be corrected: there nothing is held (`correct_later`), every record is released when it is
made, with the depth known then, and the URL stays tracked (without its record) until its depth is
final; a shorter path found meanwhile is passed to `on_corrected`, which updates the stored row. So
records reach the database at the pipeline's pace on any site, however long a slow page keeps a
shorter path open. A feed cannot be corrected, so an ad-hoc crawl holds records, but at most
`HOLD_MAX`: past it the oldest held record goes out with the depth known then (counted in
`forced`).
"""
from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from contract.vocabulary import FoundVia

if TYPE_CHECKING:
    from crawler.records import TaskInfo

Released = list[tuple["TaskInfo", dict[str, Any]]]

# Records an ad-hoc crawl holds for depth order, at most (~1.5 KB each: ~8 MB). Past it the oldest
# goes out with the depth known then. Breadth-first fetching with a bounded window of URLs in flight
# (crawler/frontier.py) keeps far fewer held: those of one level while the level above finishes.
HOLD_MAX = 5000


def _step(found_via: FoundVia) -> int:
    return 0 if found_via == FoundVia.REDIRECT else 1


class DepthGate:
    def __init__(self, correct_later: bool = False, on_corrected: Callable[[TaskInfo], None] | None = None,
                 hold_max: int = HOLD_MAX):  # fmt: skip
        self.correct_later = correct_later
        self.on_corrected = on_corrected  # told when a released record's depth went down
        self.hold_max = hold_max
        # key -> task, for URLs whose depth may still go down: record held, or released early
        self.tasks: dict[str, TaskInfo] = {}
        self.key_of_url: dict[str, str] = {}  # a link names its page by URL
        self.links: dict[str, list[tuple[str, str]]] = {}  # key -> [(key it led to, found_via)]
        self.producers: Counter[int] = Counter()  # shallowest depth reachable -> unfinished producers
        self.held: dict[int, dict[str, tuple[TaskInfo, dict[str, Any]]]] = {}  # depth -> key -> (task, record)
        self.held_count = 0
        self.arrivals: deque[str] = deque()  # keys of held records, oldest first (stale ones skipped)
        self.early: dict[int, set[str]] = {}  # depth -> keys released before their depth was final
        self.forced = 0  # records the hold bound let out before their depth was final

    def track(self, task: TaskInfo) -> None:
        """A URL admitted into the crawl: its depth may go down until its record is released."""
        self.tasks[task.key] = task
        self.key_of_url[task.url] = task.key

    def produce(self, task: TaskInfo, depth: int) -> None:
        """`task` will be fetched and may lead to URLs at `depth` or deeper."""
        task.level = depth
        self.producers[depth] += 1

    def begin(self, depth: int) -> None:
        """Something that is not a URL of the crawl (robots.txt being read) may lead to URLs at `depth`."""
        self.producers[depth] += 1

    def end(self, depth: int) -> Released:
        self._stop(depth)
        return self._ready()

    def shortest(self, referrer: str | None, found_via: str, depth: int) -> int:
        """The depth of a URL found from `referrer`: the referrer's current depth decides, as the
        sender may have used an older one (a worker process does)."""
        parent = self.tasks.get(self.key_of_url.get(referrer)) if referrer else None
        return depth if parent is None else min(depth, parent.depth + _step(found_via))

    def offer(self, task: TaskInfo, referrer: str | None, found_via: str, depth: int) -> None:
        """Another path to an unreleased URL: keep the link, and take the path if it is shorter."""
        parent_key = self.key_of_url.get(referrer) if referrer else None
        parent = self.tasks.get(parent_key) if parent_key else None
        if parent is not None:
            depth = min(depth, parent.depth + _step(found_via))
            self.links.setdefault(parent_key, []).append((task.key, found_via))
        if depth < task.depth:
            self._lower(task, depth, referrer, found_via)

    def finish(self, task: TaskInfo, record: dict[str, Any]) -> Released:
        """`task` has its record: hold it until its depth is final, and release what now is."""
        if task.level is not None:
            self._stop(task.level)
            task.level = None
        if task.key not in self.tasks:
            return [(task, record)]
        if self.correct_later:
            released = self._ready()
            floor = min(self.producers) if self.producers else None
            if floor is None or task.depth <= floor:
                self._forget(task)
            else:  # its depth may still go down: out now, corrected later
                self.early.setdefault(task.depth, set()).add(task.key)
            released.append((task, record))
            return released
        self.held.setdefault(task.depth, {})[task.key] = (task, record)
        self.held_count += 1
        self.arrivals.append(task.key)
        return self._ready()

    def release_all(self) -> Released:
        """Every held record, whatever may still be producing (the crawl is stopping)."""
        released = [entry for depth in sorted(self.held) for entry in self.held[depth].values()]
        self.held.clear()
        self.held_count = 0
        self.arrivals.clear()
        for task, _ in released:
            self._forget(task)
        for keys in self.early.values():
            for key in keys:
                self._forget(self.tasks[key])
        self.early.clear()
        return released

    def _stop(self, depth: int) -> None:
        self.producers[depth] -= 1
        if not self.producers[depth]:
            del self.producers[depth]

    def _ready(self) -> Released:
        floor = min(self.producers) if self.producers else None
        depths = sorted(depth for depth in self.held if floor is None or depth <= floor)
        released = [entry for depth in depths for entry in self.held.pop(depth).values()]
        self.held_count -= len(released)
        for task, _ in released:
            self._forget(task)
        if self.early:
            for depth in [depth for depth in self.early if floor is None or depth <= floor]:
                for key in self.early.pop(depth):  # final now: nothing to correct any more
                    self._forget(self.tasks[key])
        if self.held_count > self.hold_max:
            released += self._force()
        return released

    def _force(self) -> Released:
        """The oldest held records, out with the depth known now, until the hold is within its bound."""
        released = []
        while self.held_count > self.hold_max:
            key = self.arrivals.popleft()
            task = self.tasks.get(key)
            held = self.held.get(task.depth) if task is not None else None
            if held is None or key not in held:
                continue  # released since
            entry = held.pop(key)
            if not held:
                del self.held[task.depth]
            self.held_count -= 1
            self.forced += 1
            self._forget(task)
            released.append(entry)
        if len(self.arrivals) > 2 * self.held_count + 1024:  # drop the keys released since
            self.arrivals = deque(key for key in self.arrivals
                                  if (task := self.tasks.get(key)) is not None and key in self.held.get(task.depth, ()))  # fmt: skip
        return released

    def _forget(self, task: TaskInfo) -> None:
        del self.tasks[task.key]
        self.links.pop(task.key, None)
        if self.key_of_url.get(task.url) == task.key:
            del self.key_of_url[task.url]

    def _lower(self, task: TaskInfo, depth: int, referrer: str | None, found_via: str) -> None:
        """Take the shorter path, and pass it on to the unreleased URLs this one led to."""
        pending = [(task, depth, referrer, found_via)]
        while pending:
            task, depth, referrer, found_via = pending.pop()
            if depth >= task.depth or task.key not in self.tasks:
                continue
            if task.level is not None:
                self._stop(task.level)
                self.produce(task, depth)
            held = self.held.get(task.depth)
            if held is not None and task.key in held:
                entry = held.pop(task.key)
                if not held:
                    del self.held[task.depth]
                self.held.setdefault(depth, {})[task.key] = entry
            early = self.early.get(task.depth)
            if early is not None and task.key in early:
                early.discard(task.key)
                if not early:
                    del self.early[task.depth]
                self.early.setdefault(depth, set()).add(task.key)
            task.depth, task.referrer, task.found_via = depth, referrer, found_via
            if task.recorded and self.on_corrected is not None:
                self.on_corrected(task)
            for key, via in self.links.get(task.key, ()):
                child = self.tasks.get(key)
                if child is not None:
                    pending.append((child, depth + _step(via), task.url, via))
