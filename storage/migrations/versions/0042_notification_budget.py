"""notifications: the budget's decisions (notice_log) and the kinds people turned off (notice_opt_out)

Revision ID: 0042_notification_budget
Revises: 0001_foundation
Create Date: 2026-12-10 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0042_notification_budget'
down_revision: str | Sequence[str] | None = '0001_foundation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('notice_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('compound_id', sa.Integer(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('content_key', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('urgency', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('decided_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('buttons', storage.db.JSONDict(), nullable=False),
    sa.Column('digested_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('digest_claim', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.ForeignKeyConstraint(['compound_id'], ['compound.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notice_log', schema=None) as batch_op:
        batch_op.create_index('ix_notice_log_repeat', ['person_id', 'kind', 'subject'], unique=False)
        batch_op.create_index('ix_notice_log_day', ['person_id', 'day'], unique=False)
        batch_op.create_index('ix_notice_log_digest', ['decision', 'digested_at', 'due_at'], unique=False)
    op.create_table('notice_opt_out',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('person_id', 'kind')
    )


def downgrade() -> None:
    op.drop_table('notice_opt_out')
    with op.batch_alter_table('notice_log', schema=None) as batch_op:
        batch_op.drop_index('ix_notice_log_digest')
        batch_op.drop_index('ix_notice_log_day')
        batch_op.drop_index('ix_notice_log_repeat')
    op.drop_table('notice_log')
