"""The engine: SQLite (WAL, busy timeout, BEGIN IMMEDIATE) by default, PostgreSQL by URL."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import aiosqlite
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import Field
from sqlmodel.ext.asyncio.session import AsyncSession

E = TypeVar("E", bound=StrEnum)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware timestamps stored in UTC; SQLite hands back naive values, so we re-attach UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
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


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, async_creator=_sqlite_creator(url), **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


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
            lock = _writer_lock(self._path)
            try:
                async with asyncio.timeout(SQLITE_BUSY_SECONDS):  # not wait_for: see bot.leader.wait_event
                    await lock.acquire()
            except TimeoutError:
                raise sqlite3.OperationalError("database is locked") from None
            self._lock = lock
        try:
            return fn(*args, **kwargs)
        except BaseException:
            if begins:
                self._release()
            raise

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
        conn.exec_driver_sql("BEGIN IMMEDIATE")


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
    """One unit of work: committed when the block ends, rolled back on any error."""
    async with maker() as session, session.begin():
        yield session
