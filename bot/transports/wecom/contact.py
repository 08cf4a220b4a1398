"""Residents' customer groups (客户群): the only official way in is a staff-confirmed mass send,
`externalcontact/add_msg_template` with chat_type "group" (path/92135), issued with the 客户联系 secret. The
named staff member confirms it in their WeCom before anything reaches residents; the bot cannot converse there."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.core.types import Delivery, OutMessage
from storage.outbox import WAITING_CONFIRM

log = logging.getLogger(__name__)

TOKEN_EXPIRED = {40014, 42001}  # invalid / expired access_token: fetch a new one and retry once
TEXT_LIMIT = 4000
MAX_ATTACHMENTS = 9


class CorpClient:
    """A client of WeCom's server API with the corp's access token, cached for its 7200 s less a margin (the
    customer-contact API here, 微信客服 in bot.transports.wechat)."""

    def __init__(self, session: Callable[[], Awaitable[aiohttp.ClientSession]], base_url: str, corp_id: str,
                 secret: str) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self.corp_id = corp_id
        self.secret = secret
        self._token = ""
        self._token_until = 0.0

    def refused(self, path: str, result: dict[str, Any]) -> Exception:
        return RuntimeError(f"{path} errcode {result.get('errcode')}: {result.get('errmsg')}")

    async def token(self, fresh: bool = False) -> str:
        if not fresh and self._token and time.monotonic() < self._token_until:
            return self._token
        session = await self._session()
        async with session.get(f"{self.base_url}/cgi-bin/gettoken",
                               params={"corpid": self.corp_id, "corpsecret": self.secret}) as resp:
            result = await resp.json(content_type=None)
        if result.get("errcode", 0) != 0 or not result.get("access_token"):
            raise self.refused("gettoken", result)
        self._token = str(result["access_token"])
        self._token_until = time.monotonic() + max(int(result.get("expires_in", 7200)) - 300, 60)
        return self._token


class ContactClient(CorpClient):
    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        session = await self._session()
        result: dict[str, Any] = {}
        for fresh in (False, True):
            token = await self.token(fresh=fresh)
            async with session.post(f"{self.base_url}/cgi-bin/{path}", params={"access_token": token},
                                    json=body) as resp:
                result = dict(await resp.json(content_type=None))
            if int(result.get("errcode", 0)) not in TOKEN_EXPIRED:
                break
        return result

    async def mass_send(self, sender: str, message: OutMessage, chat_ids: list[str] | None = None) -> Delivery:
        """Queue a mass send to the sender's customer groups; it waits for the sender's confirmation."""
        text = message.text.strip()[:TEXT_LIMIT]
        body: dict[str, Any] = {"chat_type": "group", "sender": sender, "text": {"content": text}}
        if chat_ids:
            body["chat_id_list"] = chat_ids
        # A page's link goes as a link attachment (at most 9 attachments): WeChat users open it with a tap.
        links = [b for row in message.buttons for b in row if b.kind == "url"][:MAX_ATTACHMENTS]
        if links:
            body["attachments"] = [{"msgtype": "link", "link": {"title": b.label, "url": b.data}} for b in links]
        try:
            result = await self._call("externalcontact/add_msg_template", body)
        except (aiohttp.ClientError, RuntimeError) as exc:
            return Delivery(False, error=f"add_msg_template: {exc}"[:400])
        code = int(result.get("errcode", -1))
        if code != 0:
            # 41063 and friends (the month's quota used up, no permission) will not heal by retrying soon.
            return Delivery(False, error=f"add_msg_template errcode {code}: {result.get('errmsg', '')}"[:400],
                            permanent=code in {48002, 60011, 41063, 84074})
        return Delivery(True, message_id=str(result.get("msgid", "")), state=WAITING_CONFIRM)
