"""The outbox against a fake platform that answers 429 with retry_after, fails with 5xx, times out or refuses
for good: every row goes out exactly once and in order per chat, a worker killed between send and mark loses
nothing, two workers never send one row twice, pacing holds, and the secretary sees what failed."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.app import App, build_app
from bot.core.clock import Clock
from bot.core.types import Capabilities, Delivery, OutMessage, Reply, ToGroups
from bot.outbox import OutboxWorker, stop_quietly
from bot.settings import Settings
from bot.transports.base import Limits
from bot.transports.console import Console
from storage import outbox as store
from storage.compounds import Chat, Compound
from storage.db import transaction
from tests.conftest import START

PLATFORM = "fake"


@dataclass
class FakePlatform:
    """An in-process platform. `script[chat]` lists what the next attempts into that chat get: "ok", "429",
    "500", "timeout", "403"; when the list runs out, "ok". Idempotency keys are honoured like a platform that
    has them: a repeated key is acknowledged without a second message."""

    limits: Limits = field(default_factory=Limits)
    script: dict[str, list[str]] = field(default_factory=dict)
    retry_after: float = 0.05
    platform: str = PLATFORM
    caps: Capabilities = field(default_factory=Capabilities)
    received: list[tuple[str, str, float]] = field(default_factory=list)  # chat, text, time
    attempts: list[tuple[str, str]] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    honour_keys: bool = True
    block: asyncio.Event | None = None  # when set up, a send records and then hangs until this is set
    limited_at: list[float] = field(default_factory=list)
    first_received: asyncio.Event = field(default_factory=asyncio.Event)
    # A message goes out in this many parts (a long text); "cut" in a script sends one more part, then fails.
    parts: int = 1

    async def deliver(self, chat_id: str, chat_kind: str, message: OutMessage,
                      idempotency_key: str | None = None, first_part: int = 0) -> Delivery:
        self.attempts.append((chat_id, message.text))
        plan = self.script.get(chat_id)
        outcome = plan.pop(0) if plan else "ok"
        if self.parts > 1:
            if outcome == "cut":
                self.received.append((chat_id, f"{message.text} part {first_part + 1}", time.monotonic()))
                return Delivery(False, error="500 after a part", parts_sent=first_part + 1)
            for part in range(first_part, self.parts):
                self.received.append((chat_id, f"{message.text} part {part + 1}", time.monotonic()))
            return Delivery(True, str(len(self.received)))
        if outcome == "429":
            self.limited_at.append(time.monotonic())
            return Delivery(False, retry_after=self.retry_after, error="429 Too Many Requests")
        if outcome == "500":
            return Delivery(False, error="500 Internal Server Error")
        if outcome == "timeout":
            await asyncio.sleep(30)
        if outcome == "403":
            return Delivery(False, permanent=True, error="403 Forbidden: bot was kicked")
        if self.honour_keys and idempotency_key and idempotency_key in self.keys:
            return Delivery(True, self.keys[idempotency_key])
        message_id = str(len(self.received) + 1)
        self.received.append((chat_id, message.text, time.monotonic()))
        self.first_received.set()
        if idempotency_key:
            self.keys[idempotency_key] = message_id
        if self.block is not None:
            await self.block.wait()
        return Delivery(True, message_id)

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> Delivery:
        self.received.append((chat_id, f"edit {message_id}: {message.text}", time.monotonic()))
        return Delivery(True, message_id)

    def texts(self, chat_id: str) -> list[str]:
        return [text for chat, text, _ in self.received if chat == chat_id]


@pytest.fixture
async def live(db_url: str) -> AsyncIterator[App]:
    """The app on a clock that runs in real time (retries are due after real seconds), with fast settings."""
    settings = Settings(_env_file=None, database_url=db_url, outbox_tick_seconds=0.02,  # type: ignore[call-arg]
                        outbox_backoff_base_seconds=0.02, outbox_backoff_max_seconds=0.05, outbox_max_attempts=4)
    application = build_app(settings, clock=Clock(START))
    yield application
    await application.close()


async def add_rows(app: App, chats: list[str], per_chat: int, kind: str = "group") -> None:
    async with transaction(app.core.sessions) as session:
        for n in range(per_chat):
            for chat in chats:
                session.add(store.OutboxMessage(platform=PLATFORM, chat_id=chat, chat_kind=kind,
                                                payload={"text": f"{chat}#{n}"}, due_at=app.core.clock.now(),
                                                next_attempt_at=app.core.clock.now()))


async def states(app: App) -> Counter[str]:
    async with app.core.sessions() as session:
        rows = (await session.exec(select(store.OutboxMessage).where(store.OutboxMessage.platform == PLATFORM))).all()
    return Counter(row.state for row in rows)


async def run_until_settled(app: App, *workers: OutboxWorker, within: float = 20.0) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            counts = await states(app)
            if not counts[store.PENDING] and not counts[store.SENDING]:
                return
            await asyncio.sleep(0.02)
        async with app.core.sessions() as session:
            stuck = (await session.exec(select(store.OutboxMessage).where(
                col(store.OutboxMessage.state).in_([store.PENDING, store.SENDING])))).all()
        raise AssertionError(f"outbox did not settle: {dict(await states(app))} {stuck}")
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def assert_once_in_order(fake: FakePlatform, chats: list[str], per_chat: int) -> None:
    for chat in chats:
        assert fake.texts(chat) == [f"{chat}#{n}" for n in range(per_chat)]


async def test_every_row_delivered_once_in_order_through_429_5xx_and_timeouts(live: App) -> None:
    chats = ["a", "b", "c", "d"]
    fake = FakePlatform(script={"a": ["429", "429"], "b": ["500", "ok", "500"], "c": ["timeout"], "d": []})
    worker = OutboxWorker(live.core, {PLATFORM: fake}, send_timeout=0.1)
    await add_rows(live, chats, 5)
    await run_until_settled(live, worker)
    assert_once_in_order(fake, chats, 5)
    assert (await states(live)) == Counter({store.DELIVERED: 20})
    async with live.core.sessions() as session:
        first_a = (await session.exec(select(store.OutboxMessage).where(store.OutboxMessage.chat_id == "a")
                                      .order_by(col(store.OutboxMessage.id)))).first()
    # Two 429s do not count against the row: they are the platform's pace, not a failure.
    assert first_a is not None and first_a.attempts == 1 and first_a.message_id


async def test_retry_after_pauses_the_chat(live: App) -> None:
    fake = FakePlatform(script={"a": ["429"]}, retry_after=0.3)
    worker = OutboxWorker(live.core, {PLATFORM: fake})
    await add_rows(live, ["a"], 1)
    started = time.monotonic()
    await run_until_settled(live, worker)
    assert fake.texts("a") == ["a#0"]
    assert fake.received[0][2] - started >= 0.3


async def test_gives_up_after_max_attempts_and_the_next_row_goes_on(live: App) -> None:
    fake = FakePlatform(script={"a": ["500"] * 4})
    worker = OutboxWorker(live.core, {PLATFORM: fake})
    await add_rows(live, ["a"], 2)
    await run_until_settled(live, worker)
    assert fake.attempts.count(("a", "a#0")) == 4  # outbox_max_attempts
    assert fake.texts("a") == ["a#1"]
    async with live.core.sessions() as session:
        failed = (await session.exec(select(store.OutboxMessage).where(store.OutboxMessage.state == store.FAILED))).all()
    assert [(row.payload["text"], row.attempts, row.last_error) for row in failed] == [
        ("a#0", 4, "500 Internal Server Error")]
    assert failed[0].finished_at is not None


async def test_permanent_refusal_fails_at_once(live: App) -> None:
    fake = FakePlatform(script={"a": ["403"]})
    worker = OutboxWorker(live.core, {PLATFORM: fake})
    await add_rows(live, ["a"], 1)
    await run_until_settled(live, worker)
    assert fake.attempts == [("a", "a#0")] and fake.received == []
    assert (await states(live)) == Counter({store.FAILED: 1})


async def test_kill_between_send_and_mark_loses_nothing(live: App) -> None:
    """The worker task dies after the platform took the message but before the row was marked: the row
    stays claimed, comes back when the lease runs out, and the idempotency key stops a second message."""
    fake = FakePlatform(block=asyncio.Event())
    dying = OutboxWorker(live.core, {PLATFORM: fake}, lease=timedelta(seconds=60))
    await add_rows(live, ["a"], 2)
    task = asyncio.create_task(dying.run(asyncio.Event()))
    await fake.first_received.wait()
    await dying.kill(task)  # killed mid-send, as by SIGKILL
    assert (await states(live)) == Counter({store.SENDING: 1, store.PENDING: 1})

    fake.block = None
    restarted = OutboxWorker(live.core, {PLATFORM: fake}, lease=timedelta(seconds=60))
    assert await restarted.drain() == 0  # the lease still holds: nobody sends it twice meanwhile
    live.core.clock.advance(timedelta(seconds=61))
    await run_until_settled(live, restarted)
    assert fake.texts("a") == ["a#0", "a#1"]  # the platform saw the first one once, thanks to the key
    assert len(fake.attempts) == 3  # ...although it was offered twice
    assert (await states(live)) == Counter({store.DELIVERED: 2})


async def test_kill_without_platform_idempotency_at_most_duplicates_the_uncertain_row(live: App) -> None:
    fake = FakePlatform(block=asyncio.Event(), honour_keys=False)
    dying = OutboxWorker(live.core, {PLATFORM: fake}, lease=timedelta(seconds=60))
    await add_rows(live, ["a"], 3)
    task = asyncio.create_task(dying.run(asyncio.Event()))
    await fake.first_received.wait()
    await dying.kill(task)
    fake.block = None
    live.core.clock.advance(timedelta(seconds=61))
    await run_until_settled(live, OutboxWorker(live.core, {PLATFORM: fake}, lease=timedelta(seconds=60)))
    assert fake.texts("a") == ["a#0", "a#0", "a#1", "a#2"]  # only the uncertain one twice, order kept
    assert (await states(live)) == Counter({store.DELIVERED: 3})


async def test_two_workers_in_two_processes_never_send_a_row_twice(live: App) -> None:
    """Two apps with their own engines on one database file stand for two processes."""
    chats = [f"c{i}" for i in range(8)]
    fake = FakePlatform(script={"c0": ["500"], "c5": ["429"]})
    other = build_app(live.settings, clock=Clock(START))
    try:
        workers = [
            OutboxWorker(live.core, {PLATFORM: fake}, worker_id="one", batch=8),
            OutboxWorker(live.core, {PLATFORM: fake}, worker_id="two", batch=8),
            OutboxWorker(other.core, {PLATFORM: fake}, worker_id="three", batch=8),
        ]
        await add_rows(live, chats, 10)
        await run_until_settled(live, *workers, within=30)
    finally:
        await other.close()
    assert_once_in_order(fake, chats, 10)
    async with live.core.sessions() as session:
        senders = Counter((await session.exec(select(store.OutboxMessage.claimed_by))).all())
    assert len([who for who in senders if who]) >= 2  # the work really was shared


async def test_pacing_per_chat_and_overall(live: App) -> None:
    # 600 per minute into a group: 0.1 s apart; 50/s overall: 0.02 s apart.
    fake = FakePlatform(limits=Limits(global_per_second=50, group_per_minute=600))
    worker = OutboxWorker(live.core, {PLATFORM: fake})
    await add_rows(live, ["a", "b", "c", "d", "e"], 3)
    await run_until_settled(live, worker)
    assert_once_in_order(fake, ["a", "b", "c", "d", "e"], 3)
    by_chat: dict[str, list[float]] = defaultdict(list)
    for chat, _text, at in fake.received:
        by_chat[chat].append(at)
    for times in by_chat.values():
        assert min(b - a for a, b in itertools.pairwise(times)) >= 0.095
    overall = sorted(at for _, _, at in fake.received)
    # Slots are 0.02 s apart; the event loop may shift one arrival a little, never the rate.
    assert all(overall[i + 5] - overall[i] >= 0.095 for i in range(len(overall) - 5))
    async with live.core.sessions() as session:
        paced = (await session.exec(select(store.OutboxPace.chat_id))).all()
    # Chats whose gap had not run out when the send was recorded are held in the database, for every process,
    # and so is the platform's next free send slot.
    assert {"a", "b", "c", "d", "e"} & set(paced) and set(paced) <= {"a", "b", "c", "d", "e", store.RATE_SLOTS}
    assert store.RATE_SLOTS in paced


async def test_chats_take_turns_so_a_burst_in_one_cannot_hold_back_another(live: App) -> None:
    """50 messages queued to chat a, then one to b and one to c, to a worker that sends one at a time (as when
    the overall rate is used up) into chats without a pace of their own: b and c go out right after a's first,
    not after a's 50, and a's still go out once each and in order."""
    fake = FakePlatform()
    await add_rows(live, ["a"], 50)
    await add_rows(live, ["b", "c"], 1)
    await run_until_settled(live, OutboxWorker(live.core, {PLATFORM: fake}, batch=1, concurrency=1))
    order = [chat for chat, _, _ in fake.received]
    assert order.index("b") <= 2 and order.index("c") <= 2, order[:10]
    assert_once_in_order(fake, ["a"], 50)
    assert_once_in_order(fake, ["b", "c"], 1)
    assert (await states(live)) == Counter({store.DELIVERED: 52})


async def test_round_robin_keeps_the_per_chat_pace_and_serves_every_chat_before_a_second_turn(live: App) -> None:
    """Three chats with a backlog each (a's queued first), a per-chat pace and an overall rate: the turns hold
    together with the pace, every chat's first message out before any chat's second, every second before any
    third; the pace between two sends into one chat is kept."""
    fake = FakePlatform(limits=Limits(global_per_second=50, group_per_minute=1200))
    await add_rows(live, ["a"], 6)
    await add_rows(live, ["b"], 3)
    await add_rows(live, ["c"], 3)
    await run_until_settled(live, OutboxWorker(live.core, {PLATFORM: fake}))
    order = [chat for chat, _, _ in fake.received]
    assert [sorted(order[turn:turn + 3]) for turn in (0, 3, 6)] == [["a", "b", "c"]] * 3, order
    times = [at for chat, _, at in fake.received if chat == "a"]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.045  # 1200 a minute: 0.05 s apart
    assert_once_in_order(fake, ["a"], 6)
    assert_once_in_order(fake, ["b", "c"], 3)


async def test_a_message_out_in_part_is_resumed_by_any_process_without_repeating_a_part(live: App) -> None:
    """A long posting goes out in three parts and the platform fails after the first, then after the second:
    the row keeps how many parts are out, and whichever process retries it sends only the rest."""
    fake = FakePlatform(parts=3, script={"a": ["cut", "cut"]})
    other = build_app(live.settings, clock=Clock(START))
    try:
        await add_rows(live, ["a", "b"], 1)
        await run_until_settled(live, OutboxWorker(live.core, {PLATFORM: fake}, worker_id="one"),
                                OutboxWorker(other.core, {PLATFORM: fake}, worker_id="two"))
    finally:
        await other.close()
    assert fake.texts("a") == ["a#0 part 1", "a#0 part 2", "a#0 part 3"]  # each once, in order
    assert fake.texts("b") == ["b#0 part 1", "b#0 part 2", "b#0 part 3"]
    assert len([chat for chat, _ in fake.attempts if chat == "a"]) == 3
    async with live.core.sessions() as session:
        row = (await session.exec(select(store.OutboxMessage).where(store.OutboxMessage.chat_id == "a"))).one()
    assert row.state == store.DELIVERED and row.parts_sent == 2


async def test_a_stop_lets_the_send_under_way_finish_and_gives_back_the_rest(live: App) -> None:
    """SIGTERM or a cancelled task: the send the platform already took is answered and recorded (no
    duplicate later), rows not yet sent go back to pending at once, not after the lease."""
    answer = asyncio.Event()
    fake = FakePlatform(block=answer, limits=Limits(global_per_second=5))
    worker = OutboxWorker(live.core, {PLATFORM: fake}, lease=timedelta(seconds=60), grace=5)
    await add_rows(live, ["a", "b", "c", "d"], 1)
    task = asyncio.create_task(worker.run(asyncio.Event()))
    await fake.first_received.wait()  # one send is at the platform, three wait for their slots
    task.cancel()
    await asyncio.sleep(0.05)
    assert not task.done()  # still waiting for the answer of the send under way
    answer.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await states(live)) == Counter({store.DELIVERED: 1, store.PENDING: 3})
    fake.block = None
    await run_until_settled(live, OutboxWorker(live.core, {PLATFORM: fake}, lease=timedelta(seconds=60)))
    assert sorted(chat for chat, _, _ in fake.received) == ["a", "b", "c", "d"]  # each once
    assert (await states(live)) == Counter({store.DELIVERED: 4})


async def test_a_stop_waits_no_longer_than_the_grace(live: App) -> None:
    fake = FakePlatform(block=asyncio.Event())
    worker = OutboxWorker(live.core, {PLATFORM: fake}, lease=timedelta(seconds=60), grace=0.2)
    await add_rows(live, ["a"], 1)
    task = asyncio.create_task(worker.run(asyncio.Event()))
    await fake.first_received.wait()
    started = time.monotonic()
    await stop_quietly(task)
    assert time.monotonic() - started < 2
    assert (await states(live)) == Counter({store.SENDING: 1})  # uncertain: retried after the lease


async def test_the_overall_rate_is_shared_by_workers_in_two_processes(live: App) -> None:
    """Two apps with their own engines on one database stand for two processes; each would send 20/s on its
    own, together they stay within the platform's 20/s in every one-second window."""
    chats = [f"c{i}" for i in range(40)]
    fake = FakePlatform(limits=Limits(global_per_second=20))
    other = build_app(live.settings, clock=Clock(START))
    try:
        workers = [OutboxWorker(live.core, {PLATFORM: fake}, worker_id="one", batch=12),
                   OutboxWorker(other.core, {PLATFORM: fake}, worker_id="two", batch=12)]
        await add_rows(live, chats, 1)
        await run_until_settled(live, *workers)
    finally:
        await other.close()
    assert sorted(chat for chat, _, _ in fake.received) == sorted(chats)
    arrivals = sorted(at for _, _, at in fake.received)
    busiest = max(sum(1 for at in arrivals if start <= at < start + 1.0) for start in arrivals)
    assert busiest <= 20
    # Both took part, and together they used most of the budget (40 sends at 20/s: about 2 s).
    async with live.core.sessions() as session:
        senders = Counter((await session.exec(select(store.OutboxMessage.claimed_by))).all())
    assert min(senders.get("one", 0), senders.get("two", 0)) >= 5
    assert arrivals[-1] - arrivals[0] < 3.5


async def test_without_shared_pacing_two_processes_would_exceed_the_rate(live: App) -> None:
    """The control for the test above: per-process pacing alone lets two processes send twice the limit."""
    chats = [f"c{i}" for i in range(40)]
    fake = FakePlatform(limits=Limits(global_per_second=20))
    other = build_app(live.settings, clock=Clock(START))
    try:
        workers = [OutboxWorker(live.core, {PLATFORM: fake}, worker_id="one", batch=12, shared_rate=False),
                   OutboxWorker(other.core, {PLATFORM: fake}, worker_id="two", batch=12, shared_rate=False)]
        await add_rows(live, chats, 1)
        await run_until_settled(live, *workers)
    finally:
        await other.close()
    arrivals = sorted(at for _, _, at in fake.received)
    assert max(sum(1 for at in arrivals if start <= at < start + 1.0) for start in arrivals) > 20


async def test_429_from_many_chats_pauses_the_whole_platform(live: App) -> None:
    chats = ["a", "b", "c", "d", "e", "f"]
    fake = FakePlatform(script={chat: ["429"] for chat in chats[:3]}, retry_after=0.3)
    worker = OutboxWorker(live.core, {PLATFORM: fake}, concurrency=3, batch=3)
    await add_rows(live, chats, 1)
    await run_until_settled(live, worker)
    assert sorted(fake.texts(c)[0] for c in chats) == sorted(f"{c}#0" for c in chats)
    assert len(fake.limited_at) == 3
    async with live.core.sessions() as session:
        pause = await session.get(store.OutboxPace, (PLATFORM, store.PLATFORM_WIDE))
    assert pause is not None
    # Nothing, not even the chats that had no 429, reached the platform until retry_after had passed.
    assert min(at for _, _, at in fake.received) >= min(fake.limited_at) + 0.3 - 0.01


# ---- through the console: edits, the secretary's view ---------------------------------------------------


async def compound_id(console: Console) -> int:
    async with console.app.core.sessions() as session:
        compound = (await session.exec(select(Compound).where(Compound.code == "XFL"))).one()
    assert compound.id is not None
    return compound.id


async def post(console: Console, reply: Reply) -> None:
    core = console.app.core
    async with transaction(core.sessions) as session:
        await core.enqueue(session, reply, reply.to or ToGroups(await compound_id(console)), None, core.clock.now())
    await console.app.worker.drain()


async def test_edits_follow_their_original_and_coalesce(console: Console) -> None:
    cid = await compound_id(console)
    await post(console, Reply("报名 0/8", to=ToGroups(cid), posting="task:1"))
    core = console.app.core
    async with transaction(core.sessions) as session:
        for count in (1, 2, 3):
            await core.enqueue(session, Reply(f"报名 {count}/8", edit="task:1"), ToGroups(cid), None, core.clock.now())
    await console.app.worker.drain()
    group = console.seen_by(chat="幸福里业主群")
    assert [(s.text, s.edited) for s in group] == [("报名 0/8", False), ("报名 3/8", True)]
    assert group[1].message_id == group[0].message_id


async def test_an_edit_of_a_posting_that_failed_is_cancelled(console: Console) -> None:
    cid = await compound_id(console)
    console.transport.refusing["g:幸福里业主群"] = Delivery(False, permanent=True, error="403 Forbidden")
    core = console.app.core
    async with transaction(core.sessions) as session:
        await core.enqueue(session, Reply("报名 0/8", posting="task:2"), ToGroups(cid), None, core.clock.now())
        original = (await session.exec(select(store.OutboxMessage))).all()[-1]
        original.state, original.claimed_by, original.claimed_at = store.SENDING, "dead", core.clock.now()
        session.add(original)
    async with transaction(core.sessions) as session:  # edited while the original is in flight
        await core.enqueue(session, Reply("报名 1/8", edit="task:2"), ToGroups(cid), None, core.clock.now())
    await console.clock_to("+10m")  # the dead worker's lease runs out
    async with core.sessions() as session:
        rows = (await session.exec(select(store.OutboxMessage).where(store.OutboxMessage.chat_id == "g:幸福里业主群")
                                   .order_by(col(store.OutboxMessage.id)))).all()
    assert [(row.kind, row.state) for row in rows] == [("send", store.FAILED), ("edit", store.CANCELLED)]


async def test_failures_reach_the_secretary_once_and_show_in_deliveries(console: Console) -> None:
    cid = await compound_id(console)
    console.transport.refusing["g:幸福里业主群"] = Delivery(False, permanent=True, error="403 Forbidden: kicked")
    for n in range(5):
        await post(console, Reply(f"公告 {n}", to=ToGroups(cid)))
    await console.clock_to("+10m")
    alerts = [s for s in console.seen_by("王书记", "private") if "/deliveries" in s.text]
    assert len(alerts) == 1
    assert "5" in alerts[0].text and "幸福里业主群" in alerts[0].text and "403 Forbidden: kicked" in alerts[0].text
    await console.clock_to("+30m")
    assert len([s for s in console.seen_by("王书记", "private") if "/deliveries" in s.text]) == 1

    console.as_("王书记")
    await console.say("/deliveries")
    assert "公告 4" in console.last.text and "403 Forbidden: kicked" in console.last.text
    async with console.app.core.sessions() as session:
        chat = (await session.exec(select(Chat).where(Chat.platform_chat_id == "g:幸福里业主群"))).one()
    assert chat.unreachable

    # The bot is back in the group: the secretary tries again and everything goes out.
    del console.transport.refusing["g:幸福里业主群"]
    await console.press(1)
    group = [s.text for s in console.seen_by(chat="幸福里业主群")]
    assert group == [f"公告 {n}" for n in range(5)]
    await console.say("/deliveries")
    assert "公告" not in console.last.text

    console.as_("张三")
    await console.say("/deliveries")
    assert "公告" not in console.last.text


async def test_deliveries_lists_waiting_rows(console: Console) -> None:
    cid = await compound_id(console)
    console.transport.refusing["g:幸福里业主群"] = Delivery(False, error="502 Bad Gateway")
    await post(console, Reply("停水通知", to=ToGroups(cid)))
    console.as_("王书记")
    await console.say("/deliveries")
    assert "停水通知" in console.last.text and "502 Bad Gateway" in console.last.text
