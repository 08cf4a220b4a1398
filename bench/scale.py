"""Scale benchmark on PostgreSQL (issue 11): dispatch with 1, 2 and 4 processes, the broadcast with 1 and 3
outbox processes against the fake platform's limits, and the memory of one `linli run` process with 300
compounds and 600,000 residents.

    tests/postgres.sh --run .venv/bin/python -m bench.scale                  # everything (a few minutes)
    tests/postgres.sh --run .venv/bin/python -m bench.scale --only dispatch --messages 2000
    tests/postgres.sh --run .venv/bin/python -m bench.scale --only memory --residents 600000

The PostgreSQL server is the throwaway one `tests/postgres.sh` starts on loopback (its admin URL arrives in
LINLI_TEST_PG_ADMIN_URL); each part makes its own databases there.

- **dispatch**: plain Python worker processes, each a full `Core` (every feature's router) on the one database,
  each driving `Core.handle` with its own slice of people: bench/dispatch.py's seeding (100 compounds, 10,000
  residents) and message mix (40 % /help, 30 % /start, 30 % steps of complete join flows), its own update ids
  and newcomers. No HTTP and no platform: this measures the core and the database, not the webhook. All
  processes start measuring together; throughput = all messages / the slowest process's time.
- **broadcast**: bench/broadcast.py's run (`--workers K`: K outbox processes on one database, a rate-limited
  fake platform over HTTP in this process), on PostgreSQL.
- **memory**: residents bulk-loaded with COPY, then the real `linli run` (Telegram long polling against
  tests/fake_telegram.py), some traffic from residents picked at random, and VmRSS / VmHWM from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import itertools
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


# ---- the throwaway server ----------------------------------------------------------------------------------


def admin_url() -> str:
    url = os.environ.get("LINLI_TEST_PG_ADMIN_URL", "")
    if not url:
        raise SystemExit("Run it through tests/postgres.sh --run (it starts PostgreSQL and sets "
                         "LINLI_TEST_PG_ADMIN_URL).")
    return url


def database_url(name: str) -> str:
    return admin_url().rsplit("/", 1)[0] + "/" + name


async def admin(*statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url().replace("postgresql+asyncpg", "postgresql"))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def fresh_database(name: str, template: str | None = None) -> str:
    await admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
                f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    return database_url(name)


async def fix_sequences(url: str) -> None:
    """Rows inserted with explicit ids leave the id sequences behind; the next ordinary insert must not clash."""
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await connection.fetch(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'id' AND table_schema = 'public' "
            "AND column_default LIKE 'nextval%'")
        for row in rows:
            table = row["table_name"]
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM \"{table}\"), 1))")
    finally:
        await connection.close()


# ---- dispatch ----------------------------------------------------------------------------------------------


async def dispatch_worker(url: str, index: int, run: int, messages: int, warmup: int, compounds: int,
                          residents: int, orm: bool = False, profile: str | None = None, concurrent: int = 1) -> None:
    """One process: warm up, say "ready", wait for "go" on stdin, then handle `messages`, `concurrent` at a time
    (one after another by default; several as a webhook serves the updates that arrive together)."""
    from bench.dispatch import Mix, timed
    from bot.app import build_app
    from bot.core.clock import Clock
    from bot.settings import Settings

    settings = Settings(_env_file=None, database_url=url, demo=False)  # type: ignore[call-arg]
    app = build_app(settings, clock=Clock())
    app.core.intake = not orm
    mix = Mix(compounds, residents, seed=1000 * run + index)
    # Update ids and newcomers of their own: another process's update is not a repeat of this one's.
    mix.ids = itertools.count(10_000_000 * (10 * run + index) + 1)
    mix.newcomers = itertools.count(1_000_000 * (10 * run + index) + 1)

    async def one(_: int) -> None:
        incoming, flow = mix.next()
        t0 = time.perf_counter()
        answer = await app.core.handle(incoming)
        mix.kinds["join" if flow is not None else incoming.command or "help"].append(time.perf_counter() - t0)
        if answer and "出了点问题" in answer[0].text:
            raise RuntimeError(f"the core failed on {incoming}")
        mix.answered(flow, answer)

    try:
        await timed("warm-up", warmup, one)
        mix.kinds = {kind: [] for kind in mix.kinds}
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        result = await timed("run", messages, one, concurrent)
        if profiler:
            profiler.disable()
            profiler.dump_stats(f"{profile}.{index}")
    finally:
        await app.close()
    print(json.dumps({"messages": result.messages, "seconds": result.seconds, "cpu": result.cpu_seconds,
                      "latencies": result.latencies, "joins": mix.completed, "kinds": mix.kinds}), flush=True)


async def dispatch_run(template: str, run: int, processes: int, args: argparse.Namespace) -> dict[str, Any]:
    url = await fresh_database(f"scale_dispatch_{processes}", template)
    if args.unix_socket:  # the server's Unix socket instead of TCP on loopback
        import asyncpg

        connection = await asyncpg.connect(admin_url().replace("postgresql+asyncpg", "postgresql"))
        try:
            directory = (await connection.fetchval("SHOW unix_socket_directories")).split(",")[0].strip()
            port = await connection.fetchval("SHOW port")
        finally:
            await connection.close()
        url = f"postgresql+asyncpg://postgres@/scale_dispatch_{processes}?host={directory}&port={port}"
    children = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.scale", "--dispatch-worker", str(index), "--run", str(run), "--url", url,
        "--messages", str(args.messages), "--warmup", str(args.warmup), "--compounds", str(args.compounds),
        "--dispatch-residents", str(args.dispatch_residents), *(["--orm"] if args.orm else []),
        *(["--profile", args.profile] if args.profile else []), "--concurrent", str(args.concurrent), cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE) for index in range(processes)]
    for child in children:
        assert child.stdout is not None
        line = await child.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"a dispatch worker did not start: {line!r}")
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        await child.stdin.drain()
    results = []
    for child in children:
        out, _ = await child.communicate()
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
        if child.returncode:
            raise RuntimeError(f"a dispatch worker failed with {child.returncode}")
    latencies = sorted(latency for result in results for latency in result["latencies"])
    total = sum(result["messages"] for result in results)
    seconds = max(result["seconds"] for result in results)
    cpu = sum(result["cpu"] for result in results)
    figures = {
        "processes": processes, "in flight": args.concurrent, "messages": total, "msg/s": round(total / seconds, 1),
        "p50 ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99 ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000, 2),
        "cpu ms/msg (workers)": round(cpu / total * 1000, 2), "joins completed": sum(r["joins"] for r in results),
    }
    for kind in ("help", "start", "join"):
        times = sorted(t for result in results for t in result["kinds"][kind])
        if times:
            figures[f"{kind} mean ms"] = round(sum(times) / len(times) * 1000, 2)
            figures[f"{kind} p99 ms"] = round(times[min(len(times) - 1, int(0.99 * len(times)))] * 1000, 2)
    print("  dispatch: " + "  ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
    await admin(f"DROP DATABASE IF EXISTS scale_dispatch_{processes} WITH (FORCE)")
    return figures


async def dispatch(args: argparse.Namespace) -> list[dict[str, Any]]:
    from bench.dispatch import seed
    from storage import migrate

    started = time.perf_counter()
    url = await fresh_database("scale_dispatch_seeded")
    migrate.upgrade(url)
    await seed(url, args.compounds, args.dispatch_residents)
    await fix_sequences(url)
    print(f"dispatch: seeded {args.compounds} compounds, {args.dispatch_residents} residents in "
          f"{time.perf_counter() - started:.1f} s; {args.messages} messages per process", flush=True)
    results = [await dispatch_run("scale_dispatch_seeded", run, processes, args)
               for run, processes in enumerate(args.processes, 1)]
    base = results[0]["msg/s"]
    for result in results:
        result["× one process"] = round(result["msg/s"] / base, 2)
    return results


# ---- broadcast ---------------------------------------------------------------------------------------------


async def broadcast(args: argparse.Namespace) -> list[dict[str, Any]]:
    from bench import broadcast as bench_broadcast
    from storage import migrate

    results = []
    for workers in (1, 3):
        url = await fresh_database(f"scale_broadcast_{workers}")
        migrate.upgrade(url)
        print(f"broadcast: {args.chats} chats, {workers} outbox process(es), PostgreSQL", flush=True)
        results.append(dict(await bench_broadcast.run(url, args.chats, workers, 10.0, kill=False)))
    return results


# ---- group commit -------------------------------------------------------------------------------------------
#
# Would committing the updates that arrive together in one transaction pay? Each update here is a message's
# fixed writes on asyncpg (read the sender, claim the update with its answer, write last seen), `--in-flight` of
# them at a time, as a transport hands a process its updates. "each": one transaction per update on a pool of
# as many connections. "grouped": one committer takes whatever has arrived, runs each update in a savepoint of
# one transaction (a failing update rolls back to its savepoint; the others stay) and commits them together.
# One update in a hundred repeats an earlier update id and fails, in both modes.

_SENDER = ("SELECT i.id, i.person_id, p.name FROM identity AS i JOIN person AS p ON p.id = i.person_id "
           "WHERE i.platform = $1 AND i.platform_user_id = $2")
_CLAIM = ("INSERT INTO processedupdate (platform, update_id, processed_at, answer, person_id) "
          "VALUES ($1, $2, now(), $3::json, $4)")
_SEEN = "UPDATE identity SET last_seen_at = now() WHERE id = $1"


async def _update(connection: Any, user: str, update_id: str) -> None:
    sender = await connection.fetchrow(_SENDER, "console", user)
    await connection.execute(_CLAIM, "console", update_id, '{"messages": [{"text": "ok"}]}', sender["person_id"])
    await connection.execute(_SEEN, sender["id"])


async def group_commit_run(url: str, grouped: bool, in_flight: int, updates: int, residents: int,
                           run: int) -> dict[str, Any]:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg", "postgresql")
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1 if grouped else in_flight + 1)
    rng = random.Random(run)
    jobs = [(f"r{rng.randint(1, residents)}", f"gc{run}-{i}" if i % 100 != 99 else f"gc{run}-{i - 1}")
            for i in range(updates)]
    latencies: list[float] = []
    failed = 0
    commits = 0
    queue: asyncio.Queue[tuple[str, str, asyncio.Future[None]]] = asyncio.Queue()

    async def committer() -> None:
        nonlocal commits
        async with pool.acquire() as connection:
            while True:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                outcomes: list[BaseException | None] = []
                async with connection.transaction():
                    for user, update_id, _ in batch:
                        try:
                            async with connection.transaction():  # a savepoint
                                await _update(connection, user, update_id)
                            outcomes.append(None)
                        except asyncpg.PostgresError as error:
                            outcomes.append(error)
                commits += 1
                for (_, _, done), outcome in zip(batch, outcomes, strict=True):
                    if outcome is None:
                        done.set_result(None)
                    else:
                        done.set_exception(outcome)

    async def one(connection: Any, user: str, update_id: str) -> None:
        nonlocal commits
        if grouped:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            queue.put_nowait((user, update_id, done))
            await done
            return
        async with connection.transaction():
            await _update(connection, user, update_id)
        commits += 1

    async def client(mine: list[tuple[str, str]]) -> None:
        nonlocal failed
        # A connection of its own (as a session's, with no reset query between updates), or the committer's.
        async with contextlib.AsyncExitStack() as stack:
            connection = None if grouped else await stack.enter_async_context(pool.acquire())
            for user, update_id in mine:
                t0 = time.perf_counter()
                try:
                    await one(connection, user, update_id)
                except asyncpg.UniqueViolationError:
                    failed += 1
                latencies.append(time.perf_counter() - t0)

    # How many times the server flushed its log to disk (it groups the commits of concurrent transactions itself),
    # read by a connection of its own after the others have closed (a server process reports its counts then).
    async def wal_flushes() -> int:
        await asyncio.sleep(0.5)
        connection = await asyncpg.connect(dsn)
        try:
            return int(await connection.fetchval("SELECT wal_sync FROM pg_stat_wal"))
        finally:
            await connection.close()

    flushes = await wal_flushes()
    committing = asyncio.create_task(committer()) if grouped else None
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client(jobs[i::in_flight]) for i in range(in_flight)))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if committing is not None:
        committing.cancel()
    async with pool.acquire() as connection:
        stored = await connection.fetchval("SELECT count(*) FROM processedupdate WHERE update_id LIKE $1", f"gc{run}-%")
    await pool.close()
    flushes = await wal_flushes() - flushes
    latencies.sort()
    figures = {
        "mode": "grouped" if grouped else "each", "in flight": in_flight, "updates": updates,
        "updates/s": round(updates / seconds, 1), "p50 ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99 ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000, 2),
        "commits": commits, "WAL flushes": flushes, "failed": failed, "stored": stored, "cpu ms/update": round(cpu / updates * 1000, 3),
    }
    # Every update that did not fail is stored once, whichever mode: a failing one undid only itself.
    assert stored == updates - failed, figures
    print("  group commit: " + "  ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
    return figures


def durable_server() -> tuple[str, Any]:
    """A second throwaway server beside the test server, with PostgreSQL's default durability (fsync and
    synchronous_commit on; the test server has them off, and a setting on its command line cannot be changed):
    its admin URL and a function that stops it."""
    import glob
    import shutil
    import socket
    import subprocess

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not bins:
        raise SystemExit("PostgreSQL's pg_ctl not found")
    pgbin = os.path.dirname(bins[-1])
    data = tempfile.mkdtemp(prefix="linli-pg-durable.")
    runas: list[str] = []
    if os.getuid() == 0:  # the server refuses to run as root
        runas = ["runuser", "-u", "postgres", "--"]
        shutil.chown(data, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run([*runas, f"{pgbin}/initdb", "-D", f"{data}/db", "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--locale=C.UTF-8"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*runas, f"{pgbin}/pg_ctl", "-D", f"{data}/db", "-l", f"{data}/log", "-w", "-o",
                    f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={data}", "start"],
                   check=True, stdout=subprocess.DEVNULL)

    def stop() -> None:
        subprocess.run([*runas, f"{pgbin}/pg_ctl", "-D", f"{data}/db", "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(data, ignore_errors=True)

    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres", stop


async def group_commit(args: argparse.Namespace) -> list[dict[str, Any]]:
    from bench.dispatch import seed
    from storage import migrate

    results = []
    run = 0
    test_server = admin_url()
    durable_url, stop = durable_server()
    try:
        for durable in (True, False):
            os.environ["LINLI_TEST_PG_ADMIN_URL"] = durable_url if durable else test_server
            url = await fresh_database("scale_group_commit")
            migrate.upgrade(url)
            await seed(url, 10, args.dispatch_residents)
            await fix_sequences(url)
            print(f"group commit: fsync and synchronous_commit {'on' if durable else 'off'}", flush=True)
            for in_flight in args.in_flight:
                for grouped in (False, True):
                    run += 1
                    figures = await group_commit_run(url, grouped, in_flight, args.updates, args.dispatch_residents,
                                                     run)
                    results.append({"durable": durable, **figures})
            await admin("DROP DATABASE IF EXISTS scale_group_commit WITH (FORCE)")
    finally:
        os.environ["LINLI_TEST_PG_ADMIN_URL"] = test_server
        stop()
    return results


# ---- memory at district scale ------------------------------------------------------------------------------


def _template(model: type[Any], **values: Any) -> dict[str, Any]:
    """Every column's value for a row of `model` (its Python-side defaults), JSON as text for COPY."""
    row = model(**values).model_dump()
    return {key: json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value
            for key, value in row.items()}


async def seed_district(url: str, compounds: int, residents: int) -> list[int]:
    """`compounds` compounds of 10 buildings × 2 units and `residents` rooms in all, one approved owner in
    each, every one with a Telegram identity: COPY, about 2.4 million rows. Returns the Telegram user ids."""
    import asyncpg

    from storage.compounds import Building, Compound, Room, Unit
    from storage.people import Identity, Membership, Person

    now = datetime.now(UTC)
    per_compound = residents // compounds
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))

    async def copy(model: type[Any], rows: list[dict[str, Any]], base: dict[str, Any]) -> None:
        columns = [c.name for c in model.__table__.columns]
        records = [tuple(row[c] if c in row else base[c] for c in columns) for row in rows]
        await connection.copy_records_to_table(model.__table__.name, records=records, columns=columns)

    try:
        await copy(Compound, [{"id": c, "code": f"D{c:04d}", "name": f"小区{c}", "invite_code": f"DIST{c:05d}",
                               "street": f"街道{c % 12}"} for c in range(1, compounds + 1)],
                   _template(Compound, code="X", name="X", invite_code="X", created_at=now))
        buildings, units = [], []
        for c in range(1, compounds + 1):
            for b in range(10):
                building = (c - 1) * 10 + b + 1
                buildings.append({"id": building, "compound_id": c, "name": f"{b + 1}栋", "sort": b + 1})
                for u in range(2):
                    units.append({"id": (building - 1) * 2 + u + 1, "building_id": building, "name": f"{u + 1}单元",
                                  "sort": u + 1})
        await copy(Building, buildings, {"sort": 0})
        await copy(Unit, units, {"sort": 0})
        room_base = _template(Room, compound_id=1, building_id=1, unit_id=1, number="1", area=Decimal(1))
        person_base = _template(Person, created_at=now)
        identity_base = _template(Identity, person_id=1, platform="telegram", platform_user_id="1", last_seen_at=now)
        membership_base = _template(Membership, person_id=1, compound_id=1, created_at=now)
        user_ids = []
        step = 100_000
        for start in range(0, residents, step):
            rooms, people, identities, memberships = [], [], [], []
            for i in range(start + 1, min(residents, start + step) + 1):
                c = min(compounds, (i - 1) // per_compound + 1)
                k = (i - 1) % per_compound
                building = (c - 1) * 10 + k % 10 + 1
                unit = (building - 1) * 2 + (k // 10) % 2 + 1
                number = f"{k // 20 + 1}{k % 20:02d}"
                rooms.append({"id": i, "compound_id": c, "building_id": building, "unit_id": unit, "number": number,
                              "floor": k // 20 + 1, "area": Decimal(60 + i % 80)})
                people.append({"id": i, "name": f"居民{i}", "current_compound_id": c})
                identities.append({"id": i, "person_id": i, "platform_user_id": str(10_000_000 + i),
                                   "private_chat_id": str(10_000_000 + i)})
                memberships.append({"id": i, "person_id": i, "compound_id": c, "room_id": i, "relation": "owner",
                                    "status": "approved"})
                user_ids.append(10_000_000 + i)
            await copy(Room, rooms, room_base)
            await copy(Person, people, person_base)
            await copy(Identity, identities, identity_base)
            await copy(Membership, memberships, membership_base)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    await fix_sequences(url)
    return user_ids


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (peak) and RssAnon in kB."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon"):
            figures[key] = int(value.split()[0])
    return figures


async def memory(args: argparse.Namespace) -> dict[str, Any]:
    from storage import migrate
    from tests.fake_telegram import BotProcess, FakeTelegram

    url = await fresh_database("scale_memory")
    migrate.upgrade(url)
    started = time.perf_counter()
    user_ids = await seed_district(url, args.district_compounds, args.residents)
    seeded = time.perf_counter() - started
    print(f"memory: seeded {args.district_compounds} compounds, {args.residents} residents with COPY in "
          f"{seeded:.1f} s", flush=True)
    fake = await FakeTelegram().start()
    rng = random.Random(5)
    talkers = rng.sample(user_ids, args.talkers)
    for uid in talkers:
        fake.chats[str(uid)] = {"id": uid, "type": "private", "first_name": "x"}
    with tempfile.TemporaryDirectory() as directory:
        bot = BotProcess(url, fake, Path(directory), extra_env={"LOG_LEVEL": "WARNING"})
        await bot.start(wait=120)
        assert bot.process is not None
        pid = bot.process.pid
        await asyncio.sleep(2)
        at_start = proc_status(pid)
        answered = 0
        commands = ["/help", "/start", "/mycases", "/points", "/tasks"]
        t0 = time.perf_counter()
        for round_ in range(args.rounds):
            after = len(fake.calls)
            for uid in talkers:
                await fake.say(fake.user(uid, "居民"), None, commands[(uid + round_) % len(commands)])
            answered_now: set[str] = set()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                answered_now = {c.chat_id for c in fake.calls[after:] if c.method == "sendmessage" and c.ok}
                if len(answered_now) >= len(talkers):
                    break
                await asyncio.sleep(0.2)
            answered += len(answered_now)
        traffic_seconds = time.perf_counter() - t0
        after_traffic = proc_status(pid)
        await bot.stop()
    await fake.stop()
    await admin("DROP DATABASE IF EXISTS scale_memory WITH (FORCE)")
    figures = {
        "compounds": args.district_compounds, "residents": args.residents, "seed s": round(seeded, 1),
        "RSS at start MB": round(at_start["VmRSS"] / 1024, 1),
        "RSS after traffic MB": round(after_traffic["VmRSS"] / 1024, 1),
        "peak RSS (VmHWM) MB": round(after_traffic["VmHWM"] / 1024, 1),
        "messages": args.talkers * args.rounds, "answered": answered, "traffic s": round(traffic_seconds, 1),
    }
    print("  memory: " + "  ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
    return figures


# ---- main --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["dispatch", "broadcast", "memory", "group-commit"])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--messages", type=int, default=2000, help="dispatch: messages per process")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--compounds", type=int, default=100, help="dispatch: compounds seeded")
    parser.add_argument("--dispatch-residents", type=int, default=10_000)
    parser.add_argument("--chats", type=int, default=1000, help="broadcast: group chats")
    parser.add_argument("--district-compounds", type=int, default=300, help="memory: compounds seeded")
    parser.add_argument("--residents", type=int, default=600_000, help="memory: residents seeded")
    parser.add_argument("--talkers", type=int, default=200, help="memory: residents who write to the bot")
    parser.add_argument("--rounds", type=int, default=3, help="memory: messages each talker sends")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 8, 32],
                        help="group commit: updates in flight at once")
    parser.add_argument("--updates", type=int, default=3000, help="group commit: updates per run")
    parser.add_argument("--unix-socket", action="store_true", help="dispatch: connect by the server's Unix socket")
    parser.add_argument("--orm", action="store_true",
                        help="dispatch: the per-message statements through the ORM (Core.intake off), to compare")
    parser.add_argument("--concurrent", type=int, default=1,
                        help="dispatch: messages in flight at once in each process (1: one after another)")
    parser.add_argument("--profile", help="dispatch: cProfile each worker's run into PROFILE.<worker>")
    parser.add_argument("--dispatch-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--run", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    if args.dispatch_worker is not None:
        await dispatch_worker(args.url, args.dispatch_worker, args.run, args.messages, args.warmup, args.compounds,
                              args.dispatch_residents, args.orm, args.profile, args.concurrent)
        return
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}", flush=True)
    figures: dict[str, Any] = {}
    if args.only in (None, "dispatch"):
        figures["dispatch"] = await dispatch(args)
    if args.only in (None, "broadcast"):
        figures["broadcast"] = await broadcast(args)
    if args.only in (None, "memory"):
        figures["memory"] = await memory(args)
    if args.only == "group-commit":  # not in the default run: a measurement made once, see docs/benchmarks.md
        figures["group commit"] = await group_commit(args)
    if args.json:
        out = Path(args.json)
        out.write_text(json.dumps(figures, ensure_ascii=False, indent=1, default=str))  # noqa: ASYNC240 - at the end


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
