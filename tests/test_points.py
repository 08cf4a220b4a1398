"""The points ledger: redemption beyond the balance, corrections by reversing entries, idempotency keys, and a
property test that a balance always equals the sum of the entries and never goes below zero."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage import points as ledger
from storage.compounds import Compound
from storage.db import make_engine, make_sessionmaker, transaction
from storage.people import Person, Role
from storage.points import PointsEntry, Redemption, RedemptionStatus
from tests.conftest import add_console_person, person_ids, revoke_role, second_compound, switch_to
from tests.test_volunteering import GROUP, post_task


async def _earn(console: Console, who: str = "张三") -> None:
    """张三 volunteers two hours this afternoon: 4 points."""
    await post_task(console, wanted=3, start="2026-11-23 14:00", end="16:00")
    console.as_(who)
    console.in_(GROUP)
    await console.press("报名")
    await console.clock_to("2026-11-23 16:10")
    console.as_("王书记")
    await console.press("确认出勤")


async def _ledger(console: Console) -> list[PointsEntry]:
    async with transaction(console.app.core.sessions) as session:
        return list((await session.exec(select(PointsEntry).order_by(PointsEntry.id))).all())  # type: ignore[arg-type]


async def test_redeem_beyond_the_balance_is_refused(console: Console) -> None:
    await _earn(console)
    console.as_("王书记")
    await console.say("/redeem")
    await console.say("张")
    assert "4 积分" in console.last.text
    await console.say("10")
    assert "只有 4 积分" in console.last.text
    await console.say("abc")
    assert "整数" in console.last.text
    await console.say("3")  # the person is still chosen: the draft was kept
    await console.say("毛巾一条")
    # Two redemptions waiting at once: the second no longer fits when confirmed.
    await console.say("/redeem 张三")
    await console.say("2")
    await console.say("肥皂一块")
    console.as_("张三")
    messages = [s for s in console.seen_by("张三") if "请确认" in s.text]
    assert len(messages) == 2
    await console.press("确认")  # the latest: 2 points for 肥皂
    assert "余额：2" in console.last.text
    first = next(s for s in messages if "毛巾" in s.text)
    await console._send(button=first.buttons[0][0].data)
    assert "只有 2 积分" in console.last.text
    assert "余额只有 2" in console.last_for("王书记").text
    entries = await _ledger(console)
    assert [e.amount for e in entries] == [4, -2]
    async with transaction(console.app.core.sessions) as session:
        statuses = sorted(r.status for r in (await session.exec(select(Redemption))).all())
        assert statuses == ["confirmed", "refused"]


async def test_decline_and_the_button_is_personal(console: Console) -> None:
    await _earn(console)
    console.as_("王书记")
    await console.say("/redeem 张三")
    await console.say("4")
    await console.say("大米一袋")
    console.as_("张三")
    await console.press("有误")
    assert "没有扣除" in console.last.text
    assert "有误" in console.last_for("王书记").text
    await console.press("确认")  # after declining, confirming does nothing
    assert "已经处理" in console.last.text
    assert sum(e.amount for e in await _ledger(console)) == 4


async def test_correction_within_seven_days_reverses(console: Console) -> None:
    await _earn(console)
    console.as_("王书记")
    await console.say("/tasks")
    await console.press("出勤登记")
    await console.press("+0.5h")
    await console.press("确认出勤")
    assert "更正 +1" in console.last_for("张三").text
    entries = await _ledger(console)
    # Nothing edited or deleted: the credit stays, a reversal and a new credit follow.
    assert [(e.kind, e.amount) for e in entries] == [("attendance", 4), ("reversal", -4), ("attendance", 5)]
    assert entries[1].reverses_id == entries[0].id
    # Eight days later (moved directly: nothing else is due in between).
    console.app.core.clock.advance(timedelta(days=8))
    await console.say("/tasks")
    assert "出勤登记" not in [b.label for s in console.seen_by("王书记")[-3:] for row in s.buttons for b in row]
    await console._send(button=console.seen_by("王书记")[-4].buttons[-1][0].data)
    assert "7 天内" in console.last.text


async def test_double_press_on_confirm_pays_once(console: Console) -> None:
    await _earn(console)
    console.as_("王书记")
    sheet = next(s for s in reversed(console.seen_by("王书记")) if any(
        b.label == "确认出勤" for row in s.buttons for b in row))
    confirm = sheet.buttons[-1][0].data
    # The same button again, as a platform re-delivers a press or an impatient finger presses twice.
    await console._send(button=confirm)
    await console._send(button=confirm)
    assert "已经确认" in console.last.text
    assert [e.amount for e in await _ledger(console)] == [4]


async def test_keys_make_entries_idempotent(console: Console) -> None:
    async with transaction(console.app.core.sessions) as session:
        compound = (await session.exec(select(Compound))).first()
        person = (await session.exec(select(Person))).first()
        assert compound and person and compound.id and person.id
        now = datetime(2026, 11, 23, tzinfo=UTC)
        entry = {"compound_id": compound.id, "person_id": person.id, "amount": 5, "kind": "attendance",
                 "reason": "x", "key": "att:1:1", "created_at": now}
        assert await ledger.add_entry(session, PointsEntry(**entry))  # type: ignore[arg-type]
        assert not await ledger.add_entry(session, PointsEntry(**entry))  # type: ignore[arg-type]
        assert await ledger.balance(session, compound.id, person.id) == 5


def test_rules() -> None:
    assert ledger.points_for("hour", 2, Decimal("2.5")) == 5
    assert ledger.points_for("hour", 3, Decimal("1.5")) == 5  # 4.5 rounds half up
    assert ledger.points_for("activity", 5, Decimal("0.5")) == 5
    assert ledger.points_for("hour", 2, Decimal(0)) == 0
    assert ledger.can_debit(5, 5) and not ledger.can_debit(4, 5) and not ledger.can_debit(4, 0)


OPERATIONS = st.lists(st.tuples(st.sampled_from(["attend", "correct", "redeem"]), st.integers(0, 3),
                                st.integers(0, 30)), max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_balance_is_always_the_sum_of_entries(db_url: str, operations: list[tuple[str, int, int]]) -> None:
    asyncio.run(_apply(db_url, operations))


async def _apply(db_url: str, operations: list[tuple[str, int, int]]) -> None:
    engine = make_engine(db_url)
    maker = make_sessionmaker(engine)
    now = datetime(2026, 11, 23, tzinfo=UTC)
    try:
        async with transaction(maker) as session:
            compound = (await session.exec(select(Compound))).first()
            person = Person(name="prop")
            session.add(person)
            await session.flush()
            assert compound and compound.id and person.id
            compound_id, person_id = compound.id, person.id
        expected: dict[int, int] = {}
        spent = 0
        for step, (kind, task, amount) in enumerate(operations):
            now += timedelta(minutes=1)
            async with transaction(maker) as session:
                if kind in ("attend", "correct"):
                    change = await ledger.set_task_points(session, compound_id, task, person_id, amount, "t", None,
                                                          now)
                    if change is not None:
                        expected[task] = amount
                else:
                    redemption = Redemption(compound_id=compound_id, person_id=person_id, points=max(amount, 1),
                                            item=f"item {step}", created_by=person_id, created_at=now)
                    session.add(redemption)
                    await session.flush()
                    if await ledger.confirm_redemption(session, redemption.id or 0, person_id, now) == "confirmed":
                        spent += redemption.points
            async with transaction(maker) as session:
                rows = (await session.exec(select(PointsEntry.amount).where(PointsEntry.person_id == person_id))).all()
                total = await ledger.balance(session, compound_id, person_id)
                assert total == sum(rows)
                assert total >= 0
                assert total == sum(expected.values()) - spent
    finally:
        await engine.dispose()


# ---- issue 15: authority at every step, the flow's own compound, numbers -------------------------------------


async def _redemptions(console: Console) -> list[Redemption]:
    async with transaction(console.app.core.sessions) as session:
        return list((await session.exec(select(Redemption))).all())


async def test_a_revoked_secretary_records_no_redemption(console: Console, app: App) -> None:
    """Redeem used to complete after the role was revoked mid-flow."""
    await _earn(console)
    console.as_("王书记")
    await console.say("/redeem 张三")
    await console.say("3")
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.say("洗衣液一瓶")
    assert "身份已有变化" in console.last.text
    assert await _redemptions(console) == []
    assert not any("请确认" in s.text for s in console.seen_by("张三"))
    await console.say("洗衣液一瓶")  # the flow is gone
    assert "身份已有变化" not in console.last.text and await _redemptions(console) == []


async def test_switching_compound_mid_redeem_records_it_where_it_began(console: Console, app: App) -> None:
    """/compound mid-flow used to move the redemption (and its balance check) to the other compound."""
    await _earn(console)
    other = await second_compound(app, ("王书记", (Role.SECRETARY,)), ("张三", ()))
    console.as_("王书记")
    await console.say("/redeem 张三")
    assert "4 积分" in console.last.text
    await switch_to(console, "和平苑")
    await console.say("3")  # 张三 has 4 points in 幸福里, none in 和平苑
    await console.say("毛巾一条")
    assert "已登记" in console.last.text or "毛巾" in console.last.text
    [redemption] = await _redemptions(console)
    assert redemption.compound_id == 1 and redemption.compound_id != other
    console.as_("张三")
    await console.press("确认")
    assert "余额：1" in console.last.text.replace(": ", "：")
    assert [(e.compound_id, e.amount) for e in await _ledger(console)] == [(1, 4), (1, -3)]


async def test_numbers_in_redeem_are_digits_within_bounds(console: Console, app: App) -> None:
    """² and ① passed the digit check and crashed /redeem and its points step; a 20-digit #id overflowed SQLite;
    a 20,000-digit answer exceeded Python's int limit."""
    await _earn(console)
    ids = await person_ids(app)
    console.as_("王书记")
    for odd in ("²", "①", "#²", "#12345678901234567890", "9" * 20_000):
        await console.say(f"/redeem {odd}")
        assert "没有叫" in console.last.text, odd
        assert "出了点问题" not in console.last.text
        await console.say("/cancel")
    await console.say(f"/redeem #{ids['张三']}")
    assert "4 积分" in console.last.text
    for odd in ("²", "①", "9" * 20, "9" * 20_000, "0", "-1", "3.5", "\ud800"):
        await console.say(odd)
        assert "整数" in console.last.text, odd
    await console.say("３分")  # full-width, with the unit people write
    await console.say("肥皂一块")
    [redemption] = await _redemptions(console)
    assert redemption.points == 3 and redemption.status == RedemptionStatus.PENDING
    # The person step too: ² is a name nobody has, not an id.
    await console.say("/redeem")
    await console.say("²")
    assert "²" in console.last.text and "出了点问题" not in console.last.text
    await console.say(str(ids["张三"]))
    assert "4 积分" in console.last.text


async def test_redeem_picks_among_namesakes_with_buttons(console: Console, app: App) -> None:
    await _earn(console)
    await add_console_person(app, "张三丰")
    ids = await person_ids(app)
    async with transaction(app.core.sessions) as session:
        from storage.people import Membership, MembershipStatus
        session.add(Membership(person_id=ids["张三丰"], compound_id=1, status=MembershipStatus.APPROVED))
    console.as_("王书记")
    await console.say("/redeem 张三")
    assert f"#{ids['张三']} 张三" in console.last.labels and f"#{ids['张三丰']} 张三丰" in console.last.labels
    await console.say("张三")  # typed, not pressed: asked to choose
    assert "按钮" in console.last.text
    await console.press(f"#{ids['张三']} 张三")
    assert "4 积分" in console.last.text
