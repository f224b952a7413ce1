"""performance data: the distribution summary stored on a job when it ends, and the running sum
of the response time a visitor sees after warming

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-06 23:00:00

`performance` is null for jobs that ended before this revision (and while a job runs); the API
shows their percentiles and counts as null (no backfill: old jobs may have had their rows pruned).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('performance', sa.JSON(none_as_null=True), nullable=True))
        batch_op.add_column(sa.Column('response_time_after_warming_ms_sum', sa.BigInteger(), server_default='0',
                                      nullable=False))
    # Jobs crawled before: their own rows say what warming changed; a job whose rows were pruned
    # counts its first fetches (the best left to know).
    op.execute(
        "UPDATE jobs SET response_time_after_warming_ms_sum = COALESCE((SELECT SUM(COALESCE("
        "tasks.warm_response_time_ms, tasks.response_time_ms, 0)) FROM tasks WHERE tasks.job_id = jobs.id "
        "AND tasks.kind = 'page' AND tasks.http_status IS NOT NULL), response_time_ms_sum)"
    )


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('response_time_after_warming_ms_sum')
        batch_op.drop_column('performance')
