"""The intelligent bot's encrypted HTTP callback (path/101033) at /wecom/callback on our aiohttp server:
the URL check, then every message verified, decrypted (receiveid ""), de-duplicated and answered with an
encrypted passive reply; follow-ups go once through the message's `response_url` (path/101138).

Replays are refused across processes too: besides this process's own list of recent msgids, a msgid that the
core has already claimed in its processed-update table (the core claims every update's msgid in the
transaction that handles it, in whichever process) is refused with 409. That is a read, not another write:
a second claim of our own would cost every callback a commit (about 10 ms on SQLite). Two copies arriving
at two processes at the same moment both pass the read, and the core's claim still lets only one of them be
processed; the other gets an empty 200 instead of a 409."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import OrderedDict
from typing import Any

from aiohttp import web

from bot.core.types import Delivery
from bot.transports.wecom.convert import PLATFORM, chat_of
from bot.transports.wecom.crypto import CryptoError, WeComCrypto
from bot.transports.wecom.transport import WeComTransport
from storage.conversations import ProcessedUpdate

log = logging.getLogger(__name__)

RESPONSE_URL_TTL = 3600.0  # a response_url takes one POST within an hour of its callback
SEEN_MAX = 20_000


class CallbackChannel:
    def __init__(self, transport: WeComTransport, token: str, aes_key: str) -> None:
        self.transport = transport
        self.crypto = WeComCrypto(token, aes_key, receive_id="")
        # This process's recent msgids: refuses a replay arriving while the first copy is still being handled.
        self.seen: OrderedDict[str, None] = OrderedDict()
        # The freshest unused response_url per chat: the only way to write into a chat after the reply.
        self.response_urls: dict[str, tuple[str, float]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def add_routes(self, app: web.Application, path: str = "/wecom/callback") -> None:
        app.router.add_get(path, self.verify_url)
        app.router.add_post(path, self.receive)

    async def verify_url(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            echo = self.crypto.open(query.get("msg_signature", ""), query.get("timestamp", ""),
                                    query.get("nonce", ""), query.get("echostr", ""))
        except CryptoError as exc:
            log.warning("WeCom URL check refused: %s", exc)
            return web.Response(status=403, text="forbidden")
        return web.Response(text=echo)

    async def receive(self, request: web.Request) -> web.Response:
        if self.transport.core is None:
            # The web server starts a moment before the transport is attached: WeCom retries a 5xx.
            return web.Response(status=503, text="starting")
        query = request.query
        try:
            envelope = json.loads(await request.read())
            encrypted = str(envelope["encrypt"])
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="bad request")
        try:
            self.crypto.verify(query.get("msg_signature", ""), query.get("timestamp", ""),
                               query.get("nonce", ""), encrypted)
        except CryptoError:
            log.warning("WeCom callback with a bad signature refused (from %s)", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            body = json.loads(self.crypto.decrypt(encrypted))
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except (CryptoError, ValueError) as exc:
            log.warning("WeCom callback that does not decrypt refused: %s", exc)
            return web.Response(status=400, text="undecryptable")
        msgid = str(body.get("msgid", ""))
        if msgid and not await self.first_time(msgid):
            log.warning("WeCom callback %s replayed; refused", msgid)
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

    async def first_time(self, msgid: str) -> bool:
        """Neither seen here nor handled by any process (the core's claims are kept a week)."""
        if msgid in self.seen:
            return False
        self.seen[msgid] = None  # before the read below: a copy arriving meanwhile is refused here
        while len(self.seen) > SEEN_MAX:
            self.seen.popitem(last=False)
        core = self.transport.core
        assert core is not None  # `receive` answers 503 until the transport is attached
        async with core.sessions() as session:
            return await session.get(ProcessedUpdate, (PLATFORM, msgid)) is None

    async def send(self, chat_id: str, bodies: list[dict[str, Any]], first_part: int = 0) -> Delivery:
        """One POST to the chat's latest response_url (the HTTP channel cannot start a conversation), of the
        bodies from `first_part` on (the ones before went out earlier, over the long connection)."""
        found = self.response_urls.pop(chat_id, None)
        if found is None or time.monotonic() - found[1] > RESPONSE_URL_TTL:
            return Delivery(False, retry_after=60.0,
                            error="the HTTP callback cannot write first; waiting for the chat to write again")
        url = found[0]
        body = _one_body(bodies[first_part:])
        session = await self.transport.http()
        try:
            async with session.post(url, json=body) as response:
                result = await response.json(content_type=None)
        except Exception as exc:
            return Delivery(False, error=f"response_url: {exc}"[:400])
        if int(result.get("errcode", 0)) != 0:
            return Delivery(False, error=f"response_url errcode {result.get('errcode')}: {result.get('errmsg')}")
        return Delivery(True, message_id=url[-60:])


def _one_body(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """response_url takes one message: the texts joined, or the card when there is one and no text."""
    texts = [b["markdown"]["content"] for b in bodies if b.get("msgtype") == "markdown"]
    texts += [b["stream"]["content"] for b in bodies if b.get("msgtype") == "stream"]
    cards = [b for b in bodies if b.get("msgtype") == "template_card"]
    if cards and not texts:
        return cards[0]
    if cards:
        log.info("response_url takes one message: %s card(s) sent as text only", len(cards))
    return {"msgtype": "markdown", "markdown": {"content": "\n\n".join(texts)[:4000]}}
