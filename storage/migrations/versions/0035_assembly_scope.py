"""assembly: a scope — the building, or the unit of it, whose owners decide an assembly or a single motion

Revision ID: 0035_assembly_scope
Revises: 0034_motion_matter
Create Date: 2026-12-06 11:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0035_assembly_scope'
down_revision: str | Sequence[str] | None = '0034_motion_matter'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ('assembly', 'motion'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('building_id', sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
            batch_op.create_foreign_key(f'fk_{table}_building_id_building', 'building', ['building_id'], ['id'])
            batch_op.create_foreign_key(f'fk_{table}_unit_id_unit', 'unit', ['unit_id'], ['id'])


def downgrade() -> None:
    for table in ('assembly', 'motion'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f'fk_{table}_unit_id_unit', type_='foreignkey')
            batch_op.drop_constraint(f'fk_{table}_building_id_building', type_='foreignkey')
            batch_op.drop_column('unit_id')
            batch_op.drop_column('building_id')
