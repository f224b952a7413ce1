"""wire and decoded bytes per task, why a page was not warmed, warming counters on jobs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 22:40:00

Until now `tasks.bytes` held the decoded body size; from here on it is the size on the wire and
`decoded_bytes` the decoded size. Rows crawled before keep their `bytes` and get it as their
`decoded_bytes` too (their wire size was never measured).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decoded_bytes', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('warm_skipped_reason', sa.String(length=16), nullable=True))
    op.execute("UPDATE tasks SET decoded_bytes = bytes")
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warmed_pages', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('cache_hit_pages_after_warming', sa.BigInteger(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('cache_hit_pages_after_warming')
        batch_op.drop_column('warmed_pages')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_column('warm_skipped_reason')
        batch_op.drop_column('decoded_bytes')
