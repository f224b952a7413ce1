"""Which runner a scrapyd node gets (control_api/processes/scrapyd_node.py), and the launcher's wire format."""
from __future__ import annotations

import socket
from pathlib import Path
import threading

import pytest

from control_api.processes.scrapyd_node import PLAIN_RUNNER, PREFORK_RUNNER, launcher_choice, wait_for_launcher, write_config
from crawler.launcher.protocol import recv_frame, send_frame


@pytest.mark.parametrize(("value", "expected"), [(None, "prefork"), ("", "prefork"), ("plain", "plain"),
                                                 (" Prefork ", "prefork")])  # fmt: skip
def test_the_launcher_is_prefork_unless_set_to_plain(value, expected):
    assert launcher_choice({} if value is None else {"CRAWL_LAUNCHER": value}) == expected


def test_an_unknown_launcher_is_a_clear_error():
    with pytest.raises(SystemExit, match="CRAWL_LAUNCHER='fork': expected one of prefork, plain"):
        launcher_choice({"CRAWL_LAUNCHER": "fork"})


@pytest.mark.parametrize("runner", [PLAIN_RUNNER, PREFORK_RUNNER])
def test_the_node_config_names_the_runner(tmp_path, runner):
    write_config(tmp_path, 6999, runner=runner)
    assert f"\nrunner = {runner}\n" in (tmp_path / "scrapyd.conf").read_text()


def test_a_plain_node_has_no_launcher_to_wait_for(tmp_path):
    write_config(tmp_path, 6999, runner=PLAIN_RUNNER)
    assert wait_for_launcher(tmp_path, timeout=0.1)


def test_a_prefork_node_without_its_zygote_is_reported(tmp_path):
    write_config(tmp_path, 6999, runner=PREFORK_RUNNER)
    assert not wait_for_launcher(tmp_path, timeout=0.2)


def test_frames_carry_json_objects_and_end_cleanly():
    """A frame larger than the socket's buffer (an environment can be) arrives whole."""
    left, right = socket.socketpair()

    def send() -> None:
        send_frame(left, {"argv": ["crawl", "site"], "env": {"A": "é" * 70_000}})
        send_frame(left, {"exit": 3})
        left.shutdown(socket.SHUT_WR)

    with left, right:
        sender = threading.Thread(target=send)
        sender.start()
        assert recv_frame(right) == {"argv": ["crawl", "site"], "env": {"A": "é" * 70_000}}
        assert recv_frame(right) == {"exit": 3}
        assert recv_frame(right) is None
        sender.join()


def test_a_relative_workdir_puts_the_crawl_logs_under_it_not_under_a_copy_of_it(tmp_path, monkeypatch):
    """scrapyd runs in its workdir and reads `logs_dir` relative to it: a relative path written into
    scrapyd.conf (a relative VAR_DIR) used to land the crawl logs in var/scrapyd/var/scrapyd/logs."""
    import configparser

    monkeypatch.chdir(tmp_path)
    write_config(Path("var") / "scrapyd", 6999)
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(tmp_path / "var" / "scrapyd" / "scrapyd.conf")
    for option in ("logs_dir", "dbs_dir", "eggs_dir"):
        # Resolved as scrapyd does it: from its own working directory, the node's workdir.
        where = (tmp_path / "var" / "scrapyd" / conf["scrapyd"][option]).resolve()
        assert where == tmp_path / "var" / "scrapyd" / option.removesuffix("_dir"), option
