"""Migration 0013 (cron schedules): an interval schedule keeps its interval and gets no cron; the
schedules table then matches the models; downgrading gives a cron schedule a 24-hour interval."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from control_api.database import make_engine
from db import migrate
from db.models import Base
from tests.test_migration_cache_status import fresh_url  # noqa: F401 - the fixture: an empty database, dropped after

SCHEDULE = ("INSERT INTO schedules (id, organisation_id, domain_id, options, interval_hours, enabled, next_run_at, "
            "skipped_runs, created_at) VALUES (:id, :org, :domain, '{}', :hours, :enabled, :at, 0, :at)")  # fmt: skip


def test_0013_keeps_interval_schedules_and_downgrade_gives_cron_ones_an_interval(fresh_url):  # noqa: F811
    migrate.upgrade(fresh_url, "0012")
    engine = make_engine(fresh_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO organisations (name, created_at) VALUES ('m', CURRENT_TIMESTAMP)"))
            connection.execute(sa.text("INSERT INTO domains (name, created_at) VALUES ('site.test', CURRENT_TIMESTAMP)"))
            org = connection.scalar(sa.text("SELECT id FROM organisations"))
            domain = connection.scalar(sa.text("SELECT id FROM domains"))
            connection.execute(sa.text(SCHEDULE), {"id": "s-interval", "org": org, "domain": domain, "hours": 6,
                                                   "enabled": True, "at": "2026-12-07 00:00:00"})  # fmt: skip
        migrate.upgrade(fresh_url, "0013")
        engine.dispose()
        with engine.begin() as connection:
            rows = connection.execute(sa.text("SELECT interval_hours, cron, timezone FROM schedules")).all()
            assert [tuple(row) for row in rows] == [(6, None, None)]
            connection.execute(sa.text("INSERT INTO schedules (id, organisation_id, domain_id, options, interval_hours, cron, "
                                       "timezone, enabled, next_run_at, skipped_runs, created_at) VALUES ('s-cron', :org, "
                                       ":domain, '{}', NULL, '0 3 * * *', 'Europe/Paris', :enabled, :at, 0, :at)"),
                               {"org": org, "domain": domain, "enabled": True, "at": "2026-12-07 00:00:00"})  # fmt: skip
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert [change for change in diff if "schedules" in repr(change)] == []

        command.downgrade(migrate.alembic_config(fresh_url), "0012")
        engine.dispose()
        with engine.connect() as connection:
            hours = dict(connection.execute(sa.text("SELECT id, interval_hours FROM schedules")).all())
        assert hours == {"s-interval": 6, "s-cron": 24}
        assert "cron" not in {column["name"] for column in sa.inspect(engine).get_columns("schedules")}
    finally:
        engine.dispose()
