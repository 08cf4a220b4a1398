"""property: /company names the property company as an organisation (storage.organisations), the one whose staff
hold the property role; the old one-per-compound `propertycompany` rows move there and the table goes

Each old row becomes the compound's property company unless the compound already has one linked: an organisation
of that name (kind property) is linked, or created with the row's contact (a phone number, or a name). Downgrade
writes the first linked property company of each compound back.

Revision ID: 0053_retire_propertycompany
Revises: 0032_revocation_advice
Depends on: 0022_organisations (the organisation tables)
Create Date: 2026-12-04 09:55:00

"""
import re
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.db

revision: str = '0053_retire_propertycompany'
down_revision: str | Sequence[str] | None = '0032_revocation_advice'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = '0022_organisations'

old = sa.table('propertycompany', sa.column('id', sa.Integer), sa.column('compound_id', sa.Integer),
               sa.column('name', sa.String), sa.column('contact', sa.String))
organisation = sa.table('organisation', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                        sa.column('name', sa.String), sa.column('category', sa.String),
                        sa.column('contact_name', sa.String), sa.column('contact_phone', sa.String),
                        sa.column('created_at', storage.db.UTCDateTime(timezone=True)),
                        sa.column('retired_at', storage.db.UTCDateTime(timezone=True)))
link = sa.table('organisation_compound', sa.column('organisation_id', sa.Integer),
                sa.column('compound_id', sa.Integer),
                sa.column('linked_at', storage.db.UTCDateTime(timezone=True)))


def _contact(contact: str) -> tuple[str, str]:
    """(contact_name, contact_phone) as storage.organisations reads a /company contact."""
    contact = (contact or '').strip()
    digits = re.sub(r'\D', '', contact)
    if contact and 5 <= len(digits) <= 15 and all(c.isdigit() or c in ' -+()' for c in contact):
        return '', digits
    return contact[:100], ''


def upgrade() -> None:
    conn = op.get_bind()
    now = datetime.now(UTC)
    for compound_id, name, contact in conn.execute(sa.select(old.c.compound_id, old.c.name, old.c.contact)).all():
        served = conn.execute(sa.select(link.c.organisation_id).join(
            organisation, organisation.c.id == link.c.organisation_id).where(
            link.c.compound_id == compound_id, organisation.c.kind == 'property',
            organisation.c.retired_at.is_(None))).first()
        if served is not None:
            continue  # the organisation is the truth already
        found = conn.execute(sa.select(organisation.c.id).where(
            organisation.c.kind == 'property', organisation.c.name == name,
            organisation.c.retired_at.is_(None)).order_by(organisation.c.id)).first()
        if found is not None:
            organisation_id = found[0]
        else:
            contact_name, contact_phone = _contact(contact)
            organisation_id = conn.execute(sa.insert(organisation).values(
                kind='property', name=name, category='other', contact_name=contact_name, contact_phone=contact_phone,
                created_at=now).returning(organisation.c.id)).scalar_one()
        conn.execute(sa.insert(link).values(organisation_id=organisation_id, compound_id=compound_id, linked_at=now))
    op.drop_table('propertycompany')


def downgrade() -> None:
    op.create_table('propertycompany',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('compound_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('contact', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.ForeignKeyConstraint(['compound_id'], ['compound.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('compound_id')
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(link.c.compound_id, organisation.c.name, organisation.c.contact_name,
                                  organisation.c.contact_phone).join(
        organisation, organisation.c.id == link.c.organisation_id).where(
        organisation.c.kind == 'property').order_by(link.c.compound_id, organisation.c.id)).all()
    written: set[int] = set()
    for compound_id, name, contact_name, contact_phone in rows:
        if compound_id in written:
            continue
        written.add(compound_id)
        conn.execute(sa.insert(old).values(compound_id=compound_id, name=name,
                                           contact=(contact_phone or contact_name or '')[:100]))
