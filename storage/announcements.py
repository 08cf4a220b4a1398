"""Announcements (公告), sent now or at a set time, and disclosures (公示): the periodic income-and-spending
disclosure and major matters, kept so residents can find past ones."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.i18n import N_
from storage.compounds import Room
from storage.db import Prepared, UTCDateTime, status_field, utcnow
from storage.outbox import cancel_posting
from storage.people import Membership, MembershipStatus

AUDIENCES = {
    "all": N_("the whole compound"),
    "building": N_("one building"),
    "owners": N_("owners only"),
    "party": N_("party members"),
}
DISCLOSURE_KINDS = {
    "finance": N_("Income and spending (资金收支公示)"),
    "major": N_("Major matter (重大事项公示)"),
}
TEXT_MAX = 2000
DISCLOSURE_TEXT_MAX = 1000

# An announcement is scheduled at most a year ahead: further is almost certainly a typing mistake.
MAX_AHEAD = timedelta(days=366)


class AnnouncementStatus(StrEnum):
    SCHEDULED = "scheduled"  # waits in the outbox for its time
    SENT = "sent"  # went to the outbox at once
    CANCELLED = "cancelled"


class Result(StrEnum):
    """What became of an action on an announcement; anything but DONE changed nothing."""

    DONE = "done"
    TOO_LATE = "too_late"  # already sent, or cancelled before
    TOO_FAR = "too_far"  # a time more than MAX_AHEAD from now


class Announcement(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    author_id: int = Field(foreign_key="person.id")
    text: str = Field(max_length=TEXT_MAX)
    audience: str = Field(default="all", max_length=16)
    building_id: int | None = Field(default=None, foreign_key="building.id")
    # A photo the author sent: the platform's file id; its bytes are fetched when the posting is queued.
    media_platform: str = Field(default="", max_length=16)
    media_file_id: str = Field(default="", max_length=256)
    pin: bool = False
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    status: AnnouncementStatus = status_field(AnnouncementStatus, AnnouncementStatus.SCHEDULED, 16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def posting_key(self) -> str:
        return f"announce:{self.id}"


class AnnouncementRead(SQLModel, table=True):
    """The newest announcement a person has read in a compound: anything newer for them is unread (the menu's
    "new announcement")."""

    __tablename__ = "announcement_read"
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", primary_key=True)
    announcement_id: int = Field(foreign_key="announcement.id")
    read_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Disclosure(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    author_id: int = Field(foreign_key="person.id")
    kind: str = Field(max_length=16)
    text: str = Field(max_length=DISCLOSURE_TEXT_MAX)
    # A photo is fetched from the platform by `media_file_id` when shown; a document (XLSX, PDF) is kept in
    # the outbox's `Media` table (`media_id`), since platforms' file ids expire (WeCom's after 3 days).
    media_platform: str = Field(default="", max_length=16)
    media_file_id: str = Field(default="", max_length=256)
    media_kind: str = Field(default="image", max_length=16, sa_column_kwargs={"server_default": "image"})
    # The id of a `storage.outbox.Media` row (no foreign key: that table is in another migration branch).
    media_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


# What a disclosure may carry as a file: the statement as a spreadsheet, a PDF or a Word document, or a
# picture sent as a file. Told apart by their first bytes (WeCom gives no name or type before the download).
DOCUMENT_MAX_BYTES = 20 * 1024 * 1024  # what a Telegram bot may download
DOCUMENT_KINDS = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".doc": "application/msword",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
}
ALLOWED_DOCUMENTS = "XLSX, XLS, PDF, DOCX, DOC, JPG, PNG"


def document_type(data: bytes, name: str = "") -> tuple[str, str] | None:
    """(mime, file name) of an acceptable disclosure file, or None. The bytes decide the family (a renamed
    .exe is no spreadsheet); the name, when there is one, picks within it (a zip is XLSX or DOCX)."""
    ending = name[name.rfind("."):].lower() if "." in name else ""
    stem = name[: len(name) - len(ending)] if ending else (name or "attachment")
    if data.startswith(b"%PDF-"):
        family = [".pdf"]
    elif data.startswith(b"PK\x03\x04"):
        family = [".xlsx", ".docx"]
    elif data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # the old Office format
        family = [".xls", ".doc"]
    elif data.startswith(b"\x89PNG"):
        family = [".png"]
    elif data.startswith(b"\xff\xd8\xff"):
        family = [".jpg"]
    else:
        return None
    if ending == ".jpeg":
        ending = ".jpg"
    chosen = ending if ending in family else family[0]
    return DOCUMENT_KINDS[chosen], stem + chosen


def image_mime(data: bytes) -> tuple[str, str]:
    """The mime type and a file name for a photo's bytes (platforms send JPEG; the console a PNG)."""
    if data.startswith(b"\x89PNG"):
        return "image/png", "image.png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif", "image.gif"
    return "image/jpeg", "image.jpg"


async def scheduled(session: AsyncSession, compound_id: int, now: datetime) -> list[Announcement]:
    result = await session.exec(
        select(Announcement)
        .where(Announcement.compound_id == compound_id, Announcement.status == AnnouncementStatus.SCHEDULED,
               col(Announcement.due_at) > now)
        .order_by(col(Announcement.due_at))
        .limit(20)
    )
    return list(result.all())


async def recent_disclosures(session: AsyncSession, compound_id: int, limit: int = 10) -> list[Disclosure]:
    result = await session.exec(
        select(Disclosure)
        .where(Disclosure.compound_id == compound_id)
        .order_by(col(Disclosure.created_at).desc(), col(Disclosure.id).desc())
        .limit(limit)
    )
    return list(result.all())


async def owners_of(session: AsyncSession, compound_id: int) -> list[int]:
    result = await session.exec(
        select(Membership.person_id)
        .where(Membership.compound_id == compound_id, Membership.status == MembershipStatus.APPROVED,
               Membership.relation == "owner")
        .order_by(col(Membership.id))
    )
    return list(dict.fromkeys(result.all()))


# ---- domain actions ----------------------------------------------------------------------------------------


def due_problem(due_at: datetime | None, now: datetime) -> Result | None:
    """Why an announcement cannot be sent then (TOO_FAR), or None; None or a past moment means now."""
    return Result.TOO_FAR if due_at is not None and due_at > now + MAX_AHEAD else None


async def publish_announcement(session: AsyncSession, compound_id: int, author_id: int, fields: dict[str, Any],
                               due_at: datetime | None, now: datetime) -> Announcement | Result:
    """An announcement sent now (`due_at` None or past: SENT) or at its time (SCHEDULED); `fields` are its text,
    audience, building_id, media_platform, media_file_id and pin."""
    if (problem := due_problem(due_at, now)) is not None:
        return problem
    due = due_at if due_at is not None and due_at > now else now
    item = Announcement(compound_id=compound_id, author_id=author_id, due_at=due, created_at=now,
                        status=AnnouncementStatus.SCHEDULED if due > now else AnnouncementStatus.SENT, **fields)
    session.add(item)
    await session.flush()
    return item


async def cancel_announcement(session: AsyncSession, item: Announcement, now: datetime) -> Result:
    """A scheduled announcement withdrawn before its time, and its postings waiting in the outbox with it."""
    if item.status != AnnouncementStatus.SCHEDULED or item.due_at <= now:
        return Result.TOO_LATE
    await cancel_posting(session, item.posting_key)
    item.status = AnnouncementStatus.CANCELLED
    session.add(item)
    await session.flush()
    return Result.DONE


async def publish_disclosure(session: AsyncSession, compound_id: int, author_id: int, kind: str, text: str,
                             now: datetime, photo: tuple[str, str] | None = None, document_id: int | None = None
                             ) -> Disclosure:
    """A disclosure kept for /disclosures: with a photo (platform, file id) or a document already stored in the
    outbox's media table (a platform's file id may expire: WeCom's after 3 days)."""
    if kind not in DISCLOSURE_KINDS:
        raise ValueError(f"no disclosure kind {kind!r}")
    item = Disclosure(compound_id=compound_id, author_id=author_id, kind=kind, text=text, created_at=now)
    if photo is not None:
        item.media_platform, item.media_file_id = photo
    if document_id is not None:
        item.media_kind, item.media_id = "document", document_id
    session.add(item)
    await session.flush()
    return item


# ---- what a person has not read yet -------------------------------------------------------------------------

# An announcement older than this is no longer "new" in the menu, read or not.
UNREAD_FOR = timedelta(days=14)


def _for_person(person_id: Any, compound_id: Any, now: Any, owner: bool, party: bool, since: Any = None) -> Any:
    """The compound's announcements that have gone out to this person (by audience) in the last UNREAD_FOR."""
    buildings = (select(Room.building_id).join(Membership, col(Membership.room_id) == Room.id)
                 .where(Membership.person_id == person_id, Membership.compound_id == compound_id,
                        Membership.status == MembershipStatus.APPROVED))
    audience = col(Announcement.audience)
    audiences = [audience == "all", sa.and_(audience == "building", col(Announcement.building_id).in_(buildings))]
    if owner:
        audiences.append(audience == "owners")
    if party:
        audiences.append(audience == "party")
    return select(Announcement).where(
        Announcement.compound_id == compound_id, Announcement.status != AnnouncementStatus.CANCELLED,
        col(Announcement.due_at) <= now, col(Announcement.due_at) > (now - UNREAD_FOR if since is None else since),
        sa.or_(*audiences))


async def unread(session: AsyncSession, person_id: int, compound_id: int, now: datetime, *, owner: bool = False,
                 party: bool = False) -> Announcement | None:
    """The newest announcement for this person they have not read yet (None: nothing new)."""
    found = await UNREAD[owner, party].objects(session, person_id=person_id, compound_id=compound_id, now=now,
                                                 since=now - UNREAD_FOR)
    return found[0] if found else None


def _unread(owner: bool, party: bool) -> Prepared:
    """`unread`'s query for one kind of reader, a fixed query on the driver: it runs on every /start."""
    person: sa.BindParameter[int] = sa.bindparam("person_id")
    compound: sa.BindParameter[int] = sa.bindparam("compound_id")
    seen = (select(AnnouncementRead.announcement_id)
            .where(AnnouncementRead.person_id == person, AnnouncementRead.compound_id == compound)
            .scalar_subquery())
    query = _for_person(person, compound, sa.bindparam("now", type_=UTCDateTime), owner, party,
                        since=sa.bindparam("since", type_=UTCDateTime))
    return Prepared(query.where(col(Announcement.id) > sa.func.coalesce(seen, 0))
                    .order_by(col(Announcement.id).desc()).limit(1), Announcement)


# By kind of reader (owner, party member); asked by every /start with the menu's other lines (storage/start.py).
UNREAD = {(owner, party): _unread(owner, party) for owner in (False, True) for party in (False, True)}


async def read_announcement(session: AsyncSession, announcement_id: int, person_id: int, compound_id: int,
                            now: datetime, *, owner: bool = False, party: bool = False) -> Announcement | None:
    """The announcement, if it went out to this person, marked read (with everything before it); else None."""
    query = _for_person(person_id, compound_id, now, owner, party).where(Announcement.id == announcement_id)
    item = (await session.exec(query)).first()
    if item is None or item.id is None:
        return None
    mark = await session.get(AnnouncementRead, (person_id, compound_id))
    if mark is None:
        session.add(AnnouncementRead(person_id=person_id, compound_id=compound_id, announcement_id=item.id,
                                     read_at=now))
    elif mark.announcement_id < item.id:
        mark.announcement_id, mark.read_at = item.id, now
        session.add(mark)
    return item
