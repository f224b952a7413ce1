"""performance data: the distribution summary stored on a job when it ends, the running sum of
the response time a visitor sees after warming, and browser measurements of a sample of pages

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-06 23:00:00

`performance` is null for jobs that ended before this revision (and while a job runs); the API
shows their percentiles and counts as null (no backfill: old jobs may have had their rows pruned).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('performance', sa.JSON(none_as_null=True), nullable=True))
        batch_op.add_column(sa.Column('response_time_after_warming_ms_sum', sa.BigInteger(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('browser_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('browser_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('browser_claimed_at', db.models.UTCDateTime(timezone=True), nullable=True))
    # Jobs crawled before: their own rows say what warming changed; a job whose rows were pruned
    # counts its first fetches (the best left to know).
    op.execute(
        "UPDATE jobs SET response_time_after_warming_ms_sum = COALESCE((SELECT SUM(COALESCE("
        "tasks.warm_response_time_ms, tasks.response_time_ms, 0)) FROM tasks WHERE tasks.job_id = jobs.id "
        "AND tasks.kind = 'page' AND tasks.http_status IS NOT NULL), response_time_ms_sum)"
    )


    op.create_table(
        'browser_pages',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('job_id', sa.String(length=36), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('response_time_ms', sa.Integer(), nullable=True),
        sa.Column('lcp_ms', sa.Integer(), nullable=True),
        sa.Column('fcp_ms', sa.Integer(), nullable=True),
        sa.Column('cls', sa.Double(), nullable=True),
        sa.Column('tbt_ms', sa.Integer(), nullable=True),
        sa.Column('page_weight_bytes', sa.BigInteger(), nullable=True),
        sa.Column('request_count', sa.Integer(), nullable=True),
        sa.Column('console_errors', sa.JSON(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('seconds', sa.Double(), nullable=False),
        sa.Column('measured_at', db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_browser_pages_job_id_jobs'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_browser_pages')),
    )
    op.create_index(op.f('ix_browser_pages_job_id'), 'browser_pages', ['job_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_browser_pages_job_id'), table_name='browser_pages')
    op.drop_table('browser_pages')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('browser_claimed_at')
        batch_op.drop_column('browser_note')
        batch_op.drop_column('browser_status')
        batch_op.drop_column('response_time_after_warming_ms_sum')
        batch_op.drop_column('performance')
