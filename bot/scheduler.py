"""APScheduler wakes the process; what is due lives in the database. Jobs take no arguments but the clock,
find their due rows themselves and claim them atomically, so a restart or a second process changes nothing."""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.dispatcher import Core
from bot.outbox import OutboxWorker
from storage.conversations import prune
from storage.db import transaction

log = logging.getLogger(__name__)

# The console and the tests move the clock in steps of this size, so every job sees each moment it would
# have seen had the bot been running all along.
CATCH_UP_STEP = timedelta(minutes=10)
CATCH_UP_MAX_STEPS = 600


class Scheduler:
    def __init__(self, core: Core, worker: OutboxWorker) -> None:
        self.core = core
        self.worker = worker
        self._aps: AsyncIOScheduler | None = None

    def start(self) -> None:
        """Interval wake-ups in the running event loop; `coalesce` folds missed runs into one."""
        aps = AsyncIOScheduler(timezone="UTC")
        aps.add_job(self.tick, "interval", seconds=self.core.settings.scheduler_tick_seconds, id="tick",
                    coalesce=True, max_instances=1, misfire_grace_time=None)
        aps.add_job(self.housekeeping, "interval", hours=1, id="housekeeping", coalesce=True, max_instances=1,
                    misfire_grace_time=None)
        aps.start()
        self._aps = aps

    def shutdown(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None

    async def tick(self) -> int:
        """Run every due job; their postings land in the outbox and the worker is woken."""
        return await self.core.run_jobs()

    async def housekeeping(self) -> None:
        async with transaction(self.core.sessions) as session:
            await prune(session, self.core.clock.now())

    async def catch_up(self, delta: timedelta) -> None:
        """Move the movable clock forward, running jobs and deliveries at each step along the way."""
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
