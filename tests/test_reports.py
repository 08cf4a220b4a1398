"""Monthly reports: every figure checked against counts computed from a generated data set, the report on
demand and on the schedule, and who may not have it."""

from __future__ import annotations

import io
import random
import statistics
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import App
from bot.transports.console import Console
from storage.assembly import Assembly, Ballot
from storage.complaints import CATEGORIES, Case, CaseEvent, Event, State
from storage.compounds import create_compound
from storage.meetings import Meeting, MeetingRsvp
from storage.needs import Need
from storage.people import Role
from storage.points import PointsEntry, Redemption
from storage.reports import month_figures
from storage.services import Service, ServiceOrder, ServiceSlot
from storage.volunteering import TaskSignup, VolunteerTask
from tests.conftest import add_console_person

ZONE = ZoneInfo("Asia/Shanghai")
NOV = datetime(2026, 11, 1, tzinfo=ZONE)
DEC = datetime(2026, 12, 1, tzinfo=ZONE)


def moment(rng: random.Random) -> datetime:
    """Somewhere in October, November or December 2026."""
    return datetime(2026, 10, 1, tzinfo=ZONE) + timedelta(minutes=rng.randrange(0, 92 * 24 * 60))


def in_nov(at: datetime | None) -> bool:
    return at is not None and NOV <= at < DEC


async def seed(session: AsyncSession, rng: random.Random) -> dict[str, object]:
    cases = []
    for n in range(80):
        opened = moment(rng)
        resolved = opened + timedelta(hours=rng.randrange(1, 400)) if rng.random() < 0.7 else None
        rating = rng.randint(1, 5) if resolved and rng.random() < 0.6 else None
        case = Case(compound_id=1, number=f"XFL-2026-{n:04d}", reporter_id=5, category=rng.choice(CATEGORIES).code,
                    description="测试诉求描述", level=rng.randint(1, 3), opened_at=opened, resolved_at=resolved,
                    closed_at=resolved + timedelta(hours=1) if rating and resolved else None, rating=rating,
                    overdue_count=rng.choice([0, 0, 0, 1, 2]), state="closed" if rating else "open")
        cases.append(case)
        session.add(case)
    await session.flush()
    for case in cases:  # the history the figures are dated by: each resolution and each rating
        assert case.id is not None
        if case.resolved_at is not None:
            session.add(CaseEvent(case_id=case.id, at=case.resolved_at, event=Event.RESOLVE, to_state=State.RESOLVED))
        if case.rating is not None and case.closed_at is not None:
            session.add(CaseEvent(case_id=case.id, at=case.closed_at, event=Event.RATE, to_state=State.CLOSED,
                                  note=str(case.rating)))
    entries = []
    for n in range(50):
        at = moment(rng)
        kind = rng.choice(["attendance", "attendance", "reversal"])
        amount = rng.randint(1, 10) if kind == "attendance" else -rng.randint(1, 3)
        entries.append((kind, amount, at))
        session.add(PointsEntry(compound_id=1, person_id=5, amount=amount, kind=kind, reason="t", key=f"k{n}",
                                created_at=at))
    redemptions = []
    for _ in range(6):
        at = moment(rng)
        points = rng.randint(1, 20)
        redemptions.append((points, at))
        session.add(Redemption(compound_id=1, person_id=5, points=points, item="米", status="confirmed",
                               created_by=1, created_at=at, decided_at=at))
    task = VolunteerTask(compound_id=1, organiser_id=1, title="清扫", starts_at=NOV + timedelta(days=3),
                         ends_at=NOV + timedelta(days=3, hours=2), wanted=5, rate=2)
    session.add(task)
    await session.flush()
    hours = [Decimal("1.5"), Decimal("2"), Decimal("2")]
    for person, h in zip((5, 6, 8), hours, strict=True):
        session.add(TaskSignup(task_id=task.id or 0, person_id=person, hours=h, attended=True))
    session.add(TaskSignup(task_id=task.id or 0, person_id=7, hours=Decimal("3"), attended=False))
    assembly = Assembly(compound_id=1, title="表决", opens_at=NOV, closes_at=NOV + timedelta(days=9), created_by=1,
                        closed_at=NOV + timedelta(days=9), status="closed")
    session.add(assembly)
    await session.flush()
    for room in (1, 2, 3, 4, 5, 6, 7, 8, 9):
        session.add(Ballot(assembly_id=assembly.id or 0, room_id=room, submitted_by=1,
                           submitted_at=NOV + timedelta(days=2)))
    meeting = Meeting(compound_id=1, kind="talk_day", title="说事日", place="活动室", starts_at=NOV + timedelta(days=5),
                      organiser_id=1)
    session.add(meeting)
    await session.flush()
    for person, attending in ((5, True), (6, True), (7, False)):
        session.add(MeetingRsvp(meeting_id=meeting.id or 0, person_id=person, attending=attending))
    needs = []
    for _ in range(7):
        created = moment(rng)
        decided = created + timedelta(days=rng.randint(0, 20)) if rng.random() < 0.5 else None
        needs.append((created, decided))
        session.add(Need(compound_id=1, poster_id=5, category="other", text="需要帮助", created_at=created,
                         decided_at=decided, status="triaged" if decided else "open"))
    service = Service(compound_id=1, title="理发", provider_name="志愿队")
    session.add(service)
    await session.flush()
    slot = ServiceSlot(service_id=service.id or 0, starts_at=NOV + timedelta(days=6), ends_at=NOV + timedelta(days=6,
                       hours=1), capacity=9)
    session.add(slot)
    await session.flush()
    orders = []
    for person in (5, 6, 7, 8):
        created = moment(rng)
        status = rng.choice(["done", "requested"])
        rating = rng.randint(1, 5) if status == "done" else None
        orders.append((created, status, rating))
        session.add(ServiceOrder(service_id=service.id or 0, slot_id=slot.id or 0, person_id=person, status=status,
                                 rating=rating, created_at=created))
    await session.flush()
    return {"cases": cases, "entries": entries, "redemptions": redemptions, "hours": hours, "needs": needs,
            "orders": orders}


async def test_every_figure_matches_the_data_set(app: App) -> None:
    rng = random.Random(2026)
    async with app.core.sessions() as session:
        data = await seed(session, rng)
        await session.commit()
        figures = (await month_figures(session, "2026-11", [1]))[1]
    cases: list[Case] = data["cases"]  # type: ignore[assignment]
    opened = [c for c in cases if in_nov(c.opened_at)]
    resolved = [c for c in cases if in_nov(c.resolved_at)]
    rated = [c for c in cases if c.rating is not None and in_nov(c.closed_at)]
    assert figures.opened == len(opened) > 0
    assert figures.overdue == sum(1 for c in opened if c.overdue_count)
    assert figures.resolved == len(resolved)
    assert figures.median_hours == statistics.median(
        (c.resolved_at - c.opened_at).total_seconds() / 3600 for c in resolved if c.resolved_at)
    assert (figures.rated, figures.satisfied) == (len(rated), sum(1 for c in rated if (c.rating or 0) >= 4))
    for category in {c.category for c in opened}:
        assert figures.by_category[category] == sum(1 for c in opened if c.category == category)
    assert sum(figures.by_level.values()) == len(opened)
    entries: list[tuple[str, int, datetime]] = data["entries"]  # type: ignore[assignment]
    assert figures.points_given == sum(a for _k, a, at in entries if in_nov(at))
    redemptions: list[tuple[int, datetime]] = data["redemptions"]  # type: ignore[assignment]
    assert figures.points_redeemed == sum(p for p, at in redemptions if in_nov(at))
    hours: list[Decimal] = data["hours"]  # type: ignore[assignment]
    assert figures.volunteer_hours == float(sum(hours))
    assert (figures.assemblies, figures.ballots, figures.rooms) == (1, 9, 36)
    assert figures.turnout == 9 / 36
    assert (figures.meetings, figures.attending) == (1, 2)
    needs: list[tuple[datetime, datetime | None]] = data["needs"]  # type: ignore[assignment]
    assert figures.needs_posted == sum(1 for created, _ in needs if in_nov(created))
    assert figures.needs_settled == sum(1 for _, decided in needs if in_nov(decided))
    orders: list[tuple[datetime, str, int | None]] = data["orders"]  # type: ignore[assignment]
    assert figures.orders == sum(1 for created, _, _ in orders if in_nov(created))
    assert figures.orders_done == sum(1 for created, status, _ in orders if in_nov(created) and status == "done")


async def test_report_on_demand_and_on_schedule(console: Console, app: App) -> None:
    async with app.core.sessions() as session:
        await seed(session, random.Random(7))
        other = await create_compound(session, "和平里", "HPL", street="东风街道")
        await session.commit()
        other_id = other.id or 0
    await add_console_person(app, "西陵街道刘主任", 1, Role.OFFICIAL)
    await add_console_person(app, "东风街道陈主任", other_id, Role.OFFICIAL)

    console.as_("王书记")
    await console.say("/monthly 2026-11")
    summary, sheet = console.seen_by()[-2:]
    assert summary.has_image and "2026-11" in summary.text and sheet.has_document
    book = load_workbook(io.BytesIO(console.transport.documents[-1][1]))
    row = [cell.value for cell in book.active[4]]  # under the title, the period and the header; after 序号
    async with app.core.sessions() as session:
        figures = (await month_figures(session, "2026-11", [1]))[1]
    assert row[1] == "幸福里" and row[2] == figures.opened

    console.as_("张三")
    await console.say("/monthly")
    assert "只有" in console.last.text

    console.as_("东风街道陈主任")
    await console.say("/monthly 2026-11 XFL")
    assert "不负责" in console.last.text
    console.as_("西陵街道刘主任")
    await console.say("/monthly 2026-11")
    assert "西陵街道" in console.seen_by()[-2].text and console.seen_by()[-2].has_image

    app.core.clock.advance(days=7, hours=23, minutes=55)  # Monday 11-23 09:00 → Tuesday 12-01 08:55
    await console.clock_to("+20m")
    for person in ("王书记", "孙委员"):
        texts = [s.text for s in console.seen_by(person, "private")]
        assert any("2026-11" in text and "月报" in text for text in texts), person
    assert any("西陵街道" in s.text for s in console.seen_by("西陵街道刘主任", "private")[-2:])
    before = len(console.transport.shown)
    await console.clock_to("+30m")
    assert len(console.transport.shown) == before  # sent once
