"""The intelligent bot's encrypted HTTP callback (path/101033) at /wecom/callback on our aiohttp server:
the URL check, then every message verified, decrypted (receiveid ""), de-duplicated and answered with an
encrypted passive reply; follow-ups go once through the message's `response_url` (path/101138).

Replays are refused twice over. A request stamped further than `WECOM_CALLBACK_WINDOW_SECONDS` (±5 minutes)
from our clock is refused with 403 before anything is processed, the URL check included: the signature covers
the timestamp, so a captured request cannot be re-stamped, and it can be replayed only while its own stamp is
inside the window. Inside the window a repeat is refused with 409 by its key (the msgid, or for a callback
without one a hash of its decrypted body, `convert.update_key`). A request may be stamped up to a window ahead
of the moment it is processed and replayed until a window after its stamp: its key must be remembered for twice
the window. The core's processed-update table keeps keys a week (`storage.conversations.prune`), and the
setting allows a window of at most a day, so every replay that passes the window meets its key there.

The key is looked up in this process's list of recent keys, and in that table, where the core claims every
update's key in the transaction that handles it, in whichever process. That is a read, not another write: a
second claim of our own would cost every callback a commit (about 10 ms on SQLite). Two copies arriving at two
processes at the same moment both pass the read, and the core's claim still lets only one of them be
processed; the other gets an empty 200 instead of a 409."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.core.types import Delivery
from bot.transports.wecom.convert import PLATFORM, card_with_text, chat_of, update_key
from bot.transports.wecom.crypto import CryptoError, WeComCrypto
from bot.transports.wecom.transport import WeComTransport

log = logging.getLogger(__name__)

RESPONSE_URL_TTL = 3600.0  # a response_url takes one POST within an hour of its callback
SEEN_MAX = 20_000
DEFAULT_WINDOW = 300.0  # seconds either side of our clock (WECOM_CALLBACK_WINDOW_SECONDS)


class CallbackChannel:
    def __init__(self, transport: WeComTransport, token: str, aes_key: str, window: float = DEFAULT_WINDOW,
                 wall: Callable[[], float] = time.time) -> None:
        self.transport = transport
        self.crypto = WeComCrypto(token, aes_key, receive_id="")
        # WeCom stamps requests with the real time: compared with the machine's clock (keep it synchronised),
        # never with the core's clock, which tests and the console move.
        self.window = window
        self.wall = wall
        # This process's recent keys, each until twice the window has passed (or SEEN_MAX newer ones came): a
        # replay arriving while the first copy is still being handled, or one the core never claims (a stream
        # refresh, an event the bot ignores), is refused here.
        self.seen: OrderedDict[str, float] = OrderedDict()
        # The freshest unused response_url per chat: the only way to write into a chat after the reply.
        self.response_urls: dict[str, tuple[str, float]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def add_routes(self, app: web.Application, path: str = "/wecom/callback") -> None:
        app.router.add_get(path, self.verify_url)
        app.router.add_post(path, self.receive)

    def in_window(self, timestamp: str) -> bool:
        """Whether a request's (signed) timestamp lies within the window around our clock."""
        try:
            stamped = int(timestamp)
        except ValueError:
            return False
        return abs(self.wall() - stamped) <= self.window

    def _stale(self, what: str, timestamp: str, request: web.Request) -> web.Response:
        log.warning("WeCom %s stamped %r, outside the window of ±%d s around our clock; refused (from %s)",
                    what, timestamp[:20], self.window, request.remote)
        return web.Response(status=403, text="stale")

    async def verify_url(self, request: web.Request) -> web.Response:
        query = request.query
        timestamp = query.get("timestamp", "")
        try:
            self.crypto.verify(query.get("msg_signature", ""), timestamp, query.get("nonce", ""),
                               query.get("echostr", ""))
            if not self.in_window(timestamp):
                return self._stale("URL check", timestamp, request)
            echo = self.crypto.decrypt(query.get("echostr", ""))
        except CryptoError as exc:
            log.warning("WeCom URL check refused: %s", exc)
            return web.Response(status=403, text="forbidden")
        return web.Response(text=echo)

    async def receive(self, request: web.Request) -> web.Response:
        if self.transport.core is None:
            # The web server starts a moment before the transport is attached: WeCom retries a 5xx.
            return web.Response(status=503, text="starting")
        query = request.query
        timestamp = query.get("timestamp", "")
        try:
            envelope = json.loads(await request.read())
            encrypted = str(envelope["encrypt"])
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="bad request")
        try:
            self.crypto.verify(query.get("msg_signature", ""), timestamp, query.get("nonce", ""), encrypted)
        except CryptoError:
            log.warning("WeCom callback with a bad signature refused (from %s)", request.remote)
            return web.Response(status=403, text="forbidden")
        if not self.in_window(timestamp):
            return self._stale("callback", timestamp, request)
        try:
            body = json.loads(self.crypto.decrypt(encrypted))
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except (CryptoError, ValueError) as exc:
            log.warning("WeCom callback that does not decrypt refused: %s", exc)
            return web.Response(status=400, text="undecryptable")
        key = update_key(body)
        if not await self.first_time(key):
            log.warning("WeCom callback %s replayed; refused", key)
            return web.Response(status=409, text="replayed")
        if body.get("response_url"):
            self.response_urls[chat_of(body)[0]] = (str(body["response_url"]), time.monotonic())
        answer = await self.transport.answer(body, can_start_chats=False)
        if answer.rest:
            task = asyncio.create_task(self.send(answer.chat_id, answer.rest))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if answer.first is None:
            return web.Response(text="")
        reply = answer.first
        if answer.kind == "update":
            reply = {"response_type": "update_template_card", "template_card": answer.first}
        sealed = self.crypto.seal(json.dumps(reply, ensure_ascii=False), str(int(time.time())), os.urandom(8).hex())
        return web.json_response(sealed)

    async def first_time(self, key: str) -> bool:
        """Neither seen here nor handled by any process (the core's claims are kept a week, longer than any
        request passes the window)."""
        now = time.monotonic()
        while self.seen and (len(self.seen) >= SEEN_MAX or next(iter(self.seen.values())) < now - 2 * self.window):
            self.seen.popitem(last=False)
        if key in self.seen:
            return False
        self.seen[key] = now  # before the read below: a copy arriving meanwhile is refused here
        core = self.transport.core
        assert core is not None  # `receive` answers 503 until the transport is attached
        return not await core.handled(PLATFORM, key)

    async def send(self, chat_id: str, bodies: list[dict[str, Any]], first_part: int = 0) -> Delivery:
        """One POST to the chat's latest response_url (the HTTP channel cannot start a conversation), of the
        bodies from `first_part` on (the ones before went out earlier, over the long connection)."""
        found = self.response_urls.pop(chat_id, None)
        if found is None or time.monotonic() - found[1] > RESPONSE_URL_TTL:
            return Delivery(False, retry_after=60.0,
                            error="the HTTP callback cannot write first; waiting for the chat to write again")
        url = found[0]
        body, taken = one_body(bodies[first_part:])
        self.transport.remember_cards([body])  # a press shows the card as it was sent
        session = await self.transport.http()
        try:
            async with session.post(url, json=body) as response:
                result = await response.json(content_type=None)
        except Exception as exc:
            return Delivery(False, error=f"response_url: {exc}"[:400])
        if int(result.get("errcode", 0)) != 0:
            return Delivery(False, error=f"response_url errcode {result.get('errcode')}: {result.get('errmsg')}")
        if first_part + taken < len(bodies):
            # The rest (another card, a text too long for one) goes with the chat's next response_url.
            return Delivery(False, retry_after=60.0, parts_sent=first_part + taken,
                            error="response_url takes one message; the rest waits for the chat to write again")
        return Delivery(True, message_id=url[-60:])


def one_body(bodies: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """response_url takes one message: the texts before the first card folded into it, so its buttons come with
    them (a new member's 通过/拒绝, a step's 跳过); without a card the texts joined. Returns the body and how many
    of `bodies` it carries: a card after a text too long to fold waits for the next response_url."""
    texts: list[str] = []
    for index, body in enumerate(bodies):
        if body.get("msgtype") == "markdown":
            texts.append(body["markdown"]["content"])
        elif body.get("msgtype") in ("stream", "stream_with_template_card"):
            texts.append(body["stream"]["content"])
        if "template_card" in body:
            card = body["template_card"]
            if not texts:
                return {"msgtype": "template_card", "template_card": card}, index + 1
            folded = card_with_text(card, "\n\n".join(texts))
            if folded is not None:
                return {"msgtype": "template_card", "template_card": folded}, index + 1
            return {"msgtype": "markdown", "markdown": {"content": "\n\n".join(texts)[:4000]}}, index
    return {"msgtype": "markdown", "markdown": {"content": "\n\n".join(texts)[:4000]}}, len(bodies)
