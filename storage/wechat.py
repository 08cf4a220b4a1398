"""WeChat residents one-to-one through 微信客服 (WeCom's customer-service API, path/94670): what must outlive a
process. The pull cursor of each customer-service account (and the latest callback token), each resident's reply
window (the platform lets us send at most 5 messages within 48 hours of the resident's last message; the outbox
claims a row for such a chat only while its window has room, `claimable_windows`), the hand-over of a
conversation to a person (人工), and one-time codes that link a WeChat account to a person who joined on another
platform.

A resident is known by their `external_userid`, the id WeCom customer groups use for the same WeChat user: every
identity keyed by it is on the platform `PLATFORM`, whichever way it arrived, so one person stays one person."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.conversations import ProcessedUpdate
from storage.db import UTCDateTime, utcnow
from storage.outbox import DELIVERED, PENDING, SENDING, OutboxMessage
from storage.people import Identity, Membership, Person, Role, RoleGrant

PLATFORM = "wechat"
WINDOW = timedelta(hours=48)
BUDGET = 5
LINK_CODE_TTL = timedelta(minutes=15)
LINK_CODE_DIGITS = 6


class KfCursor(SQLModel, table=True):
    """Where the pull of one customer-service account stands (`next_cursor`), and the latest callback's token
    (valid 10 minutes): any process may receive the callback, the one leading the pull reads it here."""

    __tablename__ = "wechat_kf_cursor"
    open_kfid: str = Field(max_length=64, primary_key=True)
    cursor: str = Field(default="", max_length=256)
    token: str = Field(default="", max_length=256)
    token_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The token the last finished pull used: another token means messages are waiting.
    pulled_token: str = Field(default="", max_length=256)


class ReplyWindow(SQLModel, table=True):
    """A resident's window: when they last wrote and how many messages we sent since. `held`: notices were kept
    while the window was closed and the resident was told (您有 N 条新通知); they go out when the resident asks.
    `handed_over`: a person (人工) is serving the conversation; the bot is silent until it comes back."""

    __tablename__ = "wechat_reply_window"
    platform: str = Field(max_length=16, primary_key=True)
    chat_id: str = Field(max_length=128, primary_key=True)
    open_kfid: str = Field(default="", max_length=64)
    last_inbound_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent: int = 0
    held: bool = False
    handed_over: bool = False
    servicer: str = Field(default="", max_length=64)


class LinkCode(SQLModel, table=True):
    """A one-time code (/link on one platform, /link CODE on the other) joining two accounts into one person."""

    __tablename__ = "wechat_link_code"
    code: str = Field(max_length=12, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# ---- the cursor and the token ----------------------------------------------------------------------------


async def note_token(session: AsyncSession, open_kfid: str, token: str, now: datetime) -> None:
    row = await session.get(KfCursor, open_kfid, with_for_update=True)
    if row is None:
        row = KfCursor(open_kfid=open_kfid)
    row.token, row.token_at = token[:256], now
    session.add(row)


async def waiting_pull(session: AsyncSession, open_kfid: str, now: datetime,
                       token_ttl: timedelta = timedelta(minutes=10)) -> tuple[str, str, datetime] | None:
    """(cursor, token, token_at) when a callback's token other than the last pull's is still valid; else None."""
    row = await session.get(KfCursor, open_kfid)
    if row is None or row.token_at is None or not row.token or row.token_at + token_ttl < now:
        return None
    if row.pulled_token == row.token:
        return None
    return row.cursor, row.token, row.token_at


async def cursor_of(session: AsyncSession, open_kfid: str) -> str:
    row = await session.get(KfCursor, open_kfid)
    return row.cursor if row is not None else ""


async def save_cursor(session: AsyncSession, open_kfid: str, cursor: str, pulled_token: str | None = None) -> None:
    """After a page: the next cursor, and with the last page the token whose messages are all taken."""
    row = await session.get(KfCursor, open_kfid, with_for_update=True)
    if row is None:
        row = KfCursor(open_kfid=open_kfid)
    row.cursor = cursor[:256]
    if pulled_token is not None:
        row.pulled_token = pulled_token[:256]
    session.add(row)


async def handled(session: AsyncSession, platform: str, msgid: str) -> bool:
    """Whether the core has claimed this message already (a page pulled again after a restart)."""
    return await session.get(ProcessedUpdate, (platform, msgid)) is not None


# ---- the reply window ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inbound:
    """A resident's message as the window sees it: whether a person serves the conversation, and how many notices
    wait that nobody has told them about yet (`backlog`, 0 when they were told already)."""

    handed_over: bool
    backlog: int
    held: bool


def _window_open(now: datetime, window: timedelta, budget: int) -> Any:
    return sa.and_(col(ReplyWindow.last_inbound_at) >= now - window, col(ReplyWindow.sent) < budget,
                   col(ReplyWindow.held).is_(False), col(ReplyWindow.handed_over).is_(False))


def claimable_windows(platforms: dict[str, tuple[timedelta, int]], now: datetime) -> Any:
    """The outbox's condition for rows of platforms that allow sending only within a window after the person's
    last message (`platforms`: each one's window and message budget): such a row may be claimed only while its
    chat's window is open, has room, holds no told-about backlog and no person serves the chat."""
    conditions = []
    for platform, (window, budget) in platforms.items():
        open_here = (select(ReplyWindow.chat_id)
                     .where(col(ReplyWindow.platform) == platform, _window_open(now, window, budget)))
        conditions.append(sa.and_(col(OutboxMessage.platform) == platform,
                                  col(OutboxMessage.chat_id).in_(open_here.scalar_subquery())))
    windowed = [platform for platform in platforms]
    return sa.or_(col(OutboxMessage.platform).not_in(windowed), *conditions)


async def _backlog(session: AsyncSession, platform: str, chat_id: str, now: datetime) -> int:
    found = await session.exec(
        select(sa.func.count()).select_from(OutboxMessage)
        .where(OutboxMessage.platform == platform, OutboxMessage.chat_id == chat_id,
               col(OutboxMessage.state).in_([PENDING, SENDING]), col(OutboxMessage.due_at) <= now))
    return int(found.one())


async def resident_wrote(session: AsyncSession, platform: str, chat_id: str, open_kfid: str,
                         now: datetime) -> Inbound:
    """The resident wrote: a new window with a full budget. Notices that waited (their window was closed or
    spent) are counted once, for the digest; they stay held until the resident asks for them (`release`)."""
    row = await session.get(ReplyWindow, (platform, chat_id), with_for_update=True)
    fresh = row is None
    if row is None:
        row = ReplyWindow(platform=platform, chat_id=chat_id, open_kfid=open_kfid, last_inbound_at=now)
    backlog = 0 if fresh or row.held else await _backlog(session, platform, chat_id, now)
    row.last_inbound_at, row.sent = now, 0
    row.open_kfid = open_kfid or row.open_kfid
    if backlog:
        row.held = True
    session.add(row)
    return Inbound(row.handed_over, backlog, row.held)


async def release(session: AsyncSession, platform: str, chat_id: str) -> int:
    """The resident asked for the held notices: the outbox may send them (in order, within the budget)."""
    result = await session.exec(update(ReplyWindow)
                                .where(col(ReplyWindow.platform) == platform, col(ReplyWindow.chat_id) == chat_id)
                                .values(held=False))
    return int(result.rowcount)


async def waiting_count(session: AsyncSession, platform: str, chat_id: str, now: datetime) -> int:
    return await _backlog(session, platform, chat_id, now)


async def spend(session: AsyncSession, platform: str, chat_id: str, wanted: int, now: datetime,
                window: timedelta = WINDOW, budget: int = BUDGET) -> int:
    """Take up to `wanted` sends from the chat's budget; returns how many may go (0 outside the window, or while
    a person serves the chat). Read and written under the row's lock, so two processes never overspend."""
    row = await session.get(ReplyWindow, (platform, chat_id), with_for_update=True)
    if row is None or row.handed_over or row.last_inbound_at < now - window:
        return 0
    allowed = max(0, min(wanted, budget - row.sent))
    if allowed:
        row.sent += allowed
        session.add(row)
    return allowed


async def refund(session: AsyncSession, platform: str, chat_id: str, count: int) -> None:
    """Sends taken but not made (the request failed before the platform took it)."""
    if count > 0:
        await session.exec(update(ReplyWindow)
                           .where(col(ReplyWindow.platform) == platform, col(ReplyWindow.chat_id) == chat_id,
                                  col(ReplyWindow.sent) >= count)
                           .values(sent=col(ReplyWindow.sent) - count))


async def close_window(session: AsyncSession, platform: str, chat_id: str, budget: int = BUDGET) -> None:
    """The platform says the window is over (its answer, or a msg_send_fail): nothing more until they write."""
    await session.exec(update(ReplyWindow)
                       .where(col(ReplyWindow.platform) == platform, col(ReplyWindow.chat_id) == chat_id)
                       .values(sent=budget))


async def window_of(session: AsyncSession, platform: str, chat_id: str) -> ReplyWindow | None:
    return await session.get(ReplyWindow, (platform, chat_id))


async def resend_failed(session: AsyncSession, platform: str, chat_id: str, message_id: str, now: datetime) -> bool:
    """The platform took a message and then failed to deliver it (msg_send_fail, its window over): the outbox row
    that carried it is sent again, first in its chat, when the window opens. False when it was no outbox row."""
    result = await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.platform) == platform, col(OutboxMessage.chat_id) == chat_id,
               col(OutboxMessage.message_id) == message_id, col(OutboxMessage.state) == DELIVERED)
        .values(state=PENDING, delivered_at=None, next_attempt_at=now, claimed_by=None, parts_sent=0,
                last_error="the platform could not deliver it: sent again when the window opens"))
    return bool(result.rowcount)


async def hand_over(session: AsyncSession, platform: str, chat_id: str, servicer: str) -> None:
    await session.exec(update(ReplyWindow)
                       .where(col(ReplyWindow.platform) == platform, col(ReplyWindow.chat_id) == chat_id)
                       .values(handed_over=True, servicer=servicer[:64]))


async def hand_back(session: AsyncSession, platform: str, chat_id: str) -> bool:
    result = await session.exec(update(ReplyWindow)
                                .where(col(ReplyWindow.platform) == platform, col(ReplyWindow.chat_id) == chat_id,
                                       col(ReplyWindow.handed_over).is_(True))
                                .values(handed_over=False, servicer=""))
    return bool(result.rowcount)


async def person_of(session: AsyncSession, platform: str, user_id: str) -> Person | None:
    """The person behind an account (for the language of what the transport itself says)."""
    found = await session.exec(select(Person).join(Identity, col(Identity.person_id) == Person.id)
                               .where(Identity.platform == platform, Identity.platform_user_id == user_id))
    return found.first()


async def unnamed(session: AsyncSession, platform: str, user_ids: list[str]) -> list[str]:
    """Of these accounts, the ones whose person has no name yet (new ones included): their WeChat nickname is
    fetched (kf/customer/batchget) so that a secretary asked to approve them sees a name."""
    wanted = set(user_ids)
    if not wanted:
        return []
    found = await session.exec(select(Identity.platform_user_id, Person.name)
                               .join(Person, col(Person.id) == Identity.person_id)
                               .where(Identity.platform == platform, col(Identity.platform_user_id).in_(wanted)))
    return sorted(wanted - {user for user, name in found.all() if name})


async def servicers(session: AsyncSession, platform: str, chat_id: str, staff_platform: str) -> list[str]:
    """Who serves a resident who asks for a person: the staff of the compound they act in (secretaries first, then
    committee members, property staff) who use WeCom (`staff_platform`), by their WeCom userid."""
    person_id = (await session.exec(select(Identity.person_id).where(
        Identity.platform == platform, Identity.platform_user_id == chat_id))).first()
    if person_id is None:
        return []
    person = await session.get(Person, person_id)
    compound_id = person.current_compound_id if person is not None else None
    if compound_id is None:
        compound_id = (await session.exec(select(Membership.compound_id).where(
            Membership.person_id == person_id))).first()
    if compound_id is None:
        return []
    order = {Role.SECRETARY.value: 0, Role.COMMITTEE.value: 1, Role.PROPERTY.value: 2}
    found = await session.exec(
        select(RoleGrant.role, Identity.platform_user_id)
        .join(Identity, col(Identity.person_id) == RoleGrant.person_id)
        .where(RoleGrant.compound_id == compound_id, col(RoleGrant.revoked_at).is_(None),
               col(RoleGrant.role).in_(list(order)), Identity.platform == staff_platform)
        .order_by(col(RoleGrant.id)))
    ranked = sorted(found.all(), key=lambda pair: order.get(pair[0], 9))
    return list(dict.fromkeys(userid for _, userid in ranked))


# ---- linking accounts ------------------------------------------------------------------------------------


async def issue_link_code(session: AsyncSession, person_id: int, now: datetime) -> str:
    """A fresh one-time code for this person (an older unused one stops working)."""
    await session.exec(update(LinkCode)
                       .where(col(LinkCode.person_id) == person_id, col(LinkCode.used_at).is_(None))
                       .values(used_at=now))
    for _ in range(10):
        code = "".join(secrets.choice("0123456789") for _ in range(LINK_CODE_DIGITS))
        if await session.get(LinkCode, code) is None:
            session.add(LinkCode(code=code, person_id=person_id, created_at=now, expires_at=now + LINK_CODE_TTL))
            return code
    raise RuntimeError("no free link code")


class Linked(StrEnum):
    LINKED = "linked"
    SAME = "same"  # both accounts are this person's already
    UNKNOWN = "unknown"  # no such code, used, or expired
    BUSY = "busy"  # the account asking has joined a compound or holds roles of its own: linking would lose them


async def redeem_link_code(session: AsyncSession, code: str, platform: str, user_id: str, now: datetime) -> Linked:
    """The account (`platform`, `user_id`) becomes one more account of the code's person. Refused when the asking
    account's own person has joined or holds roles (those would be orphaned): that person links the other way."""
    row = await session.get(LinkCode, code.strip()[:12], with_for_update=True)
    if row is None or row.used_at is not None or row.expires_at < now:
        return Linked.UNKNOWN
    identity = (await session.exec(select(Identity).where(Identity.platform == platform,
                                                          Identity.platform_user_id == user_id))).first()
    if identity is None:
        return Linked.UNKNOWN
    if identity.person_id == row.person_id:
        return Linked.SAME
    joined = (await session.exec(select(Membership.id).where(Membership.person_id == identity.person_id))).first()
    granted = (await session.exec(select(RoleGrant.id).where(RoleGrant.person_id == identity.person_id,
                                                             col(RoleGrant.revoked_at).is_(None)))).first()
    if joined is not None or granted is not None:
        return Linked.BUSY
    # Other accounts of the same platform stay where they are: one identity per platform and person is the rule
    # only for this account, which moves.
    identity.person_id = row.person_id
    session.add(identity)
    row.used_at = now
    session.add(row)
    return Linked.LINKED
