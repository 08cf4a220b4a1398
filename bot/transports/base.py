"""What every transport offers the core: a platform name, capability flags, sending limits, and delivery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.core.types import Capabilities, Delivery, OutMessage


@dataclass(frozen=True, slots=True)
class Limits:
    """Sending limits the outbox paces to; 0 means unlimited."""

    global_per_second: float = 0.0
    group_per_minute: float = 0.0
    private_per_second: float = 0.0
    # A platform that lets us write to a person only for a while after their last message, and only so many
    # messages in it (微信客服: 48 hours, 5): the outbox claims a row for such a chat only while its window has room.
    reply_window_hours: float = 0.0
    reply_window_messages: int = 0


class Transport(Protocol):
    platform: str
    caps: Capabilities
    limits: Limits

    async def deliver(self, chat_id: str, chat_kind: str, message: OutMessage, first_part: int = 0) -> Delivery:
        """Send a new message; the outbox calls this for every queued row. A transport that sends a message in
        several parts skips the first `first_part` (out in an earlier attempt) and, when it fails halfway,
        says in `Delivery.parts_sent` how many are out."""
        ...

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> Delivery:
        """Replace a live posting's text and buttons ("3/8 signed up")."""
        ...


def split_text(text: str, limit: int) -> list[str]:
    """Split at line breaks where possible, so long lists stay readable on any platform."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            parts.append(current)
            current = ""
        current += line
    if current:
        parts.append(current)
    return [p.rstrip("\n") for p in parts if p.strip()]
