"""Volunteer tasks (志愿服务): what the branch posts, who signs up, and who came for how long."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Prepared, Stored, UTCDateTime, add_unless_exists, status_field, utcnow
from storage.people import Membership, MembershipStatus, Person
from storage.schedule import next_fire

# Skill codes kept in Person.skills (comma-separated); the words people see live in the handlers.
SKILLS = ("law", "medical", "education", "repair", "electrician", "psychology", "care", "other")
# Typed Chinese names of the skills, as residents and secretaries write them.
SKILL_WORDS = {"法律": "law", "医疗": "medical", "醫療": "medical", "教育": "education", "维修": "repair",
               "維修": "repair", "电工": "electrician", "電工": "electrician", "心理": "psychology", "照护": "care",
               "照護": "care", "其他": "other"}

DEFAULT_REMINDER_HOURS = 2
DEFAULT_ORGANISER_REMINDER = "20:00"
HOURS_STEP = Decimal("0.5")
MAX_HOURS = Decimal(24)
MODES = ("hour", "activity")
# A task lasts at most this long (the attendance sheet counts at most MAX_HOURS): longer ones are posted by day.
MAX_LENGTH = timedelta(hours=24)
# A recurring task (weekly 代购 for elderly residents): "" once, "weekly" the same weekday and time, "monthly" the
# same day of the month and time (a month without that day is skipped).
RECURRENCES = ("", "weekly", "monthly")
WEEKDAYS_CRON = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class TaskStatus(StrEnum):
    OPEN = "open"
    CANCELLED = "cancelled"


class SignUp(StrEnum):
    """What became of a press of Sign up."""

    SIGNED = "signed"
    ALREADY = "already"  # signed up before: nothing changes
    FULL = "full"  # every place is taken
    STARTED = "started"  # the task has begun: sign-ups are closed
    CLOSED = "closed"  # the task is no longer open


class Withdrawal(StrEnum):
    WITHDRAWN = "withdrawn"
    NOT_SIGNED = "not_signed"
    STARTED = "started"


class VolunteerTask(Stored, SQLModel, table=True):
    __tablename__ = "volunteer_task"
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    organiser_id: int = Field(foreign_key="person.id", index=True)
    title: str = Field(max_length=100)
    description: str = Field(default="", max_length=1000)
    place: str = Field(default="", max_length=200)
    starts_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ends_at: datetime = Field(sa_type=UTCDateTime, index=True)
    wanted: int
    skills: str = Field(default="", max_length=200)  # comma-separated skill codes
    mode: str = Field(default="hour", max_length=12)  # one of MODES
    rate: int
    status: TaskStatus = status_field(TaskStatus, TaskStatus.OPEN, 12)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Claimed with `UPDATE ... WHERE x IS NULL`, so each is sent once whatever the processes.
    volunteers_reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    organiser_reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attendance_asked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Bumped by each confirmed attendance sheet; a Confirm button carries the version it confirms.
    attendance_version: int = 0
    attendance_confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # One of RECURRENCES. Each occurrence is a task of its own (its own sign-ups, attendance and points); the
    # series is the first occurrence's id, and the next one is made once (claimed) when this one starts.
    recurrence: str = Field(default="", max_length=12, sa_column_kwargs={"server_default": ""})
    series_id: int | None = Field(default=None, index=True)
    next_generated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)



class TaskSignup(SQLModel, table=True):
    __tablename__ = "task_signup"
    __table_args__ = (sa.UniqueConstraint("task_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="volunteer_task.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    active: bool = True  # False once withdrawn (signing up again re-activates the row)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The attendance sheet: prefilled with the planned hours, adjusted by the organiser.
    attended: bool = True
    hours: Decimal | None = Field(default=None, sa_type=sa.Numeric(5, 1))


# ---- pure rules ---------------------------------------------------------------------------------------------


def parse_skills(text: str) -> list[str]:
    """Skill codes from typed words (法律, 电工, law ...), in the canonical order, unknown words ignored."""
    found: set[str] = set()
    for word in re.split(r"[,，、;；\s]+", text.strip()):
        word = word.strip().lower()
        if word in SKILLS:
            found.add(word)
        elif word in SKILL_WORDS:
            found.add(SKILL_WORDS[word])
    return [code for code in SKILLS if code in found]


def skill_codes(stored: str) -> list[str]:
    return [code for code in stored.split(",") if code in SKILLS]


def planned_hours(task: VolunteerTask) -> Decimal:
    """The task's length rounded to half hours (the attendance sheet's starting value)."""
    seconds = Decimal(int((task.ends_at - task.starts_at).total_seconds()))
    halves = (seconds / 1800).to_integral_value()
    return min(max(halves * HOURS_STEP, HOURS_STEP), MAX_HOURS)


def organiser_reminder_due(starts_at: datetime, zone: ZoneInfo, at: str) -> datetime:
    """The evening before the task, at `at` (HH:MM) compound time."""
    hour, minute = (int(x) for x in at.split(":", 1))
    day_before = starts_at.astimezone(zone).date() - timedelta(days=1)
    return datetime.combine(day_before, time(hour, minute), zone)


def next_start(starts_at: datetime, recurrence: str, zone: ZoneInfo) -> datetime | None:
    """The next occurrence's start: a week later at the same wall-clock time, or the same day of a later month."""
    local = starts_at.astimezone(zone)
    if recurrence == "weekly":
        rule = {"day_of_week": WEEKDAYS_CRON[local.weekday()], "hour": local.hour, "minute": local.minute}
    elif recurrence == "monthly":
        rule = {"day": local.day, "hour": local.hour, "minute": local.minute}
    else:
        return None
    return next_fire(rule, zone, starts_at)


def format_hours(hours: Decimal) -> str:
    return f"{hours.normalize():f}"


# ---- queries ------------------------------------------------------------------------------------------------


async def signup_count(session: AsyncSession, task_id: int) -> int:
    result = await session.exec(
        select(func.count()).select_from(TaskSignup).where(TaskSignup.task_id == task_id, col(TaskSignup.active))
    )
    return int(result.one())


async def lock_task(session: AsyncSession, task_id: int) -> VolunteerTask | None:
    """The task, locked while a sign-up decides whether it is full (SQLite: BEGIN IMMEDIATE already is)."""
    query = select(VolunteerTask).where(VolunteerTask.id == task_id)
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def signup_of(session: AsyncSession, task_id: int, person_id: int) -> TaskSignup | None:
    result = await session.exec(
        select(TaskSignup).where(TaskSignup.task_id == task_id, TaskSignup.person_id == person_id)
    )
    return result.first()


async def volunteers(session: AsyncSession, task_id: int) -> list[tuple[TaskSignup, Person]]:
    result = await session.exec(
        select(TaskSignup, Person)
        .join(Person, col(Person.id) == TaskSignup.person_id)
        .where(TaskSignup.task_id == task_id, col(TaskSignup.active))
        .order_by(col(TaskSignup.id))
    )
    return [(s, p) for s, p in result.all()]


async def open_tasks(session: AsyncSession, compound_id: int, now: datetime) -> list[VolunteerTask]:
    result = await session.exec(
        select(VolunteerTask)
        .where(VolunteerTask.compound_id == compound_id, VolunteerTask.status == TaskStatus.OPEN,
               col(VolunteerTask.starts_at) > now)
        .order_by(col(VolunteerTask.starts_at), col(VolunteerTask.id))
        .limit(20)
    )
    return list(result.all())


async def skilled_residents(session: AsyncSession, compound_id: int, skills: list[str]) -> list[int]:
    """Approved members of the compound who listed one of these skills."""
    if not skills:
        return []
    result = await session.exec(
        select(Person.id, Person.skills)
        .join(Membership, col(Membership.person_id) == Person.id)
        .where(Membership.compound_id == compound_id, Membership.status == MembershipStatus.APPROVED)
        .order_by(col(Person.id))
    )
    wanted = set(skills)
    return list(dict.fromkeys(pid for pid, stored in result.all() if pid and wanted & set(skill_codes(stored))))


async def claim(session: AsyncSession, task_id: int, column: str, now: datetime) -> bool:
    """Mark one of the task's once-only sends as done; False when another run already did."""
    target = getattr(VolunteerTask, column)
    result = await session.exec(
        update(VolunteerTask).where(col(VolunteerTask.id) == task_id, col(target).is_(None)).values({column: now})
    )
    return result.rowcount == 1


async def claim_attendance(session: AsyncSession, task_id: int, version: int, now: datetime) -> bool:
    """The Confirm press for sheet `version`; a second press of the same button finds the version moved on."""
    result = await session.exec(
        update(VolunteerTask)
        .where(col(VolunteerTask.id) == task_id, col(VolunteerTask.attendance_version) == version)
        .values(attendance_version=version + 1, attendance_confirmed_at=now)
    )
    return result.rowcount == 1


async def due_tasks(session: AsyncSession, column: str, before: datetime, after: datetime) -> list[VolunteerTask]:
    """Open tasks whose `column` send is not done yet, starting (or ending, for attendance) in a window."""
    moment = VolunteerTask.ends_at if column == "attendance_asked_at" else VolunteerTask.starts_at
    result = await session.exec(
        select(VolunteerTask).where(
            VolunteerTask.status == TaskStatus.OPEN,
            col(getattr(VolunteerTask, column)).is_(None),
            col(moment) <= before,
            col(moment) > after,
        ).order_by(col(VolunteerTask.id))
    )
    return list(result.all())


async def attended_summary(session: AsyncSession, person_id: int, start: datetime, end: datetime
                           ) -> list[tuple[VolunteerTask, TaskSignup]]:
    """Tasks the person was confirmed at in a period (for the party export)."""
    result = await session.exec(
        select(VolunteerTask, TaskSignup)
        .join(TaskSignup, col(TaskSignup.task_id) == VolunteerTask.id)
        .where(TaskSignup.person_id == person_id, col(TaskSignup.active), col(TaskSignup.attended),
               col(VolunteerTask.attendance_confirmed_at).is_not(None),
               col(VolunteerTask.starts_at) >= start, col(VolunteerTask.starts_at) < end)
        .order_by(col(VolunteerTask.starts_at))
    )
    return [(t, s) for t, s in result.all()]


async def correctable_tasks(session: AsyncSession, compound_id: int, organiser_id: int, since: datetime,
                            now: datetime) -> list[VolunteerTask]:
    """The organiser's tasks that ended recently enough for their attendance to be corrected."""
    result = await session.exec(select(VolunteerTask).where(
        VolunteerTask.organiser_id == organiser_id, VolunteerTask.compound_id == compound_id,
        col(VolunteerTask.ends_at) <= now, col(VolunteerTask.ends_at) > since,
    ).order_by(col(VolunteerTask.starts_at)))
    return list(result.all())


# ---- domain actions -----------------------------------------------------------------------------------------


async def post_task(session: AsyncSession, *, compound_id: int, organiser_id: int, title: str, description: str,
                    place: str, starts_at: datetime, ends_at: datetime, wanted: int, skills: list[str], mode: str,
                    rate: int, now: datetime, recurrence: str = "", series_id: int | None = None
                    ) -> VolunteerTask | None:
    """A new open task; None when it would start in the past (the time went by while it was being written) or is
    not a task at all (no time between its start and end, nobody wanted, an unknown way of earning, an unknown
    repetition). A recurring task without a series begins its own."""
    if (starts_at <= now or not starts_at < ends_at <= starts_at + MAX_LENGTH or wanted < 1 or mode not in MODES
            or rate < 0 or recurrence not in RECURRENCES):
        return None
    task = VolunteerTask(compound_id=compound_id, organiser_id=organiser_id, title=title[:100],
                         description=description[:1000], place=place[:200], starts_at=starts_at, ends_at=ends_at,
                         wanted=wanted, skills=",".join(c for c in SKILLS if c in skills), mode=mode, rate=rate,
                         status=TaskStatus.OPEN, created_at=now, recurrence=recurrence, series_id=series_id)
    session.add(task)
    await session.flush()
    if recurrence and task.series_id is None:
        task.series_id = task.id
        session.add(task)
        await session.flush()
    return task


async def series_due(session: AsyncSession, now: datetime, limit: int = 100) -> list[VolunteerTask]:
    """Recurring open tasks that have started and whose next occurrence has not been made."""
    result = await session.exec(
        select(VolunteerTask)
        .where(col(VolunteerTask.recurrence) != "", col(VolunteerTask.next_generated_at).is_(None),
               VolunteerTask.status == TaskStatus.OPEN, col(VolunteerTask.starts_at) <= now)
        .order_by(col(VolunteerTask.starts_at)).limit(limit))
    return list(result.all())


async def repeat(session: AsyncSession, task: VolunteerTask, zone: ZoneInfo, now: datetime) -> VolunteerTask | None:
    """The next occurrence of a recurring task that has started: made once (the claim is `UPDATE ... WHERE
    next_generated_at IS NULL`, so two processes never make two), with the same length, places and points and no
    sign-ups; occurrences that fell in a long downtime are skipped. None when another run made it, or the series
    has ended."""
    claimed = await session.exec(
        update(VolunteerTask)
        .where(col(VolunteerTask.id) == task.stored_id, col(VolunteerTask.next_generated_at).is_(None),
               col(VolunteerTask.recurrence) != "")
        .values(next_generated_at=now))
    if claimed.rowcount != 1:
        return None
    following = next_start(task.starts_at, task.recurrence, zone)
    while following is not None and following <= now:
        following = next_start(following, task.recurrence, zone)
    if following is None:
        return None
    return await post_task(
        session, compound_id=task.compound_id, organiser_id=task.organiser_id, title=task.title,
        description=task.description, place=task.place, starts_at=following,
        ends_at=following + (task.ends_at - task.starts_at), wanted=task.wanted, skills=skill_codes(task.skills),
        mode=task.mode, rate=task.rate, now=now, recurrence=task.recurrence, series_id=task.series_id or task.id)


async def stop_repeating(session: AsyncSession, task: VolunteerTask) -> bool:
    """The series ends with the occurrences already posted: no further one is made. False when it was not
    repeating (any more)."""
    if not task.series_id:
        return False
    result = await session.exec(
        update(VolunteerTask)
        .where(col(VolunteerTask.series_id) == task.series_id, col(VolunteerTask.recurrence) != "",
               col(VolunteerTask.next_generated_at).is_(None))
        .values(recurrence=""))
    return result.rowcount > 0


async def sign_up(session: AsyncSession, task: VolunteerTask, person_id: int, now: datetime) -> SignUp:
    """One place on the task for the person (the task locked by `lock_task`, so two presses cannot both take the
    last place). A withdrawn sign-up comes back as new; one person has one row per task (a unique key)."""
    if task.status != TaskStatus.OPEN:
        return SignUp.CLOSED
    if task.starts_at <= now:
        return SignUp.STARTED
    existing = await signup_of(session, task.stored_id, person_id)
    if existing is not None and existing.active:
        return SignUp.ALREADY
    if await signup_count(session, task.stored_id) >= task.wanted:
        return SignUp.FULL
    if existing is not None:
        existing.active, existing.attended, existing.hours, existing.created_at = True, True, None, now
        session.add(existing)
        await session.flush()
    elif not await add_unless_exists(session, TaskSignup(task_id=task.stored_id, person_id=person_id, created_at=now)):
        return SignUp.ALREADY  # the same person's second press at the same moment: one row per task and person
    return SignUp.SIGNED


async def withdraw(session: AsyncSession, task: VolunteerTask, person_id: int, now: datetime) -> Withdrawal:
    """The person gives their place back, until the task starts."""
    existing = await signup_of(session, task.stored_id, person_id)
    if existing is None or not existing.active:
        return Withdrawal.NOT_SIGNED
    if task.starts_at <= now:
        return Withdrawal.STARTED
    existing.active = False
    session.add(existing)
    await session.flush()
    return Withdrawal.WITHDRAWN


async def _sheet_row(session: AsyncSession, task: VolunteerTask, signup_id: int) -> TaskSignup | None:
    row = await session.get(TaskSignup, signup_id)
    return row if row is not None and row.task_id == task.id and row.active else None


async def toggle_attended(session: AsyncSession, task: VolunteerTask, signup_id: int) -> bool:
    """On the attendance sheet: came ↔ did not come. False when the row is not a volunteer of this task."""
    row = await _sheet_row(session, task, signup_id)
    if row is None:
        return False
    row.attended = not row.attended
    session.add(row)
    await session.flush()
    return True


async def change_hours(session: AsyncSession, task: VolunteerTask, signup_id: int, delta: Decimal) -> bool:
    """On the attendance sheet: half an hour more or less, between HOURS_STEP and MAX_HOURS."""
    row = await _sheet_row(session, task, signup_id)
    if row is None:
        return False
    current = row.hours if row.hours is not None else planned_hours(task)
    row.hours = min(max(current + delta, HOURS_STEP), MAX_HOURS)
    session.add(row)
    await session.flush()
    return True


async def settle_hours(session: AsyncSession, task: VolunteerTask) -> list[tuple[TaskSignup, Person, Decimal]]:
    """The confirmed sheet: each volunteer with their hours (the planned hours where nobody changed them, now
    written down)."""
    planned = planned_hours(task)
    settled = []
    for row, person in await volunteers(session, task.stored_id):
        if row.hours is None:
            row.hours = planned
            session.add(row)
        settled.append((row, person, row.hours))
    return settled


async def set_skills(session: AsyncSession, person: Person, codes: list[str]) -> list[str]:
    """The person's skills for volunteer tasks, in the canonical order; unknown codes are dropped."""
    kept = [code for code in SKILLS if code in codes]
    person.skills = ",".join(kept)
    session.add(person)
    return kept


async def signed_up_tasks(session: AsyncSession, person_id: int, compound_id: int, now: datetime,
                          limit: int = 3) -> list[VolunteerTask]:
    """Open tasks of the compound the person is signed up for that have not ended yet, soonest first."""
    return await SIGNED_UP.objects(session, person_id=person_id, compound_id=compound_id, now=now, limit=limit)


# Asked by every /start (its "open for you now" lines, storage/start.py): a fixed query on the driver.
SIGNED_UP = Prepared(
    select(VolunteerTask).join(TaskSignup, col(TaskSignup.task_id) == VolunteerTask.id)
    .where(TaskSignup.person_id == sa.bindparam("person_id"), col(TaskSignup.active),
           VolunteerTask.compound_id == sa.bindparam("compound_id"), VolunteerTask.status == TaskStatus.OPEN,
           col(VolunteerTask.ends_at) > sa.bindparam("now", type_=UTCDateTime))
    .order_by(col(VolunteerTask.starts_at)).limit(sa.bindparam("limit")), VolunteerTask)
