"""Recurring volunteer tasks through the console: a weekly 代购 for elderly residents, posted once by the
secretary; the scheduler posts each next occurrence when the one before starts, with its own sign-ups, its own
attendance and its own points; stopping the series."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.app import App
from bot.transports.console import Console
from storage.db import transaction
from storage.points import PointsEntry
from storage.volunteering import TaskSignup, VolunteerTask

GROUP = "幸福里业主群"
ZONE = ZoneInfo("Asia/Shanghai")


def skip_to(app: App, moment: str) -> None:
    """The clock straight to a local moment, no job on the way (nothing is due there)."""
    app.core.clock.set(datetime.strptime(moment, "%Y-%m-%d %H:%M").replace(tzinfo=ZONE))


async def tasks_and_signups(app: App) -> list[tuple[str, list[int]]]:
    async with transaction(app.core.sessions) as session:
        tasks = (await session.exec(select(VolunteerTask).order_by(col(VolunteerTask.starts_at)))).all()
        out = []
        for task in tasks:
            people = (await session.exec(select(TaskSignup.person_id).where(
                TaskSignup.task_id == task.id, col(TaskSignup.active)))).all()
            out.append((task.starts_at.astimezone(ZONE).strftime("%m-%d %H:%M"), sorted(people)))
        return out


async def post_weekly(console: Console) -> None:
    console.as_("王书记")
    await console.say("/task")
    await console.say("每周代购")
    await console.say("为独居老人代购米面油和药品")
    await console.say("党群服务中心门口")
    await console.say("2026-11-24 10:00")
    await console.say("11:30")
    await console.say("2")
    await console.press("完成")
    await console.press("按小时")
    await console.press("每周二10:00重复")
    assert "每周二10:00重复" in console.last.text
    await console.press("发布")


async def confirm_attendance(console: Console) -> None:
    console.as_("王书记")
    await console.press("确认出勤")


async def test_a_weekly_task_second_week_has_its_own_sign_ups_and_points(console: Console, app: App) -> None:
    await post_weekly(console)
    assert "每周二10:00重复" in console.seen_by("王书记", GROUP)[-1].text
    console.as_("张三")
    console.in_(GROUP)
    await console.press("报名")
    assert await tasks_and_signups(app) == [("11-24 10:00", [5])]

    # When the first week starts, the second is posted, with no sign-ups; the organiser is told.
    skip_to(app, "2026-11-24 09:55")
    await console.clock_to("2026-11-24 10:05")
    posting = console.seen_by("王书记", GROUP)[-1]
    assert "每周代购" in posting.text and "2026-12-01 10:00" in posting.text and "0/2" in posting.text
    assert "报名重新开始" in console.last_for("王书记").text
    console.as_("李四")
    console.in_(GROUP)
    await console.press("报名")  # the newest posting's button: the second week
    assert "12-01" in console.last_for("李四").text
    assert await tasks_and_signups(app) == [("11-24 10:00", [5]), ("12-01 10:00", [6])]
    # Only one second week, however often the job runs.
    await console.clock_to("+30m")
    assert len(await tasks_and_signups(app)) == 2

    # Each week's attendance pays its own volunteers.
    await console.clock_to("2026-11-24 11:40")
    await confirm_attendance(console)
    skip_to(app, "2026-12-01 09:55")
    await console.clock_to("2026-12-01 11:40")
    await confirm_attendance(console)
    async with transaction(app.core.sessions) as session:
        entries = (await session.exec(select(PointsEntry).order_by(col(PointsEntry.id)))).all()
    assert [(e.person_id, e.amount) for e in entries] == [(5, 3), (6, 3)]
    assert entries[0].task_id != entries[1].task_id
    assert [when for when, _ in await tasks_and_signups(app)] == ["11-24 10:00", "12-01 10:00", "12-08 10:00"]


async def test_stopping_the_series_keeps_what_is_posted(console: Console, app: App) -> None:
    await post_weekly(console)
    skip_to(app, "2026-11-24 09:55")
    await console.clock_to("2026-11-24 10:05")
    console.as_("张三")
    await console.say("/tasks")
    assert "停止重复" not in " ".join(console.last.labels)  # only the organiser or a secretary
    console.as_("王书记")
    await console.say("/tasks")
    await console.press("停止重复")
    assert "不再重复发布" in console.last.text
    await console.press("停止重复")  # a second press: said politely
    assert "已经不再重复" in console.last.text
    skip_to(app, "2026-12-01 09:55")
    await console.clock_to("2026-12-01 10:15")
    assert [when for when, _ in await tasks_and_signups(app)] == ["11-24 10:00", "12-01 10:00"]
