"""complaints: the department a case went to (a street's department) and the reminders sent since its deadline
passed there

Revision ID: 0031_case_department_chase
Revises: 0030_case_location_photos
Depends on: 0022_organisations (the department table)
Create Date: 2026-12-05 10:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0031_case_department_chase'
down_revision: str | Sequence[str] | None = '0030_case_location_photos'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = '0022_organisations'


def upgrade() -> None:
    with op.batch_alter_table('complaint_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('chases', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_foreign_key('fk_complaint_case_department_id_department', 'department', ['department_id'],
                                    ['id'])


def downgrade() -> None:
    with op.batch_alter_table('complaint_case', schema=None) as batch_op:
        batch_op.drop_constraint('fk_complaint_case_department_id_department', type_='foreignkey')
        batch_op.drop_column('chases')
        batch_op.drop_column('department_id')
