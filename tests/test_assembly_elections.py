"""Elections: a valid election that fills 1 of 3 seats names the 2 vacant seats and what follows, and the
committee creates the by-election of the vacant seats from the result with one press."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.assembly import ELECTION, Motion
from storage.compounds import Compound, set_compound_setting
from storage.db import transaction
from tests.test_assembly_headcount import GROUP, close, roster_compound


async def _elect(console: Console, person: str, *names: str) -> None:
    console.as_(person)
    console.in_(GROUP)
    await console.press("投票")
    for name in names:
        await console.press(name)
    await console.press("选好了")
    await console.press("提交")
    assert "已记录" in console.last.text, console.last.text


async def test_vacant_seats_are_named_and_a_by_election_is_one_press(console: Console, app: App,
                                                                     tmp_path: Path) -> None:
    compound_id = await roster_compound(app, tmp_path)
    async with transaction(app.core.sessions) as session:
        compound = await session.get(Compound, compound_id)
        assert compound is not None
        set_compound_setting(compound, "assembly.candidate_vetting", "false")  # no vetting in this story
        session.add(compound)
    console.as_("周书记")
    await console.say("/assembly")
    await console.say("第一届业主委员会选举")
    await console.press("添加选举")
    await console.say("赵大、钱二、孙三")
    await console.say("3")
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say("2026-11-24 21:00")
    await console.press("确认并发起")
    # 3 of the 4 owners (老周 does not vote) with 300 of 450 m²: valid; only 赵大 is approved by more than half.
    await _elect(console, "甲", "赵大", "钱二")
    await _elect(console, "乙", "赵大")
    await _elect(console, "丙", "赵大", "孙三")
    result = await close(console)
    assert "选举有效，但应选 3 名仅当选 1 名，空缺 2 名" in result
    assert "空缺席位：应选 3 名，空缺 2 名" in result and "补选" in result

    console.as_("周书记")
    await console.say("/results")
    await console.press("结果")
    assert "空缺 2 名" in console.last.text
    await console.press("第 1 项发起补选")
    prepared = console.seen_by()[-2].text
    assert "第一届业主委员会选举·补选" in prepared and "补选 2 名：钱二、孙三" in prepared
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say("2026-11-30 21:00")
    await console.press("确认并发起")
    async with app.core.sessions() as session:
        motions = (await session.exec(select(Motion).where(Motion.kind == ELECTION).order_by(Motion.id))).all()
    first, by_election = motions
    assert by_election.seats == 2 and by_election.candidates == ["钱二", "孙三"]
    assert by_election.options["by_election_of"] == first.id


async def test_a_filled_election_has_no_by_election(console: Console, app: App, tmp_path: Path) -> None:
    compound_id = await roster_compound(app, tmp_path)
    async with transaction(app.core.sessions) as session:
        compound = await session.get(Compound, compound_id)
        assert compound is not None
        set_compound_setting(compound, "assembly.candidate_vetting", "false")
        session.add(compound)
    console.as_("周书记")
    await console.say("/assembly")
    await console.say("补选业主委员会委员")
    await console.press("添加选举")
    await console.say("赵大、钱二")
    await console.say("1")
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say("2026-11-24 21:00")
    await console.press("确认并发起")
    for person in ("甲", "乙", "丙"):
        await _elect(console, person, "赵大")
    result = await close(console)
    assert "结果：选举有效，应选 1 名均已当选" in result and "空缺" not in result
    console.as_("周书记")
    await console.say("/results")
    await console.press("结果")
    assert not [label for label in console.last.labels if "补选" in label]
