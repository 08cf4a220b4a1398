"""The core: turns one `Incoming` into replies. Everything a conversation needs between messages is in the
database, inside the same transaction as the handler's own writes, so `kill -9` loses nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.clock import Clock
from bot.core.context import Context, Convo, JobContext
from bot.core.fallback import fit_capabilities
from bot.core.flows import ABANDON_ACTION, RESUME_ACTION, title_of
from bot.core.i18n import N_, Catalogs, Translator, normalize_language
from bot.core.menus import ChatMenu
from bot.core.menus import menus as chat_menus
from bot.core.router import Route, Router, Routes
from bot.core.types import (
    Button,
    Capabilities,
    Incoming,
    OutButton,
    OutMessage,
    Replies,
    Reply,
    Target,
    ToChat,
    ToPerson,
)
from bot.settings import Settings
from storage import db, intake
from storage import outbox as outbox_store
from storage.compounds import Chat, Compound, chat_secrets, group_chats
from storage.conversations import (
    ANSWER_KEPT,
    FLOOD_WINDOW,
    LABEL_LIMIT,
    ButtonSet,
    ButtonSets,
    Conversation,
    claim_update,
    earlier_answer,
    end_conversation,
    get_token,
    handled,
    label_key,
    load_conversation,
    move_on,
    park_press,
    remember_message,
    sent_since,
    take_parked_press,
    typed_choice,
)
from storage.db import ORM_ONLY, Prepared, PreparedInsert, is_sqlite, make_sessionmaker, transaction
from storage.intake import mark_seen, seen_is_stale
from storage.notifications import (
    OPTIONAL_KINDS,
    Known,
    Notice,
    NoticeKind,
    Urgency,
    decide,
    known_of,
    log_known,
    recipient_compound,
)
from storage.people import Identity, Person, Role, compounds_of, roles_changed, roles_in
from storage.schedule import claim_job, last_runs

log = logging.getLogger(__name__)

# Internal button actions: a step answer, and a command continued in a private chat.
STEP_ACTION = "~step"
COMMAND_ACTION = "~command"

ROLE_NAMES = {
    Role.RESIDENT: N_("resident"),
    Role.OWNER: N_("owner"),
    Role.BUILDING_LEADER: N_("building leader"),
    Role.PARTY_MEMBER: N_("party member"),
    Role.SECRETARY: N_("secretary"),
    Role.COMMITTEE: N_("committee member"),
    Role.PROPERTY: N_("property staff"),
    Role.OFFICIAL: N_("official"),
    Role.SUPERVISOR: N_("supervisor"),
    Role.MEDIATOR: N_("mediator"),
}


# Built once, as they run for every message and building a statement costs more than running it: the sender's
# identity, person and the compound they act in (one round trip), and the chat.
_SENDER = (
    select(Identity, Person, Compound).join(Person, col(Person.id) == Identity.person_id)
    .outerjoin(Compound, col(Compound.id) == Person.current_compound_id)
    .where(Identity.platform == sa.bindparam("platform"), Identity.platform_user_id == sa.bindparam("user_id"))
)
# With flood control on, the same read also counts the person's messages of the last minute (`sent_since`).
_SENDER_COUNTED: Any = _SENDER.add_columns(sent_since(Identity.person_id))
_CHAT = Prepared(select(Chat).where(Chat.platform == sa.bindparam("platform"),
                                       Chat.platform_chat_id == sa.bindparam("chat_id")), Chat)


class _Repeated(Exception):
    """The update was processed before: roll back what handling it again did."""


def role_name(t: Translator, role: Role) -> str:
    return t(ROLE_NAMES[role])


def any_of(t: Translator, names: list[str]) -> str:
    """One of several, listed as the reader's language does: 支部书记、楼栋长或业委会委员; "a secretary, a building
    leader or a committee member" (English needs the article; property staff are a group, not one person)."""
    if t.language == "en":
        names = [name if name.endswith("staff") else f"{'an' if name[:1] in 'aeiou' else 'a'} {name}" for name in names]
    if len(names) < 2:
        return "".join(names)
    return t("{items} or {last}", items=t(", ").join(names[:-1]), last=names[-1])


class Core:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        routers: Iterable[Router],
        clock: Clock | None = None,
        catalogs: Catalogs | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions = make_sessionmaker(engine)
        self.routes = Routes.join(routers)
        self.clock = clock or Clock()
        self.catalogs = catalogs or Catalogs()
        # Told when new outbox rows exist, so delivery starts at once instead of at the next tick.
        self.on_outbox: Callable[[], None] = lambda: None
        # Told after a commit that changed people's roles (their ids): a transport sets their command menus.
        self.on_roles_changed: list[Callable[[frozenset[int]], Awaitable[None]]] = []
        self._told: set[asyncio.Task[None]] = set()
        # Transports that can fetch a photo's bytes, by platform.
        self.file_fetchers: dict[str, Callable[[str], Awaitable[bytes]]] = {}
        self.bot_usernames: dict[str, str] = {}
        # What each platform's transport can show (`Transport.caps`): the core chooses the fallback for what it
        # cannot (bot/core/fallback.py), in direct answers here and in the outbox.
        self.capabilities: dict[str, Capabilities] = {}
        # The fixed per-message statements in plain SQL on the session's connection (storage/intake.py, and the
        # fixed queries of storage.db.Prepared); False runs
        # them through the ORM, which tests compare it with.
        self.intake = True

    # ---- intake -------------------------------------------------------------------------------------

    async def handle(self, incoming: Incoming) -> list[OutMessage]:
        """Process one update; returns what to send back into the same chat right away."""
        now = self.clock.now()
        enqueued = False
        changed: frozenset[int] = frozenset()
        try:
            for attempt in range(3):
                try:
                    async with transaction(self.sessions) as session:
                        if not self.intake:
                            session.info[ORM_ONLY] = True
                        messages, enqueued, sender = await self._handle(session, incoming, now)
                        changed = roles_changed(session)
                        # The claim comes last and carries the answer: a repeat of this update (the platform
                        # saw no acknowledgement, perhaps because this process died before sending) gets the
                        # same answer again instead of none, and the handler's work is undone. It also counts
                        # as one of the sender's messages for flood control, dropped ones included.
                        answer = {"messages": [m.to_payload() for m in messages]}
                        claim = intake.claim if self.intake else claim_update
                        if not await claim(session, incoming.platform, incoming.update_id, now, answer, sender):
                            raise _Repeated
                    break
                except _Repeated:
                    return self.fitted(incoming.platform, await self._earlier_answer(incoming, now))
                except (IntegrityError, OperationalError):
                    # Another process created the same person or chat at the same moment, or the database
                    # asked us to retry: everything was rolled back, so doing it again is safe.
                    if attempt == 2:
                        raise
                    log.info("retrying update %s after a conflict", incoming.update_id)
        except Exception:
            log.exception("handling %s update %s failed", incoming.platform, incoming.update_id)
            t = await self._fallback_translator(incoming)
            return [
                OutMessage(
                    t(
                        "Sorry, something went wrong on our side. What you entered before this message is kept; "
                        "please send it again in a moment."
                    )
                )
            ]
        if enqueued:
            self.on_outbox()
        if changed:
            self.roles_changed(changed)
        return self.fitted(incoming.platform, messages)

    def roles_changed(self, people: frozenset[int]) -> None:
        """After the commit: each hook runs on its own (a platform call must not hold up the answer)."""
        for hook in self.on_roles_changed:
            task = asyncio.create_task(self._tell(hook, people))
            self._told.add(task)
            task.add_done_callback(self._told.discard)

    @staticmethod
    async def _tell(hook: Callable[[frozenset[int]], Awaitable[None]], people: frozenset[int]) -> None:
        try:
            await hook(people)
        except Exception:  # a menu left as it was; the next start sets it again
            log.exception("telling a transport of changed roles failed")

    async def command_menus(self, platform: str, people: Iterable[int] | None = None) -> list[ChatMenu]:
        """The private chats' command menus of these people (everyone who is or was staff with None), for a
        transport that sets menus per chat (bot/core/menus.py)."""
        async with self.sessions() as session:
            return await chat_menus(session, self.routes, platform, people,
                                    lambda person: self.catalogs.translator(self.language_of(person)))

    def fitted(self, platform: str, messages: list[OutMessage]) -> list[OutMessage]:
        """Messages as the platform can show them (its declared capabilities; as they are for one not declared)."""
        caps = self.capabilities.get(platform)
        return messages if caps is None else [fit_capabilities(message, caps) for message in messages]

    async def _earlier_answer(self, incoming: Incoming, now: datetime) -> list[OutMessage]:
        async with self.sessions() as session:
            answered = await earlier_answer(session, incoming.platform, incoming.update_id, now - ANSWER_KEPT)
        return [OutMessage.from_payload(payload) for payload in answered]

    async def _fallback_translator(self, incoming: Incoming) -> Translator:
        try:
            async with self.sessions() as session:
                identity = await self._identity(session, incoming.platform, incoming.user_id)
                if identity is not None:
                    return await self.translator_for(session, identity.person_id)
        except Exception:
            log.exception("could not load the language after a failure")
        return self.catalogs.translator(normalize_language(incoming.language) or self.settings.default_language)

    async def _identity(self, session: AsyncSession, platform: str, user_id: str) -> Identity | None:
        result = await session.exec(
            select(Identity).where(Identity.platform == platform, Identity.platform_user_id == user_id)
        )
        return result.first()

    async def _person(self, session: AsyncSession, incoming: Incoming, now: datetime,
                      arrived: intake.Arrival | None = None) -> tuple[Person, int]:
        """The sender (created on their first message), and how many messages they sent in the last minute when
        flood control is on (else 0). `arrived`: the sender as the joined read found them (none: read them here)."""
        counted = bool(self.settings.flood_messages_per_minute)
        found: Any
        if self.intake:
            found = arrived and (arrived.identity, arrived.person, arrived.compound, arrived.recent)
        else:
            params: dict[str, Any] = {"platform": incoming.platform, "user_id": incoming.user_id}
            if counted:
                params["since"] = now - FLOOD_WINDOW
            found = (await session.exec(_SENDER_COUNTED if counted else _SENDER, params=params)).first()
        identity: Identity | None = found[0] if found is not None else None
        recent = int(found[3]) if counted and found is not None else 0
        hint = normalize_language(incoming.language)
        if identity is None:
            person = Person(name=incoming.user_name[:100], platform_language=hint)
            await intake.insert_row(session, person)
            assert person.id is not None
            identity = Identity(person_id=person.id, platform=incoming.platform, platform_user_id=incoming.user_id,
                                last_seen_at=now)
            if incoming.chat_kind == "private":
                identity.private_chat_id = incoming.chat_id
            await intake.insert_row(session, identity)
        else:
            person = found[1]
            if hint and person.platform_language != hint:
                person.platform_language = hint
                session.add(person)
            if incoming.user_name and not person.name:
                person.name = incoming.user_name[:100]
                session.add(person)
        # "Last seen" is written behind (storage.intake.SEEN_EVERY): an UPDATE on few messages, not on each.
        if identity.id is not None and seen_is_stale(identity.last_seen_at, now):
            await mark_seen(session, identity.id, now)
            set_committed_value(identity, "last_seen_at", now)
        if incoming.chat_kind == "private" and (identity.private_chat_id != incoming.chat_id or identity.unreachable):
            identity.private_chat_id = incoming.chat_id
            identity.unreachable = False
            session.add(identity)
        return person, recent

    async def _chat(self, session: AsyncSession, incoming: Incoming,
                    arrived: intake.Arrival | None = None) -> tuple[Chat, bool]:
        """The chat the message came in (and True when it was stored just now)."""
        if arrived is not None:
            chat = arrived.chat
        else:
            found = await _CHAT.objects(session, platform=incoming.platform, chat_id=incoming.chat_id)
            chat = found[0] if found else None
        if chat is None:
            chat = Chat(
                platform=incoming.platform,
                platform_chat_id=incoming.chat_id,
                kind=incoming.chat_kind,
                title=incoming.chat_title[:200],
            )
            await intake.insert_row(session, chat)
            return chat, True
        if incoming.chat_title and chat.title != incoming.chat_title[:200]:
            chat.title = incoming.chat_title[:200]
            session.add(chat)
        return chat, False

    async def _compound_for(self, session: AsyncSession, person: Person, chat: Chat) -> Compound | None:
        if chat.kind == "group" and chat.compound_id is not None:
            return await db.get(session, Compound, chat.compound_id)
        # In a private chat, or a group not bound yet: the compound the person acts in.
        if person.current_compound_id is not None:
            return await db.get(session, Compound, person.current_compound_id)  # loaded with the person: no query
        assert person.id is not None
        joined = await compounds_of(session, person.id)
        if joined:
            person.current_compound_id = joined[0]
            session.add(person)
            return await db.get(session, Compound, joined[0])
        return None

    def language_of(self, person: Person) -> str:
        return person.language or person.platform_language or self.settings.default_language

    async def translators_for(self, session: AsyncSession, person_ids: Iterable[int]) -> dict[int, Translator]:
        """Each person's translator, in one query (a fan-out to many people must not read them one by one)."""
        wanted = list(dict.fromkeys(person_ids))
        if not wanted:
            return {}
        found = await _LANGUAGES.rows(session, people=wanted)
        languages = {pid: language or hint for pid, language, hint in found}
        default = self.settings.default_language
        return {pid: self.catalogs.translator(languages.get(pid) or default) for pid in wanted}

    async def translator_for(self, session: AsyncSession, person_id: int) -> Translator:
        person = await db.get(session, Person, person_id)
        return self.catalogs.translator(self.language_of(person) if person else self.settings.default_language)

    def _too_fast(self, person: Person, recent: int) -> list[OutMessage] | None:
        """Flood control: None when this message may be handled (`recent`: the person's messages in the last
        minute before it). The first message over the limit gets one polite answer and the ones after it nothing:
        no handler runs, no conversation changes, nothing is queued. They are still counted (their claims), so a
        person who keeps flooding stays stopped, and is served again once their last minute is under the limit."""
        limit = self.settings.flood_messages_per_minute
        if not limit or recent < limit:
            return None
        if recent > limit:
            return []
        log.info("person %s sent more than %d messages in a minute: the rest is dropped", person.id, limit)
        t = self.catalogs.translator(self.language_of(person))
        return [OutMessage(t("You are sending messages too fast. Please try again in a minute."))]

    async def _handle(self, session: AsyncSession, incoming: Incoming,
                      now: datetime) -> tuple[list[OutMessage], bool, int | None]:
        """What to answer, whether outbox rows were written, and the person to count the message for (None for a
        chat event: the platform's doing, not the person's, never refused)."""
        arrived = await intake.arrival(session, incoming.platform, incoming.user_id, incoming.chat_id, (
            now - FLOOD_WINDOW) if self.settings.flood_messages_per_minute else None, now) if self.intake else None
        person, recent = await self._person(session, incoming, now, arrived)
        assert person.id is not None  # flushed by _person
        sender = person.id if incoming.event is None else None
        if sender is not None:
            refused = self._too_fast(person, recent)
            if refused is not None:
                return refused, False, sender
        chat, new_chat = await self._chat(session, incoming,
                                          arrived if arrived is not None and arrived.chat else None)
        compound = await self._compound_for(session, person, chat)
        assert chat.id is not None
        roles = await (intake.roles if self.intake else roles_in)(session, person.id, compound.id if compound else None)
        t = self.catalogs.translator(self.language_of(person))
        # On PostgreSQL two processes may get the same person's messages at once: the row lock orders them.
        lock = self.engine.dialect.name == "postgresql" and not (arrived is not None and arrived.locked)
        if arrived is not None and arrived.chat is not None and not lock:
            row = arrived.conversation  # read with the sender
        elif new_chat or (self.intake and arrived is None):
            row = None  # a chat stored just now, or a newcomer (none was found): no conversation can be there yet
        else:
            row = await load_conversation(session, person.id, chat.id, lock=lock)
        convo = Convo()
        notices: list[Reply] = []
        if row is not None:
            flow = self.routes.flows.get(row.flow)
            question = flow is not None and flow.question
            # A question the bot asked waits as long as its buttons do; a flow the person began expires when idle.
            idle = timedelta(days=self.settings.button_ttl_days) if question else timedelta(
                minutes=self.settings.conversation_idle_minutes)
            if row.updated_at + idle < now:
                await session.delete(row)
                await session.flush()
                row = None
                if not question:  # an unanswered question lapses quietly: its buttons have lapsed too
                    notices.append(Reply(t(
                        "Your unfinished conversation was idle for {minutes} minutes and has expired. You can start "
                        "again at any time.", minutes=self.settings.conversation_idle_minutes)))
            else:
                convo = Convo(row.flow, row.step, row.key, dict(row.draft), row.compound_id)
        # The step open before this message, and the message that asked it (tidy chats: `_tidy`).
        asked = (row.key, row.step, row.message_id) if row is not None else None
        ctx = Context(self, session, now, person, chat, compound, roles, t, convo)
        replies = notices + _as_list(await self._route(ctx, incoming))
        await self._save_conversation(ctx, row)
        direct, enqueued = await self._emit(ctx, replies)
        return await self._tidy(ctx, incoming, asked, replies, direct), enqueued, sender

    async def _tidy(self, ctx: Context, incoming: Incoming, asked: tuple[str, str, str | None] | None,
                    replies: list[Reply], direct: list[OutMessage]) -> list[OutMessage]:
        """Tidy chats, for a transport that edits messages (the others ignore the marks). A flow's question asked
        again after a press on it (a toggle, "start over") replaces the pressed message; a step answered or left
        retires its question's buttons (the pressed message, or the one the transport reported for it); a button's
        answer that offers the pressed action again (an attendance toggle), or says `replace=True`, replaces the
        pressed message in a private chat."""
        if not direct:
            return direct
        shown = [r for r in replies if r.to is None and r.edit is None and r.due_at is None]  # as `direct`
        pressed = incoming.message_id if incoming.button is not None else None
        token = await get_token(ctx.session, incoming.button) if pressed is not None and incoming.button else None
        out = list(direct)
        spent: str | None = None
        target: int | None = None
        if asked is not None:
            key, step, message_id = asked
            step_press = token is not None and token.conversation_key == key
            moved = not ctx.convo.active or ctx.convo.key != key or ctx.convo.step != step

            def asks_again(reply: Reply) -> bool:
                # The step's question once more: marked so by the flow, or a Stay that shows the step's choices anew.
                return reply.asks == f"{key}:{step}" or (reply.asks is None and not moved and any(
                    b.kind == "choice" for row in reply.buttons for b in row))

            question = next((i for i in range(len(shown) - 1, -1, -1) if shown[i].asks or asks_again(shown[i])),
                            None)
            again = question is not None and asks_again(shown[question])
            if step_press and question is not None and (again or shown[question].replace) \
                    and shown[question].replace is not False and not _has_media(shown[question]):
                target = question
            elif moved or again:
                spent = pressed if step_press else message_id
        if target is None and token is not None and token.conversation_key is None and ctx.private:
            target = next((i for i, r in enumerate(shown) if r.replace is not False and not _has_media(r) and (
                r.replace or any(b.action == token.action for row in r.buttons for b in row if b.kind == "action"))),
                None)
        if target is not None:
            out[target] = replace(out[target], replaces=pressed)
        if spent:
            out[0] = replace(out[0], spent=(spent,))
        return out

    async def remember_step(self, asks: str, message_id: str) -> None:
        """A transport that edits messages reports the id its platform gave a flow's question (`OutMessage.asks`),
        so that a typed answer can retire the question's buttons."""
        key, _, step = asks.partition(":")
        try:
            async with transaction(self.sessions) as session:
                await remember_message(session, key, step, message_id)
        except Exception:  # only tidiness is lost
            log.exception("could not remember the message of step %s", step)

    async def _save_conversation(self, ctx: Context, row: Conversation | None) -> None:
        convo = ctx.convo
        if convo.ended or convo.flow is None:
            if row is not None:
                await end_conversation(ctx.session, row)
            return
        if row is None:
            await intake.insert_row(ctx.session, Conversation(
                person_id=ctx.person_id, chat_id=ctx.chat.id or 0, key=convo.key or "", flow=convo.flow,
                step=convo.step or "", draft=convo.draft, compound_id=convo.compound_id, updated_at=ctx.now))
            return
        # Any message inside a conversation keeps it alive, even one that was refused.
        await move_on(ctx.session, row, key=convo.key or "", flow=convo.flow, step=convo.step or "",
                      draft=convo.draft, compound_id=convo.compound_id, now=ctx.now)

    # ---- routing ------------------------------------------------------------------------------------

    async def _route(self, ctx: Context, incoming: Incoming) -> Replies:
        t = ctx.t
        if incoming.event is not None:
            return await self._chat_event(ctx, incoming)
        if incoming.button is not None:
            return await self._press(ctx, incoming, incoming.button)
        if incoming.command is not None:
            return await self._command(ctx, incoming, incoming.command.lower(), incoming.args)
        if ctx.convo.active:
            if incoming.text and ctx.convo.key and ctx.convo.step:
                # A typed answer that is one of the step's button labels is that button's press.
                token = await typed_choice(ctx.session, ctx.person_id, ctx.convo.key, ctx.convo.step, incoming.text)
                if token is not None:
                    return await self._press(ctx, replace(incoming, text=None, button=token.token), token.token)
                # 继续 / 放弃 typed instead of pressed under the "you are in the middle of something" answer.
                typed = label_key(incoming.text)
                if typed in (label_key(t("Continue")), label_key(t("Give it up"))):
                    return await self._resume_or_abandon(ctx, typed == label_key(t("Continue")))
            return await self._step(ctx, incoming)
        if ctx.private:
            if self.routes.fallback is not None:  # a first message: what it may mean is the handler's to offer
                return await self.routes.fallback.handler(ctx, incoming)
            return Reply(t("I did not understand that. Send /help to see what I can do for you."))
        return None  # Group talk not addressed to the bot.

    async def _step(self, ctx: Context, incoming: Incoming) -> Replies:
        """An answer to the open conversation's step, in the compound the conversation began in."""
        await self._bind(ctx)
        flow = self.routes.flows.get(ctx.convo.flow or "")
        if flow is None:  # a flow this version no longer has
            ctx.convo.end()
            return Reply(ctx.t("That conversation cannot continue any more. Please start again."))
        return await flow.run(flow.context(ctx), incoming)

    async def _bind(self, ctx: Context) -> None:
        """A conversation acts in the compound it began in, with the roles held there now."""
        bound = ctx.convo.compound_id
        if bound is None or (ctx.compound is not None and ctx.compound.id == bound):
            return
        ctx.compound = await db.get(ctx.session, Compound, bound)
        ctx.roles = await roles_in(ctx.session, ctx.person_id, bound)

    @staticmethod
    def _member_or_plain(ctx: Context, route: Route) -> Context:
        """A member or role route's handler gets a MemberContext (check() has made sure of the compound)."""
        return ctx.as_member() if (route.member or route.roles is not None) and ctx.compound is not None else ctx

    def check(self, ctx: Context, route: Route) -> Reply | None:
        """The server-side guard every command and button passes, pressed or typed."""
        if (route.member or route.roles is not None) and ctx.compound is None:
            return self.no_compound(ctx)
        if route.roles is not None and not (ctx.roles & route.roles):
            return self.refusal(ctx, route.roles)
        if route.member and not ctx.roles:
            return self.refusal(ctx, None)
        return None

    def no_compound(self, ctx: Context) -> Reply:
        t = ctx.t
        if ctx.private:
            return Reply(t("You have not joined a compound yet. Send /join followed by your compound's invite code."))
        return Reply(t("This group is not bound to a compound yet. A secretary can bind it with /bindgroup."))

    def refusal(self, ctx: Context, roles: frozenset[Role] | None) -> Reply:
        """Why the person may not do this here: they lack one of `roles`, or (None) are not a member yet."""
        t = ctx.t
        if ctx.compound is None:
            return self.no_compound(ctx)
        if roles is None:
            return Reply(t("Only members of {compound} can do that. Send /join with the invite code to join; a "
                           "secretary approves it.", compound=ctx.compound.name), toast=t("Not allowed"))
        names = any_of(t, [role_name(t, r) for r in sorted(roles)])
        return Reply(t("Sorry, only {roles} can do that.", roles=names), toast=t("Not allowed"))

    async def _command(self, ctx: Context, incoming: Incoming, name: str, args: str) -> Replies:
        t = ctx.t
        if name == "start" and args.strip() and ctx.private:
            token = await get_token(ctx.session, args.strip())
            if token is not None:
                return await self._press(ctx, incoming, token.token)
        # A two-word command ("/export points") belongs to the feature that routes it; the second word picks it.
        word, _, rest = args.strip().partition(" ")
        if word and (pair := self.routes.commands.get(f"{name} {word.casefold()}")) is not None:
            return await self._run(ctx, incoming, pair, rest.strip())
        route = self.routes.commands.get(name)
        if route is None:
            pairs = sorted((r for key, r in self.routes.commands.items() if key.startswith(f"{name} ")
                            and self.check(ctx, r) is None), key=lambda r: (r.order, r.name))
            if pairs:  # "/export" alone: what this person may export
                return Reply("\n".join(f"/{r.name} — {t(r.help or r.name)}" for r in pairs))
            return Reply(t("I do not know the command /{name}. Send /help to see what you can do.", name=name[:40]))
        return await self._run(ctx, incoming, route, args)

    async def _run(self, ctx: Context, incoming: Incoming, route: Route, args: str) -> Replies:
        t = ctx.t
        refusal = self.check(ctx, route)
        if refusal is not None:
            return refusal
        if route.private and not ctx.private:
            return Reply(
                t("Let's continue in a private chat, so your details stay out of the group."),
                buttons=((Button.private(t("Continue privately"), COMMAND_ACTION, command=route.name, args=args),),),
            )
        if route.flow and (busy := ctx.busy()) is not None:
            return busy
        ctx.args = {"command_args": args}
        return await route.handler(self._member_or_plain(ctx, route), incoming)

    async def _press(self, ctx: Context, incoming: Incoming, token_value: str) -> Replies:
        t = ctx.t
        stale = Reply(t("This button no longer works: what it belonged to has ended or moved on."),
                      toast=t("This button has expired"))
        token = await get_token(ctx.session, token_value)
        if token is None or (token.expires_at is not None and token.expires_at < ctx.now):
            return stale
        if token.person_id is not None and token.person_id != ctx.person_id:
            return Reply(t("This button is meant for someone else."), toast=t("Not for you"))
        if token.conversation_key is not None:
            convo = ctx.convo
            if not convo.active or convo.key != token.conversation_key or convo.step != token.step:
                return stale
            ctx.args = dict(token.args)
            return await self._step(ctx, incoming)
        if token.action in (RESUME_ACTION, ABANDON_ACTION):
            return await self._resume_or_abandon(ctx, token.action == RESUME_ACTION)
        if token.compound_id is not None and (ctx.compound is None or ctx.compound.id != token.compound_id):
            if not ctx.private:
                return stale
            # A notification about another of the person's compounds: act there, with the roles held there.
            ctx.compound = await db.get(ctx.session, Compound, token.compound_id)
            ctx.roles = await roles_in(ctx.session, ctx.person_id, token.compound_id)
        if token.action == COMMAND_ACTION:
            route = self.routes.commands.get(str(token.args.get("command", "")))
            if route is None:
                return stale
            return await self._run(ctx, incoming, route, str(token.args.get("args", "")))
        route = self.routes.buttons.get(token.action)
        if route is None:
            return stale
        # Checked before offering a private chat: somebody refused here is refused there too.
        refusal = self.check(ctx, route)
        if refusal is not None:
            return refusal
        if route.private and not ctx.private:
            return Reply(
                t("Let's continue in a private chat, so your details stay out of the group."),
                buttons=((Button.private(t("Continue privately"), token.action, **token.args),),),
                toast=t("Continue in a private chat"),
            )
        ctx.args = dict(token.args)
        return await route.handler(self._member_or_plain(ctx, route), incoming)

    async def _resume_or_abandon(self, ctx: Context, resume: bool) -> Replies:
        t = ctx.t
        convo = ctx.convo
        if not convo.active:
            return Reply(t("Nothing is open any more; you can start anything you like."))
        flow = self.routes.flows.get(convo.flow or "")
        title = title_of(t, flow)
        if not resume:
            convo.end()
            return Reply(t("You gave up {title}. Nothing of it was saved.", title=title))
        await self._bind(ctx)
        draft = flow.load(convo.draft) if flow is not None else None
        if flow is None or draft is None or convo.step not in flow.steps:
            return Reply(t("Let's go on with {title}: please answer the last question above.", title=title))
        if (ended := flow.ended_unless_allowed(ctx)) is not None:
            return ended
        return await flow.question_of(ctx, convo.step or "", draft)

    async def _chat_event(self, ctx: Context, incoming: Incoming) -> Replies:
        t = ctx.t
        chat = ctx.chat
        if incoming.event == "bot_added":
            chat.active = True
            chat.unreachable = False
            ctx.session.add(chat)
            return Reply(t("Hello! I am linli (邻里). A secretary of this compound binds this group to it by sending "
                           "/bindgroup here; then announcements, tasks and votes will appear in this group."))
        if incoming.event == "bot_removed":
            chat.active = False
            ctx.session.add(chat)
            return None
        if incoming.event == "migrated" and incoming.args:
            await self.migrate_chat(ctx.session, chat.platform, chat.platform_chat_id, incoming.args)
            return None
        return None

    async def migrate_chat(self, session: AsyncSession, platform: str, old_id: str, new_id: str) -> None:
        """A group that became a supergroup keeps its binding under its new id, and what is queued for it goes
        there (from the migration update, or from the outbox when a send is answered with the new id)."""
        await outbox_store.move_chat(session, platform, old_id, new_id, self.clock.now())
        old = (await session.exec(select(Chat).where(Chat.platform == platform, Chat.platform_chat_id == old_id))).first()
        if old is None:
            return
        new = (await session.exec(select(Chat).where(Chat.platform == platform, Chat.platform_chat_id == new_id))).first()
        if new is not None and new.id != old.id:
            new.compound_id = new.compound_id or old.compound_id
            new.building_id = new.building_id or old.building_id
            new.active = True
            old.active = False
            session.add(new)
        else:
            old.platform_chat_id = new_id
        session.add(old)

    # ---- output -------------------------------------------------------------------------------------

    async def _emit(self, ctx: Context, replies: list[Reply]) -> tuple[list[OutMessage], bool]:
        direct: list[OutMessage] = []
        enqueued = False
        batch = await self._batch(ctx.session, replies, ctx.now)
        for reply in replies:
            if reply.to is None and reply.edit is None and reply.due_at is None:
                direct.append(await self._render(ctx.session, reply, ctx, ctx.person_id if ctx.private else None,
                                                 presser=ctx.person_id, batch=batch))
            else:
                target = reply.to if reply.to is not None else ToChat(ctx.chat.id or 0)
                enqueued |= await self.enqueue(ctx.session, reply, target, ctx, ctx.now, batch)
        await batch.write(ctx.session)
        return direct, enqueued

    async def emit_job(self, ctx: JobContext, replies: Replies) -> bool:
        enqueued = False
        listed = _as_list(replies)
        batch = await self._batch(ctx.session, listed, ctx.now)
        for reply in listed:
            if reply.to is None:
                raise ValueError("a scheduled job's reply must name its target")
            enqueued |= await self.enqueue(ctx.session, reply, reply.to, None, ctx.now, batch)
        await batch.write(ctx.session)
        return enqueued

    async def _batch(self, session: AsyncSession, replies: list[Reply], now: datetime) -> _Batch:
        """A fan-out's reads and writes gathered: the private addresses of everyone written to in one query, what
        the notification budget decides on read for them all at once, and (by `_Batch.write`) all button sets
        and outbox rows in one multi-row insert each."""
        to_people = [(r, r.to.person_id) for r in replies if isinstance(r.to, ToPerson) and r.edit is None]
        if len(to_people) <= 1:
            return _Batch(None)
        people = [person for _, person in to_people]
        known = translators = None
        if self.settings.notification_budget:
            notices = [r.notice or Notice(NoticeKind.OTHER) for r, _ in to_people]
            # A day before now: the days a budget counts are compound-local.
            known = await known_of(session, people, notices, (now - timedelta(days=1)).date())
            if any(n.kind in OPTIONAL_KINDS and n.level is not Urgency.URGENT for n in notices):
                translators = await self.translators_for(session, people)  # for the 不再接收此类通知 button
        return _Batch(await self.private_addresses(session, people), known, translators)

    async def _render(self, session: AsyncSession, reply: Reply, ctx: Context | None, person_id: int | None,
                      compound_id: int | None = None, presser: int | None = None,
                      batch: _Batch | None = None) -> OutMessage:
        """`person_id`: the one person who may press (a private reply); `presser`: the person this reply answers
        in the chat they wrote in, who alone may follow its "continue privately" links."""
        sets = ButtonSets()
        rows = tuple(tuple(self._button(b, ctx, person_id, compound_id, sets, presser) for b in row)
                     for row in reply.buttons)
        if batch is not None:
            batch.sets += sets.rows
        elif sets.rows:
            await _SETS.run(session, sets.rows)
        return OutMessage(reply.text, rows, reply.image, reply.document, reply.pin, reply.toast, asks=reply.asks)

    def _button(self, button: Button, ctx: Context | None, person_id: int | None, compound_id: int | None,
                sets: ButtonSets, presser: int | None = None) -> OutButton:
        if button.kind == "url":
            return OutButton(button.label, "url", button.url)
        if button.kind == "contact":
            return OutButton(button.label, "contact")
        now = ctx.now if ctx else self.clock.now()
        if compound_id is None and ctx is not None and ctx.compound is not None:
            compound_id = ctx.compound.id
        if button.kind == "choice":
            if ctx is None or not ctx.convo.active:
                raise ValueError("a choice button needs an open conversation")
            token = sets.add(STEP_ACTION, dict(button.args), person_id=ctx.person_id, compound_id=compound_id,
                             created_at=now, expires_at=now + timedelta(days=1), conversation_key=ctx.convo.key,
                             step=ctx.convo.step, label=button.label[:LABEL_LIMIT])
        else:
            pressed_by: int | None
            if button.kind == "private" and presser is not None:
                # "Continue privately" in answer to someone carries on what they began: nobody else may open it.
                # In a group posting (a vote, a task) it is for anyone in the group, and the route's checks apply.
                pressed_by = presser
            else:
                personal = button.personal if button.personal is not None else person_id is not None
                pressed_by = person_id if personal else None
            token = sets.add(button.action, dict(button.args), person_id=pressed_by, compound_id=compound_id,
                             created_at=now, expires_at=now + timedelta(days=self.settings.button_ttl_days))
        # "Continue privately" is a deep link only from a group: in a private chat it is simply pressed there.
        kind: Any = "deeplink" if button.kind == "private" and person_id is None else "callback"
        return OutButton(button.label, kind, token)

    async def private_addresses(self, session: AsyncSession, person_ids: list[int]) -> dict[int, Identity]:
        """`private_address` of many people in one query: each one's first identity in the same order."""
        if not person_ids:
            return {}
        addresses: dict[int, Identity] = {}
        for identity in await _ADDRESSES.objects(session, people=sorted(set(person_ids))):
            addresses.setdefault(identity.person_id, identity)
        return addresses

    async def private_address(self, session: AsyncSession, person_id: int) -> Identity | None:
        result = await session.exec(
            select(Identity)
            .where(Identity.person_id == person_id, col(Identity.private_chat_id).is_not(None))
            .order_by(col(Identity.unreachable), col(Identity.last_seen_at).desc())
        )
        return result.first()

    async def _budget(self, session: AsyncSession, reply: Reply, person_id: int, ctx: Context | None,
                      now: datetime, batch: _Batch | None = None) -> Reply | None:
        """The notification budget (storage/notifications.py) on a private message nobody asked for: the reply to
        queue (held until the quiet hours end, with a 不再接收此类通知 button on a kind that may be turned off), or
        None when it went into the evening digest or was dropped. An unmarked message from a job or to someone
        other than the person who acted counts as NoticeKind.OTHER; an answer to the person's own action passes."""
        notice = reply.notice
        if notice is None:
            if ctx is not None and ctx.person_id == person_id:
                return reply
            notice = Notice(NoticeKind.OTHER)
        if not self.settings.notification_budget:
            return reply
        if notice.compound_id is not None:
            compound = await db.get(session, Compound, notice.compound_id)
        else:
            compound = ctx.compound if ctx is not None and ctx.compound is not None else await recipient_compound(
                session, person_id)
        buttons = [[{"label": b.label, "action": b.action, "args": dict(b.args)} for b in row if b.kind == "action"]
                   for row in reply.buttons]
        moment = max(now, reply.due_at) if reply.due_at is not None else now
        verdict = await decide(session, person_id, notice, moment, compound, reply.text, buttons,
                               self.settings.timezone, batch.known if batch is not None else None)
        if not verdict.queued:
            return None
        if verdict.due_at is not None:
            reply = replace(reply, due_at=verdict.due_at)
        if notice.kind in OPTIONAL_KINDS and notice.level is not Urgency.URGENT:
            read = batch.translators if batch is not None else None
            t = read[person_id] if read and person_id in read else await self.translator_for(session, person_id)
            off = Button.do(t("No more notices like this"), "notify.off", kind=notice.kind.value)
            reply = replace(reply, buttons=(*reply.buttons, (off,)))
        return reply

    async def enqueue(self, session: AsyncSession, reply: Reply, target: Target, ctx: Context | None,
                      now: datetime, batch: _Batch | None = None) -> bool:
        """Write outbox rows for a reply to someone else, to a chat, or to a compound's groups (with `batch`: the
        rows are gathered there and written together by `_Batch.write`)."""
        if reply.edit is not None:
            if batch is not None:
                await batch.write(session)  # an edit may be of a posting gathered just before
            return await self._enqueue_edit(session, reply, ctx)
        addresses: list[tuple[str, str, str, int | None, int | None]] = []  # platform, chat, kind, compound, person
        compound_id: int | None = None
        if isinstance(target, ToPerson):
            if batch is not None and batch.addresses is not None:
                identity = batch.addresses.get(target.person_id)
            else:
                identity = await self.private_address(session, target.person_id)
            if identity is None or identity.private_chat_id is None:
                log.info("person %s has no private chat yet; message not queued", target.person_id)
                return False
            compound_id = ctx.compound.id if ctx and ctx.compound else None
            budgeted = await self._budget(session, reply, target.person_id, ctx, now, batch)
            if budgeted is None:
                return False
            reply = budgeted
            addresses.append((identity.platform, identity.private_chat_id, "private", compound_id, target.person_id))
        elif isinstance(target, ToChat):
            chat = await db.get(session, Chat, target.chat_id)
            if chat is None or not chat.active:
                return False
            compound_id = chat.compound_id
            addresses.append((chat.platform, chat.platform_chat_id, chat.kind, chat.compound_id, None))
        else:
            compound_id = target.compound_id
            for chat in await group_chats(session, target.compound_id, target.building_id):
                addresses.append((chat.platform, chat.platform_chat_id, "group", chat.compound_id, None))
        if not addresses:
            return False
        personal_to = target.person_id if isinstance(target, ToPerson) else None
        rendered = await self._render(session, reply, ctx, personal_to, compound_id, batch=batch)
        media_id, media_kind = await self._store_media(session, rendered)
        payload = rendered.to_payload(media_id, media_kind)
        for platform, chat_id, kind, compound, person in addresses:
            row = outbox_store.outbox_row(platform=platform, chat_id=chat_id, chat_kind=kind, compound_id=compound,
                                          person_id=person, payload=payload, posting_key=reply.posting,
                                          due_at=reply.due_at or now, next_attempt_at=reply.due_at or now,
                                          expires_at=reply.expires_at, created_at=now)
            if batch is not None:
                batch.outbox.append(row)
            else:
                session.add(outbox_store.OutboxMessage(**row))
        return True

    async def _store_media(self, session: AsyncSession, message: OutMessage) -> tuple[int | None, str | None]:
        if message.image is not None:
            media = message.image
            return await outbox_store.store_media(session, media.data, media.mime, media.filename), "image"
        if message.document is not None:
            media = message.document
            return await outbox_store.store_media(session, media.data, media.mime, media.filename), "document"
        return None, None

    async def _enqueue_edit(self, session: AsyncSession, reply: Reply, ctx: Context | None) -> bool:
        assert reply.edit is not None
        originals = await outbox_store.delivered_postings(session, reply.edit)
        if not originals:
            return False
        rendered = await self._render(session, reply, ctx, None, originals[0].compound_id)
        payload = rendered.to_payload()
        now = ctx.now if ctx else self.clock.now()
        for original in originals:
            if original.state == outbox_store.PENDING:
                # Not sent yet: send the new text in its place rather than sending and then editing.
                payload_with_media = dict(payload, media_id=original.payload.get("media_id"),
                                          media_kind=original.payload.get("media_kind"))
                original.payload = payload_with_media
                session.add(original)
                continue
            waiting = await outbox_store.pending_edit(session, original.id or 0)
            if waiting is not None:
                # Many quick changes (ballots arriving) collapse into one edit: the platform limits are tight.
                waiting.payload = payload
                session.add(waiting)
                continue
            session.add(
                outbox_store.OutboxMessage(
                    platform=original.platform,
                    chat_id=original.chat_id,
                    chat_kind=original.chat_kind,
                    compound_id=original.compound_id,
                    kind="edit",
                    payload=payload,
                    edit_of=original.id,
                    due_at=now,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        return True

    # ---- scheduled work -----------------------------------------------------------------------------

    async def run_jobs(self, force: bool = False) -> int:
        """Run every job whose interval has passed (all of them with `force`)."""
        ran = 0
        enqueued = False
        async with AsyncExitStack() as stack:
            # SQLite has one writer at a time anyway: one transaction for the round (a savepoint per job, so a
            # failing job undoes only its own work) saves a commit per job. On PostgreSQL each job commits on
            # its own, so another process never waits for a claim held until the whole round ends.
            shared = await stack.enter_async_context(transaction(self.sessions)) if is_sqlite(self.engine) else None
            if shared is not None:
                last = await last_runs(shared)
            else:
                async with self.sessions() as session:
                    last = await last_runs(session)
            for job in self.routes.jobs:
                now = self.clock.now()
                ran_at = last.get(job.name)
                if not force and ran_at is not None and ran_at > now - job.every:
                    continue  # not due: no claim, no savepoint
                try:
                    async with self._job_unit(shared) as session:
                        if not await claim_job(session, job.name, timedelta(0) if force else job.every, now):
                            continue
                        ctx = JobContext(self, session, now)
                        enqueued |= await self.emit_job(ctx, await job.handler(ctx))
                    ran += 1
                except Exception:
                    log.exception("job %s failed", job.name)
        if enqueued:
            self.on_outbox()
        return ran

    @asynccontextmanager
    async def _job_unit(self, shared: AsyncSession | None) -> AsyncIterator[AsyncSession]:
        if shared is None:
            async with transaction(self.sessions) as session:
                yield session
        else:
            async with shared.begin_nested():
                yield shared

    async def fetch_photo(self, platform: str, file_id: str) -> bytes:
        fetch = self.file_fetchers.get(platform)
        if fetch is None:
            raise LookupError(f"no transport can fetch files of {platform}")
        return await fetch(file_id)

    # ---- what transports keep between messages (in the database, so another process can take over) ----------

    async def handled(self, platform: str, update_id: str) -> bool:
        """Whether this update was handled already, here or in another process (a replay is refused)."""
        async with self.sessions() as session:
            return await handled(session, platform, update_id)

    async def chat_secrets(self, platform: str, chat_id: str) -> dict[str, Any]:
        """A chat's delivery settings (a robot's webhook key, say), for the transport delivering there."""
        async with self.sessions() as session:
            return await chat_secrets(session, platform, chat_id)

    async def park_press(self, platform: str, user_id: str, token: str) -> None:
        """A press that only the person's private chat can answer waits for their next private message."""
        async with transaction(self.sessions) as session:
            await park_press(session, platform, user_id, token, self.clock.now())

    async def take_parked_press(self, platform: str, user_id: str) -> str | None:
        """The button token of the press waiting for this person's private chat, once; None when none waits."""
        async with transaction(self.sessions) as session:
            return await take_parked_press(session, platform, user_id)


class _Batch:
    """What one message's or job's replies write to the outbox, gathered to be written in one go."""

    def __init__(self, addresses: dict[int, Identity] | None, known: Known | None = None,
                 translators: dict[int, Translator] | None = None) -> None:
        self.addresses = addresses  # the recipients' private addresses, read together (None: not read ahead)
        self.known = known  # what the notification budget decides on, read together (None: not read ahead)
        self.translators = translators  # the recipients' languages, when the budget adds its button
        self.sets: list[dict[str, Any]] = []  # rows as `storage.conversations.ButtonSets` makes them
        self.outbox: list[dict[str, Any]] = []  # rows as `storage.outbox.outbox_row` makes them

    async def write(self, session: AsyncSession) -> None:
        """One multi-row insert of the button sets, one of the outbox rows (in the order they were made), one of
        the notification budget's decisions."""
        if self.known is not None:
            await log_known(session, self.known)
        if self.sets:
            await _SETS.run(session, self.sets)
            self.sets = []
        if self.outbox:
            await _OUTBOX.run(session, self.outbox)
            self.outbox = []


_SETS = PreparedInsert(ButtonSet)
# A fan-out's recipients (a join request's secretaries, a case's handlers): their languages and private addresses,
# each one fixed query for them all.
_LANGUAGES = Prepared(select(Person.id, Person.language, Person.platform_language)
                      .where(col(Person.id).in_(sa.bindparam("people", expanding=True))))
_ADDRESSES = Prepared(select(Identity).where(col(Identity.person_id).in_(sa.bindparam("people", expanding=True)),
                                             col(Identity.private_chat_id).is_not(None))
                      .order_by(col(Identity.person_id), col(Identity.unreachable), col(Identity.last_seen_at).desc()),
                      Identity)
_OUTBOX = PreparedInsert(outbox_store.OutboxMessage)


def _has_media(reply: Reply) -> bool:
    return reply.image is not None or reply.document is not None


def _as_list(replies: Replies) -> list[Reply]:
    if replies is None:
        return []
    if isinstance(replies, Reply):
        return [replies]
    return list(replies)

