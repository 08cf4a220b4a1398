"""A busy month through the real scheduler (bench/notifications.py): the app's jobs on a moving test clock, the
simulated features' notices through the core's enqueue step and the outbox, 30 residents and the secretary of a
compound with announcements, meetings, an assembly's vote, tasks, points and cases (one stuck at the department
level). Counted per person: nobody over the daily cap, nothing non-urgent inside quiet hours, no identical notice
twice, urgent messages on time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bench.notifications import max_non_urgent, simulate
from storage.notifications import DAILY_CAP
from tests.conftest import on_postgres


# The policy's rules are the same on both databases, and its claims (the digest's, the held rows') are tested on
# PostgreSQL by tests/test_notifications.py; the month's 1,400 scheduler rounds run once, on SQLite.
@pytest.mark.skipif(on_postgres(), reason="the month runs on SQLite; the policy's claims are tested on PostgreSQL")
async def test_a_busy_month_keeps_the_budget(db_url: str) -> None:
    # The scheduler wakes every 30 minutes here (10 in the benchmark): the quiet hours' ends and the digest's
    # time fall on a wake, and the month costs a third of the rounds.
    result = await simulate(db_url, budget=True, residents=30, days=30, step=timedelta(minutes=30))
    assert result.planned > 1500 and result.resident_ids
    assert max_non_urgent(result) <= DAILY_CAP
    assert result.quiet_non_urgent == 0
    assert result.repeats == 0
    assert result.urgent_total > 0 and result.urgent_late == 0
    # The stuck case: the reporter heard it once; the secretary's digests carry it as a line, once a day.
    secretary_digests = [g for g in result.delivered if g.person_id not in result.resident_ids
                         and g.text.startswith("今天的其他通知")]
    assert 20 <= len(secretary_digests) <= 31
    assert all(g.text.count("无人处理") <= 1 for g in secretary_digests)
