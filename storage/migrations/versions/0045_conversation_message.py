"""conversation: the platform id of the message asking the current step, so its buttons can be retired

Revision ID: 0045_conversation_message
Revises: 0020_flood_control
Create Date: 2026-12-04 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0045_conversation_message'
down_revision: str | Sequence[str] | None = '0020_flood_control'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('conversation') as batch:
        batch.add_column(sa.Column('message_id', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('conversation') as batch:
        batch.drop_column('message_id')
