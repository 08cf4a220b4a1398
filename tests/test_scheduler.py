"""The scheduler: jobs run from the database (a restart or a second process changes nothing), `:clock` runs
what became due, rows past their grace are dropped and recorded, late-but-useful ones still go out, the
APScheduler heartbeat runs at start, and `next_fire` gives per-compound calendar times."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.app import App, build_app
from bot.core.clock import Clock
from bot.core.context import JobContext
from bot.core.dispatcher import Core
from bot.core.router import Router
from bot.core.types import Replies, Reply, ToGroups
from bot.outbox import OutboxWorker
from bot.scheduler import Scheduler, next_fire
from bot.settings import Settings
from bot.transports.console import Console, ConsoleTransport
from storage import outbox as store
from storage.compounds import Compound
from storage.db import make_engine, transaction
from storage.schedule import JobRun, claim_job
from tests.conftest import START

# ---- next_fire -------------------------------------------------------------------------------------------


def test_next_fire_weekly_in_the_compounds_time_zone() -> None:
    monday_nine = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
    assert next_fire("0 9 * * 1", "Asia/Shanghai", monday_nine - timedelta(hours=1)) == monday_nine
    # Strictly after: asked at the fire time itself, it is the next week's.
    assert next_fire("0 9 * * mon", "Asia/Shanghai", monday_nine) == monday_nine + timedelta(days=7)
    assert next_fire({"day_of_week": "sat", "hour": 9}, "Asia/Shanghai", monday_nine) == datetime(
        2026, 11, 28, 1, 0, tzinfo=UTC)
    assert next_fire({"day": "1st mon", "hour": 9}, "Asia/Shanghai", monday_nine) == datetime(
        2026, 12, 7, 1, 0, tzinfo=UTC)
    assert next_fire("30 19 * * 0", "Asia/Shanghai", monday_nine) == datetime(2026, 11, 29, 11, 30, tzinfo=UTC)


def test_next_fire_keeps_local_time_across_daylight_saving() -> None:
    before = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # Berlin moves to summer time on Sunday 29 March
    first = next_fire("0 9 * * mon", "Europe/Berlin", before)
    assert first == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # 09:00 CEST
    assert next_fire("0 9 * * mon", "Europe/Berlin", datetime(2026, 3, 20, 12, 0, tzinfo=UTC)) == datetime(
        2026, 3, 23, 8, 0, tzinfo=UTC)  # 09:00 CET


def test_next_fire_rejects_bad_rules() -> None:
    with pytest.raises(ValueError):
        next_fire("0 9 * *", "Asia/Shanghai", START)
    with pytest.raises(ValueError):
        next_fire("0 9 * * 1", "Asia/Shanghai", datetime(2026, 1, 1))


# ---- jobs on the movable clock ----------------------------------------------------------------------------

runs: list[datetime] = []
probe = Router("probe")


@probe.job("hourly", every=timedelta(hours=1))
async def hourly(ctx: JobContext) -> Replies:
    runs.append(ctx.now)
    return None


def probe_core(settings: Settings, clock: Clock) -> tuple[Core, Scheduler]:
    core = Core(settings, make_engine(settings.database_url), [probe], clock=clock)
    return core, Scheduler(core, OutboxWorker(core, {"console": ConsoleTransport()}))


async def test_catch_up_runs_due_jobs_and_a_restart_remembers(settings: Settings) -> None:
    runs.clear()
    clock = Clock(START, frozen=True)
    core, scheduler = probe_core(settings, clock)
    await scheduler.catch_up(timedelta(hours=3))
    assert len(runs) == 3 and runs[1] - runs[0] == timedelta(hours=1)
    await core.engine.dispose()
    # A new process: nothing in memory; the database says the job last ran 50 minutes ago (at 3:10 of 4:00).
    core2, scheduler2 = probe_core(settings, clock)
    await scheduler2.catch_up(timedelta(minutes=5))
    assert len(runs) == 3
    await scheduler2.catch_up(timedelta(minutes=10))
    assert len(runs) == 4 and runs[3] - runs[2] >= timedelta(hours=1)
    await core2.engine.dispose()


async def test_two_processes_claim_a_job_once(settings: Settings) -> None:
    cores = [probe_core(settings, Clock(START, frozen=True))[0] for _ in range(2)]

    async def attempt(core: Core) -> bool:
        async with transaction(core.sessions) as session:
            return await claim_job(session, "probe.race", timedelta(hours=1), START)

    assert sorted(await asyncio.gather(*(attempt(core) for core in cores))) == [False, True]
    assert sorted(await asyncio.gather(*(attempt(core) for core in cores))) == [False, False]
    for core in cores:
        await core.engine.dispose()


async def test_console_clock_line_runs_what_became_due(console: Console) -> None:
    core = console.app.core
    async with core.sessions() as session:
        compound = (await session.exec(select(Compound).where(Compound.code == "XFL"))).one()
    assert compound.id is not None
    async with transaction(core.sessions) as session:
        await core.enqueue(session, Reply("周六 9:00 议事日", to=ToGroups(compound.id), due_at=START + timedelta(hours=2)),
                           ToGroups(compound.id), None, core.clock.now())
    await console.app.worker.drain()
    assert console.seen_by(chat="幸福里业主群") == []
    await console.line(":clock +1h")
    assert console.seen_by(chat="幸福里业主群") == []
    await console.line(":clock +1h")
    assert [s.text for s in console.seen_by(chat="幸福里业主群")] == ["周六 9:00 议事日"]


async def test_downtime_late_rows_are_dropped_or_sent_by_their_grace(console: Console) -> None:
    core = console.app.core
    async with core.sessions() as session:
        compound = (await session.exec(select(Compound).where(Compound.code == "XFL"))).one()
    assert compound.id is not None
    meeting = START + timedelta(hours=25)
    async with transaction(core.sessions) as session:
        for reply in (
            # The 1-hour meeting reminder is worthless once the meeting has begun.
            Reply("会议提醒：1小时后开始", due_at=meeting - timedelta(hours=1), expires_at=meeting),
            # The evening reminder is still useful a couple of hours late.
            Reply("会议提醒：明天开会", due_at=meeting - timedelta(hours=3), expires_at=meeting),
            # The 红黑榜 goes out however late.
            Reply("本周红黑榜", due_at=START + timedelta(hours=24)),
        ):
            await core.enqueue(session, reply, ToGroups(compound.id), None, core.clock.now())
    # The bot is down from now until 30 minutes after the meeting began.
    core.clock.advance(timedelta(hours=22, minutes=30))
    await console.app.worker.drain()  # the restart
    assert [s.text for s in console.seen_by(chat="幸福里业主群")] == ["会议提醒：明天开会"]
    core.clock.advance(timedelta(hours=3))
    await console.app.worker.drain()
    assert [s.text for s in console.seen_by(chat="幸福里业主群")] == ["会议提醒：明天开会", "本周红黑榜"]
    async with core.sessions() as session:
        rows = (await session.exec(select(store.OutboxMessage).order_by(col(store.OutboxMessage.id)))).all()
    outcome = {row.payload["text"]: row.state for row in rows}
    assert outcome["会议提醒：1小时后开始"] == store.EXPIRED
    assert Counter(outcome.values()) == Counter({store.DELIVERED: 2, store.EXPIRED: 1})


async def test_the_heartbeat_runs_jobs_at_start(db_url: str) -> None:
    runs.clear()
    settings = Settings(_env_file=None, database_url=db_url, scheduler_tick_seconds=3600)  # type: ignore[call-arg]
    core, scheduler = probe_core(settings, Clock(START))
    scheduler.start()
    try:
        assert scheduler._aps is not None
        tick = scheduler._aps.get_job("tick")
        assert tick.coalesce is True and tick.max_instances == 1
        for _ in range(100):  # the first tick is at once, not an hour later
            if runs:
                break
            await asyncio.sleep(0.01)
        assert len(runs) == 1
    finally:
        await scheduler.stop()
        await core.engine.dispose()
    async with transaction(core.sessions) as session:
        assert await session.get(JobRun, "probe.hourly") is not None


async def test_app_schedules_and_stops(app: App) -> None:
    assert not app.scheduler.running
    app.scheduler.start()
    assert app.scheduler.running
    app.scheduler.shutdown()
    assert not app.scheduler.running
    assert isinstance(build_app, object)
