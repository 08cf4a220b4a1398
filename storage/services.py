"""The services list (服务清单) and order-a-service (点单式服务): services with time slots and a capacity,
orders that the provider accepts, moves or completes, and the resident's rating."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import UTCDateTime, status_field, utcnow
from storage.people import Person, Role, compounds_of, people_with_role


class OrderStatus(StrEnum):
    REQUESTED = "requested"  # waits for the provider
    ACCEPTED = "accepted"  # the provider took it (接单)
    PROPOSED = "proposed"  # the provider offered another slot; the order still holds its own until moved
    DONE = "done"
    CANCELLED = "cancelled"


# Orders that hold a place in their slot.
HOLDING = (OrderStatus.REQUESTED, OrderStatus.ACCEPTED, OrderStatus.PROPOSED)
REMIND_BEFORE = timedelta(hours=2)
TITLE_MAX = 100
# A slot lasts at most this long, holds at most this many people; a service has at most this many slots at once.
SLOT_MINUTES, SLOT_PLACES, SLOTS_AT_ONCE = (5, 720), (1, 999), 30


class Service(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    title: str = Field(max_length=TITLE_MAX)
    provider_name: str = Field(max_length=TITLE_MAX)
    # A member who provides it and handles its orders; otherwise the secretaries do.
    provider_person_id: int | None = Field(default=None, foreign_key="person.id")
    description: str = Field(default="", max_length=500)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ServiceSlot(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    service_id: int = Field(foreign_key="service.id", index=True)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    capacity: int = 1


class ServiceOrder(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("slot_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    service_id: int = Field(foreign_key="service.id", index=True)
    slot_id: int = Field(foreign_key="serviceslot.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    status: OrderStatus = status_field(OrderStatus, OrderStatus.REQUESTED, 12)
    proposed_slot_id: int | None = Field(default=None, foreign_key="serviceslot.id")
    rating: int | None = None
    comment: str = Field(default="", max_length=500)
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


async def taken(session: AsyncSession, slot_id: int) -> int:
    result = await session.exec(
        select(func.count()).select_from(ServiceOrder).where(
            ServiceOrder.slot_id == slot_id, col(ServiceOrder.status).in_(HOLDING))
    )
    return int(result.one())


async def order_of(session: AsyncSession, slot_id: int, person_id: int) -> ServiceOrder | None:
    """The person's order of a slot, whatever its state (one row per slot and person)."""
    result = await session.exec(
        select(ServiceOrder).where(ServiceOrder.slot_id == slot_id, ServiceOrder.person_id == person_id))
    return result.first()


async def lock_slot(session: AsyncSession, slot_id: int) -> ServiceSlot | None:
    """Read a slot so that its capacity check and the order insert are not interleaved by another process."""
    query = select(ServiceSlot).where(ServiceSlot.id == slot_id)
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def active_services(session: AsyncSession, compound_id: int) -> list[Service]:
    result = await session.exec(
        select(Service).where(Service.compound_id == compound_id, col(Service.active).is_(True)).order_by(col(Service.id))
    )
    return list(result.all())


async def open_slots(session: AsyncSession, service_id: int, now: datetime) -> list[tuple[ServiceSlot, int]]:
    result = await session.exec(
        select(ServiceSlot).where(ServiceSlot.service_id == service_id, col(ServiceSlot.starts_at) > now)
        .order_by(col(ServiceSlot.starts_at))
    )
    return [(slot, slot.capacity - await taken(session, slot.id or 0)) for slot in result.all()]


async def orders_of(session: AsyncSession, person_id: int) -> list[tuple[ServiceOrder, Service, ServiceSlot]]:
    result = await session.exec(
        select(ServiceOrder, Service, ServiceSlot)
        .join(Service, col(Service.id) == ServiceOrder.service_id)
        .join(ServiceSlot, col(ServiceSlot.id) == ServiceOrder.slot_id)
        .where(ServiceOrder.person_id == person_id)
        .order_by(col(ServiceSlot.starts_at).desc())
        .limit(20)
    )
    return [(o, s, sl) for o, s, sl in result.all()]


async def due_reminders(session: AsyncSession, now: datetime) -> list[tuple[ServiceOrder, Service, ServiceSlot]]:
    result = await session.exec(
        select(ServiceOrder, Service, ServiceSlot)
        .join(Service, col(Service.id) == ServiceOrder.service_id)
        .join(ServiceSlot, col(ServiceSlot.id) == ServiceOrder.slot_id)
        .where(
            col(ServiceOrder.status).in_((OrderStatus.REQUESTED, OrderStatus.ACCEPTED)),
            col(ServiceOrder.reminded_at).is_(None),
            col(ServiceSlot.starts_at) > now,
            col(ServiceSlot.starts_at) <= now + REMIND_BEFORE,
        )
    )
    return [(o, s, sl) for o, s, sl in result.all()]


async def claim_reminder(session: AsyncSession, order_id: int, now: datetime) -> bool:
    result = await session.exec(
        sa.update(ServiceOrder)
        .where(col(ServiceOrder.id) == order_id, col(ServiceOrder.reminded_at).is_(None))
        .values(reminded_at=now)
    )
    return result.rowcount == 1


# ---- domain actions: each checks the transition, sets its fields and says what happened ---------------------------


@dataclass(frozen=True, slots=True)
class NewSlot:
    starts_at: datetime
    minutes: int
    capacity: int


async def member_name(session: AsyncSession, compound_id: int, person_id: int) -> str | None:
    """The name of a member of the compound who may provide a service (None: no such member)."""
    if compound_id not in await compounds_of(session, person_id):
        return None
    person = await session.get(Person, person_id)
    return person.name if person is not None else None


async def add_service(session: AsyncSession, compound_id: int, title: str, provider_name: str,
                      provider_person_id: int | None, slots: Sequence[NewSlot], now: datetime) -> Service | None:
    """A service on the list with its time slots. None (nothing written) when a slot is no longer to come."""
    if not slots or len(slots) > SLOTS_AT_ONCE or not 0 < len(title) <= TITLE_MAX or len(provider_name) > TITLE_MAX:
        raise ValueError("a service needs a title and 1 to SLOTS_AT_ONCE slots")
    for slot in slots:
        if not (SLOT_MINUTES[0] <= slot.minutes <= SLOT_MINUTES[1] and SLOT_PLACES[0] <= slot.capacity <= SLOT_PLACES[1]):
            raise ValueError("a slot's minutes or places are out of bounds")
    if any(slot.starts_at <= now for slot in slots):
        return None
    if provider_person_id is not None and await member_name(session, compound_id, provider_person_id) is None:
        raise ValueError("the provider is not a member of the compound")
    service = Service(compound_id=compound_id, title=title, provider_name=provider_name,
                      provider_person_id=provider_person_id, created_at=now)
    session.add(service)
    await session.flush()
    assert service.id is not None  # just flushed
    for slot in slots:
        session.add(ServiceSlot(service_id=service.id, starts_at=slot.starts_at,
                                ends_at=slot.starts_at + timedelta(minutes=slot.minutes), capacity=slot.capacity))
    await session.flush()
    return service


async def order_handlers(session: AsyncSession, service: Service) -> list[int]:
    """Who receives and handles the service's orders: its provider if a member, else the secretaries."""
    if service.provider_person_id is not None:
        return [service.provider_person_id]
    return await people_with_role(session, service.compound_id, Role.SECRETARY)


async def may_handle(session: AsyncSession, service: Service, person_id: int) -> bool:
    """The provider and the secretaries of the compound handle its orders."""
    return (person_id == service.provider_person_id
            or person_id in await people_with_role(session, service.compound_id, Role.SECRETARY))


class Ordered(StrEnum):
    ORDERED = "ordered"
    ALREADY = "already"  # the person holds a place in this slot already (the order is that one)
    FULL = "full"
    PASSED = "passed"
    GONE = "gone"  # no such slot in this compound, or the service is no longer offered


@dataclass(frozen=True, slots=True)
class Placed:
    outcome: Ordered
    order: ServiceOrder | None = None
    service: Service | None = None
    slot: ServiceSlot | None = None


async def place_order(session: AsyncSession, slot_id: int, person_id: int, compound_id: int,
                      now: datetime) -> Placed:
    """A place in the slot for the person: one order per slot and person (a cancelled one is taken up again), and
    never more orders holding a place than the slot has places."""
    slot = await lock_slot(session, slot_id)
    service = await session.get(Service, slot.service_id) if slot is not None else None
    if slot is None or service is None or service.compound_id != compound_id or not service.active:
        return Placed(Ordered.GONE)
    if slot.starts_at <= now:
        return Placed(Ordered.PASSED, service=service, slot=slot)
    existing = await order_of(session, slot_id, person_id)
    if existing is not None and existing.status in HOLDING:
        return Placed(Ordered.ALREADY, existing, service, slot)
    if await taken(session, slot_id) >= slot.capacity:
        return Placed(Ordered.FULL, service=service, slot=slot)
    row = existing or ServiceOrder(service_id=slot.service_id, slot_id=slot_id, person_id=person_id)
    row.status, row.created_at, row.rating, row.comment = OrderStatus.REQUESTED, now, None, ""
    row.proposed_slot_id, row.reminded_at, row.done_at = None, None, None
    session.add(row)
    await session.flush()
    return Placed(Ordered.ORDERED, row, service, slot)


def finished(order: ServiceOrder) -> bool:
    return order.status in (OrderStatus.DONE, OrderStatus.CANCELLED)


async def accept(session: AsyncSession, order: ServiceOrder) -> bool:
    """The provider takes the order (接单), at its own time if another one was proposed. False unless it waited."""
    if order.status not in (OrderStatus.REQUESTED, OrderStatus.PROPOSED):
        return False
    order.status, order.proposed_slot_id = OrderStatus.ACCEPTED, None
    session.add(order)
    return True


class Proposal(StrEnum):
    PROPOSED = "proposed"
    UNSUITABLE = "unsuitable"  # another service's slot, the order's own, passed, or full
    FINISHED = "finished"


async def propose(session: AsyncSession, order: ServiceOrder, slot_id: int, now: datetime) -> Proposal:
    """The provider offers another slot of the same service with a free place; the resident decides."""
    if finished(order):
        return Proposal.FINISHED
    slot = await session.get(ServiceSlot, slot_id)
    if (slot is None or slot.service_id != order.service_id or slot.id == order.slot_id or slot.starts_at <= now
            or await taken(session, slot_id) >= slot.capacity):
        return Proposal.UNSUITABLE
    order.status, order.proposed_slot_id = OrderStatus.PROPOSED, slot_id
    session.add(order)
    return Proposal.PROPOSED


class Moved(StrEnum):
    MOVED = "moved"
    STALE = "stale"  # nothing is proposed (any more)
    FULL = "full"  # the proposed slot filled up meanwhile, or has passed
    CLASH = "clash"  # the person holds (or has had done) an order of that slot already


async def move(session: AsyncSession, order: ServiceOrder, now: datetime) -> tuple[Moved, ServiceSlot | None]:
    """The resident accepts the proposed slot: the order moves there, accepted, if a place is still free."""
    if order.status != OrderStatus.PROPOSED or order.proposed_slot_id is None:
        return Moved.STALE, None
    slot = await lock_slot(session, order.proposed_slot_id)
    if slot is None or slot.starts_at <= now or await taken(session, order.proposed_slot_id) >= slot.capacity:
        return Moved.FULL, slot
    clash = await order_of(session, order.proposed_slot_id, order.person_id)
    if clash is not None:
        if clash.status != OrderStatus.CANCELLED:
            return Moved.CLASH, slot
        await session.delete(clash)  # a cancelled order of that slot gives way (one row per slot and person)
        await session.flush()
    order.slot_id, order.proposed_slot_id, order.status, order.reminded_at = (
        order.proposed_slot_id, None, OrderStatus.ACCEPTED, None)
    session.add(order)
    return Moved.MOVED, slot


async def cancel_order(session: AsyncSession, order: ServiceOrder, person_id: int) -> bool:
    """The resident cancels their own order; its place is free again. False unless it held one."""
    if order.person_id != person_id or order.status not in HOLDING:
        return False
    order.status, order.proposed_slot_id = OrderStatus.CANCELLED, None
    session.add(order)
    return True


async def complete(session: AsyncSession, order: ServiceOrder, now: datetime) -> bool:
    """The provider marks the service given. False once finished."""
    if order.status not in HOLDING:
        return False
    order.status, order.proposed_slot_id, order.done_at = OrderStatus.DONE, None, now
    session.add(order)
    return True


class Rated(StrEnum):
    RATED = "rated"
    ALREADY = "already"
    REFUSED = "refused"  # not the person's order, not done, or no 1 to 5 stars


async def rate(session: AsyncSession, order: ServiceOrder, person_id: int, stars: int) -> Rated:
    """The resident's stars for a service done, once."""
    if order.person_id != person_id or order.status != OrderStatus.DONE or not 1 <= stars <= 5:
        return Rated.REFUSED
    if order.rating is not None:
        return Rated.ALREADY
    order.rating = stars
    session.add(order)
    return Rated.RATED
