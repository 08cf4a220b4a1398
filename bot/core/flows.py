"""Declared conversations. A flow names the role it needs and its steps; each step says what it asks, which kind
of answer it reads (`bot.core.answers`) and where it may go next. The draft is a typed, frozen model that the
core writes whole after every step, so nothing can be changed in place and lost.

A flow is bound when it begins: to the person and chat (the conversation row's key) and to the compound it began
in. Every step acts in that compound, whatever `/compound` chose since, and first checks again that the person
still holds the flow's role there; a revoked role ends the flow politely and writes nothing.

    class Rating(Draft):
        stars: int = 0

    rate = Flow("rate", Rating, title=N_("rating the service"), roles=[Role.RESIDENT])

    def ask_stars(ctx: Context, draft: Rating) -> Reply:
        return Reply(ctx.t("How many stars?"), buttons=rows(*(Button.choice("★" * n, n) for n in range(1, 6))))

    @rate.step("stars", ask=ask_stars, answer=answers.Choice(values=(1, 2, 3, 4, 5)), next=())
    async def stars(ctx: Context, draft: Rating, value: int) -> Outcome:
        await store.rate(ctx.session, ...)          # storage decides and writes
        return Done(Reply(ctx.t("Thank you.")))

    router.flow(rate)                                # joined and checked at start-up like every route
    ... return await rate.begin(ctx, Rating())       # from the command or button that starts it
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.core.answers import Answer
from bot.core.i18n import N_, Translator
from bot.core.types import Button, Incoming, Replies, Reply
from storage.people import Role

if TYPE_CHECKING:
    from bot.core.context import Context

log = logging.getLogger(__name__)


class Draft(BaseModel):
    """What a flow has gathered so far. Frozen: a step returns a new one (`draft.model_copy(update=...)`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


D = TypeVar("D", bound=Draft)


@dataclass(frozen=True, slots=True)
class Go:
    """Move on to `step` with this draft (None: unchanged); `say` comes before that step's question."""

    step: str
    draft: Draft | None = None
    say: tuple[Reply, ...] = ()


@dataclass(frozen=True, slots=True)
class Stay:
    """Stay at this step (its question is not repeated): say `reply`, keep the draft or take the new one."""

    reply: Reply | list[Reply] | None = None
    draft: Draft | None = None


@dataclass(frozen=True, slots=True)
class Done:
    """The flow is finished (or given up): say these, forget the draft."""

    replies: Reply | list[Reply] | None = None


Outcome = Go | Stay | Done
# (context, draft) -> the question; a MemberContext for member and role flows, like their steps.
Ask = Callable[..., Reply | Awaitable[Reply]]
# (context, draft, the answer's value) -> outcome; a MemberContext for member and role flows.
StepHandler = Callable[..., Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    ask: Ask
    answer: Answer[Any]
    handle: StepHandler
    next: tuple[str, ...]


H = TypeVar("H", bound=StepHandler)


class Flow(Generic[D]):
    def __init__(self, name: str, draft: type[D], *, title: str, roles: Iterable[Role] | None = None,
                 member: bool = True, question: bool = False) -> None:
        """`title` (marked with N_) names the flow to the person ("您还有一件事没有办完：{title}"). `roles`: one of
        them is needed in the bound compound at every step; without roles, `member` needs any role there (an
        approved resident or staff). A `question` flow is one the bot opened itself (a handler asked the reporter
        something): starting anything else simply replaces it."""
        self.name = name
        self.draft_type = draft
        self.title = title
        self.roles = frozenset(roles) if roles is not None else None
        self.member = member
        self.question = question
        self.steps: dict[str, Step] = {}

    def step(self, name: str, *, ask: Ask, answer: Answer[Any], next: Iterable[str] = ()) -> Callable[[H], H]:
        def register(handle: H) -> H:
            if name in self.steps:
                raise ValueError(f"step {name!r} declared twice in flow {self.name!r}")
            self.steps[name] = Step(name, ask, answer, handle, tuple(next))
            return handle

        return register

    @property
    def first(self) -> str:
        return next(iter(self.steps))

    def check(self) -> None:
        """Called when the routes are joined: a step that goes nowhere declared, or reads no declared kind of
        answer, fails at start-up instead of in somebody's conversation."""
        if not self.steps:
            raise ValueError(f"flow {self.name!r} has no steps")
        for step in self.steps.values():
            if not isinstance(step.answer, Answer):
                raise ValueError(f"step {self.name}.{step.name} reads no answer kind from bot.core.answers")
            for target in step.next:
                if target not in self.steps:
                    raise ValueError(f"step {self.name}.{step.name} goes to undeclared step {target!r}")
            if not callable(step.ask) or not inspect.iscoroutinefunction(step.handle):
                raise ValueError(f"step {self.name}.{step.name} needs a question and an async handler")

    def allowed(self, roles: frozenset[Role]) -> bool:
        if self.roles is not None:
            return bool(roles & self.roles)
        return bool(roles) or not self.member

    def ended_unless_allowed(self, ctx: Context) -> Reply | None:
        """A step or a resumed question re-checks the role in the bound compound: without it the flow ends, with
        nothing saved, and this says so; None when still allowed."""
        if self.allowed(ctx.roles):
            return None
        ctx.convo.end()
        return Reply(ctx.t("Your role here has changed, so “{title}” has ended. Nothing of it was saved.",
                           title=ctx.t(self.title)))

    def load(self, raw: dict[str, Any]) -> D | None:
        try:
            return self.draft_type.model_validate(raw)
        except ValidationError:
            log.warning("flow %s: a stored draft no longer fits its model", self.name)
            return None

    def context(self, ctx: Context) -> Context:
        """What this flow's questions and steps get: a MemberContext when it is for members or role holders."""
        return ctx.as_member() if (self.member or self.roles is not None) and ctx.compound is not None else ctx

    async def question_of(self, ctx: Context, step: str, draft: Draft) -> Reply:
        asked = self.steps[step].ask(self.context(ctx), draft)
        question = await asked if inspect.isawaitable(asked) else asked
        # Marked as this step's question, for tidy chats (the core's `_tidy`).
        return replace(question, asks=f"{ctx.convo.key}:{step}")

    async def begin(self, ctx: Context, draft: D, step: str | None = None) -> Replies:
        """Start this flow for the person in this chat and compound; returns its first question (or the polite
        refusal: busy with another flow, or not allowed)."""
        if (busy := ctx.busy()) is not None:
            return busy
        if not self.allowed(ctx.roles):
            return ctx.core.refusal(ctx, self.roles)
        first = step or self.first
        ctx.convo.start(self.name, first, draft.model_dump(mode="json"),
                        compound_id=ctx.compound.id if ctx.compound is not None else None)
        return await self.question_of(ctx, first, draft)

    async def run(self, ctx: Context, msg: Incoming) -> Replies:
        """One answer to the open step: read it, let the step decide, write the draft whole, ask what is next."""
        t = ctx.t
        convo = ctx.convo
        if (ended := self.ended_unless_allowed(ctx)) is not None:
            return ended
        step = self.steps.get(convo.step or "")
        draft = self.load(convo.draft)
        if step is None or draft is None:
            convo.end()
            return Reply(t("That conversation cannot continue any more. Please start again."))
        value = step.answer.read(ctx, msg)
        if isinstance(value, Reply):
            return value  # refused: the step and the draft stay as they were
        outcome = await step.handle(ctx, draft, value)
        if isinstance(outcome, Done):
            convo.end()
            return outcome.replies
        if outcome.draft is not None:
            if not isinstance(outcome.draft, self.draft_type):
                raise TypeError(f"step {self.name}.{step.name} returned a {type(outcome.draft).__name__} draft")
            convo.draft = outcome.draft.model_dump(mode="json")
            convo.touch()
        if isinstance(outcome, Stay):
            return outcome.reply
        if outcome.step not in step.next:
            raise ValueError(f"step {self.name}.{step.name} went to {outcome.step!r}, not declared in its next")
        convo.goto(outcome.step)
        question = await self.question_of(ctx, outcome.step, outcome.draft or draft)
        return [*outcome.say, question]


def busy_buttons(label_continue: str, label_abandon: str) -> tuple[tuple[Button, ...], ...]:
    """继续 / 放弃 under the "you are in the middle of something" answer (core actions, checked on press)."""
    return ((Button.do(label_continue, RESUME_ACTION), Button.do(label_abandon, ABANDON_ACTION)),)


RESUME_ACTION = "~resume"
ABANDON_ACTION = "~abandon"
UNTITLED = N_("an unfinished conversation")


def title_of(t: Translator, flow: Flow[Any] | None) -> str:
    """The open flow's name as the person reads it (a conversation this version no longer has: a general one)."""
    return t(flow.title) if flow is not None else t(UNTITLED)
