"""foundation: the answer given to each processed update, sent again if the platform repeats the update

Revision ID: 0014_update_answer
Revises: 0001_foundation
Create Date: 2026-11-23 15:15:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014_update_answer'
down_revision: str | Sequence[str] | None = '0001_foundation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('processedupdate') as batch:
        batch.add_column(sa.Column('answer', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('processedupdate') as batch:
        batch.drop_column('answer')
