"""The intelligent bot's long connection (path/101463) through WeCom's own SDK, `wecom-aibot-python-sdk`:
subscribe, heartbeat, callbacks in, replies and bot-started messages out, reconnection with backoff."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import aibot.ws
from aibot import WSClient, WSClientOptions

from bot.core.types import Delivery
from bot.transports.wecom.transport import Answer, WeComTransport

log = logging.getLogger(__name__)

_ERRCODE = re.compile(r"errcode=(-?\d+)")


class _SdkLog:
    """The SDK's logger protocol, onto ours (it calls `warn`)."""

    def debug(self, message: str, *args: Any) -> None:
        log.debug(message, *args)

    def info(self, message: str, *args: Any) -> None:
        log.info(message, *args)

    def warn(self, message: str, *args: Any) -> None:
        log.warning(message, *args)

    def error(self, message: str, *args: Any) -> None:
        log.error(message, *args)


class LongConnection:
    def __init__(self, transport: WeComTransport, bot_id: str, secret: str, ws_url: str = "",
                 reconnect_ms: int = 1000) -> None:
        self.transport = transport
        if ws_url.startswith("ws://"):
            # The SDK always passes its TLS context, which websockets refuses for a plain ws:// URL (a local
            # fake in tests): no TLS context for that case only.
            aibot.ws._SSL_CONTEXT = None
        self.client = WSClient(WSClientOptions(bot_id=bot_id, secret=secret, ws_url=ws_url,
                                               reconnect_interval=reconnect_ms, max_reconnect_attempts=-1,
                                               logger=_SdkLog()))
        self.replaced = False
        self._reconnect_task: asyncio.Future[Any] | None = None
        self.client.on("message", self._on_frame)
        self.client.on("event", self._on_frame)
        # pyee raises an "error" event nobody listens to: the SDK's auth failures would escape its loop.
        self.client.on("error", lambda error: log.error("WeCom long connection: %s", error))
        self.client.on("authenticated", lambda: log.info("WeCom long connection authenticated"))
        self.client.on("disconnected", lambda reason: log.warning("WeCom long connection dropped: %s", reason))
        self.client.on("reconnecting", lambda attempt: log.info("WeCom long connection: reconnect attempt %s",
                                                                attempt))
        self._task: asyncio.Task[Any] | None = None
        self._reconnect_after_clean_close()

    def _reconnect_after_clean_close(self) -> None:
        """With websockets >= 14 a clean close (the server's close frame) ends the SDK's receive loop quietly,
        and the SDK then never reconnects: treat that end like any other drop."""
        manager: Any = self.client._ws_manager
        receive_loop = manager._receive_loop

        async def receive_until_closed() -> None:
            await receive_loop()
            ws = manager._ws
            if manager._is_manual_close or self.replaced or ws is None or aibot.ws._ws_is_open(ws):
                return
            log.warning("WeCom long connection closed by the server; reconnecting with backoff")
            manager._stop_heartbeat()
            manager._clear_pending_messages("WebSocket connection closed")
            # A task of its own: connect() cancels the receive task this code runs in.
            self._reconnect_task = asyncio.ensure_future(manager._schedule_reconnect())

        manager._receive_loop = receive_until_closed

    async def start(self) -> None:
        # The SDK's connect() keeps retrying inside; run it beside the rest of the app.
        self._task = asyncio.create_task(self.client.connect())

    async def stop(self) -> None:
        if self.client.is_connected or self._task is not None:
            try:
                self.client.disconnect()
            except Exception:  # Shutting down: a half-open socket must not block exit.
                log.debug("disconnect failed", exc_info=True)
        if self._task is not None:
            self._task.cancel()

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        body = frame.get("body") or {}
        event = body.get("event") or {}
        if body.get("msgtype") == "event" and event.get("eventtype") == "disconnected_event":
            self.replaced = True
            log.error("WeCom sent disconnected_event: a newer long connection with the same bot id replaced this "
                      "one (another linli process, or a second deployment?). This process stops its connection "
                      "instead of fighting for it; stop the other one and restart this one to take over.")
            self.client.disconnect()
            return
        try:
            answer = await self.transport.answer(body, can_start_chats=True)
            await self._send_answer(frame, answer)
        except Exception:
            log.exception("WeCom callback %s failed", (frame.get("headers") or {}).get("req_id"))

    async def _send_answer(self, frame: dict[str, Any], answer: Answer) -> None:
        if answer.first is not None:
            try:
                if answer.kind == "welcome":
                    await self.client.reply_welcome(frame, answer.first)
                elif answer.kind == "update":
                    await self.client.update_template_card(frame, answer.first)
                else:
                    await self.client.reply(frame, answer.first)
            except Exception as exc:  # A late or refused passive reply: send it as a message instead.
                log.warning("WeCom passive reply refused (%s); sending it as a message", exc)
                if answer.kind != "update":
                    answer.rest.insert(0, answer.first)
        if answer.rest:
            result = await self.send(answer.chat_id, answer.rest)
            if not result.ok:
                log.warning("WeCom follow-up to %s failed: %s", answer.chat_id, result.error)

    async def send(self, chat_id: str, bodies: list[dict[str, Any]], first_part: int = 0) -> Delivery:
        """aibot_send_msg: a message the bot starts, to a userid (single chat) or a chatid (group), one body
        after another from `first_part` (the ones before went out in an earlier attempt)."""
        if not self.client.is_connected:
            return Delivery(False, retry_after=5.0, error="long connection is down", parts_sent=first_part)
        req_id = ""
        for index, body in enumerate(bodies[first_part:], start=first_part):
            if body.get("msgtype") == "stream":  # only a passive reply can be a stream
                body = {"msgtype": "markdown", "markdown": {"content": body["stream"]["content"]}}
            try:
                ack = await self.client.send_message(chat_id, body)
            except Exception as exc:
                found = _ERRCODE.search(str(exc))
                return Delivery(False, error=f"aibot_send_msg: {exc}"[:400],
                                retry_after=None if found else 5.0, parts_sent=index)
            req_id = str((ack.get("headers") or {}).get("req_id", req_id))
        return Delivery(True, message_id=req_id or None)
