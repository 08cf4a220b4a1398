"""What the core keeps between messages: conversation steps and drafts, processed updates (which also count each
person's messages for flood control), button tokens."""

from __future__ import annotations

import functools
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Field, SQLModel, col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import db
from storage.compounds import Chat
from storage.db import JSONDict, UTCDateTime, add_unless_exists, utcnow
from storage.people import Identity


class Conversation(SQLModel, table=True):
    """One person's open conversation in one chat: the flow, its current step and the draft so far."""

    __table_args__ = (sa.UniqueConstraint("person_id", "chat_id"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    chat_id: int = Field(foreign_key="chat.id")
    # The compound the flow was started in: every step acts there, whatever /compound chose since.
    compound_id: int | None = Field(default=None, foreign_key="compound.id")
    # A fresh key per started conversation: step buttons carry it, so a button from an older one is stale.
    key: str = Field(max_length=24)
    flow: str = Field(max_length=40)
    step: str = Field(max_length=40)
    draft: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDict)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # The platform's id of the message asking the current step (where the platform edits messages): a typed
    # answer retires that message's buttons (`remember_message`).
    message_id: str | None = Field(default=None, max_length=128)


class ProcessedUpdate(SQLModel, table=True):
    """Platforms redeliver updates; a repeated (platform, update id) is ignored."""

    # Flood control counts a person's updates of the last minute with this index (see `sent_since`).
    __table_args__ = (sa.Index("ix_processedupdate_person_recent", "person_id", "processed_at"),)
    platform: str = Field(max_length=16, primary_key=True)
    update_id: str = Field(max_length=128, primary_key=True)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # What the bot answered ({"messages": [payload, ...]}), kept for an hour: a platform repeats an update it
    # never saw acknowledged, and the process that answered it may have died before sending the answer.
    answer: dict[str, Any] | None = Field(default=None, sa_type=JSONDict)
    # Who sent it, for flood control's count (None for chat events, which it does not count). Not a foreign key:
    # bookkeeping like the update id, pruned with the row after a week.
    person_id: int | None = Field(default=None)


LABEL_LIMIT = 64  # characters of a choice button's label that are kept


class ButtonSet(SQLModel, table=True):
    """What the buttons of one message mean, kept on the server; the platform only carries a button's token: the
    set's key and the button's place in it (`ButtonSets.add`). Buttons of one message that differ in who may press
    them, their conversation step or their lifetime are kept in sets of their own."""

    __tablename__ = "buttonset"
    # Only step buttons have a conversation: the index leaves out the menus' (most sets), which never look it up.
    __table_args__ = (sa.Index("ix_buttonset_conversation_key", "conversation_key",
                               sqlite_where=sa.text("conversation_key IS NOT NULL"),
                               postgresql_where=sa.text("conversation_key IS NOT NULL")),)
    key: str = Field(max_length=16, primary_key=True)
    # Each button's meaning by its place (one character): {"action": ..., "args": {...}, "label": ...}.
    buttons: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDict)
    # Only this person may press them (None: anyone in the chat, roles still checked on press).
    person_id: int | None = Field(default=None, foreign_key="person.id")
    compound_id: int | None = Field(default=None, foreign_key="compound.id")
    # Step buttons belong to one conversation and one step of it.
    conversation_key: str | None = Field(default=None, max_length=24)
    step: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


TOKEN_LIMIT = 24  # characters of a button token (a set's key and its button's place)


@dataclass(frozen=True)
class ButtonToken:
    """One button's meaning, as a press finds it."""

    token: str
    action: str
    args: dict[str, Any]
    person_id: int | None
    compound_id: int | None
    conversation_key: str | None
    step: str | None
    label: str | None
    expires_at: datetime | None


class ButtonSets:
    """The button sets of one message, made as its buttons are rendered and inserted in one go (`rows`)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._open: dict[tuple[Any, ...], dict[str, Any]] = {}

    def add(self, action: str, args: dict[str, Any], *, person_id: int | None, compound_id: int | None,
            created_at: datetime, expires_at: datetime | None, conversation_key: str | None = None,
            step: str | None = None, label: str | None = None) -> str:
        """Keep a button's meaning; its token."""
        kept = (person_id, compound_id, conversation_key, step, expires_at)
        row = self._open.get(kept)
        if row is None or len(row["buttons"]) == len(_SORTED_DIGITS):
            row = self._open[kept] = {
                "key": new_set_key(), "buttons": {}, "person_id": person_id, "compound_id": compound_id,
                "conversation_key": conversation_key, "step": step, "created_at": created_at,
                "expires_at": expires_at}
            self.rows.append(row)
        place = _SORTED_DIGITS[len(row["buttons"])]
        meaning: dict[str, Any] = {"action": action, "args": args}
        if label is not None:
            meaning["label"] = label
        row["buttons"][place] = meaning
        return row["key"] + place


def _meaning(row: ButtonSet, place: str) -> ButtonToken | None:
    meaning = row.buttons.get(place)
    if not isinstance(meaning, dict):
        return None
    return ButtonToken(row.key + place, str(meaning.get("action", "")), dict(meaning.get("args") or {}),
                       row.person_id, row.compound_id, row.conversation_key, row.step, meaning.get("label"),
                       row.expires_at)


class ParkedPress(SQLModel, table=True):
    """A press answered only in the person's private chat, on a channel whose bot cannot write first (WeCom's HTTP
    callback): it waits here for the person's next private message, whichever process receives it."""

    __tablename__ = "parked_press"
    platform: str = Field(max_length=16, primary_key=True)
    user_id: str = Field(max_length=128, primary_key=True)
    token: str = Field(max_length=TOKEN_LIMIT)
    parked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def new_key() -> str:
    return secrets.token_urlsafe(9)


# Base 64 in ASCII order, so that the text sorts as the number does.
_SORTED_DIGITS = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


def new_set_key() -> str:
    """A button set's key: 64 bits of randomness in 11 characters (unguessable; with the button's place, far below
    Telegram's 64-byte callback limit) after 5 characters of the moment it was made: sets made one after another
    sort next to each other, so inserting one touches the last page of the key's index, not a random page (when a
    message's buttons had a row each, half the pages a /start's commit wrote to the log: 48 → 27 KiB with 200,000
    stored, `bench.tokens`)."""
    moment = time.monotonic_ns() >> 22  # 4 ms steps; wraps every seven weeks, which only breaks the order once
    return _prefix(moment & (64**5 - 1)) + secrets.token_urlsafe(8)


@functools.lru_cache(maxsize=4)  # a message's sets share their moment
def _prefix(moment: int) -> str:
    return "".join(_SORTED_DIGITS[(moment >> shift) & 63] for shift in (24, 18, 12, 6, 0))


# How long an answer is kept to be sent again (platforms repeat an unacknowledged update within minutes).
ANSWER_KEPT = timedelta(hours=1)
# On the table, not the model: an ORM insert would not report its row count.
_PROCESSED: sa.Table = ProcessedUpdate.__table__  # type: ignore[attr-defined]
_CLAIM_SQLITE = sqlite_dialect.insert(_PROCESSED).on_conflict_do_nothing()
_CLAIM_POSTGRESQL = postgresql_dialect.insert(_PROCESSED).on_conflict_do_nothing()


async def claim_update(session: AsyncSession, platform: str, update_id: str, now: datetime,
                       answer: dict[str, Any] | None = None, person_id: int | None = None) -> bool:
    """True the first time an update is seen; the insert is the claim, so two processes cannot both win. With
    `person_id`, the claim also counts as one of that person's messages for flood control (`sent_since`)."""
    values: dict[str, Any] = {"platform": platform, "update_id": update_id, "processed_at": now, "answer": answer,
                              "person_id": person_id}
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        # One statement instead of SAVEPOINT + INSERT + RELEASE: this runs for every incoming message.
        claim = _CLAIM_SQLITE if dialect == "sqlite" else _CLAIM_POSTGRESQL
        result = await session.exec(claim, params=values)
        return bool(result.rowcount == 1)
    return await add_unless_exists(session, ProcessedUpdate(**values))


# Flood control's window: a person's messages are counted over the last minute.
FLOOD_WINDOW = timedelta(minutes=1)


def sent_since(person_id: Any) -> Any:
    """How many updates of `person_id` (a value, or a column of the enclosing query such as `Identity.person_id`)
    were claimed after the bind parameter `since`: flood control's count, as a scalar subquery, so that it is
    read with the sender in one statement. Every update a person sends is claimed in its own transaction, by
    whichever process handles it, so the count is the same for all processes; a repeated update is not counted
    again (its claim fails and its transaction is rolled back)."""
    return (
        select(sa.func.count()).select_from(ProcessedUpdate)
        .where(ProcessedUpdate.person_id == person_id,
               col(ProcessedUpdate.processed_at) > sa.bindparam("since", type_=UTCDateTime))
        .scalar_subquery()
    )


async def earlier_answer(session: AsyncSession, platform: str, update_id: str,
                         since: datetime) -> list[dict[str, Any]]:
    """The messages answered to an update processed after `since` (none if older, or forgotten)."""
    row = await session.get(ProcessedUpdate, (platform, update_id))
    if row is None or row.processed_at < since or not row.answer:
        return []
    return list(row.answer.get("messages", []))


# Built once: these run for every message, and building a statement costs more than running it.
_CONVERSATION = select(Conversation).where(Conversation.person_id == sa.bindparam("person_id"),
                                          Conversation.chat_id == sa.bindparam("chat_id"))
_CONVERSATION_LOCKED = _CONVERSATION.with_for_update()


# Read on a message whose chat the joined read (storage/intake.py) did not find, and by PostgreSQL's lock.
_LOAD = {False: db.Prepared(_CONVERSATION, Conversation), True: db.Prepared(_CONVERSATION_LOCKED, Conversation)}


async def load_conversation(
    session: AsyncSession, person_id: int, chat_id: int, lock: bool = False
) -> Conversation | None:
    found = await _LOAD[lock].objects(session, person_id=person_id, chat_id=chat_id)
    return found[0] if found else None


_CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
# A flow's every message moves its conversation on: one fixed statement, not the ORM's flush of the row.
_MOVE_ON = db.Prepared(sa.update(_CONVERSATIONS).where(_CONVERSATIONS.c.id == sa.bindparam("row_id")).values(
    key=sa.bindparam("key"), flow=sa.bindparam("flow"), step=sa.bindparam("step"), draft=sa.bindparam("draft"),
    compound_id=sa.bindparam("compound_id"), updated_at=sa.bindparam("updated_at")))
_END = db.Prepared(sa.delete(_CONVERSATIONS).where(_CONVERSATIONS.c.id == sa.bindparam("row_id")))


async def move_on(session: AsyncSession, row: Conversation, *, key: str, flow: str, step: str,
                  draft: dict[str, Any], compound_id: int | None, now: datetime) -> None:
    """Store where a conversation has got to (and that it is alive: `updated_at`); the row object says the same
    afterwards, with nothing left for the ORM to write."""
    values: dict[str, Any] = {"key": key, "flow": flow, "step": step, "draft": dict(draft),
                              "compound_id": compound_id, "updated_at": now}
    await _MOVE_ON.run(session, row_id=row.id, **values)
    for name, value in values.items():
        set_committed_value(row, name, value)


async def end_conversation(session: AsyncSession, row: Conversation) -> None:
    """Delete a finished or abandoned conversation."""
    await _END.run(session, row_id=row.id)
    session.expunge(row)


async def open_for(session: AsyncSession, person_id: int, flow: str, step: str, draft: dict[str, Any],
                   compound_id: int | None, now: datetime, idle_before: datetime) -> bool:
    """Open a conversation for another person (a question asked on someone's behalf, such as a handler's 请补充 to
    the reporter) in the private chat their messages go to, so their next answer there is read by `flow`. Only
    if they have none open in that chat (one last touched before `idle_before` has expired, and an older question
    of the same flow is superseded: both are replaced).
    False when not opened: no private chat yet, or busy with something else."""
    chat_id = (await session.exec(
        select(Chat.id).join(Identity, sa.and_(col(Identity.platform) == Chat.platform,
                                               col(Identity.private_chat_id) == Chat.platform_chat_id))
        .where(Identity.person_id == person_id)
        .order_by(col(Identity.unreachable), col(Identity.last_seen_at).desc()))).first()
    if chat_id is None:
        return False
    existing = await load_conversation(session, person_id, chat_id)
    if existing is not None:
        # A newer question of the same kind replaces an unanswered older one (whose buttons still work).
        if existing.updated_at >= idle_before and existing.flow != flow:
            return False
        await session.delete(existing)
        await session.flush()
    session.add(Conversation(person_id=person_id, chat_id=chat_id, key=new_key(), flow=flow, step=step, draft=draft,
                             compound_id=compound_id, started_at=now, updated_at=now))
    return True


async def remember_message(session: AsyncSession, key: str, step: str, message_id: str) -> None:
    """The message asking `step` of the conversation `key` got this platform id (reported after it was sent)."""
    await session.exec(update(Conversation).where(col(Conversation.key) == key, col(Conversation.step) == step)
                       .values(message_id=message_id[:128]))


async def get_token(session: AsyncSession, token: str) -> ButtonToken | None:
    """The meaning of the button whose token a press carried (None: unknown, or its set was pruned)."""
    if not 2 <= len(token) <= TOKEN_LIMIT:
        return None
    row = await db.get(session, ButtonSet, token[:-1])
    return _meaning(row, token[-1]) if row is not None else None


def label_key(text: str) -> str:
    """What must match between a typed answer and a button's label: letters and digits, case folded (so "同意"
    matches "✅ 同意", and "yes" matches "Yes")."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


async def typed_choice(session: AsyncSession, person_id: int, conversation_key: str, step: str,
                       text: str) -> ButtonToken | None:
    """The choice button of this person's conversation step whose label they typed instead of pressing it."""
    typed = label_key(text)
    if not typed or len(typed) > LABEL_LIMIT:  # no kept label is that long: a free-text answer, no query
        return None
    sets = (await session.exec(
        select(ButtonSet).where(ButtonSet.conversation_key == conversation_key, ButtonSet.step == step,
                                ButtonSet.person_id == person_id)
        .order_by(col(ButtonSet.created_at).desc()))).all()
    for row in sets:
        for place, meaning in row.buttons.items():
            if isinstance(meaning, dict) and label_key(str(meaning.get("label") or "")) == typed:
                return _meaning(row, place)
    return None


async def handled(session: AsyncSession, platform: str, update_id: str) -> bool:
    """Whether the core has handled this update (in any process): a transport refuses a replay before handling."""
    return await session.get(ProcessedUpdate, (platform, update_id)) is not None


async def park_press(session: AsyncSession, platform: str, user_id: str, token: str, now: datetime) -> None:
    """The press waits for the person's private chat; a later one replaces it (the person's last wish)."""
    row = await session.get(ParkedPress, (platform, user_id), with_for_update=True)
    if row is None:
        row = ParkedPress(platform=platform, user_id=user_id, token=token)
    row.token, row.parked_at = token, now
    session.add(row)


async def take_parked_press(session: AsyncSession, platform: str, user_id: str) -> str | None:
    """The press waiting for this person's private chat, taken once: of two processes that get their messages at
    the same moment, only one deletes the row and gets the token."""
    row = await session.get(ParkedPress, (platform, user_id))
    if row is None:
        return None
    taken = await session.exec(delete(ParkedPress).where(col(ParkedPress.platform) == platform,
                                                         col(ParkedPress.user_id) == user_id,
                                                         col(ParkedPress.token) == row.token))
    return row.token if taken.rowcount == 1 else None


async def prune(session: AsyncSession, now: datetime, keep_updates: timedelta = timedelta(days=7)) -> None:
    """Forget old update ids and expired buttons; both tables would otherwise grow forever."""
    await session.exec(delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < now - keep_updates))
    await session.exec(
        sa.update(_PROCESSED).where(_PROCESSED.c.processed_at < now - ANSWER_KEPT,
                                    _PROCESSED.c.processed_at >= now - ANSWER_KEPT - timedelta(days=1))
        .values(answer=sa.null()))
    await session.exec(delete(ButtonSet).where(col(ButtonSet.expires_at) < now))
    set_key = sa.func.substr(ParkedPress.token, 1, sa.func.length(ParkedPress.token) - 1)
    await session.exec(delete(ParkedPress).where(set_key.not_in(select(ButtonSet.key))))
