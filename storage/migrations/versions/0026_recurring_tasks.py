"""volunteer tasks that repeat weekly or monthly: each occurrence a task of its own in a series

Revision ID: 0026_recurring_tasks
Revises: 0018_pledge_sent_back
Create Date: 2026-12-10 10:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0026_recurring_tasks'
down_revision: str | Sequence[str] | None = '0018_pledge_sent_back'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('volunteer_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recurrence', sqlmodel.sql.sqltypes.AutoString(length=12), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('series_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('next_generated_at', storage.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_volunteer_task_series_id'), ['series_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('volunteer_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volunteer_task_series_id'))
        batch_op.drop_column('next_generated_at')
        batch_op.drop_column('series_id')
        batch_op.drop_column('recurrence')
