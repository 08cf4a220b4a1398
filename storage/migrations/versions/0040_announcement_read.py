"""announcements: the newest announcement each person has read in a compound (the menu's "new announcement")

Revision ID: 0040_announcement_read
Revises: 0012_disclosure_documents
Create Date: 2026-12-06 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.db

revision: str = '0040_announcement_read'
down_revision: str | Sequence[str] | None = '0012_disclosure_documents'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('announcement_read',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('compound_id', sa.Integer(), nullable=False),
    sa.Column('announcement_id', sa.Integer(), nullable=False),
    sa.Column('read_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['announcement_id'], ['announcement.id'], ),
    sa.ForeignKeyConstraint(['compound_id'], ['compound.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('person_id', 'compound_id')
    )


def downgrade() -> None:
    op.drop_table('announcement_read')
