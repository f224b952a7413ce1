"""Engine creation shared by the API, the crawler and the CLI.

`DATABASE_URL` picks the database; without it we use a SQLite file under the git-ignored `var/`
folder so that a fresh checkout works with no setup. SQLite is opened in WAL mode with a busy
timeout because the API and a crawler process write to the same file at once.

SQLAlchemy is imported by `make_engine`, not here: the crawler's settings and hub need only the
paths and the URL, and an ad-hoc crawl (no job, no database) should not pay ~0.15-0.3 s of CPU
importing it. The launcher's zygote preloads it for the jobs that do write.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from contract.paths import PROJECT_ROOT

if TYPE_CHECKING:
    from sqlalchemy import Engine

DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "crawl.db"


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"


def with_driver(url: str) -> str:
    """Pin PostgreSQL URLs to psycopg2 (SQLAlchemy 2.1 would pick psycopg 3 for `postgresql://`)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def make_engine(url: str | None = None, **kwargs) -> Engine:
    from sqlalchemy import create_engine, event

    url = with_driver(url or database_url())
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
