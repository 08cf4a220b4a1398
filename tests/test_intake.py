"""The per-message path (storage/intake.py): what every message writes besides its handler's own work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import select

from bot.transports.console import Console
from storage.demo import DEMO_INVITE
from storage.people import Identity, Role
from tests.conftest import add_console_person


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


async def skip_statements(console: Console, name: str) -> list[str]:
    """The statements of a join request's last step (Skip: the secretaries are asked to approve)."""
    await console.say(f"/join {DEMO_INVITE}")
    for label in ("2栋", "2单元", "202", "业主"):
        await console.press(label)
    with statements(console) as run:
        await console.press("跳过")
    assert "等待支部书记审核" in console.last.text
    # The message's own transaction, up to its update claim (the console then delivers the outbox).
    return run[: next(i for i, s in enumerate(run) if s.startswith("INSERT INTO processedupdate")) + 1]


async def test_join_request_fans_out_in_a_fixed_number_of_statements(console: Console) -> None:
    console.as_("路人甲")
    one = await skip_statements(console, "路人甲")
    for n in range(5):
        await add_console_person(console.app, f"书记{n}", 1, Role.SECRETARY)
        console.as_(f"书记{n}")
        await console.say("/help")  # a private chat to write to
    console.as_("路人乙")
    six = await skip_statements(console, "路人乙")
    assert len(six) == len(one)
    for n in range(5):
        assert "新成员申请：路人乙" in console.last_for(f"书记{n}").text
