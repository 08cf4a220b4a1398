"""complaints: a mediation's outcome (an agreement, or a failed mediation) and its summary

Revision ID: 0052_mediation_outcome
Revises: 0023_mediation
Create Date: 2026-12-04 09:20:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0052_mediation_outcome'
down_revision: str | Sequence[str] | None = '0023_mediation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('mediation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False,
                                      server_default='referred'))
        batch_op.add_column(sa.Column('summary', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False,
                                      server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('mediation', schema=None) as batch_op:
        batch_op.drop_column('summary')
        batch_op.drop_column('outcome')
