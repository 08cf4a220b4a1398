"""The outbox: every message to a group chat, and every message to someone other than the sender, is a row
here before it is sent. Rows are claimed atomically, retried with backoff, and marked delivered once."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import JSONDict, UTCDateTime, utcnow

PENDING = "pending"
SENDING = "sending"
DELIVERED = "delivered"
FAILED = "failed"
CANCELLED = "cancelled"
# A post that a WeCom staff member must confirm before it reaches residents' customer groups.
WAITING_CONFIRM = "waiting_confirm"


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


async def next_due(session: AsyncSession, now: datetime, limit: int) -> list[OutboxMessage]:
    """The oldest due row of each chat, so that one chat's messages go out in order."""
    heads = (
        select(sa.func.min(OutboxMessage.id))
        .where(col(OutboxMessage.state).in_([PENDING, SENDING]), col(OutboxMessage.due_at) <= now)
        .group_by(col(OutboxMessage.platform), col(OutboxMessage.chat_id))
    )
    query = (
        select(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(heads),
            OutboxMessage.state == PENDING,
            col(OutboxMessage.next_attempt_at) <= now,
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def claim(session: AsyncSession, row_id: int, worker: str, now: datetime) -> bool:
    result = await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == row_id, col(OutboxMessage.state) == PENDING)
        .values(state=SENDING, claimed_by=worker, claimed_at=now, attempts=OutboxMessage.attempts + 1)
    )
    return result.rowcount == 1


async def mark_delivered(session: AsyncSession, row_id: int, worker: str, message_id: str | None, now: datetime) -> bool:
    result = await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == row_id,
            col(OutboxMessage.state) == SENDING,
            col(OutboxMessage.claimed_by) == worker,
        )
        .values(state=DELIVERED, message_id=message_id, delivered_at=now, last_error="")
    )
    return result.rowcount == 1


async def mark_retry(session: AsyncSession, row_id: int, worker: str, when: datetime, error: str) -> None:
    await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == row_id, col(OutboxMessage.claimed_by) == worker, col(OutboxMessage.state) == SENDING)
        .values(state=PENDING, next_attempt_at=when, last_error=error[:500], claimed_by=None)
    )


async def mark_failed(session: AsyncSession, row_id: int, worker: str, error: str) -> None:
    await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == row_id, col(OutboxMessage.claimed_by) == worker)
        .values(state=FAILED, last_error=error[:500])
    )


async def release_stale(session: AsyncSession, now: datetime, lease: timedelta) -> int:
    """Rows left 'sending' by a process that died are retried: delivery was uncertain, losing it is worse."""
    result = await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.state) == SENDING, col(OutboxMessage.claimed_at) < now - lease)
        .values(state=PENDING, claimed_by=None, next_attempt_at=now)
    )
    return result.rowcount


async def drop_expired(session: AsyncSession, now: datetime) -> int:
    result = await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.state) == PENDING,
            col(OutboxMessage.expires_at).is_not(None),
            col(OutboxMessage.expires_at) < now,
        )
        .values(state=CANCELLED, last_error="expired before delivery")
    )
    return result.rowcount


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
        .values(state=CANCELLED, last_error="cancelled")
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
