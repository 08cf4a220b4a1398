"""Personal data (PIPL, 个人信息保护法): what the product holds about a person (`my_data`, the /mydata workbook),
leaving a compound (`leave_compound`), forgetting a person (`forget`, /forget and `linli person forget`) and how
long complaint photos are kept (`erase_old_photos`).

Forgetting erases what identifies someone (name, phone, platform accounts, private chats, the owners' roster line
that carries their phone) and keeps the person's row under a pseudonym, so every record of a public decision stays
true: ballots keep their room and weight, the points ledger its entries and sums, cases their history, and the
person stays the owner of record of their rooms (the owner count of an assembly would change otherwise). Where
their name or phone number was written into a text (a complaint, a note, a message the bot sent), it is replaced:
the name by the pseudonym, the number by ***. Whatever else a text says is kept, as it is the record."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.announcements import Announcement, Disclosure
from storage.assembly import Assembly, Ballot, BallotHistory, Motion
from storage.board import BoardEntry
from storage.complaints import Case, CaseEvent, Mediation, State
from storage.compounds import Building, Chat, Compound, RosterOwner, compound_setting, describe_room
from storage.conversations import ButtonToken, Conversation, ProcessedUpdate
from storage.meetings import Meeting, MeetingRsvp
from storage.needs import Need, NeedSupport
from storage.organisations import Organisation
from storage.outbox import OutboxMessage, OutboxPace
from storage.party import PartyLeave, PartyReport, Pledge
from storage.people import (
    Identity,
    Membership,
    Person,
    RoleGrant,
    compounds_of,
    is_last_secretary,
    last_secretary_of,
    mark_left,
    normalize_phone,
    own_rooms,
    revoke_all_roles,
)
from storage.points import PointsEntry, Redemption
from storage.property import Assessment, AssessmentAnswer, Rectification
from storage.services import Service, ServiceOrder, ServiceSlot
from storage.volunteering import TaskSignup, VolunteerTask


def N_(msgid: str) -> str:
    """Marks a text for translation where it is defined (storage does not import the core)."""
    return msgid


# ---- retention of complaint photos ---------------------------------------------------------------------------

# Days after a case closes that its photos are kept; a compound sets its own under this key.
PHOTO_RETENTION = "complaints.photo_retention_days"
DEFAULT_PHOTO_RETENTION_DAYS = 365


def photo_retention_days(compound: Compound) -> int:
    """The compound's setting, or the default when it is missing or not a whole number of days (0 or more)."""
    value = compound_setting(compound, "complaints.photo_retention_days", DEFAULT_PHOTO_RETENTION_DAYS)
    try:
        days = int(value)
    except (TypeError, ValueError):
        return DEFAULT_PHOTO_RETENTION_DAYS
    return days if days >= 0 else DEFAULT_PHOTO_RETENTION_DAYS


async def erase_old_photos(session: AsyncSession, now: datetime, limit: int = 500) -> int:
    """Forget the photos of cases closed longer ago than their compound keeps them: the platform file ids go, and
    the case keeps a note of when and how many (`photos == {"erased_at": ..., "erased": n}`). Returns how many
    cases lost their photos this time (at most `limit`; the next run takes the rest)."""
    done = 0
    for compound in (await session.exec(select(Compound).order_by(col(Compound.id)))).all():
        cutoff = now - timedelta(days=photo_retention_days(compound))
        # Only cases that still have photos: an erased case no longer has an "ids" key.
        cases = (await session.exec(select(Case).where(
            Case.compound_id == compound.stored_id, Case.state == State.CLOSED, col(Case.closed_at).is_not(None),
            col(Case.closed_at) <= cutoff, sa.cast(col(Case.photos), sa.Text).contains('"ids"', autoescape=True),
        ).order_by(col(Case.id)).limit(limit - done))).all()
        for case in cases:
            case.photos = {"erased_at": now.isoformat(), "erased": len(case.photos.get("ids", []))}
            session.add(case)
            done += 1
        if done >= limit:
            break
    return done


def photos_note(photos: dict[str, Any]) -> tuple[int, str]:
    """(photos kept, when they were erased as an ISO moment or "")."""
    return len(photos.get("ids", [])), str(photos.get("erased_at", ""))


# ---- leaving a compound ----------------------------------------------------------------------------------------


class Left(StrEnum):
    LEFT = "left"
    NOT_MEMBER = "not_member"
    LAST_SECRETARY = "last_secretary"  # a compound keeps one secretary: hand the role over first


@dataclass(frozen=True, slots=True)
class Leaving:
    outcome: Left
    rooms: tuple[int, ...] = ()


async def leave_compound(session: AsyncSession, person_id: int, compound_id: int, now: datetime,
                         keep_chat: int | None = None) -> Leaving:
    """The person leaves the compound: their memberships there become LEFT, their roles there end, their open
    conversations there are dropped (except the one in `keep_chat`, which the caller ends), and they act in
    another of their compounds (or none) from now on. Their complaints, points, ballots and other records stay."""
    if await is_last_secretary(session, person_id, compound_id):
        return Leaving(Left.LAST_SECRETARY)
    if compound_id not in await compounds_of(session, person_id):
        return Leaving(Left.NOT_MEMBER)
    rooms = tuple(await own_rooms(session, person_id, compound_id))
    await mark_left(session, person_id, compound_id)
    await revoke_all_roles(session, person_id, compound_id, now)
    await _drop_conversations(session, person_id, keep_chat, compound_id)
    await session.flush()
    person = await session.get(Person, person_id)
    if person is not None and person.current_compound_id == compound_id:
        remaining = await compounds_of(session, person_id)
        person.current_compound_id = remaining[0] if remaining else None
        session.add(person)
    return Leaving(Left.LEFT, rooms)


async def _drop_conversations(session: AsyncSession, person_id: int, keep_chat: int | None,
                              compound_id: int | None = None) -> int:
    query = select(Conversation).where(Conversation.person_id == person_id)
    if compound_id is not None:
        query = query.where(Conversation.compound_id == compound_id)
    dropped = 0
    for row in (await session.exec(query)).all():
        if row.chat_id != keep_chat:
            await session.delete(row)
            dropped += 1
    return dropped


# ---- forgetting a person ---------------------------------------------------------------------------------------


class Forgot(StrEnum):
    FORGOTTEN = "forgotten"
    ALREADY = "already"
    NOT_FOUND = "not_found"
    LAST_SECRETARY = "last_secretary"


@dataclass(frozen=True, slots=True)
class Forgetting:
    outcome: Forgot
    pseudonym: str = ""
    # Where the person is the only secretary (LAST_SECRETARY).
    compound_id: int | None = None
    identities: int = 0
    # Texts in which their name or phone number was replaced.
    texts: int = 0


def pseudonym_tag(person_id: int) -> str:
    """The short tag of a forgotten person's pseudonym (已注销用户#3f9a1c): stable for the row, so forgetting twice
    changes nothing, and derived from nothing but the row's number."""
    return hashlib.sha256(f"linli-forgotten-{person_id}".encode()).hexdigest()[:6]


# Texts people and the bot wrote, where a forgotten person's name or phone number may appear (column names per
# table). Not here: codes and ids (statuses, keys, platform chat ids), and an assembly's motions and candidates,
# which are the record of the owners' decision.
FREE_TEXT: tuple[tuple[type[SQLModel], tuple[str, ...]], ...] = (
    (Announcement, ("text",)),
    (Disclosure, ("text",)),
    (Assembly, ("cancel_reason",)),
    (BoardEntry, ("subject", "text", "reason")),
    (Case, ("description", "resolution")),
    (CaseEvent, ("note",)),
    (Mediation, ("note", "summary")),
    (Chat, ("title",)),
    (Meeting, ("title", "place", "agenda", "minutes")),
    (Need, ("text", "outcome_note")),
    (OutboxMessage, ("payload", "last_error")),
    (PartyLeave, ("reason",)),
    (PartyReport, ("employer",)),
    (Pledge, ("text", "evidence_text", "sent_back_reason")),
    (PointsEntry, ("reason",)),
    (Redemption, ("item",)),
    (Organisation, ("name", "contact_name", "contact_phone")),
    (AssessmentAnswer, ("comment",)),
    (Rectification, ("response", "sent_back_reason")),
    (Service, ("title", "provider_name", "description")),
    (ServiceOrder, ("comment",)),
    (VolunteerTask, ("title", "description", "place")),
    (ProcessedUpdate, ("answer",)),
    (Conversation, ("draft",)),
    (ButtonToken, ("args", "label")),
)
ERASED = "***"
MIN_NAME = 2  # a one-character name would match far too much ordinary text


async def forget(session: AsyncSession, person_id: int, pseudonym: str, now: datetime,
                 keep_chat: int | None = None) -> Forgetting:
    """Erase what identifies the person and show them as `pseudonym` from now on:
    - their name becomes the pseudonym, their phone number and skills are emptied;
    - their platform identities are deleted, so the platform account is a stranger again, and their private chats
      lose the platform's chat id; their open conversations (but the one in `keep_chat`, which the caller ends),
      buttons meant for them alone, and every message the outbox holds for them are dropped;
    - the owners' roster lines with their phone number (or their name, in their own rooms) lose name and number;
    - every role they hold ends (a compound's only secretary must hand the role over first);
    - where their name or number appears in a text (`FREE_TEXT`), it is replaced.
    Kept, under the pseudonym: memberships (the owner of record of a room), ballots, points entries, cases and
    their history, pledges, sign-ups and the rest, so tallies, ledgers and figures stay what they were."""
    person = await session.get(Person, person_id)
    if person is None:
        return Forgetting(Forgot.NOT_FOUND)
    identities = list((await session.exec(select(Identity).where(Identity.person_id == person_id))).all())
    if not identities and not person.phone and person.name == pseudonym:
        return Forgetting(Forgot.ALREADY, pseudonym)
    sole = await last_secretary_of(session, person_id)
    if sole:
        return Forgetting(Forgot.LAST_SECRETARY, compound_id=sole[0])
    names = [person.name]
    phones = [person.phone] if person.phone else []
    rooms = {m.room_id for m in (await session.exec(select(Membership).where(
        Membership.person_id == person_id))).all() if m.room_id is not None}
    for owner in await _roster_lines(session, person, rooms):
        names.append(owner.name)
        if owner.phone:
            phones.append(owner.phone)
        owner.name, owner.phone = pseudonym, ""
        session.add(owner)

    chats = [(i.platform, i.private_chat_id) for i in identities if i.private_chat_id]
    for identity in identities:
        await session.delete(identity)
    await _drop_conversations(session, person_id, keep_chat)
    await session.flush()
    for platform, chat_id in chats:
        chat = (await session.exec(select(Chat).where(Chat.platform == platform, Chat.platform_chat_id == chat_id,
                                                      Chat.kind == "private"))).first()
        if chat is not None:
            chat.platform_chat_id, chat.title, chat.active = f"forgotten-{chat.id}", "", False
            session.add(chat)
        await session.exec(sa.delete(OutboxPace).where(
            col(OutboxPace.platform) == platform, col(OutboxPace.chat_id) == chat_id))
    await session.exec(sa.delete(ButtonToken).where(col(ButtonToken.person_id) == person_id))
    theirs = select(OutboxMessage.id).where(OutboxMessage.person_id == person_id)
    await session.exec(sa.delete(OutboxMessage).where(col(OutboxMessage.edit_of).in_(theirs)))
    await session.exec(sa.delete(OutboxMessage).where(col(OutboxMessage.person_id) == person_id))
    await revoke_all_roles(session, person_id, None, now)
    person.name, person.phone, person.skills = pseudonym[:100], "", ""
    session.add(person)
    await session.flush()
    texts = await scrub(session, names, phones, pseudonym)
    return Forgetting(Forgot.FORGOTTEN, pseudonym, identities=len(identities), texts=texts)


async def _roster_by_phone(session: AsyncSession, phone: str) -> list[RosterOwner]:
    """The owners' roster lines with this phone number, however either was written."""
    digits = normalize_phone(phone)
    if len(digits) < 7:
        return []
    rows = await session.exec(select(RosterOwner).where(col(RosterOwner.phone).contains(digits[-4:], autoescape=True))
                              .order_by(col(RosterOwner.id)))
    return [owner for owner in rows.all() if normalize_phone(owner.phone) == digits]


async def _roster_lines(session: AsyncSession, person: Person, rooms: set[int]) -> list[RosterOwner]:
    """The roster lines that are this person: their phone number anywhere, or their name in a room they belong to."""
    found = await _roster_by_phone(session, person.phone)
    if rooms and person.name:
        found += [owner for owner in (await session.exec(select(RosterOwner).where(
            col(RosterOwner.room_id).in_(rooms), RosterOwner.name == person.name))).all() if owner not in found]
    return found


def _phone_pattern(phones: Iterable[str]) -> re.Pattern[str] | None:
    """A phone number however it was written: 13800000005, 138 0000 0005, 138-0000-0005, +86 138..."""
    digits = sorted({d for d in (normalize_phone(p) for p in phones) if len(d) >= 7}, key=len, reverse=True)
    if not digits:
        return None
    spelled = ["".join(ch + r"[\s-]?" for ch in d[:-1]) + d[-1] for d in digits]
    return re.compile(r"(?<!\d)(?:(?:\+|00)?86[\s-]?)?(?:" + "|".join(spelled) + r")(?!\d)")


class _Cleaner:
    def __init__(self, names: Sequence[str], phones: Sequence[str], pseudonym: str) -> None:
        self.names = sorted({n.strip() for n in names if len(n.strip()) >= MIN_NAME and n.strip() != pseudonym},
                            key=len, reverse=True)
        self.phone = _phone_pattern(phones)
        self.pseudonym = pseudonym
        tails = {d[-4:] for d in (normalize_phone(p) for p in phones) if len(d) >= 7}
        # What a row must contain to be looked at: a name (also as JSON writes it, \uXXXX), a number's last digits.
        self.needles = sorted({*self.names, *tails})
        self.json_needles = sorted({*self.needles, *(json.dumps(n)[1:-1] for n in self.names)})

    def text(self, value: str) -> str:
        for name in self.names:
            value = value.replace(name, self.pseudonym)
        return self.phone.sub(ERASED, value) if self.phone is not None else value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value


async def scrub(session: AsyncSession, names: Sequence[str], phones: Sequence[str], pseudonym: str) -> int:
    """Replace these names by the pseudonym and these phone numbers by *** in every `FREE_TEXT` column; returns
    how many texts changed. Rows are found in SQL (a name, or a number's last four digits) and changed in Python."""
    cleaner = _Cleaner(names, phones, pseudonym)
    if not cleaner.needles:
        return 0
    changed = 0
    conn = await session.connection()
    for model, columns in FREE_TEXT:
        table: sa.Table = model.__table__  # type: ignore[attr-defined]
        keys = list(table.primary_key.columns)
        for name in columns:
            column = table.c[name]
            is_json = not isinstance(column.type, sa.String)
            needles = cleaner.json_needles if is_json else cleaner.needles
            text = sa.cast(column, sa.Text) if is_json else column
            found = await conn.execute(sa.select(*keys, column).where(
                sa.or_(*(text.contains(needle, autoescape=True) for needle in needles))))
            for row in found.all():
                old = row[-1]
                new = cleaner.value(old)
                length = getattr(column.type, "length", None)
                if isinstance(new, str) and length:
                    new = new[:length]
                if new != old:
                    await conn.execute(sa.update(table).where(*(key == row[i] for i, key in enumerate(keys)))
                                       .values({name: new}))
                    changed += 1
    return changed


# ---- everything held about a person ----------------------------------------------------------------------------


@dataclass
class Sheet:
    """One kind of record: a title and headers (marked with N_, translated by the caller) and the rows."""

    title: str
    headers: tuple[str, ...]
    rows: list[list[Any]] = field(default_factory=list)


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment is not None else ""


def _enum(value: Any) -> str:
    return "" if value is None else str(getattr(value, "value", value))


async def my_data(session: AsyncSession, person_id: int, zone: ZoneInfo) -> list[Sheet]:
    """Everything the product holds about the person, one sheet per kind (empty sheets say "nothing of this")."""
    person = await session.get(Person, person_id)
    if person is None:
        return []
    names = {c.stored_id: c.name for c in (await session.exec(select(Compound))).all()}
    rooms: dict[int, str] = {}

    async def room(room_id: int | None) -> str:
        if room_id is None:
            return ""
        if room_id not in rooms:
            rooms[room_id] = await describe_room(session, room_id)
        return rooms[room_id]

    def compound(compound_id: int | None) -> str:
        return names.get(compound_id or 0, "")

    def when(moment: datetime | None) -> str:
        return _when(moment, zone)

    async def rows_of(query: Any) -> list[Any]:
        return list((await session.exec(query)).all())

    sheets: list[Sheet] = []
    sheets.append(Sheet(N_("You"), (N_("Number"), N_("Name"), N_("Phone"), N_("Language"), N_("Skills"),
                                    N_("Name hidden in rankings"), N_("Acting in"), N_("First seen")),
                        [[person.id, person.name, person.phone, person.language or person.platform_language or "",
                          person.skills, person.hide_name, compound(person.current_compound_id),
                          when(person.created_at)]]))
    identities = await rows_of(select(Identity).where(Identity.person_id == person_id).order_by(col(Identity.id)))
    sheets.append(Sheet(N_("Accounts"), (N_("Platform"), N_("Account"), N_("Private chat"), N_("Last seen")),
                        [[i.platform, i.platform_user_id, i.private_chat_id or "", when(i.last_seen_at)]
                         for i in identities]))
    memberships = await rows_of(select(Membership).where(Membership.person_id == person_id)
                                .order_by(col(Membership.id)))
    sheets.append(Sheet(N_("Memberships"), (N_("Compound"), N_("Room"), N_("Owner or tenant"), N_("Status"),
                                            N_("Asked at"), N_("Decided at")),
                        [[compound(m.compound_id), await room(m.room_id), m.relation, _enum(m.status),
                          when(m.created_at), when(m.decided_at)] for m in memberships]))
    grants = await rows_of(select(RoleGrant).where(RoleGrant.person_id == person_id).order_by(col(RoleGrant.id)))
    cases = await rows_of(select(Case).where(Case.reporter_id == person_id).order_by(col(Case.id)))
    wanted = {g.building_id for g in grants} | {c.building_id for c in cases}
    buildings = dict((await session.exec(select(Building.id, Building.name).where(
        col(Building.id).in_([b for b in wanted if b is not None])))).all())
    sheets.append(Sheet(N_("Roles"), (N_("Compound"), N_("Role"), N_("Building"), N_("Granted at"),
                                      N_("Revoked at")),
                        [[compound(g.compound_id), g.role, buildings.get(g.building_id, ""), when(g.granted_at),
                          when(g.revoked_at)] for g in grants]))
    roster = await _roster_by_phone(session, person.phone)
    sheets.append(Sheet(N_("Owners' roster"), (N_("Room"), N_("Name"), N_("Phone")),
                        [[await room(o.room_id), o.name, o.phone] for o in roster]))

    case_rows = []
    for case in cases:
        kept, erased = photos_note(case.photos)
        case_rows.append([case.number, compound(case.compound_id), case.category, case.description,
                          await room(case.room_id) or buildings.get(case.building_id, ""), case.anonymous,
                          _enum(case.state), when(case.opened_at), when(case.closed_at), case.rating or "",
                          case.resolution, kept, erased[:16].replace("T", " ")])
    sheets.append(Sheet(N_("Complaints"), (N_("Case number"), N_("Compound"), N_("Category"), N_("Description"),
                                           N_("Place"), N_("Anonymous"), N_("State"), N_("Opened"), N_("Closed at"),
                                           N_("Rating"), N_("Resolution"), N_("Photos kept"),
                                           N_("Photos deleted at (UTC)")), case_rows))
    events = await rows_of(select(CaseEvent).where(CaseEvent.actor_id == person_id).order_by(col(CaseEvent.id)))
    numbers = dict((await session.exec(select(Case.id, Case.number).where(
        col(Case.id).in_({e.case_id for e in events})))).all())
    sheets.append(Sheet(N_("Case history you wrote"), (N_("Case number"), N_("Time"), N_("Event"), N_("Note")),
                        [[numbers.get(e.case_id, ""), when(e.at), _enum(e.event), e.note] for e in events]))

    needs = await rows_of(select(Need).where(Need.poster_id == person_id).order_by(col(Need.id)))
    sheets.append(Sheet(N_("Needs"), (N_("Compound"), N_("Category"), N_("Text"), N_("Status"), N_("Outcome"),
                                      N_("Posted at")),
                        [[compound(n.compound_id), n.category, n.text, _enum(n.status), _enum(n.outcome),
                          when(n.created_at)] for n in needs]))
    supports = await rows_of(select(NeedSupport, Need).join(Need, col(Need.id) == NeedSupport.need_id)
                             .where(NeedSupport.person_id == person_id).order_by(col(NeedSupport.id)))
    sheets.append(Sheet(N_("Needs you supported"), (N_("Compound"), N_("Text"), N_("Supported at")),
                        [[compound(n.compound_id), n.text, when(s.created_at)] for s, n in supports]))

    signups = await rows_of(select(TaskSignup, VolunteerTask)
                            .join(VolunteerTask, col(VolunteerTask.id) == TaskSignup.task_id)
                            .where(TaskSignup.person_id == person_id).order_by(col(TaskSignup.id)))
    sheets.append(Sheet(N_("Volunteer sign-ups"), (N_("Compound"), N_("Task"), N_("Start"), N_("Signed up"),
                                                   N_("Attended"), N_("Hours"), N_("Signed up at")),
                        [[compound(task.compound_id), task.title, when(task.starts_at), s.active, s.attended,
                          float(s.hours) if s.hours is not None else "", when(s.created_at)]
                         for s, task in signups]))
    entries = await rows_of(select(PointsEntry).where(PointsEntry.person_id == person_id)
                            .order_by(col(PointsEntry.created_at), col(PointsEntry.id)))
    sheets.append(Sheet(N_("Points"), (N_("Compound"), N_("Time"), N_("Points"), N_("Kind"), N_("Reason")),
                        [[compound(e.compound_id), when(e.created_at), e.amount, e.kind, e.reason]
                         for e in entries]))
    redemptions = await rows_of(select(Redemption).where(Redemption.person_id == person_id)
                                .order_by(col(Redemption.id)))
    sheets.append(Sheet(N_("Redemptions"), (N_("Compound"), N_("Time"), N_("Points"), N_("Item"), N_("Status")),
                        [[compound(r.compound_id), when(r.created_at), r.points, r.item, _enum(r.status)]
                         for r in redemptions]))

    ballot_rows = []
    ballots: list[Any] = await rows_of(select(Ballot).where(Ballot.submitted_by == person_id)
                                       .order_by(col(Ballot.id)))
    history: list[Any] = await rows_of(select(BallotHistory).where(BallotHistory.submitted_by == person_id)
                                       .order_by(col(BallotHistory.id)))
    for ballot in [*ballots, *history]:
        assembly = await session.get(Assembly, ballot.assembly_id)
        motions = {str(m.id): m for m in await rows_of(select(Motion).where(Motion.assembly_id == ballot.assembly_id))}
        ballot_rows.append([assembly.title if assembly else "", await room(ballot.room_id),
                            _choices(ballot.choices, motions), "paper" if ballot.paper else "online",
                            when(ballot.submitted_at), ballot.version,
                            when(ballot.replaced_at) if isinstance(ballot, BallotHistory) else ""])
    sheets.append(Sheet(N_("Ballots"), (N_("Assembly"), N_("Room"), N_("Choices"), N_("Online or paper"),
                                        N_("Submitted at"), N_("Version"), N_("Replaced at")), ballot_rows))
    answers = await rows_of(select(AssessmentAnswer, Assessment)
                            .join(Assessment, col(Assessment.id) == AssessmentAnswer.assessment_id)
                            .where(AssessmentAnswer.person_id == person_id).order_by(col(AssessmentAnswer.id)))
    sheets.append(Sheet(N_("Property assessments"), (N_("Compound"), N_("Period"), N_("Room"), N_("Scores"),
                                                     N_("Comment"), N_("Submitted at")),
                        [[compound(a.compound_id), a.period, await room(answer.room_id),
                          json.dumps(answer.scores, ensure_ascii=False), answer.comment, when(answer.submitted_at)]
                         for answer, a in answers]))

    pledges = await rows_of(select(Pledge).where(Pledge.person_id == person_id).order_by(col(Pledge.id)))
    sheets.append(Sheet(N_("Pledges"), (N_("Compound"), N_("Pledge"), N_("Target date"), N_("Status"),
                                        N_("Evidence"), N_("Made at"), N_("Confirmed at")),
                        [[compound(p.compound_id), p.text, p.target_date.isoformat(), _enum(p.status),
                          p.evidence_text, when(p.created_at), when(p.confirmed_at)] for p in pledges]))
    reports = await rows_of(select(PartyReport).where(PartyReport.person_id == person_id)
                            .order_by(col(PartyReport.id)))
    leave = await rows_of(select(PartyLeave).where(PartyLeave.person_id == person_id).order_by(col(PartyLeave.id)))
    sheets.append(Sheet(N_("Party records"), (N_("Compound"), N_("Record"), N_("From"), N_("To"), N_("Text")),
                        [[compound(r.compound_id), "report", when(r.reported_at), "", r.employer] for r in reports]
                        + [[compound(a.compound_id), "leave", a.starts_on.isoformat(), a.ends_on.isoformat(), a.reason]
                           for a in leave]))
    rsvps = await rows_of(select(MeetingRsvp, Meeting).join(Meeting, col(Meeting.id) == MeetingRsvp.meeting_id)
                          .where(MeetingRsvp.person_id == person_id).order_by(col(MeetingRsvp.id)))
    sheets.append(Sheet(N_("Meeting replies"), (N_("Compound"), N_("Meeting"), N_("Start"), N_("Attending"),
                                                N_("Answered at")),
                        [[compound(m.compound_id), m.title, when(m.starts_at), r.attending, when(r.updated_at)]
                         for r, m in rsvps]))
    nominations = await rows_of(select(BoardEntry).where(BoardEntry.nominator_id == person_id)
                                .order_by(col(BoardEntry.id)))
    sheets.append(Sheet(N_("Red and black list nominations"), (N_("Compound"), N_("List"), N_("Subject"), N_("Text"),
                                                               N_("Status"), N_("Nominated at")),
                        [[compound(b.compound_id), _enum(b.color), b.subject, b.text, _enum(b.status),
                          when(b.created_at)] for b in nominations]))
    orders = await rows_of(select(ServiceOrder, Service, ServiceSlot)
                           .join(Service, col(Service.id) == ServiceOrder.service_id)
                           .join(ServiceSlot, col(ServiceSlot.id) == ServiceOrder.slot_id)
                           .where(ServiceOrder.person_id == person_id).order_by(col(ServiceOrder.id)))
    sheets.append(Sheet(N_("Service orders"), (N_("Compound"), N_("Service"), N_("Time"), N_("Status"), N_("Rating"),
                                               N_("Comment"), N_("Ordered at")),
                        [[compound(s.compound_id), s.title, when(slot.starts_at), _enum(o.status), o.rating or "",
                          o.comment, when(o.created_at)] for o, s, slot in orders]))
    return sheets


def _choices(choices: dict[str, Any], motions: dict[str, Motion]) -> str:
    """A ballot's choices as people read them: "1. yes; 3. 赵大、钱二"."""
    parts = []
    for key, choice in choices.items():
        motion = motions.get(key)
        if isinstance(choice, list) and motion is not None:
            choice = "、".join(motion.candidates[int(i)] for i in choice
                              if str(i).isdigit() and int(i) < len(motion.candidates))
        parts.append(f"{motion.position if motion is not None else key}. {choice}")
    return "; ".join(parts)


# What a worksheet cannot hold (openpyxl refuses the workbook), and the characters a sheet title may not have.
_NOT_IN_CELLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_NOT_IN_TITLES = re.compile(r"[\[\]:*?/\\]")


def workbook(sheets: Sequence[Sheet]) -> bytes:
    """The sheets as one XLSX; what people typed is text, never a formula."""
    from openpyxl import Workbook

    book = Workbook()
    first = book.active
    if first is not None:
        book.remove(first)
    used: set[str] = set()
    for sheet in sheets:
        title = _NOT_IN_TITLES.sub(" ", sheet.title)[:31].strip() or "-"
        while title in used:
            title = title[:28] + f"~{len(used)}"
        used.add(title)
        out = book.create_sheet(title)
        out.append([_cell(h) for h in sheet.headers])
        for row in sheet.rows:
            out.append([_cell(value) for value in row])
            for cell in out[out.max_row]:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(value: object) -> object:
    return _NOT_IN_CELLS.sub("", value) if isinstance(value, str) else value

