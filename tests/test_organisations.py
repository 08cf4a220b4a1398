"""Organisations beyond the room, driven through the console as the people involved would: a street admin makes a
department and invites an official who has no room; an official of another street has no say here; a secretary
cannot make an official; property staff neither assess their company nor are reminded to, and see its orders; a
supervisor reads the ledgers but cannot write; /members lists organisations' people by organisation; the demo has
them all; the shell creates them for a real deployment."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from bot.app import App
from bot.cli import main as cli_main
from bot.settings import Settings
from bot.transports.console import Console
from storage import organisations as orgs
from storage.db import transaction
from storage.people import Membership, MembershipStatus, Person, Role, compounds_of, roles_in
from storage.property import Submitted, submit_answer
from tests.conftest import person_ids, second_compound

CODE = re.compile(r"[A-Z2-9]{8}")


async def roles_of(app: App, name: str, compound_id: int = 1) -> frozenset[Role]:
    async with app.core.sessions() as session:
        person = (await session.exec(select(Person).where(Person.name == name))).one()
        return await roles_in(session, person.id or 0, compound_id)


def invite_in(text: str) -> str:
    found = CODE.search(text.split("：", 1)[-1].split(":", 1)[-1])
    assert found, text
    return found.group(0)


async def test_an_official_joins_through_the_street_admin_with_no_room(console: Console, app: App) -> None:
    console.as_("周主任")
    await console.say("/department 住建")
    assert "住建" in console.last.text
    await console.say("/department 住建")  # twice: refused, nothing new
    assert "已经有" in console.last.text
    await console.say("/official 住建")
    code = invite_in(console.last.text)

    console.as_("陈科长")  # has never used linli: no compound, no room
    await console.say(f"/join {code}")
    assert "住建" in console.last.text and "幸福里" in console.last.text
    assert "陈科长" in console.last_for("周主任").text
    roles = await roles_of(app, "陈科长")
    assert Role.OFFICIAL in roles and Role.RESIDENT not in roles
    await console.say("/monthly")  # an official's report
    assert not console.last.text.startswith("抱歉")

    console.as_("王五")  # the code works once
    await console.say(f"/join {code}")
    assert "已经用过" in console.last.text
    assert Role.OFFICIAL not in await roles_of(app, "王五")

    console.as_("周主任")
    await console.say("/street")
    assert "住建" in console.last.text and "陈科长" in console.last.text and "城管刘科长" in console.last.text
    ids = await person_ids(app)
    await console.say(f"/official remove {ids['陈科长']}")
    assert "不再" in console.last_for("陈科长").text
    assert Role.OFFICIAL not in await roles_of(app, "陈科长")


async def test_an_official_of_another_street_has_no_say_here(console: Console, app: App) -> None:
    console.as_("钱主任")
    await console.say("/start")
    other = await second_compound(app)
    async with transaction(app.core.sessions) as session:
        street = await orgs.create_street(session, "东风街道")
        assert street is not None
        await orgs.link_compound(session, other, street)
        department = await orgs.create_department(session, street.stored_id, "城管", None)
        assert department is not None
        person = (await session.exec(select(Person).where(Person.name == "钱主任"))).one()
        await orgs.add_member(session, person.id or 0, None, street_id=street.id)
    console.as_("钱主任")
    await console.say("/official 城管")
    code = invite_in(console.last.text)
    console.as_("吴科长")
    await console.say(f"/join {code}")
    assert "和平苑" in console.last.text and "幸福里" not in console.last.text
    assert Role.OFFICIAL in await roles_of(app, "吴科长", other)
    assert Role.OFFICIAL not in await roles_of(app, "吴科长", 1)
    async with app.core.sessions() as session:
        ids = await person_ids(app)
        assert 1 not in await compounds_of(session, ids["吴科长"])
    # Nor can the other street's admin touch this street's departments or officials.
    console.as_("钱主任")
    await console.say(f"/official remove {ids['城管刘科长']}")
    assert "不是" in console.last.text
    assert Role.OFFICIAL in await roles_of(app, "城管刘科长")
    # And a resident is no street admin.
    console.as_("张三")
    await console.say("/department 消防")
    assert "只有街道管理员" in console.last.text


async def test_a_secretary_cannot_grant_official(console: Console, app: App) -> None:
    ids = await person_ids(app)
    console.as_("王书记")
    await console.say(f"/grant {ids['张三']} official")
    assert "街道管理员" in console.last.text and "西陵街道" in console.last.text
    assert Role.OFFICIAL not in await roles_of(app, "张三")
    await console.say(f"/grant {ids['张三']} supervisor")
    assert Role.SUPERVISOR in await roles_of(app, "张三")
    await console.say(f"/grant {ids['李四']} 调解员")
    assert Role.MEDIATOR in await roles_of(app, "李四")


async def test_property_staff_never_assess_their_company_nor_are_reminded(console: Console, app: App) -> None:
    # 赵物业 works for 幸福物业 and, here, also rents a room in the compound.
    ids = await person_ids(app)
    async with transaction(app.core.sessions) as session:
        other = (await session.exec(select(Membership).where(Membership.person_id == ids["王五"]))).one()
        session.add(Membership(person_id=ids["赵物业"], compound_id=1, room_id=other.room_id, relation="tenant",
                               status=MembershipStatus.APPROVED))
    assert Role.PROPERTY in await roles_of(app, "赵物业")
    console.as_("王书记")
    await console.say("/assess")
    assert "开始填写" in console.last_for("王五").labels
    assert not any("开始填写" in s.labels for s in console.seen_by("赵物业", "private"))
    app.core.clock.advance(days=6)
    await console.clock_to("+30m")
    assert "还没有为物业服务打分" in console.last_for("王五").text
    assert not any("打分" in s.text for s in console.seen_by("赵物业", "private"))
    async with transaction(app.core.sessions) as session:
        from storage.property import open_assessment

        row = await open_assessment(session, 1)
        assert row is not None
        scores = {item: 5 for item in ("cleaning", "greening", "security", "repairs", "elevator", "fees")}
        assert await submit_answer(session, row.stored_id, ids["赵物业"], scores, "", app.core.clock.now()) \
            == Submitted.STAFF
    console.as_("赵物业")
    await console.say("/property")
    assert "幸福物业" in console.last.text


async def test_staff_join_the_property_company_with_a_code(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/staffcode")
    code = invite_in(console.last.text)
    console.as_("钱保安")
    await console.say(f"/join {code}")
    assert "幸福物业" in console.last.text
    roles = await roles_of(app, "钱保安")
    assert Role.PROPERTY in roles and Role.RESIDENT not in roles
    console.as_("张三")
    await console.say("/staffcode")
    assert "只有" in console.last.text


async def test_a_supervisor_reads_but_cannot_write(console: Console, app: App) -> None:
    ids = await person_ids(app)
    console.as_("王书记")
    await console.say(f"/grant {ids['张三']} supervisor")
    console.as_("张三")
    await console.say("/export")  # the complaints ledger
    assert not console.last.text.startswith("抱歉")
    await console.say("/partner")
    assert "西陵小学" in console.last.text and "添加" not in " ".join(console.last.labels)
    for writing in ("/assembly", "/disclose", "/grant 5 committee", "/assess"):
        await console.say(writing)
        assert console.last.text.startswith("抱歉"), writing
    await console.say("/cancel")


async def test_members_lists_organisations_people_by_organisation(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/members")
    text = console.last.text
    assert "物业公司 幸福物业" in text and "赵物业" in text
    assert "职能部门 城管" in text and "城管刘科长" in text
    assert "共驻共建单位 西陵小学" in text
    rooms_listed = [line for line in text.splitlines() if "赵物业" in line and "租户" in line]
    assert rooms_listed == []  # not a fake tenant


async def test_a_secretary_adds_a_partner_unit(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/partner")
    await console.press("添加共驻共建单位")
    await console.say("西陵医院")
    await console.say("医院")  # typed where a button is asked: kept, asked again
    await console.press("医院")
    await console.say("黄主任")
    await console.say("x" * 10_000)  # too long: refused, nothing lost
    await console.say("0717-7654321")
    assert "西陵医院" in console.last.text and "07177654321" in console.last.text
    async with app.core.sessions() as session:
        units = await orgs.partner_units(session, 1)
        assert [u.name for u in units] == ["西陵小学", "西陵医院"]
        contact = await orgs.unit_contact(session, units[1].stored_id)
        assert contact is not None and contact.name == "黄主任"


async def test_the_demo_has_its_street_department_company_and_partner(app: App) -> None:
    async with app.core.sessions() as session:
        street = await orgs.street_of_compound(session, 1)
        assert street is not None and street.name == "西陵街道"
        assert [d.name for d in await orgs.departments_of_street(session, street.stored_id)] == ["城管"]
        assert await orgs.street_admins(session, street.stored_id)
        company = await orgs.property_company_of(session, 1)
        assert company is not None and company.name == "幸福物业"
        staff = [await session.get(Person, p) for p in await orgs.company_staff(session, company.stored_id)]
        assert [p.name for p in staff if p] == ["赵物业"]
        zhao = staff[0]
        assert zhao is not None and zhao.id is not None
        assert not (await session.exec(select(Membership).where(Membership.person_id == zhao.id))).all()
        assert [u.name for u in await orgs.partner_units(session, 1)] == ["西陵小学"]


def test_the_shell_creates_streets_companies_and_partners(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    assert cli_main(["street", "create", "东风街道"]) == 0
    assert cli_main(["street", "create", "东风街道"]) == 2
    assert cli_main(["community", "create", "东风街道", "和平社区"]) == 0
    assert cli_main(["street", "link", "东风街道", "XFL", "--community", "和平社区"]) == 0
    assert cli_main(["street", "admin", "add", "东风街道", "13800000005"]) == 0  # 张三, by phone
    assert cli_main(["street", "admin", "add", "东风街道", "--invite"]) == 0
    assert cli_main(["company", "create", "和平物业", "XFL", "--invite"]) == 0
    assert cli_main(["partner", "create", "XFL", "东风中学", "--category", "school", "--contact", "林老师",
                     "--phone", "0717-1111111"]) == 0
    assert cli_main(["street", "link", "东风街道", "NOPE"]) == 2
    out = capsys.readouterr().out
    assert "东风街道" in out and "和平物业" in out and "东风中学" in out
    assert cli_main(["street", "list"]) == 0
    assert "张三" in capsys.readouterr().out
