"""The fixed statements every incoming message runs, before and after its handler's own work.

They run for every message, so they are kept few and cheap; feature code never calls them."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import UTCDateTime
from storage.people import Identity

# "Last seen" is written behind: at most once per identity in this long, not on every message.
SEEN_EVERY = timedelta(minutes=5)

_identity = Identity.__table__  # type: ignore[attr-defined]
# The age check is in the statement itself, so two processes handling the same person's messages write it once.
_SEEN = (
    sa.update(_identity)
    .where(_identity.c.id == sa.bindparam("identity_id"),
           _identity.c.last_seen_at < sa.bindparam("stale_before", type_=UTCDateTime))
    .values(last_seen_at=sa.bindparam("now", type_=UTCDateTime))
)


def seen_is_stale(last_seen_at: datetime, now: datetime) -> bool:
    return now - last_seen_at >= SEEN_EVERY


async def mark_seen(session: AsyncSession, identity_id: int, now: datetime) -> None:
    """Write the identity's `last_seen_at`, unless another message wrote it within `SEEN_EVERY`."""
    await session.exec(_SEEN, params={"identity_id": identity_id, "stale_before": now - SEEN_EVERY,
                                      "now": now})
