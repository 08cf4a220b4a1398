"""Menus by role and by what is current: the resident's /start leads with what is open for them, then sections;
staff get Management; members are not offered joining; /help is short in a group and grouped in private. The
sections come from the routes' `group=`, so a new command appears by itself."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.app import App, routers
from bot.core.context import Context
from bot.core.dispatcher import Core
from bot.core.router import Router
from bot.core.types import Incoming, Replies, Reply
from bot.transports.console import Console
from handlers import start
from storage import complaints, volunteering
from storage.announcements import Announcement, AnnouncementStatus
from storage.assembly import MotionSpec, open_assembly
from storage.compounds import compound_by_code
from storage.db import transaction
from storage.demo import DEMO_GROUP
from storage.people import Person


async def _open_vote(app: App, title: str = "更换小区电梯") -> None:
    now = app.core.clock.now()
    async with transaction(app.core.sessions) as session:
        compound = await compound_by_code(session, "XFL")
        secretary = (await session.exec(select(Person).where(Person.name == "王书记"))).one()
        assert compound is not None and secretary.id is not None
        made = await open_assembly(session, compound, title, [MotionSpec(text="同意更换三台电梯")], now,
                                   now + timedelta(days=7), secretary.id, now)
        assert not isinstance(made, str), made


async def test_a_members_menu_leads_with_an_open_vote(console: Console, app: App) -> None:
    console.as_("张三")
    await console.say("/start")
    assert console.last.text == "幸福里：您想做什么？"  # nothing open yet
    await _open_vote(app)
    await console.say("/start")
    assert console.last.text.splitlines()[0] == "幸福里：现在有这些事等您"
    assert "投票进行中：更换小区电梯" in console.last.text.splitlines()[1]
    assert console.last.labels[0] == "投票：更换小区电梯"
    assert {"诉求", "志愿与积分", "议事与投票", "公告与公示"} <= set(console.last.labels)
    await console.press("投票：更换小区电梯")
    assert "同意更换三台电梯" in console.last.text  # the ballot itself
    # A tenant owns no room: no vote is offered to them.
    console.as_("王五")
    await console.say("/start")
    assert not any(label.startswith("投票") for label in console.last.labels)


async def test_members_are_not_offered_joining(console: Console) -> None:
    console.as_("张三")
    await console.say("/start")
    assert "加入小区" not in console.last.labels and "/join" not in console.last.text
    await console.say("/help")
    assert "/join" not in console.last.text
    for label in (await console.say("/start"))[-1].labels:
        await console.say("/start")
        await console.press(label)
        assert "加入小区" not in console.last.labels
    # Someone who has not joined is offered nothing else.
    console.as_("路人甲")
    await console.say("/start")
    assert console.last.labels == ["加入小区"]
    await console.say("/help")
    assert "/join" in console.last.text and "/complain" not in console.last.text


async def test_sections_lead_to_the_commands(console: Console) -> None:
    console.as_("张三")
    await console.say("/start")
    await console.press("议事与投票")
    assert console.last.text == "议事与投票"
    labels = console.last.labels
    assert "开会通知" not in labels and labels[-1] == "返回菜单"
    await console.press(labels[0])
    assert console.last.text  # the command ran
    assert "管理" not in (await console.say("/start"))[-1].labels  # residents have no Management


async def test_staff_reach_their_commands_under_management(console: Console) -> None:
    console.as_("王书记")
    await console.say("/start")
    await console.press("管理")
    sections = console.last.labels
    assert {"议事与投票", "公告与公示", "成员与角色"} <= set(sections)
    await console.press("成员与角色")
    assert console.last.text == "管理 · 成员与角色"
    await console.press("成员、审核与角色")
    assert "幸福里的成员" in console.last.text  # /members ran
    await console.say("/start")
    await console.press("管理")
    await console.press("议事与投票")
    await console.press("发起业主大会表决")
    assert "业主大会" in console.last.text or "标题" in console.last.text  # /assembly began
    await console.say("/cancel")
    await console.say("/help")
    text = console.last.text
    assert "管理 · 议事与投票" in text and "/assembly — " in text and "/members — " in text
    # One line per command.
    assert all(line.count(" — ") <= 1 for line in text.splitlines())


async def test_help_in_a_group_is_short_with_a_button_to_the_private_chat(console: Console) -> None:
    console.as_("王书记")
    console.in_(DEMO_GROUP)
    await console.say("/help")
    assert len(console.last.text.splitlines()) < 4
    assert console.last.buttons[0][0].kind == "deeplink"
    assert "/members" not in console.last.text
    await console.press("私聊我")  # opens the private chat, where the full /help comes
    assert console.chat == "private" and "管理 · 成员与角色" in console.last.text
    console.in_(DEMO_GROUP)
    await console.say("/start")
    assert len(console.last.text.splitlines()) < 4


async def test_an_unread_announcement_is_shown_until_read(console: Console, app: App) -> None:
    now = app.core.clock.now()
    async with transaction(app.core.sessions) as session:
        session.add(Announcement(compound_id=1, author_id=1, text="周六上午九点停水检修，请提前储水。", due_at=now,
                                 status=AnnouncementStatus.SENT, created_at=now))
        session.add(Announcement(compound_id=1, author_id=1, text="党员学习会", audience="party", due_at=now,
                                 status=AnnouncementStatus.SENT, created_at=now))
    console.as_("张三")
    await console.say("/start")
    assert "新公告：周六上午九点停水检修" in console.last.text and "党员学习会" not in console.last.text
    await console.press("查看新公告")
    assert "周六上午九点停水检修，请提前储水。" in console.last.text
    await console.say("/start")
    assert "新公告" not in console.last.text
    console.as_("陈阿姨")  # a party member sees the party's one
    await console.say("/start")
    assert "党员学习会" in console.last.text


async def test_a_new_command_appears_in_its_section_by_itself(console: Console, app: App) -> None:
    extra = Router("extra")

    @extra.command("recycle", group="volunteer", member=True, help="Recycling days")
    async def recycle(ctx: Context, msg: Incoming) -> Replies:
        return Reply("ok")

    app.core.routes = Core(app.settings, app.engine, [*routers(), extra]).routes
    console.as_("张三")
    await console.say("/start")
    await console.press("志愿与积分")
    assert "Recycling days" in console.last.labels
    await console.say("/help")
    assert "/recycle — Recycling days" in console.last.text
    assert start.GROUPS["volunteer"]  # the section it named


async def test_the_menu_shows_the_task_signed_up_for_and_the_cases_still_open(console: Console, app: App) -> None:
    """Each kind of "open for you now" line, from the one read that says which kinds there are: a task signed up
    for, and the cases being handled or waiting for a rating (newest first), not one already closed."""
    now = app.core.clock.now()
    async with transaction(app.core.sessions) as session:
        compound = await compound_by_code(session, "XFL")
        zhang = (await session.exec(select(Person).where(Person.name == "张三"))).one()
        assert compound is not None and zhang.id is not None
        task = await volunteering.post_task(
            session, compound_id=1, organiser_id=zhang.id, title="周二为独居老人代购", description="", place="",
            starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=2), wanted=3, skills=[],
            mode="hour", rate=10, now=now)
        assert task is not None
        await volunteering.sign_up(session, task, zhang.id, now)
        cases = [await complaints.file_case(session, compound, zhang.id, "other", text, now)
                 for text in ("楼道灯坏了", "垃圾桶满了", "电梯异响")]
        await complaints.transition(session, cases[1], complaints.Event.RESOLVE, None, now)
        await complaints.transition(session, cases[1], complaints.Event.RATE, zhang.id, now)  # closed
        await complaints.transition(session, cases[2], complaints.Event.RESOLVE, None, now)
        numbers = [case.number for case in cases]
    console.as_("张三")
    await console.say("/start")
    lines = console.last.text.splitlines()
    assert lines[0] == "幸福里：现在有这些事等您"
    assert lines[1].startswith("• 您报名的志愿任务：周二为独居老人代购")
    assert lines[2:] == [f"• 您的诉求 {numbers[2]}：已办结，待评价", f"• 您的诉求 {numbers[0]}：待受理"]
    console.as_("李四")  # nothing of theirs
    await console.say("/start")
    assert console.last.text == "幸福里：您想做什么？"
