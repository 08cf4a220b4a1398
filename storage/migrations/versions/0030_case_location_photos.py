"""complaints: a case's shared location (latitude, longitude, label) and the photos each history step carried

Revision ID: 0030_case_location_photos
Revises: 0021_personal_data_access
Create Date: 2026-12-05 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0030_case_location_photos'
down_revision: str | Sequence[str] | None = '0021_personal_data_access'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('complaint_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('latitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('longitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('location_label', sqlmodel.sql.sqltypes.AutoString(length=200),
                                      nullable=False, server_default=''))
    with op.batch_alter_table('complaint_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('photos', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('complaint_event', schema=None) as batch_op:
        batch_op.drop_column('photos')
    with op.batch_alter_table('complaint_case', schema=None) as batch_op:
        batch_op.drop_column('location_label')
        batch_op.drop_column('longitude')
        batch_op.drop_column('latitude')
