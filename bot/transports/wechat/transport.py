"""WeChat residents one-to-one through 微信客服 (see WECOM.md, section 5): one more transport, platform "wechat".

Intake: the self-built app's encrypted callback (/wechat/callback, WeCom's crypto with receiveid = the corp id)
brings only `kf_msg_or_event` with a token and the account; the token goes into the database (any process may get
the callback) and the process leading the pull (`bot.leader`, one at a time) pulls with kf/sync_msg from the
stored cursor, page after page while `has_more`, and stores the next cursor after each page. Each message goes to
the core once: the core claims its msgid, and a page pulled again after a restart skips what is claimed.

Output: no passive replies here: every message is a kf/send_msg, allowed only within 48 hours after the resident's
last message and at most 5 in that time (`storage.wechat`). Replies to the resident's own message come first, fitted
into the fresh budget (merged when needed); the outbox sends everything else only while the window has room
(`Limits.reply_window_*`), so nothing is sent into a refusal and nothing is lost. Notices that waited while the
window was closed are announced by a digest (您有 N 条新通知) with a menu to read them when the resident next writes.

Buttons are `msgmenu` click items whose ids are our server-side tokens; a click comes back as a text carrying the
id (`menu_id`) and is a press. A resident who asks for a person (人工) is handed to the compound's staff through
kf/service_state/trans, and the bot stays silent until the session comes back to it."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from bot.core.i18n import N_, Translator
from bot.core.types import Capabilities, Delivery, Incoming, OutMessage
from bot.leader import Leadership, wait_event
from bot.settings import Settings
from bot.transports.base import Limits
from bot.transports.wechat.api import (
    SESSION_STATE,
    STATE_PERSON,
    WINDOW_CLOSED,
    KfClient,
    KfError,
)
from bot.transports.wechat.convert import (
    READ_NOTICES,
    TEXT_LIMIT,
    Body,
    Upload,
    fit,
    menu,
    render,
    to_incoming,
)
from bot.transports.wecom.crypto import CryptoError, WeComCrypto
from storage import wechat as store
from storage.db import transaction
from storage.wechat import BUDGET, PLATFORM, WINDOW

if TYPE_CHECKING:
    from bot.core.dispatcher import Core

log = logging.getLogger(__name__)

CONTACT_HINT = N_("(WeChat cannot share a phone number with a button: type your number, or choose Skip. A typed "
                  "number is checked by the secretary.)")
VOICE_HINT = N_("I cannot listen to voice messages here. Please type what you want to say.")
DIGEST = N_("You have {count} new notices.")
READ_LABEL = N_("Read them")
HANDING_OVER = N_("I am passing you to a staff member of your compound. Please write your question; they will "
                  "answer here.")
NOBODY_TO_HAND_OVER = N_("No staff member of your compound can take over the chat yet. Please write your question "
                         "to me, or send /complain to report a problem.")
# What a resident types to ask for a person.
HUMAN_WORDS = frozenset({"人工", "转人工", "人工客服", "人工服务", "找人工", "真人", "human", "staff"})

_FIELD = re.compile(r"<(\w+)>\s*(?:<!\[CDATA\[(.*?)\]\]>|([^<]*))\s*</\1>", re.S)


def xml_fields(xml: str) -> dict[str, str]:
    """The flat fields of a WeCom callback's XML (no entities, no nesting: nothing an XML parser is needed for)."""
    return {m.group(1): (m.group(2) if m.group(2) is not None else m.group(3) or "").strip()
            for m in _FIELD.finditer(xml)}


class WeChatTransport:
    platform = PLATFORM

    def __init__(self, settings: Settings, wall: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.caps = Capabilities(buttons=True, images=True, documents=True, deep_links=False, contact_sharing=False,
                                 pin=False, edit=False, text_limit=TEXT_LIMIT // 3)
        self.limits = Limits(reply_window_hours=WINDOW.total_seconds() / 3600, reply_window_messages=BUDGET)
        self.open_kfid = settings.wechat_kf_open_kfid
        corp_id = settings.wechat_kf_corp_id
        self.crypto = WeComCrypto(settings.wechat_kf_callback_token.get_secret_value(),
                                  settings.wechat_kf_callback_aes_key.get_secret_value(), receive_id=corp_id)
        self.api = KfClient(self.http, settings.wecom_api_base_url, corp_id,
                            settings.wechat_kf_secret.get_secret_value())
        self.window = float(settings.wecom_callback_window_seconds)
        self.wall = wall
        self.core: Core | None = None
        self._http: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Counters the benchmark reads.
        self.pulled = 0

    # ---- wiring -------------------------------------------------------------------------------------

    def attach(self, core: Core) -> None:
        self.core = core
        core.file_fetchers[PLATFORM] = self.api.media

    def add_routes(self, app: web.Application, path: str = "/wechat/callback") -> None:
        app.router.add_get(path, self.verify_url)
        app.router.add_post(path, self.receive)

    async def start(self, core: Core) -> None:
        self.attach(core)
        self._task = asyncio.create_task(self._lead(core))

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    async def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        return self._http

    # ---- the callback ---------------------------------------------------------------------------------

    def _in_window(self, timestamp: str) -> bool:
        try:
            return abs(self.wall() - int(timestamp)) <= self.window
        except ValueError:
            return False

    async def verify_url(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            self.crypto.verify(query.get("msg_signature", ""), query.get("timestamp", ""), query.get("nonce", ""),
                               query.get("echostr", ""))
            if not self._in_window(query.get("timestamp", "")):
                return web.Response(status=403, text="stale")
            return web.Response(text=self.crypto.decrypt(query.get("echostr", "")))
        except CryptoError as exc:
            log.warning("微信客服 URL check refused: %s", exc)
            return web.Response(status=403, text="forbidden")

    async def receive(self, request: web.Request) -> web.Response:
        """Verify, decrypt, keep the token for the pull and wake it; answer at once (the pull does the work)."""
        core = self.core
        if core is None:
            return web.Response(status=503, text="starting")
        query = request.query
        encrypted = xml_fields((await request.read()).decode("utf-8", "replace")).get("Encrypt", "")
        try:
            self.crypto.verify(query.get("msg_signature", ""), query.get("timestamp", ""), query.get("nonce", ""),
                               encrypted)
            if not self._in_window(query.get("timestamp", "")):
                return web.Response(status=403, text="stale")
            fields = xml_fields(self.crypto.decrypt(encrypted))
        except CryptoError as exc:
            log.warning("微信客服 callback refused: %s", exc)
            return web.Response(status=403, text="forbidden")
        if fields.get("Event") != "kf_msg_or_event":
            return web.Response(text="")
        open_kfid = fields.get("OpenKfId", "") or self.open_kfid
        if open_kfid != self.open_kfid:
            log.info("微信客服 callback for another account %s ignored", open_kfid)
            return web.Response(text="")
        async with transaction(core.sessions) as session:
            await store.note_token(session, open_kfid, fields.get("Token", ""), core.clock.now())
        self._wake.set()
        return web.Response(text="")

    # ---- the pull (one process at a time) -------------------------------------------------------------

    async def _lead(self, core: Core) -> None:
        while not self._stopping.is_set():
            leadership = Leadership(core.engine, f"wechat-kf-sync:{self.open_kfid}")
            if not await leadership.wait(self._stopping):
                return
            try:
                while not self._stopping.is_set() and await leadership.still_leading():
                    self._wake.clear()
                    try:
                        await self.pull()
                    except Exception:
                        log.exception("微信客服 pull failed")
                    # A callback that reached another process is seen here within a second.
                    await wait_event(self._wake, 1.0)
            finally:
                await leadership.release()

    async def pull(self) -> int:
        """Pull what a callback announced, page after page; returns the messages taken."""
        core = self.core
        assert core is not None
        async with core.sessions() as session:
            waiting = await store.waiting_pull(session, self.open_kfid, core.clock.now())
        if waiting is None:
            return 0
        cursor, token, _ = waiting
        taken = 0
        while True:
            result = await self.api.sync_msg(self.open_kfid, cursor, token)
            messages = list(result.get("msg_list") or [])
            await self._take_page(messages)
            taken += len(messages)
            cursor = str(result.get("next_cursor") or cursor)
            more = bool(result.get("has_more"))
            async with transaction(core.sessions) as session:
                await store.save_cursor(session, self.open_kfid, cursor, None if more else token)
            if not more:
                break
        self.pulled += taken
        return taken

    async def _take_page(self, messages: list[dict[str, Any]]) -> None:
        """One resident's messages in order; different residents' at the same time."""
        by_resident: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for message in messages:
            user = str(message.get("external_userid") or (message.get("event") or {}).get("external_userid", ""))
            by_resident[user].append(message)

        names = await self._nicknames(list(by_resident))

        async def one_resident(batch: list[dict[str, Any]]) -> None:
            for message in batch:
                try:
                    await self._take(message, names)
                except Exception:
                    log.exception("微信客服 message %s failed", message.get("msgid"))

        await asyncio.gather(*(one_resident(batch) for batch in by_resident.values()))

    async def _nicknames(self, users: list[str]) -> dict[str, str]:
        """The WeChat nicknames of the page's residents whose person has no name yet (one batchget a page at most):
        the core names a new person after it, so a secretary asked to approve them sees who it is."""
        core = self.core
        assert core is not None
        async with core.sessions() as session:
            wanted = await store.unnamed(session, PLATFORM, [user for user in users if user])
        if not wanted:
            return {}
        try:
            return await self.api.nicknames(wanted)
        except (KfError, aiohttp.ClientError) as exc:  # a name is a courtesy: the messages are handled anyway
            log.warning("微信客服 nicknames of %d residents not fetched: %s", len(wanted), exc)
            return {}

    async def _take(self, message: dict[str, Any], names: dict[str, str] | None = None) -> None:
        core = self.core
        assert core is not None
        names = names or {}
        msgid = str(message.get("msgid", ""))
        async with core.sessions() as session:
            if msgid and await store.handled(session, PLATFORM, msgid):
                return  # a page pulled again after a restart: handled (and answered) before
        if message.get("msgtype") == "event":
            await self._event(message, names)
            return
        incoming = to_incoming(message)
        if incoming is None:
            return
        if incoming.user_id in names:
            incoming = replace(incoming, user_name=names[incoming.user_id])
        chat = incoming.chat_id
        async with transaction(core.sessions) as session:
            inbound = await store.resident_wrote(session, PLATFORM, chat, self.open_kfid, core.clock.now())
        if inbound.handed_over and not await self._came_back(chat):
            return  # a person serves this resident: the bot stays silent
        t = await self._translator(chat)
        if incoming.button == READ_NOTICES:
            async with transaction(core.sessions) as session:
                await store.release(session, PLATFORM, chat)
            await self._claim_only(incoming)
            core.on_outbox()
            return
        if (incoming.text or "").strip().lower() in HUMAN_WORDS:
            await self._claim_only(incoming)
            await self._hand_over(chat, t)
            return
        bodies: list[Body | Upload] = []
        if inbound.backlog:
            bodies.append(self._digest(t, inbound.backlog))
        if incoming.other == "voice":
            bodies.append({"msgtype": "text", "text": {"content": t(VOICE_HINT)}})
            # Counted as the resident's message like any other, though no handler reads it.
            incoming = replace(incoming, other=None, text=None, command=None)
            await self._claim_only(incoming)
        else:
            for answer in await core.handle(incoming):
                bodies.extend(render(answer, t(CONTACT_HINT)))
        await self._reply(chat, bodies)
        core.on_outbox()  # the window is open again: notices that waited (and were not held) may go now

    async def _claim_only(self, incoming: Incoming) -> None:
        """A message the transport answers itself is still claimed, so a page pulled again skips it."""
        core = self.core
        assert core is not None
        from storage.conversations import claim_update

        async with transaction(core.sessions) as session:
            await claim_update(session, PLATFORM, incoming.update_id, core.clock.now())

    def _digest(self, t: Translator, count: int) -> Body:
        return menu([{"type": "click", "click": {"id": READ_NOTICES, "content": t(READ_LABEL)}}],
                    head=t(DIGEST, count=count))

    async def _translator(self, chat: str) -> Translator:
        core = self.core
        assert core is not None
        async with core.sessions() as session:
            person = await store.person_of(session, PLATFORM, chat)
        language = core.language_of(person) if person is not None else self.settings.default_language
        return core.catalogs.translator(language)

    # ---- events -----------------------------------------------------------------------------------------

    async def _event(self, message: dict[str, Any], names: dict[str, str]) -> None:
        core = self.core
        assert core is not None
        event = message.get("event") or {}
        kind = str(event.get("event_type", ""))
        user = str(event.get("external_userid") or message.get("external_userid") or "")
        msgid = str(message.get("msgid", ""))
        if kind == "enter_session" and user:
            await self._enter(msgid, user, str(event.get("scene_param", "")), str(event.get("welcome_code", "")),
                              names.get(user, ""))
        elif kind == "msg_send_fail" and user:
            fail_type = int(event.get("fail_type", 0))
            log.warning("微信客服 could not deliver %s to %s (fail_type %s)", event.get("fail_msgid"), user, fail_type)
            if fail_type in (4, 6):  # the 48 hours were over, or the 5 messages spent: it goes in the next window
                async with transaction(core.sessions) as session:
                    await store.close_window(session, PLATFORM, user)
                    await store.resend_failed(session, PLATFORM, user, str(event.get("fail_msgid", "")),
                                              core.clock.now())
        elif kind == "user_recall_msg":
            # What was recalled was handled already (a filed case stays filed); only the log remembers it.
            log.info("微信客服 resident %s recalled message %s", user, event.get("recall_msgid"))
        elif kind == "session_status_change" and user:
            change = int(event.get("change_type", 0))
            async with transaction(core.sessions) as session:
                if change == 3:  # the person ended the session: the bot answers again
                    await store.hand_back(session, PLATFORM, user)
                elif change in (1, 2) and event.get("new_servicer_userid"):
                    await store.hand_over(session, PLATFORM, user, str(event["new_servicer_userid"]))
        if msgid:
            await self._claim_only(Incoming(PLATFORM, msgid, user, "private", user))

    async def _enter(self, msgid: str, user: str, scene_param: str, welcome_code: str, name: str = "") -> None:
        """A resident opened the chat (from a link or QR code): a scene_param is the compound's invite code, which
        starts the join flow. The greeting goes with the welcome_code: one message, within 20 seconds."""
        core = self.core
        assert core is not None
        incoming = Incoming(PLATFORM, msgid, user, "private", user, name, text=f"/start {scene_param}".strip(),
                            command="start", args=scene_param[:128])
        answers = await core.handle(incoming)
        if not welcome_code:
            log.info("微信客服 enter_session of %s without a welcome_code: the greeting waits for a message", user)
            return
        t = await self._translator(user)
        bodies = fit([body for answer in answers for body in render(answer, t(CONTACT_HINT))], 1)
        if not bodies:
            return
        if len(bodies) > 1:
            log.warning("微信客服 welcome to %s did not fit one message: %d parts after the first dropped", user,
                        len(bodies) - 1)
        try:
            await self.api.send_on_event(welcome_code, await self._resolved(bodies[0]))
        except (KfError, aiohttp.ClientError) as exc:
            log.warning("微信客服 welcome to %s failed: %s", user, exc)

    # ---- hand-over to a person ----------------------------------------------------------------------

    async def _hand_over(self, chat: str, t: Translator) -> None:
        core = self.core
        assert core is not None
        async with core.sessions() as session:
            staff = await store.servicers(session, PLATFORM, chat, "wecom")
        if self.settings.wechat_kf_servicer:
            staff.append(self.settings.wechat_kf_servicer)
        if not staff:
            await self._reply(chat, [{"msgtype": "text", "text": {"content": t(NOBODY_TO_HAND_OVER)}}])
            return
        # Said first: once a person serves the session the bot may not write into it.
        await self._reply(chat, [{"msgtype": "text", "text": {"content": t(HANDING_OVER)}}])
        for servicer in staff:
            try:
                await self.api.transfer(self.open_kfid, chat, STATE_PERSON, servicer)
            except KfError as exc:  # not a servicer of this account, or not at work: the next one
                log.warning("微信客服 hand-over of %s to %s refused: %s", chat, servicer, exc)
                continue
            async with transaction(core.sessions) as session:
                await store.hand_over(session, PLATFORM, chat, servicer)
            return
        log.warning("微信客服 nobody could take over %s", chat)

    async def _came_back(self, chat: str) -> bool:
        """Whether a handed-over session is the bot's again (the person ended it and the resident wrote anew)."""
        core = self.core
        assert core is not None
        try:
            state, _ = await self.api.service_state(self.open_kfid, chat)
        except (KfError, aiohttp.ClientError):
            return False
        if state == STATE_PERSON:
            return False
        async with transaction(core.sessions) as session:
            await store.hand_back(session, PLATFORM, chat)
        return True

    # ---- sending ------------------------------------------------------------------------------------

    async def _resolved(self, body: Body | Upload) -> Body:
        if isinstance(body, Upload):
            media_id = await self.api.upload(body.kind, body.media.data, body.media.filename)
            return {"msgtype": body.kind, body.kind: {"media_id": media_id}}
        return body

    async def _send(self, chat: str, body: Body | Upload) -> str:
        return await self.api.send_msg(self.open_kfid, chat, await self._resolved(body))

    async def _reply(self, chat: str, bodies: list[Body | Upload]) -> None:
        """The answer to the resident's own message: it comes first in the fresh budget, merged to fit it."""
        core = self.core
        assert core is not None
        if not bodies:
            return
        bodies = fit(bodies, BUDGET)
        async with transaction(core.sessions) as session:
            allowed = await store.spend(session, PLATFORM, chat, len(bodies), core.clock.now())
        if allowed < len(bodies):
            log.warning("微信客服 reply to %s: %d of %d messages fit the budget", chat, allowed, len(bodies))
        for index, body in enumerate(bodies[:allowed]):
            try:
                await self._send(chat, body)
            except (KfError, aiohttp.ClientError) as exc:
                log.warning("微信客服 reply to %s failed: %s", chat, exc)
                async with transaction(core.sessions) as session:
                    await store.refund(session, PLATFORM, chat, allowed - index)
                return

    async def deliver(self, chat_id: str, chat_kind: str, message: OutMessage, first_part: int = 0) -> Delivery:
        """An outbox row: its parts from `first_part`, as many as the window has room for. A part that does not fit
        waits (the row is claimed again only when the window has room)."""
        core = self.core
        if core is None:
            return Delivery(False, retry_after=2.0, error="starting")
        t = await self._translator(chat_id)
        bodies = render(message, t(CONTACT_HINT))[first_part:]
        if not bodies:
            return Delivery(True)
        async with transaction(core.sessions) as session:
            allowed = await store.spend(session, PLATFORM, chat_id, len(bodies), core.clock.now())
        if not allowed:
            return Delivery(False, waiting=True, parts_sent=first_part, error="outside the resident's window")
        msgid = ""
        for index, body in enumerate(bodies[:allowed]):
            try:
                msgid = await self._send(chat_id, body)
            except (KfError, aiohttp.ClientError) as exc:
                async with transaction(core.sessions) as session:
                    await store.refund(session, PLATFORM, chat_id, allowed - index)
                    code = exc.code if isinstance(exc, KfError) else 0
                    if code in WINDOW_CLOSED:
                        await store.close_window(session, PLATFORM, chat_id)
                if isinstance(exc, KfError) and exc.code in (*WINDOW_CLOSED, SESSION_STATE):
                    return Delivery(False, waiting=True, parts_sent=first_part + index, error=str(exc))
                return Delivery(False, parts_sent=first_part + index, error=str(exc)[:400])
        if allowed < len(bodies):
            return Delivery(False, waiting=True, parts_sent=first_part + allowed,
                            error="the rest waits for the resident's next window")
        return Delivery(True, message_id=msgid or None)

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> Delivery:
        # A sent message cannot be changed here; a live posting keeps its first text.
        return Delivery(True, message_id=message_id)
