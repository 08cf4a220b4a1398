"""The needs list: post, support instead of a twin, triage by the secretary, everyone told."""

from __future__ import annotations

from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.needs import Need, NeedSupport, similarity


async def post_need(console: Console, person: str, text: str) -> None:
    console.as_(person)
    await console.say("/need")
    await console.press("助老")
    await console.say(text)


async def test_need_supported_by_three_then_triaged_into_a_task(console: Console, app: App) -> None:
    await post_need(console, "张三", "3栋的独居老人需要每周有人送餐上门")
    await console.press("跳过")
    assert "#1" in console.last.text and "需求清单" in console.last.text
    request = console.last_for("王书记")
    assert "新需求 #1" in request.text and "转为志愿任务" in request.labels

    # A twin is offered for support instead of being posted again.
    await post_need(console, "李四", "独居老人需要每周送餐上门服务")
    assert "类似的需求" in console.last.text
    await console.press("附议 #1")
    assert "您已附议需求 #1" in console.last.text

    for person in ("陈阿姨", "王五"):
        console.as_(person)
        await console.say("/needs")
        assert "送餐" in console.last.text
        await console.press("附议 #1")
        assert "您已附议需求 #1" in console.last.text
    await console.press("附议 #1")
    assert "已经附议过" in console.last.text

    console.as_("陈阿姨")
    await console.say("/needs")
    assert "4 人支持" in console.last.text

    console.as_("王书记")
    await console.press("转为志愿任务")
    for person in ("张三", "李四", "陈阿姨", "王五"):
        assert "将发布为志愿服务任务" in console.last_for(person).text
    async with app.core.sessions() as session:
        need = (await session.exec(select(Need))).one()
        assert (need.status, need.outcome) == ("triaged", "task")
        assert len((await session.exec(select(NeedSupport))).all()) == 3


async def test_bad_input_keeps_the_draft_and_decline_needs_a_reason(console: Console) -> None:
    console.as_("张三")
    await console.say("/need")
    await console.press("设施")
    await console.photo()
    assert "先用文字描述" in console.last.text
    await console.say("太短")
    assert "5–500" in console.last.text
    await console.say("x" * 10_000)
    assert "10000" in console.last.text
    await console.say("儿童游乐场的滑梯坏了需要修理")
    await console.say("/needs")  # a look-up in the middle of a conversation does not lose it
    await console.photo()
    assert "#1" in console.last.text

    console.as_("王五")
    await console.say("/needs")
    console.as_("王书记")
    await console.press("不予受理")
    assert "原因" in console.last.text
    await console.say("滑梯属于开发商保修范围，已转交开发商")
    assert "不予受理" in console.last.text or "需求 #1" in console.last.text
    assert "开发商保修" in console.last_for("张三").text


async def test_a_resident_cannot_triage(console: Console) -> None:
    await post_need(console, "张三", "楼道灯坏了晚上很黑需要修")
    await console.press("跳过")
    console.as_("李四")
    await console.say("/need")
    await console.say("/cancel")
    # The secretary's triage buttons are personal; even a forged press is refused by role on the server.
    triage = console.last_for("王书记")
    token = triage.buttons[0][0].data
    shown = await console._send(button=token)
    assert "给别人" in shown[-1].text


def test_similarity_finds_twins_in_chinese() -> None:
    assert similarity("独居老人需要送餐", "独居老人需要每周送餐上门") > 0.3
    assert similarity("独居老人需要送餐", "滑梯坏了") == 0.0
