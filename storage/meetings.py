"""Meetings (集中说事日, 周末议事日, ...), answers to them, and their reminders. The reminder rows are the
schedule: a job claims a due row with `UPDATE ... WHERE sent_at IS NULL`, so nothing is sent twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.i18n import N_
from storage.compounds import Compound, Room, compound_setting
from storage.db import Stored, UTCDateTime, add_unless_exists, status_field, utcnow
from storage.people import Membership, MembershipStatus, Person, Role, people_with_role
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

# A meeting is called at least this long ahead (people need to read about it), and at most a year ahead (further
# is almost certainly a typing mistake).
MIN_AHEAD = timedelta(minutes=10)
MAX_AHEAD = timedelta(days=366)
WEEKDAYS_CRON = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Sign-in (签到) is open from a little before the start (people arrive early) until a meeting has surely ended; the
# organiser may mark people present from the opening until a week later (the minutes are often written after).
SIGNIN_OPENS = timedelta(minutes=30)
SIGNIN_CLOSES = timedelta(hours=3)
MARKING_CLOSES = timedelta(days=7)


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class Result(StrEnum):
    """What became of an action on a meeting; anything but DONE changed nothing."""

    DONE = "done"
    CANCELLED = "cancelled"  # the meeting is cancelled
    STARTED = "started"  # it has begun: too late to answer, move or cancel it
    NOT_HELD = "not_held"  # minutes wait until it has taken place
    NOT_AUDIENCE = "not_audience"  # an answer from someone the meeting is not for
    TOO_SOON = "too_soon"  # a start less than MIN_AHEAD from now (or already past)
    TOO_FAR = "too_far"  # a start more than MAX_AHEAD from now
    NOT_YET = "not_yet"  # sign-in has not opened yet
    SIGNIN_CLOSED = "signin_closed"  # sign-in (or the organiser's marking) has closed
    ALREADY = "already"  # signed in before: nothing changes


class Meeting(Stored, SQLModel, table=True):
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
    status: MeetingStatus = status_field(MeetingStatus, MeetingStatus.SCHEDULED, 16)
    minutes: str = Field(default="", max_length=MINUTES_MAX)
    minutes_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The 签到 posting went out (claimed with `UPDATE ... WHERE signin_posted_at IS NULL`).
    signin_posted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MeetingRsvp(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("meeting_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    attending: bool
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MeetingAttendance(SQLModel, table=True):
    """签到: one row per person present at a meeting, whether they pressed 签到 or the organiser marked them."""

    __tablename__ = "meeting_attendance"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    signed_at: datetime = Field(sa_type=UTCDateTime)
    # None: the person pressed 签到; else the organiser (or secretary) who marked them present.
    marked_by: int | None = Field(default=None, foreign_key="person.id")


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


def start_problem(starts_at: datetime, now: datetime) -> Result | None:
    """Why a meeting cannot start then (TOO_SOON, TOO_FAR), or None."""
    if starts_at < now + MIN_AHEAD:
        return Result.TOO_SOON
    if starts_at > now + MAX_AHEAD:
        return Result.TOO_FAR
    return None


def reminder_offsets(compound: Compound) -> list[int]:
    raw = compound_setting(compound, "meeting_reminder_minutes", list(DEFAULT_REMINDER_MINUTES))
    try:
        offsets = sorted({int(m) for m in raw if int(m) > 0}, reverse=True)
    except (TypeError, ValueError):
        offsets = list(DEFAULT_REMINDER_MINUTES)
    return offsets


def signin_window(starts_at: datetime) -> tuple[datetime, datetime]:
    """[opens, closes) of a meeting's sign-in."""
    return starts_at - SIGNIN_OPENS, starts_at + SIGNIN_CLOSES


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
    """A meeting with its reminders planned; a recurring one without a series begins its own."""
    meeting = Meeting(compound_id=compound.id or 0, created_at=now, **fields)
    session.add(meeting)
    await session.flush()
    if meeting.recurrence and meeting.series_id is None:
        meeting.series_id = meeting.id
        session.add(meeting)
    await plan_reminders(session, meeting, compound, now)
    return meeting


# ---- domain actions: each checks the meeting's state, changes it and says what became of it ------------------


async def call_meeting(session: AsyncSession, compound: Compound, organiser_id: int, fields: dict[str, Any],
                       now: datetime) -> Meeting | Result:
    """An organiser calls a meeting: refused (TOO_SOON, TOO_FAR) when its start no longer fits."""
    problem = start_problem(fields["starts_at"], now)
    if problem is not None:
        return problem
    return await create_meeting(session, compound, {**fields, "organiser_id": organiser_id}, now)


def _open(meeting: Meeting, now: datetime) -> Result | None:
    if meeting.status != MeetingStatus.SCHEDULED:
        return Result.CANCELLED
    if meeting.starts_at <= now:
        return Result.STARTED
    return None


async def answer(session: AsyncSession, meeting: Meeting, person_id: int, roles: frozenset[Role], attending: bool,
                 now: datetime) -> Result:
    """Attend / Can't attend, from someone the meeting is for, before it begins; a later answer replaces it."""
    if (refused := _open(meeting, now)) is not None:
        return refused
    buildings = await buildings_of_person(session, person_id, meeting.compound_id)
    if not audience_allows(meeting.audience, meeting.building_id, roles, buildings):
        return Result.NOT_AUDIENCE
    await set_rsvp(session, meeting.id or 0, person_id, attending, now)
    return Result.DONE


async def cancel_meeting(session: AsyncSession, meeting: Meeting, now: datetime, end_series: bool = False) -> Result:
    """Called off before it begins; `end_series` also ends its series (the series job then makes no next one)."""
    if (refused := _open(meeting, now)) is not None:
        return refused
    meeting.status = MeetingStatus.CANCELLED
    if end_series:
        meeting.recurrence = ""
    session.add(meeting)
    await session.flush()
    return Result.DONE


async def move_meeting(session: AsyncSession, meeting: Meeting, compound: Compound, starts_at: datetime,
                       now: datetime) -> Result:
    """A new start before the meeting begins; its unsent reminders follow the new time."""
    if (refused := _open(meeting, now) or start_problem(starts_at, now)) is not None:
        return refused
    meeting.starts_at = starts_at
    session.add(meeting)
    await session.flush()
    await plan_reminders(session, meeting, compound, now)
    return Result.DONE


async def post_minutes(session: AsyncSession, meeting: Meeting, text: str, now: datetime) -> Result:
    """The minutes (纪要) of a meeting that took place; posted again, they replace the earlier ones."""
    if meeting.status != MeetingStatus.SCHEDULED:
        return Result.CANCELLED
    if meeting.starts_at > now:
        return Result.NOT_HELD
    meeting.minutes, meeting.minutes_at = text, now
    session.add(meeting)
    await session.flush()
    return Result.DONE


async def sign_in(session: AsyncSession, meeting: Meeting, person_id: int, roles: frozenset[Role],
                  now: datetime) -> Result:
    """签到 pressed: only while sign-in is open, only by someone the meeting is for, once (a second press, even at
    the same instant in another process, meets the unique key)."""
    if meeting.status != MeetingStatus.SCHEDULED:
        return Result.CANCELLED
    opens, closes = signin_window(meeting.starts_at)
    if now < opens:
        return Result.NOT_YET
    if now >= closes:
        return Result.SIGNIN_CLOSED
    buildings = await buildings_of_person(session, person_id, meeting.compound_id)
    if not audience_allows(meeting.audience, meeting.building_id, roles, buildings):
        return Result.NOT_AUDIENCE
    if await attendance_of(session, meeting.stored_id, person_id) is not None:
        return Result.ALREADY
    row = MeetingAttendance(meeting_id=meeting.stored_id, person_id=person_id, signed_at=now)
    return Result.DONE if await add_unless_exists(session, row) else Result.ALREADY


async def mark_present(session: AsyncSession, meeting: Meeting, person_id: int, present: bool, by: int,
                       now: datetime) -> Result:
    """The organiser marks someone present (or not present after all), from the opening of sign-in until
    MARKING_CLOSES after the start; the person must be a member of the compound."""
    if meeting.status != MeetingStatus.SCHEDULED:
        return Result.CANCELLED
    opens, _closes = signin_window(meeting.starts_at)
    if now < opens:
        return Result.NOT_YET
    if now >= meeting.starts_at + MARKING_CLOSES:
        return Result.SIGNIN_CLOSED
    if not await _member(session, person_id, meeting.compound_id):
        return Result.NOT_AUDIENCE
    existing = await attendance_of(session, meeting.stored_id, person_id)
    if present and existing is None:
        await add_unless_exists(session, MeetingAttendance(meeting_id=meeting.stored_id, person_id=person_id,
                                                           signed_at=now, marked_by=by))
    elif not present and existing is not None:
        await session.delete(existing)
        await session.flush()
    return Result.DONE


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
        .where(Meeting.compound_id == compound_id, Meeting.status == MeetingStatus.SCHEDULED,
               col(Meeting.starts_at) > now)
        .order_by(col(Meeting.starts_at))
        .limit(limit)
    )
    return list(result.all())


async def next_of_kinds(session: AsyncSession, compound_id: int, kinds: tuple[str, ...], now: datetime
                        ) -> Meeting | None:
    """The next scheduled meeting of one of these kinds (e.g. 集中说事日 / 周末议事日), for an agenda item."""
    result = await session.exec(
        select(Meeting)
        .where(Meeting.compound_id == compound_id, Meeting.status == MeetingStatus.SCHEDULED,
               col(Meeting.kind).in_(kinds), col(Meeting.starts_at) > now)
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
        .where(Meeting.compound_id == compound_id, Meeting.organiser_id == person_id,
               Meeting.status == MeetingStatus.SCHEDULED, col(Meeting.starts_at) <= now, col(Meeting.starts_at) > now - timedelta(days=30))
        .order_by(col(Meeting.starts_at).desc())
        .limit(limit)
    )
    return list(result.all())


async def series_due(session: AsyncSession, now: datetime, limit: int = 100) -> list[Meeting]:
    """Recurring meetings that have begun (or were cancelled) and whose next occurrence does not exist yet."""
    result = await session.exec(
        select(Meeting)
        .where(col(Meeting.recurrence) != "", col(Meeting.next_generated_at).is_(None),
               sa.or_(col(Meeting.starts_at) <= now, col(Meeting.status) == MeetingStatus.CANCELLED))
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


async def _member(session: AsyncSession, person_id: int, compound_id: int) -> bool:
    result = await session.exec(select(Membership.id).where(
        Membership.person_id == person_id, Membership.compound_id == compound_id,
        Membership.status == MembershipStatus.APPROVED))
    return result.first() is not None


# ---- sign-in (签到) -------------------------------------------------------------------------------------------


async def attendance_of(session: AsyncSession, meeting_id: int, person_id: int) -> MeetingAttendance | None:
    result = await session.exec(select(MeetingAttendance).where(
        MeetingAttendance.meeting_id == meeting_id, MeetingAttendance.person_id == person_id))
    return result.first()


async def attendance(session: AsyncSession, meeting_id: int) -> list[tuple[MeetingAttendance, Person]]:
    """Who was present, in the order they signed in."""
    result = await session.exec(
        select(MeetingAttendance, Person).join(Person, col(Person.id) == MeetingAttendance.person_id)
        .where(MeetingAttendance.meeting_id == meeting_id)
        .order_by(col(MeetingAttendance.signed_at), col(MeetingAttendance.id)))
    return [(a, p) for a, p in result.all()]


async def expected(session: AsyncSession, meeting_id: int) -> list[Person]:
    """Those who said they would attend: the organiser's sheet offers them to be marked present."""
    result = await session.exec(
        select(Person).join(MeetingRsvp, col(MeetingRsvp.person_id) == Person.id)
        .where(MeetingRsvp.meeting_id == meeting_id, col(MeetingRsvp.attending))
        .order_by(col(MeetingRsvp.id)))
    return list(result.all())


async def signing_in(session: AsyncSession, compound_id: int, now: datetime) -> list[Meeting]:
    """The compound's meetings whose sign-in is open now."""
    result = await session.exec(
        select(Meeting)
        .where(Meeting.compound_id == compound_id, Meeting.status == MeetingStatus.SCHEDULED,
               col(Meeting.starts_at) <= now + SIGNIN_OPENS, col(Meeting.starts_at) > now - SIGNIN_CLOSES)
        .order_by(col(Meeting.starts_at)))
    return list(result.all())


async def signin_due(session: AsyncSession, now: datetime, limit: int = 100) -> list[Meeting]:
    """Meetings whose sign-in has opened and whose 签到 posting has not gone out (one missed during a downtime
    still goes out while sign-in is open)."""
    result = await session.exec(
        select(Meeting)
        .where(Meeting.status == MeetingStatus.SCHEDULED, col(Meeting.signin_posted_at).is_(None),
               col(Meeting.starts_at) <= now + SIGNIN_OPENS, col(Meeting.starts_at) > now - SIGNIN_CLOSES)
        .order_by(col(Meeting.starts_at)).limit(limit))
    return list(result.all())


async def claim_signin(session: AsyncSession, meeting_id: int, now: datetime) -> bool:
    result = await session.exec(
        update(Meeting).where(col(Meeting.id) == meeting_id, col(Meeting.signin_posted_at).is_(None))
        .values(signin_posted_at=now))
    return result.rowcount == 1
