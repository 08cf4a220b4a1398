"""The peer `bench.dispatch` compares the core with: a typical aiogram + SQLAlchemy bot, written out plainly so
that no bot framework is needed. Per update, as such bots do with a database middleware: decode the update,
open a session, get the user by their Telegram id (created on their first update), update them (last seen, a
message counter), commit, and build the answer. SQLAlchemy 2's asyncio ORM on stock aiosqlite (its calls on
aiosqlite's own thread), `async_sessionmaker(expire_on_commit=False)`, as the aiogram templates set it up.

The peer does one read and one write per update, no routing, no roles, no conversation, no update claim: the
least a database-backed bot does."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_id: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    language: Mapped[str | None] = mapped_column(sa.String(10))
    messages: Mapped[int] = mapped_column(default=0)
    last_seen: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class PeerBot:
    """The bot: `await bot.feed(raw_update_bytes)` handles one update and returns the answer it would send."""

    def __init__(self, path: Path) -> None:
        self.engine: AsyncEngine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def create(self, users: int) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
            now = datetime.now(UTC)
            await connection.execute(sa.insert(User), [
                {"telegram_id": 1000 + n, "name": f"u{n}", "language": "zh", "messages": 0, "last_seen": now}
                for n in range(users)])

    async def feed(self, raw: bytes) -> dict[str, Any]:
        update = json.loads(raw)
        message = update["message"]
        sender = message["from"]
        async with self.sessions() as session:  # the database middleware
            user = await self._user(session, sender)
            user.messages += 1
            user.last_seen = datetime.now(UTC)
            await session.commit()
            return self._answer(message, user)

    @staticmethod
    async def _user(session: AsyncSession, sender: dict[str, Any]) -> User:
        user = await session.scalar(sa.select(User).where(User.telegram_id == sender["id"]))
        if user is None:
            user = User(telegram_id=sender["id"], name=sender.get("first_name", ""), messages=0,
                        language=sender.get("language_code"), last_seen=datetime.now(UTC))
            session.add(user)
        return user

    @staticmethod
    def _answer(message: dict[str, Any], user: User) -> dict[str, Any]:
        text = message.get("text", "")
        reply = f"Hello {user.name}, this is your message number {user.messages}." if text == "/start" else (
            "/start — begin\n/help — this list")
        return {"method": "sendMessage", "chat_id": message["chat"]["id"], "text": reply}

    async def close(self) -> None:
        await self.engine.dispose()


def updates(users: int) -> Any:
    """Raw updates as Telegram sends them: /help and /start from `users` people in their private chats."""
    for n in itertools.count(1):
        user = 1000 + n * 7919 % users
        yield json.dumps({"update_id": n, "message": {
            "message_id": n, "date": 0, "text": "/help" if n % 2 else "/start",
            "chat": {"id": user, "type": "private", "first_name": "u"},
            "from": {"id": user, "is_bot": False, "first_name": "u", "language_code": "zh-hans"}}}).encode()
