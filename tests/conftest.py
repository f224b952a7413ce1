"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL with TEST_DATABASE_URL),
the Flask app with a fake scheduler, and factories for organisations and jobs.

Every test gets a fresh organisation, so tests never see each other's jobs even though they share
one database.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from control_api.jobs.service import get_or_create_domain
from control_api.nodes.scrapyd_client import SchedulerUnavailable
from contract.options import JobOptions
from control_api.organisations.tokens import create_organisation
from db import migrate
from db.engine import make_engine
from db.models import Job, utcnow
from tests.helpers import make_test_app
from tests.skips import fail_instead, refused_under_ci, under_ci


# Nothing in the suite may reach beyond 127.0.0.0/8. Crawls run in other processes (scrapyd, `scrapy
# crawl`), which inherit these: external link checks off (tests/integration/test_external_links.py
# turns them on with its external hosts pinned to loopback), and a resolver that refuses any name
# it is not given an address for, without looking it up (crawler/resolver.py).
os.environ.setdefault("CHECK_EXTERNAL_LINKS", "0")
os.environ.setdefault("CRAWL_LOOPBACK_ONLY", "1")
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _own_address() -> str | None:
    """This machine's address on its default route: connecting to it never leaves the machine (the
    scrapyd exposure test checks that nothing of ours listens there). A UDP connect sends nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            _connect(probe, ("10.255.255.255", 1))
            return probe.getsockname()[0]
        except OSError:
            return None


_OWN_ADDRESS = _own_address()


def _loopback_only(sock: socket.socket, address) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        if sock.type == socket.SOCK_DGRAM:
            return  # a UDP connect only picks a route and sends nothing (no test sends a datagram out)
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback and host != _OWN_ADDRESS:
            raise ConnectionRefusedError(f"tests may only connect to loopback, not {host!r} (tests/conftest.py)")


def _guarded_connect(sock, address):
    _loopback_only(sock, address)
    return _connect(sock, address)


def _guarded_connect_ex(sock, address):
    _loopback_only(sock, address)
    return _connect_ex(sock, address)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
_getaddrinfo = socket.getaddrinfo


def _guarded_getaddrinfo(host, *args, **kwargs):
    """Only IP literals and localhost are looked up in this process: any other name is answered "not
    known" without a query (a test that stubs socket.getaddrinfo replaces this one for its run)."""
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None:
        bare = name.strip("[]").split("%", 1)[0]
        try:
            ipaddress.ip_address(bare)
        except ValueError:
            if bare.lower() != "localhost" and not bare.lower().endswith(".localhost"):
                raise socket.gaierror(socket.EAI_NONAME, f"tests look up no name but localhost, not {name!r} (tests/conftest.py)")
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _guarded_getaddrinfo


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if under_ci() and refused_under_ci(report):
        fail_instead(report)  # tests/skips.py: CI must not go green with a test that never ran
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield  # a module skipped while collected (pytest.importorskip at its top)
    if under_ci() and refused_under_ci(report):
        fail_instead(report)
    return report


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@dataclass
class FakeScheduler:
    """Stands in for scrapyd in API unit tests; the integration tests use a real scrapyd."""

    urls: list[str] = field(default_factory=lambda: ["http://scrapyd.invalid"])
    fail_with: str | None = None
    scheduled: list[tuple[str, dict, dict]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    def for_handover(self) -> FakeScheduler:
        return self

    def with_timeout(self, seconds: float) -> FakeScheduler:
        return self

    def schedule(self, job_id: str, spider_args: dict, settings: dict, node: str | None = None) -> str:
        if self.fail_with:
            raise SchedulerUnavailable(self.fail_with)
        self.scheduled.append((job_id, spider_args, settings))
        return node or self.urls[0]

    def cancel(self, node: str, job_id: str) -> str:
        if self.fail_with:
            raise SchedulerUnavailable(self.fail_with)
        self.cancelled.append(job_id)
        return "running"

    def crawl_log(self, node: str, job_id: str) -> None:
        if self.fail_with:
            raise SchedulerUnavailable(self.fail_with)
        return None  # this fake keeps no logs: the endpoint answers 404

    def list_jobs(self, node: str) -> dict:
        if self.fail_with:
            raise SchedulerUnavailable(self.fail_with)
        return {"status": "ok", "pending": [], "running": [], "finished": []}

    def daemon_status(self, node: str) -> dict:
        if self.fail_with:
            raise SchedulerUnavailable(self.fail_with)
        return {"status": "ok", "pending": 0, "running": 0}


@pytest.fixture
def scheduler() -> FakeScheduler:
    return FakeScheduler()


@pytest.fixture
def app(database_url, scheduler):
    app = make_test_app(database_url, scheduler)
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@dataclass
class Org:
    id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="session")
def make_org(engine):
    def make(name: str = "Test org") -> Org:
        with Session(engine) as session, session.begin():
            organisation, token = create_organisation(session, name)
            return Org(organisation.id, token)

    return make


@pytest.fixture
def org(make_org) -> Org:
    return make_org()


@pytest.fixture(scope="session")
def make_job(engine):
    """Insert a job row directly (any status, any created_at) for list and cancel tests."""

    def make(org: Org, domain: str = "example.com", status: str = "created", created_at: datetime | None = None, **fields) -> str:
        if status in ("created", "running"):  # handed to scrapyd, so no dispatch round sends it anywhere
            fields.setdefault("dispatched_at", created_at or utcnow())
        with Session(engine) as session, session.begin():
            domain_row = get_or_create_domain(session, domain)
            job = Job(
                id=str(uuid.uuid4()), organisation_id=org.id, domain_id=domain_row.id, status=status,
                options=JobOptions().model_dump(), created_at=created_at or utcnow(), **fields,
            )  # fmt: skip
            session.add(job)
            return job.id

    return make
