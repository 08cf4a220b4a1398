"""Staff's own command menus on Telegram: setMyCommands with a chat scope for a staff member's private chat, set at
start for everyone who is or was staff and after a commit that granted or revoked a role (bot/core/menus.py);
residents keep the default list. Against the fake Bot API server, with roles changed through the console."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import App
from bot.settings import Settings
from bot.transports.console import Console
from bot.transports.telegram import TelegramTransport
from storage.db import transaction
from storage.people import Identity
from tests.conftest import person_ids
from tests.fake_telegram import FakeTelegram

CHATS = {"王书记": "9001", "李四": "9002", "张三": "9003"}


@pytest.fixture
async def telegram(fake: FakeTelegram, app: App) -> AsyncIterator[TelegramTransport]:
    settings = Settings(_env_file=None, telegram_bot_token=fake.token,  # type: ignore[call-arg]
                        telegram_api_base_url=fake.url)
    transport = TelegramTransport(settings)
    await transport.sender.initialize()
    transport.core = app.core
    app.core.on_roles_changed.append(transport.set_chat_menus)  # what start() does
    people = await person_ids(app)
    async with transaction(app.core.sessions) as session:
        for name, chat in CHATS.items():
            session.add(Identity(person_id=people[name], platform="telegram", platform_user_id=chat,
                                 private_chat_id=chat))
    yield transport
    await transport.sender.shutdown()


def _names(fake: FakeTelegram, chat: str) -> list[str]:
    return [c["command"] for c in fake.commands[(f"chat:{chat}", "")]]


async def test_a_secretarys_chat_lists_staff_commands_and_a_revoked_secretarys_chat_is_reset(
        console: Console, app: App, fake: FakeTelegram, telegram: TelegramTransport) -> None:
    # At start: the secretary's chat gets their own list, staff commands first; residents keep the default.
    await telegram.set_chat_menus(None)
    secretary = _names(fake, CHATS["王书记"])
    assert {"grant", "members", "announce", "assembly", "export"} <= set(secretary)
    assert secretary.index("members") < secretary.index("complain")
    assert secretary.count("export") == 1  # "/export cases", "/export points": one word in Telegram
    assert ("chat:9002", "") not in fake.commands and ("chat:9003", "") not in fake.commands
    zh = {c["command"]: c["description"] for c in fake.commands[("chat:9001", "")]}
    assert zh["members"] and all(len(d) <= 256 for d in zh.values())

    # Granting a role sets that person's list after the commit; revoking it resets their chat to the default.
    people = await person_ids(app)
    console.as_("王书记")
    calls = len(fake.calls)
    await console.say(f"/grant {people['李四']} secretary")
    await fake.wait_for(lambda c: c.method == "setmycommands" and "9002" in str(c.params.get("scope")), after=calls)
    assert "grant" in _names(fake, CHATS["李四"])
    calls = len(fake.calls)
    await console.say(f"/revoke {people['李四']} secretary")
    await fake.wait_for(lambda c: c.method == "deletemycommands" and "9002" in str(c.params.get("scope")),
                        after=calls)
    assert ("chat:9002", "") not in fake.commands
    assert "grant" in _names(fake, CHATS["王书记"])  # nobody else's list moved

    # At the next start, a secretary revoked while no process ran is reset too (idempotent for the others).
    calls = len(fake.calls)
    await telegram.set_chat_menus(None)
    reset = [c for c in fake.calls[calls:] if c.method == "deletemycommands"]
    assert [c.params["scope"]["chat_id"] for c in reset] == [9002]
