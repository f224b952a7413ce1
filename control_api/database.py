"""The app's database engine (one per app) and a transaction-scoped session helper for views."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.engine import make_engine


def init_app(app: Flask) -> None:
    app.extensions["db_engine"] = make_engine(app.config["DATABASE_URL"])


def engine() -> Engine:
    return current_app.extensions["db_engine"]


@contextmanager
def session_scope() -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    with Session(engine(), expire_on_commit=False) as session, session.begin():
        yield session
