"""Meetings (集中说事日, 周末议事日, ...), answers to them, and their reminders. The reminder rows are the
schedule: a job claims a due row with `UPDATE ... WHERE sent_at IS NULL`, so nothing is sent twice."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.i18n import N_
from storage.compounds import Compound, Room, compound_setting
from storage.db import UTCDateTime, utcnow
from storage.people import Membership, MembershipStatus, Role, people_with_role
from storage.schedule import next_fire

KINDS = {
    "talk_day": N_("Concentrated talk day (集中说事日)"),
    "weekend": N_("Weekend deliberation day (周末议事日)"),
    "council": N_("Residents' deliberation meeting (居民议事会)"),
    "assembly": N_("Owners' assembly on site (业主大会现场会)"),
    "building": N_("Building meeting (楼栋会)"),
}
AUDIENCES = {
    "all": N_("the whole compound"),
    "building": N_("one building"),
    "owners": N_("owners only"),
    "party": N_("party members"),
}
RECURRENCES = {"": N_("does not repeat"), "weekly": N_("every week"), "monthly_first": N_("first of the month")}
ORGANISER_ROLES = (Role.SECRETARY, Role.COMMITTEE, Role.BUILDING_LEADER)

# Reminders before the start, in minutes; a compound may set its own under "meeting_reminder_minutes".
DEFAULT_REMINDER_MINUTES = (24 * 60, 60)
TITLE_MAX, PLACE_MAX, AGENDA_MAX, MINUTES_MAX = 80, 100, 1000, 3000

SCHEDULED, CANCELLED = "scheduled", "cancelled"
WEEKDAYS_CRON = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Meeting(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    kind: str = Field(max_length=16)
    title: str = Field(max_length=TITLE_MAX)
    place: str = Field(max_length=PLACE_MAX)
    starts_at: datetime = Field(sa_type=UTCDateTime, index=True)
    agenda: str = Field(default="", max_length=AGENDA_MAX)
    audience: str = Field(default="all", max_length=16)
    building_id: int | None = Field(default=None, foreign_key="building.id")
    # "" | "weekly" | "monthly_first": the next occurrence keeps the weekday and time of this one.
    recurrence: str = Field(default="", max_length=16)
    # The first meeting of a recurring series; None for one-off meetings.
    series_id: int | None = Field(default=None, index=True)
    # Set once the next occurrence exists (claimed atomically, so one process generates it).
    next_generated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    organiser_id: int = Field(foreign_key="person.id")
    status: str = Field(default=SCHEDULED, max_length=16)
    minutes: str = Field(default="", max_length=MINUTES_MAX)
    minutes_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MeetingRsvp(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("meeting_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    attending: bool
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MeetingReminder(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("meeting_id", "offset_minutes"), sa.Index("ix_reminder_due", "sent_at",
                                                                                      "due_at"))
    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    offset_minutes: int
    due_at: datetime = Field(sa_type=UTCDateTime)
    # Claimed: the reminder went to the outbox, or was skipped (then `skipped` says why).
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    skipped: str = Field(default="", max_length=40)


# ---- pure rules -------------------------------------------------------------------------------------------

_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
              "十": 10}
_WEEKDAY_WORDS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_EN_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _time_of_day(text: str) -> tuple[int, int] | None:
    """"19:30", "9点", "9点半", "下午3点", "9:00" → (hour, minute)."""
    text = text.strip()
    afternoon = any(word in text for word in ("下午", "晚上", "傍晚", "pm", "PM"))
    text = re.sub(r"(上午|早上|早晨|中午|下午|晚上|傍晚|am|AM|pm|PM)", "", text).strip()
    match = re.fullmatch(r"(\d{1,2})[:：](\d{2})", text) or re.fullmatch(r"(\d{1,2})[点點时時](\d{1,2})?分?", text)
    half = re.fullmatch(r"(\d{1,2})[点點]半", text)
    if half:
        hour, minute = int(half.group(1)), 30
    elif match:
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
    else:
        return None
    if afternoon and hour < 12:
        hour += 12
    if hour > 23 or minute > 59:
        return None
    return hour, minute


def parse_when(text: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    """A meeting time as people type it, in the compound's zone: "2026-11-28 09:00", "11-28 9:00",
    "11月28日 9:00", "明天 19:30", "后天 9点半", "周六 9:00", "tomorrow 19:30". None when not understood."""
    text = re.sub(r"\s+", " ", text.strip().replace("／", "/").replace("－", "-"))
    local_now = now.astimezone(zone)
    today = local_now.date()
    day = None
    rest = ""
    full = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})[日号]?\s*(.+)", text)
    short = re.fullmatch(r"(\d{1,2})[-/.月](\d{1,2})[日号]?\s*(.+)", text)
    relative = re.fullmatch(r"(今天|明天|后天|後天|today|tomorrow)\s*(.+)", text, re.IGNORECASE)
    weekday = re.fullmatch(r"(?:下?(?:周|星期|週|禮拜|礼拜))([一二三四五六日天])\s*(.+)", text)
    en_weekday = re.fullmatch(r"(?:next\s+)?(mon|tue|wed|thu|fri|sat|sun)[a-z]*\s+(.+)", text, re.IGNORECASE)
    try:
        if full:
            day = datetime(int(full.group(1)), int(full.group(2)), int(full.group(3))).date()
            rest = full.group(4)
        elif short:
            day = datetime(today.year, int(short.group(1)), int(short.group(2))).date()
            if day < today:  # "1-05" typed in December means next January
                day = day.replace(year=today.year + 1)
            rest = short.group(3)
        elif relative:
            word = relative.group(1).lower()
            offset = {"今天": 0, "today": 0, "明天": 1, "tomorrow": 1, "后天": 2, "後天": 2}[word]
            day = today + timedelta(days=offset)
            rest = relative.group(2)
        elif weekday or en_weekday:
            if weekday:
                target = _WEEKDAY_WORDS[weekday.group(1)]
                rest = weekday.group(2)
                force_next = text.startswith("下")
            else:
                assert en_weekday is not None
                target = _EN_WEEKDAYS.index(en_weekday.group(1).lower()[:3])
                rest = en_weekday.group(2)
                force_next = text.lower().startswith("next")
            ahead = (target - today.weekday()) % 7
            if force_next and ahead == 0:
                ahead = 7
            day = today + timedelta(days=ahead)
    except ValueError:
        return None
    if day is None:
        return None
    clock = _time_of_day(rest)
    if clock is None:
        return None
    return datetime(day.year, day.month, day.day, clock[0], clock[1], tzinfo=zone)


def next_occurrence(starts_at: datetime, recurrence: str, zone: ZoneInfo) -> datetime | None:
    """The next meeting of a series: the same weekday and wall-clock time a week later, or on the first such
    weekday of a following month."""
    local = starts_at.astimezone(zone)
    weekday = WEEKDAYS_CRON[local.weekday()]
    if recurrence == "weekly":
        rule: dict[str, Any] = {"day_of_week": weekday, "hour": local.hour, "minute": local.minute}
    elif recurrence == "monthly_first":
        rule = {"day": f"1st {weekday}", "hour": local.hour, "minute": local.minute}
    else:
        return None
    return next_fire(rule, zone, starts_at)


def reminder_offsets(compound: Compound) -> list[int]:
    raw = compound_setting(compound, "meeting_reminder_minutes", list(DEFAULT_REMINDER_MINUTES))
    try:
        offsets = sorted({int(m) for m in raw if int(m) > 0}, reverse=True)
    except (TypeError, ValueError):
        offsets = list(DEFAULT_REMINDER_MINUTES)
    return offsets


def audience_allows(audience: str, building_id: int | None, roles: frozenset[Role], buildings: list[int]) -> bool:
    """Who may answer: owners-only and party meetings check the role; a building meeting its residents."""
    if any(role in roles for role in ORGANISER_ROLES):
        return True
    if audience == "owners":
        return Role.OWNER in roles
    if audience == "party":
        return Role.PARTY_MEMBER in roles
    if audience == "building":
        return building_id in buildings
    return Role.RESIDENT in roles


# ---- queries ----------------------------------------------------------------------------------------------


async def create_meeting(session: AsyncSession, compound: Compound, fields: dict[str, Any], now: datetime) -> Meeting:
    meeting = Meeting(compound_id=compound.id or 0, created_at=now, **fields)
    session.add(meeting)
    await session.flush()
    await plan_reminders(session, meeting, compound, now)
    return meeting


async def plan_reminders(session: AsyncSession, meeting: Meeting, compound: Compound, now: datetime) -> None:
    """(Re)create the unsent reminders for the meeting's time; those already in the past are not planned."""
    assert meeting.id is not None
    await session.exec(
        sa.delete(MeetingReminder).where(
            col(MeetingReminder.meeting_id) == meeting.id, col(MeetingReminder.sent_at).is_(None)
        )
    )
    sent = set((await session.exec(select(MeetingReminder.offset_minutes).where(
        MeetingReminder.meeting_id == meeting.id))).all())
    for minutes in reminder_offsets(compound):
        due = meeting.starts_at - timedelta(minutes=minutes)
        if due <= now or minutes in sent:
            continue
        session.add(MeetingReminder(meeting_id=meeting.id, offset_minutes=minutes, due_at=due))
    await session.flush()


async def due_reminders(session: AsyncSession, now: datetime, limit: int = 200) -> list[MeetingReminder]:
    result = await session.exec(
        select(MeetingReminder)
        .where(col(MeetingReminder.sent_at).is_(None), col(MeetingReminder.due_at) <= now)
        .order_by(col(MeetingReminder.due_at))
        .limit(limit)
    )
    return list(result.all())


async def claim_reminder(session: AsyncSession, reminder_id: int, now: datetime, skipped: str = "") -> bool:
    result = await session.exec(
        update(MeetingReminder)
        .where(col(MeetingReminder.id) == reminder_id, col(MeetingReminder.sent_at).is_(None))
        .values(sent_at=now, skipped=skipped)
    )
    return result.rowcount == 1


async def set_rsvp(session: AsyncSession, meeting_id: int, person_id: int, attending: bool, now: datetime) -> None:
    existing = (await session.exec(select(MeetingRsvp).where(
        MeetingRsvp.meeting_id == meeting_id, MeetingRsvp.person_id == person_id))).first()
    if existing is None:
        session.add(MeetingRsvp(meeting_id=meeting_id, person_id=person_id, attending=attending, updated_at=now))
    else:
        existing.attending, existing.updated_at = attending, now
        session.add(existing)
    await session.flush()


async def rsvps(session: AsyncSession, meeting_id: int) -> list[MeetingRsvp]:
    result = await session.exec(select(MeetingRsvp).where(MeetingRsvp.meeting_id == meeting_id)
                                .order_by(col(MeetingRsvp.id)))
    return list(result.all())


async def rsvp_of(session: AsyncSession, meeting_ids: list[int], person_id: int) -> dict[int, bool]:
    if not meeting_ids:
        return {}
    result = await session.exec(select(MeetingRsvp).where(
        col(MeetingRsvp.meeting_id).in_(meeting_ids), MeetingRsvp.person_id == person_id))
    return {r.meeting_id: r.attending for r in result.all()}


async def upcoming(session: AsyncSession, compound_id: int, now: datetime, limit: int = 10) -> list[Meeting]:
    result = await session.exec(
        select(Meeting)
        .where(Meeting.compound_id == compound_id, Meeting.status == SCHEDULED, col(Meeting.starts_at) > now)
        .order_by(col(Meeting.starts_at))
        .limit(limit)
    )
    return list(result.all())


async def next_of_kinds(session: AsyncSession, compound_id: int, kinds: tuple[str, ...], now: datetime
                        ) -> Meeting | None:
    """The next scheduled meeting of one of these kinds (e.g. 集中说事日 / 周末议事日), for an agenda item."""
    result = await session.exec(
        select(Meeting)
        .where(Meeting.compound_id == compound_id, Meeting.status == SCHEDULED, col(Meeting.kind).in_(kinds),
               col(Meeting.starts_at) > now)
        .order_by(col(Meeting.starts_at))
        .limit(1)
    )
    return result.first()


def add_agenda_item(meeting: Meeting, item: str) -> bool:
    """Append a line to the agenda; False when it would not fit (AGENDA_MAX)."""
    agenda = f"{meeting.agenda}\n{item}" if meeting.agenda.strip() else item
    if len(agenda) > AGENDA_MAX:
        return False
    meeting.agenda = agenda
    return True


async def recent_of_organiser(session: AsyncSession, compound_id: int, person_id: int, now: datetime,
                              limit: int = 5) -> list[Meeting]:
    """Meetings the person organised that have begun in the last 30 days: minutes can be posted for them."""
    result = await session.exec(
        select(Meeting)
        .where(Meeting.compound_id == compound_id, Meeting.organiser_id == person_id, Meeting.status == SCHEDULED,
               col(Meeting.starts_at) <= now, col(Meeting.starts_at) > now - timedelta(days=30))
        .order_by(col(Meeting.starts_at).desc())
        .limit(limit)
    )
    return list(result.all())


async def series_due(session: AsyncSession, now: datetime, limit: int = 100) -> list[Meeting]:
    """Recurring meetings that have begun (or were cancelled) and whose next occurrence does not exist yet."""
    result = await session.exec(
        select(Meeting)
        .where(col(Meeting.recurrence) != "", col(Meeting.next_generated_at).is_(None),
               sa.or_(col(Meeting.starts_at) <= now, col(Meeting.status) == CANCELLED))
        .order_by(col(Meeting.starts_at))
        .limit(limit)
    )
    return list(result.all())


async def claim_series(session: AsyncSession, meeting_id: int, now: datetime) -> bool:
    result = await session.exec(
        update(Meeting)
        .where(col(Meeting.id) == meeting_id, col(Meeting.next_generated_at).is_(None))
        .values(next_generated_at=now)
    )
    return result.rowcount == 1


async def audience_people(session: AsyncSession, meeting: Meeting) -> list[int]:
    """Who a party-members meeting is announced to privately (the others go to the group chats)."""
    if meeting.audience == "party":
        return await people_with_role(session, meeting.compound_id, Role.PARTY_MEMBER)
    return []


async def buildings_of_person(session: AsyncSession, person_id: int, compound_id: int) -> list[int]:
    result = await session.exec(
        select(Room.building_id).join(Membership, col(Membership.room_id) == Room.id).where(
            Membership.person_id == person_id, Membership.compound_id == compound_id,
            Membership.status == MembershipStatus.APPROVED)
    )
    return list(dict.fromkeys(result.all()))
