"""Places: compounds, buildings, units, rooms (with exclusive floor area), and the chats bound to them."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import JSONDict, Prepared, Stored, UTCDateTime, utcnow

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
    # The roster's own id of the owner (业主编号), when it has one: the same id on several rooms is one owner.
    owner_ref: str = Field(default="", max_length=64)


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


_BY_INVITE = Prepared(select(Compound).where(Compound.invite_code == sa.bindparam("invite")), Compound)


async def compound_by_invite(session: AsyncSession, invite: str) -> Compound | None:
    found = await _BY_INVITE.objects(session, invite=invite.strip().upper())
    return found[0] if found else None


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


# The lists a newcomer picks their room from, step by step: fixed queries on the driver (storage.db.Prepared).
_BUILDINGS = Prepared(select(Building).where(Building.compound_id == sa.bindparam("compound_id"))
                      .order_by(col(Building.sort), col(Building.id)), Building)
_UNITS = Prepared(select(Unit).where(Unit.building_id == sa.bindparam("building_id"))
                  .order_by(col(Unit.sort), col(Unit.id)), Unit)
_ROOMS = Prepared(select(Room).where(Room.unit_id == sa.bindparam("unit_id"))
                  .order_by(col(Room.floor), col(Room.number)), Room)


async def buildings_of(session: AsyncSession, compound_id: int) -> list[Building]:
    return await _BUILDINGS.objects(session, compound_id=compound_id)


async def units_of(session: AsyncSession, building_id: int) -> list[Unit]:
    return await _UNITS.objects(session, building_id=building_id)


async def rooms_of(session: AsyncSession, unit_id: int) -> list[Room]:
    return await _ROOMS.objects(session, unit_id=unit_id)


async def describe_room(session: AsyncSession, room_id: int) -> str:
    rows = await _ROOM_NAMES.rows(session, room_id=room_id)
    return room_label(*rows[0]) if rows else "?"


_ROOM_NAMES = Prepared(select(Building.name, Unit.name, Room.number).join(Unit, col(Unit.building_id) == Building.id)
                       .join(Room, col(Room.unit_id) == Unit.id).where(Room.id == sa.bindparam("room_id")))


async def all_compounds(session: AsyncSession) -> list[Compound]:
    return list((await session.exec(select(Compound).order_by(col(Compound.id)))).all())


async def chat_at(session: AsyncSession, platform: str, platform_chat_id: str) -> Chat | None:
    """The chat a platform knows by this id, if the bot has seen it."""
    result = await session.exec(select(Chat).where(Chat.platform == platform, Chat.platform_chat_id == platform_chat_id))
    return result.first()


async def chat_secrets(session: AsyncSession, platform: str, chat_id: str) -> dict[str, Any]:
    """A chat's delivery settings (a WeCom robot's webhook key, the staff member who confirms customer-group
    posts), for the transport that delivers there: {} for a chat unknown or without any."""
    found = await session.exec(select(Chat.secrets).where(Chat.platform == platform, Chat.platform_chat_id == chat_id))
    return dict(found.first() or {})


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


# ---- the settings an operator may change (`linli compound set CODE KEY VALUE`) ------------------------------


class SettingKind(StrEnum):
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    CLOCK = "clock"  # "20:00"
    CLOCKS = "clocks"  # ["19:00", "08:30"]
    MINUTES = "minutes"  # [1440, 60]
    FRACTION = "fraction"  # "3/5"
    OBJECT = "object"  # JSON, checked further per key
    TEXT = "text"
    TIME_ZONE = "time_zone"
    LANGUAGE = "language"


@dataclass(frozen=True, slots=True)
class SettingSpec:
    kind: SettingKind
    # What the feature uses when the compound has not set it (tests/test_cli.py compares it with the feature's
    # own constant where there is one).
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    # A value to show when the default is none or empty.
    example: Any = None


# Keys of `Compound.settings`, read with `compound_setting` by the feature named before the dot (or in the name).
COMPOUND_SETTINGS: dict[str, SettingSpec] = {
    "complaints.respond_hours": SettingSpec(SettingKind.NUMBER, 24, minimum=1),
    "complaints.resolve_days": SettingSpec(SettingKind.OBJECT, {"1": 3, "2": 7, "3": 15}),
    "complaints.remind_hours": SettingSpec(SettingKind.NUMBER, 24, minimum=1),
    "complaints.close_unrated_hours": SettingSpec(SettingKind.NUMBER, 72, minimum=1),
    "complaints.routing": SettingSpec(SettingKind.OBJECT, {}, example={"noise": {"level": 2, "role": "property"}}),
    "complaints.official_id": SettingSpec(SettingKind.INTEGER, None, minimum=1, example=12),
    "complaints.photo_retention_days": SettingSpec(SettingKind.INTEGER, 365, minimum=0),
    # A department past its deadline is reminded again this often; the street department overdue cases go to.
    "complaints.chase_hours": SettingSpec(SettingKind.NUMBER, 24, minimum=1),
    "complaints.department": SettingSpec(SettingKind.TEXT, "", maximum=100, example="城管"),
    "points_per_hour": SettingSpec(SettingKind.INTEGER, 2, minimum=0),
    "points_per_activity": SettingSpec(SettingKind.INTEGER, 5, minimum=0),
    "yuan_per_point": SettingSpec(SettingKind.INTEGER, 1, minimum=0),
    "volunteer_reminder_hours": SettingSpec(SettingKind.NUMBER, 2, minimum=0, maximum=48),
    "organiser_reminder_time": SettingSpec(SettingKind.CLOCK, "20:00"),
    "meeting_reminder_minutes": SettingSpec(SettingKind.MINUTES, [1440, 60]),
    "assembly_online_replaces_paper": SettingSpec(SettingKind.BOOLEAN, False),
    "assembly.candidate_vetting": SettingSpec(SettingKind.BOOLEAN, True),
    "assembly.vetting_by_official": SettingSpec(SettingKind.BOOLEAN, False),
    "assembly.publicity_days": SettingSpec(SettingKind.INTEGER, 7, minimum=1, maximum=60),
    "assembly.reminders": SettingSpec(SettingKind.TEXT, "opening,halfway,48h,24h", maximum=60),
    "board_schedule": SettingSpec(SettingKind.OBJECT, {"day_of_week": "mon", "hour": 9, "minute": 0}),
    "board_black_allow_names": SettingSpec(SettingKind.BOOLEAN, False),
    "property.survey_weight": SettingSpec(SettingKind.FRACTION, "3/5"),
    "property.complaint_weight": SettingSpec(SettingKind.FRACTION, "2/5"),
    "property.overdue_penalty": SettingSpec(SettingKind.NUMBER, "2", minimum=0),
    "property.grade_a": SettingSpec(SettingKind.NUMBER, "85", minimum=0, maximum=100),
    "property.grade_b": SettingSpec(SettingKind.NUMBER, "70", minimum=0, maximum=100),
    "property.answer_days": SettingSpec(SettingKind.INTEGER, 7, minimum=1),
    "property.rectify_days": SettingSpec(SettingKind.INTEGER, 30, minimum=1),
    "notifications.daily_cap": SettingSpec(SettingKind.INTEGER, 3, minimum=1, maximum=50),
    "notifications.quiet_from": SettingSpec(SettingKind.CLOCK, "21:30"),
    "notifications.quiet_until": SettingSpec(SettingKind.CLOCK, "07:30"),
    "notifications.digest_time": SettingSpec(SettingKind.CLOCK, "20:00"),
}
# Columns of the compound itself that `set` changes too.
COMPOUND_FIELDS: dict[str, SettingSpec] = {
    "name": SettingSpec(SettingKind.TEXT, "", maximum=100),
    "timezone": SettingSpec(SettingKind.TIME_ZONE, "Asia/Shanghai"),
    "language": SettingSpec(SettingKind.LANGUAGE, "zh_CN"),
    "street": SettingSpec(SettingKind.TEXT, "", maximum=100),
    "community": SettingSpec(SettingKind.TEXT, "", maximum=100),
}


class SettingRefused(ValueError):
    """`why` is "unknown" (no such key), "kind" (not a value of the key's kind) or "range" (out of its range)."""

    def __init__(self, key: str, why: str, spec: SettingSpec | None = None) -> None:
        super().__init__(f"{key}: {why}")
        self.key, self.why, self.spec = key, why, spec


_TRUE, _FALSE = {"true", "yes", "on", "1", "是"}, {"false", "no", "off", "0", "否"}
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def _clock(text: str) -> str:
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    return f"{int(match[1]):02d}:{match[2]}"


def _listed(text: str) -> list[Any]:
    """A JSON list, or items separated by commas."""
    value = json.loads(text) if text.strip().startswith("[") else [item for item in text.split(",") if item.strip()]
    if not isinstance(value, list) or not value:
        raise ValueError(text)
    return value


def _number(text: str) -> int | float:
    value = Decimal(text.strip())
    if not value.is_finite():
        raise ValueError(text)
    return int(value) if value == value.to_integral_value() else float(value)


def _checked_object(key: str, value: Any) -> dict[str, Any]:
    """The JSON settings, checked the way their feature reads them."""
    if not isinstance(value, dict):
        raise ValueError(key)
    if key == "complaints.resolve_days":
        if not all(k in ("1", "2", "3") and float(v) > 0 for k, v in value.items()):
            raise ValueError(key)
    elif key == "complaints.routing":
        from storage.complaints import CATEGORY_BY_CODE, category_route

        for category, route in value.items():
            if category not in CATEGORY_BY_CODE or not isinstance(route, dict) or set(route) - {"level", "role"} \
                    or int(route.get("level", 1)) not in (1, 2):
                raise ValueError(key)
            category_route(category, value)  # an unknown role raises ValueError
    elif key == "board_schedule":
        from storage.schedule import next_fire

        if next_fire(value, "UTC", utcnow()) is None:
            raise ValueError(key)
    return value


def _checked_text(key: str, value: str) -> str:
    """The text settings that are lists of words, checked and written the way their feature reads them."""
    if key == "assembly.reminders":
        from storage.assembly import parse_reminders

        return ",".join(parse_reminders(re.split(r"[\s,，、]+", value)))
    return value


def parse_setting(key: str, text: str) -> Any:
    """The value to store for `key` from what an operator typed; SettingRefused when the key is unknown or the
    value is not one of its kind or out of its range."""
    spec = COMPOUND_SETTINGS.get(key) or COMPOUND_FIELDS.get(key)
    if spec is None:
        raise SettingRefused(key, "unknown")
    kind = spec.kind
    try:
        value: Any
        if kind is SettingKind.INTEGER:
            value = int(text.strip())
        elif kind is SettingKind.NUMBER:
            value = _number(text)
        elif kind is SettingKind.BOOLEAN:
            lowered = text.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError(text)
            value = lowered in _TRUE
        elif kind is SettingKind.CLOCK:
            value = _clock(text)
        elif kind is SettingKind.CLOCKS:
            value = sorted({_clock(str(item)) for item in _listed(text)})
        elif kind is SettingKind.MINUTES:
            value = sorted({int(str(item).strip()) for item in _listed(text)}, reverse=True)
            if value[-1] <= 0:
                raise ValueError(text)
        elif kind is SettingKind.FRACTION:
            fraction = Fraction(text.strip())
            if not 0 <= fraction <= 1:
                raise ValueError(text)
            value = text.strip()
        elif kind is SettingKind.OBJECT:
            value = _checked_object(key, json.loads(text))
        elif kind is SettingKind.TIME_ZONE:
            ZoneInfo(text.strip())
            value = text.strip()
        elif kind is SettingKind.LANGUAGE:
            if text.strip() not in ("zh_CN", "zh_TW", "en"):
                raise ValueError(text)
            value = text.strip()
        else:
            value = _checked_text(key, text.strip())
            if not value:
                raise ValueError(text)
    except (ValueError, TypeError, ArithmeticError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise SettingRefused(key, "kind", spec) from None
    if kind is SettingKind.TEXT:
        size: float | None = len(value)
    else:
        size = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if size is not None and ((spec.minimum is not None and size < spec.minimum)
                             or (spec.maximum is not None and size > spec.maximum)):
        raise SettingRefused(key, "range", spec)
    return value


def set_compound_setting(compound: Compound, key: str, text: str) -> Any:
    """Checks and sets one setting (a key of COMPOUND_SETTINGS) or column (COMPOUND_FIELDS) of the compound; the
    caller's transaction stores it. Returns the stored value."""
    value = parse_setting(key, text)
    if key in COMPOUND_FIELDS:
        setattr(compound, key, value)
    else:
        compound.settings = {**compound.settings, key: value}  # a new dict: the JSON column sees the change
    return value


def unset_compound_setting(compound: Compound, key: str) -> bool:
    """Back to the feature's default; False when the compound had not set it."""
    if key not in COMPOUND_SETTINGS:
        raise SettingRefused(key, "unknown")
    if key not in compound.settings:
        return False
    compound.settings = {k: v for k, v in compound.settings.items() if k != key}
    return True
