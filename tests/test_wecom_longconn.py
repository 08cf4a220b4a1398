"""The long connection through the SDK against the fake server, in process: a wrong secret is refused, and
a connection replaced by a newer one (disconnected_event) steps aside instead of fighting for the bot."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.settings import Settings
from bot.transports.wecom.longconn import LongConnection
from bot.transports.wecom.transport import WeComTransport
from tests.fake_wecom import BOT_ID, BOT_SECRET, FakeWeCom


def transport() -> WeComTransport:
    return WeComTransport(Settings(_env_file=None))  # type: ignore[call-arg]


async def test_a_wrong_secret_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    fake = await FakeWeCom().start()
    connection = LongConnection(transport(), BOT_ID, "wrong", fake.ws_url, reconnect_ms=50)
    try:
        with caplog.at_level(logging.ERROR):
            await connection.start()
            await fake.wait_for(lambda: len(fake.subscribes) >= 1)
            await asyncio.sleep(0.1)
        assert fake.authenticated == 0
        assert "Authentication failed" in caplog.text
    finally:
        await connection.stop()
        await fake.stop()


async def test_a_replaced_connection_steps_aside(caplog: pytest.LogCaptureFixture) -> None:
    fake = await FakeWeCom().start()
    first = LongConnection(transport(), BOT_ID, BOT_SECRET, fake.ws_url, reconnect_ms=50)
    second = LongConnection(transport(), BOT_ID, BOT_SECRET, fake.ws_url, reconnect_ms=50)
    try:
        with caplog.at_level(logging.WARNING):
            await first.start()
            await fake.wait_for(lambda: fake.authenticated == 1)
            await second.start()
            await fake.wait_for(lambda: first.replaced)
            await asyncio.sleep(0.5)  # several reconnect intervals: the first must not come back
        assert fake.authenticated == 2
        assert second.client.is_connected and not first.client.is_connected
        assert "disconnected_event" in caplog.text
    finally:
        await first.stop()
        await second.stop()
        await fake.stop()


async def test_a_clean_close_from_the_server_reconnects() -> None:
    fake = await FakeWeCom().start()
    connection = LongConnection(transport(), BOT_ID, BOT_SECRET, fake.ws_url, reconnect_ms=50)
    try:
        await connection.start()
        await fake.wait_for(lambda: fake.authenticated == 1)
        await fake.drop()
        await fake.wait_for(lambda: fake.authenticated == 2)
        assert connection.client.is_connected
    finally:
        await connection.stop()
        await fake.stop()


async def test_an_image_is_fetched_and_decrypted_only_when_asked() -> None:
    """Images arrive as a URL and a per-file aeskey; the bytes are fetched when a handler needs them."""
    import base64
    import os

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from bot.transports.wecom.convert import to_incoming

    picture = bytes.fromhex("89504e470d0a1a0a") + os.urandom(100)
    key = os.urandom(32)
    padding = 32 - len(picture) % 32
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    fake = await FakeWeCom().start()
    fake.media["p1"] = encryptor.update(picture + bytes([padding]) * padding) + encryptor.finalize()
    body = {"msgid": "img1", "chattype": "single", "from": {"userid": "zhangsan"}, "msgtype": "image",
            "image": {"url": f"{fake.base_url}/media/p1", "aeskey": base64.b64encode(key).decode().rstrip("=")}}
    wecom = transport()
    try:
        incoming = to_incoming(body)
        assert incoming is not None and incoming.photo is not None and incoming.text is None
        assert await wecom.fetch_file(incoming.photo.file_id) == picture
    finally:
        await wecom.close()
        await fake.stop()


async def test_one_persons_messages_queue_instead_of_running_at_once() -> None:
    """WeCom allows 3 interactions in flight per person: theirs are handled one at a time, nothing dropped."""
    from bot.core.i18n import Catalogs
    from bot.core.types import Incoming, OutMessage
    from tests.fake_wecom import text

    class Core:
        catalogs = Catalogs()

        def __init__(self) -> None:
            self.running: dict[str, int] = {}
            self.peak: dict[str, int] = {}
            self.handled: list[str] = []

        async def handle(self, incoming: Incoming) -> list[OutMessage]:
            user = incoming.user_id
            self.running[user] = self.running.get(user, 0) + 1
            self.peak[user] = max(self.peak.get(user, 0), self.running[user])
            await asyncio.sleep(0.02)
            self.running[user] -= 1
            self.handled.append(incoming.text or "")
            return [OutMessage(f"ok {incoming.text}")]

    wecom = transport()
    core = Core()
    wecom.core = core  # type: ignore[assignment]
    answers = await asyncio.gather(*(wecom.answer(text(user, f"{user}{i}"), can_start_chats=True)
                                     for i in range(5) for user in ("a", "b")))
    assert core.peak == {"a": 1, "b": 1}
    assert sorted(core.handled) == sorted(f"{u}{i}" for i in range(5) for u in ("a", "b"))
    assert all(a.first is not None and a.first["stream"]["finish"] for a in answers)
