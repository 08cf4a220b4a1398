"""Organisations beyond the room: streets (街道) and their communities (社区), the compounds linked to them, the
street's departments (城管, 住建, 派出所, 市场监管, ...), property companies (物业公司) serving compounds and partner
units (共驻共建单位), and the people in them, none of whom needs a room.

Roles follow from belonging here, not from a secretary's grant: a member of a department holds Role.OFFICIAL in
every compound linked to its street, a property company's staff hold Role.PROPERTY in every compound the company
serves (`storage.people.roles_in` reads both in its one statement). A street admin, added from the shell, manages
the street's departments and officials.

The API other features call (all take the session first):
  street_of_compound(compound_id) -> Street | None        departments_of_street(street_id) -> [Department]
  department_named(street_id, name) -> Department | None  officials_of(department_id) -> [person id]
  property_company_of(compound_id) -> Organisation | None company_staff(organisation_id) -> [person id]
  companies_of_staff(person_id) -> [Organisation]          partner_units(compound_id) -> [Organisation]
  unit_contact(organisation_id) -> Contact | None          organisations_in(compound_id) -> {org: [person id]}
  set_property_company(compound_id, name, contact, by) -> (Organisation, CompanySet)   (/company)
(A neighbour dispute's mediation is a step of its case: `storage.complaints.Mediation`.)
This module imports no other storage module at import time: storage.people builds its role query from these
tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Prepared, Stored, UTCDateTime, status_field, utcnow

INVITE_DAYS = 7


class OrganisationKind(StrEnum):
    PROPERTY = "property"  # 物业公司
    PARTNER = "partner"  # 共驻共建单位


class PartnerCategory(StrEnum):
    SCHOOL = "school"
    HOSPITAL = "hospital"
    BUSINESS = "business"
    EMPLOYER = "employer"  # an in-work party member's employer
    OTHER = "other"


class Street(Stored, SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Community(Stored, SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("street_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    street_id: int = Field(foreign_key="street.id", index=True)
    name: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CompoundPlace(SQLModel, table=True):
    """Which street (and community) a compound belongs to: at most one row per compound."""

    __tablename__ = "compound_place"
    compound_id: int = Field(foreign_key="compound.id", primary_key=True)
    street_id: int = Field(foreign_key="street.id", index=True)
    community_id: int | None = Field(default=None, foreign_key="community.id")


class Department(Stored, SQLModel, table=True):
    """A functional department of a street (职能部门): its members are the officials of the street's compounds."""

    __table_args__ = (sa.UniqueConstraint("street_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    street_id: int = Field(foreign_key="street.id", index=True)
    name: str = Field(max_length=50)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Organisation(Stored, SQLModel, table=True):
    """A property company or a partner unit; partner units have a category and a contact person."""

    id: int | None = Field(default=None, primary_key=True)
    kind: OrganisationKind = status_field(OrganisationKind, OrganisationKind.PARTNER, 12, index=True)
    name: str = Field(max_length=100)
    category: PartnerCategory = status_field(PartnerCategory, PartnerCategory.OTHER, 12)
    contact_name: str = Field(default="", max_length=100)
    contact_phone: str = Field(default="", max_length=32)
    # The contact once they use the bot: notices to the unit go to them.
    contact_person_id: int | None = Field(default=None, foreign_key="person.id")
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OrganisationCompound(SQLModel, table=True):
    """An organisation serving (property company) or partnering (partner unit) a compound."""

    __tablename__ = "organisation_compound"
    organisation_id: int = Field(foreign_key="organisation.id", primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", primary_key=True, index=True)
    linked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Affiliation(Stored, SQLModel, table=True):
    """A person in a street office (its admin), a department (an official) or an organisation (staff). Exactly one
    of the three is set; ending it keeps the row for the record."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    street_id: int | None = Field(default=None, foreign_key="street.id", index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    added_by: int | None = Field(default=None, foreign_key="person.id")
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AffiliationInvite(Stored, SQLModel, table=True):
    """A one-time code that makes whoever sends `/start CODE` (or `/join CODE`) a street admin, an official of a
    department or staff of an organisation; it lapses after INVITE_DAYS."""

    __tablename__ = "affiliation_invite"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True, index=True)
    street_id: int | None = Field(default=None, foreign_key="street.id")
    department_id: int | None = Field(default=None, foreign_key="department.id")
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id")
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_by: int | None = Field(default=None, foreign_key="person.id")
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# ---- the derived roles (storage.people.roles_in unions these into its one statement) ---------------------------


def derived_role_selects(person: Any, compound: Any) -> list[Any]:
    """SELECTs of ("g", role value) rows: the person's official and property roles in the compound, from their
    departments and organisations. `person` and `compound` are bind parameters or columns."""
    official: Any = (
        select(sa.literal("g").label("kind"), sa.literal("official").label("value"))
        .select_from(Affiliation)
        .join(Department, col(Department.id) == Affiliation.department_id)
        .join(CompoundPlace, col(CompoundPlace.street_id) == Department.street_id)
        .where(Affiliation.person_id == person, CompoundPlace.compound_id == compound,
               col(Affiliation.removed_at).is_(None))
    )
    staff: Any = (
        select(sa.literal("g").label("kind"), sa.literal("property").label("value"))
        .select_from(Affiliation)
        .join(Organisation, col(Organisation.id) == Affiliation.organisation_id)
        .join(OrganisationCompound, col(OrganisationCompound.organisation_id) == Organisation.id)
        .where(Affiliation.person_id == person, OrganisationCompound.compound_id == compound,
               Organisation.kind == OrganisationKind.PROPERTY, col(Organisation.retired_at).is_(None),
               col(Affiliation.removed_at).is_(None))
    )
    return [official, staff]


async def derived_holders(session: AsyncSession, role: str, compound_ids: list[int]) -> list[tuple[int, int]]:
    """(person, compound) for everyone holding `role` ("official" or "property") in these compounds through a
    department or a property company, in the order they joined."""
    if role == "official":
        query: Any = (
            select(Affiliation.person_id, CompoundPlace.compound_id)
            .join(Department, col(Department.id) == Affiliation.department_id)
            .join(CompoundPlace, col(CompoundPlace.street_id) == Department.street_id)
        )
    elif role == "property":
        query = (
            select(Affiliation.person_id, OrganisationCompound.compound_id)
            .join(Organisation, col(Organisation.id) == Affiliation.organisation_id)
            .join(OrganisationCompound, col(OrganisationCompound.organisation_id) == Organisation.id)
            .where(Organisation.kind == OrganisationKind.PROPERTY, col(Organisation.retired_at).is_(None))
        )
    else:
        return []
    column = CompoundPlace.compound_id if role == "official" else OrganisationCompound.compound_id
    result = await session.exec(query.where(col(Affiliation.removed_at).is_(None), col(column).in_(compound_ids))
                                .order_by(col(Affiliation.id)))
    return [(person_id, compound_id) for person_id, compound_id in result.all()]


def derived_compound_queries(person_id: Any) -> tuple[Any, Any]:
    """The compounds a person acts in through their departments, then through their property companies (no room
    needed): two selects of compound ids, for `storage.people.compounds_of` (`person_id`: a value or a bind
    parameter)."""
    official = (
        select(CompoundPlace.compound_id)
        .join(Department, col(Department.street_id) == CompoundPlace.street_id)
        .join(Affiliation, col(Affiliation.department_id) == Department.id)
        .where(Affiliation.person_id == person_id, col(Affiliation.removed_at).is_(None))
    )
    staff = (
        select(OrganisationCompound.compound_id)
        .join(Organisation, col(Organisation.id) == OrganisationCompound.organisation_id)
        .join(Affiliation, col(Affiliation.organisation_id) == Organisation.id)
        .where(Affiliation.person_id == person_id, col(Affiliation.removed_at).is_(None),
               Organisation.kind == OrganisationKind.PROPERTY, col(Organisation.retired_at).is_(None))
    )
    return official, staff


async def derived_compounds(session: AsyncSession, person_id: int) -> list[int]:
    """The compounds a person acts in through their departments and property companies (no room needed)."""
    official, staff = derived_compound_queries(person_id)
    rows = [*(await session.exec(official)).all(), *(await session.exec(staff)).all()]
    return list(dict.fromkeys(rows))


# ---- streets, communities and compounds ------------------------------------------------------------------------


class Linked(StrEnum):
    LINKED = "linked"
    MOVED = "moved"  # it was linked to another street or community before
    ALREADY = "already"


async def street_named(session: AsyncSession, name: str) -> Street | None:
    return (await session.exec(select(Street).where(Street.name == name.strip()))).first()


async def create_street(session: AsyncSession, name: str) -> Street | None:
    """A new street; None when one of that name exists."""
    name = name.strip()[:100]
    if not name or await street_named(session, name) is not None:
        return None
    street = Street(name=name)
    session.add(street)
    await session.flush()
    return street


async def create_community(session: AsyncSession, street_id: int, name: str) -> Community | None:
    name = name.strip()[:100]
    existing = (await session.exec(select(Community).where(Community.street_id == street_id,
                                                           Community.name == name))).first()
    if not name or existing is not None:
        return None
    community = Community(street_id=street_id, name=name)
    session.add(community)
    await session.flush()
    return community


async def community_named(session: AsyncSession, street_id: int, name: str) -> Community | None:
    return (await session.exec(select(Community).where(Community.street_id == street_id,
                                                       Community.name == name.strip()))).first()


async def communities_of(session: AsyncSession, street_id: int) -> list[Community]:
    return list((await session.exec(select(Community).where(Community.street_id == street_id)
                                    .order_by(col(Community.id)))).all())


async def link_compound(session: AsyncSession, compound_id: int, street: Street,
                        community: Community | None = None) -> Linked:
    """The compound belongs to the street (and community) from now on; its text fields follow, so the reports
    that group compounds by street name keep agreeing."""
    from storage.compounds import Compound

    if community is not None and community.street_id != street.id:
        raise ValueError("a community of another street")
    place = await session.get(CompoundPlace, compound_id)
    community_id = community.id if community is not None else None
    if place is not None and place.street_id == street.id and place.community_id == community_id:
        return Linked.ALREADY
    outcome = Linked.LINKED if place is None else Linked.MOVED
    place = place or CompoundPlace(compound_id=compound_id, street_id=street.stored_id)
    place.street_id, place.community_id = street.stored_id, community_id
    session.add(place)
    compound = await session.get(Compound, compound_id)
    if compound is not None:
        compound.street = street.name
        compound.community = community.name if community is not None else compound.community
        session.add(compound)
    await session.flush()
    return outcome


async def street_of_compound(session: AsyncSession, compound_id: int) -> Street | None:
    result = await session.exec(select(Street).join(CompoundPlace, col(CompoundPlace.street_id) == Street.id)
                                .where(CompoundPlace.compound_id == compound_id))
    return result.first()


async def compounds_of_street(session: AsyncSession, street_id: int) -> list[int]:
    result = await session.exec(select(CompoundPlace.compound_id).where(CompoundPlace.street_id == street_id)
                                .order_by(col(CompoundPlace.compound_id)))
    return list(result.all())


async def streets(session: AsyncSession) -> list[Street]:
    return list((await session.exec(select(Street).order_by(col(Street.id)))).all())


# ---- membership of people ----------------------------------------------------------------------------------------


class Added(StrEnum):
    ADDED = "added"
    ALREADY = "already"


async def _affiliation(session: AsyncSession, person_id: int, **where: int) -> Affiliation | None:
    query = select(Affiliation).where(Affiliation.person_id == person_id, col(Affiliation.removed_at).is_(None))
    for name, value in where.items():
        query = query.where(getattr(Affiliation, name) == value)
    return (await session.exec(query)).first()


async def add_member(session: AsyncSession, person_id: int, by: int | None, *, street_id: int | None = None,
                     department_id: int | None = None, organisation_id: int | None = None) -> Added:
    """The person joins a street office (as its admin), a department or an organisation; twice changes nothing."""
    where = {k: v for k, v in (("street_id", street_id), ("department_id", department_id),
                                ("organisation_id", organisation_id)) if v is not None}
    if len(where) != 1:
        raise ValueError("an affiliation is with exactly one street, department or organisation")
    if await _affiliation(session, person_id, **where) is not None:
        return Added.ALREADY
    session.add(Affiliation(person_id=person_id, added_by=by, street_id=street_id, department_id=department_id,
                            organisation_id=organisation_id))
    await session.flush()
    session.info.pop(ADMINISTERS_READ, None)
    return Added.ADDED


async def remove_member(session: AsyncSession, person_id: int, now: datetime, *, street_id: int | None = None,
                        department_id: int | None = None, organisation_id: int | None = None) -> bool:
    """Ends the person's membership; False when they were not a member."""
    where = {k: v for k, v in (("street_id", street_id), ("department_id", department_id),
                                ("organisation_id", organisation_id)) if v is not None}
    row = await _affiliation(session, person_id, **where)
    if row is None:
        return False
    row.removed_at = now
    session.add(row)
    await session.flush()
    session.info.pop(ADMINISTERS_READ, None)
    return True


async def _members(session: AsyncSession, **where: int) -> list[int]:
    query = select(Affiliation.person_id).where(col(Affiliation.removed_at).is_(None))
    for name, value in where.items():
        query = query.where(getattr(Affiliation, name) == value)
    return list(dict.fromkeys((await session.exec(query.order_by(col(Affiliation.id)))).all()))


async def street_admins(session: AsyncSession, street_id: int) -> list[int]:
    return await _members(session, street_id=street_id)


# Whether the sender administers a street, read with them by the message's joined read (storage.intake.arrival):
# (the session's transaction, their person id, how many streets). Every /help and /start asks it of people who
# almost never do; an affiliation added or ended in the transaction forgets it.
ADMINISTERS_READ = "organisations.administers"


async def streets_administered(session: AsyncSession, person_id: int) -> list[Street]:
    read = session.info.get(ADMINISTERS_READ)
    if (read is not None and read[2] == 0 and read[1] == person_id
            and read[0] is session.sync_session.get_transaction()):
        return []
    found = await _ADMINISTERED.objects(session, person_id=person_id)
    return list({street.stored_id: street for street in found}.values())


# Asked by every /help (a street admin's commands are listed there): a fixed query on the driver.
_ADMINISTERED = Prepared(select(Street).join(Affiliation, col(Affiliation.street_id) == Street.id).where(
    Affiliation.person_id == sa.bindparam("person_id"), col(Affiliation.removed_at).is_(None))
    .order_by(col(Street.id)), Street)


async def officials_of(session: AsyncSession, department_id: int) -> list[int]:
    """The department's officials (person ids), in the order they joined."""
    return await _members(session, department_id=department_id)


async def company_staff(session: AsyncSession, organisation_id: int) -> list[int]:
    """An organisation's people (a property company's staff, a partner unit's members), in the order they joined."""
    return await _members(session, organisation_id=organisation_id)


async def departments_of_person(session: AsyncSession, person_id: int) -> list[Department]:
    result = await session.exec(select(Department).join(Affiliation, col(Affiliation.department_id) == Department.id)
                                .where(Affiliation.person_id == person_id, col(Affiliation.removed_at).is_(None)))
    return list(result.all())


async def companies_of_staff(session: AsyncSession, person_id: int) -> list[Organisation]:
    """The property companies the person works for."""
    result = await session.exec(select(Organisation).join(
        Affiliation, col(Affiliation.organisation_id) == Organisation.id).where(
        Affiliation.person_id == person_id, col(Affiliation.removed_at).is_(None),
        Organisation.kind == OrganisationKind.PROPERTY))
    return list(result.all())


# ---- departments ---------------------------------------------------------------------------------------------------


async def departments_of_street(session: AsyncSession, street_id: int) -> list[Department]:
    return list((await session.exec(select(Department).where(Department.street_id == street_id)
                                    .order_by(col(Department.id)))).all())


async def department_named(session: AsyncSession, street_id: int, name: str) -> Department | None:
    return (await session.exec(select(Department).where(Department.street_id == street_id,
                                                        Department.name == name.strip()))).first()


async def create_department(session: AsyncSession, street_id: int, name: str, by: int | None) -> Department | None:
    """None when the street has a department of that name already."""
    name = name.strip()[:50]
    if not name or await department_named(session, street_id, name) is not None:
        return None
    department = Department(street_id=street_id, name=name, created_by=by)
    session.add(department)
    await session.flush()
    return department


async def departments_of_compound(session: AsyncSession, compound_id: int) -> list[Department]:
    """The departments of the compound's street (empty when it is linked to none)."""
    street = await street_of_compound(session, compound_id)
    return await departments_of_street(session, street.stored_id) if street is not None else []


# ---- organisations -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    phone: str
    person_id: int | None


async def create_organisation(session: AsyncSession, kind: OrganisationKind, name: str, by: int | None, *,
                              category: PartnerCategory = PartnerCategory.OTHER, contact_name: str = "",
                              contact_phone: str = "", contact_person_id: int | None = None) -> Organisation:
    organisation = Organisation(kind=kind, name=name.strip()[:100], category=category,
                                contact_name=contact_name.strip()[:100], contact_phone=contact_phone.strip()[:32],
                                contact_person_id=contact_person_id, created_by=by)
    session.add(organisation)
    await session.flush()
    return organisation


async def organisation_named(session: AsyncSession, kind: OrganisationKind, name: str) -> Organisation | None:
    return (await session.exec(select(Organisation).where(Organisation.kind == kind, Organisation.name == name.strip(),
                                                          col(Organisation.retired_at).is_(None)))).first()


async def link_organisation(session: AsyncSession, organisation_id: int, compound_id: int) -> bool:
    """False when it serves (or partners) the compound already."""
    if await session.get(OrganisationCompound, (organisation_id, compound_id)) is not None:
        return False
    session.add(OrganisationCompound(organisation_id=organisation_id, compound_id=compound_id))
    await session.flush()
    return True


async def _organisations(session: AsyncSession, compound_id: int, kind: OrganisationKind) -> list[Organisation]:
    result = await session.exec(select(Organisation).join(
        OrganisationCompound, col(OrganisationCompound.organisation_id) == Organisation.id).where(
        OrganisationCompound.compound_id == compound_id, Organisation.kind == kind,
        col(Organisation.retired_at).is_(None)).order_by(col(Organisation.id)))
    return list(result.all())


async def property_company_of(session: AsyncSession, compound_id: int) -> Organisation | None:
    """The property company serving the compound (the first linked, should there be several)."""
    companies = await _organisations(session, compound_id, OrganisationKind.PROPERTY)
    return companies[0] if companies else None


class CompanySet(StrEnum):
    CREATED = "created"  # a new property company, now serving the compound
    LINKED = "linked"  # a company of that name existed (serving other compounds): now it serves this one too
    UPDATED = "updated"  # the compound's company already: its contact changed


def _contact_fields(contact: str) -> dict[str, str]:
    """A contact typed after the company's name: a phone number (digits kept) or a person's name."""
    from storage.people import normalize_phone

    contact = contact.strip()
    digits = normalize_phone(contact)
    if contact and 5 <= len(digits) <= 15 and all(c.isdigit() or c in " -+()" for c in contact):
        return {"contact_phone": digits, "contact_name": ""}
    return {"contact_name": contact[:100], "contact_phone": ""}


async def set_property_company(session: AsyncSession, compound_id: int, name: str, contact: str,
                               by: int | None) -> tuple[Organisation, CompanySet]:
    """The compound's property company (/company) is the one organisation of that name, created when new: the one
    whose staff hold the property role here. A company that served the compound before stops serving it (its staff
    lose the role here; it keeps its other compounds)."""
    name = name.strip()[:100]
    current = await _organisations(session, compound_id, OrganisationKind.PROPERTY)
    company = next((c for c in current if c.name == name), None)
    outcome = CompanySet.UPDATED if company is not None else CompanySet.LINKED
    company = company or await organisation_named(session, OrganisationKind.PROPERTY, name)
    if company is None:
        company, outcome = await create_organisation(session, OrganisationKind.PROPERTY, name, by), CompanySet.CREATED
    for field, value in _contact_fields(contact).items():
        setattr(company, field, value)
    session.add(company)
    for other in current:
        if other.id != company.id:
            await session.exec(sa.delete(OrganisationCompound).where(
                col(OrganisationCompound.organisation_id) == other.id,
                col(OrganisationCompound.compound_id) == compound_id))
    await link_organisation(session, company.stored_id, compound_id)
    return company, outcome


async def partner_units(session: AsyncSession, compound_id: int) -> list[Organisation]:
    return await _organisations(session, compound_id, OrganisationKind.PARTNER)


async def compounds_of_organisation(session: AsyncSession, organisation_id: int) -> list[int]:
    result = await session.exec(select(OrganisationCompound.compound_id).where(
        OrganisationCompound.organisation_id == organisation_id).order_by(col(OrganisationCompound.compound_id)))
    return list(result.all())


async def unit_contact(session: AsyncSession, organisation_id: int) -> Contact | None:
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        return None
    return Contact(organisation.contact_name, organisation.contact_phone, organisation.contact_person_id)


async def is_company_staff(session: AsyncSession, person_id: int, compound_id: int) -> bool:
    """The person works for a property company serving the compound (so never assesses it)."""
    result = await session.exec(select(Affiliation.id).join(
        OrganisationCompound, col(OrganisationCompound.organisation_id) == Affiliation.organisation_id).join(
        Organisation, col(Organisation.id) == Affiliation.organisation_id).where(
        Affiliation.person_id == person_id, col(Affiliation.removed_at).is_(None),
        OrganisationCompound.compound_id == compound_id, Organisation.kind == OrganisationKind.PROPERTY))
    return result.first() is not None


async def staff_in(session: AsyncSession, compound_id: int) -> set[int]:
    """Everyone working for a property company serving the compound."""
    return {person for person, _c in await derived_holders(session, "property", [compound_id])}


@dataclass(frozen=True, slots=True)
class Group:
    """People of one organisation or department as /members and the exports show them."""

    kind: str  # "department" | "property" | "partner"
    name: str
    people: tuple[int, ...]


async def organisations_in(session: AsyncSession, compound_id: int) -> list[Group]:
    """The people of the compound's street departments, its property companies and its partner units, grouped."""
    groups: list[Group] = []
    for department in await departments_of_compound(session, compound_id):
        groups.append(Group("department", department.name, tuple(await officials_of(session, department.stored_id))))
    for kind, organisations in ((OrganisationKind.PROPERTY.value, await _organisations(
            session, compound_id, OrganisationKind.PROPERTY)), (OrganisationKind.PARTNER.value,
                                                                 await partner_units(session, compound_id))):
        for organisation in organisations:
            groups.append(Group(kind, organisation.name, tuple(await company_staff(session, organisation.stored_id))))
    return groups


async def affiliations_in(session: AsyncSession, compound_id: int) -> dict[int, list[Group]]:
    """person -> the groups (of `organisations_in`) they belong to, for the exports that show people by
    organisation."""
    found: dict[int, list[Group]] = {}
    for group in await organisations_in(session, compound_id):
        for person in group.people:
            found.setdefault(person, []).append(group)
    return found


async def in_organisation(session: AsyncSession, compound_id: int) -> set[int]:
    """Everyone /members lists by organisation rather than by room."""
    return {person for group in await organisations_in(session, compound_id) for person in group.people}


# ---- invites ---------------------------------------------------------------------------------------------------------


async def create_invite(session: AsyncSession, by: int | None, now: datetime, *, street_id: int | None = None,
                        department_id: int | None = None, organisation_id: int | None = None) -> AffiliationInvite:
    from storage.compounds import new_code

    if sum(v is not None for v in (street_id, department_id, organisation_id)) != 1:
        raise ValueError("an invite is to exactly one street, department or organisation")
    invite = AffiliationInvite(code=new_code(8), street_id=street_id, department_id=department_id,
                               organisation_id=organisation_id, created_by=by, created_at=now,
                               expires_at=now + timedelta(days=INVITE_DAYS))
    session.add(invite)
    await session.flush()
    return invite


class Redeemed(StrEnum):
    JOINED = "joined"
    ALREADY = "already"
    USED = "used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


async def invite_by_code(session: AsyncSession, code: str) -> AffiliationInvite | None:
    return (await session.exec(select(AffiliationInvite).where(
        AffiliationInvite.code == code.strip().upper()[:16]))).first()


async def redeem(session: AsyncSession, code: str, person_id: int, now: datetime) -> tuple[Redeemed,
                                                                                             AffiliationInvite | None]:
    """The person joins what the invite names; a code works once (claimed atomically) and until it lapses."""
    invite = await invite_by_code(session, code)
    if invite is None:
        return Redeemed.UNKNOWN, None
    if invite.used_by == person_id:
        return Redeemed.ALREADY, invite
    if invite.used_by is not None:
        return Redeemed.USED, invite
    if invite.expires_at <= now:
        return Redeemed.EXPIRED, invite
    claimed = await session.exec(sa.update(AffiliationInvite).where(
        col(AffiliationInvite.id) == invite.id, col(AffiliationInvite.used_by).is_(None)).values(
        used_by=person_id, used_at=now))
    if claimed.rowcount != 1:
        return Redeemed.USED, invite
    await session.refresh(invite)
    added = await add_member(session, person_id, invite.created_by, street_id=invite.street_id,
                             department_id=invite.department_id, organisation_id=invite.organisation_id)
    return (Redeemed.JOINED if added == Added.ADDED else Redeemed.ALREADY), invite
