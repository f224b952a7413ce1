"""several crawler machines: scrapyd node state, and when retention pruned a job's per-URL rows

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-01 02:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scrapyd_nodes',
    sa.Column('url', sa.String(length=255), nullable=False),
    sa.Column('last_seen_at', db.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('unreachable_since', db.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('url', name=op.f('pk_scrapyd_nodes'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tasks_pruned_at', db.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('tasks_pruned_at')
    op.drop_table('scrapyd_nodes')
