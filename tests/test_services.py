"""Order-a-service: slots with capacity, a full slot and a double order refused, accept, reminder, cancel
frees the place, done and rating."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.people import Role
from storage.services import OrderStatus, Service, ServiceOrder, ServiceSlot
from tests.conftest import revoke_role, second_compound, switch_to


async def add_slot(console: Console, when: str, minutes: str, places: str) -> None:
    await console.say(when)
    await console.say(minutes)
    await console.say(places)


async def add_service(console: Console) -> None:
    console.as_("王书记")
    await console.say("/addservice")
    await console.photo()
    assert "请用文字输入服务名称" in console.last.text  # refused politely, the step stays
    await console.say("理" * 101)
    assert "100" in console.last.text
    await console.say("老年人免费理发")
    await console.say("幸福理发志愿队")
    await console.say("2025-01-01 09:00")
    assert "已经过去" in console.last.text  # a past slot is refused, nothing saved yet
    await add_slot(console, "2026-11-25 09:00", "60", "1")
    assert "2026-11-25 周三 09:00–10:00，1 个名额" in console.last.text  # echoed in full
    await console.press("再加一个时段")
    await add_slot(console, "后天 10点", "60", "2")
    assert "2026-11-25 周三 10:00–11:00，2 个名额" in console.last.text
    await console.press("发布服务")
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


# ---- issue 15: a declared flow bound to its compound and role; numbers and times read one way ----------------


async def _services(app: App) -> list[tuple[int, str, int]]:
    """(compound, title, number of slots) of every service."""
    async with app.core.sessions() as session:
        found = (await session.exec(select(Service))).all()
        return [(s.compound_id, s.title, len((await session.exec(select(ServiceSlot).where(
            ServiceSlot.service_id == s.id))).all())) for s in found]


async def _begin(console: Console) -> None:
    """王书记 has typed everything of a service with one slot, up to putting it on the list."""
    console.as_("王书记")
    await console.say("/addservice")
    await console.say("免费法律咨询")
    await console.say("社区律师志愿队")
    await add_slot(console, "明天 14:00", "90分钟", "3人")
    assert "2026-11-24 周二 14:00–15:30，3 个名额" in console.last.text


async def test_a_revoked_secretary_cannot_put_a_service_on_the_list(console: Console, app: App) -> None:
    await _begin(console)
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.press("发布服务")
    assert "身份已有变化" in console.last.text
    assert await _services(app) == []


async def test_a_revoked_secretary_cannot_go_on_typing_a_service(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/addservice")
    await console.say("免费法律咨询")
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.say("社区律师志愿队")
    assert "身份已有变化" in console.last.text
    await console.say("明天 14:00")
    assert "您想怎么办" in console.last.text  # the flow is gone: offered as a first message
    assert await _services(app) == []


async def test_a_service_goes_on_the_list_of_the_compound_it_was_begun_in(console: Console, app: App) -> None:
    await _begin(console)
    # In 和平苑 王书记 is only a tenant: the service still belongs to 幸福里, where he is the secretary.
    other = await second_compound(app, ("王书记", ()))
    await switch_to(console, "和平苑")
    await console.press("发布服务")
    assert "1 个时段" in console.last.text
    assert await _services(app) == [(1, "免费法律咨询", 1)]
    assert all(compound != other for compound, *_ in await _services(app))


async def test_switching_compound_while_typing_slots_keeps_the_service_at_home(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/addservice")
    await console.say("免费法律咨询")
    other = await second_compound(app, ("王书记", (Role.SECRETARY,)))
    await switch_to(console, "和平苑")
    await console.say("社区律师志愿队")
    await add_slot(console, "明天 14:00", "90", "3")
    await console.press("发布服务")
    assert await _services(app) == [(1, "免费法律咨询", 1)]
    assert all(compound != other for compound, *_ in await _services(app))


async def test_numbers_and_times_are_read_one_way(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/addservice")
    await console.say("免费法律咨询")
    for provider in ("#99999999999999999999", "#²", "#①", "#12345"):
        await console.say(provider)
        assert "不是您小区的成员" in console.last.text, provider
    await console.say("#" + "9" * 20_000)
    assert "100 字以内" in console.last.text
    await console.say("#5")  # 张三, a member of 幸福里
    for when in ("\x1b", "\ud800", "2026-13-45 25:61", "昨天 9:00", "长" * 10_000):
        await console.say(when)
        assert "时间" in console.last.text or "过去" in console.last.text, when[:20]
    await console.say("周六 9点半")
    assert "2026-11-28 周六 09:30" in console.last.text
    for minutes in ("²", "①", "0", "99999999999999999999", "１２３４５"):
        await console.say(minutes)
        assert "之间的整数" in console.last.text, minutes
    await console.press("60 分钟")
    for places in ("²", "①", "-1", "1000"):
        await console.say(places)
        assert "之间的整数" in console.last.text, places
    await console.say("１２人")  # full-width digits are digits; the unit may follow
    assert "2026-11-28 周六 09:30–10:30，12 个名额" in console.last.text
    await console.press("发布服务")
    async with app.core.sessions() as session:
        service = (await session.exec(select(Service))).one()
        slot = (await session.exec(select(ServiceSlot))).one()
    assert (service.provider_name, service.provider_person_id, slot.capacity) == ("张三", 5, 12)


async def test_no_slot_is_ever_over_full(console: Console, app: App) -> None:
    """A proposed time that filled up meanwhile cannot be taken; pressing an order button again orders nothing."""
    await add_service(console)  # 11-25 09:00 with 1 place, 10:00 with 2
    console.as_("张三")
    await console.say("/services")
    await console.press("老年人免费理发")
    await console.press("11-25 09:00")
    console.as_("王书记")
    await console.press("建议改期")
    await console.press("11-25 10:00")
    for name in ("李四", "王五"):
        console.as_(name)
        await console.say("/services")
        await console.press("老年人免费理发")
        await console.press("11-25 10:00")
        await console.press("11-25 10:00")  # pressed twice
    console.as_("张三")
    await console.press("接受新时间")
    assert "已约满" in console.last.text
    async with app.core.sessions() as session:
        orders = (await session.exec(select(ServiceOrder))).all()
        slots = {s.id: s for s in (await session.exec(select(ServiceSlot))).all()}
    for slot_id, slot in slots.items():
        holding = [o for o in orders if o.slot_id == slot_id and o.status in
                   (OrderStatus.REQUESTED, OrderStatus.ACCEPTED, OrderStatus.PROPOSED)]
        assert len(holding) <= slot.capacity
    assert len(orders) == 3 and len({(o.slot_id, o.person_id) for o in orders}) == 3


async def test_strangers_cannot_order(console: Console) -> None:
    console.as_("陌生人")
    await console.say("/services")
    assert "还没有加入小区" in console.last.text
    await console.say("/addservice")
    assert "还没有加入小区" in console.last.text


async def test_the_last_slot_can_be_taken_back_before_the_service_is_listed(console: Console, app: App) -> None:
    await _begin(console)
    await console.press("再加一个时段")
    await add_slot(console, "明天 16:00", "30 min", "2")
    assert "2. 2026-11-24 周二 16:00–16:30，2 个名额" in console.last.text
    await console.press("删除最后一个")
    assert "16:00" not in console.last.text and "14:00–15:30" in console.last.text
    await console.press("删除最后一个")
    assert "几点开始" in console.last.text  # no slot left: asked for one again
    await add_slot(console, "明天 10:00", "60", "5")
    await console.say("发布服务")  # the button's label typed
    assert await _services(app) == [(1, "免费法律咨询", 1)]
    async with app.core.sessions() as session:
        slot = (await session.exec(select(ServiceSlot))).one()
    assert (slot.capacity, slot.ends_at - slot.starts_at) == (5, timedelta(hours=1))
