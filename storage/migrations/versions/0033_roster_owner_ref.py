"""roster: the roster's own owner id (业主编号), so that one owner's rooms count as one owner

Revision ID: 0033_roster_owner_ref
Revises: 0001_foundation
Create Date: 2026-12-06 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0033_roster_owner_ref'
down_revision: str | Sequence[str] | None = '0001_foundation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('rosterowner', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False,
                                      server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('rosterowner', schema=None) as batch_op:
        batch_op.drop_column('owner_ref')
