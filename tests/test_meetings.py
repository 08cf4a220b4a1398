"""Meetings through the console: creating, answering, reminders on the moved clock (also after a downtime),
cancelling, moving, a recurring 周末议事日, minutes, refusals and bad input."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.app import App
from bot.transports.console import Console, Shown
from storage.db import transaction
from storage.meetings import Meeting, MeetingReminder, next_occurrence, parse_when
from tests.conftest import START

GROUP = "幸福里业主群"
ZONE = ZoneInfo("Asia/Shanghai")


async def create_meeting(console: Console, when: str, kind: str = "集中说事日", title: str = "停车难问题",
                         repeat: int = 1, audience: int = 1) -> None:
    console.as_("王书记")
    await console.say("/newmeeting")
    await console.press(kind)
    await console.say(title)
    await console.say("党群服务中心二楼会议室")
    await console.say(when)
    await console.say("1. 地面停车位划线 2. 外来车辆管理")
    await console.press(audience)
    await console.press(repeat)
    await console.press(1)  # Publish


async def quietly_to(app: App, when: str) -> None:
    """Move the clock with no job running (the bot was down, or nothing is due on the way: every 10-minute step
    of `clock_to` costs all features' jobs, so long quiet stretches are skipped this way)."""
    app.core.clock.set(datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=ZONE))


async def restart(app: App) -> list[Shown]:
    """What a restarted process does first: one scheduler tick, then deliveries."""
    before = len(app.transports["console"].shown)  # type: ignore[attr-defined]
    await app.scheduler.tick()
    await app.worker.drain()
    return app.transports["console"].shown[before:]  # type: ignore[attr-defined]


def reminders(shown: list[Shown]) -> list[Shown]:
    return [s for s in shown if "⏰" in s.text]


def test_parse_when_accepts_what_people_type() -> None:
    now = START
    assert parse_when("2026-11-28 09:00", now, ZONE) == datetime(2026, 11, 28, 9, 0, tzinfo=ZONE)
    assert parse_when("11-28 9:00", now, ZONE) == datetime(2026, 11, 28, 9, 0, tzinfo=ZONE)
    assert parse_when("11月28日 9点半", now, ZONE) == datetime(2026, 11, 28, 9, 30, tzinfo=ZONE)
    assert parse_when("明天 19:30", now, ZONE) == datetime(2026, 11, 24, 19, 30, tzinfo=ZONE)
    assert parse_when("周六 下午3点", now, ZONE) == datetime(2026, 11, 28, 15, 0, tzinfo=ZONE)
    assert parse_when("1-05 9:00", now, ZONE) == datetime(2027, 1, 5, 9, 0, tzinfo=ZONE)
    for nonsense in ("下周找个时间", "2026-13-40 09:00", "明天 25:00", "tomorrow"):
        assert parse_when(nonsense, now, ZONE) is None


def test_next_occurrence_weekly_and_first_weekday_of_month() -> None:
    saturday = datetime(2026, 11, 28, 9, 0, tzinfo=ZONE)
    assert next_occurrence(saturday, "weekly", ZONE) == datetime(2026, 12, 5, 9, 0, tzinfo=ZONE)
    assert next_occurrence(saturday, "monthly_first", ZONE) == datetime(2026, 12, 5, 9, 0, tzinfo=ZONE)
    first_monday = datetime(2026, 12, 7, 19, 0, tzinfo=ZONE)
    assert next_occurrence(first_monday, "monthly_first", ZONE) == datetime(2027, 1, 4, 19, 0, tzinfo=ZONE)
    assert next_occurrence(saturday, "", ZONE) is None


async def test_meeting_announced_rsvp_and_reminders_24h_and_1h(console: Console, app: App) -> None:
    await create_meeting(console, "2026-11-25 19:30")
    assert "已发布" in console.last.text or "Published" in console.last.text
    posting = console.seen_by("王书记", GROUP)[-1]
    assert "停车难问题" in posting.text and len(posting.labels) == 2

    console.as_("张三")
    console.in_(GROUP)
    await console.press(1)  # Attend
    assert "停车难问题" in console.last_for("张三").text
    assert console.seen_by("张三", GROUP)[-1].edited  # the posting now counts the answers
    console.as_("李四")
    console.in_(GROUP)
    await console.press(2)  # Can't attend

    console.as_("张三")
    await console.say("/meetings")
    assert "停车难问题" in console.last.text and ("参加" in console.last.text or "attending" in console.last.text)

    # 24 h before (Tuesday 19:30): the group and 张三, who said Attend; not 李四.
    await quietly_to(app, "2026-11-24 19:00")
    shown = await console.clock_to("2026-11-24 19:20")
    assert reminders(shown) == []
    shown = await console.clock_to("2026-11-24 19:40")
    assert {s.to for s in reminders(shown)} == {"group", "张三"}
    assert "24" in reminders(shown)[0].text  # sent at 19:30 sharp: "in 24 h 0 min"
    # 1 h before, once; nothing more afterwards.
    await quietly_to(app, "2026-11-25 18:10")
    shown = await console.clock_to("2026-11-25 18:40")
    assert {s.to for s in reminders(shown)} == {"group", "张三"}
    assert len(reminders(shown)) == 2
    await quietly_to(app, "2026-11-26 09:00")
    assert reminders(await restart(app)) == []


async def test_reminder_after_downtime_sent_when_useful_dropped_when_not(console: Console, app: App) -> None:
    await create_meeting(console, "2026-11-25 10:00")
    console.as_("张三")
    console.in_(GROUP)
    await console.press(1)
    # Down from Monday 09:00 until Tuesday 12:00: the 24 h reminder (Tuesday 10:00) fell due meanwhile.
    app.core.clock.advance(timedelta(hours=27))
    late = reminders(await restart(app))
    assert {s.to for s in late} == {"group", "张三"}
    # Down again over the 1 h reminder and the start: that reminder is useless now and is dropped.
    app.core.clock.advance(timedelta(hours=22, minutes=30))  # Wednesday 10:30
    assert reminders(await restart(app)) == []
    async with transaction(app.core.sessions) as session:
        rows = (await session.exec(select(MeetingReminder).order_by(col(MeetingReminder.offset_minutes)))).all()
    assert [(r.offset_minutes, r.skipped) for r in rows] == [(60, "started"), (1440, "")]
    assert all(r.sent_at is not None for r in rows)


async def test_cancelling_tells_everyone_who_answered(console: Console, app: App) -> None:
    await create_meeting(console, "2026-11-26 19:00", title="电梯维修议事")
    for name, button in (("张三", 1), ("李四", 2)):
        console.as_(name)
        console.in_(GROUP)
        await console.press(button)
    console.as_("王书记")
    await console.say("/meetings")
    await console.press("取消会议" if "取消会议" in console.last.labels else "Cancel meeting")
    for name in ("张三", "李四"):
        assert "电梯维修议事" in console.last_for(name).text
        assert "取消" in console.last_for(name).text or "Cancelled" in console.last_for(name).text
    assert "电梯维修议事" in console.seen_by("王书记", GROUP)[-1].text
    # No reminders for a cancelled meeting, on time or late.
    await quietly_to(app, "2026-11-26 18:40")
    shown = await console.clock_to("2026-11-26 19:10")
    assert reminders(shown) == []
    console.as_("张三")
    await console.say("/meetings")
    assert "电梯维修议事" not in console.last.text


async def test_moving_tells_answered_and_moves_reminders(console: Console, app: App) -> None:
    await create_meeting(console, "2026-11-26 19:00", title="绿化改造")
    console.as_("张三")
    console.in_(GROUP)
    await console.press(1)
    console.as_("王书记")
    await console.say("/meetings")
    await console.press("改期" if "改期" in console.last.labels else "Move")
    await console.say("2026-11-27 20:00")
    assert "2026-11-27 20:00" in console.last_for("张三").text
    await quietly_to(app, "2026-11-25 18:50")
    shown = await console.clock_to("2026-11-25 19:10")
    assert reminders(shown) == []  # the old 24 h reminder time passes silently
    await quietly_to(app, "2026-11-26 19:50")
    shown = await console.clock_to("2026-11-26 20:10")  # the new 24 h reminder: Thursday 20:00
    assert {s.to for s in reminders(shown)} == {"group", "张三"}
    await quietly_to(app, "2026-11-27 18:50")
    shown = await console.clock_to("2026-11-27 19:10")
    assert {s.to for s in reminders(shown)} == {"group", "张三"}


async def test_recurring_weekend_day_generates_next_occurrence(console: Console, app: App) -> None:
    await create_meeting(console, "2026-11-28 09:00", kind="周末议事日", title="周末议事日", repeat=2)
    await quietly_to(app, "2026-11-28 08:50")
    await console.clock_to("2026-11-28 09:00")
    async with transaction(app.core.sessions) as session:
        meetings = (await session.exec(select(Meeting).order_by(col(Meeting.starts_at)))).all()
    assert [m.starts_at.astimezone(ZONE).strftime("%m-%d %H:%M") for m in meetings] == ["11-28 09:00", "12-05 09:00"]
    assert meetings[1].series_id == meetings[0].id and meetings[1].recurrence == "weekly"
    assert "2026-12-05 09:00" in console.seen_by("王书记", GROUP)[-1].text
    # Only one next occurrence, however often the job runs.
    await console.clock_to("+20m")
    async with transaction(app.core.sessions) as session:
        assert len((await session.exec(select(Meeting))).all()) == 2


async def test_minutes_posted_after_the_meeting(console: Console, app: App) -> None:
    await create_meeting(console, "2026-11-23 19:00", title="垃圾分类")
    await quietly_to(app, "2026-11-23 20:50")
    await console.clock_to("2026-11-23 21:00")
    console.as_("王书记")
    await console.say("/meetings")
    await console.press("纪要" if any("纪要" in label for label in console.last.labels) else "Post minutes")
    await console.say("决定：每周六上午开展垃圾分类宣传，由李楼长负责。")
    assert "垃圾分类宣传" in console.seen_by("王书记", GROUP)[-1].text


async def test_residents_cannot_call_meetings(console: Console) -> None:
    console.as_("张三")
    await console.say("/newmeeting")
    assert "书记" in console.last.text or "secretary" in console.last.text
    assert "会议" not in console.last.labels


async def test_bad_inputs_keep_the_draft(console: Console) -> None:
    console.as_("王书记")
    await console.say("/newmeeting")
    await console.press(1)
    await console.photo()
    assert "文字" in console.last.text or "text" in console.last.text
    await console.say("长" * 200)
    assert "80" in console.last.text
    await console.say("议事会")
    await console.say("小区广场")
    await console.say("2026-11-20 09:00")
    assert "2026-11-20 09:00" in console.last.text  # in the past: refused, the step stays
    await console.say("找个周末吧")
    assert "找个周末吧" in console.last.text
    await console.say("明天 19:30")
    await console.press(1)  # skip the agenda
    assert console.last.labels  # the audience buttons: the draft survived every refusal
