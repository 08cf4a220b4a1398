"""Complaints benchmark.

1. Filing throughput: complete filing conversations (/complain, category, description, skip photos, place,
   anonymity, confirm — seven messages each, the handler's notification through the outbox) per second,
   through the core and the console transport, on a migrated SQLite database with the demo district.
2. The overdue scan over a ledger of 100,000 cases (a few hundred of them due): the query the `overdue` job
   runs every five minutes. Target: at most 200 ms.

    .venv/bin/python -m bench.complaints
    .venv/bin/python -m bench.complaints --filings 100 --cases 100000 --due 300
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import insert, select

from bot.app import build_app
from bot.core.clock import Clock
from bot.settings import Settings
from bot.transports.console import Console
from storage import migrate
from storage.complaints import CATEGORIES, Case, State, due_cases
from storage.compounds import Compound
from storage.db import make_engine, make_sessionmaker, transaction
from storage.demo import seed_demo
from storage.people import Person

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


async def prepare(url: str) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    async with transaction(make_sessionmaker(engine)) as session:
        await seed_demo(session)
    await engine.dispose()


async def filing(url: str, count: int) -> tuple[float, list[float]]:
    # A frozen clock puts every filing into one minute: flood control would take it for a flood.
    settings = Settings(_env_file=None, database_url=url, flood_messages_per_minute=0)  # type: ignore[call-arg]
    app = build_app(settings, clock=Clock(NOW, frozen=True))
    console = Console(app)
    people = ["张三", "李四", "王五", "陈阿姨"]
    durations: list[float] = []
    started = time.perf_counter()
    for i in range(count):
        console.as_(people[i % len(people)])
        begin = time.perf_counter()
        await console.say("/complain")
        await console.press("噪音" if i % 2 else "房屋漏水")
        await console.say(f"第 {i} 号基准诉求：楼上夜里很吵，影响休息。")
        await console.press("跳过")
        await console.press(1)
        await console.press("显示我的姓名")
        await console.press("确认")
        if "XFL-" not in console.last.text:
            raise SystemExit(f"filing {i} did not finish: {console.last.text}")
        durations.append(time.perf_counter() - begin)
    elapsed = time.perf_counter() - started
    await app.close()
    return count / elapsed, durations


async def seed_ledger(url: str, total: int, due: int, rng: random.Random) -> None:
    engine = make_engine(url)
    async with transaction(make_sessionmaker(engine)) as session:
        compound = (await session.exec(select(Compound).where(Compound.code == "XFL"))).one()
        reporter = (await session.exec(select(Person).where(Person.name == "张三"))).one()
        rows: list[dict[str, object]] = []
        for i in range(total):
            opened = NOW - timedelta(days=rng.randint(0, 700), minutes=rng.randint(0, 1440))
            if i < due:  # open and past the deadline
                state, due_at = State.OPEN, NOW - timedelta(minutes=rng.randint(1, 600))
            elif i % 10 == 0:  # open, deadline ahead
                state, due_at = State.ACCEPTED, NOW + timedelta(hours=rng.randint(1, 300))
            else:  # the bulk of a ledger: closed long ago
                state, due_at = State.CLOSED, None
            rows.append({
                "compound_id": compound.id, "number": f"XFL-B-{i:06d}", "reporter_id": reporter.id,
                "category": rng.choice(CATEGORIES).code, "description": "基准", "photos": {}, "anonymous": False,
                "state": state, "level": 2, "version": 1, "opened_at": opened, "due_at": due_at,
                "overdue_count": 0, "reopened": 0, "reminded": False, "resolution": "",
            })
        connection = await session.connection()
        for start in range(0, total, 5000):
            await connection.execute(insert(Case), rows[start:start + 5000])
    await engine.dispose()


async def scan(url: str, runs: int, due: int) -> list[float]:
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    timings: list[float] = []
    for _ in range(runs):
        async with transaction(maker) as session:
            begin = time.perf_counter()
            found = await due_cases(session, NOW, limit=max(200, due))
            timings.append(time.perf_counter() - begin)
            if len(found) != due:
                raise SystemExit(f"the scan found {len(found)} due cases, expected {due}")
    await engine.dispose()
    return timings


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--filings", type=int, default=100)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=300)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await prepare(url)
        rate, durations = await filing(url, args.filings)
        durations.sort()
        print(f"filing: {args.filings} complete conversations, {rate:.1f} per second; "
              f"p50 {ms(statistics.median(durations))}, p95 {ms(durations[int(len(durations) * 0.95) - 1])}")
        await seed_ledger(url, args.cases, args.due, random.Random(7))
        timings = await scan(url, args.runs, args.due)
        cold, warm = timings[0], sorted(timings[1:])
        print(f"overdue scan over {args.cases + args.filings:,} cases ({args.due} due): first (cold) {ms(cold)}; "
              f"then median {ms(statistics.median(warm))}, p95 {ms(warm[max(0, int(len(warm) * 0.95) - 1)])} "
              f"over {len(warm)} runs (target ≤ 200 ms)")


if __name__ == "__main__":
    asyncio.run(main())
