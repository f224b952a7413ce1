"""What `make run` prints (control_api/processes/supervisor.py): the database URL never shows its password
(SPEC: "database passwords are masked in what `make run` prints")."""
from __future__ import annotations

import pytest

from control_api.processes.supervisor import masked_url


@pytest.mark.parametrize(("url", "printed"), [
    ("postgresql://crawl:hunter2@db.internal:5432/crawl", "postgresql://crawl:***@db.internal:5432/crawl"),
    ("postgresql+psycopg://crawl:p%40ss@db/crawl?sslmode=require", "postgresql+psycopg://crawl:***@db/crawl?sslmode=require"),
    ("postgresql://crawl:un@escaped/pass@db/crawl", "postgresql://crawl:***@db/crawl"),  # raw `@` and `/` in it
    ("postgresql://:hunter2@db/crawl", "postgresql://:***@db/crawl"),
    ("postgresql:///crawl?host=db&user=crawl&password=hunter2", "postgresql:///crawl?host=db&user=crawl&password=***"),
    ("postgresql://crawl@db/crawl", "postgresql://crawl@db/crawl"),
    ("sqlite:////srv/crawl/var/crawl.db", "sqlite:////srv/crawl/var/crawl.db"),
])  # fmt: skip
def test_the_printed_database_url_has_no_password(url, printed):
    assert masked_url(url) == printed
