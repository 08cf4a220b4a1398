"""The needs list (需求清单): residents post needs, neighbours add their support instead of posting twins,
and the secretary triages each one into a service order, a volunteer task, a complaint case or a meeting
agenda item, or declines it with a reason."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import complaints, meetings, resources, services, volunteering
from storage.compounds import Compound
from storage.db import StatusText, Stored, UTCDateTime, add_unless_exists, status_field, utcnow

CATEGORIES = ("elderly", "disability", "childcare", "facilities", "environment", "other")
TEXT_MIN, TEXT_MAX = 5, 500
# The meetings where residents' matters are talked over: a need goes on the next one's agenda.
AGENDA_KINDS = ("talk_day", "weekend")


class NeedStatus(StrEnum):
    OPEN = "open"
    TRIAGED = "triaged"
    DECLINED = "declined"


class NeedOutcome(StrEnum):
    """What the secretary's triage made of a need."""

    SERVICE = "service"
    TASK = "task"
    CASE = "case"
    AGENDA = "agenda"
    DECLINED = "declined"
    RESOURCE = "resource"  # matched to an entry of the resources list (资源清单)


OUTCOMES = tuple(NeedOutcome)


class Refused(StrEnum):
    """Why a triage did not happen (nothing was written)."""

    GONE = "gone"  # the need is no longer open (someone dealt with it) or not in this compound
    LATE = "late"  # the volunteer task would start in the past
    NO_MEETING = "no_meeting"  # no 集中说事日 / 周末议事日 is scheduled
    AGENDA_FULL = "agenda_full"
    NO_SLOT = "no_slot"  # the service's time is no longer free
    NO_RESOURCE = "no_resource"  # the resource is no longer on the list


# Two needs whose character bigrams overlap this much are shown as possible twins.
SIMILAR_AT = 0.3


class Need(Stored, SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    poster_id: int = Field(foreign_key="person.id")
    category: str = Field(max_length=20)
    text: str = Field(max_length=TEXT_MAX)
    photo_file_id: str | None = Field(default=None, max_length=256)
    photo_platform: str | None = Field(default=None, max_length=16)
    status: NeedStatus = status_field(NeedStatus, NeedStatus.OPEN, 12, index=True)
    outcome: NeedOutcome | None = Field(default=None, sa_type=StatusText(NeedOutcome, 12))
    outcome_note: str = Field(default="", max_length=500)
    # What the triage created: "task:12", "case:XFL-2026-0003", "order:5", "meeting:7" or "resource:4".
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
        .where(Need.compound_id == compound_id, Need.status == NeedStatus.OPEN)
        .order_by(func.coalesce(supporters.c.n, 0).desc(), col(Need.id))
        .limit(limit)
    )
    return [(need, int(count)) for need, count in result.all()]


async def similar_open(session: AsyncSession, compound_id: int, text: str, limit: int = 3) -> list[Need]:
    candidates = await session.exec(
        select(Need).where(Need.compound_id == compound_id, Need.status == NeedStatus.OPEN).order_by(col(Need.id).desc())
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
    # A second press at the same moment meets the unique key: still one support.
    return await add_unless_exists(session, NeedSupport(need_id=need.stored_id, person_id=person_id, created_at=now))


async def need_in(session: AsyncSession, need_id: int, compound_id: int) -> Need | None:
    """The need if it belongs to this compound (whatever its state)."""
    need = await session.get(Need, need_id)
    return need if need is not None and need.compound_id == compound_id else None


async def open_need(session: AsyncSession, need_id: int, compound_id: int) -> Need | None:
    """The need, locked, if it is still open in this compound: every triage checks it again as it decides."""
    query = select(Need).where(Need.id == need_id)
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    need = (await session.exec(query)).first()
    if need is None or need.compound_id != compound_id or need.status != NeedStatus.OPEN:
        return None
    return need


async def supporters_of(session: AsyncSession, need_id: int) -> list[int]:
    result = await session.exec(select(NeedSupport.person_id).where(NeedSupport.need_id == need_id))
    return list(result.all())


# ---- domain actions -----------------------------------------------------------------------------------------


async def post_need(session: AsyncSession, compound_id: int, poster_id: int, category: str, text: str, now: datetime,
                    photo_file_id: str | None = None, photo_platform: str | None = None) -> Need:
    if category not in CATEGORIES:
        raise ValueError(f"unknown need category {category!r}")
    need = Need(compound_id=compound_id, poster_id=poster_id, category=category, text=text[:TEXT_MAX],
                photo_file_id=photo_file_id, photo_platform=photo_platform, status=NeedStatus.OPEN, created_at=now)
    session.add(need)
    await session.flush()
    return need


def _decide(session: AsyncSession, need: Need, outcome: NeedOutcome, by: int, now: datetime, ref: str = "",
            note: str = "") -> None:
    """The one transition out of open: declined, or triaged into what `ref` names."""
    if need.status != NeedStatus.OPEN:
        raise ValueError(f"need {need.id} is {need.status}, not open")
    need.status = NeedStatus.DECLINED if outcome == NeedOutcome.DECLINED else NeedStatus.TRIAGED
    need.outcome, need.outcome_ref, need.outcome_note = outcome, ref[:40], note[:500]
    need.decided_by, need.decided_at = by, now
    session.add(need)


async def decline(session: AsyncSession, need_id: int, compound_id: int, by: int, reason: str, now: datetime
                  ) -> Need | Refused:
    need = await open_need(session, need_id, compound_id)
    if need is None:
        return Refused.GONE
    _decide(session, need, NeedOutcome.DECLINED, by, now, note=reason)
    return need


async def into_task(session: AsyncSession, need_id: int, compound_id: int, by: int, *, description: str, place: str,
                    starts_at: datetime, ends_at: datetime, wanted: int, rate: int, now: datetime
                    ) -> tuple[Need, volunteering.VolunteerTask] | Refused:
    """A volunteer task made from the need (its first line the title, its kind the skills), organised by `by`."""
    need = await open_need(session, need_id, compound_id)
    if need is None:
        return Refused.GONE
    task = await volunteering.post_task(
        session, compound_id=need.compound_id, organiser_id=by, title=task_title(need.text), description=description,
        place=place, starts_at=starts_at, ends_at=ends_at, wanted=wanted,
        skills=volunteering.skill_codes(TASK_SKILLS.get(need.category, "")), mode="hour", rate=rate, now=now)
    if task is None:
        return Refused.LATE
    _decide(session, need, NeedOutcome.TASK, by, now, f"task:{task.id}")
    return need, task


async def into_case(session: AsyncSession, need_id: int, compound: Compound, by: int, now: datetime
                    ) -> tuple[Need, complaints.Case] | Refused:
    """A complaint case filed on behalf of the poster, with the need's text and photo."""
    assert compound.id is not None  # a stored compound
    need = await open_need(session, need_id, compound.id)
    if need is None:
        return Refused.GONE
    case = await complaints.file_case(
        session, compound, need.poster_id, CASE_CATEGORY.get(need.category, "other"), need.text, now,
        photos=[need.photo_file_id] if need.photo_file_id else [], photo_platform=need.photo_platform or "",
        actor_id=by, note=f"need #{need.id}")
    _decide(session, need, NeedOutcome.CASE, by, now, f"case:{case.number}")
    return need, case


async def onto_agenda(session: AsyncSession, need_id: int, compound_id: int, by: int, item: str, now: datetime
                      ) -> tuple[Need, meetings.Meeting] | Refused:
    """`item` appended to the agenda of the next 集中说事日 / 周末议事日."""
    need = await open_need(session, need_id, compound_id)
    if need is None:
        return Refused.GONE
    meeting = await meetings.next_of_kinds(session, compound_id, AGENDA_KINDS, now)
    if meeting is None:
        return Refused.NO_MEETING
    if not meetings.add_agenda_item(meeting, item):
        return Refused.AGENDA_FULL
    session.add(meeting)
    _decide(session, need, NeedOutcome.AGENDA, by, now, f"meeting:{meeting.id}")
    return need, meeting


async def into_service(session: AsyncSession, need_id: int, compound_id: int, by: int, slot_id: int, now: datetime
                       ) -> tuple[Need, services.Placed] | Refused:
    """A service order for the poster in this slot (their own order of it, if they already hold one)."""
    need = await open_need(session, need_id, compound_id)
    if need is None:
        return Refused.GONE
    placed = await services.place_order(session, slot_id, need.poster_id, compound_id, now)
    if placed.order is None or placed.outcome not in (services.Ordered.ORDERED, services.Ordered.ALREADY):
        return Refused.NO_SLOT
    _decide(session, need, NeedOutcome.SERVICE, by, now, f"order:{placed.order.id}")
    return need, placed


async def into_resource(session: AsyncSession, need_id: int, compound_id: int, by: int, resource_id: int,
                        now: datetime) -> tuple[Need, resources.Resource] | Refused:
    """The need met by a resource on the compound's list (资源清单); the match is recorded with it."""
    need = await open_need(session, need_id, compound_id)
    if need is None:
        return Refused.GONE
    resource = await resources.resource_in(session, resource_id, compound_id)
    if resource is None:
        return Refused.NO_RESOURCE
    await resources.record_match(session, resource, need.stored_id, by, now)
    _decide(session, need, NeedOutcome.RESOURCE, by, now, f"resource:{resource.id}")
    return need, resource
