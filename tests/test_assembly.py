"""Owners' assemblies through the console: opening, the group posting, ballots (several rooms, a change, a
double Submit, paper), refusals (tenant, after the close), reminders at the moved clock, closing and result;
then the flows' guards (a role revoked or the compound switched mid-flow), times typed as people type them,
numbers that only look like digits, a second paper ballot, and the motion the property grades prepare."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import col, select

from bot.app import App
from bot.cli import build_parser
from bot.transports.console import Console
from storage.assembly import (
    Assembly,
    AssemblyStatus,
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
from storage.people import Membership, MembershipStatus, Role
from tests.conftest import person_ids, revoke_role, second_compound, switch_to

GROUP = "幸福里业主群"
CLOSES = "2026-11-24 21:00"


async def _at(console: Console, when: str) -> None:
    """Jump to just before `when` (Shanghai time), then let the clock run through it in its usual steps: the
    days in between hold nothing for this feature, and stepping through them would make the test slow."""
    target = datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    console.app.core.clock.set(target - timedelta(minutes=10))
    await console.clock_to("+20m")


def ledger_rows(sheet: Worksheet) -> list[dict[str, object]]:
    """A ledger sheet's rows by their headers (the header row is the one starting with 序号)."""
    rows = list(sheet.iter_rows(values_only=True))
    at = next(i for i, row in enumerate(rows) if row[0] == "序号")
    return [dict(zip(rows[at], row, strict=True)) for row in rows[at + 1:]]


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
    await console.press("确认并发起")
    assert "资格审核" in console.last.text
    for name in ("赵大", "钱二", "孙三"):  # the party branch vets the candidates; voting opens after the last
        await console.say("/vet")
        await console.press(name)
        await console.press("通过")
        shown = await console.press("符合任职条件")
    assert any("资格审核结果" in s.text for s in shown if s.chat_id == f"g:{GROUP}")
    assert any("正在投票" in s.text for s in shown if s.chat_id == "p:王书记")


async def _ballot(console: Console, person: str, *presses: str, via_group: bool = False) -> str:
    console.as_(person)
    if via_group:
        console.in_(GROUP)
    await console.press("投票")  # from the group posting: a link into a private chat of the presser's own
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
    assert "只有幸福里的业主" in console.last.text

    async with app.core.sessions() as session:
        ballots = (await session.exec(select(Ballot))).all()
        history = (await session.exec(select(BallotHistory))).all()
        assembly = (await session.exec(select(Assembly))).one()
    assert len(ballots) == 10 + 10 + 7 + 1 + 1
    assert len(history) == 7  # 陈阿姨's seven rooms changed once; the double Submit added nothing
    assert sum(b.paper for b in ballots) == 1

    # Reminders: 孙委员 alone has not voted. A 36-hour vote: after the opening word, 24 h before the close
    # (2026-11-23 21:00) and halfway (2026-11-24 03:00); 48 h before would be before the opening. Each slot once.
    def reminders(person: str) -> int:
        return len([s for s in console.seen_by(person, "private") if "温馨提醒" in s.text])

    await _at(console, "2026-11-23 19:00")
    assert reminders("孙委员") == 0  # no daily reminder
    await _at(console, "2026-11-23 21:00")
    assert reminders("孙委员") == 1 and "2栋2单元302" in console.last_for("孙委员").text
    assert "不再提醒" in console.last_for("孙委员").labels
    await console.clock_to("+30m")
    assert reminders("孙委员") == 1
    await _at(console, "2026-11-24 03:00")
    assert reminders("孙委员") == 2
    await _at(console, "2026-11-24 19:00")
    assert reminders("孙委员") == 2 and reminders("张三") == 0

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

    # The ledger for 公示: Chinese headers and values, the compound's time, every Art. 278 figure per motion.
    out = tmp_path / "ballots.xlsx"
    assert await export_assembly_cli(app.settings.database_url, assembly.id or 0, out) == 0
    book = load_workbook(out)
    assert book.sheetnames == ["计票", "投票明细"]
    ballots = ledger_rows(book["投票明细"])
    assert len(ballots) == 29 * 3
    paper = [r for r in ballots if r["房号"] == "1栋2单元201"]
    assert {r["投票方式"] for r in paper} == {"书面表决票"} and paper[0]["业主"] == "李楼长"
    assert paper[0]["表决意见"] == "同意" and paper[0]["提交人"] == "孙委员"
    assert paper[0]["提交时间"] == datetime(2026, 11, 23, 9, 0)  # Shanghai time (01:00 in UTC)
    assert {r["投票方式"] for r in ballots} == {"线上投票", "书面表决票"}
    first, second, election, *candidates = ledger_rows(book["计票"])
    whole = results[0].total
    assert first["事项类别"] == "一般事项" and first["表决范围"] == "全小区业主"
    assert first["业主总人数"] == 7 and first["参与表决人数"] == 5
    assert first["专有部分总面积（m²）"] == round(float(whole.area), 2)
    assert first["参与人数占比"] == float(Fraction(5, 7)) and first["是否达到参与门槛"] == "是"
    assert first["参与表决门槛"] == "专有面积和业主人数均达 2/3 以上"
    assert first["同意人数"] == 4 and first["通过门槛"] == "参与表决面积和人数均过半数"
    assert first["表决结果"] == "通过"
    assert second["事项类别"] == "特别事项" and second["通过门槛"] == "参与表决面积和人数均达 3/4 以上"
    assert second["同意面积（m²）"] == round(float(results[1].yes.area), 2) and second["表决结果"] == "未通过"
    assert election["表决结果"] == "选举有效" and election["同意人数"] is None
    # 钱二 is approved by 3 of the 5 owners taking part, 赵大 by 2 and 孙三 by 1: one of the two seats is filled.
    assert {c["表决事项或候选人"]: (c["同意人数"], c["表决结果"]) for c in candidates} == {
        "3. 赵大": (2, "未当选"), "3. 钱二": (3, "当选"), "3. 孙三": (1, "未当选")}
    assert await export_assembly_cli(app.settings.database_url, 999, out) == 1


async def test_turnout_below_two_thirds_fails_with_the_reason(console: Console, app: App) -> None:
    await _open(console)
    # Only the six demo owners own rooms; the other 30 rooms count as 30 owners without ballots.
    await _ballot(console, "张三", "同意", "同意", "选好了", "提交")
    await _at(console, CLOSES)
    result = [s for s in console.seen_by("王书记", GROUP) if "表决结果" in s.text][-1].text  # then the 公示 notice
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


# ---- the flows' guards: a role revoked, the compound switched, in the middle ------------------------------

CRASH = "系统出了点问题"
ROLE_CHANGED = "身份已有变化"


async def _assemblies(app: App) -> list[Assembly]:
    async with app.core.sessions() as session:
        return list((await session.exec(select(Assembly))).all())


async def _ballots(app: App) -> list[Ballot]:
    async with app.core.sessions() as session:
        return list((await session.exec(select(Ballot))).all())


async def _up_to_confirm(console: Console, person: str = "王书记") -> None:
    console.as_(person)
    await console.say("/assembly")
    await console.say("增设电动自行车充电桩")
    await console.say("在2栋旁增设电动自行车充电桩")
    await console.press("一般事项")
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say(CLOSES)
    assert "确认并发起" in console.last.labels


async def test_a_revoked_role_ends_the_assembly_flow_and_opens_nothing(console: Console, app: App) -> None:
    """Defect 2: the flow used to open the assembly though the secretary's role was gone by the last step."""
    await _up_to_confirm(console)
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.press("确认并发起")
    assert ROLE_CHANGED in console.last.text
    assert await _assemblies(app) == []
    assert not [s for s in console.seen_by("王书记", GROUP) if "充电桩" in s.text]


async def test_switching_compound_mid_flow_opens_the_assembly_where_it_began(console: Console, app: App) -> None:
    """Defect 3: /compound in the middle used to open the assembly in the other compound, where 王书记 is only
    a tenant. The flow stays in 幸福里, where it began and where 王书记 is the secretary."""
    await second_compound(app, ("王书记", ()))
    await _up_to_confirm(console)
    await switch_to(console, "和平苑")
    shown = await console.press("确认并发起")
    assert any("已开始投票" in s.text for s in shown if s.chat_id == "p:王书记")
    [assembly] = await _assemblies(app)
    assert assembly.compound_id == 1 and assembly.status == AssemblyStatus.OPEN
    assert [s for s in console.seen_by("王书记", GROUP) if "充电桩" in s.text]


async def _cancel_asked(console: Console) -> None:
    await _open(console)
    await console.say("/results")
    await console.press("取消")
    assert "理由" in console.last.text


async def test_a_revoked_role_ends_the_cancelling_and_cancels_nothing(console: Console, app: App) -> None:
    await _cancel_asked(console)
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.say("议题需要重新征求意见")
    assert ROLE_CHANGED in console.last.text
    [assembly] = await _assemblies(app)
    assert assembly.status == AssemblyStatus.OPEN and assembly.cancel_reason == ""
    assert "议题需要重新征求意见" not in console.last_for("张三").text


async def test_switching_compound_mid_cancelling_cancels_the_assembly_it_began_with(console: Console,
                                                                                     app: App) -> None:
    await second_compound(app, ("王书记", ()))
    await _cancel_asked(console)
    await switch_to(console, "和平苑")
    await console.say("议题需要重新征求意见")
    assert "已取消" in console.last.text
    [assembly] = await _assemblies(app)
    assert assembly.compound_id == 1 and assembly.status == AssemblyStatus.CANCELLED
    assert "议题需要重新征求意见" in console.seen_by("王书记", GROUP)[-1].text


async def _paper_ballot_begun(console: Console, room: str = "1栋2单元201", switch: bool = False) -> None:
    await _open(console)
    console.as_("孙委员")
    await console.say("/paperballot")
    assert "哪一户" in console.last.text
    if switch:
        await switch_to(console, "和平苑")
    await console.say(room)
    for label in ("同意", "同意", "钱二", "选好了"):
        await console.press(label)
    assert "提交" in console.last.labels


async def test_a_revoked_role_ends_the_paper_ballot_and_records_nothing(console: Console, app: App) -> None:
    await _paper_ballot_begun(console)
    await revoke_role(app, "孙委员", Role.COMMITTEE)
    await console.press("提交")
    assert ROLE_CHANGED in console.last.text
    assert await _ballots(app) == []


async def test_switching_compound_mid_paper_ballot_keeps_its_room_in_its_compound(console: Console,
                                                                                  app: App) -> None:
    """和平苑 has a 1栋1单元101 too: the room typed after the switch used to be looked up there, and the ballot of
    幸福里's assembly went to a room of the other compound."""
    await second_compound(app, ("孙委员", ()))
    await _paper_ballot_begun(console, room="1栋1单元101", switch=True)
    await console.press("提交")
    assert "书面表决票已录入" in console.last.text
    [ballot] = await _ballots(app)
    async with app.core.sessions() as session:
        room = await session.get(Room, ballot.room_id)
    assert room is not None and room.compound_id == 1 and room.number == "101" and ballot.paper


async def test_an_owner_who_leaves_mid_ballot_casts_nothing(console: Console, app: App) -> None:
    await _open(console)
    await _ballot(console, "陈阿姨", "同意", "同意")
    people = await person_ids(app)
    async with transaction(app.core.sessions) as session:
        for membership in (await session.exec(select(Membership).where(
                Membership.person_id == people["陈阿姨"]))).all():
            membership.status = MembershipStatus.LEFT
            session.add(membership)
    await console.press("选好了")
    assert ROLE_CHANGED in console.last.text
    assert await _ballots(app) == []


async def test_switching_compound_mid_ballot_votes_in_the_assemblys_compound(console: Console, app: App) -> None:
    await second_compound(app, ("陈阿姨", ()))
    await _open(console)
    await _ballot(console, "陈阿姨", "同意")
    await switch_to(console, "和平苑")
    for label in ("反对", "孙三", "选好了", "提交"):
        await console.press(label)
    assert "已记录" in console.last.text
    [ballot] = await _ballots(app)
    async with app.core.sessions() as session:
        room = await session.get(Room, ballot.room_id)
    assert room is not None and room.compound_id == 1 and ballot.submitted_by == (await person_ids(app))["陈阿姨"]


async def test_a_stranger_cannot_vote(console: Console, app: App) -> None:
    await _open(console)
    console.as_("陌生人")
    console.in_(GROUP)
    await console.press("投票")
    assert "只有幸福里的业主" in console.last.text
    assert await _ballots(app) == []


# ---- times as people type them, numbers that only look like digits, a second ballot ---------------------


async def test_times_typed_as_people_type_them_in_december(console: Console, app: App) -> None:
    """Defect 4: 明天 20:00 and 周六 9:00 were refused, and in December "01-10 20:00" (next January) was read
    as this January and refused with a message about the window. Every time read is echoed in full."""
    app.core.clock.set(datetime(2026, 12, 20, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")))  # a Sunday
    console.as_("王书记")
    await console.say("/assembly")
    await console.say("2027年第一次业主大会")
    await console.say("选聘新的物业服务企业")
    await console.press("一般事项")
    await console.press("事项录入完毕")
    await console.say("明天 20:00")
    assert "2026-12-21 周一 20:00" in console.last.text
    await console.say("明天 20:30")  # too short a window: it says what is wrong, both times in full
    assert "不足一小时" in console.last.text and "2026-12-21 周一 20:30" in console.last.text
    await console.say("01-10 20:00")
    assert "2027-01-10 周日 20:00" in console.last.text and "2026-12-21 周一 20:00" in console.last.text
    await console.press("确认并发起")
    assert "将于 2026-12-21 20:00 开始投票" in console.last.text
    [assembly] = await _assemblies(app)
    shanghai = ZoneInfo("Asia/Shanghai")
    assert assembly.opens_at == datetime(2026, 12, 21, 20, 0, tzinfo=shanghai)
    assert assembly.closes_at == datetime(2027, 1, 10, 20, 0, tzinfo=shanghai)

    await console.say("/assembly")
    await console.say("临时业主大会")
    await console.say("增设充电桩")
    await console.press("一般事项")
    await console.press("事项录入完毕")
    await console.say("周六 9:00")
    assert "2026-12-26 周六 09:00" in console.last.text
    await console.say("周五 9:00")  # the Friday before: closes before it opens
    assert "不晚于开始时间" in console.last.text and "2026-12-25 周五 09:00" in console.last.text
    await console.say("12月30日 上午9点")
    assert "2026-12-30 周三 09:00" in console.last.text and "确认并发起" in console.last.labels


async def test_seats_refuse_digits_that_are_not_digits(console: Console, app: App) -> None:
    """Defect 7: ² and ① passed `.isdigit()` and crashed the seats step; now refused, the draft kept."""
    console.as_("王书记")
    await console.say("/assembly")
    await console.say("换届选举")
    await console.press("添加选举")
    await console.say("赵大、钱二、孙三")
    for typed in ("²", "①", "12345678901234567890", "二", "0"):
        await console.say(typed)
        assert CRASH not in console.last.text and "整数" in console.last.text
    await console.say("２")  # full-width digits are digits
    assert "已添加第 1 项" in console.last.text
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say(CLOSES)
    assert "应选 2 名" in console.last.text


async def test_bad_answers_keep_the_draft(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/assembly")
    await console.photo()
    assert "标题" in console.last.text
    await console.say("第一次\x1b业主大会\ud800")
    await console.say("议" * 10_000)
    assert "1000" in console.last.text
    await console.say("选聘新的物业服务企业")
    await console.say("一般")  # not a button's label
    assert "按钮" in console.last.text
    await console.press("一般事项")
    await console.press("事项录入完毕")
    await console.say("下下周八")
    assert "2026-12-05 09:00" in console.last.text  # the examples of what is understood
    await console.press("立即开始")
    await console.say(CLOSES)
    await console.press("确认并发起")
    [assembly] = await _assemblies(app)
    assert assembly.title == "第一次业主大会"


async def test_a_second_paper_ballot_for_a_room_is_refused(console: Console, app: App) -> None:
    """A room has one ballot: the unique key keeps it, and storage says why a second paper ballot is not
    entered instead of overwriting the first."""
    await _paper_ballot_begun(console)
    await console.press("提交")
    assert "书面表决票已录入" in console.last.text
    console.as_("王书记")
    await console.say("/paperballot")
    await console.say("1栋2单元201")
    for label in ("反对", "反对", "选好了", "提交"):
        await console.press(label)
    assert "已录入过书面表决票" in console.last.text and CRASH not in console.last.text
    [ballot] = await _ballots(app)
    assert ballot.version == 1 and sorted(map(str, ballot.choices.values())) == ["[1]", "yes", "yes"]


async def test_the_motion_the_property_grades_prepare_opens_an_assembly(console: Console, app: App) -> None:
    """handlers/property.py hands its prepared motion to start_prepared_assembly: the secretary reviews it and
    sets the window as in /assembly."""
    from bot.core.context import JobContext
    from bot.core.types import Button, Reply, ToPerson

    people = await person_ids(app)
    async with transaction(app.core.sessions) as session:
        job = JobContext(app.core, session, app.core.clock.now())
        await app.core.emit_job(job, Reply("连续两次 C", buttons=((Button.do(
            "发起更换物业的业主大会", "property.motion", assessment=1),),), to=ToPerson(people["王书记"])))
    await console.clock_to("+1m")
    console.as_("王书记")
    await console.press("发起更换物业的业主大会")
    prepared = console.seen_by()[-2].text
    assert "更换物业服务企业" in prepared and "一般事项" in prepared
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say(CLOSES)
    await console.press("确认并发起")
    [assembly] = await _assemblies(app)
    async with app.core.sessions() as session:
        [motion] = await assembly_motions(session, assembly.id or 0)
    assert assembly.status == AssemblyStatus.OPEN and "更换物业服务企业" in motion.text


def test_the_export_command_says_what_it_writes(capsys: pytest.CaptureFixture[str]) -> None:
    """`linli export --help` describes the assembly's ledger as it is: the tally and the ballots, for 公示."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "--help"])
    described = " ".join(capsys.readouterr().out.split())
    assert "tally sheet" in described and "proxy" in described and "公示" in described
