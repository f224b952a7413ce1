"""How the dashboard writes its numbers (control_api/dashboard/figures.py): done of found, ratios
that never round up to 100 %, sources in words."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from control_api.dashboard import figures


def progress(total: int, completed: int = 0, failed: int = 0, skipped: int = 0):
    return SimpleNamespace(total_tasks=total, completed_tasks=completed, failed_tasks=failed, skipped_tasks=skipped)


@pytest.mark.parametrize(("counts", "expected"), [
    ((1170, 112), 9.5),  # the cancelled crawl: 112 of 1,170, not 100
    ((1170, 1169), 99.9),  # one URL left is not 100
    ((1170, 1100, 40, 30), 100.0),
    ((3, 1), 33.3),
    ((0,), 0.0),  # nothing found yet
    ((10, 10, 1), 100.0),  # more done than found (a count racing the total) stays 100
])  # fmt: skip
def test_done_percentage_is_done_of_found_rounded_down(counts, expected):
    assert figures.done_percentage(progress(*counts)) == expected


@pytest.mark.parametrize(("value", "text"), [
    (0.9957, "99.6 %"), (0.99996, "99.9 %"), (0.9995, "99.9 %"), (1.0, "100 %"), (0.001, "0.1 %"), (0.0, "0.0 %"),
    (0.5, "50.0 %"), (None, "unknown"),
])  # fmt: skip
def test_ratios_have_one_decimal_and_never_round_up_to_100(value, text):
    assert figures.ratio(value) == text


@pytest.mark.parametrize(("source_type", "detail", "words"), [
    ("dashboard", "create_job", "Started from the dashboard"),
    ("scheduler", "run_now", "A schedule run now"),
    ("scheduler", "recurring", "Run by a schedule"),
    ("webhook", "deploy", "Started by the trigger “deploy”"),
    ("api", None, "Started through the API"),
    ("ci-bot", "nightly", "Started by ci-bot (nightly)"),  # a client's own names, shown as given
])  # fmt: skip
def test_sources_are_said_in_words(source_type, detail, words):
    assert figures.source(source_type, detail) == words
