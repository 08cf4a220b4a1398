"""Scopes: 加装电梯 in 1栋2单元 is decided by that unit's owners alone, by their area and headcount; the compound's
other owners are never asked (no announcement, no reminder, no ballot), and the tally's denominator is the unit's."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlmodel import col, select

from bot.app import App
from bot.transports.console import Console
from storage.assembly import SPECIAL, YES, Ballot, Motion, TallyBallot, TallyMotion, TallyRoom, tally
from storage.people import Person
from tests.test_assembly_headcount import close, roster_compound, vote

GROUP = "和美园业主群"
# 1栋2单元 has four rooms of 90 m²: 甲, 乙 and 丙 joined; 老周 has not, and he also owns a room in 2栋. 丁 (1栋1单元)
# and 戊 (2栋) are owners of the compound outside the unit.
ROSTER = """楼栋,单元,房号,专有面积,业主姓名,联系电话
1,1,101,120,丁,13900000004
1,2,101,90,甲,13900000001
1,2,201,90,乙,13900000002
1,2,301,90,丙,13900000003
1,2,401,90,老周,13900000009
2,1,101,150,老周,13900000009
2,1,102,150,戊,13900000005
"""
MEMBERS = {"甲": ("1栋", "2单元", "101", "13900000001"), "乙": ("1栋", "2单元", "201", "13900000002"),
           "丙": ("1栋", "2单元", "301", "13900000003"), "丁": ("1栋", "1单元", "101", "13900000004"),
           "戊": ("2栋", "1单元", "102", "13900000005")}
TITLE = "1栋2单元加装电梯"


async def _unit_vote(console: Console) -> None:
    console.as_("周书记")
    await console.say("/assembly")
    await console.say(TITLE)
    await console.say("1栋2单元加装电梯，费用由本单元业主按专有面积分摊")
    await console.press("（七）")
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say("2026-11-24 21:00")
    assert "表决范围：全小区业主" in console.last.text
    await console.press("更改表决范围")
    assert console.last.labels == ["✓ 全小区", "1栋", "2栋"]
    await console.press("1栋")
    await console.press("2单元")
    assert "仅由1栋2单元的业主表决" in console.last.text
    await console.press("确认并发起")


def _about(console: Console, person: str) -> list[str]:
    return [s.text for s in console.seen_by(person, "private") if TITLE in s.text or "加装电梯" in s.text]


async def test_a_unit_decides_its_elevator_and_the_other_owners_are_never_asked(
        console: Console, app: App, tmp_path: Path) -> None:
    await roster_compound(app, tmp_path, roster=ROSTER, members=MEMBERS)
    await _unit_vote(console)
    posting = console.seen_by("周书记", GROUP)[-1].text
    assert "仅由1栋2单元的业主表决" in posting
    # The unit: 4 owners (老周 once), 360 m²; the compound's 6 owners and 780 m² are not the whole.
    assert "面积 0.00 / 360.00 m²" in posting and "业主 0 / 4 人" in posting
    for owner in ("甲", "乙", "丙"):
        assert any("正在投票" in text for text in _about(console, owner)), owner
    # 丁 and 戊 own rooms in the compound, not in the unit: pressing Vote in the group is refused politely.
    console.as_("丁")
    console.in_(GROUP)
    await console.press("投票")
    assert "仅由相关楼栋或单元的业主表决" in console.last.text
    # A paper ballot for a room outside the unit is refused, and the draft waits for a room of the unit.
    console.as_("周书记")
    await console.say("/paperballot")
    await console.say("2栋1单元101")
    assert "不在1栋2单元" in console.last.text
    await console.say("1栋2单元401")
    await console.press("同意")
    await console.press("提交")
    assert "书面表决票已录入" in console.last.text
    await vote(console, "甲", "同意")
    await vote(console, "乙", "同意")
    # 丙 does not vote: 3 of the unit's 4 owners and 270 of its 360 m² take part, all agree — at least 3/4.
    result = await close(console)
    assert "仅由1栋2单元的业主表决" in result
    assert "面积 270.00 / 360.00 m²（75.0%" in result and "业主 3 / 4 人（75.0%" in result
    assert "特别事项" in result and "结果：通过" in result
    # The compound's other owners heard nothing: no announcement, no reminder, no result (丁 only got his answer
    # to pressing Vote).
    assert [t for t in _about(console, "丁") if "无需投票" not in t] == [] and _about(console, "戊") == []
    assert any("表决结果" in text for text in _about(console, "甲"))


def test_a_scoped_motion_counts_only_its_rooms_and_their_owners() -> None:
    # Rooms 0–1 are the unit; A owns room 1 and room 2 outside it; B owns room 0; rooms 3–4 are the developer's.
    rooms = [TallyRoom(0, Decimal(90), frozenset({"B"})), TallyRoom(1, Decimal(90), frozenset({"A"})),
             TallyRoom(2, Decimal(150), frozenset({"A"})), TallyRoom(3, Decimal(80), unsold=True),
             TallyRoom(4, Decimal(80), unsold=True)]
    unit = TallyMotion(1, SPECIAL, electorate=frozenset({0, 1}))
    whole = TallyMotion(2, SPECIAL)
    # A ballot from outside the unit (room 2) does not count for the unit's motion.
    cast = [TallyBallot(0, {1: YES, 2: YES}), TallyBallot(1, {1: YES, 2: YES}), TallyBallot(2, {1: YES, 2: YES})]
    scoped, compound = tally(rooms, [unit, whole], cast)
    assert (scoped.total.area, scoped.total.owners) == (180, 2)
    assert (scoped.taking_part.area, scoped.taking_part.owners) == (180, 2) and scoped.passed
    assert (compound.total.area, compound.total.owners) == (490, 3)
    assert (compound.taking_part.area, compound.taking_part.owners) == (330, 2) and compound.passed


async def test_one_unit_scoped_motion_in_a_compound_assembly(console: Console, app: App, tmp_path: Path) -> None:
    """The secretary gives one motion of a compound-wide assembly its own scope while drafting: that motion is asked
    of, and counted over, 1栋2单元 alone; the compound's other motion of everyone."""
    await roster_compound(app, tmp_path, roster=ROSTER, members=MEMBERS)
    console.as_("周书记")
    await console.say("/assembly")
    await console.say("2026年第一次业主大会")
    await console.say("更换小区门禁系统")
    await console.press("一般事项")
    await console.say("1栋2单元加装电梯，费用由本单元业主按专有面积分摊")
    await console.press("（七）")
    await console.press("设置第 2 项的表决范围")
    assert console.last.labels[:3] == ["✓ 与本次大会相同", "1栋", "2栋"]
    await console.press("1栋")
    await console.press("2单元")
    assert any("第 2 项将仅由1栋2单元的业主表决" in s.text for s in console.seen_by())
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say("2026-11-24 21:00")
    assert "表决范围：全小区业主" in console.last.text and "仅由1栋2单元的业主表决" in console.last.text
    await console.press("确认并发起")
    # Everyone is asked: the compound's motion is theirs.
    for owner in ("甲", "丁", "戊"):
        assert any("正在投票" in s.text for s in console.seen_by(owner, "private")), owner

    # 丁 (1栋1单元) answers the compound's motion only: the unit's elevator is not on his ballot.
    console.as_("丁")
    console.in_(GROUP)
    await console.press("投票")
    assert "门禁" in console.last.text
    await console.press("同意")
    assert "加装电梯" not in console.last.text and "提交" in console.last.labels
    await console.press("提交")
    assert "已记录" in console.last.text
    for owner in ("甲", "乙"):
        console.as_(owner)
        console.in_(GROUP)
        await console.press("投票")
        await console.press("同意")
        assert "加装电梯" in console.last.text
        await console.press("同意")
        await console.press("提交")
        assert "已记录" in console.last.text
    await vote(console, "戊", "同意")
    console.as_("周书记")  # 老周's paper ballot for his room in the unit answers both
    await console.say("/paperballot")
    await console.say("1栋2单元401")
    await console.press("同意")
    await console.press("同意")
    await console.press("提交")
    assert "书面表决票已录入" in console.last.text

    async with app.core.sessions() as session:
        ding = (await session.exec(select(Ballot).join(Person, col(Person.id) == Ballot.submitted_by)
                                   .where(Person.name == "丁"))).one()
        motions = (await session.exec(select(Motion).order_by(col(Motion.position)))).all()
    assert list(ding.choices) == [str(motions[0].id)]

    result = await close(console)
    compound_motion, unit_motion = result.split("\n\n")[1:3]
    # The compound: 6 owners (老周 once), 780 m²; 5 took part with 540 m².
    assert "面积 540.00 / 780.00 m²" in compound_motion and "业主 5 / 6 人" in compound_motion
    assert "结果：通过" in compound_motion
    # The unit: 4 owners and 360 m²; 甲, 乙 and 老周 agree (丙 did not vote): 3/4 of each, a special majority.
    assert "仅由1栋2单元的业主表决" in unit_motion
    assert "面积 270.00 / 360.00 m²（75.0%" in unit_motion and "业主 3 / 4 人（75.0%" in unit_motion
    assert "特别事项" in unit_motion and "结果：通过" in unit_motion


async def test_start_leads_with_a_vote_only_for_the_owners_it_asks(console: Console, app: App,
                                                                   tmp_path: Path) -> None:
    """/start's 投票进行中 line follows the scope: not for an owner outside the unit; for 老周, who owns a room in
    the unit and one in 2栋, only until he has voted for the room in the unit (the other is not asked)."""
    await roster_compound(app, tmp_path, roster=ROSTER, members={**MEMBERS, "老周": ("1栋", "2单元", "401",
                                                                                    "13900000009")})
    await _unit_vote(console)
    console.as_("丁")
    await console.say("/start")
    assert "投票进行中" not in console.last.text
    console.as_("老周")
    await console.say("/start")
    assert f"投票进行中：{TITLE}" in console.last.text
    await console.press(f"投票：{TITLE}")
    await console.press("同意")
    await console.press("提交")
    assert "1栋2单元401" in console.last.text and "2栋" not in console.last.text
    await console.say("/start")
    assert "投票进行中" not in console.last.text


async def _unit_motion_vote(console: Console, app: App, tmp_path: Path) -> None:
    """A compound assembly whose one motion is decided by 1栋2单元 alone."""
    await roster_compound(app, tmp_path, roster=ROSTER, members=MEMBERS)
    console.as_("周书记")
    await console.say("/assembly")
    await console.say(TITLE)
    await console.say("1栋2单元加装电梯，费用由本单元业主按专有面积分摊")
    await console.press("（七）")
    await console.press("设置第 1 项的表决范围")
    await console.press("1栋")
    await console.press("2单元")
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say("2026-11-24 21:00")
    await console.press("确认并发起")


async def test_start_leaves_out_a_vote_whose_only_motion_is_another_units(console: Console, app: App,
                                                                          tmp_path: Path) -> None:
    """A compound assembly whose one motion is decided by 1栋2单元 asks 丁 (1栋1单元) nothing: /start does not
    lead him to it; 甲, in the unit, is led to it."""
    await _unit_motion_vote(console, app, tmp_path)
    console.as_("丁")
    await console.say("/start")
    assert "投票进行中" not in console.last.text
    console.as_("甲")
    await console.say("/start")
    assert f"投票进行中：{TITLE}" in console.last.text


async def test_a_vote_whose_only_motion_is_another_units_is_not_pressed_on_outsiders(
        console: Console, app: App, tmp_path: Path) -> None:
    """The same assembly: 丁 (1栋1单元) gets no ballot when he asks for one and no reminder over the whole vote;
    甲, in the unit, is reminded."""
    await _unit_motion_vote(console, app, tmp_path)
    console.as_("丁")
    console.in_(GROUP)
    await console.press("投票")
    assert "仅由相关楼栋或单元的业主表决" in console.last.text, console.last.text
    before = {name: len(_about(console, name)) for name in ("丁", "甲")}
    await console.clock_to("2026-11-24 22:00")
    assert len(_about(console, "丁")) == before["丁"], _about(console, "丁")[before["丁"]:]
    assert len(_about(console, "甲")) > before["甲"]
