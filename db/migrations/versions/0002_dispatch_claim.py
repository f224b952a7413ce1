"""dispatch claim and crawler heartbeat on jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 22:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('dispatched_at', db.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', db.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('dispatched_at')
        batch_op.drop_column('claim')
