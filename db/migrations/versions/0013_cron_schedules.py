"""schedules at the times of a cron expression in a timezone, as an alternative to interval_hours

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:00:00

Existing schedules keep their interval_hours and get null cron and timezone. Downgrading gives the
cron schedules an interval of 24 hours (interval_hours is required again there).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cron', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))
        batch_op.alter_column('interval_hours', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE schedules SET interval_hours = 24 WHERE interval_hours IS NULL")
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.alter_column('interval_hours', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('timezone')
        batch_op.drop_column('cron')
