"""The property company's assessment: the grade rule by hand-computed cases, and the whole period through
conversations: households answer (one twice), the scheduler closes it, grade C, rectification overdue and
escalated."""

from __future__ import annotations

from fractions import Fraction

from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.people import Role
from storage.property import ITEMS, Assessment, AssessmentAnswer, CaseFigures, Rectification, grade
from tests.conftest import add_console_person


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
