"""party: responsibility areas (党员责任区 / 中心户) and the pledge reminder three days before

Revision ID: 0027_party_areas
Revises: 0026_recurring_tasks
Create Date: 2026-12-10 11:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.db

revision: str = '0027_party_areas'
down_revision: str | Sequence[str] | None = '0026_recurring_tasks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('party_area',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('compound_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('floor', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['building_id'], ['building.id'], ),
    sa.ForeignKeyConstraint(['compound_id'], ['compound.id'], ),
    sa.ForeignKeyConstraint(['created_by'], ['person.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('party_area', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_party_area_building_id'), ['building_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_party_area_compound_id'), ['compound_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_party_area_person_id'), ['person_id'], unique=False)
    with op.batch_alter_table('pledge', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminded_at', storage.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pledge', schema=None) as batch_op:
        batch_op.drop_column('reminded_at')
    with op.batch_alter_table('party_area', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_party_area_person_id'))
        batch_op.drop_index(batch_op.f('ix_party_area_compound_id'))
        batch_op.drop_index(batch_op.f('ix_party_area_building_id'))
    op.drop_table('party_area')
