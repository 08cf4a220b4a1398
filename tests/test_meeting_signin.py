"""Meeting sign-in (签到) through the console: pressed in time (once), refused before sign-in opens and after it
closes, refused to someone the meeting is not for, marked by the organiser, shown in the minutes and counted in
the month's figures."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.app import App
from bot.transports.console import Console
from storage.db import transaction
from storage.reports import month_figures

GROUP = "幸福里业主群"
ZONE = ZoneInfo("Asia/Shanghai")


async def quietly_to(app: App, when: str) -> None:
    app.core.clock.set(datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=ZONE))


async def call_meeting(console: Console, when: str, title: str, audience: int = 1) -> None:
    console.as_("王书记")
    await console.say("/newmeeting")
    await console.press("集中说事日")
    await console.say(title)
    await console.say("党群服务中心二楼会议室")
    await console.say(when)
    await console.press(1)  # no agenda
    await console.press(audience)
    await console.press(1)  # once
    await console.press(1)  # Publish


async def test_sign_in_in_time_once_refused_before_and_after_counted_and_in_the_minutes(console: Console,
                                                                                     app: App) -> None:
    await call_meeting(console, "2026-11-25 19:30", "停车难问题")
    for name in ("张三", "陈阿姨"):
        console.as_(name)
        console.in_(GROUP)
        await console.press("参加")

    # The 1-hour reminder reaches 张三 privately with 签到; pressed at once it is refused politely (too early).
    await quietly_to(app, "2026-11-25 18:20")
    await console.clock_to("2026-11-25 18:35")
    console.as_("张三")
    assert "签到" in " ".join(console.last.labels)
    await console.press("签到")
    assert "19:00" in console.last.text and "开放" in console.last.text

    # Sign-in opens 30 minutes before the start: the group gets 签到.
    await console.clock_to("2026-11-25 19:05")
    posting = console.seen_by("王书记", GROUP)[-1]
    assert "签到" in posting.text and "停车难问题" in posting.text
    console.as_("张三")
    console.in_(GROUP)
    await console.press("签到")
    assert "已签到" in console.last_for("张三").text
    await console.press("签到")  # a second press: answered politely, counted once
    assert "签一次就可以了" in console.last_for("张三").text
    console.as_("李四")
    console.in_(GROUP)
    await console.press("签到")  # 李四 never said Attend, and signs in all the same
    assert "已签到" in console.last_for("李四").text

    # Closed three hours after the start.
    await quietly_to(app, "2026-11-25 22:31")
    console.as_("孙委员")
    console.in_(GROUP)
    await console.press("签到")
    assert "签到已结束" in console.last_for("孙委员").text

    # The organiser marks 陈阿姨 (she said Attend and came without her phone) present on the sheet.
    console.as_("王书记")
    await console.say("/meetings")
    await console.press("签到表")
    assert "张三" in console.last.text and "李四" in console.last.text
    await console.press("✗ 陈阿姨")
    assert "✓ 陈阿姨" in console.last.labels

    # The minutes carry the attendance.
    await console.say("/meetings")
    await console.press("发布纪要")
    await console.say("决定：地面停车位重新划线。")
    minutes = console.seen_by("王书记", GROUP)[-1].text
    assert "地面停车位" in minutes and "签到（3人）" in minutes
    assert all(name in minutes for name in ("张三", "李四", "陈阿姨"))

    async with transaction(app.core.sessions) as session:
        figures = (await month_figures(session, "2026-11", [1]))[1]
    assert (figures.meetings, figures.attending, figures.signed_in) == (1, 2, 3)
    console.as_("王书记")
    await console.say("/monthly 2026-11")
    assert any("签到" in s.text and "3" in s.text for s in console.seen_by("王书记")[-3:])


async def test_a_building_meeting_refuses_sign_in_from_other_buildings(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/newmeeting")
    await console.press("楼栋会")
    await console.say("1栋电梯维修")
    await console.say("1栋大堂")
    await console.say("2026-11-24 20:00")
    await console.press(1)  # no agenda
    await console.press("某一栋楼")
    await console.press("1栋")
    await console.press(1)  # once
    await console.press(1)  # Publish
    await quietly_to(app, "2026-11-24 19:35")
    await console.clock_to("2026-11-24 19:45")
    console.as_("王五")  # lives in 3栋
    console.in_(GROUP)
    await console.press("签到")
    assert "该楼栋" in console.last_for("王五").text
    console.as_("张三")  # lives in 1栋
    console.in_(GROUP)
    await console.press("签到")
    assert "已签到" in console.last_for("张三").text
    async with transaction(app.core.sessions) as session:
        figures = (await month_figures(session, "2026-11", [1]))[1]
    assert figures.signed_in == 1
