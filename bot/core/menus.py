"""Command menus per person, for platforms that set them per chat (Telegram's setMyCommands with a chat scope).

A staff member's private chat lists the commands of their roles first (in the order their sections are declared,
then each command's `order=`), then everyone's; anyone who holds no staff role gets the platform's default list.
What a person may use comes from the routes' declarations (`roles=`, `help=`, `group=`, `order=`), in the compound
they act in, as the /help and /start menus show it. Menus are computed here, from the tables; a transport only
sets them (it reads no table), at its start for everyone who is or was staff and, after a commit that changed
someone's roles, for them (`Core.roles_changed`). Setting a menu twice is harmless, so every process may do it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.i18n import Translator
from bot.core.router import Route, Routes
from storage.organisations import Affiliation
from storage.people import Identity, Person, Role, RoleGrant, compounds_of, roles_in

# Roles a resident may hold: a command for none of them is a staff command (the Management menu).
RESIDENT_ROLES = frozenset({Role.RESIDENT, Role.OWNER, Role.PARTY_MEMBER})
JOIN_GROUP = "join"  # offered only to people who have not joined
LIMIT = 100  # commands Telegram takes in one list


@dataclass(frozen=True, slots=True)
class ChatMenu:
    """One private chat's menu: (command, description) pairs; empty means the platform's default list."""

    person_id: int
    chat_id: str
    commands: tuple[tuple[str, str], ...]


def for_staff(route: Route) -> bool:
    return route.roles is not None and not route.roles & RESIDENT_ROLES


def commands_for(routes: Routes, roles: frozenset[Role], t: Translator) -> tuple[tuple[str, str], ...]:
    """The menu of someone holding `roles`: their staff commands first, then the rest they may use; one word each
    (Telegram's commands are one word: "/export cases" and "/export points" are one /export). Empty when they
    hold no staff command."""
    allowed = [r for r in routes.commands.values() if r.help and r.group != JOIN_GROUP
               and (r.roles is None or r.roles & roles)]
    staff = [r for r in allowed if for_staff(r)]
    if not staff:
        return ()
    first: dict[str | None, int] = {}
    for route in sorted(staff, key=lambda r: (r.order, r.name)):
        first.setdefault(route.group, route.order)
    ordered = sorted(staff, key=lambda r: (first[r.group], r.order, r.name)) + sorted(
        (r for r in allowed if not for_staff(r)), key=lambda r: (r.order, r.name))
    heads: dict[str, Route] = {}
    for route in ordered:
        heads.setdefault(route.name.partition(" ")[0], route)
    return tuple((name, t(route.help or name)[:256]) for name, route in heads.items())[:LIMIT]


async def candidates(session: AsyncSession) -> list[int]:
    """Everyone who holds or held a staff role (a grant, or a street office, department or company): at start,
    their menus are set, or reset when their roles are gone (revoked while no process was running)."""
    granted = select(RoleGrant.person_id).where(col(RoleGrant.role).not_in([r.value for r in RESIDENT_ROLES]))
    affiliated = select(Affiliation.person_id)
    found = (await session.exec(sa.union(granted, affiliated))).all()  # type: ignore[call-overload]
    return sorted({row[0] for row in found})


async def menus(session: AsyncSession, routes: Routes, platform: str, people: Iterable[int] | None,
                translator_for: Callable[[Person], Translator]) -> list[ChatMenu]:
    """The menus of these people's private chats on the platform (of everyone who is or was staff with None)."""
    chosen = await candidates(session) if people is None else sorted(set(people))
    found: list[ChatMenu] = []
    for person_id in chosen:
        chats = (await session.exec(select(Identity.private_chat_id).where(
            Identity.person_id == person_id, Identity.platform == platform,
            col(Identity.private_chat_id).is_not(None)))).all()
        person = await session.get(Person, person_id)
        if not chats or person is None:
            continue
        compound_id = person.current_compound_id
        if compound_id is None:
            compound_id = next(iter(await compounds_of(session, person_id)), None)
        commands = commands_for(routes, await roles_in(session, person_id, compound_id), translator_for(person))
        found.extend(ChatMenu(person_id, str(chat), commands) for chat in chats if chat)
    return found
