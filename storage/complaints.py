"""Complaints (诉求): the ledger (台账) of cases, their one table of allowed transitions, the append-only
history, case numbers, three-level routing (三级响应), deadlines (限时办结), and the ledger's figures.

Everything that changes a case's state goes through `transition()`, whoever asks: a button, a command or the
scheduler. Nothing here is ever deleted."""

from __future__ import annotations

import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.compounds import Building, Compound, compound_setting
from storage.db import JSONDict, UTCDateTime, add_unless_exists, utcnow
from storage.people import Person, Role, people_with_role


def N_(msgid: str) -> str:
    """Marks a text for translation where it is defined (storage does not import the core)."""
    return msgid


# ---- the rules (plain values, no database) -----------------------------------------------------------------


class State(StrEnum):
    OPEN = "open"  # with a handler, not answered yet
    ACCEPTED = "accepted"  # the handler is working on it
    NEED_INFO = "need_info"  # waiting for the reporter's answer
    RESOLVED = "resolved"  # waiting for the reporter's rating
    CLOSED = "closed"


class Event(StrEnum):
    FILE = "file"
    ACCEPT = "accept"
    ASK = "ask"
    ANSWER = "answer"
    RESOLVE = "resolve"
    HAND_OVER = "hand_over"  # same level, another handler
    ESCALATE = "escalate"  # one level up, by a person
    OVERDUE = "overdue"  # a deadline passed: one level up, by the scheduler
    RATE = "rate"  # a rating of 3-5 (or a second bad one) closes
    REOPEN = "reopen"  # a rating of 1-2, once
    REMIND = "remind"  # the rating reminder
    EXPIRE = "expire"  # closed unrated
    RATE_DEPARTMENT = "rate_department"


ACTIVE = (State.OPEN, State.ACCEPTED, State.NEED_INFO)
# Events that leave the case where it is: buttons made before them stay valid.
SIDE_EVENTS = frozenset({Event.REMIND, Event.RATE_DEPARTMENT})

# The one table of allowed transitions: (state, event) -> new state. Anything missing is refused.
TRANSITIONS: dict[tuple[State | None, Event], State] = {
    (None, Event.FILE): State.OPEN,
    (State.OPEN, Event.ACCEPT): State.ACCEPTED,
    (State.OPEN, Event.ASK): State.NEED_INFO,
    (State.ACCEPTED, Event.ASK): State.NEED_INFO,
    (State.NEED_INFO, Event.ANSWER): State.ACCEPTED,
    (State.RESOLVED, Event.REMIND): State.RESOLVED,
    (State.RESOLVED, Event.RATE): State.CLOSED,
    (State.RESOLVED, Event.REOPEN): State.OPEN,
    (State.RESOLVED, Event.EXPIRE): State.CLOSED,
    (State.RESOLVED, Event.RATE_DEPARTMENT): State.RESOLVED,
    (State.CLOSED, Event.RATE_DEPARTMENT): State.CLOSED,
}
for _state in ACTIVE:
    TRANSITIONS[(_state, Event.RESOLVE)] = State.RESOLVED
    TRANSITIONS[(_state, Event.HAND_OVER)] = State.OPEN
    TRANSITIONS[(_state, Event.ESCALATE)] = State.OPEN
    TRANSITIONS[(_state, Event.OVERDUE)] = State.OPEN
    TRANSITIONS[(_state, Event.RATE_DEPARTMENT)] = _state


def next_state(state: State | None, event: Event) -> State | None:
    """The state a case moves to, or None when the event is not allowed in this state."""
    return TRANSITIONS.get((state, event))


STATE_NAMES = {
    State.OPEN: N_("awaiting acceptance"),
    State.ACCEPTED: N_("in progress"),
    State.NEED_INFO: N_("waiting for more information"),
    State.RESOLVED: N_("resolved, waiting for your rating"),
    State.CLOSED: N_("case closed"),
}
EVENT_NAMES = {
    Event.FILE: N_("case filed"),
    Event.ACCEPT: N_("case accepted"),
    Event.ASK: N_("more information requested"),
    Event.ANSWER: N_("information added by the reporter"),
    Event.RESOLVE: N_("case resolved"),
    Event.HAND_OVER: N_("handed over to another handler"),
    Event.ESCALATE: N_("escalated by the handler"),
    Event.OVERDUE: N_("overdue, escalated"),
    Event.RATE: N_("rated by the reporter"),
    Event.REOPEN: N_("reopened after a low rating"),
    Event.REMIND: N_("rating reminder sent"),
    Event.EXPIRE: N_("closed without a rating"),
    Event.RATE_DEPARTMENT: N_("department response rated"),
}


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    label: str
    # 1: the building leader first; 2: the compound first.
    level: int
    # Who handles it inside the compound (level 2).
    compound_role: Role


CATEGORIES: tuple[Category, ...] = (
    Category("parking", N_("Parking chaos"), 1, Role.SECRETARY),
    Category("construction", N_("Illegal construction"), 2, Role.SECRETARY),
    Category("fee", N_("Property fee dispute"), 2, Role.SECRETARY),
    Category("drain", N_("Blocked drain or pipe"), 2, Role.PROPERTY),
    Category("leak", N_("Leaking home"), 2, Role.PROPERTY),
    Category("fire_lane", N_("Blocked fire lane"), 2, Role.SECRETARY),
    Category("throwing", N_("Objects thrown from height"), 2, Role.SECRETARY),
    Category("sanitation", N_("Sanitation"), 2, Role.PROPERTY),
    Category("facility", N_("Damaged public facility"), 2, Role.PROPERTY),
    Category("elevator", N_("Elevator"), 2, Role.PROPERTY),
    Category("security", N_("Gate security"), 2, Role.PROPERTY),
    Category("neighbour", N_("Neighbour dispute"), 1, Role.SECRETARY),
    Category("noise", N_("Noise"), 1, Role.SECRETARY),
    Category("other", N_("Other"), 2, Role.SECRETARY),
)
CATEGORY_BY_CODE = {c.code: c for c in CATEGORIES}
TOP_LEVEL = 3
DEPARTMENT_RATINGS = {"satisfied": N_("Satisfied"), "fair": N_("Basically satisfied"),
                      "unsatisfied": N_("Unsatisfied")}
DESCRIPTION_MIN, DESCRIPTION_MAX, MAX_PHOTOS = 5, 2000, 3
# Defaults for the deadlines; a compound overrides them in its settings.
RESPOND_HOURS = 24
RESOLVE_DAYS: dict[int, float] = {1: 3, 2: 7, 3: 15}
REMIND_AFTER, CLOSE_UNRATED_AFTER = timedelta(hours=24), timedelta(hours=72)


def category_route(category: str, overrides: dict[str, Any]) -> tuple[int, Role]:
    """The first level and the compound-level role of a category; `complaints.routing` in a compound's settings
    overrides them, e.g. {"noise": {"level": 2, "role": "property"}}."""
    default = CATEGORY_BY_CODE.get(category, CATEGORY_BY_CODE["other"])
    override = overrides.get(category) or {}
    level = int(override.get("level", default.level))
    role = Role(override.get("role", default.compound_role))
    return max(1, min(level, 2)), role


def deadlines(level: int, now: datetime, respond_hours: float = RESPOND_HOURS,
              resolve_days: dict[int, float] | None = None) -> tuple[datetime, datetime]:
    """(respond by, resolve by) for a case arriving at this level now."""
    days = (resolve_days or RESOLVE_DAYS).get(level, RESOLVE_DAYS.get(level, 7))
    return now + timedelta(hours=respond_hours), now + timedelta(days=days)


def rating_event(rating: int, reopened_before: int) -> Event:
    """1-2 reopens the case, but only once; anything else closes it."""
    return Event.REOPEN if rating <= 2 and reopened_before == 0 else Event.RATE


def validate_description(text: str) -> str | None:
    """None when fine, else why not (a message id)."""
    length = len(text.strip())
    if length < DESCRIPTION_MIN:
        return N_("Please describe the problem in at least {min} characters.")
    if length > DESCRIPTION_MAX:
        return N_("That is {length} characters; please keep the description within {max} characters. "
                  "Your earlier answers are kept.")
    return None


def case_number(code: str, year: int, seq: int) -> str:
    return f"{code}-{year}-{seq:04d}"


def reporter_visible(anonymous: bool, viewer_is_reporter: bool, viewer_roles: frozenset[Role]) -> bool:
    """An anonymous reporter is shown to the secretary only (and to themselves)."""
    return not anonymous or viewer_is_reporter or Role.SECRETARY in viewer_roles


def satisfaction_rate(ratings: list[int]) -> float | None:
    """Share of ratings that are 4 or 5 — the figure used to judge a property company."""
    if not ratings:
        return None
    return sum(1 for r in ratings if r >= 4) / len(ratings)


# ---- tables ------------------------------------------------------------------------------------------------


class Case(SQLModel, table=True):
    __tablename__ = "complaint_case"
    __table_args__ = (
        sa.UniqueConstraint("compound_id", "number"),
        # The monthly reports' range scans, read from the index alone (storage/reports.py).
        sa.Index("ix_complaint_case_month_opened", "opened_at", "compound_id", "category", "level", "overdue_count"),
        sa.Index("ix_complaint_case_month_resolved", "resolved_at", "compound_id", "opened_at"),
        sa.Index("ix_complaint_case_month_closed", "closed_at", "compound_id", "rating"),
    )
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    number: str = Field(max_length=32, index=True)
    reporter_id: int = Field(foreign_key="person.id", index=True)
    category: str = Field(max_length=20, index=True)
    description: str = Field(max_length=DESCRIPTION_MAX)
    # Platform file ids of up to three photos: {"platform": "...", "ids": [...]}.
    photos: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDict)
    building_id: int | None = Field(default=None, foreign_key="building.id")
    room_id: int | None = Field(default=None, foreign_key="room.id")
    anonymous: bool = False
    state: str = Field(default=State.OPEN, max_length=16, index=True)
    level: int = 1
    handler_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    # Bumped on every transition: a button made for an older version is stale.
    version: int = 0
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    respond_by: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolve_by: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The next moment the scheduler must look at this case (a deadline, a rating reminder), NULL when none.
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    responded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    asked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    overdue_count: int = 0
    reopened: int = 0
    reminded: bool = False
    rating: int | None = None
    resolution: str = Field(default="", max_length=DESCRIPTION_MAX)
    department_rating: str | None = Field(default=None, max_length=16)


class CaseEvent(SQLModel, table=True):
    """The audit trail: one row per transition, append-only."""

    __tablename__ = "complaint_event"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="complaint_case.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    # None: the scheduler.
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    event: str = Field(max_length=20)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = Field(max_length=16)
    level: int = 1
    handler_id: int | None = Field(default=None, foreign_key="person.id")
    note: str = Field(default="", max_length=DESCRIPTION_MAX)


class CaseCounter(SQLModel, table=True):
    """The last case number given out, per compound per year."""

    __tablename__ = "complaint_counter"
    compound_id: int = Field(foreign_key="compound.id", primary_key=True)
    year: int = Field(primary_key=True)
    n: int = 0


# ---- queries and writes ------------------------------------------------------------------------------------


class TransitionRefused(Exception):
    """The transition table does not allow this event in the case's state."""


async def next_number(session: AsyncSession, compound: Compound, now: datetime) -> str:
    """Allocate the next number atomically: `UPDATE ... SET n = n + 1` in the caller's transaction (the row
    stays locked until it commits), inserting the year's row on first use."""
    assert compound.id is not None
    year = now.astimezone(ZoneInfo(compound.timezone)).year
    where = (col(CaseCounter.compound_id) == compound.id, col(CaseCounter.year) == year)
    for _attempt in range(3):
        result = await session.exec(update(CaseCounter).where(*where).values(n=col(CaseCounter.n) + 1))
        if result.rowcount == 1:
            n = (await session.exec(select(CaseCounter.n).where(*where))).one()
            return case_number(compound.code, year, n)
        if await add_unless_exists(session, CaseCounter(compound_id=compound.id, year=year, n=1)):
            return case_number(compound.code, year, 1)
        # Someone else created the year's row first: take the update path.
    raise RuntimeError("could not allocate a case number")


def deadline_settings(compound: Compound) -> tuple[float, dict[int, float]]:
    """`complaints.respond_hours` and `complaints.resolve_days` ({"1": 3, "2": 7, "3": 15}) of a compound."""
    hours = float(compound_setting(compound, "complaints.respond_hours", RESPOND_HOURS))
    days = compound_setting(compound, "complaints.resolve_days", {})
    merged = dict(RESOLVE_DAYS)
    merged.update({int(k): float(v) for k, v in dict(days).items()})
    return hours, merged


def rating_windows(compound: Compound) -> tuple[timedelta, timedelta]:
    """(remind after, close unrated after) a resolution."""
    remind = float(compound_setting(compound, "complaints.remind_hours", REMIND_AFTER.total_seconds() / 3600))
    close = float(compound_setting(compound, "complaints.close_unrated_hours",
                                   CLOSE_UNRATED_AFTER.total_seconds() / 3600))
    return timedelta(hours=remind), timedelta(hours=close)


def set_deadlines(case: Case, compound: Compound, now: datetime) -> None:
    hours, days = deadline_settings(compound)
    case.respond_by, case.resolve_by = deadlines(case.level, now, hours, days)
    case.responded_at = None
    case.due_at = case.respond_by


async def transition(session: AsyncSession, case: Case, event: Event, actor_id: int | None, now: datetime,
                     note: str = "") -> CaseEvent:
    """Move a case by the table, bump its version and write the history row; the caller changed the rest."""
    new = next_state(State(case.state) if case.id is not None else None, event)
    if new is None:
        raise TransitionRefused(f"{event} is not allowed while {case.state}")
    old = case.state if case.id is not None else None
    case.state = new
    if event not in SIDE_EVENTS:
        case.version += 1
    session.add(case)
    await session.flush()
    assert case.id is not None
    row = CaseEvent(case_id=case.id, at=now, actor_id=actor_id, event=event, from_state=old, to_state=new,
                    level=case.level, handler_id=case.handler_id, note=note[:DESCRIPTION_MAX])
    session.add(row)
    return row


async def file_case(session: AsyncSession, compound: Compound, reporter_id: int, category: str, description: str,
                    now: datetime, *, photos: Sequence[str] = (), photo_platform: str = "",
                    building_id: int | None = None, room_id: int | None = None, anonymous: bool = False,
                    actor_id: int | None = None, note: str = "") -> Case:
    """File a case: its number, the first level and handler, the deadlines and the history's first row. `actor_id`
    is who filed it when not the reporter (a secretary turning a need into a case)."""
    assert compound.id is not None  # a stored compound
    case = Case(compound_id=compound.id, number=await next_number(session, compound, now), reporter_id=reporter_id,
                category=category, description=description[:DESCRIPTION_MAX],
                photos={"platform": photo_platform, "ids": list(photos)} if photos else {},
                building_id=building_id, room_id=room_id, anonymous=anonymous, opened_at=now)
    await first_assignment(session, compound, case)
    set_deadlines(case, compound, now)
    await transition(session, case, Event.FILE, reporter_id if actor_id is None else actor_id, now, note=note)
    return case


async def load_case(session: AsyncSession, case_id: int) -> Case | None:
    # A read that decides a write: lock the row on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises).
    result = await session.exec(select(Case).where(Case.id == case_id).with_for_update())
    return result.first()


async def case_by_number(session: AsyncSession, number: str) -> Case | None:
    result = await session.exec(select(Case).where(Case.number == number.strip().upper()))
    return result.first()


async def history(session: AsyncSession, case_id: int) -> list[CaseEvent]:
    result = await session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id)))
    return list(result.all())


async def handler_for(session: AsyncSession, compound: Compound, case: Case, level: int,
                      category_role: Role) -> int | None:
    """Level 1: the building's leader; level 2: the category's compound role (secretary, committee or
    property as a fallback chain); level 3: the compound's default department (an official)."""
    assert compound.id is not None
    if level == 1:
        if case.building_id is None:
            return None
        leaders = await people_with_role(session, compound.id, Role.BUILDING_LEADER, case.building_id)
        return leaders[0] if leaders else None
    if level == 2:
        chain = [category_role, Role.SECRETARY, Role.COMMITTEE, Role.PROPERTY]
        for role in dict.fromkeys(chain):
            people = await people_with_role(session, compound.id, role)
            if people:
                return people[0]
        return None
    officials = await people_with_role(session, compound.id, Role.OFFICIAL)
    chosen = compound_setting(compound, "complaints.official_id", None)
    if chosen in officials:
        return int(chosen)
    return officials[0] if officials else None


async def first_assignment(session: AsyncSession, compound: Compound, case: Case) -> None:
    level, role = category_route(case.category, dict(compound_setting(compound, "complaints.routing", {})))
    handler = await handler_for(session, compound, case, level, role) if level == 1 else None
    if level == 1 and handler is None:
        level = 2  # No building (a common area) or no leader: the compound takes it.
    if level == 2:
        handler = await handler_for(session, compound, case, 2, role)
    case.level, case.handler_id = level, handler


def compound_role_of(compound: Compound, case: Case) -> Role:
    return category_route(case.category, dict(compound_setting(compound, "complaints.routing", {})))[1]


async def cases_of_reporter(session: AsyncSession, person_id: int, compound_id: int, limit: int = 20) -> list[Case]:
    result = await session.exec(
        select(Case).where(Case.reporter_id == person_id, Case.compound_id == compound_id)
        .order_by(col(Case.id).desc()).limit(limit)
    )
    return list(result.all())


async def queue(session: AsyncSession, compound_id: int, handler_id: int | None, now: datetime,
                limit: int = 30) -> list[Case]:
    """Open cases (a handler's own, or all of the compound's), overdue first, then by deadline."""
    query = select(Case).where(Case.compound_id == compound_id, col(Case.state).in_([*ACTIVE, State.RESOLVED]))
    if handler_id is not None:
        query = query.where(Case.handler_id == handler_id)
    overdue_first = sa.case((sa.and_(col(Case.due_at).is_not(None), col(Case.due_at) <= now), 0), else_=1)
    result = await session.exec(query.order_by(overdue_first, col(Case.overdue_count).desc(),
                                               col(Case.due_at), col(Case.id)).limit(limit))
    return list(result.all())


async def due_cases(session: AsyncSession, now: datetime, limit: int = 200) -> list[Case]:
    """Cases whose next moment has come (deadline passed, rating reminder, unrated closing): uses the
    index on `due_at`, so the scan costs the due rows, not the ledger's size."""
    result = await session.exec(
        select(Case).where(col(Case.due_at).is_not(None), col(Case.due_at) <= now)
        .order_by(col(Case.due_at)).limit(limit)
    )
    return list(result.all())


async def ledger(session: AsyncSession, compound_id: int, start: datetime, end: datetime) -> list[Case]:
    result = await session.exec(
        select(Case).where(Case.compound_id == compound_id, col(Case.opened_at) >= start, col(Case.opened_at) < end)
        .order_by(col(Case.id))
    )
    return list(result.all())


def month_bounds(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    local = now.astimezone(zone)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def day_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[first 00:00, the day after last 00:00) in the compound's zone."""
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    end = datetime(last.year, last.month, last.day, tzinfo=zone) + timedelta(days=1)
    return start, end


@dataclass(frozen=True, slots=True)
class Figures:
    opened: int
    resolved: int
    overdue: int
    by_category: dict[str, int]
    median_hours: float | None
    satisfaction: float | None
    rated: int


def figures(cases: list[Case]) -> Figures:
    """This period's figures over the cases opened in it."""
    by_category: dict[str, int] = {}
    for case in cases:
        by_category[case.category] = by_category.get(case.category, 0) + 1
    durations = [(c.resolved_at - c.opened_at).total_seconds() / 3600 for c in cases if c.resolved_at is not None]
    ratings = [c.rating for c in cases if c.rating is not None]
    return Figures(
        opened=len(cases),
        resolved=sum(1 for c in cases if c.resolved_at is not None),
        overdue=sum(1 for c in cases if c.overdue_count > 0),
        by_category=dict(sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0]))),
        median_hours=statistics.median(durations) if durations else None,
        satisfaction=satisfaction_rate(ratings),
        rated=len(ratings),
    )


LEDGER_COLUMNS = ("Number", "Opened", "Category", "Place", "Reporter", "Anonymous", "State", "Level", "Handler",
                  "Times overdue", "Resolved", "Rating", "Department rating", "Description", "Resolution")


async def ledger_xlsx(session: AsyncSession, compound: Compound, start: datetime, end: datetime,
                      headers: tuple[str, ...] = LEDGER_COLUMNS, labels: dict[str, str] | None = None) -> bytes:
    """The ledger (台账) as an XLSX workbook: one row per case opened in [start, end)."""
    from openpyxl import Workbook

    assert compound.id is not None
    zone = ZoneInfo(compound.timezone)
    cases = await ledger(session, compound.id, start, end)
    names = dict((await session.exec(select(Person.id, Person.name))).all()) if cases else {}
    buildings = dict((await session.exec(select(Building.id, Building.name).where(
        Building.compound_id == compound.id))).all())
    labels = labels or {}
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = compound.code
    sheet.append(list(headers))

    def when(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""

    for case in cases:
        sheet.append([
            case.number, when(case.opened_at), labels.get(case.category, case.category),
            buildings.get(case.building_id or 0, labels.get("common", "common")),
            labels.get("anonymous", "anonymous") if case.anonymous else names.get(case.reporter_id, ""),
            "Y" if case.anonymous else "", labels.get(case.state, case.state), case.level,
            names.get(case.handler_id or 0, ""), case.overdue_count, when(case.resolved_at),
            case.rating or "", labels.get(case.department_rating or "", case.department_rating or ""),
            case.description, case.resolution,
        ])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def count_opened(session: AsyncSession, compound_id: int) -> int:
    return int((await session.exec(select(func.count()).select_from(Case).where(Case.compound_id == compound_id)))
               .one())
