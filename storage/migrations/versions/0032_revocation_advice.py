"""property: the secretary's recommendation to revoke the property company's qualification (取消经营资质建议)
after a failed rectification

Revision ID: 0032_revocation_advice
Revises: 0019_rectification_sent_back
Depends on: 0022_organisations (the department table)
Create Date: 2026-12-05 11:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0032_revocation_advice'
down_revision: str | Sequence[str] | None = '0019_rectification_sent_back'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = '0022_organisations'


def upgrade() -> None:
    op.create_table('revocation_advice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('compound_id', sa.Integer(), nullable=False),
    sa.Column('rectification_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('company', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('by', sa.Integer(), nullable=False),
    sa.Column('at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['by'], ['person.id'], ),
    sa.ForeignKeyConstraint(['compound_id'], ['compound.id'], ),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], ),
    sa.ForeignKeyConstraint(['rectification_id'], ['rectification.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('revocation_advice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revocation_advice_compound_id'), ['compound_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('revocation_advice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revocation_advice_compound_id'))
    op.drop_table('revocation_advice')
