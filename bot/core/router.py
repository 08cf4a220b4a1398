"""One router per feature module; `bot/app.py` lists them all in one place. Nothing registers on import
into anything global: a route exists because its router is included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from bot.core.flows import Flow
from storage.people import Role

if TYPE_CHECKING:
    from bot.core.context import JobContext
    from bot.core.types import Replies

# A handler takes a Context (a MemberContext on member and role routes) and the message.
Handler = Callable[..., Awaitable["Replies"]]
HandlerT = TypeVar("HandlerT", bound=Handler)
JobHandler = Callable[["JobContext"], Awaitable["Replies"]]


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    handler: Handler
    # The presser must hold one of these roles in the compound (None: anyone who has joined or not).
    roles: frozenset[Role] | None = None
    # Must happen in a private chat; from a group the core offers a link to continue privately.
    private: bool = False
    # Needs the person to belong to a compound.
    member: bool = False
    # Starts a conversation; refused while another one is open (so nothing entered is lost).
    flow: bool = False
    # The /help line (a message id), shown only to those allowed to use it.
    help: str | None = None
    order: int = 100
    # The menu and /help section it belongs to (a message id marked with N_); None: under "More".
    group: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    handler: JobHandler
    # How often the job runs; the scheduler's tick is its finest resolution.
    every: timedelta = timedelta(minutes=1)


@dataclass
class Router:
    name: str
    commands: dict[str, Route] = field(default_factory=dict)
    buttons: dict[str, Route] = field(default_factory=dict)
    flows: dict[str, Flow[Any]] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)
    # Called when a group chat event (bot added) needs a feature's say; rarely used.
    extras: dict[str, Any] = field(default_factory=dict)
    # What a private message outside any conversation and command (text, a photo, a contact) is given to.
    fallback: Route | None = None

    def command(
        self,
        name: str,
        *,
        roles: Iterable[Role] | None = None,
        private: bool = False,
        member: bool = False,
        flow: bool = False,
        help: str | None = None,
        order: int = 100,
        group: str | None = None,
    ) -> Callable[[HandlerT], HandlerT]:
        def register(handler: HandlerT) -> HandlerT:
            if name in self.commands:
                raise ValueError(f"command /{name} registered twice in {self.name}")
            self.commands[name] = Route(
                name, handler, frozenset(roles) if roles is not None else None, private, member, flow, help, order,
                group,
            )
            return handler

        return register

    def button(
        self, action: str, *, roles: Iterable[Role] | None = None, private: bool = False, member: bool = False
    ) -> Callable[[HandlerT], HandlerT]:
        def register(handler: HandlerT) -> HandlerT:
            if action in self.buttons:
                raise ValueError(f"button {action} registered twice in {self.name}")
            self.buttons[action] = Route(action, handler, frozenset(roles) if roles is not None else None, private, member)
            return handler

        return register

    def unrouted(self, handler: HandlerT) -> HandlerT:
        """The handler of private messages outside any conversation and command; one router in the app has it."""
        if self.fallback is not None:
            raise ValueError(f"two handlers of unrouted messages in {self.name}")
        self.fallback = Route("~unrouted", handler)
        return handler

    def flow(self, *flows: Flow[Any]) -> None:
        """Route the answers of these declared flows (`bot.core.flows`)."""
        for declared in flows:
            if declared.name in self.flows:
                raise ValueError(f"flow {declared.name} registered twice in {self.name}")
            self.flows[declared.name] = declared

    def job(self, name: str, every: timedelta = timedelta(minutes=1)) -> Callable[[JobHandler], JobHandler]:
        def register(handler: JobHandler) -> JobHandler:
            self.jobs.append(Job(f"{self.name}.{name}", handler, every))
            return handler

        return register


@dataclass
class Routes:
    """All routers joined; a clash is an error at start-up, not a silent precedence."""

    commands: dict[str, Route] = field(default_factory=dict)
    buttons: dict[str, Route] = field(default_factory=dict)
    flows: dict[str, Flow[Any]] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)
    fallback: Route | None = None

    @classmethod
    def join(cls, routers: Iterable[Router]) -> Routes:
        routes = cls()
        for router in routers:
            if router.fallback is not None:
                if routes.fallback is not None:
                    raise ValueError(f"unrouted messages are handled twice (again in {router.name})")
                routes.fallback = router.fallback
            for table, theirs in ((routes.commands, router.commands), (routes.buttons, router.buttons)):
                for key, route in theirs.items():
                    if key in table:
                        raise ValueError(f"{key!r} is routed twice (again in {router.name})")
                    table[key] = route
            for name, declared in router.flows.items():
                if name in routes.flows:
                    raise ValueError(f"flow {name!r} is routed twice (again in {router.name})")
                declared.check()
                routes.flows[name] = declared
            routes.jobs.extend(router.jobs)
        return routes
