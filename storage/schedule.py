"""When each periodic job last ran, kept in the database so that restarts and several processes agree; and
`next_fire`, the calendar rule features use for per-compound weekly or monthly schedules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlmodel import Field, SQLModel, col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import UTCDateTime, add_unless_exists


class JobRun(SQLModel, table=True):
    name: str = Field(max_length=80, primary_key=True)
    last_run_at: datetime = Field(sa_type=UTCDateTime)


async def last_runs(session: AsyncSession) -> dict[str, datetime]:
    """When each job last ran, read once per round: a job whose interval has not passed is skipped without a
    claim (most jobs, most rounds). A job that looks due still claims; the claim alone decides."""
    return dict((await session.exec(select(JobRun.name, JobRun.last_run_at))).all())


async def claim_job(session: AsyncSession, name: str, every: timedelta, now: datetime) -> bool:
    """True when this process should run the job now. The conditional UPDATE is the claim: of two processes
    only one sees the old `last_run_at` (SQLite serialises writers; PostgreSQL re-checks the WHERE clause
    on the locked row). The first run inserts, and a concurrent insert loses on the primary key."""
    result = await session.exec(
        update(JobRun)
        .where(col(JobRun.name) == name, col(JobRun.last_run_at) <= now - every)
        .values(last_run_at=now)
    )
    if result.rowcount == 1:
        return True
    if await session.get(JobRun, name) is not None:
        return False
    return await add_unless_exists(session, JobRun(name=name, last_run_at=now))


# ---- calendar rules ------------------------------------------------------------------------------------

_CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
# Standard crontab numbers days 0-6 from Sunday (7 is Sunday too); APScheduler numbers them from Monday.
_WEEKDAYS = {"0": "sun", "1": "mon", "2": "tue", "3": "wed", "4": "thu", "5": "fri", "6": "sat", "7": "sun"}


def _standard_weekdays(field_value: str) -> str:
    return re.sub(r"(?<![\w/])[0-7](?![\w])", lambda m: _WEEKDAYS[m.group(0)], field_value)


def cron_trigger(cron: str | Mapping[str, Any], tz: str | ZoneInfo) -> CronTrigger:
    """A crontab line ("0 9 * * mon", standard meaning: weekday 1 is Monday) or APScheduler's CronTrigger
    fields ({"day_of_week": "sat", "hour": 9} or {"day": "1st mon", "hour": 9}), in time zone `tz`."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    if isinstance(cron, str):
        values = cron.split()
        if len(values) != 5:
            raise ValueError(f"a crontab line has 5 fields, got {cron!r}")
        fields = dict(zip(_CRON_FIELDS, values, strict=True))
        fields["day_of_week"] = _standard_weekdays(fields["day_of_week"])
        return CronTrigger(timezone=zone, **fields)
    return CronTrigger(timezone=zone, **dict(cron))


def next_fire(cron: str | Mapping[str, Any], tz: str | ZoneInfo, after: datetime) -> datetime | None:
    """The first moment strictly after `after` matching `cron` in the time zone `tz` (daylight saving
    handled by APScheduler), in UTC; None when the rule never fires again."""
    if after.tzinfo is None:
        raise ValueError("naive datetime given to next_fire")
    trigger = cron_trigger(cron, tz)
    # The trigger's resolution is a second and it may return `now` itself: ask from just after it.
    start = after + timedelta(microseconds=1)
    fire = trigger.get_next_fire_time(None, start.astimezone(trigger.timezone))
    return fire.astimezone(UTC) if fire is not None else None
