"""Complaints (诉求): the ledger (台账) of cases, their one table of allowed transitions, the append-only
history, case numbers, three-level routing (三级响应), deadlines (限时办结), and the ledger's figures.

Storage decides: one function per domain action (`file_case`, `accept`, `ask_more`, `answer`, `resolve`,
`escalate`, `hand_over`, `whistle`, `rate`, `rate_department`, `on_due`, `refer_to_mediation`,
`record_mediation`) checks the transition, sets its own
fields and writes the history through `transition()`, whoever asks: a button, a flow step or the scheduler. A
refused action is a value (`Acted`), never an exception. Who may do what to a case (`refusal`), what its handler
is offered (`handler_actions`) and which way a case goes on (`onward`) are decided here too, so a handler only
converses; so are who may look a case up (`may_look_up`) and how much of its reporter they see (`show_reporter`,
which writes the personal-data access log; `ledger_reporters` for the ledger export). A neighbour dispute at the
compound level may go to the compound's mediation committee (调解委员会, Role.MEDIATOR): `Mediation` keeps the
referral and its outcome, an agreement (调解协议) with its document or a failed mediation that sends the case on.
Nothing here is ever deleted. `figures` is the one
definition of the published figures, shared by /stats and the monthly reports."""

from __future__ import annotations

import io
import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import access_log
from storage.access_log import Piece, Via
from storage.compounds import Building, Compound, Room, compound_setting, describe_room
from storage.db import (
    JSONDict,
    Prepared,
    StatusText,
    Stored,
    UTCDateTime,
    add_unless_exists,
    status_field,
    utcnow,
)
from storage.organisations import Department, departments_of_compound, officials_of
from storage.people import STAFF, Person, Role, own_rooms, people_with_role


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
    WHISTLE = "whistle"  # the secretary calls in a department (吹哨报到)
    SUPPLEMENT = "supplement"  # the reporter adds text or a photo unasked (补充); the case stays where it is
    CHASE = "chase"  # a department missed its deadline: reminded, the case stays where it is (no higher level)
    MEDIATE = "mediate"  # a neighbour dispute referred to the mediation committee (level 2)
    AGREEMENT = "agreement"  # the mediation reached an agreement (调解协议); the handler may resolve the case
    MEDIATION_FAILED = "mediation_failed"  # no agreement: the case goes to the secretary, who may call in a department


class DepartmentRating(StrEnum):
    """The secretary's rating of a department's response."""

    SATISFIED = "satisfied"
    FAIR = "fair"
    UNSATISFIED = "unsatisfied"


class Acted(StrEnum):
    """What became of an action: done, or why not (never an exception)."""

    DONE = "done"
    MOVED_ON = "moved_on"  # the case changed since the button was made or the note begun
    NOT_NOW = "not_now"  # the transition table does not allow it in the case's state
    NOT_YOURS = "not_yours"  # only the reporter answers and rates
    ALREADY_ASKED = "already_asked"  # the reporter was asked and has not answered yet
    ALREADY_RATED = "already_rated"
    TOP_LEVEL = "top_level"  # already with a department: nowhere higher
    WHISTLE_ONLY = "whistle_only"  # from the compound level only the secretary's whistle goes higher
    NO_SECRETARY = "no_secretary"
    NOT_OFFICIAL = "not_official"  # the chosen person is no department official of the compound
    NOT_DEPARTMENT = "not_department"  # the chosen department is not one of the compound's street
    NOT_HERE = "not_here"  # the case belongs to another compound than the one the person acts in
    NOT_HANDLER = "not_handler"  # neither the case's handler nor the compound's secretary
    SECRETARY_ONLY = "secretary_only"  # only the secretary calls in a department
    CLOSED = "closed"  # rated: the case is closed
    REOPENED = "reopened"  # rated low: back to the compound level, once
    NOT_MEDIABLE = "not_mediable"  # only a neighbour dispute at the compound level goes to mediation
    ANONYMOUS = "anonymous"  # an anonymous case cannot be mediated: mediation brings the parties together
    NO_MEDIATOR = "no_mediator"  # the compound has no mediation committee (nobody holds Role.MEDIATOR)
    ALREADY_MEDIATED = "already_mediated"  # a case goes to mediation once
    NOT_MEDIATOR = "not_mediator"
    MEDIATION_DONE = "mediation_done"  # the outcome was recorded already (by another mediator)


ACTIVE = (State.OPEN, State.ACCEPTED, State.NEED_INFO)
# What the reporter does to a case; every other event is the handler's (or the scheduler's).
REPORTER_EVENTS = frozenset({Event.ANSWER, Event.RATE, Event.REOPEN, Event.SUPPLEMENT})
# Events that leave the case where it is: buttons made before them stay valid.
SIDE_EVENTS = frozenset({Event.REMIND, Event.RATE_DEPARTMENT, Event.SUPPLEMENT, Event.CHASE, Event.AGREEMENT})

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
    TRANSITIONS[(_state, Event.WHISTLE)] = State.OPEN
    TRANSITIONS[(_state, Event.OVERDUE)] = State.OPEN
    TRANSITIONS[(_state, Event.RATE_DEPARTMENT)] = _state
    TRANSITIONS[(_state, Event.CHASE)] = _state  # 受理 stays 受理
    TRANSITIONS[(_state, Event.AGREEMENT)] = _state  # the handler resolves it after
    TRANSITIONS[(_state, Event.MEDIATION_FAILED)] = State.OPEN  # with the secretary, new deadlines
# A referral to mediation is a response: an open case is accepted; a waiting question keeps waiting.
TRANSITIONS[(State.OPEN, Event.MEDIATE)] = State.ACCEPTED
TRANSITIONS[(State.ACCEPTED, Event.MEDIATE)] = State.ACCEPTED
TRANSITIONS[(State.NEED_INFO, Event.MEDIATE)] = State.NEED_INFO
# While a question waits, what the reporter sends is its answer, not a supplement.
TRANSITIONS[(State.OPEN, Event.SUPPLEMENT)] = State.OPEN
TRANSITIONS[(State.ACCEPTED, Event.SUPPLEMENT)] = State.ACCEPTED


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
    Event.WHISTLE: N_("a department was called in"),
    Event.SUPPLEMENT: N_("information added by the reporter"),
    Event.CHASE: N_("deadline passed, the department reminded"),
    Event.MEDIATE: N_("referred to the mediation committee"),
    Event.AGREEMENT: N_("mediation agreement reached"),
    Event.MEDIATION_FAILED: N_("mediation failed, handed to the secretary"),
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
# What the mediation committee mediates (小事楼栋调解、大事小区调解): neighbour disputes, at the compound level.
MEDIABLE_CATEGORIES = frozenset({"neighbour"})
MEDIATION_LEVEL = 2
TOP_LEVEL = 3
LEVEL_NAMES = {1: N_("building"), 2: N_("compound"), 3: N_("department")}
DEPARTMENT_RATINGS = {DepartmentRating.SATISFIED: N_("Satisfied"), DepartmentRating.FAIR: N_("Basically satisfied"),
                      DepartmentRating.UNSATISFIED: N_("Unsatisfied")}
# The reporter's 1-5, as the buttons read them.
RATINGS = {1: N_("1 Very dissatisfied"), 2: N_("2 Dissatisfied"), 3: N_("3 Neutral"), 4: N_("4 Satisfied"),
           5: N_("5 Very satisfied")}
LOCATION_LABEL_MAX = 200
DESCRIPTION_MIN, DESCRIPTION_MAX, MAX_PHOTOS = 5, 2000, 3
# Photos the reporter sends as answers are kept with the case, up to this many in all.
MAX_CASE_PHOTOS = 2 * MAX_PHOTOS
# Defaults for the deadlines; a compound overrides them in its settings.
RESPOND_HOURS = 24
RESOLVE_DAYS: dict[int, float] = {1: 3, 2: 7, 3: 15}
# A department past its deadline is reminded again this often (`complaints.chase_hours`).
CHASE_HOURS = 24
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


def case_number(code: str, year: int, seq: int) -> str:
    return f"{code}-{year}-{seq:04d}"


class Sight(StrEnum):
    """How much of a case's reporter someone looking at the case is shown."""

    IDENTITY = "identity"  # name, room and phone
    NAMED = "named"  # 实名住户 and the building of their room: a named case, but no need to contact them
    ANONYMOUS = "anonymous"


def reporter_sight(anonymous: bool, viewer_is_reporter: bool, viewer_is_handler: bool,
                   viewer_roles: frozenset[Role]) -> Sight:
    """Least privilege (`viewer_roles`: held in the case's compound). The reporter sees themselves and the secretary
    sees every reporter; an anonymous reporter nobody else; a named reporter's name, room and phone also the case's
    current handler while handling it (`handling`), who has to reach them, while any other staff (a past handler, a
    supervising official, the handler of a case resolved or closed) sees 实名住户 and the building."""
    if viewer_is_reporter or Role.SECRETARY in viewer_roles:
        return Sight.IDENTITY
    if anonymous:
        return Sight.ANONYMOUS
    return Sight.IDENTITY if viewer_is_handler else Sight.NAMED


def handling(case: Case, person_id: int) -> bool:
    """The person handles the case now: they are its handler and it is open, accepted or waiting for the reporter's
    answer. A resolved or closed case is no longer handled (a reopened one is again), so its handler no longer needs
    to reach the reporter."""
    return person_id == case.handler_id and case.state in ACTIVE


def satisfaction_rate(ratings: list[int]) -> float | None:
    """Share of ratings that are 4 or 5 — the figure used to judge a property company."""
    if not ratings:
        return None
    return sum(1 for r in ratings if r >= 4) / len(ratings)


# ---- tables ------------------------------------------------------------------------------------------------


class Case(Stored, SQLModel, table=True):
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
    # A map pin the reporter shared (WGS-84 degrees) and what their platform called the place.
    latitude: float | None = None
    longitude: float | None = None
    location_label: str = Field(default="", max_length=LOCATION_LABEL_MAX)
    state: State = status_field(State, State.OPEN, 16, index=True)
    level: int = 1
    handler_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    # At the department level: the street's department called in (吹哨) or escalated to; its officials handle it.
    department_id: int | None = Field(default=None, foreign_key="department.id")
    # Reminders sent since the current deadline passed at the department level (the first one counts as overdue).
    chases: int = 0
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
    department_rating: DepartmentRating | None = Field(default=None, sa_type=StatusText(DepartmentRating, 16))


class CaseEvent(SQLModel, table=True):
    """The audit trail: one row per transition, append-only."""

    __tablename__ = "complaint_event"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="complaint_case.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    # None: the scheduler.
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    event: Event = status_field(Event, Event.FILE, 20)
    from_state: State | None = Field(default=None, sa_type=StatusText(State, 16))
    to_state: State = status_field(State, State.OPEN, 16)
    level: int = 1
    handler_id: int | None = Field(default=None, foreign_key="person.id")
    note: str = Field(default="", max_length=DESCRIPTION_MAX)
    # How many photos came with this step (the reporter's in `Case.photos`, a resolution's under its "resolution").
    photos: int = 0


class CaseCounter(SQLModel, table=True):
    """The last case number given out, per compound per year."""

    __tablename__ = "complaint_counter"
    compound_id: int = Field(foreign_key="compound.id", primary_key=True)
    year: int = Field(primary_key=True)
    n: int = 0


class MediationOutcome(StrEnum):
    REFERRED = "referred"  # with the mediation committee, no outcome yet
    AGREED = "agreed"  # 调解协议 reached
    FAILED = "failed"  # 调解不成


class Mediation(Stored, SQLModel, table=True):
    """A neighbour dispute's case given to the mediation committee (调解委员会) at level 2, once, and its outcome: an
    agreement (调解协议) with its document kept in the media table (a platform's file id expires), or none (an
    oral agreement, 口头协议), or a failed mediation."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="complaint_case.id", unique=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    referred_by: int = Field(foreign_key="person.id")
    referred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    note: str = Field(default="", max_length=500)
    outcome: MediationOutcome = status_field(MediationOutcome, MediationOutcome.REFERRED, 12)
    # The agreement's terms, or why no agreement was reached, as the mediator summed it up.
    summary: str = Field(default="", max_length=500)
    agreement_media_id: int | None = Field(default=None, foreign_key="media.id")
    # Who recorded the outcome (an agreement or a failure) and when.
    agreement_by: int | None = Field(default=None, foreign_key="person.id")
    agreement_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# ---- queries and writes ------------------------------------------------------------------------------------


class TransitionRefused(Exception):
    """The transition table does not allow this event in the case's state: a bug in the caller, as every action
    checks first (`check`) and answers a refusal as a value."""


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
    case.chases = 0


async def transition(session: AsyncSession, case: Case, event: Event, actor_id: int | None, now: datetime,
                     note: str = "", photos: int = 0) -> CaseEvent:
    """Move a case by the table, bump its version and write the history row; the action changed the rest."""
    new = next_state(case.state if case.id is not None else None, event)
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
                    level=case.level, handler_id=case.handler_id, note=note[:DESCRIPTION_MAX], photos=photos)
    session.add(row)
    return row


async def file_case(session: AsyncSession, compound: Compound, reporter_id: int, category: str, description: str,
                    now: datetime, *, photos: Sequence[str] = (), photo_platform: str = "",
                    building_id: int | None = None, room_id: int | None = None, anonymous: bool = False,
                    actor_id: int | None = None, note: str = "",
                    location: tuple[float, float, str] | None = None) -> Case:
    """File a case: its number, the first level and handler, the deadlines and the history's first row. `actor_id`
    is who filed it when not the reporter (a secretary turning a need into a case); `location` a shared map pin
    (latitude, longitude, label)."""
    assert compound.id is not None  # a stored compound
    case = Case(compound_id=compound.id, number=await next_number(session, compound, now), reporter_id=reporter_id,
                category=category, description=description[:DESCRIPTION_MAX],
                photos={"platform": photo_platform, "ids": list(photos)} if photos else {},
                building_id=building_id, room_id=room_id, anonymous=anonymous, opened_at=now)
    if location is not None:
        case.latitude, case.longitude = location[0], location[1]
        case.location_label = location[2][:LOCATION_LABEL_MAX]
    await first_assignment(session, compound, case)
    set_deadlines(case, compound, now)
    await transition(session, case, Event.FILE, reporter_id if actor_id is None else actor_id, now, note=note,
                     photos=len(photos))
    return case


def may_handle(case: Case, person_id: int, roles: frozenset[Role]) -> bool:
    """The case's handler acts on it, and the compound's secretary on every case of it."""
    return case.handler_id == person_id or Role.SECRETARY in roles


async def may_look_up(session: AsyncSession, case: Case, person_id: int, roles: frozenset[Role]) -> bool:
    """Who may look a case up (`/case NUMBER`, a button that shows it), holding `roles` in the case's compound: its
    reporter, the compound's secretary, its handlers current and past (from its history) while they still hold a
    staff role there, and its supervisors: the compound's officials (the street's departments) once the case has
    reached the department level; and the mediation committee (Role.MEDIATOR) once the case was referred to it. Anyone
    else is answered as for a number that does not exist, so numbers cannot be walked."""
    if person_id == case.reporter_id or Role.SECRETARY in roles:
        return True
    if Role.MEDIATOR in roles and await mediation_of(session, case.stored_id) is not None:
        return True
    if not roles & STAFF:
        return False
    supervisor = Role.OFFICIAL in roles
    if person_id == case.handler_id or (supervisor and case.level == TOP_LEVEL):
        return True
    reached = sa.or_(col(CaseEvent.handler_id) == person_id,
                     col(CaseEvent.level) == TOP_LEVEL if supervisor else sa.false())
    found = await session.exec(select(CaseEvent.id).where(CaseEvent.case_id == case.id, reached).limit(1))
    return found.first() is not None


@dataclass(frozen=True, slots=True)
class ReporterShown:
    """What someone looking at a case is shown of its reporter (`reporter_sight`); empty where not shown."""

    sight: Sight
    name: str = ""
    room: str = ""  # their room, described ("1栋1单元101"); "" when the case names none
    phone: str = ""
    building: str = ""  # Sight.NAMED: the building of their room, "" when the case names none


async def show_reporter(session: AsyncSession, case: Case, viewer_id: int, roles: frozenset[Role], now: datetime,
                        via: Via = Via.LOOKUP) -> ReporterShown:
    """The case's reporter as this viewer (holding `roles` in the case's compound) may see them. Showing another
    person's name, room and phone, or an anonymous reporter's identity, writes a row of the access log in the same
    transaction: nothing is shown that is not recorded. A mediator sees a named reporter as the handler does while the
    mediation is open: they have to bring the parties together."""
    mediating = Role.MEDIATOR in roles and (found := await mediation_of(session, case.stored_id)) is not None \
        and found.outcome == MediationOutcome.REFERRED
    sight = reporter_sight(case.anonymous, viewer_id == case.reporter_id, handling(case, viewer_id) or mediating,
                           roles)
    if sight == Sight.ANONYMOUS:
        return ReporterShown(sight)
    if sight == Sight.NAMED:
        room = await session.get(Room, case.room_id) if case.room_id is not None else None
        building = await session.get(Building, room.building_id) if room is not None else None
        return ReporterShown(sight, building=building.name if building else "")
    reporter = await session.get(Person, case.reporter_id)
    shown = ReporterShown(sight, name=reporter.name if reporter else "", phone=reporter.phone if reporter else "",
                          room=await describe_room(session, case.room_id) if case.room_id is not None else "")
    if viewer_id != case.reporter_id:
        pieces = [Piece.NAME, *([Piece.ROOM] if shown.room else []), *([Piece.PHONE] if shown.phone else [])]
        await access_log.record(session, now, case.compound_id, viewer_id, case.reporter_id, pieces,
                                case_id=case.stored_id, hidden=case.anonymous, via=via)
    return shown


async def reporter_buildings(session: AsyncSession, person_id: int, compound_id: int) -> dict[int, int]:
    """The buildings a resident lives in (building id -> their room there): the places they can file about."""
    found: dict[int, int] = {}
    for room_id in await own_rooms(session, person_id, compound_id):
        room = await session.get(Room, room_id)
        if room is not None:
            found.setdefault(room.building_id, room_id)
    return found


async def officials(session: AsyncSession, compound_id: int) -> list[Person]:
    """The departments (officials) a secretary may call in for the compound's cases."""
    people = [await session.get(Person, i) for i in await people_with_role(session, compound_id, Role.OFFICIAL)]
    return [p for p in people if p is not None]


def check(case: Case, event: Event, version: int | None = None) -> Acted | None:
    """Why `event` cannot happen to the case now (None: it can). `version` is the one the button or note saw."""
    if event == Event.ASK and case.state == State.NEED_INFO:
        return Acted.ALREADY_ASKED
    if event == Event.RATE_DEPARTMENT:
        if case.department_rating is not None:
            return Acted.ALREADY_RATED
        return None if case.level == TOP_LEVEL and next_state(case.state, event) else Acted.NOT_NOW
    if version is not None and version != case.version:
        return Acted.MOVED_ON
    if event == Event.MEDIATE and case.state in ACTIVE:
        if case.category not in MEDIABLE_CATEGORIES or case.level != MEDIATION_LEVEL:
            return Acted.NOT_MEDIABLE
        if case.anonymous:
            return Acted.ANONYMOUS
    if event in (Event.ESCALATE, Event.WHISTLE) and case.state in ACTIVE:
        if case.level >= TOP_LEVEL:
            return Acted.TOP_LEVEL
        if (case.level + 1 == TOP_LEVEL) != (event == Event.WHISTLE):
            return Acted.WHISTLE_ONLY if event == Event.ESCALATE else Acted.NOT_NOW
    return None if next_state(case.state, event) is not None else Acted.NOT_NOW


def refusal(case: Case, event: Event, person_id: int, compound_id: int | None, roles: frozenset[Role],
            version: int | None = None) -> Acted | None:
    """Why this person, acting in the compound `compound_id` where they hold `roles`, may not do `event` to the case
    now (None: they may). The reporter answers and rates; the case's handler and the compound's secretary do the
    rest, and only the secretary calls in a department."""
    if event in REPORTER_EVENTS:
        if case.reporter_id != person_id:
            return Acted.NOT_YOURS
    elif case.compound_id != compound_id:
        return Acted.NOT_HERE
    elif not may_handle(case, person_id, roles):
        return Acted.NOT_HANDLER
    elif event == Event.WHISTLE and Role.SECRETARY not in roles:
        return Acted.SECRETARY_ONLY
    return check(case, event, version)


def onward(case: Case, roles: frozenset[Role]) -> Event:
    """How a handler holding `roles` sends the case on: one level up from a building; from the compound level the
    secretary calls in a department (吹哨) and anyone else hands the case to the secretary. From a department it
    goes nowhere higher (`check` refuses the escalation)."""
    if case.level + 1 != TOP_LEVEL:
        return Event.ESCALATE
    return Event.WHISTLE if Role.SECRETARY in roles else Event.HAND_OVER


def handler_actions(case: Case, roles: frozenset[Role]) -> tuple[Event, ...]:
    """What the case's handler (holding `roles`) can do to it now, in the order offered: accept an open case, ask
    the reporter (not again while a question waits), resolve it, send it on; nothing once it is resolved."""
    return tuple(event for event in (Event.ACCEPT, Event.ASK, Event.RESOLVE, onward(case, roles))
                 if check(case, event) is None)


def is_overdue(case: Case, now: datetime) -> bool:
    """An open case past its deadline (a resolved case's `due_at` is its rating reminder, not a deadline)."""
    return case.state in ACTIVE and case.due_at is not None and case.due_at <= now


async def accept(session: AsyncSession, case: Case, actor_id: int, now: datetime, version: int | None = None) -> Acted:
    if (refused := check(case, Event.ACCEPT, version)) is not None:
        return refused
    case.responded_at = now
    case.due_at = case.resolve_by
    await transition(session, case, Event.ACCEPT, actor_id, now)
    return Acted.DONE


async def ask_more(session: AsyncSession, case: Case, actor_id: int, now: datetime, question: str,
                   version: int | None = None) -> Acted:
    """The handler asks the reporter (请补充); the deadline's clock stops until the answer."""
    if (refused := check(case, Event.ASK, version)) is not None:
        return refused
    case.responded_at = case.responded_at or now
    case.asked_at = now
    case.due_at = None
    await transition(session, case, Event.ASK, actor_id, now, question)
    return Acted.DONE


async def answer(session: AsyncSession, case: Case, reporter_id: int, now: datetime, text: str,
                 photo: tuple[str, str] | None = None, version: int | None = None) -> Acted:
    """The reporter's answer: text, or a photo (platform, file id) kept with the case. The time spent waiting
    for it does not count against the deadline."""
    if case.reporter_id != reporter_id:
        return Acted.NOT_YOURS
    if (refused := check(case, Event.ANSWER, version)) is not None:
        return refused
    if case.asked_at is not None and case.resolve_by is not None:
        case.resolve_by += now - case.asked_at
    case.due_at = case.resolve_by
    await transition(session, case, Event.ANSWER, reporter_id, now, text, photos=_keep_photo(case, photo))
    return Acted.DONE


def _keep_photo(case: Case, photo: tuple[str, str] | None) -> int:
    """Keep a photo the reporter sent with the case (one platform's, up to MAX_CASE_PHOTOS): 1 if kept."""
    if photo is None:
        return 0
    platform, file_id = photo
    ids = list(case.photos.get("ids", []))
    if case.photos.get("platform", platform) != platform or len(ids) >= MAX_CASE_PHOTOS:
        return 0
    case.photos = {**case.photos, "platform": platform, "ids": [*ids, file_id]}
    return 1


async def add_information(session: AsyncSession, case: Case, reporter_id: int, now: datetime, text: str,
                          photo: tuple[str, str] | None = None, version: int | None = None) -> tuple[Acted, Event]:
    """What the reporter adds (补充), text or a photo: the answer to the handler's waiting question (`answer`,
    checked against the `version` the question was asked at), or else a supplement that leaves the case where it
    is. Returns what became of it and as which event."""
    if case.reporter_id != reporter_id:
        return Acted.NOT_YOURS, Event.SUPPLEMENT
    if case.state == State.NEED_INFO:
        return await answer(session, case, reporter_id, now, text, photo, version), Event.ANSWER
    if (refused := check(case, Event.SUPPLEMENT)) is not None:
        return refused, Event.SUPPLEMENT
    await transition(session, case, Event.SUPPLEMENT, reporter_id, now, text, photos=_keep_photo(case, photo))
    return Acted.DONE, Event.SUPPLEMENT


async def resolve(session: AsyncSession, compound: Compound, case: Case, actor_id: int, now: datetime, note: str,
                  version: int | None = None, photos: tuple[str, Sequence[str]] | None = None) -> Acted:
    """Resolved with a note for the reporter and the ledger, and perhaps photos of the result (platform, file ids;
    kept with the case's photos, so they are forgotten with them); the reporter is asked to rate it."""
    if (refused := check(case, Event.RESOLVE, version)) is not None:
        return refused
    case.responded_at = case.responded_at or now
    case.resolved_at = now
    case.resolution = note[:DESCRIPTION_MAX]
    case.reminded = False
    case.due_at = now + rating_windows(compound)[0]
    shown = list(photos[1])[:MAX_PHOTOS] if photos else []
    if shown and photos is not None:
        case.photos = {**case.photos, "resolution": {"platform": photos[0], "ids": shown}}
    await transition(session, case, Event.RESOLVE, actor_id, now, note, photos=len(shown))
    return Acted.DONE


def resolution_photos(case: Case) -> tuple[str, list[str]]:
    """(platform, file ids) of the photos of the case's last resolution; none once forgotten."""
    found = case.photos.get("resolution") or {}
    return str(found.get("platform", "")), [str(i) for i in found.get("ids", [])]


async def escalate(session: AsyncSession, compound: Compound, case: Case, actor_id: int, now: datetime,
                   note: str = "", version: int | None = None) -> Acted:
    """One level up by the handler (building → compound), to whoever handles that level."""
    if (refused := check(case, Event.ESCALATE, version)) is not None:
        return refused
    case.level += 1
    case.handler_id = await handler_for(session, compound, case, case.level, compound_role_of(compound, case))
    set_deadlines(case, compound, now)
    await transition(session, case, Event.ESCALATE, actor_id, now, note)
    return Acted.DONE


async def hand_over(session: AsyncSession, compound: Compound, case: Case, actor_id: int, now: datetime,
                    note: str = "", version: int | None = None) -> Acted:
    """The same level, to the secretary (who alone may call in a department)."""
    assert compound.id is not None
    if (refused := check(case, Event.HAND_OVER, version)) is not None:
        return refused
    secretaries = await people_with_role(session, compound.id, Role.SECRETARY)
    if not secretaries:
        return Acted.NO_SECRETARY
    case.handler_id = secretaries[0]
    set_deadlines(case, compound, now)
    await transition(session, case, Event.HAND_OVER, actor_id, now, note)
    return Acted.DONE


async def whistle(session: AsyncSession, compound: Compound, case: Case, actor_id: int, official_id: int | None,
                  now: datetime, note: str = "", version: int | None = None, department_id: int | None = None) -> Acted:
    """吹哨报到: the secretary calls in a department of the compound's street (`department_id`; its first official
    handles the case, or nobody yet), or, where the compound belongs to no street with departments, an official of
    the compound (`official_id`)."""
    assert compound.id is not None
    if (refused := check(case, Event.WHISTLE, version)) is not None:
        return refused
    if department_id is not None:
        if department_id not in {d.id for d in await departments_of_compound(session, compound.id)}:
            return Acted.NOT_DEPARTMENT
        await _to_department(session, case, department_id)
    elif official_id is None or official_id not in await people_with_role(session, compound.id, Role.OFFICIAL):
        return Acted.NOT_OFFICIAL
    else:
        case.level, case.handler_id = TOP_LEVEL, official_id
    set_deadlines(case, compound, now)
    await transition(session, case, Event.WHISTLE, actor_id, now, note)
    return Acted.DONE


async def act(session: AsyncSession, compound: Compound, case: Case, event: Event, actor_id: int, now: datetime,
              note: str, version: int | None = None, official_id: int | None = None,
              photos: tuple[str, Sequence[str]] | None = None, department_id: int | None = None) -> Acted:
    """A handler's action that carries a note, by its event: 请补充 (ask), 办结 (resolve), 上报 (escalate), 移交 (hand
    over), 吹哨 (whistle, calling in the department `official_id`) or 调解 (mediate)."""
    if event == Event.ASK:
        return await ask_more(session, case, actor_id, now, note, version)
    if event == Event.RESOLVE:
        return await resolve(session, compound, case, actor_id, now, note, version, photos)
    if event == Event.ESCALATE:
        return await escalate(session, compound, case, actor_id, now, note, version)
    if event == Event.HAND_OVER:
        return await hand_over(session, compound, case, actor_id, now, note, version)
    if event == Event.WHISTLE:
        return await whistle(session, compound, case, actor_id, official_id, now, note, version, department_id)
    if event == Event.MEDIATE:
        return await refer_to_mediation(session, case, actor_id, now, note, version)
    return Acted.NOT_NOW


async def rate(session: AsyncSession, compound: Compound, case: Case, reporter_id: int, stars: int, now: datetime,
               version: int | None = None) -> Acted:
    """The reporter's 1-5 stars: closes the case, or (1-2, the first time) reopens it at the compound level in
    front of the secretary. Either way the rating is in the history, dated, for the figures."""
    assert compound.id is not None
    if case.reporter_id != reporter_id:
        return Acted.NOT_YOURS
    if not 1 <= stars <= 5:
        return Acted.NOT_NOW
    event = rating_event(stars, case.reopened)
    if (refused := check(case, event, version)) is not None:
        return refused
    case.rating = stars
    if event == Event.RATE:
        case.closed_at, case.due_at = now, None
        await transition(session, case, Event.RATE, reporter_id, now, str(stars))
        return Acted.CLOSED
    secretaries = await people_with_role(session, compound.id, Role.SECRETARY)
    case.reopened += 1
    case.level = 2
    case.handler_id = secretaries[0] if secretaries else case.handler_id
    case.resolved_at = None
    set_deadlines(case, compound, now)
    await transition(session, case, Event.REOPEN, reporter_id, now, str(stars))
    return Acted.REOPENED


async def rate_department(session: AsyncSession, case: Case, actor_id: int, rating: DepartmentRating,
                          now: datetime) -> Acted:
    """The secretary's rating of the department's response; the history keeps the code, never shown raw."""
    if (refused := check(case, Event.RATE_DEPARTMENT)) is not None:
        return refused
    case.department_rating = rating
    await transition(session, case, Event.RATE_DEPARTMENT, actor_id, now, rating.value)
    return Acted.DONE


async def on_due(session: AsyncSession, compound: Compound, case: Case, now: datetime) -> Event | None:
    """What the scheduler does with a case whose moment has come: an open case missed its deadline (one level
    up, or the department chased again tomorrow), a resolved one gets its rating reminder, then closes unrated."""
    if case.state in ACTIVE and case.level >= TOP_LEVEL:
        # Nowhere higher: the department is chased (reminded), the case keeps its state and handler. Only the first
        # reminder after a deadline counts as overdue; the daily repeats do not.
        if case.chases == 0:
            case.overdue_count += 1
        case.chases += 1
        if case.handler_id is None and case.department_id is not None:  # an official joined since
            case.handler_id = next(iter(await officials_of(session, case.department_id)), None)
        case.due_at = now + timedelta(hours=float(compound_setting(compound, "complaints.chase_hours", CHASE_HOURS)))
        await transition(session, case, Event.CHASE, None, now)
        return Event.CHASE
    if case.state in ACTIVE:
        case.overdue_count += 1
        case.level += 1
        if case.level == TOP_LEVEL and (department := await department_for(session, compound)) is not None:
            await _to_department(session, case, department.stored_id)
        else:
            case.handler_id = await handler_for(session, compound, case, case.level, compound_role_of(compound, case))
        set_deadlines(case, compound, now)
        await transition(session, case, Event.OVERDUE, None, now)
        return Event.OVERDUE
    if case.state == State.RESOLVED and not case.reminded:
        case.reminded = True
        case.due_at = (case.resolved_at or now) + rating_windows(compound)[1]
        await transition(session, case, Event.REMIND, None, now)
        return Event.REMIND
    if case.state == State.RESOLVED:
        case.closed_at, case.due_at = now, None
        await transition(session, case, Event.EXPIRE, None, now)
        return Event.EXPIRE
    case.due_at = None
    session.add(case)
    return None


# ---- mediation (调解委员会) -----------------------------------------------------------------------------


async def mediation_of(session: AsyncSession, case_id: int) -> Mediation | None:
    return (await session.exec(select(Mediation).where(Mediation.case_id == case_id))).first()


async def mediation_refusal(session: AsyncSession, case: Case, person_id: int, compound_id: int | None,
                            roles: frozenset[Role], version: int | None = None) -> Acted | None:
    """Why this person may not refer the case to the mediation committee now (None: they may): its handler or the
    secretary, a named neighbour dispute at the compound level, not referred before, and a committee to take it."""
    if (refused := refusal(case, Event.MEDIATE, person_id, compound_id, roles, version)) is not None:
        return refused
    if await mediation_of(session, case.stored_id) is not None:
        return Acted.ALREADY_MEDIATED
    if not await people_with_role(session, case.compound_id, Role.MEDIATOR):
        return Acted.NO_MEDIATOR
    return None


async def refer_to_mediation(session: AsyncSession, case: Case, actor_id: int, now: datetime, note: str = "",
                             version: int | None = None) -> Acted:
    """The handler (or the secretary) gives the dispute to the mediation committee; the case stays theirs (首问负责)
    and keeps its deadline, and counts as answered. Who may do it is `mediation_refusal`, checked by the caller."""
    if (refused := check(case, Event.MEDIATE, version)) is not None:
        return refused
    if await mediation_of(session, case.stored_id) is not None:
        return Acted.ALREADY_MEDIATED
    if not await people_with_role(session, case.compound_id, Role.MEDIATOR):
        return Acted.NO_MEDIATOR
    session.add(Mediation(case_id=case.stored_id, compound_id=case.compound_id, referred_by=actor_id,
                          referred_at=now, note=note[:500]))
    if case.state == State.OPEN:
        case.responded_at = now
        case.due_at = case.resolve_by
    await transition(session, case, Event.MEDIATE, actor_id, now, note)
    return Acted.DONE


async def record_mediation(session: AsyncSession, compound: Compound, case: Case, mediator_id: int,
                           roles: frozenset[Role], now: datetime, agreed: bool, summary: str,
                           document_id: int | None = None) -> Acted:
    """A mediator (holding `roles` in the case's compound) records the outcome, once: an agreement (调解协议) with its
    document (`document_id` in the media table; None: an oral agreement) goes on the case's timeline and the handler
    may resolve the case; a failed mediation sends the case on as the rules say: from the compound level to the
    secretary, who alone may call in a department (吹哨). A case that left the compound level or was resolved
    meanwhile has moved on."""
    if Role.MEDIATOR not in roles:
        return Acted.NOT_MEDIATOR
    mediation = await mediation_of(session, case.stored_id)
    if mediation is None or mediation.compound_id != compound.id:
        return Acted.NOT_NOW
    if mediation.outcome != MediationOutcome.REFERRED:
        return Acted.MEDIATION_DONE
    if case.state not in ACTIVE or case.level != MEDIATION_LEVEL:
        return Acted.MOVED_ON
    secretaries = await people_with_role(session, compound.stored_id, Role.SECRETARY)
    if not agreed and not secretaries:
        return Acted.NO_SECRETARY
    outcome = MediationOutcome.AGREED if agreed else MediationOutcome.FAILED
    # Claimed: two mediators pressing at once record one outcome.
    claimed = await session.exec(update(Mediation).where(
        col(Mediation.id) == mediation.id, col(Mediation.outcome) == MediationOutcome.REFERRED).values(
        outcome=outcome, summary=summary[:500], agreement_media_id=document_id if agreed else None,
        agreement_by=mediator_id, agreement_at=now))
    if claimed.rowcount != 1:
        return Acted.MEDIATION_DONE
    await session.refresh(mediation)
    if agreed:
        await transition(session, case, Event.AGREEMENT, mediator_id, now, summary)
        return Acted.DONE
    case.handler_id = secretaries[0]
    set_deadlines(case, compound, now)
    await transition(session, case, Event.MEDIATION_FAILED, mediator_id, now, summary)
    return Acted.DONE


async def agreement_document(session: AsyncSession, mediation: Mediation | None) -> tuple[str, str] | None:
    """(file name, mime) of a mediation's agreement document, without loading its bytes; None when there is none."""
    from storage.outbox import Media

    if mediation is None or mediation.agreement_media_id is None:
        return None
    found = (await session.exec(select(Media.filename, Media.mime).where(
        Media.id == mediation.agreement_media_id))).first()
    return (found[0], found[1]) if found is not None else None


async def compound_of(session: AsyncSession, case: Case) -> Compound:
    compound = await session.get(Compound, case.compound_id)
    assert compound is not None  # a case's compound is a foreign key
    return compound


async def load_case(session: AsyncSession, case_id: int) -> Case | None:
    # A read that decides a write: lock the row on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises).
    result = await session.exec(select(Case).where(Case.id == case_id).with_for_update())
    return result.first()


async def case_by_number(session: AsyncSession, number: str) -> Case | None:
    result = await session.exec(select(Case).where(Case.number == number.strip().upper()))
    return result.first()


async def history(session: AsyncSession, case_id: int | None) -> list[CaseEvent]:
    """A case's history, oldest first (none for a case not stored yet)."""
    if case_id is None:
        return []
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


async def department_for(session: AsyncSession, compound: Compound) -> Department | None:
    """The department an overdue compound-level case goes to: `complaints.department` (a department's name) of the
    compound's street, else its first department; None when the street has none (then an official of the compound,
    `handler_for`)."""
    departments = await departments_of_compound(session, compound.stored_id)
    chosen = str(compound_setting(compound, "complaints.department", ""))
    return next((d for d in departments if d.name == chosen), departments[0] if departments else None)


async def _to_department(session: AsyncSession, case: Case, department_id: int) -> None:
    """The case is the department's now; its first official handles it (none yet: nobody, and the secretary is
    told)."""
    case.level, case.department_id = TOP_LEVEL, department_id
    case.handler_id = next(iter(await officials_of(session, department_id)), None)


async def department_officials(session: AsyncSession, case: Case) -> list[int]:
    """Who answers for a department-level case: its department's officials, else its handler."""
    if case.department_id is not None:
        return await officials_of(session, case.department_id)
    return [case.handler_id] if case.handler_id is not None else []


async def department_name(session: AsyncSession, case: Case) -> str:
    department = await session.get(Department, case.department_id) if case.department_id is not None else None
    return department.name if department is not None else ""


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
    return await _OF_REPORTER.objects(session, person_id=person_id, compound_id=compound_id, limit=limit)


async def current_cases(session: AsyncSession, person_id: int, compound_id: int, limit: int) -> list[Case]:
    """The person's cases still being handled or waiting for their confirmation, newest first."""
    return await CURRENT.objects(session, person_id=person_id, compound_id=compound_id, limit=limit)


# A reporter's cases, newest first: fixed queries on the driver.
_REPORTERS = (select(Case).where(Case.reporter_id == sa.bindparam("person_id"),
                                 Case.compound_id == sa.bindparam("compound_id"))
              .order_by(col(Case.id).desc()).limit(sa.bindparam("limit")))
_OF_REPORTER = Prepared(_REPORTERS, Case)
# Those still open: asked by every /start (its "open for you now" lines, storage/start.py).
CURRENT = Prepared(_REPORTERS.where(col(Case.state).in_([*ACTIVE, State.RESOLVED])), Case)


async def queue(session: AsyncSession, compound_id: int, person_id: int, roles: frozenset[Role], now: datetime,
                limit: int = 30) -> list[Case]:
    """Open cases, overdue first, then by deadline: the secretary's queue is all of the compound's (they may act on
    every case), anyone else's their own."""
    query = select(Case).where(Case.compound_id == compound_id, col(Case.state).in_([*ACTIVE, State.RESOLVED]))
    if Role.SECRETARY not in roles:
        query = query.where(Case.handler_id == person_id)
    overdue_first = sa.case((sa.and_(col(Case.due_at).is_not(None), col(Case.due_at) <= now), 0), else_=1)
    result = await session.exec(query.order_by(overdue_first, col(Case.overdue_count).desc(),
                                               col(Case.due_at), col(Case.id)).limit(limit))
    return list(result.all())


async def due_cases(session: AsyncSession, now: datetime, limit: int = 200) -> list[Case]:
    """Cases whose next moment has come (deadline passed, rating reminder, unrated closing): uses the
    index on `due_at`, so the scan costs the due rows, not the ledger's size."""
    # Locked on PostgreSQL (a case a button is changing right now waits for the next round); SQLite's
    # BEGIN IMMEDIATE already serialises.
    result = await session.exec(
        select(Case).where(col(Case.due_at).is_not(None), col(Case.due_at) <= now)
        .order_by(col(Case.due_at)).limit(limit).with_for_update(skip_locked=True)
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


def hours_between(dialect: str, start: Any, end: Any) -> sa.ColumnElement[Any]:
    """`end - start` in hours, computed by the database (no timestamps to parse in Python)."""
    if dialect == "sqlite":  # timestamps are stored as UTC text that julianday() reads
        return (func.julianday(col(end)) - func.julianday(col(start))) * 24
    return func.extract("epoch", col(end) - col(start)) / 3600


@dataclass
class Figures:
    """A period's published complaint figures for one compound."""

    opened: int = 0
    overdue: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    by_level: dict[int, int] = field(default_factory=dict)
    resolved: int = 0
    median_hours: float | None = None
    rated: int = 0
    satisfied: int = 0

    @property
    def satisfaction(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None


_STARS = re.compile(r"[1-5]")


def _columns(*columns: Any) -> sa.Select[Any]:
    """A select over columns of several tables (typed loosely: SQLModel's attributes confuse the overloads)."""
    return sa.select(*columns)


async def figures(session: AsyncSession, start: datetime, end: datetime,
                  compound_ids: Sequence[int] | None = None) -> dict[int, Figures]:
    """The one definition of the published figures of [start, end), per compound (all when `compound_ids` is
    None), that /stats and the monthly reports both show:
    - opened, by category and by level, and how many of those went overdue: the cases opened in the period;
    - resolved and the median hours to resolve: every resolution dated in the period (from the history, so a
      case reopened later still counts where it was resolved), from the case's opening;
    - satisfaction: every rating given in the period, 4-5 stars counting as satisfied, including the low one
      that reopened a case (it used to drop out, leaving 100 %)."""
    found: dict[int, Figures] = defaultdict(Figures)
    # For the whole deployment no compound filter: an IN list of every compound steers the planner to the
    # compound_id index (a scan of every case) instead of the covering month index's range scan.
    only = col(Case.compound_id).in_(list(compound_ids)) if compound_ids is not None else sa.true()
    opened = (_columns(Case.compound_id, Case.category, Case.level, func.count(),
                        func.sum(sa.case((col(Case.overdue_count) > 0, 1), else_=0)))
              .where(only, col(Case.opened_at) >= start, col(Case.opened_at) < end)
              .group_by(col(Case.compound_id), col(Case.category), col(Case.level)))
    for compound_id, category, level, n, overdue in (await session.execute(opened)).all():
        f = found[compound_id]
        f.opened += n
        f.overdue += int(overdue or 0)
        f.by_category[category] = f.by_category.get(category, 0) + n
        f.by_level[int(level)] = f.by_level.get(int(level), 0) + n
    dialect = session.get_bind().dialect.name
    dated = (_columns(Case.compound_id, CaseEvent.event, CaseEvent.note,
                       hours_between(dialect, Case.opened_at, CaseEvent.at))
             .join(Case, col(Case.id) == CaseEvent.case_id)
             .where(only, col(CaseEvent.event).in_([Event.RESOLVE, Event.RATE, Event.REOPEN]),
                    col(CaseEvent.at) >= start, col(CaseEvent.at) < end))
    durations: dict[int, list[float]] = defaultdict(list)
    ratings: dict[int, list[int]] = defaultdict(list)
    for compound_id, event, note, hours in (await session.execute(dated)).all():
        if event == Event.RESOLVE:
            durations[compound_id].append(float(hours))
        elif _STARS.fullmatch(note.strip()):
            ratings[compound_id].append(int(note))
    for compound_id, hours in durations.items():
        found[compound_id].resolved = len(hours)
        found[compound_id].median_hours = statistics.median(hours)
    for compound_id, given in ratings.items():
        found[compound_id].rated = len(given)
        found[compound_id].satisfied = sum(1 for stars in given if stars >= 4)
    for f in found.values():
        f.by_category = dict(sorted(f.by_category.items(), key=lambda kv: (-kv[1], kv[0])))
    return dict(found)


LEDGER_COLUMNS = (N_("Number"), N_("Opened"), N_("Category"), N_("Place"), N_("Reporter"), N_("Anonymous"),
                  N_("State"), N_("Level"), N_("Handler"), N_("Times overdue"), N_("Resolved"), N_("Rating"),
                  N_("Department rating"), N_("Description"), N_("Resolution"))


def ledger_columns(labels: dict[str, str] | None = None) -> list[Any]:
    """The ledger's columns; `labels` adds (or overrides) what a code is shown as (categories, states, levels
    and department ratings by default)."""
    from storage.ledger import Column, Kind

    shown: dict[str, str] = {c.code: c.label for c in CATEGORIES}
    shown.update({state.value: name for state, name in STATE_NAMES.items()})
    shown.update({str(level): name for level, name in LEVEL_NAMES.items()})
    shown.update({rating.value: name for rating, name in DEPARTMENT_RATINGS.items()})
    shown.update(labels or {})
    kinds = (Kind.CODE, Kind.DATETIME, Kind.TEXT, Kind.TEXT, Kind.TEXT, Kind.BOOL, Kind.TEXT, Kind.TEXT, Kind.TEXT,
             Kind.INT, Kind.DATETIME, Kind.INT, Kind.TEXT, Kind.TEXT, Kind.TEXT)
    widths: dict[int, float] = {0: 16, 13: 40, 14: 32}
    return [Column(header, kind, shown, widths.get(index))
            for index, (header, kind) in enumerate(zip(LEDGER_COLUMNS, kinds, strict=True))]


@dataclass(frozen=True, slots=True)
class LedgerReader:
    """Who exports the ledger in the chat, holding `roles` in its compound: the reporters are shown to them as
    `reporter_sight` says, and every name shown is access-logged."""

    person_id: int
    roles: frozenset[Role]
    now: datetime


async def ledger_reporters(session: AsyncSession, cases: Sequence[Case], names: dict[int | None, str],
                           reader: LedgerReader | None, anonymous: str, named: str) -> dict[int, str]:
    """The Reporter column, case id -> what it shows. An anonymous case's reporter is never in a ledger (it travels
    as a file); a named one is shown by name where `reporter_sight` allows it (the secretary, the case's current
    handler while handling it) and as `named` to anyone else (a supervisor: 业主监事会 reads the ledger, not who complained). A name
    shown to someone other than the reporter writes a row of the access log (via export) in the same transaction.
    Without a reader (the operator's `linli export cases`) names are shown, unlogged, as the shell has no person."""
    shown: dict[int, str] = {}
    for case in cases:
        if case.anonymous:
            shown[case.stored_id] = anonymous
            continue
        if reader is None:
            shown[case.stored_id] = names.get(case.reporter_id, "")
            continue
        sight = reporter_sight(False, reader.person_id == case.reporter_id, handling(case, reader.person_id),
                               reader.roles)
        if sight != Sight.IDENTITY:
            shown[case.stored_id] = named
            continue
        shown[case.stored_id] = names.get(case.reporter_id, "")
        if reader.person_id != case.reporter_id:
            await access_log.record(session, reader.now, case.compound_id, reader.person_id, case.reporter_id,
                                    [Piece.NAME], case_id=case.stored_id, via=Via.EXPORT)
    return shown


async def ledger_rows(session: AsyncSession, compound: Compound, start: datetime, end: datetime,
                      labels: dict[str, str] | None = None,
                      reader: LedgerReader | None = None) -> list[tuple[object, ...]]:
    """One row per case opened in [start, end), as `ledger_columns` describes them (codes, not words); the
    reporters as `ledger_reporters` shows them to `reader`."""
    cases = await ledger(session, compound.stored_id, start, end)
    people = {case.reporter_id for case in cases} | {case.handler_id for case in cases if case.handler_id}
    names = dict((await session.exec(select(Person.id, Person.name).where(col(Person.id).in_(people))))
                 .all()) if people else {}
    buildings = dict((await session.exec(select(Building.id, Building.name).where(
        Building.compound_id == compound.stored_id))).all())
    labels = labels or {}
    common, anonymous = labels.get("common", N_("a common area")), labels.get("anonymous", N_("anonymous"))
    reporters = await ledger_reporters(session, cases, names, reader, anonymous,
                                       labels.get("named", N_("a named resident")))
    return [(case.number, case.opened_at, case.category,
             " · ".join(part for part in (buildings.get(case.building_id or 0, common), case.location_label) if part),
             reporters[case.stored_id], case.anonymous,
             case.state.value, str(case.level), names.get(case.handler_id or 0, ""), case.overdue_count,
             case.resolved_at, case.rating, case.department_rating, case.description, case.resolution)
            for case in cases]


async def ledger_xlsx(session: AsyncSession, compound: Compound, start: datetime, end: datetime,
                      t: Any = None, labels: dict[str, str] | None = None, reader: LedgerReader | None = None) -> bytes:
    """The case ledger (诉求台账) as an XLSX workbook: one row per case opened in [start, end), through the one
    ledger writer, in `t`'s language (the compound's when None); the reporters as `reader` may see them."""
    from storage import ledger as writer

    zone = ZoneInfo(compound.timezone)
    t = t or writer.translator(compound.language)
    rows = await ledger_rows(session, compound, start, end, labels, reader)
    last = (end - timedelta(seconds=1)).astimezone(zone).date()
    return writer.render(t, writer.Ledger(N_("Case ledger"), compound.name,
                                          writer.period(t, start.astimezone(zone).date(), last),
                                          [writer.Sheet(N_("Cases"), ledger_columns(labels), rows)], zone))


EVIDENCE_SHEETS = (N_("Grades"), N_("Rectification orders"), N_("Overdue cases"))
EVIDENCE_COLUMNS = (
    (N_("Period"), N_("Grade"), N_("Score"), N_("Households answered"), N_("Closes")),
    (N_("Order"), N_("Items"), N_("Deadline"), N_("Status"), N_("Company's report"), N_("Sent back because"),
     N_("Escalated")),
    (N_("Number"), N_("Opened"), N_("Category"), N_("Level"), N_("Times overdue"), N_("State"), N_("Resolved"),
     N_("Rating"), N_("Description"), N_("Resolution")),
)


async def revocation_evidence_xlsx(session: AsyncSession, compound: Compound, sheets: tuple[str, ...] = EVIDENCE_SHEETS,
                                   columns: tuple[tuple[str, ...], ...] = EVIDENCE_COLUMNS,
                                   labels: dict[str, str] | None = None) -> bytes:
    """The evidence of a recommendation to revoke the property company's qualification, as one workbook: its
    grades, its rectification orders and the compound's cases that went overdue in the property company's
    categories (`sheets` and `columns` as the reader's language says them)."""
    from openpyxl import Workbook

    from storage import property as company

    zone, labels = ZoneInfo(compound.timezone), labels or {}

    def when(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""

    def score(total: str | None) -> object:
        try:
            return round(float(Fraction(total)), 1) if total else ""
        except (ValueError, ZeroDivisionError):
            return total or ""

    book = Workbook()
    grades, orders, overdue = book.active, book.create_sheet(), book.create_sheet()
    assert grades is not None
    for sheet, title, header in zip((grades, orders, overdue), sheets, columns, strict=True):
        sheet.title = title[:31]
        sheet.append([_cell(h) for h in header])
    for row in reversed(await company.history(session, compound.stored_id, limit=40)):
        grades.append([_cell(v) for v in (row.period, row.grade or "", score(row.total),
                                          row.details.get("answers", ""), when(row.closes_at))])
    for order in await company.rectifications_of(session, compound.stored_id):
        orders.append([_cell(v) for v in (order.id, order.items, when(order.deadline),
                                          labels.get(order.status, order.status), order.response,
                                          order.sent_back_reason, when(order.escalated_at))])
    property_categories = [c.code for c in CATEGORIES if c.compound_role == Role.PROPERTY]
    cases = await session.exec(select(Case).where(Case.compound_id == compound.stored_id, col(Case.overdue_count) > 0,
                                                  col(Case.category).in_(property_categories))
                               .order_by(col(Case.id)))
    for case in cases.all():
        overdue.append([_cell(v) for v in (case.number, when(case.opened_at), labels.get(case.category, case.category),
                                           case.level, case.overdue_count, labels.get(case.state, case.state),
                                           when(case.resolved_at), case.rating or "", case.description,
                                           case.resolution)])
    for sheet in (grades, orders, overdue):
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # typed text is never a formula
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# What a worksheet cannot hold: control characters (openpyxl refuses the whole workbook for one ESC that an
# older row may still contain) and lone surrogates (not encodable).
_NOT_IN_CELLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def _cell(value: object) -> object:
    return _NOT_IN_CELLS.sub("", value) if isinstance(value, str) else value
