"""The outbox: every message to a group chat, and every message to someone other than the sender, is a row
here before it is sent. Rows are claimed atomically (one transaction; `FOR UPDATE SKIP LOCKED` on
PostgreSQL, a conditional UPDATE under SQLite's `BEGIN IMMEDIATE`), sent in order per chat, retried with
backoff, and marked delivered once. The per-chat "next allowed send" lives in `OutboxPace`, so several
worker processes share it."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel, col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import JSONDict, UTCDateTime, utcnow

PENDING = "pending"
SENDING = "sending"
DELIVERED = "delivered"
FAILED = "failed"
CANCELLED = "cancelled"
# Still unsent when its `expires_at` passed (a reminder after the meeting began): dropped, on purpose.
EXPIRED = "expired"
# A post that a WeCom staff member must confirm before it reaches residents' customer groups.
WAITING_CONFIRM = "waiting_confirm"
FINAL_STATES = (DELIVERED, FAILED, CANCELLED, EXPIRED)
# The pace row of a whole platform (a global 429 pauses everything sent there).
PLATFORM_WIDE = "*"
# The row whose `next_at` is the platform's next free send slot (its overall rate, shared by all processes).
RATE_SLOTS = "*rate"


class Media(SQLModel, table=True):
    """Images and documents sent by the bot, stored once however many chats receive them."""

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    mime: str = Field(max_length=100)
    filename: str = Field(max_length=200)
    data: bytes = Field(sa_type=sa.LargeBinary)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OutboxMessage(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_outbox_due", "state", "due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=128, index=True)  # the platform's chat id
    chat_kind: str = Field(default="group", max_length=8)
    compound_id: int | None = Field(default=None, foreign_key="compound.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id")
    kind: str = Field(default="send", max_length=8)  # send | edit | pin
    # Rendered message: {"text", "buttons": [[{"label", "kind", "data"}]], "media_id", "media_kind", "pin"}
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDict)
    # A posting that may be edited later (turnout, "3/8 signed up") is remembered under this key.
    posting_key: str | None = Field(default=None, max_length=80, index=True)
    edit_of: int | None = Field(default=None, foreign_key="outboxmessage.id")
    due_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Grace: after this moment an undelivered row is dropped (a reminder after the meeting began).
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    state: str = Field(default=PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    message_id: str | None = Field(default=None, max_length=128)
    last_error: str = Field(default="", max_length=500)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # When it reached failed / cancelled / expired; the secretaries' failure summary reads it.
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The compound's secretaries were told that this group posting failed for good.
    alerted: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # A message the platform takes in several parts (a long text, a picture then its text): how many are out.
    # The next attempt sends only the rest, so a failure halfway neither loses nor repeats a part.
    parts_sent: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


# Each column's own default, for rows written as plain values (`outbox_row`); those made per row (the payload and
# the moments) are always given.
_ROW_DEFAULTS = {name: field.default for name, field in OutboxMessage.model_fields.items()
                 if name != "id" and field.default_factory is None}


def outbox_row(**values: Any) -> dict[str, Any]:
    """An outbox row as plain values, every column but the id, as `OutboxMessage(**values).model_dump()` has it
    (without building a model object: a fan-out writes many, in one multi-row insert)."""
    unknown = values.keys() - _ROW_DEFAULTS.keys() - {"payload", "due_at", "next_attempt_at", "created_at"}
    if unknown:
        raise TypeError(f"not outbox columns: {sorted(unknown)}")
    now = utcnow()
    return {**_ROW_DEFAULTS, "payload": {}, "due_at": now, "next_attempt_at": now, "created_at": now, **values}


class OutboxPace(SQLModel, table=True):
    """The earliest moment (real time, epoch seconds) the next message may go to a chat, or to a whole
    platform (`chat_id == "*"`, after a global 429). Shared by every worker process."""

    platform: str = Field(max_length=16, primary_key=True)
    chat_id: str = Field(max_length=128, primary_key=True)
    next_at: float = 0.0


# ---- media -------------------------------------------------------------------------------------------


async def store_media(session: AsyncSession, data: bytes, mime: str, filename: str) -> int:
    digest = hashlib.sha256(data).hexdigest()
    existing = (await session.exec(select(Media.id).where(Media.sha256 == digest))).first()
    if existing is not None:
        return existing
    media = Media(sha256=digest, mime=mime, filename=filename, data=data)
    session.add(media)
    await session.flush()
    assert media.id is not None
    return media.id


async def load_media(session: AsyncSession, media_id: int) -> Media | None:
    return await session.get(Media, media_id)


# ---- pure rules --------------------------------------------------------------------------------------


def backoff_seconds(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so a burst of failures (a platform
    outage) does not come back as a burst of retries."""
    delay = min(base * 2 ** max(attempts - 1, 0), cap)
    return delay / 2 + (rng or random).uniform(0, delay / 2)


# ---- claiming ----------------------------------------------------------------------------------------


async def housekeep_due(session: AsyncSession, now: datetime, lease: timedelta, max_attempts: int,
                        keep: set[int] | None = None) -> None:
    """Before claiming: rows of dead workers come back (not `keep`, the caller's own rows in flight), late
    rows are dropped, orphaned edits cancelled."""
    await release_stale(session, now, lease, max_attempts, keep)
    await drop_expired(session, now)
    await cancel_orphan_edits(session, now)


async def paused_platforms(session: AsyncSession, now_real: float) -> list[str]:
    result = await session.exec(
        select(OutboxPace.platform).where(OutboxPace.chat_id == PLATFORM_WIDE, OutboxPace.next_at > now_real)
    )
    return list(result.all())


# A row's chat pace, and the order chats take turns in: the chat that could send earliest (never, or not in the
# last hour: 0) first, then the oldest row.
_PACE_OF_ROW = sa.and_(col(OutboxPace.platform) == col(OutboxMessage.platform),
                       col(OutboxPace.chat_id) == col(OutboxMessage.chat_id))
_TURNS = (sa.func.coalesce(col(OutboxPace.next_at), 0.0), col(OutboxMessage.due_at), col(OutboxMessage.id))


async def claim_due(session: AsyncSession, worker: str, now: datetime, now_real: float, limit: int,
                    platforms: list[str] | None = None, gate: Any = None) -> list[OutboxMessage]:
    """Claim up to `limit` rows: the oldest due row of each chat whose pace allows a send now. A chat with a
    row in flight (or waiting for a retry) offers nothing, so one chat's messages go out in order.

    Chats take turns (round-robin): the chat whose turn came longest ago goes first, that is the chat whose
    pace row says it could send earliest (a chat with no pace row, not sent to in the last hour, first of all),
    then the oldest row. Every send writes its chat's pace row (see `hold`), so a chat just served waits behind
    every chat that has not been: a burst of 50 messages into one chat cannot hold back one message to another."""
    paused = set(await paused_platforms(session, now_real))
    heads = (
        select(sa.func.min(OutboxMessage.id))
        .where(col(OutboxMessage.state).in_([PENDING, SENDING]), col(OutboxMessage.due_at) <= now)
        .group_by(col(OutboxMessage.platform), col(OutboxMessage.chat_id))
    )
    query = (
        select(OutboxMessage)
        .outerjoin(OutboxPace, _PACE_OF_ROW)
        .where(
            col(OutboxMessage.id).in_(heads),
            OutboxMessage.state == PENDING,
            col(OutboxMessage.next_attempt_at) <= now,
            sa.or_(col(OutboxPace.next_at).is_(None), col(OutboxPace.next_at) <= now_real),
        )
        .order_by(*_TURNS)
        .limit(limit)
    )
    if platforms is not None:
        query = query.where(col(OutboxMessage.platform).in_(platforms))
    if gate is not None:
        # Platforms that let us write only for a while after the person's last message (storage.wechat's reply
        # windows): their rows wait here, in order, instead of being sent into a refusal.
        query = query.where(gate)
    if paused:
        query = query.where(col(OutboxMessage.platform).not_in(paused))
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # Concurrent workers skip each other's candidates instead of queueing on them.
        query = query.with_for_update(skip_locked=True, of=OutboxMessage)
    ids = [row.id for row in (await session.exec(query)).all() if row.id is not None]
    if not ids:
        return []
    # The conditional UPDATE is the claim: a row another worker took meanwhile is no longer pending.
    await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids), col(OutboxMessage.state) == PENDING)
        .values(state=SENDING, claimed_by=worker, claimed_at=now, attempts=col(OutboxMessage.attempts) + 1)
    )
    claimed = await session.exec(
        select(OutboxMessage)
        .outerjoin(OutboxPace, _PACE_OF_ROW)
        .where(col(OutboxMessage.id).in_(ids), OutboxMessage.state == SENDING, OutboxMessage.claimed_by == worker)
        .order_by(*_TURNS)  # the worker asks for send slots in this order
        .execution_options(populate_existing=True)
    )
    return list(claimed.all())


async def next_due(session: AsyncSession, now: datetime, limit: int) -> list[OutboxMessage]:
    """The head row of each chat that is due (whatever the pace); the console's drain asks this."""
    heads = (
        select(sa.func.min(OutboxMessage.id))
        .where(col(OutboxMessage.state).in_([PENDING, SENDING]), col(OutboxMessage.due_at) <= now)
        .group_by(col(OutboxMessage.platform), col(OutboxMessage.chat_id))
    )
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.id).in_(heads), OutboxMessage.state == PENDING,
               col(OutboxMessage.next_attempt_at) <= now)
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def claim(session: AsyncSession, row_id: int, worker: str, now: datetime) -> bool:
    """Claim one known row (kept for callers that pick rows themselves)."""
    result = await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == row_id, col(OutboxMessage.state) == PENDING)
        .values(state=SENDING, claimed_by=worker, claimed_at=now, attempts=col(OutboxMessage.attempts) + 1)
    )
    return result.rowcount == 1


# ---- outcomes (each only by the worker holding the claim) ---------------------------------------------


def _held(row_id: int, worker: str) -> Any:
    return sa.and_(col(OutboxMessage.id) == row_id, col(OutboxMessage.state) == SENDING,
                   col(OutboxMessage.claimed_by) == worker)


async def mark_delivered(session: AsyncSession, row_id: int, worker: str, message_id: str | None, now: datetime,
                         state: str = DELIVERED) -> bool:
    """False when the claim was lost (the lease ran out and another worker took the row)."""
    result = await session.exec(
        update(OutboxMessage)
        .where(_held(row_id, worker))
        .values(state=state, message_id=message_id, delivered_at=now, last_error="")
    )
    return result.rowcount == 1


async def mark_retry(session: AsyncSession, row_id: int, worker: str, when: datetime, error: str,
                     count_attempt: bool = True, parts_sent: int | None = None) -> None:
    values: dict[str, Any] = {"state": PENDING, "next_attempt_at": when, "last_error": error[:500], "claimed_by": None}
    if parts_sent is not None:
        values["parts_sent"] = parts_sent
    if not count_attempt:
        # A 429 is the platform's pace, not the row's fault: it does not bring the row nearer to giving up.
        values["attempts"] = col(OutboxMessage.attempts) - 1
    await session.exec(update(OutboxMessage).where(_held(row_id, worker)).values(**values))


async def mark_failed(session: AsyncSession, row_id: int, worker: str, error: str, now: datetime | None = None) -> None:
    await session.exec(
        update(OutboxMessage)
        .where(_held(row_id, worker))
        .values(state=FAILED, last_error=error[:500], finished_at=now or utcnow())
    )


async def mark_cancelled(session: AsyncSession, row_id: int, worker: str, reason: str, now: datetime) -> None:
    await session.exec(
        update(OutboxMessage)
        .where(_held(row_id, worker))
        .values(state=CANCELLED, last_error=reason[:500], finished_at=now)
    )


async def release_stale(session: AsyncSession, now: datetime, lease: timedelta, max_attempts: int = 0,
                        keep: set[int] | None = None) -> int:
    """Rows left 'sending' by a process that died are retried: delivery was uncertain, losing it is worse.
    A row that has used up its attempts this way (it kills whoever sends it) fails instead."""
    stale = sa.and_(col(OutboxMessage.state) == SENDING, col(OutboxMessage.claimed_at) < now - lease)
    if keep:
        stale = sa.and_(stale, col(OutboxMessage.id).not_in(keep))
    if max_attempts:
        await session.exec(
            update(OutboxMessage)
            .where(stale, col(OutboxMessage.attempts) >= max_attempts)
            .values(state=FAILED, claimed_by=None, finished_at=now,
                    last_error="delivery uncertain: the sending process stopped, attempts used up")
        )
    result = await session.exec(
        update(OutboxMessage)
        .where(stale)
        .values(state=PENDING, claimed_by=None, next_attempt_at=now,
                last_error="delivery uncertain: the sending process stopped")
    )
    return result.rowcount


async def drop_expired(session: AsyncSession, now: datetime) -> int:
    """Unsent rows past their grace are dropped and recorded as expired (never sent late)."""
    result = await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.state) == PENDING,
            col(OutboxMessage.expires_at).is_not(None),
            col(OutboxMessage.expires_at) < now,
        )
        .values(state=EXPIRED, last_error="dropped: too late to be useful", finished_at=now)
    )
    return result.rowcount


async def cancel_orphan_edits(session: AsyncSession, now: datetime) -> int:
    """An edit of a posting that never went out has nothing to edit: cancelled, not retried forever."""
    dead = select(OutboxMessage.id).where(col(OutboxMessage.state).in_([FAILED, CANCELLED, EXPIRED]))
    result = await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.kind) == "edit", col(OutboxMessage.state) == PENDING,
               col(OutboxMessage.edit_of).in_(dead.scalar_subquery()))
        .values(state=CANCELLED, last_error="the original posting was not delivered", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


# ---- pace --------------------------------------------------------------------------------------------


async def hold(session: AsyncSession, platform: str, chat_id: str, until: float) -> None:
    """Push a chat's (or with `PLATFORM_WIDE` a platform's) next allowed send to at least `until`."""
    values = {"platform": platform, "chat_id": chat_id, "next_at": until}
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        stmt = insert(OutboxPace).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["platform", "chat_id"],
            set_={"next_at": sa.case((stmt.excluded.next_at > OutboxPace.next_at, stmt.excluded.next_at),
                                     else_=OutboxPace.next_at)},
        )
        await session.exec(stmt)
        return
    row = await session.get(OutboxPace, (platform, chat_id))
    if row is None:
        session.add(OutboxPace(platform=platform, chat_id=chat_id, next_at=until))
    elif row.next_at < until:
        row.next_at = until
        session.add(row)


async def lease_slots(session: AsyncSession, platform: str, count: int, interval: float, earliest: float) -> float:
    """Take the platform's next `count` send slots, `interval` seconds apart and none before `earliest`;
    returns the first. One atomic UPDATE of one row (`RETURNING` on SQLite and PostgreSQL; a row lock on
    PostgreSQL, the single writer on SQLite), so processes leasing at once get disjoint runs of slots and
    the platform's overall rate holds however many processes send."""
    span = count * interval
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        await session.exec(insert(OutboxPace).values(platform=platform, chat_id=RATE_SLOTS, next_at=0.0)
                           .on_conflict_do_nothing(index_elements=["platform", "chat_id"]))
        start = sa.case((col(OutboxPace.next_at) > earliest, col(OutboxPace.next_at)), else_=earliest)
        result = await session.exec(
            update(OutboxPace)
            .where(col(OutboxPace.platform) == platform, col(OutboxPace.chat_id) == RATE_SLOTS)
            .values(next_at=start + span)
            .returning(col(OutboxPace.next_at))
        )
        return float(result.scalar_one()) - span
    row = await session.get(OutboxPace, (platform, RATE_SLOTS), with_for_update=True)
    if row is None:
        row = OutboxPace(platform=platform, chat_id=RATE_SLOTS, next_at=0.0)
    first = max(row.next_at, earliest)
    row.next_at = first + span
    session.add(row)
    await session.flush()
    return first


async def prune_pace(session: AsyncSession, now_real: float) -> int:
    result = await session.exec(sa.delete(OutboxPace).where(col(OutboxPace.next_at) < now_real - 3600))
    return result.rowcount


# ---- what features and the secretary ask ----------------------------------------------------------------


async def delivered_postings(session: AsyncSession, posting_key: str) -> list[OutboxMessage]:
    result = await session.exec(
        select(OutboxMessage).where(
            OutboxMessage.posting_key == posting_key,
            OutboxMessage.kind == "send",
            col(OutboxMessage.state).in_([PENDING, SENDING, DELIVERED]),
        )
    )
    return list(result.all())


async def pending_edit(session: AsyncSession, original_id: int) -> OutboxMessage | None:
    result = await session.exec(
        select(OutboxMessage).where(
            OutboxMessage.edit_of == original_id, OutboxMessage.kind == "edit", OutboxMessage.state == PENDING
        )
    )
    return result.first()


async def cancel_posting(session: AsyncSession, posting_key: str) -> int:
    """Cancel what has not gone out yet (a scheduled announcement withdrawn)."""
    result = await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.posting_key) == posting_key, col(OutboxMessage.state) == PENDING)
        .values(state=CANCELLED, last_error="cancelled", finished_at=utcnow())
    )
    return result.rowcount


async def failures(session: AsyncSession, compound_id: int, limit: int = 20) -> list[OutboxMessage]:
    result = await session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.compound_id == compound_id, OutboxMessage.state == FAILED)
        .order_by(col(OutboxMessage.id).desc())
        .limit(limit)
    )
    return list(result.all())


async def waiting(session: AsyncSession, compound_id: int, now: datetime, limit: int = 20) -> list[OutboxMessage]:
    """Rows of a compound that are due but not out yet: being sent, or waiting for a retry or the pace."""
    result = await session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.compound_id == compound_id, col(OutboxMessage.state).in_([PENDING, SENDING]),
               col(OutboxMessage.due_at) <= now)
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    return list(result.all())


async def count_waiting(session: AsyncSession, compound_id: int, now: datetime) -> int:
    result = await session.exec(
        select(sa.func.count()).select_from(OutboxMessage)
        .where(OutboxMessage.compound_id == compound_id, col(OutboxMessage.state).in_([PENDING, SENDING]),
               col(OutboxMessage.due_at) <= now)
    )
    return int(result.one())


async def unalerted_group_failures(session: AsyncSession) -> dict[int, list[OutboxMessage]]:
    """Group postings that failed for good and were not reported yet, by compound; marked reported."""
    result = await session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.state == FAILED, OutboxMessage.chat_kind == "group",
               col(OutboxMessage.alerted).is_(False), col(OutboxMessage.compound_id).is_not(None))
        .order_by(col(OutboxMessage.id))
    )
    by_compound: dict[int, list[OutboxMessage]] = {}
    for row in result.all():
        assert row.compound_id is not None
        by_compound.setdefault(row.compound_id, []).append(row)
    ids = [row.id for rows in by_compound.values() for row in rows]
    if ids:
        await session.exec(update(OutboxMessage).where(col(OutboxMessage.id).in_(ids)).values(alerted=True))
    return by_compound


async def retry_failed(session: AsyncSession, compound_id: int, now: datetime) -> int:
    """The secretary's "try again" (the bot was re-added to the group): failed rows start over."""
    result = await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.compound_id) == compound_id, col(OutboxMessage.state) == FAILED,
               col(OutboxMessage.kind) == "send",
               sa.or_(col(OutboxMessage.expires_at).is_(None), col(OutboxMessage.expires_at) > now))
        .values(state=PENDING, attempts=0, next_attempt_at=now, claimed_by=None, finished_at=None, alerted=False)
    )
    return result.rowcount


async def move_chat(session: AsyncSession, platform: str, old_id: str, new_id: str, now: datetime) -> int:
    """A chat got a new id (a Telegram group became a supergroup): its queued messages go there instead, due at
    once. A queued edit of a message already delivered in the old chat is cancelled: that message stays behind in
    the old chat, and the same message id in the new one is somebody else's message. Returns the rows moved."""
    old_chat = sa.and_(col(OutboxMessage.platform) == platform, col(OutboxMessage.chat_id) == old_id)
    delivered_there = select(OutboxMessage.id).where(old_chat, col(OutboxMessage.state) == DELIVERED)
    await session.exec(
        update(OutboxMessage)
        .where(old_chat, col(OutboxMessage.kind) == "edit", col(OutboxMessage.state) == PENDING,
               col(OutboxMessage.edit_of).in_(delivered_there.scalar_subquery()))
        .values(state=CANCELLED, last_error="the group became a supergroup: its old messages cannot be edited",
                finished_at=now)
        .execution_options(synchronize_session=False)
    )
    result = await session.exec(
        update(OutboxMessage)
        .where(old_chat, col(OutboxMessage.state).in_([PENDING, SENDING]))
        .values(chat_id=new_id, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
