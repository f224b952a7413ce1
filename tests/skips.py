"""Which skips CI accepts. CI (`.ci/run`, `CI` set) runs the whole suite twice, on SQLite and on
PostgreSQL, so a test that needs one database is skipped in the other pass and still runs once:
those skips say so with `only_on_postgresql` / `only_on_sqlite`. Every other skip (no Chromium, no
IPv6 loopback, no non-loopback address, a missing package...) means this machine cannot run the
test: outside CI it stays a skip that says why, under CI it fails the run with that reason
(tests/conftest.py), so a green CI run never hides a test that did not run."""
from __future__ import annotations

import os

import pytest

ON_POSTGRESQL = os.environ.get("TEST_DATABASE_URL", "").startswith("postgres")
OTHER_DATABASE = "runs in the other database pass: "  # the reason's prefix of the skips CI accepts


def only_on_postgresql(why: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not ON_POSTGRESQL, reason=f"{OTHER_DATABASE}PostgreSQL only ({why})")


def only_on_sqlite(why: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(ON_POSTGRESQL, reason=f"{OTHER_DATABASE}SQLite only ({why})")


def under_ci(environ=os.environ) -> bool:
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_reason(longrepr) -> str:
    """The reason of a skip report (pytest keeps it as (path, line, "Skipped: reason"))."""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def refused_under_ci(report) -> bool:
    """A skip that CI must not accept: anything but the other database pass's."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return False
    return not skip_reason(report.longrepr).startswith(OTHER_DATABASE)


def fail_instead(report) -> None:
    reason = skip_reason(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI, which must run every test: {reason}"
