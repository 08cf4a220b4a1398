"""The notification budget: the one policy for every message a person did not ask for.

How a feature marks a message
-----------------------------
A private message that a job or someone else's action sends (a `Reply` with `to=ToPerson(id)`) carries a
`Notice`: what kind of notice it is, what it is about, and what it says about it::

    from storage.notifications import Notice, NoticeKind

    Reply(text, to=ToPerson(reporter), notice=Notice(NoticeKind.CASE_UPDATE, f"case:{case.id}", case.status))
    Reply(text, to=ToPerson(owner), notice=Notice(NoticeKind.VOTE_REMINDER, f"assembly:{a.id}", day))
    Reply(text, to=ToPerson(p), notice=Notice(NoticeKind.ANNOUNCEMENT, f"announcement:{row.id}",
                                              urgency=Urgency.URGENT))   # 停水停电: sent at once

- `kind` (`NoticeKind`) decides the urgency (`KIND_URGENCY`, overridable per notice with `urgency=`), and what
  the 不再接收此类通知 button turns off.
- `subject` names the thing the notice is about ("case:12", "meeting:3:60"); `content` is what the notice says
  about it that may change (a status, a level, a day). A notice whose kind, subject and content were already
  sent (or held, or put in a digest) to that person is not sent again. Without `content` the text is the content.
- The core's enqueue step (`Core.enqueue`) asks `decide` for every `ToPerson` reply with a notice and writes the
  outbox row accordingly; a `ToPerson` reply to someone other than the person who acted (or from a job) without a
  notice is treated as `NoticeKind.OTHER`. Replies to the person's own message, and group postings, pass as they
  are.

What the policy decides (`decide`), per person, in the compound's time zone
---------------------------------------------------------------------------
- **Urgent** kinds (停水停电 announcements, a meeting starting within the hour, a case the person must act on)
  are sent at once, whatever the hour or the count; only an unchanged repeat is dropped.
- **Opted out**: a non-urgent kind the person turned off (the button on each such message, or /notifications) is
  dropped.
- **Repeat**: an unchanged notice is dropped; an unchanged escalation to staff becomes one line of that day's
  digest instead (once a day), never another message.
- **Quiet hours** (`notifications.quiet_from`–`notifications.quiet_until`, default 21:30–07:30): a non-urgent
  message is held in the outbox until the quiet hours end.
- **Daily cap** (`notifications.daily_cap`, default 3): at most that many non-urgent messages a person gets in a
  day, the evening digest included: the first cap − 1 are sent as they come, the rest are merged into one digest
  sent at `notifications.digest_time` (default 20:00) by the digest job. `Urgency.LOW` notices only ever go in the
  digest.

Every decision is a row of `NoticeLog` (which also holds a digest line's text and buttons until its digest is
sent), so the budget is shared by every process and survives restarts."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, delete, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.compounds import Compound, compound_setting
from storage.db import JSONDict, Prepared, PreparedInsert, UTCDateTime, status_field
from storage.people import Person


class NoticeKind(StrEnum):
    ANNOUNCEMENT = "announcement"
    # 停水停电 and the like: sent at once.
    URGENT_ANNOUNCEMENT = "urgent_announcement"
    MEETING_REMINDER = "meeting_reminder"
    # A meeting starting within the hour: sent at once.
    MEETING_SOON = "meeting_soon"
    VOTE_REMINDER = "vote_reminder"
    # A case's progress, told to its reporter.
    CASE_UPDATE = "case_update"
    # A case (or a request) the person must act on now: sent at once.
    CASE_TO_ACT = "case_to_act"
    # Staff told that a case went up a level or has nobody to handle it; a repeat is a digest line.
    ESCALATION = "escalation"
    # Volunteer tasks: new ones, reminders, sign-ups.
    TASK = "task"
    POINTS = "points"
    # Meetings, needs, services, the 红黑榜 and the rest: anything else nobody asked for.
    OTHER = "other"
    # The evening digest itself.
    DIGEST = "digest"


class Urgency(StrEnum):
    # Passes: no cap, no quiet hours, no opting out.
    URGENT = "urgent"
    NORMAL = "normal"
    # Only ever a line of the evening digest.
    LOW = "low"


KIND_URGENCY: dict[NoticeKind, Urgency] = {
    kind: Urgency.URGENT if kind in (NoticeKind.URGENT_ANNOUNCEMENT, NoticeKind.MEETING_SOON,
                                     NoticeKind.CASE_TO_ACT) else Urgency.NORMAL
    for kind in NoticeKind
}
# What a person may turn off: every non-urgent kind but the digest (which is what the others become).
OPTIONAL_KINDS: tuple[NoticeKind, ...] = tuple(
    kind for kind in NoticeKind if KIND_URGENCY[kind] is not Urgency.URGENT and kind is not NoticeKind.DIGEST)

DAILY_CAP = 3
QUIET_FROM = "21:30"
QUIET_UNTIL = "07:30"
DIGEST_TIME = "20:00"
# How long decisions are kept (the repeat check looks this far back).
KEPT = timedelta(days=120)
# A digest line is the notice's first lines, up to this many characters.
LINE_LIMIT = 240


@dataclass(frozen=True, slots=True)
class Notice:
    """How a message nobody asked for is marked (see the module's docstring)."""

    kind: NoticeKind
    subject: str = ""
    content: str = ""
    urgency: Urgency | None = None
    # The compound whose hours and cap apply; by default the one the sender acts in, else the recipient's.
    compound_id: int | None = None

    @property
    def level(self) -> Urgency:
        return self.urgency or KIND_URGENCY[self.kind]


class Decision(StrEnum):
    SEND = "send"
    # Sent when the quiet hours end (the outbox row is due then).
    HOLD = "hold"
    # A line of the evening digest.
    DIGEST = "digest"
    REPEAT = "repeat"
    OPTED_OUT = "opted_out"


# Decisions after which the person has (or will have) the notice.
DELIVERED = (Decision.SEND, Decision.HOLD, Decision.DIGEST)


class NoticeLog(SQLModel, table=True):
    """One row per notice decided for a person."""

    __tablename__ = "notice_log"
    __table_args__ = (
        sa.Index("ix_notice_log_repeat", "person_id", "kind", "subject"),
        sa.Index("ix_notice_log_day", "person_id", "day"),
        sa.Index("ix_notice_log_digest", "decision", "digested_at", "due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    compound_id: int | None = Field(default=None, foreign_key="compound.id")
    kind: NoticeKind = status_field(NoticeKind, NoticeKind.OTHER, 24)
    subject: str = Field(default="", max_length=120)
    content_key: str = Field(max_length=32)
    urgency: Urgency = status_field(Urgency, Urgency.NORMAL, 8)
    decision: Decision = status_field(Decision, Decision.SEND, 12)
    # The compound-local day the person gets it (a held notice: the morning's day; a digest line: the digest's).
    day: date
    decided_at: datetime = Field(sa_type=UTCDateTime)
    # When it goes out: the morning for a held notice, the digest's moment for a digest line.
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A digest line's text and buttons ({"rows": [[{"label", "action", "args"}]]}), emptied once sent.
    text: str = Field(default="", sa_type=sa.Text)
    buttons: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDict)
    digested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    digest_claim: str | None = Field(default=None, max_length=32)


class NoticeOptOut(SQLModel, table=True):
    """A kind of notice a person turned off."""

    __tablename__ = "notice_opt_out"
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    kind: NoticeKind = Field(sa_type=sa.String(24), primary_key=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


# ---- pure rules ------------------------------------------------------------------------------------------------


def _clock(text: str) -> time:
    hours, minutes = str(text).split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True, slots=True)
class Budget:
    """A compound's budget: its cap, quiet hours and digest time, in its time zone."""

    cap: int
    quiet_from: time
    quiet_until: time
    digest_time: time
    zone: ZoneInfo

    @staticmethod
    def of(compound: Compound | None, default_zone: str = "Asia/Shanghai") -> Budget:
        def setting(key: str, default: Any) -> Any:
            return compound_setting(compound, key, default) if compound is not None else default

        return Budget(int(setting("notifications.daily_cap", DAILY_CAP)),
                      _clock(setting("notifications.quiet_from", QUIET_FROM)),
                      _clock(setting("notifications.quiet_until", QUIET_UNTIL)),
                      _clock(setting("notifications.digest_time", DIGEST_TIME)),
                      ZoneInfo(compound.timezone if compound is not None else default_zone))

    def day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def quiet(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone).time()
        if self.quiet_from == self.quiet_until:
            return False
        if self.quiet_from < self.quiet_until:
            return self.quiet_from <= local < self.quiet_until
        return local >= self.quiet_from or local < self.quiet_until

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, self.zone)

    def morning(self, moment: datetime) -> datetime:
        """When the quiet hours `moment` falls in end (`moment` itself outside them)."""
        if not self.quiet(moment):
            return moment
        day = self.day(moment)
        end = self._at(day, self.quiet_until)
        return end if end > moment else self._at(day + timedelta(days=1), self.quiet_until)

    def next_digest(self, moment: datetime) -> datetime:
        """The first digest moment strictly after `moment`: a notice decided at the digest's very moment, perhaps
        after the job claimed that day's lines, waits for the next one (one digest a day)."""
        day = self.day(moment)
        at = self._at(day, self.digest_time)
        return at if at > moment else self._at(day + timedelta(days=1), self.digest_time)


# An announcement naming one of these is urgent (停水停电 and the like): sent at once, whatever the hour.
URGENT_WORDS = ("停水", "停电", "停電", "停气", "停氣", "断水", "斷水", "断电", "斷電", "燃气泄漏", "燃氣洩漏")


def announcement_kind(text: str) -> NoticeKind:
    """An announcement's kind by what it says: a water, power or gas cut is urgent."""
    return NoticeKind.URGENT_ANNOUNCEMENT if any(word in text for word in URGENT_WORDS) else NoticeKind.ANNOUNCEMENT


def content_key(notice: Notice, text: str) -> str:
    """What makes two notices the same: kind, subject and content (the text when no content is given)."""
    content = notice.content or text
    return hashlib.sha256(f"{notice.kind}\x1f{notice.subject}\x1f{content}".encode()).hexdigest()[:32]


def digest_line(text: str) -> str:
    """A notice as one digest line: its first paragraph, shortened."""
    first = " ".join(text.strip().split("\n\n")[0].split())
    return first if len(first) <= LINE_LIMIT else first[: LINE_LIMIT - 1] + "…"


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    # When to send it (HOLD) or when its digest goes out (DIGEST).
    due_at: datetime | None = None

    @property
    def queued(self) -> bool:
        """Whether the message goes into the outbox now (at once, or held until `due_at`)."""
        return self.decision in (Decision.SEND, Decision.HOLD)


# ---- decisions -------------------------------------------------------------------------------------------------


# The budget's reads run for every message someone did not ask for (a join request to each secretary, a case to
# its handler): fixed queries on the driver (storage.db.Prepared).
_OPTED_OUT = Prepared(select(NoticeOptOut.kind).where(NoticeOptOut.person_id == sa.bindparam("person_id")))
# What counts against the daily cap: a non-urgent message sent (or held for the morning) outside the digest.
_DIRECT = (col(NoticeLog.decision).in_([Decision.SEND, Decision.HOLD]), NoticeLog.urgency != Urgency.URGENT,
           NoticeLog.kind != NoticeKind.DIGEST)


def _counts_direct(decision: Decision, urgency: Urgency, kind: NoticeKind) -> bool:
    """`_DIRECT` for a decision just made (kept in `Known`)."""
    return decision in (Decision.SEND, Decision.HOLD) and urgency is not Urgency.URGENT and kind is not NoticeKind.DIGEST


_DIRECT_COUNT = Prepared(select(func.count()).select_from(NoticeLog).where(
    NoticeLog.person_id == sa.bindparam("person_id"), NoticeLog.day == sa.bindparam("day", type_=sa.Date), *_DIRECT))
_EARLIER = Prepared(select(NoticeLog).where(
    NoticeLog.person_id == sa.bindparam("person_id"), NoticeLog.kind == sa.bindparam("kind"),
    NoticeLog.subject == sa.bindparam("subject"), NoticeLog.content_key == sa.bindparam("key"),
    col(NoticeLog.decision).in_(list(DELIVERED))), NoticeLog)


_LOG = PreparedInsert(NoticeLog)


@dataclass
class Known:
    """What the budget's decisions read about a fan-out's recipients, read for all of them at once (`known_of`)
    and kept up to date by each decision made with it: a notice to a hundred people is not three hundred reads.
    A person, notice or day it was not read for is asked of the database as usual."""

    opted_out: dict[int, set[NoticeKind]]
    # Delivered rows by (person, kind, subject), for the (kind, subject)s read.
    delivered: dict[tuple[int, str, str], list[NoticeLog]]
    notices: set[tuple[str, str]]
    # Messages counting against the cap, by (person, day), for days from `since`.
    direct: dict[tuple[int, date], int]
    since: date
    # The decisions' log rows, written together by `log_known`.
    rows: list[dict[str, Any]] = field(default_factory=list)

    def covers(self, person_id: int) -> bool:
        return person_id in self.opted_out

    def note(self, row: NoticeLog) -> None:
        """A decision just logged: a later one for the same person sees it."""
        if row.decision in DELIVERED:
            self.delivered.setdefault((row.person_id, row.kind.value, row.subject), []).append(row)
        if _counts_direct(row.decision, row.urgency, row.kind):
            self.direct[row.person_id, row.day] = self.direct.get((row.person_id, row.day), 0) + 1


async def known_of(session: AsyncSession, people: list[int], notices: list[Notice], since: date) -> Known:
    """`Known` for these people and notices, with the days from `since`: three queries whatever their number (one
    when every notice is urgent: those pass opt-outs and the cap)."""
    wanted = sorted(set(people))
    budgeted = any(notice.level is not Urgency.URGENT for notice in notices)
    opted: dict[int, set[NoticeKind]] = {person: set() for person in wanted}
    if budgeted:
        for person, kind in (await session.exec(select(NoticeOptOut.person_id, NoticeOptOut.kind).where(
                col(NoticeOptOut.person_id).in_(wanted)))).all():
            opted[person].add(NoticeKind(kind))
    pairs = {(notice.kind.value, notice.subject[:120]) for notice in notices}
    delivered: dict[tuple[int, str, str], list[NoticeLog]] = {}
    for row in (await session.exec(select(NoticeLog).where(
            col(NoticeLog.person_id).in_(wanted), col(NoticeLog.kind).in_(sorted({kind for kind, _ in pairs})),
            col(NoticeLog.subject).in_(sorted({subject for _, subject in pairs})),
            col(NoticeLog.decision).in_(list(DELIVERED))).order_by(col(NoticeLog.id)))).all():
        if (row.kind.value, row.subject) in pairs:
            delivered.setdefault((row.person_id, row.kind.value, row.subject), []).append(row)
    direct = {(person, day): int(count) for person, day, count in (await session.exec(
        select(col(NoticeLog.person_id), col(NoticeLog.day), func.count()).where(
            col(NoticeLog.person_id).in_(wanted), col(NoticeLog.day) >= since, *_DIRECT)
        .group_by(col(NoticeLog.person_id), col(NoticeLog.day)))).all()} if budgeted else {}
    return Known(opted, delivered, pairs, direct, since)


async def log_known(session: AsyncSession, known: Known) -> None:
    """Write the log rows of the decisions made with `known`, in one insert."""
    if known.rows:
        await _LOG.run(session, known.rows)
        known.rows = []


async def opted_out(session: AsyncSession, person_id: int, known: Known | None = None) -> set[NoticeKind]:
    if known is not None and known.covers(person_id):
        return known.opted_out[person_id]
    return {NoticeKind(kind) for kind, in await _OPTED_OUT.rows(session, person_id=person_id)}


async def _direct_count(session: AsyncSession, person_id: int, day: date, known: Known | None = None) -> int:
    """Non-urgent messages the person gets on `day` outside the digest."""
    if known is not None and known.covers(person_id) and day >= known.since:
        return known.direct.get((person_id, day), 0)
    return int((await _DIRECT_COUNT.rows(session, person_id=person_id, day=day))[0][0])


async def _earlier(session: AsyncSession, person_id: int, notice: Notice, key: str,
                   known: Known | None = None) -> list[NoticeLog]:
    subject = notice.subject[:120]
    if known is not None and known.covers(person_id) and (notice.kind.value, subject) in known.notices:
        return [row for row in known.delivered.get((person_id, notice.kind.value, subject), [])
                if row.content_key == key]
    return await _EARLIER.objects(session, person_id=person_id, kind=notice.kind.value, subject=subject, key=key)


async def decide(session: AsyncSession, person_id: int, notice: Notice, now: datetime, compound: Compound | None,
                 text: str, buttons: list[list[dict[str, Any]]] | None = None,
                 default_zone: str = "Asia/Shanghai", known: Known | None = None) -> Verdict:
    """Whether the notice goes to the person now, in the morning, in the evening digest, or not at all; recorded.
    `text` and `buttons` (action buttons as {"label", "action", "args"}) are kept for a digest line; `known`:
    what was read ahead for a fan-out's recipients (`known_of`)."""
    budget = Budget.of(compound, default_zone)
    level = notice.level
    key = content_key(notice, text)
    verdict = await _verdict(session, person_id, notice, level, key, budget, now, known)
    line = verdict.decision is Decision.DIGEST
    row: dict[str, Any] = dict(
        person_id=person_id, compound_id=compound.id if compound is not None else None, kind=notice.kind,
        subject=notice.subject[:120], content_key=key, urgency=level, decision=verdict.decision,
        day=budget.day(verdict.due_at or now), decided_at=now, due_at=verdict.due_at,
        text=digest_line(text) if line else "", buttons={"rows": buttons or []} if line else {})
    if known is not None:  # the next recipient's decision reads `known`; the rows are written together
        known.rows.append(row)
        known.note(NoticeLog(**row))
    else:  # written at once, not left to the ORM's flush: the next decision reads this table
        await _LOG.run(session, [row])
    return verdict


async def _verdict(session: AsyncSession, person_id: int, notice: Notice, level: Urgency, key: str, budget: Budget,
                   now: datetime, known: Known | None) -> Verdict:
    if notice.kind is NoticeKind.DIGEST:
        # The digest is the day's last non-urgent message: only the quiet hours hold it.
        return Verdict(Decision.HOLD, budget.morning(now)) if budget.quiet(now) else Verdict(Decision.SEND)
    if level is not Urgency.URGENT and notice.kind in await opted_out(session, person_id, known):
        return Verdict(Decision.OPTED_OUT)
    earlier = await _earlier(session, person_id, notice, key, known)
    if earlier:
        if notice.kind is NoticeKind.ESCALATION:
            # Still escalated, still nobody: one line in the day's digest, never another message.
            due = budget.next_digest(now)
            if not any(row.decision is Decision.DIGEST and row.day == budget.day(due) for row in earlier):
                return Verdict(Decision.DIGEST, due)
        return Verdict(Decision.REPEAT)
    if level is Urgency.URGENT:
        return Verdict(Decision.SEND)
    moment = budget.morning(now)
    if level is not Urgency.LOW and await _direct_count(session, person_id, budget.day(moment), known) < budget.cap - 1:
        return Verdict(Decision.HOLD, moment) if moment > now else Verdict(Decision.SEND)
    return Verdict(Decision.DIGEST, budget.next_digest(moment))


# ---- the evening digest ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Digest:
    person_id: int
    compound_id: int | None
    lines: list[str]
    # Action buttons of the merged notices, as {"label", "action", "args"}.
    buttons: list[dict[str, Any]]


async def due_digests(session: AsyncSession, now: datetime) -> list[int]:
    """The people whose digest is due."""
    found = await session.exec(select(NoticeLog.person_id).where(
        NoticeLog.decision == Decision.DIGEST, col(NoticeLog.digested_at).is_(None),
        col(NoticeLog.due_at) <= now).distinct().order_by(col(NoticeLog.person_id)))
    return list(found.all())


async def claim_digest(session: AsyncSession, person_id: int, now: datetime) -> Digest | None:
    """The person's due digest lines, claimed (`UPDATE ... WHERE digested_at IS NULL`: of two processes only one
    gets them), their texts emptied once read. None when another process took them."""
    claim = secrets.token_hex(8)
    await session.exec(update(NoticeLog).where(
        col(NoticeLog.person_id) == person_id, col(NoticeLog.decision) == Decision.DIGEST,
        col(NoticeLog.digested_at).is_(None), col(NoticeLog.due_at) <= now).values(digested_at=now, digest_claim=claim))
    rows = list((await session.exec(select(NoticeLog).where(NoticeLog.digest_claim == claim)
                                    .order_by(col(NoticeLog.decided_at), col(NoticeLog.id)))).all())
    if not rows:
        return None
    lines: list[str] = []
    buttons: list[dict[str, Any]] = []
    for row in rows:
        if row.text and row.text not in lines:
            lines.append(row.text)
        buttons += [button for line in row.buttons.get("rows", []) for button in line]
        row.text, row.buttons = "", {}
        session.add(row)
    return Digest(person_id, rows[-1].compound_id, lines, buttons)


async def prune(session: AsyncSession, now: datetime) -> None:
    """Decisions older than `KEPT` go (a digest line not sent by then too)."""
    await session.exec(delete(NoticeLog).where(col(NoticeLog.decided_at) < now - KEPT))


# ---- opting out ------------------------------------------------------------------------------------------------


async def opt_out(session: AsyncSession, person_id: int, kind: NoticeKind, now: datetime) -> bool:
    """Turns `kind` off for the person; False when it cannot be (an urgent kind) or already was. Digest lines of
    that kind not sent yet are dropped too."""
    if kind not in OPTIONAL_KINDS:
        return False
    if await session.get(NoticeOptOut, (person_id, kind.value)) is not None:
        return False
    session.add(NoticeOptOut(person_id=person_id, kind=kind, created_at=now))
    await session.exec(update(NoticeLog).where(
        col(NoticeLog.person_id) == person_id, col(NoticeLog.kind) == kind, col(NoticeLog.decision) == Decision.DIGEST,
        col(NoticeLog.digested_at).is_(None)).values(decision=Decision.OPTED_OUT, text=""))
    return True


async def opt_in(session: AsyncSession, person_id: int, kind: NoticeKind) -> bool:
    """Turns `kind` back on; False when it was not off."""
    found = await session.get(NoticeOptOut, (person_id, kind.value))
    if found is None:
        return False
    await session.delete(found)
    return True


async def recipient_compound(session: AsyncSession, person_id: int) -> Compound | None:
    """The compound whose hours apply to a person when the sender names none: the one they act in."""
    person = await session.get(Person, person_id)
    if person is None or person.current_compound_id is None:
        return None
    return await session.get(Compound, person.current_compound_id)


__all__ = ["DAILY_CAP", "DIGEST_TIME", "KIND_URGENCY", "OPTIONAL_KINDS", "QUIET_FROM", "QUIET_UNTIL", "URGENT_WORDS",
           "Budget", "Decision", "Digest", "Notice", "NoticeKind", "NoticeLog", "NoticeOptOut", "Urgency", "Verdict",
           "announcement_kind", "claim_digest", "content_key", "decide", "digest_line", "due_digests", "opt_in",
           "opt_out", "opted_out", "prune", "recipient_compound"]
