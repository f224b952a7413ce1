"""Storage: SQLAlchemy 2.0 models, engine creation and Alembic migrations.

Both the control API and the crawler import from here; neither keeps global session state.
The names below are looked up on first use (PEP 562), so that importing a submodule that needs no
SQLAlchemy (db.engine's paths and URL, for the crawler's settings) does not import the models.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ApiToken": "db.models",
    "Base": "db.models",
    "Domain": "db.models",
    "Job": "db.models",
    "Organisation": "db.models",
    "Task": "db.models",
    "JobStatus": "contract.vocabulary",
    "TaskStatus": "contract.vocabulary",
    "database_url": "db.engine",
    "make_engine": "db.engine",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'db' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value
