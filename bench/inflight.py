"""Requests in flight at a slow origin, and the ideal crawl of a site's shape (pure; tested in
tests/test_bench_compare.py).

- **In flight at the origin**: nginx logs each request's end ($msec) and duration ($request_time),
  so a request was in flight from `arrived` to `time`. Counted at each arrival (the arriving one
  included): the median of those counts is how full the crawler kept its `concurrency`.
- **Known and not done**: a URL is known once the page that links to it (its `referrer` in the
  crawl's records, the first of its shortest paths) has been answered, and done when its own answer
  has gone. While at least `concurrency` URLs are known and not done, a crawler could have
  `concurrency` requests in flight: the median in flight over those arrivals is what the target of
  issue 23 (≥ 90 % of concurrency) is about; before (a site's first levels) it could not.
- **Ideal**: a crawler that costs no time itself, breadth-first, `concurrency` requests in flight
  whenever that many URLs are known, on the same link tree and the same per-URL latencies. Its wall
  time is what the site's shape allows; `concurrency / mean latency` is the rate it approaches once
  enough URLs are known.
"""
from __future__ import annotations

import heapq
import statistics
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from bench.accesslog import Hit


@dataclass(frozen=True)
class InFlight:
    median: float  # at every arrival
    median_when_known: float | None  # at arrivals while >= concurrency URLs were known and not done
    arrivals_when_known: int
    peak: int


def in_flight(hits: list[Hit], parent_of: dict[str, str | None], concurrency: int) -> InFlight | None:
    """`hits`: one tool's requests; `parent_of`: URI -> URI of the page linking to it (None: the start)."""
    if not hits:
        return None
    arrivals = sorted(hit.arrived for hit in hits)
    ends = sorted(hit.time for hit in hits)
    end_of: dict[str, float] = {}
    for hit in hits:
        end_of.setdefault(hit.uri, hit.time)
    # When each requested URI became known: its parent's answer; the start, at the first arrival;
    # a URI outside the tree (robots.txt, a link ours did not record), at its own arrival.
    known = sorted(known_at(hit, parent_of, end_of, arrivals[0]) for hit in hits)

    def flying(t: float) -> int:  # arrived at or before t, not finished by t (an end at t freed its slot)
        return bisect_right(arrivals, t) - bisect_right(ends, t)

    def known_not_done(t: float) -> int:
        return bisect_right(known, t) - bisect_right(ends, t)

    counts = [flying(t) for t in arrivals]
    when_known = [count for t, count in zip(arrivals, counts) if known_not_done(t) >= concurrency]
    events = sorted([(t, 1) for t in arrivals] + [(t, -1) for t in ends], key=lambda event: (event[0], event[1]))
    peak = level = 0
    for _, step in events:  # an end at the same instant as an arrival frees its slot first
        level += step
        peak = max(peak, level)
    return InFlight(statistics.median(counts), statistics.median(when_known) if when_known else None,
                    len(when_known), peak)  # fmt: skip


def known_at(hit: Hit, parent_of: dict[str, str | None], end_of: dict[str, float], start: float) -> float:
    if hit.uri not in parent_of:
        return hit.arrived
    parent = parent_of[hit.uri]
    return start if parent is None else end_of.get(parent, hit.arrived)


def ideal_seconds(parent_of: dict[str, str | None], latency: Callable[[str], float], concurrency: int) -> float:
    """Wall time of the ideal crawl (module docstring) of the tree `parent_of` (URI -> parent URI,
    None for the start; a parent outside the tree counts as known at the start)."""
    children: dict[str | None, list[str]] = {}
    for uri, parent in parent_of.items():
        children.setdefault(parent if parent in parent_of else None, []).append(uri)
    ready: list[tuple[float, int, str]] = []  # (known at, order found, uri): breadth-first
    order = 0
    for uri in children.get(None, []):
        ready.append((0.0, order, uri))
        order += 1
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []  # (finishes at, uri)
    now = 0.0
    while ready or running:
        while ready and len(running) < concurrency and ready[0][0] <= now:
            _, _, uri = heapq.heappop(ready)
            heapq.heappush(running, (now + latency(uri), uri))
        if not running:  # nothing in flight: the next known URL's time
            now = ready[0][0]
            continue
        now, uri = heapq.heappop(running)
        for child in children.get(uri, []):
            heapq.heappush(ready, (now, order, child))
            order += 1
    return now
