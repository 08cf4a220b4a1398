"""The needs list (需求清单): residents post needs, neighbours add their support instead of posting twins,
and the secretary triages each one into a service order, a volunteer task, a complaint case or a meeting
agenda item, or declines it with a reason."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import UTCDateTime, utcnow

CATEGORIES = ("elderly", "disability", "childcare", "facilities", "environment", "other")
OUTCOMES = ("service", "task", "case", "agenda", "declined")
TEXT_MIN, TEXT_MAX = 5, 500
# Two needs whose character bigrams overlap this much are shown as possible twins.
SIMILAR_AT = 0.3


class Need(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    poster_id: int = Field(foreign_key="person.id")
    category: str = Field(max_length=20)
    text: str = Field(max_length=TEXT_MAX)
    photo_file_id: str | None = Field(default=None, max_length=256)
    photo_platform: str | None = Field(default=None, max_length=16)
    status: str = Field(default="open", max_length=12, index=True)  # open | triaged | declined
    outcome: str | None = Field(default=None, max_length=12)
    outcome_note: str = Field(default="", max_length=500)
    # What the triage created: "task:12", "case:XFL-2026-0003", "order:5" or "meeting:7".
    outcome_ref: str = Field(default="", max_length=40)
    decided_by: int | None = Field(default=None, foreign_key="person.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class NeedSupport(SQLModel, table=True):
    """One person supports one need once (the poster's own support is implied)."""

    __table_args__ = (sa.UniqueConstraint("need_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    need_id: int = Field(foreign_key="need.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# A need's kind suggests the volunteers' skills and the complaint category it would be filed under.
TASK_SKILLS = {"elderly": "care", "disability": "care", "childcare": "education", "facilities": "repair"}
CASE_CATEGORY = {"facilities": "facility", "environment": "sanitation"}
TITLE_LENGTH = 30


def task_title(text: str) -> str:
    """The volunteer task's title: the need's first line, shortened."""
    first = text.strip().splitlines()[0].strip() if text.strip() else text
    return first if len(first) <= TITLE_LENGTH else first[: TITLE_LENGTH - 1] + "…"


def bigrams(text: str) -> set[str]:
    letters = "".join(ch for ch in text.lower() if ch.isalnum())
    return {letters[i : i + 2] for i in range(len(letters) - 1)} or ({letters} if letters else set())


def similarity(a: str, b: str) -> float:
    """Jaccard overlap of character bigrams: works for Chinese without a word segmenter."""
    first, second = bigrams(a), bigrams(b)
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)


async def open_needs(session: AsyncSession, compound_id: int, limit: int = 20) -> list[tuple[Need, int]]:
    """Open needs with their supporter counts, most supported first."""
    supporters = (
        select(NeedSupport.need_id, func.count().label("n")).group_by(col(NeedSupport.need_id)).subquery()
    )
    result = await session.exec(
        select(Need, func.coalesce(supporters.c.n, 0))
        .outerjoin(supporters, supporters.c.need_id == Need.id)
        .where(Need.compound_id == compound_id, Need.status == "open")
        .order_by(func.coalesce(supporters.c.n, 0).desc(), col(Need.id))
        .limit(limit)
    )
    return [(need, int(count)) for need, count in result.all()]


async def similar_open(session: AsyncSession, compound_id: int, text: str, limit: int = 3) -> list[Need]:
    candidates = await session.exec(
        select(Need).where(Need.compound_id == compound_id, Need.status == "open").order_by(col(Need.id).desc())
        .limit(200)
    )
    scored = [(similarity(text, need.text), need) for need in candidates.all()]
    return [need for score, need in sorted(scored, key=lambda p: -p[0]) if score >= SIMILAR_AT][:limit]


async def support(session: AsyncSession, need: Need, person_id: int, now: datetime) -> bool:
    """False when the person already supports it (or posted it)."""
    if need.poster_id == person_id:
        return False
    exists = await session.exec(
        select(NeedSupport.id).where(NeedSupport.need_id == need.id, NeedSupport.person_id == person_id)
    )
    if exists.first() is not None:
        return False
    session.add(NeedSupport(need_id=need.id or 0, person_id=person_id, created_at=now))
    await session.flush()
    return True


async def open_need(session: AsyncSession, need_id: int, compound_id: int) -> Need | None:
    """The need if it is still open in this compound (checked again when a triage conversation ends)."""
    need = await session.get(Need, need_id)
    if need is None or need.compound_id != compound_id or need.status != "open":
        return None
    return need


async def supporters_of(session: AsyncSession, need_id: int) -> list[int]:
    result = await session.exec(select(NeedSupport.person_id).where(NeedSupport.need_id == need_id))
    return list(result.all())
