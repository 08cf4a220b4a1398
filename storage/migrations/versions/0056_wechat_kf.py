"""wechat: 微信客服's pull cursor (wechat_kf_cursor), residents' reply windows (wechat_reply_window) and one-time
codes linking accounts (wechat_link_code)

Revision ID: 0056_wechat_kf
Revises: 0001_foundation
Create Date: 2026-12-20 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0056_wechat_kf'
down_revision: str | Sequence[str] | None = '0001_foundation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('wechat_kf_cursor',
    sa.Column('open_kfid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('cursor', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('token_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pulled_token', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.PrimaryKeyConstraint('open_kfid')
    )
    op.create_table('wechat_reply_window',
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('open_kfid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('last_inbound_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent', sa.Integer(), nullable=False),
    sa.Column('held', sa.Boolean(), nullable=False),
    sa.Column('handed_over', sa.Boolean(), nullable=False),
    sa.Column('servicer', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('platform', 'chat_id')
    )
    op.create_table('wechat_link_code',
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('code')
    )
    with op.batch_alter_table('wechat_link_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wechat_link_code_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('wechat_link_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_link_code_person_id'))
    op.drop_table('wechat_link_code')
    op.drop_table('wechat_reply_window')
    op.drop_table('wechat_kf_cursor')
