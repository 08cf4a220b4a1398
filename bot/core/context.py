"""What a handler gets besides the message: the session, the person and their roles, the translator, the
clock, the open conversation and the pressed button's arguments — checked and loaded by the core."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.flows import busy_buttons, title_of
from bot.core.i18n import Translator
from bot.core.types import Reply, ToPerson
from bot.settings import Settings
from storage.compounds import Chat, Compound
from storage.conversations import new_key
from storage.people import Person, Role, people_with_role

if TYPE_CHECKING:
    from bot.core.dispatcher import Core


@dataclass
class Convo:
    """The person's open conversation in this chat. Handlers say the next step explicitly."""

    flow: str | None = None
    step: str | None = None
    key: str | None = None
    draft: dict[str, Any] = field(default_factory=dict)
    # The compound the flow began in; its steps act there (see bot.core.flows).
    compound_id: int | None = None
    changed: bool = False
    ended: bool = False

    @property
    def active(self) -> bool:
        return self.flow is not None and not self.ended

    def start(self, flow: str, step: str, draft: dict[str, Any] | None = None, compound_id: int | None = None) -> None:
        self.flow, self.step, self.key = flow, step, new_key()
        self.draft = dict(draft or {})
        self.compound_id = compound_id
        self.changed, self.ended = True, False

    def goto(self, step: str) -> None:
        if self.flow is None:
            raise RuntimeError("goto() without a conversation")
        self.step = step
        self.changed = True

    def touch(self) -> None:
        """The draft changed but the step did not (a photo added, a correction)."""
        self.changed = True

    def end(self) -> None:
        self.ended, self.changed = True, True


@dataclass
class BaseContext:
    core: Core
    session: AsyncSession
    now: datetime

    @property
    def settings(self) -> Settings:
        return self.core.settings

    async def translator_for(self, person_id: int) -> Translator:
        return await self.core.translator_for(self.session, person_id)

    async def translators_for(self, person_ids: Iterable[int]) -> dict[int, Translator]:
        """Many people's translators in one query: for a fan-out, instead of `translator_for` in a loop."""
        return await self.core.translators_for(self.session, person_ids)

    def translator(self, language: str | None) -> Translator:
        return self.core.catalogs.translator(language)

    def zone(self, compound: Compound | None) -> ZoneInfo:
        return ZoneInfo(compound.timezone if compound else self.core.settings.timezone)

    def local(self, moment: datetime, compound: Compound | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return moment.astimezone(self.zone(compound)).strftime(fmt)

    async def role_translators(self, compound_id: int, roles: Role | Iterable[Role],
                               skip: Iterable[int | None] = ()) -> list[tuple[int, Translator]]:
        """Everyone holding one of `roles` in the compound, once each (role by role, in the order granted), with
        a translator in their own language."""
        people: dict[int, None] = {}
        for role in (roles,) if isinstance(roles, Role) else roles:
            people.update(dict.fromkeys(await people_with_role(self.session, compound_id, role)))
        skipped = set(skip)
        wanted = [person_id for person_id in people if person_id not in skipped]
        translators = await self.core.translators_for(self.session, wanted)  # one query for them all
        return [(person_id, translators[person_id]) for person_id in wanted]

    async def tell_role(self, roles: Role | Iterable[Role], compound_id: int,
                        message: str | Callable[[Translator], str | Reply], /, *, skip: Iterable[int | None] = (),
                        **values: Any) -> list[Reply]:
        """A private message to everyone holding one of `roles` in the compound, each in their own language.
        `message` is a text marked with N_() and translated with `values`, or makes the text (or the Reply, with
        its buttons) from the recipient's translator. The replies go ToPerson through the outbox."""
        replies = []
        for person_id, tr in await self.role_translators(compound_id, roles, skip):
            made = tr(message, **values) if isinstance(message, str) else message(tr)
            replies.append(replace(Reply(made) if isinstance(made, str) else made, to=ToPerson(person_id)))
        return replies


@dataclass
class Context(BaseContext):
    person: Person
    chat: Chat
    compound: Compound | None
    roles: frozenset[Role]
    t: Translator
    convo: Convo
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def person_id(self) -> int:
        assert self.person.id is not None
        return self.person.id

    @property
    def private(self) -> bool:
        return self.chat.kind == "private"

    @property
    def lang(self) -> str:
        return self.t.language

    def has(self, *roles: Role) -> bool:
        return any(role in self.roles for role in roles)

    def as_member(self) -> MemberContext:
        """This context as a MemberContext (the compound is known); itself when it already is one."""
        return self if isinstance(self, MemberContext) else MemberContext.of(self)

    def busy(self) -> Reply | None:
        """The polite refusal to start something while another conversation is open, naming it, with 继续 / 放弃
        buttons; None when free. A question the bot asked (a flow marked `question`) is no obstacle: starting
        something else replaces it. The core gives this for commands that start a flow; `Flow.begin` for the rest."""
        if not self.convo.active:
            return None
        flow = self.core.routes.flows.get(self.convo.flow or "")
        if flow is not None and flow.question:
            self.convo.end()
            return None
        t = self.t
        title = title_of(t, flow)
        return Reply(t("You are still in the middle of {title}. Continue it, or give it up to start something new.",
                       title=title), buttons=busy_buttons(t("Continue"), t("Give it up")))


@dataclass
class MemberContext(Context):
    """The context of a route or flow for members or role holders: the core has checked the person belongs to
    `compound` (or holds a role there), so it is never None here."""

    compound: Compound

    @property
    def compound_id(self) -> int:
        return self.compound.stored_id

    @staticmethod
    def of(ctx: Context) -> MemberContext:
        if ctx.compound is None:
            raise ValueError("a member context needs a compound")
        return MemberContext(**{f.name: getattr(ctx, f.name) for f in fields(ctx)})


@dataclass
class JobContext(BaseContext):
    """For scheduled jobs: no person, no chat; replies must name their targets."""
