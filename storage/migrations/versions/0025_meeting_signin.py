"""meetings: sign-in (签到), one row per person present, and when the 签到 posting went out

Revision ID: 0025_meeting_signin
Revises: 0012_disclosure_documents
Create Date: 2026-12-10 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.db

revision: str = '0025_meeting_signin'
down_revision: str | Sequence[str] | None = '0012_disclosure_documents'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('meeting_attendance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('signed_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('marked_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['marked_by'], ['person.id'], ),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('meeting_id', 'person_id')
    )
    with op.batch_alter_table('meeting_attendance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_attendance_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meeting_attendance_person_id'), ['person_id'], unique=False)
    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signin_posted_at', storage.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.drop_column('signin_posted_at')
    with op.batch_alter_table('meeting_attendance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_attendance_person_id'))
        batch_op.drop_index(batch_op.f('ix_meeting_attendance_meeting_id'))
    op.drop_table('meeting_attendance')
