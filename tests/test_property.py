"""The property company's assessment: the grade rule by hand-computed cases, and the whole period through
conversations: households answer (one twice), the scheduler closes it, grade C, rectification overdue and
escalated."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.db import transaction
from storage.organisations import property_company_of, remove_member
from storage.people import Role
from storage.property import (
    ITEMS,
    Assessment,
    AssessmentAnswer,
    AssessmentStatus,
    CaseFigures,
    Rectification,
    RectificationStatus,
    grade,
)
from tests.conftest import add_console_person, person_ids, revoke_role, second_compound, switch_to


def answers(*per_room: list[int]) -> list[dict[str, int]]:
    return [dict(zip(ITEMS, scores, strict=True)) for scores in per_room]


def test_grade_from_the_questionnaire_alone() -> None:
    result = grade(answers([2] * 6, [3] * 6), CaseFigures())
    assert result.survey == Fraction(75, 2)  # average 2.5 → (2.5 − 1) / 4 × 100
    assert result.complaints is None and result.total == Fraction(75, 2) and result.grade == "C"


def test_grade_with_complaint_figures() -> None:
    figures = CaseFigures(cases=4, answered_in_time=3, overdue=1, rated=2, satisfied=1)
    result = grade(answers([2] * 6, [3] * 6), figures)
    assert result.complaints == Fraction(121, 2)  # (3/4 + 1/2) / 2 × 100 − 2 × 1
    assert result.total == Fraction(3, 5) * Fraction(75, 2) + Fraction(2, 5) * Fraction(121, 2)
    assert result.grade == "C"


def test_grade_bounds_are_inclusive() -> None:
    exactly_85 = answers(*([s] * 6 for s in (5, 5, 4, 4, 4)))  # average 4.4 → 85
    assert grade(exactly_85, CaseFigures()).total == 85 and grade(exactly_85, CaseFigures()).grade == "A"
    exactly_70 = answers(*([s] * 6 for s in (4, 4, 4, 4, 3)))  # average 3.8 → 70
    assert grade(exactly_70, CaseFigures()).grade == "B"
    assert grade(exactly_70, CaseFigures(), {"grade_b": "71"}).grade == "C"


def test_worst_items() -> None:
    result = grade([dict(zip(ITEMS, [5, 1, 4, 2, 5, 5], strict=True))], CaseFigures())
    assert result.worst_items() == ["greening", "repairs"]


async def answer_all(console: Console, person: str, stars: int) -> None:
    console.as_(person)
    await console.press("开始填写")
    for _ in ITEMS:
        await console.press("★" * stars)
    await console.press("跳过")


async def test_assessment_period_graded_c_with_rectification_escalated(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/company 幸福物业 0717-1234567")
    assert "幸福物业" in console.last.text
    await console.say("/assess")
    assert "每户" in console.last.text
    assert "开始填写" in console.last_for("张三").labels

    await answer_all(console, "张三", 5)
    await answer_all(console, "张三", 1)  # the same household again: replaces the first answer
    assert "替换" in console.last.text
    await answer_all(console, "李四", 2)
    console.as_("陈阿姨")
    await console.press("开始填写")
    await console.say("很好")  # text where stars are asked: the draft is kept
    assert "星级按钮" in console.last.text
    for _ in ITEMS:
        await console.press("★★")
    await console.say("电梯经常坏")

    console.as_("张三")
    await console.say("/assess")
    assert "只有" in console.last.text

    await add_console_person(app, "街道刘主任", 1, Role.OFFICIAL)

    # Long waits jump like downtime, then the scheduler catches up: the same code path, fewer steps.
    app.core.clock.advance(days=6)
    await console.clock_to("+30m")
    assert "还没有为物业服务打分" in console.last_for("王五").text
    assert not any("还没有为物业服务打分" in s.text for s in console.seen_by("张三", "private"))

    app.core.clock.advance(hours=23)
    await console.clock_to("+1h")
    posting = console.seen_by("王书记", "幸福里业主群")[-1]
    assert "等级 C" in posting.text and "3 户" in posting.text
    assert "限期整改" in console.last_for("赵物业").text
    async with app.core.sessions() as session:
        row = (await session.exec(select(Assessment))).one()
        assert row.grade == "C" and Fraction(row.total or "0") < 70
        assert len((await session.exec(select(AssessmentAnswer))).all()) == 3
        order = (await session.exec(select(Rectification))).one()

    app.core.clock.advance(days=31)
    await console.clock_to("+30m")
    assert "逾期" in console.last_for("街道刘主任").text
    async with app.core.sessions() as session:
        assert (await session.get(Rectification, order.id)).status == "escalated"  # type: ignore[union-attr]

    # The property company reports what it put right; the secretary verifies it.
    console.as_("赵物业")
    await console.press("报告整改情况")
    await console.photo()
    assert "请用文字输入整改情况" in console.last.text  # a photo is no answer: the step stays
    await console.say("电梯已全部检修，并更换了2栋的曳引机。")
    assert "核实" in console.last.text
    report = console.last_for("王书记")
    assert f"#{order.id}" in report.text and "曳引机" in report.text and "已整改到位" in report.labels
    console.as_("王书记")
    await console.press("已整改到位")
    assert "已整改到位" not in console.last.labels
    assert f"整改单 #{order.id} 已核实整改到位" in console.last_for("赵物业").text
    await console.press("已整改到位")
    assert "已经核实" in console.last.text  # pressed again: already verified, nothing changes
    async with app.core.sessions() as session:
        assert (await session.get(Rectification, order.id)).status == "verified"  # type: ignore[union-attr]

    console.as_("李四")
    await console.say("/property")
    assert "C" in console.last.text and "幸福物业" in console.last.text


async def test_every_answer_of_the_questionnaire_is_kept(console: Console, app: App) -> None:
    """The answers used to be changed inside a nested dict of the draft that was never written: every company
    came out C with 0.0 points. Each household's stars must reach the table as pressed."""
    console.as_("王书记")
    await console.say("/assess")
    console.as_("张三")
    await console.press("开始填写")
    for stars in (5, 4, 3, 2, 1, 5):
        await console.press("★" * stars)
    await console.say("保洁很好")
    async with app.core.sessions() as session:
        answer = (await session.exec(select(AssessmentAnswer))).one()
    assert answer.scores == dict(zip(ITEMS, (5, 4, 3, 2, 1, 5), strict=True)) and answer.comment == "保洁很好"


async def _order_for_property(console: Console, app: App) -> int:
    async with transaction(app.core.sessions) as session:
        assessment = Assessment(compound_id=1, period="2026Q4", opened_by=1, closes_at=app.core.clock.now(),
                                status=AssessmentStatus.CLOSED, grade="C")
        session.add(assessment)
        await session.flush()
        order = Rectification(assessment_id=assessment.id or 0, compound_id=1, items="elevator",
                              deadline=app.core.clock.now() + timedelta(days=30))
        session.add(order)
        await session.flush()
        assert order.id is not None
        order_id = order.id
    console.as_("赵物业")
    await console.say("/start")
    return order_id


async def _start_report(console: Console, app: App) -> int:
    order_id = await _order_for_property(console, app)
    ctx_ids = await person_ids(app)
    async with transaction(app.core.sessions) as session:
        # The button the closing job sends, made the way the core makes every button.
        from bot.core.context import JobContext
        from bot.core.types import Button, Reply, ToPerson
        job = JobContext(app.core, session, app.core.clock.now())
        await app.core.emit_job(job, Reply("整改单", buttons=((Button.do("报告整改情况", "property.respond",
                                                                          order=order_id),),),
                                           to=ToPerson(ctx_ids["赵物业"])))
    await console.clock_to("+1m")
    console.as_("赵物业")
    await console.press("报告整改情况")
    assert "整改" in console.last.text
    return order_id


async def test_a_revoked_role_ends_the_flow_and_writes_nothing(console: Console, app: App) -> None:
    order_id = await _start_report(console, app)
    staff = (await person_ids(app))["赵物业"]
    async with transaction(app.core.sessions) as session:  # 赵物业 leaves the property company's staff
        company = await property_company_of(session, 1)
        assert company is not None
        assert await remove_member(session, staff, app.core.clock.now(), organisation_id=company.stored_id)
    await console.say("电梯已检修")
    assert "身份已有变化" in console.last.text
    async with app.core.sessions() as session:
        order = await session.get(Rectification, order_id)
        assert order is not None and order.response == "" and order.status == RectificationStatus.OPEN
    await console.say("电梯已检修")
    # The flow is gone; no longer staff, 赵物业 (who has no room) is led to joining a compound.
    assert "邀请码" in console.last.text


async def test_switching_compound_mid_flow_keeps_the_flow_where_it_began(console: Console, app: App) -> None:
    order_id = await _start_report(console, app)
    await second_compound(app, ("赵物业", ()))
    await switch_to(console, "和平苑")
    await console.say("电梯已检修")
    # The report belongs to 幸福里, where 赵物业 is property staff: it is written there, not refused for 和平苑.
    assert "核实" in console.last.text
    async with app.core.sessions() as session:
        order = await session.get(Rectification, order_id)
        assert order is not None and order.response == "电梯已检修"


async def test_busy_names_the_open_flow_and_offers_continue_or_give_up(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/assess")
    console.as_("张三")
    await console.press("开始填写")
    await console.press("★★★")
    await console.say("/complain")
    assert "物业满意度问卷" in console.last.text and console.last.labels == ["继续", "放弃"]
    await console.press("继续")
    assert "2/6" in console.last.text  # asked again where it stood, the first answer kept
    await console.press("★★★★")
    await console.say("/complain")
    await console.press("放弃")
    assert "已放弃" in console.last.text
    await console.say("/complain")
    assert "类别" in console.last.text or console.last.labels


async def test_not_yet_asks_the_reason_the_property_company_reads(console: Console, app: App) -> None:
    """尚未到位 used to send the order back with no word of what was missing."""
    order_id = await _start_report(console, app)
    await console.say("电梯已检修")
    console.as_("王书记")
    await console.press("尚未到位")
    assert "哪些还没有整改到位" in console.last.text
    await console.photo()  # no answer: the step stays
    await console.say("2栋电梯仍有异响，请更换导靴后再报")
    assert "退回" in console.last.text
    assert "2栋电梯仍有异响" in console.last_for("赵物业").text
    async with app.core.sessions() as session:
        order = await session.get(Rectification, order_id)
        assert order is not None and order.status == RectificationStatus.OPEN
        assert order.sent_back_reason == "2栋电梯仍有异响，请更换导靴后再报" and order.sent_back_at is not None


async def test_a_secretary_revoked_while_sending_back_writes_nothing(console: Console, app: App) -> None:
    order_id = await _start_report(console, app)
    await console.say("电梯已检修")
    console.as_("王书记")
    await console.press("尚未到位")
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.say("还有异响")
    assert "身份已有变化" in console.last.text
    async with app.core.sessions() as session:
        order = await session.get(Rectification, order_id)
        assert order is not None and order.status == RectificationStatus.RESPONDED and order.sent_back_reason == ""
