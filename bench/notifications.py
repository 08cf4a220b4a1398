"""A busy month of notifications, counted per person: how many private messages each resident gets a day, with
and without the notification budget (storage/notifications.py).

The month runs through the app's real scheduler: a simulated feature (one more job beside the app's own, which
all run too) emits at their local times what a busy compound's features send people nobody asked for —
announcements every other day and two 停水 notices, meetings every third day with their 24-hour and 1-hour
reminders, an owners' assembly with two vote reminders a day (19:00 and 21:45) for ten days, volunteer tasks on
weekdays, points in the evening, case updates to reporters at any hour, new cases to the secretary, and one case
stuck at the department level that re-sends 已自动上升至职能部门层级 to its reporter and 无人处理 to the secretary every
night. The clock moves in steps, each step running every due job (the digest job among them) and the outbox
worker, so held messages go out at their time and digests when due. The console transport records each delivery
with the moment it was made.

    .venv/bin/python -m bench.notifications                      # 200 residents, 30 days, before and after
    .venv/bin/python -m bench.notifications --residents 60 --days 14

`tests/test_busy_month.py` runs `simulate` and asserts on its `Result`: no resident over the daily cap, nothing
non-urgent inside quiet hours, no identical notice twice, urgent messages on time."""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.app import App, build_app
from bot.core.clock import Clock
from bot.core.context import JobContext
from bot.core.router import Job, JobHandler
from bot.core.types import Replies, Reply, ToPerson
from bot.settings import Settings
from bot.transports.console import Shown
from storage import migrate
from storage.db import make_engine, make_sessionmaker, transaction
from storage.demo import seed_demo
from storage.notifications import DAILY_CAP, KIND_URGENCY, Budget, Notice, NoticeKind, Urgency
from storage.people import Identity, Membership, MembershipStatus, Person

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 12, 1, 0, 0, tzinfo=ZONE)
STEP = timedelta(minutes=10)
# An urgent message counts as on time when delivered within this long of being sent.
ON_TIME = timedelta(minutes=10)
DIGEST_HEADS = ("今天的其他通知",)


@dataclass(frozen=True, slots=True)
class Planned:
    at: datetime
    person_id: int
    text: str
    notice: Notice


@dataclass(frozen=True, slots=True)
class Got:
    at: datetime
    person_id: int
    text: str


@dataclass
class Result:
    budget: bool
    residents: int
    days: int
    on_time: timedelta = ON_TIME
    resident_ids: set[int] = field(default_factory=set)
    planned: int = 0
    delivered: list[Got] = field(default_factory=list)
    # per (person, local day): messages; non-urgent ones
    per_day: dict[tuple[int, date], int] = field(default_factory=dict)
    non_urgent_per_day: dict[tuple[int, date], int] = field(default_factory=dict)
    quiet_non_urgent: int = 0
    repeats: int = 0
    urgent_late: int = 0
    urgent_total: int = 0
    seconds: float = 0.0

    def distribution(self) -> tuple[int, int, float]:
        """Max, p95 and mean messages per resident per day over every (resident, day) of the month, quiet days
        too."""
        counts = [self.per_day.get((p, START.date() + timedelta(days=d)), 0) for p in self.resident_ids
                  for d in range(self.days)]
        counts.sort()
        p95 = counts[min(len(counts) - 1, int(len(counts) * 0.95))]
        return max(counts), p95, statistics.fmean(counts)


def plan(residents: list[int], secretary: int, days: int, seed: int = 7) -> list[Planned]:
    """What the busy month's features send, when, to whom."""
    rng = random.Random(seed)
    out: list[Planned] = []

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return START + timedelta(days=day, hours=hour, minutes=minute)

    def add(when: datetime, person: int, text: str, kind: NoticeKind, subject: str, content: str = "") -> None:
        out.append(Planned(when, person, text, Notice(kind, subject, content, compound_id=1)))

    reporters = rng.sample(residents, max(1, len(residents) // 8))
    stuck_reporter = reporters[0]
    for day in range(days):
        if day % 2 == 0:
            for p in residents:
                add(at(day, 8), p, f"📢 公告 {day}：本周垃圾分类检查", NoticeKind.ANNOUNCEMENT, f"announcement:{day}")
        if day in (5, 19):
            for p in residents:
                add(at(day, 6, 30), p, f"📢 公告 {day}：今天 9:00–15:00 停水", NoticeKind.URGENT_ANNOUNCEMENT,
                    f"announcement:water:{day}")
        if day % 3 == 1:  # a meeting tomorrow 19:30: reminders 24 h and 1 h before, to those who said yes
            attendees = rng.sample(residents, len(residents) // 2)
            for p in attendees:
                add(at(day, 19, 30), p, f"⏰ 会议 {day} 明天 19:30", NoticeKind.MEETING_REMINDER, f"meeting:{day}")
                add(at(day + 1, 18, 30), p, f"⏰ 会议 {day} 1 小时后开始", NoticeKind.MEETING_SOON, f"meeting:{day}")
        if 10 <= day < 20:  # the assembly's vote, reminded at 19:00 and 21:45 until they vote
            for p in residents:
                if rng.random() < 0.25 * (day - 9):
                    continue  # voted by now
                for hour, minute in ((19, 0), (21, 45)):
                    add(at(day, hour, minute), p, f"🗳 请投票：业主大会 {day}日 {hour}:{minute:02d}",
                        NoticeKind.VOTE_REMINDER, "assembly:1", f"{day}")
        if (START + timedelta(days=day)).weekday() < 5:
            for p in residents:
                add(at(day, 12), p, f"🙋 志愿任务 {day}：清扫楼道", NoticeKind.TASK, f"task:{day}")
        for p in rng.sample(residents, len(residents) // 5):
            add(at(day, 21, 10), p, f"⭐ 积分 +5（任务 {day}）", NoticeKind.POINTS, f"points:{day}")
        for n, p in enumerate(rng.sample(reporters, max(1, len(reporters) // 3))):
            hour = rng.choice((9, 14, 20, 22, 23))
            add(at(day, hour, n % 60), p, f"您的诉求 XFL-{p} 有新进展（第 {day} 天）", NoticeKind.CASE_UPDATE,
                f"case:{p}", f"{day}")
            add(at(day, hour, n % 60), secretary, f"新诉求 XFL-{day}-{n} 需要您处理", NoticeKind.CASE_TO_ACT,
                f"case:{day}:{n}")
        if day >= 2:  # the stuck case: every night, the same news again
            add(at(day, 2), stuck_reporter, f"您的诉求 XFL-{stuck_reporter} 已自动上升至职能部门层级",
                NoticeKind.CASE_UPDATE, f"case:{stuck_reporter}", "level:3")
            add(at(day, 2), secretary, f"诉求 XFL-{stuck_reporter} 在职能部门层级无人处理", NoticeKind.ESCALATION,
                f"case:{stuck_reporter}", "nobody:3")
    return sorted(out, key=lambda p: p.at)


def feature_job(planned: list[Planned]) -> JobHandler:
    """The simulated features: a job that sends what has become due, as the app's own jobs do."""
    pending = list(planned)

    async def send(ctx: JobContext) -> Replies:
        due = [p for p in pending if p.at <= ctx.now]
        del pending[: len(due)]
        return [Reply(p.text, to=ToPerson(p.person_id), notice=p.notice) for p in due]

    return send


async def _people(app: App, residents: int) -> tuple[list[int], int]:
    """`residents` members of the demo compound with private chats, and the secretary."""
    async with transaction(app.core.sessions) as session:
        ids = []
        for n in range(residents):
            person = Person(name=f"住户{n}", current_compound_id=1)
            session.add(person)
            await session.flush()
            assert person.id is not None
            session.add(Identity(person_id=person.id, platform="console", platform_user_id=f"r{n}",
                                 private_chat_id=f"p:r{n}"))
            session.add(Membership(person_id=person.id, compound_id=1, status=MembershipStatus.APPROVED))
            ids.append(person.id)
        secretary = (await session.exec(select(Person.id).where(Person.name == "王书记"))).one()
        assert secretary is not None
        return ids, secretary


async def simulate(database_url: str, *, budget: bool, residents: int = 200, days: int = 30,
                   step: timedelta = STEP) -> Result:
    """One month on a fresh copy of the database at `database_url` (already migrated and seeded), the scheduler
    woken every `step` (an urgent message is on time when it goes out at the first wake after it was due)."""
    settings = Settings(_env_file=None, database_url=database_url, notification_budget=budget,  # type: ignore[call-arg]
                        flood_messages_per_minute=0)
    app = build_app(settings, clock=Clock(START, frozen=True))
    began = time.perf_counter()
    result = Result(budget, residents, days, on_time=max(step, ON_TIME))
    try:
        people, secretary = await _people(app, residents)
        result.resident_ids = set(people)
        planned = plan(people, secretary, days)
        result.planned = len(planned)
        app.core.routes.jobs.append(Job("bench.features", feature_job(planned), timedelta(0)))
        console = app.transports["console"]
        name_to_id = {f"r{n}": pid for n, pid in enumerate(people)}
        name_to_id["王书记"] = secretary
        console.listener = lambda shown: _record(result, app, name_to_id, shown)  # type: ignore[attr-defined]
        end = START + timedelta(days=days, hours=12)
        while app.core.clock.now() < end:
            app.core.clock.advance(step)
            await app.core.run_jobs()
            await app.worker.drain()
        _measure(result, planned)
    finally:
        await app.close()
    result.seconds = time.perf_counter() - began
    return result


def _record(result: Result, app: App, names: dict[str, int], shown: Shown) -> None:
    person = names.get(shown.to)
    if person is not None:
        result.delivered.append(Got(app.core.clock.now(), person, shown.text))


def _measure(result: Result, planned: list[Planned]) -> None:
    budget = Budget.of(None)
    kinds = {(p.person_id, p.text): p for p in planned}
    seen: Counter[tuple[int, str]] = Counter()
    for got in result.delivered:
        key = (got.person_id, budget.day(got.at))
        result.per_day[key] = result.per_day.get(key, 0) + 1
        origin = kinds.get((got.person_id, got.text.split("\n")[0]))
        urgent = origin is not None and KIND_URGENCY[origin.notice.kind] is Urgency.URGENT
        if not urgent:
            result.non_urgent_per_day[key] = result.non_urgent_per_day.get(key, 0) + 1
            if budget.quiet(got.at):
                result.quiet_non_urgent += 1
        elif origin is not None:
            result.urgent_total += 1
            if got.at - origin.at > result.on_time:
                result.urgent_late += 1
        # The same news again: the same text, or the stuck case's escalation in other words.
        first = got.text.split("\n")[0]
        if not first.startswith(DIGEST_HEADS):
            seen[(got.person_id, first)] += 1
    result.repeats = sum(n - 1 for n in seen.values() if n > 1)


def max_non_urgent(result: Result) -> int:
    """The most non-urgent messages a resident got in one day (the digest counts as one)."""
    return max((n for (p, _d), n in result.non_urgent_per_day.items() if p in result.resident_ids), default=0)


def report(result: Result) -> str:
    top, p95, mean = result.distribution()
    cap = max_non_urgent(result)
    return (f"budget {'on ' if result.budget else 'off'}: max {top}, p95 {p95}, mean {mean:.2f} messages per "
            f"resident per day; max non-urgent {cap} (cap {DAILY_CAP}); non-urgent in quiet hours "
            f"{result.quiet_non_urgent}; repeats {result.repeats}; urgent late {result.urgent_late} of "
            f"{result.urgent_total}; {len(result.delivered)} delivered of {result.planned} planned; "
            f"{result.seconds:.0f} s")


async def fresh_database(folder: Path) -> str:
    """A migrated database with the demo district, in `folder`."""
    url = f"sqlite+aiosqlite:///{folder / 'month.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url)
    async with transaction(make_sessionmaker(engine)) as session:
        await seed_demo(session)
    await engine.dispose()
    return url


def copy_database(url: str, folder: Path, name: str) -> str:
    source = Path(url.removeprefix("sqlite+aiosqlite:///"))
    target = folder / name
    shutil.copy(source, target)
    return f"sqlite+aiosqlite:///{target}"


async def _main(residents: int, days: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        template = await fresh_database(folder)
        for budget in (False, True):
            url = copy_database(template, folder, f"{'on' if budget else 'off'}.db")
            result = await simulate(url, budget=budget, residents=residents, days=days)
            print(report(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(_main(args.residents, args.days))


if __name__ == "__main__":
    main()


__all__ = ["Result", "copy_database", "fresh_database", "max_non_urgent", "plan", "report", "simulate"]
