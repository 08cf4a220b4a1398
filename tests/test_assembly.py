"""Owners' assemblies through the console: opening, the group posting, ballots (several rooms, a change, a
double Submit, paper), refusals (tenant, after the close), reminders at the moved clock, closing and result."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlmodel import col, select

from bot.app import App
from bot.transports.console import Console
from storage.assembly import (
    Assembly,
    Ballot,
    BallotHistory,
    export_assembly_cli,
    tally,
    tally_ballots,
    tally_motions,
    tally_rooms,
)
from storage.assembly import motions_of as assembly_motions
from storage.compounds import Building, Room, Unit
from storage.db import transaction
from storage.people import Membership
from tests.conftest import person_ids

GROUP = "幸福里业主群"
CLOSES = "2026-11-24 21:00"


async def _at(console: Console, when: str) -> None:
    """Jump to just before `when` (Shanghai time), then let the clock run through it in its usual steps: the
    days in between hold nothing for this feature, and stepping through them would make the test slow."""
    target = datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    console.app.core.clock.set(target - timedelta(minutes=10))
    await console.clock_to("+20m")


async def _own(app: App) -> None:
    """The demo's 36 rooms, most without an owner: 张三 owns the rest of 1栋, 李四 the rest of 2栋, 陈阿姨 3栋1单元,
    and 3栋2单元 is the developer's, unsold. Owners: 王书记, 李楼长, 孙委员, 张三, 李四, 陈阿姨 and the developer."""
    people = await person_ids(app)
    async with transaction(app.core.sessions) as session:
        owned = {m.room_id for m in (await session.exec(select(Membership))).all() if m.relation == "owner"}
        rows = (await session.exec(select(Room, Building.name, Unit.name)
                                   .join(Building, col(Building.id) == Room.building_id)
                                   .join(Unit, col(Unit.id) == Room.unit_id))).all()
        for room, building, unit in rows:
            if room.id in owned:
                continue
            owner = {"1栋": "张三", "2栋": "李四"}.get(building) or ("陈阿姨" if unit == "1单元" else None)
            if owner is None:
                room.unsold = True
                session.add(room)
            else:
                session.add(Membership(person_id=people[owner], compound_id=room.compound_id, room_id=room.id,
                                       relation="owner", status="approved"))


async def _open(console: Console) -> None:
    console.as_("王书记")
    await console.say("/assembly")
    await console.say("2026年第一次业主大会")
    await console.say("选聘新的物业服务企业")
    assert "建议归类为：一般事项" in console.last.text
    await console.press("一般事项")
    await console.say("续筹专项维修资金，每平方米 20 元")
    assert "建议归类为：特别事项" in console.last.text
    await console.press("特别事项")
    await console.press("添加选举")
    await console.say("赵大、钱二、孙三")
    await console.say("4")
    assert "1 至 3" in console.last.text  # stays on the step
    await console.say("2")
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say("2026-11-22 18:00")
    assert "至少一小时" in console.last.text
    await console.say(CLOSES)
    assert "选举，应选 2 名" in console.last.text
    shown = await console.press("确认并发起")
    assert any("已开始投票" in s.text for s in shown if s.chat_id == "p:王书记")


async def _ballot(console: Console, person: str, *presses: str, via_group: bool = False) -> str:
    console.as_(person)
    if via_group:
        console.in_(GROUP)
    await console.press("投票")
    if via_group:  # the group posting's button: anyone may press it, and goes on in a private chat of their own
        await console.press("私聊继续")
    for label in presses:
        await console.press(label)
    return console.last.text


async def test_assembly_from_opening_to_result(console: Console, app: App, tmp_path: Path) -> None:
    await _own(app)
    await _open(console)
    posting = console.seen_by("王书记", GROUP)[-1]
    assert "2026年第一次业主大会" in posting.text and "投票" in posting.labels
    assert "业主 0 / 7 人" in posting.text
    assert "正在投票" in console.last_for("张三").text

    # 张三 owns 10 rooms: one ballot applied to all of them, pressed from the group chat.
    text = await _ballot(console, "张三", "所有房屋投同样的票", "同意", "同意", "赵大", "钱二", "选好了",
                         via_group=True)
    assert "同意" in text and "赵大、钱二" in text
    await console.press("提交")
    assert "已记录" in console.last.text
    await console.press("提交")  # a second press of the same Submit counts once
    assert "失效" in console.last.text
    assert "业主 1 / 7 人" in console.seen_by("张三", GROUP)[-1].text

    await _ballot(console, "李四", "所有房屋投同样的票", "同意", "反对", "赵大", "选好了", "提交")
    await _ballot(console, "陈阿姨", "所有房屋投同样的票", "反对", "同意", "孙三", "选好了", "提交")
    # 陈阿姨 changes her mind before the close: the last ballot counts.
    await _ballot(console, "陈阿姨", "所有房屋投同样的票", "同意", "同意", "孙三", "钱二", "选好了", "提交")
    await _ballot(console, "王书记", "弃权", "同意", "选好了", "提交")

    # The committee enters 李楼长's paper ballot; 李楼长's online ballot afterwards does not replace it.
    console.as_("孙委员")
    await console.say("/paperballot")
    await console.say("1栋2单元201")
    for label in ("同意", "同意", "钱二", "选好了", "提交"):
        await console.press(label)
    assert "书面表决票已录入" in console.last.text
    text = await _ballot(console, "李楼长", "反对", "反对", "选好了", "提交")
    assert "已有书面表决票" in text

    # A tenant cannot vote.
    console.as_("王五")
    console.in_(GROUP)
    await console.press("投票")
    await console.press("私聊继续")
    assert "只有幸福里的业主" in console.last.text

    async with app.core.sessions() as session:
        ballots = (await session.exec(select(Ballot))).all()
        history = (await session.exec(select(BallotHistory))).all()
        assembly = (await session.exec(select(Assembly))).one()
    assert len(ballots) == 10 + 10 + 7 + 1 + 1
    assert len(history) == 7  # 陈阿姨's seven rooms changed once; the double Submit added nothing
    assert sum(b.paper for b in ballots) == 1

    # Reminders: 孙委员 alone has not voted: daily at 19:00, and 24 h before the close; each slot once.
    def reminders(person: str) -> int:
        return len([s for s in console.seen_by(person, "private") if "温馨提醒" in s.text])

    await _at(console, "2026-11-23 19:00")
    assert reminders("孙委员") == 1 and "2栋2单元302" in console.last_for("孙委员").text
    await console.clock_to("+30m")
    assert reminders("孙委员") == 1
    await _at(console, "2026-11-23 21:00")
    assert reminders("孙委员") == 2
    await _at(console, "2026-11-24 19:00")
    assert reminders("孙委员") == 3 and reminders("张三") == 0

    await _at(console, CLOSES)
    result = [s for s in console.seen_by("王书记", GROUP) if "表决结果" in s.text][-1].text
    # Hand count: 7 owners (six people and the developer); five took part (孙委员 did not, nor the developer).
    assert "业主 5 / 7 人" in result
    first, second, election = result.split("\n\n")[1:4]
    assert "结果：通过" in first  # ordinary: 4 of 5 owners and most of the area agree
    assert "结果：未通过" in second and "须达到 3/4 以上" in second  # 李四's 10 rooms are against
    assert "赵大" in election and "钱二" in election
    async with app.core.sessions() as session:
        rooms = await tally_rooms(session, assembly.compound_id)
        motions = tally_motions(await assembly_motions(session, assembly.id or 0))
        cast = await tally_ballots(session, assembly.id or 0)
    results = tally(rooms, motions, cast)
    assert results[0].taking_part.owners == 5 and results[0].total.owners == 7
    assert results[1].yes.area / results[1].taking_part.area < Fraction(3, 4)
    assert "表决结果" in console.last_for("张三").text and "表决结果" in console.last_for("李楼长").text

    # After the close: refused, and /results shows it.
    text = await _ballot(console, "李四")
    assert "已于" in text and "截止" in text
    await console.say("/results")
    assert "已结束" in console.last.text
    await console.press("结果")
    assert "表决结果" in console.last.text

    # The XLSX for public disclosure: one row per room and motion.
    out = tmp_path / "ballots.xlsx"
    assert await export_assembly_cli(app.settings.database_url, assembly.id or 0, out) == 0
    sheet = load_workbook(out).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 1 + 29 * 3
    paper = [r for r in rows if r[1] == "1栋2单元201"]
    assert {r[7] for r in paper} == {"paper"} and paper[0][3] == "李楼长" and paper[0][6] == "yes"
    assert await export_assembly_cli(app.settings.database_url, 999, out) == 1


async def test_turnout_below_two_thirds_fails_with_the_reason(console: Console, app: App) -> None:
    await _open(console)
    # Only the six demo owners own rooms; the other 30 rooms count as 30 owners without ballots.
    await _ballot(console, "张三", "同意", "同意", "选好了", "提交")
    await _at(console, CLOSES)
    result = console.seen_by("王书记", GROUP)[-1].text
    assert "参与面积" in result and "未达 2/3" in result and "结果：通过" not in result


async def test_cancel_with_reason_is_announced(console: Console, app: App) -> None:
    await _open(console)
    await console.say("/results")
    await console.press("取消")
    await console.say("议题需要重新征求意见")
    assert "已取消" in console.last.text
    assert "议题需要重新征求意见" in console.seen_by("王书记", GROUP)[-1].text
    assert "议题需要重新征求意见" in console.last_for("张三").text
    text = await _ballot(console, "张三")
    assert "已取消" in text


async def test_co_owners_share_one_ballot_and_the_last_speaks(console: Console, app: App) -> None:
    people = await person_ids(app)
    async with transaction(app.core.sessions) as session:
        room = (await session.exec(select(Membership).where(Membership.person_id == people["张三"]))).one()
        session.add(Membership(person_id=people["陈阿姨"], compound_id=room.compound_id, room_id=room.room_id,
                               relation="owner", status="approved"))
    await _open(console)
    await _ballot(console, "张三", "同意", "同意", "选好了", "提交")
    assert "共有人张三已提交" in console.last_for("陈阿姨").text
    await _ballot(console, "陈阿姨", "1栋1单元101", "反对", "反对", "选好了", "提交")
    assert "共有人陈阿姨已提交" in console.last_for("张三").text
    async with app.core.sessions() as session:
        ballots = (await session.exec(select(Ballot).where(Ballot.room_id == room.room_id))).all()
    assert len(ballots) == 1 and ballots[0].submitted_by == people["陈阿姨"] and ballots[0].version == 2
    assert sorted(str(v) for v in ballots[0].choices.values()) == ["[]", "no", "no"]


async def test_a_later_window_opens_on_time(console: Console, app: App) -> None:
    console.as_("孙委员")
    await console.say("/assembly")
    await console.say("增设电动自行车充电桩")
    await console.say("在2栋旁增设电动自行车充电桩")
    await console.press("一般事项")
    await console.press("事项录入完毕")
    await console.say("2026-11-24 09:00")
    await console.say("2026-11-26 18:00")
    await console.press("确认并发起")
    assert "将于 2026-11-24 09:00 开始投票" in console.last.text
    assert not [s for s in console.seen_by("孙委员", GROUP) if "充电桩" in s.text]
    await _at(console, "2026-11-24 09:00")
    posting = [s for s in console.seen_by("孙委员", GROUP) if "充电桩" in s.text]
    assert posting and "投票" in posting[-1].labels
    await _ballot(console, "李四", "同意", "提交")
    assert "已记录" in console.last.text
