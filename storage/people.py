"""People, their platform identities, memberships in compounds (with rooms) and roles."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

import phonenumbers
import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Prepared, UTCDateTime, status_field, utcnow


class Role(StrEnum):
    RESIDENT = "resident"
    OWNER = "owner"
    BUILDING_LEADER = "building_leader"
    PARTY_MEMBER = "party_member"
    SECRETARY = "secretary"
    COMMITTEE = "committee"
    PROPERTY = "property"
    OFFICIAL = "official"
    # 业主监事会 / 监督组: reads the ledgers, disclosures and assembly records of its compound; raises objections.
    SUPERVISOR = "supervisor"
    # 调解委员会: mediates neighbour disputes at level 2.
    MEDIATOR = "mediator"


class MembershipStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    LEFT = "left"


# Roles a secretary hands out; resident and owner follow from an approved membership. An official is a member of
# one of the street's departments (storage/organisations.py), added by the street admin, never a secretary's grant.
GRANTABLE = (Role.BUILDING_LEADER, Role.PARTY_MEMBER, Role.SECRETARY, Role.COMMITTEE, Role.PROPERTY, Role.SUPERVISOR,
             Role.MEDIATOR)
STAFF = frozenset({Role.SECRETARY, Role.COMMITTEE, Role.BUILDING_LEADER, Role.PROPERTY, Role.OFFICIAL})


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(default="", max_length=100)
    # Chosen with /lang; until then the platform's language hint decides.
    language: str | None = Field(default=None, max_length=8)
    platform_language: str | None = Field(default=None, max_length=8)
    phone: str = Field(default="", max_length=32, index=True)
    current_compound_id: int | None = Field(default=None, foreign_key="compound.id")
    # Volunteers may keep their names off public rankings.
    hide_name: bool = False
    skills: str = Field(default="", max_length=200)  # comma-separated skill codes
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Identity(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("platform", "platform_user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    platform: str = Field(max_length=16)
    platform_user_id: str = Field(max_length=128)
    # Where private messages to this person go on this platform.
    private_chat_id: str | None = Field(default=None, max_length=128)
    unreachable: bool = False
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Membership(SQLModel, table=True):
    """A person living in (or owning) a room of a compound; approved by the roster or the secretary."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    room_id: int | None = Field(default=None, foreign_key="room.id", index=True)
    relation: str = Field(default="tenant", max_length=16)  # owner | tenant
    status: MembershipStatus = status_field(MembershipStatus, MembershipStatus.PENDING, 16, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_by: int | None = Field(default=None, foreign_key="person.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RoleGrant(SQLModel, table=True):
    """A role given by a secretary (or the claim code); revoking keeps the row for the record."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    role: str = Field(max_length=20)
    building_id: int | None = Field(default=None, foreign_key="building.id")
    granted_by: int | None = Field(default=None, foreign_key="person.id")
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def _roles_query() -> Any:
    # Approved memberships' relations, granted roles, then the roles a department or a property company gives,
    # in one round trip.
    from storage.organisations import derived_role_selects

    memberships: Any = select(sa.literal("m").label("kind"), col(Membership.relation).label("value")).where(
        Membership.person_id == sa.bindparam("person_id"), Membership.compound_id == sa.bindparam("compound_id"),
        Membership.status == MembershipStatus.APPROVED)
    grants: Any = select(sa.literal("g").label("kind"), col(RoleGrant.role).label("value")).where(
        RoleGrant.person_id == sa.bindparam("person_id"),
        RoleGrant.compound_id == sa.bindparam("compound_id"),
        col(RoleGrant.revoked_at).is_(None),
    )
    return sa.union_all(memberships, grants, *derived_role_selects(sa.bindparam("person_id"),
                                                                   sa.bindparam("compound_id")))


# Built once: this runs for every message, and building a statement costs more than running it.
ROLES_QUERY = _roles_query()


async def roles_in(session: AsyncSession, person_id: int, compound_id: int | None) -> frozenset[Role]:
    if compound_id is None:
        return frozenset()
    return roles_of((await session.exec(ROLES_QUERY, params={"person_id": person_id,
                                                              "compound_id": compound_id})).all())


def roles_of(rows: Iterable[tuple[str, str]]) -> frozenset[Role]:
    """The roles ROLES_QUERY's rows give: an approved membership (m) makes a resident, or an owner too."""
    roles: set[Role] = set()
    for kind, value in rows:
        if kind == "m":
            roles.add(Role.RESIDENT)
            if value == "owner":
                roles.add(Role.OWNER)
        else:
            roles.add(Role(value))
    return frozenset(roles)


async def led_buildings(session: AsyncSession, person_id: int, compound_id: int) -> list[int]:
    result = await session.exec(
        select(RoleGrant.building_id).where(
            RoleGrant.person_id == person_id,
            RoleGrant.compound_id == compound_id,
            RoleGrant.role == Role.BUILDING_LEADER,
            col(RoleGrant.revoked_at).is_(None),
        )
    )
    return [b for b in result.all() if b is not None]


async def people_with_role(
    session: AsyncSession, compound_id: int, role: Role, building_id: int | None = None
) -> list[int]:
    if building_id is not None:
        result = await session.exec(select(RoleGrant.person_id).where(
            RoleGrant.compound_id == compound_id, RoleGrant.role == role, col(RoleGrant.revoked_at).is_(None),
            RoleGrant.building_id == building_id).order_by(col(RoleGrant.id)))
        return list(dict.fromkeys(result.all()))
    granted = [person_id for person_id, in await _WITH_ROLE.rows(session, compound_id=compound_id, role=role)]
    return list(dict.fromkeys([*granted, *await _derived(session, role, [compound_id])]))


# Asked whenever the secretaries are told of something (a join request, a new case): a fixed query on the driver.
_WITH_ROLE = Prepared(select(RoleGrant.person_id).where(
    RoleGrant.compound_id == sa.bindparam("compound_id"), RoleGrant.role == sa.bindparam("role"),
    col(RoleGrant.revoked_at).is_(None)).order_by(col(RoleGrant.id)))


async def _derived(session: AsyncSession, role: Role, compound_ids: list[int]) -> list[int]:
    """Officials through a department, property staff through their company (storage/organisations.py)."""
    from storage.organisations import derived_holders

    if role not in (Role.OFFICIAL, Role.PROPERTY):
        return []
    return [person for person, _compound in await derived_holders(session, role.value, compound_ids)]


async def holders_in(session: AsyncSession, role: Role, compound_ids: list[int]) -> list[int]:
    """Everyone holding `role` (granted, not revoked) in any of these compounds, once each, by id."""
    result = await session.exec(select(RoleGrant.person_id).where(
        RoleGrant.role == role, col(RoleGrant.revoked_at).is_(None), col(RoleGrant.compound_id).in_(compound_ids)))
    return sorted({*result.all(), *await _derived(session, role, compound_ids)})


async def grant_role(
    session: AsyncSession,
    person_id: int,
    compound_id: int,
    role: Role,
    by: int | None,
    building_id: int | None = None,
) -> bool:
    """Returns False when the person already holds the role (granting twice changes nothing)."""
    existing = await session.exec(
        select(RoleGrant).where(
            RoleGrant.person_id == person_id,
            RoleGrant.compound_id == compound_id,
            RoleGrant.role == role,
            RoleGrant.building_id == building_id if building_id is not None else col(RoleGrant.building_id).is_(None),
            col(RoleGrant.revoked_at).is_(None),
        )
    )
    if existing.first():
        return False
    session.add(RoleGrant(person_id=person_id, compound_id=compound_id, role=role, building_id=building_id, granted_by=by))
    await session.flush()
    note_roles_changed(session, person_id)
    return True


# Whose roles a transaction changed (in `session.info`): after the commit the core tells the transports, which set
# those people's command menus (bot/core/menus.py).
ROLES_CHANGED = "linli.roles_changed"


def note_roles_changed(session: AsyncSession, person_id: int) -> None:
    session.info.setdefault(ROLES_CHANGED, set()).add(person_id)


def roles_changed(session: AsyncSession) -> frozenset[int]:
    return frozenset(session.info.get(ROLES_CHANGED, ()))


async def revoke_role(session: AsyncSession, person_id: int, compound_id: int, role: Role, now: datetime) -> int:
    result = await session.exec(
        select(RoleGrant).where(
            RoleGrant.person_id == person_id,
            RoleGrant.compound_id == compound_id,
            RoleGrant.role == role,
            col(RoleGrant.revoked_at).is_(None),
        )
    )
    grants = list(result.all())
    for grant in grants:
        grant.revoked_at = now
        session.add(grant)
    if grants:
        note_roles_changed(session, person_id)
    return len(grants)


async def approved_members(session: AsyncSession, compound_id: int) -> list[int]:
    result = await session.exec(
        select(Membership.person_id)
        .where(Membership.compound_id == compound_id, Membership.status == MembershipStatus.APPROVED)
        .order_by(col(Membership.id))
    )
    return list(dict.fromkeys(result.all()))


async def compounds_of(session: AsyncSession, person_id: int) -> list[int]:
    """The compounds a person acts in: by their approved rooms, then their role grants, then their departments
    and property companies. One fixed query: it runs on every message of someone without a compound yet (a
    newcomer joining)."""
    return list(dict.fromkeys(row[1] for row in await _compounds_of().rows(session, person_id=person_id)))


@functools.cache
def _compounds_of() -> Prepared:
    from storage.organisations import derived_compound_queries

    person: sa.BindParameter[int] = sa.bindparam("person_id")
    parts = (select(Membership.compound_id).where(Membership.person_id == person,
                                                  Membership.status == MembershipStatus.APPROVED),
             select(RoleGrant.compound_id).where(RoleGrant.person_id == person, col(RoleGrant.revoked_at).is_(None)),
             *derived_compound_queries(person))
    # Each part's rows in turn, as the parts' order says which compound comes first.
    return Prepared(sa.union_all(*(part.with_only_columns(sa.literal_column(str(order)).label("part"),
                                                      *part.selected_columns)
                                   for order, part in enumerate(parts))).order_by(sa.text("part")))


def normalize_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    # Mainland numbers arrive as +86 138..., 0086 138... or 138...
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
    return digits


# A phone number as people write it: digits (ASCII or full-width), spaces, dashes, dots, brackets, a leading plus.
# No letters: the library would read 1-800-FLOWERS as digits, and "x" as an extension.
_PHONE_WRITTEN = re.compile(r"[+＋]?[0-9０-９ \-－.．()（）]{3,40}")


def phone_number(written: str) -> str | None:
    """The one phone check, by Google's numbering plans (`phonenumbers`): a real number as the digits that
    `normalize_phone` compares (mainland numbers in their national form, 13912345678 or 01012345678; others with
    their country code, 85291234567), or None (1390000000x, 12345678901, 95588, a number with letters)."""
    text = written.strip()
    if not _PHONE_WRITTEN.fullmatch(text):
        return None
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.region_code_for_number(number) == "CN":
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        return "".join(ch for ch in national if ch.isdigit())
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


async def own_rooms(session: AsyncSession, person_id: int, compound_id: int) -> list[int]:
    """The rooms this person is an approved member of in the compound, each once."""
    result = await session.exec(select(Membership.room_id).where(
        Membership.person_id == person_id, Membership.compound_id == compound_id,
        Membership.status == MembershipStatus.APPROVED, col(Membership.room_id).is_not(None)))
    return [room for room in dict.fromkeys(result.all()) if room is not None]


# ---- leaving and forgetting (storage/privacy.py composes these) ------------------------------------------------


async def is_last_secretary(session: AsyncSession, person_id: int, compound_id: int) -> bool:
    """The person is the compound's only secretary: a compound always keeps one, so they cannot go yet."""
    return await people_with_role(session, compound_id, Role.SECRETARY) == [person_id]


async def last_secretary_of(session: AsyncSession, person_id: int) -> list[int]:
    """The compounds whose only secretary this person is."""
    result = await session.exec(select(RoleGrant.compound_id).where(
        RoleGrant.person_id == person_id, RoleGrant.role == Role.SECRETARY, col(RoleGrant.revoked_at).is_(None)))
    return [c for c in dict.fromkeys(result.all()) if await is_last_secretary(session, person_id, c)]


async def revoke_all_roles(session: AsyncSession, person_id: int, compound_id: int | None, now: datetime) -> int:
    """Every role the person holds in the compound (everywhere with None) ends now; the rows stay for the record."""
    query = select(RoleGrant).where(RoleGrant.person_id == person_id, col(RoleGrant.revoked_at).is_(None))
    if compound_id is not None:
        query = query.where(RoleGrant.compound_id == compound_id)
    grants = list((await session.exec(query)).all())
    for grant in grants:
        grant.revoked_at = now
        session.add(grant)
    if grants:
        note_roles_changed(session, person_id)
    return len(grants)


async def mark_left(session: AsyncSession, person_id: int, compound_id: int) -> list[Membership]:
    """The person's memberships in the compound, approved or waiting, become LEFT (the rows stay: who lived where
    and when is part of the compound's records). Returns them."""
    result = await session.exec(select(Membership).where(
        Membership.person_id == person_id, Membership.compound_id == compound_id,
        col(Membership.status).in_([MembershipStatus.APPROVED, MembershipStatus.PENDING])))
    memberships = list(result.all())
    for membership in memberships:
        membership.status = MembershipStatus.LEFT
        session.add(membership)
    return memberships
