"""what changed since the last crawl: the comparison stored on a completed job

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 19:45:00

Tasks already carry an indexed key per URL (`url_hash`, with the (job_id, url_hash) index), which is
what the comparison joins on: no new index and no backfill are needed.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changes', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('changes')
