"""foundation: a choice button's label, so typing it counts as pressing it

Revision ID: 0015_button_label
Revises: 0014_update_answer
Create Date: 2026-11-23 18:40:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015_button_label'
down_revision: str | Sequence[str] | None = '0014_update_answer'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('buttontoken') as batch:
        batch.add_column(sa.Column('label', sa.String(length=64), nullable=True))
        batch.create_index('ix_buttontoken_conversation_key', ['conversation_key'])


def downgrade() -> None:
    with op.batch_alter_table('buttontoken') as batch:
        batch.drop_index('ix_buttontoken_conversation_key')
        batch.drop_column('label')
