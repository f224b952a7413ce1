"""How the dashboard writes its numbers and names: what was done of what was found (the real share,
for a cancelled or failed job too), ratios with one decimal that never round up to 100 %, and a job's
source in words. The API keeps its own figures (SPEC: `percentage` is 100 for every terminal job);
these are for people reading a page. dashboard.js repeats done_percentage for the live page."""
from __future__ import annotations

import math

SOURCES = {  # (source_type, source_detail) -> words; a trigger's detail is its name
    ("dashboard", "create_job"): "Started from the dashboard",
    ("api", "create_job"): "Started through the API",
    ("scheduler", "recurring"): "Run by a schedule",
    ("scheduler", "run_now"): "A schedule run now",
}
SOURCE_TYPES = {"api": "Started through the API", "dashboard": "Started from the dashboard",
                "scheduler": "Run by a schedule", "webhook": "Started by a trigger"}  # fmt: skip


def done_count(progress) -> int:
    return progress.completed_tasks + progress.failed_tasks + progress.skipped_tasks


def done_percentage(progress) -> float:
    """Done of found, 0..100 with one decimal, rounded down: 112 of 1,170 is 9.5, 1,169 of 1,170
    is 99.9, never 100 until every URL found was done."""
    if not progress.total_tasks:
        return 0.0
    done = min(done_count(progress), progress.total_tasks)
    return math.floor(done * 1000 / progress.total_tasks) / 10


def ratio(value: float | None) -> str:
    """A 0..1 ratio as a percentage with one decimal: 0.9957 is "99.6 %", 0.99996 is "99.9 %" (never
    rounded up to "100 %", which only exactly 1 is); None (nothing known) is "unknown"."""
    if value is None:
        return "unknown"
    if value >= 1:
        return "100 %"
    return f"{min(round(value * 100, 1), 99.9):.1f} %"


def source(source_type: str | None, source_detail: str | None) -> str:
    """Who started a job, in words: "Started from the dashboard", "Started by the trigger "deploy""."""
    if (source_type, source_detail) in SOURCES:
        return SOURCES[(source_type, source_detail)]
    if source_type == "webhook" and source_detail:
        return f"Started by the trigger “{source_detail}”"
    words = SOURCE_TYPES.get(source_type or "", f"Started by {source_type}" if source_type else "Unknown")
    return f"{words} ({source_detail})" if source_detail else words


def register(app) -> None:
    app.add_template_filter(ratio, "ratio")
    app.add_template_filter(done_percentage, "done_percentage")
    app.add_template_filter(done_count, "done_count")
    app.add_template_global(source, "source_in_words")
