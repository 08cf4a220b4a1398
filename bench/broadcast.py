"""Broadcast benchmark: one posting to 1,000 group chats through the outbox, into a fake platform that enforces
Telegram's limits (30 messages/s overall, 20 per minute into one group) and answers 429 with `retry_after`
when they are exceeded. Reports the achieved rate as a share of the limit (target >= 90 %), the 429s
(target 0), lost and duplicated deliveries (0), for a clean run and for a run where one worker process is
killed with SIGKILL halfway and restarted.

The fake platform is an HTTP server on loopback in this process; the outbox workers are separate processes
(`--workers K`, all on one database), each a real `OutboxWorker` sending through a small HTTP transport, so
the overall rate they share is paced only through the database, as with several `linli run` processes.

    .venv/bin/python -m bench.broadcast                       # 1 worker process, clean and killed runs
    .venv/bin/python -m bench.broadcast --workers 3           # 3 worker processes sharing the 30/s
    .venv/bin/python -m bench.broadcast --chats 300 --only clean
    .venv/bin/python -m bench.broadcast --database-url postgresql+asyncpg://user@127.0.0.1:5432/db
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import resource
import signal
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlmodel import col, func, select

from bot.app import App, build_app
from bot.core.clock import Clock
from bot.core.types import Capabilities, Delivery, OutMessage, Reply, ToGroups
from bot.outbox import OutboxWorker
from bot.settings import Settings
from bot.transports.base import Limits
from storage import migrate
from storage import outbox as store
from storage.compounds import Chat, create_compound
from storage.db import transaction

PLATFORM = "telegram-fake"
GLOBAL_PER_SECOND = 30
GROUP_PER_MINUTE = 20
LIMITS = Limits(GLOBAL_PER_SECOND, GROUP_PER_MINUTE, 1.0)
# Gaps between deliveries longer than this are idle time (a process starting, a dead worker's lease running
# out), not sending time: the rate is deliveries per second of sending.
IDLE_GAP = 0.5


# ---- the platform (this process) ---------------------------------------------------------------------------


@dataclass
class RateLimitedPlatform:
    """Telegram's flood control: a sliding one-second window overall and a one-minute window per chat, counted
    when a request arrives; a request over either limit gets 429 and is not delivered. Each answer takes
    `latency` × 0.5–1.5 seconds (the network), so a kill can land after arrival and before the answer."""

    latency: float = 0.03
    delivered: list[tuple[str, float]] = field(default_factory=list)
    # When each request left its worker (the worker's clock): the pacer's doing, free of this process's own
    # scheduling delays, which stamp requests queued during a stall all at once.
    sent_at: list[float] = field(default_factory=list)
    answered: set[int] = field(default_factory=set)
    rejected: int = 0
    # (when, the sender of each request in the one-second window before it): what a 429 came from.
    rejections: list[tuple[float, list[tuple[float, str]]]] = field(default_factory=list)
    _window: deque[tuple[float, str]] = field(default_factory=deque)
    _per_chat: dict[str, deque[float]] = field(default_factory=dict)

    async def send(self, request: web.Request) -> web.Response:
        body = await request.json()
        chat_id = str(body["chat_id"])
        now = time.monotonic()
        self.sent_at.append(float(body.get("sent_at", 0.0)))
        while self._window and self._window[0][0] <= now - 1.0:
            self._window.popleft()
        chat = self._per_chat.setdefault(chat_id, deque())
        while chat and chat[0] <= now - 60.0:
            chat.popleft()
        if len(self._window) >= GLOBAL_PER_SECOND or len(chat) >= GROUP_PER_MINUTE:
            self.rejected += 1
            self.rejections.append((now, list(self._window)))
            await asyncio.sleep(self.latency)
            return web.json_response({"ok": False, "retry_after": 1}, status=429)
        self._window.append((now, str(body.get("sender", ""))))
        chat.append(now)
        self.delivered.append((chat_id, now))
        number = len(self.delivered)
        await asyncio.sleep(random.uniform(0.5, 1.5) * self.latency)
        self.answered.add(number)
        return web.json_response({"ok": True, "message_id": number})

    async def start(self) -> tuple[web.AppRunner, str]:
        app = web.Application()
        app.router.add_post("/send", self.send)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return runner, f"http://127.0.0.1:{port}"


# ---- a worker process -------------------------------------------------------------------------------------


class HttpPlatformTransport:
    """The worker's side: a transport that posts to the fake platform (a Bot API in miniature)."""

    platform = PLATFORM
    caps = Capabilities()
    limits = LIMITS

    def __init__(self, base_url: str, sender: str = "") -> None:
        self.base_url = base_url
        self.sender = sender
        self.session: aiohttp.ClientSession | None = None

    async def deliver(self, chat_id: str, chat_kind: str, message: OutMessage, first_part: int = 0) -> Delivery:
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        async with self.session.post(f"{self.base_url}/send", json={"chat_id": chat_id, "text": message.text,
                                                                              "sender": self.sender,
                                                                              "sent_at": time.time()}) as response:
            data: dict[str, Any] = await response.json()
        if response.status == 429:
            return Delivery(False, retry_after=float(data["retry_after"]), error="429 Too Many Requests")
        return Delivery(True, str(data["message_id"]))

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> Delivery:
        return Delivery(True, message_id)


async def worker_process(url: str, base_url: str, worker_id: str, lease: float) -> None:
    """`--serve-worker`: deliver until SIGTERM (a graceful stop), or die by SIGKILL."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, 0)  # an ordinary process, whatever the platform's priority
    settings = Settings(_env_file=None, database_url=url, outbox_tick_seconds=0.05)  # type: ignore[call-arg]
    transport = HttpPlatformTransport(base_url, worker_id)
    app = build_app(settings, clock=Clock(), transports=[transport])
    worker = OutboxWorker(app.core, app.transports, worker_id=worker_id, lease=timedelta(seconds=lease))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await worker.run(stop)
    pacer = worker.pacers[PLATFORM]
    print(f"  worker {worker_id}: cpu {time.process_time():.1f} s; send slots leased {pacer.leased}, "
          f"skipped as late {pacer.skipped}; rows given back unsent after waiting {pacer.refused}", flush=True)
    if transport.session is not None:
        await transport.session.close()
    await app.close()


# ---- the runs ---------------------------------------------------------------------------------------------


async def setup(url: str, chats: int) -> App:
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    app = build_app(settings, clock=Clock(), transports=[HttpPlatformTransport("http://unused")])
    async with transaction(app.core.sessions) as session:
        await session.exec(store.OutboxMessage.__table__.delete())  # type: ignore[attr-defined]
        await session.exec(store.OutboxPace.__table__.delete())  # type: ignore[attr-defined]
        await session.exec(Chat.__table__.delete().where(Chat.platform == PLATFORM))  # type: ignore[attr-defined]
        compound = await create_compound(session, "基准小区", f"B{random.randrange(10**6)}")
        assert compound.id is not None
        for n in range(chats):
            session.add(Chat(platform=PLATFORM, platform_chat_id=f"-100{n:06d}", kind="group", title=f"群{n}",
                             compound_id=compound.id))
        await session.flush()
        # The one posting, written the way every feature writes it: a reply to the compound's groups.
        await app.core.enqueue(session, Reply("本周红黑榜：红榜 3 条，黑榜 1 条（已整改 1 条）。", to=ToGroups(compound.id)),
                               ToGroups(compound.id), None, app.core.clock.now())
    return app


ROOT = Path(__file__).resolve().parent.parent


async def spawn(url: str, base_url: str, worker_id: str, lease: float) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.broadcast", "--serve-worker", worker_id, "--database-url", url,
        "--platform-url", base_url, "--lease", str(lease), cwd=ROOT)


async def open_rows(app: App) -> int:
    async with app.core.sessions() as session:
        count = (await session.exec(select(func.count()).select_from(store.OutboxMessage).where(
            col(store.OutboxMessage.state).in_([store.PENDING, store.SENDING])))).one()
    return int(count)


def busiest_second(times: list[float]) -> int:
    """The most requests in any one-second window."""
    times = sorted(times)
    busiest, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


def sending_seconds(times: list[float]) -> float:
    times = sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return sum(gap for gap in gaps if gap <= IDLE_GAP) + 1 / GLOBAL_PER_SECOND


async def run(url: str, chats: int, workers: int, lease: float, kill: bool) -> dict[str, object]:
    app = await setup(url, chats)
    platform = RateLimitedPlatform()
    runner, base_url = await platform.start()
    started = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = time.process_time()
    procs = [await spawn(url, base_url, f"w{n}", lease) for n in range(workers)]
    note = ""
    try:
        if kill:
            while len(platform.delivered) < chats // 2:  # noqa: ASYNC110 - polling the fake's counter
                await asyncio.sleep(0.005)
            at_kill = len(platform.delivered)
            in_flight = at_kill - len(platform.answered)  # arrived, not answered yet: uncertain whatever we do
            procs[0].send_signal(signal.SIGKILL)
            await procs[0].wait()
            await asyncio.sleep(0.2)
            async with app.core.sessions() as session:
                stranded = list((await session.exec(select(store.OutboxMessage.chat_id).where(
                    store.OutboxMessage.state == store.SENDING, store.OutboxMessage.claimed_by == "w0"))).all())
            reached = {chat for chat, _ in platform.delivered}
            uncertain = len([chat for chat in stranded if chat in reached])
            note = (f"SIGKILL of w0 after {at_kill} deliveries: {in_flight} request(s) at the platform unanswered; "
                    f"{len(stranded)} rows left claimed, {uncertain} of them had reached the platform "
                    f"(these are sent again after the lease)")
            print("  " + note, flush=True)
            procs[0] = await spawn(url, base_url, "w0-restarted", lease)
        while await open_rows(app):  # noqa: ASYNC110 - the database is what says the broadcast is done
            await asyncio.sleep(0.5)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            await proc.wait()
        await runner.cleanup()
        await app.close()
    wall = time.monotonic() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    counts = Counter(chat for chat, _ in platform.delivered)
    seconds = sending_seconds([at for _, at in platform.delivered])
    rate = len(platform.delivered) / seconds
    figures: dict[str, object] = {
        "run": ("killed+restarted" if kill else "clean") + f" ×{workers}",
        "chats": chats,
        "delivered": len(counts),
        "lost": chats - len(counts),
        "duplicated": sum(n - 1 for n in counts.values()),
        "429s": platform.rejected,
        "sending s": round(seconds, 1),
        "wall s": round(wall, 1),
        "rate /s": round(rate, 2),
        "share of 30/s": f"{rate / GLOBAL_PER_SECOND:.1%}",
        "max in 1 s by send time": busiest_second(platform.sent_at),
        "cpu workers s": round(children.ru_utime + children.ru_stime - before.ru_utime - before.ru_stime, 1),
        "cpu platform s": round(time.process_time() - cpu_before, 1),
    }
    print("  ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
    first = min((at for _, at in platform.delivered), default=0.0)
    for at, window in platform.rejections:
        senders = Counter(sender for _, sender in window)
        print(f"  429 at {at - first:.2f} s: the second before it had {len(window)} arrivals "
              f"({', '.join(f'{k} {v}' for k, v in sorted(senders.items()))}), first at -{at - window[0][0]:.3f} s",
              flush=True)
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="outbox worker processes on one database")
    parser.add_argument("--lease", type=float, default=10.0, help="seconds before a dead worker's rows are retried")
    parser.add_argument("--only", choices=["clean", "killed"])
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary directory")
    parser.add_argument("--serve-worker", metavar="ID", help=argparse.SUPPRESS)
    parser.add_argument("--platform-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_worker:
        await worker_process(args.database_url, args.platform_url, args.serve_worker, args.lease)
        return
    with contextlib.suppress(OSError):
        # The fake platform stands for Telegram's servers, which our load does not slow down: on a busy machine
        # a descheduled platform would stamp the requests that queued meanwhile all at once (false 429s).
        os.nice(-10)
    with tempfile.TemporaryDirectory() as directory:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(directory) / 'broadcast.db'}"
        migrate.upgrade(url)
        print(f"{args.chats} chats, {args.workers} worker process(es), {os.cpu_count()} cores, "
              f"{url.split(':')[0]}", flush=True)
        if args.only != "killed":
            await run(url, args.chats, args.workers, args.lease, kill=False)
        if args.only != "clean":
            await run(url, args.chats, args.workers, args.lease, kill=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
