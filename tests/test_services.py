"""Order-a-service: slots with capacity, a full slot and a double order refused, accept, reminder, cancel
frees the place, done and rating."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.services import ServiceOrder


async def add_service(console: Console) -> None:
    console.as_("王书记")
    await console.say("/addservice")
    await console.photo()
    assert "请以文字发送名称" in console.last.text  # refused politely, the step stays
    await console.say("理" * 101)
    assert "100" in console.last.text
    await console.say("老年人免费理发")
    await console.say("幸福理发志愿队")
    await console.say("2026-11-25 09:00 60 1\n2025-01-01 09:00 60 1")
    assert "第 2 行" in console.last.text  # a past slot is refused, nothing saved yet
    await console.say("2026-11-25 09:00 60 1\n2026-11-25 10:00 60 2")
    assert "2 个时段" in console.last.text


async def test_order_cycle_with_full_slot_and_double_order(console: Console, app: App) -> None:
    await add_service(console)
    console.as_("张三")
    await console.say("/services")
    await console.press("老年人免费理发")
    assert "余 1 个名额" in " ".join(console.last.labels)
    await console.press("11-25 09:00")
    assert "已预约" in console.last.text
    assert "新预约" in console.last_for("王书记").text

    await console.say("/services")
    await console.press("老年人免费理发")
    assert "已约满" in " ".join(console.last.labels)
    await console.press("11-25 09:00")
    assert "已经预约过" in console.last.text

    console.as_("李四")
    await console.say("/services")
    await console.press("老年人免费理发")
    await console.press("11-25 09:00")
    assert "已约满" in console.last.text

    console.as_("王书记")
    await console.press("接单")
    assert "已接单" in console.last_for("张三").text

    # Two quiet days pass at once (no need to run every job through them); the reminder comes before the slot.
    app.core.clock.advance(timedelta(hours=45))
    await console.clock_to("2026-11-25 07:30")
    assert "提醒" in console.last_for("张三").text

    # Cancelling frees the place for 李四.
    console.as_("张三")
    await console.say("/myorders")
    await console.press("取消 #1")
    assert "名额已释放" in console.last.text
    console.as_("李四")
    await console.say("/services")
    await console.press("老年人免费理发")
    await console.press("11-25 09:00")
    assert "已预约" in console.last.text

    console.as_("王书记")
    await console.press("标记完成")
    console.as_("李四")
    await console.press("★★★★★")
    assert "5 星" in console.last.text
    await console.press("★★")
    async with app.core.sessions() as session:
        orders = {o.person_id: o for o in (await session.exec(select(ServiceOrder))).all()}
    assert sorted(o.status for o in orders.values()) == ["cancelled", "done"]
    assert [o.rating for o in orders.values() if o.status == "done"] == [5]


async def test_propose_another_time(console: Console) -> None:
    await add_service(console)
    console.as_("张三")
    await console.say("/services")
    await console.press("老年人免费理发")
    await console.press("11-25 09:00")
    console.as_("王书记")
    await console.press("建议改期")
    await console.press("11-25 10:00")
    assert "建议改到" in console.last_for("张三").text
    console.as_("张三")
    await console.press("接受新时间")
    assert "10:00" in console.last.text
    await console.say("/myorders")
    assert "10:00" in console.last.text and "已接单" in console.last.text


async def test_resident_cannot_add_services(console: Console) -> None:
    console.as_("张三")
    await console.say("/addservice")
    assert "只有支部书记" in console.last.text
