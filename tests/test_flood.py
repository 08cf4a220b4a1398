"""Flood control: past FLOOD_MESSAGES_PER_MINUTE messages in a minute a person gets one polite answer and then
nothing, and nothing is done for them (no handler, no conversation, no outbox row); a neighbour is served as
usual meanwhile, the person again once their last minute is quiet. The count lives in the database (the claims
of processed updates): two processes share it, and a repeated update is answered from its stored answer without
being counted again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from bot.app import App, build_app
from bot.core.clock import Clock
from bot.core.types import Incoming
from bot.settings import Settings
from bot.transports.console import Console
from storage.conversations import ButtonSet, Conversation
from storage.outbox import OutboxMessage
from storage.people import Identity
from tests.conftest import START

LIMIT = 20
TOO_FAST = "您发得太快了，请稍后再试。"


def flood_settings(db_url: str) -> Settings:
    return Settings(_env_file=None, database_url=db_url, flood_messages_per_minute=LIMIT)  # type: ignore[call-arg]


@pytest.fixture
async def flood_app(db_url: str) -> AsyncIterator[App]:
    application = build_app(flood_settings(db_url), clock=Clock(START, frozen=True))
    yield application
    await application.close()


@pytest.fixture
def chat(flood_app: App) -> Console:
    return Console(flood_app)


async def rows(app: App, model: type) -> int:
    async with app.core.sessions() as session:
        return int((await session.exec(select(sa.func.count()).select_from(model))).one())


async def conversations_of(app: App, name: str) -> list[Conversation]:
    async with app.core.sessions() as session:
        person_id = (await session.exec(select(Identity.person_id).where(Identity.platform_user_id == name))).one()
        return list((await session.exec(select(Conversation).where(Conversation.person_id == person_id))).all())


async def test_a_hundred_messages_in_a_minute_get_one_refusal_and_no_work(chat: Console) -> None:
    app = chat.app
    chat.as_("张三")
    for _ in range(LIMIT):
        shown = await chat.say("/start")
        assert shown and shown[-1].buttons  # the menu, each time

    tokens, queued = await rows(app, ButtonSet), await rows(app, OutboxMessage)
    # The first message over the limit: answered once, politely, and not handled (no complaint flow opens).
    shown = await chat.say("/complain")
    assert [(s.to, s.text, s.buttons) for s in shown] == [("张三", TOO_FAST, ())]
    for n in range(LIMIT + 2, 101):
        if n == 50:  # a neighbour writes in the middle of the flood and is answered as usual
            chat.as_("李四")
            shown = await chat.say("/start")
            assert shown and shown[-1].to == "李四" and shown[-1].buttons and TOO_FAST not in shown[-1].text
            tokens, queued = await rows(app, ButtonSet), await rows(app, OutboxMessage)
            chat.as_("张三")
        said = ("/complain", "/start", "楼上漏水了")[n % 3]
        assert await chat.say(said) == [], f"message {n} ({said}) was answered"
    # Dropped without work: no menu rendered (no button sets), nothing queued, no conversation opened.
    assert await rows(app, ButtonSet) == tokens
    assert await rows(app, OutboxMessage) == queued
    assert await conversations_of(app, "张三") == []

    # Half a minute later the flood still fills their last minute: still dropped. A minute after it: served again.
    app.core.clock.advance(timedelta(seconds=30))
    assert await chat.say("/start") == []
    app.core.clock.advance(timedelta(seconds=60))
    shown = await chat.say("/complain")
    assert shown and TOO_FAST not in shown[-1].text and shown[-1].buttons
    assert [c.flow for c in await conversations_of(app, "张三")] == ["complain"]


async def test_the_refusal_is_in_the_persons_language(chat: Console) -> None:
    for name, language, text in (("李四", "en", "You are sending messages too fast. Please try again in a minute."),
                                  ("王五", "zh_TW", "您發得太快了，請稍後再試。")):
        chat.as_(name)
        chat.languages[name] = language
        for _ in range(LIMIT):
            await chat.say("/help")
        assert [s.text for s in await chat.say("/help")] == [text]


def message(n: int, user: str = "张三") -> Incoming:
    return Incoming(platform="console", update_id=f"flood-{user}-{n}", chat_id=f"p:{user}", chat_kind="private",
                    user_id=user, user_name=user, text="/help", command="help")


async def test_a_repeated_update_gets_its_stored_answer_and_is_not_counted_again(flood_app: App) -> None:
    core = flood_app.core
    answers = [await core.handle(message(n)) for n in range(1, LIMIT + 1)]
    assert all(answer and TOO_FAST not in answer[0].text for answer in answers)
    # The platform repeats the last one (twice): the same answer again, and the count does not move...
    for _ in range(2):
        assert await core.handle(message(LIMIT)) == answers[-1]
    # ...so the next new message is the first one over the limit: the refusal, and a repeat of it gets it again.
    assert [m.text for m in await core.handle(message(LIMIT + 1))] == [TOO_FAST]
    assert [m.text for m in await core.handle(message(LIMIT + 1))] == [TOO_FAST]
    assert await core.handle(message(LIMIT + 2)) == []
    assert await core.handle(message(LIMIT + 2)) == []


async def test_two_processes_share_the_count(flood_app: App) -> None:
    """Two apps with their own engines on one database stand for two processes taking turns with one person's
    messages: each sees only half of them, the limit holds for the sum."""
    other = build_app(flood_app.settings, clock=Clock(START, frozen=True))
    try:
        cores = (flood_app.core, other.core)
        for n in range(1, LIMIT + 1):
            answer = await cores[n % 2].handle(message(n))
            assert answer and TOO_FAST not in answer[0].text
        assert [m.text for m in await cores[1].handle(message(LIMIT + 1))] == [TOO_FAST]
        assert await cores[0].handle(message(LIMIT + 2)) == []
        # A neighbour on either process is not affected.
        assert TOO_FAST not in (await cores[1].handle(message(1, "李四")))[0].text
    finally:
        await other.close()


async def test_a_chat_event_is_the_platforms_not_the_persons(chat: Console) -> None:
    chat.as_("张三")
    for _ in range(LIMIT + 1):
        await chat.say("/help")
    assert await chat.say("/help") == []
    chat.in_("三号楼邻居群")  # they add the bot to a new group: the bot still says hello there
    shown = await chat.event("bot_added")
    assert shown and "/bindgroup" in shown[-1].text


async def test_zero_means_no_limit(db_url: str) -> None:
    settings = Settings(_env_file=None, database_url=db_url, flood_messages_per_minute=0)  # type: ignore[call-arg]
    unlimited = build_app(settings, clock=Clock(START, frozen=True))
    try:
        console = Console(unlimited)
        for _ in range(3 * LIMIT):
            shown = await console.say("/help")
            assert shown and TOO_FAST not in shown[-1].text
    finally:
        await unlimited.close()
