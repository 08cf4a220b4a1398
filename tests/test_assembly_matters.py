"""Matter classes follow Civil Code Art. 278: the classification buttons are the law's nine items, items 6–8
(raising maintenance funds, rebuilding — 加装电梯 is 改建 — and changing the use of common parts or running a
business with them) are special, the rest ordinary; the secretary may mark an ordinary matter special, never a
special one ordinary."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.assembly import (
    ORDINARY,
    SPECIAL,
    Matter,
    MotionSpec,
    kind_of,
    motions_of,
    open_assembly,
    suggest_matter,
)
from storage.compounds import Compound
from storage.db import transaction

CLOSES = "2026-11-24 21:00"


async def _motions(app: App) -> list[tuple[str, str, str]]:
    from storage.assembly import Motion

    async with app.core.sessions() as session:
        return [(m.text, m.kind, m.matter) for m in (await session.exec(select(Motion).order_by(Motion.id))).all()]


def test_the_law_decides_the_class_of_each_item() -> None:
    assert [m for m in Matter if kind_of(m) == SPECIAL] == [Matter.RAISE_FUNDS, Matter.REBUILD, Matter.COMMON_USE]
    assert kind_of(Matter.USE_FUNDS) == ORDINARY  # Art. 278 item 5: ordinary since the Civil Code
    assert kind_of(Matter.MANAGER, marked_special=True) == SPECIAL
    assert suggest_matter("1栋2单元加装电梯") == Matter.REBUILD
    assert suggest_matter("使用专项维修资金更换2栋电梯") == Matter.USE_FUNDS
    assert suggest_matter("续筹专项维修资金") == Matter.RAISE_FUNDS
    assert suggest_matter("利用小区广场设置广告位经营") == Matter.COMMON_USE
    assert suggest_matter("解聘现物业服务企业") == Matter.MANAGER
    assert suggest_matter("修订管理规约") == Matter.COVENANT
    assert suggest_matter("增设电动自行车充电桩") == Matter.OTHER


async def test_an_elevator_is_offered_as_rebuilding_and_stays_special(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/assembly")
    await console.say("1栋2单元加装电梯")
    await console.say("1栋2单元加装电梯，费用由本单元业主按面积分摊")
    asked = console.last
    assert "建议归类为：特别事项" in asked.text and "改建" in asked.text
    # The nine items of Art. 278, in the law's order, each with its class; the suggestion ticked.
    assert len(asked.labels) == 9
    assert asked.labels[0].startswith("（一）") and asked.labels[8].startswith("（九）")
    assert asked.labels[6].startswith("✓ （七）改建、重建") and asked.labels[6].endswith("特别事项")
    assert asked.labels[4].endswith("一般事项") and asked.labels[5].endswith("特别事项")
    await console.press("（七）")
    assert "标为特别事项" not in " ".join(console.last.labels)  # nothing to mark: it is special already
    await console.say("更换小区门禁系统")
    await console.press("（九）")
    await console.press("第 2 项标为特别事项")
    assert "第 2 项将按特别事项表决" in console.seen_by()[-2].text
    await console.press("第 2 项标为特别事项")  # a second press of the stale button changes nothing
    assert "只有按一般事项表决" in console.last.text or "失效" in console.last.text
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say(CLOSES)
    assert "改建、重建" in console.last.text and "特别事项" in console.last.text
    await console.press("确认并发起")
    assert await _motions(app) == [("1栋2单元加装电梯，费用由本单元业主按面积分摊", SPECIAL, "rebuild"),
                                   ("更换小区门禁系统", SPECIAL, "other")]


async def test_storage_never_lets_a_special_matter_be_ordinary(app: App) -> None:
    now = app.core.clock.now()
    async with transaction(app.core.sessions) as session:
        compound = (await session.exec(select(Compound))).first()
        assert compound is not None
        made = await open_assembly(session, compound, "加装电梯", [
            MotionSpec(text="2栋加装电梯", matter=Matter.REBUILD, kind=ORDINARY),
            MotionSpec(text="使用维修资金修屋面", matter=Matter.USE_FUNDS, kind=ORDINARY),
            MotionSpec(text="修订议事规则", matter=Matter.RULES, kind=SPECIAL)], now, now + timedelta(days=3), 1, now)
        assert not isinstance(made, str)
        kinds = [(m.matter, m.kind) for m in await motions_of(session, made.stored_id)]
    assert kinds == [("rebuild", SPECIAL), ("use_funds", ORDINARY), ("rules", SPECIAL)]
