"""Mediation (调解委员会) of a neighbour dispute at the compound level, through the console as the people involved
would: the secretary refers the dispute, the mediators are told, one records an agreement with its signed document,
which appears on the case's card and goes to the reporter, and the case is then resolved; a failed mediation sends
the case to the secretary; a non-mediator is refused, a stale button does nothing, an anonymous case or another
category cannot go to mediation."""

from __future__ import annotations

from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage import complaints as store
from storage.access_log import Access
from storage.complaints import Case, Event, MediationOutcome, State
from storage.db import transaction
from storage.people import Role
from tests.conftest import person_ids, revoke_role
from tests.test_complaints import file_case

AGREEMENT_PDF = b"%PDF-1.4\n% mediation agreement signed by both parties\n%%EOF\n"


async def mediators(console: Console, app: App, *names: str) -> None:
    ids = await person_ids(app)
    console.as_("王书记")
    for name in names:
        await console.say(f"/grant {ids[name]} mediator")


async def case_of(app: App, number: str) -> Case:
    async with app.core.sessions() as session:
        return (await session.exec(select(Case).where(Case.number == number))).one()


async def refer(console: Console, number: str, note: str = "双方同意到调解室面谈") -> None:
    console.as_("王书记")
    await console.say(f"/case {number}")
    await console.press("提交调解")
    await console.say(note)


async def test_a_dispute_mediated_with_an_agreement_document(console: Console, app: App) -> None:
    await mediators(console, app, "陈阿姨", "李四")
    number = await file_case(console, "张三", "邻里纠纷", "楼上邻居空调外机滴水到我家阳台，沟通多次未果。",
                             place="公共区域")
    case = await case_of(app, number)
    assert case.level == 2 and case.category == "neighbour"
    await refer(console, number)
    assert "已提交调解委员会" in console.last_for("王书记").text
    assert "调解员会与您联系" in console.last_for("张三").text
    for mediator in ("陈阿姨", "李四"):  # each mediator gets the case, with the reporter to contact
        told = console.last_for(mediator)
        assert number in told.text and "张三" in told.text and "登记调解结果" in told.labels
    assert (await case_of(app, number)).state == State.ACCEPTED

    # 陈阿姨 records the agreement with the signed document; a photo-less text on the document step is refused.
    console.as_("陈阿姨")
    await console.press("登记调解结果")
    await console.press("达成协议")
    await console.say("协议在这里")
    assert "口头协议" in " ".join(console.last.labels)
    await console.document("调解协议书.pdf", data=AGREEMENT_PDF)
    await console.say("楼上住户三日内加装空调冷凝水管，张三不再追究。")
    assert "已登记" in console.last.text
    reporter = console.last_for("张三")
    assert "达成协议" in reporter.text and "加装空调冷凝水管" in reporter.text and reporter.has_document
    assert console.transport.documents[-1] == ("调解协议书.pdf", AGREEMENT_PDF)
    handler = console.last_for("王书记")
    assert "可以办结" in handler.text and "办结" in handler.labels

    # The agreement is on the case's card and its timeline, and its document is there to see.
    console.as_("张三")
    await console.say(f"/case {number}")
    card = console.last.text
    assert "达成调解协议" in card and "📎 调解协议书.pdf" in card and "加装空调冷凝水管" in card
    await console.press("查看调解协议")
    assert console.last.has_document and console.transport.documents[-1][1] == AGREEMENT_PDF

    # The other mediator's button is stale now: the outcome was recorded once.
    console.as_("李四")
    await console.press("登记调解结果")
    assert "已经登记过" in console.last.text

    # And the case can be resolved.
    console.as_("王书记")
    await console.say(f"/case {number}")
    await console.press("办结")
    await console.say("已按调解协议整改完毕。")
    await console.press("不附照片")
    assert (await case_of(app, number)).state == State.RESOLVED
    ids = await person_ids(app)
    async with app.core.sessions() as session:
        mediation = await store.mediation_of(session, case.stored_id)
        assert mediation is not None and mediation.outcome == MediationOutcome.AGREED
        assert await store.agreement_document(session, mediation) == ("调解协议书.pdf", "application/pdf")
        events = [e.event for e in await store.history(session, case.stored_id)]
        assert [e for e in events if e in (Event.MEDIATE, Event.AGREEMENT, Event.RESOLVE)] == [
            Event.MEDIATE, Event.AGREEMENT, Event.RESOLVE]
        # The mediators were shown the reporter's name and phone to bring the parties together: logged.
        shown = (await session.exec(select(Access).where(Access.case_id == case.id,
                                                         Access.viewer_id == ids["陈阿姨"]))).all()
        assert shown


async def test_a_non_mediator_is_refused_and_a_stale_button_does_nothing(console: Console, app: App) -> None:
    await mediators(console, app, "陈阿姨", "李四")
    number = await file_case(console, "张三", "邻里纠纷", "隔壁在楼道堆放杂物，影响通行。", place="公共区域")
    console.as_("王书记")
    await console.say(f"/case {number}")
    await console.press("提交调解")
    await console.press("不加说明")
    # The secretary's old card still has the button: it is stale now, and nothing changes.
    version = (await case_of(app, number)).version
    await console.press("提交调解")
    assert "已有新进展" in console.last.text
    assert (await case_of(app, number)).version == version
    await console.say(f"/case {number}")
    assert "提交调解" not in console.last.labels  # referred once

    # 李四 is no longer a mediator: his button is refused, the case unchanged.
    await revoke_role(app, "李四", Role.MEDIATOR)
    console.as_("李四")
    await console.press("登记调解结果")
    assert console.last.text.startswith("抱歉")
    # Nor can a resident look the referred case up.
    await console.say(f"/case {number}")
    assert "没有找到" in console.last.text

    # 陈阿姨 records a failed mediation: the case goes to the secretary, who may blow the whistle.
    console.as_("陈阿姨")
    await console.press("登记调解结果")
    await console.press("未达成协议")
    await console.say("x" * 10_000)  # too long: refused, the step kept
    await console.say("双方分歧较大，拒绝调解。")
    assert "转交支部书记" in console.last.text
    assert "调解未达成协议" in console.last_for("王书记").text
    assert "吹哨（呼叫部门）" in console.last_for("王书记").labels
    assert "调解未达成协议" in console.last_for("张三").text
    found = await case_of(app, number)
    ids = await person_ids(app)
    assert found.state == State.OPEN and found.handler_id == ids["王书记"]


async def test_only_a_named_neighbour_dispute_at_the_compound_level(console: Console, app: App) -> None:
    ids = await person_ids(app)
    noise = await file_case(console, "张三", "噪音", "楼上每天夜里还在装修，电钻声很大。", place="公共区域")
    secret = await file_case(console, "李四", "邻里纠纷", "邻居的狗每天夜里叫，影响休息。", place="公共区域",
                             anonymous=True)
    console.as_("王书记")
    await console.say(f"/case {noise}")
    assert "提交调解" not in console.last.labels
    await console.say(f"/case {secret}")
    assert "提交调解" not in console.last.labels  # no committee yet, and anonymous anyway
    async with transaction(app.core.sessions) as session:
        case = (await session.exec(select(Case).where(Case.number == secret))).one()
        roles = frozenset({Role.SECRETARY})
        assert await store.mediation_refusal(session, case, ids["王书记"], 1, roles) == store.Acted.ANONYMOUS
        other = (await session.exec(select(Case).where(Case.number == noise))).one()
        assert await store.mediation_refusal(session, other, ids["王书记"], 1, roles) == store.Acted.NOT_MEDIABLE
        assert await store.refer_to_mediation(session, other, ids["王书记"], app.core.clock.now()) \
            == store.Acted.NOT_MEDIABLE
    # A named dispute with no mediation committee: the button is not offered until someone is a mediator.
    named = await file_case(console, "李四", "邻里纠纷", "邻居的狗每天夜里叫，影响休息。", place="公共区域")
    console.as_("王书记")
    await console.say(f"/case {named}")
    assert "提交调解" not in console.last.labels
    await mediators(console, app, "陈阿姨")
    await console.say(f"/case {named}")
    assert "提交调解" in console.last.labels
