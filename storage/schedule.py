"""When each periodic job last ran, kept in the database so that restarts and several processes agree."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import UTCDateTime


class JobRun(SQLModel, table=True):
    name: str = Field(max_length=80, primary_key=True)
    last_run_at: datetime = Field(sa_type=UTCDateTime)


async def claim_job(session: AsyncSession, name: str, every: timedelta, now: datetime) -> bool:
    """True when this process should run the job now; the conditional update is the claim."""
    result = await session.exec(
        update(JobRun)
        .where(col(JobRun.name) == name, col(JobRun.last_run_at) <= now - every)
        .values(last_run_at=now)
    )
    if result.rowcount == 1:
        return True
    if await session.get(JobRun, name) is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(JobRun(name=name, last_run_at=now))
            await session.flush()
    except IntegrityError:
        return False
    return True
