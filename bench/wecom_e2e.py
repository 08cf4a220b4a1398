"""WeCom end to end: messages per second and latency from a callback sent to the reply received, through the
real `linli run` process and the fake WeCom (tests/fake_wecom.py) over loopback, for the long connection and
the HTTP callback; and the share of the HTTP callback's cost spent in crypto.

    .venv/bin/python -m bench.wecom_e2e [--messages 300] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.transports.wecom.crypto import WeComCrypto  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import make_engine, make_sessionmaker, transaction  # noqa: E402
from storage.demo import seed_demo  # noqa: E402
from tests.fake_wecom import (  # noqa: E402
    BOT_ID,
    BOT_SECRET,
    CALLBACK_AES_KEY,
    CALLBACK_TOKEN,
    CallbackClient,
    FakeWeCom,
    text,
)
from tests.test_wecom_e2e import start_linli, stop_linli  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def seeded_db(folder: Path) -> str:
    url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url)
    async with transaction(make_sessionmaker(engine)) as session:
        await seed_demo(session)
    await engine.dispose()
    return url


async def run_ws(fake: FakeWeCom, count: int, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            sent = time.monotonic()
            req_id = await fake.push(text(f"benchws{i % 200}", "/help"))
            while req_id not in fake.responded:  # noqa: ASYNC110 - a 1 ms poll keeps the timing exact
                await asyncio.sleep(0.001)
            latencies.append(fake.responded[req_id] - sent)

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(count)))
    return latencies, count / (time.monotonic() - started)


async def run_http(client: CallbackClient, count: int, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            sent = time.monotonic()
            status, reply = await client.send(text(f"benchhttp{i % 200}", "/help"))
            assert status == 200 and reply is not None, status
            latencies.append(time.monotonic() - sent)

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(count)))
    return latencies, count / (time.monotonic() - started)


def crypto_cost(samples: int = 2000) -> float:
    """Seconds per callback spent in our crypto: verify + decrypt the request, encrypt + sign the reply."""
    ours = WeComCrypto(CALLBACK_TOKEN, CALLBACK_AES_KEY, "")
    request = '{"msgid":"1","msgtype":"text","text":{"content":"/help"},"from":{"userid":"u"}}'
    reply = '{"msgtype":"stream","stream":{"id":"x","finish":true,"content":"' + "帮助" * 400 + '"}}'
    sealed = ours.seal(request, "1700000000", "nonce")
    started = time.perf_counter()
    for _ in range(samples):
        ours.open(sealed["msgsignature"], "1700000000", "nonce", sealed["encrypt"])
        ours.seal(reply, "1700000000", "nonce")
    return (time.perf_counter() - started) / samples


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        url = await seeded_db(workdir)
        fake = await FakeWeCom().start()
        linli = await start_linli(url, fake, workdir, WECOM_BOT_ID=BOT_ID, WECOM_BOT_SECRET=BOT_SECRET,
                                  WECOM_WS_URL=fake.ws_url, WECOM_CALLBACK_TOKEN=CALLBACK_TOKEN,
                                  WECOM_CALLBACK_AES_KEY=CALLBACK_AES_KEY, LOG_LEVEL="WARNING")
        try:
            await fake.wait_for(lambda: fake.authenticated >= 1, timeout=30)
            client = CallbackClient(linli.callback_url)
            await run_ws(fake, 20, 4)  # warm-up
            await run_http(client, 20, 4)
            print(f"{args.messages} messages of /help each; concurrency {args.concurrency} and 1")
            results: dict[str, float] = {}
            for name, runner in (("long connection", lambda c: run_ws(fake, args.messages, c)),
                                 ("HTTP callback", lambda c: run_http(client, args.messages, c))):
                for concurrency in (1, args.concurrency):
                    latencies, rate = await runner(concurrency)
                    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
                    results[f"{name}/{concurrency}"] = p50
                    print(f"{name:16} in flight {concurrency:2}: {rate:7.1f} msg/s  "
                          f"p50 {p50 * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms")
            cost = crypto_cost()
            share = cost / results["HTTP callback/1"]
            print(f"crypto per HTTP callback (verify+decrypt+encrypt+sign): {cost * 1e6:.0f} µs "
                  f"= {share * 100:.1f}% of the sequential p50")
        finally:
            await stop_linli(linli)
            await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
