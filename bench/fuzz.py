"""Random people typing random things: every command with odd arguments, texts and numbers of every awkward
kind (², ①, 20 and 20,000 digits, ESC, lone surrogates, 10,000 characters, times in Chinese and English), photos,
files, contacts and stickers where text is asked, fresh and stale buttons pressed by the right and the wrong
person, in private chats and the group, with the clock moving on. Counts the unhandled exceptions (by
signature) and checks the database's invariants afterwards.

    .venv/bin/python -m bench.fuzz                      # 5,000 inputs
    .venv/bin/python -m bench.fuzz --inputs 100000 --seed 3

`tests/test_fuzz.py` runs the same with a few thousand inputs in `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.app import App, build_app
from bot.core.clock import Clock
from bot.settings import Settings
from bot.transports.console import Console
from storage import migrate
from storage.db import make_engine, make_sessionmaker, transaction
from storage.demo import DEMO_GROUP, DEMO_INVITE, DEMO_PEOPLE, seed_demo

START = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
STRANGERS = ("陌生人", "路人甲")
PEOPLE = tuple(name for name, *_ in DEMO_PEOPLE) + STRANGERS + ("刘六",)

TEXTS = (
    "", " ", "好", "同意", "✅ 同意", "反对", "弃权", "跳过", "是", "否", "确认", "取消", "完成", "下一步", "yes", "no",
    "楼下有人乱停车，堵住了消防通道", "3栋2单元楼道灯坏了一个星期了，晚上很黑", "电梯又坏了", "下水道堵塞，污水倒灌",
    "周六清理楼道杂物", "小区东门", "党群服务中心", "幸福物业 0717-1234567", "张三", "李四", "王书记", "1栋", "1单元",
    "101", "301", "1栋1单元101", "1-1-101", "业主", "租户", "owner", "tenant", "XFL2026", "XFL-2026-0001",
    "明天 20:00", "明天20:00", "后天 9点半", "周六 9:00", "下周三 晚上7点", "12月5日 下午3点", "01-10 20:00",
    "2026-12-05 09:00", "2026-13-45 25:61", "tomorrow 8pm", "next wed 9:00", "20:00", "下午3点", "昨天 9:00",
    "1", "2", "3", "5", "0", "-1", "10", "100", "12.5", "１２", "²", "①", "Ⅻ", "三", "99999999999999999999",
    "9" * 40, "1e9", "NaN", "0x10", "#3", "#99999999999999999999", "★★★", "★★★★★",
    "\x1b[31m红色\x1b[0m", "ESC\x1b", "\ud800", "a\udfffb", "\u200b\u200b", "\x00", "\t\n", "🙂🙂", "<b>粗体</b>",
    "'; DROP TABLE person; --", "{name}", "{0}", "%s", "a" * 5000, "长" * 10000,
)
ARGS = ("", "1", "2", "12", "²", "①", "99999999999999999999", "9" * 2000, "-3", "abc", "张三", "secretary",
        "official", "committee", "party_member", "building_leader", "resident", "12 secretary", "² secretary",
        "99999999999999999999 secretary", "XFL2026", "XFL-2026-0001", "cases", "cases 2026-11", "cases 2026-11-01 "
        "2026-11-30", "2026-11", "明天 20:00", "zh_TW", "en", "繁體中文", "English", "#1", "1 100", "幸福物业 0717")
DOCUMENTS = ("roster.xlsx", "report.pdf", "photo.jpg", "notes.txt", "empty.xlsx")
CLOCK_STEPS = ("+1m", "+5m", "+30m", "+2h", "+13h", "+1d")

# The seeded template is made once per process; every run copies it.
_TEMPLATES: dict[str, Path] = {}


@dataclass
class Report:
    inputs: int = 0
    seconds: float = 0.0
    exceptions: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)

    @property
    def unhandled(self) -> int:
        return sum(self.exceptions.values())

    def lines(self) -> list[str]:
        out = [f"inputs {self.inputs} in {self.seconds:.1f} s ({self.inputs / max(self.seconds, 1e-9):.0f}/s)",
               "by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items())),
               f"unhandled exceptions: {self.unhandled} ({len(self.exceptions)} signatures)"]
        for signature, count in self.exceptions.most_common():
            out.append(f"  {count:6d}  {signature}")
            out.append(f"          after: {self.examples[signature]}")
        out.append(f"invariant violations: {len(self.violations)}")
        out.extend(f"  {v}" for v in self.violations)
        return out


class _Failures(logging.Handler):
    """Everything the core, a job or the outbox logged with a traceback: each is an unhandled exception."""

    def __init__(self, report: Report) -> None:
        super().__init__(logging.ERROR)
        self.report = report
        self.doing: Callable[[], str] = lambda: ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is None or record.exc_info[1] is None:
            return
        error = record.exc_info[1]
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if "/site-packages/" not in f.filename and "/lib/python" not in f.filename]
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
        signature = f"{type(error).__name__} at {where}: {str(error)[:80]}"
        self.report.exceptions[signature] += 1
        self.report.examples.setdefault(signature, self.doing()[:200])


class Fuzzer:
    """Stays a while with one person in one chat (so flows get deep), mostly using the commands that person may
    use, answering steps with awkward texts and pressing the buttons just shown, sometimes old or other people's."""

    def __init__(self, console: Console, seed: int) -> None:
        self.console = console
        self.random = random.Random(seed)
        routes = console.app.core.routes.commands
        self.commands = sorted(routes)
        self.staff_commands = sorted(name for name, route in routes.items() if route.roles is not None)
        self.doing = ""

    def _text(self) -> str:
        if self.random.random() < 0.1:
            return "".join(self.random.choice(TEXTS) for _ in range(self.random.randint(2, 4)))
        return self.random.choice(TEXTS)

    async def _say(self, text: str) -> None:
        self.doing = f"{self.console.person}@{self.console.chat} says {text[:60]!r}"
        await self.console.say(text)

    async def step(self) -> None:
        console, rnd = self.console, self.random
        roll = rnd.random()
        if roll < 0.04:
            console.as_(rnd.choice(PEOPLE))
            if rnd.random() < 0.2:
                console.in_(DEMO_GROUP)
        elif roll < 0.05:
            console.in_("private" if console.chat != "private" else DEMO_GROUP)
        if rnd.random() < 0.015:
            step = rnd.choice(CLOCK_STEPS)
            self.doing = f"clock {step}"
            await console.clock_to(step)
            return
        action = rnd.random()
        who = f"{console.person}@{console.chat}"
        if action < 0.2:
            pool = self.staff_commands if rnd.random() < 0.4 else self.commands
            command = rnd.choice([*pool, "nosuchcommand", "START"])
            argument = DEMO_INVITE if command in ("join", "start") and rnd.random() < 0.5 else rnd.choice(ARGS)
            await self._say(f"/{command} {argument}".strip())
        elif action < 0.5:
            await self._say(self._text())
        elif action < 0.85:
            await self._press(who)
        elif action < 0.91:
            self.doing = f"{who} photo"
            await console.photo(rnd.choice(("", "照片", "\x1b")))
        elif action < 0.95:
            name = rnd.choice(DOCUMENTS)
            self.doing = f"{who} document {name}"
            await console.document(name, data=b"" if name.startswith("empty") else None)
        elif action < 0.98:
            phone = rnd.choice(("13800000006", "13800000001", "12345", "+86 138 0000 0005"))
            self.doing = f"{who} contact {phone}"
            await console.contact(phone, own=rnd.random() < 0.8)
        else:
            self.doing = f"{who} sticker"
            await console._send(other="sticker")

    async def _press(self, who: str) -> None:
        """A button of this chat, mostly a recent one, sometimes an old (stale) one, sometimes someone else's."""
        console, rnd = self.console, self.random
        seen = console.seen_by()
        if rnd.random() < 0.1:
            # Pressing a button shown to somebody else (a forwarded or guessed token).
            seen = [s for s in console.transport.shown if s.buttons][-40:]
        with_buttons = [s for s in seen if s.buttons]
        if not with_buttons:
            await self._say(self._text())
            return
        shown = with_buttons[-1] if rnd.random() < 0.75 else rnd.choice(with_buttons[-15:])
        button = rnd.choice([b for row in shown.buttons for b in row])
        self.doing = f"{who} presses {button.label[:30]!r}"
        if button.kind == "callback":
            await console._send(button=button.data)
        elif button.kind == "deeplink":
            console.chat = "private"
            await console._send(text=f"/start {button.data}", command="start", args=button.data)
        elif rnd.random() < 0.5:
            await console.say(button.label)  # typing the label instead of pressing it


INVARIANTS = {
    "negative points balance": "SELECT person_id, compound_id FROM points_entry GROUP BY person_id, compound_id "
                               "HAVING SUM(amount) < 0",
    "a ledger key twice": "SELECT key FROM points_entry GROUP BY key HAVING COUNT(*) > 1",
    "two ballots for one room": "SELECT assembly_id, room_id FROM ballot GROUP BY assembly_id, room_id "
                                "HAVING COUNT(*) > 1",
    "a sign-up twice": "SELECT task_id, person_id FROM task_signup GROUP BY task_id, person_id HAVING COUNT(*) > 1",
    "an over-full task": "SELECT t.id FROM volunteer_task t JOIN task_signup s ON s.task_id = t.id AND s.active "
                         "GROUP BY t.id, t.wanted HAVING COUNT(*) > t.wanted",
    "an over-full service slot": "SELECT s.id FROM serviceslot s JOIN serviceorder o ON o.slot_id = s.id AND "
                                 "o.status IN ('requested', 'accepted', 'proposed') GROUP BY s.id, s.capacity "
                                 "HAVING COUNT(*) > s.capacity",
    "a membership twice": "SELECT person_id, room_id FROM membership WHERE status IN ('pending', 'approved') "
                          "AND room_id IS NOT NULL GROUP BY person_id, room_id HAVING COUNT(*) > 1",
    "a role granted twice": "SELECT person_id, compound_id, role FROM rolegrant WHERE revoked_at IS NULL "
                            "GROUP BY person_id, compound_id, role HAVING COUNT(*) > 1",
    "a conversation in a compound the person never joined": (
        # The join flow is bound to the compound being joined, before any membership exists.
        "SELECT c.id FROM conversation c WHERE c.compound_id IS NOT NULL AND c.flow <> 'join' AND NOT EXISTS "
        "(SELECT 1 FROM membership m "
        "WHERE m.person_id = c.person_id AND m.compound_id = c.compound_id) AND NOT EXISTS (SELECT 1 FROM rolegrant "
        "g WHERE g.person_id = c.person_id AND g.compound_id = c.compound_id) AND NOT EXISTS (SELECT 1 FROM "
        # Officials, street admins and property staff belong through their organisation, with no room.
        "affiliation a LEFT JOIN department d ON d.id = a.department_id LEFT JOIN compound_place p ON "
        "p.compound_id = c.compound_id LEFT JOIN organisation_compound oc ON oc.organisation_id = a.organisation_id "
        "AND oc.compound_id = c.compound_id WHERE a.person_id = c.person_id AND (oc.compound_id IS NOT NULL OR "
        "d.street_id = p.street_id OR a.street_id = p.street_id))"),
}


async def violations(app: App) -> list[str]:
    found: list[str] = []
    async with app.engine.connect() as connection:
        for name, query in INVARIANTS.items():
            rows = (await connection.execute(sa.text(query))).all()
            if rows:
                found.append(f"{name}: {[tuple(r) for r in rows[:5]]}")
    return found


async def fuzz(app: App, inputs: int, seed: int = 1) -> Report:
    """Drive `app` through its console with `inputs` random inputs."""
    report = Report()
    failures = _Failures(report)
    watched = [logging.getLogger(name) for name in ("bot", "handlers", "storage")]
    saved = [(logger.level, logger.propagate) for logger in watched]
    for logger in watched:
        # Counted here, not printed: a stack per failure would bury the report.
        logger.addHandler(failures)
        logger.setLevel(logging.ERROR)
        logger.propagate = False
    console = Console(app)
    fuzzer = Fuzzer(console, seed)
    failures.doing = lambda: fuzzer.doing
    started = time.perf_counter()
    try:
        for _ in range(inputs):
            try:
                await fuzzer.step()
            except Exception as error:  # the console itself must never see one either
                failures.emit(logging.LogRecord("fuzz", logging.ERROR, __file__, 0, "input failed", None,
                                                (type(error), error, error.__traceback__)))
            report.kinds[fuzzer.doing.split(" ")[1] if " " in fuzzer.doing else "?"] += 1
            report.inputs += 1
    finally:
        for logger, (level, propagate) in zip(watched, saved, strict=True):
            logger.removeHandler(failures)
            logger.setLevel(level)
            logger.propagate = propagate
    report.seconds = time.perf_counter() - started
    report.violations = await violations(app)
    return report


async def _template(directory: Path) -> Path:
    path = directory / "template.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)
    engine = make_engine(url)
    async with transaction(make_sessionmaker(engine)) as session:
        await seed_demo(session)
    await engine.dispose()
    return path


async def main_async(inputs: int, seed: int) -> Report:
    with tempfile.TemporaryDirectory(prefix="linli-fuzz-") as directory:
        template = await _template(Path(directory))
        path = Path(directory) / "fuzz.db"
        shutil.copy(template, path)
        # Off, as in the test suite: on a frozen clock all inputs fall into one minute.
        settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{path}",  # type: ignore[call-arg]
                            flood_messages_per_minute=0)
        app = build_app(settings, clock=Clock(START, frozen=True))
        try:
            return await fuzz(app, inputs, seed)
        finally:
            await app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    report = asyncio.run(main_async(options.inputs, options.seed))
    print("\n".join(report.lines()))
    sys.exit(1 if report.unhandled or report.violations else 0)


if __name__ == "__main__":
    main()
