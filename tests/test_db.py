"""SQLite on the event loop's thread: transactions of one process take turns through an asyncio lock, and a
transaction waiting for its turn leaves the loop free (a busy wait inside SQLite would freeze it)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import db, migrate
from storage.conversations import ProcessedUpdate, claim_update
from storage.db import make_engine, make_sessionmaker, transaction

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_a_waiting_transaction_leaves_the_loop_free_and_sees_the_first_ones_write(sessions: Sessions) -> None:
    now = datetime.now(UTC)
    first_holds = asyncio.Event()
    release_first = asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with transaction(sessions) as session:
            assert await claim_update(session, "t", "1", now)
            first_holds.set()
            await release_first.wait()
            order.append("first commits")

    async def second() -> bool:
        await first_holds.wait()
        async with transaction(sessions) as session:
            claimed = await claim_update(session, "t", "1", now)  # the first statement waits for the turn
            order.append("second runs")
            return claimed

    async def meanwhile() -> None:
        await first_holds.wait()
        await asyncio.sleep(0.05)  # the second transaction is waiting by now
        order.append("loop still runs")
        release_first.set()

    _, claimed_again, _ = await asyncio.gather(first(), second(), meanwhile())
    assert order == ["loop still runs", "first commits", "second runs"]
    assert claimed_again is False  # it saw the first one's committed row
    async with sessions() as session:
        assert len((await session.exec(select(ProcessedUpdate))).all()) == 1


async def test_a_transaction_that_never_gets_its_turn_fails_like_a_locked_database(
        sessions: Sessions, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "SQLITE_BUSY_SECONDS", 0.1)
    now = datetime.now(UTC)
    async with transaction(sessions) as holder:
        await claim_update(holder, "t", "held", now)
        with pytest.raises(OperationalError) as error:
            async with transaction(sessions) as waiter:
                await claim_update(waiter, "t", "waiting", now)
        assert isinstance(error.value.orig, sqlite3.OperationalError)
    # The lock is free again afterwards: a rolled-back or failed transaction does not keep it.
    async with transaction(sessions) as session:
        assert await claim_update(session, "t", "later", now)


async def test_a_task_cancelled_as_its_turn_comes_stops(sessions: Sessions) -> None:
    """The turn (the writer lock) and a cancellation arrive in the same loop round: the task must still stop.
    Waiting through asyncio.wait_for lost such a cancellation on Python 3.11, and a stopping outbox worker ran
    on forever."""
    now = datetime.now(UTC)
    lock = db._writer_lock(sessions.kw["bind"].url.database)  # the fixture's path is absolute
    await lock.acquire()  # another transaction of this process holds the turn
    ran_on: list[str] = []

    async def waiter() -> None:
        async with transaction(sessions) as session:
            await claim_update(session, "t", "cancelled", now)
        ran_on.append("after the transaction")

    task = asyncio.create_task(waiter())
    for _ in range(1000):  # a few loop rounds until it waits for its turn
        if lock._waiters:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0)
    lock.release()  # the turn is handed over ...
    task.cancel()  # ... and the cancellation comes before the task runs again (a transaction on SQLite runs
    # through without waiting once it has the turn, so a cancellation a round later would find it done)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ran_on == []
    async with transaction(sessions) as session:  # and the turn was not kept
        assert await claim_update(session, "t", "later", now)


def _size(path: str) -> int:
    return os.stat(path).st_size


async def test_the_log_reaches_the_database_file_by_the_background_checkpoint(sessions: Sessions) -> None:
    """Commits never checkpoint (that made the slowest messages); the scheduler's checkpoint does, off the loop."""
    engine = sessions.kw["bind"]
    database = str(engine.url.database)
    async with engine.connect() as connection:
        assert (await connection.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
    now = datetime.now(UTC)
    async with transaction(sessions) as session:
        await claim_update(session, "t", "first", now)
    await db.checkpoint(engine)
    before = _size(database)
    for batch in range(20):
        async with transaction(sessions) as session:
            for n in range(100):
                await claim_update(session, "t", f"{batch}-{n}-" + "x" * 100, now)
    assert _size(database) == before  # everything is still in the write-ahead log
    await db.checkpoint(engine)
    assert _size(database) > before
    async with sessions() as session:
        assert len((await session.exec(select(ProcessedUpdate))).all()) == 2001


# ---- the kept writer connection (storage.db.transaction on SQLite) ------------------------------------------


async def _stored(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        return sorted(row.update_id for row in (await session.exec(select(ProcessedUpdate))).all())


async def test_the_writer_is_kept_through_a_failed_transaction_and_a_caught_error(sessions: Sessions) -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError):
        async with transaction(sessions) as session:
            await claim_update(session, "t", "undone", now)
            raise ValueError("the handler failed")
    async with transaction(sessions) as session:
        await claim_update(session, "t", "kept", now)
        # A duplicate in a savepoint is refused and leaves the rest of the transaction as it was.
        assert not await db.add_unless_exists(session, ProcessedUpdate(platform="t", update_id="kept"))
        session.add(ProcessedUpdate(platform="t", update_id="flushed at the end", processed_at=now))
    assert await _stored(sessions) == ["flushed at the end", "kept"]
    # A flush that fails outside a savepoint rolls the whole transaction back; the block that caught the error
    # ends without committing anything, and the next transaction runs as usual.
    async with transaction(sessions) as session:
        await claim_update(session, "t", "lost with the failed flush", now)
        session.add(ProcessedUpdate(platform="t", update_id="kept", processed_at=now))
        with pytest.raises(IntegrityError):
            await session.flush()
    async with transaction(sessions) as session:
        await claim_update(session, "t", "after", now)
    assert await _stored(sessions) == ["after", "flushed at the end", "kept"]
    writer = sessions.kw["bind"].sync_engine.__dict__[db._WRITER]
    assert not writer.inline._conn.in_transaction and writer.inline._lock is None
    # A savepoint left open is released with the commit, as the ORM's commit does; the writer stays.
    async with transaction(sessions) as session:
        await session.begin_nested()
        session.add(ProcessedUpdate(platform="t", update_id="in a savepoint", processed_at=now))
    assert await _stored(sessions) == ["after", "flushed at the end", "in a savepoint", "kept"]
    assert sessions.kw["bind"].sync_engine.__dict__[db._WRITER] is writer


def test_one_engine_on_two_event_loops_and_disposed(tmp_path: Path) -> None:
    """Tests run one loop each: a writer left by a loop that has ended is replaced, and disposing of the engine
    closes the writer's connection."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'loops.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)

    async def write(update_id: str) -> None:
        async with transaction(sessions) as session:
            await claim_update(session, "t", update_id, now)

    asyncio.run(write("first loop"))
    first = engine.sync_engine.__dict__[db._WRITER]

    async def second_loop() -> list[str]:
        await write("second loop")
        assert engine.sync_engine.__dict__[db._WRITER] is not first
        stored = await _stored(sessions)
        await engine.dispose()
        return stored

    assert asyncio.run(second_loop()) == ["first loop", "second loop"]
    assert db._WRITER not in engine.sync_engine.__dict__
    assert first.inline._connection is None  # the first loop's writer was closed when it was replaced
