"""CI cannot go green with tests that did not run: under `CI` a skip for want of something on the
machine fails the run (tests/skips.py, the hooks in tests/conftest.py), `make browser` stops when
Chromium cannot be installed, and `.ci/run` takes no test selection from its environment."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from contract.paths import PROJECT_ROOT

SKIPPING_TESTS = {
    "test_in_the_body.py": """
        import pytest

        def test_no_ipv6():
            pytest.skip("this machine has no IPv6 loopback")
    """,
    "test_in_a_fixture.py": """
        import pytest

        @pytest.fixture
        def browser():
            pytest.skip("/usr/bin/chromium missing")

        def test_dashboard(browser):
            pass
    """,
    "test_at_collection.py": """
        import pytest

        pytest.importorskip("no_such_module_for_ci", reason="selenium is not installed")

        def test_never_collected():
            pass
    """,
    "test_other_database.py": """
        from tests.skips import only_on_postgresql, only_on_sqlite

        @only_on_postgresql("row locks")
        def test_on_postgresql():
            pass

        @only_on_sqlite("the single-scheduler rule")
        def test_on_sqlite():
            pass

        def test_that_runs():
            pass
    """,
}


def run_pytest(tmp_path: Path, ci: str | None, files=tuple(SKIPPING_TESTS)) -> subprocess.CompletedProcess:
    for name in files:
        (tmp_path / name).write_text(textwrap.dedent(SKIPPING_TESTS[name]))
    # The suite's own hooks, in a folder of their own.
    hooks = "from tests.conftest import pytest_make_collect_report, pytest_runtest_makereport  # noqa\n"
    (tmp_path / "conftest.py").write_text(hooks)
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "PYTEST_ADDOPTS")}
    env.update({"PYTHONPATH": str(PROJECT_ROOT), "TEST_DATABASE_URL": ""}, **({"CI": ci} if ci is not None else {}))
    # Without the suite's heavy plugins (schemathesis, hypothesis, ...): 4 s a run instead of 12.
    unused_plugins = ["-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio", "-p", "no:flask"]
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *unused_plugins, "-rA", str(tmp_path)]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_outside_ci_a_missing_browser_or_ipv6_is_a_skip_that_says_why(tmp_path):
    result = run_pytest(tmp_path, ci=None)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "2 passed, 4 skipped" in result.stdout
    assert "this machine has no IPv6 loopback" in result.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
def test_under_ci_an_environment_skip_fails_the_run_with_its_reason(tmp_path, ci):
    result = run_pytest(tmp_path, ci=ci, files=[name for name in SKIPPING_TESTS if name != "test_at_collection.py"])
    assert result.returncode == 1, result.stdout[-3000:]
    output = result.stdout
    for reason in ("this machine has no IPv6 loopback", "/usr/bin/chromium missing"):
        assert f"skipped under CI, which must run every test: {reason}" in output
    assert "FAILED test_in_the_body.py::test_no_ipv6" in output
    assert "ERROR test_in_a_fixture.py::test_dashboard" in output  # failed in its setup
    # One of the two database passes skips each of these; CI runs both passes, so they still run once.
    assert "SKIPPED [1] test_other_database.py" in output and "PASSED test_other_database.py::test_that_runs" in output
    assert "PASSED test_other_database.py::test_on_sqlite" in output
    assert "1 failed, 2 passed, 1 skipped, 1 error" in output


def test_under_ci_a_module_skipped_at_collection_stops_the_run(tmp_path):
    result = run_pytest(tmp_path, ci="true", files=["test_at_collection.py"])
    assert result.returncode != 0, result.stdout[-3000:]
    reason = "skipped under CI, which must run every test: selenium is not installed"
    assert f"ERROR test_at_collection.py - {reason}" in result.stdout


def fake_command(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def test_make_browser_under_ci_fails_when_chromium_cannot_be_installed(tmp_path):
    fake_command(tmp_path, "apt-get", "echo 'E: Unable to locate package chromium' >&2; exit 100\n")
    fake_command(tmp_path, "id", "echo 0\n")  # as root, so the install is attempted (and fails)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    args = ["make", "--no-print-directory", "browser", f"CHROMIUM={tmp_path}/chromium",
            f"CHROMEDRIVER={tmp_path}/chromedriver"]  # fmt: skip

    def make_browser(ci: dict) -> subprocess.CompletedProcess:
        environment = {**{k: v for k, v in env.items() if k != "CI"}, **ci}
        return subprocess.run(args, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=60)

    outside = make_browser({})
    assert outside.returncode == 0 and "the browser tests will be skipped" in outside.stdout
    under_ci = make_browser({"CI": "true"})
    assert under_ci.returncode != 0
    assert "Chromium and chromedriver are required" in under_ci.stderr


def test_ci_run_runs_the_whole_suite_whatever_the_environment_says(tmp_path):
    """.ci/run with a `make` and a `psql` that only record how they were called."""
    calls = tmp_path / "calls"
    fake_command(tmp_path, "make", f'echo "args=$*|PYTEST_ARGS=${{PYTEST_ARGS:-}}|PYTEST_ADDOPTS=${{PYTEST_ADDOPTS:-}}'
                                   f'|MAKEFLAGS=${{MAKEFLAGS:-}}|CI=${{CI:-}}|DB=${{TEST_DATABASE_URL:-}}" >> {calls}\n')  # fmt: skip
    fake_command(tmp_path, "psql", "exit 0\n")
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "PYTEST_ARGS": "-k nothing_at_all",
           "PYTEST_ADDOPTS": "--deselect tests/integration", "MAKEFLAGS": "PYTEST_ARGS=-x",
           "TEST_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/somebody_elses", "CI": ""}  # fmt: skip
    result = subprocess.run([str(PROJECT_ROOT / ".ci" / "run")], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    sqlite_pass, postgresql_pass = calls.read_text().splitlines()
    whole_suite = "args=test PYTEST_ARGS=-p no:cacheprovider|PYTEST_ARGS=|PYTEST_ADDOPTS=|MAKEFLAGS=|CI=true|DB="
    assert sqlite_pass == whole_suite
    assert postgresql_pass.startswith(whole_suite)
    assert "/crawl_ci_" in postgresql_pass and "somebody_elses" not in postgresql_pass
