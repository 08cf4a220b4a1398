"""buttonset: a message's buttons kept in one row (their meanings by place) instead of one row each; the buttons
already sent keep working (each becomes a set of one, its token unchanged). Downgrading forgets the buttons: they
answer as expired.

Revision ID: 0058_button_sets
Revises: 0045_conversation_message, 0057_parked_press
Create Date: 2026-12-04 19:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0058_button_sets'
down_revision: str | Sequence[str] | None = ('0045_conversation_message', '0057_parked_press')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A token is its set's key and one character for the button's place: an old token is a set of one under its own
# text less its last character. Two old tokens alike but for that character (60 random bits) would keep the first.
_COPY = {
    "sqlite": """
        INSERT INTO buttonset (key, buttons, person_id, compound_id, conversation_key, step, created_at, expires_at)
        SELECT substr(token, 1, length(token) - 1),
               json_object(substr(token, -1), json_object('action', action, 'args', json(args), 'label', label)),
               person_id, compound_id, conversation_key, step, created_at, expires_at
        FROM buttontoken WHERE true ON CONFLICT DO NOTHING""",
    "postgresql": """
        INSERT INTO buttonset (key, buttons, person_id, compound_id, conversation_key, step, created_at, expires_at)
        SELECT left(token, -1),
               json_build_object(right(token, 1), json_build_object('action', action, 'args', args, 'label', label)),
               person_id, compound_id, conversation_key, step, created_at, expires_at
        FROM buttontoken ON CONFLICT DO NOTHING""",
}


def upgrade() -> None:
    op.create_table('buttonset',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('buttons', storage.db.JSONDict(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('compound_id', sa.Integer(), nullable=True),
    sa.Column('conversation_key', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['compound_id'], ['compound.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('buttonset', schema=None) as batch_op:
        batch_op.create_index('ix_buttonset_expires_at', ['expires_at'], unique=False)
        batch_op.create_index('ix_buttonset_conversation_key', ['conversation_key'], unique=False,
                              sqlite_where=sa.text('conversation_key IS NOT NULL'),
                              postgresql_where=sa.text('conversation_key IS NOT NULL'))
    copy = _COPY.get(op.get_bind().dialect.name)
    if copy is not None:
        op.execute(copy)
    with op.batch_alter_table('buttontoken', schema=None) as batch_op:
        batch_op.drop_index('ix_buttontoken_conversation_key')
        batch_op.drop_index('ix_buttontoken_expires_at')
    op.drop_table('buttontoken')
    with op.batch_alter_table('parked_press', schema=None) as batch_op:
        batch_op.alter_column('token', type_=sqlmodel.sql.sqltypes.AutoString(length=24),
                              existing_type=sqlmodel.sql.sqltypes.AutoString(length=16), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('parked_press', schema=None) as batch_op:
        batch_op.alter_column('token', type_=sqlmodel.sql.sqltypes.AutoString(length=16),
                              existing_type=sqlmodel.sql.sqltypes.AutoString(length=24), existing_nullable=False)
    op.create_table('buttontoken',
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('args', storage.db.JSONDict(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('compound_id', sa.Integer(), nullable=True),
    sa.Column('conversation_key', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('label', sa.String(length=64), nullable=True),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['compound_id'], ['compound.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('token')
    )
    with op.batch_alter_table('buttontoken', schema=None) as batch_op:
        batch_op.create_index('ix_buttontoken_expires_at', ['expires_at'], unique=False)
        batch_op.create_index('ix_buttontoken_conversation_key', ['conversation_key'], unique=False)
    op.drop_index('ix_buttonset_conversation_key', table_name='buttonset')
    op.drop_index('ix_buttonset_expires_at', table_name='buttonset')
    op.drop_table('buttonset')
