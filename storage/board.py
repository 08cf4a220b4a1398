"""The 红黑榜: residents nominate good deeds (red) and bad conduct (black), the secretary reviews, and the
approved entries are posted on a per-compound schedule. Black entries describe conduct and place, never a
person: the checks that refuse names (also in pinyin or by homophones), phone numbers and rooms however written
are plain functions here."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import pypinyin
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
    # When the entry was first in a weekly posting: each entry is posted once (red ones once; black ones once
    # when new, then once more on the "corrected" line), never again unchanged.
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

class Exposure(StrEnum):
    """What a black entry gave away about a person; the refusal names the kind, never the matched text."""

    PHONE = "phone"
    ROOM = "room"
    NAME = "name"


# Chinese numerals as people write rooms and phones (三栋三零一, 三百零一, 幺三八...): each run becomes digits.
_NUMERAL_DIGITS = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6,
                   "七": 7, "八": 8, "九": 9}
_NUMERAL_UNITS = {"十": 10, "百": 100}
_NUMERAL_RUN = re.compile("[" + "".join(_NUMERAL_DIGITS) + "".join(_NUMERAL_UNITS) + "]+")
_HANZI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
# Dates and clock times are blanked before phones are looked for (2026-11-23, 22:30 are not phone numbers).
_DATE_TIME = re.compile(r"(?<!\d)(?:19|20)\d{2}[-./]\d{1,2}[-./]\d{1,2}(?!\d)|(?<!\d)\d{1,2}:\d{2}(?::\d{2})?(?!\d)")
# Kept in the number view: they join the digits of 3-2-301, 138-0000-0001, 3#301, 0571.8888888 or 138/0000/0001.
_NUMBER_MARKS = frozenset("-./#|")
_PHONE = re.compile(r"(?<!\d)\d(?:[-./]?\d){6,}(?!\d)")
# A room is 3 or 4 digits, not a count (3栋100多户, 2单元300元).
_ROOM = r"\d{3,4}(?![\d多余個个辆輛人元块塊米平件只条條年])"
_BUILDING = r"\d{1,3}(?:号楼|號樓|栋|棟|幢|座|楼|樓|#)"
_UNIT = r"\d{1,2}(?:单元|單元)"
_ROOM_PATTERNS = (
    # 3栋301, 3栋的301, 3号楼2单元301室, 3幢301, 3#301, 三栋三零一
    re.compile(rf"{_BUILDING}的?(?:{_UNIT}的?)?{_ROOM}"),
    # 2单元301, 一单元的502
    re.compile(rf"{_UNIT}的?{_ROOM}"),
    # 301室, 1502房, 301号房, 301那户
    re.compile(r"(?<!\d)\d{3,4}(?:号|號)?(?:那|这|這)?(?:室|房|户|戶|家)"),
    # 3-2-301, 3-301
    re.compile(r"(?<!\d)\d{1,2}-(?:\d{1,2}-)?\d{3,4}(?!\d)"),
)


def _arabic(run: re.Match[str]) -> str:
    """A run of Chinese numerals as digits: 三零一 -> 301 (digit by digit), 三百零一 -> 301, 十二 -> 12."""
    chars = run.group()
    if not any(c in _NUMERAL_UNITS for c in chars):
        return "".join(str(_NUMERAL_DIGITS[c]) for c in chars)
    total = current = 0
    for c in chars:
        if c in _NUMERAL_UNITS:
            total += (current or 1) * _NUMERAL_UNITS[c]
            current = 0
        else:
            current = _NUMERAL_DIGITS[c]
    return str(total + current)


def _cleaned(text: str) -> str:
    """NFKC (full-width letters, digits and signs become ASCII), lower case, without zero-width, format and
    combining characters."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Cc", "Co", "Cs", "Mn", "Me"))


def _letters(text: str) -> str:
    """Letters and digits only: spaces, punctuation and symbols removed."""
    return "".join(c for c in _cleaned(text) if unicodedata.category(c)[0] in "LN")


def normalise(text: str) -> str:
    """The form black entries are checked in: NFKC, lower case, zero-width characters, spaces and punctuation
    removed, Chinese numerals as digits. `normalise("张\u200b三 ３栋") == "张33栋"`."""
    return _NUMERAL_RUN.sub(_arabic, _letters(text))


def _number_view(text: str) -> str:
    """Like `normalise`, but dashes, dots, slashes and # stay between digits and dates and times are blanked."""
    text = _NUMERAL_RUN.sub(_arabic, _cleaned(text))
    text = "".join("-" if unicodedata.category(c) == "Pd" else c for c in text)
    text = _DATE_TIME.sub("|", text)
    return "".join(c for c in text if c in _NUMBER_MARKS or unicodedata.category(c)[0] not in "ZPSC")


def has_phone_number(text: str) -> bool:
    """Seven digits or more, however written: 13800000001, 138-0000-0001, 138 0000 0001, 一三八零零零零零零零一."""
    return _PHONE.search(_number_view(text)) is not None


def has_room_number(text: str) -> bool:
    view = _number_view(text)
    return any(pattern.search(view) for pattern in _ROOM_PATTERNS)


@functools.lru_cache(maxsize=65_536)
def _readings(hanzi: str) -> tuple[frozenset[str], ...]:
    """Each character's readings with their tone (zhang1; 5 for the neutral tone), every reading of a
    character with several."""
    return tuple(frozenset(r.replace("v", "u").replace("ü", "u") for r in readings)
                 for readings in pypinyin.pinyin(hanzi, style=pypinyin.Style.TONE3, heteronym=True,
                                                 neutral_tone_with_five=True))


def _toneless(readings: frozenset[str]) -> frozenset[str]:
    return frozenset(r.rstrip("012345") for r in readings)


@dataclass(frozen=True, slots=True)
class _Name:
    name: str
    forms: tuple[str, ...]  # as written (letters only) and with its numerals as digits
    hanzi: str  # the name in Chinese characters (2 to 4) for the pinyin and homophone checks, else ""


@functools.lru_cache(maxsize=65_536)
def _name(name: str) -> _Name:
    letters = _letters(name)
    forms = tuple(f for f in {letters, normalise(name)} if len(f) >= 2)
    hanzi = letters if 2 <= len(letters) <= 4 and all(_HANZI.fullmatch(c) for c in letters) else ""
    return _Name(name, forms, hanzi)


def _toneless_keys(hanzi: str) -> set[tuple[str, ...]]:
    """The characters' pinyin without tones, one tuple for each way to read them: 曾红 -> (zeng, hong), (ceng, hong)."""
    keys: set[tuple[str, ...]] = {()}
    for readings in _readings(hanzi):
        keys = {(*key, r) for key in keys for r in _toneless(readings)}
    return keys


def _sounds_like(window: str, hanzi: str) -> bool:
    """Characters read like the name's (their pinyin without tones already agree): either one character is the
    same (章三 for 张三) or their usual readings agree with the tones too (章叁). 里私 (li3 si1) is not 李四
    (li3 si4), 消防 (xiao1 fang2) is not 萧方 (xiao1 fang1)."""
    return any(a == b for a, b in zip(window, hanzi, strict=True)) or _tones(window) == _tones(hanzi)


@functools.lru_cache(maxsize=65_536)
def _tones(hanzi: str) -> tuple[str, ...]:
    """The characters' usual reading in this context, with tones: 消防 -> xiao1 fang2."""
    return tuple(r.replace("v", "u").replace("ü", "u") for r in pypinyin.lazy_pinyin(
        hanzi, style=pypinyin.Style.TONE3, neutral_tone_with_five=True))


@dataclass(frozen=True, slots=True)
class _NameIndex:
    names: tuple[_Name, ...]
    by_sound: dict[tuple[str, ...], list[_Name]]  # pinyin without tones -> the names read so
    by_spelling: dict[str, list[_Name]]  # the same pinyin joined: zhangsan
    longest: int


@functools.lru_cache(maxsize=16)
def _index(names: frozenset[str]) -> _NameIndex:
    """The compound's names ready for the pinyin look-ups; kept while the names stay the same."""
    known = tuple(_name(n) for n in sorted(names) if n)
    by_sound: dict[tuple[str, ...], list[_Name]] = {}
    by_spelling: dict[str, list[_Name]] = {}
    for name in known:
        if name.hanzi:
            for key in _toneless_keys(name.hanzi):
                by_sound.setdefault(key, []).append(name)
                by_spelling.setdefault("".join(key), []).append(name)
    return _NameIndex(known, by_sound, by_spelling, max(map(len, by_spelling), default=0))


def named_people(text: str, names: list[str]) -> list[str]:
    """The known names (two characters or more) the text gives: as written, with spaces, zero-width characters
    or punctuation inside, in pinyin with or without spaces (zhang san), or by characters that sound the same
    (章三)."""
    index = _index(frozenset(names))
    letters, digits = _letters(text), normalise(text)
    found = {name.name for name in index.names if any(form in letters or form in digits for form in name.forms)}
    # Pinyin typed in Latin letters, with or without spaces (ü also typed as v or u).
    for run in re.findall(r"[a-z]{4,}", letters.replace("ü", "u").replace("v", "u")):
        for i in range(len(run)):
            for j in range(i + 4, min(len(run), i + index.longest) + 1):
                found.update(name.name for name in index.by_spelling.get(run[i:j], ()))
    # Chinese characters that sound like a name.
    for size in (2, 3, 4):
        for i in range(len(letters) - size + 1):
            window = letters[i:i + size]
            if not all(_HANZI.fullmatch(c) for c in window):
                continue
            for key in _toneless_keys(window):
                found.update(name.name for name in index.by_sound.get(key, ()) if _sounds_like(window, name.hanzi))
    return sorted(found)


def exposure(text: str, names: list[str], allow_names: bool = False) -> Exposure | None:
    """What a black entry's text gives away about a person: a phone number, a room, a known name. None when it
    describes conduct and place only. A compound that allows names (`board_black_allow_names`) still refuses
    phone numbers."""
    if has_phone_number(text):
        return Exposure.PHONE
    if allow_names:
        return None
    if has_room_number(text):
        return Exposure.ROOM
    if named_people(text, names):
        return Exposure.NAME
    return None


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


async def black_entry_exposure(session: AsyncSession, compound_id: int, text: str,
                               allow_names: bool = False) -> Exposure | None:
    """What a black entry's text gives away (`exposure`), against the names of the compound's members and
    rostered owners; they are read only when no phone number or room was found first."""
    found = exposure(text, [], allow_names)
    if found is not None or allow_names:
        return found
    return exposure(text, await known_names(session, compound_id))


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


@dataclass(frozen=True, slots=True)
class Posting:
    """What a weekly posting carries: only what is new or changed since the last one, and how many black entries
    posted before are still open (named by count only: their place was posted already)."""

    red: list[BoardEntry]
    black: list[BoardEntry]
    corrected: list[BoardEntry]
    still_open: int

    @property
    def empty(self) -> bool:
        return not (self.red or self.black or self.corrected)

    @property
    def posted(self) -> list[BoardEntry]:
        return [*self.red, *self.black]


async def posting_news(session: AsyncSession, compound_id: int) -> Posting:
    """The weekly posting's entries: red ones not posted yet, black ones not posted yet, black ones corrected since
    the last posting. An unchanged black entry is not posted again every week (the board itself, /board, still
    shows every open one)."""
    red, black, corrected = await current(session, compound_id)
    new = [entry for entry in black if entry.posted_at is None]
    return Posting(red, new, corrected, len(black) - len(new))


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
