"""A fake Telegram Bot API server for tests and benchmarks: aiohttp on 127.0.0.1, a random port.

It speaks the Bot API's shapes (`{"ok": true, "result": ...}` / `{"ok": false, "error_code": ..., "description":
..., "parameters": {...}}`), takes form-encoded, JSON and multipart bodies, long-polls `getUpdates` and pushes to a
webhook once one is set. Like Telegram, it executes a method call the bot returns in the webhook's response
(`{"method": "sendMessage", ...}`); such a call is recorded with `webhook=True`, its failure too (Telegram tells
the bot nothing of it, so a test looks here). Tests drive it from Python (`inject`, `wait_for`, `arm`) or over HTTP (`/control/*`).
HTML in sent texts is parsed the way Telegram does, so a test sees the text a person would read and its entities.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

BOT_ID = 7000001
# Telegram's default `max_connections` for a webhook is 40; a few are plenty on loopback.
WEBHOOK_CONNECTIONS = 8
# Parameters that arrive as JSON inside form fields.
JSON_FIELDS = {"reply_markup", "allowed_updates", "commands", "scope", "link_preview_options", "reply_parameters"}
HTML_TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
             "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "a": "text_link",
             "code": "code", "pre": "pre", "tg-spoiler": "spoiler", "span": "spoiler", "blockquote": "blockquote"}


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def render_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML parse mode: the text a person reads and its entities; unsupported tags are refused."""

    class Parser(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.text = ""
            self.entities: list[dict[str, Any]] = []
            self.open: list[tuple[str, int, dict[str, Any]]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in HTML_TAGS:
                raise ApiError(400, f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"')
            self.open.append((tag, len(self.text), dict(attrs)))

        def handle_endtag(self, tag: str) -> None:
            if not self.open or self.open[-1][0] != tag:
                raise ApiError(400, f'Bad Request: can\'t parse entities: Unmatched end tag "{tag}"')
            name, start, attrs = self.open.pop()
            entity: dict[str, Any] = {"type": HTML_TAGS[name], "offset": start, "length": len(self.text) - start}
            if name == "a":
                entity["url"] = attrs.get("href", "")
            self.entities.append(entity)

        def handle_data(self, data: str) -> None:
            self.text += data

    parser = Parser()
    parser.feed(source)
    parser.close()
    if parser.open:
        raise ApiError(400, "Bad Request: can't parse entities: Can't find end tag")
    return parser.text, parser.entities


ADMIN_RIGHTS = ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                "can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users",
                "can_post_stories", "can_edit_stories", "can_delete_stories")


def chat_member(user: dict[str, Any], status: str) -> dict[str, Any]:
    """A ChatMember of the given status with the fields Telegram always sends for it."""
    member: dict[str, Any] = {"user": user, "status": status}
    if status == "administrator":
        member.update(dict.fromkeys(ADMIN_RIGHTS, False), can_manage_chat=True, can_pin_messages=True)
    elif status == "kicked":
        member["until_date"] = 0
    return member


@dataclass
class Call:
    """One Bot API request the bot made, and what it got back."""

    method: str
    params: dict[str, Any]
    at: float
    ok: bool = True
    result: Any = None
    error: dict[str, Any] | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    # Made by returning it in the webhook's response, not by a request of its own.
    webhook: bool = False

    @property
    def chat_id(self) -> str:
        return str(self.params.get("chat_id", ""))

    @property
    def text(self) -> str:
        """The text as the person reads it (HTML rendered)."""
        if isinstance(self.result, dict):
            return str(self.result.get("text") or self.result.get("caption") or "")
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def markup(self) -> dict[str, Any]:
        markup = self.params.get("reply_markup")
        return markup if isinstance(markup, dict) else {}

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [b for row in self.markup.get("inline_keyboard", []) for b in row]

    def button(self, label: str | int) -> dict[str, Any]:
        """A button by its position, or by (part of) its label."""
        if isinstance(label, int):
            return self.buttons[label]
        for b in self.buttons:
            if label in b["text"]:
                return b
        raise AssertionError(f"no button {label!r} in {[b['text'] for b in self.buttons]}")


@dataclass
class Failure:
    method: str
    error_code: int = 0  # 0: no error, only the delay
    description: str = ""
    retry_after: float | None = None
    chat_id: str | None = None
    times: int = 1
    delay: float = 0.0


class FakeTelegram:
    def __init__(self, token: str = "7000001:TEST-token", username: str = "linli_test_bot",
                 first_update_id: int = 100001) -> None:
        self.token = token
        self.username = username
        self.bot_user = {"id": BOT_ID, "is_bot": True, "first_name": "邻里", "username": username,
                         "can_join_groups": True, "can_read_all_group_messages": False,
                         "supports_inline_queries": False}
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.chats: dict[str, dict[str, Any]] = {}
        self.messages: dict[tuple[str, int], dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.callback_ids: set[str] = set()
        self.answered: dict[str, dict[str, Any]] = {}
        self.failures: list[Failure] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        # Groups that became supergroups: old chat id → new one. Telegram answers any call to the old id with 400
        # and `migrate_to_chat_id`.
        self.migrated: dict[str, int] = {}
        self.webhook: dict[str, Any] = {}
        self.injected_at: dict[int, float] = {}
        self.polls = 0
        # Like Telegram, a getUpdates while another is waiting is refused with 409 Conflict (one poller per bot).
        self.polling_now = 0
        self.poll_conflicts = 0
        self._update_ids = itertools.count(first_update_id)
        self._message_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._push_queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._pusher: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    # ---- server ----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's root: what TELEGRAM_API_BASE_URL is set to."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        app.router.add_post("/control/inject", self._control_inject)
        app.router.add_get("/control/calls", self._control_calls)
        app.router.add_post("/control/arm", self._control_arm)
        app.router.add_post("/control/files", self._control_files)
        # Long polls still waiting are cut at once on stop instead of being waited for.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._session = aiohttp.ClientSession()
        self._pusher = asyncio.create_task(self._push_loop())
        return self

    async def stop(self) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---- what tests do -----------------------------------------------------------------------------------

    def user(self, user_id: int, first_name: str, language_code: str | None = "zh-hans",
             last_name: str | None = None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if language_code:
            user["language_code"] = language_code
        return user

    def private(self, user: dict[str, Any]) -> dict[str, Any]:
        return {"id": user["id"], "type": "private", "first_name": user["first_name"]}

    @staticmethod
    def group(chat_id: int, title: str, kind: str = "supergroup") -> dict[str, Any]:
        return {"id": chat_id, "type": kind, "title": title}

    def _message(self, user: dict[str, Any], chat: dict[str, Any], **content: Any) -> dict[str, Any]:
        self.chats[str(chat["id"])] = chat
        return {"message_id": next(self._message_ids), "from": user, "chat": chat, "date": int(time.time()),
                **content}

    async def say(self, user: dict[str, Any], chat: dict[str, Any] | None, text: str,
                  reply_to: dict[str, Any] | None = None) -> int:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(" ", 1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if reply_to is not None:
            content["reply_to_message"] = reply_to
        return await self.inject({"message": self._message(user, chat or self.private(user), **content)})

    async def contact(self, user: dict[str, Any], phone: str, owner_id: int | None = None) -> int:
        contact = {"phone_number": phone, "first_name": user["first_name"],
                   "user_id": user["id"] if owner_id is None else owner_id}
        return await self.inject({"message": self._message(user, self.private(user), contact=contact)})

    async def photo(self, user: dict[str, Any], chat: dict[str, Any] | None, data: bytes, caption: str = "") -> int:
        big, small = f"big-{len(self.files)}", f"small-{len(self.files)}"
        self.files[big], self.files[small] = data, data[:10]
        sizes = [{"file_id": small, "file_unique_id": "u" + small, "width": 90, "height": 90, "file_size": 10},
                 {"file_id": big, "file_unique_id": "u" + big, "width": 1280, "height": 960,
                  "file_size": len(data)}]
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        return await self.inject({"message": self._message(user, chat or self.private(user), **content)})

    async def press(self, user: dict[str, Any], sent: Call, label: str | int) -> str:
        """Press an inline button of a message the bot sent, as the chat shows it now (after any edits), or, when
        the button is gone from it, as first sent (a second device whose screen was not refreshed yet); returns the
        callback query's id."""
        message = dict(sent.result) if isinstance(sent.result, dict) else {}
        now = dict(self.messages.get((sent.chat_id, int(message.get("message_id", 0))), message))
        try:
            button = Call(sent.method, {"reply_markup": now.get("reply_markup") or {}}, sent.at).button(label)
            message = now
        except (AssertionError, IndexError):
            button = sent.button(label)
        query_id = f"cq{next(self._update_ids)}"
        self.callback_ids.add(query_id)
        chat = self.chats.get(sent.chat_id) or {"id": int(sent.chat_id), "type": "private"}
        message.setdefault("chat", chat)
        await self.inject({"callback_query": {
            "id": query_id, "from": user, "chat_instance": f"ci{sent.chat_id}", "message": message,
            "data": button["callback_data"]}})
        return query_id

    async def bot_membership(self, by: dict[str, Any], chat: dict[str, Any], old: str, new: str) -> int:
        self.chats[str(chat["id"])] = chat
        return await self.inject({"my_chat_member": {
            "chat": chat, "from": by, "date": int(time.time()),
            "old_chat_member": chat_member(self.bot_user, old), "new_chat_member": chat_member(self.bot_user, new)}})

    async def inject(self, update: dict[str, Any]) -> int:
        """Queue an update (for getUpdates, or pushed to the webhook once one is set); returns its id."""
        update = {"update_id": next(self._update_ids), **update}
        self.injected_at[update["update_id"]] = time.perf_counter()
        if self.webhook.get("url"):
            self._push_queue.put_nowait(update)
        else:
            self.updates.append(update)
            await self._notify()
        return int(update["update_id"])

    async def migrate(self, old: dict[str, Any], new_id: int, by: dict[str, Any], announce: bool = True) -> None:
        """The group `old` becomes a supergroup with id `new_id`. With `announce` the bot gets Telegram's two
        service messages (the old chat's last, naming the new id, and the new chat's first); without, it learns of
        the move only when it next writes to the old id."""
        new = self.group(new_id, old.get("title", ""), "supergroup")
        self.chats[str(new_id)] = new
        self.migrated[str(old["id"])] = new_id
        if announce:
            await self.inject({"message": self._message(by, old, migrate_to_chat_id=new_id)})
            await self.inject({"message": self._message(by, new, migrate_from_chat_id=old["id"])})

    def arm(self, method: str, error_code: int = 0, description: str = "", retry_after: float | None = None,
            chat_id: str | int | None = None, times: int = 1, delay: float = 0.0) -> None:
        """Make the next `times` calls of `method` (to `chat_id`, if given) fail or answer slowly."""
        if error_code == 429 and not description:
            description = f"Too Many Requests: retry after {int(retry_after or 1)}"
        self.failures.append(Failure(method.lower(), error_code, description, retry_after,
                                     None if chat_id is None else str(chat_id), times, delay))

    def shown(self, sent: Call) -> dict[str, Any]:
        """A message the bot sent as its chat shows it now: its text and buttons after any edits."""
        message_id = int(sent.result["message_id"]) if isinstance(sent.result, dict) else 0
        return self.messages[(sent.chat_id, message_id)]

    def sent(self, chat_id: str | int | None = None, method: str | None = None, ok: bool = True) -> list[Call]:
        methods = {method.lower()} if method else {"sendmessage", "sendphoto", "senddocument"}
        return [c for c in self.calls if c.method in methods and c.ok == ok
                and (chat_id is None or c.chat_id == str(chat_id))]

    async def wait_for(self, predicate: Callable[[Call], bool], wait: float = 10.0, after: int = 0) -> Call:
        """The first call (from index `after`) matching `predicate`, waiting for it to arrive."""
        deadline = time.monotonic() + wait
        async with self._changed:
            while True:
                for call in self.calls[after:]:
                    if predicate(call):
                        return call
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching call within {wait}s; calls: "
                                         f"{[(c.method, c.chat_id, c.text[:60]) for c in self.calls[after:]]}")
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    pass

    async def pushed(self, wait: float = 10.0) -> None:
        """Every update queued for the webhook delivered, and the calls its responses carried made."""
        await asyncio.wait_for(self._push_queue.join(), wait)

    async def reply_to(self, chat_id: str | int, after: int, wait: float = 10.0, contains: str = "") -> Call:
        """The next message the bot sends into `chat_id` after call index `after`."""
        return await self.wait_for(lambda c: c.method in ("sendmessage", "sendphoto", "senddocument") and c.ok
                                   and c.chat_id == str(chat_id) and contains in c.text, wait, after)

    # ---- the Bot API -------------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            body = await request.json()
            params.update(body if isinstance(body, dict) else {})
        elif request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                else:
                    params[key] = value
        for key in JSON_FIELDS & params.keys():
            if isinstance(params[key], str):
                params[key] = json.loads(params[key])
        # A file sent as `attach://name` lives in the part of that name.
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
                files[key] = files[value[9:]]
        return params, files

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"].lower()
        try:
            params, files = await self._params(request)
        except (ValueError, json.JSONDecodeError):
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: bad body"},
                                     status=400)
        call = await self._call(method, params, files)
        if call.error is not None:
            return web.json_response(call.error, status=call.error["error_code"])
        return web.json_response({"ok": True, "result": call.result})

    async def _call(self, method: str, params: dict[str, Any], files: dict[str, bytes],
                    webhook: bool = False) -> Call:
        call = Call(method, params, time.perf_counter(), files=files, webhook=webhook)
        try:
            await self._maybe_fail(method, params)
            self._refuse_migrated(params)
            call.result = await self._dispatch(method, params, files)
        except ApiError as exc:
            call.ok, call.error = False, exc.body()
        if method != "getupdates":
            self.calls.append(call)
            await self._notify()
        return call

    async def _maybe_fail(self, method: str, params: dict[str, Any]) -> None:
        for failure in self.failures:
            if failure.times <= 0 or failure.method != method:
                continue
            if failure.chat_id is not None and str(params.get("chat_id")) != failure.chat_id:
                continue
            failure.times -= 1
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.error_code:
                parameters = {"retry_after": int(failure.retry_after)} if failure.retry_after else None
                raise ApiError(failure.error_code, failure.description or "Internal Server Error", parameters)
            return

    def _refuse_migrated(self, params: dict[str, Any]) -> None:
        new_id = self.migrated.get(str(params.get("chat_id", "")))
        if new_id is not None:
            raise ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat",
                           {"migrate_to_chat_id": new_id})

    async def _dispatch(self, method: str, p: dict[str, Any], files: dict[str, bytes]) -> Any:
        if method == "getme":
            return self.bot_user
        if method == "getupdates":
            self.polls += 1
            if self.polling_now:
                self.poll_conflicts += 1
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only one "
                                    "bot instance is running")
            self.polling_now += 1
            try:
                return await self._get_updates(p)
            finally:
                self.polling_now -= 1
        if method == "deletewebhook":
            self.webhook = {}
            if str(p.get("drop_pending_updates", "")).lower() == "true":
                self.updates.clear()
            return True
        if method == "setwebhook":
            self.webhook = {"url": p["url"], "secret_token": p.get("secret_token", "")}
            for update in self.updates:
                self._push_queue.put_nowait(update)
            self.updates.clear()
            return True
        if method == "getwebhookinfo":
            return {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                    "pending_update_count": len(self.updates)}
        if method == "setmycommands":
            return self._set_commands(p)
        if method == "deletemycommands":
            self.commands.pop((self._scope(p), str(p.get("language_code") or "")), None)
            return True
        if method == "sendmessage":
            text, entities = self._text(p, "text", 4096)
            return self._store(p, text=text, entities=entities)
        if method in ("sendphoto", "senddocument"):
            kind = "photo" if method == "sendphoto" else "document"
            data = files.get(kind)
            if data is None and not isinstance(p.get(kind), str):
                raise ApiError(400, f"Bad Request: there is no {kind} in the request")
            file_id = f"sent-{kind}-{len(self.files)}"
            self.files[file_id] = data or b""
            media: Any = ([{"file_id": file_id, "file_unique_id": "u" + file_id, "width": 1, "height": 1}]
                          if kind == "photo" else {"file_id": file_id, "file_unique_id": "u" + file_id})
            caption, entities = self._text(p, "caption", 1024, required=False)
            content: dict[str, Any] = {kind: media}
            if caption:
                content.update(caption=caption, caption_entities=entities)
            return self._store(p, **content)
        if method in ("editmessagetext", "editmessagereplymarkup", "editmessagecaption"):
            return self._edit(method, p)
        if method == "answercallbackquery":
            query_id = str(p.get("callback_query_id"))
            if query_id not in self.callback_ids or query_id in self.answered:
                raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is "
                                    "invalid")
            self.answered[query_id] = p
            return True
        if method == "pinchatmessage":
            if (str(p.get("chat_id")), int(p.get("message_id", 0))) not in self.messages:
                raise ApiError(400, "Bad Request: message to pin not found")
            return True
        if method == "getfile":
            file_id = str(p.get("file_id"))
            if file_id not in self.files:
                raise ApiError(400, "Bad Request: invalid file_id")
            return {"file_id": file_id, "file_unique_id": "u" + file_id, "file_size": len(self.files[file_id]),
                    "file_path": f"photos/{file_id}.jpg"}
        raise ApiError(404, "Not Found")

    async def _get_updates(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook.get("url"):
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use "
                                "deleteWebhook to delete the webhook first")
        offset = int(p.get("offset", 0) or 0)
        timeout = float(p.get("timeout", 0) or 0)
        limit = int(p.get("limit", 100) or 100)
        # Asking with an offset confirms every update before it: they are never returned again.
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not self.updates and time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
                except TimeoutError:
                    break
        return self.updates[:limit]

    @staticmethod
    def _scope(p: dict[str, Any]) -> str:
        """The scope's key in `commands`: its type, and for one chat "chat:<chat_id>"."""
        scope = p.get("scope") or {"type": "default"}
        if scope["type"] == "chat_administrators":
            return f"admins:{scope['chat_id']}"
        return f"chat:{scope['chat_id']}" if scope["type"] == "chat" else str(scope["type"])

    def _set_commands(self, p: dict[str, Any]) -> bool:
        commands = p.get("commands") or []
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands")
        for command in commands:
            name, description = command.get("command", ""), command.get("description", "")
            if not (1 <= len(name) <= 32 and name.replace("_", "").isalnum() and name.islower()
                    and 1 <= len(description) <= 256):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands[(self._scope(p), str(p.get("language_code") or ""))] = commands
        return True

    def _text(self, p: dict[str, Any], key: str, limit: int, required: bool = True) -> tuple[str, list[Any]]:
        source = str(p.get(key) or "")
        if str(p.get("parse_mode", "")).upper() == "HTML":
            text, entities = render_html(source)
        else:
            text, entities = source, []
        if required and not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > limit:
            raise ApiError(400, "Bad Request: message is too long" if key == "text"
                           else "Bad Request: message caption is too long")
        return text, entities

    def _chat(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self.chats.get(str(p.get("chat_id")))
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _store(self, p: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat = self._chat(p)
        message: dict[str, Any] = {"message_id": next(self._message_ids), "from": self.bot_user, "chat": chat,
                                   "date": int(time.time()), **content}
        markup = p.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self.messages[(str(chat["id"]), message["message_id"])] = message
        return message

    def _edit(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(p)
        key = (str(chat["id"]), int(p.get("message_id", 0)))
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        new = dict(message)
        if method == "editmessagetext":
            if "text" not in message:
                raise ApiError(400, "Bad Request: there is no text in the message to edit")
            new["text"], new["entities"] = self._text(p, "text", 4096)
        elif method == "editmessagecaption":
            new["caption"], new["caption_entities"] = self._text(p, "caption", 1024, required=False)
        markup = p.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            new["reply_markup"] = markup
        else:
            new.pop("reply_markup", None)
        if new == message:
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        self.messages[key] = new
        return new

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        name = request.match_info["path"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if name not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[name], content_type="image/jpeg")

    # ---- webhook delivery --------------------------------------------------------------------------------

    async def _push_loop(self) -> None:
        """Telegram's side of a webhook: several connections at once, one chat's updates in order, each
        re-sent until the bot answers 200."""
        assert self._session is not None
        chat_locks: dict[str, asyncio.Lock] = {}

        async def connection() -> None:
            while True:
                update = await self._push_queue.get()
                chat = str((update.get("message") or update.get("callback_query", {}).get("message") or
                            update.get("my_chat_member") or {}).get("chat", {}).get("id", ""))
                try:
                    async with chat_locks.setdefault(chat, asyncio.Lock()):
                        await self._push(update)
                finally:
                    self._push_queue.task_done()

        await asyncio.gather(*(connection() for _ in range(WEBHOOK_CONNECTIONS)))

    async def _push(self, update: dict[str, Any]) -> None:
        assert self._session is not None
        for _attempt in range(40):
            try:
                async with self._session.post(
                    self.webhook["url"], json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": self.webhook.get("secret_token", "")},
                ) as response:
                    if response.status == 200:
                        await self._answered(await response.read())
                        return
            except (aiohttp.ClientError, KeyError):
                pass
            await asyncio.sleep(0.25)

    async def _answered(self, body: bytes) -> None:
        """A method call in the webhook's response is executed like a request (only JSON: no files there)."""
        try:
            answer = json.loads(body) if body else None
        except ValueError:
            return
        if isinstance(answer, dict) and isinstance(answer.get("method"), str):
            params = {k: v for k, v in answer.items() if k != "method"}
            await self._call(answer["method"].lower(), params, {}, webhook=True)

    # ---- control endpoints (for a bot or a benchmark in another process) ----------------------------------

    async def _control_inject(self, request: web.Request) -> web.Response:
        return web.json_response({"update_id": await self.inject(await request.json())})

    async def _control_calls(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", 0))
        return web.json_response([{"method": c.method, "params": c.params, "ok": c.ok, "result": c.result,
                                   "error": c.error, "webhook": c.webhook} for c in self.calls[since:]])

    async def _control_arm(self, request: web.Request) -> web.Response:
        self.arm(**await request.json())
        return web.json_response({"ok": True})

    async def _control_files(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.files[body["file_id"]] = base64.b64decode(body["data"])
        return web.json_response({"ok": True})


# ---- the real bot process against the fake --------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
# Demo people who also have a Telegram account in the end-to-end tests: name → Telegram user id.
TELEGRAM_PEOPLE = {"王书记": 1001, "张三": 1005, "李四": 1006, "陈阿姨": 1008}
GROUP_ID = -1009000001


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def link_telegram(db_url: str) -> None:
    """Give some demo people a Telegram identity and bind a Telegram group to 幸福里."""
    from sqlmodel import select

    from storage.compounds import Chat, Compound
    from storage.db import make_engine, make_sessionmaker, transaction
    from storage.demo import DEMO_CODE, DEMO_GROUP
    from storage.people import Identity, Person

    engine = make_engine(db_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            compound = (await session.exec(select(Compound).where(Compound.code == DEMO_CODE))).one()
            for name, user_id in TELEGRAM_PEOPLE.items():
                person = (await session.exec(select(Person).where(Person.name == name))).one()
                assert person.id is not None
                session.add(Identity(person_id=person.id, platform="telegram", platform_user_id=str(user_id),
                                     private_chat_id=str(user_id)))
            session.add(Chat(platform="telegram", platform_chat_id=str(GROUP_ID), kind="group", title=DEMO_GROUP,
                             compound_id=compound.id))
    finally:
        await engine.dispose()


@dataclass
class BotProcess:
    """`linli run` in a subprocess, pointed at the fake server; its log goes to `log_path`."""

    db_url: str
    fake: FakeTelegram
    workdir: Path
    webhook_secret: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    http_port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    # cProfile's statistics of the whole process, written here when it stops (bench.telegram_e2e --profile).
    profile: Path | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "linli.log"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/telegram/webhook"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WECOM_"))}
        env.update(
            PYTHONPATH=str(ROOT), DATABASE_URL=self.db_url, TELEGRAM_BOT_TOKEN=self.fake.token,
            TELEGRAM_API_BASE_URL=self.fake.url, HTTP_HOST="127.0.0.1", HTTP_PORT=str(self.http_port),
            OUTBOX_TICK_SECONDS="0.2", DEMO="false", LOG_LEVEL="INFO",
        )
        if self.webhook_secret:
            env.update(TELEGRAM_WEBHOOK_URL=self.webhook_url, TELEGRAM_WEBHOOK_SECRET=self.webhook_secret)
        env.update(self.extra_env)
        return env

    async def start(self, wait: float = 30.0, polling: bool = True) -> None:
        """Returns once the process is ready: commands registered, and its webhook set or (`polling`) its
        first long poll made; a process waiting for another's polling leadership does not poll."""
        before = len(self.fake.calls)
        polls = self.fake.polls
        log = open(self.log_path, "ab")  # noqa: ASYNC230 - handed to the child process
        # A working directory of its own: no developer's `.env` leaks into the test.
        profiling = ("-m", "cProfile", "-o", str(self.profile)) if self.profile is not None else ()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, *profiling, "-m", "bot", "run", cwd=self.workdir, env=self.env(), stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise AssertionError(f"linli run exited with {self.process.returncode}:\n{self.log()}")
            started = [c.method for c in self.fake.calls[before:]]
            if "setmycommands" in started and (
                    ("setwebhook" in started) if self.webhook_secret else (self.fake.polls > polls or not polling)):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"linli run did not start in {wait}s:\n{self.log()}")

    async def stop(self, sig: int = signal.SIGTERM, wait: float = 20.0) -> int:
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode or 0 if self.process else 0
        self.process.send_signal(sig)
        code = await asyncio.wait_for(self.process.wait(), wait)
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""
