"""foundation: who sent each processed update, so that flood control counts a person's messages of the last minute

Revision ID: 0020_flood_control
Revises: 0017_conversation_compound
Create Date: 2026-12-04 07:10:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020_flood_control'
down_revision: str | Sequence[str] | None = '0017_conversation_compound'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('processedupdate') as batch:
        batch.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch.create_index('ix_processedupdate_person_recent', ['person_id', 'processed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('processedupdate') as batch:
        batch.drop_index('ix_processedupdate_person_recent')
        batch.drop_column('person_id')
