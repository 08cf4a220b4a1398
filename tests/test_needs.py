"""The needs list: post, support instead of a twin, triage by the secretary, everyone told."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.complaints import Case
from storage.compounds import Compound
from storage.db import transaction
from storage.meetings import AGENDA_MAX, Meeting, add_agenda_item, create_meeting
from storage.needs import Need, NeedSupport, similarity, task_title
from storage.people import Person, Role
from storage.services import Service, ServiceOrder, ServiceSlot
from storage.volunteering import TaskSignup, VolunteerTask
from tests.conftest import START, revoke_role, second_compound, switch_to


async def post_need(console: Console, person: str, text: str) -> None:
    console.as_(person)
    await console.say("/need")
    await console.press("助老")
    await console.say(text)


async def test_need_supported_by_three_then_triaged_into_a_task(console: Console, app: App) -> None:
    await post_need(console, "张三", "3栋的独居老人需要每周有人送餐上门")
    await console.press("跳过")
    assert "#1" in console.last.text and "需求清单" in console.last.text
    request = console.last_for("王书记")
    assert "新需求 #1" in request.text and "转为志愿任务" in request.labels

    # A twin is offered for support instead of being posted again.
    await post_need(console, "李四", "独居老人需要每周送餐上门服务")
    assert "类似的需求" in console.last.text
    await console.press("附议 #1")
    assert "您已附议需求 #1" in console.last.text

    for person in ("陈阿姨", "王五"):
        console.as_(person)
        await console.say("/needs")
        assert "送餐" in console.last.text
        await console.press("附议 #1")
        assert "您已附议需求 #1" in console.last.text
    await console.press("附议 #1")
    assert "已经附议过" in console.last.text

    console.as_("陈阿姨")
    await console.say("/needs")
    assert "4 人支持" in console.last.text

    # Residents with the skill the task needs hear of it as of any task; supporters only once.
    for person in ("孙委员", "王五"):
        console.as_(person)
        await console.say("/skills")
        await console.press("照护")

    console.as_("王书记")
    await console.press("转为志愿任务")
    assert "在哪里进行" in console.last.text
    await console.say("3栋1单元门口")
    await console.say("明天")  # a day without a time: asked again, the place is kept
    assert "看懂" in console.last.text
    await console.say("2026-11-28 10:30")
    await console.say("11:30")
    await console.say("3")
    assert "志愿任务 #1" in console.last.text
    group = console.seen_by("group", "幸福里业主群")
    assert any("3栋的独居老人" in m.text for m in group)
    for person in ("张三", "李四", "陈阿姨", "王五"):
        told = console.last_for(person)
        assert "志愿任务 #1" in told.text and "3栋1单元门口" in told.text
    assert "需要您的技能（照护）" in console.last_for("孙委员").text
    assert not any("需要您的技能" in m.text for m in console.seen_by("王五", "private"))
    async with app.core.sessions() as session:
        need = (await session.exec(select(Need))).one()
        assert (need.status, need.outcome, need.outcome_ref) == ("triaged", "task", "task:1")
        assert len((await session.exec(select(NeedSupport))).all()) == 3
        task = (await session.exec(select(VolunteerTask))).one()
        organiser = await session.get(Person, task.organiser_id)
        assert (task.wanted, task.skills, task.place) == (3, "care", "3栋1单元门口")
        assert organiser is not None and organiser.name == "王书记"

    # The supporters' message carries a Sign up button for the new task, and the task is a real one.
    console.as_("李四")
    await console.press("报名")
    assert "已报名" in console.last.text
    console.as_("陈阿姨")
    await console.say("/tasks")
    assert "3栋的独居老人" in console.last.text and "1/3" in console.last.text
    async with app.core.sessions() as session:
        assert len((await session.exec(select(TaskSignup))).all()) == 1

    # Triaged needs leave the list, and a second press of a triage button is refused.
    await console.say("/needs")
    assert "送餐" not in console.last.text
    console.as_("王书记")
    await console.press("转为诉求工单")
    assert "已经处理" in console.last.text


async def test_bad_input_keeps_the_draft_and_decline_needs_a_reason(console: Console) -> None:
    console.as_("张三")
    await console.say("/need")
    await console.press("设施")
    await console.photo()
    assert "请用文字输入需求描述" in console.last.text
    await console.say("太短")
    assert "至少写 5 个字" in console.last.text
    await console.say("x" * 10_000)
    assert "10000" in console.last.text
    await console.say("儿童游乐场的滑梯坏了需要修理")
    await console.say("/needs")  # a look-up in the middle of a conversation does not lose it
    await console.photo()
    assert "#1" in console.last.text

    console.as_("王五")
    await console.say("/needs")
    console.as_("王书记")
    await console.press("不予受理")
    assert "原因" in console.last.text
    await console.say("滑梯属于开发商保修范围，已转交开发商")
    assert "不予受理" in console.last.text or "需求 #1" in console.last.text
    assert "开发商保修" in console.last_for("张三").text


async def test_a_resident_cannot_triage(console: Console) -> None:
    await post_need(console, "张三", "楼道灯坏了晚上很黑需要修")
    await console.press("跳过")
    console.as_("李四")
    await console.say("/need")
    await console.say("/cancel")
    # The secretary's triage buttons are personal; even a forged press is refused by role on the server.
    triage = console.last_for("王书记")
    token = triage.buttons[0][0].data
    shown = await console._send(button=token)
    assert "给别人" in shown[-1].text


async def test_triaged_into_a_complaint_case_filed_for_the_poster(console: Console, app: App) -> None:
    await post_need(console, "张三", "小区东门的路灯坏了一个月了晚上很黑")
    await console.press("跳过")
    console.as_("李四")
    await console.say("/needs")
    await console.press("附议 #1")
    console.as_("王书记")
    await console.press("转为诉求工单")
    assert "XFL-2026-0001" in console.last.text
    assert "XFL-2026-0001" in console.last_for("张三").text and "/case" in console.last_for("张三").text
    assert "XFL-2026-0001" in console.last_for("李四").text
    card = console.last_for("王书记")  # the handler (here the secretary) gets the case with its buttons
    assert "XFL-2026-0001" in card.text and len(card.labels) >= 2
    async with app.core.sessions() as session:
        case = (await session.exec(select(Case))).one()
        reporter = await session.get(Person, case.reporter_id)
        assert reporter is not None and reporter.name == "张三"
        assert (case.number, case.category, case.state) == ("XFL-2026-0001", "other", "open")
        need = (await session.exec(select(Need))).one()
        assert need.outcome_ref == "case:XFL-2026-0001"
    # The poster follows it like a case of their own.
    console.as_("张三")
    await console.say("/case XFL-2026-0001")
    assert "路灯" in console.last.text


async def test_triaged_into_a_service_order_for_the_poster(console: Console, app: App) -> None:
    await post_need(console, "陈阿姨", "家里的电视机坏了想请人上门修理")
    await console.press("跳过")
    console.as_("王书记")
    await console.press("转为服务订单")
    assert "/addservice" in console.last.text  # nothing offered yet: said plainly, the need stays open
    async with transaction(app.core.sessions) as session:  # offered meanwhile (/addservice is tested with services)
        service = Service(compound_id=1, title="家电维修", provider_name="阳光维修队")
        session.add(service)
        await session.flush()
        for day, places in ((28, 1), (29, 2)):
            begins = START.replace(day=day)
            session.add(ServiceSlot(service_id=service.id or 0, starts_at=begins, ends_at=begins + timedelta(hours=1),
                                    capacity=places))
    request = next(m for m in reversed(console.seen_by("王书记", "private")) if "转为服务订单" in m.labels)
    await console.press(request.labels.index("转为服务订单") + 1)
    await console.press("家电维修 — 阳光维修队")
    assert "11-28 09:00–10:00（余 1 个名额）" in console.last.labels
    await console.say("随便")  # typed instead of pressed: asked again, the service is kept
    assert "选择时间" in console.last.text
    await console.press("11-28 09:00–10:00（余 1 个名额）")
    assert "服务预约 #1" in console.last.text and "接单" in console.last.labels
    assert "/myorders" in console.last_for("陈阿姨").text
    console.as_("陈阿姨")
    await console.say("/myorders")
    assert "家电维修" in console.last.text
    async with app.core.sessions() as session:
        order = (await session.exec(select(ServiceOrder))).one()
        poster = await session.get(Person, order.person_id)
        assert poster is not None and poster.name == "陈阿姨" and order.status == "requested"
        assert (await session.exec(select(Need))).one().outcome_ref == f"order:{order.id}"


async def test_triaged_onto_the_next_talk_day_agenda(console: Console, app: App) -> None:
    await post_need(console, "张三", "希望在小区里增设几个充电桩方便电动车")
    await console.press("跳过")
    console.as_("王书记")
    await console.press("列入议事议程")
    assert "没有" in console.last.text  # no meeting: said clearly, the need stays open
    async with app.core.sessions() as session:
        assert (await session.exec(select(Need))).one().status == "open"
        compound = (await session.exec(select(Compound))).first()
        assert compound is not None
        organiser = (await session.exec(select(Person).where(Person.name == "王书记"))).one()
        # A building meeting is not where residents' matters are talked over; the talk day after it is.
        for kind, day in (("building", 25), ("talk_day", 27), ("weekend", 28)):
            await create_meeting(session, compound, {
                "kind": kind, "title": f"{kind} meeting", "place": "社区活动室", "agenda": "1. 楼道清理",
                "starts_at": START.replace(day=day, hour=19), "organiser_id": organiser.id}, START)
        await session.commit()
    await console.press("列入议事议程")
    assert "talk_day meeting" in console.last.text
    assert "talk_day meeting" in console.last_for("张三").text
    async with app.core.sessions() as session:
        meeting = (await session.exec(select(Meeting).where(Meeting.kind == "talk_day"))).one()
        assert meeting.agenda.startswith("1. 楼道清理\n") and "充电桩" in meeting.agenda
        assert (await session.exec(select(Need))).one().outcome_ref == f"meeting:{meeting.id}"


def test_an_agenda_item_is_appended_only_while_it_fits() -> None:
    meeting = Meeting(compound_id=1, kind="talk_day", title="集中说事日", place="活动室", starts_at=START,
                      organiser_id=1, agenda="1. 楼道清理")
    assert add_agenda_item(meeting, "需求 #2：增设充电桩")
    assert meeting.agenda == "1. 楼道清理\n需求 #2：增设充电桩"
    assert not add_agenda_item(meeting, "x" * AGENDA_MAX)
    assert meeting.agenda == "1. 楼道清理\n需求 #2：增设充电桩"  # unchanged when it would not fit


def test_task_title_is_the_first_line_shortened() -> None:
    assert task_title("楼道灯坏了\n晚上很黑") == "楼道灯坏了"
    assert len(task_title("很" * 100)) == 30 and task_title("很" * 100).endswith("…")


def test_similarity_finds_twins_in_chinese() -> None:
    assert similarity("独居老人需要送餐", "独居老人需要每周送餐上门") > 0.3
    assert similarity("独居老人需要送餐", "滑梯坏了") == 0.0


# ---- issue 15: authority at every step of a triage, the flow's own compound, links tied to their person -------


async def posted_need(console: Console, text: str = "楼道灯坏了晚上很黑需要修") -> None:
    await post_need(console, "张三", text)
    await console.press("跳过")
    console.as_("王书记")


async def need_row(app: App) -> Need:
    async with app.core.sessions() as session:
        return (await session.exec(select(Need))).one()


async def offer_service(app: App) -> None:
    async with transaction(app.core.sessions) as session:
        service = Service(compound_id=1, title="家电维修", provider_name="阳光维修队")
        session.add(service)
        await session.flush()
        begins = START.replace(day=28)
        session.add(ServiceSlot(service_id=service.id or 0, starts_at=begins, ends_at=begins + timedelta(hours=1)))


async def nothing_triaged(app: App) -> None:
    need = await need_row(app)
    assert (need.status, need.outcome, need.outcome_ref) == ("open", None, "")
    async with app.core.sessions() as session:
        assert (await session.exec(select(VolunteerTask))).first() is None
        assert (await session.exec(select(ServiceOrder))).first() is None
        assert (await session.exec(select(Case))).first() is None


async def test_a_revoked_secretary_declines_nothing(console: Console, app: App) -> None:
    """Need decline used to complete after the role was revoked mid-flow."""
    await posted_need(console)
    await console.press("不予受理")
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.say("已转交开发商处理")
    assert "身份已有变化" in console.last.text
    await nothing_triaged(app)
    assert "开发商" not in console.last_for("张三").text


async def test_a_revoked_secretary_makes_no_task_of_a_need(console: Console, app: App) -> None:
    await posted_need(console)
    await console.press("转为志愿任务")
    await console.say("3栋1单元门口")
    await console.say("周六 10:30")
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.say("11:30")
    assert "身份已有变化" in console.last.text
    await nothing_triaged(app)


async def test_a_revoked_secretary_orders_no_service_for_a_need(console: Console, app: App) -> None:
    await posted_need(console)
    await offer_service(app)
    await console.press("转为服务订单")
    await console.press("家电维修 — 阳光维修队")
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.press(1)
    assert "身份已有变化" in console.last.text
    await nothing_triaged(app)


async def test_switching_compound_mid_decline_declines_where_it_began(console: Console, app: App) -> None:
    await posted_need(console)
    await second_compound(app, ("王书记", (Role.SECRETARY,)))
    await console.press("不予受理")
    await switch_to(console, "和平苑")
    await console.say("已转交开发商处理")
    need = await need_row(app)
    assert (need.compound_id, need.status, need.outcome_note) == (1, "declined", "已转交开发商处理")
    assert "开发商" in console.last_for("张三").text


async def test_switching_compound_mid_need_task_posts_it_where_it_began(console: Console, app: App) -> None:
    other = await second_compound(app, ("王书记", (Role.SECRETARY,)))
    await posted_need(console)
    await console.press("转为志愿任务")
    await switch_to(console, "和平苑")
    await console.say("3栋1单元门口")
    await console.say("周六 10:30")
    assert "2026-11-28 周六 10:30" in console.last.text  # the time echoed in full
    await console.say("11:30")
    await console.say("2人")
    assert "志愿任务 #1" in console.last.text
    async with app.core.sessions() as session:
        task = (await session.exec(select(VolunteerTask))).one()
        assert task.compound_id == 1 and task.compound_id != other and task.wanted == 2
    assert (await need_row(app)).outcome_ref == "task:1"


async def test_switching_compound_mid_need_service_orders_where_it_began(console: Console, app: App) -> None:
    await posted_need(console)
    await offer_service(app)
    await second_compound(app, ("王书记", (Role.SECRETARY,)))
    await console.press("转为服务订单")
    await console.press("家电维修 — 阳光维修队")
    await switch_to(console, "和平苑")
    await console.press("11-28 09:00–10:00（余 1 个名额）")
    assert "服务预约 #1" in console.last.text
    async with app.core.sessions() as session:
        order = (await session.exec(select(ServiceOrder))).one()
        poster = await session.get(Person, order.person_id)
        assert poster is not None and poster.name == "张三"
    assert (await need_row(app)).outcome_ref == f"order:{order.id}"


async def test_a_private_link_is_its_persons_and_a_stranger_cannot_post_a_need(console: Console, app: App) -> None:
    """A never-joined stranger started /need with 张三's "continue privately" link; their next answer crashed."""
    console.as_("张三")
    console.in_("幸福里业主群")
    await console.say("/need")
    link = console.last.buttons[0][0]
    assert link.kind == "deeplink"
    console.as_("陌生人")
    await console._send(text=f"/start {link.data}", command="start", args=link.data)
    assert "给别人" in console.last.text
    await console.say("独居老人需要有人送餐")  # no conversation was opened for them
    # Not a member anywhere: the plain text leads to joining, politely.
    assert "出了点问题" not in console.last.text and "邀请码" in console.last.text
    await console.say("/need")
    assert "还没有加入小区" in console.last.text
    await console.say("独居老人需要有人送餐")
    assert "出了点问题" not in console.last.text
    async with app.core.sessions() as session:
        assert (await session.exec(select(Need))).first() is None
    # 张三 himself continues with it.
    console.as_("张三")
    await console._send(text=f"/start {link.data}", command="start", args=link.data)
    assert "哪类需求" in console.last.text or console.last.labels[:1] == ["助老"]


async def test_a_never_joined_person_cannot_support_a_need(console: Console, app: App) -> None:
    await posted_need(console)
    console.as_("张三")
    console.in_("幸福里业主群")
    await console.say("/needs")
    console.as_("陌生人")
    console.in_("幸福里业主群")
    await console.press("附议 #1")
    assert "只有" in console.last.text
    async with app.core.sessions() as session:
        assert (await session.exec(select(NeedSupport))).first() is None
