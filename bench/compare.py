"""The side-by-side tables of the real-site and many-jobs parts: medians over runs, ratios, markdown.

Pure functions of the measured runs (unit-tested in tests/test_bench_compare.py), so the layout of
docs/performance.md's tables does not depend on running anything.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class ToolRun:
    """One tool's crawl of one tree in one run. `seconds` is the whole process's wall time (for the
    service: POST -> completed); pages and URLs are counted from nginx's access log."""

    tool: str
    seconds: float
    pages: int
    urls: int
    cpu_seconds: float | None = None
    peak_rss_mb: float | None = None
    first_request: float | None = None  # service only: POST -> first request nginx logged
    note: str = ""  # the tool's own summary (its count of links checked, broken links)

    @property
    def pages_per_second(self) -> float | None:
        return self.pages / self.seconds if self.seconds > 0 else None

    @property
    def cpu_ms_per_page(self) -> float | None:
        return None if self.cpu_seconds is None or not self.pages else self.cpu_seconds * 1000.0 / self.pages


def median(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if numerator is None or not denominator else numerator / denominator


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def spread(values: list[float | None], digits: int = 1) -> str:
    """`median (min–max)`, or the one value, or n/a."""
    present = [value for value in values if value is not None]
    if not present:
        return "n/a"
    if len(present) == 1:
        return fmt(present[0], digits)
    return f"{fmt(statistics.median(present), digits)} ({fmt(min(present), digits)}–{fmt(max(present), digits)})"


@dataclass
class Summary:
    tool: str
    runs: int
    seconds: str
    seconds_median: float | None
    pages: float | None
    urls: float | None
    pages_per_second: float | None
    cpu_ms_per_page: float | None
    peak_rss_mb: float | None
    first_request: str
    notes: list[str]


def summarise(runs: list[ToolRun]) -> list[Summary]:
    """One summary per tool, in the order the tools first appear."""
    tools = list(dict.fromkeys(run.tool for run in runs))
    summaries = []
    for tool in tools:
        mine = [run for run in runs if run.tool == tool]
        summaries.append(Summary(
            tool=tool, runs=len(mine), seconds=spread([r.seconds for r in mine]),
            seconds_median=median(r.seconds for r in mine), pages=median(r.pages for r in mine),
            urls=median(r.urls for r in mine), pages_per_second=median(r.pages_per_second for r in mine),
            cpu_ms_per_page=median(r.cpu_ms_per_page for r in mine), peak_rss_mb=median(r.peak_rss_mb for r in mine),
            first_request=spread([r.first_request for r in mine], 2), notes=list(dict.fromkeys(r.note for r in mine if r.note)),
        ))  # fmt: skip
    return summaries


TREE_HEADER = ("| tool | wall s (service: POST → completed), median (min–max) | pages | URLs | pages/s | CPU ms / page | peak RSS MB "
               "| wall ÷ linkinator | POST → first request s |")  # fmt: skip


def tree_table(title: str, runs: list[ToolRun], reference: str) -> str:
    """The markdown table of one tree: a row per tool; the ratio divides by the tool whose name
    starts with `reference`."""
    summaries = summarise(runs)
    base = next((s.seconds_median for s in summaries if s.tool.startswith(reference)), None)
    lines = [f"**{title}**", "", TREE_HEADER, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summaries:
        lines.append(f"| {s.tool} | {s.seconds} | {fmt(s.pages, 0)} | {fmt(s.urls, 0)} | {fmt(s.pages_per_second, 0)} "
                     f"| {fmt(s.cpu_ms_per_page, 2)} | {fmt(s.peak_rss_mb, 0)} | {fmt(ratio(s.seconds_median, base), 2)} "
                     f"| {s.first_request if s.first_request != 'n/a' else ''} |")  # fmt: skip
    notes = [f"{s.tool}: {note}" for s in summaries for note in s.notes]
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


@dataclass
class JobTiming:
    """One job of the many-jobs part."""

    site: str
    pages: int
    posted: float  # epoch
    completed: float  # epoch (the job's completed_at)
    status: str

    @property
    def seconds(self) -> float:
        return self.completed - self.posted


def batch_figures(jobs: list[JobTiming]) -> dict:
    """Total pages, span from the first POST to the last completion, pages/s over it, per-job times."""
    if not jobs:
        return {"jobs": 0, "pages": 0, "span": None, "pages_per_second": None, "job_seconds": []}
    span = max(job.completed for job in jobs) - min(job.posted for job in jobs)
    pages = sum(job.pages for job in jobs)
    return {"jobs": len(jobs), "pages": pages, "span": span, "pages_per_second": ratio(pages, span),
            "job_seconds": sorted(job.seconds for job in jobs),
            "not_completed": sum(1 for job in jobs if job.status != "completed")}  # fmt: skip


def many_table(concurrent: list[JobTiming], sequential: list[JobTiming], memory_concurrent: dict | None,
               memory_sequential: dict | None) -> str:  # fmt: skip
    """The many-jobs table: N jobs at once vs the same N one after another."""
    n = len(concurrent)
    rows = [(f"{n} jobs at once", batch_figures(concurrent), memory_concurrent),
            (f"the same {len(sequential)} one after another", batch_figures(sequential), memory_sequential)]  # fmt: skip
    lines = ["| how | jobs (not completed) | pages | first POST → last completed s | pages/s | POST → completed s per job: median (min–max) "
             "| crawler processes, peak sum RSS MB | peak sum PSS MB | most crawler processes at once |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for label, figures, mem in rows:
        lines.append(f"| {label} | {figures['jobs']} ({figures.get('not_completed', 0)}) | {figures['pages']:,} "
                     f"| {fmt(figures['span'])} | {fmt(figures['pages_per_second'], 0)} | {spread(figures['job_seconds'])} "
                     f"| {fmt(mem and mem.get('rss_mb'), 0)} | {fmt(mem and mem.get('pss_mb'), 0)} "
                     f"| {mem['processes'] if mem else 'n/a'} |")  # fmt: skip
    return "\n".join(lines) + "\n"
