"""Proxy voting (委托) through the console: an owner authorises a family member or a neighbour for their rooms in
one assembly; the proxy's ballot is marked and counted once for the room; the owner cannot override it or revoke
after it; a revoked authorisation is refused, also in the middle of a ballot; voting oneself first ends it."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook
from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.assembly import (
    Assembly,
    Ballot,
    Proxy,
    ProxyStatus,
    export_assembly_cli,
    tally,
    tally_ballots,
    tally_motions,
    tally_rooms,
)
from storage.assembly import motions_of as assembly_motions
from storage.db import transaction
from tests.conftest import person_ids
from tests.test_assembly import ledger_rows

CLOSES = "2026-11-30 21:00"


async def _open(console: Console) -> None:
    console.as_("孙委员")
    await console.say("/assembly")
    await console.say("增设电动自行车充电桩")
    await console.say("在2栋旁增设电动自行车充电桩")
    await console.press("一般事项")
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say(CLOSES)
    await console.press("确认并发起")


async def _authorise(console: Console, owner: str, proxy: str) -> None:
    console.as_(owner)
    await console.say("/proxy")
    await console.press("委托投票：增设电动自行车充电桩")
    await console.say(proxy)
    await console.press("确认委托")


async def _ballots(app: App) -> list[Ballot]:
    async with app.core.sessions() as session:
        return list((await session.exec(select(Ballot))).all())


async def test_a_proxy_ballot_is_marked_and_counted_once_for_the_room(console: Console, app: App) -> None:
    people = await person_ids(app)
    await _open(console)
    await _authorise(console, "张三", "13800000007")  # 王五, a tenant of 3栋, by his phone number
    assert "已于" in console.last.text and "王五" in console.last.text
    notice = console.last_for("王五")
    assert "张三委托您" in notice.text and "投票" in notice.labels

    console.as_("王五")
    await console.press("投票")
    await console.press("同意")
    assert "1栋1单元101（受张三委托）" in console.last.text  # the summary says whose room it is voted for
    await console.press("提交")
    assert "已记录" in console.last.text and "1栋1单元101（受张三委托）" in console.last.text
    assert "代您" in console.last_for("张三").text

    # The owner can no longer override the proxy's ballot, nor revoke after it.
    console.as_("张三")
    await console.press("投票")
    await console.press("反对")
    await console.press("提交")
    assert "代理人已代为投票" in console.last.text
    await console.say("/proxy")
    await console.press("撤销委托：增设电动自行车充电桩")
    assert "不能再撤销" in console.last.text

    [ballot] = await _ballots(app)
    assert ballot.proxy_for == people["张三"] and ballot.submitted_by == people["王五"]
    assert list(ballot.choices.values()) == ["yes"]
    async with app.core.sessions() as session:
        assembly = (await session.exec(select(Assembly))).one()
        results = tally(await tally_rooms(session, assembly.compound_id),
                        tally_motions(await assembly_motions(session, assembly.id or 0)),
                        await tally_ballots(session, assembly.id or 0))
    # Counted once, for 张三's room: one owner, its area; 王五's own (rented) room is not counted.
    assert results[0].taking_part.owners == 1 and results[0].yes.owners == 1


async def test_a_revoked_proxy_is_refused(console: Console, app: App) -> None:
    await _open(console)
    await _authorise(console, "李四", "王五")  # by name
    console.as_("王五")
    await console.press("投票")
    await console.press("同意")
    assert "提交" in console.last.labels

    console.as_("李四")
    await console.say("/proxy")
    assert "已于" in console.last.text and "王五" in console.last.text
    await console.press("撤销委托：增设电动自行车充电桩")
    assert "已撤销" in console.last.text
    assert "已撤销委托" in console.last_for("王五").text

    console.as_("王五")
    await console.press("提交")  # the ballot begun before the revocation
    assert "委托已被撤回" in console.last.text
    await console.press("投票")
    assert "委托已撤回" in console.last.text
    assert await _ballots(app) == []

    # Voting oneself first ends an authorisation not yet used.
    await _authorise(console, "陈阿姨", "王书记")
    await console.press("投票")
    await console.press("同意")
    await console.press("提交")
    assert "亲自投票" in console.last_for("王书记").text
    async with app.core.sessions() as session:
        statuses = sorted(p.status for p in (await session.exec(select(Proxy))).all())
    assert statuses == [ProxyStatus.ENDED, ProxyStatus.REVOKED]
    console.as_("王书记")  # an owner himself: his own room only now
    await console.press("投票")
    assert "选择" not in console.last.text and "同意" in console.last.labels


async def test_the_export_shows_the_proxy(console: Console, app: App, tmp_path: Path) -> None:
    await _open(console)
    await _authorise(console, "张三", "王五")
    console.as_("王五")
    await console.press("投票")
    await console.press("同意")
    await console.press("提交")
    async with app.core.sessions() as session:
        assembly = (await session.exec(select(Assembly))).one()
    out = tmp_path / "ballots.xlsx"
    assert await export_assembly_cli(app.settings.database_url, assembly.id or 0, out) == 0
    [row] = ledger_rows(load_workbook(out)["投票明细"])
    assert row["投票方式"] == "代投：王五（受张三委托）" and row["提交人"] == "王五" and row["业主"] == "张三"


async def test_a_word_to_several_owners_is_in_each_ones_language(app: App) -> None:
    """`_tell` reads the languages of everyone it writes to at once, and each hears it in their own."""
    from bot.core.context import JobContext
    from handlers.assembly import PROXY_ENDED, _tell
    from storage.people import Person

    people = await person_ids(app)
    async with transaction(app.core.sessions) as session:
        english = await session.get(Person, people["张三"])
        assert english is not None
        english.language = "en"
        session.add(english)
    async with transaction(app.core.sessions) as session:
        replies = await _tell(JobContext(app.core, session, app.core.clock.now()), [people["张三"], people["李四"]],
                              PROXY_ENDED, name="王五", title="更换电梯")
    assert [reply.text for reply in replies] == [
        "王五 voted in 更换电梯 themselves, so your authorisation to vote for their rooms has ended.",
        "王五已在“更换电梯”中亲自投票，您代其投票的委托随之终止。"]
