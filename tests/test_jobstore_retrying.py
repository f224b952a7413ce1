"""The crawler's writes wait out a database outage and nothing else (crawler/jobstore.py,
`JobStore.retrying`): a restarting or unreachable server and a busy SQLite file are retried; a lost
claim and every other error are raised at once, whatever words their message happens to contain.
tests/integration/test_reliability.py restarts PostgreSQL under a running crawl."""
from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from crawler.jobstore import ClaimLost, JobStore, _is_disconnect
from db.engine import with_driver
from tests.integration.conftest import free_port
from tests.skips import only_on_postgresql



@pytest.fixture
def store(database_url):
    store = JobStore(database_url, "no-such-job", "no-claim")
    yield store
    store.close()


class Calls:
    """A store method: counts its calls and does `action` each time."""

    def __init__(self, action):
        self.action, self.count = action, 0

    def __call__(self, *args):
        self.count += 1
        return self.action(*args)


def test_a_lost_claim_is_never_retried(store):
    def lose():
        raise ClaimLost("job x is cancelled")

    method = Calls(lose)

    with pytest.raises(ClaimLost):
        store.retrying(method, timeout=5)
    assert method.count == 1


def test_a_busy_sqlite_file_is_waited_for(store, tmp_path):
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the file
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    release = threading.Timer(0.8, holder.rollback)
    release.start()

    def write(value):
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (:value)"), {"value": value})
        return "written"

    method = Calls(write)
    try:
        assert store.retrying(method, 7, timeout=30) == "written"
    finally:
        release.join()
        engine.dispose()
        holder.close()
    assert method.count >= 2  # the first attempt met "database is locked"


def test_an_unreachable_server_is_retried_until_the_timeout(store):
    engine = create_engine(with_driver(f"postgresql://postgres@127.0.0.1:{free_port()}/none"))

    def connect():
        with engine.connect():
            pass

    method = Calls(connect)
    try:
        with pytest.raises(OperationalError):
            store.retrying(method, timeout=1.2)
    finally:
        engine.dispose()
    assert method.count >= 2  # waited 0.5 s, then 1 s, then gave up


def sqlite_error(tmp_path, statement: str) -> DBAPIError:
    engine = create_engine(f"sqlite:///{tmp_path / 'errors.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE IF NOT EXISTS connections (id INTEGER PRIMARY KEY)"))
            connection.execute(text("INSERT OR IGNORE INTO connections VALUES (1)"))
        with engine.begin() as connection:
            connection.execute(text(statement))
    except DBAPIError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError(f"{statement} did not fail")


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO connections VALUES (1)",  # UNIQUE constraint failed: connections.id
        "SELECT * FROM locked_pages",  # no such table: locked_pages
        "SELECT server_closed_connection FROM connections",  # no such column
    ],
)
def test_an_error_that_only_mentions_connections_or_locks_is_raised_at_once(store, tmp_path, statement):
    error = sqlite_error(tmp_path, statement)
    assert any(word in str(error.orig).lower() for word in ("connection", "locked"))

    def fail():
        raise error

    method = Calls(fail)

    with pytest.raises(DBAPIError):
        store.retrying(method, timeout=5)
    assert method.count == 1


def test_an_integrity_error_is_not_an_outage(tmp_path):
    error = sqlite_error(tmp_path, "INSERT INTO connections VALUES (1)")

    assert isinstance(error, IntegrityError)
    assert not _is_disconnect(error)


@only_on_postgresql("terminates its own backend")
def test_a_terminated_postgresql_connection_is_retried_on_a_new_one(store, database_url):
    engine = create_engine(with_driver(database_url))  # no pre-ping: the dead connection is met mid-use

    def terminate_own_connection_once():
        with engine.connect() as connection:
            if method.count == 1:
                connection.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            return connection.execute(text("SELECT 'written'")).scalar()

    method = Calls(terminate_own_connection_once)
    try:
        assert store.retrying(method, timeout=30) == "written"
    finally:
        engine.dispose()
    assert method.count == 2


@only_on_postgresql("a PostgreSQL error")
def test_a_postgresql_error_whose_message_mentions_a_connection_is_raised_at_once(store, database_url):
    engine = create_engine(with_driver(database_url))

    def bad_value():
        with engine.connect() as connection:
            connection.execute(text("SELECT CAST('connection terminated' AS integer)"))

    method = Calls(bad_value)
    try:
        with pytest.raises(DBAPIError) as raised:
            store.retrying(method, timeout=5)
    finally:
        engine.dispose()
    assert "connection" in str(raised.value.orig)
    assert method.count == 1
