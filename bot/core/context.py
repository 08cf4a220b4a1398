"""What a handler gets besides the message: the session, the person and their roles, the translator, the
clock, the open conversation and the pressed button's arguments — checked and loaded by the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.i18n import Translator
from bot.settings import Settings
from storage.compounds import Chat, Compound
from storage.conversations import new_key
from storage.people import Person, Role

if TYPE_CHECKING:
    from bot.core.dispatcher import Core


@dataclass
class Convo:
    """The person's open conversation in this chat. Handlers say the next step explicitly."""

    flow: str | None = None
    step: str | None = None
    key: str | None = None
    draft: dict[str, Any] = field(default_factory=dict)
    changed: bool = False
    ended: bool = False

    @property
    def active(self) -> bool:
        return self.flow is not None and not self.ended

    def start(self, flow: str, step: str, draft: dict[str, Any] | None = None) -> None:
        self.flow, self.step, self.key = flow, step, new_key()
        self.draft = dict(draft or {})
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

    def translator(self, language: str | None) -> Translator:
        return self.core.catalogs.translator(language)

    def zone(self, compound: Compound | None) -> ZoneInfo:
        return ZoneInfo(compound.timezone if compound else self.core.settings.timezone)

    def local(self, moment: datetime, compound: Compound | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return moment.astimezone(self.zone(compound)).strftime(fmt)


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


@dataclass
class JobContext(BaseContext):
    """For scheduled jobs: no person, no chat; replies must name their targets."""
