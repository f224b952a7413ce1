"""Bar charts for the job page, drawn as SVG on the server: no script, no library, and the numbers
are in the page for screen readers and for a table view."""
from __future__ import annotations

from typing import NamedTuple

RESPONSE_TIME_BOUNDS = (100, 250, 500, 1000, 2000, 3000)  # ms


class Bar(NamedTuple):
    label: str
    count: int
    length: float  # 0..1 of the longest bar


class BarChart(NamedTuple):
    title: str
    unit: str
    bars: list[Bar]

    @property
    def total(self) -> int:
        return sum(bar.count for bar in self.bars)


def bar_chart(title: str, unit: str, counts: dict[str, int]) -> BarChart:
    longest = max(counts.values(), default=0) or 1
    return BarChart(title, unit, [Bar(label, count, count / longest) for label, count in counts.items()])


def response_time_labels(bounds: tuple[int, ...] = RESPONSE_TIME_BOUNDS) -> list[str]:
    labels = [f"under {bounds[0]} ms"]
    labels += [f"{low}–{high - 1} ms" for low, high in zip(bounds, bounds[1:])]
    return labels + [f"{bounds[-1]} ms or more"]


class HistoryBar(NamedTuple):
    label: str  # the crawl's date
    value: int | None  # response time in ms; None when the URL got no response
    length: float  # 0..1 of the tallest bar
    failed: bool


def history_chart(entries: list[dict]) -> list[HistoryBar]:
    """One URL's response time in each crawl, oldest first, for a small column chart."""
    tallest = max((entry["response_time_ms"] or 0 for entry in entries), default=0) or 1
    return [
        HistoryBar(f"{entry['job_created_at']:%m-%d %H:%M}", entry["response_time_ms"], (entry["response_time_ms"] or 0) / tallest,
                   entry["status"] == "failed")
        for entry in entries
    ]  # fmt: skip
