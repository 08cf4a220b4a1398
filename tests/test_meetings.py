"""Meetings through the console: creating, answering, reminders on the moved clock (also after a downtime),
cancelling, moving, a recurring 周末议事日, minutes, refusals and bad input."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.core.when import parse_when
from bot.transports.console import Console, Shown
from storage.db import transaction
from storage.meetings import Meeting, MeetingReminder, next_occurrence
from storage.people import Role
from tests.conftest import (
    HPY_GROUP,
    START,
    add_console_person,
    hpy_with_group,
    outbox_to,
    revoke_role,
    switch_to,
)

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


def test_parse_when_accepts_what_organisers_type() -> None:
    """What organisers typed for the meetings' own parser, now read by the one parser every flow shares."""
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
    assert "2026-11-27 周五 20:00" in console.last.text  # echoed in full before anyone is told
    await console.press(1)  # Move
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
    # The next occurrence is announced (beside this one's 签到 posting).
    assert any("2026-12-05 09:00" in s.text for s in console.seen_by("王书记", GROUP)[-2:])
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
    assert "2026-11-20 周五 09:00" in console.last.text  # in the past: refused (echoed in full), the step stays
    await console.say("找个周末吧")
    assert "没能看懂这个时间" in console.last.text
    await console.say("明天 19:30")
    await console.press(1)  # skip the agenda
    assert console.last.labels  # the audience buttons: the draft survived every refusal


# ---- the declared flows: authority at every step, the compound they began in, one time parser --------------



async def meeting_rows(app: App) -> list[Meeting]:
    async with app.core.sessions() as session:
        return list((await session.exec(select(Meeting).order_by(col(Meeting.id)))).all())


async def to_confirmation(console: Console, when: str = "明天 19:30", title: str = "停车难问题") -> None:
    """/newmeeting up to its summary: a talk day for the whole compound, no agenda, once."""
    console.as_("王书记")
    await console.say("/newmeeting")
    await console.press(1)
    await console.say(title)
    await console.say("党群服务中心二楼会议室")
    await console.say(when)
    await console.press(1)  # no agenda
    await console.press(1)  # the whole compound
    await console.press(1)  # once


async def test_a_revoked_role_ends_newmeeting_and_writes_nothing(console: Console, app: App) -> None:
    await to_confirmation(console)
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.press(1)  # Publish
    assert "身份已有变化" in console.last.text
    assert await meeting_rows(app) == []
    assert await outbox_to(app, GROUP) == []


async def test_switching_compound_mid_newmeeting_keeps_it_where_it_began(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/newmeeting")
    await console.press(1)
    await console.say("停车难问题")
    await hpy_with_group(app, ("王书记", ()))  # a tenant there: no organiser
    await switch_to(console, "和平苑")
    await console.say("党群服务中心二楼会议室")
    await console.say("明天 19:30")
    await console.press(1)
    await console.press(1)
    await console.press(1)
    await console.press(1)  # Publish
    assert [m.compound_id for m in await meeting_rows(app)] == [1]
    assert "停车难问题" in console.seen_by("王书记", GROUP)[-1].text
    assert await outbox_to(app, HPY_GROUP) == []


async def _meeting_menu(console: Console, button: str) -> None:
    console.as_("王书记")
    await console.say("/meetings")
    await console.press(button)


async def test_a_revoked_role_ends_moving_and_minutes_and_writes_nothing(console: Console, app: App) -> None:
    await create_meeting(console, "2026-11-26 19:00", title="绿化改造")
    await _meeting_menu(console, "改期")
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.say("2026-11-27 20:00")
    assert "身份已有变化" in console.last.text
    [meeting] = await meeting_rows(app)
    assert meeting.starts_at == datetime(2026, 11, 26, 19, 0, tzinfo=ZONE)

    await add_console_person(app, "刘委员", 1, Role.COMMITTEE)
    console.as_("刘委员")
    await console.say("/newmeeting")
    await console.press(1)
    for answer in ("垃圾分类", "活动室", "今天 10:00"):
        await console.say(answer)
    for _ in range(3):
        await console.press(1)
    await console.press(1)  # Publish
    await quietly_to(app, "2026-11-23 10:50")
    await console.clock_to("2026-11-23 11:00")
    console.as_("刘委员")
    await console.say("/meetings")
    await console.press("发布纪要")
    await revoke_role(app, "刘委员", Role.COMMITTEE)
    await console.say("决定：每周六上午开展垃圾分类宣传。")
    assert "身份已有变化" in console.last.text
    assert all(not m.minutes for m in await meeting_rows(app))
    assert not [s for s in console.seen_by("王书记", GROUP) if "垃圾分类宣传" in s.text]


async def test_switching_compound_mid_move_and_minutes_keeps_them_where_they_began(console: Console,
                                                                                    app: App) -> None:
    await create_meeting(console, "2026-11-23 10:00", title="垃圾分类")
    await create_meeting(console, "2026-11-26 19:00", title="绿化改造")
    await hpy_with_group(app, ("王书记", ()))
    await _meeting_menu(console, "改期")
    await switch_to(console, "和平苑")
    await console.say("2026-11-27 20:00")
    assert "2026-11-27 周五 20:00" in console.last.text  # echoed in full before anyone is told
    await console.press(1)  # Move
    moved = [m for m in await meeting_rows(app) if m.title == "绿化改造"]
    assert moved[0].starts_at == datetime(2026, 11, 27, 20, 0, tzinfo=ZONE)
    assert "绿化改造" in console.seen_by("王书记", GROUP)[-1].text

    await switch_to(console, "幸福里")
    await quietly_to(app, "2026-11-23 10:50")
    await console.clock_to("2026-11-23 11:00")
    await _meeting_menu(console, "发布纪要")
    await switch_to(console, "和平苑")
    await console.say("决定：每周六上午开展垃圾分类宣传。")
    assert "垃圾分类宣传" in console.seen_by("王书记", GROUP)[-1].text
    assert next(m.minutes for m in await meeting_rows(app) if m.title == "垃圾分类").startswith("决定")
    assert await outbox_to(app, HPY_GROUP) == []


@pytest.mark.parametrize(("now", "typed", "starts", "echo"), [
    ("2026-11-23 09:00", "明天 20:00", datetime(2026, 11, 24, 20, 0), "2026-11-24 周二 20:00"),
    ("2026-11-23 09:00", "周六 9点半", datetime(2026, 11, 28, 9, 30), "2026-11-28 周六 09:30"),
    ("2026-11-23 09:00", "下周三 晚上7点", datetime(2026, 12, 2, 19, 0), "2026-12-02 周三 19:00"),
    ("2026-12-04 09:00", "01-10 20:00", datetime(2027, 1, 10, 20, 0), "2027-01-10 周日 20:00"),
])
async def test_typed_times_give_the_meeting_time_echoed_in_full(console: Console, app: App, now: str, typed: str,
                                                               starts: datetime, echo: str) -> None:
    await quietly_to(app, now)
    await to_confirmation(console, typed)
    assert echo in console.last.text
    await console.press(1)  # Publish
    [meeting] = await meeting_rows(app)
    assert meeting.starts_at == starts.replace(tzinfo=ZONE)


async def test_a_stranger_cannot_call_a_meeting(console: Console, app: App) -> None:
    console.as_("陌生人")
    await console.say("/newmeeting")
    assert "加入" in console.last.text
    assert await meeting_rows(app) == []


BAD_TEXT = ("字" * 10_000, "\x1b", "\ud800")
BAD_ANYWHERE = ("²", "①", "1" * 20, *BAD_TEXT)


async def test_bad_input_at_every_step_is_refused_politely(console: Console, app: App) -> None:
    async def refused(*inputs: str, photo: bool = True) -> None:
        for text in inputs:
            before = len(console.seen_by())
            await console.say(text)
            assert len(console.seen_by()) > before and "系统出了点问题" not in console.last.text
        if photo:
            await console.photo()
            assert "系统出了点问题" not in console.last.text

    console.as_("王书记")
    await console.say("/newmeeting")
    await refused(*BAD_ANYWHERE)
    await console.press(1)
    await refused(*BAD_TEXT)
    await console.press("集中说事日")  # a stale button: the kind is chosen already
    assert "失效" in console.last.text or "不再" in console.last.text
    await console.say("停车难问题")
    await refused(*BAD_TEXT)
    await console.say("活动室")
    await refused(*BAD_ANYWHERE)
    await console.say("明天 19:30")
    await refused(*BAD_TEXT)
    await console.press(1)
    for _ in range(3):
        await refused(*BAD_ANYWHERE)
        await console.press(1)
    [meeting] = await meeting_rows(app)
    assert (meeting.title, meeting.place, meeting.starts_at) == ("停车难问题", "活动室",
                                                               datetime(2026, 11, 24, 19, 30, tzinfo=ZONE))


async def test_a_building_leader_calls_meetings_of_their_own_building(console: Console, app: App) -> None:
    console.as_("李楼长")
    await console.say("/newmeeting")
    await console.press(1)
    for answer in ("楼道堆物清理", "1栋架空层", "明天 19:30"):
        await console.say(answer)
    await console.press(1)  # no agenda
    assert console.last.labels == ["1栋"]  # asked for the building at once: only the one they lead
    await console.press("1栋")
    await console.press(1)  # once
    assert "2026-11-24 周二 19:30" in console.last.text
    await console.press(1)  # Publish
    [meeting] = await meeting_rows(app)
    assert meeting.audience == "building" and meeting.building_id is not None
    await add_console_person(app, "周楼长", 1, Role.BUILDING_LEADER)  # leads no building (yet)
    console.as_("周楼长")
    await console.say("/newmeeting")
    assert "没有负责的楼栋" in console.last.text
