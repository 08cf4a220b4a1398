"""The fixed statements' driver path on either database (storage.db: `sqlite_driver`, `asyncpg_driver`): it runs
in the session's own transaction and reads and writes what the ORM would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import col, select

from bot.app import App
from bot.transports.console import Console
from storage import db
from storage.compounds import Compound, Room
from storage.conversations import ButtonSet
from storage.db import ORM_ONLY, Prepared, PreparedInsert, asyncpg_driver, sqlite_driver, transaction
from storage.people import Identity, Person
from tests.conftest import on_postgres


@contextmanager
def through_sqlalchemy(app: App) -> Iterator[list[str]]:
    """The statements that go through SQLAlchemy's engine inside the block (not those on the driver)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    engine = app.core.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_the_fixed_statements_take_the_driver_of_either_database(console: Console, app: App) -> None:
    """A message's sender, roles and update claim are read and written on the driver, not through SQLAlchemy."""
    async with transaction(app.core.sessions) as session:
        assert (await sqlite_driver(session) is None) == on_postgres()
        assert (await asyncpg_driver(session) is None) != on_postgres()
        session.info[ORM_ONLY] = True
    console.as_("张三")
    await console.say("/help")
    with through_sqlalchemy(app) as run:
        await console.say("/help")
    assert "/start" in console.last.text
    mine = run[: next((i for i, s in enumerate(run) if "outbox" in s), len(run))]
    assert not [s for s in mine if "processedupdate" in s or "FROM identity" in s or "FROM role" in s], mine
    app.core.intake = False  # the control: the same message through the ORM shows them
    with through_sqlalchemy(app) as run:
        await console.say("/help")
    assert [s for s in run if s.startswith("INSERT INTO processedupdate")]


async def test_driver_statements_are_in_the_session_transaction(app: App) -> None:
    now = app.core.clock.now()
    sets = PreparedInsert(ButtonSet)
    with pytest.raises(RuntimeError):
        async with transaction(app.core.sessions) as session:
            session.add(ButtonSet(key="orm", buttons={"a": "x"}, created_at=now))
            # A fixed query sees what the ORM has not flushed yet (as autoflush would), and its insert is undone.
            found = await db.get(session, ButtonSet, "orm")
            assert found is not None and found.buttons == {"a": "x"}
            await sets.run(session, [{"key": "driver", "buttons": {"a": "y"}, "created_at": now}])
            assert [row.buttons["a"] for row in await Prepared(select(ButtonSet).where(
                ButtonSet.key == sa.bindparam("key")), ButtonSet).objects(session, key="driver")] == ["y"]
            raise RuntimeError("undo")
    async with transaction(app.core.sessions) as session:
        assert (await session.exec(select(ButtonSet.key).where(
            col(ButtonSet.key).in_(["orm", "driver"])))).all() == []
        await sets.run(session, [{"key": "kept", "buttons": {"a": "y"}, "created_at": now}])
    async with app.core.sessions() as session:
        assert (await session.get(ButtonSet, "kept")) is not None


def _plain(row: Any) -> dict[str, Any]:
    return {key: value for key, value in row.model_dump().items()}


async def test_the_driver_reads_and_writes_every_kind_of_value_as_the_orm(app: App) -> None:
    """JSON, timestamps, booleans, numerics and None, inserted and read on the driver and through the ORM."""
    now = app.core.clock.now()
    rows: list[dict[str, Any]] = [{"key": "a", "buttons": {"n": 1, "名": ["x", None], "f": 1.5, "投票": "二楼"},
             "person_id": 1, "compound_id": 1, "conversation_key": "k", "step": "s", "created_at": now,
             "expires_at": now + timedelta(days=2)},
            {"key": "b"}]  # the rest left to their defaults
    for orm in (False, True):
        async with transaction(app.core.sessions) as session:
            if orm:
                session.info[ORM_ONLY] = True
            await PreparedInsert(ButtonSet).run(session, [{**row, "key": f"{orm}{row['key']}"} for row in rows])
    read: dict[bool, list[Any]] = {}
    for orm in (False, True):
        async with app.core.sessions() as session:
            if orm:
                session.info[ORM_ONLY] = True
            found: list[Any] = [await db.get(session, ButtonSet, f"{written}{row['key']}")
                                for written in (False, True) for row in rows]
            models: list[tuple[type[Any], int]] = [(Room, 1), (Compound, 1), (Person, 1), (Identity, 1),
                                                   (Room, 10**9)]
            found += [await db.get(session, model, key) for model, key in models]
            read[orm] = [_plain(row) if row is not None else None for row in found]
    assert read[False] == read[True]
    sets = read[False][:4]
    assert sets[0] is not None and sets[0]["buttons"] == {"n": 1, "名": ["x", None], "f": 1.5, "投票": "二楼"}
    assert sets[0]["expires_at"] == now + timedelta(days=2)
    # Defaults filled as the ORM fills them (the created_at a machine time, so compared by kind only).
    assert sets[1] is not None and sets[1]["buttons"] == {} and sets[1]["expires_at"] is None
    assert {key for key, value in sets[1].items() if value != sets[3][key]} <= {"key", "created_at"}
    assert read[False][-1] is None and read[False][4]["area"] is not None


@pytest.mark.skipif(not on_postgres(), reason="a pooled connection to a database server")
async def test_a_pooled_connection_is_checked_only_after_sitting_idle(app: App,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """No ping (three round trips) before each message; a connection idle long enough is checked first, and one
    the server dropped meanwhile is replaced without the message failing."""
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

    from tests.conftest import _pg_admin

    pings: list[int] = []
    ping = AsyncAdapt_asyncpg_connection.ping

    def counted(self: Any) -> None:
        pings.append(1)
        ping(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counted)
    backend = sa.text("SELECT pg_backend_pid()")
    async with transaction(app.core.sessions) as session:
        first = (await session.execute(backend)).scalar_one()
    async with transaction(app.core.sessions) as session:
        assert (await session.execute(backend)).scalar_one() == first
    assert pings == []  # busy: used a moment ago
    await _pg_admin(f"SELECT pg_terminate_backend({first})")
    monkeypatch.setattr(db, "PING_IDLE_SECONDS", 0.0)
    async with transaction(app.core.sessions) as session:
        assert (await session.execute(backend)).scalar_one() != first
    assert pings != []


@pytest.mark.skipif(not on_postgres(), reason="row locks of a database server (SQLite has one writer)")
async def test_the_joined_read_locks_the_conversation_and_reads_it_after_the_lock(console: Console, app: App) -> None:
    """Two processes may have the same person's messages at once: the second waits for the first's conversation
    and then works on what the first wrote, not on what it read before waiting."""
    import asyncio

    from storage import intake
    from storage.conversations import Conversation
    from storage.demo import DEMO_INVITE

    console.as_("路人甲")
    await console.say(f"/join {DEMO_INVITE}")
    async with app.core.sessions() as first, first.begin():
        row = (await first.exec(select(Conversation).join(Identity, col(Identity.person_id) == Conversation.person_id)
                                .where(Identity.platform_user_id == "路人甲").with_for_update())).one()
        row.step = "elsewhere"
        first.add(row)
        await first.flush()
        async with app.core.sessions() as second, second.begin():
            reading = asyncio.create_task(intake.arrival(second, "console", "路人甲", "p:路人甲", None))
            await asyncio.sleep(0.3)
            assert not reading.done()  # waits for the first's lock
            await first.commit()
            arrived = await reading
            assert arrived is not None and arrived.locked
            assert arrived.conversation is not None and arrived.conversation.step == "elsewhere"


async def test_the_roles_read_with_the_sender_are_the_roles(app: App) -> None:
    """The joined read brings the sender's roles in the compound they act in (the group's, else their own);
    `intake.roles` gives the same as `roles_in` for everyone, in private and in the group, and for another
    compound than the one read with them (then read)."""
    from storage import intake
    from storage.demo import DEMO_GROUP
    from storage.people import Role, roles_in
    from tests.conftest import second_compound

    second = await second_compound(app, ("张三", (Role.SECRETARY,)))
    async with app.core.sessions() as session:
        people = (await session.exec(select(Identity.platform_user_id, Person.id, Person.current_compound_id).join(
            Person, col(Person.id) == Identity.person_id).where(Identity.platform == "console"))).all()
    seen: set[Any] = set()
    for user, person_id, current in people:
        assert person_id is not None
        for chat_id, acting_in in ((f"p:{user}", current), (f"g:{DEMO_GROUP}", 1)):
            for compound_id in {c for c in (acting_in, 1, second) if c is not None}:
                async with transaction(app.core.sessions) as session:
                    assert await intake.arrival(session, "console", user, chat_id, None) is not None
                    _, _, read_in, read = session.info[intake._ROLES_READ]
                    assert read_in == acting_in, (user, chat_id)
                    got = await intake.roles(session, person_id, compound_id)
                async with app.core.sessions() as session:
                    assert got == await roles_in(session, person_id, compound_id), (user, chat_id, compound_id)
                if compound_id == acting_in:
                    assert read == got
                seen |= got
    assert len(seen) >= 4, seen


async def test_the_street_admin_read_with_the_sender_is_theirs(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """The joined read also tells whether the sender administers a street: `streets_administered` then asks the
    database only for those who do, and again once an affiliation is added or ended in the same transaction."""
    from storage import intake
    from storage import organisations as orgs

    asked: list[int] = []
    objects = orgs._ADMINISTERED.objects

    async def counted(session: Any, **params: Any) -> Any:
        asked.append(params["person_id"])
        return await objects(session, **params)

    monkeypatch.setattr(orgs._ADMINISTERED, "objects", counted)
    async with transaction(app.core.sessions) as session:
        arrived = await intake.arrival(session, "console", "张三", "p:张三", None)
        assert arrived is not None and arrived.person.id is not None
        person_id = arrived.person.id
        assert await orgs.streets_administered(session, person_id) == []
        assert await orgs.streets_administered(session, person_id + 1) == []  # another person: asked
        assert asked == [person_id + 1]
        street = await orgs.create_street(session, "测试街道")
        assert street is not None
        assert await orgs.add_member(session, person_id, None, street_id=street.stored_id) == orgs.Added.ADDED
        assert [s.name for s in await orgs.streets_administered(session, person_id)] == ["测试街道"]
    async with transaction(app.core.sessions) as session:
        assert await intake.arrival(session, "console", "张三", "p:张三", None) is not None
        assert [s.name for s in await orgs.streets_administered(session, person_id)] == ["测试街道"]
        assert await orgs.remove_member(session, person_id, app.core.clock.now(), street_id=street.stored_id)
        assert await orgs.streets_administered(session, person_id) == []
    async with transaction(app.core.sessions) as session:
        assert await intake.arrival(session, "console", "张三", "p:张三", None) is not None
        assert session.info[orgs.ADMINISTERS_READ][1:] == (person_id, 0)
        asked.clear()
        assert await orgs.streets_administered(session, person_id) == []
        assert asked == []


@pytest.mark.skipif(not on_postgres(), reason="the statements on asyncpg's connection")
async def test_a_help_is_two_statements_between_begin_and_commit(console: Console, app: App,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A /help: the joined read (sender, chat, conversation, roles, street admin; "last seen" written by it when
    stale) and the claim with its answer; nothing else reaches the server between BEGIN and COMMIT."""
    ran: list[str] = []
    run = db.PgDriver._run

    async def recorded(self: db.PgDriver, statement: db.PgStatement, params: dict[str, Any]) -> Any:
        ran.append(" ".join(statement.sql.split())[:400])
        return await run(self, statement, params)

    async with transaction(app.core.sessions) as session:  # seen now by the test's clock (seeded by the real one)
        await session.exec(sa.update(Identity).where(col(Identity.platform_user_id) == "张三")  # type: ignore[call-overload]
                           .values(last_seen_at=app.core.clock.now()))
    console.as_("张三")
    await console.say("/help")
    monkeypatch.setattr(db.PgDriver, "_run", recorded)
    with through_sqlalchemy(app) as orm:
        await console.say("/help")
    assert "/start" in console.last.text
    assert len(ran) == 2 and "SELECT i." in ran[0] and ran[1].startswith("INSERT INTO processedupdate"), [r[:90] for r in ran]
    assert [s for s in orm if "outbox" not in s] == []
    seen = select(Identity.last_seen_at).where(Identity.platform_user_id == "张三")
    async with app.core.sessions() as session:
        before = (await session.exec(seen)).one()
    for minutes, written in ((4, False), (2, True)):  # written behind: at most once in five minutes
        app.core.clock.advance(minutes=minutes)
        ran.clear()
        await console.say("/help")
        assert len(ran) == 2, ran
        async with app.core.sessions() as session:
            assert (await session.exec(seen)).one() == (app.core.clock.now() if written else before)


@pytest.mark.skipif(not on_postgres(), reason="a pooled connection to a database server")
async def test_a_connection_the_server_dropped_is_not_used_again(app: App) -> None:
    """A connection found dead by a fixed statement (it was used too recently to be pinged) fails that one
    transaction and is thrown away with the pool's others, as SQLAlchemy does when its own statement finds it."""
    import asyncio

    from tests.conftest import _pg_admin

    backends: list[int] = []

    async def hold() -> None:
        async with transaction(app.core.sessions) as session:
            backends.append((await session.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())
            await asyncio.sleep(0.2)  # several connections in the pool

    await asyncio.gather(hold(), hold(), hold())
    await _pg_admin(*[f"SELECT pg_terminate_backend({pid})" for pid in backends])
    await asyncio.sleep(0.2)
    with pytest.raises(sa.exc.DBAPIError) as failed:
        async with transaction(app.core.sessions) as session:
            await db.get(session, Person, 1)
    assert failed.value.connection_invalidated
    for _ in range(3):
        async with transaction(app.core.sessions) as session:
            assert await db.get(session, Person, 1) is not None


async def test_a_fixed_query_with_a_constant_list_finds_what_the_orm_finds(app: App) -> None:
    """A constant IN list is spelt out once (SQLAlchemy expands it at each execution); a bound value beside it."""
    query = Prepared(select(Person).where(Person.id.in_([1, 2, 3, 10**9]),  # type: ignore[union-attr]
                                          Person.id != sa.bindparam("other")).order_by(col(Person.id)), Person)
    found: dict[bool, list[dict[str, Any]]] = {}
    for orm in (False, True):
        async with app.core.sessions() as session:
            if orm:
                session.info[ORM_ONLY] = True
            found[orm] = [_plain(row) for row in await query.objects(session, other=2)]
    assert found[False] == found[True]
    assert [row["id"] for row in found[False]] == [1, 3]


async def _backends(app: App) -> set[int]:
    """The server processes connected to this test's database (its connections, wherever they are)."""
    import asyncpg

    from tests.conftest import PG_ADMIN_URL

    connection = await asyncpg.connect(PG_ADMIN_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await connection.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1",
                                      app.core.engine.url.database)
    finally:
        await connection.close()
    return {row[0] for row in rows}


@pytest.mark.skipif(not on_postgres(), reason="a pooled connection to a database server")
async def test_transactions_keep_their_connections_and_end_them_on_asyncpg(app: App) -> None:
    """A transaction's connection is kept for the next one (not checked in and out of the pool), begun and
    committed on asyncpg without SQLAlchemy; what a failed one wrote is rolled back before the connection is used
    again; one left inside a savepoint is thrown away; disposing of the engine closes the kept ones."""
    import asyncio

    from storage.db import _KEPT

    backend = sa.text("SELECT pg_backend_pid()")
    pool = app.core.engine.sync_engine.pool
    async with transaction(app.core.sessions) as session:
        first = (await session.execute(backend)).scalar_one()
    checked_out = pool.checkedout()
    with through_sqlalchemy(app) as run:
        async with transaction(app.core.sessions) as session:
            assert (await session.execute(backend)).scalar_one() == first
            assert await db.get(session, Person, 1) is not None
    assert pool.checkedout() == checked_out  # still out: kept, not given back and taken again
    assert not [s for s in run if s.split()[0] in ("BEGIN", "COMMIT", "ROLLBACK")], run
    now = app.core.clock.now()
    with pytest.raises(RuntimeError):
        async with transaction(app.core.sessions) as session:
            await PreparedInsert(ButtonSet).run(session, [{"key": "undone", "buttons": {"a": "y"}, "created_at": now}])
            session.add(ButtonSet(key="undone too", buttons={"a": "x"}, created_at=now))
            await session.flush()
            raise RuntimeError("undo")
    async with transaction(app.core.sessions) as session:
        assert (await session.execute(backend)).scalar_one() == first
        assert (await session.exec(select(ButtonSet.key).where(
            col(ButtonSet.key).in_(["undone", "undone too"])))).all() == []
    # A duplicate key in a savepoint is only that savepoint's; a savepoint left open is released with the commit,
    # as the ORM's commit does.
    async with transaction(app.core.sessions) as session:
        session.add(ButtonSet(key="kept", buttons={"a": "x"}, created_at=now))
        assert not await db.add_unless_exists(session, ButtonSet(key="kept", buttons={"a": "y"}, created_at=now))
    async with transaction(app.core.sessions) as session:
        assert (await session.get(ButtonSet, "kept")) is not None
        await session.begin_nested()
        session.add(ButtonSet(key="in a savepoint", buttons={"a": "x"}, created_at=now))
    async with transaction(app.core.sessions) as session:
        assert (await session.execute(backend)).scalar_one() == first
        assert (await session.get(ButtonSet, "in a savepoint")) is not None
    # Several at once: as many kept as the pool keeps (the rest go back to it), all closed with the engine.
    async def hold() -> None:
        async with transaction(app.core.sessions) as session:
            await session.execute(backend)
            await asyncio.sleep(0.1)

    await asyncio.gather(*(hold() for _ in range(pool.size() + 3)))
    assert len(app.core.engine.sync_engine.__dict__[_KEPT].idle) == pool.size()
    assert len(await _backends(app)) >= pool.size()
    await app.core.engine.dispose()
    assert await _backends(app) == set()
    async with transaction(app.core.sessions) as session:  # and the engine goes on with new ones
        assert await db.get(session, Person, 1) is not None


@pytest.mark.skipif(not on_postgres(), reason="a pooled connection to a database server")
def test_one_engine_on_two_event_loops_keeps_its_connections_apart(db_url: str) -> None:
    """A `linli` command runs one event loop after another on one engine: connections kept by a loop that has
    ended are thrown away, not used on the next one, and disposing of the engine closes the rest."""
    import asyncio

    from storage.db import _KEPT, make_engine, make_sessionmaker

    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    backend = sa.text("SELECT pg_backend_pid()")

    async def pid() -> int:
        async with transaction(sessions) as session:
            return int((await session.execute(backend)).scalar_one())

    first = asyncio.run(pid())
    first_kept = engine.sync_engine.__dict__[_KEPT]

    async def second_loop() -> tuple[int, int]:
        second = await pid()
        again = await pid()
        await engine.dispose()
        return second, again

    second, again = asyncio.run(second_loop())
    assert second != first and again == second
    assert first_kept.idle == [] and _KEPT not in engine.sync_engine.__dict__


async def _cancel_midway(app: App, slow: Any, after: float) -> None:
    """Run `slow` (a transaction) in a task, cancel it after `after` seconds, and check that the connection it
    had (the one kept by the transaction before) is not used again: the next transactions run on another."""
    import asyncio

    backend = sa.text("SELECT pg_backend_pid()")
    async with transaction(app.core.sessions) as session:
        first = (await session.execute(backend)).scalar_one()
    task = asyncio.create_task(slow())
    await asyncio.sleep(after)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(3):
        async with transaction(app.core.sessions) as session:
            assert (await session.execute(backend)).scalar_one() != first
            assert await db.get(session, Person, 1) is not None


@pytest.mark.skipif(not on_postgres(), reason="a pooled connection to a database server")
async def test_a_transaction_cancelled_in_a_statement_does_not_leave_its_connection_kept(app: App) -> None:
    """A task stopped while its statement runs (a worker's graceful stop, a timeout) leaves asyncpg in the middle
    of it: that connection is thrown away, and the next transactions run on a sound one."""

    async def slow() -> None:
        async with transaction(app.core.sessions) as session:
            await db.PreparedInsert(ButtonSet).run(session, [{"key": "cancelled", "buttons": {"a": "y"},
                                                                 "created_at": app.core.clock.now()}])
            await session.execute(sa.text("SELECT pg_sleep(2)"))

    await _cancel_midway(app, slow, 0.3)
    async with transaction(app.core.sessions) as session:
        assert await session.get(ButtonSet, "cancelled") is None


@pytest.mark.skipif(not on_postgres(), reason="a pooled connection to a database server")
async def test_a_transaction_cancelled_in_its_commit_does_not_leave_its_connection_kept(app: App) -> None:
    """The same when the cancellation comes during the COMMIT (here one that waits for a deferred trigger): the
    transaction is over for asyncpg's adapter, but its connection is still busy with the COMMIT."""
    async with transaction(app.core.sessions) as session:
        for statement in (
                "CREATE TABLE slow_commit (x integer)",
                "CREATE FUNCTION slow_commit_wait() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$",
                "CREATE CONSTRAINT TRIGGER slow_commit_at_commit AFTER INSERT ON slow_commit "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit_wait()"):
            await session.execute(sa.text(statement))

    async def slow() -> None:
        async with transaction(app.core.sessions) as session:
            await session.execute(sa.text("INSERT INTO slow_commit VALUES (1)"))

    await _cancel_midway(app, slow, 0.5)
