"""/start, /help, /lang, /cancel: the menu shows only what the person's roles allow, in their language."""

from __future__ import annotations

from bot.core import answers
from bot.core.context import Context, MemberContext
from bot.core.dispatcher import COMMAND_ACTION
from bot.core.i18n import LANGUAGE_NAMES, LANGUAGES
from bot.core.router import Route, Router
from bot.core.types import Button, Incoming, Replies, Reply, rows
from handlers import membership
from handlers.complaints import Complaint, complain_flow
from handlers.needs import NeedDraft, need_flow
from storage import complaints as complaints_store
from storage import needs as needs_store
from storage.compounds import compound_by_invite
from storage.people import compounds_of

router = Router("start")

# Messages that are speech rather than text: Telegram gives no transcript (WeCom does, as text).
SPOKEN = ("voice", "audio", "video_note")
# How much of a first message is quoted back when asking what to do with it.
QUOTED = 60


def visible(ctx: Context, route: Route) -> bool:
    if route.help is None:
        return False
    if (route.member or route.roles is not None) and ctx.compound is None:
        return False
    return route.roles is None or bool(ctx.roles & route.roles)


def allowed_commands(ctx: Context) -> list[Route]:
    routes = [r for r in ctx.core.routes.commands.values() if visible(ctx, r)]
    return sorted(routes, key=lambda r: (r.order, r.name))


@router.command("start", help="Main menu", order=0)
async def start(ctx: Context, msg: Incoming) -> Replies:
    code = answers.clean_text(str(ctx.args.get("command_args") or "")[:100])
    if code and ctx.private:  # t.me/<bot>?start=CODE, from the compound's QR code
        return await _start_with_code(ctx, code)
    return await main_menu(ctx)


async def main_menu(ctx: Context) -> Replies:
    t = ctx.t
    if ctx.compound is None:
        if not ctx.private:
            return Reply(t("This group is not bound to a compound yet. A secretary can bind it with /bindgroup."))
        return Reply(
            t("Welcome to linli (邻里), your compound's assistant. To join your compound, send /join followed by "
              "the invite code your secretary or building leader gave you, for example: /join ABCD2345"),
            buttons=((Button.do(t("Join a compound"), COMMAND_ACTION, command="join"),),),
        )
    menu = [r for r in allowed_commands(ctx) if r.name not in ("start", "help")]
    if not ctx.private:
        menu = [r for r in menu if not r.private and not r.flow]
    buttons = [Button.do(t(r.help or r.name), COMMAND_ACTION, command=r.name) for r in menu[:12]]
    return Reply(
        t("{compound}: what would you like to do?", compound=ctx.compound.name),
        buttons=rows(*buttons, per_row=2),
    )


async def _start_with_code(ctx: Context, code: str) -> Replies:
    """Joining with the invite code a deep link carried; a member of that compound gets the menu instead."""
    compound = await compound_by_invite(ctx.session, code[:32])
    if compound is not None and compound.id in await compounds_of(ctx.session, ctx.person_id):
        return await main_menu(ctx)
    return await membership.join_with_code(ctx, code)


@router.command("help", help="What I can do for you", order=1)
async def help_(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    lines = [t("What you can do here:")]
    for route in allowed_commands(ctx):
        lines.append(f"/{route.name} — {t(route.help or route.name)}")
    if ctx.compound is None:
        lines.append(t("Join your compound first with /join and its invite code to see more."))
    return Reply("\n".join(lines))


@router.command("lang", help="Change language", order=90)
async def lang(ctx: Context, msg: Incoming) -> Replies:
    chosen = (ctx.args.get("command_args") or "").strip()
    if chosen:
        return _set_language(ctx, chosen)
    return Reply(
        ctx.t("Choose your language:"),
        buttons=rows(*(Button.do(LANGUAGE_NAMES[code], "start.lang", code=code) for code in LANGUAGES), per_row=3),
    )


@router.button("start.lang")
async def lang_pressed(ctx: Context, msg: Incoming) -> Replies:
    return _set_language(ctx, str(ctx.args.get("code", "")))


def _set_language(ctx: Context, code: str) -> Reply:
    aliases = {"zh": "zh_CN", "zh_cn": "zh_CN", "cn": "zh_CN", "zh_tw": "zh_TW", "tw": "zh_TW", "en": "en"}
    language = aliases.get(code.strip().lower().replace("-", "_"), code.strip())
    if language not in LANGUAGES:
        return Reply(ctx.t("I do not know that language. Choose one of: {names}.",
                           names=", ".join(LANGUAGE_NAMES.values())))
    ctx.person.language = language
    ctx.session.add(ctx.person)
    t = ctx.translator(language)
    return Reply(t("Language set to {name}.", name=LANGUAGE_NAMES[language]), toast=LANGUAGE_NAMES[language])


@router.command("cancel", help="Leave the current conversation", order=91)
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
