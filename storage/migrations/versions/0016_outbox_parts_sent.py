"""outbox: parts of a split message already out, so a retry sends only the rest

Revision ID: 0016_outbox_parts_sent
Revises: 0015_button_label
Create Date: 2026-11-23 19:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016_outbox_parts_sent'
down_revision: str | Sequence[str] | None = '0015_button_label'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outboxmessage') as batch:
        batch.add_column(sa.Column('parts_sent', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('outboxmessage') as batch:
        batch.drop_column('parts_sent')
