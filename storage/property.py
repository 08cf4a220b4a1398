"""The property company's periodic assessment (物业服务质量考核): a questionnaire answered once per room,
graded A/B/C together with the period's complaint figures, and a rectification order (限期整改) after a C.

The grade is one pure function over plain values with exact arithmetic. Defaults (per-compound settings
override each, see README):
  survey score     = mean of the item averages, 1–5 mapped to 0–100 ((avg − 1) / 4 × 100)
  complaint score  = mean of (share of property cases answered in time, satisfaction rate of rated ones)
                     × 100, minus `overdue_penalty` points per overdue case (not below 0); when the period had
                     no property cases the survey score stands alone
  total            = survey_weight × survey score + complaint_weight × complaint score
  grade            = A when total ≥ 85, B when total ≥ 70, otherwise C (不合格)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import JSONDict, Stored, UTCDateTime, status_field, utcnow
from storage.people import own_rooms

ITEMS = ("cleaning", "greening", "security", "repairs", "elevator", "fees")

DEFAULTS: dict[str, Any] = {
    "survey_weight": "3/5",
    "complaint_weight": "2/5",
    "overdue_penalty": "2",
    "grade_a": "85",
    "grade_b": "70",
    "answer_days": 7,
    "rectify_days": 30,
}


@dataclass(frozen=True, slots=True)
class CaseFigures:
    """Property-handled complaint cases of the period."""

    cases: int = 0
    answered_in_time: int = 0
    overdue: int = 0
    rated: int = 0
    satisfied: int = 0  # rated 4 or 5


@dataclass(frozen=True, slots=True)
class Grade:
    grade: str
    total: Fraction
    survey: Fraction
    complaints: Fraction | None
    item_averages: dict[str, Fraction]
    answers: int

    def worst_items(self, n: int = 2) -> list[str]:
        return sorted(self.item_averages, key=lambda item: (self.item_averages[item], ITEMS.index(item)))[:n]


def _setting(settings: dict[str, Any], key: str) -> Fraction:
    return Fraction(str(settings.get(key, DEFAULTS[key])))


def grade(answers: list[dict[str, int]], figures: CaseFigures, settings: dict[str, Any] | None = None) -> Grade:
    """The A/B/C grade from the questionnaire answers (one dict of item → 1..5 per room) and case figures."""
    settings = settings or {}
    averages: dict[str, Fraction] = {}
    for item in ITEMS:
        scores = [answer[item] for answer in answers if item in answer]
        averages[item] = Fraction(sum(scores), len(scores)) if scores else Fraction(0)
    rated_items = [avg for avg in averages.values() if avg > 0]
    survey = (sum(rated_items, Fraction(0)) / len(rated_items) - 1) / 4 * 100 if rated_items else Fraction(0)
    complaints: Fraction | None = None
    if figures.cases:
        in_time = Fraction(figures.answered_in_time, figures.cases)
        satisfaction = Fraction(figures.satisfied, figures.rated) if figures.rated else in_time
        complaints = max(Fraction(0), (in_time + satisfaction) / 2 * 100 - _setting(settings, "overdue_penalty")
                         * figures.overdue)
    if complaints is None:
        total = survey
    else:
        survey_weight, complaint_weight = _setting(settings, "survey_weight"), _setting(settings, "complaint_weight")
        total = (survey_weight * survey + complaint_weight * complaints) / (survey_weight + complaint_weight)
    letter = "A" if total >= _setting(settings, "grade_a") else "B" if total >= _setting(settings, "grade_b") else "C"
    return Grade(letter, total, survey, complaints, averages, len(answers))


class AssessmentStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class RectificationStatus(StrEnum):
    OPEN = "open"
    RESPONDED = "responded"
    VERIFIED = "verified"
    ESCALATED = "escalated"


class Submitted(StrEnum):
    """What became of a household's questionnaire."""

    SAVED = "saved"
    REPLACED = "replaced"  # the household had answered before: this answer replaces it
    CLOSED = "closed"
    NOT_HOUSEHOLD = "not_household"
    STAFF = "staff"  # the property company's own staff never assess it


class Assessment(Stored, SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    period: str = Field(max_length=20)  # "2026Q4"
    opened_by: int = Field(foreign_key="person.id")
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closes_at: datetime = Field(sa_type=UTCDateTime, index=True)
    status: AssessmentStatus = status_field(AssessmentStatus, AssessmentStatus.OPEN, 10)
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    grade: str | None = Field(default=None, max_length=1)
    total: str | None = Field(default=None, max_length=40)  # an exact fraction, "1847/25"
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDict)


class AssessmentAnswer(SQLModel, table=True):
    """One answer per room: a later answer from the same room replaces the earlier one until the close."""

    __table_args__ = (sa.UniqueConstraint("assessment_id", "room_id"),)
    id: int | None = Field(default=None, primary_key=True)
    assessment_id: int = Field(foreign_key="assessment.id", index=True)
    room_id: int = Field(foreign_key="room.id")
    person_id: int = Field(foreign_key="person.id")
    scores: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDict)
    comment: str = Field(default="", max_length=500)
    submitted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Rectification(Stored, SQLModel, table=True):
    """限期整改 after a C: the property company responds, the secretary verifies, overdue goes to officials."""

    id: int | None = Field(default=None, primary_key=True)
    assessment_id: int = Field(foreign_key="assessment.id", unique=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    items: str = Field(max_length=200)  # comma-separated item codes
    deadline: datetime = Field(sa_type=UTCDateTime, index=True)
    status: RectificationStatus = status_field(RectificationStatus, RectificationStatus.OPEN, 12)
    response: str = Field(default="", max_length=1000)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The secretary's last "not done yet" (尚未到位): why, and when.
    sent_back_reason: str = Field(default="", max_length=500)
    sent_back_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RevocationAdvice(Stored, SQLModel, table=True):
    """取消经营资质建议: after a failed rectification, the secretary recommends to the street's department that the
    property company lose its qualification; the evidence goes with it as one workbook. Never deleted."""

    __tablename__ = "revocation_advice"
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    rectification_id: int = Field(foreign_key="rectification.id")
    department_id: int | None = Field(default=None, foreign_key="department.id")
    company: str = Field(default="", max_length=100)
    reason: str = Field(max_length=1000)
    by: int = Field(foreign_key="person.id")
    at: datetime = Field(sa_type=UTCDateTime)


def failed(order: Rectification) -> bool:
    """A rectification failed: its deadline passed unverified (escalated), or the secretary found it not done."""
    return order.status == RectificationStatus.ESCALATED or (
        order.status != RectificationStatus.VERIFIED and order.sent_back_at is not None)


async def failed_rectification(session: AsyncSession, compound_id: int) -> Rectification | None:
    """The compound's latest failed rectification order, if any: only then may a revocation be recommended."""
    orders = await session.exec(select(Rectification).where(Rectification.compound_id == compound_id)
                                .order_by(col(Rectification.id).desc()))
    return next((order for order in orders.all() if failed(order)), None)


async def rectifications_of(session: AsyncSession, compound_id: int) -> list[Rectification]:
    result = await session.exec(select(Rectification).where(Rectification.compound_id == compound_id)
                                .order_by(col(Rectification.id)))
    return list(result.all())


async def recommend_revocation(session: AsyncSession, order: Rectification, by: int, reason: str, now: datetime,
                               department_id: int | None = None) -> RevocationAdvice | None:
    """Record the recommendation; None when the order did not fail (a verified one, or one still in time)."""
    if not failed(order):
        return None
    advice = RevocationAdvice(compound_id=order.compound_id, rectification_id=order.stored_id,
                              department_id=department_id, company=await company_name(session, order.compound_id)
                              or "", reason=reason[:1000], by=by, at=now)
    session.add(advice)
    await session.flush()
    return advice


def quarter_of(moment: datetime) -> str:
    return f"{moment.year}Q{(moment.month - 1) // 3 + 1}"


async def open_assessment(session: AsyncSession, compound_id: int) -> Assessment | None:
    result = await session.exec(
        select(Assessment).where(Assessment.compound_id == compound_id, Assessment.status == AssessmentStatus.OPEN)
    )
    return result.first()


async def history(session: AsyncSession, compound_id: int, limit: int = 8) -> list[Assessment]:
    result = await session.exec(
        select(Assessment)
        .where(Assessment.compound_id == compound_id, Assessment.status == AssessmentStatus.CLOSED)
        .order_by(col(Assessment.closes_at).desc())
        .limit(limit)
    )
    return list(reversed(result.all()))


async def answers_of(session: AsyncSession, assessment_id: int) -> list[AssessmentAnswer]:
    result = await session.exec(select(AssessmentAnswer).where(AssessmentAnswer.assessment_id == assessment_id))
    return list(result.all())


async def claim_close(session: AsyncSession, assessment_id: int) -> bool:
    result = await session.exec(
        sa.update(Assessment)
        .where(col(Assessment.id) == assessment_id, col(Assessment.status) == AssessmentStatus.OPEN)
        .values(status=AssessmentStatus.CLOSED)
    )
    return result.rowcount == 1


async def claim_reminder(session: AsyncSession, assessment_id: int, now: datetime) -> bool:
    result = await session.exec(
        sa.update(Assessment)
        .where(col(Assessment.id) == assessment_id, col(Assessment.reminded_at).is_(None))
        .values(reminded_at=now)
    )
    return result.rowcount == 1


async def claim_escalation(session: AsyncSession, rectification_id: int, now: datetime) -> bool:
    result = await session.exec(
        sa.update(Rectification)
        .where(col(Rectification.id) == rectification_id, col(Rectification.status).in_(UNVERIFIED),
               col(Rectification.escalated_at).is_(None))
        .values(status=RectificationStatus.ESCALATED, escalated_at=now)
    )
    return result.rowcount == 1


async def case_figures(session: AsyncSession, compound_id: int, start: datetime, end: datetime) -> CaseFigures:
    """Figures of the complaint cases handled by the property company that were opened in [start, end)."""
    from storage.complaints import CATEGORIES, Case
    from storage.people import Role

    property_categories = [c.code for c in CATEGORIES if c.compound_role == Role.PROPERTY]
    result = await session.exec(
        select(Case.respond_by, Case.responded_at, Case.overdue_count, Case.rating).where(
            Case.compound_id == compound_id,
            col(Case.category).in_(property_categories),
            col(Case.opened_at) >= start,
            col(Case.opened_at) < end,
        )
    )
    rows = list(result.all())
    in_time = sum(1 for respond_by, responded_at, _o, _r in rows
                  if responded_at is not None and (respond_by is None or responded_at <= respond_by))
    ratings = [rating for *_rest, rating in rows if rating is not None]
    return CaseFigures(
        cases=len(rows),
        answered_in_time=in_time,
        overdue=sum(1 for _b, _a, overdue, _r in rows if overdue),
        rated=len(ratings),
        satisfied=sum(1 for rating in ratings if rating >= 4),
    )


async def company_staff_here(session: AsyncSession, compound_id: int) -> set[int]:
    """Everyone working for the property company in the compound (its staff, or granted the property role): they
    are never asked, reminded or counted in the company's assessment."""
    from storage.people import Role, people_with_role

    return set(await people_with_role(session, compound_id, Role.PROPERTY))


async def households(session: AsyncSession, compound_id: int) -> dict[int, list[int]]:
    """room id → the approved members living in or owning it, but for the property company's staff."""
    from storage.people import Membership, MembershipStatus

    staff = await company_staff_here(session, compound_id)

    result = await session.exec(
        select(Membership.room_id, Membership.person_id).where(
            Membership.compound_id == compound_id, Membership.status == MembershipStatus.APPROVED, col(Membership.room_id).is_not(None)
        )
    )
    rooms: dict[int, list[int]] = {}
    for room_id, person_id in result.all():
        if room_id is not None and person_id not in staff and person_id not in rooms.setdefault(room_id, []):
            rooms[room_id].append(person_id)
    return rooms


UNVERIFIED = (RectificationStatus.OPEN, RectificationStatus.RESPONDED)


def accepting(row: Assessment | None, now: datetime) -> bool:
    return row is not None and row.status == AssessmentStatus.OPEN and row.closes_at > now


async def submit_answer(session: AsyncSession, assessment_id: int, person_id: int, scores: dict[str, int],
                        comment: str, now: datetime) -> Submitted:
    """A household's questionnaire: one answer per room the person lives in or owns; a later one replaces it."""
    row = await session.get(Assessment, assessment_id)
    if row is None or not accepting(row, now):
        return Submitted.CLOSED
    if person_id in await company_staff_here(session, row.compound_id):
        return Submitted.STAFF
    rooms = await own_rooms(session, person_id, row.compound_id)
    if not rooms:
        return Submitted.NOT_HOUSEHOLD
    if set(scores) != set(ITEMS) or not all(1 <= int(v) <= 5 for v in scores.values()):
        raise ValueError("a questionnaire answer rates every item from 1 to 5")
    replaced = False
    for room_id in rooms:
        existing = (await session.exec(select(AssessmentAnswer).where(
            AssessmentAnswer.assessment_id == assessment_id, AssessmentAnswer.room_id == room_id))).first()
        if existing is not None:
            replaced = True
            existing.scores, existing.comment, existing.person_id = dict(scores), comment, person_id
            existing.submitted_at = now
            session.add(existing)
        else:
            session.add(AssessmentAnswer(assessment_id=assessment_id, room_id=room_id, person_id=person_id,
                                         scores=dict(scores), comment=comment, submitted_at=now))
    return Submitted.REPLACED if replaced else Submitted.SAVED


async def unverified_rectifications(session: AsyncSession, compound_id: int) -> list[Rectification]:
    """The compound's rectification orders not verified yet, oldest first."""
    result = await session.exec(select(Rectification).where(
        Rectification.compound_id == compound_id, col(Rectification.status).in_(
            (*UNVERIFIED, RectificationStatus.ESCALATED))).order_by(col(Rectification.id)))
    return list(result.all())


async def company_name(session: AsyncSession, compound_id: int) -> str | None:
    """The property company serving the compound (storage/organisations.py, set by /company or the shell)."""
    from storage.organisations import property_company_of

    company = await property_company_of(session, compound_id)
    return company.name if company is not None else None


async def overdue_rectifications(session: AsyncSession, now: datetime) -> list[Rectification]:
    result = await session.exec(select(Rectification).where(
        col(Rectification.status).in_(UNVERIFIED), col(Rectification.deadline) < now))
    return list(result.all())


async def open_assessments(session: AsyncSession) -> list[Assessment]:
    return list((await session.exec(select(Assessment).where(Assessment.status == AssessmentStatus.OPEN))).all())


async def respond(session: AsyncSession, order: Rectification, text: str) -> bool:
    """The property company reports what it put right; an escalated order stays escalated. False once verified."""
    if order.status == RectificationStatus.VERIFIED:
        return False
    order.response = text
    if order.status != RectificationStatus.ESCALATED:
        order.status = RectificationStatus.RESPONDED
    session.add(order)
    return True


async def verify(session: AsyncSession, order: Rectification, now: datetime) -> bool:
    """The secretary's check found it done: the order closes. False once verified."""
    if order.status == RectificationStatus.VERIFIED:
        return False
    order.status, order.verified_at = RectificationStatus.VERIFIED, now
    session.add(order)
    return True


async def send_back(session: AsyncSession, order: Rectification, reason: str, now: datetime) -> bool:
    """The secretary's check found it not done yet (尚未到位): open again, with the reason. False once verified."""
    if order.status == RectificationStatus.VERIFIED:
        return False
    order.status, order.verified_at = RectificationStatus.OPEN, None
    order.sent_back_reason, order.sent_back_at = reason, now
    session.add(order)
    return True
