"""Pages benchmark: requests per second for a compound's board and an assembly's result page, served by the
app's web server (a separate process, SQLite) over real HTTP on loopback, with a district's data: `--compounds`
compounds (default 100) each with 200 announcements, 50 disclosures, 26 weeks of 红黑榜 postings (520 entries),
300 complaint cases in the month before and one closed assembly of 10 motions (an election among them) with its
publication period and 20 answered objections; the pages read one compound's share of it.

    .venv/bin/python -m bench.pages                       # 100 compounds, 20 s per page, 8 connections
    .venv/bin/python -m bench.pages --compounds 20 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import aiohttp
from pydantic import SecretStr

from storage import migrate

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent


async def seed(url: str, compounds: int, rng: random.Random) -> tuple[str, int]:
    """The district; returns the first compound's code and its assembly's id."""
    from storage import assembly as store
    from storage.announcements import Announcement, AnnouncementStatus, Disclosure
    from storage.board import BoardEntry, Color, EntryStatus
    from storage.complaints import CATEGORIES, Case, State
    from storage.compounds import Compound
    from storage.db import make_engine, make_sessionmaker, transaction
    from storage.people import Person

    engine = make_engine(url)
    first: tuple[str, int] = ("", 0)
    async with transaction(make_sessionmaker(engine)) as session:
        author = Person(name="书记")
        session.add(author)
        await session.flush()
        for c in range(compounds):
            compound = Compound(code=f"C{c:04d}", name=f"小区{c}", invite_code=f"I{c:04d}", street=f"街道{c // 10}")
            session.add(compound)
            await session.flush()
            cid, pid = compound.stored_id, author.id or 0
            session.add_all([Announcement(compound_id=cid, author_id=pid, text=f"公告 {i}：" + "通知内容" * 20,
                                          due_at=NOW - timedelta(hours=i * 7), status=AnnouncementStatus.SENT)
                             for i in range(200)])
            session.add_all([Disclosure(compound_id=cid, author_id=pid, kind=rng.choice(["finance", "major"]),
                                        text=f"2026年{i % 12 + 1}月 收入 {rng.randint(1, 99)} 万元", media_id=None,
                                        created_at=NOW - timedelta(days=i * 7)) for i in range(50)])
            entries = []
            for week in range(26):
                posted = NOW - timedelta(days=7 * week)
                for i in range(20):
                    black = i % 3 == 0
                    entries.append(BoardEntry(
                        compound_id=cid, color=Color.BLACK if black else Color.RED, subject=f"{i % 6 + 1}栋楼下",
                        text="私家车长期占用消防通道" if black else "每天清扫楼道", nominator_id=pid,
                        status=EntryStatus.APPROVED, posted_at=posted,
                        corrected_at=posted + timedelta(days=3) if black and week % 2 else None,
                        corrected_posted_at=posted + timedelta(days=7) if black and week % 2 else None))
            session.add_all(entries)
            month_start = datetime(2026, 10, 1, tzinfo=UTC)
            session.add_all([Case(compound_id=cid, number=f"C{c:04d}-2026-{i:04d}", reporter_id=pid,
                                  category=rng.choice(CATEGORIES).code, description="诉求", level=rng.randint(1, 3),
                                  state=State.CLOSED, opened_at=month_start + timedelta(hours=i * 2),
                                  overdue_count=int(rng.random() < 0.1)) for i in range(300)])
            assembly = store.Assembly(compound_id=cid, title="2026年度业主大会", status=store.AssemblyStatus.CLOSED,
                                      opens_at=NOW - timedelta(days=10), closes_at=NOW - timedelta(days=3),
                                      closed_at=NOW - timedelta(days=3), created_by=pid)
            session.add(assembly)
            await session.flush()
            motions = [store.Motion(assembly_id=assembly.stored_id, position=i + 1, text=f"第{i + 1}项：" + "议题" * 15,
                                    kind=store.ELECTION if i == 9 else store.SPECIAL if i % 3 == 0 else store.ORDINARY,
                                    seats=3 if i == 9 else 0,
                                    options={"candidates": [f"候选人{k}" for k in range(6)]} if i == 9 else {})
                       for i in range(10)]
            session.add_all(motions)
            await session.flush()
            total = store.Count(Fraction(1_000_000, 100), 100)
            part = store.Count(Fraction(800_000, 100), 80)
            yes, no = store.Count(Fraction(600_000, 100), 60), store.Count(Fraction(150_000, 100), 15)
            results = [store.MotionResult(
                m.id or 0, m.kind, total, part, yes, no, store.Count(Fraction(50_000, 100), 5), True, True, True, (),
                tuple(store.CandidateResult(k, yes, True, k < 3) for k in range(6)) if m.kind == store.ELECTION else ())
                for m in motions]
            assembly.result = store.result_to_json(results)
            session.add(assembly)
            session.add(store.Publicity(assembly_id=assembly.stored_id, starts_at=NOW - timedelta(days=3),
                                        ends_at=NOW + timedelta(days=4)))
            session.add_all([store.Objection(assembly_id=assembly.stored_id, person_id=pid, reason=f"异议 {i}",
                                             lodged_at=NOW - timedelta(days=2), status=store.ObjectionStatus.ANSWERED,
                                             answer="已核对", answered_by=pid, answered_at=NOW - timedelta(days=1))
                             for i in range(20)])
            if c == 0:
                first = (compound.code, assembly.stored_id)
    await engine.dispose()
    return first


def serve(url: str, port: int) -> None:
    """The server process: the app's web server (pages and all), no platform."""
    from aiohttp import web

    from bot.app import build_app, make_web_app
    from bot.core.clock import Clock
    from bot.settings import Settings

    settings = Settings(_env_file=None, database_url=url, public_base_url="http://127.0.0.1",  # type: ignore[call-arg]
                        pages_secret=SecretStr("bench"), pages_per_minute=0, log_level="WARNING")
    app = build_app(settings, clock=Clock(NOW, frozen=True))
    web.run_app(make_web_app(app), host="127.0.0.1", port=port, print=None, access_log=None)


async def load(url: str, seconds: float, connections: int, fresh: bool = False) -> dict[str, float]:
    """`connections` clients asking for `url` one after another for `seconds`: requests per second and latency.
    `fresh`: every request a new address (`?n=`), so the server renders each one instead of serving it from its
    10-second cache of public pages."""
    latencies: list[float] = []
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as client:

        async def one_client() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                async with client.get(f"{url}?n={next(counter)}" if fresh else url) as response:
                    await response.read()
                    assert response.status == 200, response.status
                latencies.append((time.perf_counter() - start) * 1000)

        start = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "median_ms": statistics.median(latencies),
            "p95_ms": latencies[int(len(latencies) * 0.95)]}


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        migrate.upgrade(url)
        started = time.perf_counter()
        code, assembly_id = await seed(url, args.compounds, random.Random(22))
        print(f"seeded {args.compounds} compounds in {time.perf_counter() - started:.1f} s", flush=True)
        port = args.port
        server = subprocess.Popen([sys.executable, "-m", "bench.pages", "--serve", url, "--port", str(port)],  # noqa: ASYNC220
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as probe:
                for _ in range(200):
                    try:
                        async with probe.get(base + "/healthz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.1)
            found = {}
            for name, path in (("board", f"/c/{code}"), ("assembly result", f"/c/{code}/assembly/{assembly_id}")):
                await load(base + path, 1.0, 2)  # warm up: templates compiled, connections open
                for fresh in (True, False):
                    label = f"{name}, {'rendered each time' if fresh else 'from the 10 s cache'}"
                    found[label] = result = await load(base + path, args.seconds, args.connections, fresh)
                    print(f"{label:<40} {result['rps']:7.1f} requests/s  median {result['median_ms']:6.1f} ms  "
                          f"p95 {result['p95_ms']:6.1f} ms  ({result['requests']} requests, {args.connections} "
                          f"connections, {args.seconds:g} s)", flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(found, indent=2))  # noqa: ASYNC240
        finally:
            server.terminate()
            server.wait()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compounds", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--port", type=int, default=18_722)
    parser.add_argument("--json", default="")
    parser.add_argument("--serve", default="", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve:
        serve(arguments.serve, arguments.port)
    else:
        asyncio.run(main(arguments))
