"""Shared fixtures: a migrated SQLite database with the demo district (migrated once, copied per test), the
app on a frozen clock, and a console to drive it as people do."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.app import App, build_app
from bot.core.clock import Clock
from bot.settings import Settings
from bot.transports.console import Console
from storage import migrate
from storage.compounds import Chat
from storage.db import make_engine, make_sessionmaker, transaction
from storage.demo import seed_demo
from storage.outbox import OutboxMessage
from storage.people import Identity, Person, Role, RoleGrant
from tests.fake_telegram import FakeTelegram

# Monday 2026-11-23 09:00 in Shanghai: every test starts here.
START = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))

# Scripted conversations run on a frozen clock, so all of a test's messages arrive in one instant, which flood
# control would take for a flood. It is off for the suite (and the bots it starts); tests/test_flood.py turns it on.
os.environ.setdefault("FLOOD_MESSAGES_PER_MINUTE", "0")
# Likewise the notification budget: a test's day is not a resident's day. tests/test_notifications.py and
# tests/test_busy_month.py turn it on.
os.environ.setdefault("NOTIFICATION_BUDGET", "false")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


# Set by tests/postgres.sh: the suite then runs on a real PostgreSQL server, one fresh database per test.
PG_ADMIN_URL = os.environ.get("LINLI_TEST_PG_ADMIN_URL", "")
# One template per pytest-xdist worker: the workers run side by side on the same server.
PG_TEMPLATE = "linli_template_" + os.environ.get("PYTEST_XDIST_WORKER", "main")


def on_postgres() -> bool:
    return bool(PG_ADMIN_URL)


def _pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


async def _pg_admin(*statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _seed(url: str) -> None:
    engine = make_engine(url)
    async with transaction(make_sessionmaker(engine)) as session:
        await seed_demo(session)
    await engine.dispose()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrations run once per test session; each test gets a copy of the result."""
    if on_postgres():
        asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {PG_TEMPLATE} WITH (FORCE)", f"CREATE DATABASE {PG_TEMPLATE}"))
        url = _pg_url(PG_TEMPLATE)
        migrate.upgrade(url)
        asyncio.run(_seed(url))
        yield PG_TEMPLATE
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(sqlite_url(path))
    asyncio.run(_seed(sqlite_url(path)))
    yield str(path)


@pytest.fixture(scope="session")
def sqlite_template_db(template_db: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Always an SQLite file: end-to-end tests give it to a `linli run` process of their own."""
    if not on_postgres():
        return template_db
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate.upgrade(sqlite_url(path))
    asyncio.run(_seed(sqlite_url(path)))
    return str(path)


@pytest.fixture
def db_url(template_db: str, tmp_path: Path) -> Iterator[str]:
    if on_postgres():
        name = f"t_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_admin(f"CREATE DATABASE {name} TEMPLATE {template_db}"))
        yield _pg_url(name)
        asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        return
    path = tmp_path / "linli.db"
    shutil.copy(template_db, path)
    yield sqlite_url(path)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(_env_file=None, database_url=db_url)  # type: ignore[call-arg]


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[App]:
    application = build_app(settings, clock=Clock(START, frozen=True))
    yield application
    await application.close()


@pytest.fixture
def console(app: App) -> Console:
    return Console(app)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """The fake Telegram Bot API on loopback; a module that needs another (WeCom's, or one that knows some chats
    already) defines its own `fake`."""
    server = await FakeTelegram().start()
    yield server
    await server.stop()


async def add_console_person(app: App, name: str, compound_id: int = 1, *roles: Role) -> int:
    """Someone the console speaks as with `console.as_(name)`, with these roles granted in the compound, written
    straight to the database (no /join): an official or other staff who is not a resident. Returns the id."""
    async with transaction(app.core.sessions) as session:
        person = Person(name=name, current_compound_id=compound_id)
        session.add(person)
        await session.flush()
        assert person.id is not None
        session.add(Identity(person_id=person.id, platform="console", platform_user_id=name,
                             private_chat_id=f"p:{name}"))
        for role in roles:
            session.add(RoleGrant(person_id=person.id, compound_id=compound_id, role=role))
        return person.id


async def person_ids(app: App) -> dict[str, int]:
    """Everyone's id by name (the demo's people and those the test added)."""
    async with app.core.sessions() as session:
        return {p.name: p.id or 0 for p in (await session.exec(select(Person))).all()}


async def second_compound(app: App, *people: tuple[str, tuple[Role, ...]]) -> int:
    """A second compound, 和平苑 (HPY), with one building and room; each named person (already known to the
    console) becomes an approved tenant there with these roles. Returns its id. For tests that switch compound
    in the middle of something."""
    from storage.compounds import Building, Room, Unit, create_compound
    from storage.people import Membership, MembershipStatus

    async with transaction(app.core.sessions) as session:
        compound = await create_compound(session, "和平苑", "HPY", street="西陵街道")
        assert compound.id is not None
        building = Building(compound_id=compound.id, name="1栋", sort=1)
        session.add(building)
        await session.flush()
        unit = Unit(building_id=building.id or 0, name="1单元", sort=1)
        session.add(unit)
        await session.flush()
        room = Room(compound_id=compound.id, building_id=building.id or 0, unit_id=unit.id or 0, number="101",
                    floor=1, area=Decimal("80.00"))
        session.add(room)
        await session.flush()
        for name, roles in people:
            person = (await session.exec(select(Person).where(Person.name == name))).one()
            assert person.id is not None
            session.add(Membership(person_id=person.id, compound_id=compound.id, room_id=room.id,
                                   status=MembershipStatus.APPROVED))
            for role in roles:
                session.add(RoleGrant(person_id=person.id, compound_id=compound.id, role=role))
        return compound.id


HPY_GROUP = "和平苑业主群"  # the group second_compound's compound gets from hpy_with_group


async def hpy_with_group(app: App, *people: tuple[str, tuple[Role, ...]]) -> int:
    """和平苑 with a bound group chat, so anything wrongly published there would reach its outbox."""
    compound_id = await second_compound(app, *people)
    async with transaction(app.core.sessions) as session:
        session.add(Chat(platform="console", platform_chat_id=f"g:{HPY_GROUP}", kind="group", title=HPY_GROUP,
                         compound_id=compound_id))
    return compound_id


async def outbox_to(app: App, group: str) -> list[OutboxMessage]:
    async with app.core.sessions() as session:
        return list((await session.exec(select(OutboxMessage).where(OutboxMessage.chat_id == f"g:{group}"))).all())


async def revoke_role(app: App, name: str, role: Role, compound_id: int = 1) -> None:
    """Take a granted role away, as /revoke does, straight in the database (in the middle of someone's flow)."""
    from datetime import UTC
    from datetime import datetime as dt

    async with transaction(app.core.sessions) as session:
        person = (await session.exec(select(Person).where(Person.name == name))).one()
        grants = (await session.exec(select(RoleGrant).where(
            RoleGrant.person_id == person.id, RoleGrant.compound_id == compound_id, RoleGrant.role == role,
            RoleGrant.revoked_at == None))).all()  # noqa: E711
        assert grants, f"{name} holds no {role} in compound {compound_id}"
        for grant in grants:
            grant.revoked_at = dt.now(UTC)
            session.add(grant)


async def switch_to(console: Console, compound: str) -> None:
    """/compound and press the named compound, as a person does in the middle of a flow."""
    await console.say("/compound")
    await console.press(compound)
    assert compound in console.last.text
