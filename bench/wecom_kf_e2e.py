"""微信客服 end to end: messages per second and p50/p99 latency from a resident's message (its callback leaving the
fake) to the bot's reply arriving there (kf/send_msg), through the real `linli run` process and the fake 微信客服
of tests/fake_wecom_kf.py over loopback: the encrypted callback, the token kept in the database, the leader's
kf/sync_msg pull, the core, and the reply fitted into the resident's window.

    .venv/bin/python -m bench.wecom_kf_e2e [--messages 300] [--residents 8]

Each virtual resident sends `/help` and waits for the whole answer before writing again (closed loop); 1 and then
`--residents` of them at once. Besides wall-clock figures it reports the bot process's CPU time per message
(robust to a busy machine) and how many messages one kf/sync_msg pull took on average (messages that arrive
while a pull runs are taken together by the next).
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

from storage import migrate
from storage.db import make_engine, make_sessionmaker, transaction
from storage.demo import seed_demo
from tests.fake_wecom_kf import FakeKf
from tests.test_wecom_kf_e2e import start_linli, stop_linli


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def process_cpu(pid: int) -> float:
    """CPU seconds a process has used (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def prepare(workdir: Path) -> str:
    url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url)
    async with transaction(make_sessionmaker(engine)) as session:
        await seed_demo(session)
    await engine.dispose()
    return url


async def run(kf: FakeKf, pid: int, messages: int, residents: int, parts: int) -> dict[str, float]:
    """`messages` /help in all from `residents` at once; `parts`: the sends of one answer."""
    latencies: list[float] = []
    per_resident = max(1, messages // residents)

    async def resident(index: int) -> None:
        user = f"wmBench{index:04d}"
        for _ in range(per_resident):
            before = len(kf.to(user))
            sent = time.monotonic()
            await kf.say(user, "/help")
            deadline = time.monotonic() + 60
            while len(kf.to(user)) < before + parts:  # a 2 ms poll: the fake's own waiter wakes every 0.2 s
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer to {user}")
                await asyncio.sleep(0.002)
            latencies.append(kf.to(user)[before].at - sent)  # the first part: what the resident sees first

    syncs = len(kf.syncs)
    cpu = process_cpu(pid)
    started = time.perf_counter()
    await asyncio.gather(*(resident(i) for i in range(residents)))
    elapsed = time.perf_counter() - started
    count = len(latencies)
    return {"residents": residents, "per_second": count / elapsed, "p50": percentile(latencies, 50) * 1000,
            "p99": percentile(latencies, 99) * 1000, "mean": statistics.fmean(latencies) * 1000,
            "cpu": (process_cpu(pid) - cpu) / count * 1000, "per_pull": count / max(1, len(kf.syncs) - syncs)}


async def main(messages: int, residents: int) -> None:
    with tempfile.TemporaryDirectory(prefix="linli-kf-bench-") as folder:
        workdir = Path(folder)
        url = await prepare(workdir)
        kf = await FakeKf().start()
        for index in range(max(residents, 1)):
            kf.nicknames[f"wmBench{index:04d}"] = f"居民{index}"
        linli = await start_linli(url, kf, workdir, LOG_LEVEL="WARNING", FLOOD_MESSAGES_PER_MINUTE="0")
        try:
            # How many sends one answer takes (it is fitted into the window's five), then a warm-up round in
            # which every resident is created and named.
            await kf.say("wmBench0000", "/help")
            await kf.wait_for(lambda: bool(kf.to("wmBench0000")), timeout=60)
            await asyncio.sleep(1.0)
            parts = len(kf.to("wmBench0000"))
            await run(kf, linli.process.pid, residents, residents, parts)
            print(f"{messages} messages of /help per row, each answered in {parts} kf/send_msg\n")
            print(f"{'residents at once':<18}{'msg/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}"
                  f"{'CPU ms/msg':>12}{'msgs/pull':>11}")
            for at_once in (1, residents):
                r = await run(kf, linli.process.pid, messages, at_once, parts)
                print(f"{at_once:<18}{r['per_second']:>8.1f}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['mean']:>9.1f}"
                      f"{r['cpu']:>12.2f}{r['per_pull']:>11.2f}")
            if kf.refused:
                print(f"refused by the platform: {len(kf.refused)} (codes {sorted({c for _, c in kf.refused})})")
        finally:
            await stop_linli(linli)
            await kf.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--residents", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.residents))
