"""assembly reminders: the slots of each assembly (claimed when due) and who pressed 不再提醒; the old daily slots'
column goes

Revision ID: 0049_assembly_reminders
Revises: 0035_assembly_scope
Create Date: 2026-12-14 10:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0049_assembly_reminders'
down_revision: str | Sequence[str] | None = '0035_assembly_scope'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('assembly_reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assembly_id', sa.Integer(), nullable=False),
    sa.Column('slot', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('due_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assembly_id'], ['assembly.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('assembly_id', 'slot')
    )
    with op.batch_alter_table('assembly_reminder') as batch:
        batch.create_index(batch.f('ix_assembly_reminder_assembly_id'), ['assembly_id'], unique=False)
        batch.create_index(batch.f('ix_assembly_reminder_due_at'), ['due_at'], unique=False)
    op.create_table('assembly_reminder_stop',
    sa.Column('assembly_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assembly_id'], ['assembly.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('assembly_id', 'person_id')
    )
    with op.batch_alter_table('assembly') as batch:
        batch.drop_column('reminded')


def downgrade() -> None:
    with op.batch_alter_table('assembly') as batch:
        batch.add_column(sa.Column('reminded', storage.db.JSONDict(), nullable=False, server_default='{}'))
    op.drop_table('assembly_reminder_stop')
    op.drop_table('assembly_reminder')
