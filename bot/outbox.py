"""The delivery worker: sends due outbox rows through their transport, in order per chat, paced to each
platform's limits, retried with jittered backoff, `retry_after` obeyed, and each row marked delivered once.

Pacing lives in the database, so every process shares it: the per-chat "next allowed send" (20/min into a
Telegram group, ~1/s into a private chat, 20/min per WeCom robot), platform-wide pauses (a global 429), and
the overall rate (Telegram's 30/s), which each process leases as short runs of send slots
(`storage.outbox.lease_slots`).

Each outcome is written as soon as the platform answers, so a crash can repeat only the sends whose answer
had not been recorded yet; a stop (SIGTERM, the task cancelled) lets sends under way finish and be recorded
and gives back rows not yet sent."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.dispatcher import Core
from bot.core.fallback import fit_capabilities
from bot.core.types import Delivery, Media, OutMessage
from bot.transports.base import Limits, Transport
from storage import outbox as store
from storage.compounds import Chat
from storage.db import transaction
from storage.people import Identity
from storage.wechat import claimable_windows

log = logging.getLogger(__name__)

# A 429 from this many different chats within GLOBAL_429_WINDOW seconds means the platform-wide limit was hit
# (platforms do not say which limit it was): the whole platform is paused, not just the chats.
GLOBAL_429_CHATS = 3
GLOBAL_429_WINDOW = 1.0
# Platforms count requests as they arrive, and arrivals jitter by milliseconds (the event loop, the network):
# pacing exactly at the limit would now and then put one request too many into a one-second window.
HEADROOM = 0.97
CATCH_UP = 0.2


# The overall rate shared by several processes: each leases a short run of send slots from the database
# (`storage.outbox.lease_slots`), at most LEASE_SECONDS' worth at a time, asking for the next run while the
# current one still covers LEASE_AHEAD seconds, with the first slot at least LEASE_LEAD seconds away (the
# lease's own transaction must be over before its first slot comes).
LEASE_SECONDS = 0.5
LEASE_AHEAD = 0.4
LEASE_LEAD = 0.05
# A slot the event loop reached this late (in slot spacings) is skipped: sent later, it would bunch with the
# next process's slots, and the platform counts arrivals. Slots at LEASED_HEADROOM (95 %) of the limit, sent at
# most 0.45 spacings late, put at most ceil(0.95 * limit + 0.45) = limit - 1 sends (for 30/s: 29) into any
# one-second window, whatever the number of processes: one request of margin for arrival jitter.
LATE_SLOT = 0.45
LEASED_HEADROOM = 0.95

SlotLease = Callable[[str, int, float, float], Awaitable[float]]


@dataclass
class Pacer:
    """The overall rate of one platform: sends spaced by 1/rate seconds (real time). With `lease` the slots
    come from the database, so every process (and every worker in a process) shares one budget; without it
    the spacing is this process's alone (then give each process a `share`)."""

    limits: Limits
    share: float = 1.0
    # A process just started cannot know what another (or its dead predecessor) sent in the last second;
    # leased slots do know, so no warm-up then.
    warmup: float = 1.0
    lease: SlotLease | None = None
    platform: str = ""
    _next_send: float = 0.0
    _paused_until: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _recent_429: deque[tuple[float, str]] = field(default_factory=deque)
    _sent: deque[float] = field(default_factory=lambda: deque(maxlen=256))
    _slots: deque[float] = field(default_factory=deque)
    _waiting: int = 0
    _refill: asyncio.Task[None] | None = None
    # Counters (the benchmark prints them): slots leased, slots skipped as late, sends that gave up waiting.
    leased: int = 0
    skipped: int = 0
    refused: int = 0

    def __post_init__(self) -> None:
        if self.limits.global_per_second and self.lease is None:
            self._next_send = time.time() + self.warmup

    @property
    def rate(self) -> float:
        headroom = LEASED_HEADROOM if self.lease is not None else HEADROOM
        return self.limits.global_per_second * self.share * headroom

    def chat_gap(self, chat_kind: str) -> float:
        """Seconds between two sends into one chat."""
        if chat_kind == "group" and self.limits.group_per_minute:
            return 60.0 / self.limits.group_per_minute
        if chat_kind == "private" and self.limits.private_per_second:
            return 1.0 / self.limits.private_per_second
        return 0.0

    async def acquire(self, deadline: float | None = None) -> float | None:
        """Wait for the next slot; returns the moment (epoch seconds) the send may start, or None when the
        slot would come after `deadline` (the slot is then left for the next send)."""
        self._waiting += 1
        try:
            async with self._lock:  # FIFO: claimed rows go out in the order they asked
                if self.lease is not None and self.rate:
                    return await self._acquire_leased(deadline)
                return await self._acquire_local(deadline)
        finally:
            self._waiting -= 1

    async def _acquire_local(self, deadline: float | None = None) -> float | None:
        rate = self.rate
        while True:
            now = time.time()
            # The planned slot; a slot missed because the loop was busy may be caught up, but only a
            # little (CATCH_UP seconds' worth), never as a burst after an idle spell.
            slot = max(self._next_send, self._paused_until, now - CATCH_UP)
            if rate and len(self._sent) >= max(int(rate), 1):
                # Never more than the limit in any one-second window, however the slots fell.
                slot = max(slot, self._sent[-max(int(rate), 1)] + 1.0)
            if deadline is not None and slot > deadline:
                return None
            if slot <= now:
                break
            await asyncio.sleep(slot - now)
        if rate:
            self._next_send = slot + 1.0 / rate
            self._sent.append(now)
        return now

    async def _acquire_leased(self, deadline: float | None = None) -> float | None:
        interval = 1.0 / self.rate
        while True:
            now = time.time()
            while self._slots and (self._slots[0] < now - LATE_SLOT * interval or self._slots[0] < self._paused_until):
                self._slots.popleft()
                self.skipped += 1
            if not self._slots:
                self._start_refill(interval, self._waiting)
                assert self._refill is not None
                try:
                    await asyncio.shield(self._refill)
                except Exception:
                    log.exception("leasing send slots of %s failed", self.platform)
                    await asyncio.sleep(0.2)
                continue
            start = self._slots[0]
            if deadline is not None and start > deadline:
                self.refused += 1
                return None
            if start > now:
                self._maybe_prefetch(interval, self._waiting)
                await asyncio.sleep(start - now)
                continue
            self._slots.popleft()
            self._sent.append(now)
            self._maybe_prefetch(interval, self._waiting - 1)
            return now

    def _maybe_prefetch(self, interval: float, wanted: int) -> None:
        covered_until = self._slots[-1] if self._slots else 0.0
        if wanted > len(self._slots) and covered_until < time.time() + LEASE_AHEAD:
            self._start_refill(interval, wanted - len(self._slots))

    def _start_refill(self, interval: float, wanted: int) -> None:
        if self._refill is not None and not self._refill.done():
            return
        count = max(1, min(wanted, max(1, int(LEASE_SECONDS / interval))))
        self._refill = asyncio.create_task(self._lease_into(count, interval))

    async def _lease_into(self, count: int, interval: float) -> None:
        assert self.lease is not None
        earliest = max(time.time() + LEASE_LEAD, self._paused_until)
        first = await self.lease(self.platform, count, interval, earliest)
        self.leased += count
        self._slots.extend(first + n * interval for n in range(count))

    def close(self) -> None:
        if self._refill is not None:
            self._refill.cancel()

    def recent_rate(self, now: float, span: float = 2.0) -> float:
        """Sends per second this process made over the last `span` seconds."""
        return sum(1 for at in self._sent if at > now - span) / span

    def suggested_batch(self) -> int:
        """Rows to claim at a time: about two seconds' worth (enough that a slow claim never starves the
        pacer), so that a killed worker strands few claimed rows (they wait for the lease) and several workers
        share the work."""
        rate = self.limits.global_per_second * self.share
        return max(8, min(64, int(2 * rate))) if rate else 64

    def pause(self, until: float) -> None:
        self._paused_until = max(self._paused_until, until)

    def note_429(self, chat_id: str, now: float) -> bool:
        """Remember a 429; True when recent ones come from enough chats to mean the platform-wide limit."""
        self._recent_429.append((now, chat_id))
        while self._recent_429 and self._recent_429[0][0] < now - GLOBAL_429_WINDOW:
            self._recent_429.popleft()
        return len({chat for _, chat in self._recent_429}) >= GLOBAL_429_CHATS


def _takes_idempotency_key(transport: Transport) -> bool:
    try:
        return "idempotency_key" in inspect.signature(transport.deliver).parameters
    except (TypeError, ValueError):
        return False


class OutboxWorker:
    """Claims due rows and sends them. Any number of workers (tasks or processes) may share one database."""

    def __init__(self, core: Core, transports: Mapping[str, Transport], worker_id: str | None = None,
                 concurrency: int = 16, batch: int | None = None, global_share: float = 1.0,
                 lease: timedelta | None = None, send_timeout: float = 30.0, shared_rate: bool = True,
                 grace: float = 10.0) -> None:
        self.core = core
        self.transports = transports
        self.worker_id = (worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}")[:64]
        # With `shared_rate` the platform's overall rate is leased from the database, one budget for every
        # process; `global_share` then only lowers it (kept for deployments that split it by hand).
        self.pacers = {name: Pacer(t.limits, global_share, lease=self._lease_slots if shared_rate else None,
                                   platform=name)
                       for name, t in transports.items()}
        # A row claimed longer than this by a worker that never reported back is sent again.
        self.lease = lease or timedelta(seconds=max(4 * send_timeout, 60.0))
        self.send_timeout = send_timeout
        # On a stop (SIGTERM, the task cancelled) sends already started get this long to finish and be recorded.
        self.grace = grace
        self.batch = batch or min((pacer.suggested_batch() for pacer in self.pacers.values()), default=64)
        self._semaphore = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        # This process's outbox writes go one at a time: SQLite has one writer, and waiting on an asyncio lock
        # is far cheaper than SQLite's busy-wait sleeps.
        self._write_lock = asyncio.Lock()
        # Rows this worker holds, with the moment they were claimed; never released as stale by itself.
        self._claimed: dict[int, float] = {}
        self._outcomes: list[tuple[store.OutboxMessage, Delivery, Pacer, float, asyncio.Future[int]]] = []
        # Deliveries that have not started their request yet: a graceful stop gives their rows back unsent.
        self._before_send: set[asyncio.Task[object]] = set()
        self._stopping = False
        self._killed = False
        # Transports that accept `deliver(..., idempotency_key=...)` get the row id, so a platform with
        # idempotent sends can drop the duplicate of a delivery whose outcome was uncertain.
        self._keyed = {name for name, t in transports.items() if _takes_idempotency_key(t)}

    def wake(self) -> None:
        self._wake.set()

    # ---- the loop -------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set (or the task is cancelled). Claims more rows whenever fewer than half a
        batch is in flight, so sends stay back to back; otherwise wakes on new rows, on a finished send, or
        every outbox tick. Stopping either way is graceful: rows not yet sent are given back, sends already
        started finish and are recorded (within `grace` seconds). Only `kill()` (or SIGKILL) stops at once."""
        tick = self.core.settings.outbox_tick_seconds
        in_flight: set[asyncio.Task[int]] = set()
        try:
            while not stop.is_set():
                claimed: list[store.OutboxMessage] = []
                batch = self._batch_now()
                if len(in_flight) <= batch // 2:
                    self._wake.clear()
                    try:
                        claimed = await self._claim(batch - len(in_flight))
                    except Exception:
                        log.exception("outbox claim failed")
                for row in claimed:
                    in_flight.add(asyncio.create_task(self._deliver(row)))
                waiters: set[asyncio.Future[object]] = {
                    asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
                try:
                    await asyncio.wait(waiters | set(in_flight), timeout=tick, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
                done = {task for task in in_flight if task.done()}
                in_flight -= done
                for task in done:
                    if not task.cancelled() and task.exception() is not None:
                        log.error("outbox delivery crashed", exc_info=task.exception())
        except asyncio.CancelledError:
            with contextlib.suppress(asyncio.CancelledError):  # a second cancellation only cuts the grace short
                await self._finish(in_flight)
            raise
        await self._finish(in_flight)

    async def _finish(self, in_flight: set[asyncio.Task[int]]) -> None:
        """The end of `run`: unsent rows given back, sends under way answered and recorded within `grace`
        seconds (none after `kill`). Whatever is still in flight then stays claimed and comes back when the
        lease runs out."""
        try:
            if not self._killed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.grace):  # not wait_for: see bot.leader.wait_event
                        await asyncio.shield(self._wind_down(in_flight))
        finally:
            for task in in_flight:
                task.cancel()
            self._close_pacers()

    def _batch_now(self) -> int:
        """Rows to hold: about two seconds of this process's own sending. With several processes sharing a
        platform's rate each gets its share of it, and claiming for the whole rate would keep rows waiting
        (past half the lease they are given back) and cost CPU in large claims that make sends late."""
        now = time.time()
        shared = [pacer for pacer in self.pacers.values() if pacer.lease is not None and pacer.rate]
        if not shared:
            return self.batch
        return max(16, min(self.batch, int(2 * max(pacer.recent_rate(now) for pacer in shared))))

    async def _wind_down(self, in_flight: set[asyncio.Task[int]]) -> None:
        self._stopping = True
        for task in list(self._before_send):
            task.cancel()  # gives its row back unsent (see `_deliver_claimed`)
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def kill(self, task: asyncio.Task[None]) -> None:
        """Stop `task` (this worker's `run`) with no grace at all: what SIGKILL does to a process. Sends in
        flight are abandoned wherever they are; their rows stay claimed until the lease runs out."""
        self._killed = True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _close_pacers(self) -> None:
        for pacer in self.pacers.values():
            pacer.close()

    async def deliver_due(self, limit: int = 200) -> int:
        """One round: claim what is due and deliverable now, send it, record the outcome. Returns rows sent."""
        claimed = await self._claim(limit)
        if not claimed:
            return 0
        return sum(await asyncio.gather(*(self._deliver(row) for row in claimed)))

    async def drain(self, rounds: int = 50) -> int:
        """Deliver until nothing more can go out now (the console and tests use this instead of `run`)."""
        total = 0
        for _ in range(rounds):
            claimed = await self._claim(self.batch)
            if not claimed:
                break
            total += sum(await asyncio.gather(*(self._deliver(row) for row in claimed)))
        return total

    async def _claim(self, limit: int) -> list[store.OutboxMessage]:
        async with self._write_lock:
            await self._flush_outcomes()  # outcomes first: an unrecorded send is what a crash could repeat
            async with transaction(self.core.sessions) as session:
                return await self._claim_in(session, limit)

    async def _claim_in(self, session: AsyncSession, limit: int) -> list[store.OutboxMessage]:
        now = self.core.clock.now()
        await store.housekeep_due(session, now, self.lease, self.core.settings.outbox_max_attempts,
                                  keep=set(self._claimed))
        if limit <= 0:
            return []
        claimed = await store.claim_due(session, self.worker_id, now, time.time(), limit, list(self.transports),
                                        gate=self._window_gate(now))
        for row in claimed:
            assert row.id is not None
            self._claimed[row.id] = time.monotonic()
        return claimed

    def _window_gate(self, now: datetime) -> Any:
        """The claim's condition for platforms with reply windows (their transports' `Limits`), or None."""
        windows = {name: (timedelta(hours=t.limits.reply_window_hours), t.limits.reply_window_messages)
                   for name, t in self.transports.items() if t.limits.reply_window_hours}
        return claimable_windows(windows, now) if windows else None

    async def _lease_slots(self, platform: str, count: int, interval: float, earliest: float) -> float:
        async with self._write_lock:
            await self._flush_outcomes()
            async with transaction(self.core.sessions) as session:
                return await store.lease_slots(session, platform, count, interval, earliest)

    # ---- one row --------------------------------------------------------------------------------------

    async def _deliver(self, row: store.OutboxMessage) -> int:
        assert row.id is not None
        try:
            return await self._deliver_claimed(row)
        finally:
            self._claimed.pop(row.id, None)

    async def _give_back(self, row: store.OutboxMessage, reason: str) -> int:
        """Release a claimed row unsent (it goes out later, from this or another worker)."""
        assert row.id is not None
        async with self._write_lock, transaction(self.core.sessions) as session:
            await store.mark_retry(session, row.id, self.worker_id, self.core.clock.now(), reason,
                                   count_attempt=False)
        return 0

    async def _deliver_claimed(self, row: store.OutboxMessage) -> int:
        assert row.id is not None
        transport = self.transports[row.platform]
        pacer = self.pacers[row.platform]
        task: asyncio.Task[object] | None = asyncio.current_task()
        assert task is not None
        self._before_send.add(task)
        try:
            await self._semaphore.acquire()
        except asyncio.CancelledError:
            self._before_send.discard(task)
            if self._killed or not self._stopping:
                raise
            return await asyncio.shield(self._give_back(row, "released unsent: the worker stopped"))
        try:
            try:
                message = await self._message(row)
                original_message_id: str | None = None
                if row.kind == "edit":
                    original_message_id = await self._original_message_id(row)
                    if original_message_id is None:
                        # Rows of a chat go in order, so the original is settled by now: it did not go out.
                        async with self._write_lock, transaction(self.core.sessions) as session:
                            await store.mark_cancelled(session, row.id, self.worker_id,
                                                       "the original posting was not delivered", self.core.clock.now())
                        return 0
                    if not transport.caps.edit:
                        # The platform cannot change a posting: it keeps its first text (no call, no pace slot).
                        async with self._write_lock, transaction(self.core.sessions) as session:
                            await store.mark_cancelled(session, row.id, self.worker_id,
                                                       "the platform cannot edit a posting", self.core.clock.now())
                        return 0
                message = fit_capabilities(message, transport.caps)
                # Past half the lease another worker may soon think us dead: rather than send then, the row
                # is given back unsent (and the slot left for the next row).
                held = time.monotonic() - self._claimed.get(row.id, time.monotonic())
                deadline = None if row.kind == "edit" else time.time() + self.lease.total_seconds() / 2 - held
                slot = await pacer.acquire(deadline)
            except asyncio.CancelledError:
                if self._killed or not self._stopping:
                    raise
                return await asyncio.shield(self._give_back(row, "released unsent: the worker stopped"))
            finally:
                self._before_send.discard(task)
            if slot is None:
                return await self._give_back(row, "released unsent: waited too long for the pace")
            started = slot
            try:
                # In this task, at once: the request leaves in the slot the pacer gave it (asyncio.wait_for
                # would start it a loop turn later, and late starts bunch up into 429s).
                async with asyncio.timeout(self.send_timeout):
                    if original_message_id is not None:
                        result = await transport.edit(row.chat_id, original_message_id, message)
                    else:
                        extra: dict[str, Any] = {"first_part": row.parts_sent} if row.parts_sent else {}
                        if row.platform in self._keyed:
                            extra["idempotency_key"] = f"outbox-{row.id}"
                        result = await transport.deliver(row.chat_id, row.chat_kind, message, **extra)
            except TimeoutError:
                # Uncertain: it may have arrived. Retrying risks a duplicate; not retrying risks a loss.
                result = Delivery(False, error=f"no answer within {self.send_timeout:g} s")
            except Exception as exc:  # A transport bug must not stop the outbox; the row is retried.
                log.exception("delivery of outbox row %s raised", row.id)
                result = Delivery(False, error=f"{type(exc).__name__}: {exc}")
        finally:
            self._semaphore.release()
        return await self._record(row, result, pacer, started)

    async def _record(self, row: store.OutboxMessage, result: Delivery, pacer: Pacer, started: float) -> int:
        """Record an outcome as soon as the platform has answered: between the answer and this commit a
        crash would send the row again (the platform cannot be asked whether it arrived). Outcomes that
        come in while another write is under way are written together in the next transaction (a group
        commit only as long as that one write), and claims and slot leases write waiting outcomes first.
        Returns 1 when delivered."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._outcomes.append((row, result, pacer, started, done))
        async with self._write_lock:
            if not done.done():
                await self._flush_outcomes()
        return await done

    async def _flush_outcomes(self) -> None:
        """Write every waiting outcome in one transaction (the caller holds the write lock)."""
        if not self._outcomes:
            return
        batch, self._outcomes = self._outcomes, []
        try:
            async with transaction(self.core.sessions) as session:
                counts = [await self._record_in(session, *item[:4]) for item in batch]
        except Exception:
            # The rows stay claimed and come back after the lease: at most sent twice, never lost.
            log.exception("recording %d outbox outcomes failed", len(batch))
            counts = [0] * len(batch)
        for item, count in zip(batch, counts, strict=True):
            if not item[4].done():
                item[4].set_result(count)

    async def _record_in(self, session: AsyncSession, row: store.OutboxMessage, result: Delivery, pacer: Pacer,
                         started: float) -> int:
        assert row.id is not None
        settings = self.core.settings
        now = self.core.clock.now()
        now_real = time.time()
        # Written for every send, even into a chat without a pace of its own (then `until` is already past): the
        # claim serves chats in turn by this moment, so the chat just served waits behind the others.
        hold_until = started + pacer.chat_gap(row.chat_kind)
        if result.retry_after:
            hold_until = max(hold_until, now_real + result.retry_after)
            if pacer.note_429(row.chat_id, now_real):
                pacer.pause(now_real + result.retry_after)
                await store.hold(session, row.platform, store.PLATFORM_WIDE, now_real + result.retry_after)
                log.warning("%s answers 429 in several chats: pausing it %.1f s", row.platform, result.retry_after)
        await store.hold(session, row.platform, row.chat_id, hold_until)
        if result.moved_to and result.moved_to != row.chat_id:
            return await self._moved(session, row, result.moved_to, now)
        if result.ok:
            if not await store.mark_delivered(session, row.id, self.worker_id, result.message_id, now,
                                              state=result.state or store.DELIVERED):
                log.warning("outbox row %s was delivered after its claim ran out", row.id)
            return 1
        if result.waiting:
            await store.mark_retry(session, row.id, self.worker_id, now, result.error or "waiting for the chat",
                                   count_attempt=False, parts_sent=max(row.parts_sent, result.parts_sent))
            return 0
        if result.permanent or (not result.retry_after and row.attempts >= settings.outbox_max_attempts):
            await store.mark_failed(session, row.id, self.worker_id, result.error or "gave up", now)
            if result.permanent:
                await self._mark_unreachable(session, row)
            log.warning("outbox row %s failed for good: %s", row.id, result.error)
            return 0
        if result.retry_after:
            delay = result.retry_after
        else:
            delay = store.backoff_seconds(row.attempts, settings.outbox_backoff_base_seconds,
                                          settings.outbox_backoff_max_seconds)
        await store.mark_retry(session, row.id, self.worker_id, now + timedelta(seconds=delay),
                               result.error or "retry", count_attempt=not result.retry_after,
                               parts_sent=max(row.parts_sent, result.parts_sent))
        return 0

    async def _moved(self, session: AsyncSession, row: store.OutboxMessage, new_id: str, now: datetime) -> int:
        """The chat has a new id (a group became a supergroup; the bot may never have seen the migration update):
        its binding and everything queued for it move there, this row included, and go out again at once; the
        attempt does not count. An edit of a message in the old chat is cancelled (that message stays there)."""
        assert row.id is not None
        log.info("%s chat %s moved to %s: its binding and queued messages follow", row.platform, row.chat_id, new_id)
        await self.core.migrate_chat(session, row.platform, row.chat_id, new_id)
        if row.kind == "edit":
            await store.mark_cancelled(session, row.id, self.worker_id,
                                       "the group became a supergroup: its old messages cannot be edited", now)
            return 0
        # Whole in the new chat, whatever parts reached the old one.
        await store.mark_retry(session, row.id, self.worker_id, now, f"moved to {new_id}", count_attempt=False,
                               parts_sent=0)
        return 0

    async def _mark_unreachable(self, session: AsyncSession, row: store.OutboxMessage) -> None:
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


async def stop_quietly(task: asyncio.Task[None]) -> None:
    """Cancel a worker task and wait for it: a graceful stop (sends under way finish and are recorded)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
