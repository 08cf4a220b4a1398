"""complaints: the personal-data access log (who was shown whose name, room or phone, or an anonymous case's
hidden identity, in which case, when)

Revision ID: 0021_personal_data_access
Revises: 0013_complaint_report_indexes
Create Date: 2026-12-04 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0021_personal_data_access'
down_revision: str | Sequence[str] | None = '0013_complaint_report_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('personal_data_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('compound_id', sa.Integer(), nullable=False),
    sa.Column('viewer_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('shown', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.Column('via', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['complaint_case.id'], ),
    sa.ForeignKeyConstraint(['compound_id'], ['compound.id'], ),
    sa.ForeignKeyConstraint(['subject_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['viewer_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('personal_data_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_personal_data_access_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_personal_data_access_compound_id'), ['compound_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_personal_data_access_subject_id'), ['subject_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_personal_data_access_viewer_id'), ['viewer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('personal_data_access', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_personal_data_access_viewer_id'))
        batch_op.drop_index(batch_op.f('ix_personal_data_access_subject_id'))
        batch_op.drop_index(batch_op.f('ix_personal_data_access_compound_id'))
        batch_op.drop_index(batch_op.f('ix_personal_data_access_at'))
    op.drop_table('personal_data_access')
