"""Telegram (python-telegram-bot 22): turns updates into `Incoming` and `OutMessage` into Bot API calls.
It converts and nothing else: what a message means is the core's business.

Intake is long polling, or our aiohttp server's `/telegram/webhook` route. Direct replies go out at once through
the application's bot, which has `AIORateLimiter(max_retries=3)` as a safety net; outbox deliveries use a second
bot without the limiter, so a 429 comes back to the outbox as `retry_after` and the outbox does the pacing (the
limiter would stall every chat while it sleeps).

The webhook answers in its HTTP response where it can (Bot API, "Making requests when getting updates"): an
update whose one reply is one Bot API call whose result the bot never needs — a text message in one part with
no file, no pin and no question whose message id the core must remember, or a tidy chat's edit of the very text
message that was pressed — goes back as `{"method": ..., ...}` in the response instead of a second request. It
waits for the limiter like any request. Telegram reports nothing about such a call: a failure (the person
blocked the bot a moment before) is lost, where a request would only have logged it. Everything else is sent
as requests, as with polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    CallbackQuery,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import AIORateLimiter, Application, ContextTypes, TypeHandler
from telegram.request import BaseRequest, RequestData

from bot.core.types import (
    Capabilities,
    ChatKind,
    Contact,
    Delivery,
    FileRef,
    Incoming,
    Location,
    OutButton,
    OutMessage,
    Photo,
)
from bot.transports.base import Limits, split_text
from bot.transports.console import parse_command

if TYPE_CHECKING:
    from bot.core.dispatcher import Core
    from bot.core.router import Route
    from bot.settings import Settings

log = logging.getLogger(__name__)

PLATFORM = "telegram"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
TOAST_LIMIT = 200
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
# (Telegram language code, our catalogue) pairs setMyCommands registers; the first is also the default list.
COMMAND_LANGUAGES = (("zh", "zh_CN"), ("en", "en"))
PRESENT = {ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER, ChatMember.RESTRICTED}
GONE = {ChatMember.LEFT, ChatMember.BANNED}
CONCURRENT_UPDATES = 16


class AiohttpRequest(BaseRequest):
    """python-telegram-bot's HTTP backend on aiohttp instead of httpx: the same Bot API calls at a fraction of the
    CPU (httpx cost about 1 ms a request here, aiohttp about 0.1 ms). Parameters go as a JSON body, files as
    multipart form data. Proxies from the environment (HTTPS_PROXY, ...) are honoured, as httpx did."""

    def __init__(self, connection_pool_size: int = 256, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, media_write_timeout: float | None = 20.0) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self._pool_size),
                                                  headers={"User-Agent": self.USER_AGENT}, trust_env=True)

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data is not None and request_data.contains_files
        read = self._read_timeout if read_timeout is BaseRequest.DEFAULT_NONE else read_timeout
        write = (self._media_write_timeout if files else self._write_timeout) \
            if write_timeout is BaseRequest.DEFAULT_NONE else write_timeout
        connect = self._connect_timeout if connect_timeout is BaseRequest.DEFAULT_NONE else connect_timeout
        pool = self._pool_timeout if pool_timeout is BaseRequest.DEFAULT_NONE else pool_timeout
        # aiohttp has no write timeout of its own: sending the body counts against the read timeout's wait.
        timeout = aiohttp.ClientTimeout(total=None, connect=(pool or 0) + (connect or 0) or None,
                                        sock_connect=connect, sock_read=_sum(read, write))
        body: Any = None
        headers: dict[str, str] | None = None
        if request_data is not None:
            if files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, part in request_data.multipart_data.items():
                    filename, content, *mime = part
                    form.add_field(name, content, filename=filename,
                                   content_type=mime[0] if mime else "application/octet-stream")
                body = form
            else:
                body = json.dumps(request_data.parameters).encode()
                headers = {"Content-Type": "application/json"}
        try:
            async with self._session.request(method, url, data=body, headers=headers, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


def _sum(*timeouts: float | None) -> float | None:
    return None if any(t is None for t in timeouts) else sum(t or 0.0 for t in timeouts)


class QuietWebhook(logging.Filter):
    """Drops the web server's access-log line of each webhook push Telegram got a 200 for: one line per message
    said nothing the update claims do not, and writing it cost as much CPU as reading the update. Refusals (401,
    503, 400) are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (getattr(record, "response_status", None) == 200 and WEBHOOK_PATH in str(record.msg))


QUIET_WEBHOOK = QuietWebhook()


def api_urls(base: str) -> tuple[str, str]:
    """`TELEGRAM_API_BASE_URL` → (base_url, base_file_url) as PTB wants them (it appends the token).

    Accepts the server's root (`http://127.0.0.1:8081`) or the PTB form (`http://127.0.0.1:8081/bot`)."""
    base = (base or "https://api.telegram.org").rstrip("/")
    if base.endswith("/bot"):
        base = base[: -len("/bot")]
    return f"{base}/bot", f"{base}/file/bot"


# ---- intake: Update → Incoming ----------------------------------------------------------------------------


def chat_kind(chat_type: str) -> ChatKind | None:
    if chat_type == "private":
        return "private"
    if chat_type in ("group", "supergroup"):
        return "group"
    return None  # Channels are not ours.


def to_incoming(update: Update, bot_username: str) -> Incoming | None:
    """The one conversion from a Telegram update; None for what the core never needs to see."""
    update_id = str(update.update_id)
    if update.callback_query is not None:
        query = update.callback_query
        message = query.message
        if message is None or query.data is None:
            return None
        kind = chat_kind(message.chat.type)
        if kind is None:
            return None
        return Incoming(
            platform=PLATFORM, update_id=update_id, chat_id=str(message.chat.id), chat_kind=kind,
            user_id=str(query.from_user.id), user_name=query.from_user.full_name,
            chat_title=message.chat.title or "", language=query.from_user.language_code,
            button=query.data, message_id=str(message.message_id), raw=update,
        )
    if update.my_chat_member is not None:
        change = update.my_chat_member
        kind = chat_kind(change.chat.type)
        if kind != "group":
            return None
        before, after = change.old_chat_member.status, change.new_chat_member.status
        if after in PRESENT and before in GONE:
            event = "bot_added"
        elif after in GONE and before not in GONE:
            event = "bot_removed"
        else:
            return None
        return Incoming(
            platform=PLATFORM, update_id=update_id, chat_id=str(change.chat.id), chat_kind="group",
            user_id=str(change.from_user.id), user_name=change.from_user.full_name,
            chat_title=change.chat.title or "", language=change.from_user.language_code, event=event, raw=update,
        )
    message = update.message
    if message is None or message.from_user is None:
        return None  # Edited messages, channel posts, messages sent on behalf of a chat.
    kind = chat_kind(message.chat.type)
    if kind is None:
        return None
    user = message.from_user
    base: dict[str, Any] = {
        "platform": PLATFORM, "update_id": update_id, "chat_id": str(message.chat.id), "chat_kind": kind,
        "user_id": str(user.id), "user_name": user.full_name, "chat_title": message.chat.title or "",
        "language": user.language_code, "raw": update,
    }
    if message.migrate_to_chat_id is not None:
        return Incoming(**base, event="migrated", args=str(message.migrate_to_chat_id))
    if message.text is not None:
        text = message.text
        if text.startswith("/"):
            command, args = parse_command(text, bot_username)
            if command is None:
                return None  # `/cmd@otherbot`: addressed to someone else.
            return Incoming(**base, text=text, command=command, args=args)
        # In a group, plain text reaches the core too: a reply to the bot, or the next answer of that
        # person's open conversation; the core stays quiet about everything else.
        return Incoming(**base, text=text)
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        return Incoming(**base, photo=Photo(largest.file_id, PLATFORM), text=message.caption)
    if message.document is not None:
        document = message.document
        return Incoming(**base, document=FileRef(document.file_id, PLATFORM, document.file_name or "",
                                                 document.mime_type or "", document.file_size),
                        text=message.caption)
    if message.location is not None:  # a venue is a location with a name
        venue = message.venue
        label = " ".join(part for part in (venue.title, venue.address) if part) if venue is not None else ""
        return Incoming(**base, location=Location(message.location.latitude, message.location.longitude, label))
    if message.contact is not None:
        owner = message.contact.user_id
        # A contact picked from the address book has another user id, or none: the core refuses both.
        return Incoming(**base, contact=Contact(message.contact.phone_number, str(owner) if owner else ""))
    if message.new_chat_members or message.left_chat_member or message.group_chat_created \
            or message.migrate_from_chat_id or message.pinned_message:
        return None  # Service messages; my_chat_member covers what concerns us.
    other = next((name for name in ("sticker", "voice", "video", "audio", "location", "animation",
                                    "video_note", "poll") if getattr(message, name, None)), "other")
    return Incoming(**base, other=other)


# The keys a text message's update may carry for `text_incoming` to read it (anything else: `to_incoming`).
TEXT_UPDATE_KEYS = frozenset({"update_id", "message"})


def text_incoming(data: Any, bot_username: str) -> Incoming | None:
    """A text message's update as `to_incoming` reads it, straight from the Bot API's JSON: building
    python-telegram-bot's Update and Message objects cost more CPU than the rest of the webhook's work. None for
    any other update (and any text `to_incoming` would drop), which then goes the full way."""
    if not isinstance(data, dict) or not TEXT_UPDATE_KEYS.issuperset(data) or not isinstance(data["message"], dict):
        return None
    message = data["message"]
    text, user, chat = message.get("text"), message.get("from"), message.get("chat")
    if not (isinstance(text, str) and isinstance(user, dict) and isinstance(chat, dict)) \
            or "migrate_to_chat_id" in message:
        return None
    kind = chat_kind(str(chat.get("type")))
    first, last = user.get("first_name"), user.get("last_name")
    if kind is None or not isinstance(first, str) or not isinstance(data.get("update_id"), int) \
            or not isinstance(user.get("id"), int) or not isinstance(chat.get("id"), int):
        return None
    command, args = None, ""
    if text.startswith("/"):
        command, args = parse_command(text, bot_username)
        if command is None:
            return None
    return Incoming(
        platform=PLATFORM, update_id=str(data["update_id"]), chat_id=str(chat["id"]), chat_kind=kind,
        user_id=str(user["id"]), user_name=f"{first} {last}" if last else first, chat_title=chat.get("title") or "",
        language=user.get("language_code"), text=text, command=command, args=args, raw=data,
    )


# ---- output: OutMessage → Bot API calls -------------------------------------------------------------------


def webhook_answer(chat_id: str, message: OutMessage, bot_username: str, query: CallbackQuery | None = None,
                   remove_keyboard: bool = False) -> dict[str, Any] | None:
    """`message` as the one Bot API call a webhook's response may carry (`{"method": ..., parameters}`), or None
    when it cannot: a file (the response cannot upload one), more than one call (a long text, text and a
    phone-number keyboard, a pin), or a call whose result the bot needs (the id of a flow's question, which the
    core remembers; an edit that may fail and then be sent anew). A tidy chat's edit rides on the response only
    for the text message that was pressed: that one is there to edit."""
    if message.image is not None or message.document is not None or message.pin:
        return None
    inline = inline_keyboard(message.buttons, bot_username)
    if message.replaces:
        pressed = query.message if query is not None else None
        if not (isinstance(pressed, Message) and pressed.text and str(pressed.message_id) == message.replaces):
            return None
        edit: dict[str, Any] = {"method": "editMessageText", "chat_id": chat_id, "message_id": int(message.replaces),
                                "text": escape(message.text[:TEXT_LIMIT]), "parse_mode": ParseMode.HTML.value}
        if inline is not None:
            edit["reply_markup"] = inline.to_dict()
        return edit
    if message.asks or not message.text.strip() or len(message.text) > TEXT_LIMIT:
        return None
    contact = contact_keyboard(message.buttons)
    if inline is not None and contact is not None:
        return None
    markup: Any = inline or contact or (ReplyKeyboardRemove() if remove_keyboard else None)
    send: dict[str, Any] = {"method": "sendMessage", "chat_id": chat_id, "text": escape(message.text),
                            "parse_mode": ParseMode.HTML.value}
    if markup is not None:
        send["reply_markup"] = markup.to_dict()
    return send



def deep_link(bot_username: str, payload: str) -> str:
    return f"https://t.me/{bot_username}?start={payload}"


def inline_keyboard(buttons: Sequence[Sequence[OutButton]], bot_username: str) -> InlineKeyboardMarkup | None:
    rows: list[list[InlineKeyboardButton]] = []
    for row in buttons:
        out: list[InlineKeyboardButton] = []
        for button in row:
            if button.kind == "callback":
                if len(button.data.encode()) > 64:
                    raise ValueError("callback data is longer than Telegram's 64 bytes")
                out.append(InlineKeyboardButton(button.label, callback_data=button.data))
            elif button.kind == "deeplink":
                out.append(InlineKeyboardButton(button.label, url=deep_link(bot_username, button.data)))
            elif button.kind == "url":
                out.append(InlineKeyboardButton(button.label, url=button.data))
        if out:
            rows.append(out)
    return InlineKeyboardMarkup(rows) if rows else None


def contact_keyboard(buttons: Sequence[Sequence[OutButton]]) -> ReplyKeyboardMarkup | None:
    labels = [b.label for row in buttons for b in row if b.kind == "contact"]
    if not labels:
        return None
    return ReplyKeyboardMarkup([[KeyboardButton(labels[0], request_contact=True)]], one_time_keyboard=True,
                               resize_keyboard=True)


def escape(text: str) -> str:
    """Our texts are plain (and contain what residents typed): nothing in them may become markup."""
    return html.escape(text, quote=False)


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def delivery_for(exc: Exception, editing: bool = False) -> Delivery:
    """A Bot API failure as the outbox understands it: wait, give up for good, or retry later."""
    if isinstance(exc, RetryAfter):
        return Delivery(False, retry_after=max(_seconds(exc._retry_after), 0.1), error=str(exc))
    if isinstance(exc, ChatMigrated):
        # Not transient and not final: the group is a supergroup now; the outbox moves the chat and sends again.
        return Delivery(False, moved_to=str(exc.new_chat_id), error=str(exc))
    if isinstance(exc, Forbidden):
        return Delivery(False, permanent=True, error=str(exc))
    if isinstance(exc, BadRequest):
        text = exc.message.lower()
        if "chat not found" in text or (editing and "message to edit not found" in text):
            return Delivery(False, permanent=True, error=str(exc))
        return Delivery(False, error=f"BadRequest: {exc}")  # Retried a few times, then given up (logged).
    return Delivery(False, error=f"{type(exc).__name__}: {exc}")  # NetworkError, TimedOut, 5xx.


class TelegramTransport:
    platform = PLATFORM
    caps = Capabilities(text_limit=TEXT_LIMIT)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = Limits(
            global_per_second=settings.telegram_global_per_second,
            group_per_minute=float(settings.telegram_group_per_minute),
            private_per_second=settings.telegram_private_per_second,
        )
        # httpx logs every Bot API request at INFO (each long poll too): noise in the log, and CPU.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").getEffectiveLevel()))
        self.webhook = bool(settings.telegram_webhook_url)
        if self.webhook and not settings.telegram_webhook_secret.get_secret_value():
            raise SystemExit("TELEGRAM_WEBHOOK_URL needs TELEGRAM_WEBHOOK_SECRET (any long random string).")
        if self.webhook and QUIET_WEBHOOK not in logging.getLogger("aiohttp.access").filters:
            logging.getLogger("aiohttp.access").addFilter(QUIET_WEBHOOK)
        base_url, file_url = api_urls(settings.telegram_api_base_url)
        limiter = AIORateLimiter(
            overall_max_rate=settings.telegram_global_per_second,
            group_max_rate=settings.telegram_group_per_minute,
            group_time_period=60,
            max_retries=3,
        )
        builder = (
            Application.builder()
            .token(settings.telegram_bot_token.get_secret_value())
            .base_url(base_url)
            .base_file_url(file_url)
            .request(AiohttpRequest())
            .get_updates_request(AiohttpRequest(connection_pool_size=1))
            .rate_limiter(limiter)
            # Updates of different chats overlap (one chat's database work with another's sending);
            # a lock per chat keeps each chat's messages in order.
            .concurrent_updates(CONCURRENT_UPDATES)
            .job_queue(None)  # Our own scheduler runs the jobs.
        )
        if self.webhook:
            builder = builder.updater(None)
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        # The outbox's bot: no limiter, so 429s come back to the outbox.
        token = settings.telegram_bot_token.get_secret_value()
        self.sender = Bot(token, base_url=base_url, base_file_url=file_url,
                          request=AiohttpRequest(connection_pool_size=32))
        self.username = ""
        self.bot_id: int | None = None
        self.core: Core | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._stop_polling = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._menus: asyncio.Task[None] | None = None
        # Per chat: its lock and how many updates hold or wait for it (the entry goes when none do).
        self._chat_locks: dict[str, tuple[asyncio.Lock, int]] = {}

    # ---- life cycle -------------------------------------------------------------------------------------

    async def start(self, core: Core) -> None:
        self.core = core
        core.file_fetchers[PLATFORM] = self.fetch_file
        await self.application.initialize()
        await self.sender.initialize()
        me = self.application.bot
        self.username, self.bot_id = me.username, me.id
        core.bot_usernames[PLATFORM] = self.username
        try:
            await self.register_commands(core)
        except TelegramError:
            log.exception("setMyCommands failed; the command menus stay as they were")
        # Staff's own menus: for everyone at start (every process may: it is idempotent), then for whoever's
        # roles a commit changed.
        core.on_roles_changed.append(self.set_chat_menus)
        self._menus = asyncio.create_task(self._all_chat_menus())
        if self.webhook:
            await self.application.bot.set_webhook(
                self.settings.telegram_webhook_url,
                secret_token=self.settings.telegram_webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
            )
            log.info("Telegram @%s: webhook %s", self.username, self.settings.telegram_webhook_url)
        await self.application.start()
        if not self.webhook:
            self._poller = asyncio.create_task(self._lead_polling(core))

    async def _lead_polling(self, core: Core) -> None:
        """Telegram allows one long poll per bot (a second gets 409 Conflict): of several processes
        (`linli run --workers`) only the one holding the leader lock polls, and another takes over when it
        dies. Every process still sends."""
        from bot.leader import Leadership, wait_event

        updater = self.application.updater
        assert updater is not None
        while not self._stop_polling.is_set():
            leadership = Leadership(core.engine, f"telegram-long-polling-{self.bot_id}")
            if not await leadership.wait(self._stop_polling):
                return
            try:
                await updater.start_polling(allowed_updates=ALLOWED_UPDATES, timeout=10)
                log.info("Telegram @%s: long polling", self.username)
                while not self._stop_polling.is_set() and await leadership.still_leading():
                    await wait_event(self._stop_polling, 5.0)
            except Exception:
                log.exception("long polling failed; asking for leadership again")
            finally:
                if updater.running:
                    await updater.stop()
                with contextlib.suppress(Exception):  # a broken connection has released the lock already
                    await leadership.release()

    async def stop(self) -> None:
        """Stop taking updates, let the ones in progress finish (the updater confirms the polling offset)."""
        self._stopping = True
        self._stop_polling.set()
        if self._menus is not None and not self._menus.done():
            self._menus.cancel()
            await asyncio.gather(self._menus, return_exceptions=True)
        if self._poller is not None:
            await asyncio.gather(self._poller, return_exceptions=True)
        if self.application.running:
            await self.application.stop()
        await self._idle.wait()
        await self.application.shutdown()
        await self.sender.shutdown()

    async def register_commands(self, core: Core) -> None:
        """Command menus per language and scope: everyone's commands in private chats and groups, and the
        role-restricted ones too for group administrators (roles are still checked on every use)."""
        routes = sorted((r for r in core.routes.commands.values() if r.help), key=lambda r: (r.order, r.name))
        everyone = [r for r in routes if r.roles is None]
        scopes: list[tuple[Any, list[Route]]] = [
            (BotCommandScopeAllPrivateChats(), everyone),
            (BotCommandScopeAllGroupChats(), everyone),
            (BotCommandScopeAllChatAdministrators(), routes),
        ]
        for index, (code, language) in enumerate(COMMAND_LANGUAGES):
            t = core.catalogs.translator(language)
            for scope, chosen in scopes:
                # Telegram's commands are one word: "/export cases" and "/export points" are one /export.
                heads = {r.name.partition(" ")[0]: r for r in reversed(chosen)}
                commands = [BotCommand(name, t(r.help or r.name)[:256]) for name, r in reversed(heads.items())][:100]
                await self.application.bot.set_my_commands(commands, scope=scope, language_code=code)
                if index == 0:  # The lists for every other language: the default one.
                    await self.application.bot.set_my_commands(commands, scope=scope)

    async def set_chat_menus(self, people: frozenset[int] | None) -> None:
        """Each staff member's private chat lists their own commands (setMyCommands with a chat scope, which comes
        before the private chats' lists); a chat whose person holds no staff role any more is reset to those
        (deleteMyCommands). `people`: whose roles changed, None for everyone who is or was staff."""
        if self.core is None:
            return
        for menu in await self.core.command_menus(PLATFORM, people):
            scope = BotCommandScopeChat(int(menu.chat_id)) if menu.chat_id.lstrip("-").isdigit() else None
            if scope is None:
                continue
            try:
                if menu.commands:
                    await self.sender.set_my_commands([BotCommand(name, text) for name, text in menu.commands],
                                                      scope=scope)
                else:
                    await self.sender.delete_my_commands(scope=scope)
            except TelegramError as error:  # a chat the bot cannot reach keeps the default list
                log.warning("setting the commands of chat %s failed: %s", menu.chat_id, error)

    async def _all_chat_menus(self) -> None:
        try:
            await self.set_chat_menus(None)
        except Exception:
            log.exception("setting the staff's command menus failed; they are set again at the next start")

    # ---- webhook ----------------------------------------------------------------------------------------

    def add_routes(self, web_app: web.Application) -> None:
        if self.webhook:
            web_app.router.add_post(WEBHOOK_PATH, self.handle_webhook)

    async def handle_webhook(self, request: web.Request) -> web.Response:
        if self._stopping or not self.application.running:
            # Starting or stopping: Telegram delivers it again a moment later.
            return web.Response(status=503, text="not ready")
        given = request.headers.get(SECRET_HEADER, "")
        expected = self.settings.telegram_webhook_secret.get_secret_value()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return web.Response(status=401, text="wrong secret token")
        try:
            data = await request.json()
            # Text, most of what arrives, is read straight from the JSON; the rest through python-telegram-bot.
            update: Update | Incoming | None = text_incoming(data, self.username)
            if update is None:
                update = Update.de_json(data, self.application.bot)
        except Exception:
            log.warning("unreadable webhook body")
            return web.Response(status=400, text="bad update")
        # Processed before answering: Telegram re-sends what was not acknowledged, the core drops repeats (and
        # gives a repeat the same answer, so a reply lost with a response that never arrived comes again).
        answer: dict[str, Any] | None = None
        try:
            answer = await self._take(update, answering=True)
        except Exception:
            log.exception("Telegram update %s failed", update.update_id)
        return web.json_response(answer if answer is not None else {"ok": True})

    # ---- intake -----------------------------------------------------------------------------------------

    async def _on_update(self, update: object, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert isinstance(update, Update)
        await self._take(update)

    async def _take(self, update: Update | Incoming, answering: bool = False) -> dict[str, Any] | None:
        """One update (or a text message read straight from the webhook's JSON), in order within its chat.
        `answering`: the webhook's, which may carry the reply back."""
        assert self.core is not None
        self._in_flight += 1
        self._idle.clear()
        if isinstance(update, Incoming):
            key = update.chat_id
        else:
            chat = update.effective_chat
            key = str(chat.id) if chat is not None else ""
        lock, users = self._chat_locks.get(key, (asyncio.Lock(), 0))
        self._chat_locks[key] = (lock, users + 1)
        try:
            async with lock:
                return await self._process(update, answering)
        finally:
            lock, users = self._chat_locks[key]
            if users <= 1:
                del self._chat_locks[key]
            else:
                self._chat_locks[key] = (lock, users - 1)
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _process(self, update: Update | Incoming, answering: bool = False) -> dict[str, Any] | None:
        """Hands the update to the core and sends its replies; with `answering`, returns the one reply that can
        ride on the webhook's response instead (`webhook_answer`), after anything that must go before it."""
        assert self.core is not None
        if isinstance(update, Incoming):
            incoming: Incoming | None = update
            query = None
        else:
            incoming = to_incoming(update, self.username)
            query = update.callback_query
        if incoming is None:
            if query is not None:
                await self._answer(query.id, "")
            return None
        messages = await self.core.handle(incoming)
        if query is not None:
            # Always answered, refused or not, so the button stops spinning.
            await self._answer(query.id, next((m.toast for m in messages if m.toast), "") or "")
        remove_keyboard = incoming.contact is not None
        if answering and len(messages) == 1:
            answer = webhook_answer(incoming.chat_id, messages[0], self.username, query, remove_keyboard)
            if answer is not None:
                if messages[0].spent:
                    await self._retire(incoming.chat_id, messages[0].spent, query)
                await self._paced(answer)
                return answer
        for message in messages:
            if message.spent:
                await self._retire(incoming.chat_id, message.spent, query)
            result: Delivery | None = None
            if message.replaces:  # tidy chats: in place where it can be (else sent anew below)
                result = await self._edit(self.application.bot, incoming.chat_id, message.replaces, message)
            if result is None or not result.ok:
                result = await self._send(self.application.bot, incoming.chat_id, message, remove_keyboard,
                                          direct=True)
            if not result.ok:
                log.warning("direct reply to %s failed: %s", incoming.chat_id, result.error)
            elif message.asks and result.message_id and result.message_id != message.replaces:
                await self.core.remember_step(message.asks, result.message_id)
            remove_keyboard = False
        return None

    async def _paced(self, answer: dict[str, Any]) -> None:
        """A webhook answer waits for the application bot's limiter as its request would have."""
        limiter = self.application.bot.rate_limiter
        if limiter is None:
            return

        async def nothing() -> bool:
            return True

        await limiter.process_request(nothing, (), {}, answer["method"], {"chat_id": answer["chat_id"]}, None)

    async def _retire(self, chat_id: str, message_ids: Sequence[str], query: CallbackQuery | None) -> None:
        """Tidy chats: an answered step's message loses its buttons; the pressed one also shows the answer."""
        for message_id in message_ids:
            shown = query.message if query is not None and isinstance(query.message, Message) else None
            pressed = shown if shown is not None and str(shown.message_id) == message_id else None
            label = _label_of(pressed, query.data if query is not None else None)
            try:
                if pressed is not None and pressed.text and label:
                    await self.application.bot.edit_message_text(
                        escape(f"{pressed.text}\n\n✓ {label}"[:TEXT_LIMIT]), chat_id=chat_id,
                        message_id=int(message_id), parse_mode=ParseMode.HTML, reply_markup=None)
                else:
                    await self.application.bot.edit_message_reply_markup(chat_id=chat_id, message_id=int(message_id),
                                                                          reply_markup=None)
            except (TelegramError, ValueError) as exc:  # gone, too old, or no buttons left: nothing to tidy
                log.info("could not retire the buttons of message %s in %s: %s", message_id, chat_id, exc)

    async def _answer(self, query_id: str, toast: str) -> None:
        try:
            await self.application.bot.answer_callback_query(query_id, text=toast[:TOAST_LIMIT] or None)
        except TelegramError as exc:  # Too late or already answered: nothing to do.
            log.info("answerCallbackQuery failed: %s", exc)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("Telegram update %s failed", getattr(update, "update_id", "?"), exc_info=context.error)

    async def fetch_file(self, file_id: str) -> bytes:
        """A photo's or document's bytes, fetched only when a handler asks (getFile, then the download; the
        Bot API lets bots download files up to 20 MB)."""
        file = await self.sender.get_file(file_id)
        return bytes(await file.download_as_bytearray())

    # ---- output -----------------------------------------------------------------------------------------

    async def deliver(self, chat_id: str, chat_kind: str, message: OutMessage, first_part: int = 0) -> Delivery:
        return await self._send(self.sender, chat_id, message, first_part=first_part)

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> Delivery:
        return await self._edit(self.sender, chat_id, message_id, message)

    async def _edit(self, bot: Bot, chat_id: str, message_id: str, message: OutMessage) -> Delivery:
        markup = inline_keyboard(message.buttons, self.username)
        text = escape(message.text[:TEXT_LIMIT])
        try:
            try:
                await bot.edit_message_text(text, chat_id=chat_id, message_id=int(message_id),
                                                    parse_mode=ParseMode.HTML, reply_markup=markup)
            except BadRequest as exc:
                if "no text in the message" not in exc.message.lower():
                    raise
                # A photo or document posting: its text is the caption.
                await bot.edit_message_caption(chat_id=chat_id, message_id=int(message_id),
                                                       caption=escape(message.text[:CAPTION_LIMIT]),
                                                       parse_mode=ParseMode.HTML, reply_markup=markup)
        except BadRequest as exc:
            if "message is not modified" in exc.message.lower():
                return Delivery(True, message_id)
            return delivery_for(exc, editing=True)
        except TelegramError as exc:
            return delivery_for(exc, editing=True)
        return Delivery(True, message_id)

    async def _send(self, bot: Bot, chat_id: str, message: OutMessage, remove_keyboard: bool = False,
                    direct: bool = False, first_part: int = 0) -> Delivery:
        """One OutMessage in parts: media first (caption if it fits), then the text in pieces, buttons on the
        last one. Parts before `first_part` went out in an earlier attempt; a failure halfway reports how many
        are out, so the outbox's retry neither repeats nor loses one."""
        inline = inline_keyboard(message.buttons, self.username)
        contact = contact_keyboard(message.buttons)
        media = message.image or message.document
        caption_fits = media is not None and len(message.text) <= CAPTION_LIMIT
        texts = [] if caption_fits else split_text(message.text, TEXT_LIMIT) if message.text.strip() else []
        if contact is not None and inline is None and texts:
            # The share-contact keyboard rides on the text itself.
            first_markup: Any = contact
            contact = None
        else:
            first_markup = ReplyKeyboardRemove() if remove_keyboard and inline is None else None
        # Each part: the call that sends it, and whether it carries the posting's buttons (edits change those).
        parts: list[tuple[Callable[[], Awaitable[Message]], bool]] = []
        if media is not None:
            markup = inline if caption_fits and not texts else None
            payload = InputFile(media.data, filename=media.filename)
            caption = escape(message.text) if caption_fits else None
            send_media = bot.send_photo if message.image is not None else bot.send_document
            parts.append((partial(send_media, chat_id, payload, caption=caption, parse_mode=ParseMode.HTML,
                                  reply_markup=markup), markup is not None))
        for index, text in enumerate(texts):
            markup = inline if index == len(texts) - 1 else None
            if index == 0 and first_markup is not None and markup is None:
                markup = first_markup
            parts.append((partial(bot.send_message, chat_id, escape(text), parse_mode=ParseMode.HTML,
                                  reply_markup=markup, link_preview_options=None),
                           markup is inline and inline is not None))
        if contact is not None:
            # With other buttons on the text, the phone-number keyboard follows in its own message.
            label = next(b.label for row in message.buttons for b in row if b.kind == "contact")
            parts.append((partial(bot.send_message, chat_id, escape(label), reply_markup=contact), False))
        sent: list[Message] = []
        with_buttons: Message | None = None
        try:
            for call, carries_buttons in parts[first_part:]:
                sent.append(await _with_retries(call, 3 if direct else 1))
                with_buttons = sent[-1] if carries_buttons else with_buttons
        except TelegramError as exc:
            if sent or first_part:
                log.warning("message to %s out in part (%d of %d): %s", chat_id, first_part + len(sent), len(parts),
                            exc)
            return replace(delivery_for(exc), parts_sent=first_part + len(sent))
        if not sent:
            return Delivery(True, None)
        if message.pin and not first_part:  # on a resumed message the first part's id is not known here
            try:
                await bot.pin_chat_message(chat_id, sent[0].message_id, disable_notification=False)
            except TelegramError as exc:  # Usually missing admin rights; the message itself is out.
                log.warning("could not pin in %s: %s", chat_id, exc)
        # The posting's id is the message that carries its buttons, since edits change those.
        return Delivery(True, str((with_buttons or sent[-1]).message_id))


def _label_of(message: Message | None, data: str | None) -> str:
    """The label of the button carrying `data` on `message` ("" when there is none)."""
    markup = message.reply_markup if message is not None else None
    if markup is None or data is None:
        return ""
    return next((b.text for row in markup.inline_keyboard for b in row if b.callback_data == data), "")


async def _with_retries(call: Any, attempts: int) -> Message:
    """Direct replies have no outbox behind them: retry network errors and 5xx briefly."""
    for attempt in range(attempts):
        try:
            result: Message = await call()
            return result
        except (BadRequest, Forbidden, RetryAfter):
            raise
        except NetworkError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.3 * 2**attempt)
    raise AssertionError("unreachable")
