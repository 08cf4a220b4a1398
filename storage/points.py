"""The points ledger (志愿服务积分): append-only entries, each with a reason and a unique idempotency key, so
a repeated press or a retried job cannot pay twice. A balance is the sum of a person's entries in a compound;
there is no cached balance (bench/points.py shows the indexed sum is fast enough). Redemptions at the
service centre (党群服务中心) are debits that the person confirms."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Stored, UTCDateTime, add_unless_exists, status_field, utcnow
from storage.people import Membership, MembershipStatus, Person

# Bishan's rule, as per-compound settings (`storage.compounds.compound_setting`).
DEFAULT_HOURLY_RATE = 2
DEFAULT_ACTIVITY_RATE = 5
DEFAULT_YUAN_PER_POINT = 1
# Attendance may be corrected this long after a task ended, by reversing entries.
CORRECTION_WINDOW = timedelta(days=7)

ATTENDANCE = "attendance"
REVERSAL = "reversal"
REDEMPTION = "redemption"
# More points than this are not exchanged in one go at the service centre.
MAX_REDEEM = 100_000


class RedemptionStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    REFUSED = "refused"  # confirmed by the person, but their balance no longer covered it


class Confirmation(StrEnum):
    """What became of the person's Confirm press on a redemption."""

    CONFIRMED = "confirmed"
    DONE = "done"  # already answered
    SHORT = "short"  # not enough points: refused
    MISSING = "missing"  # no such redemption of theirs


class PointsEntry(SQLModel, table=True):
    """One credit (+) or debit (−). Never edited or deleted: a correction is a new, reversing entry."""

    __tablename__ = "points_entry"
    __table_args__ = (
        # A balance: the sum over (person, compound), read from the index alone. Person first, so that the
        # ranking below never picks this index over the period one.
        sa.Index("ix_points_entry_balance", "person_id", "compound_id", "amount"),
        # A compound's ranking over a period: a range scan on created_at inside the compound.
        sa.Index("ix_points_entry_period", "compound_id", "created_at", "person_id", "amount", "kind"),
    )
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id")
    person_id: int = Field(foreign_key="person.id")
    amount: int
    kind: str = Field(max_length=16)  # attendance | reversal | redemption
    reason: str = Field(max_length=200)
    # task+person for attendance, the redemption's id for a redemption, the reversed entry for a reversal.
    key: str = Field(max_length=80, unique=True)
    task_id: int | None = Field(default=None, index=True)
    reverses_id: int | None = Field(default=None, foreign_key="points_entry.id")
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Redemption(Stored, SQLModel, table=True):
    """A secretary's record that a person exchanged points for an item; debited once the person confirms."""

    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    points: int
    item: str = Field(max_length=200)
    status: RedemptionStatus = status_field(RedemptionStatus, RedemptionStatus.PENDING, 12)
    created_by: int = Field(foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)



# ---- pure rules ---------------------------------------------------------------------------------------------


def points_for(mode: str, rate: int, hours: Decimal) -> int:
    """Hours × hourly rate (rounded half up to whole points), or the activity rate for being there."""
    if hours <= 0:
        return 0
    if mode == "activity":
        return rate
    return int((hours * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def attendance_key(task_id: int, person_id: int, version: int = 0) -> str:
    return f"att:{task_id}:{person_id}" + (f":{version}" if version else "")


def month_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The first moment of the current month in the compound's time zone."""
    local = now.astimezone(zone)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def can_debit(balance: int, amount: int) -> bool:
    return amount > 0 and balance - amount >= 0


# ---- queries ------------------------------------------------------------------------------------------------


async def balance(session: AsyncSession, compound_id: int, person_id: int) -> int:
    result = await session.exec(
        select(func.coalesce(func.sum(PointsEntry.amount), 0)).where(
            PointsEntry.compound_id == compound_id, PointsEntry.person_id == person_id
        )
    )
    return int(result.one())


async def lock_person(session: AsyncSession, person_id: int) -> None:
    """Serialises debits of one person: SQLite's transactions already begin IMMEDIATE (one writer); on
    PostgreSQL the person's row is locked, because locking the ledger rows would not stop a new row."""
    if session.get_bind().dialect.name != "sqlite":
        await session.exec(select(Person.id).where(Person.id == person_id).with_for_update())


async def last_entries(session: AsyncSession, compound_id: int, person_id: int, limit: int = 10) -> list[PointsEntry]:
    result = await session.exec(
        select(PointsEntry)
        .where(PointsEntry.compound_id == compound_id, PointsEntry.person_id == person_id)
        .order_by(col(PointsEntry.created_at).desc(), col(PointsEntry.id).desc())
        .limit(limit)
    )
    return list(result.all())


async def top(
    session: AsyncSession, compound_id: int, since: datetime | None = None, limit: int = 10
) -> list[tuple[int, int]]:
    """(person id, points) of the compound's top earners, over all time or since a moment. Only credits
    count: spending points at the service centre does not lower anyone's rank."""
    earned = func.sum(PointsEntry.amount).label("earned")
    query = select(PointsEntry.person_id, earned).where(
        PointsEntry.compound_id == compound_id, col(PointsEntry.kind) != REDEMPTION
    )
    if since is not None:
        query = query.where(col(PointsEntry.created_at) >= since)
    query = query.group_by(col(PointsEntry.person_id)).having(earned > 0).order_by(earned.desc()).limit(limit)
    result = await session.exec(query)
    return [(int(p), int(s)) for p, s in result.all()]


async def add_entry(session: AsyncSession, entry: PointsEntry) -> bool:
    """Append an entry; False when its key is already in the ledger (paid before: nothing happens)."""
    existing = await session.exec(select(PointsEntry.id).where(PointsEntry.key == entry.key))
    if existing.first() is not None:
        return False
    return await add_unless_exists(session, entry)


async def entries_for_task(session: AsyncSession, task_id: int, person_id: int) -> list[PointsEntry]:
    result = await session.exec(
        select(PointsEntry)
        .where(PointsEntry.task_id == task_id, PointsEntry.person_id == person_id)
        .order_by(col(PointsEntry.id))
    )
    return list(result.all())


async def set_task_points(
    session: AsyncSession,
    compound_id: int,
    task_id: int,
    person_id: int,
    points: int,
    reason: str,
    by: int | None,
    now: datetime,
) -> int | None:
    """Make a volunteer's points for a task equal `points`: the first time a credit, later a reversal of the
    current credit and a new one. Returns the change, or None when a reversal would take the balance
    below zero (the points were already spent)."""
    entries = await entries_for_task(session, task_id, person_id)
    current = sum(e.amount for e in entries)
    if current == points:
        return 0
    reversed_ids = {e.reverses_id for e in entries if e.reverses_id is not None}
    live = [e for e in entries if e.kind == ATTENDANCE and e.id not in reversed_ids]
    if live:
        await lock_person(session, person_id)
        if not can_debit(await balance(session, compound_id, person_id) + points, sum(e.amount for e in live)):
            return None
        for entry in live:
            await add_entry(session, PointsEntry(
                compound_id=compound_id, person_id=person_id, amount=-entry.amount, kind=REVERSAL,
                reason=reason, key=f"rev:{entry.id}", task_id=task_id, reverses_id=entry.id, created_by=by,
                created_at=now))
    if points > 0:
        version = len([e for e in entries if e.kind == ATTENDANCE])
        await add_entry(session, PointsEntry(
            compound_id=compound_id, person_id=person_id, amount=points, kind=ATTENDANCE, reason=reason,
            key=attendance_key(task_id, person_id, version), task_id=task_id, created_by=by, created_at=now))
    return points - current


async def find_members(session: AsyncSession, compound_id: int, *, name: str = "", person_id: int | None = None,
                       limit: int = 11) -> list[tuple[int, str]]:
    """(id, name) of the approved members of the compound with this id, or whose name contains `name`, in id
    order: who may exchange points there."""
    query = (select(Membership.person_id, Person.name).join(Person, col(Person.id) == Membership.person_id)
             .where(Membership.compound_id == compound_id, Membership.status == MembershipStatus.APPROVED))
    if person_id is not None:
        query = query.where(Membership.person_id == person_id)
    else:
        query = query.where(col(Person.name).contains(name[:50]))
    found = (await session.exec(query.distinct().order_by(col(Membership.person_id)).limit(limit))).all()
    return [(int(member), str(named)) for member, named in found]


async def record_redemption(session: AsyncSession, compound_id: int, person_id: int, points: int, item: str, by: int,
                            now: datetime) -> Redemption | None:
    """The service centre's record that a member exchanged points for an item, waiting for their confirmation;
    None when their balance does not cover it (nothing is recorded). Nothing is debited before they confirm."""
    if not 0 < points <= MAX_REDEEM or not can_debit(await balance(session, compound_id, person_id), points):
        return None
    redemption = Redemption(compound_id=compound_id, person_id=person_id, points=points, item=item[:200],
                            status=RedemptionStatus.PENDING, created_by=by, created_at=now)
    session.add(redemption)
    await session.flush()
    return redemption


async def confirm_redemption(session: AsyncSession, redemption_id: int, person_id: int, now: datetime) -> Confirmation:
    """The person's confirmation. The balance is checked inside this transaction with the person locked; the debit
    is one ledger entry under the redemption's key, so a repeated press cannot debit twice."""
    redemption = await session.get(Redemption, redemption_id)
    if redemption is None or redemption.person_id != person_id:
        return Confirmation.MISSING
    await lock_person(session, person_id)
    claimed = await session.exec(
        update(Redemption)
        .where(col(Redemption.id) == redemption_id, col(Redemption.status) == RedemptionStatus.PENDING)
        .values(status=RedemptionStatus.CONFIRMED, decided_at=now)
    )
    if claimed.rowcount != 1:
        return Confirmation.DONE
    await session.refresh(redemption)
    if not can_debit(await balance(session, redemption.compound_id, person_id), redemption.points):
        redemption.status = RedemptionStatus.REFUSED
        session.add(redemption)
        return Confirmation.SHORT
    await add_entry(session, PointsEntry(
        compound_id=redemption.compound_id, person_id=person_id, amount=-redemption.points, kind=REDEMPTION,
        reason=redemption.item[:200], key=f"redeem:{redemption.id}", created_by=redemption.created_by,
        created_at=now))
    return Confirmation.CONFIRMED


async def decline_redemption(session: AsyncSession, redemption_id: int, person_id: int, now: datetime) -> bool:
    """The person says the record is wrong: nothing is debited. False when it was already answered."""
    result = await session.exec(
        update(Redemption)
        .where(col(Redemption.id) == redemption_id, col(Redemption.person_id) == person_id,
               col(Redemption.status) == RedemptionStatus.PENDING)
        .values(status=RedemptionStatus.DECLINED, decided_at=now)
    )
    return result.rowcount == 1


async def set_name_hidden(session: AsyncSession, person: Person, hide: bool) -> None:
    """Whether the ranking shows the person's name or “(a neighbour)”."""
    person.hide_name = hide
    session.add(person)


# ---- the points ledger (积分台账) ----------------------------------------------------------------------------


def N_(msgid: str) -> str:
    """Marks a text for translation where it is defined (storage does not import the core)."""
    return msgid


ENTRY_KINDS = {ATTENDANCE: N_("Volunteering"), REVERSAL: N_("Correction"), REDEMPTION: N_("Redemption")}


async def ledger_rows(session: AsyncSession, compound_id: int, start: datetime | None, end: datetime,
                      person_id: int | None = None) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The points ledger of [start, end) (from the first entry when `start` is None), of the compound or of one
    person: the entries (time, name, kind, reason, points, the person's balance after it) and per person the
    balance before, earned, redeemed (as a positive number), corrections and the balance after. Balances count
    every earlier entry, so a period's ledger carries on from the one before."""
    query = (select(PointsEntry, Person.name).join(Person, col(Person.id) == PointsEntry.person_id)
             .where(PointsEntry.compound_id == compound_id, col(PointsEntry.created_at) < end)
             .order_by(col(PointsEntry.created_at), col(PointsEntry.id)))
    if person_id is not None:
        query = query.where(PointsEntry.person_id == person_id)
    names: dict[int, str] = {}
    # per person: balance before the period, earned, redeemed, corrections, balance after
    totals: dict[int, list[int]] = {}
    entries: list[tuple[object, ...]] = []
    for entry, name in (await session.exec(query)).all():
        names[entry.person_id] = name
        row = totals.setdefault(entry.person_id, [0, 0, 0, 0, 0])
        row[4] += entry.amount
        if start is not None and entry.created_at < start:
            row[0] = row[4]
            continue
        if entry.kind == REDEMPTION:
            row[2] -= entry.amount
        else:
            row[3 if entry.kind == REVERSAL else 1] += entry.amount
        entries.append((entry.created_at, name, entry.kind, entry.reason, entry.amount, row[4]))
    balances = [(names[person], *row) for person, row in sorted(totals.items(), key=lambda kv: (-kv[1][4], kv[0]))]
    return entries, balances
