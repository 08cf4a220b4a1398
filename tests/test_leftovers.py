"""What the end-to-end stories left over: rooms typed in traditional characters, /grant's traditional role words,
a closed case's reporter hidden from officials who no longer handle it, and the /start menus of street admins,
officials and property staff."""

from __future__ import annotations

from sqlmodel import select

from bot.app import App
from bot.core.i18n import Catalogs
from bot.core.menus import commands_for
from bot.transports.console import Console
from storage.assembly import Ballot
from storage.complaints import State
from storage.compounds import Room
from storage.demo import DEMO_INVITE
from storage.people import Membership, MembershipStatus, Role, roles_in
from storage.places import label_key, place_key
from tests.conftest import person_ids
from tests.test_assembly import _paper_ballot_begun
from tests.test_complaints import access_rows, cases, file_case, named_resident_only, official_in


async def _room(app: App, room_id: int) -> tuple[str, str]:
    async with app.core.sessions() as session:
        room = await session.get(Room, room_id)
        assert room is not None
        from storage.compounds import describe_room

        return await describe_room(session, room_id), room.number


# ---- 1. rooms typed in traditional characters ------------------------------------------------------------------


def test_one_key_for_places_typed_in_either_script() -> None:
    for typed in ("1棟", "1栋", "１棟", "1號樓", "1号楼", " 1 "):
        assert place_key(typed) == "1", typed
    assert place_key("2單元") == place_key("2单元") == "2"
    assert place_key("301室") == place_key("301號") == place_key("３０１") == "301"
    assert label_key("1棟1單元301") == label_key("1栋1单元301") == label_key("1棟 1單元 301室") == "1/1/301"
    assert label_key("1号楼1单元301") == label_key("１栋１单元３０１") == "1/1/301"
    assert label_key("1栋11单元01") != label_key("11栋1单元01")


async def test_a_taiwan_resident_types_the_whole_address_when_joining(console: Console, app: App) -> None:
    console.as_("林小姐")
    await console.say("/lang zh_TW")
    await console.say(f"/join {DEMO_INVITE}")
    assert "哪一棟" in console.last.text
    await console.say("1棟1單元301")  # the whole address at the building question
    assert "業主" in console.last.text and "租" in console.last.text
    await console.press("租戶")
    await console.say("13912345678")
    async with app.core.sessions() as session:
        membership = (await session.exec(select(Membership).where(
            Membership.status == MembershipStatus.PENDING))).one()
    assert await _room(app, membership.room_id or 0) == ("1栋1单元301", "301")
    assert "1栋1单元301" in console.last_for("王书记").text


async def test_a_taiwan_resident_types_each_place_in_traditional_characters(console: Console, app: App) -> None:
    console.as_("陳先生")
    await console.say("/lang zh_TW")
    await console.say(f"/join {DEMO_INVITE}")
    await console.say("2棟")
    assert console.last.text == "哪個單元？"
    await console.say("１單元")
    await console.say("102室")
    assert "業主" in console.last.text
    # Typed again for a room already asked for: said, not asked twice.
    await console.press("業主")
    await console.say("13912345678")
    await console.say(f"/join {DEMO_INVITE}")
    await console.say("2號樓1單元102號")
    assert "已在等待" in console.last.text or "等待" in console.last.text


async def test_a_paper_ballot_for_a_room_typed_in_traditional_characters(console: Console, app: App) -> None:
    await _paper_ballot_begun(console, room="1棟2單元201室")
    await console.press("提交")
    assert "书面表决票已录入" in console.last.text
    async with app.core.sessions() as session:
        [ballot] = (await session.exec(select(Ballot))).all()
    assert await _room(app, ballot.room_id) == ("1栋2单元201", "201")


# ---- 2. /grant's role words in traditional characters --------------------------------------------------------


async def test_a_taiwan_secretary_grants_each_role_the_help_names(console: Console, app: App) -> None:
    """The zh_TW usage names the roles as a Taiwan secretary types them; each of them is understood, and so are the
    names the replies use (樓棟長, 業委會委員, 物業人員)."""
    zhang = (await person_ids(app))["张三"]
    console.as_("王书记")
    await console.say("/lang zh_TW")
    await console.say("/grant")
    usage = console.last.text
    assert usage.startswith("用法：/grant") and "樓棟長" in usage and "building_leader（" not in usage
    words = usage.split("角色：")[1].split("（")[0].split("、")
    assert words == ["書記", "樓棟長", "黨員", "業委會", "物業", "監事", "調解員"]
    for word in words:
        if word == "書記":
            continue  # a second secretary is granted below, and revoked last
        await console.say(f"/grant {zhang} {word} 1棟")
        assert console.last.text.startswith("张三 現在是"), word
        await console.say(f"/revoke {zhang} {word}")
        assert console.last.text.startswith("张三 已不再是"), word
    for word in ("業委會委員", "物業人員", "樓長", "支部書記", "監督組", "調解委員會"):
        await console.say(f"/grant {zhang} {word} 1棟")
        assert console.last.text.startswith("张三 現在是"), word
    async with app.core.sessions() as session:
        held = await roles_in(session, zhang, 1)
    assert {Role.COMMITTEE, Role.PROPERTY, Role.BUILDING_LEADER, Role.SECRETARY, Role.SUPERVISOR,
            Role.MEDIATOR} <= held
    await console.say(f"/revoke {zhang} 書記")
    assert console.last.text.startswith("张三 已不再是")


# ---- 3. the pages catalogue and the shared texts in Taiwan usage -----------------------------------------------


def _zh_tw(domain: str) -> dict[str, str]:
    from babel.messages.pofile import read_po

    from bot.core.i18n import LOCALES_DIR

    with (LOCALES_DIR / "zh_TW" / "LC_MESSAGES" / f"{domain}.po").open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle, locale="zh_TW") if m.id and m.string}


def test_the_pages_and_the_shared_texts_speak_taiwan_usage() -> None:
    """小區 and 發送 are mainland words (Taiwan: 社區, 傳送); the web pages name the owners' assembly, owners,
    complaints and corrections with the words the bot uses in chat (業主大會, 業主, 陳情, 已整改)."""
    from bot.core.i18n import LOCALES_DIR

    for domain in sorted(path.stem for path in (LOCALES_DIR / "zh_TW" / "LC_MESSAGES").glob("*.po")):
        mainland = {msgid: text for msgid, text in _zh_tw(domain).items() if "小區" in text or "發送" in text}
        assert mainland == {}, domain
    t = Catalogs().translator("zh_TW")
    assert t("Compound") == "社區"
    assert t("Nominate with /nominate · 小区党支部") == "傳送 /nominate 提名 · 社區黨支部"
    assert t("Owners' assemblies") == "業主大會" and "業主大會" in t("Owners' assemblies and their results")
    assert t("Owners") == "業主人數" and t("Decided by the owners of {scope} only.", scope="1栋") == "僅由 1栋 的業主表決。"
    assert t("Complaints by category") == "陳情分類" and t("Case {number}", number=3).startswith("陳情")
    assert t("Black entries not corrected") == "黑榜未整改" and t("Corrected (已整改)") == "已整改"
    pages = " ".join(_zh_tw("pages").values())
    assert "所有權人" not in pages and "訴求" not in pages and "改善" not in pages


# ---- 4. a closed case's reporter and the official who handled it ------------------------------------------------


async def test_an_official_sees_the_reporter_only_while_handling_the_case(console: Console) -> None:
    """The department's official sees 李四's name, room and phone while the case is theirs to handle; once it is
    resolved and closed they see 实名住户 and the building, as any official who does not handle it does (and nothing
    is written to the access log); the secretary still sees who it was."""
    await official_in(console, "刘官员", "市场监管")
    leak = await file_case(console, "李四", "房屋漏水", "卫生间天花板一直在滴水，已经两天了。")
    console.as_("赵物业")
    await console.press("移交/上报")
    await console.press("不加说明")
    console.as_("王书记")
    await console.press("吹哨（呼叫部门）")
    await console.press("市场监管")
    await console.press("不加说明")
    reporter = ("李四", "13800000006", "1单元201", "2栋")
    console.as_("刘官员")
    await console.say(f"/case {leak}")
    assert "李四" in console.last.text and "13800000006" in console.last.text  # handling it: may reach them
    await console.press("受理")
    await console.press("办结")
    await console.say("已更换破损的排水管，天花板不再滴水。")
    await console.press("不附照片")
    await console.say(f"/case {leak}")  # resolved: waiting for the reporter's rating, no longer theirs to handle
    assert named_resident_only(console.last.text, *reporter), console.last.text
    console.as_("王书记")
    await console.press("满意")
    console.as_("李四")
    await console.press("5")
    [case] = await cases(console)
    assert case.state == State.CLOSED
    before = len(await access_rows(console))
    console.as_("刘官员")
    await console.say(f"/case {leak}")
    assert leak in console.last.text and named_resident_only(console.last.text, *reporter), console.last.text
    assert len(await access_rows(console)) == before
    console.as_("王书记")
    await console.say(f"/case {leak}")
    assert "李四" in console.last.text and "13800000006" in console.last.text


# ---- 5. the menus of street admins, and of officials and property staff with no room --------------------------


def _help_commands(text: str) -> set[str]:
    return {line.split(" — ")[0] for line in text.splitlines() if line.startswith("/")}


async def test_a_street_admins_start_and_help_offer_their_commands(console: Console) -> None:
    console.as_("周主任")
    await console.say("/start")
    assert console.last.labels == ["街道概况", "新建职能部门", "邀请或添加部门人员", "邀请物业公司员工"]
    await console.press("新建职能部门")
    assert console.last.text.startswith("用法：/department")
    await console.say("/start")
    await console.press("邀请或添加部门人员")
    assert console.last.text.startswith("用法：/official")
    await console.say("/help")
    assert "街道管理" in console.last.text and "加入小区后，可以使用更多功能" not in console.last.text
    assert {"/street", "/department", "/official", "/staffcode"} <= _help_commands(console.last.text)
    assert "/complain" not in console.last.text
    await console.say("/lang zh_TW")
    await console.say("/start")
    assert console.last.labels == ["街道概況", "新增職能部門", "邀請或新增部門人員", "邀請物業公司員工"]


async def test_a_street_admin_who_lives_in_a_compound_finds_their_commands_in_its_menu(console: Console,
                                                                                      app: App) -> None:
    from storage import organisations as orgs
    from storage.db import transaction

    secretary = (await person_ids(app))["王书记"]
    async with transaction(app.core.sessions) as session:
        street = await orgs.street_of_compound(session, 1)
        assert street is not None and street.id is not None
        await orgs.add_member(session, secretary, None, street_id=street.id)
    console.as_("王书记")
    await console.say("/start")
    assert "街道管理" in console.last.labels and "管理" in console.last.labels  # beside the compound's sections
    await console.press("街道管理")
    assert console.last.labels == ["街道概况", "新建职能部门", "邀请或添加部门人员", "邀请物业公司员工", "返回菜单"]
    await console.press("新建职能部门")
    assert console.last.text.startswith("用法：/department")
    # The office ends: the menu's button, pressed again, says so.
    await console.say("/start")
    async with transaction(app.core.sessions) as session:
        assert await orgs.remove_member(session, secretary, app.core.clock.now(), street_id=street.id)
    await console.press("街道管理")
    assert console.last.text == "这里已经没有您可以办的事了。"
    await console.say("/start")
    assert "街道管理" not in console.last.labels


RESIDENTS_OWN = {"/complain", "/mycases", "/need", "/services", "/myorders", "/skills", "/export points",
                 "/nominate", "/objection", "/leavecompound"}


async def test_officials_and_property_staff_with_no_room_see_only_what_they_can_use(console: Console,
                                                                                    app: App) -> None:
    for person, own in (("城管刘科长", {"/cases", "/stats", "/monthly"}), ("赵物业", {"/cases", "/stats"})):
        console.as_(person)
        await console.say("/help")
        shown = _help_commands(console.last.text)
        assert own <= shown, person
        assert not shown & RESIDENTS_OWN, (person, shown & RESIDENTS_OWN)
        assert {"/case", "/board", "/results", "/disclosures", "/lang"} <= shown, person
        await console.say("/start")
        assert "便民服务" not in console.last.labels and "管理" in console.last.labels, person
        await console.press("诉求")
        assert "提交诉求" not in console.last.labels and "查看一件诉求及其全部办理记录" in console.last.labels
    # A resident, and a secretary who lives in the compound, keep every section.
    for person in ("张三", "王书记"):
        console.as_(person)
        await console.say("/help")
        assert RESIDENTS_OWN - {"/objection", "/export points"} <= _help_commands(console.last.text), person
        await console.say("/start")
        assert "便民服务" in console.last.labels


def test_chat_menus_of_a_street_admin_and_an_official(app: App) -> None:
    t = Catalogs().translator("zh_CN")
    routes = app.core.routes
    official = dict(commands_for(routes, frozenset({Role.OFFICIAL}), t))
    assert "cases" in official and "complain" not in official and "leavecompound" not in official
    resident = dict(commands_for(routes, frozenset({Role.RESIDENT, Role.OWNER, Role.PROPERTY}), t))
    assert "complain" in resident  # property staff who live here: a resident's own matters too
    street = commands_for(routes, frozenset(), t, street=True)
    assert [name for name, _ in street[:4]] == ["street", "department", "official", "staffcode"]
    assert street[0][1] == "街道概况" and "complain" not in dict(street)
    assert commands_for(routes, frozenset(), t) == ()
