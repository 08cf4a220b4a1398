"""A fake WeCom on loopback, speaking what WECOM.md describes: the intelligent bot's long connection
(subscribe, ping, message and event callbacks, acks with errcode), a callback client that encrypts and signs
as WeCom does (with wechatpy's implementation, independent of ours), group-robot webhooks with their
per-minute limit, response_url, and a small qyapi (gettoken, add_msg_template)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from wechatpy.crypto import PrpCrypto, _get_signature

BOT_ID = "aibot-linli"
BOT_SECRET = "s3cret"
CALLBACK_TOKEN = "linlitoken"
CALLBACK_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters


@dataclass
class Seen:
    """One thing the bot put into a chat, as people there see it."""

    chat_id: str
    kind: str  # stream | markdown | text | card | update
    text: str = ""
    card: dict[str, Any] | None = None
    channel: str = "ws"

    @property
    def labels(self) -> list[str]:
        """A card's button labels, or a vote card's options."""
        card = self.card or {}
        return [b["text"] for b in card.get("button_list", [])] + [
            o["text"] for o in (card.get("checkbox") or {}).get("option_list", [])]


def seen_from(chat_id: str, body: dict[str, Any], channel: str) -> list[Seen]:
    msgtype = body.get("msgtype")
    found: list[Seen] = []
    if body.get("response_type") == "update_template_card":
        found.append(Seen(chat_id, "update", card=body.get("template_card"), channel=channel))
    if msgtype in ("stream", "stream_with_template_card"):
        found.append(Seen(chat_id, "stream", body["stream"].get("content", ""), channel=channel))
    if msgtype == "markdown":
        found.append(Seen(chat_id, "markdown", body["markdown"]["content"], channel=channel))
    if msgtype == "text":
        found.append(Seen(chat_id, "text", body["text"]["content"], channel=channel))
    if "template_card" in body and body.get("response_type") != "update_template_card":
        card = body["template_card"]
        found.append(Seen(chat_id, "card", str(card.get("main_title", {}).get("title", "")), card, channel))
    return found


ROBOT_CARDS = ("text_notice", "news_notice")  # what a group robot's template_card may be (path/99110)


def card_problem(card: dict[str, Any], robot: bool = False) -> str:
    """Why WeCom would refuse a template card's jumps ("" when it would not): a text_notice must open something
    (card_action of type 1 with its url, or 2), a jump of type 1 needs its url, at most 3 jumps; a robot takes
    notice cards only (it cannot receive a press)."""
    kind = card.get("card_type")
    if robot and kind not in ROBOT_CARDS:
        return f"a group robot cannot send a {kind} card"
    action = card.get("card_action")
    if kind == "text_notice" and (action is None or action.get("type") not in (1, 2)):
        return "text_notice needs card_action of type 1 or 2"
    jumps = card.get("jump_list", [])
    if len(jumps) > 3:
        return "jump_list holds at most 3"
    for jump in ([action] if action else []) + jumps:
        if jump.get("type") == 1 and not str(jump.get("url", "")).startswith(("http://", "https://")):
            return "a jump of type 1 needs its url"
    if any(not jump.get("title") for jump in jumps):
        return "a jump needs its title"
    return ""


@dataclass
class Robot:
    posts: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    refused: int = 0


class FakeWeCom:
    def __init__(self, robot_limit: int = 20, robot_window: float = 60.0) -> None:
        self.robot_limit = robot_limit
        self.robot_window = robot_window
        self.robots: dict[str, Robot] = {}
        self.ws: web.WebSocketResponse | None = None
        self.subscribes: list[dict[str, Any]] = []
        self.authenticated = 0
        self.pings = 0
        self.frames: list[dict[str, Any]] = []  # every frame the bot sent
        self.seen: list[Seen] = []
        self._req_chat: dict[str, str] = {}
        self.responded: dict[str, float] = {}  # req_id → when the bot's reply to it arrived (benchmarks)
        self._counter = itertools.count(1)
        self.response_posts: list[tuple[str, dict[str, Any]]] = []
        self._response_chats: dict[str, str] = {}
        self.templates: list[dict[str, Any]] = []
        self.tokens_issued = 0
        self.media: dict[str, bytes] = {}
        self.changed = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.port = 0

    # ---- server -------------------------------------------------------------------------------------

    async def start(self) -> FakeWeCom:
        app = web.Application()
        app.router.add_get("/ws", self._ws)
        app.router.add_post("/cgi-bin/webhook/send", self._webhook_send)
        app.router.add_post("/cgi-bin/webhook/upload_media", self._webhook_upload)
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/externalcontact/add_msg_template", self._add_msg_template)
        app.router.add_post("/response/{id}", self._response)
        app.router.add_get("/media/{name}", self._media)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def _note(self, items: list[Seen]) -> None:
        self.seen.extend(items)
        self.changed.set()

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            self.frames.append(frame)
            cmd, req_id = frame.get("cmd"), frame.get("headers", {}).get("req_id", "")
            body = frame.get("body") or {}
            if cmd == "aibot_subscribe":
                self.subscribes.append(body)
                if body.get("bot_id") != BOT_ID or body.get("secret") != BOT_SECRET:
                    await ws.send_json({"headers": {"req_id": req_id}, "errcode": 40001, "errmsg": "invalid secret"})
                    await ws.close()
                    break
                if self.ws is not None and self.ws is not ws:
                    old = self.ws  # a newer connection replaces the old one, as WeCom does
                    await old.send_json({"cmd": "aibot_event_callback", "headers": {"req_id": "evt"},
                                         "body": {"msgtype": "event", "event": {"eventtype": "disconnected_event"}}})
                    await old.close()
                self.ws = ws
                self.authenticated += 1
                await ws.send_json({"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"})
                self.changed.set()
            elif cmd == "ping":
                self.pings += 1
                await ws.send_json({"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"})
            elif cmd in ("aibot_respond_msg", "aibot_respond_welcome_msg", "aibot_respond_update_msg"):
                chat = self._req_chat.get(req_id)
                if chat is None:
                    await ws.send_json({"headers": {"req_id": req_id}, "errcode": 40008, "errmsg": "unknown req_id"})
                    continue
                if problem := card_problem(body.get("template_card") or {}):
                    await ws.send_json({"headers": {"req_id": req_id}, "errcode": 40058, "errmsg": problem})
                    continue
                await ws.send_json({"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"})
                self.responded.setdefault(req_id, time.monotonic())
                self._note(seen_from(chat, body, "ws"))
            elif cmd == "aibot_send_msg":
                if problem := card_problem(body.get("template_card") or {}):
                    await ws.send_json({"headers": {"req_id": req_id}, "errcode": 40058, "errmsg": problem})
                    continue
                await ws.send_json({"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"})
                self._note(seen_from(str(body.get("chatid", "")), body, "ws"))
            else:
                await ws.send_json({"headers": {"req_id": req_id}, "errcode": 40058, "errmsg": "unknown cmd"})
        if self.ws is ws:
            self.ws = None
        return ws

    async def push(self, body: dict[str, Any], event: bool = False) -> str:
        """Send one callback to the bot over the long connection; returns its req_id."""
        assert self.ws is not None, "the bot is not connected"
        req_id = f"req{next(self._counter)}"
        chat = body["chatid"] if body.get("chattype") == "group" else body["from"]["userid"]
        self._req_chat[req_id] = chat
        await self.ws.send_json({"cmd": "aibot_event_callback" if event else "aibot_msg_callback",
                                 "headers": {"req_id": req_id}, "body": body})
        return req_id

    async def drop(self) -> None:
        """Cut the long connection from WeCom's side."""
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def _webhook_send(self, request: web.Request) -> web.Response:
        key = request.query.get("key", "")
        if not key.startswith("robot-"):
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        robot = self.robots.setdefault(key, Robot())
        now = time.monotonic()
        recent = [t for t in robot.times if now - t < self.robot_window]
        if len(recent) >= self.robot_limit:
            robot.refused += 1
            return web.json_response({"errcode": 45009, "errmsg": "api freq out of limit"})
        body = await request.json()
        if body.get("msgtype") == "image":
            data = base64.b64decode(body["image"]["base64"])
            if hashlib.md5(data).hexdigest() != body["image"]["md5"]:
                return web.json_response({"errcode": 40009, "errmsg": "md5 mismatch"})
        if body.get("msgtype") == "template_card" and (problem := card_problem(body["template_card"], robot=True)):
            return web.json_response({"errcode": 40058, "errmsg": problem})
        robot.times.append(now)
        robot.posts.append(body)
        self.changed.set()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _webhook_upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        media = form["media"]
        assert isinstance(media, web.FileField)
        media_id = f"m{next(self._counter)}"
        self.media[media_id] = media.file.read()
        return web.json_response({"errcode": 0, "errmsg": "ok", "type": "file", "media_id": media_id})

    async def _gettoken(self, request: web.Request) -> web.Response:
        self.tokens_issued += 1
        return web.json_response({"errcode": 0, "access_token": f"tok{self.tokens_issued}", "expires_in": 7200})

    async def _add_msg_template(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") != f"tok{self.tokens_issued}":
            return web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        self.templates.append(await request.json())
        self.changed.set()
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": f"msg{len(self.templates)}"})

    def response_url(self, chat_id: str) -> str:
        ident = str(next(self._counter))
        self._response_chats[ident] = chat_id
        return f"{self.base_url}/response/{ident}"

    async def _response(self, request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        chat = self._response_chats.pop(ident, None)
        if chat is None:  # one POST per response_url
            return web.json_response({"errcode": 60140, "errmsg": "response_url used"})
        body = await request.json()
        if problem := card_problem(body.get("template_card") or {}):
            return web.json_response({"errcode": 40058, "errmsg": problem})
        self.response_posts.append((chat, body))
        self._note(seen_from(chat, body, "response_url"))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _media(self, request: web.Request) -> web.Response:
        return web.Response(body=self.media[request.match_info["name"]])

    # ---- what people see ----------------------------------------------------------------------------

    def in_chat(self, chat_id: str) -> list[Seen]:
        return [s for s in self.seen if s.chat_id == chat_id]

    def last_card(self, chat_id: str) -> dict[str, Any]:
        cards = [s.card for s in self.in_chat(chat_id) if s.kind == "card" and s.card]
        assert cards, f"no card in {chat_id}: {self.in_chat(chat_id)}"
        return cards[-1]

    def text_of(self, chat_id: str) -> str:
        return "\n".join(s.text for s in self.in_chat(chat_id))

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out waiting for the bot; it showed: "
                                     + repr([(s.chat_id, s.kind, s.text[:60]) for s in self.seen[-8:]]))
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.2))
            except TimeoutError:
                pass

    async def wait_seen(self, chat_id: str, count_before: int, timeout: float = 10.0) -> list[Seen]:  # noqa: ASYNC109
        await self.wait_for(lambda: len(self.in_chat(chat_id)) > count_before, timeout)
        await asyncio.sleep(0.05)  # the rest of the same answer
        return self.in_chat(chat_id)[count_before:]


# ---- message bodies as WeCom sends them -----------------------------------------------------------

_msg_counter = itertools.count(1)


def _base(user: str, chat: str | None, response_url: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"msgid": f"m{os.getpid()}x{next(_msg_counter)}", "aibotid": BOT_ID,
                            "chattype": "group" if chat else "single", "from": {"userid": user}}
    if chat:
        body["chatid"] = chat
    if response_url:
        body["response_url"] = response_url
    return body


def text(user: str, content: str, chat: str | None = None, response_url: str = "") -> dict[str, Any]:
    return {**_base(user, chat, response_url), "msgtype": "text", "text": {"content": content}}


def enter_chat(user: str) -> dict[str, Any]:
    return {**_base(user, None), "msgtype": "event", "event": {"eventtype": "enter_chat"}}


def click(user: str, card: dict[str, Any], label: str, chat: str | None = None,
          response_url: str = "") -> dict[str, Any]:
    keys = [b["key"] for b in card["button_list"] if b["text"] == label]
    assert keys, f"no button {label!r} on {card}"
    return {**_base(user, chat, response_url), "msgtype": "event",
            "event": {"eventtype": "template_card_event",
                      "template_card_event": {"card_type": card["card_type"], "event_key": keys[0],
                                              "task_id": card["task_id"]}}}


def vote(user: str, card: dict[str, Any], option: str, chat: str | None = None,
         response_url: str = "") -> dict[str, Any]:
    """One option of a vote card (vote_interaction) chosen and submitted."""
    checkbox = card["checkbox"]
    ids = [o["id"] for o in checkbox["option_list"] if o["text"] == option]
    assert ids, f"no option {option!r} on {card}"
    return {**_base(user, chat, response_url), "msgtype": "event",
            "event": {"eventtype": "template_card_event",
                      "template_card_event": {
                          "card_type": card["card_type"], "event_key": card["submit_button"]["key"],
                          "task_id": card["task_id"],
                          "selected_items": {"selected_item": [{"question_key": checkbox["question_key"],
                                                                "option_ids": {"option_id": ids}}]}}}}


# ---- the HTTP callback, signed and encrypted as WeCom does ----------------------------------------


class CallbackClient:
    def __init__(self, url: str, token: str = CALLBACK_TOKEN, aes_key: str = CALLBACK_AES_KEY) -> None:
        self.url = url
        self.token = token
        self.crypto = PrpCrypto(base64.b64decode(aes_key + "="))

    def sign(self, encrypted: str, timestamp: str, nonce: str) -> str:
        return str(_get_signature(self.token, timestamp, nonce, encrypted))

    def envelope(self, body: dict[str, Any], stamped: float | None = None) -> tuple[dict[str, str], bytes]:
        """The request WeCom would send, stamped now or at `stamped` (seconds since the epoch)."""
        encrypted = self.crypto.encrypt(json.dumps(body, ensure_ascii=False), "")
        encrypted = encrypted.decode() if isinstance(encrypted, bytes) else encrypted
        timestamp, nonce = str(int(time.time() if stamped is None else stamped)), os.urandom(4).hex()
        query = {"msg_signature": self.sign(encrypted, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
        return query, json.dumps({"encrypt": encrypted}).encode()

    async def post_raw(self, query: dict[str, str], data: bytes) -> tuple[int, str]:
        async with aiohttp.ClientSession() as session, session.post(self.url, params=query, data=data) as resp:
            return resp.status, await resp.text()

    def open_reply(self, raw: str) -> dict[str, Any] | None:
        """Verify and decrypt the bot's passive reply, as WeCom would."""
        if not raw:
            return None
        sealed = json.loads(raw)
        expected = self.sign(sealed["encrypt"], sealed["timestamp"], sealed["nonce"])
        assert sealed["msgsignature"] == expected, "the reply's signature is wrong"
        plain = self.crypto.decrypt(sealed["encrypt"], "")
        return dict(json.loads(plain))

    async def send(self, body: dict[str, Any], stamped: float | None = None) -> tuple[int, dict[str, Any] | None]:
        query, data = self.envelope(body, stamped)
        status, raw = await self.post_raw(query, data)
        return status, (self.open_reply(raw) if status == 200 else None)

    async def verify_url(self, echo: str = "hello-wecom", stamped: float | None = None) -> tuple[int, str]:
        encrypted = self.crypto.encrypt(echo, "")
        encrypted = encrypted.decode() if isinstance(encrypted, bytes) else encrypted
        timestamp, nonce = str(int(time.time() if stamped is None else stamped)), "n0nce"
        query = {"msg_signature": self.sign(encrypted, timestamp, nonce), "timestamp": timestamp,
                 "nonce": nonce, "echostr": encrypted}
        async with aiohttp.ClientSession() as session, session.get(self.url, params=query) as resp:
            return resp.status, await resp.text()
