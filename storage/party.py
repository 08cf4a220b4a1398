"""Party members who live in the compound: 报到 (reporting to its branch), 承诺 (pledges), 践诺 (fulfilments
the secretary confirms) and 请假 (leave); and the yearly XLSX per member for their employer's review."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel import Field, SQLModel, col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.i18n import N_
from storage import ledger as xlsx
from storage.compounds import Building, Compound, Room
from storage.db import UTCDateTime, status_field, utcnow
from storage.people import Person, Role, own_rooms, people_with_role
from storage.points import PointsEntry, balance
from storage.volunteering import attended_summary

if TYPE_CHECKING:
    from bot.settings import Settings


class PartyReport(SQLModel, table=True):
    """报到: a party member reports to the branch where they live, naming their employer (工作单位)."""

    __tablename__ = "party_report"
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    employer: str = Field(max_length=200)
    reported_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PledgeStatus(StrEnum):
    OPEN = "open"  # made, or sent back by the secretary
    CLAIMED = "claimed"  # the member gave evidence of keeping it (践诺); the secretary has not decided yet
    FULFILLED = "fulfilled"  # the secretary confirmed it


# How a pledge's status reads to a person (in /pledges and the yearly export).
PLEDGE_STATES = {PledgeStatus.OPEN: N_("open"), PledgeStatus.CLAIMED: N_("waiting for confirmation"),
                 PledgeStatus.FULFILLED: N_("fulfilled")}


class Pledge(SQLModel, table=True):
    """承诺, and its 践诺: evidence given by the member, confirmed (or sent back with a reason) by the secretary."""

    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    text: str = Field(max_length=500)
    target_date: date
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: PledgeStatus = status_field(PledgeStatus, PledgeStatus.OPEN, 12)
    evidence_text: str = Field(default="", max_length=1000)
    evidence_photo: str = Field(default="", max_length=300)  # platform:file id
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    confirmed_by: int | None = Field(default=None, foreign_key="person.id")
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The secretary's reason the last time a fulfilment was sent back (退回), told to the member and kept here.
    sent_back_reason: str = Field(default="", max_length=500, sa_column_kwargs={"server_default": ""})
    sent_back_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The reminder REMIND_BEFORE the target date went out (claimed with `UPDATE ... WHERE reminded_at IS NULL`).
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PartyArea(SQLModel, table=True):
    """党员责任区 / 中心户: a party member the secretary made responsible for a building, or one floor of it. Cases
    and needs from there are copied to them."""

    __tablename__ = "party_area"
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    building_id: int = Field(foreign_key="building.id", index=True)
    floor: int | None = None  # None: the whole building
    created_by: int = Field(foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PartyLeave(SQLModel, table=True):
    """请假: a member away from the branch's activities for a while."""

    __tablename__ = "party_leave"
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    reason: str = Field(max_length=500)
    starts_on: date
    ends_on: date
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# A pledge's reminder goes out this long before its target date, at REMIND_AT compound time.
REMIND_BEFORE = timedelta(days=3)
REMIND_AT = time(9, 0)


def pledge_reminder_due(target: date, zone: ZoneInfo) -> datetime:
    """When a pledge due on `target` is reminded: three days before, at 09:00 in the compound's zone."""
    return datetime.combine(target - REMIND_BEFORE, REMIND_AT, zone)


# ---- queries ------------------------------------------------------------------------------------------------


async def pledges_of(session: AsyncSession, compound_id: int, person_id: int) -> list[Pledge]:
    result = await session.exec(
        select(Pledge).where(Pledge.compound_id == compound_id, Pledge.person_id == person_id)
        .order_by(col(Pledge.id).desc()).limit(20)
    )
    return list(result.all())


async def latest_report(session: AsyncSession, compound_id: int, person_id: int) -> PartyReport | None:
    result = await session.exec(
        select(PartyReport).where(PartyReport.compound_id == compound_id, PartyReport.person_id == person_id)
        .order_by(col(PartyReport.id).desc())
    )
    return result.first()


async def pledges_to_remind(session: AsyncSession, now: datetime, limit: int = 200) -> list[tuple[Pledge, Compound]]:
    """Open pledges whose reminder is due now: made before that moment (a pledge made two days ahead is not
    reminded at once) and not past their day."""
    result = await session.exec(
        select(Pledge, Compound).join(Compound, col(Compound.id) == Pledge.compound_id)
        .where(Pledge.status == PledgeStatus.OPEN, col(Pledge.reminded_at).is_(None),
               col(Pledge.target_date) <= (now + REMIND_BEFORE + timedelta(days=1)).date(),
               col(Pledge.target_date) >= (now - timedelta(days=1)).date())
        .order_by(col(Pledge.id)).limit(limit))
    due = []
    for pledge, compound in result.all():
        zone = ZoneInfo(compound.timezone)
        moment = pledge_reminder_due(pledge.target_date, zone)
        if pledge.created_at < moment <= now and now.astimezone(zone).date() <= pledge.target_date:
            due.append((pledge, compound))
    return due


async def claim_pledge_reminder(session: AsyncSession, pledge_id: int, now: datetime) -> bool:
    result = await session.exec(
        update(Pledge).where(col(Pledge.id) == pledge_id, col(Pledge.reminded_at).is_(None)).values(reminded_at=now))
    return result.rowcount == 1


async def areas(session: AsyncSession, compound_id: int, person_id: int | None = None
                ) -> list[tuple[PartyArea, Person, Building]]:
    """The compound's responsibility areas (or one member's), by building and floor."""
    query = (select(PartyArea, Person, Building)
             .join(Person, col(Person.id) == PartyArea.person_id)
             .join(Building, col(Building.id) == PartyArea.building_id)
             .where(PartyArea.compound_id == compound_id))
    if person_id is not None:
        query = query.where(PartyArea.person_id == person_id)
    result = await session.exec(query.order_by(col(Building.sort), col(PartyArea.floor), col(PartyArea.id)))
    return [(a, p, b) for a, p, b in result.all()]


async def floors_of(session: AsyncSession, building_id: int) -> list[int]:
    result = await session.exec(select(Room.floor).where(Room.building_id == building_id).distinct())
    return sorted(f for f in result.all() if f is not None)


async def responsible_for(session: AsyncSession, compound_id: int, rooms: list[int], building_id: int | None = None
                          ) -> list[int]:
    """The party members (still holding the role) whose area covers one of these rooms, or `building_id` as a
    whole (a case about a building, not a room)."""
    places: list[tuple[int, int | None]] = []
    for room_id in rooms:
        room = await session.get(Room, room_id)
        if room is not None and room.compound_id == compound_id:
            places.append((room.building_id, room.floor))
    if building_id is not None and not any(b == building_id for b, _f in places):
        places.append((building_id, None))
    if not places:
        return []
    members = set(await people_with_role(session, compound_id, Role.PARTY_MEMBER))
    result = await session.exec(select(PartyArea).where(
        PartyArea.compound_id == compound_id, col(PartyArea.building_id).in_([b for b, _f in places])))
    found: list[int] = []
    for area in result.all():
        if area.person_id in members and any(
                b == area.building_id and (area.floor is None or area.floor == f) for b, f in places):
            found.append(area.person_id)
    return list(dict.fromkeys(found))


async def responsible_for_person(session: AsyncSession, compound_id: int, person_id: int) -> list[int]:
    """Whose area covers where this resident lives (a need they posted is copied to them)."""
    return await responsible_for(session, compound_id, await own_rooms(session, person_id, compound_id))


# ---- domain actions: each checks what it may do, sets its own fields and says whether it happened --------------


async def assign_area(session: AsyncSession, compound_id: int, person_id: int, building_id: int, floor: int | None,
                      by: int, now: datetime) -> PartyArea | None:
    """The secretary makes a party member responsible for a building (or one floor of it). None when the person
    is not a party member here, the building is not this compound's, or the area is theirs already."""
    building = await session.get(Building, building_id)
    if building is None or building.compound_id != compound_id:
        return None
    if person_id not in await people_with_role(session, compound_id, Role.PARTY_MEMBER):
        return None
    if any(a.building_id == building_id and a.floor == floor for a, _p, _b in await areas(session, compound_id,
                                                                                          person_id)):
        return None
    area = PartyArea(compound_id=compound_id, person_id=person_id, building_id=building_id, floor=floor,
                     created_by=by, created_at=now)
    session.add(area)
    await session.flush()
    return area


async def remove_area(session: AsyncSession, area_id: int, compound_id: int) -> PartyArea | None:
    """The area given up (None when it is not this compound's, or already removed)."""
    area = await session.get(PartyArea, area_id)
    if area is None or area.compound_id != compound_id:
        return None
    await session.delete(area)
    await session.flush()
    return area


async def report(session: AsyncSession, compound_id: int, person_id: int, employer: str, now: datetime) -> PartyReport:
    """报到: a party member reports to the branch of the compound they live in, naming their employer."""
    row = PartyReport(compound_id=compound_id, person_id=person_id, employer=employer[:200], reported_at=now)
    session.add(row)
    await session.flush()
    return row


async def make_pledge(session: AsyncSession, compound_id: int, person_id: int, text: str, target: date,
                      now: datetime) -> Pledge:
    """承诺: a pledge to be kept by `target`."""
    row = Pledge(compound_id=compound_id, person_id=person_id, text=text[:500], target_date=target, created_at=now)
    session.add(row)
    await session.flush()
    return row


async def open_pledge(session: AsyncSession, pledge_id: int, compound_id: int, person_id: int) -> Pledge | None:
    """The member's own open pledge in this compound (one they can still give evidence for), else None."""
    row = await session.get(Pledge, pledge_id)
    if row is None or row.compound_id != compound_id or row.person_id != person_id or row.status != PledgeStatus.OPEN:
        return None
    return row


async def claim_fulfilment(session: AsyncSession, pledge_id: int, compound_id: int, person_id: int, text: str,
                           photo: str, now: datetime) -> Pledge | None:
    """践诺: the member gives evidence (a few words, a photo's platform:file id, or both) that they kept an open
    pledge; it waits for the secretary. None when the pledge is not theirs, not here or not open any more."""
    row = await open_pledge(session, pledge_id, compound_id, person_id)
    if row is None:
        return None
    row.evidence_text, row.evidence_photo = text[:1000], photo[:300]
    row.status, row.claimed_at = PledgeStatus.CLAIMED, now
    session.add(row)
    return row


async def pledge_in(session: AsyncSession, pledge_id: int, compound_id: int) -> Pledge | None:
    """A pledge of this compound, else None."""
    row = await session.get(Pledge, pledge_id)
    return row if row is not None and row.compound_id == compound_id else None


async def confirm_pledge(session: AsyncSession, pledge_id: int, compound_id: int, by: int, now: datetime) -> bool:
    """The secretary confirms a claimed fulfilment; False when someone already decided."""
    result = await session.exec(
        update(Pledge).where(col(Pledge.id) == pledge_id, col(Pledge.compound_id) == compound_id,
                             col(Pledge.status) == PledgeStatus.CLAIMED)
        .values(status=PledgeStatus.FULFILLED, confirmed_by=by, confirmed_at=now)
    )
    return result.rowcount == 1


async def send_back(session: AsyncSession, pledge_id: int, compound_id: int, reason: str, now: datetime) -> bool:
    """退回: the secretary sends a claimed fulfilment back with a reason; the pledge is open again (its evidence
    kept) and the reason is kept on it. False when someone already decided."""
    result = await session.exec(
        update(Pledge).where(col(Pledge.id) == pledge_id, col(Pledge.compound_id) == compound_id,
                             col(Pledge.status) == PledgeStatus.CLAIMED)
        .values(status=PledgeStatus.OPEN, claimed_at=None, sent_back_reason=reason[:500], sent_back_at=now)
    )
    return result.rowcount == 1


async def take_leave(session: AsyncSession, compound_id: int, person_id: int, reason: str, start: date, end: date,
                     now: datetime) -> PartyLeave:
    """请假 from the branch's activities, `start` to `end` inclusive."""
    if end < start:
        raise ValueError("leave cannot end before it starts")
    row = PartyLeave(compound_id=compound_id, person_id=person_id, reason=reason[:500], starts_on=start, ends_on=end,
                     created_at=now)
    session.add(row)
    await session.flush()
    return row


# ---- the yearly export --------------------------------------------------------------------------------------


@dataclass
class MemberYear:
    person: Person
    reports: list[PartyReport]
    pledges: list[Pledge]
    leave: list[PartyLeave]
    # (task title, local start, hours, points)
    volunteering: list[tuple[str, str, str, int]]
    entries: list[PointsEntry]
    points_balance: int


def area_name(t: Callable[..., str], building: Building, floor: int | None) -> str:
    """"1栋" or "1栋 3层", as the member, the secretary and the export read it."""
    return building.name if floor is None else t("{building} floor {floor}", building=building.name, floor=floor)


async def member_year(session: AsyncSession, compound: Compound, person: Person, year: int) -> MemberYear:
    assert compound.id is not None and person.id is not None
    zone = ZoneInfo(compound.timezone)
    start = datetime.combine(date(year, 1, 1), time(0), zone)
    end = datetime.combine(date(year + 1, 1, 1), time(0), zone)

    reports = list((await session.exec(select(PartyReport).where(
        PartyReport.compound_id == compound.id, PartyReport.person_id == person.id, col(PartyReport.reported_at) >= start, col(PartyReport.reported_at) < end,
    ).order_by(col(PartyReport.id)))).all())
    pledges = list((await session.exec(select(Pledge).where(
        Pledge.compound_id == compound.id, Pledge.person_id == person.id, col(Pledge.created_at) < end,
        (col(Pledge.created_at) >= start) | (col(Pledge.target_date) >= start.date()),
    ).order_by(col(Pledge.id)))).all())
    leave = list((await session.exec(select(PartyLeave).where(
        PartyLeave.compound_id == compound.id, PartyLeave.person_id == person.id, col(PartyLeave.starts_on) < end.date(), col(PartyLeave.ends_on) >= start.date(),
    ).order_by(col(PartyLeave.starts_on)))).all())
    entries = list((await session.exec(select(PointsEntry).where(
        PointsEntry.compound_id == compound.id, PointsEntry.person_id == person.id, col(PointsEntry.created_at) >= start, col(PointsEntry.created_at) < end,
    ).order_by(col(PointsEntry.created_at), col(PointsEntry.id)))).all())
    by_task: dict[int, int] = {}
    for entry in entries:
        if entry.task_id is not None:
            by_task[entry.task_id] = by_task.get(entry.task_id, 0) + entry.amount
    volunteering = []
    for task, signup in await attended_summary(session, person.id, start, end):
        hours = f"{(signup.hours or 0):f}".rstrip("0").rstrip(".") if signup.hours is not None else ""
        volunteering.append((task.title, task.starts_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"), hours,
                             by_task.get(task.id or 0, 0)))
    return MemberYear(person, reports, pledges, leave, volunteering, entries,
                      await balance(session, compound.id, person.id))


# How the exports name an organisation's kind (a member of a street department, a property company's staff, a partner
# unit's people).
ORGANISATION_KINDS = {"department": N_("department"), "property": N_("property company"), "partner": N_("partner unit")}
BRANCH_COLUMNS = (N_("Name"), N_("Organisation"), N_("Employer"), N_("Reported at"), N_("Responsibility area (党员责任区)"), N_("Pledges"),
                  N_("Pledges fulfilled"), N_("Days of leave"), N_("Volunteer tasks"), N_("Volunteer hours"),
                  N_("Points earned this year"), N_("Points balance"))


async def party_sheets(session: AsyncSession, compound: Compound, year: int, t: Callable[..., str]
                       ) -> tuple[list[xlsx.Sheet], dict[int, tuple[Person, list[xlsx.Sheet]]]]:
    """The branch summary sheet (支部汇总: one row per party member) and each member's own sheets (summary, 报到,
    承诺/践诺, 请假, volunteering, points), for the one ledger writer."""
    column, kind = xlsx.Column, xlsx.Kind
    from storage.organisations import affiliations_in

    branch: list[tuple[object, ...]] = []
    members: dict[int, tuple[Person, list[xlsx.Sheet]]] = {}
    # Party members who work in a street department, the property company or a partner unit are shown by it.
    groups = await affiliations_in(session, compound.stored_id)
    for person_id in await people_with_role(session, compound.stored_id, Role.PARTY_MEMBER):
        person = await session.get(Person, person_id)
        if person is None:
            continue
        record = await member_year(session, compound, person, year)
        mine = "、".join(area_name(t, building, area.floor)
                        for area, _p, building in await areas(session, compound.stored_id, person_id))
        hours_total = sum(float(h) for _, _, h, _ in record.volunteering if h)
        earned = sum(e.amount for e in record.entries if e.amount > 0 and e.kind != "redemption")
        fulfilled = sum(1 for p in record.pledges if p.status == PledgeStatus.FULFILLED)
        leave_days = sum((min(leave.ends_on, date(year, 12, 31)) - max(leave.starts_on, date(year, 1, 1))).days + 1
                         for leave in record.leave)
        employer = record.reports[-1].employer if record.reports else ""
        reported = record.reports[-1].reported_at if record.reports else None
        organisation = "、".join(f"{t(ORGANISATION_KINDS[g.kind])} {g.name}" for g in groups.get(person_id, []))
        branch.append((person.name, organisation, employer, reported, mine, len(record.pledges), fulfilled, leave_days,
                       len(record.volunteering), hours_total, earned, record.points_balance))
        summary = [(t("Name"), person.name), (t("Compound"), compound.name), (t("Year"), year),
                   (t("Organisation"), organisation), (t("Employer"), employer), (t("Responsibility area (党员责任区)"), mine),
                   (t("Pledges"), len(record.pledges)), (t("Pledges fulfilled"), fulfilled),
                   (t("Volunteer tasks"), len(record.volunteering)), (t("Volunteer hours"), hours_total),
                   (t("Points earned this year"), earned), (t("Points balance"), record.points_balance)]
        members[person_id] = (person, [
            xlsx.Sheet(N_("Summary"), [column(N_("Summary item")), column(N_("Value"))], summary, numbered=False),
            xlsx.Sheet(N_("Reports"), [column(N_("Reported at"), kind.DATETIME), column(N_("Employer"))],
                       [(report.reported_at, report.employer) for report in record.reports]),
            xlsx.Sheet(N_("Pledges"), [column(N_("Pledge"), width=30), column(N_("Made at"), kind.DATETIME),
                                       column(N_("Target date"), kind.DATE),
                                       column(N_("Status"), labels={s.value: n for s, n in PLEDGE_STATES.items()}),
                                       column(N_("Evidence"), width=30), column(N_("Confirmed at"), kind.DATETIME),
                                       column(N_("Sent back because"))],
                       [(pledge.text, pledge.created_at, pledge.target_date, pledge.status.value,
                         (pledge.evidence_text + (f" [{t('photo')}]" if pledge.evidence_photo else "")).strip(),
                         pledge.confirmed_at, pledge.sent_back_reason) for pledge in record.pledges]),
            xlsx.Sheet(N_("Leave"), [column(N_("From"), kind.DATE), column(N_("To"), kind.DATE), column(N_("Reason"))],
                       [(leave.starts_on, leave.ends_on, leave.reason) for leave in record.leave]),
            xlsx.Sheet(N_("Volunteering"), [column(N_("Task")), column(N_("Start"), kind.CODE),
                                            column(N_("Hours"), kind.NUMBER), column(N_("Points"), kind.INT)],
                       [(title, start, float(hours) if hours else None, points)
                        for title, start, hours, points in record.volunteering]),
            xlsx.Sheet(N_("Points"), [column(N_("Date"), kind.DATETIME), column(N_("Reason")),
                                      column(N_("Points"), kind.INT)],
                       [(entry.created_at, entry.reason, entry.amount) for entry in record.entries]),
        ])
    kinds = (kind.TEXT, kind.TEXT, kind.TEXT, kind.DATETIME, kind.TEXT, kind.INT, kind.INT, kind.INT, kind.INT,
             kind.NUMBER, kind.INT, kind.INT)
    columns = [column(header, found) for header, found in zip(BRANCH_COLUMNS, kinds, strict=True)]
    # By organisation: the residents first, then each organisation's party members together.
    branch.sort(key=lambda row: str(row[1]))
    return [xlsx.Sheet(N_("Branch summary"), columns, branch)], members


async def branch_summary_xlsx(session: AsyncSession, compound: Compound, year: int, t: Callable[..., str]) -> bytes:
    """The branch's year (支部汇总) as one workbook: the summary sheet, then every member's pledges together."""
    summary, _members = await party_sheets(session, compound, year, t)
    return xlsx.render(t, xlsx.Ledger(N_("Party branch ledger"), compound.name, str(year), summary,
                                      ZoneInfo(compound.timezone)))


async def export_party(
    session: AsyncSession, compound: Compound, year: int, out_dir: Path, t: Callable[..., str]
) -> list[Path]:
    """One XLSX per party member of the compound (报到, 承诺/践诺, 请假, volunteer hours and points) for their
    employer's review, and the branch summary (支部汇总), all through the one ledger writer."""
    zone = ZoneInfo(compound.timezone)
    out_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (a CLI export, nothing else waits)
    summary, members = await party_sheets(session, compound, year, t)
    written: list[Path] = []
    for person_id, (person, sheets) in members.items():
        safe = re.sub(r"[^\w\-]+", "_", person.name or str(person_id)).strip("_") or str(person_id)
        path = out_dir / f"party-{compound.code}-{year}-{person_id}-{safe}.xlsx"
        path.write_bytes(xlsx.render(t, xlsx.Ledger(N_("Party member's record"), f"{compound.name} · {person.name}",
                                                    str(year), sheets, zone)))
        written.append(path)
    path = out_dir / f"party-{compound.code}-{year}-branch.xlsx"
    path.write_bytes(xlsx.render(t, xlsx.Ledger(N_("Party branch ledger"), compound.name, str(year), summary, zone)))
    written.append(path)
    return written


async def export_party_cli(settings: Settings, code: str, year: int, out_dir: Path) -> int:
    """`linli export party --compound XFL --year 2026 [--out DIR]`."""
    from bot.core.i18n import Catalogs
    from storage.compounds import compound_by_code
    from storage.db import make_engine, make_sessionmaker, transaction

    engine = make_engine(settings.database_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            compound = await compound_by_code(session, code)
            if compound is None:
                print(f"No compound with the code {code.upper()}.", file=sys.stderr)
                return 1
            t = Catalogs().translator(compound.language)
            written = await export_party(session, compound, year, out_dir, t)
    finally:
        await engine.dispose()
    for path in written:
        print(path)
    print(f"{len(written)} party member file(s) written to {out_dir}", file=sys.stderr)
    return 0
