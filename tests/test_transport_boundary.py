"""The transport boundary: a transport keeps nothing another process needs in its memory (WeCom's press waiting for
the single chat lives in the database), reads no table itself (a chat's delivery settings come through the core),
and the core, not the transport, chooses what goes instead when a platform lacks a capability."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from sqlmodel import select

from bot.app import App, build_app, make_web_app
from bot.core.clock import Clock
from bot.core.fallback import fit_capabilities
from bot.core.types import Capabilities, Delivery, Incoming, Media, OutButton, OutMessage, Reply, ToChat
from bot.settings import Settings
from bot.transports.base import Limits
from bot.transports.wecom.transport import WeComTransport
from storage import outbox as outbox_store
from storage.compounds import Chat
from storage.db import transaction
from storage.people import Identity, Person
from tests.conftest import START
from tests.fake_wecom import CALLBACK_AES_KEY, CALLBACK_TOKEN, CallbackClient, FakeWeCom, click, text

ROOT = Path(__file__).resolve().parent.parent
GROUP = "wrXFLgroup"
NEIGHBOUR = "lisi"


# ---- a press waiting for the single chat, taken over by another process ------------------------------------


@dataclass
class Process:
    """One `linli run` as far as the HTTP callback goes: its own app, transport memory and web server."""

    app: App
    transport: WeComTransport
    runner: web.AppRunner
    client: CallbackClient


async def serve(db_url: str, fake: FakeWeCom) -> Process:
    settings = Settings(_env_file=None, database_url=db_url, wecom_callback_token=CALLBACK_TOKEN,  # type: ignore[call-arg]
                        wecom_callback_aes_key=CALLBACK_AES_KEY, wecom_api_base_url=fake.base_url)
    transport = WeComTransport(settings)
    app = build_app(settings, clock=Clock(START, frozen=True), transports=[transport])
    runner = web.AppRunner(make_web_app(app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    transport.attach(app.core)
    return Process(app, transport, runner, CallbackClient(f"http://127.0.0.1:{port}/wecom/callback"))


@pytest.fixture
async def two(db_url: str) -> AsyncIterator[tuple[Process, Process, FakeWeCom]]:
    fake = await FakeWeCom().start()
    first, second = await serve(db_url, fake), await serve(db_url, fake)
    async with transaction(first.app.core.sessions) as session:  # 李四 uses WeCom; the demo group is a WeCom group
        person = (await session.exec(select(Person).where(Person.name == "李四"))).one()
        assert person.id is not None
        session.add(Identity(person_id=person.id, platform="wecom", platform_user_id=NEIGHBOUR,
                             private_chat_id=NEIGHBOUR))
        demo = (await session.exec(select(Chat).where(Chat.kind == "group"))).first()
        assert demo is not None
        session.add(Chat(platform="wecom", platform_chat_id=GROUP, kind="group", title="幸福里业主群",
                         compound_id=demo.compound_id))
    try:
        yield first, second, fake
    finally:
        for process in (first, second):
            await process.runner.cleanup()
            await process.transport.close()
            await process.app.close()
        await fake.stop()


async def test_a_press_waiting_for_the_single_chat_is_taken_up_by_another_process(
        two: tuple[Process, Process, FakeWeCom]) -> None:
    first, second, fake = two
    status, reply = await first.client.send(text(NEIGHBOUR, "@邻里 /complain", chat=GROUP,
                                                 response_url=fake.response_url(GROUP)))
    assert status == 200 and reply is not None and "template_card" in reply
    card = reply["template_card"]
    private = next(b for b in card["button_list"] if b["key"].startswith("dl:"))
    status, _ = await first.client.send(click(NEIGHBOUR, card, private["text"], chat=GROUP,
                                              response_url=fake.response_url(GROUP)))
    assert status == 200
    # The person's next single-chat message reaches the other process: the complaint goes on there.
    status, reply = await second.client.send(text(NEIGHBOUR, "你好", response_url=fake.response_url(NEIGHBOUR)))
    assert status == 200 and reply is not None
    assert "请问是哪方面的问题" in str(reply), reply
    # Taken once: the message after it is an ordinary one.
    status, reply = await first.client.send(text(NEIGHBOUR, "/cancel", response_url=fake.response_url(NEIGHBOUR)))
    assert status == 200 and "请问是哪方面的问题" not in str(reply)


def test_transports_read_no_table() -> None:
    """The WeCom transport reaches what it needs through the core: it imports no storage module."""
    for name in ("transport.py", "callback.py", "longconn.py", "robot.py"):
        tree = ast.parse((ROOT / "bot" / "transports" / "wecom" / name).read_text())
        imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert not {m for m in imported if m.split(".")[0] in ("storage", "sqlmodel", "sqlalchemy")}, (name, imported)


# ---- the core chooses the fallback for a missing capability --------------------------------------------------


@dataclass
class Plain:
    """A platform that shows text only: no buttons, no pictures or files, no edits, no pins."""

    platform: str = "plain"
    caps: Capabilities = field(default_factory=lambda: Capabilities(
        buttons=False, images=False, documents=False, edit=False, pin=False, deep_links=False))
    limits: Limits = field(default_factory=Limits)
    sent: list[OutMessage] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)

    async def deliver(self, chat_id: str, chat_kind: str, message: OutMessage, first_part: int = 0) -> Delivery:
        self.sent.append(message)
        return Delivery(True, message_id=str(len(self.sent)))

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> Delivery:
        self.edits.append(message.text)
        return Delivery(True, message_id=message_id)


def test_what_goes_instead_of_buttons_pictures_and_pins() -> None:
    picture = Media(b"\x89PNG", "红黑榜.png", "image/png")
    message = OutMessage("本周红黑榜", ((OutButton("同意", "callback", "t1"), OutButton("反对", "callback", "t2")),
                                      (OutButton("详情", "url", "https://example.org/b"),),
                                      (OutButton("分享手机号", "contact"),)), image=picture, pin=True,
                         replaces="41", spent=("40",))
    shown = fit_capabilities(message, Plain().caps)
    assert shown.text == "本周红黑榜\n\n· 同意\n· 反对\n· 详情: https://example.org/b\n📎 红黑榜.png"
    assert shown.buttons == ((OutButton("分享手机号", "contact"),),)  # the transport's own hint replaces it
    assert shown.image is None and shown.document is None and not shown.pin
    assert shown.replaces is None and shown.spent == ()
    # A platform that takes files but not pictures gets the picture as a file.
    as_file = fit_capabilities(message, Capabilities(images=False))
    assert as_file.image is None and as_file.document == picture and as_file.buttons == message.buttons
    # A platform that can do everything gets the message as it is.
    assert fit_capabilities(message, Capabilities()) is message


@pytest.fixture
async def plain_app(db_url: str) -> AsyncIterator[tuple[App, Plain]]:
    platform = Plain()
    app = build_app(Settings(_env_file=None, database_url=db_url),  # type: ignore[call-arg]
                    clock=Clock(START, frozen=True), transports=[platform])
    yield app, platform
    await app.close()


async def test_the_core_answers_and_the_outbox_sends_what_the_platform_can_show(
        plain_app: tuple[App, Plain]) -> None:
    app, platform = plain_app
    answers = await app.core.handle(Incoming("plain", "u1", "p1", "private", "p1", "周五", text="/start XFL2026",
                                             command="start", args="XFL2026"))
    assert answers and all(not m.buttons for m in answers)
    assert "\n· 1栋" in answers[-1].text  # the buildings to choose from, as lines: a typed label is the press
    answers = await app.core.handle(Incoming("plain", "u2", "p1", "private", "p1", "周五", text="1栋"))
    assert "· 1单元" in answers[-1].text or "· 101" in answers[-1].text, answers[-1].text
    async with transaction(app.core.sessions) as session:
        chat = Chat(platform="plain", platform_chat_id="g1", kind="group", title="群")
        session.add(chat)
        await session.flush()
        assert chat.id is not None
        await app.core.enqueue(session, Reply("报名 3/8", buttons=(), posting="signup:1",
                                              image=Media(b"\x89PNG", "poster.png", "image/png")),
                               ToChat(chat.id), None, app.core.clock.now())
    await app.worker.drain()
    assert [m.text for m in platform.sent] == ["报名 3/8\n📎 poster.png"] and platform.sent[0].image is None
    async with transaction(app.core.sessions) as session:
        await app.core.enqueue(session, Reply("报名 4/8", edit="signup:1"), ToChat(chat.id), None,
                               app.core.clock.now())
    await app.worker.drain()
    async with app.core.sessions() as session:
        rows = (await session.exec(select(outbox_store.OutboxMessage).where(
            outbox_store.OutboxMessage.kind == "edit"))).all()
    # The platform cannot edit: the core does not ask it to, and the edit is settled (not retried forever).
    assert platform.edits == [] and [row.state for row in rows] == ["cancelled"]
