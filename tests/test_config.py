"""Configuration from environment variables and `.env` (control_api/config.py). SPEC: "Operating it
[core]" (DATABASE_URL, API_HOST/API_PORT, SCRAPYD_URL, ALLOW_PRIVATE_TARGETS, also read from `.env`);
README's configuration table for the rest."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from control_api import create_app
from control_api.config import Config, ConfigError, ServiceConfig
from contract.paths import PROJECT_ROOT
from db.engine import DEFAULT_SQLITE_PATH

VARIABLES = ("DATABASE_URL", "SCRAPYD_URL", "SCRAPYD_USERNAME", "SCRAPYD_PASSWORD", "SCRAPYD_PROJECT", "SCRAPYD_TIMEOUT",
             "SCRAPYD_HANDOVER_TIMEOUT",
             "ALLOW_PRIVATE_TARGETS", "API_MAX_BODY_BYTES", "RATE_LIMIT_PER_MINUTE", "AUTH_FAILURES_PER_MINUTE",
             "REDIS_URL", "RECONCILE_SECONDS", "RECONCILE_GRACE_SECONDS", "SUPERVISOR_STATE_FILE", "API_HOST",
             "API_PORT", "API_WORKERS", "VAR_DIR", "SCRAPYD_POLL_INTERVAL")  # fmt: skip


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # No stored scrapyd credentials either: the defaults as a fresh checkout has them.
    monkeypatch.setenv("SCRAPYD_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    return monkeypatch


def load(**kwargs) -> Config:
    return Config(_env_file=None, **kwargs)


def test_defaults_are_the_documented_ones(clean_env):
    config = load()

    assert config.DATABASE_URL == f"sqlite:///{DEFAULT_SQLITE_PATH}"
    assert config.SCRAPYD_URLS == ["http://127.0.0.1:6800"]
    assert (config.SCRAPYD_USERNAME, config.SCRAPYD_PASSWORD, config.SCRAPYD_PROJECT) == (None, None, "crawler")
    assert config.SCRAPYD_TIMEOUT == 10.0
    assert config.SCRAPYD_HANDOVER_TIMEOUT == 0.5
    assert config.ALLOW_PRIVATE_TARGETS is False
    assert config.MAX_CONTENT_LENGTH == 64 * 1024
    assert (config.RATE_LIMIT_PER_MINUTE, config.AUTH_FAILURES_PER_MINUTE, config.REDIS_URL) == (600, 20, None)
    assert (config.RECONCILE_SECONDS, config.RECONCILE_GRACE_SECONDS) == (10.0, 30.0)
    assert config.SUPERVISOR_STATE_FILE is None
    service = ServiceConfig(_env_file=None)
    assert (service.API_HOST, service.API_PORT, service.API_WORKERS) == ("127.0.0.1", 8000, 2)
    assert service.VAR_DIR == PROJECT_ROOT / "var"


def test_values_are_read_with_their_types(clean_env):
    clean_env.setenv("SCRAPYD_URL", "http://a:6800/, http://b:6801#slots=3,")
    clean_env.setenv("DATABASE_URL", "postgresql://db.invalid/crawl")  # several nodes need a shared database
    clean_env.setenv("SCRAPYD_TIMEOUT", "2.5")
    clean_env.setenv("ALLOW_PRIVATE_TARGETS", "yes")
    clean_env.setenv("API_MAX_BODY_BYTES", "1024")
    clean_env.setenv("RATE_LIMIT_PER_MINUTE", "0")
    clean_env.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")

    config = load()

    assert config.SCRAPYD_URLS == ["http://a:6800", "http://b:6801"]
    assert config.SCRAPYD_SLOTS == {"http://b:6801": 3}
    assert config.SCRAPYD_TIMEOUT == 2.5
    assert config.ALLOW_PRIVATE_TARGETS is True
    assert config.MAX_CONTENT_LENGTH == 1024
    assert config.RATE_LIMIT_PER_MINUTE == 0
    assert config.REDIS_URL == "redis://127.0.0.1:6379/3"


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "on", "yes"])
def test_allow_private_targets_on(clean_env, value):
    clean_env.setenv("ALLOW_PRIVATE_TARGETS", value)
    assert load().ALLOW_PRIVATE_TARGETS is True


@pytest.mark.parametrize("value", ["0", "false", "off", "no", ""])
def test_allow_private_targets_off(clean_env, value):
    clean_env.setenv("ALLOW_PRIVATE_TARGETS", value)
    assert load().ALLOW_PRIVATE_TARGETS is False


def test_an_empty_variable_is_as_if_unset(clean_env):
    for name in ("DATABASE_URL", "RATE_LIMIT_PER_MINUTE", "SCRAPYD_TIMEOUT", "SUPERVISOR_STATE_FILE", "REDIS_URL"):
        clean_env.setenv(name, "")

    config = load()

    assert config.DATABASE_URL == f"sqlite:///{DEFAULT_SQLITE_PATH}"
    assert (config.RATE_LIMIT_PER_MINUTE, config.SCRAPYD_TIMEOUT) == (600, 10.0)
    assert config.SUPERVISOR_STATE_FILE is None and config.REDIS_URL is None


def test_dot_env_is_read_and_the_environment_wins_over_it(clean_env, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("RATE_LIMIT_PER_MINUTE=42\nSCRAPYD_URL=http://from-dot-env:6800\nSOMETHING_ELSE=x\n")
    clean_env.setenv("SCRAPYD_URL", "http://from-environment:6800")

    config = Config(_env_file=env_file)

    assert config.RATE_LIMIT_PER_MINUTE == 42
    assert config.SCRAPYD_URLS == ["http://from-environment:6800"]


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("RATE_LIMIT_PER_MINUTE", "abc", "integer"),
        ("RATE_LIMIT_PER_MINUTE", "-5", "greater than or equal to 0"),
        ("AUTH_FAILURES_PER_MINUTE", "1.5", "integer"),
        ("SCRAPYD_TIMEOUT", "ten", "number"),
        ("RECONCILE_SECONDS", "0", "greater than 0"),
        ("API_MAX_BODY_BYTES", "64k", "integer"),
        ("ALLOW_PRIVATE_TARGETS", "perhaps", "boolean"),
        ("MAX_PAGES_PER_JOB", "lots", "integer"),
        ("MAX_PAGES_PER_JOB", "-1", "greater than or equal to 0"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_variable(clean_env, name, value, says):
    clean_env.setenv(name, value)

    with pytest.raises(ConfigError) as error:
        create_app()

    message = error.value.format_message()
    assert f"{name}={value!r}" in message
    assert says in message


def test_every_bad_variable_is_named_at_once(clean_env):
    clean_env.setenv("RATE_LIMIT_PER_MINUTE", "many")
    clean_env.setenv("RECONCILE_SECONDS", "soon")

    with pytest.raises(ConfigError) as error:
        load()

    assert "RATE_LIMIT_PER_MINUTE='many'" in str(error.value) and "RECONCILE_SECONDS='soon'" in str(error.value)


def test_create_app_overrides_win_over_the_environment(clean_env):
    clean_env.setenv("RATE_LIMIT_PER_MINUTE", "5")

    app = create_app({"RATE_LIMIT_PER_MINUTE": 0, "DATABASE_URL": "sqlite://"})
    try:
        assert app.config["RATE_LIMIT_PER_MINUTE"] == 0
        assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
        assert app.json.sort_keys is False
    finally:
        app.extensions["db_engine"].dispose()


def operator_env(**values: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in VARIABLES}
    return {**env, **values}


def test_operator_command_prints_the_bad_variable_not_a_traceback(tmp_path):
    flask = [sys.executable, "-m", "flask", "--app", "control_api", "create-org", "Acme"]
    env = operator_env(DATABASE_URL=f"sqlite:///{tmp_path / 'unused.db'}", SCRAPYD_TIMEOUT="ten seconds")

    result = subprocess.run(flask, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert "SCRAPYD_TIMEOUT='ten seconds'" in result.stderr
    assert "Traceback" not in result.stderr


def test_make_run_stops_with_the_bad_variable_named_not_a_traceback(tmp_path):
    env = operator_env(VAR_DIR=str(tmp_path / "var"), API_PORT="eighty")

    result = subprocess.run([sys.executable, "-m", "control_api.processes.supervisor"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip

    assert result.returncode != 0
    assert "API_PORT='eighty'" in result.stderr
    assert "Traceback" not in result.stderr


def test_several_nodes_refuse_sqlite_and_a_bad_slots_fragment(clean_env):
    clean_env.setenv("SCRAPYD_URL", "http://a:6800,http://b:6800")
    clean_env.setenv("DATABASE_URL", "sqlite:///var/crawl.db")
    with pytest.raises(ConfigError, match="several scrapyd nodes need one shared PostgreSQL"):
        load()
    clean_env.setenv("DATABASE_URL", "postgresql://db.invalid/crawl")
    clean_env.setenv("SCRAPYD_URL", "http://a:6800#slots=0")
    with pytest.raises(ConfigError, match="slots=N"):
        load()


def test_a_relative_var_dir_is_made_absolute_against_the_current_directory(clean_env, tmp_path):
    """`make run` hands VAR_DIR's paths to children that run elsewhere (scrapyd in var/scrapyd, gunicorn
    in the project): each must get the same absolute path."""
    clean_env.chdir(tmp_path)
    clean_env.setenv("VAR_DIR", "state/var")
    assert ServiceConfig(_env_file=None).VAR_DIR == tmp_path / "state" / "var"
