"""Tidy chats on Telegram, against the fake Bot API over real HTTP with the real core: an answered step loses its
buttons (the pressed one shows the answer), a toggle edits its message in place instead of sending another."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import select
from telegram import Update

from bot.app import build_app
from bot.core.clock import Clock
from bot.settings import Settings
from bot.transports.telegram import TelegramTransport
from storage.conversations import Conversation
from storage.db import transaction
from storage.people import Identity, Person
from tests.conftest import START
from tests.fake_telegram import TELEGRAM_PEOPLE, Call, FakeTelegram


@pytest.fixture
async def telegram(db_url: str, fake: FakeTelegram) -> AsyncIterator[TelegramTransport]:
    """The Telegram transport attached to the app's core, fed the fake's updates by `feed` (no polling task)."""
    settings = Settings(_env_file=None, database_url=db_url,  # type: ignore[call-arg]
                        telegram_bot_token=fake.token, telegram_api_base_url=fake.url)
    transport = TelegramTransport(settings)
    app = build_app(settings, clock=Clock(START, frozen=True), transports=[transport])
    await transport.application.initialize()
    transport.core = app.core
    transport.username = transport.application.bot.username
    async with transaction(app.core.sessions) as session:
        for name, user_id in TELEGRAM_PEOPLE.items():
            person = (await session.exec(select(Person).where(Person.name == name))).one()
            assert person.id is not None
            session.add(Identity(person_id=person.id, platform="telegram", platform_user_id=str(user_id),
                                 private_chat_id=str(user_id)))
    yield transport
    await transport.application.shutdown()
    await app.close()


async def feed(transport: TelegramTransport, fake: FakeTelegram) -> None:
    """Hand the transport what the fake has queued, as long polling would."""
    while fake.updates:
        raw = fake.updates.pop(0)
        await transport._process(Update.de_json(raw, transport.application.bot))


def sent_after(fake: FakeTelegram, chat: int, after: int) -> list[Call]:
    return [c for c in fake.calls[after:] if c.method == "sendmessage" and c.chat_id == str(chat) and c.ok]


def keyboard(message: dict[str, Any]) -> list[str]:
    return [b["text"] for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


async def test_an_answered_step_loses_its_buttons_and_shows_the_answer(telegram: TelegramTransport,
                                                                      fake: FakeTelegram) -> None:
    user = fake.user(3001, "新邻居")
    after = len(fake.calls)
    await fake.say(user, None, "/join XFL2026")
    await feed(telegram, fake)
    buildings = sent_after(fake, 3001, after)[-1]
    assert "1栋" in keyboard(fake.shown(buildings))
    after = len(fake.calls)
    await fake.press(user, buildings, "1栋")
    await feed(telegram, fake)
    # The question stays, with the answer under it and no buttons left to press.
    answered = fake.shown(buildings)
    assert keyboard(answered) == []
    assert answered["text"].startswith(buildings.text) and answered["text"].endswith("✓ 1栋")
    units = sent_after(fake, 3001, after)
    assert len(units) == 1 and keyboard(fake.shown(units[0]))  # the next question, a message of its own
    # A typed answer retires the question's buttons too: the core remembered which message asked it.
    async with telegram.core.sessions() as session:  # type: ignore[union-attr]
        row = (await session.exec(select(Conversation))).one()
    assert row.message_id == str(units[0].result["message_id"])
    label = keyboard(fake.shown(units[0]))[0]
    after = len(fake.calls)
    await fake.say(user, None, label)
    await feed(telegram, fake)
    assert keyboard(fake.shown(units[0])) == []
    assert any(c.method == "editmessagereplymarkup" for c in fake.calls[after:])
    assert len(sent_after(fake, 3001, after)) == 1  # the next question


async def test_a_toggle_edits_its_message_in_place(telegram: TelegramTransport, fake: FakeTelegram) -> None:
    zhang = fake.user(TELEGRAM_PEOPLE["张三"], "张三")
    after = len(fake.calls)
    await fake.say(zhang, None, "/skills")
    await feed(telegram, fake)
    menu = sent_after(fake, zhang["id"], after)[-1]
    first = keyboard(fake.shown(menu))[0]
    assert not first.startswith("✓")
    after = len(fake.calls)
    await fake.press(zhang, menu, first)
    await feed(telegram, fake)
    # No new message: the menu itself now shows the skill chosen.
    assert sent_after(fake, zhang["id"], after) == []
    assert [c.method for c in fake.calls[after:] if c.method.startswith("edit")] == ["editmessagetext"]
    assert keyboard(fake.shown(menu))[0] == "✓ " + first
    await fake.press(zhang, menu, "✓ " + first)  # and back
    await feed(telegram, fake)
    assert sent_after(fake, zhang["id"], after) == []
    assert keyboard(fake.shown(menu))[0] == first


async def test_a_flows_toggle_step_is_asked_again_in_place(telegram: TelegramTransport, fake: FakeTelegram) -> None:
    wang = fake.user(TELEGRAM_PEOPLE["王书记"], "王书记")
    for words in ("/task", "清理楼道杂物", "清理1栋楼道里的杂物", "1栋楼下", "2026-11-25 09:00", "11:00", "2"):
        await fake.say(wang, None, words)
        await feed(telegram, fake)
    question = fake.sent(wang["id"])[-1]
    skill = keyboard(fake.shown(question))[0]
    after = len(fake.calls)
    await fake.press(wang, question, skill)
    await feed(telegram, fake)
    assert sent_after(fake, wang["id"], after) == []
    assert keyboard(fake.shown(question))[0] == "✓ " + skill
    # Done moves on: the step's message keeps the choice and loses its buttons, the next question is new.
    done = keyboard(fake.shown(question))[-1]
    await fake.press(wang, question, done)
    await feed(telegram, fake)
    assert keyboard(fake.shown(question)) == []
    assert fake.shown(question)["text"].endswith("✓ " + done)
    assert len(sent_after(fake, wang["id"], after)) == 1
