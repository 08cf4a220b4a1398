"""proxy: an owner's authorisation of another person to vote for their rooms; ballot.proxy_for (and history)

Revision ID: 0037_assembly_proxy
Revises: 0036_candidate_vetting
Create Date: 2026-12-10 10:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0037_assembly_proxy'
down_revision: str | Sequence[str] | None = '0036_candidate_vetting'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('proxy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assembly_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('proxy_id', sa.Integer(), nullable=False),
    sa.Column('rooms', storage.db.JSONDict(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assembly_id'], ['assembly.id'], ),
    sa.ForeignKeyConstraint(['owner_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['proxy_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('proxy') as batch:
        batch.create_index(batch.f('ix_proxy_assembly_id'), ['assembly_id'], unique=False)
        batch.create_index(batch.f('ix_proxy_owner_id'), ['owner_id'], unique=False)
        batch.create_index(batch.f('ix_proxy_proxy_id'), ['proxy_id'], unique=False)
        batch.create_index(batch.f('ix_proxy_status'), ['status'], unique=False)
    with op.batch_alter_table('ballot') as batch:
        batch.add_column(sa.Column('proxy_for', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_ballot_proxy_for_person', 'person', ['proxy_for'], ['id'])
    with op.batch_alter_table('ballothistory') as batch:
        batch.add_column(sa.Column('proxy_for', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_ballothistory_proxy_for_person', 'person', ['proxy_for'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('ballothistory') as batch:
        batch.drop_constraint('fk_ballothistory_proxy_for_person', type_='foreignkey')
        batch.drop_column('proxy_for')
    with op.batch_alter_table('ballot') as batch:
        batch.drop_constraint('fk_ballot_proxy_for_person', type_='foreignkey')
        batch.drop_column('proxy_for')
    op.drop_table('proxy')
