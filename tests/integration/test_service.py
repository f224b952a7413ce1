"""`make run`'s service as a user runs it (`python -m control_api.processes.supervisor`): scrapyd is closed to
everybody but the API and the operator, crawl logs are served per organisation, and a component
that dies is restarted while /healthz says what is down (docs/reliability.md, D3 and D4), and the
local development organisation keeps its token across restarts."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from contract.paths import PROJECT_ROOT
from tests.integration.conftest import HOST_MAP, free_port

pytestmark = pytest.mark.integration


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def processes_in_session(session_id: int) -> list[str]:
    """The processes of a session (ours: the supervisor and everything it started, however deep,
    unless it moved to a session of its own), as `pid command` lines."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat_file.read_text()
            command = (stat_file.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rindex(")") + 2:].split()  # after `pid (comm) `: state, ppid, pgrp, session
        if int(fields[3]) == session_id and fields[0] != "Z":
            found.append(f"{stat_file.parent.name} {command.strip()}")
    return found


class Service:
    def __init__(self, tmp_path: Path, database_url: str, ports: tuple[int, int] | None = None, run: int = 1,
                 var_dir: str | None = None, from_a_script: bool = False):  # fmt: skip
        # `from_a_script`: as `make run &` in a non-interactive shell starts it, with SIGINT ignored,
        # in a process group (and session) of its own that the test can signal as a whole.
        # A relative `var_dir` is read from tmp_path, where the service then runs (as `make run` from a checkout).
        self.var = tmp_path / (var_dir or "var")
        self.api_port, self.scrapyd_port = ports or (free_port(), free_port())
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.scrapyd = f"http://127.0.0.1:{self.scrapyd_port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("SCRAPYD_")}
        env.update({
            "VAR_DIR": var_dir or str(self.var), "DATABASE_URL": database_url, "API_PORT": str(self.api_port),
            "SCRAPYD_URL": self.scrapyd, "ALLOW_PRIVATE_TARGETS": "1", "CRAWL_HOST_MAP": HOST_MAP,
            "RECONCILE_SECONDS": "1", "API_WORKERS": "1", "PYTHONUNBUFFERED": "1",
        })  # fmt: skip
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        self.output = tmp_path / f"service-{run}.out"
        with self.output.open("wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "control_api.processes.supervisor"], env=env,
                                            cwd=tmp_path if var_dir else PROJECT_ROOT,
                                            stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=from_a_script,
                                            preexec_fn=ignore_sigint if from_a_script else None)  # fmt: skip
        self.token = self._wait_for_token()

    def _wait_for_token(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.output.read_text().splitlines()
            for number, line in enumerate(lines):
                if line.startswith("Your API token") and number + 1 < len(lines):
                    return lines[number + 1].strip()
            assert self.process.poll() is None, self.output.read_text()[-3000:]
            time.sleep(0.2)
        raise AssertionError(f"no token printed: {self.output.read_text()[-3000:]}")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def state(self) -> dict:
        return json.loads((self.var / "run" / f"supervisor-{self.api_port}.json").read_text())

    def pid(self, component: str) -> int:
        return self.state()["components"][component]["pid"]

    def health(self) -> requests.Response | None:
        try:
            return requests.get(f"{self.api}/healthz", timeout=5)
        except requests.RequestException:
            return None

    def credentials(self) -> tuple[str, str]:
        stored = json.loads((self.var / "scrapyd" / "credentials").read_text())
        return stored["username"], stored["password"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def service(tmp_path, database_url):
    running = Service(tmp_path, database_url)
    yield running
    running.stop()
    assert running.process.returncode == 0, running.output.read_text()[-3000:]


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def test_scrapyd_refuses_anybody_without_the_generated_credentials(service):
    for endpoint in ("daemonstatus.json", "listjobs.json?project=crawler", "logs/", "jobs", ""):
        assert requests.get(f"{service.scrapyd}/{endpoint}", timeout=5).status_code == 401, endpoint
    scheduled = requests.post(f"{service.scrapyd}/schedule.json", timeout=5,
                              data={"project": "crawler", "spider": "site", "domain": "site.test"})  # fmt: skip
    assert scheduled.status_code == 401
    # The operator's way in: the pair in var/, readable by this user only, opens the web UI.
    credentials_file = service.var / "scrapyd" / "credentials"
    assert stat.S_IMODE(credentials_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(service.var.stat().st_mode) == 0o700
    assert stat.S_IMODE((service.var / "scrapyd" / "scrapyd.conf").stat().st_mode) & 0o077 == 0
    assert requests.get(f"{service.scrapyd}/", auth=service.credentials(), timeout=5).status_code == 200
    assert service.credentials()[1] in service.output.read_text()  # the banner tells the operator
    # So is the dashboard's signing key kept in var/, readable by this user only; the banner names the dashboard.
    assert stat.S_IMODE((service.var / "secret-key").stat().st_mode) == 0o600
    assert f"Dashboard:  {service.api}/app" in service.output.read_text()
    assert requests.get(f"{service.api}/app/sign-in", timeout=5).status_code == 200


def test_crawl_logs_are_served_to_the_jobs_organisation_only(service, site, make_org):
    created = requests.post(f"{service.api}/v1/jobs", json={"domain": site.url("site.test")}, headers=service.headers, timeout=10)
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    wait_until(lambda: requests.get(f"{service.api}/v1/jobs/{job_id}", headers=service.headers, timeout=5).json()["status"]
               == "completed", 60, "the job completes")  # fmt: skip
    log = requests.get(f"{service.api}/v1/jobs/{job_id}/log", headers=service.headers, timeout=10)
    assert log.status_code == 200 and log.headers["Content-Type"].startswith("text/plain")
    assert job_id in log.text and "Spider closed" in log.text
    stranger = make_org("stranger")
    other = requests.get(f"{service.api}/v1/jobs/{job_id}/log", headers=stranger.headers, timeout=10)
    assert other.status_code == 404 and other.json()["error"]["code"] == "job_not_found"
    assert requests.get(f"{service.scrapyd}/logs/crawler/site/{job_id}.log", timeout=5).status_code == 401


# A component that dies for the first time is started again 1 s later (the supervisor looks every
# 0.5 s and writes its state file as it looks): its new pid is in the state file within 2 s, 3 s here.
RESTARTED_WITHIN = 3.0


def assert_restarted_in_time(service: Service, component: str, old_pid: int, killed_at: float) -> None:
    while service.pid(component) == old_pid:
        assert time.monotonic() - killed_at < RESTARTED_WITHIN, f"{component} not restarted within {RESTARTED_WITHIN} s"
        time.sleep(0.1)


def test_a_dead_component_is_restarted_the_others_stay_up_and_healthz_says_degraded_meanwhile(service):
    wait_until(lambda: (r := service.health()) is not None and r.status_code == 200, 20, "healthy at start")
    api_pid, reconciler_pid = service.pid("api"), service.pid("reconciler")

    scrapyd_pid = service.pid("scrapyd")
    os.kill(scrapyd_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    # (a Response is falsy when its status is 4xx/5xx: hand back its JSON instead)
    body = wait_until(lambda: (r := service.health()) is not None and r.status_code == 503 and r.json(), 10, "503 degraded")
    assert_restarted_in_time(service, "scrapyd", scrapyd_pid, killed_at)
    assert body["status"] == "degraded"
    assert body["scrapyd"] == {service.scrapyd: "unavailable"} or body["components"]["scrapyd"] == "down"
    wait_until(lambda: (r := service.health()) is not None and r.status_code == 200, 20, "scrapyd restarted")
    assert (service.pid("api"), service.pid("reconciler")) == (api_pid, reconciler_pid)
    assert service.state()["components"]["scrapyd"]["restarts"] == 1

    scrapyd_pid = service.pid("scrapyd")
    os.kill(api_pid, signal.SIGKILL)  # the gunicorn master
    assert_restarted_in_time(service, "api", api_pid, time.monotonic())
    wait_until(lambda: (r := service.health()) is not None and r.status_code == 200, 30, "the API answers again")
    assert service.pid("scrapyd") == scrapyd_pid

    os.kill(reconciler_pid, signal.SIGKILL)
    assert_restarted_in_time(service, "reconciler", reconciler_pid, time.monotonic())
    wait_until(lambda: (r := service.health()) is not None and r.status_code == 200, 20, "healthy again")
    assert service.process.poll() is None  # the service itself never went down


def test_a_relative_var_dir_and_a_database_password_under_make_run(tmp_path, database_url, site):
    """`VAR_DIR=var` keeps the crawl logs in var/scrapyd/logs (they were in var/scrapyd/var/scrapyd/logs),
    and a password in DATABASE_URL is not printed (PostgreSQL: the test server trusts any password)."""
    secret = "Pr1vate-db-pass"
    if database_url.startswith("postgresql"):
        database_url = database_url.replace("://postgres@", f"://postgres:{secret}@", 1)
        assert secret in database_url
    service = Service(tmp_path, database_url, var_dir="var")
    try:
        created = requests.post(f"{service.api}/v1/jobs", json={"domain": site.url("site.test")},
                                headers=service.headers, timeout=10)  # fmt: skip
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        wait_until(lambda: requests.get(f"{service.api}/v1/jobs/{job_id}", headers=service.headers, timeout=5)
                   .json()["status"] == "completed", 60, "the job completes")  # fmt: skip
        assert (tmp_path / "var" / "scrapyd" / "logs" / "crawler" / "site" / f"{job_id}.log").is_file()
        assert not (tmp_path / "var" / "scrapyd" / "var").exists()
        log = requests.get(f"{service.api}/v1/jobs/{job_id}/log", headers=service.headers, timeout=10)
        assert log.status_code == 200 and job_id in log.text
    finally:
        service.stop()
    printed = service.output.read_text()
    assert "Database ready: " in printed
    assert secret not in printed
    if "postgres:" in database_url:
        assert "Database ready: postgresql://postgres:***@" in printed


# --- the development token survives a restart -----------------------------------------------------


def banner_line(service: Service) -> str:
    return next(line for line in service.output.read_text().splitlines() if line.startswith("Your API token"))


def test_a_restart_keeps_the_development_token_and_its_jobs(tmp_path, database_url, site):
    first = Service(tmp_path, database_url)
    try:
        created = requests.post(f"{first.api}/v1/jobs", json={"domain": site.url("site.test")}, headers=first.headers, timeout=10)
        assert created.status_code == 201, created.text
        token_file = first.var / "dev-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert token_file.read_text() == first.token + "\n"  # alone: TOKEN=$(cat var/dev-token) works
        organisation_id = int((first.var / "dev-organisation").read_text())
        me = requests.get(f"{first.api}/v1/jobs", headers={"Authorization": f"Bearer {token_file.read_text().strip()}"},
                          timeout=10)  # fmt: skip
        assert me.status_code == 200 and organisation_id > 0
        assert "(new; kept in " in banner_line(first) and str(token_file) in banner_line(first)
    finally:
        first.stop()

    second = Service(tmp_path, database_url, ports=(first.api_port, first.scrapyd_port), run=2)
    try:
        assert second.token == first.token
        assert "(the same as last time; kept in " in banner_line(second)
        listed = requests.get(f"{second.api}/v1/jobs", headers=second.headers, timeout=10)
        assert listed.status_code == 200
        assert [job["id"] for job in listed.json()["jobs"]] == [created.json()["id"]]
    finally:
        second.stop()
    assert second.process.returncode == 0, second.output.read_text()[-3000:]


def test_a_revoked_development_token_is_replaced_and_the_jobs_stay(tmp_path, database_url, app, site):
    first = Service(tmp_path, database_url)
    try:
        created = requests.post(f"{first.api}/v1/jobs", json={"domain": site.url("site.test")}, headers=first.headers, timeout=10)
        assert created.status_code == 201, created.text
    finally:
        first.stop()
    revoked = app.test_cli_runner().invoke(args=["revoke-token", first.token])
    assert revoked.exit_code == 0, revoked.output

    second = Service(tmp_path, database_url, ports=(first.api_port, first.scrapyd_port), run=2)
    try:
        assert second.token != first.token
        assert "(new; kept in " in banner_line(second)
        assert (second.var / "dev-token").read_text().strip() == second.token
        assert requests.get(f"{second.api}/v1/jobs", headers=first.headers, timeout=10).status_code == 401
        listed = requests.get(f"{second.api}/v1/jobs", headers=second.headers, timeout=10).json()
        assert [job["id"] for job in listed["jobs"]] == [created.json()["id"]]  # the same organisation
    finally:
        second.stop()
    assert second.process.returncode == 0, second.output.read_text()[-3000:]


def test_a_token_the_database_does_not_know_gives_a_new_organisation(tmp_path, database_url):
    # As after the database was reset: the kept token is unknown, so it is replaced. The file is the
    # JSON earlier versions wrote: still read, and rewritten as the token alone.
    token_file = tmp_path / "var" / "dev-token"
    token_file.parent.mkdir(mode=0o700)
    token_file.write_text(json.dumps({"token": "cs_from_a_database_that_is_gone", "organisation_id": 1}))

    service = Service(tmp_path, database_url)
    try:
        assert service.token != "cs_from_a_database_that_is_gone"
        assert "(new; kept in " in banner_line(service)
        assert token_file.read_text().strip() == service.token
        listed = requests.get(f"{service.api}/v1/jobs", headers=service.headers, timeout=10)
        assert listed.status_code == 200 and listed.json()["jobs"] == []
    finally:
        service.stop()


def test_two_services_on_one_machine_do_not_share_gunicorns_control_socket(service):
    """gunicorn's default control socket is one path per user (~/.gunicorn/gunicorn.ctl): a second
    `make run` on another API_PORT would take it over. Each service keeps its own under var/run/."""
    own = service.var / "run" / f"gunicorn-{service.api_port}.ctl"
    wait_until(lambda: own.exists(), 10, "the service's own control socket")
    assert stat.S_ISSOCK(own.stat().st_mode)


@pytest.mark.parametrize("signal_sent", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_started_from_a_script_a_signal_to_its_process_group_stops_every_child(tmp_path, database_url, signal_sent):
    """Started with SIGINT ignored (`make run &` in a script), the signal to the whole process group,
    as a terminal or a process manager sends it: every child gone, none restarted as crashed, the
    supervisor exits 0 having said so once."""
    service = Service(tmp_path, database_url, from_a_script=True)
    session = service.process.pid
    try:
        wait_until(lambda: all_up(service), 30, "every component up")
        started = processes_in_session(session)
        assert any("gunicorn" in line for line in started) and any("scrapyd" in line for line in started), started
        os.killpg(session, signal_sent)
        service.process.wait(timeout=30)
    finally:
        service.stop()
        leftover = wait_until_or_last(lambda: processes_in_session(session), 10)
        for line in leftover:  # do not leave them to the next test, whatever the verdict
            os.kill(int(line.split()[0]), signal.SIGKILL)
    printed = service.output.read_text()
    assert service.process.returncode == 0, printed[-3000:]
    assert leftover == [], leftover
    assert "restarting" not in printed and "exited (code" not in printed, printed[-3000:]
    assert printed.count("Stopped scrapyd") == 1 and "Aborted!" not in printed and "Traceback" not in printed, printed[-3000:]


def all_up(service: Service) -> bool:
    try:
        return all(component["state"] == "up" for component in service.state()["components"].values())
    except (OSError, ValueError):
        return False  # not written yet: the supervisor writes it once everything has been started


def wait_until_or_last(probe, timeout: float) -> list:
    """`probe()` once it is empty, or its last answer after `timeout`."""
    deadline = time.monotonic() + timeout
    while (found := probe()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found
