"""The result's publication period (公示) with objections (异议), through the console on the app's test clock: the
close publishes the result for `assembly.publicity_days` (default 7); owners and supervisors object with a reason
inside it, the committee answers each and the objector is told; the result is final only after the period, and
the group is told once, by the scheduler's job."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.assembly import Objection, ObjectionStatus, Publicity
from storage.people import Role
from tests.conftest import add_console_person

GROUP = "幸福里业主群"
CLOSES = "2026-11-24 21:00"
TITLE = "增设电动自行车充电桩"


async def _at(console: Console, when: str) -> None:
    """Jump to just before `when` (Shanghai time), then let the clock run through it in its usual steps."""
    target = datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    console.app.core.clock.set(target - timedelta(minutes=10))
    await console.clock_to("+20m")


async def _open(console: Console, title: str = TITLE) -> None:
    console.as_("孙委员")
    await console.say("/assembly")
    await console.say(title)
    await console.say(f"{title}，费用由公共收益支出")
    await console.press("一般事项")
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say(CLOSES)
    await console.press("确认并发起")
    console.as_("张三")
    await console.press("投票")
    await console.press("同意")
    await console.press("提交")


async def _closed_assembly(console: Console) -> None:
    await _open(console)
    await _at(console, CLOSES)


async def _object(console: Console, person: str, reason: str) -> None:
    """One result is published: /objection asks for the reason at once."""
    console.as_(person)
    await console.say("/objection")
    assert f"您对“{TITLE}”的表决结果有什么异议" in console.last.text, console.last.text
    await console.say(reason)


def _finals(console: Console) -> list[str]:
    return [s.text for s in console.seen_by("王书记", GROUP) if "公示期满（" in s.text]


async def test_an_objection_is_answered_inside_the_period_and_the_result_is_final_after_it(
        console: Console, app: App) -> None:
    await add_console_person(app, "监事老周", 1, Role.SUPERVISOR)
    await _closed_assembly(console)
    published = console.seen_by("王书记", GROUP)[-1]
    assert "公示期至 2026-12-01 21:00" in published.text and "提出异议" in published.labels

    await _object(console, "李四", "我家 2栋的面积登记有误，参与面积计算不对")
    assert "已登记" in console.last.text
    notice = console.last_for("孙委员")
    assert "李四" in notice.text and "面积登记有误" in notice.text
    console.as_("孙委员")
    await console.press("答复异议")
    await console.say("已核对不动产登记，面积无误，计票不变")
    assert "已发送" in console.last.text
    assert "面积无误，计票不变" in console.last_for("李四").text

    await _object(console, "监事老周", "请公开书面表决票的核对过程")  # a supervisor may object too
    assert "已登记" in console.last.text
    await _object(console, "王五", "我也有意见")  # a tenant may not
    assert "只有业主和业主监事会成员" in console.last.text
    console.as_("孙委员")
    await console.press("答复异议")
    await console.say("书面表决票已在物业办公室公开，欢迎查阅")

    # Three days on: still published, not final.
    await _at(console, "2026-11-27 21:00")
    console.as_("张三")
    await console.say("/results")
    await console.press("结果")
    assert "公示期至" in console.last.text and "结果已于" not in console.last.text
    assert _finals(console) == []

    await _at(console, "2026-12-01 21:00")
    assert len(_finals(console)) == 1 and "异议 2 条" in _finals(console)[0]
    await console.clock_to("+1h")
    assert len(_finals(console)) == 1  # told once
    console.as_("张三")
    await console.say("/results")
    await console.press("结果")
    assert "结果已于 2026-12-01 21:" in console.last.text
    console.as_("李四")
    await console.say("/objection")
    assert "没有处于公示期的表决结果" in console.last.text
    console.in_(GROUP)  # the published result's button, pressed after the period
    await console.press("提出异议")
    await console.say("再提一条")
    assert "不在公示期内" in console.last.text
    async with app.core.sessions() as session:
        objections = (await session.exec(select(Objection))).all()
        [publicity] = (await session.exec(select(Publicity))).all()
    assert [o.status for o in objections] == [ObjectionStatus.ANSWERED] * 2
    assert publicity.final_at is not None


async def test_an_unanswered_objection_holds_the_result_back(console: Console, app: App) -> None:
    await _closed_assembly(console)
    await _object(console, "李四", "计票有误")
    await _at(console, "2026-12-01 21:00")
    assert _finals(console) == []  # the period has ended, but the objection has no answer yet
    console.as_("孙委员")
    await console.press("答复异议")
    await console.say("已复核，计票无误")
    await console.clock_to("+10m")
    assert len(_finals(console)) == 1


async def test_a_reason_typed_with_the_command_is_lodged_at_once(console: Console) -> None:
    await _closed_assembly(console)
    console.as_("李四")
    await console.say("/objection " + "计票" * 600)  # too long: said so, and the reason is asked again
    assert "1200" in console.seen_by()[-2].text and "有什么异议" in console.last.text
    await console.say("/cancel")
    await console.say("/objection 书面表决票未经两人核对")
    assert "已登记" in console.last.text
    assert "书面表决票未经两人核对" in console.last_for("孙委员").text


async def test_with_two_results_published_the_typed_reason_waits_for_the_choice(console: Console) -> None:
    await _open(console)
    await _open(console, "更换小区门禁系统")
    await _at(console, CLOSES)
    console.as_("李四")
    await console.say("/objection 计票时未公开唱票")
    assert "您对哪一项表决结果有异议" in console.last.text
    assert sorted(console.last.labels) == sorted([TITLE, "更换小区门禁系统"])
    await console.press("更换小区门禁系统")
    assert "已登记" in console.last.text
    notice = console.last_for("孙委员").text
    assert "更换小区门禁系统" in notice and "计票时未公开唱票" in notice


async def test_a_result_without_objections_is_final_with_none_named(console: Console) -> None:
    await _closed_assembly(console)
    await _at(console, "2026-12-01 21:00")
    [final] = _finals(console)
    assert "（无异议）" in final and "0 条" not in final
