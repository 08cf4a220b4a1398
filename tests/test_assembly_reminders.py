"""Reminders (催票) over a 16-day vote, with the real scheduler's jobs run on the test clock: at most four per owner
who has not voted (at the opening, halfway, 48 h and 24 h before the close), none after 不再提醒 (a second press
and a press after the close answered politely), none once the owner has voted, none to the compound's owners
outside a unit's vote; a compound's own set; and each slot claimed once by two processes."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.assembly import (
    Assembly,
    AssemblyReminder,
    claim_reminders,
    parse_reminders,
    reminder_plan,
)
from storage.compounds import Compound
from storage.db import transaction
from tests.test_assembly_headcount import roster_compound, vote
from tests.test_assembly_scope import MEMBERS, ROSTER

ZONE = ZoneInfo("Asia/Shanghai")
GROUP = "和美园业主群"
TITLE = "1栋2单元加装电梯"
CLOSES = "2026-12-09 09:00"  # 16 days after the tests' start, Monday 2026-11-23 09:00


async def _open_unit_vote(console: Console) -> None:
    console.as_("周书记")
    await console.say("/assembly")
    await console.say(TITLE)
    await console.say("1栋2单元加装电梯，费用由本单元业主按专有面积分摊")
    await console.press("（七）")
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say(CLOSES)
    await console.press("更改表决范围")
    await console.press("1栋")
    await console.press("2单元")
    await console.press("确认并发起")


def _reminders(console: Console, person: str) -> list[str]:
    return [s.text for s in console.seen_by(person, "private") if TITLE in s.text and "不再提醒" in s.labels]


# Through each day the scheduler's jobs run at these local times (10 minutes each, in its usual steps): every
# reminder slot and the old daily 19:00 one fall in them. Running all 16 days minute by minute takes minutes.
SAMPLED = (3, 9, 15, 19, 21)


async def _days(console: Console, days: int) -> None:
    """The clock runs `days` days on, the scheduler's jobs running through the sampled hours of each."""
    clock = console.app.core.clock
    for _ in range(days):
        day = clock.now().astimezone(ZONE).date() + timedelta(days=1)
        for hour in SAMPLED:
            moment = datetime(day.year, day.month, day.day, hour, 0, tzinfo=ZONE)
            clock.set(moment - timedelta(minutes=5))
            await console.clock_to("+10m")


async def _until_closed(console: Console) -> None:
    console.app.core.clock.set(datetime.strptime(CLOSES, "%Y-%m-%d %H:%M").replace(tzinfo=ZONE) - timedelta(minutes=5))
    await console.clock_to("+1h")


async def test_at_most_four_reminders_and_none_after_stop(console: Console, app: App, tmp_path: Path) -> None:
    await roster_compound(app, tmp_path, roster=ROSTER, members=MEMBERS)
    await _open_unit_vote(console)
    # The opening reminder: the private word that voting is open, to the unit's three joined owners only.
    for owner in ("甲", "乙", "丙"):
        assert len(_reminders(console, owner)) == 1 and "正在投票" in _reminders(console, owner)[0], owner
    # 甲 presses 不再提醒 on it; pressing again is answered politely and changes nothing.
    console.as_("甲")
    await console.press("不再提醒")
    assert "不再提醒你" in console.last.text
    await console.press("不再提醒")
    assert "已经关闭" in console.last.text

    await _days(console, 8)  # past halfway (2026-12-01 09:00)
    assert len(_reminders(console, "丙")) == 2 and "还没有投票" in _reminders(console, "丙")[-1]
    assert len(_reminders(console, "乙")) == 2
    await vote(console, "乙", "同意")  # 乙 votes: no reminder after this
    await _days(console, 7)  # to the eve of the close: the 48 h and 24 h reminders
    await _until_closed(console)

    assert len(_reminders(console, "丙")) == 4  # 17 before (daily at 19:00, and 24 h before the close)
    assert len(_reminders(console, "乙")) == 2
    assert len(_reminders(console, "甲")) == 1
    # 丁 and 戊 own rooms of the compound outside the unit: never asked, never reminded.
    assert not [s for s in console.seen_by("丁", "private") if TITLE in s.text]
    assert not [s for s in console.seen_by("戊", "private") if TITLE in s.text]
    # A 不再提醒 pressed after the close: answered politely.
    console.as_("丙")
    await console.press("不再提醒")
    assert "已结束" in console.last.text


async def test_a_compound_chooses_its_reminders(console: Console, app: App, tmp_path: Path) -> None:
    compound_id = await roster_compound(app, tmp_path, roster=ROSTER, members=MEMBERS)
    async with transaction(app.core.sessions) as session:
        compound = await session.get(Compound, compound_id)
        assert compound is not None
        compound.settings = {**compound.settings, "assembly.reminders": "24h"}
        session.add(compound)
    await _open_unit_vote(console)
    assert _reminders(console, "丙") == []  # no private word at the opening: the group posting announces it
    await _days(console, 14)
    assert _reminders(console, "丙") == []
    await _days(console, 1)
    assert len(_reminders(console, "丙")) == 1 and "2026-12-09" in _reminders(console, "丙")[0]


def test_the_plan_and_the_setting() -> None:
    starts = datetime(2026, 11, 23, 9, 0, tzinfo=ZONE)
    closes = starts + timedelta(days=16)
    plan = reminder_plan(["opening", "halfway", "48h", "24h"], starts, closes)
    assert plan == [("opening", starts), ("halfway", starts + timedelta(days=8)),
                    ("48h", closes - timedelta(hours=48)), ("24h", closes - timedelta(hours=24))]
    # A two-day vote: halfway is 24 h before the close (one reminder), 48 h before is the opening (one).
    short = reminder_plan(["opening", "halfway", "48h", "24h"], starts, starts + timedelta(days=2))
    assert [slot for slot, _due in short] == ["opening", "halfway"]
    assert parse_reminders(["Opening", " 24h", "24h"]) == ["opening", "24h"]
    for wrong in (["opening", "halfway", "72h", "48h", "24h"], ["daily"], ["0h"], []):
        try:
            parse_reminders(wrong)
        except ValueError:
            continue
        raise AssertionError(wrong)


async def test_two_processes_claim_each_reminder_once(console: Console, app: App, tmp_path: Path) -> None:
    compound_id = await roster_compound(app, tmp_path, roster=ROSTER, members=MEMBERS)
    await _open_unit_vote(console)
    halfway = datetime(2026, 12, 1, 9, 5, tzinfo=ZONE)
    claimed = []
    for _process in range(2):  # each in its own transaction, as two processes' jobs would
        async with transaction(app.core.sessions) as session:
            compound = await session.get(Compound, compound_id)
            assembly = (await session.exec(select(Assembly))).one()
            claimed.append(await claim_reminders(session, assembly, compound, halfway))
    assert claimed == [["halfway"], []]
    async with app.core.sessions() as session:
        slots = (await session.exec(select(AssemblyReminder))).all()
    assert sorted(s.slot for s in slots) == ["24h", "48h", "halfway", "opening"]
