"""Group-robot webhooks (消息推送, path/99110): send-only postings into internal groups the bot is not in.
20 messages a minute per robot (the outbox paces to `WECOM_ROBOT_PER_MINUTE`); errcode 45009 means wait
and retry; posters go as image (base64 + md5), files through upload_media."""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import replace
from typing import Any

import aiohttp

from bot.core.types import Delivery, OutMessage
from bot.transports.wecom.convert import MARKDOWN_LIMIT, render, split_bytes

log = logging.getLogger(__name__)

RATE_LIMITED = 45009
# The key was deleted or the robot removed from its group: retrying cannot help.
PERMANENT = {93000, 93004, 93008}
IMAGE_LIMIT = 2 * 1024 * 1024


class RobotPoster:
    def __init__(self, session_factory: Any, base_url: str, per_minute: int) -> None:
        self._session = session_factory
        self.base_url = base_url.rstrip("/")
        self.per_minute = max(per_minute, 1)

    async def _post(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        session: aiohttp.ClientSession = await self._session()
        async with session.post(f"{self.base_url}/cgi-bin/webhook/send", params={"key": key}, json=body) as resp:
            return dict(await resp.json(content_type=None))

    async def _upload(self, key: str, data: bytes, filename: str) -> dict[str, Any]:
        session: aiohttp.ClientSession = await self._session()
        form = aiohttp.FormData()
        form.add_field("media", data, filename=filename, content_type="application/octet-stream")
        async with session.post(f"{self.base_url}/cgi-bin/webhook/upload_media",
                                params={"key": key, "type": "file"}, data=form) as resp:
            return dict(await resp.json(content_type=None))

    def bodies(self, message: OutMessage) -> list[dict[str, Any]]:
        """The posting's parts: its text (markdown), its poster, then its links as a card with jumps (text_notice,
        which robots take; a short text rides on that card instead of going first)."""
        # A robot cannot receive presses: only its links are kept as buttons.
        links = tuple((b,) for row in message.buttons for b in row if b.kind == "url")
        rendered = render(replace(message, buttons=links), text_limit=MARKDOWN_LIMIT, task_ids=False)
        text = "\n\n".join(rendered.texts) if rendered.texts or rendered.cards else message.text
        bodies: list[dict[str, Any]] = [{"msgtype": "markdown", "markdown": {"content": part}}
                                        for part in split_bytes(text, MARKDOWN_LIMIT)] if text.strip() else []
        if message.image is not None and len(message.image.data) <= IMAGE_LIMIT:
            data = message.image.data
            bodies.append({"msgtype": "image", "image": {"base64": base64.b64encode(data).decode(),
                                                          "md5": hashlib.md5(data).hexdigest()}})
        bodies.extend({"msgtype": "template_card", "template_card": card} for card in rendered.cards)
        return bodies

    async def post(self, key: str, message: OutMessage, first_part: int = 0) -> Delivery:
        """Post the message's parts from `first_part` on (the ones before went out in an earlier attempt); a
        failure says how many are out, and the outbox keeps that, so no process posts a part twice."""
        bodies: list[dict[str, Any] | None] = list(self.bodies(message))
        if message.document is not None:
            bodies.append(None)  # the file, uploaded when its turn comes
        index = first_part
        try:
            for index, body in enumerate(bodies[first_part:], start=first_part):
                if body is None:
                    assert message.document is not None
                    uploaded = await self._upload(key, message.document.data, message.document.filename)
                    if uploaded.get("errcode", 0) != 0:
                        return self._failure(uploaded, index)
                    body = {"msgtype": "file", "file": {"media_id": uploaded["media_id"]}}
                result = await self._post(key, body)
                if result.get("errcode", 0) != 0:
                    return self._failure(result, index)
        except aiohttp.ClientError as exc:
            return Delivery(False, error=f"webhook: {exc}"[:400], parts_sent=index)
        return Delivery(True, message_id=f"robot:{hashlib.sha1(key.encode()).hexdigest()[:8]}")

    def _failure(self, result: dict[str, Any], parts_sent: int) -> Delivery:
        code = int(result.get("errcode", -1))
        error = f"webhook errcode {code}: {result.get('errmsg', '')}"[:400]
        if code == RATE_LIMITED:
            # Over 20/min (other senders share the robot): wait one slot and retry.
            return Delivery(False, retry_after=60.0 / self.per_minute, error=error, parts_sent=parts_sent)
        return Delivery(False, permanent=code in PERMANENT, error=error, parts_sent=parts_sent)
