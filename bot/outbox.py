"""The delivery worker: sends due outbox rows through their transport, paced to each platform's limits,
retried with backoff, `retry_after` obeyed, and each row marked delivered exactly once."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import select

from bot.core.dispatcher import Core
from bot.core.types import Delivery, Media, OutMessage
from bot.transports.base import Limits, Transport
from storage import outbox as store
from storage.compounds import Chat
from storage.db import transaction
from storage.people import Identity

log = logging.getLogger(__name__)


@dataclass
class Pacer:
    """Spacing of sends for one platform: a global rate and a minimum gap per chat (monotonic time)."""

    limits: Limits
    _next_global: float = 0.0
    _next_chat: dict[str, float] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def chat_gap(self, chat_kind: str) -> float:
        if chat_kind == "group" and self.limits.group_per_minute:
            return 60.0 / self.limits.group_per_minute
        if chat_kind == "private" and self.limits.private_per_second:
            return 1.0 / self.limits.private_per_second
        return 0.0

    def chat_ready(self, chat_id: str) -> bool:
        return self._next_chat.get(chat_id, 0.0) <= time.monotonic()

    def hold_chat(self, chat_id: str, seconds: float) -> None:
        self._next_chat[chat_id] = max(self._next_chat.get(chat_id, 0.0), time.monotonic() + seconds)

    async def acquire(self, chat_id: str, chat_kind: str) -> None:
        async with self._lock:
            now = time.monotonic()
            if self.limits.global_per_second:
                wait = self._next_global - now
                if wait > 0:
                    await asyncio.sleep(wait)
                    now = time.monotonic()
                self._next_global = max(now, self._next_global) + 1.0 / self.limits.global_per_second
        self.hold_chat(chat_id, self.chat_gap(chat_kind))


class OutboxWorker:
    def __init__(self, core: Core, transports: Mapping[str, Transport], worker_id: str | None = None,
                 concurrency: int = 16) -> None:
        self.core = core
        self.transports = transports
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.pacers = {name: Pacer(t.limits) for name, t in transports.items()}
        self.lease = timedelta(seconds=120)
        self._semaphore = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; wakes on new rows or every outbox tick."""
        tick = self.core.settings.outbox_tick_seconds
        while not stop.is_set():
            try:
                await self.deliver_due()
            except Exception:
                log.exception("outbox round failed")
            self._wake.clear()
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=tick, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()

    async def deliver_due(self, limit: int = 200) -> int:
        """One round: claim what is due and deliverable now, send it, record the outcome. Returns rows sent."""
        now = self.core.clock.now()
        claimed: list[store.OutboxMessage] = []
        async with transaction(self.core.sessions) as session:
            await store.release_stale(session, now, self.lease)
            await store.drop_expired(session, now)
            for row in await store.next_due(session, now, limit):
                pacer = self.pacers.get(row.platform)
                if pacer is None or not pacer.chat_ready(row.chat_id):
                    continue
                if row.id is not None and await store.claim(session, row.id, self.worker_id, now):
                    claimed.append(row)
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._deliver(row) for row in claimed))
        return sum(results)

    async def drain(self, rounds: int = 50) -> int:
        """Deliver until nothing is due (tests and the console use this instead of waiting for ticks)."""
        total = 0
        for _ in range(rounds):
            sent = await self.deliver_due()
            total += sent
            if sent == 0:
                async with self.core.sessions() as session:
                    due = await store.next_due(session, self.core.clock.now(), 1)
                if not due or all(not self.pacers[r.platform].chat_ready(r.chat_id) for r in due
                                  if r.platform in self.pacers):
                    break
        return total

    async def _deliver(self, row: store.OutboxMessage) -> int:
        assert row.id is not None
        transport = self.transports[row.platform]
        pacer = self.pacers[row.platform]
        async with self._semaphore:
            try:
                message = await self._message(row)
                if row.kind == "edit":
                    original_message_id = await self._original_message_id(row)
                    if original_message_id is None:
                        return await self._retry_or_fail(row, Delivery(False, error="original not delivered yet"),
                                                         count_attempt=False)
                    await pacer.acquire(row.chat_id, row.chat_kind)
                    result = await transport.edit(row.chat_id, original_message_id, message)
                else:
                    await pacer.acquire(row.chat_id, row.chat_kind)
                    result = await transport.deliver(row.chat_id, row.chat_kind, message)
            except Exception as exc:  # A transport bug must not stop the outbox; the row is retried.
                log.exception("delivery of outbox row %s raised", row.id)
                result = Delivery(False, error=f"{type(exc).__name__}: {exc}")
        if result.ok:
            async with transaction(self.core.sessions) as session:
                await store.mark_delivered(session, row.id, self.worker_id, result.message_id, self.core.clock.now())
            return 1
        if result.retry_after:
            pacer.hold_chat(row.chat_id, result.retry_after)
        return await self._retry_or_fail(row, result)

    async def _retry_or_fail(self, row: store.OutboxMessage, result: Delivery, count_attempt: bool = True) -> int:
        assert row.id is not None
        settings = self.core.settings
        now = self.core.clock.now()
        async with transaction(self.core.sessions) as session:
            if result.permanent or (count_attempt and row.attempts + 1 > settings.outbox_max_attempts):
                await store.mark_failed(session, row.id, self.worker_id, result.error or "gave up")
                if result.permanent:
                    await self._mark_unreachable(session, row)
                log.warning("outbox row %s failed for good: %s", row.id, result.error)
                return 0
            if result.retry_after:
                delay = result.retry_after
            else:
                delay = min(settings.outbox_backoff_base_seconds * 2 ** max(row.attempts, 0),
                            settings.outbox_backoff_max_seconds)
            await store.mark_retry(session, row.id, self.worker_id, now + timedelta(seconds=delay), result.error)
            if not count_attempt:
                row_now = await session.get(store.OutboxMessage, row.id)
                if row_now is not None:
                    row_now.attempts = max(row_now.attempts - 1, 0)
                    session.add(row_now)
        return 0

    async def _mark_unreachable(self, session: object, row: store.OutboxMessage) -> None:
        from sqlmodel.ext.asyncio.session import AsyncSession

        assert isinstance(session, AsyncSession)
        if row.chat_kind == "private":
            identities = await session.exec(
                select(Identity).where(Identity.platform == row.platform, Identity.private_chat_id == row.chat_id)
            )
            for identity in identities.all():
                identity.unreachable = True
                session.add(identity)
        else:
            chats = await session.exec(
                select(Chat).where(Chat.platform == row.platform, Chat.platform_chat_id == row.chat_id)
            )
            for chat in chats.all():
                chat.unreachable = True
                session.add(chat)

    async def _message(self, row: store.OutboxMessage) -> OutMessage:
        media: Media | None = None
        media_id = row.payload.get("media_id")
        if media_id:
            async with self.core.sessions() as session:
                stored = await store.load_media(session, int(media_id))
            if stored is not None:
                media = Media(stored.data, stored.filename, stored.mime)
        return OutMessage.from_payload(row.payload, media)

    async def _original_message_id(self, row: store.OutboxMessage) -> str | None:
        if row.edit_of is None:
            return None
        async with self.core.sessions() as session:
            original = await session.get(store.OutboxMessage, row.edit_of)
        if original is None or original.state != store.DELIVERED:
            return None
        return original.message_id
