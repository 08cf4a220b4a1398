"""APScheduler wakes the process; what is due lives in the database. Jobs take no arguments but the clock,
find their due rows themselves and claim them atomically, so a restart or a second process changes nothing:
at start the first tick runs at once and picks up whatever fell due while the bot was down (the rows'
`expires_at` decides what is still worth sending)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.dispatcher import Core
from bot.outbox import OutboxWorker
from storage.conversations import prune
from storage.db import checkpoint, transaction
from storage.outbox import prune_pace
from storage.schedule import cron_trigger, next_fire

__all__ = ["CATCH_UP_STEP", "Scheduler", "cron_trigger", "next_fire"]

log = logging.getLogger(__name__)

# The console and the tests move the clock in steps of this size, so every job sees each moment it would
# have seen had the bot been running all along.
CATCH_UP_STEP = timedelta(minutes=10)
CATCH_UP_MAX_STEPS = 600
# SQLite's write-ahead log is copied into the database this often (nothing to do on PostgreSQL).
CHECKPOINT_SECONDS = 5


class Scheduler:
    def __init__(self, core: Core, worker: OutboxWorker) -> None:
        self.core = core
        self.worker = worker
        self._aps: AsyncIOScheduler | None = None
        # Held while a tick or housekeeping runs, so that `stop` can wait for it before the engine goes.
        self._busy = asyncio.Lock()

    @property
    def running(self) -> bool:
        return self._aps is not None

    def start(self) -> None:
        """Wake-ups in the running event loop. `coalesce` folds runs missed while the loop was busy into one,
        `max_instances=1` never lets a slow tick overlap the next, and a generous misfire grace runs a late
        tick rather than skipping it (the tick itself decides from the database what is due)."""
        aps = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        tick = self.core.settings.scheduler_tick_seconds
        aps.add_job(self.tick, "interval", seconds=tick, id="tick", next_run_time=datetime.now(UTC))
        aps.add_job(self.housekeeping, "interval", hours=1, id="housekeeping")
        aps.add_job(self.checkpoint, "interval", seconds=CHECKPOINT_SECONDS, id="checkpoint")
        aps.start()
        self._aps = aps

    def shutdown(self) -> None:
        """No more wake-ups; a tick already running goes on (`stop` waits for it)."""
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None

    async def stop(self) -> None:
        """No more wake-ups, and the running tick finished: the database may be closed after this."""
        self.shutdown()
        async with self._busy:
            pass

    async def tick(self) -> int:
        """Run every due job; their postings land in the outbox and the worker is woken."""
        async with self._busy:
            try:
                return await self.core.run_jobs()
            except Exception:  # One bad tick must not kill the heartbeat.
                log.exception("scheduler tick failed")
                return 0

    async def checkpoint(self) -> None:
        try:
            await checkpoint(self.core.engine)
        except Exception:  # a busy moment: the next one catches up
            log.warning("SQLite checkpoint failed", exc_info=True)

    async def housekeeping(self) -> None:
        async with self._busy, transaction(self.core.sessions) as session:
            await prune(session, self.core.clock.now())
            await prune_pace(session, time.time())

    async def catch_up(self, delta: timedelta) -> None:
        """Move the movable clock forward, running jobs and deliveries at each step along the way (the
        console's `:clock` and the tests): the same code path as the real ticks."""
        steps = max(1, int(delta / CATCH_UP_STEP))
        step = delta / min(steps, CATCH_UP_MAX_STEPS)
        remaining = delta
        while remaining > timedelta(0):
            move = min(step, remaining)
            self.core.clock.advance(move)
            remaining -= move
            await self.core.run_jobs()
            await self.worker.drain()
        await self.housekeeping()
