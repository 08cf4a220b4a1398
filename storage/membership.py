"""Joining a compound: roster matching, pending approvals and their decisions."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.compounds import Room, RosterOwner
from storage.people import Membership, MembershipStatus, Person, normalize_phone


async def roster_match(session: AsyncSession, room_id: int, phone: str) -> RosterOwner | None:
    """The roster owner of this room with this phone number, if any (numbers compared as digits)."""
    wanted = normalize_phone(phone)
    if not wanted:
        return None
    owners = await session.exec(select(RosterOwner).where(RosterOwner.room_id == room_id))
    for owner in owners.all():
        if normalize_phone(owner.phone) == wanted:
            return owner
    return None


async def existing_membership(session: AsyncSession, person_id: int, room_id: int) -> Membership | None:
    result = await session.exec(
        select(Membership).where(
            Membership.person_id == person_id,
            Membership.room_id == room_id,
            col(Membership.status).in_([MembershipStatus.PENDING, MembershipStatus.APPROVED]),
        )
    )
    return result.first()


async def decide(session: AsyncSession, membership: Membership, approve: bool, by: int | None, now: datetime) -> None:
    membership.status = MembershipStatus.APPROVED if approve else MembershipStatus.REJECTED
    membership.decided_by = by
    membership.decided_at = now
    session.add(membership)
    if approve:
        person = await session.get(Person, membership.person_id)
        if person is not None and person.current_compound_id is None:
            person.current_compound_id = membership.compound_id
            session.add(person)


async def room_of(session: AsyncSession, room_id: int) -> Room | None:
    return await session.get(Room, room_id)


async def members_page(
    session: AsyncSession, compound_id: int, offset: int, limit: int
) -> list[tuple[Person, Membership]]:
    result = await session.exec(
        select(Person, Membership)
        .join(Membership, col(Membership.person_id) == Person.id)
        .where(Membership.compound_id == compound_id, col(Membership.status).in_([MembershipStatus.APPROVED, MembershipStatus.PENDING]))
        .order_by(col(Membership.status).desc(), col(Person.id))
        .offset(offset)
        .limit(limit)
    )
    return [(p, m) for p, m in result.all()]
