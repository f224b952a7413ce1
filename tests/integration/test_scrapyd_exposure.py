"""scrapyd is never exposed without a password: loopback by default, refusing a public bind without
credentials, and answering only the right credentials when it has them. A real scrapyd node runs
on a free loopback port. Issue "Reliability and security" (scrapyd exposure).
"""
from __future__ import annotations

import configparser
import socket
from pathlib import Path

import pytest
import requests

from control_api import create_app
from control_api.nodes.scrapyd_client import SchedulerUnavailable, ScrapydClient
from control_api.processes.scrapyd_node import start_node, wait_until_ready, write_config
from tests.integration.conftest import free_port, stop_process

pytestmark = pytest.mark.integration

USERNAME, PASSWORD = "u", "p%ss w0rd;#"  # '%' is special to ConfigParser, which scrapyd reads the file with


def scrapyd_section(workdir: Path) -> configparser.SectionProxy:
    # Read the file the way scrapyd does (ConfigParser, with its default interpolation).
    parser = configparser.ConfigParser()
    parser.read(workdir / "scrapyd.conf")
    return parser["scrapyd"]


# --- the written scrapyd.conf -------------------------------------------------------------------


def test_default_bind_is_loopback_without_credentials(tmp_path):
    write_config(tmp_path, 6800)

    section = scrapyd_section(tmp_path)
    assert section["bind_address"] == "127.0.0.1"
    assert section["http_port"] == "6800"
    assert section["username"] == "" and section["password"] == ""


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
@pytest.mark.parametrize(("username", "password"), [("", ""), ("u", ""), ("", "p")])
def test_non_loopback_bind_without_both_credentials_is_refused(tmp_path, bind, username, password):
    with pytest.raises(SystemExit) as refused:
        write_config(tmp_path / "node", 6800, bind=bind, username=username, password=password)

    message = str(refused.value.code)
    assert bind in message
    assert "SCRAPYD_USERNAME" in message and "SCRAPYD_PASSWORD" in message
    assert not (tmp_path / "node" / "scrapyd.conf").exists()  # nothing half-written for scrapyd to pick up


def test_non_loopback_bind_with_credentials_carries_them(tmp_path):
    write_config(tmp_path, 6800, bind="0.0.0.0", username=USERNAME, password=PASSWORD)

    section = scrapyd_section(tmp_path)
    assert section["bind_address"] == "0.0.0.0"
    assert section["username"] == USERNAME
    assert section["password"] == PASSWORD


@pytest.mark.parametrize("bind", ["127.0.0.1", "localhost", "::1"])
def test_loopback_binds_need_no_credentials(tmp_path, bind):
    write_config(tmp_path, 6800, bind=bind)

    assert scrapyd_section(tmp_path)["bind_address"] == bind


@pytest.mark.parametrize(
    ("username", "password"),
    [("u\nbind_address = 0.0.0.0", "p"), ("u", "p\r\nbind_address = 0.0.0.0"), ("u", " p"), ("u ", "p")],
)
def test_credentials_that_would_not_survive_the_file_are_refused(tmp_path, username, password):
    # A line break would add lines to scrapyd.conf (here: a public bind); outer spaces would be
    # stripped, leaving scrapyd a different password from the API's.
    with pytest.raises(SystemExit) as refused:
        write_config(tmp_path / "node", 6800, bind="0.0.0.0", username=username, password=password)

    assert "SCRAPYD_" in str(refused.value.code)
    assert not (tmp_path / "node" / "scrapyd.conf").exists()


# --- a real node with credentials ---------------------------------------------------------------


@pytest.fixture(scope="module")
def protected_node(tmp_path_factory, scrapyd_env):
    port = free_port()
    workdir = tmp_path_factory.mktemp("scrapyd-auth")
    # scrapyd prefers SCRAPYD_USERNAME/PASSWORD from its environment over the file; blank them so that
    # what is tested is the file write_config wrote, whatever the developer's shell or .env holds.
    env = {**scrapyd_env, "SCRAPYD_USERNAME": "", "SCRAPYD_PASSWORD": ""}
    process = start_node(workdir, port, env=env, username=USERNAME, password=PASSWORD)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_ready(url, process, auth=(USERNAME, PASSWORD))
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; scrapyd.log:\n{(workdir / 'scrapyd.log').read_text()[-3000:]}") from None
        yield url
    finally:
        stop_process(process)
    assert process.poll() is not None


def local_non_loopback_address() -> str | None:
    """This host's address on its default route, if it has one (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_node_is_not_reachable_on_a_non_loopback_address(protected_node):
    address = local_non_loopback_address()
    if address is None:
        pytest.skip("this host has no non-loopback IPv4 address")
    port = int(protected_node.rsplit(":", 1)[1])

    with pytest.raises(OSError):
        socket.create_connection((address, port), timeout=2).close()


def test_client_with_the_right_credentials_gets_daemon_status(protected_node):
    client = ScrapydClient(urls=[protected_node], username=USERNAME, password=PASSWORD, timeout=5)

    status = client.daemon_status(protected_node)

    assert status["status"] == "ok"
    assert {"pending", "running", "finished"} <= set(status)


@pytest.mark.parametrize(
    ("username", "password"), [(None, None), (USERNAME, "wrong"), ("wrong", PASSWORD), (USERNAME, ""), (USERNAME, PASSWORD.upper())]
)
def test_client_without_or_with_wrong_credentials_is_refused(protected_node, username, password):
    client = ScrapydClient(urls=[protected_node], username=username, password=password, timeout=5)

    with pytest.raises(SchedulerUnavailable) as refused:
        client.daemon_status(protected_node)

    assert "401" in str(refused.value)
    assert PASSWORD not in str(refused.value)


@pytest.mark.parametrize("endpoint", ["daemonstatus.json", "listprojects.json", "listjobs.json?project=crawler", ""])
def test_every_scrapyd_page_is_401_without_credentials(protected_node, endpoint):
    assert requests.get(f"{protected_node}/{endpoint}", timeout=5).status_code == 401


def test_schedule_without_credentials_is_refused_and_runs_nothing(protected_node):
    anonymous = ScrapydClient(urls=[protected_node], timeout=5)
    with pytest.raises(SchedulerUnavailable):
        anonymous.schedule("00000000-0000-0000-0000-000000000000", {"domain": "site.test"}, {})

    listing = ScrapydClient(urls=[protected_node], username=USERNAME, password=PASSWORD, timeout=5).list_jobs(protected_node)
    assert listing["pending"] == [] and listing["running"] == [] and listing["finished"] == []


def test_healthz_reports_the_node_from_the_apps_configured_credentials(protected_node, database_url):
    def health(username, password):
        app = create_app({
            "TESTING": True, "DATABASE_URL": database_url, "SCRAPYD_URLS": [protected_node],
            "SCRAPYD_USERNAME": username, "SCRAPYD_PASSWORD": password, "SCRAPYD_TIMEOUT": 5.0,
        })  # fmt: skip
        try:
            return app.test_client().get("/healthz")
        finally:
            app.extensions["db_engine"].dispose()

    good, bad = health(USERNAME, PASSWORD), health(USERNAME, "wrong")

    assert good.status_code == 200 and good.get_json()["scrapyd"] == {protected_node: "ok"}
    assert bad.status_code == 503 and bad.get_json()["scrapyd"] == {protected_node: "unavailable"}
    assert PASSWORD not in bad.get_data(as_text=True)
