"""The resources list (资源清单): what partner units (共驻共建单位) and residents offer the compound — venues,
equipment, skills, funds — kept by the secretary, and the matches of residents' needs to them. With the needs
list (storage.needs) and the services list (storage.services) it makes the three lists (三张清单)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Stored, UTCDateTime, add_unless_exists, status_field, utcnow
from storage.organisations import Organisation, partner_units
from storage.people import Person, own_rooms

KINDS = ("venue", "equipment", "skill", "funds", "other")
TITLE_MAX, DESCRIPTION_MAX = 100, 500


class ResourceStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"  # taken off the list by the secretary; its matches stay


class Resource(Stored, SQLModel, table=True):
    """One thing offered: by a partner unit linked to the compound (its contact is told of matches), or by a
    resident (who is told themselves)."""

    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    kind: str = Field(max_length=12)  # one of KINDS
    title: str = Field(max_length=TITLE_MAX)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id")
    offered_by_id: int | None = Field(default=None, foreign_key="person.id")
    status: ResourceStatus = status_field(ResourceStatus, ResourceStatus.ACTIVE, 12, index=True)
    created_by: int = Field(foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ResourceMatch(SQLModel, table=True):
    """A need met by a resource (the need's triage outcome "resource:ID")."""

    __tablename__ = "resource_match"
    __table_args__ = (sa.UniqueConstraint("resource_id", "need_id"),)
    id: int | None = Field(default=None, primary_key=True)
    resource_id: int = Field(foreign_key="resource.id", index=True)
    need_id: int = Field(foreign_key="need.id", index=True)
    matched_by: int = Field(foreign_key="person.id")
    matched_at: datetime = Field(sa_type=UTCDateTime)


@dataclass(frozen=True, slots=True)
class Offerer:
    """Who offers a resource and who hears of a match: the unit's contact (a person once they use the bot, else a
    name and phone the secretary calls), or the resident."""

    unit: str  # the partner unit's name, "" for a resident
    name: str
    phone: str
    person_id: int | None


async def active(session: AsyncSession, compound_id: int) -> list[Resource]:
    result = await session.exec(select(Resource).where(
        Resource.compound_id == compound_id, Resource.status == ResourceStatus.ACTIVE)
        .order_by(col(Resource.kind), col(Resource.id)))
    return list(result.all())


async def resource_in(session: AsyncSession, resource_id: int, compound_id: int) -> Resource | None:
    """The resource if it is on this compound's list (active), else None."""
    row = await session.get(Resource, resource_id)
    if row is None or row.compound_id != compound_id or row.status != ResourceStatus.ACTIVE:
        return None
    return row


async def offerer(session: AsyncSession, resource: Resource) -> Offerer:
    if resource.organisation_id is not None:
        unit = await session.get(Organisation, resource.organisation_id)
        if unit is not None:
            return Offerer(unit.name, unit.contact_name, unit.contact_phone, unit.contact_person_id)
    person = await session.get(Person, resource.offered_by_id) if resource.offered_by_id else None
    return Offerer("", person.name if person else "", person.phone or "" if person else "",
                   person.id if person else None)


async def offerers(session: AsyncSession, compound_id: int) -> list[Organisation]:
    """The partner units linked to the compound, which may offer resources."""
    return await partner_units(session, compound_id)


# ---- domain actions ---------------------------------------------------------------------------------------------


async def add_resource(session: AsyncSession, compound_id: int, kind: str, title: str, description: str, *,
                       organisation_id: int | None, offered_by_id: int | None, by: int, now: datetime
                       ) -> Resource | None:
    """A new entry on the list, offered by one of the compound's partner units or by one of its residents; None
    when the kind is unknown or the offerer is neither."""
    if kind not in KINDS or (organisation_id is None) == (offered_by_id is None):
        return None
    if organisation_id is not None and organisation_id not in {u.id for u in await offerers(session, compound_id)}:
        return None
    if offered_by_id is not None and not await own_rooms(session, offered_by_id, compound_id):
        return None
    row = Resource(compound_id=compound_id, kind=kind, title=title[:TITLE_MAX], description=description[:DESCRIPTION_MAX],
                   organisation_id=organisation_id, offered_by_id=offered_by_id, created_by=by, created_at=now)
    session.add(row)
    await session.flush()
    return row


async def retire(session: AsyncSession, resource_id: int, compound_id: int, now: datetime) -> Resource | None:
    """Off the list (None when it is not on this compound's list any more)."""
    row = await resource_in(session, resource_id, compound_id)
    if row is None:
        return None
    row.status, row.retired_at = ResourceStatus.RETIRED, now
    session.add(row)
    await session.flush()
    return row


async def record_match(session: AsyncSession, resource: Resource, need_id: int, by: int, now: datetime) -> bool:
    """Called by storage.needs.into_resource, which decides the need; False when they were matched before."""
    return await add_unless_exists(session, ResourceMatch(resource_id=resource.stored_id, need_id=need_id,
                                                          matched_by=by, matched_at=now))


async def matches_of(session: AsyncSession, resource_id: int) -> int:
    result = await session.exec(select(sa.func.count()).select_from(ResourceMatch).where(
        ResourceMatch.resource_id == resource_id))
    return int(result.one())
