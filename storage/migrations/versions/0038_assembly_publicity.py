"""publicity and objection: a result's 公示 period, the objections lodged in it and the committee's answers

Revision ID: 0038_assembly_publicity
Revises: 0037_assembly_proxy
Create Date: 2026-12-10 11:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0038_assembly_publicity'
down_revision: str | Sequence[str] | None = '0037_assembly_proxy'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('publicity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assembly_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('final_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assembly_id'], ['assembly.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('assembly_id')
    )
    with op.batch_alter_table('publicity') as batch:
        batch.create_index(batch.f('ix_publicity_ends_at'), ['ends_at'], unique=False)
        batch.create_index(batch.f('ix_publicity_final_at'), ['final_at'], unique=False)
    op.create_table('objection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assembly_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('lodged_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('answered_by', sa.Integer(), nullable=True),
    sa.Column('answered_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assembly_id'], ['assembly.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['answered_by'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('objection') as batch:
        batch.create_index(batch.f('ix_objection_assembly_id'), ['assembly_id'], unique=False)
        batch.create_index(batch.f('ix_objection_status'), ['status'], unique=False)


def downgrade() -> None:
    op.drop_table('objection')
    op.drop_table('publicity')
