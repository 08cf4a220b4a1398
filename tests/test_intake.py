"""The per-message path (storage/intake.py): what every message writes besides its handler's own work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import select

from bot.transports.console import Console
from storage.people import Identity


@contextmanager
def statements(console: Console) -> Iterator[list[str]]:
    """The SQL statements the engine runs inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    engine = console.app.core.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def last_seen(console: Console, user: str) -> Any:
    async with console.app.core.sessions() as session:
        return (await session.exec(select(Identity.last_seen_at).where(Identity.platform_user_id == user))).one()


async def test_last_seen_is_written_behind(console: Console) -> None:
    console.as_("路人甲")
    await console.say("/help")
    first = await last_seen(console, "路人甲")
    assert first == console.app.core.clock.now()
    console.app.core.clock.advance(minutes=4)
    with statements(console) as run:
        await console.say("/help")
    assert not [s for s in run if s.startswith("UPDATE identity")], run  # within five minutes: nothing written
    assert await last_seen(console, "路人甲") == first
    console.app.core.clock.advance(minutes=2)
    with statements(console) as run:
        await console.say("/help")
    assert len([s for s in run if s.startswith("UPDATE identity")]) == 1
    assert await last_seen(console, "路人甲") == first + timedelta(minutes=6)
