"""disclosures carry documents (XLSX, PDF) as well as photos

Revision ID: 0012_disclosure_documents
Revises: 0005_meetings
Create Date: 2026-11-23 13:40:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0012_disclosure_documents'
down_revision: str | Sequence[str] | None = '0005_meetings'
branch_labels: str | Sequence[str] | None = None
# The document itself is a row of the outbox's media table (referenced without a foreign key, so that this
# branch does not depend on the outbox's).
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('disclosure', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media_kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default='image'))
        batch_op.add_column(sa.Column('media_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('disclosure', schema=None) as batch_op:
        batch_op.drop_column('media_id')
        batch_op.drop_column('media_kind')
