"""Membership on the declared join flow: numbers typed into /grant, /revoke and /members are read like every typed
number (issue 15, defect 7), place names are matched with or without their suffix, and the secretary's actions
are decided in storage."""

from __future__ import annotations

from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.compounds import Chat
from storage.demo import DEMO_GROUP, DEMO_INVITE
from storage.people import Membership, MembershipStatus, Role, RoleGrant, roles_in
from tests.conftest import person_ids

CRASHED = "系统出了点问题"


async def grants(app: App) -> list[tuple[int, str, bool]]:
    async with app.core.sessions() as session:
        rows = (await session.exec(select(RoleGrant))).all()
    return sorted((g.person_id, g.role, g.revoked_at is None) for g in rows)


async def test_odd_digits_and_huge_numbers_are_refused_politely(console: Console, app: App) -> None:
    """² and ① passed the digit check and crashed /grant; a 20-digit number overflowed SQLite; a 20,000-digit one
    exceeded Python's int limit. Each gets the usage now, and nothing changes."""
    before = await grants(app)
    console.as_("王书记")
    for number in ("²", "①", "#²", "99999999999999999999", "9" * 20_000, "-3", "0", "1.5", "一"):
        for command in (f"/grant {number} secretary", f"/revoke {number} party_member"):
            await console.say(command)
            assert CRASHED not in console.last.text, command[:40]
            assert console.last.text.startswith("用法：/grant"), command[:40]
    for page in ("²", "99999999999999999999", "9" * 20_000, "0"):
        await console.say(f"/members {page}")
        assert CRASHED not in console.last.text and "页码" in console.last.text
    assert await grants(app) == before


async def test_full_width_member_numbers_and_pages(console: Console, app: App) -> None:
    zhang = (await person_ids(app))["张三"]
    wide = str(zhang).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    console.as_("王书记")
    await console.say(f"/grant #{wide} committee")
    assert console.last.text == "张三 现在是业委会委员了。"
    await console.say(f"/revoke {wide} committee")
    assert console.last.text == "张三 已不再是业委会委员。"
    await console.say("/members ２")
    assert console.last.text.startswith("幸福里的成员：")
    await console.say("/members 1")
    first = console.last.text
    await console.say("/members")
    assert console.last.text == first


async def test_place_names_typed_with_or_without_their_suffix(console: Console, app: App) -> None:
    console.as_("路人甲")
    await console.say(f"/join {DEMO_INVITE}")
    await console.say("２")  # full-width, without 栋
    assert console.last.text == "哪个单元？"
    await console.say("2")  # without 单元
    assert console.last.text == "哪一户？"
    await console.say("202室")
    assert "业主还是租户" in console.last.text
    await console.press("租户")
    await console.say("13912345678")
    async with app.core.sessions() as session:
        membership = (await session.exec(select(Membership).where(Membership.status == MembershipStatus.PENDING))).one()
    assert membership.relation == "tenant"
    assert "2栋2单元202" in console.last_for("王书记").text and "已验证：否" in console.last_for("王书记").text


async def test_a_typed_phone_must_look_like_one(console: Console) -> None:
    console.as_("路人乙")
    await console.say(f"/join {DEMO_INVITE}")
    for answer in ("2栋", "2单元", "202", "租户"):
        await console.say(answer)
    for bad in ("²³⁴⁵⁶⁷⁸", "①②③④⑤⑥", "1" * 40, "call me", "\x1b[31m"):
        await console.say(bad)
        assert console.last.text == "请用按钮分享手机号，或点“跳过”。", bad
    await console.say("139 1234 5678")
    assert "等待支部书记审核" in console.last.text


async def test_grant_building_leader_by_name_with_or_without_suffix(console: Console, app: App) -> None:
    zhang = (await person_ids(app))["张三"]
    console.as_("王书记")
    await console.say(f"/grant {zhang} 楼栋长 3")
    assert console.last.text == "张三 现在是楼栋长了。"
    await console.say(f"/grant {zhang} 楼栋长 ９栋")
    assert "请写明负责的楼栋" in console.last.text
    console.in_("1栋邻里群")
    await console.say("/bindgroup 1")
    assert console.last.text == "本群已绑定到幸福里1栋，该楼栋的通知会发到这里。"
    async with app.core.sessions() as session:
        chat = (await session.exec(select(Chat).where(Chat.title == "1栋邻里群"))).one()
        assert chat.compound_id == 1 and chat.building_id is not None
        assert Role.BUILDING_LEADER in await roles_in(session, zhang, 1)


async def test_join_flow_from_the_group_and_busy_names_it(console: Console) -> None:
    console.as_("路人丙")
    await console.say(f"/join {DEMO_INVITE}")
    await console.say("/join")
    assert "加入小区" in console.last.text and console.last.labels == ["继续", "放弃"]
    await console.press("继续")
    assert "哪一栋" in console.last.text
    console.in_(DEMO_GROUP)
    await console.say("/join")
    assert "私聊" in console.last.text
