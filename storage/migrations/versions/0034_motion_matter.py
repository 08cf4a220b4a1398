"""assembly: a motion's Civil Code Art. 278 matter (the item of para. 1 that decides its class)

Revision ID: 0034_motion_matter
Revises: 0004_assembly
Create Date: 2026-12-06 10:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0034_motion_matter'
down_revision: str | Sequence[str] | None = '0004_assembly'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('motion', schema=None) as batch_op:
        batch_op.add_column(sa.Column('matter', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('motion', schema=None) as batch_op:
        batch_op.drop_column('matter')
