"""A fake 微信客服 (WeCom's customer-service API) on loopback, speaking what WECOM.md (section 5) describes: the
self-built app's encrypted XML callback announcing `kf_msg_or_event` with a token valid 10 minutes (encrypted and
signed with wechatpy, independent of linli's crypto), kf/sync_msg with its cursor, `limit` and `has_more`,
kf/send_msg refusing outside the 48 hours (95002) and beyond 5 messages (95001), and while a person serves the
session (95018), msgmenu clicks coming back as texts with their `menu_id`, enter_session with `scene_param` and a
`welcome_code` usable once within 20 seconds, kf/add_contact_way, kf/service_state/get and /trans,
kf/customer/batchget (residents' WeChat nicknames, at most 100 ids a call), media."""

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

CORP_ID = "wwlinlicorp"
SECRET = "kf-secret"
CALLBACK_TOKEN = "kftoken"
CALLBACK_AES_KEY = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"  # 43 characters
OPEN_KFID = "wkLINLIkf"
SERVICER = "wangshuji"

WINDOW = 48 * 3600
BUDGET = 5
TOKEN_TTL = 600  # the callback's Token
WELCOME_TTL = 20
OVER_BUDGET, OVER_TIME, SESSION_STATE = 95001, 95002, 95018
BAD_TOKEN = 95007  # sync_msg without a valid callback token (the fake's number for it)
BAD_WELCOME = 95016  # a welcome_code used, expired or unknown (the fake's number for it)
BAD_ARGUMENT = 40058


@dataclass
class Resident:
    last_message_at: float = 0.0
    sent: int = 0
    state: int = 0  # 0 new, 1 the smart assistant (the bot), 3 a person, 4 ended
    servicer: str = ""


@dataclass
class Sent:
    """One message the bot sent to a resident, as they see it."""

    user: str
    body: dict[str, Any]
    msgid: str
    via: str = "send_msg"  # or welcome
    at: float = field(default_factory=time.monotonic)  # when the fake received it (the benchmark's clock)

    @property
    def text(self) -> str:
        if self.body.get("msgtype") == "text":
            return str(self.body["text"]["content"])
        if self.body.get("msgtype") == "msgmenu":
            menu = self.body["msgmenu"]
            return "\n".join([menu.get("head_content", ""), *self.labels, menu.get("tail_content", "")]).strip()
        return f"[{self.body.get('msgtype')}]"

    @property
    def labels(self) -> list[str]:
        if self.body.get("msgtype") != "msgmenu":
            return []
        return [item[item["type"]]["content"] for item in self.body["msgmenu"]["list"]]


class FakeKf:
    def __init__(self, page: int = 1000) -> None:
        self.page = page
        self.offset = 0.0  # moves the fake's clock (the 48 hours, the tokens)
        self.callback_url = ""
        self.messages: list[dict[str, Any]] = []  # what sync_msg returns, in order
        self.residents: dict[str, Resident] = {}
        self.sent: list[Sent] = []
        self.refused: list[tuple[str, int]] = []  # (user, errcode) of every refused send
        self.tokens: dict[str, float] = {}  # callback tokens and when they were issued
        self.access_tokens: set[str] = set()
        self.welcome: dict[str, tuple[str, float, bool]] = {}  # code → (user, issued, used)
        self.contact_ways: list[dict[str, Any]] = []
        self.transfers: list[dict[str, Any]] = []
        self.servicers = {SERVICER}
        self.nicknames: dict[str, str] = {}  # external_userid → WeChat nickname; others are unknown to batchget
        self.batchgets: list[list[str]] = []
        self.media: dict[str, bytes] = {}
        self.syncs: list[dict[str, Any]] = []
        self.callbacks = 0
        self.changed = asyncio.Event()
        self._ids = itertools.count(1)
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.crypto = PrpCrypto(base64.b64decode(CALLBACK_AES_KEY + "="))

    # ---- server -------------------------------------------------------------------------------------

    async def start(self) -> FakeKf:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        for path, handler in (("kf/sync_msg", self._sync_msg), ("kf/send_msg", self._send_msg),
                              ("kf/send_msg_on_event", self._send_on_event),
                              ("kf/add_contact_way", self._add_contact_way),
                              ("kf/service_state/get", self._state_get), ("kf/service_state/trans", self._trans),
                              ("kf/customer/batchget", self._batchget)):
            app.router.add_post(f"/cgi-bin/{path}", handler)
        app.router.add_get("/cgi-bin/media/get", self._media_get)
        app.router.add_post("/cgi-bin/media/upload", self._media_upload)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, hours: float) -> None:
        self.offset += hours * 3600

    def _id(self, prefix: str) -> str:
        return f"{prefix}{os.getpid():x}x{next(self._ids)}"

    def _authorised(self, request: web.Request) -> bool:
        return request.query.get("access_token", "") in self.access_tokens

    @staticmethod
    def _error(code: int, message: str) -> web.Response:
        return web.json_response({"errcode": code, "errmsg": message})

    async def _gettoken(self, request: web.Request) -> web.Response:
        if request.query.get("corpid") != CORP_ID or request.query.get("corpsecret") != SECRET:
            return self._error(40001, "invalid credential")
        token = self._id("at")
        self.access_tokens.add(token)
        return web.json_response({"errcode": 0, "access_token": token, "expires_in": 7200})

    def expire_access_tokens(self) -> None:
        self.access_tokens.clear()

    async def _sync_msg(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(42001, "access_token expired")
        body = await request.json()
        self.syncs.append(body)
        if body.get("open_kfid") != OPEN_KFID:
            return self._error(95000, "invalid open_kfid")
        issued = self.tokens.get(str(body.get("token", "")))
        if issued is None or self.now() - issued > TOKEN_TTL:
            return self._error(BAD_TOKEN, "invalid msg token")
        limit = int(body.get("limit", 1000))
        if not 1 <= limit <= 1000:
            return self._error(BAD_ARGUMENT, "invalid limit")
        start = int(body.get("cursor") or 0)
        end = min(len(self.messages), start + min(limit, self.page))
        return web.json_response({"errcode": 0, "errmsg": "ok", "next_cursor": str(end),
                                  "has_more": 1 if end < len(self.messages) else 0,
                                  "msg_list": self.messages[start:end]})

    @staticmethod
    def _check_body(body: dict[str, Any]) -> str | None:
        """The platform's limits on what is sent: why it is refused, or None."""
        kind = body.get("msgtype")
        if kind == "text":
            content = str((body.get("text") or {}).get("content", ""))
            return None if 0 < len(content.encode()) <= 2048 else "text content length"
        if kind == "msgmenu":
            menu = body.get("msgmenu") or {}
            for key in ("head_content", "tail_content"):
                if len(str(menu.get(key, "")).encode()) > 1024:
                    return f"{key} length"
            items = menu.get("list") or []
            if not items:
                return "empty menu"
            for item in items:
                part = item.get(item.get("type", ""), {})
                if item.get("type") == "click" and not 1 <= len(str(part.get("id", "")).encode()) <= 64:
                    return "click id length"
                if not 1 <= len(str(part.get("content", "")).encode()) <= 128:
                    return "menu content length"
            return None
        if kind in ("image", "file"):
            return None if (body.get(kind) or {}).get("media_id") else "media_id"
        return "msgtype"

    async def _send_msg(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(42001, "access_token expired")
        body = await request.json()
        user = str(body.get("touser", ""))
        resident = self.residents.get(user)
        if body.get("open_kfid") != OPEN_KFID or resident is None:
            return self._error(95000, "invalid open_kfid or touser")
        wrong = self._check_body(body)
        if wrong:
            return self._error(BAD_ARGUMENT, wrong)
        code = 0
        if resident.state not in (0, 1):
            code = SESSION_STATE
        elif self.now() - resident.last_message_at > WINDOW:
            code = OVER_TIME
        elif resident.sent >= BUDGET:
            code = OVER_BUDGET
        if code:
            self.refused.append((user, code))
            return self._error(code, "refused")
        resident.sent += 1
        resident.state = 1
        msgid = self._id("out")
        self.sent.append(Sent(user, body, msgid))
        self.changed.set()
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    async def _send_on_event(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(42001, "access_token expired")
        body = await request.json()
        found = self.welcome.get(str(body.get("code", "")))
        if found is None or found[2] or self.now() - found[1] > WELCOME_TTL:
            return self._error(BAD_WELCOME, "invalid welcome code")
        wrong = self._check_body(body)
        if wrong:
            return self._error(BAD_ARGUMENT, wrong)
        self.welcome[str(body["code"])] = (found[0], found[1], True)
        msgid = self._id("out")
        self.sent.append(Sent(found[0], body, msgid, via="welcome"))
        self.changed.set()
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    async def _add_contact_way(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(42001, "access_token expired")
        body = await request.json()
        if body.get("open_kfid") != OPEN_KFID:
            return self._error(95000, "invalid open_kfid")
        self.contact_ways.append(body)
        ident = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]
        return web.json_response({"errcode": 0, "errmsg": "ok",
                                  "url": f"https://work.weixin.qq.com/kfid/kfc{ident}"})

    async def _state_get(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(42001, "access_token expired")
        body = await request.json()
        resident = self.residents.get(str(body.get("external_userid", "")), Resident())
        return web.json_response({"errcode": 0, "errmsg": "ok", "service_state": resident.state,
                                  "servicer_userid": resident.servicer})

    async def _trans(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(42001, "access_token expired")
        body = await request.json()
        resident = self.residents.get(str(body.get("external_userid", "")))
        if resident is None:
            return self._error(95000, "unknown external_userid")
        state = int(body.get("service_state", 0))
        if state == 3 and body.get("servicer_userid") not in self.servicers:
            return self._error(95014, "not a servicer of this account")
        self.transfers.append(body)
        resident.state, resident.servicer = state, str(body.get("servicer_userid", ""))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _batchget(self, request: web.Request) -> web.Response:
        """Residents' profiles (获取客户基础信息): those who have chatted with the account; unknown ids are listed
        apart."""
        if not self._authorised(request):
            return self._error(42001, "access_token expired")
        body = await request.json()
        users = [str(u) for u in body.get("external_userid_list") or []]
        if not 1 <= len(users) <= 100:
            return self._error(BAD_ARGUMENT, "external_userid_list size")
        self.batchgets.append(users)
        known = [u for u in users if u in self.nicknames]
        return web.json_response({
            "errcode": 0, "errmsg": "ok",
            "customer_list": [{"external_userid": u, "nickname": self.nicknames[u], "avatar": "", "gender": 0,
                               "unionid": ""} for u in known],
            "invalid_external_userid": [u for u in users if u not in self.nicknames]})

    async def _media_get(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(42001, "access_token expired")
        data = self.media.get(request.query.get("media_id", ""))
        if data is None:
            return self._error(40007, "invalid media_id")
        return web.Response(body=data, content_type="image/jpeg")

    async def _media_upload(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(42001, "access_token expired")
        form = await request.post()
        media = form["media"]
        assert isinstance(media, web.FileField)
        media_id = self._id("media")
        self.media[media_id] = media.file.read()
        return web.json_response({"errcode": 0, "errmsg": "ok", "type": request.query.get("type"),
                                  "media_id": media_id})

    # ---- the callback, encrypted and signed as WeCom does ---------------------------------------------

    def envelope(self, stamped: float | None = None) -> tuple[dict[str, str], bytes, str]:
        """A kf_msg_or_event callback: its query, body and the token it carries."""
        token = self._id("ENC")
        self.tokens[token] = self.now()
        inner = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><CreateTime>{int(self.now())}</CreateTime>"
                 f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
                 f"<Token><![CDATA[{token}]]></Token><OpenKfId><![CDATA[{OPEN_KFID}]]></OpenKfId></xml>")
        encrypted = self.crypto.encrypt(inner, CORP_ID)
        encrypted = encrypted.decode() if isinstance(encrypted, bytes) else encrypted
        timestamp, nonce = str(int(time.time() if stamped is None else stamped)), os.urandom(4).hex()
        signature = str(_get_signature(CALLBACK_TOKEN, timestamp, nonce, encrypted))
        body = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>"
                f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
        return {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}, body.encode(), token

    async def notify(self) -> int:
        """Tell the bot that messages wait (one callback); returns the HTTP status it answered."""
        assert self.callback_url, "no callback URL"
        query, data, _ = self.envelope()
        self.callbacks += 1
        async with aiohttp.ClientSession() as session, session.post(self.callback_url, params=query,
                                                                     data=data) as resp:
            await resp.read()
            return resp.status

    async def verify_url(self, echo: str = "hello-kf") -> tuple[int, str]:
        encrypted = self.crypto.encrypt(echo, CORP_ID)
        encrypted = encrypted.decode() if isinstance(encrypted, bytes) else encrypted
        timestamp, nonce = str(int(time.time())), "n0nce"
        query = {"msg_signature": str(_get_signature(CALLBACK_TOKEN, timestamp, nonce, encrypted)),
                 "timestamp": timestamp, "nonce": nonce, "echostr": encrypted}
        async with aiohttp.ClientSession() as session, session.get(self.callback_url, params=query) as resp:
            return resp.status, await resp.text()

    # ---- residents ------------------------------------------------------------------------------------

    def _message(self, user: str, msgtype: str, content: dict[str, Any], origin: int = 3) -> dict[str, Any]:
        resident = self.residents.setdefault(user, Resident())
        if origin == 3:
            resident.last_message_at, resident.sent = self.now(), 0  # a new window, a new budget
            if resident.state == 4:
                resident.state = 0
        message = {"msgid": self._id("in"), "open_kfid": OPEN_KFID, "external_userid": user,
                   "send_time": int(self.now()), "origin": origin, "msgtype": msgtype, msgtype: content}
        self.messages.append(message)
        return message

    async def say(self, user: str, text: str, notify: bool = True) -> dict[str, Any]:
        message = self._message(user, "text", {"content": text})
        if notify:
            await self.notify()
        return message

    async def click(self, user: str, label: str) -> dict[str, Any]:
        """Choose an item of the last menu the resident got that offers `label`."""
        for sent in reversed(self.to(user)):
            if sent.body.get("msgtype") != "msgmenu":
                continue
            for item in sent.body["msgmenu"]["list"]:
                if item["type"] == "click" and item["click"]["content"] == label:
                    message = self._message(user, "text", {"content": label, "menu_id": item["click"]["id"]})
                    await self.notify()
                    return message
        raise AssertionError(f"no menu item {label!r} for {user}: {[s.text for s in self.to(user)][-4:]}")

    async def send_image(self, user: str, data: bytes) -> dict[str, Any]:
        media_id = self._id("upimg")
        self.media[media_id] = data
        message = self._message(user, "image", {"media_id": media_id})
        await self.notify()
        return message

    async def send_voice(self, user: str) -> dict[str, Any]:
        media_id = self._id("upvoice")
        self.media[media_id] = b"AMR"
        message = self._message(user, "voice", {"media_id": media_id})
        await self.notify()
        return message

    async def send_location(self, user: str, latitude: float, longitude: float, name: str) -> dict[str, Any]:
        message = self._message(user, "location", {"latitude": latitude, "longitude": longitude, "name": name,
                                                   "address": ""})
        await self.notify()
        return message

    async def enter(self, user: str, scene_param: str = "", scene: str = "linli") -> str:
        """The resident opens the chat from a link: enter_session with the scene_param and a welcome_code."""
        self.residents.setdefault(user, Resident())
        code = self._id("WELCOME")
        self.welcome[code] = (user, self.now(), False)
        event = {"event_type": "enter_session", "open_kfid": OPEN_KFID, "external_userid": user, "scene": scene,
                 "scene_param": scene_param, "welcome_code": code}
        self.messages.append({"msgid": self._id("ev"), "send_time": int(self.now()), "origin": 4,
                              "msgtype": "event", "event": event})
        await self.notify()
        return code

    async def event(self, user: str, event_type: str, **fields: Any) -> None:
        event = {"event_type": event_type, "open_kfid": OPEN_KFID, "external_userid": user, **fields}
        self.messages.append({"msgid": self._id("ev"), "send_time": int(self.now()), "origin": 4,
                              "msgtype": "event", "event": event})
        await self.notify()

    async def end_session(self, user: str) -> None:
        """The staff member ends the session they took over."""
        resident = self.residents[user]
        old, resident.state, resident.servicer = resident.servicer, 4, ""
        await self.event(user, "session_status_change", change_type=3, old_servicer_userid=old)

    # ---- what residents see ---------------------------------------------------------------------------

    def to(self, user: str) -> list[Sent]:
        return [s for s in self.sent if s.user == user]

    def text_to(self, user: str) -> str:
        return "\n".join(s.text for s in self.to(user))

    async def wait_for(self, predicate: Any, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out waiting for the bot; last sent: "
                                     + repr([(s.user, s.text[:60]) for s in self.sent[-6:]]))
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.2))
            except TimeoutError:
                pass

    async def wait_sent(self, user: str, before: int, timeout: float = 15.0) -> list[Sent]:  # noqa: ASYNC109
        await self.wait_for(lambda: len(self.to(user)) > before, timeout)
        await asyncio.sleep(0.15)  # the rest of the same answer
        return self.to(user)[before:]

    async def said(self, user: str, text: str) -> list[Sent]:
        before = len(self.to(user))
        await self.say(user, text)
        return await self.wait_sent(user, before)

    async def clicked(self, user: str, label: str) -> list[Sent]:
        before = len(self.to(user))
        await self.click(user, label)
        return await self.wait_sent(user, before)
