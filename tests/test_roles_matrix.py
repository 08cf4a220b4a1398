"""The role × admin-action matrix, built from the registered routes themselves: every command and button that
needs a role refuses, politely and without changing anything, a resident without that role and a person who
belongs to no compound; a person with the role is let through. New features' routes are covered as they
are added."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel, select

from bot.app import App, routers
from bot.core.router import Route, Routes
from bot.transports.console import Console
from storage.compounds import Building, Compound
from storage.conversations import ButtonSet, ButtonSets
from storage.db import transaction
from storage.demo import DEMO_GROUP
from storage.people import GRANTABLE, Person, Role, RoleGrant, roles_in

ROUTES = Routes.join(routers())
GUARDED_COMMANDS = sorted(name for name, route in ROUTES.commands.items() if route.roles is not None)
GUARDED_BUTTONS = sorted(name for name, route in ROUTES.buttons.items() if route.roles is not None)
# Demo people, the plainest first: a refused person is the first one holding none of a route's roles.
PLAIN = ("王五", "张三", "陈阿姨", "赵物业", "孙委员", "李楼长")
STRANGER = "陌生人"
# Bookkeeping every message touches (update ids, last seen): not "a change".
IGNORED = {"processedupdate", "identity", "alembic_version"}
REFUSED = ("抱歉，只有", "您还没有加入小区")
CRASH = "系统出了点问题"


def test_the_matrix_is_not_empty() -> None:
    assert {"grant", "revoke", "members", "bindgroup"} <= set(GUARDED_COMMANDS)
    assert "membership.decide" in GUARDED_BUTTONS


async def snapshot(app: App) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but bookkeeping), to show that a refusal changed nothing."""
    async with app.engine.connect() as conn:
        existing = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
        tables: dict[str, list[tuple[Any, ...]]] = {}
        for table in SQLModel.metadata.sorted_tables:
            if table.name in existing and table.name not in IGNORED:
                rows = (await conn.execute(sa.select(table))).all()
                tables[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return tables


async def demo_roles(app: App) -> dict[str, frozenset[Role]]:
    async with app.core.sessions() as session:
        compound = (await session.exec(select(Compound).where(Compound.code == "XFL"))).one()
        result = {}
        for name in PLAIN:
            person = (await session.exec(select(Person).where(Person.name == name))).one()
            result[name] = await roles_in(session, person.id or 0, compound.id)
        return result


def refused_text(text: str) -> bool:
    return text.startswith(REFUSED)


async def speak_once(console: Console, people: list[str]) -> None:
    """Each has spoken once already, so a first message's bookkeeping (their chat) is not counted as a change."""
    for name in people:
        console.as_(name)
        await console.say("/help")


def refused_by(roles: dict[str, frozenset[Role]], route: Route) -> list[str]:
    """The plainest demo person holding none of the route's roles (if any), and someone in no compound."""
    assert route.roles is not None
    return [*[name for name in PLAIN if not roles[name] & route.roles][:1], STRANGER]


# One app for the whole matrix (a fresh one per route would make this file slow); failures are collected so
# a run names every route that lets the wrong person through.


async def test_commands_refused_without_the_role(console: Console) -> None:
    roles = await demo_roles(console.app)
    await speak_once(console, [*PLAIN, STRANGER])
    before = await snapshot(console.app)
    wrong: list[tuple[str, str, str, str]] = []
    for command in GUARDED_COMMANDS:
        for name in refused_by(roles, ROUTES.commands[command]):
            for args in ("", " 1", " 1 secretary 1栋"):
                console.as_(name)
                shown = await console.say(f"/{command}{args}")
                if not shown or not refused_text(shown[-1].text) or any(s.buttons for s in shown):
                    wrong.append((command, args, name, shown[-1].text if shown else "(nothing)"))
    assert wrong == []
    assert await snapshot(console.app) == before


async def test_buttons_refused_without_the_role(console: Console) -> None:
    """A button's token names its action on the server; pressing one without the role changes nothing."""
    roles = await demo_roles(console.app)
    await speak_once(console, [*PLAIN, STRANGER])
    tokens: dict[str, str] = {}
    async with transaction(console.app.core.sessions) as session:
        compound = (await session.exec(select(Compound).where(Compound.code == "XFL"))).one()
        sets = ButtonSets()
        for action in GUARDED_BUTTONS:
            tokens[action] = sets.add(action, {"id": 1}, person_id=None, compound_id=compound.id,
                                      created_at=console.app.core.clock.now(), expires_at=None)
        session.add_all([ButtonSet(**row) for row in sets.rows])
    before = await snapshot(console.app)
    wrong: list[tuple[str, str, str]] = []
    for action in GUARDED_BUTTONS:
        for name in refused_by(roles, ROUTES.buttons[action]):
            console.as_(name)
            shown = await console._send(button=tokens[action])
            if not shown or not refused_text(shown[-1].text):
                wrong.append((action, name, shown[-1].text if shown else "(nothing)"))
    assert wrong == []
    assert await snapshot(console.app) == before


async def test_commands_allowed_with_the_role(console: Console) -> None:
    holder = "王五"  # a tenant: resident only, given each route's role in turn
    wrong: list[tuple[str, str]] = []
    async with transaction(console.app.core.sessions) as session:
        compound = (await session.exec(select(Compound).where(Compound.code == "XFL"))).one()
        person = (await session.exec(select(Person).where(Person.name == holder))).one()
        first = (await session.exec(select(Building).where(Building.compound_id == compound.id))).first()
        for role in GRANTABLE:
            # A building leader leads a building: the demo's first one.
            building_id = first.id if role == Role.BUILDING_LEADER and first else None
            session.add(RoleGrant(person_id=person.id or 0, compound_id=compound.id or 0, role=role,
                                  building_id=building_id))
    for command in GUARDED_COMMANDS:
        route = ROUTES.commands[command]
        assert route.roles is not None
        console.as_("张三" if route.roles <= {Role.OWNER} else holder)
        shown = await console.say(f"/{command}")
        if not shown or refused_text(shown[-1].text) or any(CRASH in s.text for s in shown):
            wrong.append((command, shown[-1].text if shown else "(nothing)"))
        await console.say("/cancel")  # a command that started a conversation must not block the next one
    assert wrong == []


MEMBER_COMMANDS = sorted(name for name, route in ROUTES.commands.items() if route.member and route.roles is None)
MEMBER_BUTTONS = sorted(name for name, route in ROUTES.buttons.items() if route.member and route.roles is None)
NOT_A_MEMBER = ("只有幸福里的成员", "您还没有加入小区")


def test_the_member_routes_are_listed() -> None:
    assert {"complain", "need", "needs", "rank", "results", "tasks", "points"} <= set(MEMBER_COMMANDS)
    assert MEMBER_BUTTONS


async def test_member_routes_refuse_a_person_who_never_joined(console: Console) -> None:
    """Every member-only command and button, in a private chat and in the compound's bound group: somebody who
    never joined is refused politely and nothing changes (they used to support needs and read /rank, /results
    and /tasks in a bound group)."""
    await speak_once(console, [STRANGER])
    console.in_(DEMO_GROUP)
    await console.say("/help")
    tokens: dict[str, str] = {}
    async with transaction(console.app.core.sessions) as session:
        compound = (await session.exec(select(Compound).where(Compound.code == "XFL"))).one()
        sets = ButtonSets()
        for action in MEMBER_BUTTONS:
            tokens[action] = sets.add(action, {"id": 1, "need": 1, "task": 1, "case": 1}, person_id=None,
                                      compound_id=compound.id, created_at=console.app.core.clock.now(),
                                      expires_at=None)
        session.add_all([ButtonSet(**row) for row in sets.rows])
    before = await snapshot(console.app)
    wrong: list[tuple[str, str, str]] = []
    for chat in ("private", DEMO_GROUP):
        for command in MEMBER_COMMANDS:
            console.as_(STRANGER)
            console.in_(chat)
            shown = await console.say(f"/{command} 1")
            if not shown or not shown[-1].text.startswith(NOT_A_MEMBER) or any(s.buttons for s in shown):
                wrong.append((chat, f"/{command}", shown[-1].text if shown else "(nothing)"))
        for action in MEMBER_BUTTONS:
            console.as_(STRANGER)
            console.in_(chat)
            shown = await console._send(button=tokens[action])
            if not shown or not shown[-1].text.startswith(NOT_A_MEMBER):
                wrong.append((chat, action, shown[-1].text if shown else "(nothing)"))
    assert wrong == []
    assert await snapshot(console.app) == before
