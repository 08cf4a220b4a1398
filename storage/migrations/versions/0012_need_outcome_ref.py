"""needs: what a triage created (need.outcome_ref)

Revision ID: 0012_need_outcome_ref
Revises: 0009_services
Create Date: 2026-11-23 13:50:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0012_need_outcome_ref'
down_revision: str | Sequence[str] | None = '0009_services'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('need', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome_ref', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False,
                                      server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('need', schema=None) as batch_op:
        batch_op.drop_column('outcome_ref')
