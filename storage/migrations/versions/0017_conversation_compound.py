"""conversation: the compound a flow was started in, so every step acts there

Revision ID: 0017_conversation_compound
Revises: 0016_outbox_parts_sent
Create Date: 2026-12-04 06:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017_conversation_compound'
down_revision: str | Sequence[str] | None = '0016_outbox_parts_sent'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('conversation') as batch:
        batch.add_column(sa.Column('compound_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_conversation_compound', 'compound', ['compound_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('conversation') as batch:
        batch.drop_constraint('fk_conversation_compound', type_='foreignkey')
        batch.drop_column('compound_id')
