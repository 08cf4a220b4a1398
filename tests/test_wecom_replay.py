"""The WeCom HTTP callback against replays, in process on loopback with correctly signed and encrypted requests
(`tests/fake_wecom.py`): a request stamped outside the window is refused before anything is processed, a
request repeated inside it is refused by its msgid, and callbacks without a msgid are keyed by their body."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError
from sqlmodel import select

from bot.app import App, build_app, make_web_app
from bot.core.clock import Clock
from bot.settings import Settings
from bot.transports.wecom.callback import CallbackChannel
from bot.transports.wecom.convert import to_incoming
from bot.transports.wecom.transport import WeComTransport
from storage.conversations import ProcessedUpdate, claim_update, prune
from storage.db import transaction
from storage.people import Identity
from tests.conftest import START
from tests.fake_wecom import CALLBACK_AES_KEY, CALLBACK_TOKEN, CallbackClient, enter_chat, text

STAMPED_2020 = datetime(2020, 1, 1, 9, 0, tzinfo=UTC).timestamp()


@dataclass
class Served:
    app: App
    transport: WeComTransport
    client: CallbackClient


async def _site(web_app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/wecom/callback"


@asynccontextmanager
async def serving(db_url: str, **settings: Any) -> AsyncIterator[Served]:
    """The callback on the one web server, as `linli run` serves it, over the test's database."""
    configured = Settings(_env_file=None, database_url=db_url, wecom_callback_token=CALLBACK_TOKEN,  # type: ignore[call-arg]
                          wecom_callback_aes_key=CALLBACK_AES_KEY, **settings)
    transport = WeComTransport(configured)
    app = build_app(configured, clock=Clock(START, frozen=True), transports=[transport])
    runner, url = await _site(make_web_app(app))
    transport.attach(app.core)
    try:
        yield Served(app, transport, CallbackClient(url))
    finally:
        await runner.cleanup()
        await transport.close()
        await app.close()


async def known(app: App, userid: str) -> bool:
    """Whether the core ever processed something from this WeCom user (it records every sender)."""
    async with app.core.sessions() as session:
        found = await session.exec(select(Identity).where(Identity.platform == "wecom",
                                                          Identity.platform_user_id == userid))
        return found.first() is not None


def without_msgid(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "msgid"}


async def test_a_callback_stamped_outside_the_window_is_refused_and_not_processed(
        db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with serving(db_url) as served:
        client = served.client
        status, _ = await client.send(text("stale2020", "/help"), stamped=STAMPED_2020)
        assert status == 403
        status, _ = await client.send(text("future10", "/help"), stamped=time.time() + 600)
        assert status == 403
        # A timestamp that is no number at all, signed correctly.
        query, data = client.envelope(text("nonumber", "/help"))
        encrypted = json.loads(data)["encrypt"]
        query = {**query, "timestamp": "yesterday", "msg_signature": client.sign(encrypted, "yesterday",
                                                                                 query["nonce"])}
        assert (await client.post_raw(query, data))[0] == 403
        for userid in ("stale2020", "future10", "nonumber"):
            assert not await known(served.app, userid), userid
        assert "outside the window" in caplog.text

        # Four minutes old or four minutes ahead (a clock a little off) is inside the ±5 minutes.
        body = text("fourminutes", "/help")
        status, reply = await client.send(body, stamped=time.time() - 240)
        assert status == 200 and reply is not None and "/" in reply["stream"]["content"]
        assert await known(served.app, "fourminutes")
        status, reply = await client.send(text("ahead", "/help"), stamped=time.time() + 240)
        assert status == 200 and reply is not None
        # The same request again, inside its window: refused by its msgid.
        query, data = client.envelope(body, stamped=time.time() - 200)
        assert (await client.post_raw(query, data))[0] == 409
        assert (await client.post_raw(query, data))[0] == 409


async def test_the_window_is_a_setting(db_url: str) -> None:
    async with serving(db_url, wecom_callback_window_seconds=60) as served:
        status, _ = await served.client.send(text("twominutes", "/help"), stamped=time.time() - 120)
        assert status == 403
        status, _ = await served.client.send(text("halfminute", "/help"), stamped=time.time() - 30)
        assert status == 200
        assert not await known(served.app, "twominutes") and await known(served.app, "halfminute")
    with pytest.raises(ValidationError):
        Settings(_env_file=None, wecom_callback_window_seconds=0)  # type: ignore[call-arg]


async def test_the_url_check_is_refused_outside_the_window(db_url: str) -> None:
    async with serving(db_url) as served:
        assert (await served.client.verify_url("echo-2020", stamped=STAMPED_2020))[0] == 403
        assert (await served.client.verify_url("echo-later", stamped=time.time() + 600))[0] == 403
        assert await served.client.verify_url("echo-now") == (200, "echo-now")


async def test_callbacks_without_a_msgid_are_keyed_by_their_body(db_url: str) -> None:
    """Two different msgid-less events are both processed; one sent twice is processed once, here and in
    another process serving the same database."""
    async with serving(db_url) as served:
        client = served.client
        first, second = without_msgid(enter_chat("nomsgid1")), without_msgid(enter_chat("nomsgid2"))
        status, reply = await client.send(first)
        assert status == 200 and reply is not None
        status, reply = await client.send(second)
        assert status == 200 and reply is not None
        assert await known(served.app, "nomsgid1") and await known(served.app, "nomsgid2")
        # The first again, freshly encrypted and stamped (a WeCom retry, or a replay): refused.
        assert (await client.send(first))[0] == 409
        # Another process (its own memory of recent callbacks is empty) sees the core's claim of the body's key.
        other = CallbackChannel(served.transport, CALLBACK_TOKEN, CALLBACK_AES_KEY)
        web_app = web.Application()
        other.add_routes(web_app)
        runner, url = await _site(web_app)
        try:
            assert (await CallbackClient(url).send(second))[0] == 409
            third = without_msgid(enter_chat("nomsgid3"))
            assert (await CallbackClient(url).send(third))[0] == 200
        finally:
            await runner.cleanup()
        assert await known(served.app, "nomsgid3")
        async with served.app.core.sessions() as session:
            claims = (await session.exec(select(ProcessedUpdate.update_id).where(
                ProcessedUpdate.platform == "wecom"))).all()
        assert len(set(claims)) == len(claims) == 3


def test_a_body_without_a_msgid_gets_an_update_id_of_its_own() -> None:
    press = without_msgid(text("lisi", "/help"))
    same = dict(reversed(list(press.items())))  # the same body, its keys in another order
    other = without_msgid(text("lisi", "/help", chat="wrgroup"))
    ids = [incoming.update_id for incoming in map(to_incoming, (press, same, other)) if incoming is not None]
    assert len(ids) == 3 and all(ids)
    assert ids[0] == ids[1] != ids[2]
    with_msgid = to_incoming(text("lisi", "/help"))
    assert with_msgid is not None and with_msgid.update_id.startswith("m")


async def test_processed_ids_outlive_the_longest_window(app: App) -> None:
    """A request can be replayed until its timestamp is a window old, and it was processed at most a window
    before its timestamp: its id must be kept twice the largest window the setting allows."""
    field = Settings.model_fields["wecom_callback_window_seconds"]
    largest = next(rule.le for rule in field.metadata if hasattr(rule, "le"))
    processed = START.astimezone(UTC)
    async with transaction(app.core.sessions) as session:
        assert await claim_update(session, "wecom", "kept-msgid", processed)
    async with transaction(app.core.sessions) as session:
        await prune(session, processed + 2 * timedelta(seconds=largest) + timedelta(minutes=1))
    async with app.core.sessions() as session:
        assert await session.get(ProcessedUpdate, ("wecom", "kept-msgid")) is not None
