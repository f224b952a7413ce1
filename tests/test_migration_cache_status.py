"""Migration 0010 (db/migrations/versions/0010_cache_status_vocabulary.py): a task's cache statuses
move from VARCHAR(8) to the vocabulary type, on a database of its own (a fresh SQLite file, or a
fresh PostgreSQL database next to TEST_DATABASE_URL's), with rows written before it.

Upgrade keeps every value the crawler writes and NULL, reads them back as CacheStatus members, and
turns a value outside the vocabulary into NULL; downgrade gives back VARCHAR(8) with the same
values; both leave the (job_id, cache_status) index in place; and the upgraded table is what the
models declare (Alembic's autogenerate finds nothing to change on it).
"""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session

from contract.options import JobOptions
from contract.vocabulary import CacheStatus
from db import migrate
from db.engine import make_engine, with_driver
from db.models import Base, Domain, Job, Organisation, Task, url_hash, utcnow

# (cache_status, warm_cache_status) as rows before 0010 hold them: every crawler word, NULL, and a
# value the crawler never wrote.
BEFORE = [(status.value, CacheStatus.HIT.value) for status in CacheStatus] + [(None, None), ("UNKNOWN", "odd")]
AFTER = [(status, CacheStatus.HIT) for status in CacheStatus] + [(None, None), (None, None)]


@pytest.fixture
def fresh_url(tmp_path):
    """The URL of an empty database, dropped afterwards."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    url = sa.make_url(with_driver(base))
    name = f"{url.database}_mig_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def insert_row(connection, table: sa.Table, **values) -> None:
    """Insert into a table as the database has it now (reflected, not the current models, which
    may have columns added by later migrations): a NOT NULL column without a default gets a zero."""
    for column in table.columns:
        if column.name in values or column.nullable or column.server_default is not None or column.primary_key:
            continue  # a primary key here is an autoincrementing id (the jobs' is given)
        try:
            kind = column.type.python_type
        except NotImplementedError:
            kind = dict
        values[column.name] = {bool: False, int: 0, float: 0.0, dict: {}, list: []}.get(kind, utcnow() if "time" in kind.__name__ else "")
    connection.execute(sa.insert(table).values(**values))


def seed(engine) -> str:
    """A job with one task per BEFORE row, written through the tables as they are at 0009 (any string fits)."""
    metadata = sa.MetaData()
    metadata.reflect(engine, only=["organisations", "domains", "jobs", "tasks"])
    organisations, domains, jobs, tasks = (metadata.tables[name] for name in ("organisations", "domains", "jobs", "tasks"))
    job_id = str(uuid.uuid4())
    with engine.begin() as connection:
        insert_row(connection, organisations, name="migrations", created_at=utcnow())
        organisation_id = connection.execute(sa.select(organisations.c.id)).scalar_one()
        insert_row(connection, domains, name="site.test")
        domain_id = connection.execute(sa.select(domains.c.id)).scalar_one()
        insert_row(connection, jobs, id=job_id, organisation_id=organisation_id, domain_id=domain_id, status="completed",
                   options=JobOptions().model_dump(), created_at=utcnow())  # fmt: skip
        for n, (cache, warm) in enumerate(BEFORE):
            url = f"http://site.test/{n}"
            insert_row(connection, tasks,
                job_id=job_id, url=url, url_hash=url_hash(url), found_via="link", depth=1, kind="page",
                status="completed", truncated=False, is_slow=False, is_broken=False, is_server_error=False,
                redirect_hops=0, fetched_at=utcnow(), cache_status=cache, warm_cache_status=warm)  # fmt: skip
    return job_id


def number(url: str) -> int:
    return int(url.rsplit("/", 1)[1])


def stored(engine, job_id: str) -> list[tuple]:
    """Each task's (cache_status, warm_cache_status) as the database holds them, in URL order."""
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT url, cache_status, warm_cache_status FROM tasks WHERE job_id = :job"), {"job": job_id})
        return [(cache, warm) for _, cache, warm in sorted(rows, key=lambda row: number(row[0]))]


def column_lengths(engine) -> dict[str, int]:
    columns = sa.inspect(engine).get_columns("tasks")
    return {column["name"]: column["type"].length for column in columns
            if column["name"] in ("cache_status", "warm_cache_status")}


def has_cache_index(engine) -> bool:
    return "ix_tasks_job_cache_status" in {index["name"] for index in sa.inspect(engine).get_indexes("tasks")}


def test_upgrade_keeps_every_cache_status_and_downgrade_gives_them_back(fresh_url):
    migrate.upgrade(fresh_url, "0009")
    engine = make_engine(fresh_url)
    try:
        job_id = seed(engine)
        assert column_lengths(engine) == {"cache_status": 8, "warm_cache_status": 8}

        migrate.upgrade(fresh_url, "0010")
        engine.dispose()  # SQLite copied the table: start from fresh connections
        assert column_lengths(engine) == {"cache_status": 16, "warm_cache_status": 16}
        assert has_cache_index(engine)
        assert stored(engine, job_id) == [(c and c.value, w and w.value) for c, w in AFTER]
        with Session(engine) as session:
            tasks = sorted(session.scalars(sa.select(Task).where(Task.job_id == job_id)), key=lambda t: number(t.url))
            assert [(task.cache_status, task.warm_cache_status) for task in tasks] == AFTER
            assert all(type(task.cache_status) is CacheStatus for task in tasks if task.cache_status is not None)
            stale = sa.select(Task.url).where(Task.job_id == job_id, Task.cache_status == CacheStatus.STALE)
            assert session.scalars(stale).all() == ["http://site.test/3"]
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            changes = [change for change in diff if "tasks" in repr(change)]
        assert changes == []

        command.downgrade(migrate.alembic_config(fresh_url), "0009")
        engine.dispose()
        assert column_lengths(engine) == {"cache_status": 8, "warm_cache_status": 8}
        assert has_cache_index(engine)
        assert stored(engine, job_id) == [(c and c.value, w and w.value) for c, w in AFTER]

        migrate.upgrade(fresh_url)  # and up again, to the head
        engine.dispose()
        assert column_lengths(engine) == {"cache_status": 16, "warm_cache_status": 16}
    finally:
        engine.dispose()
