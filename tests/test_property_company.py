"""/company names the property company as an organisation, the one source of truth: the company it sets is the one
whose staff hold the property role in the compound (changing it moves the role, linking an existing company keeps
its staff), and the old one-per-compound rows move to organisations when the database is migrated."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage import migrate
from storage import organisations as orgs
from storage.people import Person, Role, roles_in
from tests.test_organisations import invite_in


async def roles_of(app: App, name: str) -> frozenset[Role]:
    async with app.core.sessions() as session:
        person = (await session.exec(select(Person).where(Person.name == name))).one()
        return await roles_in(session, person.id or 0, 1)


async def company_here(app: App) -> orgs.Organisation | None:
    async with app.core.sessions() as session:
        return await orgs.property_company_of(session, 1)


async def test_the_company_set_by_company_is_the_one_whose_staff_hold_property_roles(console: Console,
                                                                                     app: App) -> None:
    assert Role.PROPERTY in await roles_of(app, "赵物业")  # the demo's 幸福物业
    console.as_("王书记")
    await console.say("/company")
    assert "幸福物业" in console.last.text and "赵物业" in console.last.text

    await console.say("/company 和谐物业 0717-7777777")
    assert "和谐物业" in console.transport.shown[-2].text
    found = await company_here(app)
    assert found is not None and found.name == "和谐物业" and found.contact_phone == "07177777777"
    assert Role.PROPERTY not in await roles_of(app, "赵物业")  # 幸福物业 no longer serves 幸福里
    await console.say("/staffcode")
    code = invite_in(console.last.text)
    assert "和谐物业" in console.last.text
    console.as_("钱保安")
    await console.say(f"/join {code}")
    assert "和谐物业" in console.last.text
    assert Role.PROPERTY in await roles_of(app, "钱保安")

    # Back to the company that exists already: linked again (not a second 幸福物业), with its staff.
    console.as_("王书记")
    await console.say("/company 幸福物业 李经理")
    found = await company_here(app)
    assert found is not None and found.name == "幸福物业" and found.contact_name == "李经理"
    assert Role.PROPERTY in await roles_of(app, "赵物业") and Role.PROPERTY not in await roles_of(app, "钱保安")
    async with app.core.sessions() as session:
        same = (await session.exec(select(orgs.Organisation).where(orgs.Organisation.name == "幸福物业"))).all()
        assert len(same) == 1
    await console.say("/company 幸福物业 0717-1234567")  # the same company: its contact changes
    assert "07171234567" in console.last.text and "赵物业" in console.last.text
    console.as_("张三")
    await console.say("/company 张三物业 1")
    assert console.last.text.startswith("抱歉")
    after = await company_here(app)
    assert after is not None and after.name == "幸福物业"


def _insert(db: sqlite3.Connection, table: str, values: dict[str, object]) -> None:
    """A row with `values` and a placeholder for every other required column."""
    columns = db.execute(f"PRAGMA table_info({table})").fetchall()
    row = dict(values)
    for _cid, name, kind, notnull, default, primary in columns:
        if notnull and default is None and not primary and name not in row:
            row[name] = 0 if "INT" in kind.upper() or "BOOL" in kind.upper() else "x"
    db.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))


def test_old_company_rows_move_to_organisations(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url, "0032_revocation_advice")
    db = sqlite3.connect(path)
    _insert(db, "compound", {"id": 1, "name": "幸福里", "code": "XFL", "invite_code": "XFL1"})
    _insert(db, "compound", {"id": 2, "name": "和平苑", "code": "HPY", "invite_code": "HPY1"})
    db.execute("INSERT INTO propertycompany (compound_id, name, contact) VALUES (1, '老物业', '0717-5555555')")
    db.execute("INSERT INTO propertycompany (compound_id, name, contact) VALUES (2, '老物业', '王经理')")
    db.commit()
    db.close()
    migrate.upgrade(url)
    db = sqlite3.connect(path)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "propertycompany" not in tables
    companies = db.execute("SELECT id, kind, name, contact_phone FROM organisation").fetchall()
    assert [(kind, name, phone) for _id, kind, name, phone in companies] == [("property", "老物业", "07175555555")]
    links = db.execute("SELECT organisation_id, compound_id FROM organisation_compound ORDER BY compound_id").fetchall()
    assert links == [(companies[0][0], 1), (companies[0][0], 2)]  # one company serving both
    db.close()
