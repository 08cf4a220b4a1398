"""The personal-data access log: one row each time someone is shown another person's contact details (a
complaint's named reporter: name, room and phone) or an identity the case otherwise hides (an anonymous
reporter, shown to the secretary only), and each time a person is sent their own (/mydata). Append-only: this
module writes rows and reads them, and has nothing that changes or deletes one. It keeps who read, whose data,
in which compound and case, which fields (never their values) and when; `linli audit` prints it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.compounds import Compound
from storage.db import UTCDateTime, status_field
from storage.people import Person


class Piece(StrEnum):
    """A piece of personal data shown (the log names the piece, never its value)."""

    NAME = "name"
    ROOM = "room"
    PHONE = "phone"


class Via(StrEnum):
    """How it was shown."""

    LOOKUP = "lookup"  # the person asked: /case NUMBER, or a button that shows a case
    NOTICE = "notice"  # the bot sent it: a case card to its new handler, or to the secretaries
    EXPORT = "export"  # a ledger exported in the chat (/export cases) named them
    SELF = "self"  # the person's own data, sent to them (/mydata)


class Access(SQLModel, table=True):
    __tablename__ = "personal_data_access"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    viewer_id: int = Field(foreign_key="person.id", index=True)  # who was shown it
    subject_id: int = Field(foreign_key="person.id", index=True)  # whose data
    case_id: int | None = Field(default=None, foreign_key="complaint_case.id")
    # The pieces shown, comma-separated values of `Piece` (e.g. "name,room,phone").
    shown: str = Field(max_length=64)
    # True: the identity an anonymous case hides from everyone but the secretary.
    hidden: bool = False
    via: Via = status_field(Via, Via.LOOKUP, 16)


async def record(session: AsyncSession, at: datetime, compound_id: int, viewer_id: int, subject_id: int,
                 shown: Sequence[Piece], *, case_id: int | None = None, hidden: bool = False,
                 via: Via = Via.LOOKUP) -> None:
    """Write one row in the caller's transaction: the showing and its record stand or fall together."""
    session.add(Access(at=at, compound_id=compound_id, viewer_id=viewer_id, subject_id=subject_id, case_id=case_id,
                       shown=",".join(field.value for field in shown), hidden=hidden, via=via))


@dataclass(frozen=True, slots=True)
class Entry:
    """A row as `linli audit` prints it: names as they are now (a forgotten person's pseudonym)."""

    at: datetime
    compound_code: str
    timezone: str
    viewer_id: int
    viewer: str
    subject_id: int
    subject: str
    case_number: str
    shown: tuple[Piece, ...]
    hidden: bool
    via: Via


async def entries(session: AsyncSession, compound_id: int | None = None, since: datetime | None = None,
                  limit: int | None = None) -> list[Entry]:
    """The log, oldest first: of one compound or all, from `since` on."""
    from storage.complaints import Case

    viewer, subject = aliased(Person), aliased(Person)
    columns: list[Any] = [Access.at, Compound.code, Compound.timezone, Access.viewer_id, viewer.name,
                          Access.subject_id, subject.name, Case.number, Access.shown, Access.hidden, Access.via]
    query = (sa.select(*columns)
             .join(Compound, col(Compound.id) == Access.compound_id)
             .join(viewer, col(viewer.id) == Access.viewer_id)
             .join(subject, col(subject.id) == Access.subject_id)
             .outerjoin(Case, col(Case.id) == Access.case_id))
    if compound_id is not None:
        query = query.where(col(Access.compound_id) == compound_id)
    if since is not None:
        query = query.where(col(Access.at) >= since)
    query = query.order_by(col(Access.at), col(Access.id))
    if limit is not None:
        query = query.limit(limit)
    return [Entry(at, code, zone, viewer_id, viewer_name, subject_id, subject_name, number or "",
                  tuple(Piece(piece) for piece in shown.split(",") if piece), bool(hidden), Via(via))
            for at, code, zone, viewer_id, viewer_name, subject_id, subject_name, number, shown, hidden, via
            in (await session.execute(query)).all()]


async def count(session: AsyncSession, case_id: int | None = None) -> int:
    """How many rows (of one case)."""
    query = select(sa.func.count()).select_from(Access)
    if case_id is not None:
        query = query.where(col(Access.case_id) == case_id)
    return int((await session.exec(query)).one())


__all__ = ["Access", "Entry", "Piece", "Via", "count", "entries", "record"]
