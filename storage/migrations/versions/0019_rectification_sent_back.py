"""rectification: the secretary's reason when a rectification is not done yet (尚未到位), and when

Revision ID: 0019_rectification_sent_back
Revises: 0010_property
Create Date: 2026-12-04 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0019_rectification_sent_back'
down_revision: str | Sequence[str] | None = '0010_property'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('rectification') as batch:
        batch.add_column(sa.Column('sent_back_reason', sqlmodel.sql.sqltypes.AutoString(length=500), server_default='', nullable=False))
        batch.add_column(sa.Column('sent_back_at', storage.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rectification') as batch:
        batch.drop_column('sent_back_at')
        batch.drop_column('sent_back_reason')
