"""/start, /help, /lang, /cancel: the menu shows only what the person's roles allow, in their language."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.dispatcher import COMMAND_ACTION
from bot.core.i18n import LANGUAGE_NAMES, LANGUAGES
from bot.core.router import Route, Router
from bot.core.types import Button, Incoming, Replies, Reply, rows

router = Router("start")


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
