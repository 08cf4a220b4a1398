"""The monthly figures every seed article judges its results by, computed with SQL aggregates for all
compounds at once: complaints (opened, resolved, overdue, by category and level, time to resolve,
satisfaction: `storage.complaints.figures`, the one definition /stats shows too), volunteer hours and points,
assembly turnout, meetings, needs, service orders, property grade."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import complaints
from storage.assembly import Assembly, Ballot
from storage.compounds import Compound, Room
from storage.db import UTCDateTime, add_unless_exists
from storage.meetings import Meeting, MeetingAttendance, MeetingRsvp
from storage.needs import Need
from storage.points import PointsEntry, Redemption
from storage.property import Assessment
from storage.services import ServiceOrder
from storage.volunteering import TaskSignup, VolunteerTask


@dataclass
class MonthFigures:
    compound_id: int
    month: str
    opened: int = 0
    resolved: int = 0
    overdue: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    by_level: dict[int, int] = field(default_factory=dict)
    median_hours: float | None = None
    rated: int = 0
    satisfied: int = 0
    volunteer_hours: float = 0.0
    points_given: int = 0
    points_redeemed: int = 0
    assemblies: int = 0
    ballots: int = 0
    rooms: int = 0
    meetings: int = 0
    attending: int = 0
    signed_in: int = 0  # 签到: people present at the month's meetings
    needs_posted: int = 0
    needs_settled: int = 0
    orders: int = 0
    orders_done: int = 0
    order_rating: float | None = None
    property_grade: str | None = None

    @property
    def satisfaction(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None

    @property
    def overdue_rate(self) -> float | None:
        return self.overdue / self.opened if self.opened else None

    @property
    def turnout(self) -> float | None:
        """Rooms that voted per room, over the assemblies closed this month."""
        return self.ballots / (self.rooms * self.assemblies) if self.rooms and self.assemblies else None


def month_bounds(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """'2026-11' → [first moment, first moment of the next month) in the compound's zone."""
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start, end


def previous_month(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def _in(column: Any, start: datetime, end: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(col(column) >= start, col(column) < end)


def q(*columns: Any) -> sa.Select[Any]:
    """A select over columns of several tables (typed loosely: SQLModel's attributes confuse the overloads)."""
    return sa.select(*columns)


async def month_figures(
    session: AsyncSession, month: str, compound_ids: list[int] | None = None, zone: str = "Asia/Shanghai"
) -> dict[int, MonthFigures]:
    """Figures per compound for one month (all compounds when `compound_ids` is None)."""
    start, end = month_bounds(month, ZoneInfo(zone))
    ids_query = select(Compound.id)
    if compound_ids is not None:
        ids_query = ids_query.where(col(Compound.id).in_(compound_ids))
    ids = [i for i in (await session.exec(ids_query)).all() if i is not None]
    figures = {i: MonthFigures(i, month) for i in ids}
    # The complaint figures have one definition, shared with /stats (storage.complaints.figures).
    for cid, cases in (await complaints.figures(session, start, end, compound_ids)).items():
        if cid in figures:
            figures[cid] = replace(figures[cid], **asdict(cases))

    async def rows(query: sa.Select[Any]) -> list[Any]:
        return list((await session.execute(query)).all())

    for cid, hours in await rows(
        q(VolunteerTask.compound_id, func.sum(TaskSignup.hours))
        .join(TaskSignup, col(TaskSignup.task_id) == VolunteerTask.id)
        .where(col(VolunteerTask.compound_id).in_(ids), col(TaskSignup.attended).is_(True),
               _in(VolunteerTask.ends_at, start, end))
        .group_by(col(VolunteerTask.compound_id))
    ):
        figures[cid].volunteer_hours = float(hours or 0)
    for cid, given in await rows(
        q(PointsEntry.compound_id, func.sum(PointsEntry.amount))
        .where(col(PointsEntry.compound_id).in_(ids), col(PointsEntry.kind) != "redemption",
               _in(PointsEntry.created_at, start, end))
        .group_by(col(PointsEntry.compound_id))
    ):
        figures[cid].points_given = int(given or 0)
    for cid, redeemed in await rows(
        q(Redemption.compound_id, func.sum(Redemption.points))
        .where(col(Redemption.compound_id).in_(ids), col(Redemption.status) == "confirmed",
               _in(Redemption.decided_at, start, end))
        .group_by(col(Redemption.compound_id))
    ):
        figures[cid].points_redeemed = int(redeemed or 0)

    for cid, assemblies, ballots in await rows(
        q(Assembly.compound_id, func.count(sa.distinct(col(Assembly.id))), func.count(col(Ballot.id)))
        .outerjoin(Ballot, col(Ballot.assembly_id) == Assembly.id)
        .where(col(Assembly.compound_id).in_(ids), _in(Assembly.closed_at, start, end))
        .group_by(col(Assembly.compound_id))
    ):
        figures[cid].assemblies, figures[cid].ballots = assemblies, ballots
    for cid, rooms in await rows(
        q(Room.compound_id, func.count()).where(col(Room.compound_id).in_(ids)).group_by(col(Room.compound_id))
    ):
        figures[cid].rooms = rooms
    for cid, meetings, attending in await rows(
        q(Meeting.compound_id, func.count(sa.distinct(col(Meeting.id))), func.count(col(MeetingRsvp.id)))
        .outerjoin(MeetingRsvp, sa.and_(col(MeetingRsvp.meeting_id) == Meeting.id,
                                        col(MeetingRsvp.attending).is_(True)))
        .where(col(Meeting.compound_id).in_(ids), col(Meeting.status) != "cancelled", _in(Meeting.starts_at, start, end))
        .group_by(col(Meeting.compound_id))
    ):
        figures[cid].meetings, figures[cid].attending = meetings, attending
    for cid, signed_in in await rows(
        q(Meeting.compound_id, func.count(col(MeetingAttendance.id)))
        .join(MeetingAttendance, col(MeetingAttendance.meeting_id) == Meeting.id)
        .where(col(Meeting.compound_id).in_(ids), col(Meeting.status) != "cancelled", _in(Meeting.starts_at, start, end))
        .group_by(col(Meeting.compound_id))
    ):
        figures[cid].signed_in = signed_in
    for cid, posted in await rows(
        q(Need.compound_id, func.count()).where(col(Need.compound_id).in_(ids), _in(Need.created_at, start, end))
        .group_by(col(Need.compound_id))
    ):
        figures[cid].needs_posted = posted
    for cid, settled in await rows(
        q(Need.compound_id, func.count()).where(col(Need.compound_id).in_(ids), _in(Need.decided_at, start, end))
        .group_by(col(Need.compound_id))
    ):
        figures[cid].needs_settled = settled
    from storage.services import Service

    for cid, orders, done, rating in await rows(
        q(Service.compound_id, func.count(), func.sum(sa.case((col(ServiceOrder.status) == "done", 1), else_=0)),
                  func.avg(ServiceOrder.rating))
        .join(ServiceOrder, col(ServiceOrder.service_id) == Service.id)
        .where(col(Service.compound_id).in_(ids), _in(ServiceOrder.created_at, start, end))
        .group_by(col(Service.compound_id))
    ):
        figures[cid].orders, figures[cid].orders_done = orders, int(done or 0)
        figures[cid].order_rating = float(rating) if rating is not None else None
    for cid, grade in await rows(
        q(Assessment.compound_id, Assessment.grade)
        .where(col(Assessment.compound_id).in_(ids), col(Assessment.status) == "closed", col(Assessment.closes_at) < end)
        .order_by(col(Assessment.closes_at))
    ):
        figures[cid].property_grade = grade  # ordered by time: the latest wins
    return figures


async def compounds_in_street(session: AsyncSession, street: str) -> list[Compound]:
    result = await session.exec(select(Compound).where(Compound.street == street).order_by(col(Compound.id)))
    return list(result.all())


# "Needs attention" in a street report. Fixed bounds rather than the street's median: a median always marks
# half the street, and a bound means the same in every street and every month.
OVERDUE_BOUND = 0.10  # more than one case in ten past its deadline
SATISFACTION_BOUND = 0.80  # fewer than four in five ratings at 4–5


@dataclass(frozen=True)
class Standing:
    """A compound's place in its street's month: its figures and which bound it crossed."""

    figures: MonthFigures
    overdue_high: bool
    satisfaction_low: bool

    @property
    def needs_attention(self) -> bool:
        return self.overdue_high or self.satisfaction_low


def street_standings(figures: list[MonthFigures]) -> list[Standing]:
    """The street report's one order, shared by its text and its chart: the compounds that need attention
    first, then by overdue rate (highest first), then by satisfaction (lowest first); a compound without the
    figure (no cases opened, no ratings) comes after those with it. The rule: overdue rate above
    OVERDUE_BOUND or satisfaction below SATISFACTION_BOUND."""
    standings = [
        Standing(f, f.overdue_rate is not None and f.overdue_rate > OVERDUE_BOUND,
                 f.satisfaction is not None and f.satisfaction < SATISFACTION_BOUND)
        for f in figures
    ]

    def order(s: Standing) -> tuple[bool, bool, float, bool, float, int]:
        overdue, satisfaction = s.figures.overdue_rate, s.figures.satisfaction
        return (not s.needs_attention, overdue is None, -(overdue or 0.0), satisfaction is None,
                satisfaction or 0.0, s.figures.compound_id)

    return sorted(standings, key=order)


class ReportDelivery(SQLModel, table=True):
    """One row per report sent by the scheduler ("compound:3:2026-11", "official:12:2026-11"): claimed by the
    insert, so a restart or a second process never sends a month's report twice."""

    key: str = Field(max_length=80, primary_key=True)
    sent_at: datetime = Field(sa_type=UTCDateTime)


async def claim_delivery(session: AsyncSession, key: str, now: datetime) -> bool:
    return await add_unless_exists(session, ReportDelivery(key=key, sent_at=now))
