"""The webhook answers in its HTTP response: an update whose one reply is one Bot API call whose result the bot
does not need gets it back in the response (`{"method": ...}`), which the fake Bot API executes as Telegram does;
everything else is sent by requests as before. The transport runs in process behind a real aiohttp server, fed
by the fake's webhook pushes, with the real core on the demo database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlmodel import select

from bot.app import build_app
from bot.core.clock import Clock
from bot.core.types import OutButton, OutMessage
from bot.settings import Settings
from bot.transports.telegram import TelegramTransport, webhook_answer
from storage.conversations import Conversation
from storage.db import transaction
from storage.people import Identity, Person
from tests.conftest import START
from tests.fake_telegram import TELEGRAM_PEOPLE, Call, FakeTelegram, free_port

SECRET = "hook-secret"


@pytest.fixture
async def hooked(db_url: str, fake: FakeTelegram) -> AsyncIterator[TelegramTransport]:
    """The transport on its webhook route, the fake pushing updates to it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    settings = Settings(_env_file=None, database_url=db_url,  # type: ignore[call-arg]
                        telegram_bot_token=SecretStr(fake.token), telegram_api_base_url=fake.url,
                        telegram_webhook_url=url, telegram_webhook_secret=SecretStr(SECRET))
    transport = TelegramTransport(settings)
    app = build_app(settings, clock=Clock(START, frozen=True), transports=[transport])
    await transport.application.initialize()
    await transport.application.start()
    transport.core = app.core
    transport.username = transport.application.bot.username
    async with transaction(app.core.sessions) as session:
        for name, user_id in TELEGRAM_PEOPLE.items():
            person = (await session.exec(select(Person).where(Person.name == name))).one()
            assert person.id is not None
            session.add(Identity(person_id=person.id, platform="telegram", platform_user_id=str(user_id),
                                 private_chat_id=str(user_id)))
    web_app = web.Application()
    transport.add_routes(web_app)
    runner = web.AppRunner(web_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.webhook = {"url": url, "secret_token": SECRET}
    yield transport
    await runner.cleanup()
    await transport.application.stop()
    await transport.application.shutdown()
    await app.close()


def to_chat(fake: FakeTelegram, chat: int, after: int) -> list[Call]:
    return [c for c in fake.calls[after:] if c.chat_id == str(chat) and c.method != "answercallbackquery"]


async def test_help_is_answered_in_the_webhook_response(hooked: TelegramTransport, fake: FakeTelegram) -> None:
    user = fake.user(4001, "Hooked", "en")
    after = len(fake.calls)
    await fake.say(user, None, "/help")
    helped = await fake.reply_to(4001, after)
    assert "/join" in helped.text and helped.webhook and helped.ok
    await fake.pushed()
    # The one call to the chat is the response's: the bot made no sendMessage request of its own.
    assert to_chat(fake, 4001, after) == [helped]


async def test_a_question_whose_id_is_remembered_goes_by_request(hooked: TelegramTransport,
                                                                 fake: FakeTelegram) -> None:
    user = fake.user(4002, "Newcomer", "en")
    after = len(fake.calls)
    await fake.say(user, None, "/join XFL2026")
    buildings = await fake.reply_to(4002, after)
    assert not buildings.webhook  # the core remembers the question's message id: only a request returns it
    await fake.pushed()
    assert hooked.core is not None
    async with hooked.core.sessions() as session:
        remembered = (await session.exec(select(Conversation.message_id))).all()
    assert str(buildings.result["message_id"]) in remembered
    # Typing the answer instead of pressing retires the question's buttons, then asks the next question.
    after = len(fake.calls)
    await fake.say(user, None, "1栋")
    await fake.pushed()
    assert "reply_markup" not in fake.shown(buildings)
    units = [c for c in to_chat(fake, 4002, after) if c.method == "sendmessage"]
    assert len(units) == 1 and "1单元" in str(units[0].markup)


async def test_a_toggle_is_edited_in_place_by_the_response(hooked: TelegramTransport, fake: FakeTelegram) -> None:
    zhang = fake.user(TELEGRAM_PEOPLE["张三"], "张三")
    after = len(fake.calls)
    await fake.say(zhang, None, "/skills")
    menu = await fake.reply_to(zhang["id"], after)
    first = menu.buttons[0]["text"]
    after = len(fake.calls)
    query = await fake.press(zhang, menu, first)
    await fake.pushed()
    calls = to_chat(fake, zhang["id"], after)
    assert [(c.method, c.webhook, c.ok) for c in calls] == [("editmessagetext", True, True)]
    assert fake.shown(menu)["reply_markup"]["inline_keyboard"][0][0]["text"] == "✓ " + first
    assert query in fake.answered  # the button stopped spinning (by request, before the edit)


async def test_several_replies_go_by_request(hooked: TelegramTransport, fake: FakeTelegram) -> None:
    """A newcomer's first words get two replies (the welcome, then the join flow's first question): both are sent
    by requests, in order, and the response carries nothing."""
    user = fake.user(4003, "Several", "en")
    after = len(fake.calls)
    await fake.say(user, None, "hello")
    await fake.pushed()
    calls = to_chat(fake, 4003, after)
    assert [(c.method, c.webhook, c.ok) for c in calls] == [("sendmessage", False, True)] * 2
    assert "Welcome" in calls[0].text and "invite code" in calls[1].text


async def test_a_failed_answer_is_recorded_by_the_fake(hooked: TelegramTransport, fake: FakeTelegram) -> None:
    """Telegram tells the bot nothing of a failed call from a response; the fake records it, so it is not lost
    silently in tests."""
    user = fake.user(4004, "Blocked", "en")
    fake.arm("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=4004)
    after = len(fake.calls)
    await fake.say(user, None, "/help")
    await fake.pushed()
    [failed] = to_chat(fake, 4004, after)
    assert failed.webhook and not failed.ok and failed.error is not None and failed.error["error_code"] == 403


def test_what_rides_on_the_response() -> None:
    button = OutButton("Go", "callback", "t:1")
    assert webhook_answer("5", OutMessage("<hi>", ((button,),)), "bot") == {
        "method": "sendMessage", "chat_id": "5", "text": "&lt;hi&gt;", "parse_mode": "HTML",
        "reply_markup": {"inline_keyboard": [[{"text": "Go", "callback_data": "t:1"}]]}}
    assert webhook_answer("5", OutMessage("hi"), "bot", remove_keyboard=True) == {
        "method": "sendMessage", "chat_id": "5", "text": "hi", "parse_mode": "HTML",
        "reply_markup": {"remove_keyboard": True}}
    refused: list[OutMessage] = [
        OutMessage("hi", asks="join:building"),  # its id is remembered
        OutMessage("hi", pin=True),  # the pin needs the id
        OutMessage(""),  # nothing to send
        OutMessage("hi", ((button, OutButton("Phone", "contact")),)),  # two messages
        OutMessage("hi", replaces="9"),  # an edit without the pressed message at hand
    ]
    assert [webhook_answer("5", m, "bot") for m in refused] == [None] * len(refused)
