"""parked_press: a press answered only in the person's private chat waits in the database (not in one process's
memory) for their next private message

Revision ID: 0057_parked_press
Revises: 0001_foundation
Create Date: 2026-12-21 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0057_parked_press'
down_revision: str | Sequence[str] | None = '0001_foundation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('parked_press',
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('parked_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('platform', 'user_id')
    )


def downgrade() -> None:
    op.drop_table('parked_press')
