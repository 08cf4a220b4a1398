"""The main menu's "open for you now": whether anything waits for the person (a vote, a task they signed up for,
a case of theirs, an announcement they have not read) asked of the four features in one read on every /start;
only what is there is then read in full, by the feature's own query."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import announcements, assembly, complaints, volunteering
from storage.db import Prepared


class OpenNow(NamedTuple):
    vote: bool
    task: bool
    case: bool
    announcement: bool


def _open_now(owner: bool, party: bool) -> Prepared:
    # Each feature's own query, asked whether it finds a row: the same rules, not a second spelling of them.
    return Prepared(select(assembly.OPEN_NOW.statement.exists(), volunteering.SIGNED_UP.statement.exists(),
                           complaints.CURRENT.statement.exists(),
                           announcements.UNREAD[owner, party].statement.exists()))


_OPEN_NOW = {(owner, party): _open_now(owner, party) for owner in (False, True) for party in (False, True)}


async def open_now(session: AsyncSession, person_id: int, compound_id: int, now: datetime, *, owner: bool,
                   party: bool) -> OpenNow:
    """Which kinds of "open for you now" line the person has (`owner`, `party`: the announcements' audiences)."""
    (row,) = await _OPEN_NOW[owner, party].rows(session, person_id=person_id, compound_id=compound_id, now=now,
                                                 since=now - announcements.UNREAD_FOR, limit=1)
    return OpenNow(*(bool(value) for value in row))
