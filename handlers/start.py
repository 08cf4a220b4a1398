"""/start, /help, /lang, /cancel: the menu shows only what the person's roles allow, in their language."""

from __future__ import annotations

from bot.core import answers
from bot.core.context import Context, MemberContext
from bot.core.dispatcher import COMMAND_ACTION
from bot.core.i18n import LANGUAGE_NAMES, LANGUAGES, N_, Translator, language_named
from bot.core.menus import STREET_SECTION, street_commands, usable
from bot.core.router import Route, Router, Routes
from bot.core.types import Button, Incoming, Replies, Reply, rows
from handlers import membership
from handlers.complaints import Complaint, complain_flow
from handlers.needs import NeedDraft, need_flow
from storage import announcements as announcements_store
from storage import assembly as assembly_store
from storage import complaints as complaints_store
from storage import membership as membership_store
from storage import needs as needs_store
from storage import organisations as organisations_store
from storage import start as start_store
from storage import volunteering as volunteering_store
from storage.compounds import compound_by_invite
from storage.people import Role, compounds_of

router = Router("start")

# Messages that are speech rather than text: Telegram gives no transcript (WeCom does, as text).
SPOKEN = ("voice", "audio", "video_note")
# How much of a first message is quoted back when asking what to do with it.
QUOTED = 60


# The menu's sections, in their order: each command names its section with `group=` where it is declared, so a
# new command appears in its section by itself. Commands without one go under "More".
GROUPS = {
    "cases": N_("Complaints and needs"),
    "services": N_("Service centre"),
    "volunteer": N_("Volunteering and points"),
    "civic": N_("Meetings and votes"),
    "notices": N_("Announcements and disclosures"),
    "party": N_("Party members"),
    "members": N_("Members and roles"),
    "account": N_("My account"),
}
MORE = N_("More")
MANAGEMENT = N_("Management")
JOIN_GROUP = "join"  # offered only to people who have not joined
# Roles a resident may hold: a command for none of them is for staff, under Management.
RESIDENT_ROLES = frozenset({Role.RESIDENT, Role.OWNER, Role.PARTY_MEMBER})
# The menu's "open for you now" lines, at most this many of each kind.
CURRENT_EACH = 3
LABEL = 18  # characters of a title shown on a button


def visible(ctx: Context, route: Route) -> bool:
    if route.help is None:
        return False
    if (route.member or route.roles is not None) and (ctx.compound is None or not ctx.roles):
        return False  # a member's command is no use to someone who holds nothing there (a street admin, an applicant)
    if route.group == JOIN_GROUP and ctx.compound is not None and ctx.roles:
        return False  # joining is not offered to members
    # A role's command to its roles; a resident's own matters not to an official or property staff with no room.
    return usable(route, ctx.roles)


def allowed_commands(ctx: Context) -> list[Route]:
    routes = [r for r in ctx.core.routes.commands.values() if visible(ctx, r)]
    return sorted(routes, key=lambda r: (r.order, r.name))


def for_staff(route: Route) -> bool:
    return route.roles is not None and not route.roles & RESIDENT_ROLES


# The sections depend only on the routes, whether the person acts in a compound and their roles there: worked out
# once for each such case, not on every /help and /start (about 150 route checks each). Each entry holds its
# routes, so that their id is not reused by other routes while it is cached.
_SECTIONS: dict[tuple[int, bool, frozenset[Role], bool], tuple[Routes, list[tuple[str | None, list[Route]]]]] = {}


def sections(ctx: Context, staff: bool) -> list[tuple[str | None, list[Route]]]:
    """The person's commands by section (key, routes), in the sections' order; `staff`: the Management ones."""
    case = (id(ctx.core.routes), ctx.compound is None, ctx.roles, staff)
    if (known := _SECTIONS.get(case)) is not None:
        return known[1]
    chosen = [r for r in allowed_commands(ctx) if for_staff(r) == staff and r.name not in ("start", "help")]
    keys = [*GROUPS, JOIN_GROUP, None]
    found = {key: [r for r in chosen if (r.group if r.group in GROUPS or r.group == JOIN_GROUP else None) == key]
             for key in keys}
    made = [(key, found[key]) for key in keys if found[key]]
    _SECTIONS[case] = (ctx.core.routes, made)
    return made


def section_title(ctx: Context, key: str | None) -> str:
    if key == JOIN_GROUP:
        return ctx.t("Join a compound")
    return ctx.t(GROUPS[key]) if key in GROUPS else ctx.t(MORE)


@router.command("start", help="Main menu", order=0)
async def start(ctx: Context, msg: Incoming) -> Replies:
    code = answers.clean_text(str(ctx.args.get("command_args") or "")[:100])
    if code and ctx.private:  # t.me/<bot>?start=CODE, from the compound's QR code
        return await _start_with_code(ctx, code)
    return await main_menu(ctx)


async def main_menu(ctx: Context) -> Replies:
    """What is open for the person now first (a vote, a task they signed up for, their cases, a new announcement),
    then their sections as buttons to sub-menus, and Management for staff."""
    t = ctx.t
    if not ctx.private:
        return _group_help(ctx)
    if ctx.compound is None or not ctx.roles:
        return await _not_a_member(ctx)
    current = await _current(ctx.as_member())
    text = t("{compound}: what would you like to do?", compound=ctx.compound.name)
    if current:
        text = "\n".join([t("{compound}: open for you now", compound=ctx.compound.name),
                          *(f"• {line}" for line, _ in current)])
    buttons = [Button.do(section_title(ctx, key), "start.menu", group=key or "") for key, _ in sections(ctx, False)]
    if sections(ctx, True):
        buttons.append(Button.do(t(MANAGEMENT), "start.menu", group="", staff=True))
    if await organisations_store.streets_administered(ctx.session, ctx.person_id):  # a street admin living here
        buttons.append(Button.do(t(STREET_SECTION), "start.street"))
    return Reply(text, buttons=(*((button,) for _, button in current), *rows(*buttons, per_row=2)))


def _street_buttons(ctx: Context) -> tuple[tuple[Button, ...], ...]:
    """A street admin's commands, as buttons (their commands are in no role's section)."""
    return rows(*(Button.do(ctx.t(label), COMMAND_ACTION, command=name)
                  for name, label in street_commands(ctx.core.routes)), per_row=2)


@router.button("start.street")
async def street_menu(ctx: Context, msg: Incoming) -> Replies:
    """The street admin's commands, from the main menu of a compound they also live in."""
    t = ctx.t
    back = Button.do(t("Back to the menu"), COMMAND_ACTION, command="start")
    if not await organisations_store.streets_administered(ctx.session, ctx.person_id):
        return Reply(t("Nothing here is open to you any more."), buttons=((back,),))
    return Reply(t(STREET_SECTION), buttons=(*_street_buttons(ctx), (back,)))


async def _not_a_member(ctx: Context) -> Reply:
    """Someone who holds no role in a compound: an applicant hears that their request waits, a street admin is led
    to /street (their commands are in no compound's menu), anyone else to joining."""
    t = ctx.t
    waiting = await membership_store.waiting_in(ctx.session, ctx.person_id)
    if waiting:
        return Reply(t("Your request to join {compound} is waiting for the secretary's approval; you will hear here "
                       "as soon as it is decided.", compound="、".join(waiting)))
    streets = await organisations_store.streets_administered(ctx.session, ctx.person_id)
    if streets:
        return Reply(t("You administer {street}: /street shows its compounds, departments and officials, and what "
                       "you can do.", street=streets[0].name), buttons=_street_buttons(ctx))
    return Reply(
        t("Welcome to linli (邻里), your compound's assistant. To join your compound, send /join followed by "
          "the invite code your secretary or building leader gave you, for example: /join ABCD2345"),
        buttons=((Button.do(t("Join a compound"), COMMAND_ACTION, command="join"),),),
    )


async def _current(ctx: MemberContext) -> list[tuple[str, Button]]:
    """(line, button) for what is open for the person now: one read says which kinds there are, then each is read
    by its feature's storage."""
    t, session = ctx.t, ctx.session
    owner, party = ctx.has(Role.OWNER), ctx.has(Role.PARTY_MEMBER)
    there = await start_store.open_now(session, ctx.person_id, ctx.compound_id, ctx.now, owner=owner, party=party)
    found: list[tuple[str, Button]] = []
    if there.vote:
        for assembly in (await assembly_store.awaiting_ballot(session, ctx.person_id, ctx.compound_id, ctx.now))[
                :CURRENT_EACH]:
            found.append((t("Vote open: {title}, until {closes}", title=assembly.title,
                            closes=ctx.local(assembly.closes_at, ctx.compound, "%m-%d %H:%M")),
                          Button.do(t("Vote: {title}", title=_short(assembly.title)), "assembly.vote",
                                    assembly=assembly.id)))
    if there.task:
        for task in await volunteering_store.signed_up_tasks(session, ctx.person_id, ctx.compound_id, ctx.now,
                                                             CURRENT_EACH):
            found.append((t("You signed up for: {title}, {starts}", title=task.title,
                            starts=ctx.local(task.starts_at, ctx.compound, "%m-%d %H:%M")),
                          Button.do(t("Task: {title}", title=_short(task.title)), COMMAND_ACTION, command="tasks")))
    if there.case:
        for case in await complaints_store.current_cases(session, ctx.person_id, ctx.compound_id, CURRENT_EACH):
            state = t(complaints_store.STATE_NAMES[case.state])
            found.append((t("Your case {number}: {state}", number=case.number, state=state),
                          Button.do(t("Case {number}", number=case.number), "complaints.view", case=case.id)))
    if there.announcement and (item := await announcements_store.unread(
            session, ctx.person_id, ctx.compound_id, ctx.now, owner=owner, party=party)) is not None:
        found.append((t("New announcement: {text}", text=_short(item.text, 40)),
                      Button.do(t("Read the new announcement"), "start.announcement", announcement=item.id)))
    return found


def _short(text: str, limit: int = LABEL) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[:limit] + "…"


@router.button("start.menu")
async def submenu(ctx: Context, msg: Incoming) -> Replies:
    """One section's commands as buttons; Management lists its own sections first."""
    t = ctx.t
    staff = bool(ctx.args.get("staff"))
    key = str(ctx.args.get("group") or "") or None
    back = Button.do(t("Back to the menu"), COMMAND_ACTION, command="start")
    found = dict(sections(ctx, staff))
    if staff and key is None and len(found) > 1:
        return Reply(t(MANAGEMENT), buttons=(*rows(*(Button.do(section_title(ctx, k), "start.menu", group=k or "",
                                                                  staff=True) for k in found), per_row=2),
                                             (back,)))
    routes = found.get(key) or (next(iter(found.values())) if staff and len(found) == 1 else [])
    if not routes:
        return Reply(t("Nothing here is open to you any more."), buttons=((back,),))
    title = section_title(ctx, key) if not staff else f"{t(MANAGEMENT)} · {section_title(ctx, key)}"
    buttons = [Button.do(t(r.help or r.name), COMMAND_ACTION, command=r.name) for r in routes]
    return Reply(title, buttons=(*rows(*buttons, per_row=2), (back,)))


@router.button("start.announcement", member=True)
async def announcement(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    item = await announcements_store.read_announcement(
        ctx.session, int(ctx.args.get("announcement", 0)), ctx.person_id, ctx.compound_id, ctx.now,
        owner=ctx.has(Role.OWNER), party=ctx.has(Role.PARTY_MEMBER))
    if item is None:
        return Reply(t("That announcement is not for you, or no longer shown."), toast=t("Not available"))
    return Reply(t("Announcement of {day}:", day=ctx.local(item.due_at, ctx.compound, "%Y-%m-%d %H:%M")) + "\n"
                 + item.text)


async def _start_with_code(ctx: Context, code: str) -> Replies:
    """Joining with the invite code a deep link carried; a member of that compound gets the menu instead."""
    compound = await compound_by_invite(ctx.session, code[:32])
    if compound is not None and compound.id in await compounds_of(ctx.session, ctx.person_id):
        return await main_menu(ctx)
    return await membership.join_with_code(ctx, code)


@router.command("help", help="What I can do for you", order=1)
async def help_(ctx: Context, msg: Incoming) -> Replies:
    """In private: every command the person may use, by section, one line each. In a group: three lines and a
    button to the private chat."""
    t = ctx.t
    if not ctx.private:
        return _group_help(ctx)
    street = bool(await organisations_store.streets_administered(ctx.session, ctx.person_id))
    case = (id(ctx.core.routes), id(t), ctx.compound is None, ctx.roles, street)
    if (known := _HELP.get(case)) is not None:
        return Reply(known[2])
    lines = [t("What you can do here:")]
    for staff in (False, True):
        for key, routes in sections(ctx, staff):
            title = section_title(ctx, key)
            lines += ["", f"{t(MANAGEMENT)} · {title}" if staff else title]
            lines += [f"/{r.name} — {t(r.help or r.name)}" for r in routes]
    if street:  # their commands are in no role's section
        lines += ["", t(STREET_SECTION), *(f"/{name} — {t(label)}" for name, label in street_commands(ctx.core.routes))]
    lines += ["", f"/start — {t('Main menu')}"]
    if ctx.compound is None and not street:
        lines.append(t("Join your compound first with /join and its invite code to see more."))
    text = "\n".join(lines)
    _HELP[case] = (ctx.core.routes, t, text)
    return Reply(text)


# The private /help's text depends only on the routes, the language, whether the person acts in a compound, their
# roles there and whether they administer a street: made once for each such case (as `sections` are). Each entry
# holds its routes and translator, so that their ids are not reused while it is cached.
_HELP: dict[tuple[int, int, bool, frozenset[Role], bool], tuple[Routes, Translator, str]] = {}


GROUP_COMMANDS = 5  # commands named in a group's /help


def _group_help(ctx: Context) -> Reply:
    t = ctx.t
    if ctx.compound is None:
        return Reply(t("This group is not bound to a compound yet. A secretary can bind it with /bindgroup."))
    here = [f"/{r.name}" for r in allowed_commands(ctx) if not r.private and not r.flow and not for_staff(r)
            and r.name not in ("start", "help")][:GROUP_COMMANDS]
    lines = [t("I am linli (邻里), the assistant of {compound}.", compound=ctx.compound.name)]
    if here:
        lines.append(t("In this group: {commands}", commands=" ".join(here)))
    lines.append(t("Everything else, including your own matters, in a private chat:"))
    return Reply("\n".join(lines), buttons=((Button.private(t("Open a private chat"), COMMAND_ACTION, command="help"),),))


@router.command("lang", group="account", help="Change language", order=90)
async def lang(ctx: Context, msg: Incoming) -> Replies:
    chosen = (ctx.args.get("command_args") or "").strip()
    if chosen:
        return _set_language(ctx, chosen)
    return Reply(
        ctx.t("Choose your language:"),
        buttons=_language_buttons(),
    )


@router.button("start.lang")
async def lang_pressed(ctx: Context, msg: Incoming) -> Replies:
    return _set_language(ctx, str(ctx.args.get("code", "")))


def _language_buttons() -> tuple[tuple[Button, ...], ...]:
    return rows(*(Button.do(LANGUAGE_NAMES[code], "start.lang", code=code) for code in LANGUAGES), per_row=3)


def _set_language(ctx: Context, named: str) -> Reply:
    # Every name the bot shows (简体中文, 繁體中文, English) and the codes (zh_TW, zh-Hant, en) are accepted.
    language = language_named(named[:64])
    if language is None:
        return Reply(ctx.t("I do not know that language. Choose one of: {names}.",
                           names=", ".join(LANGUAGE_NAMES.values())), buttons=_language_buttons())
    ctx.person.language = language
    ctx.session.add(ctx.person)
    t = ctx.translator(language)
    return Reply(t("Language set to {name}.", name=LANGUAGE_NAMES[language]), toast=LANGUAGE_NAMES[language])


@router.command("cancel", group="account", help="Leave the current conversation", order=91)
async def cancel(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    if not ctx.convo.active:
        return Reply(t("There is nothing to cancel."))
    flow = ctx.core.routes.flows.get(ctx.convo.flow or "")
    ctx.convo.end()
    if flow is None:
        return Reply(t("Cancelled. Nothing from that conversation was saved."))
    return Reply(t("Cancelled {title}. Nothing of it was saved.", title=t(flow.title)))


# ---- a first message outside any conversation ------------------------------------------------------------


def _as_list(replies: Replies) -> list[Reply]:
    return [] if replies is None else [replies] if isinstance(replies, Reply) else list(replies)


def _menu_button(ctx: Context) -> Button:
    return Button.do(ctx.t("Show the menu"), COMMAND_ACTION, command="start")


@router.unrouted
async def understand(ctx: Context, msg: Incoming) -> Replies:
    """A private message that answers no question and is no command: what the person most likely wants is offered
    as buttons, which carry what they sent (kept on the server with the button), so it is not asked again."""
    t = ctx.t
    if msg.contact is not None:
        return await membership.join_with_contact(ctx, msg)
    if msg.other in SPOKEN:
        return Reply(t("Sorry, I cannot listen to voice messages. Please type what you want to say. On WeCom you "
                       "can also use its voice input, which turns your speech into text."))
    text = answers.clean_text(msg.text[:4 * complaints_store.DESCRIPTION_MAX]) if msg.text else ""
    if ctx.compound is None or not ctx.roles:
        return await _lead_to_joining(ctx, text, msg)
    if msg.photo is not None:
        return Reply(t("Thank you for the photo. Would you like to report a problem with it?"), buttons=(
            (Button.do(t("Report a problem"), "start.complain", text=_fits_case(text), photo=msg.photo.file_id,
                       platform=msg.photo.platform),),
            (_menu_button(ctx),)))
    if text:
        quoted = text if len(text) <= QUOTED else text[:QUOTED] + "…"
        return Reply(t("You wrote: “{text}”\nWhat would you like to do with it?", text=quoted), buttons=(
            (Button.do(t("Report a problem"), "start.complain", text=_fits_case(text)),
             Button.do(t("Post a need"), "start.need", text=_fits_need(text))),
            (_menu_button(ctx),)))
    return Reply(t("I did not understand that. Here is what I can do for you."), buttons=((_menu_button(ctx),),))


def _fits_case(text: str) -> str:
    """The text as a complaint's description, or "" when the description step would refuse it (then it asks)."""
    return text if complaints_store.DESCRIPTION_MIN <= len(text) <= complaints_store.DESCRIPTION_MAX else ""


def _fits_need(text: str) -> str:
    return text if needs_store.TEXT_MIN <= len(text) <= needs_store.TEXT_MAX else ""


async def _lead_to_joining(ctx: Context, text: str, msg: Incoming) -> Replies:
    """Someone who has not joined: an invite code typed on its own joins with it; anything else begins joining."""
    if text and len(text) <= 16 and await compound_by_invite(ctx.session, text) is not None:
        return await membership.join_with_code(ctx, text)
    intro = Reply(ctx.t("Welcome to linli (邻里), your compound's assistant. Before I can take this up, please join "
                        "your compound; it takes a minute."))
    return [intro, *_as_list(await membership.join_with_code(ctx, ""))]


@router.button("start.complain", private=True, member=True)
async def complain_with(ctx: MemberContext, msg: Incoming) -> Replies:
    photo = str(ctx.args.get("photo") or "")
    draft = Complaint(description=_fits_case(str(ctx.args.get("text") or "")),
                      photos=(photo,) if photo else (), photo_platform=str(ctx.args.get("platform") or ""))
    return await complain_flow.begin(ctx, draft)


@router.button("start.need", private=True, member=True)
async def need_with(ctx: MemberContext, msg: Incoming) -> Replies:
    return await need_flow.begin(ctx, NeedDraft(text=_fits_need(str(ctx.args.get("text") or ""))))
