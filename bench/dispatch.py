"""Dispatch benchmark: messages per second and p50/p99 latency through the core (`Core.handle`, SQLite file,
console platform) with 100 compounds and 10,000 residents seeded, for a mix of /help, /start menus and
complete join flows; then, in the same run, the peer: a typical aiogram + SQLAlchemy bot doing one read and
one write per update (bench/peer.py), and the floor: a bare python-telegram-bot 22 echo bot fed the same number
of updates in-process (`Application.process_update`, replies answered by a local request object, no network).
Our cost is printed as a ratio to both.

    .venv/bin/python -m bench.dispatch                  # 5,000 messages
    .venv/bin/python -m bench.dispatch --messages 20000 --profile
    .venv/bin/python -m bench.dispatch --orm            # the fixed statements through the ORM, to compare
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import json
import pstats
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlmodel import insert

from bot.app import App, build_app
from bot.core.clock import Clock
from bot.core.types import Contact, Incoming, OutMessage
from bot.scheduler import CHECKPOINT_SECONDS
from bot.settings import Settings
from storage import migrate
from storage.compounds import Building, Chat, Compound, Room, RosterOwner, Unit
from storage.db import checkpoint, make_engine, make_sessionmaker, sqlite_driver, transaction
from storage.people import Identity, Membership, MembershipStatus, Person, RoleGrant

PLATFORM = "console"
BUILDINGS, UNITS, FLOORS, PER_FLOOR = 5, 2, 5, 2  # 100 rooms a compound
SECRETARIES = 3  # of each compound: its first residents


def invite(compound: int) -> str:
    return f"BENCH{compound:03d}"


def roster_phone(compound: int, building: int, unit: int, floor: int, index: int) -> str:
    return f"139{compound:03d}{building}{unit}{floor}{index}0"


# ---- seeding ---------------------------------------------------------------------------------------------


async def seed(url: str, compounds: int, residents: int) -> None:
    """Bulk inserts with explicit ids: 100 compounds × 100 rooms, residents spread over them."""
    now = datetime.now(UTC)
    rows: dict[type[Any], list[dict[str, Any]]] = {m: [] for m in (Compound, Building, Unit, Room, RosterOwner,
                                                                   Person, Identity, Chat, Membership, RoleGrant)}
    room_ids: list[tuple[int, int]] = []  # (compound, room id)
    building_id = unit_id = room_id = 0
    for c in range(1, compounds + 1):
        rows[Compound].append(Compound(id=c, code=f"B{c:03d}", name=f"小区{c}", invite_code=invite(c),
                                       created_at=now).model_dump())
        for b in range(1, BUILDINGS + 1):
            building_id += 1
            rows[Building].append({"id": building_id, "compound_id": c, "name": f"{b}栋", "sort": b})
            for u in range(1, UNITS + 1):
                unit_id += 1
                rows[Unit].append({"id": unit_id, "building_id": building_id, "name": f"{u}单元", "sort": u})
                for floor in range(1, FLOORS + 1):
                    for index in range(1, PER_FLOOR + 1):
                        room_id += 1
                        rows[Room].append({"id": room_id, "compound_id": c, "building_id": building_id,
                                           "unit_id": unit_id, "number": f"{floor}0{index}", "floor": floor,
                                           "area": Decimal("88.50"), "unsold": False})
                        rows[RosterOwner].append({"room_id": room_id, "name": f"业主{room_id}",
                                                  "phone": roster_phone(c, b, u, floor, index)})
                        room_ids.append((c, room_id))
    for p in range(1, residents + 1):
        c, r = room_ids[(p - 1) % len(room_ids)]
        rows[Person].append(Person(id=p, name=f"居民{p}", current_compound_id=c, created_at=now).model_dump())
        rows[Identity].append(Identity(person_id=p, platform=PLATFORM, platform_user_id=f"r{p}",
                                       private_chat_id=f"p:r{p}", last_seen_at=now).model_dump(exclude={"id"}))
        # A resident who joined has talked to the bot in private before: their chat exists.
        rows[Chat].append(Chat(platform=PLATFORM, platform_chat_id=f"p:r{p}", kind="private",
                               title="").model_dump(exclude={"id"}))
        rows[Membership].append(Membership(person_id=p, compound_id=c, room_id=r, relation="owner",
                                           status=MembershipStatus.APPROVED, created_at=now).model_dump(exclude={"id"}))
        if (p - 1) % len(room_ids) % (len(room_ids) // compounds) < SECRETARIES:  # each compound's first ones
            rows[RoleGrant].append(RoleGrant(person_id=p, compound_id=c, role="secretary",
                                             granted_at=now).model_dump(exclude={"id"}))
    engine = make_engine(url)
    async with transaction(make_sessionmaker(engine)) as session:
        for model, values in rows.items():
            for start in range(0, len(values), 1000):
                await session.exec(insert(model), params=values[start : start + 1000])
    await engine.dispose()


# ---- the message mix ------------------------------------------------------------------------------------


@dataclass
class JoinFlow:
    user: str
    compound: int
    step: int = 0
    last: OutMessage | None = None
    picked: list[str] = field(default_factory=list)
    match_phone: bool = True
    waiting: bool = False  # a step of it is in flight (several messages at once): its next waits for the answer


class Mix:
    """40% /help, 30% /start, 30% steps of complete join flows (half approved by the roster phone)."""

    def __init__(self, compounds: int, residents: int, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.compounds = compounds
        self.residents = residents
        self.ids = itertools.count(1)
        self.newcomers = itertools.count(1)
        self.flows: list[JoinFlow] = []
        self.completed = 0
        # Each message's time by kind (help, start, join), for the figures of /help and /start alone.
        self.kinds: dict[str, list[float]] = {"help": [], "start": [], "join": []}

    def _incoming(self, user: str, **fields: Any) -> Incoming:
        return Incoming(platform=PLATFORM, update_id=f"bench-{next(self.ids)}", chat_id=f"p:{user}",
                        chat_kind="private", user_id=user, user_name=user, **fields)

    def next(self) -> tuple[Incoming, JoinFlow | None]:
        roll = self.random.random()
        if roll < 0.3:
            return self._join_step()
        user = f"r{self.random.randint(1, self.residents)}"
        if roll < 0.7:
            return self._incoming(user, text="/help", command="help"), None
        return self._incoming(user, text="/start", command="start"), None

    def _join_step(self) -> tuple[Incoming, JoinFlow]:
        if len(self.flows) < 20:
            return self._join_step_of_new_flow()
        idle = [flow for flow in self.flows if not flow.waiting]
        if not idle:
            return self._join_step_of_new_flow()
        flow = self.random.choice(idle)
        flow.waiting = True
        if flow.step == 5:
            if flow.match_phone:
                b, u, number = (int(flow.picked[0][0]), int(flow.picked[1][0]), flow.picked[2])
                phone = roster_phone(flow.compound, b, u, int(number[0]), int(number[-1]))
                return self._incoming(flow.user, contact=Contact(phone, flow.user)), flow
            skip = flow.last.buttons[1][0] if flow.last else None
            return self._incoming(flow.user, button=skip.data if skip else "x"), flow
        assert flow.last is not None and flow.last.buttons, (flow, flow.last)
        buttons = [b for row in flow.last.buttons for b in row]
        button = buttons[0] if flow.step == 4 else self.random.choice(buttons)
        flow.picked.append(button.label)
        return self._incoming(flow.user, button=button.data), flow

    def _join_step_of_new_flow(self) -> tuple[Incoming, JoinFlow]:
        compound = self.random.randint(1, self.compounds)
        flow = JoinFlow(f"n{next(self.newcomers)}", compound, match_phone=self.random.random() < 0.5, waiting=True)
        self.flows.append(flow)
        code = invite(compound)
        return self._incoming(flow.user, text=f"/join {code}", command="join", args=code), flow

    def answered(self, flow: JoinFlow | None, messages: list[OutMessage]) -> None:
        if flow is None:
            return
        flow.waiting = False
        flow.last = messages[-1] if messages else None
        flow.step += 1
        if flow.step == 6:
            self.flows.remove(flow)
            self.completed += 1


# ---- measuring ------------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    messages: int
    seconds: float
    latencies: list[float]
    # CPU time of the whole process (all threads): less disturbed than wall time on a busy machine.
    cpu_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def cost_ms(self) -> float:
        return self.seconds / self.messages * 1000

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        return (f"{self.name:<28} {self.messages:>7} msgs  {self.per_second:>8.0f} msg/s  "
                f"p50 {self.pct(0.50):6.2f} ms  p99 {self.pct(0.99):6.2f} ms  "
                f"mean {statistics.fmean(self.latencies) * 1000:6.2f} ms  "
                f"cpu {self.cpu_seconds / self.messages * 1000:6.2f} ms/msg")


async def timed(name: str, count: int, step: Callable[[int], Awaitable[None]], concurrent: int = 1) -> Result:
    """`count` steps, one after another, or `concurrent` in flight (each of as many tasks takes the next step as
    soon as its last is done). Latencies are each step's own."""
    latencies: list[float] = []
    numbers = iter(range(count))

    async def worker() -> None:
        for i in numbers:
            t0 = time.perf_counter()
            await step(i)
            latencies.append(time.perf_counter() - t0)

    started, cpu = time.perf_counter(), time.process_time()
    if concurrent == 1:
        await worker()
    else:
        await asyncio.gather(*(worker() for _ in range(concurrent)))
    return Result(name, count, time.perf_counter() - started, latencies, time.process_time() - cpu)


async def bench_core(app: App, compounds: int, residents: int, count: int, warmup: int) -> tuple[Result, Mix]:
    mix = Mix(compounds, residents)

    async def one(_: int) -> None:
        incoming, flow = mix.next()
        t0 = time.perf_counter()
        messages = await app.core.handle(incoming)
        mix.kinds["join" if flow is not None else incoming.command or "help"].append(time.perf_counter() - t0)
        if messages and "出了点问题" in messages[0].text:
            raise RuntimeError(f"the core failed on {incoming}")
        mix.answered(flow, messages)

    async def checkpoints() -> None:  # as the running bot's scheduler does
        while True:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            await checkpoint(app.engine)

    checkpointing = asyncio.create_task(checkpoints())
    try:
        await timed("warm-up", warmup, one)
        mix.completed = 0
        mix.kinds = {kind: [] for kind in mix.kinds}
        return await timed("linli core (SQLite)", count, one), mix
    finally:
        checkpointing.cancel()


# ---- the peer: a typical aiogram + SQLAlchemy bot ---------------------------------------------------------


async def bench_peer(directory: Path, users: int, count: int, warmup: int) -> Result:
    from bench.peer import PeerBot, updates

    path = directory / "peer.db"
    path.unlink(missing_ok=True)
    bot = PeerBot(path)
    await bot.create(users)
    feed = updates(users)

    async def one(_: int) -> None:
        answer = await bot.feed(next(feed))
        assert answer["text"], answer

    try:
        await timed("warm-up", warmup, one)
        return await timed("peer: aiogram-style + ORM", count, one)
    finally:
        await bot.close()


# ---- the floor: python-telegram-bot echo ------------------------------------------------------------------


def _ptb_request_class() -> type[Any]:
    from telegram.request import BaseRequest, RequestData

    class LocalRequest(BaseRequest):
        """Answers the Bot API locally: getMe and sendMessage, without any network."""

        def __init__(self) -> None:
            self.sent = 0

        async def initialize(self) -> None:
            return None

        async def shutdown(self) -> None:
            return None

        @property
        def read_timeout(self) -> float | None:
            return None

        async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                             *args: Any, **kwargs: Any) -> tuple[int, bytes]:
            endpoint = url.rsplit("/", 1)[-1]
            params = request_data.parameters if request_data else {}
            result: Any
            if endpoint == "getMe":
                result = {"id": 123, "is_bot": True, "first_name": "echo", "username": "echo_bot",
                          "can_join_groups": True, "can_read_all_group_messages": False,
                          "supports_inline_queries": False}
            elif endpoint == "sendMessage":
                self.sent += 1
                result = {"message_id": self.sent, "date": 0, "text": params.get("text", ""),
                          "chat": {"id": int(str(params["chat_id"])), "type": "private"}}
            else:
                result = True
            return 200, json.dumps({"ok": True, "result": result}).encode()

    return LocalRequest


async def bench_ptb(count: int, warmup: int) -> Result:
    from telegram import Update
    from telegram.ext import Application, ContextTypes, MessageHandler, filters

    request = _ptb_request_class()()
    application = Application.builder().token("123:abc").updater(None).request(request).get_updates_request(
        _ptb_request_class()()).build()

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(update.message.text or "")

    application.add_handler(MessageHandler(filters.TEXT, echo))
    await application.initialize()
    ids = itertools.count(1)

    async def one(_: int) -> None:
        n = next(ids)
        user = 1000 + n % 10_000
        payload = {"update_id": n, "message": {
            "message_id": n, "date": 0, "text": "/help" if n % 2 else "hello",
            "chat": {"id": user, "type": "private", "first_name": "u"},
            "from": {"id": user, "is_bot": False, "first_name": "u"}}}
        await application.process_update(Update.de_json(payload, application.bot))

    await timed("warm-up", warmup, one)
    before = request.sent
    result = await timed("python-telegram-bot echo", count, one)
    assert request.sent - before == count, "the echo bot did not answer every update"
    await application.shutdown()
    return result


# ---- the stack's own cost ---------------------------------------------------------------------------------


async def bench_stack(app: App, path: Path, count: int) -> list[Result]:
    """What every message pays before any of its own work, on the same database: a SQLAlchemy transaction
    that takes the write lock and commits with nothing in it (as a session begins and commits one), the same
    through `storage.db.transaction` (the kept writer connection, begun and committed on its driver), and one
    ORM select by primary key; then the same on bare sqlite3. The difference is SQLAlchemy's share."""
    sessions = app.core.sessions

    async def orm_transaction(_: int) -> None:
        session = sessions()
        async with session, session.begin():
            await session.connection()  # BEGIN IMMEDIATE, as a message's first statement does

    async def our_transaction(_: int) -> None:
        async with transaction(sessions) as session:
            await sqlite_driver(session)

    async def orm_get(i: int) -> None:
        async with sessions() as session:
            await session.get(Person, i % 1000 + 1)

    raw = sqlite3.connect(path, isolation_level=None)

    async def bare_transaction(_: int) -> None:
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("COMMIT")

    async def bare_get(i: int) -> None:
        raw.execute("SELECT * FROM person WHERE id = ?", (i % 1000 + 1,)).fetchone()

    try:
        return [await timed(name, count, step) for name, step in (
            ("SQLAlchemy: empty transaction", orm_transaction), ("linli: empty transaction", our_transaction),
            ("SQLAlchemy: ORM get by key", orm_get),
            ("sqlite3: empty transaction", bare_transaction), ("sqlite3: select by key", bare_get))]
    finally:
        raw.close()


def cost_by_package(profiler: cProfile.Profile) -> list[tuple[str, float]]:
    """Own time of the profiled run by where the code lives (the profiler inflates many small calls)."""
    shares: dict[str, float] = {}
    for (filename, _, function), (_, _, own, _, _) in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        where = next((name for marker, name in (
            ("sqlalchemy", "SQLAlchemy"), ("greenlet", "SQLAlchemy"), ("sqlmodel", "SQLAlchemy"),
            ("/bot/", "linli"), ("/handlers/", "linli"), ("/storage/", "linli"), ("asyncio", "asyncio"),
            ("sqlite3", "sqlite3")) if marker in filename or marker in function), "other")
        shares[where] = shares.get(where, 0.0) + own
    total = sum(shares.values()) or 1.0
    return sorted(((name, own / total) for name, own in shares.items()), key=lambda pair: -pair[1])


# ---- main -----------------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    directory = Path(args.db_dir or tempfile.mkdtemp(prefix="linli-bench-"))
    # The seeded database is kept in --db-dir and copied for every run, so runs compare like with like.
    template = directory / f"seeded-{args.compounds}-{args.residents}-v4.db"
    if not template.exists():
        started = time.perf_counter()
        building = directory / "seeding.db"
        building.unlink(missing_ok=True)
        migrate.upgrade(f"sqlite+aiosqlite:///{building}")
        await seed(f"sqlite+aiosqlite:///{building}", args.compounds, args.residents)
        building.rename(template)
        print(f"seeded {args.compounds} compounds, {args.residents} residents in "
              f"{time.perf_counter() - started:.1f} s")
    path = directory / "bench.db"
    shutil.copy(template, path)
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)  # a template seeded before the newest migrations is brought up to date
    settings = Settings(_env_file=None, database_url=url, demo=False)  # type: ignore[call-arg]
    app = build_app(settings, clock=Clock())
    app.core.intake = not args.orm
    profiler = cProfile.Profile() if args.profile else None
    try:
        if profiler:
            profiler.enable()
        core, mix = await bench_core(app, args.compounds, args.residents, args.messages, args.warmup)
        if profiler:
            profiler.disable()
        stack = await bench_stack(app, path, args.messages)
    finally:
        await app.close()
    peer = await bench_peer(directory, args.residents, args.messages, args.warmup)
    floor = await bench_ptb(args.messages, args.warmup)
    print(core.line())
    print(f"{'':<28} ({mix.completed} join flows completed)")
    for name, part in (("/help", "help"), ("/start", "start"), ("join steps", "join")):
        print(f"{'  ' + name:<28} {len(mix.kinds[part]):>7} msgs  mean {statistics.fmean(mix.kinds[part]) * 1000:6.2f} ms"
              f"  p99 {sorted(mix.kinds[part])[int(0.99 * len(mix.kinds[part]))] * 1000:6.2f} ms"
              f"  ({1 / statistics.fmean(mix.kinds[part]):.0f} msg/s)")
    print(peer.line())
    print(floor.line())
    print(f"cost per message: core {core.cost_ms:.3f} ms, peer {peer.cost_ms:.3f} ms, floor {floor.cost_ms:.3f} ms; "
          f"core / peer {core.cost_ms / peer.cost_ms:.2f}x (CPU {core.cpu_seconds / peer.cpu_seconds:.2f}x), "
          f"core / floor {core.cost_ms / floor.cost_ms:.2f}x (CPU {core.cpu_seconds / floor.cpu_seconds:.2f}x)")
    help_start = mix.kinds["help"] + mix.kinds["start"]
    print(f"targets: >= 1000 msg/s: {'yes' if core.per_second >= 1000 else 'NO'}; "
          f"p99 <= 5 ms: {'yes' if core.pct(0.99) <= 5 else 'NO'}; "
          f"/help and /start >= 2000 msg/s: {'yes' if len(help_start) / sum(help_start) >= 2000 else 'NO'}; "
          f"<= 0.5x the peer: {'yes' if core.cost_ms <= 0.5 * peer.cost_ms else 'NO'}")
    for result in stack:
        print(result.line())
    if profiler:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(35)
        print("own time by package: " + ", ".join(f"{name} {share:.0%}" for name, share in cost_by_package(profiler)))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--compounds", type=int, default=100)
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--db-dir", help="where to put the database (default: a new temporary directory)")
    parser.add_argument("--profile", action="store_true", help="cProfile the core run and print the top")
    parser.add_argument("--orm", action="store_true",
                        help="the per-message statements through the ORM (Core.intake off), to compare")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
