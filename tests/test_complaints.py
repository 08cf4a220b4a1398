"""Complaints (诉求): whole lives of cases through conversations on the moved clock, privacy, bad input, and
the transition table as a pure rule."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from bot.app import App
from bot.cli import main
from bot.transports.console import Console
from storage import complaints as store
from storage.access_log import Access, Via
from storage.complaints import TRANSITIONS, Case, CaseEvent, Event, Sight, State, next_state, rating_event
from storage.compounds import compound_by_code
from storage.db import make_sessionmaker, transaction
from storage.people import Role
from storage.reports import month_figures
from tests.conftest import add_console_person, person_ids, revoke_role, second_compound, switch_to


async def file_case(console: Console, who: str, category: str, description: str, place: str = "我的楼栋",
                    anonymous: bool = False, photos: int = 0) -> str:
    console.as_(who)
    await console.say("/complain")
    await console.press(category)
    await console.say(description)
    for _ in range(photos):
        await console.photo()
    await console.press("完成" if photos else "跳过")
    await console.press(place)
    await console.press("匿名" if anonymous else "显示我的姓名")
    await console.press("确认")
    text = console.last.text
    number = next(word for word in text.replace("，", " ").replace("。", " ").split() if word.startswith("XFL-"))
    return number


async def official_in(console: Console, name: str, department: str) -> int:
    """`name` (no room) as an official of `department` of the compound's street, made where missing (the demo's
    street may already have departments of its own): an official as the street admin adds one."""
    from storage import organisations as orgs

    person_id = await add_console_person(console.app, name, 1)
    async with transaction(console.app.core.sessions) as session:
        street = await orgs.street_of_compound(session, 1)
        if street is None:
            street = await orgs.create_street(session, "西陵街道")
            assert street is not None
            await orgs.link_compound(session, 1, street)
        found = await orgs.department_named(session, street.stored_id, department) or await orgs.create_department(
            session, street.stored_id, department, None)
        assert found is not None
        if name:
            await orgs.add_member(session, person_id, None, department_id=found.stored_id)
    return person_id


async def configure(console: Console, **settings: object) -> None:
    """Per-compound deadline settings (short ones keep the moved clock's walk short)."""
    async with transaction(make_sessionmaker(console.app.engine)) as session:
        compound = await compound_by_code(session, "XFL")
        assert compound is not None
        compound.settings = {**compound.settings, **{f"complaints.{k}": v for k, v in settings.items()}}
        session.add(compound)


async def cases(console: Console) -> list[Case]:
    async with transaction(make_sessionmaker(console.app.engine)) as session:
        return list((await session.exec(select(Case).order_by(col(Case.id)))).all())


async def test_resolved_at_level_one(console: Console) -> None:
    number = await file_case(console, "张三", "噪音", "楼上每天夜里十二点还在装修，电钻声很大。", photos=2)
    assert number == "XFL-2026-0001"
    card = console.last_for("李楼长").text
    assert number in card and "张三" in card
    console.as_("李楼长")
    await console.press("受理")
    assert "受理" in console.last_for("张三").text
    await console.press("办结")
    await console.say("已经和楼上住户沟通，晚上十点后停止施工。")
    await console.press("不附照片")
    assert "满意" in console.last_for("张三").text
    console.as_("张三")
    await console.press("5")
    [case] = await cases(console)
    assert case.state == State.CLOSED and case.rating == 5 and case.level == 1
    # The documented defaults when the compound sets nothing: respond in 24 h, resolve in 3 days at level 1.
    assert case.respond_by is not None and case.resolve_by is not None
    assert case.respond_by - case.opened_at == timedelta(hours=24)
    assert case.resolve_by - case.opened_at == timedelta(days=3)
    assert len(case.photos["ids"]) == 2
    console.as_("李楼长")
    await console.say(f"/case {number}")
    await console.press("查看照片")
    assert [s.has_image for s in console.seen_by("李楼长")[-2:]] == [True, True]
    console.as_("张三")
    await console.say(f"/case {number}")
    history = console.last.text
    for word in ("提交", "受理", "办结", "评价"):
        assert word in history
    # A closed case offers its handler nothing more to do.
    console.as_("李楼长")
    await console.say(f"/case {number}")
    assert console.last.labels == ["查看照片"]


async def test_escalated_twice_by_deadlines_to_a_department(console: Console) -> None:
    official = await official_in(console, "刘官员", "市场监管")

    await configure(console, respond_hours=0.25, department="市场监管")
    number = await file_case(console, "张三", "乱停车", "一辆白色轿车长期停在1栋门口，挡住了出入。")
    assert number in console.last_for("李楼长").text
    await console.clock_to("+10m")
    [case] = await cases(console)
    assert case.level == 1
    await console.clock_to("+10m")
    [case] = await cases(console)
    assert case.level == 2 and case.overdue_count == 1
    assert "逾期" in console.last_for("王书记").text or number in console.last_for("王书记").text
    assert "上升" in console.last_for("张三").text
    await console.clock_to("+20m")
    [case] = await cases(console)
    assert case.level == 3 and case.handler_id == official and case.overdue_count == 2
    assert number in console.last_for("刘官员").text
    console.as_("刘官员")
    await console.press("受理")
    await console.press("办结")
    await console.say("城管已拖走违停车辆，并在门口加装了隔离桩。")
    await console.press("不附照片")
    console.as_("王书记")
    await console.press("基本满意")
    console.as_("张三")
    await console.press("4")
    [case] = await cases(console)
    assert case.state == State.CLOSED and case.department_rating == "fair" and case.rating == 4
    async with transaction(make_sessionmaker(console.app.engine)) as session:
        events = [e.event for e in (await session.exec(select(CaseEvent).order_by(col(CaseEvent.id)))).all()]
    assert events == ["file", "overdue", "overdue", "accept", "resolve", "rate_department", "rate"]


async def test_reopened_after_a_bad_rating_and_closed_unrated(console: Console) -> None:
    await configure(console, remind_hours=0.25, close_unrated_hours=0.5)
    number = await file_case(console, "李四", "房屋漏水", "卫生间天花板一直在滴水，已经两天了。")
    assert number in console.last_for("赵物业").text
    console.as_("赵物业")
    await console.press("办结")
    await console.say("已上门检查，楼上防水层需要维修。")
    await console.press("不附照片")
    console.as_("李四")
    await console.press("1")
    [case] = await cases(console)
    assert case.state == State.OPEN and case.reopened == 1 and case.level == 2
    assert "不满意" in console.last_for("王书记").text or number in console.last_for("王书记").text
    console.as_("王书记")
    await console.press("办结")
    await console.say("已协调楼上业主修复防水层，漏水停止。")
    await console.press("不附照片")
    # No rating: a reminder after a day, closed after three.
    await console.clock_to("+20m")
    assert "提醒" in console.last_for("李四").text
    [case] = await cases(console)
    assert case.state == State.RESOLVED
    await console.clock_to("+20m")
    [case] = await cases(console)
    assert case.state == State.CLOSED and case.rating == 1
    assert "关闭" in console.last_for("李四").text


async def test_anonymous_case_hides_the_reporter_from_property_staff(console: Console) -> None:
    number = await file_case(console, "张三", "电梯", "1栋1单元电梯经常停在半层，很危险。", anonymous=True)
    card = console.last_for("赵物业").text
    assert number in card and "张三" not in card and "101" not in card and "13800000005" not in card
    console.as_("赵物业")
    await console.say(f"/case {number}")
    assert "张三" not in console.last.text and "匿名" in console.last.text
    console.as_("王书记")
    await console.say(f"/case {number}")
    assert "张三" in console.last.text


async def test_typing_a_buttons_label_counts_as_pressing_it(console: Console) -> None:
    """On WeCom and in the console people often type what a button says. In the step that shows it, that is the
    press; a label from another step, or text that is no label, is still an answer the step judges itself."""
    console.as_("张三")
    await console.say("/complain")
    await console.say("电梯")
    await console.say("电梯经常停在半层。")
    await console.say("跳过")  # the photo step's Skip
    await console.say("匿名")  # a label of the next step but one: not this step's
    assert "位置" in console.last.text  # still asked for the place
    await console.say("我的楼栋（1栋）")
    await console.say("  ✅匿名 ")  # spacing and symbols do not matter
    await console.say("确认")
    [case] = await cases(console)
    assert case.anonymous and case.description == "电梯经常停在半层。"
    assert "XFL-2026-0001" in console.last.text


async def test_a_resident_cannot_read_another_residents_case(console: Console) -> None:
    number = await file_case(console, "张三", "噪音", "楼下广场舞音响太大，每天晚上九点以后。")
    console.as_("李四")
    await console.say(f"/case {number}")
    assert "张三" not in console.last.text and "楼下广场舞" not in console.last.text
    await console.say("/mycases")
    assert number not in console.last.text
    console.as_("张三")
    await console.say("/mycases")
    assert number in console.last.text


async def test_bad_input_keeps_the_draft(console: Console) -> None:
    console.as_("张三")
    await console.say("/complain")
    await console.press("环境卫生")
    await console.photo()
    assert "文字" in console.last.text
    await console.say("好" * 10001)
    assert "10001" in console.last.text
    await console.say("太短")
    await console.say("垃圾桶已经三天没有清运了，气味很大。")
    await console.say("这不是照片")
    await console.press("跳过")
    await console.press("公共区域")
    await console.press("显示我的姓名")
    summary = console.last.text
    assert "环境卫生" in summary and "垃圾桶已经三天" in summary
    await console.press("修改")
    await console.press("描述")
    await console.say("垃圾桶已经四天没有清运了，气味很大。")
    assert "四天" in console.last.text
    await console.press("确认")
    [case] = await cases(console)
    assert case.description.startswith("垃圾桶已经四天") and case.building_id is None and case.level == 2


async def test_complain_in_a_group_continues_privately(console: Console) -> None:
    console.as_("张三")
    console.in_("幸福里业主群")
    await console.say("/complain")
    assert console.last.buttons[0][0].kind == "deeplink"
    await console.press(1)
    assert console.chat == "private"
    assert "乱停车" in console.last.labels


async def test_stale_button_says_the_case_moved_on(console: Console) -> None:
    number = await file_case(console, "李四", "下水道", "厨房下水道堵了，水排不下去。")
    console.as_("赵物业")
    await console.press("受理")
    # The first message's Accept button again (the case moved on).
    first = next(s for s in console.seen_by("赵物业") if number in s.text)
    token = next(b.data for row in first.buttons for b in row if b.label == "受理")
    await console._send(button=token)
    assert "已有新进展" in console.last.text
    [case] = await cases(console)
    assert case.version == 2


async def test_export_and_stats(console: Console) -> None:
    await file_case(console, "张三", "噪音", "楼上每天夜里十二点还在装修，电钻声很大。")
    await file_case(console, "李四", "房屋漏水", "卫生间天花板一直在滴水，已经两天了。")
    console.as_("王书记")
    await console.say("/stats")
    assert "2" in console.last.text and "噪音" in console.last.text
    await console.say("/export cases 2026-11-01 2026-11-30")
    assert "2026-11-01 周日" in console.last.text and "2026-11-30 周一" in console.last.text  # the days read, in full
    name, data = console.transport.documents[-1]
    assert name.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    numbers = [row[1] for row in sheet.iter_rows(min_row=4, values_only=True)]  # under the title, period, header
    assert numbers == ["XFL-2026-0001", "XFL-2026-0002"]
    console.as_("张三")
    await console.say("/export cases")
    assert not console.last.has_document


def test_transition_table_is_the_rule() -> None:
    assert next_state(None, Event.FILE) == State.OPEN
    assert next_state(State.OPEN, Event.ACCEPT) == State.ACCEPTED
    assert next_state(State.ACCEPTED, Event.ACCEPT) is None
    assert next_state(State.CLOSED, Event.RESOLVE) is None
    assert next_state(State.RESOLVED, Event.ESCALATE) is None
    for state in store.ACTIVE:
        assert next_state(state, Event.OVERDUE) == State.OPEN
        assert next_state(state, Event.RESOLVE) == State.RESOLVED
    # Closed is final except for the department's rating.
    assert {event for (state, event) in TRANSITIONS if state == State.CLOSED} == {Event.RATE_DEPARTMENT}
    assert rating_event(1, 0) == Event.REOPEN
    assert rating_event(2, 1) == Event.RATE
    assert rating_event(4, 0) == Event.RATE


def test_default_deadlines_per_level() -> None:
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    for level, days in ((1, 3), (2, 7), (3, 15)):
        respond_by, resolve_by = store.deadlines(level, now)
        assert respond_by - now == timedelta(hours=24) and resolve_by - now == timedelta(days=days)


async def test_description_length(console: Console) -> None:
    """At least DESCRIPTION_MIN and at most DESCRIPTION_MAX characters; a refused one keeps the step."""
    console.as_("张三")
    await console.say("/complain")
    await console.press("噪音")
    for text, ok in (("短", False), ("x" * 2001, False), ("x" * 2000, True)):
        await console.say(text)
        assert ("照片" in console.last.text) == ok, text
    await console.say("/cancel")
    await console.say("/complain")
    await console.press("噪音")
    await console.say("五个字以上")
    assert "照片" in console.last.text


async def test_export_from_the_shell(console: Console, db_url: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    await file_case(console, "张三", "噪音", "楼上每天夜里十二点还在装修，电钻声很大。")
    monkeypatch.setenv("DATABASE_URL", db_url)
    out = tmp_path / "ledger.xlsx"
    code = await asyncio.to_thread(main, ["export", "cases", "--compound", "XFL", "--from", "2026-11-01",
                                          "--to", "2026-11-30", "--out", str(out)])
    assert code == 0
    sheet = load_workbook(out).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[2][1] == "编号" and rows[3][1] == "XFL-2026-0001" and rows[3][3] == "噪音"
    empty = await asyncio.to_thread(main, ["export", "cases", "--compound", "NOPE", "--from", "2026-11-01",
                                           "--to", "2026-11-30"])
    assert empty == 1


async def test_case_numbers_are_unique_under_concurrency(console: Console) -> None:
    maker = make_sessionmaker(console.app.engine)

    async def allocate() -> str:
        async with transaction(maker) as session:
            compound = await compound_by_code(session, "XFL")
            assert compound is not None
            return await store.next_number(session, compound, datetime(2026, 11, 23, 1, 0, tzinfo=UTC))

    numbers = await asyncio.gather(*(allocate() for _ in range(20)))
    assert sorted(numbers) == [f"XFL-2026-{n:04d}" for n in range(1, 21)]


def test_routing_defaults_and_overrides() -> None:
    assert store.category_route("noise", {}) == (1, Role.SECRETARY)
    assert store.category_route("leak", {}) == (2, Role.PROPERTY)
    assert store.category_route("fee", {}) == (2, Role.SECRETARY)
    assert store.category_route("noise", {"noise": {"level": 2, "role": "property"}}) == (2, Role.PROPERTY)
    assert store.category_route("unknown", {}) == (2, Role.SECRETARY)


def test_anonymous_reporter_is_shown_to_the_secretary_only() -> None:
    sight = store.reporter_sight  # (anonymous, viewer is the reporter, viewer is the handler, roles)
    assert sight(True, False, True, frozenset({Role.PROPERTY})) == Sight.ANONYMOUS
    assert sight(True, False, False, frozenset({Role.OFFICIAL, Role.BUILDING_LEADER})) == Sight.ANONYMOUS
    assert sight(True, False, False, frozenset({Role.SECRETARY})) == Sight.IDENTITY
    assert sight(True, True, False, frozenset({Role.RESIDENT})) == Sight.IDENTITY
    # A named reporter: the current handler and the secretary see who it is; other staff 实名住户 and the building.
    assert sight(False, False, True, frozenset({Role.PROPERTY})) == Sight.IDENTITY
    assert sight(False, False, False, frozenset({Role.SECRETARY})) == Sight.IDENTITY
    for role in (Role.PROPERTY, Role.COMMITTEE, Role.OFFICIAL, Role.BUILDING_LEADER):
        assert sight(False, False, False, frozenset({role})) == Sight.NAMED
    assert store.satisfaction_rate([5, 4, 2, 1]) == 0.5 and store.satisfaction_rate([]) is None


async def test_need_info_answer_is_attached_to_the_case(console: Console) -> None:
    number = await file_case(console, "李四", "下水道", "厨房下水道堵了，水排不下去。")
    console.as_("赵物业")
    await console.press("请反映人补充")
    await console.say("请问是哪一个单元、几楼的厨房？")
    assert "哪一个单元" in console.last_for("李四").text
    console.as_("李四")
    await console.press("回复")
    await console.contact("13800000000")  # no answer: the step and the case stay as they were
    assert "文字" in console.last.text
    await console.say("2栋1单元201，厨房水池。")
    assert "反映人已补充回复" in console.last_for("赵物业").text
    [case] = await cases(console)
    assert case.state == State.ACCEPTED
    await console.say(f"/case {number}")
    assert "2栋1单元201，厨房水池" in console.last.text


# ---- the declared flows and the defects of issue 15 ---------------------------------------------------------


async def events_of(console: Console, number: str) -> list[CaseEvent]:
    async with transaction(make_sessionmaker(console.app.engine)) as session:
        case = await store.case_by_number(session, number)
        assert case is not None and case.id is not None
        return await store.history(session, case.id)


async def test_the_reporters_next_message_answers_the_question(console: Console) -> None:
    """Issue 15, defect 5: after 请补充 the reporter's next text or photo in their private chat is the answer,
    without pressing 回复 first (it used to get 没看懂您的意思)."""
    number = await file_case(console, "李四", "下水道", "厨房下水道堵了，水排不下去。")
    console.as_("赵物业")
    await console.press("请反映人补充")
    await console.say("请问是哪一个单元、几楼的厨房？")
    console.as_("李四")
    assert "回复" in console.last.labels  # the button still works, but is not needed
    await console.say("2栋1单元201，厨房水池。")
    assert number in console.last.text and "补充" in console.last.text
    assert "2栋1单元201" in console.last_for("赵物业").text
    [case] = await cases(console)
    assert case.state == State.ACCEPTED and not case.photos
    # A photo answers the next question just as well, and is kept with the case.
    console.as_("赵物业")
    await console.press("请反映人补充")
    await console.say("能拍一张水池的照片吗？")
    console.as_("李四")
    await console.photo()
    [case] = await cases(console)
    assert case.state == State.ACCEPTED and len(case.photos["ids"]) == 1
    assert "查看照片" in console.seen_by("赵物业")[-2].labels and console.last_for("赵物业").has_image
    assert [e.event for e in await events_of(console, number)].count(Event.ANSWER) == 2
    # The question is no obstacle: starting something else simply replaces it.
    console.as_("赵物业")
    await console.press("请反映人补充")
    await console.say("漏水停了吗？")
    console.as_("李四")
    await console.say("/complain")
    assert "乱停车" in console.last.labels


async def test_the_question_waits_for_the_reporter_longer_than_an_idle_conversation(console: Console) -> None:
    """A reporter answers the handler's question the next morning, not within the 30 minutes a conversation
    they began stays open: the question still takes their text, with no "expired" notice."""
    number = await file_case(console, "李四", "下水道", "厨房下水道堵了，水排不下去。")
    console.as_("赵物业")
    await console.press("请反映人补充")
    await console.say("请问是哪一个单元、几楼的厨房？")
    await console.clock_to("+14h")
    console.as_("李四")
    await console.say("2栋1单元201，厨房水池。")
    assert number in console.last.text and "补充" in console.last.text and "过期" not in console.last.text
    assert "2栋1单元201" in console.last_for("赵物业").text


async def test_asking_twice_is_an_answer_not_a_crash(console: Console) -> None:
    """Issue 15, defect 6: asking the reporter again while the first question is open raised TransitionRefused
    and left the handler stuck until /cancel. Nobody is offered to ask twice, an older button says it was
    asked already, and storage answers that as a value."""
    number = await file_case(console, "李四", "下水道", "厨房下水道堵了，水排不下去。")
    console.as_("赵物业")
    await console.press("受理")
    await console.press("请反映人补充")
    await console.say("请问是哪一个单元？")
    console.as_("王书记")
    await console.say(f"/case {number}")
    assert "办结" in console.last.labels and "请反映人补充" not in console.last.labels
    console.as_("赵物业")
    await console.press("请反映人补充")  # the button under "you accepted the case", made before the question
    assert "已" in console.last.text and "出错" not in console.last.text
    await console.say("/cases")
    assert number in console.last.text  # not stuck in a conversation
    async with transaction(make_sessionmaker(console.app.engine)) as session:
        case = await store.case_by_number(session, number)
        assert case is not None and case.state == State.NEED_INFO
        acted = await store.ask_more(session, case, case.handler_id or 0, console.app.core.clock.now(), "再问一次")
        assert acted == store.Acted.ALREADY_ASKED
    assert [e.event for e in await events_of(console, number)].count(Event.ASK) == 1


async def test_escalation_hand_over_and_whistle_carry_a_note(console: Console) -> None:
    """Issue 15, defect 5: 移交/上报/吹哨 take an optional note that goes into the case history."""
    official = await official_in(console, "刘官员", "市场监管")
    number = await file_case(console, "张三", "乱停车", "一辆白色轿车长期停在1栋门口，挡住了出入。")
    console.as_("李楼长")
    await console.press("移交/上报")
    await console.say("车主联系不上，需要小区出面。")
    console.as_("王书记")
    await console.press("吹哨（呼叫部门）")
    await console.press("市场监管")
    await console.say("需要城管执法。")
    [case] = await cases(console)
    assert case.level == 3 and case.handler_id == official
    history = [(e.event, e.note) for e in await events_of(console, number)]
    assert history == [(Event.FILE, ""), (Event.ESCALATE, "车主联系不上，需要小区出面。"),
                       (Event.WHISTLE, "需要城管执法。")]
    await console.say(f"/case {number}")
    assert "车主联系不上" in console.last.text and "需要城管执法" in console.last.text
    # Property staff at the compound level hand the case to the secretary; the note may be left out.
    leak = await file_case(console, "李四", "房屋漏水", "卫生间天花板一直在滴水，已经两天了。")
    console.as_("赵物业")
    await console.press("移交/上报")
    await console.press("不加说明")
    history = [(e.event, e.note) for e in await events_of(console, leak)]
    assert history[-1] == (Event.HAND_OVER, "")
    assert leak in console.last_for("王书记").text


async def test_control_characters_never_reach_the_ledger(console: Console) -> None:
    """Issue 15, defect 9: an ESC in a complaint broke /export cases for the whole period; a lone surrogate
    crashed the step. Typed text is cleaned on the way in, and older rows still holding one export too."""
    console.as_("张三")
    await console.say("/complain")
    await console.press("噪音")
    await console.say("楼上\x1b[31m装修\ud800噪音很大，每天都有。")
    await console.press("跳过")
    await console.press("公共区域")
    await console.press("显示我的姓名")
    await console.press("确认")
    [typed] = await cases(console)
    assert typed.description == "楼上[31m装修噪音很大，每天都有。"
    async with transaction(make_sessionmaker(console.app.engine)) as session:
        compound = await compound_by_code(session, "XFL")
        assert compound is not None
        await store.file_case(session, compound, typed.reporter_id, "noise", "旧数据\x1b里有控制字符\x07", console.app.core.clock.now())
    console.as_("王书记")
    await console.say("/export cases")
    _name, data = console.transport.documents[-1]
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    descriptions = [row[14] for row in sheet.iter_rows(min_row=4, values_only=True)]
    assert descriptions == ["楼上[31m装修噪音很大，每天都有。", "旧数据里有控制字符"]


async def test_the_department_rating_is_shown_in_words(console: Console) -> None:
    """Issue 15, defect 11: /case history showed "部门响应已评价 · 王书记 · fair"."""
    await official_in(console, "刘官员", "市场监管")
    number = await file_case(console, "李四", "房屋漏水", "卫生间天花板一直在滴水，已经两天了。")
    console.as_("王书记")
    await console.say(f"/case {number}")
    await console.press("吹哨（呼叫部门）")
    await console.press("市场监管")
    await console.press("不加说明")
    console.as_("刘官员")
    await console.press("办结")
    await console.say("已协调维修，漏水停止。")
    await console.press("不附照片")
    console.as_("王书记")
    await console.press("基本满意")
    await console.say(f"/case {number}")
    line = next(line for line in console.last.text.splitlines() if "部门响应已评价" in line)
    assert line.endswith("王书记 · 基本满意") and "fair" not in console.last.text


async def test_stats_and_the_monthly_report_give_the_same_figures(console: Console, app: App) -> None:
    """Issue 15, defect 12: /stats counted resolutions of cases opened in the month, the monthly report those
    dated in it; the report dropped a rating that reopened its case (a case rated 2 left 100 %)."""
    await file_case(console, "张三", "噪音", "楼上每天夜里十二点还在装修，电钻声很大。")
    console.as_("李楼长")
    await console.press("办结")
    await console.say("已沟通，晚上十点后停工。")
    await console.press("不附照片")
    console.as_("张三")
    await console.press("5")
    await file_case(console, "李四", "房屋漏水", "卫生间天花板一直在滴水，已经两天了。")
    console.as_("赵物业")
    await console.press("办结")
    await console.say("已上门检查。")
    await console.press("不附照片")
    console.as_("李四")
    await console.press("2")  # reopened: still a rating given this month
    async with transaction(app.core.sessions) as session:  # opened in October, resolved in November
        compound = await compound_by_code(session, "XFL")
        assert compound is not None
        october = await store.file_case(session, compound, 5, "other", "十月的诉求，十一月才办结。",
                                        datetime(2026, 10, 20, 2, 0, tzinfo=UTC))
        await store.resolve(session, compound, october, 1, datetime(2026, 11, 2, 2, 0, tzinfo=UTC), "已办结")
    console.as_("王书记")
    await console.say("/stats")
    stats = console.last.text
    await console.say("/monthly 2026-11")
    monthly = console.seen_by()[-2].text
    async with app.core.sessions() as session:
        figures = (await month_figures(session, "2026-11", [1]))[1]
    assert (figures.opened, figures.resolved, figures.rated, figures.satisfied) == (2, 3, 2, 1)
    assert "办结：3 件" in stats and "50%（共 2 " in stats
    assert "办结诉求：3" in monthly and "满意率：50.0%" in monthly


async def test_a_revoked_role_ends_the_handlers_note_and_writes_nothing(console: Console, app: App) -> None:
    number = await file_case(console, "张三", "噪音", "楼上每天夜里十二点还在装修，电钻声很大。")
    console.as_("李楼长")
    await console.press("办结")
    await revoke_role(app, "李楼长", Role.BUILDING_LEADER)
    await console.say("已沟通。")
    assert "身份已有变化" in console.last.text
    [case] = await cases(console)
    assert case.state == State.OPEN and case.resolution == ""
    assert [e.event for e in await events_of(console, number)] == [Event.FILE]


async def test_switching_compound_mid_note_resolves_where_it_began(console: Console, app: App) -> None:
    number = await file_case(console, "李四", "下水道", "厨房下水道堵了，水排不下去。")
    await second_compound(app, ("赵物业", ()))
    console.as_("赵物业")
    await console.press("办结")
    await switch_to(console, "和平苑")
    await console.say("已疏通。")
    await console.press("不附照片")
    assert number in console.last.text and "评价" in console.last.text
    [case] = await cases(console)
    assert case.state == State.RESOLVED and case.compound_id == 1 and case.resolution == "已疏通。"


async def test_switching_compound_mid_filing_files_where_it_began(console: Console, app: App) -> None:
    await second_compound(app, ("张三", (Role.RESIDENT,)))
    console.as_("张三")
    await console.say("/complain")
    await console.press("噪音")
    await switch_to(console, "和平苑")
    await console.say("楼上每天夜里十二点还在装修，电钻声很大。")
    await console.press("跳过")
    await console.press("我的楼栋")
    await console.press("显示我的姓名")
    await console.press("确认")
    [case] = await cases(console)
    assert case.compound_id == 1 and case.number == "XFL-2026-0001" and case.building_id is not None
    assert "XFL-2026-0001" in console.last.text


async def test_a_stranger_cannot_file(console: Console) -> None:
    console.as_("陌生人")
    await console.say("/complain")
    assert "乱停车" not in console.last.labels and ("加入" in console.last.text or "/join" in console.last.text)
    assert await cases(console) == []


# ---- least privilege for the reporter's personal data (issue 20) ------------------------------------------


async def access_rows(console: Console) -> list[Access]:
    async with console.app.core.sessions() as session:
        return list((await session.exec(select(Access).order_by(col(Access.id)))).all())


def named_resident_only(text: str, name: str, phone: str, room: str, building: str) -> bool:
    """The card shows 实名住户 and the building, and not the reporter's name, phone or room."""
    return (f"实名住户（{building}）" in text and name not in text and phone not in text and room not in text)


async def test_a_named_reporters_contact_is_shown_to_the_handler_and_the_secretary_only(console: Console) -> None:
    """Property staff, a committee member, a building leader and an official who are not the case's current
    handler see 实名住户 and the building; the handler and the secretary see name, room and phone, and each such
    view is one row of the access log."""
    ids = {"刘官员": await official_in(console, "刘官员", "市场监管"),
           "陈科长": await official_in(console, "陈科长", "住建")}
    await configure(console, routing={"noise": {"level": 1, "role": "committee"}})
    # A leak: property staff hand it to the secretary, who calls in a department.
    leak = await file_case(console, "李四", "房屋漏水", "卫生间天花板一直在滴水，已经两天了。")
    console.as_("赵物业")
    await console.press("移交/上报")
    await console.press("不加说明")
    console.as_("王书记")
    await console.press("吹哨（呼叫部门）")
    await console.press("市场监管")
    await console.press("不加说明")
    # Noise: the building leader escalates it to the committee, which hands it to the secretary.
    noise = await file_case(console, "张三", "噪音", "楼上每天夜里十二点还在装修，电钻声很大。")
    console.as_("李楼长")
    await console.press("移交/上报")
    await console.press("不加说明")
    console.as_("孙委员")
    await console.press("移交/上报")
    await console.press("不加说明")
    [leak_case, noise_case] = await cases(console)
    assert leak_case.handler_id == ids["刘官员"] and leak_case.level == 3
    assert noise_case.handler_id != leak_case.handler_id and noise_case.level == 2

    before = len(await access_rows(console))
    for who, number, reporter in (("赵物业", leak, ("李四", "13800000006", "1单元201", "2栋")),
                                  ("陈科长", leak, ("李四", "13800000006", "1单元201", "2栋")),
                                  ("孙委员", noise, ("张三", "13800000005", "1单元101", "1栋")),
                                  ("李楼长", noise, ("张三", "13800000005", "1单元101", "1栋"))):
        console.as_(who)
        await console.say(f"/case {number}")
        assert number in console.last.text, who
        assert named_resident_only(console.last.text, *reporter), (who, console.last.text)
    assert len(await access_rows(console)) == before  # nothing shown, nothing logged

    for who in ("刘官员", "王书记"):  # the current handler, the secretary
        console.as_(who)
        await console.say(f"/case {leak}")
        assert "李四" in console.last.text and "13800000006" in console.last.text and "1单元201" in console.last.text
        rows = await access_rows(console)
        assert len(rows) == before + 1, who
        before = len(rows)
        viewers = await person_ids(console.app)
        last = rows[-1]
        assert (last.viewer_id, last.subject_id, last.case_id, last.shown, last.via, last.hidden) == (
            viewers[who], viewers["李四"], leak_case.id, "name,room,phone", Via.LOOKUP, False)
        assert last.at == console.app.core.clock.now()


async def test_a_case_number_is_answered_as_missing_to_whoever_may_not_look_it_up(console: Console,
                                                                                 app: App) -> None:
    """A resident who is not the reporter, staff of the compound who never handled the case (an official while
    it is not with a department), and the secretary of another compound get for an existing number exactly what
    a made-up number gets, so numbers cannot be walked."""
    await add_console_person(app, "刘官员", 1, Role.OFFICIAL)
    hpy = await second_compound(app)
    await add_console_person(app, "周书记", hpy, Role.SECRETARY)
    number = await file_case(console, "张三", "噪音", "楼上每天夜里十二点还在装修，电钻声很大。")
    made_up = "XFL-2026-0999"
    for who in ("李四", "孙委员", "赵物业", "刘官员", "周书记"):
        console.as_(who)
        await console.say(f"/case {number}")
        existing = console.last
        await console.say(f"/case {made_up}")
        missing = console.last
        assert existing.text.replace(number, made_up) == missing.text, (who, existing.text)
        assert existing.labels == missing.labels == []
        assert "楼上" not in existing.text and "张三" not in existing.text
    # The reporter, the handler and the secretary still look it up.
    for who in ("张三", "李楼长", "王书记"):
        console.as_(who)
        await console.say(f"/case {number}")
        assert "楼上每天夜里" in console.last.text, who


async def test_linli_audit_prints_the_access_log(console: Console, db_url: str, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    named = await file_case(console, "李四", "房屋漏水", "卫生间天花板一直在滴水，已经两天了。")  # 赵物业's card
    hidden = await file_case(console, "张三", "电梯", "1栋1单元电梯经常停在半层，很危险。", anonymous=True)
    console.as_("王书记")
    await console.say(f"/case {named}")
    await console.say(f"/case {hidden}")  # an anonymous case's hidden identity: the secretary only
    rows = await access_rows(console)
    assert [(row.shown, row.via, row.hidden) for row in rows] == [
        ("name,room,phone", Via.NOTICE, False), ("name,room,phone", Via.LOOKUP, False),
        ("name,room,phone", Via.LOOKUP, True)]
    monkeypatch.setenv("DATABASE_URL", db_url)
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["audit", "--compound", "XFL", "--since", "2026-11-23"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    ids = await person_ids(console.app)
    assert lines == [
        f"2026-11-23 09:00 XFL 赵物业（#{ids['赵物业']}）看到了李四（#{ids['李四']}）的姓名、房号、电话 · 诉求 {named} · 随诉求送达",
        f"2026-11-23 09:00 XFL 王书记（#{ids['王书记']}）看到了李四（#{ids['李四']}）的姓名、房号、电话 · 诉求 {named} · 查询",
        f"2026-11-23 09:00 XFL 王书记（#{ids['王书记']}）看到了张三（#{ids['张三']}）的姓名、房号、电话 · 诉求 {hidden} · 查询"
        " · 匿名诉求隐藏的身份"]
    assert await asyncio.to_thread(main, ["audit"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert await asyncio.to_thread(main, ["audit", "--since", "2026-11-24"]) == 0
    assert "没有" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["audit", "--compound", "NOPE"]) == 2
    assert "NOPE" in capsys.readouterr().err


# ---- cases people can follow: buttons, the timeline, photos both ways, a location ---------------------------


async def test_mycases_and_the_queue_open_a_card_with_its_timeline(console: Console) -> None:
    """/mycases and /cases list each case with a button; the card it opens shows the timeline (when in the
    compound's time, who, what), the reporter only as least privilege allows."""
    first = await file_case(console, "张三", "噪音", "楼上每天夜里十二点还在装修，电钻声很大。")
    await console.clock_to("+30m")
    console.as_("李楼长")
    await console.press("受理")
    second = await file_case(console, "张三", "电梯", "1栋1单元电梯经常停在半层，很危险。")
    console.as_("张三")
    await console.say("/mycases")
    assert {first, second} <= set(console.last.labels)
    await console.press(first)
    card = console.last.text
    assert f"诉求 {first}" in card and "楼上每天夜里" in card
    timeline = card.splitlines()
    history = timeline[timeline.index("办理记录："):]
    filed = next(line for line in history if "提交" in line)
    accepted = next(line for line in history if "受理" in line)
    assert filed.startswith("2026-11-23 09:00") and "张三" in filed  # Shanghai time, not UTC
    assert accepted.startswith("2026-11-23 09:30") and "李楼长" in accepted
    assert timeline.index(filed) < timeline.index(accepted)
    assert "补充" in console.last.labels  # the reporter may add to an open case
    # Staff: the queue's buttons open the same card, the reporter as the rules allow (赵物业 is the elevator
    # case's handler and sees who reported it; the secretary sees every reporter).
    console.as_("赵物业")
    await console.say("/cases")
    assert console.last.labels == [second]
    await console.press(second)
    assert "13800000005" in console.last.text and "受理" in console.last.labels
    console.as_("王书记")
    await console.say("/cases")
    assert set(console.last.labels) == {first, second}
    await console.press(first)
    assert "李楼长" in console.last.text and "张三" in console.last.text


async def test_a_resolution_photo_reaches_the_reporter(console: Console) -> None:
    number = await file_case(console, "李四", "下水道", "厨房下水道堵了，水排不下去。")
    console.as_("赵物业")
    await console.press("办结")
    await console.say("已疏通主管道，排水恢复正常。")
    assert "照片" in console.last.text
    assert (await cases(console))[0].state == State.OPEN  # nothing resolved until the photos are given
    await console.photo()
    await console.press("完成上传")
    seen = console.seen_by("李四")
    photo = next(s for s in seen if s.has_image)
    assert number in photo.text and "处理结果" in photo.text
    rating = seen[-1]
    assert rating.labels == ["1 很不满意", "2 不满意", "3 一般", "4 满意", "5 很满意"]
    assert seen.index(photo) < seen.index(rating)
    [case] = await cases(console)
    assert case.state == State.RESOLVED and len(store.resolution_photos(case)[1]) == 1
    assert [e.photos for e in await events_of(console, number)][-1] == 1
    console.as_("李四")
    await console.press("5 很满意")
    await console.say(f"/case {number}")
    assert "处理结果照片：1 张" in console.last.text and "📷 1" in console.last.text
    await console.press("查看照片")
    assert console.last.has_image and "处理结果" in console.last.text
    # Without photos the resolution goes at once.
    other = await file_case(console, "李四", "房屋漏水", "卫生间天花板一直在滴水，已经两天了。")
    console.as_("赵物业")
    await console.press("办结")
    await console.say("已修复防水层。")
    await console.press("不附照片")
    assert other in console.last_for("李四").text and not console.last_for("李四").has_image


async def test_a_supplement_photo_reaches_the_handler(console: Console) -> None:
    """补充: the reporter adds a photo unasked; the handler gets the photo itself, the case stays where it was and
    the handler's buttons still work."""
    number = await file_case(console, "李四", "下水道", "厨房下水道堵了，水排不下去。")
    console.as_("李四")
    await console.say("/mycases")
    await console.press(number)
    await console.press("补充")
    await console.photo("水池下面的管子也在漏")
    assert number in console.last.text
    handler = console.seen_by("赵物业")
    assert handler[-1].has_image and number in handler[-1].text
    assert "补充" in handler[-2].text and "水池下面的管子也在漏" in handler[-2].text
    [case] = await cases(console)
    assert case.state == State.OPEN and len(case.photos["ids"]) == 1 and case.version == 1
    assert [(e.event, e.photos) for e in await events_of(console, number)][-1] == (Event.SUPPLEMENT, 1)
    console.as_("赵物业")
    await console.press("受理")  # the button on the first card is still valid
    assert (await cases(console))[0].state == State.ACCEPTED
    # Asked a question, the same 补充 is the answer; once closed there is nothing to add.
    await console.press("请反映人补充")
    await console.say("是哪个单元？")
    console.as_("李四")
    await console.say(f"/case {number}")
    await console.press("补充")
    await console.say("1单元")
    assert (await cases(console))[0].state == State.ACCEPTED
    assert [e.event for e in await events_of(console, number)][-1] == Event.ANSWER
    console.as_("赵物业")
    await console.press("办结")
    await console.say("已更换漏水管件。")
    await console.press("不附照片")
    console.as_("李四")
    await console.press("4 满意")
    await console.say(f"/case {number}")
    assert "补充" not in console.last.labels
    # Only the reporter supplements (storage decides, whoever asks).
    ids = await person_ids(console.app)
    async with transaction(make_sessionmaker(console.app.engine)) as session:
        case = await store.case_by_number(session, number)
        assert case is not None
        assert (await store.add_information(session, case, ids["张三"], console.app.core.clock.now(), "我也看到了"))[0] \
            == store.Acted.NOT_YOURS


async def test_a_location_on_a_case(console: Console) -> None:
    console.as_("张三")
    await console.say("/complain")
    await console.press("占用消防通道")
    await console.say("南门消防通道被三轮车堵住了。")
    await console.press("跳过")
    assert "位置" in console.last.text
    await console.line(":location 30.702 111.291 幸福里南门")
    assert "幸福里南门" in console.last.text
    await console.say("随便写点")  # neither a button nor a location: asked again, the pin kept
    assert "位置" in console.last.text
    await console.press("公共区域")
    await console.press("显示我的姓名")
    assert "幸福里南门 (30.70200, 111.29100)" in console.last.text  # the summary
    await console.press("确认")
    [case] = await cases(console)
    assert (case.latitude, case.longitude, case.location_label) == (30.702, 111.291, "幸福里南门")
    assert "位置：幸福里南门 (30.70200, 111.29100)" in console.last_for("王书记").text
    await console.say(f"/case {case.number}")
    assert "位置：幸福里南门" in console.last.text


def test_telegram_and_wecom_locations_become_the_incoming_location() -> None:
    from telegram import Update

    from bot.core.types import Location
    from bot.transports.telegram import to_incoming as from_telegram
    from bot.transports.wecom.convert import to_incoming as from_wecom

    user = {"id": 42, "is_bot": False, "first_name": "张"}
    base = {"message_id": 5, "date": 0, "chat": {"id": 42, "type": "private", "first_name": "张"}, "from": user}
    pin = {"latitude": 30.702, "longitude": 111.291}
    plain = from_telegram(Update.de_json({"update_id": 1, "message": {**base, "location": pin}}, None), "b")
    assert plain is not None and plain.location == Location(30.702, 111.291, "") and plain.other is None
    venue = from_telegram(Update.de_json({"update_id": 2, "message": {
        **base, "location": pin, "venue": {"location": pin, "title": "幸福里南门", "address": "西陵二路8号"}}}, None), "b")
    assert venue is not None and venue.location == Location(30.702, 111.291, "幸福里南门 西陵二路8号")
    body = {"msgid": "m1", "from": {"userid": "zhangsan"}, "chattype": "single", "msgtype": "location",
            "location": {"latitude": "30.702", "longitude": "111.291", "name": "幸福里南门"}}
    wecom = from_wecom(body)
    assert wecom is not None and wecom.location == Location(30.702, 111.291, "幸福里南门")
    broken = from_wecom({**body, "msgid": "m2", "location": {"latitude": "north"}})
    assert broken is not None and broken.location is None and broken.other == "location"


# ---- the department level: chased, not escalated again; the whistle names a department ----------------------


async def test_a_department_past_its_deadline_is_chased_keeping_its_acceptance(console: Console) -> None:
    """Over several days past the department's deadline: the case stays 受理 with the same handler, the department's
    officials and the secretary are reminded, the reporter hears 已自动上升至职能部门层级 once, and 逾期次数 counts the
    escalations and the missed department deadline, not the daily reminders."""
    official = await official_in(console, "陈城管", "市场监管")
    colleague = await official_in(console, "吴城管", "市场监管")
    await configure(console, respond_hours=0.25, resolve_days={"3": 1}, department="市场监管")
    number = await file_case(console, "张三", "乱停车", "一辆白色轿车长期停在1栋门口，挡住了出入。")
    await console.clock_to("+20m")
    await console.clock_to("+20m")
    [case] = await cases(console)
    assert case.level == 3 and case.handler_id == official and case.overdue_count == 2
    assert "市场监管" in console.last_for("陈城管").text
    lost = console.last_for("李楼长").text  # the building leader who lost the case is told
    assert number in lost and "不再由您办理" in lost
    console.as_("陈城管")
    await console.press("受理")
    [case] = await cases(console)
    assert case.state == State.ACCEPTED
    version = case.version

    def told_to_reporter() -> int:
        return sum("已自动上升至职能部门层级" in s.text for s in console.seen_by("张三"))

    assert told_to_reporter() == 1
    reporter_seen = len(console.seen_by("张三"))
    for day in (1, 2, 3):
        await console.clock_to("+24h")
        [case] = await cases(console)
        assert (case.state, case.level, case.handler_id, case.chases) == (State.ACCEPTED, 3, official, day)
        assert case.overdue_count == 3  # two escalations and the one missed department deadline
        assert case.version == version  # the official's buttons stay valid
        for who in ("陈城管", "吴城管"):
            reminder = console.last_for(who)
            assert number in reminder.text and "催办" in reminder.text and f"已催办 {day} 次" in reminder.text
    assert "已催办" in console.seen_by("王书记")[-1].text or any(
        "催办该部门" in s.text for s in console.seen_by("王书记"))
    assert told_to_reporter() == 1 and len(console.seen_by("张三")) == reporter_seen
    events = [e.event for e in await events_of(console, number)]
    assert events == ["file", "overdue", "overdue", "accept", "chase", "chase", "chase"]
    assert colleague != official
    # The buttons under the first reminder still act: the case resolves from 受理.
    console.as_("陈城管")
    await console.press("办结")
    await console.say("已拖走违停车辆。")
    await console.press("不附照片")
    assert (await cases(console))[0].state == State.RESOLVED
    await console.say(f"/case {number}")
    assert "超过时限，已催办部门" in console.last.text and "逾期 3 次" in console.last.text


async def test_the_whistle_names_a_department_and_one_without_an_official_tells_the_secretary(
        console: Console) -> None:
    await official_in(console, "刘官员", "市场监管")
    await official_in(console, "", "住建")  # a department nobody has joined yet
    number = await file_case(console, "李四", "房屋漏水", "卫生间天花板一直在滴水，已经两天了。")
    console.as_("王书记")
    await console.say(f"/case {number}")
    await console.press("吹哨（呼叫部门）")
    assert {"市场监管", "住建"} <= set(console.last.labels) and "刘官员" not in console.last.labels
    await console.press("住建")
    await console.say("楼上违规改造卫生间，需要住建部门处理。")
    [case] = await cases(console)
    assert (case.level, case.handler_id, case.state) == (3, None, State.OPEN)
    at_once = console.seen_by("王书记")
    assert any("住建" in s.text and "还没有工作人员" in s.text for s in at_once[-3:])
    assert "住建" in console.last_for("李四").text  # the reporter hears which department
    assert "赵物业" in console.last_for("赵物业").to and "不再由您办理" in console.last_for("赵物业").text
    history = [(e.event, e.note) for e in await events_of(console, number)]
    assert history[-1] == (Event.WHISTLE, "楼上违规改造卫生间，需要住建部门处理。")
    await console.say(f"/case {number}")
    assert "职能部门：住建" in console.last.text
    # Its deadline passes with nobody there: the secretary is reminded that the department has no official.
    await console.clock_to("+25h")
    [case] = await cases(console)
    assert case.state == State.OPEN and case.chases == 1 and case.overdue_count == 1
    assert "住建" in console.last_for("王书记").text and "还没有工作人员" in console.last_for("王书记").text


# ---- after a failed rectification: the recommendation to revoke the company's qualification ----------------


async def test_the_revocation_recommendation_carries_its_evidence_as_one_workbook(console: Console) -> None:
    from storage import property as company

    console.as_("王书记")
    await console.say("/revocation")
    assert "整改未通过" in console.last.text  # nothing failed yet: nothing to recommend
    await official_in(console, "刘官员", "市场监管")
    await configure(console, respond_hours=0.25, department="市场监管")
    leak = await file_case(console, "李四", "房屋漏水", "卫生间天花板一直在滴水，已经两天了。")
    await console.clock_to("+20m")  # the property company let it go overdue
    now = console.app.core.clock.now()
    async with transaction(console.app.core.sessions) as session:
        assessment = company.Assessment(compound_id=1, period="2026Q3", opened_by=1, closes_at=now - timedelta(days=30),
                                        status=company.AssessmentStatus.CLOSED, grade="C", total="1187/20",
                                        details={"answers": 12})
        session.add(assessment)
        await session.flush()
        order = company.Rectification(assessment_id=assessment.stored_id, compound_id=1, items="response,repair",
                                      deadline=now - timedelta(days=2), status=company.RectificationStatus.ESCALATED,
                                      escalated_at=now - timedelta(days=1), response="正在安排")
        session.add(order)
    console.as_("王书记")
    await console.say("/revocation")
    assert "取消物业公司经营资质" in console.last.text
    await console.say("连续两个季度考核为C，限期整改逾期未完成，漏水等报修长期拖延。")
    assert "已记录" in console.last.text and "市场监管" in console.last.text and console.last.has_document
    name, data = console.transport.documents[-1]
    assert name.endswith(".xlsx")
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["考核等级", "整改单", "逾期诉求"]
    grades = list(book["考核等级"].iter_rows(values_only=True))
    assert grades[0][:2] == ("考核期", "等级") and grades[1][:3] == ("2026Q3", "C", 59.4)
    orders = list(book["整改单"].iter_rows(values_only=True))
    assert orders[1][1] == "response,repair" and orders[1][3] == "已上报" and orders[1][4] == "正在安排"
    overdue = list(book["逾期诉求"].iter_rows(values_only=True))
    assert [row[0] for row in overdue[1:]] == [leak] and overdue[1][2] == "房屋漏水"
    # The department's official receives it with the same evidence.
    sent = console.last_for("刘官员")
    assert "取消" in sent.text and "连续两个季度" in sent.text and sent.has_document
    async with console.app.core.sessions() as session:
        [advice] = (await session.exec(select(company.RevocationAdvice))).all()
    assert advice.rectification_id == order.id and advice.department_id is not None and advice.by == 1
    # A verified order is no failure: nothing more can be recommended on it.
    async with transaction(console.app.core.sessions) as session:
        row = await session.get(company.Rectification, order.id)
        assert row is not None
        await company.verify(session, row, now)
    await console.say("/revocation")
    assert "整改未通过" in console.last.text
