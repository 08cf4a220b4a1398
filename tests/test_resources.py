"""The resources list (资源清单) through the console: the secretary adds what a partner unit and a resident offer,
residents read /resources, a need is matched to a resource (from the need's triage and from the list) and the
unit's contact (or the resident who offered it), the poster and the supporters are told; retiring an entry."""

from __future__ import annotations

from bot.app import App
from bot.transports.console import Console
from storage.db import transaction
from storage.organisations import OrganisationKind, create_organisation, link_organisation
from tests.conftest import add_console_person, person_ids


async def partner_unit(app: App, name: str, contact: str, with_person: bool) -> None:
    person_id = await add_console_person(app, contact, 1) if with_person else None
    async with transaction(app.core.sessions) as session:
        unit = await create_organisation(session, OrganisationKind.PARTNER, name, None, contact_name=contact,
                                         contact_phone="0717-6666666", contact_person_id=person_id)
        await link_organisation(session, unit.stored_id, 1)


async def add_resource(console: Console, kind: str, title: str, details: str | None, offerer: str) -> None:
    console.as_("王书记")
    await console.say("/addresource")
    await console.press(kind)
    await console.say(title)
    if details is None:
        await console.press("跳过")
    else:
        await console.say(details)
    if offerer.startswith("#"):
        await console.say(offerer)
    else:
        await console.press(offerer)


async def post_need(console: Console, who: str, text: str) -> None:
    console.as_(who)
    await console.say("/need")
    await console.press("助老")
    await console.say(text)
    await console.press("跳过")


async def test_resources_listed_and_a_need_matched_notifies_the_contact(console: Console, app: App) -> None:
    await partner_unit(app, "幸福小学", "王老师", with_person=True)
    await partner_unit(app, "西陵区医院", "刘医生", with_person=False)
    ids = await person_ids(app)
    await add_resource(console, "场地", "幸福小学操场，周末开放", None, "幸福小学")
    assert "已加入资源清单" in console.last.text and "王老师" in console.last.text
    await add_resource(console, "技能", "上门理发", "每月第一个周六上午", "#abc")  # not a number: asked again
    assert "#编号" in console.last.text
    await console.say("#999")  # nobody of this compound
    assert "不是本小区居民" in console.last.text
    await console.say(f"#{ids['张三']}")
    assert "已加入资源清单" in console.last.text and "上门理发" in console.last.text
    await add_resource(console, "设备", "轮椅两台", None, "西陵区医院")

    console.as_("李四")
    await console.say("/resources")
    listing = console.last.text
    assert all(text in listing for text in ("幸福小学操场", "上门理发", "轮椅两台", "王老师"))
    assert not console.last.labels  # residents read; the secretary keeps the list

    # From the need's triage: 李四's need matched to the school's playground; the contact 王老师 is told.
    await post_need(console, "李四", "老人们想找个地方周末打太极拳")
    console.as_("陈阿姨")
    await console.say("/needs")
    await console.press("附议 #1")
    console.as_("王书记")
    await console.press("对接资源")
    await console.press("#1 幸福小学操场，周末开放")
    assert "已对接到 #1" in console.last.text and "已通知王老师" in console.last.text
    notice = console.last_for("王老师").text
    assert "打太极拳" in notice and "王书记" in notice and "13800000001" in notice
    assert "幸福小学" in console.last_for("李四").text and "幸福小学" in console.last_for("陈阿姨").text
    await console.press("对接资源")  # the triage button again: already dealt with
    assert "已经处理" in console.last.text

    # From the list: 王五's need matched to 张三's haircuts; 张三 is told. A unit whose contact is not on the bot:
    # the secretary is given the number to call.
    await post_need(console, "王五", "独居老人行动不便需要上门理发")
    await post_need(console, "王五", "老人出院后需要借用轮椅")
    console.as_("王书记")
    await console.say("/resources")
    await console.press("#2对接需求")
    await console.press("#2")
    assert "已通知张三" in console.last.text
    assert "上门理发" in console.last_for("张三").text and "#2" in console.last_for("张三").text
    await console.say("/resources")
    await console.press("#3对接需求")
    await console.press("#3")
    assert "刘医生" in console.last.text and "0717-6666666" in console.last.text

    # Retired: off the list; its old button refused politely.
    await console.say("/resources")
    await console.press("撤下 #1")
    assert "已从清单撤下" in console.last.text
    await console.press("撤下 #1")
    assert "已不在清单" in console.last.text
    await console.press("#1对接需求")
    assert "已不在清单" in console.last.text
    console.as_("李四")
    await console.say("/resources")
    assert "幸福小学操场" not in console.last.text and "上门理发" in console.last.text


async def test_residents_cannot_add_resources(console: Console) -> None:
    console.as_("张三")
    await console.say("/addresource")
    assert "已加入资源清单" not in console.last.text
    assert "场地" not in console.last.labels
