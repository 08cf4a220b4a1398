"""the resources list (资源清单): what partner units and residents offer, and needs matched to it

Revision ID: 0028_resources
Revises: 0012_need_outcome_ref, 0022_organisations
Create Date: 2026-12-10 12:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0028_resources'
# A resource names a partner unit (organisation) and a match a need: both tables must exist first.
down_revision: str | Sequence[str] | None = ('0012_need_outcome_ref', '0022_organisations')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('resource',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('compound_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('offered_by_id', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['compound_id'], ['compound.id'], ),
    sa.ForeignKeyConstraint(['created_by'], ['person.id'], ),
    sa.ForeignKeyConstraint(['offered_by_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resource_compound_id'), ['compound_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_resource_status'), ['status'], unique=False)
    op.create_table('resource_match',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('need_id', sa.Integer(), nullable=False),
    sa.Column('matched_by', sa.Integer(), nullable=False),
    sa.Column('matched_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['matched_by'], ['person.id'], ),
    sa.ForeignKeyConstraint(['need_id'], ['need.id'], ),
    sa.ForeignKeyConstraint(['resource_id'], ['resource.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('resource_id', 'need_id')
    )
    with op.batch_alter_table('resource_match', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resource_match_need_id'), ['need_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_resource_match_resource_id'), ['resource_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('resource_match', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resource_match_resource_id'))
        batch_op.drop_index(batch_op.f('ix_resource_match_need_id'))
    op.drop_table('resource_match')
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resource_status'))
        batch_op.drop_index(batch_op.f('ix_resource_compound_id'))
    op.drop_table('resource')
