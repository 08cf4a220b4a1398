"""The WeCom transport: one `Transport` for the outbox, whatever channels are configured — the intelligent
bot's long connection and/or its HTTP callback, and group-robot webhooks for groups the bot is not in."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import aiohttp
from aibot.crypto_utils import decrypt_file
from aiohttp import web

from bot.core.i18n import N_
from bot.core.types import Capabilities, Delivery, Incoming, OutMessage
from bot.settings import Settings
from bot.transports.base import Limits
from bot.transports.wecom.convert import (
    DEEPLINK_PREFIX,
    PLATFORM,
    STREAM_LIMIT,
    active_bodies,
    cards_in,
    chat_of,
    markdown_bodies,
    parse_photo_id,
    pressed_key,
    reply_bodies,
    spent_card,
    to_incoming,
)

if TYPE_CHECKING:
    from bot.core.dispatcher import Core

log = logging.getLogger(__name__)

CONTACT_HINT = N_("(WeCom cannot share a phone number with a button: type it, or press Skip. A typed number "
                  "is checked by the secretary.)")
SINGLE_CHAT_HINT = N_("Please continue in a single chat with me: open my profile, send me any message there, "
                      "and we carry on where you left off.")
ROBOT_PREFIX = "robot:"
CUSTOMER_PREFIX = "customer:"
CONFIRM_HINT = N_("A post to the residents' customer groups is waiting for your confirmation: open WeCom, "
                  "客户联系 → 客户群群发 (customer group mass send), check it and send it. The text begins: {start}")


class Sender(Protocol):
    async def send(self, chat_id: str, bodies: list[dict[str, Any]], first_part: int = 0) -> Delivery: ...


@dataclass
class Answer:
    """What to send back for one callback: the passive reply (`first`, sent as `kind`) and follow-ups to
    `chat_id` that WeCom only accepts as messages of their own."""

    kind: Literal["reply", "welcome", "update", "none"] = "none"
    first: dict[str, Any] | None = None
    rest: list[dict[str, Any]] = field(default_factory=list)
    chat_id: str = ""


class WeComTransport:
    platform = PLATFORM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.caps = Capabilities(buttons=True, images=True, documents=True, deep_links=False,
                                 contact_sharing=False, pin=False, edit=False, text_limit=STREAM_LIMIT // 3)
        # Only group robots have a published limit (20/min per robot); the outbox paces groups to it.
        self.limits = Limits(group_per_minute=float(settings.wecom_robot_per_minute))
        self.core: Core | None = None
        self.long: Sender | None = None
        self.callback: Sender | None = None
        self.robot: Any = None
        self.contact: Any = None
        # Cards we sent, by task_id, so a press can show what was chosen (bounded: old cards just lose that).
        self.cards: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # A person's messages are handled one at a time: WeCom allows 3 in flight per person; queue the rest.
        self._person_locks: dict[str, asyncio.Lock] = {}
        self._http: aiohttp.ClientSession | None = None
        self._stopping = asyncio.Event()
        self._leader_task: asyncio.Task[None] | None = None

    # ---- wiring -------------------------------------------------------------------------------------

    def attach(self, core: Core) -> None:
        self.core = core
        core.file_fetchers[PLATFORM] = self.fetch_file

    def add_routes(self, app: web.Application) -> None:
        """/wecom/callback on the shared web server, when the HTTP callback is configured."""
        from bot.transports.wecom.callback import CallbackChannel

        settings = self.settings
        token = settings.wecom_callback_token.get_secret_value()
        aes_key = settings.wecom_callback_aes_key.get_secret_value()
        if token and aes_key:
            channel = CallbackChannel(self, token, aes_key,
                                      window=settings.wecom_callback_window_seconds)
            channel.add_routes(app)
            self.callback = channel

    async def start(self, core: Core) -> None:
        """Attach to the core and open the long connection when a bot id is configured."""
        from bot.transports.wecom.longconn import LongConnection
        from bot.transports.wecom.robot import RobotPoster

        self.attach(core)
        settings = self.settings
        self.robot = RobotPoster(self.http, settings.wecom_api_base_url, settings.wecom_robot_per_minute)
        if settings.wecom_corp_id and settings.wecom_contact_secret.get_secret_value():
            from bot.transports.wecom.contact import ContactClient

            self.contact = ContactClient(self.http, settings.wecom_api_base_url, settings.wecom_corp_id,
                                         settings.wecom_contact_secret.get_secret_value())
        if settings.wecom_bot_id and settings.wecom_bot_secret.get_secret_value():
            self._leader_task = asyncio.create_task(self._lead_long_connection(core, LongConnection))

    async def _lead_long_connection(self, core: Core, factory: Any) -> None:
        """One long connection per bot across processes (`linli run --workers`): a second one would replace
        the first (disconnected_event), so only the process holding the leader lock connects."""
        from bot.leader import Leadership, wait_event

        settings = self.settings
        while not self._stopping.is_set():
            leadership = Leadership(core.engine, "wecom-long-connection")
            if not await leadership.wait(self._stopping):
                return
            connection = factory(self, settings.wecom_bot_id, settings.wecom_bot_secret.get_secret_value(),
                                 settings.wecom_ws_url)
            await connection.start()
            self.long = connection
            try:
                while not self._stopping.is_set() and await leadership.still_leading():
                    await wait_event(self._stopping, 5.0)
            finally:
                self.long = None
                await connection.stop()
                await leadership.release()

    async def stop(self) -> None:
        self._stopping.set()
        if self._leader_task is not None:
            await asyncio.gather(self._leader_task, return_exceptions=True)
        await self.close()

    async def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def t(self, msgid: str, **kwargs: Any) -> str:
        # The transport does not know who reads a hint on a card: WeCom people default to zh_CN.
        assert self.core is not None
        return self.core.catalogs.translator(self.settings.default_language)(msgid, **kwargs)

    async def fetch_file(self, file_id: str) -> bytes:
        """An image or a file a person sent (fetched only when a handler needs it): downloaded and decrypted."""
        url, aes_key = parse_photo_id(file_id)
        session = await self.http()
        async with session.get(url) as response:
            response.raise_for_status()
            data = await response.read()
        key = aes_key or self.settings.wecom_callback_aes_key.get_secret_value()
        return decrypt_file(data, key) if key else data

    # ---- intake (both channels) ---------------------------------------------------------------------

    def remember_cards(self, bodies: list[dict[str, Any]]) -> None:
        for card in cards_in(bodies):
            self.cards[str(card["task_id"])] = card
        while len(self.cards) > 5000:
            self.cards.popitem(last=False)

    async def answer(self, body: dict[str, Any], can_start_chats: bool) -> Answer:
        """Convert one callback body, run it through the core and shape what goes back."""
        assert self.core is not None
        incoming = to_incoming(body)
        if incoming is None:
            return Answer()
        lock = self._person_locks.setdefault(incoming.user_id, asyncio.Lock())
        async with lock:
            return await self._answer(body, incoming, can_start_chats)

    async def _answer(self, body: dict[str, Any], incoming: Incoming, can_start_chats: bool) -> Answer:
        assert self.core is not None
        event = body.get("event") or {}
        eventtype = event.get("eventtype") if body.get("msgtype") == "event" else None
        hint = self.t(CONTACT_HINT)
        if eventtype == "template_card_event":
            card_event = event.get("template_card_event") or event
            task_id, key = str(card_event.get("task_id", "")), pressed_key(card_event)
            update = spent_card(self.cards.get(task_id), key)
            update["task_id"] = task_id
            if key.startswith(DEEPLINK_PREFIX) and not can_start_chats:
                # The HTTP channel cannot write first: the press waits for the person's single chat (in the
                # database: their next message may reach another process).
                await self.core.park_press(PLATFORM, incoming.user_id, key[len(DEEPLINK_PREFIX):])
                return Answer("update", update, markdown_bodies(self.t(SINGLE_CHAT_HINT)), chat_of(body)[0])
            pressed = await self.core.handle(incoming)
            rest = [b for m in pressed for b in active_bodies(m, hint)]
            self.remember_cards(rest)
            return Answer("update", update, rest, incoming.chat_id)
        messages: list[OutMessage] = []
        token = await self.core.take_parked_press(PLATFORM, incoming.user_id) \
            if incoming.chat_kind == "private" and self.callback is not None else None
        if token is not None:
            press = Incoming(PLATFORM, incoming.update_id + ":private", incoming.chat_id, "private",
                             incoming.user_id, incoming.user_name, button=token)
            messages.extend(await self.core.handle(press))
        messages.extend(await self.core.handle(incoming))
        if eventtype == "enter_chat":
            bodies = [b for m in messages for b in active_bodies(m, hint)]
            self.remember_cards(bodies)
            if not bodies:
                return Answer()
            first = bodies[0]
            if first["msgtype"] == "markdown":  # a welcome is text or a card
                first = {"msgtype": "text", "text": {"content": first["markdown"]["content"]}}
            return Answer("welcome", first, bodies[1:], incoming.chat_id)
        bodies = reply_bodies(messages, hint)
        self.remember_cards(bodies)
        if not bodies:
            return Answer()
        return Answer("reply", bodies[0], bodies[1:], incoming.chat_id)

    # ---- output (the outbox) ------------------------------------------------------------------------

    async def _secrets(self, chat_id: str) -> dict[str, Any]:
        return await self.core.chat_secrets(PLATFORM, chat_id) if self.core is not None else {}

    async def _webhook_key(self, chat_id: str) -> str | None:
        key = (await self._secrets(chat_id)).get("webhook_key")
        return str(key) if key else None

    async def _customer_groups(self, chat_id: str, message: OutMessage) -> Delivery:
        if self.contact is None:
            return Delivery(False, permanent=True, error="WECOM_CORP_ID / WECOM_CONTACT_SECRET are not set")
        sender = str((await self._secrets(chat_id)).get("sender", ""))
        if not sender:
            return Delivery(False, permanent=True, error="no staff member chosen to confirm customer-group posts")
        result: Delivery = await self.contact.mass_send(sender, message)
        if result.ok and self.long is not None:
            # Tell the staff member what to confirm, in their single chat with the bot.
            start = message.text.strip().replace("\n", " ")[:40]
            notice = self.t(CONFIRM_HINT, start=start)
            told = await self.long.send(sender, markdown_bodies(notice))
            if not told.ok:
                log.warning("could not tell %s about the customer-group post: %s", sender, told.error)
        return result

    async def deliver(self, chat_id: str, chat_kind: str, message: OutMessage, first_part: int = 0) -> Delivery:
        if chat_kind == "group" and self.robot is not None:
            key = await self._webhook_key(chat_id)
            if key is not None:
                return await self.robot.post(key, message, first_part)
        if chat_id.startswith(CUSTOMER_PREFIX):
            return await self._customer_groups(chat_id, message)
        if chat_id.startswith(ROBOT_PREFIX):
            return Delivery(False, permanent=True, error="group robot without a webhook key")
        bodies = active_bodies(message, self.t(CONTACT_HINT))
        self.remember_cards(bodies)
        if self.long is not None:
            return await self.long.send(chat_id, bodies, first_part)
        if self.settings.wecom_bot_id and self.callback is None:
            return Delivery(False, retry_after=2.0, error="the long connection is not up in this process")
        if self.callback is not None:
            return await self.callback.send(chat_id, bodies)
        return Delivery(False, error="no WeCom channel can reach this chat")

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> Delivery:
        # WeCom changes a card only in answer to a press on it; a live posting keeps its first text.
        log.debug("WeCom cannot edit message %s in %s; edit skipped", message_id, chat_id)
        return Delivery(True, message_id=message_id)
