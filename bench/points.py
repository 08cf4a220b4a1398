"""Points ledger at district scale on SQLite: one balance, and a compound's monthly top 10, over 100,000
residents and 5,000,000 ledger entries (targets: ≤ 5 ms and ≤ 100 ms).

    .venv/bin/python -m bench.points [--people 100000] [--entries 5000000] [--compounds 200] [--db PATH]

The database is migrated with the project's migrations (so the indexes measured are the ones deployed), the
ledger is bulk-loaded with executemany, and the timed queries are the ones the bot runs
(`storage.points.balance` and `storage.points.top`) through the async engine."""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from storage import migrate
from storage import points as ledger
from storage.db import make_engine, make_sessionmaker

START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def load(path: Path, people: int, entries: int, compounds: int) -> float:
    """Bulk insert: compounds, people, and the ledger spread over two years. Returns seconds taken."""
    began = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    rng = random.Random(7)
    db.executemany(
        "INSERT INTO compound (id, code, name, timezone, language, community, street, invite_code, settings, "
        "created_at) VALUES (?, ?, ?, 'Asia/Shanghai', 'zh_CN', '', '', ?, '{}', ?)",
        [(c, f"C{c}", f"compound {c}", f"INV{c}", START.replace(tzinfo=None)) for c in range(1, compounds + 1)])
    db.executemany(
        "INSERT INTO person (id, name, phone, hide_name, skills, created_at) VALUES (?, ?, '', 0, '', ?)",
        [(p, f"resident {p}", START.replace(tzinfo=None)) for p in range(1, people + 1)])
    # Indexes are built after the load (much faster than maintaining them row by row), from their own DDL.
    indexes = [sql for (sql,) in db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'points_entry' AND sql IS NOT NULL")]
    for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'points_entry' AND sql IS NOT NULL"
    ).fetchall():
        db.execute(f'DROP INDEX "{name}"')
    span = int((NOW - START).total_seconds())
    batch: list[tuple[object, ...]] = []
    for n in range(1, entries + 1):
        person = rng.randint(1, people)
        compound = (person % compounds) + 1  # each resident earns in their own compound
        when = (START + timedelta(seconds=rng.randrange(span))).replace(tzinfo=None)
        if rng.random() < 0.1:
            batch.append((compound, person, -rng.randint(1, 5), "redemption", "兑换", f"redeem:{n}", None, when))
        else:
            batch.append((compound, person, rng.choice((2, 4, 5, 6)), "attendance", "志愿服务", f"att:{n}",
                          n % 5000, when))
        if len(batch) == 100_000:
            _insert(db, batch)
            batch.clear()
    _insert(db, batch)
    for sql in indexes:
        db.execute(sql)
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return time.perf_counter() - began


def _insert(db: sqlite3.Connection, batch: list[tuple[object, ...]]) -> None:
    db.executemany(
        "INSERT INTO points_entry (compound_id, person_id, amount, kind, reason, key, task_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)


async def measure(url: str, people: int, compounds: int, rounds: int) -> tuple[list[float], list[float]]:
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    rng = random.Random(11)
    month = ledger.month_start(NOW, ZoneInfo("Asia/Shanghai"))
    balances: list[float] = []
    tops: list[float] = []
    async with maker() as session:
        await ledger.balance(session, 1, 1)  # warm the connection and the statement cache
        for _ in range(rounds):
            person = rng.randint(1, people)
            began = time.perf_counter()
            await ledger.balance(session, (person % compounds) + 1, person)
            balances.append((time.perf_counter() - began) * 1000)
        for _ in range(max(rounds // 10, 20)):
            compound = rng.randint(1, compounds)
            began = time.perf_counter()
            board = await ledger.top(session, compound, month)
            tops.append((time.perf_counter() - began) * 1000)
            assert len(board) <= 10
    await engine.dispose()
    return balances, tops


def summary(name: str, values: list[float], target: float) -> str:
    values = sorted(values)
    p95 = values[int(len(values) * 0.95) - 1]
    verdict = "ok" if p95 <= target else "OVER TARGET"
    return (f"{name}: median {statistics.median(values):.2f} ms, p95 {p95:.2f} ms, max {values[-1]:.2f} ms "
            f"(target {target:g} ms: {verdict}; n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=5_000_000)
    parser.add_argument("--compounds", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--db", help="keep the database at this path (default: a temporary file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db) if args.db else Path(tmp) / "points.db"
        path.unlink(missing_ok=True)
        url = f"sqlite+aiosqlite:///{path}"
        migrate.upgrade(url)
        seconds = load(path, args.people, args.entries, args.compounds)
        print(f"loaded {args.entries:,} entries for {args.people:,} residents in {args.compounds} compounds "
              f"in {seconds:.1f} s ({args.entries / seconds:,.0f} rows/s)")
        balances, tops = asyncio.run(measure(url, args.people, args.compounds, args.rounds))
        print(summary("one balance", balances, 5))
        print(summary("a compound's monthly top 10", tops, 100))


if __name__ == "__main__":
    main()
