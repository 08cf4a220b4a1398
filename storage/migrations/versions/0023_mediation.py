"""organisations: a neighbour dispute's case given to the mediation committee, with its agreement (调解协议)

Revision ID: 0023_mediation
Revises: 0022_organisations
Create Date: 2026-12-04 08:14:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0023_mediation'
down_revision: str | Sequence[str] | None = '0022_organisations'
branch_labels: str | Sequence[str] | None = None
# The case table comes from the complaints branch.
depends_on: str | Sequence[str] | None = '0002_complaints'


def upgrade() -> None:
    op.create_table('mediation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('compound_id', sa.Integer(), nullable=False),
    sa.Column('referred_by', sa.Integer(), nullable=False),
    sa.Column('referred_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('agreement_media_id', sa.Integer(), nullable=True),
    sa.Column('agreement_by', sa.Integer(), nullable=True),
    sa.Column('agreement_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agreement_by'], ['person.id'], ),
    sa.ForeignKeyConstraint(['agreement_media_id'], ['media.id'], ),
    sa.ForeignKeyConstraint(['case_id'], ['complaint_case.id'], ),
    sa.ForeignKeyConstraint(['compound_id'], ['compound.id'], ),
    sa.ForeignKeyConstraint(['referred_by'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id')
    )
    with op.batch_alter_table('mediation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mediation_compound_id'), ['compound_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mediation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mediation_compound_id'))

    op.drop_table('mediation')
