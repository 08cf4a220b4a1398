"""Volunteer tasks (志愿服务): what the branch posts, who signs up, and who came for how long."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import UTCDateTime, utcnow
from storage.people import Membership, MembershipStatus, Person

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


class VolunteerTask(SQLModel, table=True):
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
    mode: str = Field(default="hour", max_length=12)  # hour | activity
    rate: int
    status: str = Field(default="open", max_length=12)  # open | cancelled
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Claimed with `UPDATE ... WHERE x IS NULL`, so each is sent once whatever the processes.
    volunteers_reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    organiser_reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attendance_asked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Bumped by each confirmed attendance sheet; a Confirm button carries the version it confirms.
    attendance_version: int = 0
    attendance_confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


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


def parse_local_time(text: str, now: datetime, zone: ZoneInfo, day: date | None = None) -> datetime | None:
    """'2026-11-28 09:00', '11-28 9:00', '11月28日 9:00', or just '11:30' (on `day`); None if unreadable."""
    text = text.strip().replace("：", ":").replace("/", "-")
    text = re.sub(r"(\d+)月(\d+)[日号]?", r"\1-\2", text).replace("年", "-")
    match = re.fullmatch(r"(?:(?:(\d{4})-)?(\d{1,2})-(\d{1,2})\s+)?(\d{1,2}):(\d{2})", text)
    if not match:
        return None
    year, month, dom, hour, minute = match.groups()
    local_now = now.astimezone(zone)
    try:
        if month is None:
            if day is None:
                return None
            when_day = day
        else:
            when_day = date(int(year) if year else local_now.year, int(month), int(dom))
            if year is None and when_day < local_now.date() - timedelta(days=1):
                when_day = when_day.replace(year=when_day.year + 1)
        return datetime.combine(when_day, time(int(hour), int(minute)), zone)
    except ValueError:
        return None


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
        .where(VolunteerTask.compound_id == compound_id, VolunteerTask.status == "open",
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
            VolunteerTask.status == "open",
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
