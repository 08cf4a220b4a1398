"""Telegram end to end: messages per second and p50/p99 latency from an update injected into the fake Bot API
server to the bot's reply arriving there, through the real `linli run` process over loopback, with long
polling and with the webhook; then the same messages through `Core.handle` in process, for the transport's
share of the cost.

    .venv/bin/python -m bench.telegram_e2e                    # 300 messages per mode, 8 people at once
    .venv/bin/python -m bench.telegram_e2e --messages 1600 --users 8 --modes webhook
    .venv/bin/python -m bench.telegram_e2e --modes polling --profile /tmp/tgprof   # cProfile of the bot process

Each virtual user sends `/help` in their private chat and waits for the answer before sending the next
(closed loop); `--users` of them run at once. The answer counts when the fake executes it: a request of the
bot's, or (webhook) the method call returned in the webhook's response. Besides wall-clock figures it reports
the CPU time the bot process spends per message, against `Core.handle`'s alone: the transport's share of the
cost, robust to a busy machine; and this process's CPU per message (the fake Telegram and the people), which
shares the machine with the bot. The bot's outgoing limiter (30 messages/s, Telegram's guidance) is switched
off, since it would measure the limit rather than the bot; `--limited` keeps it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build_app
from bot.core.types import Incoming
from bot.settings import Settings
from storage import migrate
from storage.db import make_engine, make_sessionmaker, transaction
from storage.demo import seed_demo
from tests.fake_telegram import BotProcess, FakeTelegram, link_telegram

FIRST_USER = 50001


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(name: str, latencies: list[float], elapsed: float, cpu: float) -> dict[str, float | str]:
    return {"mode": name, "messages": len(latencies), "per_second": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "mean_ms": statistics.fmean(latencies) * 1000, "cpu_ms": cpu / len(latencies) * 1000}


def process_cpu(pid: int) -> float:
    """CPU seconds a process has used (user + system): unlike wall time, not inflated by a busy machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def prepare(workdir: Path) -> str:
    url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url)
    async with transaction(make_sessionmaker(engine)) as session:
        await seed_demo(session)
    await engine.dispose()
    await link_telegram(url)
    return url


async def through_process(url: str, workdir: Path, messages: int, users: int, webhook: bool,
                          limited: bool, profile: Path | None = None) -> dict[str, float | str]:
    # Update ids are unique per bot, and the database remembers the ones it has processed.
    fake = await FakeTelegram(first_update_id=10_000_001 if webhook else 100_001).start()
    # The outbox's default tick (the tests use a faster one), and the limiter off unless asked for.
    env = {"OUTBOX_TICK_SECONDS": "1"} if limited else {"OUTBOX_TICK_SECONDS": "1", "TELEGRAM_GLOBAL_PER_SECOND": "0"}
    env["FLOOD_MESSAGES_PER_MINUTE"] = "0"  # each bench user sends far more than a person would in a minute
    bot = BotProcess(url, fake, workdir, webhook_secret="bench-secret" if webhook else "", extra_env=env,
                     profile=profile / f"bot-{'webhook' if webhook else 'polling'}.prof" if profile else None)
    await bot.start()
    latencies: list[float] = []
    per_user = max(1, messages // users)

    async def person(index: int) -> None:
        user = fake.user(FIRST_USER + index, f"bench{index}", "en")
        for _ in range(per_user):
            after = len(fake.calls)
            update_id = await fake.say(user, None, "/help")
            reply = await fake.reply_to(user["id"], after, wait=30)
            latencies.append(reply.at - fake.injected_at[update_id])

    try:
        # One round first so every person exists; then the measured rounds.
        await asyncio.gather(*(person(i) for i in range(users)))
        latencies.clear()
        assert bot.process is not None
        cpu_before, fake_before = process_cpu(bot.process.pid), time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(person(i) for i in range(users)))
        elapsed = time.perf_counter() - started
        cpu = process_cpu(bot.process.pid) - cpu_before
        fake_cpu = time.process_time() - fake_before
    finally:
        await bot.stop()
        await fake.stop()
    result = summary("webhook" if webhook else "polling", latencies, elapsed, cpu)
    result["fake_ms"] = fake_cpu / len(latencies) * 1000  # this process: the fake Telegram and the people
    return result


async def in_process(url: str, messages: int, users: int) -> dict[str, float | str]:
    """The same `/help` messages straight into `Core.handle`: what the bot costs without Telegram around it."""
    app = build_app(Settings(_env_file=None, database_url=url, flood_messages_per_minute=0))  # type: ignore[call-arg]
    counter = iter(range(10**9))
    run = time.time_ns()
    latencies: list[float] = []
    per_user = max(1, messages // users)

    async def person(index: int) -> None:
        for _ in range(per_user):
            incoming = Incoming(platform="telegram", update_id=f"inproc-{run}-{next(counter)}", chat_id=str(70001 + index),
                                chat_kind="private", user_id=str(70001 + index), user_name=f"p{index}",
                                language="en", text="/help", command="help")
            started = time.perf_counter()
            replies = await app.core.handle(incoming)
            latencies.append(time.perf_counter() - started)
            assert replies, "no reply"

    try:
        await asyncio.gather(*(person(i) for i in range(users)))
        latencies.clear()
        cpu_before = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(person(i) for i in range(users)))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
    finally:
        await app.close()
    return summary("Core.handle in process", latencies, elapsed, cpu)


MODES = ("polling", "webhook", "core")


async def main(messages: int, users: int, limited: bool, modes: tuple[str, ...], profile: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="linli-tg-bench-") as tmp:
        workdir = Path(tmp)
        url = await prepare(workdir)
        results = [await through_process(url, workdir, messages, users, webhook=mode == "webhook", limited=limited,
                                         profile=profile)
                   for mode in modes if mode != "core"]
        results.append(await in_process(url, messages, users))
    core = results[-1]
    print(f"{messages} messages per mode, {users} users at once, limiter {'on' if limited else 'off'}, "
          f"load average {os.getloadavg()[0]:.2f}\n")
    print(f"{'mode':<24}{'msg/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'CPU ms/msg':>12}"
          f"{'fake ms/msg':>13}  transport's CPU share")
    for r in results:
        share = (1 - float(core["cpu_ms"]) / float(r["cpu_ms"])) * 100
        print(f"{r['mode']!s:<24}{float(r['per_second']):>8.1f}{float(r['p50_ms']):>9.1f}"
              f"{float(r['p99_ms']):>9.1f}{float(r['mean_ms']):>9.1f}{float(r['cpu_ms']):>12.2f}"
              f"{float(r.get('fake_ms', 0)):>13.2f}  {share:5.0f}%")
    if profile is not None:
        print(f"\nprofiles of the bot process: {profile}/bot-*.prof (python -m pstats)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--limited", action="store_true", help="keep the 30 messages/s outgoing limiter")
    parser.add_argument("--modes", default="polling,webhook",
                        help="comma-separated: polling, webhook (Core.handle in process always runs last)")
    parser.add_argument("--profile", type=Path, help="run the bot under cProfile, its statistics into this folder")
    args = parser.parse_args()
    chosen = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if unknown := set(chosen) - set(MODES):
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        args.profile = args.profile.resolve()
    asyncio.run(main(args.messages, args.users, args.limited, chosen, args.profile))
