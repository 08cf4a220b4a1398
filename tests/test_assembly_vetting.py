"""Vetting an election's candidates (党支部把关 / 资格联审) through the console: the secretary approves or rejects
each with a reason before the ballot; only the approved appear on it; the vetted list goes to the group without
the reasons; where the compound says so, an official's second approval is needed too."""

from __future__ import annotations

from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.assembly import Assembly, AssemblyStatus, CandidateVetting, Vetting
from storage.compounds import Compound
from storage.db import transaction
from storage.people import Role
from tests.conftest import add_console_person
from tests.test_pdfs import text_of

GROUP = "幸福里业主群"


async def _open_election(console: Console, opener: str = "王书记") -> None:
    console.as_(opener)
    await console.say("/assembly")
    await console.say("第三届业主委员会换届选举")
    await console.press("添加选举")
    await console.say("赵大、钱二、孙三")
    await console.say("2")
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say("2026-11-30 21:00")
    await console.press("确认并发起")


async def _assembly(app: App) -> Assembly:
    async with app.core.sessions() as session:
        return (await session.exec(select(Assembly))).one()


async def _decide(console: Console, person: str, name: str, decision: str, reason: str | None) -> None:
    console.as_(person)
    await console.say("/vet")
    await console.press(name)
    await console.press(decision)
    if reason is None:
        await console.press("符合任职条件")
    else:
        await console.say(reason)


async def test_a_rejected_candidate_is_absent_from_the_ballot(console: Console, app: App) -> None:
    await _open_election(console, "孙委员")  # a committee member opens it; the secretary vets
    assert "资格审核" in console.last.text
    assert "审核候选人" in console.last_for("王书记").labels
    assert (await _assembly(app)).status == AssemblyStatus.SCHEDULED
    assert not [s for s in console.seen_by("王书记", GROUP) if "换届选举" in s.text]  # no ballot yet

    # Not everyone may vet.
    console.as_("张三")
    await console.say("/vet")
    assert "只有" in console.last.text

    await _decide(console, "王书记", "赵大", "通过", None)
    assert "赵大：审核通过" in console.last.text and "还有 2 位候选人" in console.last.text
    await _decide(console, "王书记", "钱二", "不通过", "拖欠物业费三年，不符合任职条件")
    assert (await _assembly(app)).status == AssemblyStatus.SCHEDULED  # 孙三 is still undecided
    # A stale button: 钱二 is decided already.
    await console.say("/vet")
    assert "钱二" not in console.last.labels
    await _decide(console, "王书记", "孙三", "通过", "热心公益，群众基础好")

    vetted = [s for s in console.seen_by("王书记", GROUP) if "资格审核结果" in s.text][-1].text
    assert "赵大、孙三" in vetted and "未通过审核：钱二" in vetted and "拖欠" not in vetted
    assert any("拖欠物业费三年" in s.text for s in console.seen_by("孙委员", "private"))  # told to the committee
    assembly = await _assembly(app)
    assert assembly.status == AssemblyStatus.OPEN

    # The motion names the approved candidates only, wherever it is shown: the group posting, the ballot's title
    # and the printed paper ballot.
    posting = [s for s in console.seen_by("王书记", GROUP) if "业主大会" in s.text and "投票时间" in s.text][-1].text
    assert "赵大、孙三" in posting and "钱二" not in posting
    console.as_("张三")
    await console.press("投票")
    labels = console.last.labels
    assert "赵大" in labels and "孙三" in labels and "钱二" not in labels
    assert "选举：赵大、孙三" in console.last.text and "钱二" not in console.last.text
    console.as_("王书记")
    await console.say("/results")
    await console.press("打印表决票 #1（PDF）")
    pages = text_of(console.transport.documents[-1][1])
    assert "赵大" in pages[0] and "孙三" in pages[0] and "钱二" not in pages[0]
    async with app.core.sessions() as session:
        vettings = (await session.exec(select(CandidateVetting).order_by(CandidateVetting.position))).all()
    assert [v.status for v in vettings] == [Vetting.APPROVED, Vetting.REJECTED, Vetting.APPROVED]
    assert vettings[1].branch_reason == "拖欠物业费三年，不符合任职条件"


async def test_the_street_approves_second_where_the_compound_says_so(console: Console, app: App) -> None:
    async with transaction(app.core.sessions) as session:
        compound = await session.get(Compound, 1)
        assert compound is not None
        compound.settings = {**compound.settings, "assembly.vetting_by_official": True}
        session.add(compound)
    await add_console_person(app, "街道刘科长", 1, Role.OFFICIAL)
    await _open_election(console)
    for name in ("赵大", "钱二", "孙三"):
        await _decide(console, "王书记", name, "通过", None)
    assert (await _assembly(app)).status == AssemblyStatus.SCHEDULED  # the branch alone is not enough here
    assert "审核候选人" in console.last_for("街道刘科长").labels
    console.as_("王书记")
    await console.say("/vet")
    assert "没有等待您审核" in console.last.text

    await _decide(console, "街道刘科长", "赵大", "通过", None)
    await _decide(console, "街道刘科长", "钱二", "通过", None)
    await _decide(console, "街道刘科长", "孙三", "不通过", "经联审，存在违法建设未整改")
    assert (await _assembly(app)).status == AssemblyStatus.OPEN
    vetted = [s for s in console.seen_by("王书记", GROUP) if "资格审核结果" in s.text][-1].text
    assert "赵大、钱二" in vetted and "未通过审核：孙三" in vetted
    console.as_("李四")
    await console.press("投票")
    assert "孙三" not in console.last.labels and "钱二" in console.last.labels
