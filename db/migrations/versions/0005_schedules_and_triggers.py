"""schedules and triggers: where jobs come from (recurring crawls, publish hooks), and jobs.schedule_id

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 02:35:50
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('schedules',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('start_scheme', sa.String(length=8), nullable=True),
    sa.Column('options', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('interval_hours', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('next_run_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_job_id', sa.String(length=36), nullable=True),
    sa.Column('skipped_runs', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('last_skipped_at', db.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], name=op.f('fk_schedules_domain_id_domains')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_schedules_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedules'))
    )
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.create_index('ix_schedules_enabled_next_run', ['enabled', 'next_run_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_schedules_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('triggers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('start_scheme', sa.String(length=8), nullable=True),
    sa.Column('options', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('last_job_id', sa.String(length=36), nullable=True),
    sa.Column('last_called_at', db.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], name=op.f('fk_triggers_domain_id_domains')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_triggers_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_triggers')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_triggers_secret_hash'))
    )
    with op.batch_alter_table('triggers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_triggers_organisation_id'), ['organisation_id'], unique=False)

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schedule_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_jobs_schedule_id'), ['schedule_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_schedule_id'))
        batch_op.drop_column('schedule_id')

    with op.batch_alter_table('triggers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_triggers_organisation_id'))

    op.drop_table('triggers')
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_schedules_organisation_id'))
        batch_op.drop_index('ix_schedules_enabled_next_run')

    op.drop_table('schedules')
