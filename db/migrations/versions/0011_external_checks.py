"""external link checks: the instance's result cache and a job's external counters

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-06 23:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

COUNTERS = ('external_checked', 'external_broken', 'external_from_cache')


def upgrade() -> None:
    op.create_table('external_checks',
    sa.Column('url_hash', sa.String(length=16), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('checked_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('url_hash', name=op.f('pk_external_checks'))
    )
    with op.batch_alter_table('external_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_external_checks_checked_at'), ['checked_at'], unique=False)
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        for name in COUNTERS:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        for name in COUNTERS:
            batch_op.drop_column(name)
    with op.batch_alter_table('external_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_external_checks_checked_at'))
    op.drop_table('external_checks')
