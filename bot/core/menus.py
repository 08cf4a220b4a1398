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

from bot.core.i18n import N_, Translator
from bot.core.router import Route, Routes
from storage.organisations import Affiliation, streets_administered
from storage.people import Identity, Person, Role, RoleGrant, compounds_of, roles_in

# Roles a resident may hold: a command for none of them is a staff command (the Management menu).
RESIDENT_ROLES = frozenset({Role.RESIDENT, Role.OWNER, Role.PARTY_MEMBER})
# Roles held through an organisation (a street's department, the property company), with no room: someone who holds
# only these belongs to the compound for their work, and a resident's own matters are not offered to them.
ORGANISATION_ROLES = frozenset({Role.OFFICIAL, Role.PROPERTY})
JOIN_GROUP = "join"  # offered only to people who have not joined
LIMIT = 100  # commands Telegram takes in one list
# A street admin holds no role in a compound (handlers/organisations.py checks the street office itself), so no
# role's menu has their commands: /start, /help and their chat's menu offer these to whoever administers a street.
STREET_COMMANDS = (("street", N_("Street overview")), ("department", N_("Create a department")),
                   ("official", N_("Invite or add an official")), ("staffcode", N_("Invite property company staff")))
STREET_SECTION = N_("Street administration")


def residents_own(route: Route) -> bool:
    """A command of a member's own matters, in their private chat, that needs no role: filing a case, a need, a
    service order, a nomination, an objection, their skills and points ledger, leaving the compound."""
    return route.member and route.private and route.roles is None


def usable(route: Route, roles: frozenset[Role]) -> bool:
    """Whether menus offer the command to someone holding `roles` in the compound they act in (the dispatcher still
    checks every command): a role's command to whoever holds one of its roles, a member's command to whoever holds
    a role there, and a resident's own matters not to someone who belongs only through their organisation (an
    official or property staff with no room)."""
    if route.roles is not None:
        return bool(route.roles & roles)
    if route.member and not roles:
        return False
    return not (residents_own(route) and roles <= ORGANISATION_ROLES)


def street_commands(routes: Routes) -> tuple[tuple[str, str], ...]:
    """A street admin's commands, (command, description to translate), those routed here."""
    return tuple((name, help_) for name, help_ in STREET_COMMANDS if name in routes.commands)


@dataclass(frozen=True, slots=True)
class ChatMenu:
    """One private chat's menu: (command, description) pairs; empty means the platform's default list."""

    person_id: int
    chat_id: str
    commands: tuple[tuple[str, str], ...]


def for_staff(route: Route) -> bool:
    return route.roles is not None and not route.roles & RESIDENT_ROLES


def commands_for(routes: Routes, roles: frozenset[Role], t: Translator,
                 street: bool = False) -> tuple[tuple[str, str], ...]:
    """The menu of someone holding `roles` (and administering a street: `street`): their staff commands first (a
    street admin's before them), then the rest they may use; one word each (Telegram's commands are one word:
    "/export cases" and "/export points" are one /export). Empty when they hold no staff command and administer
    no street."""
    allowed = [r for r in routes.commands.values() if r.help and r.group != JOIN_GROUP and usable(r, roles)]
    staff = [r for r in allowed if for_staff(r)]
    own_street = tuple((name, t(help_)[:256]) for name, help_ in street_commands(routes)) if street else ()
    if not staff and not own_street:
        return ()
    first: dict[str | None, int] = {}
    for route in sorted(staff, key=lambda r: (r.order, r.name)):
        first.setdefault(route.group, route.order)
    ordered = sorted(staff, key=lambda r: (first[r.group], r.order, r.name)) + sorted(
        (r for r in allowed if not for_staff(r)), key=lambda r: (r.order, r.name))
    heads: dict[str, Route] = {}
    for route in ordered:
        heads.setdefault(route.name.partition(" ")[0], route)
    return (*own_street, *((name, t(route.help or name)[:256]) for name, route in heads.items()))[:LIMIT]


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
        commands = commands_for(routes, await roles_in(session, person_id, compound_id), translator_for(person),
                                street=bool(await streets_administered(session, person_id)))
        found.extend(ChatMenu(person_id, str(chat), commands) for chat in chats if chat)
    return found
