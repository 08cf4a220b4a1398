"""Every foundation flow, driven through the console as people do: joining (roster match, secretary approval),
claiming a compound, roles, group binding, languages, cancelling, expiry, stale buttons, bad input, other
compounds, repeated updates and a restart in the middle of a conversation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlmodel import col, func, select

from bot.app import App, build_app
from bot.core.clock import Clock
from bot.core.types import Incoming
from bot.transports.console import PLATFORM, Console, Shown
from storage.compounds import Building, Chat, Compound, Room, Unit, create_compound
from storage.conversations import Conversation
from storage.db import transaction
from storage.demo import DEMO_GROUP, DEMO_INVITE
from storage.people import Membership, Person, Role, RoleGrant, roles_in


async def person_id(app: App, name: str) -> int:
    async with app.core.sessions() as session:
        person = (await session.exec(select(Person).where(Person.name == name))).one()
        assert person.id is not None
        return person.id


async def roles_of(app: App, name: str, compound_code: str = "XFL") -> frozenset[Role]:
    pid = await person_id(app, name)
    async with app.core.sessions() as session:
        compound = (await session.exec(select(Compound).where(Compound.code == compound_code))).one()
        return await roles_in(session, pid, compound.id)


async def memberships(app: App, name: str) -> list[Membership]:
    pid = await person_id(app, name)
    async with app.core.sessions() as session:
        return list((await session.exec(select(Membership).where(Membership.person_id == pid))).all())


async def press_data(console: Console, data: str) -> list[Shown]:
    """Press a button by its token, as a platform would deliver an old message's button."""
    return await console._send(button=data)


def button_data(shown: Shown, label: str) -> str:
    return next(b.data for row in shown.buttons for b in row if b.label == label)


async def second_compound(app: App) -> Compound:
    """和悦园 (HYY) with one building, unit and room, and 周书记 as its secretary."""
    async with transaction(app.core.sessions) as session:
        compound = await create_compound(session, "和悦园", "HYY")
        assert compound.id is not None
        building = Building(compound_id=compound.id, name="9栋", sort=9)
        session.add(building)
        await session.flush()
        unit = Unit(building_id=building.id or 0, name="1单元")
        session.add(unit)
        await session.flush()
        session.add(Room(compound_id=compound.id, building_id=building.id or 0, unit_id=unit.id or 0,
                         number="901", floor=9, area=Decimal("100.00")))
    return compound


async def join_until_phone(console: Console, name: str, building: str = "2栋", unit: str = "2单元",
                           room: str = "202", relation: str = "租户") -> None:
    console.as_(name)
    await console.say(f"/join {DEMO_INVITE}")
    await console.press(building)
    await console.press(unit)
    await console.press(room)
    await console.press(relation)
    assert "最后一步" in console.last.text


# ---- joining ------------------------------------------------------------------------------------------


async def test_join_with_roster_phone_is_approved_at_once(console: Console) -> None:
    console.as_("刘六")
    await console.say("/start")
    assert "/join" in console.last.text
    await console.press("加入小区")
    assert "邀请码" in console.last.text
    await console.say("xfl2026")  # typed in lower case
    assert console.last.text.startswith("欢迎来到幸福里")
    assert console.last.labels == ["1栋", "2栋", "3栋"]
    await console.press("3栋")
    await console.press("1单元")
    await console.press("101")
    await console.press("业主")
    await console.contact("+86 138 0000 0006")
    assert "与业主名册一致" in console.last.text and "3栋1单元101" in console.last.text
    assert [(m.status, m.relation) for m in await memberships(console.app, "刘六")] == [("approved", "owner")]
    assert await roles_of(console.app, "刘六") == {Role.RESIDENT, Role.OWNER}
    # Nothing went to the secretary.
    assert not any("新成员申请" in s.text for s in console.seen_by("王书记", "private"))


async def test_join_without_phone_waits_for_the_secretary_who_approves(console: Console) -> None:
    await join_until_phone(console, "路人甲")
    await console.press("跳过")
    assert "等待支部书记审核" in console.last.text
    request = console.last_for("王书记")
    assert "新成员申请：路人甲" in request.text and "2栋2单元202" in request.text and "未提供" in request.text
    assert request.labels == ["通过", "拒绝"]
    assert [m.status for m in await memberships(console.app, "路人甲")] == ["pending"]
    # A second try for the same room is not a second request.
    await console.say(f"/join {DEMO_INVITE}")
    await console.press("2栋")
    await console.press("2单元")
    await console.press("202")
    assert "已在等待支部书记审核" in console.last.text
    console.as_("王书记")
    await console.press("通过")
    assert console.last.text == "已通过：路人甲，2栋2单元202。"
    assert "好消息" in console.last_for("路人甲").text
    assert await roles_of(console.app, "路人甲") == {Role.RESIDENT}
    # Pressing again does not decide twice.
    await console.press("拒绝")
    assert console.last.text == "这个申请已经处理过了。"
    assert [m.status for m in await memberships(console.app, "路人甲")] == ["approved"]
    console.as_("路人甲")
    await console.say("/help")
    assert "/compound" in console.last.text and "/grant" not in console.last.text


async def test_secretary_rejects_and_resident_is_told(console: Console) -> None:
    await join_until_phone(console, "路人乙", relation="业主")
    await console.say("13912345678")  # typed: recorded for the secretary, never verified
    request = console.last_for("王书记")
    assert "13912345678" in request.text and "已验证：否" in request.text
    console.as_("王书记")
    await console.press("拒绝")
    assert console.last.text == "已拒绝：路人乙，2栋2单元202。"
    assert "没有通过" in console.last_for("路人乙").text
    assert [m.status for m in await memberships(console.app, "路人乙")] == ["rejected"]
    assert await roles_of(console.app, "路人乙") == frozenset()


async def test_someone_elses_contact_is_refused_and_the_step_kept(console: Console) -> None:
    await join_until_phone(console, "刘六", building="3栋", unit="1单元", room="101", relation="业主")
    await console.contact("13800000006", own=False)
    assert console.last.text == "请用按钮分享您本人的手机号，不要分享别人的名片。"
    assert await memberships(console.app, "刘六") == []
    await console.contact("13800000006")
    assert "与业主名册一致" in console.last.text


async def test_join_from_a_group_continues_privately(console: Console) -> None:
    console.as_("路人丙")
    console.in_(DEMO_GROUP)
    await console.say("/join")
    assert "私聊" in console.last.text
    await console.press("私聊继续")
    assert console.chat == "private"
    assert "邀请码" in console.last.text
    # Nothing about the person went into the group.
    assert len(console.seen_by("路人丙", DEMO_GROUP)) == 1


async def test_wrong_invite_code_keeps_asking(console: Console) -> None:
    console.as_("路人丁")
    await console.say("/join NOPE")
    assert "没有找到邀请码为 NOPE 的小区" in console.last.text
    await console.say(DEMO_INVITE)
    assert console.last.text.startswith("欢迎来到幸福里")


# ---- claiming ---------------------------------------------------------------------------------------------


async def test_claim_code_works_once(console: Console) -> None:
    async with transaction(console.app.core.sessions) as session:
        compound = await create_compound(session, "和悦园", "HYY")
    console.as_("周书记")
    await console.say("/claim")
    assert "/claim" in console.last.text
    await console.say(f"/claim {compound.claim_code.lower() if compound.claim_code else ''}")
    assert console.last.text.startswith("您现在是和悦园的支部书记")
    assert compound.invite_code in console.last.text
    assert await roles_of(console.app, "周书记", "HYY") == {Role.SECRETARY}
    await console.say("/help")
    assert "/members" in console.last.text and "/bindgroup" in console.last.text
    console.as_("抢码人")
    await console.say(f"/claim {compound.claim_code}")
    assert console.last.text == "认领码无效或已被使用。"
    assert await roles_of(console.app, "抢码人", "HYY") == frozenset()


# ---- roles ------------------------------------------------------------------------------------------------


async def test_grant_and_revoke_by_command(console: Console) -> None:
    zhang = await person_id(console.app, "张三")
    console.as_("王书记")
    await console.say(f"/grant {zhang} 楼栋长 1栋")
    assert console.last.text == "张三 现在是楼栋长了。"
    assert "任命您为楼栋长" in console.last_for("张三").text
    await console.say(f"/grant {zhang} building_leader 1栋")
    assert console.last.text == "张三 已经是楼栋长。"
    await console.say(f"/grant {zhang} committee")
    assert Role.COMMITTEE in await roles_of(console.app, "张三")
    await console.say(f"/grant {zhang} building_leader")
    assert "请写明负责的楼栋" in console.last.text
    await console.say(f"/grant {zhang} 国王")
    assert console.last.text.startswith("用法：/grant")
    await console.say("/grant")
    assert console.last.text.startswith("用法：/grant")
    await console.say(f"/revoke {zhang} committee")
    assert console.last.text == "张三 已不再是业委会委员。"
    assert "已不再是业委会委员" in console.last_for("张三").text
    await console.say(f"/revoke {zhang} committee")
    assert console.last.text == "张三 不是业委会委员。"
    assert await roles_of(console.app, "张三") == {Role.RESIDENT, Role.OWNER, Role.BUILDING_LEADER}
    # Someone who is not in the compound at all.
    await console.say("/grant 99999 committee")
    assert console.last.text == "此人不是您小区的成员。"


async def test_last_secretary_cannot_be_revoked(console: Console) -> None:
    wang = await person_id(console.app, "王书记")
    chen = await person_id(console.app, "陈阿姨")
    console.as_("王书记")
    await console.say(f"/revoke {wang} secretary")
    assert console.last.text == "小区至少要保留一位支部书记，请先把书记角色授予其他人。"
    assert Role.SECRETARY in await roles_of(console.app, "王书记")
    await console.say(f"/grant {chen} 书记")
    await console.say(f"/revoke {wang} secretary")
    assert console.last.text == "王书记 已不再是支部书记。"
    assert Role.SECRETARY not in await roles_of(console.app, "王书记")
    # No longer a secretary: refused on the server.
    await console.say(f"/grant {wang} secretary")
    assert console.last.text.startswith("抱歉，只有支部书记")


async def test_members_buttons(console: Console) -> None:
    console.as_("王书记")
    await console.say("/members")
    members = console.last
    assert members.text.startswith("幸福里的成员：")
    assert "张三" in members.text and "1栋1单元101" in members.text
    zhang = await person_id(console.app, "张三")
    await console.press(f"#{zhang} 张三")
    assert console.last.text.startswith(f"#{zhang} 张三：")
    await console.press("授予党员")
    assert console.last.text == "张三 现在是党员了。"
    assert Role.PARTY_MEMBER in await roles_of(console.app, "张三")
    await press_data(console, button_data(members, f"#{zhang} 张三"))
    await console.press("撤销党员")
    assert console.last.text == "张三 已不再是党员。"
    await press_data(console, button_data(members, f"#{zhang} 张三"))
    await console.press("授予楼栋长")
    assert console.last.text == "由他负责哪一栋？"
    await console.press("2栋")
    assert console.last.text == "张三 现在是楼栋长了。"
    async with console.app.core.sessions() as session:
        grant = (await session.exec(select(RoleGrant).where(RoleGrant.person_id == zhang,
                                                            RoleGrant.role == Role.BUILDING_LEADER))).one()
        building = await session.get(Building, grant.building_id)
        assert building is not None and building.name == "2栋"


async def test_members_card_of_a_pending_member_approves(console: Console) -> None:
    await join_until_phone(console, "路人戊")
    await console.press("跳过")
    pending = await person_id(console.app, "路人戊")
    console.as_("王书记")
    await console.say("/members")
    assert "路人戊" in console.last.text
    await console.press(f"#{pending} 路人戊")
    assert "尚未通过审核" in console.last.text
    await console.press("通过")
    assert console.last.text == "已通过：路人戊，2栋2单元202。"
    assert "好消息" in console.last_for("路人戊").text


# ---- groups -----------------------------------------------------------------------------------------------


async def test_bindgroup_by_secretary_and_refused_for_resident(console: Console) -> None:
    console.as_("张三")
    console.in_("1栋邻里群")
    await console.event("bot_added")
    assert "/bindgroup" in console.last.text
    await console.say("/bindgroup")
    assert console.last.text.startswith("抱歉，只有支部书记")
    console.as_("王书记")
    console.in_("1栋邻里群")
    await console.say("/bindgroup 9栋")
    assert console.last.text == "幸福里没有叫9栋的楼栋。"
    await console.say("/bindgroup 1栋")
    assert console.last.text == "本群已绑定到幸福里1栋，该楼栋的通知会发到这里。"
    async with console.app.core.sessions() as session:
        chat = (await session.exec(select(Chat).where(Chat.title == "1栋邻里群"))).one()
        assert chat.compound_id is not None and chat.building_id is not None
    console.as_("王书记")
    await console.say("/bindgroup")
    assert console.last.text == "请在要绑定的群里发送 /bindgroup，而不是在这里。"


# ---- languages, cancel, expiry ------------------------------------------------------------------------------


async def test_lang_switches_texts(console: Console) -> None:
    console.as_("张三")
    await console.say("/lang")
    assert console.last.text == "请选择语言："
    await console.press("English")
    assert console.last.text == "Language set to English."
    await console.say("/help")
    assert console.last.text.startswith("What you can do here:")
    await console.say("/lang zh_TW")
    await console.say("/help")
    assert "/start — 主選單" in console.last.text and "主菜单" not in console.last.text
    await console.say("/lang klingon")
    assert "不支援" in console.last.text or "不支持" in console.last.text
    await console.say("/lang zh")
    await console.say("/help")
    assert "/start — 主菜单" in console.last.text


async def test_platform_language_hint_is_used_until_lang(console: Console) -> None:
    console.as_("Alice")
    console.languages["Alice"] = "en-US"
    await console.say("/start")
    assert console.last.text.startswith("Welcome to linli")


async def test_cancel(console: Console) -> None:
    console.as_("路人己")
    await console.say("/cancel")
    assert console.last.text == "当前没有需要取消的对话。"
    await console.say(f"/join {DEMO_INVITE}")
    await console.say("/join")
    assert "还有一件事没有办完" in console.last.text
    await console.say("/cancel")
    assert console.last.text == "已取消：加入小区，刚才的内容没有保存。"  # names what was cancelled
    await console.say("3栋")
    assert "邀请码" in console.last.text  # not a member: joining begins again, from the code


async def test_idle_conversation_expires_politely(console: Console) -> None:
    console.as_("路人庚")
    await console.say(f"/join {DEMO_INVITE}")
    await console.press("1栋")
    console.app.core.clock.advance(minutes=29)
    await console.press("2单元")  # still alive after 29 minutes
    assert console.last.text == "哪一户？"
    console.app.core.clock.advance(minutes=31)
    shown = await console.say("101")
    assert "已闲置 30 分钟，已自动结束" in shown[0].text
    assert "邀请码" in shown[-1].text  # not a member: joining begins again, from the code
    async with console.app.core.sessions() as session:
        assert (await session.exec(select(Conversation.step))).all() == ["code"]


# ---- stale buttons -----------------------------------------------------------------------------------------


async def test_step_button_after_the_conversation_moved_on(console: Console) -> None:
    console.as_("路人辛")
    await console.say(f"/join {DEMO_INVITE}")
    buildings = console.last
    await console.press("1栋")
    assert console.last.text == "哪个单元？"
    await press_data(console, button_data(buildings, "2栋"))
    assert console.last.text.startswith("这个按钮已经失效")
    # The conversation is untouched: the unit step still answers.
    await console.press("1单元")
    assert console.last.text == "哪一户？"


async def test_button_from_a_finished_conversation(console: Console) -> None:
    await join_until_phone(console, "路人壬")
    phone_step = console.last
    await console.press("跳过")
    await press_data(console, button_data(phone_step, "跳过"))
    assert console.last.text.startswith("这个按钮已经失效")
    assert len(await memberships(console.app, "路人壬")) == 1
    # A step button after /cancel, too.
    await console.say(f"/join {DEMO_INVITE}")
    buildings = console.last
    await console.say("/cancel")
    await press_data(console, button_data(buildings, "1栋"))
    assert console.last.text.startswith("这个按钮已经失效")


async def test_someone_elses_button(console: Console) -> None:
    await join_until_phone(console, "路人癸")
    await console.press("跳过")
    approve = button_data(console.last_for("王书记"), "通过")
    console.as_("张三")
    await press_data(console, approve)
    assert console.last.text == "这个按钮是给别人的。"
    assert [m.status for m in await memberships(console.app, "路人癸")] == ["pending"]
    await press_data(console, "forged-token")
    assert console.last.text.startswith("这个按钮已经失效")


# ---- bad input ---------------------------------------------------------------------------------------------


async def test_unknown_command(console: Console) -> None:
    console.as_("张三")
    await console.say("/frobnicate now")
    assert console.last.text == "没有 /frobnicate 这个命令。发送 /help 查看您可以使用的功能。"


async def test_text_where_a_button_is_expected_keeps_the_step(console: Console) -> None:
    console.as_("路人子")
    await console.say(f"/join {DEMO_INVITE}")
    await console.say("四十二栋")
    assert console.last.text == "请用上面的按钮选择楼栋，或准确输入楼栋名称。"
    await console.say("2栋")  # the exact name typed also works
    assert console.last.text == "哪个单元？"
    await console.press("1单元")
    await console.say("9999")
    assert "这个单元里没有这一户" in console.last.text
    await console.press("201")
    await console.say("也许吧")
    assert console.last.text == "请用按钮回答：业主还是租户。"
    await console.say("租户")
    await console.say("稍后再说")
    assert console.last.text == "请用按钮分享手机号，或点“跳过”。"
    await console.press("跳过")
    assert "等待支部书记审核" in console.last.text


async def test_photo_where_text_is_expected(console: Console) -> None:
    console.as_("路人丑")
    await console.say("/join")
    await console.photo()
    assert console.last.text == "请用文字输入邀请码（或发送 /cancel 退出）。"  # the Text kind's refusal
    await console.say(DEMO_INVITE)
    assert console.last.text.startswith("欢迎来到幸福里")
    await console.photo()
    assert console.last.text == "请用上面的按钮选择楼栋，或准确输入楼栋名称。"
    await console.press("3栋")
    assert console.last.text == "哪个单元？"


async def test_ten_thousand_characters(console: Console) -> None:
    huge = "楼" * 10_000
    console.as_("路人寅")
    await console.say(huge)
    assert "邀请码" in console.last.text and len(console.last.text) < 200  # leads to joining, not taken as a code
    await console.say("/cancel")
    await console.say(f"/join {huge}")
    assert "没有找到邀请码" in console.last.text and len(console.last.text) < 200
    await console.say(huge)
    assert "邀请码请控制在 32 字以内" in console.last.text  # the Text kind's refusal: still at the code step
    await console.say("/" + "x" * 10_000)
    assert console.last.text.startswith("没看懂") or "还有一件事" in console.last.text or "邀请码" in console.last.text
    console.as_("王书记")
    await console.say(f"/grant 1 {huge}")
    assert console.last.text.startswith("用法：/grant")
    await console.say(f"/bindgroup {huge}")
    assert len(console.last.text) < 300


# ---- other compounds -----------------------------------------------------------------------------------------


async def test_other_compound_cannot_act_on_members(console: Console) -> None:
    compound = await second_compound(console.app)
    console.as_("周书记")
    await console.say(f"/claim {compound.claim_code}")
    zhang = await person_id(console.app, "张三")
    await console.say(f"/grant {zhang} committee")
    assert console.last.text == "此人不是您小区的成员。"
    await console.say(f"/revoke {zhang} committee")
    assert console.last.text == "此人不是您小区的成员。"
    assert await roles_of(console.app, "张三") == {Role.RESIDENT, Role.OWNER}
    # 王书记's approve button, pressed by the other compound's secretary.
    await join_until_phone(console, "路人卯")
    await console.press("跳过")
    approve = button_data(console.last_for("王书记"), "通过")
    console.as_("周书记")
    await press_data(console, approve)
    assert console.last.text in ("这个按钮是给别人的。", "这个申请不属于您的小区。")
    assert [m.status for m in await memberships(console.app, "路人卯")] == ["pending"]
    # His own /members does not list 幸福里's people, and their cards cannot be opened.
    await console.say("/members")
    assert "张三" not in console.last.text
    console.as_("王书记")
    await console.say("/members")
    card = button_data(console.last, f"#{zhang} 张三")
    console.as_("周书记")
    await press_data(console, card)
    assert console.last.text == "这个按钮是给别人的。"


async def test_member_of_one_compound_joins_another_and_its_secretary_approves(console: Console) -> None:
    compound = await second_compound(console.app)
    console.as_("周书记")
    await console.say(f"/claim {compound.claim_code}")
    console.as_("张三")
    await console.say(f"/join {compound.invite_code}")
    await console.press("9栋")
    await console.press("901")
    await console.press("租户")
    await console.press("跳过")
    request = console.last_for("周书记")
    assert "新成员申请：张三" in request.text
    console.as_("周书记")
    await console.press("通过")
    assert console.last.text == "已通过：张三，9栋1单元901。"
    assert await roles_of(console.app, "张三", "HYY") == {Role.RESIDENT}
    console.as_("张三")
    await console.say("/compound")
    assert set(console.last.labels) == {"幸福里", "和悦园"}
    await console.press("和悦园")
    assert console.last.text == "已切换到和悦园。"


async def test_non_secretary_admin_commands_are_refused(console: Console) -> None:
    chen = await person_id(console.app, "陈阿姨")
    for name in ("张三", "李楼长", "赵物业", "孙委员"):
        console.as_(name)
        for command in ("/members", f"/grant {chen} committee", f"/revoke {chen} party_member"):
            await console.say(command)
            assert console.last.text.startswith("抱歉，只有支部书记"), (name, command, console.last.text)
        console.in_(DEMO_GROUP)
        await console.say("/bindgroup")
        assert console.last.text.startswith("抱歉，只有支部书记")
    assert await roles_of(console.app, "陈阿姨") == {Role.RESIDENT, Role.OWNER, Role.PARTY_MEMBER}
    console.as_("陌生人")
    await console.say("/members")
    assert console.last.text == "您还没有加入小区。请发送 /join 加上小区邀请码。"


# ---- delivery guarantees ------------------------------------------------------------------------------------


async def test_a_repeated_update_is_processed_once_and_answered_again(app: App) -> None:
    """A platform repeats an update it saw no acknowledgement for: perhaps the process died after storing it
    and before sending the answer. The repeat changes nothing and gets the same answer (the same buttons)."""
    incoming = Incoming(platform=PLATFORM, update_id="u-1", chat_id="p:重复", chat_kind="private",
                        user_id="重复", user_name="重复", text=f"/join {DEMO_INVITE}", command="join",
                        args=DEMO_INVITE)
    first = await app.core.handle(incoming)
    assert first and first[0].text.startswith("欢迎来到幸福里")
    assert await app.core.handle(incoming) == first
    # An hour later the answer is forgotten: a repeat is simply dropped.
    app.core.clock.advance(timedelta(hours=2))
    await app.scheduler.housekeeping()
    assert await app.core.handle(incoming) == []
    async with app.core.sessions() as session:
        forgotten = (await session.execute(text("SELECT answer IS NULL FROM processedupdate WHERE update_id = 'u-1'")))
        assert forgotten.one()[0]
    async with app.core.sessions() as session:
        assert (await session.exec(select(func.count()).select_from(Person).where(Person.name == "重复"))).one() == 1
        assert (await session.exec(select(func.count()).select_from(Conversation))).one() == 1


async def test_restart_in_the_middle_of_a_conversation(app: App, console: Console) -> None:
    console.as_("路人辰")
    await console.say(f"/join {DEMO_INVITE}")
    await console.press("2栋")
    units = console.last
    # A new process on the same database file (the first one is simply never used again).
    restarted = build_app(app.settings, clock=Clock(app.core.clock.now(), frozen=True))
    try:
        again = Console(restarted)
        again.as_("路人辰")
        await press_data(again, button_data(units, "2单元"))  # a button shown before the restart
        assert again.last.text == "哪一户？"
        await again.say("301")
        await again.press("租户")
        await again.press("跳过")
        assert "等待支部书记审核" in again.last.text
        assert "2栋2单元301" in again.last_for("王书记").text
    finally:
        await restarted.close()
    check = build_app(app.settings)
    try:
        async with check.core.sessions() as session:
            pid = (await session.exec(select(Person.id).where(Person.name == "路人辰"))).one()
            rows = (await session.exec(select(Membership).where(Membership.person_id == pid).order_by(
                col(Membership.id)))).all()
            assert [m.status for m in rows] == ["pending"]
    finally:
        await check.close()


async def test_expiry_uses_the_configured_idle_time(console: Console) -> None:
    console.app.settings.conversation_idle_minutes = 5
    console.as_("路人巳")
    await console.say(f"/join {DEMO_INVITE}")
    console.app.core.clock.advance(timedelta(minutes=6))
    shown = await console.say(DEMO_INVITE)
    assert "已闲置 5 分钟" in shown[0].text
