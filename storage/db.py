"""The engine: SQLite (WAL, busy timeout, BEGIN IMMEDIATE) by default, PostgreSQL by URL."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar, cast

import aiosqlite
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm.attributes import instance_state, manager_of_class
from sqlalchemy.orm.util import identity_key
from sqlalchemy.util import await_only, greenlet_spawn
from sqlmodel import Field, select
from sqlmodel.ext.asyncio.session import AsyncSession

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")
_SQLITE_DIALECT = sqlite_dialect.dialect(paramstyle="named")


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware timestamps stored in UTC; SQLite hands back naive values, so we re-attach UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        # SQLite compares timestamps as text, so every value must have the same shape.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Stored:
    """For table models: the id of a row read from or flushed to the database, which every row a handler or job
    gets is. Saves `.id or 0` and `assert row.id is not None` at every use."""

    id: int | None

    @property
    def stored_id(self) -> int:
        if self.id is None:
            raise ValueError(f"a {type(self).__name__} that was never stored has no id")
        return self.id


class StatusText(sa.types.TypeDecorator[StrEnum]):
    """A status enum kept as its value in a plain VARCHAR ("approved"), read back as the enum member. Not
    sa.Enum: that would store member names and, on PostgreSQL, a type every new status has to migrate."""

    impl = sa.String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: StrEnum | str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


def status_field(enum: type[E], default: E, length: int, index: bool = False) -> Any:
    """A status column of `enum` (see StatusText)."""
    return Field(default=default, sa_type=StatusText(enum, length), index=index)


class JSONDict(sa.types.TypeDecorator[dict[str, Any]]):
    """A JSON object column that always reads back as a dict (never None)."""

    impl = sa.JSON()
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: sa.Dialect) -> Any:
        return json.loads(json.dumps(value or {}, ensure_ascii=False, default=str))

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dict[str, Any]:
        return dict(value or {})


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A timestamp for a UTC column (a naive one is refused: its zone is unknown)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


# ---- our column types on SQLite's driver, in one step each --------------------------------------------------
#
# Through SQLAlchemy a timestamp is bound in two steps (UTCDateTime, then SQLite's DATETIME formatting) and read
# in two (a regular expression, then UTC re-attached), and a JSON object is serialised three times (JSONDict's
# normalising round trip, then the JSON type's own). The fixed statements of storage.db.Prepared and
# storage/intake.py run on nearly every message and do each in one step, with the same text and values.


@functools.lru_cache(maxsize=256)  # a message binds the same few moments many times (now, now + a button's life)
def sqlite_time(value: datetime) -> str:
    """A timestamp as SQLAlchemy stores it in SQLite (naive UTC, always with microseconds)."""
    return as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def _bind_time(value: datetime | None) -> str | None:
    return None if value is None else sqlite_time(value)


_JSON_TEXT = json.JSONEncoder(default=str).encode  # json.dumps(..., default=str) without a new encoder each call


def _bind_dict(value: dict[str, Any] | None) -> str:
    return _JSON_TEXT(value or {})


def _read_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return cast(datetime, value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC))


def _read_dict(value: Any) -> dict[str, Any]:
    return dict((json.loads(value) if isinstance(value, str) else value) or {})


def _read_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def sqlite_binder(kind: sa.types.TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """How a value of a column of this type is bound on SQLite's driver (None: as it is)."""
    if isinstance(kind, UTCDateTime):
        return _bind_time
    if isinstance(kind, JSONDict):
        return _bind_dict
    return cast(Callable[[Any], Any] | None, kind._cached_bind_processor(_SQLITE_DIALECT))


def _bind_utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def pg_binder(kind: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> Callable[[Any], Any] | None:
    """`sqlite_binder` on asyncpg: a timestamp as UTCDateTime binds it (asyncpg's DATETIME binds as it is), a
    JSON object serialised once, as the JSON type's json.dumps writes it (JSONDict's normalising round trip
    gives the same text)."""
    if isinstance(kind, UTCDateTime):
        return _bind_utc
    if isinstance(kind, JSONDict):
        return _bind_dict
    return cast(Callable[[Any], Any] | None, kind._cached_bind_processor(dialect))


def sqlite_reader(kind: sa.types.TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """How SQLite's raw value of a column of this type becomes what the ORM would have loaded (None: as it is)."""
    if isinstance(kind, UTCDateTime):
        return _read_time
    if isinstance(kind, JSONDict):
        return _read_dict
    if isinstance(kind, sa.JSON):
        return _read_json
    return cast(Callable[[Any], Any] | None, kind._cached_result_processor(_SQLITE_DIALECT, None))


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, async_creator=_sqlite_creator(url), **kwargs)
        _configure_sqlite(engine)
        _close_kept_on_dispose(engine)
        return engine
    if "poolclass" not in kwargs:
        # A process serves up to 16 updates at once (the Telegram transport's concurrent updates); up to
        # POOL_SIZE of their transactions keep their connections (`transaction`), the rest and every other session
        # use the pool.
        kwargs = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW, **kwargs}
    engine = create_async_engine(url, **kwargs)
    _ping_when_idle(engine)
    _close_kept_on_dispose(engine)
    return engine


def _close_kept_on_dispose(engine: AsyncEngine) -> None:
    """Disposing of the engine closes the connections `transaction` keeps checked out (SQLite's writer,
    PostgreSQL's kept ones): the pool's disposal closes only those checked in."""

    @event.listens_for(engine.sync_engine, "engine_disposed")
    def _on_dispose(sync_engine: sa.Engine) -> None:
        for slot in (_WRITER, _KEPT):
            kept = sync_engine.__dict__.pop(slot, None)
            if kept is not None:
                kept.discard()


# A database server's connections per process (PostgreSQL): kept by the pool, and more when many are busy at once.
POOL_SIZE = 10
POOL_OVERFLOW = 10

# A pooled connection is checked before use only after it has sat idle this long (the server restarted, a
# firewall dropped it). SQLAlchemy's pre-ping checks it at every checkout: three round trips (BEGIN, a ping,
# ROLLBACK) on every message, a third of a /help's.
PING_IDLE_SECONDS = 10.0
_IDLE_SINCE = "db.idle_since"


def _ping_when_idle(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    @event.listens_for(engine.sync_engine, "checkin")
    def _idle(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get(_IDLE_SINCE, 0.0) < PING_IDLE_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:  # the pool drops it and checks out another (SQLAlchemy's own recipe)
            raise sa.exc.DisconnectionError() from error


# ---- SQLite on the event loop's thread ---------------------------------------------------------------------
#
# aiosqlite runs every call in a thread of its own: about 80 thread hand-offs per message, which cost more
# than the queries themselves (an indexed SQLite query takes microseconds). SQLite is the embedded,
# one-process database here, so its calls run directly on the loop's thread instead, and the single-writer
# rule is kept by an asyncio lock per database file: a transaction waits for the lock without blocking the
# loop, where SQLite's own busy wait would block it. Another process holding the file (a `linli` command
# next to the bot) is still met by SQLite's busy timeout.

_writer_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)
SQLITE_BUSY_SECONDS = 15.0


def _writer_lock(path: str) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    locks = _writer_locks.setdefault(loop, {})
    return locks.setdefault(path, asyncio.Lock())


class _InlineQueue:
    """Stands in for aiosqlite's queue to its thread: SQLAlchemy's adapter posts to it directly."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


class InlineSQLite(aiosqlite.Connection):
    """aiosqlite's connection with its calls made on the loop's thread, one writer per file at a time."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], path: str) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _InlineQueue()  # type: ignore[assignment]
        self._path = path
        self._lock: asyncio.Lock | None = None

    def __await__(self) -> Any:
        return self._connect().__await__()

    async def _connect(self) -> InlineSQLite:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        begins = bool(args) and isinstance(args[0], str) and args[0].startswith("BEGIN")
        if begins and self._lock is None:
            await self.take_turn()
        try:
            return fn(*args, **kwargs)
        except BaseException:
            if begins:
                self._release()
            raise

    async def take_turn(self) -> None:
        """Wait for the file's writer turn (this process's other connections finish their transactions first)."""
        lock = _writer_lock(self._path)
        if lock.locked():  # (a free lock is taken at once: no timer to arm)
            try:
                async with asyncio.timeout(SQLITE_BUSY_SECONDS):  # not wait_for: see bot.leader.wait_event
                    await lock.acquire()
            except TimeoutError:
                raise sqlite3.OperationalError("database is locked") from None
        else:
            await lock.acquire()
        self._lock = lock

    def _release(self) -> None:
        if self._lock is not None and (self._connection is None or not self._connection.in_transaction):
            self._lock.release()
            self._lock = None

    async def commit(self) -> None:
        try:
            await super().commit()
        finally:
            self._release()

    async def rollback(self) -> None:
        try:
            await super().rollback()
        finally:
            self._release()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        self._running = False
        if connection is not None:
            connection.close()
        self._release()

    def stop(self) -> None:
        connection, self._connection = self._connection, None
        self._running = False
        if connection is not None:
            connection.close()
        # Called from __del__, possibly with no running loop: the lock is dropped with the connection.
        self._lock = None


def _sqlite_creator(url: str) -> Callable[[], InlineSQLite]:
    database = sa.engine.make_url(url).database or ":memory:"
    path = database if database == ":memory:" else os.path.abspath(database)

    def connector() -> sqlite3.Connection:
        connection = sqlite3.connect(path, timeout=SQLITE_BUSY_SECONDS, isolation_level=None,
                                     check_same_thread=False)
        # Without these, concurrent writers silently lose updates (SQLAlchemy's SQLite dialect docs,
        # "Transactions with SQLite and the sqlite3 driver"); WAL lets readers in other processes go on.
        # No checkpoint inside a commit (every 1,000 pages one commit would pay ~15 ms for it, the slowest
        # 1 % of messages): `checkpoint` runs them off the loop, and the last connection to close runs one.
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "wal_autocheckpoint=0",
                       f"busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}"):
            connection.execute(f"PRAGMA {pragma}")
        return connection

    return lambda: InlineSQLite(connector, path)


async def checkpoint(engine: AsyncEngine) -> None:
    """Copy SQLite's write-ahead log into the database file, in a thread with a connection of its own
    (PASSIVE: it never waits for, nor blocks, readers and writers). The scheduler runs it every few seconds."""
    database = engine.url.database
    if not is_sqlite(engine) or not database or database == ":memory:":
        return

    def run() -> None:
        connection = sqlite3.connect(database, timeout=0)
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            connection.close()

    await asyncio.to_thread(run)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight to the connection (InlineSQLite takes the writer's turn on a BEGIN), not through
        # exec_driver_sql: an execution context and a cursor for a statement every message runs.
        inline: InlineSQLite = conn.connection.driver_connection
        if inline._conn.in_transaction:  # the writer's transaction, begun on its driver (`transaction`)
            return
        try:
            await_only(inline._execute(inline._conn.execute, "BEGIN IMMEDIATE"))
        except sqlite3.Error as error:  # as SQLAlchemy raises it for a statement (the core retries on it)
            raise sa.exc.DBAPIError.instance("BEGIN IMMEDIATE", None, error, sqlite3.Error) from error


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def add_unless_exists(session: AsyncSession, row: Any) -> bool:
    """Insert `row` in a savepoint: False, with nothing changed, when a unique key says it exists already
    (a claim another process made first)."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    return True


@asynccontextmanager
async def transaction(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: committed when the block ends, rolled back on any error. On SQLite it takes the
    writer's turn as it begins (see below): code inside it must not open another session."""
    engine = maker.kw.get("bind")
    if isinstance(engine, AsyncEngine) and _keeps_connections(engine):
        async with _on_kept_connection(maker, engine) as session:
            yield session
        return
    if not isinstance(engine, AsyncEngine) or not _has_writer(engine):
        session = maker()
        async with session, session.begin():
            yield session
        return
    writer = await _Writer.turn(engine)
    driver = writer.inline._conn
    try:
        session = maker(bind=writer.connection, join_transaction_mode="rollback_only")
    except BaseException:
        await writer.end()
        raise
    session.info[_WRITER] = driver
    try:
        yield session
        if driver.in_transaction:  # (not when an error the block caught made the session roll it back)
            await _flush_lent(session)
            on_driver(driver, "COMMIT", ())
    finally:
        try:
            await _close_lent(session)
        finally:
            await writer.end()


async def _flush_lent(session: AsyncSession) -> None:
    """What a session lent a connection has pending, written before its transaction commits; a savepoint left open
    is released, as the ORM's commit does (the session's commit: it never commits a transaction it was lent)."""
    sync = session.sync_session
    if sync.in_nested_transaction():
        await session.commit()
    elif not sync._is_clean():
        await session.flush()


async def _close_lent(session: AsyncSession) -> None:
    """Close a session that was lent a connection in its transaction. SQLAlchemy closes a session in a task of
    its own, shielded from cancellation, because closing may wait for the database; this session never holds
    the transaction, so there is nothing to wait for, and when it never used its connection (the message ran on
    the driver alone) not even SQLAlchemy's greenlet is needed."""
    held = session.sync_session._transaction
    if held is None or not held._connections:
        session.sync_session.close()
    else:
        await session.close()


# ---- SQLite's writing connection ----------------------------------------------------------------------------
#
# Every SQLite transaction takes the file's one writer turn (BEGIN IMMEDIATE under the lock above), so a process
# runs one at a time and needs one connection for them, not a pool's. Checking a connection out of the pool and
# beginning and committing through SQLAlchemy's session cost 0.15 ms a message; on the driver, 0.01 ms. So
# `transaction` keeps one connection of the engine checked out (per event loop), begins and commits on its
# driver and lends it to the session, which joins that transaction (join_transaction_mode "rollback_only": the
# session never commits it; a flush is all it adds). Sessions outside `transaction` use the pool as before.

_WRITER = "db.writer"  # the sync engine's writer (its __dict__), and the driver in a session's `info`


def _has_writer(engine: AsyncEngine) -> bool:
    """SQLite in a file (an in-memory database has one connection, shared by every session: nothing to keep)."""
    return engine.dialect.name == "sqlite" and not isinstance(engine.sync_engine.pool, sa.pool.StaticPool)


class _Writer:
    def __init__(self, connection: AsyncConnection, loop: asyncio.AbstractEventLoop) -> None:
        self.connection = connection
        self.inline: InlineSQLite = connection.sync_connection.connection.driver_connection  # type: ignore[union-attr, assignment]
        self.loop = loop

    @classmethod
    async def turn(cls, engine: AsyncEngine) -> _Writer:
        """The engine's writer, its transaction begun: this process's writer turn is ours until `end`."""
        loop = asyncio.get_running_loop()
        kept: _Writer | None = engine.sync_engine.__dict__.get(_WRITER)
        if kept is not None and (kept.loop is not loop or kept.connection.closed or kept.connection.invalidated):
            engine.sync_engine.__dict__.pop(_WRITER, None)
            await kept.drop()  # left by a loop that has ended (tests run one a test), or broken
            kept = None
        if kept is None:
            connection = await engine.connect()
            kept = engine.sync_engine.__dict__.get(_WRITER)
            if kept is None:
                kept = engine.sync_engine.__dict__[_WRITER] = cls(connection, loop)
            else:  # another transaction made it meanwhile
                await connection.close()
        try:
            await kept.inline.take_turn()
        except sqlite3.OperationalError as error:
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, error) from error
        try:
            on_driver(kept.inline._conn, "BEGIN IMMEDIATE", ())
        except BaseException:
            kept.inline._release()
            raise
        sync = kept.connection.sync_connection
        assert sync is not None
        if not sync.in_transaction():  # the first time, or a session rolled it back: SQLAlchemy's view of it
            sync.begin()
        return kept

    async def end(self) -> None:
        """Roll back what an error left, and give up the writer turn."""
        driver = self.inline._conn
        if driver.in_transaction:
            driver.rollback()
        self.inline._release()
        sync = self.connection.sync_connection
        if sync is None or sync.in_nested_transaction():
            # A savepoint SQLAlchemy still counts as open would be joined by the next session in place of the
            # transaction: such a writer is not kept.
            self.connection.sync_engine.__dict__.pop(_WRITER, None)
            await self.drop()

    async def drop(self) -> None:
        """`discard`, from a coroutine."""
        await greenlet_spawn(self.discard)

    def discard(self) -> None:
        """`_discard` of the writer's connection (the engine's disposal calls it in SQLAlchemy's greenlet)."""
        _discard(self.connection, self.inline.stop)


# ---- PostgreSQL's connections kept between transactions -----------------------------------------------------
#
# The same saving on PostgreSQL, where transactions run side by side: checking a connection out of the pool and
# beginning, committing and closing through SQLAlchemy's session and greenlet cost about 0.3 ms of a message's
# CPU. So `transaction` keeps up to the pool's size of connections checked out (per event loop), begins and
# commits on asyncpg, and lends the connection to the session, which joins that transaction as on SQLite. Beyond
# that number a connection goes back to the pool, which keeps its own for every other session. A kept connection
# idle for PING_IDLE_SECONDS is pinged before use, as the pool does, and one made before the pool was told that
# the server dropped a connection is thrown away, as the pool would.

_KEPT = "db.kept"  # the sync engine's kept connections (its __dict__), and the driver in a session's `info`


def _keeps_connections(engine: AsyncEngine) -> bool:
    dialect = engine.dialect
    return (dialect.name == "postgresql" and dialect.driver == "asyncpg"
            and isinstance(engine.sync_engine.pool, sa.pool.QueuePool))


def _discard(connection: AsyncConnection, last_resort: Callable[[], None] | None = None) -> None:
    """Close a connection `transaction` kept, for good: invalidated so that the pool makes a new one in its place
    (not put back as it is: one of a loop that has ended, of a disposed pool, broken, or left in a savepoint). In
    SQLAlchemy's greenlet when it can be. When that fails (the loop that made it is gone), `last_resort` closes
    the driver's connection (else asyncpg's socket is dropped, if that can still be done)."""
    sync = connection.sync_connection
    try:
        if sync is None:
            raise ValueError("closed")
        sync.invalidate()
        sync.close()
    except Exception:
        with contextlib.suppress(Exception):
            if last_resort is not None:
                last_resort()
            elif sync is not None:
                sync.connection.dbapi_connection._connection.terminate()  # type: ignore[union-attr]


class _KeptConnections:
    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.loop = loop
        self.limit = limit
        self.idle: list[AsyncConnection] = []

    @classmethod
    def of(cls, engine: AsyncEngine) -> _KeptConnections:
        loop = asyncio.get_running_loop()
        kept: _KeptConnections | None = engine.sync_engine.__dict__.get(_KEPT)
        if kept is None or kept.loop is not loop:
            if kept is not None:  # left by a loop that has ended (tests run one a test)
                kept.discard()
            pool = cast(sa.pool.QueuePool, engine.sync_engine.pool)
            kept = engine.sync_engine.__dict__[_KEPT] = cls(loop, pool.size())
        return kept

    async def take(self, engine: AsyncEngine) -> AsyncConnection:
        while self.idle:
            connection = self.idle.pop()
            if await self._usable(connection, engine):
                return connection
        return await engine.connect()

    async def _usable(self, connection: AsyncConnection, engine: AsyncEngine) -> bool:
        sync = connection.sync_connection
        if sync is None or sync.invalidated:
            return False
        record = sync.connection._connection_record
        if record is None or record.starttime < engine.sync_engine.pool._invalidate_time:
            await greenlet_spawn(_discard, connection)
            return False
        if time.monotonic() - record.info.get(_IDLE_SINCE, 0.0) >= PING_IDLE_SECONDS:
            try:
                await greenlet_spawn(PgDriver(sync).adapted.ping)  # the pool's own check
            except Exception:  # dropped while it sat idle: another one
                await greenlet_spawn(_discard, connection)
                return False
        return True

    async def give_back(self, engine: AsyncEngine, connection: AsyncConnection, broken: bool = False) -> None:
        """Kept for the next transaction, what an error left rolled back; or back to the pool beyond the limit;
        or thrown away when broken (`broken`: its transaction was cancelled), left in a savepoint, or of another
        loop or engine disposal."""
        sync = connection.sync_connection
        fine = not broken and sync is not None and not sync.invalidated and not sync.in_nested_transaction()
        if fine and sync is not None:
            try:
                await PgDriver(sync).end(commit=False)
            except Exception:
                fine = False
        if not fine or engine.sync_engine.__dict__.get(_KEPT) is not self:
            await greenlet_spawn(_discard, connection)
        elif len(self.idle) < self.limit:
            assert sync is not None
            record = sync.connection._connection_record
            if record is not None:
                record.info[_IDLE_SINCE] = time.monotonic()
            self.idle.append(connection)
        else:
            await connection.close()

    def discard(self) -> None:
        idle, self.idle = self.idle, []
        for connection in idle:
            _discard(connection)


@asynccontextmanager
async def _on_kept_connection(maker: async_sessionmaker[AsyncSession],
                              engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    kept = _KeptConnections.of(engine)
    connection = await kept.take(engine)
    try:
        sync = connection.sync_connection
        assert sync is not None
        driver = PgDriver(sync)
        await driver.begin()
        if not sync.in_transaction():  # the first time, or a session rolled it back: SQLAlchemy's view of it
            sync.begin()
        session = maker(bind=connection, join_transaction_mode="rollback_only")
        # The session's transaction from the start (no I/O: it takes the connection when it first needs it), as
        # the first statement began it before: what a fixed read keeps for the rest of the message is kept with it.
        session.sync_session._autobegin_t()
    except BaseException as error:
        await kept.give_back(engine, connection, broken=not isinstance(error, Exception))
        raise
    session.info[_KEPT] = driver
    broken = False
    try:
        yield session
        if driver.in_transaction:
            await _flush_lent(session)
        await driver.end(commit=True)
    except BaseException as error:
        # A cancellation (a stopped task, a timeout) can leave asyncpg in the middle of a statement or of the
        # COMMIT: such a connection is not used again (the pool's reset would find it so and invalidate it).
        broken = not isinstance(error, Exception)
        raise
    finally:
        try:
            await _close_lent(session)
        finally:
            await kept.give_back(engine, connection, broken)


# ---- fixed queries on the driver ----------------------------------------------------------------------------
#
# Executing a statement through SQLAlchemy's ORM costs 0.2–0.6 ms (building it, the execution context, loading
# the rows); the same indexed query on SQLite's driver costs microseconds. The queries that run on nearly every
# message are therefore written once, in SQLAlchemy, with bind parameters for what varies, compiled once, and
# run on the session's own connection inside its transaction; the rows they load become the session's ORM
# objects as if the ORM had loaded them. On PostgreSQL they go through the session as usual.


# Set in a session's `info`: its fixed queries go through the ORM as any other (to compare the two paths).
ORM_ONLY = "db.orm_only"


def _kept(session: AsyncSession, slot: str) -> tuple[bool, Any]:
    """(True, the driver) when the session's `info` keeps one under `slot` for its current transaction."""
    transaction_now = session.sync_session.get_transaction()
    cached = session.info.get(slot)
    if cached is not None and transaction_now is not None and cached[0] is transaction_now:
        return True, cached[1]
    return False, None


async def sqlite_driver(session: AsyncSession) -> sqlite3.Connection | None:
    """The session's own SQLite connection (its transaction begun), or None on another database (or when the
    session says ORM_ONLY). Kept in the session's `info` for the message's next statement, as long as the same
    transaction lasts."""
    if session.info.get(ORM_ONLY):
        return None
    writer = session.info.get(_WRITER)
    if writer is not None:
        return cast(sqlite3.Connection, writer)
    if _KEPT in session.info:  # PostgreSQL's
        return None
    kept, cached = _kept(session, "db.driver")
    if kept:
        return cast(sqlite3.Connection | None, cached)
    connection = await session.connection()
    driver: sqlite3.Connection | None = None
    if connection.dialect.name == "sqlite":
        # Already connected: no I/O, so no round through SQLAlchemy's greenlet.
        driver = connection.sync_connection.connection.driver_connection._connection  # type: ignore[union-attr]
    session.info["db.driver"] = (session.sync_session.get_transaction(), driver)
    return driver


def on_driver(driver: sqlite3.Connection, sql: str, params: Any, many: bool = False) -> sqlite3.Cursor:
    """Run a statement on the SQLite driver, its errors raised as SQLAlchemy's (the core retries a message on
    SQLAlchemy's IntegrityError and OperationalError, whichever path the statement took)."""
    try:
        return driver.executemany(sql, params) if many else driver.execute(sql, params)
    except sqlite3.IntegrityError as error:
        raise sa.exc.IntegrityError(sql, params, error) from error
    except sqlite3.OperationalError as error:
        raise sa.exc.OperationalError(sql, params, error) from error


# ---- the same on PostgreSQL: asyncpg's own connection ------------------------------------------------------
#
# On PostgreSQL each statement is a round trip either way; what the driver path saves is SQLAlchemy's part
# (building the execution context, the greenlet switches, loading rows into the ORM): ≈ 0.3–0.5 ms a statement
# against ≈ 0.1 ms on asyncpg. Statements are compiled once for the engine's own dialect (its positional
# `$n` parameters and casts) and run with that dialect's bind and result processors, so what is written and
# read is what SQLAlchemy would write and read.


class PgStatement:
    """A statement compiled once for the asyncpg dialect: its SQL, its parameters' order, their processors."""

    def __init__(self, compiled: Any) -> None:
        required = {name for bind, name in compiled.bind_names.items() if bind.required}
        if any(bind.expanding for bind, name in compiled.bind_names.items() if name in required):
            raise ValueError("a fixed statement cannot take a list as a parameter")
        # A constant IN list (`col.in_([...])`) is spelt out once, as SQLAlchemy does at each execution.
        expanded = compiled.construct_expanded_state(dict.fromkeys(required))
        self.sql: str = expanded.statement
        self.names: list[str] = list(expanded.positiontup or ())
        fused = {name: pg_binder(bind.type, compiled.dialect) for bind, name in compiled.bind_names.items()
                 if isinstance(bind.type, UTCDateTime | JSONDict)}
        processors: dict[str, Any] = {**compiled._bind_processors, **fused, **expanded.processors}
        # The constants (a status, a kind) bound once, here; only the parameters at each run.
        self.constants = {name: _processed(processors.pop(name, None), value)
                          for name, value in expanded.parameters.items() if name not in required}
        self.processors = processors
        # The selected columns; their result processors are settled by the first result's column types.
        self.columns: list[str] = [name for name, *_ in compiled._result_columns]
        self.kinds: list[Any] = [kind for *_, kind in compiled._result_columns]
        self.readers: list[Any] | None = None

    def args(self, params: dict[str, Any]) -> list[Any]:
        values = []
        for name in self.names:
            value = params[name] if name in params else self.constants[name]
            process = self.processors.get(name)
            values.append(process(value) if process is not None else value)
        return values


class PgDriver:
    """The session's asyncpg connection inside its transaction, with SQLAlchemy's prepared-statement cache of that
    connection and its errors raised as SQLAlchemy's."""

    __slots__ = ("adapted", "connection", "dialect")

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection  # the session's (synchronous) Connection
        self.adapted: Any = connection.connection.dbapi_connection  # SQLAlchemy's adapter of asyncpg's connection
        self.dialect: Any = connection.dialect  # the engine's PGDialect_asyncpg

    async def begin(self) -> None:
        """Begin the transaction, unless a statement of the session has (the adapter begins with the first)."""
        if self.adapted._transaction is None:
            try:
                await self.adapted._start_transaction()
            except Exception as error:
                raise self._error(error, "BEGIN", ()) from error

    @property
    def in_transaction(self) -> bool:
        return self.adapted._transaction is not None

    async def end(self, commit: bool) -> None:
        """Commit or roll back the transaction, if one is open (as the adapter's own commit and rollback do)."""
        transaction = self.adapted._transaction
        if transaction is None:
            return
        try:
            await (transaction.commit() if commit else transaction.rollback())
        except Exception as error:
            raise self._error(error, "COMMIT" if commit else "ROLLBACK", ()) from error
        finally:
            self.adapted._transaction = None

    def _error(self, error: Exception, sql: str, args: Any) -> Exception:
        try:
            self.adapted._handle_exception(error)  # the dialect's translation of asyncpg's errors
        except Exception as translated:
            base = self.dialect.loaded_dbapi.Error
            if not isinstance(translated, base):
                return translated
            # A connection the server dropped is thrown away with every other one made before it, as SQLAlchemy
            # does for its own statements: else the pool would hand out the dead connection again.
            lost = self.dialect.is_disconnect(translated, self.adapted, None)
            if lost and not self.connection.invalidated:
                self.connection.engine.pool._invalidate(self.connection.connection, translated)
                self.connection.invalidate(translated)
            return sa.exc.DBAPIError.instance(sql, args, translated, base, connection_invalidated=lost,
                                              dialect=self.dialect)
        return error  # pragma: no cover - _handle_exception always raises

    async def _run(self, statement: PgStatement, params: dict[str, Any]) -> tuple[Any, list[Any]]:
        args = statement.args(params)
        try:
            prepared, attributes = await self.adapted._prepare(statement.sql,
                                                               self.dialect._invalidate_schema_cache_asof)
            found = await prepared.fetch(*args)
        except Exception as error:
            raise self._error(error, statement.sql, args) from error
        if statement.readers is None:
            statement.readers = [kind._cached_result_processor(self.dialect, attribute.type.oid)
                                 for kind, attribute in zip(statement.kinds, attributes or (), strict=False)]
        return prepared, found

    async def rows(self, statement: PgStatement, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The result rows, each value as SQLAlchemy would read it."""
        _, found = await self._run(statement, params)
        readers = statement.readers
        if not readers or not any(readers):
            return [tuple(row) for row in found]
        return [tuple(read(value) if read is not None else value for read, value in zip(readers, row, strict=True))
                for row in found]

    async def run(self, statement: PgStatement, params: dict[str, Any]) -> int:
        """Run an INSERT, UPDATE or DELETE: the number of rows it changed."""
        prepared, _ = await self._run(statement, params)
        status = (prepared.get_statusmsg() or "").split()
        return int(status[-1]) if status and status[-1].isdigit() else -1

    async def many(self, statement: PgStatement, rows: list[dict[str, Any]]) -> None:
        """Run a statement once for each of `rows` (asyncpg sends them in one pipeline)."""
        batch = [statement.args(row) for row in rows]
        try:
            await self.adapted._connection.executemany(statement.sql, batch)
        except Exception as error:
            raise self._error(error, statement.sql, batch) from error


async def asyncpg_driver(session: AsyncSession) -> PgDriver | None:
    """The session's own asyncpg connection, its transaction begun, or None on another database (or when the
    session says ORM_ONLY). Kept in the session's `info` as long as the same transaction lasts, as
    `sqlite_driver` keeps SQLite's."""
    if session.info.get(ORM_ONLY):
        return None
    lent: PgDriver | None = session.info.get(_KEPT)
    if lent is not None:
        if not lent.in_transaction:  # the session rolled it back (an error it caught): a new one, as the ORM's
            await lent.begin()
        return lent
    kept, cached = _kept(session, "db.asyncpg")
    if kept:
        return cast(PgDriver | None, cached)
    transaction_now = session.sync_session.get_transaction()
    # The connection the transaction holds already (`sqlite_driver` asked for it): no round through the greenlet.
    held = transaction_now._connections_boundary._connections if transaction_now is not None else {}
    if len(held) == 1:
        ((connection, *_),) = held.values()
    else:
        connection = (await session.connection()).sync_connection  # type: ignore[assignment]
    driver: PgDriver | None = None
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "asyncpg":
        driver = PgDriver(connection)
        await driver.begin()
    session.info["db.asyncpg"] = (session.sync_session.get_transaction(), driver)
    return driver


def _processed(process: Callable[[Any], Any] | None, value: Any) -> Any:
    return process(value) if process is not None else value


def pg_compiled(statement: Any, dialect: sa.Dialect, **kwargs: Any) -> PgStatement:
    return PgStatement(statement.compile(dialect=dialect, **kwargs))


# Per table model: what attaching its rows needs of its mapping (identity class, key columns, instance factory).
_MAPPED: dict[type[Any], tuple[type[Any], list[str], Callable[[], Any]]] = {}


def attach(session: AsyncSession, model: type[Any], row: dict[str, Any]) -> Any:
    """The row as a persistent ORM object of the session, as though the ORM had loaded it (unless the session
    has it already: then that one, unchanged, as the ORM's own loading does)."""
    return attach_rows(session, model, [row])[0]


def attach_rows(session: AsyncSession, model: type[Any], rows: list[dict[str, Any]]) -> list[Any]:
    """`attach` for many rows of one model (a list a person picks from): the model's mapping looked up once."""
    mapped = _MAPPED.get(model)
    if mapped is None:
        mapper = sa.inspect(model)
        mapped = _MAPPED[model] = (mapper._identity_class, [column.key for column in mapper.primary_key],
                                   manager_of_class(model).new_instance)
    identity_class, keys, new_instance = mapped
    identity_map = session.sync_session.identity_map
    attached = []
    for row in rows:
        # The identity key as the mapper makes it (identity_key_from_primary_key), without its lookups per row.
        key = (identity_class, tuple([row[name] for name in keys]), None)
        known = identity_map.get(key)
        if known is None:
            known = new_instance()
            known.__dict__.update(row)
            persist_loaded(session, known, key)
        attached.append(known)
    return attached


def persist_loaded(session: AsyncSession, instance: Any, key: Any) -> None:
    """A new instance whose dict holds a whole row (every column, set without instrumentation: nothing modified)
    made a persistent object of the session under `key`, as the ORM's own loading does it (loading.py: the key,
    the session, the identity map; no attach events, which loading does not fire either). `session.add` would
    also follow cascades and check for a deleted twin, which cost more than the rest of reading a row."""
    state = instance_state(instance)
    state.key = key
    sync = session.sync_session
    sync._autobegin_t()
    state.session_id = sync.hash_key
    sync.identity_map._add_unpresent(state, key)


def _spelt_out(sql: str, name: str, count: int) -> tuple[str, list[str]]:
    """An IN list parameter of compiled SQLite text (SQLAlchemy leaves a placeholder to expand at execution)
    written out as `count` named parameters, and their names."""
    names = [f"{name}_{i}" for i in range(count)]
    return sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join(f":{each}" for each in names)), names


class Prepared:
    """One fixed query (a SQLAlchemy select, or an UPDATE or DELETE, with `sa.bindparam`s for what varies),
    compiled once and run on the session's own driver connection (SQLite's, or asyncpg's: `asyncpg_driver`); on
    any other driver, or with ORM_ONLY, through the session. Pending ORM changes to the tables it reads are
    flushed first, as the ORM's autoflush would."""

    # `statement`: a select or a union of selects (typed loosely: SQLModel's selects are not SQLAlchemy's generics).
    def __init__(self, statement: Any, model: type[Any] | None = None) -> None:
        self.statement = statement
        self.model = model
        self._sqlite: tuple[str, dict[str, Any], dict[str, Any], list[Any], list[str], dict[str, Any]] | None = None
        self._tables: set[sa.Table] | None = None
        self._pg: PgStatement | None = None
        self._spelt: dict[tuple[int, ...], str] = {}  # the SQLite text for each length of its list parameters

    def _postgres(self, dialect: sa.Dialect) -> PgStatement:
        if self._pg is None:
            compiled = pg_compiled(self.statement, dialect)
            if self.model is not None and compiled.columns != [c.key for c in sa.inspect(self.model).column_attrs]:
                raise ValueError(f"{self.model.__name__}: a prepared query must select the whole row")
            self._pg = compiled
        return self._pg

    def _compiled(self) -> tuple[str, dict[str, Any], dict[str, Any], list[Any], list[str], dict[str, Any]]:
        """SQLite's text, the constants, the bind processors, the result readers, the selected columns' names and
        the list parameters (`sa.bindparam(name, expanding=True)`: an IN list given at each run) with their
        processors."""
        if self._sqlite is None:
            compiled = self.statement.compile(dialect=_SQLITE_DIALECT)
            processors = {name: binder for name in compiled._bind_processors
                          if (binder := sqlite_binder(compiled.binds[name].type)) is not None}
            readers = [sqlite_reader(kind) for *_, kind in compiled._result_columns]
            names = [name for name, *_ in compiled._result_columns]
            if self.model is not None:
                wanted = [c.key for c in sa.inspect(self.model).column_attrs]
                if names != wanted:
                    raise ValueError(f"{self.model.__name__}: a prepared query must select the whole row")
            constants = {name: value for name, value in compiled.params.items() if not compiled.binds[name].required}
            sql = str(compiled)
            lists: dict[str, Any] = {}
            for bind, name in compiled.bind_names.items():
                if not bind.expanding:
                    continue
                if bind.required:  # spelt out at each run, for the list's length (`_bound`)
                    lists[name] = processors.pop(name, None)
                    continue
                # A constant IN list (`col.in_([...])`) is left to expand at execution: spelt out here, once.
                values = constants.pop(name)
                sql, spelt = _spelt_out(sql, name, len(values))
                process = processors.pop(name, None)
                for each, value in zip(spelt, values, strict=True):
                    constants[each] = value
                    if process is not None:
                        processors[each] = process
            # The constants (a status, a kind) bound once, here; only the parameters at each run.
            constants = {name: _processed(processors.pop(name, None), value) for name, value in constants.items()}
            self._sqlite = (sql, constants, processors, readers, names, lists)
        return self._sqlite

    def _takes_lists(self) -> bool:
        """Whether it has list parameters: those run through the session on PostgreSQL (asyncpg's statements are
        compiled once, for one shape)."""
        return bool(self._compiled()[5])

    def _reads_pending(self, session: AsyncSession) -> bool:
        """Whether the session holds unflushed changes to a table this query reads (only those need the flush
        the ORM's autoflush would make: flushing is the dearest step of a message)."""
        pending = session.sync_session
        if not pending.autoflush or pending._is_clean():
            return False
        if self._tables is None:
            from sqlalchemy.sql import visitors

            self._tables = {element for element in visitors.iterate(self.statement) if isinstance(element, sa.Table)}
        states = [*pending._new, *pending._deleted, *pending.identity_map._modified]
        return any(state.mapper.persist_selectable in self._tables for state in states)

    def _bound(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The SQLite statement and its parameters, the constants with them, each through its bind processor."""
        sql, constants, processors, _readers, _names, lists = self._compiled()
        bound = {**constants, **params}
        for name, process in processors.items():
            bound[name] = process(bound[name])
        if lists:
            lengths = tuple(len(bound[name]) for name in lists)
            if 0 in lengths:
                raise ValueError("a list parameter of a prepared query must not be empty")
            spelt = self._spelt.get(lengths)
            if spelt is None:
                spelt = sql
                for name, length in zip(lists, lengths, strict=True):
                    spelt = _spelt_out(spelt, name, length)[0]
                self._spelt[lengths] = spelt
            sql = spelt
            for name, process in lists.items():
                for i, value in enumerate(bound.pop(name)):
                    bound[f"{name}_{i}"] = process(value) if process is not None else value
        return sql, bound

    async def _drivers(self, session: AsyncSession) -> tuple[sqlite3.Connection | None, PgDriver | None]:
        """Pending changes to what it reads flushed, then where it runs: on SQLite's driver, on asyncpg's (not with
        list parameters), or (both None) through the session."""
        if self._reads_pending(session):
            await session.flush()
        driver = await sqlite_driver(session)
        if driver is not None or self._takes_lists():
            return driver, None
        return None, await asyncpg_driver(session)

    async def rows(self, session: AsyncSession, **params: Any) -> list[tuple[Any, ...]]:
        """The result rows, each value as SQLAlchemy would read it."""
        return await self._rows(session, *await self._drivers(session), params)

    async def _rows(self, session: AsyncSession, driver: sqlite3.Connection | None, pg: PgDriver | None,
                    params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if pg is not None:
            return await pg.rows(self._postgres(pg.dialect), params)
        if driver is None:
            return [tuple(row) for row in (await (await session.connection()).execute(self.statement, params)).all()]
        sql, bound = self._bound(params)
        found = on_driver(driver, sql, bound).fetchall()
        readers = self._compiled()[3]
        if not any(readers):
            return found
        return [tuple(read(value) if read is not None else value for read, value in zip(readers, row, strict=True))
                for row in found]

    async def run(self, session: AsyncSession, **params: Any) -> int:
        """Run a fixed UPDATE or DELETE: the number of rows it changed."""
        driver, pg = await self._drivers(session)
        if pg is not None:
            return await pg.run(self._postgres(pg.dialect), params)
        if driver is None:
            result = await (await session.connection()).execute(self.statement, params)
            return int(result.rowcount)
        sql, bound = self._bound(params)
        return int(on_driver(driver, sql, bound).rowcount)

    async def objects(self, session: AsyncSession, **params: Any) -> list[Any]:
        """The rows as the session's ORM objects of `model`."""
        assert self.model is not None, "objects() needs the model the query selects"
        driver, pg = await self._drivers(session)
        if driver is None and pg is None:
            return list((await session.exec(self.statement, params=params)).all())
        names = self._compiled()[4]  # the model's columns in order, on either driver (checked when compiled)
        rows = await self._rows(session, driver, pg, params)
        return attach_rows(session, self.model, [dict(zip(names, row, strict=True)) for row in rows])


class PreparedInsert:
    """A multi-row insert of `model`'s rows given as dicts of its columns (those left out take their default),
    compiled once and run on the session's own driver connection (SQLite's or asyncpg's); elsewhere through the
    session."""

    def __init__(self, model: type[Any]) -> None:
        self.model = model
        self.table: sa.Table = model.__table__
        self._sqlite: tuple[str, list[str], dict[str, Any], dict[str, Any]] | None = None

    def _compiled(self) -> tuple[str, list[str], dict[str, Any], dict[str, Any]]:
        if self._sqlite is None:
            names = [c.name for c in self.table.columns if c is not self.table.autoincrement_column]
            compiled = sa.insert(self.table).compile(dialect=_SQLITE_DIALECT, column_keys=names)
            processors = {name: binder for name in compiled._bind_processors
                          if name in names and (binder := sqlite_binder(compiled.binds[name].type)) is not None}
            defaults: dict[str, Any] = {}
            for column in self.table.columns:
                if column.name in names and column.default is not None:
                    defaults[column.name] = column.default
            self._sqlite = (str(compiled), names, processors, defaults)
        return self._sqlite

    async def run(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        driver = await sqlite_driver(session)
        if driver is None:
            pg = await asyncpg_driver(session)
            if pg is not None:
                await self._postgres(pg, rows)
                return
            await session.exec(sa.insert(self.model), params=rows)
            return
        sql, names, processors, defaults = self._compiled()
        bound: list[dict[str, Any]] = []
        for row in rows:
            values: dict[str, Any] = {}
            for name in names:
                if name in row:
                    value = row[name]
                elif name in defaults:
                    default = defaults[name]
                    value = default.arg(None) if default.is_callable else default.arg
                else:
                    value = None
                process = processors.get(name)
                values[name] = process(value) if process is not None else value
            bound.append(values)
        on_driver(driver, sql, bound, many=True)

    async def _postgres(self, pg: PgDriver, rows: list[dict[str, Any]]) -> None:
        """The insert on asyncpg: the same columns and defaults as on SQLite, the dialect's processors."""
        _sql, names, _processors, defaults = self._compiled()
        statement = self.__dict__.get("_pg")
        if statement is None:
            statement = self.__dict__["_pg"] = pg_compiled(sa.insert(self.table), pg.dialect, column_keys=names)
        filled: list[dict[str, Any]] = []
        for row in rows:
            values = dict(row)
            for name, default in defaults.items():
                if name not in values:
                    values[name] = default.arg(None) if default.is_callable else default.arg
            filled.append({name: values.get(name) for name in names})
        await pg.many(statement, filled)


_BY_KEY: dict[type[Any], Prepared] = {}


async def get(session: AsyncSession, model: type[T], key: Any) -> T | None:
    """`session.get` for a model with a one-column key, as a fixed query on the driver: the session's own object
    when it has it, else the row read by its key."""
    known = session.sync_session.identity_map.get(identity_key(model, key))
    if known is not None:
        return known
    prepared = _BY_KEY.get(model)
    if prepared is None:
        (column,) = sa.inspect(model).primary_key
        prepared = _BY_KEY[model] = Prepared(select(model).where(column == sa.bindparam("key")), model)
    found = await prepared.objects(session, key=key)
    return found[0] if found else None
