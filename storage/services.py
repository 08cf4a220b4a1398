"""The services list (服务清单) and order-a-service (点单式服务): services with time slots and a capacity,
orders that the provider accepts, moves or completes, and the resident's rating."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import UTCDateTime, utcnow

# Orders that hold a place in their slot.
HOLDING = ("requested", "accepted", "proposed")
REMIND_BEFORE = timedelta(hours=2)


class Service(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    title: str = Field(max_length=100)
    provider_name: str = Field(max_length=100)
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
    # requested | accepted | proposed (provider offered another slot) | done | cancelled
    status: str = Field(default="requested", max_length=12)
    proposed_slot_id: int | None = Field(default=None, foreign_key="serviceslot.id")
    rating: int | None = None
    comment: str = Field(default="", max_length=500)
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


SLOT_LINE = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2})\s+(\d{1,2}:\d{2})\s+(\d{1,4})\s+(\d{1,3})\s*$")


def parse_slots(text: str, zone: ZoneInfo, now: datetime) -> tuple[list[tuple[datetime, datetime, int]], list[int]]:
    """Lines "2026-11-28 09:00 60 5" (start, minutes, capacity) → slots, and the numbers of bad lines."""
    slots: list[tuple[datetime, datetime, int]] = []
    bad: list[int] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = SLOT_LINE.match(line)
        if match is None:
            bad.append(number)
            continue
        try:
            start = datetime.strptime(f"{match.group(1)} {match.group(2)}", "%Y-%m-%d %H:%M").replace(tzinfo=zone)
        except ValueError:
            bad.append(number)
            continue
        minutes, capacity = int(match.group(3)), int(match.group(4))
        if start <= now or minutes <= 0 or capacity <= 0:
            bad.append(number)
            continue
        slots.append((start, start + timedelta(minutes=minutes), capacity))
    return slots, bad


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
            col(ServiceOrder.status).in_(("requested", "accepted")),
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
