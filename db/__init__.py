"""Storage: SQLAlchemy 2.0 models, engine creation and Alembic migrations.

Both the control API and the crawler import from here; neither keeps global session state.
"""
from contract.vocabulary import JobStatus, TaskStatus
from db.engine import database_url, make_engine
from db.models import ApiToken, Base, Domain, Job, Organisation, Task

__all__ = [
    "ApiToken",
    "Base",
    "Domain",
    "Job",
    "JobStatus",
    "Organisation",
    "Task",
    "TaskStatus",
    "database_url",
    "make_engine",
]
