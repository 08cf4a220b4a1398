"""The console: a terminal chat with several simulated people and group chats. It is the embedded default,
the way demos are given and the way tests drive the bot, through the same core and outbox as every platform.

Lines (documented in the README; keep the output format stable, people paste it into bug reports):
  text or /command args      a message from the current person in the current chat
  :as NAME                   speak as NAME (a new platform user the first time)
  :in private | :in group N  choose the chat
  :press N | :press LABEL    press a button of the last bot message shown to this person in this chat
  :photo [caption]           send a photo (a small built-in image)
  :document NAME [caption]   send a file named NAME (a small built-in spreadsheet, PDF or text by its ending)
  :contact PHONE             share a phone number as a contact
  :location LAT LON [label]  share a location (a map pin)
  :clock +2h | :clock 2026-12-01 09:00   move the clock and run whatever has become due
  :lang en                   the platform language of the current person
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TextIO
from zoneinfo import ZoneInfo

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
from bot.transports.base import Limits

if TYPE_CHECKING:
    from bot.app import App

PLATFORM = "console"
# A 1×1 PNG, the "photo" every `:photo` sends.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8ffff3f0005fe02fea7d605"
    "9d0000000049454e44ae426082"
)

# What `:document NAME` sends, by the name's ending: the first bytes of such a file (enough for a type check).
SAMPLE_FILES = {
    ".xlsx": (b"PK\x03\x04" + b"\x00" * 60, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ".pdf": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"\x00" * 40, "application/pdf"),
}
OTHER_FILE = (b"just some text\n", "application/octet-stream")


def private_chat_id(name: str) -> str:
    return f"p:{name}"


def group_chat_id(name: str) -> str:
    return f"g:{name}"


@dataclass(frozen=True, slots=True)
class Shown:
    """One bot message as the console shows it."""

    chat_id: str
    to: str  # a person's name, or "group"
    text: str
    buttons: tuple[tuple[OutButton, ...], ...] = ()
    message_id: str = ""
    edited: bool = False
    has_image: bool = False
    has_document: bool = False
    toast: str | None = None

    @property
    def chat_name(self) -> str:
        kind, _, name = self.chat_id.partition(":")
        return f"{'private' if kind == 'p' else 'group'}:{name}"

    @property
    def labels(self) -> list[str]:
        return [b.label for row in self.buttons for b in row]

    def render(self) -> str:
        head = f"[{self.chat_name}] bot → {self.to}{' (edited)' if self.edited else ''}: "
        lines = [head + self.text]
        if self.has_image:
            lines.append("  (image)")
        if self.has_document:
            lines.append("  (document)")
        if self.buttons:
            numbered = [f"[{i}] {label}" for i, label in enumerate(self.labels, 1)]
            lines.append("  " + "  ".join(numbered))
        return "\n".join(lines)


class ConsoleTransport:
    platform = PLATFORM
    caps = Capabilities(text_limit=4096)
    limits = Limits()  # A terminal has no flood control.

    def __init__(self) -> None:
        self.shown: list[Shown] = []
        self.documents: list[tuple[str, bytes]] = []
        self._ids = itertools.count(1)
        self.listener: Callable[[Shown], None] | None = None
        # Chats that refuse messages, to exercise the outbox's failure paths.
        self.refusing: dict[str, Delivery] = {}

    def record(self, chat_id: str, message: OutMessage, edited: bool = False, message_id: str | None = None) -> Shown:
        kind, _, name = chat_id.partition(":")
        shown = Shown(
            chat_id=chat_id,
            to=name if kind == "p" else "group",
            text=message.text,
            buttons=message.buttons,
            message_id=message_id or str(next(self._ids)),
            edited=edited,
            has_image=message.image is not None,
            has_document=message.document is not None,
            toast=message.toast,
        )
        if message.document is not None:
            self.documents.append((message.document.filename, message.document.data))
        self.shown.append(shown)
        if self.listener is not None:
            self.listener(shown)
        return shown

    async def deliver(self, chat_id: str, chat_kind: str, message: OutMessage, first_part: int = 0) -> Delivery:
        # The console shows a message whole: it is never out only in part, so `first_part` is always 0.
        refusal = self.refusing.get(chat_id)
        if refusal is not None:
            return refusal
        return Delivery(True, self.record(chat_id, message).message_id)

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> Delivery:
        self.record(chat_id, message, edited=True, message_id=message_id)
        return Delivery(True, message_id)


@dataclass
class Console:
    """Drives the bot as people do: one line at a time, through the core, then the outbox."""

    app: App
    person: str = "张三"
    chat: str = "private"  # "private" or a group's name
    languages: dict[str, str | None] = field(default_factory=dict)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def transport(self) -> ConsoleTransport:
        transport = self.app.transports[PLATFORM]
        assert isinstance(transport, ConsoleTransport)
        return transport

    @property
    def chat_id(self) -> str:
        return private_chat_id(self.person) if self.chat == "private" else group_chat_id(self.chat)

    @property
    def clock(self) -> object:
        return self.app.core.clock

    # ---- what a test reads ----------------------------------------------------------------------------

    def seen_by(self, person: str | None = None, chat: str | None = None) -> list[Shown]:
        """Messages in a chat: `chat` is "private" (the person's private chat) or a group's name."""
        person = person or self.person
        chat = chat or self.chat
        chat_id = private_chat_id(person) if chat == "private" else group_chat_id(chat)
        return [s for s in self.transport.shown if s.chat_id == chat_id]

    @property
    def last(self) -> Shown:
        shown = self.seen_by()
        if not shown:
            raise AssertionError(f"nothing shown to {self.person} in {self.chat}")
        return shown[-1]

    def last_for(self, person: str, chat: str = "private") -> Shown:
        shown = self.seen_by(person, chat)
        if not shown:
            raise AssertionError(f"nothing shown to {person} in {chat}")
        return shown[-1]

    # ---- what a person does -------------------------------------------------------------------------

    async def line(self, line: str) -> list[Shown]:
        before = len(self.transport.shown)
        stripped = line.strip()
        # A script's comment; but #12 is a member's number, which the bot asks people to type.
        if not stripped or (stripped.startswith("#") and not stripped[1:2].isdigit()):
            return []
        if stripped.startswith(":"):
            await self._meta(stripped)
        else:
            await self.say(stripped)
        return self.transport.shown[before:]

    async def lines(self, script: str) -> list[Shown]:
        shown: list[Shown] = []
        for line in script.splitlines():
            shown.extend(await self.line(line))
        return shown

    def as_(self, name: str) -> None:
        self.person = name.strip()
        self.chat = "private"

    def in_(self, chat: str) -> None:
        self.chat = chat

    async def say(self, text: str) -> list[Shown]:
        command, args = parse_command(text)
        if command is not None:
            return await self._send(text=text, command=command, args=args)
        return await self._send(text=text)

    async def press(self, which: str | int) -> list[Shown]:
        button = self._find_button(str(which))
        if button is None:
            return self._note(f"no button {which!r} here")
        if button.kind == "callback":
            return await self._send(button=button.data)
        if button.kind == "deeplink":
            # The platform opens the private chat with the bot and sends /start <payload> there.
            self.chat = "private"
            return await self._send(text=f"/start {button.data}", command="start", args=button.data)
        if button.kind == "contact":
            return self._note("use :contact PHONE to share a phone number")
        return self._note(f"link: {button.data}")

    async def photo(self, caption: str = "") -> list[Shown]:
        photo_id = f"photo-{next(self._update_ids)}"
        self.app.console_files[photo_id] = TINY_PNG
        return await self._send(photo=Photo(photo_id, PLATFORM), text=caption or None)

    async def document(self, name: str, caption: str = "", data: bytes | None = None, mime: str | None = None,
                       size: int | None = None) -> list[Shown]:
        """Send a file as a file. Without `data`, small sample bytes of the type the name's ending says."""
        sample, sample_mime = SAMPLE_FILES.get(name[name.rfind("."):].lower() if "." in name else "", OTHER_FILE)
        data = sample if data is None else data
        file_id = f"file-{next(self._update_ids)}"
        self.app.console_files[file_id] = data
        ref = FileRef(file_id, PLATFORM, name, sample_mime if mime is None else mime, len(data) if size is None else size)
        return await self._send(document=ref, text=caption or None)

    async def contact(self, phone: str, own: bool = True) -> list[Shown]:
        return await self._send(contact=Contact(phone, self.person if own else f"{self.person}-friend"))

    async def location(self, latitude: float, longitude: float, label: str = "") -> list[Shown]:
        return await self._send(location=Location(latitude, longitude, label))

    async def event(self, event: str, args: str = "") -> list[Shown]:
        return await self._send(event=event, args=args)

    async def clock_to(self, spec: str) -> list[Shown]:
        before = len(self.transport.shown)
        now = self.app.core.clock.now()
        relative = re.fullmatch(r"\+(\d+(?:\.\d+)?)\s*([mhd])", spec.strip())
        if relative:
            amount, unit = float(relative.group(1)), relative.group(2)
            delta = timedelta(minutes=amount) if unit == "m" else timedelta(hours=amount) if unit == "h" else timedelta(
                days=amount)
        else:
            zone = ZoneInfo(self.app.settings.timezone)
            target = datetime.strptime(spec.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=zone)
            delta = target - now
            if delta < timedelta(0):
                return self._note("the clock only moves forward")
        await self.app.scheduler.catch_up(delta)
        return self.transport.shown[before:]

    # ---- plumbing -----------------------------------------------------------------------------------

    def _note(self, text: str) -> list[Shown]:
        if self.transport.listener is not None:
            print(f"  ({text})")
        return []

    async def _meta(self, line: str) -> None:
        verb, _, rest = line[1:].partition(" ")
        rest = rest.strip()
        if verb == "as" and rest:
            self.as_(rest)
        elif verb == "in":
            kind, _, name = rest.partition(" ")
            self.in_("private" if kind == "private" else name.strip())
        elif verb == "press":
            await self.press(rest)
        elif verb == "photo":
            await self.photo(rest)
        elif verb == "document" and rest:
            name, _, caption = rest.partition(" ")
            await self.document(name, caption.strip())
        elif verb == "contact":
            await self.contact(rest)
        elif verb == "location" and len(parts := rest.split(maxsplit=2)) >= 2:
            try:
                latitude, longitude = float(parts[0]), float(parts[1])
            except ValueError:
                self._note("use :location LAT LON [label]")
            else:
                await self.location(latitude, longitude, parts[2] if len(parts) > 2 else "")
        elif verb == "clock":
            await self.clock_to(rest)
        elif verb == "lang":
            self.languages[self.person] = rest or None
        else:
            self._note(f"unknown console line {line!r}")

    def _find_button(self, which: str) -> OutButton | None:
        """A number counts on the last message with buttons; a label may also be on an older message, as a
        person scrolls up to press an earlier button (which is how stale buttons get pressed)."""
        with_buttons = [m for m in reversed(self.seen_by()) if m.buttons]
        if not with_buttons:
            return None
        if which.isdigit():
            flat = [b for row in with_buttons[0].buttons for b in row]
            if 1 <= int(which) <= len(flat):
                return flat[int(which) - 1]
        for exact in (True, False):
            for message in with_buttons:
                for button in (b for row in message.buttons for b in row):
                    if (button.label == which) if exact else (which in button.label):
                        return button
        return None

    async def _send(self, **fields: object) -> list[Shown]:
        before = len(self.transport.shown)
        kind: ChatKind = "private" if self.chat == "private" else "group"
        incoming = Incoming(
            platform=PLATFORM,
            update_id=f"{time.time_ns()}-{next(self._update_ids)}",
            chat_id=self.chat_id,
            chat_kind=kind,
            user_id=self.person,
            user_name=self.person,
            chat_title="" if kind == "private" else self.chat,
            language=self.languages.get(self.person),
            **fields,  # type: ignore[arg-type]
        )
        for message in await self.app.core.handle(incoming):
            self.transport.record(self.chat_id, message)
        await self.app.worker.drain()
        return self.transport.shown[before:]


def parse_command(text: str, bot_username: str | None = None) -> tuple[str | None, str]:
    """`/cmd@bot args` → ("cmd", "args"); a command addressed to another bot is not ours (None)."""
    if not text.startswith("/") or len(text) < 2:
        return None, ""
    head, _, args = text[1:].partition(" ")
    name, _, addressed = head.partition("@")
    if addressed and bot_username and addressed.lower() != bot_username.lower():
        return None, ""
    if not re.fullmatch(r"[A-Za-z0-9_]{1,32}", name):
        return None, ""
    return name.lower(), args.strip()


async def run_console(app: App, source: TextIO | None = None, echo: bool = False) -> None:
    """The interactive loop (or a script from a file or standard input when it is not a terminal)."""
    console = Console(app)
    console.transport.listener = lambda shown: print(shown.render() + "\n", flush=True)
    source = source or sys.stdin
    interactive = source.isatty()
    if interactive:
        print("linli console — :as NAME, :in private | :in group NAME, :press N, :photo, :document NAME, "
              ":contact PHONE, :location LAT LON [label], "
              ":clock +2h, :lang en; Ctrl-D to quit.\n")
    while True:
        if interactive:
            prompt = f"{console.person}@{console.chat}> "
            try:
                line = await asyncio.to_thread(input, prompt)
            except EOFError:
                break
        else:
            line = await asyncio.to_thread(source.readline)
            if not line:
                break
            line = line.rstrip("\n")
            if echo and line.strip():
                print(f"{console.person}@{console.chat}> {line}", flush=True)
        await console.line(line)
