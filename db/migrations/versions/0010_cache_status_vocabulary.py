"""cache statuses stored with the vocabulary type, like a task's kind and status

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 23:00:00

`tasks.cache_status` and `tasks.warm_cache_status` were VARCHAR(8) holding the crawler's words; the
models now declare them `vocabulary(CacheStatus)` (db/models.py): VARCHAR(16) holding the same
values, read back as CacheStatus members. The vocabulary type has no database enum and no CHECK
constraint, so this is a widening only: every value the crawler has written (HIT, MISS, EXPIRED,
STALE, BYPASS, DYNAMIC, or NULL when no cache said anything) is kept as it is. A value outside the
vocabulary (the crawler never wrote one; a row written by hand could hold one) could not be read
back as a member, so it becomes NULL, the crawler's own word for an unknown cache status, and the
upgrade says how many rows it changed. PostgreSQL widens a VARCHAR in place; SQLite copies the
table (batch mode), its indexes included.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

logger = logging.getLogger("alembic.runtime.migration")

COLUMNS = ('cache_status', 'warm_cache_status')
# contract.vocabulary.CacheStatus at this revision, written out: a migration must not change
# meaning when the vocabulary later grows.
VALUES = ('HIT', 'MISS', 'EXPIRED', 'STALE', 'BYPASS', 'DYNAMIC')


def upgrade() -> None:
    tasks = sa.table('tasks', *(sa.column(name, sa.String) for name in COLUMNS))
    for name in COLUMNS:
        column = tasks.c[name]
        changed = op.get_bind().execute(
            sa.update(tasks).where(column.is_not(None), column.not_in(VALUES)).values({name: None})
        ).rowcount
        if changed:
            logger.warning("tasks.%s: %d values outside %s set to NULL", name, changed, ", ".join(VALUES))
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.alter_column(name, existing_type=sa.String(length=8), type_=sa.String(length=16),
                                  existing_nullable=True)


def downgrade() -> None:
    # Every value of the vocabulary fits in 8 characters; a longer one (a word added later) cannot.
    tasks = sa.table('tasks', *(sa.column(name, sa.String) for name in COLUMNS))
    for name in COLUMNS:
        op.get_bind().execute(sa.update(tasks).where(sa.func.length(tasks.c[name]) > 8).values({name: None}))
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.alter_column(name, existing_type=sa.String(length=16), type_=sa.String(length=8),
                                  existing_nullable=True)
