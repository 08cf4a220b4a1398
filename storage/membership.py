"""Joining a compound and managing its people: the places a newcomer names, roster matching, join requests and
the secretary's decisions, claiming a compound, switching between one's compounds, granting and revoking
roles, binding group chats. Each domain action checks what it may do and says what happened; handlers converse."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import db
from storage.compounds import (
    Building,
    Chat,
    Compound,
    Room,
    RosterOwner,
    Unit,
    buildings_of,
    room_label,
    rooms_of,
    units_of,
)
from storage.db import Prepared
from storage.intake import insert_row
from storage.people import (
    Membership,
    MembershipStatus,
    Person,
    Role,
    compounds_of,
    grant_role,
    normalize_phone,
    people_with_role,
    revoke_role,
    roles_in,
)
from storage.places import label_key, place_key

# ---- the places a newcomer names ------------------------------------------------------------------------------


def match_place(options: Mapping[int, str], typed: str) -> int | None:
    """The option (id → name) a person typed: the exact name, or the name with or without its 栋/单元/号/室, in
    simplified or traditional characters (1棟, 1單元, 12號樓), full-width digits forgiven (storage/places.py);
    None when nothing or more than one option fits."""
    if not typed.strip() or len(typed) > 64:
        return None
    exact = [option for option, name in options.items() if name == typed.strip()]
    if len(exact) == 1:
        return exact[0]
    key = place_key(typed)
    found = [option for option, name in options.items() if place_key(name) == key]
    return found[0] if len(found) == 1 else None


def _pick(options: Mapping[int, str], answer: int | str) -> int | None:
    """A pressed option's id (if it is one of `options`) or the one whose name was typed."""
    if isinstance(answer, int):
        return answer if answer in options else None
    return match_place(options, answer)


async def pick_building(session: AsyncSession, compound_id: int, answer: int | str) -> Building | None:
    """The compound's building pressed (its id) or typed (its name, with or without 栋)."""
    buildings = {b.id or 0: b for b in await buildings_of(session, compound_id)}
    picked = _pick({i: b.name for i, b in buildings.items()}, answer)
    return buildings[picked] if picked is not None else None


async def pick_unit(session: AsyncSession, building_id: int, answer: int | str) -> Unit | None:
    units = {u.id or 0: u for u in await units_of(session, building_id)}
    picked = _pick({i: u.name for i, u in units.items()}, answer)
    return units[picked] if picked is not None else None


async def pick_room(session: AsyncSession, unit_id: int, answer: int | str) -> Room | None:
    rooms = {r.id or 0: r for r in await rooms_of(session, unit_id)}
    picked = _pick({i: r.number for i, r in rooms.items()}, answer)
    return rooms[picked] if picked is not None else None


async def room_by_address(session: AsyncSession, compound_id: int, typed: str) -> Room | None:
    """The compound's one room whose whole label a person typed (1栋1单元301, 1棟1單元301室, ...); None when no
    room, or more than one, fits."""
    if not typed.strip() or len(typed) > 64:
        return None
    wanted = label_key(typed)
    rows = await session.exec(select(Room, Building.name, Unit.name)
                              .join(Unit, col(Unit.id) == Room.unit_id).join(Building, col(Building.id) == Room.building_id)
                              .where(Room.compound_id == compound_id))
    found = [room for room, building, unit in rows.all() if label_key(room_label(building, unit, room.number)) == wanted]
    return found[0] if len(found) == 1 else None


async def building_named(session: AsyncSession, compound_id: int, name: str) -> Building | None:
    """A building of the compound by its name as typed in a command ("1" or "1栋")."""
    return await pick_building(session, compound_id, name)


# ---- joining -----------------------------------------------------------------------------------------------


_ROSTER = Prepared(select(RosterOwner).where(RosterOwner.room_id == sa.bindparam("room_id")), RosterOwner)


async def roster_match(session: AsyncSession, room_id: int, phone: str) -> RosterOwner | None:
    """The roster owner of this room with this phone number, if any (numbers compared as digits)."""
    wanted = normalize_phone(phone)
    if not wanted:
        return None
    for owner in await _ROSTER.objects(session, room_id=room_id):
        if normalize_phone(owner.phone) == wanted:
            return owner
    return None


async def existing_membership(session: AsyncSession, person_id: int, room_id: int) -> Membership | None:
    found = await _EXISTING.objects(session, person_id=person_id, room_id=room_id)
    return found[0] if found else None


# Asked at a newcomer's room step and again at their request: a fixed query on the driver (storage.db.Prepared).
_EXISTING = Prepared(select(Membership).where(
    Membership.person_id == sa.bindparam("person_id"), Membership.room_id == sa.bindparam("room_id"),
    col(Membership.status).in_([MembershipStatus.PENDING, MembershipStatus.APPROVED])).limit(1), Membership)


class Joined(StrEnum):
    """What asking to join a room came to."""

    APPROVED = "approved"  # the shared phone number is the roster owner's: approved at once, as the owner
    WAITING = "waiting"  # a request for the secretaries to decide
    ALREADY_MEMBER = "already_member"
    ALREADY_WAITING = "already_waiting"


@dataclass(frozen=True, slots=True)
class JoinRequest:
    outcome: Joined
    membership: Membership | None = None


async def request_join(session: AsyncSession, person_id: int, room_id: int, relation: str, phone: str,
                       verified: bool, now: datetime) -> JoinRequest:
    """A person asks to join the compound of `room_id` as `relation` (owner | tenant). A `verified` phone (shared
    by the platform as their own) is kept on the person and, when the roster lists it for the room, approves them
    as its owner at once (and they act in that compound from now on). A typed number never approves anyone."""
    existing = await existing_membership(session, person_id, room_id)
    if existing is not None:
        return JoinRequest(Joined.ALREADY_MEMBER if existing.status == MembershipStatus.APPROVED
                           else Joined.ALREADY_WAITING, existing)
    room = await db.get(session, Room, room_id)
    person = await db.get(session, Person, person_id)
    if room is None or person is None or relation not in ("owner", "tenant"):
        raise ValueError("a join request needs a stored room, a stored person and owner or tenant")
    match = None
    if verified and phone:
        person.phone = phone[:32]
        session.add(person)
        match = await roster_match(session, room_id, phone)
    membership = Membership(person_id=person_id, compound_id=room.compound_id, room_id=room_id,
                            relation="owner" if match is not None else relation, created_at=now)
    if match is not None:  # approved by the roster: stored so at once
        _decide(membership, MembershipStatus.APPROVED, None, now)
        person.current_compound_id = room.compound_id
        session.add(person)
    await insert_row(session, membership)
    return JoinRequest(Joined.WAITING if match is None else Joined.APPROVED, membership)


class Decision(StrEnum):
    """What a secretary's Approve / Reject came to."""

    DONE = "done"
    NOT_HERE = "not_here"  # no such request in the secretary's compound
    ALREADY = "already"  # decided before


def _decide(membership: Membership, status: MembershipStatus, by: int | None, now: datetime) -> None:
    membership.status = status
    membership.decided_by = by
    membership.decided_at = now


async def _pending_request(session: AsyncSession, membership_id: int,
                           compound_id: int) -> tuple[Decision, Membership | None]:
    membership = await session.get(Membership, membership_id)
    if membership is None or membership.compound_id != compound_id:
        return Decision.NOT_HERE, None
    if membership.status != MembershipStatus.PENDING:
        return Decision.ALREADY, membership
    return Decision.DONE, membership


async def approve(session: AsyncSession, membership_id: int, compound_id: int, by: int,
                  now: datetime) -> tuple[Decision, Membership | None]:
    """A secretary of `compound_id` approves a pending request: the person becomes a resident (and acts in this
    compound if it is their first)."""
    decision, membership = await _pending_request(session, membership_id, compound_id)
    if decision != Decision.DONE or membership is None:
        return decision, membership
    _decide(membership, MembershipStatus.APPROVED, by, now)
    session.add(membership)
    person = await session.get(Person, membership.person_id)
    if person is not None and person.current_compound_id is None:
        person.current_compound_id = membership.compound_id
        session.add(person)
    return decision, membership


async def reject(session: AsyncSession, membership_id: int, compound_id: int, by: int,
                 now: datetime) -> tuple[Decision, Membership | None]:
    decision, membership = await _pending_request(session, membership_id, compound_id)
    if decision == Decision.DONE and membership is not None:
        _decide(membership, MembershipStatus.REJECTED, by, now)
        session.add(membership)
    return decision, membership


async def room_of(session: AsyncSession, room_id: int) -> Room | None:
    return await session.get(Room, room_id)


# ---- compounds a person acts in ------------------------------------------------------------------------------


async def claim_compound(session: AsyncSession, code: str, person_id: int) -> Compound | None:
    """The one-time secretary code of a new compound: its claimer becomes its secretary and acts there. None when
    the code is not valid (or was used)."""
    code = code.strip().upper()[:16]
    if not code:
        return None
    compound = (await session.exec(select(Compound).where(Compound.claim_code == code))).first()
    if compound is None or compound.id is None:
        return None
    compound.claim_code = None
    session.add(compound)
    await grant_role(session, person_id, compound.id, Role.SECRETARY, by=None)
    await switch_compound(session, person_id, compound.id, check=False)
    return compound


async def my_compounds(session: AsyncSession, person_id: int) -> list[Compound]:
    """The compounds the person belongs to (approved, or holding a role there)."""
    found = [await session.get(Compound, i) for i in await compounds_of(session, person_id)]
    return [c for c in found if c is not None]


async def switch_compound(session: AsyncSession, person_id: int, compound_id: int, check: bool = True) -> Compound | None:
    """The person acts in `compound_id` from now on (a flow already open stays in its own compound). None when
    they do not belong there."""
    if check and compound_id not in await compounds_of(session, person_id):
        return None
    person = await session.get(Person, person_id)
    compound = await session.get(Compound, compound_id)
    if person is None or compound is None:
        return None
    person.current_compound_id = compound_id
    session.add(person)
    return compound


# ---- members and roles ---------------------------------------------------------------------------------------


async def members_page(
    session: AsyncSession, compound_id: int, offset: int, limit: int
) -> list[tuple[Person, Membership]]:
    result = await session.exec(
        select(Person, Membership)
        .join(Membership, col(Membership.person_id) == Person.id)
        .where(Membership.compound_id == compound_id,
               col(Membership.status).in_([MembershipStatus.APPROVED, MembershipStatus.PENDING]))
        .order_by(col(Membership.status).desc(), col(Person.id))
        .offset(offset)
        .limit(limit)
    )
    return [(p, m) for p, m in result.all()]


async def pending_requests(session: AsyncSession, person_id: int, compound_id: int) -> list[Membership]:
    result = await session.exec(select(Membership).where(
        Membership.person_id == person_id, Membership.compound_id == compound_id,
        Membership.status == MembershipStatus.PENDING).order_by(col(Membership.id)))
    return list(result.all())


async def waiting_in(session: AsyncSession, person_id: int) -> list[str]:
    """The names of the compounds where the person's request to join still waits for a secretary."""
    result = await session.exec(select(Compound.name).join(Membership, col(Membership.compound_id) == Compound.id)
                                .where(Membership.person_id == person_id,
                                       Membership.status == MembershipStatus.PENDING).order_by(col(Membership.id)))
    return list(dict.fromkeys(result.all()))


async def member_of(session: AsyncSession, person_id: int, compound_id: int, pending: bool = False) -> Person | None:
    """The person, if they belong to the compound (with `pending`, also if they are waiting for approval there):
    only they can be managed by its secretaries."""
    if compound_id not in await compounds_of(session, person_id) and not (
            pending and await pending_requests(session, person_id, compound_id)):
        return None
    return await session.get(Person, person_id)


class Granted(StrEnum):
    GRANTED = "granted"
    ALREADY = "already"
    NOT_MEMBER = "not_member"
    NOT_OUR_BUILDING = "not_our_building"


async def grant(session: AsyncSession, compound_id: int, person_id: int, role: Role, by: int,
                building_id: int | None = None) -> Granted:
    """A secretary of `compound_id` gives a member a role (a building leader leads one of its buildings)."""
    if await member_of(session, person_id, compound_id) is None:
        return Granted.NOT_MEMBER
    if building_id is not None:
        building = await session.get(Building, building_id)
        if building is None or building.compound_id != compound_id:
            return Granted.NOT_OUR_BUILDING
    if not await grant_role(session, person_id, compound_id, role, by, building_id):
        return Granted.ALREADY
    return Granted.GRANTED


class Revoked(StrEnum):
    REVOKED = "revoked"
    NOT_HELD = "not_held"
    NOT_MEMBER = "not_member"
    LAST_SECRETARY = "last_secretary"


async def revoke(session: AsyncSession, compound_id: int, person_id: int, role: Role, now: datetime) -> Revoked:
    """A secretary of `compound_id` takes a role away; a compound always keeps one secretary."""
    if await member_of(session, person_id, compound_id) is None:
        return Revoked.NOT_MEMBER
    if role == Role.SECRETARY and await people_with_role(session, compound_id, Role.SECRETARY) == [person_id]:
        return Revoked.LAST_SECRETARY
    if await revoke_role(session, person_id, compound_id, role, now) == 0:
        return Revoked.NOT_HELD
    return Revoked.REVOKED


# ---- group chats ---------------------------------------------------------------------------------------------


async def secretary_of(session: AsyncSession, person_id: int) -> list[int]:
    """The compounds where the person is a secretary."""
    return [compound_id for compound_id in await compounds_of(session, person_id)
            if Role.SECRETARY in await roles_in(session, person_id, compound_id)]


async def bind_group(session: AsyncSession, chat: Chat, compound_id: int, building_id: int | None) -> None:
    """Postings of the compound (or of one of its buildings) go to this group chat from now on."""
    chat.compound_id = compound_id
    chat.building_id = building_id
    chat.active = True
    session.add(chat)


# ---- the member list (成员名单) --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listed:
    """One line of the member list: a person in a room (or in no room: staff who live elsewhere)."""

    building: str
    unit: str
    room: str
    name: str
    relation: str  # owner | tenant | "" (no room)
    roles: tuple[str, ...]  # granted roles' codes
    phone: str
    joined_at: datetime | None


async def member_list(session: AsyncSession, compound_id: int) -> list[Listed]:
    """The compound's approved members by building, unit and room (those with no room, such as staff living
    elsewhere, last), with the roles granted to them there."""
    import sqlalchemy as sa

    from storage.people import RoleGrant

    grants: dict[int, list[str]] = {}
    for person_id, role in (await session.exec(select(RoleGrant.person_id, RoleGrant.role).where(
            RoleGrant.compound_id == compound_id, col(RoleGrant.revoked_at).is_(None))
            .order_by(col(RoleGrant.id)))).all():
        if role not in grants.setdefault(person_id, []):
            grants[person_id].append(role)
    rows = await session.execute(  # five entities: beyond select()'s typed overloads
        sa.select(Membership, Person, Room, Unit, Building)
        .join(Person, col(Person.id) == Membership.person_id)
        .outerjoin(Room, col(Room.id) == Membership.room_id)
        .outerjoin(Unit, col(Unit.id) == Room.unit_id)
        .outerjoin(Building, col(Building.id) == Room.building_id)
        .where(col(Membership.compound_id) == compound_id, col(Membership.status) == MembershipStatus.APPROVED))
    listed: list[tuple[tuple[object, ...], Listed]] = []
    seen: set[int] = set()
    for membership, person, room, unit, building in rows.all():
        seen.add(membership.person_id)
        key = (building is None, building.sort if building else 0, building.name if building else "",
               unit.sort if unit else 0, unit.name if unit else "", len(room.number) if room else 0,
               room.number if room else "", person.id or 0)
        listed.append((key, Listed(building.name if building else "", unit.name if unit else "",
                                   room.number if room else "", person.name, membership.relation if room else "",
                                   tuple(grants.get(membership.person_id, ())), person.phone,
                                   membership.decided_at or membership.created_at)))
    # Staff with a role here and no membership (a secretary who lives elsewhere) are on the list too.
    for person_id in sorted(set(grants) - seen):
        person = await session.get(Person, person_id)
        if person is not None:
            listed.append(((True, 0, "", 0, "", 0, "", person_id),
                           Listed("", "", "", person.name, "", tuple(grants[person_id]), person.phone, None)))
    return [line for _key, line in sorted(listed, key=lambda pair: pair[0])]
