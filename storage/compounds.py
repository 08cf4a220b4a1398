"""Places: compounds, buildings, units, rooms (with exclusive floor area), and the chats bound to them."""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import JSONDict, Stored, UTCDateTime, utcnow

# Codes are read aloud and typed on phones: no 0/O or 1/I/L.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_code(length: int = 8) -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


class Compound(Stored, SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True, index=True)
    name: str = Field(max_length=100)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    language: str = Field(default="zh_CN", max_length=8)
    # 社区 / 街道: the grouping officials oversee.
    community: str = Field(default="", max_length=100)
    street: str = Field(default="", max_length=100, index=True)
    invite_code: str = Field(max_length=16, unique=True, index=True)
    claim_code: str | None = Field(default=None, max_length=16, unique=True)
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDict)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Building(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("compound_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    name: str = Field(max_length=50)
    sort: int = 0


class Unit(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("building_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    building_id: int = Field(foreign_key="building.id", index=True)
    name: str = Field(max_length=50)
    sort: int = 0


class Room(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("unit_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    building_id: int = Field(foreign_key="building.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    number: str = Field(max_length=20)
    floor: int = 0
    # 专有部分面积, m², as registered; the weight of the room's vote.
    area: Decimal = Field(sa_type=sa.Numeric(12, 2))
    # Rooms the developer has not sold or delivered count together as one owner (SPC interpretation, Art. 9).
    unsold: bool = False


class RosterOwner(SQLModel, table=True):
    """An owner as the roster names them, before they join; a matching phone approves a join at once."""

    id: int | None = Field(default=None, primary_key=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    name: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=32, index=True)


class Chat(SQLModel, table=True):
    """A platform chat the bot has seen: a private chat with one person or a group bound to a compound."""

    __table_args__ = (sa.UniqueConstraint("platform", "platform_chat_id"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    platform_chat_id: str = Field(max_length=128)
    kind: str = Field(max_length=8)  # private | group
    title: str = Field(default="", max_length=200)
    compound_id: int | None = Field(default=None, foreign_key="compound.id", index=True)
    building_id: int | None = Field(default=None, foreign_key="building.id")
    active: bool = True
    # Set when the platform refuses us for good (kicked, blocked); the secretary sees it.
    unreachable: bool = False
    # Platform-specific delivery settings (a WeCom robot webhook key, say), never shown again.
    secrets: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDict)


def room_label(building: str, unit: str, number: str) -> str:
    return f"{building}{unit}{number}"


async def compound_by_code(session: AsyncSession, code: str) -> Compound | None:
    result = await session.exec(select(Compound).where(Compound.code == code.strip().upper()))
    return result.first()


async def compound_by_invite(session: AsyncSession, invite: str) -> Compound | None:
    result = await session.exec(select(Compound).where(Compound.invite_code == invite.strip().upper()))
    return result.first()


async def create_compound(
    session: AsyncSession, name: str, code: str, timezone: str = "Asia/Shanghai", street: str = ""
) -> Compound:
    compound = Compound(
        name=name,
        code=code.strip().upper(),
        timezone=timezone,
        street=street,
        invite_code=new_code(),
        claim_code=new_code(),
    )
    session.add(compound)
    await session.flush()
    return compound


async def buildings_of(session: AsyncSession, compound_id: int) -> list[Building]:
    result = await session.exec(
        select(Building).where(Building.compound_id == compound_id).order_by(col(Building.sort), col(Building.id))
    )
    return list(result.all())


async def units_of(session: AsyncSession, building_id: int) -> list[Unit]:
    result = await session.exec(
        select(Unit).where(Unit.building_id == building_id).order_by(col(Unit.sort), col(Unit.id))
    )
    return list(result.all())


async def rooms_of(session: AsyncSession, unit_id: int) -> list[Room]:
    result = await session.exec(select(Room).where(Room.unit_id == unit_id).order_by(col(Room.floor), col(Room.number)))
    return list(result.all())


async def describe_room(session: AsyncSession, room_id: int) -> str:
    row = (
        await session.exec(
            select(Building.name, Unit.name, Room.number)
            .join(Unit, col(Unit.building_id) == Building.id)
            .join(Room, col(Room.unit_id) == Unit.id)
            .where(Room.id == room_id)
        )
    ).first()
    return room_label(*row) if row else "?"


async def all_compounds(session: AsyncSession) -> list[Compound]:
    return list((await session.exec(select(Compound).order_by(col(Compound.id)))).all())


async def chat_at(session: AsyncSession, platform: str, platform_chat_id: str) -> Chat | None:
    """The chat a platform knows by this id, if the bot has seen it."""
    result = await session.exec(select(Chat).where(Chat.platform == platform, Chat.platform_chat_id == platform_chat_id))
    return result.first()


async def group_chats(session: AsyncSession, compound_id: int, building_id: int | None = None) -> list[Chat]:
    query = select(Chat).where(
        Chat.compound_id == compound_id, Chat.kind == "group", col(Chat.active).is_(True)
    )
    if building_id is not None:
        query = query.where(sa.or_(col(Chat.building_id).is_(None), col(Chat.building_id) == building_id))
    result = await session.exec(query.order_by(col(Chat.id)))
    return list(result.all())


def compound_setting(compound: Compound, key: str, default: Any) -> Any:
    """Per-compound settings override the documented defaults (rates, deadlines, schedules)."""
    return compound.settings.get(key, default)
