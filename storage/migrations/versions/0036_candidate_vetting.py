"""candidatevetting: each nominated candidate of an election, vetted by the party branch (and an official)

Revision ID: 0036_candidate_vetting
Revises: 0004_assembly
Create Date: 2026-12-10 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0036_candidate_vetting'
down_revision: str | Sequence[str] | None = '0004_assembly'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('candidatevetting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assembly_id', sa.Integer(), nullable=False),
    sa.Column('motion_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('branch_by', sa.Integer(), nullable=True),
    sa.Column('branch_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('branch_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('street_by', sa.Integer(), nullable=True),
    sa.Column('street_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('street_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.ForeignKeyConstraint(['assembly_id'], ['assembly.id'], ),
    sa.ForeignKeyConstraint(['motion_id'], ['motion.id'], ),
    sa.ForeignKeyConstraint(['branch_by'], ['person.id'], ),
    sa.ForeignKeyConstraint(['street_by'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('motion_id', 'position')
    )
    with op.batch_alter_table('candidatevetting') as batch:
        batch.create_index(batch.f('ix_candidatevetting_assembly_id'), ['assembly_id'], unique=False)
        batch.create_index(batch.f('ix_candidatevetting_motion_id'), ['motion_id'], unique=False)
        batch.create_index(batch.f('ix_candidatevetting_status'), ['status'], unique=False)


def downgrade() -> None:
    op.drop_table('candidatevetting')
