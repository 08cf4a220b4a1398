"""The 红黑榜: residents nominate good deeds (red) and bad conduct (black), the secretary reviews, and the
approved entries are posted on a per-compound schedule. Black entries describe conduct and place, never a
person: the checks that refuse names and room numbers are plain functions here."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlmodel import Field, SQLModel, col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.compounds import Compound, Room, RosterOwner, compound_setting
from storage.db import StatusText, UTCDateTime, status_field, utcnow
from storage.people import Membership, Person
from storage.schedule import next_fire


class Color(StrEnum):
    RED = "red"  # a good deed
    BLACK = "black"  # conduct that harms the neighbourhood, named by place, never by person


class EntryStatus(StrEnum):
    PENDING = "pending"  # waits for the secretary
    APPROVED = "approved"  # shown on the board (red: until posted once; black: until corrected and posted)
    REJECTED = "rejected"  # the nominator was told why


RED, BLACK = Color.RED, Color.BLACK
TEXT_MAX, PLACE_MAX, REASON_MAX = 200, 60, 200
# Every Monday 09:00 in the compound's zone; a compound may set its own under "board_schedule" (cron fields).
DEFAULT_SCHEDULE: dict[str, Any] = {"day_of_week": "mon", "hour": 9, "minute": 0}


class BoardEntry(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    color: Color = Field(sa_type=StatusText(Color, 8))
    # Red: who or which household; black: the place. Then what happened.
    subject: str = Field(default="", max_length=PLACE_MAX)
    text: str = Field(max_length=TEXT_MAX)
    photo_platform: str = Field(default="", max_length=16)
    photo_file_id: str = Field(default="", max_length=256)
    nominator_id: int = Field(foreign_key="person.id")
    status: EntryStatus = status_field(EntryStatus, EntryStatus.PENDING, 16, index=True)
    reason: str = Field(default="", max_length=REASON_MAX)
    reviewed_by: int | None = Field(default=None, foreign_key="person.id")
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Red entries appear in one posting; black ones stay until corrected, then appear once on the
    # "corrected" line.
    posted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    corrected_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    corrected_posted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BoardSchedule(SQLModel, table=True):
    """When each compound's next posting is due; claimed by moving `next_at` with a conditional update."""

    compound_id: int = Field(foreign_key="compound.id", primary_key=True)
    next_at: datetime = Field(sa_type=UTCDateTime)
    last_posted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# ---- pure rules -------------------------------------------------------------------------------------------

_ROOM_PATTERNS = (
    # 3栋2单元301, 3号楼2单元301室, 3幢301
    re.compile(r"\d+\s*(?:栋|棟|幢|号楼|號樓)\s*(?:\d+\s*(?:单元|單元))?\s*\d{3,4}"),
    # 2单元301
    re.compile(r"\d+\s*(?:单元|單元)\s*\d{3,4}"),
    # 301室, 1502房, 301号房
    re.compile(r"(?<!\d)\d{3,4}\s*(?:室|房|号房|號房|户|戶)"),
    # 3-2-301
    re.compile(r"(?<!\d)\d{1,2}\s*-\s*\d{1,2}\s*-\s*\d{3,4}(?!\d)"),
)


def has_room_number(text: str) -> bool:
    return any(pattern.search(text) for pattern in _ROOM_PATTERNS)


def named_people(text: str, names: list[str]) -> list[str]:
    """The known names (two characters or more) that occur in the text."""
    return sorted({name for name in names if len(name) >= 2 and name in text})


def next_posting(compound: Compound, after: datetime) -> datetime:
    """The first scheduled posting strictly after `after`, in the compound's time zone."""
    rule = compound_setting(compound, "board_schedule", DEFAULT_SCHEDULE)
    try:
        fire = next_fire(rule, compound.timezone, after)
    except (TypeError, ValueError):
        # A mistyped setting must not stop the board: fall back to the documented default.
        fire = None
    return fire or next_fire(DEFAULT_SCHEDULE, compound.timezone, after) or after + timedelta(days=7)


# ---- queries ----------------------------------------------------------------------------------------------


async def known_names(session: AsyncSession, compound_id: int) -> list[str]:
    """Names of the compound's members and of the owners on its roster: a black entry must not name them."""
    members = await session.exec(
        select(Person.name).join(Membership, col(Membership.person_id) == Person.id).where(
            Membership.compound_id == compound_id))
    roster = await session.exec(
        select(RosterOwner.name).join(Room, col(Room.id) == RosterOwner.room_id).where(Room.compound_id == compound_id))
    return [n for n in {*members.all(), *roster.all()} if n]


async def pending(session: AsyncSession, compound_id: int) -> list[tuple[BoardEntry, str]]:
    """Nominations waiting for the secretary, oldest first, each with its nominator's name ("" if none is known)."""
    result = await session.exec(
        select(BoardEntry, Person.name).join(Person, col(Person.id) == BoardEntry.nominator_id)
        .where(BoardEntry.compound_id == compound_id, BoardEntry.status == EntryStatus.PENDING)
        .order_by(col(BoardEntry.id)).limit(20))
    return [(entry, name or "") for entry, name in result.all()]


async def entry_in(session: AsyncSession, entry_id: int, compound_id: int) -> BoardEntry | None:
    """The entry, if it belongs to the compound."""
    entry = await session.get(BoardEntry, entry_id)
    return entry if entry is not None and entry.compound_id == compound_id else None


async def current(session: AsyncSession, compound_id: int) -> tuple[list[BoardEntry], list[BoardEntry],
                                                                         list[BoardEntry]]:
    """What the next posting shows: red entries not yet posted, black ones not corrected, and those corrected
    since the last posting."""
    approved = list((await session.exec(select(BoardEntry).where(
        BoardEntry.compound_id == compound_id, BoardEntry.status == EntryStatus.APPROVED)
        .order_by(col(BoardEntry.id)))).all())
    red = [e for e in approved if e.color == RED and e.posted_at is None]
    black = [e for e in approved if e.color == BLACK and e.corrected_at is None]
    corrected = [e for e in approved if e.color == BLACK and e.corrected_at is not None
                 and e.corrected_posted_at is None]
    return red, black, corrected


async def schedule_of(session: AsyncSession, compound: Compound, now: datetime) -> BoardSchedule:
    assert compound.id is not None
    row = await session.get(BoardSchedule, compound.id)
    if row is None:
        row = BoardSchedule(compound_id=compound.id, next_at=next_posting(compound, now))
        session.add(row)
        await session.flush()
    return row


async def due_postings(session: AsyncSession, now: datetime) -> list[tuple[BoardSchedule, Compound]]:
    """The compounds whose posting is due (a compound without a schedule gets one first)."""
    scheduled = select(BoardSchedule.compound_id)
    for unscheduled in (await session.exec(select(Compound).where(col(Compound.id).not_in(scheduled)))).all():
        await schedule_of(session, unscheduled, now)
    result = await session.exec(
        select(BoardSchedule, Compound).join(Compound, col(Compound.id) == BoardSchedule.compound_id)
        .where(col(BoardSchedule.next_at) <= now))
    return [(row, compound) for row, compound in result.all()]


async def claim_posting(session: AsyncSession, compound: Compound, due_at: datetime, now: datetime) -> bool:
    """Move the compound's next posting past `now`; only the process whose update matched posts."""
    result = await session.exec(
        update(BoardSchedule)
        .where(col(BoardSchedule.compound_id) == compound.id, col(BoardSchedule.next_at) == due_at)
        .values(next_at=next_posting(compound, now), last_posted_at=now)
    )
    return result.rowcount == 1


async def mark_posted(session: AsyncSession, red: list[BoardEntry], corrected: list[BoardEntry],
                      now: datetime) -> None:
    for entry in red:
        entry.posted_at = now
        session.add(entry)
    for entry in corrected:
        entry.corrected_posted_at = now
        session.add(entry)
    await session.flush()


# ---- domain actions: each checks the transition, sets its fields and says whether it happened -------------------


async def nominate(session: AsyncSession, compound_id: int, nominator_id: int, color: Color, subject: str, text: str,
                   photo_platform: str, photo_file_id: str, now: datetime) -> BoardEntry:
    """A resident's nomination, pending the secretary's review."""
    if not text or len(text) > TEXT_MAX or len(subject) > PLACE_MAX:
        raise ValueError("a nomination needs a description of at most TEXT_MAX and a subject of at most PLACE_MAX")
    entry = BoardEntry(compound_id=compound_id, color=Color(color), subject=subject, text=text,
                       photo_platform=photo_platform[:16], photo_file_id=photo_file_id[:256], nominator_id=nominator_id,
                       status=EntryStatus.PENDING, created_at=now)
    session.add(entry)
    await session.flush()
    return entry


async def approve(session: AsyncSession, entry: BoardEntry, reviewer_id: int, now: datetime,
                  text: str | None = None) -> bool:
    """The secretary approves a pending nomination, with `text` as its corrected description if given. False
    when it was already reviewed."""
    if entry.status != EntryStatus.PENDING:
        return False
    if text is not None:
        if not text or len(text) > TEXT_MAX:
            raise ValueError("an edited description must have 1 to TEXT_MAX characters")
        entry.text = text
    entry.status, entry.reviewed_by, entry.reviewed_at = EntryStatus.APPROVED, reviewer_id, now
    session.add(entry)
    return True


async def reject(session: AsyncSession, entry: BoardEntry, reviewer_id: int, reason: str, now: datetime) -> bool:
    """The secretary rejects a pending nomination with the reason the nominator reads. False when already
    reviewed."""
    if entry.status != EntryStatus.PENDING:
        return False
    if not reason or len(reason) > REASON_MAX:
        raise ValueError("a rejection needs a reason of 1 to REASON_MAX characters")
    entry.status, entry.reason, entry.reviewed_by, entry.reviewed_at = EntryStatus.REJECTED, reason, reviewer_id, now
    session.add(entry)
    return True


def correctable(entry: BoardEntry) -> bool:
    """An approved black entry not yet marked corrected."""
    return entry.color == Color.BLACK and entry.status == EntryStatus.APPROVED and entry.corrected_at is None


async def mark_corrected(session: AsyncSession, entry: BoardEntry, now: datetime) -> bool:
    """A black entry is put right (已整改): it leaves the black list and appears once on the corrected line."""
    if not correctable(entry):
        return False
    entry.corrected_at = now
    session.add(entry)
    return True
