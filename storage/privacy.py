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

from storage import access_log
from storage.access_log import Access
from storage.announcements import Announcement, AnnouncementRead, Disclosure
from storage.assembly import (
    Assembly,
    Ballot,
    BallotHistory,
    CandidateVetting,
    Motion,
    Objection,
    Proxy,
    ProxyStatus,
    ReminderStop,
    Voting,
    voting,
)
from storage.board import BoardEntry
from storage.complaints import Case, CaseEvent, Mediation, State, resolution_photos
from storage.compounds import Building, Chat, Compound, RosterOwner, compound_setting, describe_room
from storage.conversations import ButtonSet, Conversation, ParkedPress, ProcessedUpdate
from storage.meetings import Meeting, MeetingAttendance, MeetingRsvp
from storage.needs import Need, NeedSupport
from storage.notifications import NoticeLog, NoticeOptOut
from storage.organisations import Affiliation, Department, Organisation, Street
from storage.outbox import OutboxMessage, OutboxPace
from storage.party import PartyArea, PartyLeave, PartyReport, Pledge
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
from storage.property import Assessment, AssessmentAnswer, Rectification, RevocationAdvice
from storage.resources import Resource, ResourceStatus
from storage.services import Service, ServiceOrder, ServiceSlot
from storage.volunteering import TaskSignup, VolunteerTask
from storage.wechat import ReplyWindow


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
            # The reporter's photos and the resolution's (its "resolution" entry) go together.
            case.photos = {"erased_at": now.isoformat(),
                           "erased": len(case.photos.get("ids", [])) + len(resolution_photos(case)[1])}
            session.add(case)
            done += 1
        if done >= limit:
            break
    return done


def photos_note(photos: dict[str, Any]) -> tuple[int, str]:
    """(photos kept, when they were erased as an ISO moment or "")."""
    return len(photos.get("ids", [])), str(photos.get("erased_at", ""))


# ---- what is held about a person, and what becomes of it ---------------------------------------------------------


class Fate(StrEnum):
    """What /forget (or /leavecompound, for the rows of that compound) does with a row that names the person."""

    KEPT = "kept"  # kept, the person shown under their pseudonym (or, on leaving, still theirs)
    ENDED = "ended"  # kept for the record, and ended: a role, an affiliation, a place on a task not yet started
    ERASED = "erased"  # deleted: it holds nothing anyone else relies on


@dataclass(frozen=True, slots=True)
class Held:
    """How one column that names a person is treated: the /mydata sheet that shows the person's rows ("" only
    where `why` says why not), what forgetting does with them and why, and what leaving a compound does with the
    rows of that compound. Rows of the sheet ACTS (what the person did for a compound) are described by `label`
    and dated by the column `at`."""

    sheet: str
    forget: Fate
    why: str
    leave: Fate = Fate.KEPT
    label: str = ""
    at: str = ""


ACCOUNTS = N_("Accounts")
MEMBERSHIPS = N_("Memberships")
ROLES = N_("Roles")
COMPLAINTS = N_("Complaints")
CASE_HISTORY = N_("Case history you wrote")
NEEDS = N_("Needs")
NEEDS_SUPPORTED = N_("Needs you supported")
SIGNUPS = N_("Volunteer sign-ups")
POINTS = N_("Points")
REDEMPTIONS = N_("Redemptions")
BALLOTS = N_("Ballots")
PROXIES = N_("Proxies")
OBJECTIONS = N_("Objections")
ASSESSMENTS = N_("Property assessments")
PLEDGES = N_("Pledges")
PARTY = N_("Party records")
AREAS = N_("Responsibility areas")
RSVPS = N_("Meeting replies")
SIGNINS = N_("Meeting sign-ins")
NOMINATIONS = N_("Red and black list nominations")
ORDERS = N_("Service orders")
RESOURCES = N_("Resources you offered")
AFFILIATIONS = N_("Organisations")
READS = N_("Announcements read")
NOTICES = N_("Notices")
NOTICES_OFF = N_("Notices turned off")
SHOWN = N_("Who saw your details")
ACTS = N_("What you did")

_RECORD = "the record of what was done for the compound, shown under the pseudonym"


def _act(label: str, at: str) -> Held:
    return Held(ACTS, Fate.KEPT, _RECORD, label=label, at=at)


# Every column that names a person (a foreign key to person.id; tests/test_privacy.py checks that none is
# missing), keyed by (table, column).
PERSONAL: dict[tuple[str, str], Held] = {
    ("identity", "person_id"): Held(ACCOUNTS, Fate.ERASED, "their platform accounts: the account is a stranger "
                                    "again"),
    ("conversation", "person_id"): Held("", Fate.ERASED, "an unfinished conversation's draft, no record; it "
                                        "expires on its own", leave=Fate.ERASED),
    ("buttonset", "person_id"): Held("", Fate.ERASED, "buttons meant for them alone, no record; they expire"),
    ("outboxmessage", "person_id"): Held("", Fate.ERASED, "messages still to be delivered to them; what they "
                                         "record is in the other sheets"),
    ("wechat_link_code", "person_id"): Held("", Fate.ERASED, "a one-time code valid 15 minutes: a secret that "
                                            "links accounts, no record"),
    ("membership", "person_id"): Held(MEMBERSHIPS, Fate.KEPT, "the owner of record of their rooms: an assembly's "
                                      "owner count and areas must not move", leave=Fate.ENDED),
    ("membership", "decided_by"): _act(N_("Approved or refused a member"), "decided_at"),
    ("rolegrant", "person_id"): Held(ROLES, Fate.ENDED, "every role ends; revoked roles keep their dates",
                                     leave=Fate.ENDED),
    ("rolegrant", "granted_by"): _act(N_("Granted a role"), "granted_at"),
    ("affiliation", "person_id"): Held(AFFILIATIONS, Fate.ENDED, "the membership of a street office, department or "
                                       "company ends (and the role it gives); the row stays as the record"),
    ("affiliation", "added_by"): _act(N_("Added someone to an organisation"), "added_at"),
    ("affiliation_invite", "created_by"): _act(N_("Made an invite code"), "created_at"),
    ("affiliation_invite", "used_by"): _act(N_("Joined with an invite code"), "used_at"),
    ("organisation", "contact_person_id"): Held(ACTS, Fate.ENDED, "the unit keeps its name; the link to the "
                                                "forgotten person ends", label=N_("Contact person of a unit"),
                                                at="created_at"),
    ("organisation", "created_by"): _act(N_("Created an organisation"), "created_at"),
    ("department", "created_by"): _act(N_("Created a department"), "created_at"),
    ("complaint_case", "reporter_id"): Held(COMPLAINTS, Fate.KEPT, "the case ledger (台账) that residents, "
                                            "committees and street offices rely on; photos follow their own "
                                            "retention, texts lose the name and number"),
    ("complaint_case", "handler_id"): _act(N_("Handled a case"), "opened_at"),
    ("complaint_event", "actor_id"): Held(CASE_HISTORY, Fate.KEPT, "the case's history, part of the ledger"),
    ("complaint_event", "handler_id"): _act(N_("Was given a case"), "at"),
    ("mediation", "referred_by"): _act(N_("Referred a case to mediation"), "referred_at"),
    ("mediation", "agreement_by"): _act(N_("Recorded a mediation's outcome"), "agreement_at"),
    ("need", "poster_id"): Held(NEEDS, Fate.KEPT, "the compound's list of needs and what became of them"),
    ("need", "decided_by"): _act(N_("Decided a need"), "decided_at"),
    ("needsupport", "person_id"): Held(NEEDS_SUPPORTED, Fate.KEPT, "a need's count of supporters"),
    ("resource", "offered_by_id"): Held(RESOURCES, Fate.ENDED, "taken off the list; the row and its matches stay "
                                        "as the record of needs met", leave=Fate.ENDED),
    ("resource", "created_by"): _act(N_("Put a resource on the list"), "created_at"),
    ("resource_match", "matched_by"): _act(N_("Matched a need with a resource"), "matched_at"),
    ("service", "provider_person_id"): _act(N_("Provides a service"), "created_at"),
    ("serviceorder", "person_id"): Held(ORDERS, Fate.KEPT, "the service's bookings and ratings"),
    ("volunteer_task", "organiser_id"): _act(N_("Organised a volunteer task"), "created_at"),
    ("task_signup", "person_id"): Held(SIGNUPS, Fate.ENDED, "attendance and hours, on which points rest; places on "
                                       "tasks not yet started (a recurring task's next one too) are given back",
                                       leave=Fate.ENDED),
    ("points_entry", "person_id"): Held(POINTS, Fate.KEPT, "the points ledger: balances and rankings add up"),
    ("points_entry", "created_by"): _act(N_("Awarded or deducted points"), "created_at"),
    ("redemption", "person_id"): Held(REDEMPTIONS, Fate.KEPT, "the points ledger's redemptions"),
    ("redemption", "created_by"): _act(N_("Recorded a redemption"), "created_at"),
    ("assembly", "created_by"): _act(N_("Called an owners' assembly"), "created_at"),
    ("ballot", "submitted_by"): Held(BALLOTS, Fate.KEPT, "the assembly's ballots: the tally must not move"),
    ("ballot", "proxy_for"): Held(BALLOTS, Fate.KEPT, "a ballot cast for them by their proxy, part of the tally"),
    ("ballothistory", "submitted_by"): Held(BALLOTS, Fate.KEPT, "earlier versions of a ballot, its audit trail"),
    ("ballothistory", "proxy_for"): Held(BALLOTS, Fate.KEPT, "earlier versions of a ballot cast by a proxy"),
    ("proxy", "owner_id"): Held(PROXIES, Fate.ENDED, "who might vote for whose rooms is the record of the ballots "
                                "cast; an authorisation in an assembly still voting ends", leave=Fate.ENDED),
    ("proxy", "proxy_id"): Held(PROXIES, Fate.ENDED, "as the owner's side: kept, ended while voting is open",
                                leave=Fate.ENDED),
    ("assembly_reminder_stop", "person_id"): Held(NOTICES_OFF, Fate.ERASED, "a preference, no record"),
    ("objection", "person_id"): Held(OBJECTIONS, Fate.KEPT, "part of the published result's record (公示); texts "
                                     "lose the name and number"),
    ("objection", "answered_by"): _act(N_("Answered an objection"), "answered_at"),
    ("candidatevetting", "branch_by"): _act(N_("Vetted a candidate for the party branch"), "branch_at"),
    ("candidatevetting", "street_by"): _act(N_("Vetted a candidate for the street"), "street_at"),
    ("assessment", "opened_by"): _act(N_("Opened a property assessment"), "opened_at"),
    ("assessmentanswer", "person_id"): Held(ASSESSMENTS, Fate.KEPT, "the assessment's scores"),
    ("revocation_advice", "by"): _act(N_("Advised revoking a company's appointment"), "at"),
    ("pledge", "person_id"): Held(PLEDGES, Fate.KEPT, "the branch's record of pledges (承诺 / 践诺)"),
    ("pledge", "confirmed_by"): _act(N_("Confirmed a pledge"), "confirmed_at"),
    ("party_report", "person_id"): Held(PARTY, Fate.KEPT, "the branch's yearly record (报到)"),
    ("party_leave", "person_id"): Held(PARTY, Fate.KEPT, "the branch's yearly record (请假)"),
    ("party_area", "person_id"): Held(AREAS, Fate.ERASED, "a current assignment: it ends with the party member's "
                                      "role", leave=Fate.ERASED),
    ("party_area", "created_by"): _act(N_("Assigned a responsibility area"), "created_at"),
    ("meeting", "organiser_id"): _act(N_("Called a meeting"), "created_at"),
    ("meetingrsvp", "person_id"): Held(RSVPS, Fate.KEPT, "the meeting's replies"),
    ("meeting_attendance", "person_id"): Held(SIGNINS, Fate.KEPT, "the meeting's attendance (签到)"),
    ("meeting_attendance", "marked_by"): _act(N_("Marked someone present at a meeting"), "signed_at"),
    ("boardentry", "nominator_id"): Held(NOMINATIONS, Fate.KEPT, "the 红黑榜's record"),
    ("boardentry", "reviewed_by"): _act(N_("Reviewed a red or black list nomination"), "reviewed_at"),
    ("announcement", "author_id"): _act(N_("Wrote an announcement"), "created_at"),
    ("announcement_read", "person_id"): Held(READS, Fate.ERASED, "only the menu's mark of what is unread",
                                             leave=Fate.ERASED),
    ("disclosure", "author_id"): _act(N_("Published a disclosure"), "created_at"),
    ("notice_log", "person_id"): Held(NOTICES, Fate.ERASED, "the notification budget's own log of what went to "
                                      "them; nobody else relies on it", leave=Fate.ERASED),
    ("notice_opt_out", "person_id"): Held(NOTICES_OFF, Fate.ERASED, "a preference, no record"),
    ("personal_data_access", "subject_id"): Held(SHOWN, Fate.KEPT, "the access log, the record that least "
                                                 "privilege held"),
    ("personal_data_access", "viewer_id"): _act(N_("Were shown someone's contact details"), "at"),
}


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
    another of their compounds (or none) from now on. What `PERSONAL` marks for leaving ends or goes there too
    (places on tasks not yet started, proxies in assemblies still voting, resources they offer; responsibility
    areas, read marks, the notices' log). Their complaints, points, ballots and other records stay."""
    if await is_last_secretary(session, person_id, compound_id):
        return Leaving(Left.LAST_SECRETARY)
    if compound_id not in await compounds_of(session, person_id):
        return Leaving(Left.NOT_MEMBER)
    rooms = tuple(await own_rooms(session, person_id, compound_id))
    await mark_left(session, person_id, compound_id)
    await revoke_all_roles(session, person_id, compound_id, now)
    await _drop_conversations(session, person_id, keep_chat, compound_id)
    await _end(session, person_id, compound_id, now)
    await _erase(session, person_id, compound_id)
    await session.flush()
    person = await session.get(Person, person_id)
    if person is not None and person.current_compound_id == compound_id:
        remaining = await compounds_of(session, person_id)
        person.current_compound_id = remaining[0] if remaining else None
        session.add(person)
    return Leaving(Left.LEFT, rooms)


# Deleted by `forget` itself, in their order (a conversation in `keep_chat` stays, queued edits go first).
_ERASED_FIRST = {"identity", "conversation", "buttonset", "outboxmessage"}


async def _erase(session: AsyncSession, person_id: int, compound_id: int | None) -> None:
    """Delete the person's rows that `PERSONAL` marks erased: on forgetting (`compound_id` None) every one, on
    leaving a compound those of that compound that leaving erases."""
    for (name, column), held in PERSONAL.items():
        if name in _ERASED_FIRST or (held.leave if compound_id is not None else held.forget) != Fate.ERASED:
            continue
        table = SQLModel.metadata.tables[name]
        query = sa.delete(table).where(table.c[column] == person_id)
        if compound_id is not None:
            query = query.where(table.c["compound_id"] == compound_id)
        await session.exec(query)


async def _end(session: AsyncSession, person_id: int, compound_id: int | None, now: datetime) -> None:
    """What `PERSONAL` marks ended, besides roles and memberships: places on volunteer tasks not yet started are
    given back, authorisations to vote in an assembly still voting end, resources they offer leave the list (in
    `compound_id`, or everywhere when None)."""
    tasks = select(VolunteerTask.id).where(col(VolunteerTask.starts_at) > now)
    if compound_id is not None:
        tasks = tasks.where(VolunteerTask.compound_id == compound_id)
    await session.exec(sa.update(TaskSignup).where(col(TaskSignup.person_id) == person_id,
                                                   col(TaskSignup.active).is_(True),
                                                   col(TaskSignup.task_id).in_(tasks)).values(active=False))
    proxies = select(Proxy, Assembly).join(Assembly, col(Assembly.id) == Proxy.assembly_id).where(
        sa.or_(col(Proxy.owner_id) == person_id, col(Proxy.proxy_id) == person_id),
        Proxy.status == ProxyStatus.ACTIVE)
    if compound_id is not None:
        proxies = proxies.where(Assembly.compound_id == compound_id)
    for proxy, assembly in (await session.exec(proxies)).all():
        if voting(assembly, now) in (Voting.OPEN, Voting.NOT_YET):
            proxy.status, proxy.ended_at = ProxyStatus.ENDED, now
            session.add(proxy)
    offered = sa.update(Resource).where(col(Resource.offered_by_id) == person_id,
                                        col(Resource.status) == ResourceStatus.ACTIVE)
    if compound_id is not None:
        offered = offered.where(col(Resource.compound_id) == compound_id)
    await session.exec(offered.values(status=ResourceStatus.RETIRED, retired_at=now))
    if compound_id is None:
        # A street office, department or company is no compound's: only forgetting ends the membership.
        await session.exec(sa.update(Affiliation).where(col(Affiliation.person_id) == person_id,
                                                        col(Affiliation.removed_at).is_(None)).values(removed_at=now))
        await session.exec(sa.update(Organisation).where(col(Organisation.contact_person_id) == person_id)
                           .values(contact_person_id=None))


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
    (Case, ("description", "resolution", "location_label")),
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
    (ButtonSet, ("buttons",)),
    (Objection, ("reason", "answer")),
    (CandidateVetting, ("branch_reason", "street_reason")),
    (Resource, ("title", "description")),
    (RevocationAdvice, ("reason",)),
    (NoticeLog, ("text", "buttons")),
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
    - every role they hold ends (a compound's only secretary must hand the role over first), and so do their
      organisations, their places on tasks not yet started, proxies in assemblies still voting and the resources
      they offer; rows `PERSONAL` marks erased go (notices' log and preferences, read marks, party areas, link
      codes), and so do their WeChat reply windows and parked presses;
    - where their name or number appears in a text (`FREE_TEXT`), it is replaced.
    Kept, under the pseudonym: memberships (the owner of record of a room), ballots, points entries, cases and
    their history, pledges, sign-ups, sign-ins, proxies, objections and the rest (`PERSONAL` says why each), so
    tallies, ledgers and figures stay what they were."""
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
        await session.exec(sa.delete(ReplyWindow).where(
            col(ReplyWindow.platform) == platform, col(ReplyWindow.chat_id) == chat_id))
    for identity in identities:
        await session.exec(sa.delete(ParkedPress).where(
            col(ParkedPress.platform) == identity.platform, col(ParkedPress.user_id) == identity.platform_user_id))
    await session.exec(sa.delete(ButtonSet).where(col(ButtonSet.person_id) == person_id))
    theirs = select(OutboxMessage.id).where(OutboxMessage.person_id == person_id)
    await session.exec(sa.delete(OutboxMessage).where(col(OutboxMessage.edit_of).in_(theirs)))
    await session.exec(sa.delete(OutboxMessage).where(col(OutboxMessage.person_id) == person_id))
    await revoke_all_roles(session, person_id, None, now)
    await _end(session, person_id, None, now)
    await _erase(session, person_id, None)
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

    people: dict[int, str] = {}

    async def someone(other: int | None) -> str:
        if other is None:
            return ""
        if other not in people:
            found = await session.get(Person, other)
            people[other] = found.name if found is not None else ""
        return people[other]

    titles: dict[int, str] = {}

    async def assembly_title(assembly_id: int) -> str:
        if assembly_id not in titles:
            found = await session.get(Assembly, assembly_id)
            titles[assembly_id] = found.title if found is not None else ""
        return titles[assembly_id]

    sheets: list[Sheet] = []
    sheets.append(Sheet(N_("You"), (N_("Number"), N_("Name"), N_("Phone"), N_("Language"), N_("Skills"),
                                    N_("Name hidden in rankings"), N_("Acting in"), N_("First seen")),
                        [[person.id, person.name, person.phone, person.language or person.platform_language or "",
                          person.skills, person.hide_name, compound(person.current_compound_id),
                          when(person.created_at)]]))
    identities = await rows_of(select(Identity).where(Identity.person_id == person_id).order_by(col(Identity.id)))
    sheets.append(Sheet(ACCOUNTS, (N_("Platform"), N_("Account"), N_("Private chat"), N_("Last seen")),
                        [[i.platform, i.platform_user_id, i.private_chat_id or "", when(i.last_seen_at)]
                         for i in identities]))
    memberships = await rows_of(select(Membership).where(Membership.person_id == person_id)
                                .order_by(col(Membership.id)))
    sheets.append(Sheet(MEMBERSHIPS, (N_("Compound"), N_("Room"), N_("Owner or tenant"), N_("Status"),
                                            N_("Asked at"), N_("Decided at")),
                        [[compound(m.compound_id), await room(m.room_id), m.relation, _enum(m.status),
                          when(m.created_at), when(m.decided_at)] for m in memberships]))
    grants = await rows_of(select(RoleGrant).where(RoleGrant.person_id == person_id).order_by(col(RoleGrant.id)))
    cases = await rows_of(select(Case).where(Case.reporter_id == person_id).order_by(col(Case.id)))
    wanted = {g.building_id for g in grants} | {c.building_id for c in cases}
    buildings = dict((await session.exec(select(Building.id, Building.name).where(
        col(Building.id).in_([b for b in wanted if b is not None])))).all())
    sheets.append(Sheet(ROLES, (N_("Compound"), N_("Role"), N_("Building"), N_("Granted at"), N_("Revoked at")),
                        [[compound(g.compound_id), g.role, buildings.get(g.building_id, ""), when(g.granted_at),
                          when(g.revoked_at)] for g in grants]))
    affiliations = await rows_of(select(Affiliation).where(Affiliation.person_id == person_id)
                                 .order_by(col(Affiliation.id)))
    sheets.append(Sheet(AFFILIATIONS, (N_("Organisation"), N_("Added at"), N_("Removed at")),
                        [[await _organisation_name(session, a), when(a.added_at), when(a.removed_at)]
                         for a in affiliations]))
    roster = await _roster_by_phone(session, person.phone)
    sheets.append(Sheet(N_("Owners' roster"), (N_("Room"), N_("Name"), N_("Phone")),
                        [[await room(o.room_id), o.name, o.phone] for o in roster]))

    case_rows = []
    for case in cases:
        kept, erased = photos_note(case.photos)
        pin = f"{case.latitude:.5f}, {case.longitude:.5f}" if case.latitude is not None \
            and case.longitude is not None else ""
        case_rows.append([case.number, compound(case.compound_id), case.category, case.description,
                          await room(case.room_id) or buildings.get(case.building_id, ""), case.anonymous,
                          _enum(case.state), when(case.opened_at), when(case.closed_at), case.rating or "",
                          case.resolution, kept, erased[:16].replace("T", " "),
                          " ".join(part for part in (case.location_label, pin) if part),
                          len(resolution_photos(case)[1])])
    sheets.append(Sheet(COMPLAINTS, (N_("Case number"), N_("Compound"), N_("Category"), N_("Description"),
                                           N_("Place"), N_("Anonymous"), N_("State"), N_("Opened"), N_("Closed at"),
                                           N_("Rating"), N_("Resolution"), N_("Photos kept"),
                                           N_("Photos deleted at (UTC)"), N_("Location"),
                                           N_("Photos of the resolution")), case_rows))
    events = await rows_of(select(CaseEvent).where(CaseEvent.actor_id == person_id).order_by(col(CaseEvent.id)))
    numbers = dict((await session.exec(select(Case.id, Case.number).where(
        col(Case.id).in_({e.case_id for e in events})))).all())
    sheets.append(Sheet(CASE_HISTORY, (N_("Case number"), N_("Time"), N_("Event"), N_("Note"), N_("Photos")),
                        [[numbers.get(e.case_id, ""), when(e.at), _enum(e.event), e.note, e.photos or 0]
                         for e in events]))

    needs = await rows_of(select(Need).where(Need.poster_id == person_id).order_by(col(Need.id)))
    sheets.append(Sheet(NEEDS, (N_("Compound"), N_("Category"), N_("Text"), N_("Status"), N_("Outcome"),
                                      N_("Posted at")),
                        [[compound(n.compound_id), n.category, n.text, _enum(n.status), _enum(n.outcome),
                          when(n.created_at)] for n in needs]))
    supports = await rows_of(select(NeedSupport, Need).join(Need, col(Need.id) == NeedSupport.need_id)
                             .where(NeedSupport.person_id == person_id).order_by(col(NeedSupport.id)))
    sheets.append(Sheet(NEEDS_SUPPORTED, (N_("Compound"), N_("Text"), N_("Supported at")),
                        [[compound(n.compound_id), n.text, when(s.created_at)] for s, n in supports]))

    signups = await rows_of(select(TaskSignup, VolunteerTask)
                            .join(VolunteerTask, col(VolunteerTask.id) == TaskSignup.task_id)
                            .where(TaskSignup.person_id == person_id).order_by(col(TaskSignup.id)))
    sheets.append(Sheet(SIGNUPS, (N_("Compound"), N_("Task"), N_("Start"), N_("Signed up"),
                                                   N_("Attended"), N_("Hours"), N_("Signed up at"), N_("Repeats")),
                        [[compound(task.compound_id), task.title, when(task.starts_at), s.active, s.attended,
                          float(s.hours) if s.hours is not None else "", when(s.created_at), task.recurrence]
                         for s, task in signups]))
    entries = await rows_of(select(PointsEntry).where(PointsEntry.person_id == person_id)
                            .order_by(col(PointsEntry.created_at), col(PointsEntry.id)))
    sheets.append(Sheet(POINTS, (N_("Compound"), N_("Time"), N_("Points"), N_("Kind"), N_("Reason")),
                        [[compound(e.compound_id), when(e.created_at), e.amount, e.kind, e.reason]
                         for e in entries]))
    redemptions = await rows_of(select(Redemption).where(Redemption.person_id == person_id)
                                .order_by(col(Redemption.id)))
    sheets.append(Sheet(REDEMPTIONS, (N_("Compound"), N_("Time"), N_("Points"), N_("Item"), N_("Status")),
                        [[compound(r.compound_id), when(r.created_at), r.points, r.item, _enum(r.status)]
                         for r in redemptions]))

    ballot_rows = []
    ballots: list[Any] = await rows_of(select(Ballot).where(
        sa.or_(col(Ballot.submitted_by) == person_id, col(Ballot.proxy_for) == person_id)).order_by(col(Ballot.id)))
    history: list[Any] = await rows_of(select(BallotHistory).where(
        sa.or_(col(BallotHistory.submitted_by) == person_id, col(BallotHistory.proxy_for) == person_id))
        .order_by(col(BallotHistory.id)))
    for ballot in [*ballots, *history]:
        assembly = await session.get(Assembly, ballot.assembly_id)
        motions = {str(m.id): m for m in await rows_of(select(Motion).where(Motion.assembly_id == ballot.assembly_id))}
        ballot_rows.append([assembly.title if assembly else "", await room(ballot.room_id),
                            _choices(ballot.choices, motions), "paper" if ballot.paper else "online",
                            when(ballot.submitted_at), ballot.version,
                            when(ballot.replaced_at) if isinstance(ballot, BallotHistory) else "",
                            await someone(ballot.submitted_by), await someone(ballot.proxy_for)])
    sheets.append(Sheet(BALLOTS, (N_("Assembly"), N_("Room"), N_("Choices"), N_("Online or paper"),
                                  N_("Submitted at"), N_("Version"), N_("Replaced at"), N_("Cast by"),
                                  N_("By proxy for")), ballot_rows))
    proxies = await rows_of(select(Proxy).where(sa.or_(col(Proxy.owner_id) == person_id,
                                                       col(Proxy.proxy_id) == person_id)).order_by(col(Proxy.id)))
    sheets.append(Sheet(PROXIES, (N_("Assembly"), N_("Owner"), N_("Proxy"), N_("Rooms"), N_("Status"),
                                  N_("Given at"), N_("Ended at")),
                        [[await assembly_title(x.assembly_id), await someone(x.owner_id), await someone(x.proxy_id),
                          "、".join([await room(r) for r in x.room_ids]), _enum(x.status), when(x.created_at),
                          when(x.ended_at)] for x in proxies]))
    objections = await rows_of(select(Objection).where(Objection.person_id == person_id)
                               .order_by(col(Objection.id)))
    sheets.append(Sheet(OBJECTIONS, (N_("Assembly"), N_("Reason"), N_("Lodged at"), N_("Status"), N_("Answer"),
                                     N_("Answered at")),
                        [[await assembly_title(o.assembly_id), o.reason, when(o.lodged_at), _enum(o.status), o.answer,
                          when(o.answered_at)] for o in objections]))
    answers = await rows_of(select(AssessmentAnswer, Assessment)
                            .join(Assessment, col(Assessment.id) == AssessmentAnswer.assessment_id)
                            .where(AssessmentAnswer.person_id == person_id).order_by(col(AssessmentAnswer.id)))
    sheets.append(Sheet(ASSESSMENTS, (N_("Compound"), N_("Period"), N_("Room"), N_("Scores"),
                                                     N_("Comment"), N_("Submitted at")),
                        [[compound(a.compound_id), a.period, await room(answer.room_id),
                          json.dumps(answer.scores, ensure_ascii=False), answer.comment, when(answer.submitted_at)]
                         for answer, a in answers]))

    pledges = await rows_of(select(Pledge).where(Pledge.person_id == person_id).order_by(col(Pledge.id)))
    sheets.append(Sheet(PLEDGES, (N_("Compound"), N_("Pledge"), N_("Target date"), N_("Status"),
                                        N_("Evidence"), N_("Made at"), N_("Confirmed at")),
                        [[compound(p.compound_id), p.text, p.target_date.isoformat(), _enum(p.status),
                          p.evidence_text, when(p.created_at), when(p.confirmed_at)] for p in pledges]))
    reports = await rows_of(select(PartyReport).where(PartyReport.person_id == person_id)
                            .order_by(col(PartyReport.id)))
    leave = await rows_of(select(PartyLeave).where(PartyLeave.person_id == person_id).order_by(col(PartyLeave.id)))
    sheets.append(Sheet(PARTY, (N_("Compound"), N_("Record"), N_("From"), N_("To"), N_("Text")),
                        [[compound(r.compound_id), "report", when(r.reported_at), "", r.employer] for r in reports]
                        + [[compound(a.compound_id), "leave", a.starts_on.isoformat(), a.ends_on.isoformat(), a.reason]
                           for a in leave]))
    rsvps = await rows_of(select(MeetingRsvp, Meeting).join(Meeting, col(Meeting.id) == MeetingRsvp.meeting_id)
                          .where(MeetingRsvp.person_id == person_id).order_by(col(MeetingRsvp.id)))
    sheets.append(Sheet(RSVPS, (N_("Compound"), N_("Meeting"), N_("Start"), N_("Attending"), N_("Answered at")),
                        [[compound(m.compound_id), m.title, when(m.starts_at), r.attending, when(r.updated_at)]
                         for r, m in rsvps]))
    signins = await rows_of(select(MeetingAttendance, Meeting)
                            .join(Meeting, col(Meeting.id) == MeetingAttendance.meeting_id)
                            .where(MeetingAttendance.person_id == person_id).order_by(col(MeetingAttendance.id)))
    sheets.append(Sheet(SIGNINS, (N_("Compound"), N_("Meeting"), N_("Start"), N_("Signed in at"),
                                  N_("Marked present by")),
                        [[compound(m.compound_id), m.title, when(m.starts_at), when(a.signed_at),
                          await someone(a.marked_by)] for a, m in signins]))
    nominations = await rows_of(select(BoardEntry).where(BoardEntry.nominator_id == person_id)
                                .order_by(col(BoardEntry.id)))
    sheets.append(Sheet(NOMINATIONS, (N_("Compound"), N_("List"), N_("Subject"), N_("Text"),
                                                               N_("Status"), N_("Nominated at")),
                        [[compound(b.compound_id), _enum(b.color), b.subject, b.text, _enum(b.status),
                          when(b.created_at)] for b in nominations]))
    orders = await rows_of(select(ServiceOrder, Service, ServiceSlot)
                           .join(Service, col(Service.id) == ServiceOrder.service_id)
                           .join(ServiceSlot, col(ServiceSlot.id) == ServiceOrder.slot_id)
                           .where(ServiceOrder.person_id == person_id).order_by(col(ServiceOrder.id)))
    sheets.append(Sheet(ORDERS, (N_("Compound"), N_("Service"), N_("Time"), N_("Status"), N_("Rating"),
                                               N_("Comment"), N_("Ordered at")),
                        [[compound(s.compound_id), s.title, when(slot.starts_at), _enum(o.status), o.rating or "",
                          o.comment, when(o.created_at)] for o, s, slot in orders]))

    areas = await rows_of(select(PartyArea, Building).join(Building, col(Building.id) == PartyArea.building_id)
                          .where(PartyArea.person_id == person_id).order_by(col(PartyArea.id)))
    sheets.append(Sheet(AREAS, (N_("Compound"), N_("Building"), N_("Floor"), N_("Since")),
                        [[compound(a.compound_id), b.name, a.floor if a.floor is not None else "", when(a.created_at)]
                         for a, b in areas]))
    offered = await rows_of(select(Resource).where(Resource.offered_by_id == person_id).order_by(col(Resource.id)))
    sheets.append(Sheet(RESOURCES, (N_("Compound"), N_("Kind"), N_("Title"), N_("Description"), N_("Status"),
                                    N_("Offered at"), N_("Retired at")),
                        [[compound(r.compound_id), r.kind, r.title, r.description, _enum(r.status), when(r.created_at),
                          when(r.retired_at)] for r in offered]))
    reads = await rows_of(select(AnnouncementRead, Announcement)
                          .join(Announcement, col(Announcement.id) == AnnouncementRead.announcement_id)
                          .where(AnnouncementRead.person_id == person_id))
    sheets.append(Sheet(READS, (N_("Compound"), N_("Newest announcement read"), N_("Read at")),
                        [[compound(r.compound_id), a.text[:80], when(r.read_at)] for r, a in reads]))
    notices = await rows_of(select(NoticeLog).where(NoticeLog.person_id == person_id)
                            .order_by(col(NoticeLog.decided_at), col(NoticeLog.id)))
    sheets.append(Sheet(NOTICES, (N_("Compound"), N_("Kind"), N_("Decision"), N_("Decided at"), N_("Due at")),
                        [[compound(n.compound_id), _enum(n.kind), _enum(n.decision), when(n.decided_at),
                          when(n.due_at)] for n in notices]))
    off = await rows_of(select(NoticeOptOut).where(NoticeOptOut.person_id == person_id))
    stops = await rows_of(select(ReminderStop).where(ReminderStop.person_id == person_id))
    sheets.append(Sheet(NOTICES_OFF, (N_("Kind"), N_("Since")),
                        [[_enum(o.kind), when(o.created_at)] for o in off]
                        + [[f"vote_reminder: {await assembly_title(r.assembly_id)}", when(r.created_at)]
                           for r in stops]))
    shown = await rows_of(select(Access).where(Access.subject_id == person_id).order_by(col(Access.at)))
    sheets.append(Sheet(SHOWN, (N_("Compound"), N_("Time"), N_("Who"), N_("Case number"), N_("What was shown"),
                                N_("Shown how")),
                        [[compound(a.compound_id), when(a.at), await someone(a.viewer_id),
                          await _case_number(session, a.case_id), a.shown, _enum(a.via)] for a in shown]))
    sheets.append(Sheet(ACTS, (N_("What"), N_("Compound"), N_("Number"), N_("Time")),
                        await _acts(session, person_id, compound, when)))
    return sheets


async def log_own_export(session: AsyncSession, person_id: int, compound_id: int | None, now: datetime) -> bool:
    """/mydata writes a row of the personal-data access log, like every showing of someone's name, room and phone:
    in the compound they act in, or else the last one they belonged to. False for someone who never belonged to
    one (the log is kept per compound, and such a person's file holds only their account)."""
    if compound_id is None:
        compound_id = (await session.exec(select(Membership.compound_id).where(Membership.person_id == person_id)
                                          .order_by(col(Membership.id).desc()))).first()
    if compound_id is None:
        return False
    await access_log.record(session, now, compound_id, person_id, person_id,
                            [access_log.Piece.NAME, access_log.Piece.ROOM, access_log.Piece.PHONE],
                            via=access_log.Via.SELF)
    return True


class Label(str):
    """A cell of /mydata that the caller translates (what a row of ACTS records)."""

    __slots__ = ()


async def _acts(session: AsyncSession, person_id: int, compound: Any, when: Any) -> list[list[Any]]:
    """The rows of ACTS: what the person did for a compound (granted a role, handled a case, ...), from every
    column `PERSONAL` shows there, oldest first."""
    found: list[tuple[str, list[Any]]] = []
    conn = await session.connection()
    for (name, column), held in PERSONAL.items():
        if held.sheet != ACTS:
            continue
        table = SQLModel.metadata.tables[name]
        at = table.c[held.at]
        place = table.c["compound_id"] if "compound_id" in table.c else sa.null()
        number = table.c["id"] if "id" in table.c else sa.null()
        for moment, compound_id, row_id in (await conn.execute(
                sa.select(at, place, number).where(table.c[column] == person_id))).all():
            found.append((moment.isoformat() if moment is not None else "",
                          [Label(held.label), compound(compound_id), row_id if row_id is not None else "",
                           when(moment)]))
    return [row for _key, row in sorted(found, key=lambda item: item[0])]


async def _organisation_name(session: AsyncSession, affiliation: Affiliation) -> str:
    for model, key in ((Street, affiliation.street_id), (Department, affiliation.department_id),
                       (Organisation, affiliation.organisation_id)):
        if key is not None:
            row = await session.get(model, key)
            return str(getattr(row, "name", "")) if row is not None else ""
    return ""


async def _case_number(session: AsyncSession, case_id: int | None) -> str:
    case = await session.get(Case, case_id) if case_id is not None else None
    return case.number if case is not None else ""


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

