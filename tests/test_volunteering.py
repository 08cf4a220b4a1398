"""Volunteer tasks through the console: posting, group sign-ups until full, reminders, attendance, points."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.app import App
from bot.core.when import parse_time_of_day, parse_when
from bot.transports.console import Console
from storage import volunteering as store
from storage.db import transaction
from storage.people import Role
from storage.points import PointsEntry
from storage.volunteering import TaskSignup, VolunteerTask
from tests.conftest import revoke_role, second_compound, switch_to

GROUP = "幸福里业主群"
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def post_task(console: Console, wanted: int = 2, skills: tuple[str, ...] = (), who: str = "王书记",
                    start: str = "2026-11-25 09:00", end: str = "11:00", mode: str = "按小时") -> None:
    console.as_(who)
    await console.say("/task")
    await console.say("清理楼道杂物")
    await console.say("清理1栋楼道里的杂物")
    await console.say("1栋楼下")
    await console.say(start)
    await console.say(end)
    await console.say(str(wanted))
    for skill in skills:
        await console.press(skill)
    await console.press("完成")
    await console.press(mode)
    assert "清理楼道杂物" in console.last.text
    await console.press("发布")


def skip_to(console: Console, moment: str) -> None:
    """Move the clock straight to a local moment, without running jobs on the way (nothing is due there)."""
    target = datetime.strptime(moment, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI)
    console.app.core.clock.advance(target - console.app.core.clock.now())


async def entries(console: Console) -> list[PointsEntry]:
    async with transaction(console.app.core.sessions) as session:
        return list((await session.exec(select(PointsEntry).order_by(PointsEntry.id))).all())  # type: ignore[arg-type]


async def test_full_cycle(console: Console) -> None:
    # 张三 is an electrician: he is told privately about a task that needs one.
    console.as_("张三")
    await console.say("/skills 电工")
    assert "电工" in console.last.text
    await post_task(console, wanted=2, skills=("电工",))
    assert "已发布" in console.last.text
    posting = console.seen_by("王书记", GROUP)[-1]
    assert "清理楼道杂物" in posting.text and "0/2" in posting.text
    assert "电工" in console.last_for("张三").text

    # Sign-ups from the group posting and from the private list, until full.
    console.as_("张三")
    console.in_(GROUP)
    await console.press("报名")
    assert "已报名" in console.last_for("张三").text
    assert "1/2" in console.seen_by("张三", GROUP)[-1].text
    console.as_("李四")
    await console.say("/tasks")
    await console.press("报名")
    assert "1/2" not in console.seen_by("李四", GROUP)[-1].text
    assert "2/2" in console.seen_by("李四", GROUP)[-1].text
    console.as_("王五")
    console.in_(GROUP)
    await console.press("退出")  # not signed up: polite refusal, nothing changes
    assert "没有报名" in console.last_for("王五").text
    assert "名额已满" in console.seen_by("王五", GROUP)[-1].text
    console.in_("private")
    await console.say("/tasks")
    await console.press("报名")
    assert "名额已满" in console.last.text
    async with transaction(console.app.core.sessions) as session:
        task = (await session.exec(select(VolunteerTask))).one()
        assert await store.signup_count(session, task.id or 0) == 2

    # The organiser is reminded the evening before (20:00) with the names; volunteers 2 hours before.
    skip_to(console, "2026-11-24 19:20")
    await console.clock_to("2026-11-24 19:50")
    assert "明天" not in console.last_for("王书记").text
    await console.clock_to("2026-11-24 20:10")
    reminder = console.last_for("王书记").text
    assert "张三" in reminder and "李四" in reminder and "2/2" in reminder
    skip_to(console, "2026-11-25 06:20")
    await console.clock_to("2026-11-25 06:50")
    assert not console.last_for("李四").text.startswith("提醒")
    await console.clock_to("2026-11-25 07:10")
    assert console.last_for("李四").text.startswith("提醒") and console.last_for("张三").text.startswith("提醒")
    await console.clock_to("2026-11-25 08:00")
    reminders = [s for s in console.seen_by("张三") if s.text.startswith("提醒")]
    assert len(reminders) == 1  # sent once

    # After the task the organiser confirms attendance: 李四 stayed half an hour longer.
    skip_to(console, "2026-11-25 10:40")
    await console.clock_to("2026-11-25 11:10")
    console.as_("王书记")
    assert "出勤" in console.last.text or "签到" in console.last.text
    await console.press("+0.5h")  # the first volunteer's row is 张三's
    await console.press("李四")  # toggle 李四 off ...
    await console.press("李四")  # ... and on again
    sheet = console.last.text
    assert "2.5" in sheet
    await console.press("确认出勤")
    assert "张三：5 分" in console.last.text.replace(": ", "：")
    assert "李四：4 分" in console.last.text.replace(": ", "：")
    assert "获得 5 积分" in console.last_for("张三").text
    # The button pressed again (a double press) credits nothing.
    await console.press("确认出勤")
    assert "已经确认" in console.last.text
    ledger = await entries(console)
    assert sorted(e.amount for e in ledger) == [4, 5]

    # Points, ranking and redemption.
    console.as_("张三")
    await console.say("/points")
    assert "5" in console.last.text and "清理楼道杂物" in console.last.text
    await console.say("/rank")
    assert "张三" in console.last.text
    await console.press("隐藏")
    await console.say("/rank")
    assert "张三" not in console.last.text.split("\n\n")[0].replace("张三（你）", "")
    console.as_("王书记")
    await console.say("/redeem 张三")
    await console.say("3")
    await console.say("洗衣液一瓶")
    console.as_("张三")
    await console.press("确认")
    assert "余额：2" in console.last.text.replace(": ", "：")
    ledger = await entries(console)
    assert sorted(e.amount for e in ledger) == [-3, 4, 5]


async def test_double_signup_is_refused(console: Console) -> None:
    await post_task(console, wanted=5)
    console.as_("张三")
    console.in_(GROUP)
    await console.press("报名")
    await console.press("报名")
    assert "已经报名" in console.last_for("张三").text
    async with transaction(console.app.core.sessions) as session:
        rows = (await session.exec(select(TaskSignup))).all()
        assert len(rows) == 1
        task = (await session.exec(select(VolunteerTask))).one()
        # One person signs up once, even past the handler: the database refuses a second row.
        session.add(TaskSignup(task_id=task.id or 0, person_id=rows[0].person_id))
        try:
            await session.flush()
        except Exception as error:  # IntegrityError
            assert "UNIQUE" in str(error).upper()
        else:
            raise AssertionError("a second sign-up row was accepted")


async def test_withdraw_before_and_after_the_start(console: Console) -> None:
    await post_task(console, wanted=3)
    console.as_("张三")
    await console.say("/tasks")
    await console.press("报名")
    await console.say("/tasks")
    await console.press("退出")
    assert "已退出" in console.last.text
    await console.say("/tasks")
    await console.press("报名")
    skip_to(console, "2026-11-25 09:10")
    console.in_(GROUP)
    await console.press("退出")
    assert "已经开始" in console.last_for("张三").text
    async with transaction(console.app.core.sessions) as session:
        task = (await session.exec(select(VolunteerTask))).one()
        assert await store.signup_count(session, task.id or 0) == 1


async def test_a_resident_cannot_post_a_task(console: Console) -> None:
    console.as_("张三")
    await console.say("/task")
    assert "只有" in console.last.text
    async with transaction(console.app.core.sessions) as session:
        assert (await session.exec(select(VolunteerTask))).first() is None


async def test_bad_input_keeps_the_draft(console: Console) -> None:
    console.as_("李楼长")
    await console.say("/task")
    await console.say("修自行车")
    await console.say("免费修车")
    await console.say("2栋门口")
    await console.say("明天上午")  # a day and a part of it, but no time: asked again
    assert "看懂" in console.last.text
    await console.say("2026-11-20 09:00")  # in the past
    await console.say("11-28 14:00")
    await console.say("13:00")  # before the start
    await console.say("16:30")
    await console.say("很多")
    await console.say("4")
    await console.press("完成")
    await console.press("按活动")
    assert "修自行车" in console.last.text and "5" in console.last.text
    await console.press("发布")
    async with transaction(console.app.core.sessions) as session:
        task = (await session.exec(select(VolunteerTask))).one()
        assert task.mode == "activity" and task.rate == 5 and task.wanted == 4
        assert task.starts_at == datetime(2026, 11, 28, 14, 0, tzinfo=SHANGHAI).astimezone(UTC)
        assert store.planned_hours(task) == Decimal("2.5")


def test_rules() -> None:
    now = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
    # Tasks read their times with the one parser of the core (bot.core.when), as every flow does.
    assert parse_when("11月28日 9:30", now, SHANGHAI) == datetime(2026, 11, 28, 9, 30, tzinfo=SHANGHAI)
    assert parse_when("01-05 08:00", now, SHANGHAI) == datetime(2027, 1, 5, 8, 0, tzinfo=SHANGHAI)
    assert parse_time_of_day("25:00") is None
    assert store.parse_skills("电工、法律, other") == ["law", "electrician", "other"]
    due = store.organiser_reminder_due(datetime(2026, 11, 25, 1, 0, tzinfo=UTC), SHANGHAI, "20:00")
    assert due == datetime(2026, 11, 24, 20, 0, tzinfo=SHANGHAI)


# ---- issue 15: times as people type them, authority at every step, numbers, the flow's own compound ---------


async def draft_task(console: Console, start: str, end: str, who: str = "王书记") -> None:
    """/task up to its confirmation."""
    console.as_(who)
    await console.say("/task")
    await console.say("清理楼道杂物")
    await console.press("不填说明")
    await console.say("1栋楼下")
    await console.say(start)
    await console.say(end)
    await console.say("3")
    await console.press("完成")
    await console.press("按小时")


async def tasks_in_db(console: Console) -> list[VolunteerTask]:
    async with transaction(console.app.core.sessions) as session:
        return list((await session.exec(select(VolunteerTask))).all())


async def test_task_times_are_read_as_people_type_them_and_echoed_in_full(console: Console) -> None:
    """/task refused 明天 20:00 and 周六 9:00, and in December refused "01-10 20:00" with a wrong message."""
    await draft_task(console, "明天 20:00", "22:00")
    assert "2026-11-24 周二 20:00" in console.last.text and "2026-11-24 周二 22:00" in console.last.text
    await console.press("发布")
    await draft_task(console, "周六 9:00", "11点半")
    assert "2026-11-28 周六 09:00" in console.last.text and "2026-11-28 周六 11:30" in console.last.text
    await console.press("发布")
    skip_to(console, "2026-12-20 10:00")
    console.as_("王书记")
    await console.say("/task")
    await console.say("新年联欢布置")
    await console.press("不填说明")
    await console.say("活动室")
    await console.say("01-10 20:00")
    assert "2027-01-10 周日 20:00" in console.last.text  # the end question says when it starts
    await console.say("01-10 19:00")  # before the start: refused, the start is kept
    assert "必须晚于开始时间（2027-01-10 周日 20:00）" in console.last.text
    await console.say("01-12 21:00")  # two days on: no task lasts that long
    assert "24" in console.last.text
    await console.say("22:00")
    await console.say("10")
    await console.press("完成")
    await console.press("按活动")
    assert "2027-01-10 周日 20:00" in console.last.text and "2027-01-10 周日 22:00" in console.last.text
    await console.press("发布")
    starts = sorted(task.starts_at for task in await tasks_in_db(console))
    assert starts == [datetime(2026, 11, 24, 20, 0, tzinfo=SHANGHAI), datetime(2026, 11, 28, 9, 0, tzinfo=SHANGHAI),
                      datetime(2027, 1, 10, 20, 0, tzinfo=SHANGHAI)]


async def test_the_start_passing_while_we_talk_asks_the_time_again(console: Console) -> None:
    await draft_task(console, "今天 9:20", "11:00")
    skip_to(console, "2026-11-23 09:25")
    await console.press("发布")
    assert "已经过去" in console.seen_by()[-2].text and "什么时候开始" in console.last.text
    await console.say("明天 10:00")
    await console.say("11:00")  # straight back to the confirmation: nothing else is asked again
    assert "2026-11-24 周二 10:00" in console.last.text and "发布" in console.last.labels
    await console.press("发布")
    assert [task.wanted for task in await tasks_in_db(console)] == [3]


async def test_a_revoked_organiser_posts_nothing(console: Console, app: App) -> None:
    """Authority was checked only at the first step (and at Post it by hand): now at every step, by the flow."""
    await draft_task(console, "明天 9:00", "11:00", who="李楼长")
    await revoke_role(app, "李楼长", Role.BUILDING_LEADER)
    await console.press("发布")
    assert "身份已有变化" in console.last.text
    assert await tasks_in_db(console) == []
    # Revoked earlier, at a typed step: refused there, nothing kept.
    await draft_task(console, "明天 9:00", "11:00", who="王书记")
    console.as_("王书记")
    await console.say("/cancel")
    await console.say("/task")
    await console.say("清理楼道杂物")
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.say("清理1栋楼道")
    assert "身份已有变化" in console.last.text
    assert await tasks_in_db(console) == []


async def test_switching_compound_mid_task_posts_it_where_it_began(console: Console, app: App) -> None:
    other = await second_compound(app, ("王书记", (Role.SECRETARY,)))
    console.as_("王书记")
    await console.say("/task")
    await console.say("清理楼道杂物")
    await switch_to(console, "和平苑")
    await console.press("不填说明")
    await console.say("1栋楼下")
    await console.say("明天 9:00")
    await console.say("11:00")
    await console.say("2")
    await console.press("完成")
    await console.press("按小时")
    await console.press("发布")
    assert "已发布" in console.last.text
    [task] = await tasks_in_db(console)
    assert task.compound_id == 1 and task.compound_id != other
    assert any("清理楼道杂物" in m.text for m in console.seen_by("王书记", GROUP))  # 幸福里's group


async def test_numbers_are_digits_within_bounds(console: Console) -> None:
    """² and ① passed the digit check; a 20-digit or 20,000-digit answer went on to SQLite or int()."""
    console.as_("王书记")
    await console.say("/task")
    await console.say("清理楼道杂物")
    await console.press("不填说明")
    await console.say("1栋楼下")
    await console.say("明天 9:00")
    await console.say("11:00")
    for odd in ("²", "①", "9" * 20, "9" * 20_000, "-3", "0", "\x1b", "\ud800"):
        await console.say(odd)
        assert "1 到 500" in console.last.text, odd
    await console.say("５人")  # full-width digits and the unit people write
    assert "技能" in console.last.text
    await console.press("完成")
    await console.press("按小时")
    await console.press("发布")
    assert [task.wanted for task in await tasks_in_db(console)] == [5]


async def test_a_never_joined_person_cannot_sign_up(console: Console) -> None:
    await post_task(console, wanted=2)
    console.as_("陌生人")
    console.in_(GROUP)
    await console.press("报名")
    assert "只有" in console.last.text or "只有" in console.last_for("陌生人").text
    async with transaction(console.app.core.sessions) as session:
        assert (await session.exec(select(TaskSignup))).first() is None
