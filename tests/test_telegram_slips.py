"""Telegram's platform slips, against the fake Bot API over real HTTP with the real core and outbox: a group that
becomes a supergroup while postings to it are queued."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import col, select
from telegram import Update

from bot.app import App, build_app
from bot.core.clock import Clock
from bot.core.types import Reply, ToChat
from bot.settings import Settings
from bot.transports.base import Limits
from bot.transports.telegram import TelegramTransport, to_incoming
from storage.compounds import Chat
from storage.db import transaction
from storage.outbox import DELIVERED, OutboxMessage
from tests.conftest import START
from tests.fake_telegram import FakeTelegram

OLD_ID = -4500001
NEW_ID = -1004500001
SECRETARY = {"id": 1001, "is_bot": False, "first_name": "王书记", "language_code": "zh-hans"}


@pytest.fixture
async def live(db_url: str, fake: FakeTelegram) -> AsyncIterator[App]:
    """The app with the Telegram transport against the fake; no pacing, so a drain sends whatever is due."""
    settings = Settings(_env_file=None, database_url=db_url,  # type: ignore[call-arg]
                        telegram_bot_token=fake.token, telegram_api_base_url=fake.url)
    telegram = TelegramTransport(settings)
    telegram.limits = Limits()
    await telegram.sender.initialize()
    telegram.username = telegram.sender.username
    application = build_app(settings, clock=Clock(START, frozen=True), transports=[telegram])
    yield application
    await telegram.sender.shutdown()
    await application.close()


async def bound_group(app: App, fake: FakeTelegram) -> tuple[dict[str, Any], int]:
    """A small Telegram group bound to 幸福里, known to the fake; returns it and its Chat id."""
    group = fake.group(OLD_ID, "幸福里3栋群", "group")
    fake.chats[str(OLD_ID)] = group
    async with transaction(app.core.sessions) as session:
        chat = Chat(platform="telegram", platform_chat_id=str(OLD_ID), kind="group", title="幸福里3栋群", compound_id=1)
        session.add(chat)
        await session.flush()
        assert chat.id is not None
        return group, chat.id


async def post(app: App, chat_id: int, *texts: str) -> None:
    async with transaction(app.core.sessions) as session:
        for text in texts:
            await app.core.enqueue(session, Reply(text), ToChat(chat_id), None, app.core.clock.now())


async def rows(app: App) -> list[OutboxMessage]:
    async with app.core.sessions() as session:
        found = await session.exec(select(OutboxMessage).where(OutboxMessage.platform == "telegram")
                                   .order_by(col(OutboxMessage.id)))
        return list(found.all())


async def chat_of(app: App, chat_id: int) -> Chat:
    async with app.core.sessions() as session:
        chat = await session.get(Chat, chat_id)
        assert chat is not None
        return chat


async def test_postings_queued_before_an_unseen_migration_reach_the_supergroup_once(live: App,
                                                                                    fake: FakeTelegram) -> None:
    _group, chat_id = await bound_group(live, fake)
    await post(live, chat_id, "本周六上午清洗水箱，届时停水两小时。", "业委会例会改到周四晚七点。")
    # The bot never sees the migration update: it learns of the new id from the answer to its first send.
    await fake.migrate(fake.chats[str(OLD_ID)], NEW_ID, SECRETARY, announce=False)
    assert await live.worker.drain() == 2
    delivered = [c.text for c in fake.sent(NEW_ID)]
    assert delivered == ["本周六上午清洗水箱，届时停水两小时。", "业委会例会改到周四晚七点。"]
    # One refused attempt at the old id, and never a second.
    assert len(fake.sent(OLD_ID, ok=False)) == 1
    assert fake.sent(OLD_ID, ok=False)[0].error == {
        "ok": False, "error_code": 400, "description": "Bad Request: group chat was upgraded to a supergroup chat",
        "parameters": {"migrate_to_chat_id": NEW_ID}}
    assert [(r.chat_id, r.state, r.attempts) for r in await rows(live)] == [(str(NEW_ID), DELIVERED, 1)] * 2
    chat = await chat_of(live, chat_id)
    assert (chat.platform_chat_id, chat.compound_id, chat.active) == (str(NEW_ID), 1, True)
    # Later postings go to the new id directly.
    await post(live, chat_id, "明天下午三点消防演练。")
    failed_before = len(fake.sent(OLD_ID, ok=False))
    assert await live.worker.drain() == 1
    assert fake.sent(NEW_ID)[-1].text == "明天下午三点消防演练。"
    assert len(fake.sent(OLD_ID, ok=False)) == failed_before


async def test_the_migration_update_moves_the_binding_and_the_queue(live: App, fake: FakeTelegram) -> None:
    group, chat_id = await bound_group(live, fake)
    await post(live, chat_id, "电梯年检，明日九点至十一点停用。")
    await fake.migrate(group, NEW_ID, SECRETARY, announce=True)
    telegram = live.transports["telegram"]
    assert isinstance(telegram, TelegramTransport)
    for raw in list(fake.updates):  # what long polling would hand the transport
        incoming = to_incoming(Update.de_json(raw, telegram.sender), telegram.username)
        if incoming is not None:
            assert await live.core.handle(incoming) == []
    assert [(r.chat_id, r.state) for r in await rows(live)] == [(str(NEW_ID), "pending")]
    assert (await chat_of(live, chat_id)).platform_chat_id == str(NEW_ID)
    assert await live.worker.drain() == 1
    assert [c.text for c in fake.sent(NEW_ID)] == ["电梯年检，明日九点至十一点停用。"]
    assert fake.sent(OLD_ID, ok=False) == []  # nothing was even tried at the old id


async def test_a_queued_edit_of_a_message_left_in_the_old_group_is_cancelled(live: App, fake: FakeTelegram) -> None:
    _group, chat_id = await bound_group(live, fake)
    async with transaction(live.core.sessions) as session:
        await live.core.enqueue(session, Reply("志愿者招募：0/5 人报名", posting="task-9"), ToChat(chat_id), None,
                                live.core.clock.now())
    assert await live.worker.drain() == 1
    async with transaction(live.core.sessions) as session:
        await live.core.enqueue(session, Reply("志愿者招募：1/5 人报名", edit="task-9"), ToChat(chat_id), None,
                                live.core.clock.now())
    await fake.migrate(fake.chats[str(OLD_ID)], NEW_ID, SECRETARY, announce=False)
    await live.worker.drain()
    # The edit was refused with the new id: not retried, not aimed at a message of the same number in the new chat.
    assert [c.method for c in fake.calls if c.method.startswith("edit")] == ["editmessagetext"]
    assert [(r.kind, r.state) for r in await rows(live)] == [("send", DELIVERED), ("edit", "cancelled")]
    assert (await chat_of(live, chat_id)).platform_chat_id == str(NEW_ID)
