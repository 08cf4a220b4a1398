"""Leadership for work of which only one consumer may exist per bot (Telegram long polling, the WeCom long
connection): a PostgreSQL advisory lock held on a dedicated connection. When the leader dies its connection
closes, the lock is released, and another process takes over within one retry interval. On SQLite there is
only ever one process, which leads at once."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set (True) or `seconds` pass (False). Not `asyncio.wait_for`: on Python 3.11 it
    swallows a cancellation that arrives as the wait ends, and the cancelled task runs on."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock from a readable name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Leadership:
    def __init__(self, engine: AsyncEngine, name: str, retry_seconds: float = 2.0) -> None:
        self.engine = engine
        self.name = name
        self.key = lock_key(name)
        self.retry_seconds = retry_seconds
        self._connection: AsyncConnection | None = None

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def try_acquire(self) -> bool:
        if not self.postgres:
            return True
        if self._connection is None:
            self._connection = await self.engine.connect()
        result = await self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
        acquired = bool(result.scalar())
        # Commit so the connection is not left idle in a transaction; the session-level lock stays held.
        await self._connection.commit()
        if not acquired:
            await self._connection.close()
            self._connection = None
        return acquired

    async def wait(self, stop: asyncio.Event) -> bool:
        """Block until this process leads (True) or `stop` is set (False)."""
        while not stop.is_set():
            try:
                if await self.try_acquire():
                    log.info("this process now leads %s", self.name)
                    return True
            except Exception:
                log.exception("could not ask for leadership of %s", self.name)
            await wait_event(stop, self.retry_seconds)
        return False

    async def still_leading(self) -> bool:
        """The lock lives as long as its connection; a broken connection means someone else may lead now."""
        if not self.postgres:
            return True
        if self._connection is None:
            return False
        try:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
            return True
        except Exception:
            log.warning("lost the connection that held leadership of %s", self.name)
            self._connection = None
            return False

    async def release(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                await self._connection.commit()
            finally:
                await self._connection.close()
                self._connection = None


@asynccontextmanager
async def leading(engine: AsyncEngine, name: str, stop: asyncio.Event) -> AsyncIterator[bool]:
    """`async with leading(engine, "telegram-polling", stop) as leader:` runs the body once leading."""
    leadership = Leadership(engine, name)
    acquired = await leadership.wait(stop)
    try:
        yield acquired
    finally:
        await leadership.release()
