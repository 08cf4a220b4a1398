"""Chaos: real `linli run` processes against the fake Bot API on loopback, killed with SIGKILL one at a time
while a group posting goes to many group chats, owners vote in an open assembly and residents file complaints.

PostgreSQL (the PostgreSQL pass of `make test`): three processes serve one webhook port (SO_REUSEPORT, as
`linli run --workers 3` does), so the fake's pushes are spread over all three; every few seconds one of them is
killed and started again. SQLite (the SQLite pass): one process, killed and restarted.

Afterwards: every group posting and every owner's announcement arrived exactly once (none lost; duplicates are
only possible for a send in flight at a kill, since Telegram has no idempotent send — they are counted and
bounded by the rows the killed process held at that moment), every ballot and complaint is stored once, the
stored tally equals the tally of the ballots the owners submitted, and nobody is left in a conversation.

The default numbers keep the test short; the issue's (1,000 chats, 500 owners, 200 complainants) run with

    LINLI_CHAOS_SCALE=full tests/postgres.sh tests/test_chaos.py -k postgres -s

(`LINLI_CHAOS_CHATS`, `LINLI_CHAOS_OWNERS`, `LINLI_CHAOS_COMPLAINANTS`, `LINLI_CHAOS_KILL_EVERY` override one
figure each; `-s` prints the summary, `LINLI_CHAOS_REPORT=FILE` writes it as JSON.)
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlmodel import func, select

from bot.app import build_app
from bot.core.types import Reply, ToGroups
from bot.settings import Settings
from storage.assembly import (
    SCHEDULED,
    Assembly,
    Ballot,
    Motion,
    TallyBallot,
    motions_of,
    tally,
    tally_ballots,
    tally_motions,
)
from storage.assembly import tally_rooms as stored_rooms
from storage.complaints import Case
from storage.compounds import Building, Chat, Room, Unit, create_compound
from storage.conversations import Conversation
from storage.db import make_engine, make_sessionmaker, transaction
from storage.outbox import OutboxMessage
from storage.people import Identity, Membership, Person, RoleGrant
from tests.conftest import on_postgres, sqlite_url
from tests.fake_telegram import BotProcess, Call, FakeTelegram, free_port

SENDS = {"sendmessage", "sendphoto", "senddocument"}
POSTING = "本周红黑榜（混沌测试）：红榜 3 条，黑榜 1 条，已整改 1 条。"
SECRET = "chaos-webhook-secret"
CHOICES = ("yes", "no", "abstain")
# An answer is sent before the update is acknowledged; this much later it is not coming.
ANSWER_GRACE = 1.5  # the order of the ballot's buttons: Agree, Against, Abstain


@dataclass(frozen=True)
class Scale:
    chats: int
    owners: int
    complainants: int
    processes: int
    kill_every: float
    # Kills happen while the people are at it, at least `min_kills` even if they finish first.
    min_kills: int
    max_kills: int
    # The outbox's overall pace (messages/s): low enough that a kill lands while the posting is going out.
    rate: float


def scale(processes: int) -> Scale:
    full = os.environ.get("LINLI_CHAOS_SCALE") == "full"
    chats, owners, complainants = (1000, 500, 200) if full else (150, 40, 20) if processes > 1 else (60, 15, 8)

    def number(name: str, default: float) -> float:
        return float(os.environ.get(f"LINLI_CHAOS_{name}", default))

    return Scale(chats=int(number("CHATS", chats)), owners=int(number("OWNERS", owners)),
                 complainants=int(number("COMPLAINANTS", complainants)), processes=processes,
                 kill_every=number("KILL_EVERY", 3.0 if full else 2.0 if processes > 1 else 4.0),
                 min_kills=2 if processes > 1 else 1,
                 max_kills=int(number("MAX_KILLS", 40 if full else 6 if processes > 1 else 1)),
                 rate=number("RATE", 100.0 if full else 40.0))


# ---- the fake, with a mailbox per chat -------------------------------------------------------------------


class ChaosFake(FakeTelegram):
    """The fake Bot API, plus a queue of the bot's messages per chat (hundreds of people wait at once; scanning
    every call for each of them would cost more than the bot), and Telegram's patience with a webhook: an
    update is pushed again until a process answers 200, however long the restart takes."""

    def __init__(self) -> None:
        super().__init__()
        self.mailboxes: dict[str, asyncio.Queue[Call]] = defaultdict(asyncio.Queue)
        self._routed = 0
        self.push_retries = 0
        # When a process answered 200 for each update: it has then stored it and sent its answer.
        self.acknowledged: dict[int, float] = {}
        self.last_update = 0

    async def _notify(self) -> None:
        while self._routed < len(self.calls):
            call = self.calls[self._routed]
            self._routed += 1
            # A flow's next question may replace the last one in place (tidy chats): an edit that brings new
            # buttons is a new message to the person; an edit that only retires buttons is not.
            if call.ok and (call.method in SENDS or (call.method == "editmessagetext" and call.buttons)):
                self.mailboxes[call.chat_id].put_nowait(call)
        await super()._notify()

    async def inject(self, update: dict[str, Any]) -> int:
        self.last_update = await super().inject(update)
        return self.last_update

    async def _push(self, update: dict[str, Any]) -> None:
        assert self._session is not None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                async with self._session.post(
                    self.webhook["url"], json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": self.webhook.get("secret_token", "")},
                    timeout=aiohttp.ClientTimeout(total=60),
                ) as response:
                    if response.status == 200:
                        await self._answered(await response.read())  # an answer in the response, as Telegram
                        self.acknowledged[int(update["update_id"])] = time.monotonic()
                        return
            except (aiohttp.ClientError, TimeoutError, KeyError):
                pass
            self.push_retries += 1
            await asyncio.sleep(0.2)

    async def next_message(self, chat_id: int, wanted: Callable[[Call], bool], wait: float,
                           update_id: int | None = None) -> Call | None:
        """The next message into `chat_id` that `wanted` accepts; others (late answers to an earlier try) are
        passed over. None when nothing fitting comes within `wait` seconds, or, for the answer to `update_id`,
        when a process acknowledged that update a moment ago and sent nothing fitting: the answer was lost
        (the update had been stored, then its process was killed before answering; the repeat was dropped).
        Waiting in the webhook queue while the processes are busy is not a loss."""
        mailbox = self.mailboxes[str(chat_id)]
        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                call = await asyncio.wait_for(mailbox.get(), min(remaining, 0.5))
            except TimeoutError:
                acknowledged = self.acknowledged.get(update_id or 0)
                if acknowledged is not None and time.monotonic() - acknowledged > ANSWER_GRACE:
                    return None
                continue
            if wanted(call):
                return call
        return None


# ---- seeding ---------------------------------------------------------------------------------------------


@dataclass
class Seeded:
    board_compound: int
    compound: int
    assembly: int
    motions: list[int]
    group_chats: list[int]
    owners: dict[int, tuple[int, int]]  # Telegram user id -> (person id, room id)
    complainants: dict[int, int]  # Telegram user id -> person id
    secretary: int  # Telegram user id


async def seed(db_url: str, size: Scale) -> Seeded:
    """A compound of `owners` rooms (one owner each, areas 60–139 m²) whose residents also include the
    complainants (tenants), an assembly due to open, and a second compound with `chats` Telegram groups: the
    posting's audience. Everyone has a Telegram identity. ORM inserts, so PostgreSQL's sequences stay right."""
    engine = make_engine(db_url)
    now = datetime.now(UTC)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            board = await create_compound(session, "红黑榜小区", "CHAOSB")
            compound = await create_compound(session, "混沌小区", "CHAOS")
            assert board.id is not None and compound.id is not None
            groups = [Chat(platform="telegram", platform_chat_id=str(-1008000000000 - n), kind="group",
                           title=f"群{n}", compound_id=board.id) for n in range(size.chats)]
            session.add_all(groups)
            buildings = [Building(compound_id=compound.id, name=f"{b}栋", sort=b) for b in range(1, 6)]
            session.add_all(buildings)
            await session.flush()
            units = [Unit(building_id=b.id or 0, name="1单元", sort=1) for b in buildings]
            session.add_all(units)
            await session.flush()
            rooms = [Room(compound_id=compound.id, building_id=units[i % 5].building_id, unit_id=units[i % 5].id or 0,
                          number=f"{i // 5 + 101}", floor=1 + i // 50, area=Decimal(60 + (i * 37) % 80))
                     for i in range(size.owners)]
            session.add_all(rooms)
            secretary = Person(name="混沌书记", language="en", current_compound_id=compound.id)
            owners = [Person(name=f"业主{i}", language="en", current_compound_id=compound.id)
                      for i in range(size.owners)]
            tenants = [Person(name=f"住户{i}", language="en", current_compound_id=compound.id)
                       for i in range(size.complainants)]
            session.add_all([secretary, *owners, *tenants])
            await session.flush()
            assert secretary.id is not None
            session.add(RoleGrant(person_id=secretary.id, compound_id=compound.id, role="secretary", granted_at=now))
            seeded = Seeded(board.id, compound.id, 0, [], [-1008000000000 - n for n in range(size.chats)], {}, {},
                            2_999_999)
            people: list[tuple[Person, int]] = [(secretary, seeded.secretary)]
            for i, (person, room) in enumerate(zip(owners, rooms, strict=True)):
                assert person.id is not None and room.id is not None
                session.add(Membership(person_id=person.id, compound_id=compound.id, room_id=room.id,
                                       relation="owner", status="approved"))
                seeded.owners[3_000_000 + i] = (person.id, room.id)
                people.append((person, 3_000_000 + i))
            for i, person in enumerate(tenants):
                assert person.id is not None
                session.add(Membership(person_id=person.id, compound_id=compound.id, room_id=rooms[i % len(rooms)].id,
                                       relation="tenant", status="approved"))
                seeded.complainants[4_000_000 + i] = person.id
                people.append((person, 4_000_000 + i))
            session.add_all([Identity(person_id=p.id or 0, platform="telegram", platform_user_id=str(uid),
                                      private_chat_id=str(uid)) for p, uid in people])
            assembly = Assembly(compound_id=compound.id, title="混沌业主大会", status=SCHEDULED,
                                opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(days=2),
                                created_by=secretary.id)
            session.add(assembly)
            await session.flush()
            assert assembly.id is not None
            motions = [Motion(assembly_id=assembly.id, position=n, text=text, kind="ordinary")
                       for n, text in enumerate(("选聘新的物业服务企业", "增设电动车充电桩"))]
            session.add_all(motions)
            await session.flush()
            seeded.assembly = assembly.id
            seeded.motions = [m.id or 0 for m in motions]
        return seeded
    finally:
        await engine.dispose()


async def enqueue_posting(db_url: str, compound_id: int) -> None:
    """The posting, written the way the 红黑榜 job writes it: one reply to the compound's group chats."""
    settings = Settings(_env_file=None, database_url=db_url)  # type: ignore[call-arg]
    app = build_app(settings, engine=make_engine(db_url))
    try:
        async with transaction(make_sessionmaker(app.engine)) as session:
            assert await app.core.enqueue(session, Reply(POSTING, to=ToGroups(compound_id)), ToGroups(compound_id),
                                          None, app.core.clock.now())
    finally:
        await app.close()


# ---- people ----------------------------------------------------------------------------------------------


@dataclass
class Tally:
    restarts: int = 0
    done: int = 0
    failed: list[int] = field(default_factory=list)


def _containing(part: str) -> Callable[[Call], bool]:
    return lambda call: part in call.text


async def owner_votes(fake: ChaosFake, uid: int, choices: tuple[str, ...], answer_wait: float,
                      announce_wait: float, tally_: Tally) -> None:
    """Waits for the private announcement, then Vote → a choice per motion → Submit. A reply that never comes
    (its process was killed after the update was stored) means: press Vote again and go through it again,
    as a person would; a ballot can be changed until the close, so this never counts twice."""
    user = fake.user(uid, f"业主{uid}", "en")

    async def answer(wanted: Callable[[Call], bool]) -> Call | None:  # to the update just sent
        return await fake.next_message(uid, wanted, answer_wait, fake.last_update)

    announcement = await fake.next_message(uid, lambda c: "open for voting" in c.text and bool(c.buttons),
                                           announce_wait)
    if announcement is None:
        tally_.failed.append(uid)
        return
    for attempt in range(6):
        if attempt:
            tally_.restarts += 1
        await fake.press(user, announcement, 0)
        step = await answer(lambda c: "Motion 1 of" in c.text)
        for n, choice in enumerate(choices, 1):
            if step is None:
                break
            await fake.press(user, step, CHOICES.index(choice))
            expected = "Press Submit" if n == len(choices) else f"Motion {n + 1} of"
            step = await answer(_containing(expected))
        if step is None:
            continue
        await fake.press(user, step, 0)  # Submit
        if await answer(lambda c: "ballot is recorded" in c.text) is not None:
            tally_.done += 1
            return
    tally_.failed.append(uid)


async def resident_complains(fake: ChaosFake, uid: int, description: str, answer_wait: float,
                             tally_: Tally) -> None:
    """/complain → category → description → Skip photos → a common area → show my name → Confirm. After a
    reply that never came, the person first looks at /mycases (the case may be filed already), and otherwise
    leaves the half-done conversation with /cancel and starts again."""
    user = fake.user(uid, f"住户{uid}", "en")

    async def answer(wanted: Callable[[Call], bool]) -> Call | None:  # to the update just sent
        return await fake.next_message(uid, wanted, answer_wait, fake.last_update)

    for attempt in range(6):
        if attempt:
            tally_.restarts += 1
            await fake.say(user, None, "/mycases")
            cases = await answer(lambda c: "cases" in c.text)
            if cases is not None and "Your cases:" in cases.text:
                tally_.done += 1
                return
            # As the bot says when a flow command comes in the middle of a conversation: /cancel, then again.
            await fake.say(user, None, "/cancel")
            await answer(lambda c: "ancel" in c.text)
        await fake.say(user, None, "/complain")
        step = await answer(lambda c: "What is it about?" in c.text)
        if step is None:
            continue
        await fake.press(user, step, 0)
        if await answer(lambda c: "Please describe the problem" in c.text) is None:
            continue
        await fake.say(user, None, description)
        step = await answer(lambda c: "photos" in c.text and bool(c.buttons))
        if step is None:
            continue
        await fake.press(user, step, 0)  # Skip
        step = await answer(lambda c: "Where is it?" in c.text)
        if step is None:
            continue
        await fake.press(user, step, len(step.buttons) - 1)  # a common area
        step = await answer(lambda c: "anonymous" in c.text and bool(c.buttons))
        if step is None:
            continue
        await fake.press(user, step, 1)  # show my name
        step = await answer(lambda c: "Please check your case" in c.text)
        if step is None:
            continue
        await fake.press(user, step, 0)  # Confirm
        if await answer(lambda c: "is filed" in c.text) is not None:
            tally_.done += 1
            return
    tally_.failed.append(uid)


# ---- the run ---------------------------------------------------------------------------------------------


@dataclass
class Kill:
    pid: int
    at: float
    # Outbox rows the killed process held (claimed, outcome not recorded): the only ones that can arrive twice.
    held: int


async def open_rows(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return int((await session.exec(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.state.in_(["pending", "sending"])))).one())  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def held_by(engine: Any, pid: int) -> int:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT count(*) FROM outboxmessage WHERE state = 'sending' AND "
                                         "claimed_by LIKE :pattern"), {"pattern": f"%:{pid}:%"})
        return int(result.scalar_one())


async def run_chaos(db_url: str, workdir: Path, size: Scale) -> dict[str, Any]:
    seeded = await seed(db_url, size)
    fake = ChaosFake()
    await fake.start()
    for uid in [seeded.secretary, *seeded.owners, *seeded.complainants]:
        fake.chats[str(uid)] = {"id": uid, "type": "private", "first_name": str(uid)}
    for chat_id in seeded.group_chats:
        fake.chats[str(chat_id)] = fake.group(chat_id, f"群{chat_id}")
    port = free_port()
    lease = 10.0
    env = {
        "OUTBOX_LEASE_SECONDS": str(lease), "TELEGRAM_GLOBAL_PER_SECOND": str(size.rate),
        # The secretary gets every new case privately: Telegram's 1/s per private chat would make them wait.
        "TELEGRAM_PRIVATE_PER_SECOND": "50", "SCHEDULER_TICK_SECONDS": "2", "LOG_LEVEL": "WARNING",
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
    }
    processes = []
    for n in range(size.processes):
        directory = workdir / f"p{n}"
        directory.mkdir()
        processes.append(BotProcess(db_url, fake, directory, webhook_secret=SECRET, http_port=port,
                                    extra_env=env))
    probe = make_engine(db_url)
    kills: list[Kill] = []
    rng = random.Random(11)
    choices = {uid: tuple(rng.choice(CHOICES) for _ in seeded.motions) for uid in seeded.owners}
    descriptions = {uid: f"楼道里第{uid}号电动车占用消防通道，已经三天了" for uid in seeded.complainants}
    owners, residents = Tally(), Tally()
    started = time.monotonic()
    try:
        for process in processes:
            await process.start(wait=60)
        startup_seconds = time.monotonic() - started
        await enqueue_posting(db_url, seeded.board_compound)
        # An upper bound only: a lost answer is recognised from the acknowledgement (`ChaosFake.next_message`).
        answer_wait = 300.0
        people = [asyncio.create_task(owner_votes(fake, uid, choices[uid], answer_wait, 300.0, owners))
                  for uid in seeded.owners]
        people += [asyncio.create_task(resident_complains(fake, uid, descriptions[uid], answer_wait, residents))
                   for uid in seeded.complainants]
        traffic = asyncio.gather(*people)

        async def chaos() -> None:
            victim = 0
            await asyncio.wait([traffic], timeout=min(1.5, size.kill_every))
            while len(kills) < size.max_kills and (len(kills) < size.min_kills or not traffic.done()):
                process = processes[victim % len(processes)]
                victim += 1
                assert process.process is not None
                pid = process.process.pid
                process.process.send_signal(signal.SIGKILL)
                await process.process.wait()
                process.process = None
                kills.append(Kill(pid, round(time.monotonic() - started, 1), await held_by(probe, pid)))
                await asyncio.sleep(0.5)
                await process.start(wait=60)
                await asyncio.wait([traffic], timeout=size.kill_every)

        chaos_task = asyncio.create_task(chaos())
        # Bounded: a few seconds per person is far more than a shared 2-core machine needs.
        await asyncio.wait_for(traffic, timeout=300 + 2.0 * (size.owners + size.complainants))
        traffic_seconds = time.monotonic() - started - startup_seconds
        await asyncio.wait_for(chaos_task, timeout=120)
        # The outbox settles: rows a killed process held come back after the lease.
        deadline = time.monotonic() + lease * 4 + 60
        while await open_rows(db_url) and time.monotonic() < deadline:  # noqa: ASYNC110 - the database decides
            await asyncio.sleep(0.5)
        for process in processes:
            await process.stop()
        return await verify(db_url, fake, seeded, size, choices, descriptions, owners, residents, kills,
                            {"start s": startup_seconds, "traffic s": traffic_seconds,
                             "wall s": time.monotonic() - started})
    finally:
        for process in processes:
            if process.process is not None and process.process.returncode is None:
                process.process.kill()
                await process.process.wait()
        await probe.dispose()
        await fake.stop()


async def verify(db_url: str, fake: ChaosFake, seeded: Seeded, size: Scale, choices: dict[int, tuple[str, ...]],
                 descriptions: dict[int, str], owners: Tally, residents: Tally, kills: list[Kill],
                 seconds: dict[str, float]) -> dict[str, Any]:
    posted = Counter(c.chat_id for c in fake.sent() if c.text == POSTING)
    announced = Counter(c.chat_id for c in fake.sent() if "open for voting" in c.text)
    lost_posting = [chat for chat in seeded.group_chats if posted[str(chat)] == 0]
    lost_announcements = [uid for uid in seeded.owners if announced[str(uid)] == 0]
    duplicates = sum(n - 1 for n in posted.values()) + sum(n - 1 for n in announced.values())
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            ballots = (await session.exec(select(Ballot).where(Ballot.assembly_id == seeded.assembly))).all()
            cases = (await session.exec(select(Case).where(Case.compound_id == seeded.compound))).all()
            people = [pid for pid, _room in seeded.owners.values()] + list(seeded.complainants.values())
            stuck = (await session.exec(select(Conversation).where(
                Conversation.person_id.in_(people)))).all()  # type: ignore[attr-defined]
            open_left = (await session.exec(select(OutboxMessage.state, func.count()).group_by(
                OutboxMessage.state))).all()
            rooms = await stored_rooms(session, seeded.compound)
            motions = tally_motions(await motions_of(session, seeded.assembly))
            # What the close would announce: the tally of the ballots as stored.
            stored = tally(rooms, motions, await tally_ballots(session, seeded.assembly))
    finally:
        await engine.dispose()
    submitted = [TallyBallot(room, {str(m): c for m, c in zip(seeded.motions, choices[uid], strict=True)})
                 for uid, (_person, room) in seeded.owners.items()]
    expected = tally(rooms, motions, submitted)
    summary: dict[str, Any] = {
        "database": "postgresql" if db_url.startswith("postgresql") else "sqlite",
        "processes": size.processes, "group chats": size.chats, "owners": size.owners,
        "complainants": size.complainants, "kills": len(kills),
        "rows held at kills": sum(k.held for k in kills), "lost postings": len(lost_posting),
        "lost announcements": len(lost_announcements), "duplicates": duplicates,
        "ballots": len(ballots), "cases": len(cases), "owner restarts": owners.restarts,
        "complainant restarts": residents.restarts, "stuck conversations": len(stuck),
        "webhook re-pushes": fake.push_retries, **{k: round(v, 1) for k, v in seconds.items()},
        "kill times s": [k.at for k in kills], "outbox": dict(open_left),
    }
    print("chaos: " + ", ".join(f"{k}={v}" for k, v in summary.items()))
    if os.environ.get("LINLI_CHAOS_REPORT"):
        report = Path(os.environ["LINLI_CHAOS_REPORT"])
        report.write_text(json.dumps(summary, ensure_ascii=False, indent=1))  # noqa: ASYNC240 - once, at the end

    for uid in (owners.failed + residents.failed)[:3]:  # what a person who did not get through saw
        print(uid, [(c.method, c.text[:60]) for c in fake.calls if c.chat_id == str(uid)])
    assert not owners.failed and not residents.failed, (owners.failed, residents.failed)
    assert lost_posting == [] and lost_announcements == []
    # Telegram has no idempotent send: a message whose send was in flight at a kill may arrive twice, never
    # anything else.
    assert duplicates <= sum(k.held for k in kills)
    assert dict(open_left).get("pending", 0) == 0 and dict(open_left).get("sending", 0) == 0
    by_room = Counter(b.room_id for b in ballots)
    assert set(by_room) == {room for _person, room in seeded.owners.values()} and max(by_room.values()) == 1
    wanted = {room: {str(m): c for m, c in zip(seeded.motions, choices[uid], strict=True)}
              for uid, (_person, room) in seeded.owners.items()}
    assert {b.room_id: dict(b.choices) for b in ballots} == wanted
    assert stored == expected
    reporters = Counter(c.reporter_id for c in cases)
    assert set(reporters) == set(seeded.complainants.values()) and max(reporters.values()) == 1
    by_person = {pid: uid for uid, pid in seeded.complainants.items()}
    assert all(c.description == descriptions[by_person[c.reporter_id]] for c in cases)
    assert stuck == []
    return summary


# ---- the tests -------------------------------------------------------------------------------------------


@pytest.mark.skipif(not on_postgres(), reason="the PostgreSQL pass runs it (tests/postgres.sh)")
async def test_three_processes_on_postgres_killed_one_at_a_time(db_url: str, tmp_path: Path) -> None:
    size = scale(processes=3)
    summary = await run_chaos(db_url, tmp_path, size)
    assert summary["kills"] >= size.min_kills


@pytest.mark.skipif(on_postgres(), reason="the SQLite pass runs it")
async def test_one_process_on_sqlite_killed_and_restarted(sqlite_template_db: str, tmp_path: Path) -> None:
    path = tmp_path / "chaos.db"
    shutil.copy(sqlite_template_db, path)
    size = scale(processes=1)
    summary = await run_chaos(sqlite_url(path), tmp_path, size)
    assert summary["kills"] >= size.min_kills
