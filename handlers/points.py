"""Points: the balance and last entries (/points), the compound's ranking (/rank, names hidden by choice), and
redemption at the service centre (/redeem by a secretary, confirmed by the person)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core import answers
from bot.core.context import Context, MemberContext
from bot.core.flows import Done, Draft, Flow, Go, Outcome, Stay
from bot.core.i18n import N_
from bot.core.router import Router
from bot.core.types import XLSX, Button, Incoming, Media, Replies, Reply, ToPerson, rows
from bot.core.when import parse_day
from storage import ledger as xlsx
from storage import points as ledger
from storage.compounds import Compound, compound_setting
from storage.people import Person, Role
from storage.points import MAX_REDEEM, Confirmation, Redemption

router = Router("points")

# Ids as /members shows them: more digits than this are no id of ours (and would overflow the column).
MAX_ID = 10**12



def yuan_per_point(compound: Compound | None) -> int:
    if compound is None:
        return ledger.DEFAULT_YUAN_PER_POINT
    return int(compound_setting(compound, "yuan_per_point", ledger.DEFAULT_YUAN_PER_POINT))


@router.command("points", group="volunteer", member=True, help="Your volunteer points", order=33)
async def my_points(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    total = await ledger.balance(ctx.session, ctx.compound_id, ctx.person_id)
    lines = [t("Your points in {compound}: {balance} (worth {yuan} yuan at the service centre).",
               compound=ctx.compound.name, balance=total, yuan=total * yuan_per_point(ctx.compound))]
    entries = await ledger.last_entries(ctx.session, ctx.compound_id, ctx.person_id)
    if entries:
        lines.append(t("Latest entries:"))
        for entry in entries:
            lines.append(f"{ctx.local(entry.created_at, ctx.compound, '%m-%d')} {entry.amount:+d} {entry.reason}")
    else:
        lines.append(t("No points yet. Send /tasks to find a volunteer task."))
    reply = Reply("\n".join(lines))
    if not ctx.private:
        # A balance is nobody else's business: answer in private when asked in a group.
        return Reply(reply.text, to=ToPerson(ctx.person_id))
    return reply


@router.command("rank", group="volunteer", member=True, help="The compound's volunteer ranking", order=34)
async def rank(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    month = ledger.month_start(ctx.now, ctx.zone(ctx.compound))
    parts = []
    for title, since in ((t("Top 10 this month:"), month), (t("Top 10 of all time:"), None)):
        board = await ledger.top(ctx.session, ctx.compound_id, since)
        lines = [title]
        for place, (person_id, points) in enumerate(board, 1):
            person = await ctx.session.get(Person, person_id)
            shown = t("(a neighbour)") if person is None or person.hide_name else person.name
            if person_id == ctx.person_id:
                shown += t(" (you)")
            lines.append(t("{place}. {name}: {points} points", place=place, name=shown, points=points))
        if len(lines) == 1:
            lines.append(t("Nobody has earned points yet."))
        parts.append("\n".join(lines))
    text = "\n\n".join(parts)
    if not ctx.private:
        return Reply(text)
    label = t("Show my name in the ranking") if ctx.person.hide_name else t("Hide my name in the ranking")
    return Reply(text, buttons=((Button.do(label, "points.privacy", hide=not ctx.person.hide_name),),))


@router.button("points.privacy", private=True)
async def privacy(ctx: Context, msg: Incoming) -> Replies:
    await ledger.set_name_hidden(ctx.session, ctx.person, bool(ctx.args.get("hide")))
    if ctx.person.hide_name:
        return Reply(ctx.t("Your name is now hidden in the ranking: others see “(a neighbour)”."))
    return Reply(ctx.t("Your name is now shown in the ranking."))


# ---- redemption: the secretary records it, the person confirms ------------------------------------------------


class Exchange(Draft):
    person_id: int = 0
    name: str = ""
    points: int = 0
    # The members a typed name matched, for the person to be chosen with buttons.
    candidates: tuple[tuple[int, str], ...] = ()


redeem_flow = Flow("redeem", Exchange, title=N_("the points redemption"), roles=[Role.SECRETARY])


@router.command("redeem", group="volunteer", roles=[Role.SECRETARY], private=True, flow=True, help="Record a points redemption",
                order=61)
async def redeem(ctx: MemberContext, msg: Incoming) -> Replies:
    typed = answers.clean_text(str(ctx.args.get("command_args", "")))[:100]
    if not typed:
        return await redeem_flow.begin(ctx, Exchange())
    found = await _members(ctx, typed)
    if len(found) == 1:
        person_id, name = found[0]
        return await redeem_flow.begin(ctx, Exchange(person_id=person_id, name=name), step="points")
    if found:
        return await redeem_flow.begin(ctx, _candidates(found), step="which")
    before = ctx.convo.key
    replies = await redeem_flow.begin(ctx, Exchange())
    if ctx.convo.key == before:
        return replies  # not begun (busy, or not allowed): that is the answer
    return _not_found(ctx, typed)


async def _members(ctx: MemberContext, typed: str) -> list[tuple[int, str]]:
    """Approved members of the bound compound by #id (digits only, as /members shows them) or by name."""
    number = answers.whole_number(typed.removeprefix("#").removeprefix("＃"), 1, MAX_ID)
    if number is not None:
        return await ledger.find_members(ctx.session, ctx.compound_id, person_id=number)
    return await ledger.find_members(ctx.session, ctx.compound_id, name=typed)


def _candidates(found: list[tuple[int, str]]) -> Exchange:
    return Exchange(candidates=tuple(found[:10]))


def _not_found(ctx: MemberContext, typed: str) -> Reply:
    return Reply(ctx.t("I found no member of {compound} called “{name}”. Please type the name again.",
                       compound=ctx.compound.name, name=typed[:50]))


def _ask_person(ctx: Context, draft: Exchange) -> Reply:
    return Reply(ctx.t("Who is exchanging points? Type their name (or #id as in /members)."))


@redeem_flow.step("person", ask=_ask_person, answer=answers.Text(100, what=N_("name")), next=("which", "points"))
async def redeem_person(ctx: MemberContext, draft: Exchange, typed: str) -> Outcome:
    found = await _members(ctx, typed)
    if not found:
        return Stay(_not_found(ctx, typed))
    if len(found) == 1:
        return await _chosen(ctx, draft, found[0][0])
    return Go("which", _candidates(found))


def _ask_which(ctx: Context, draft: Exchange) -> Reply:
    return Reply(ctx.t("Which one?"), buttons=rows(*(Button.choice(f"#{person_id} {name}", person_id)
                                                    for person_id, name in draft.candidates), per_row=2))


@redeem_flow.step("which", ask=_ask_which, answer=answers.Choice(), next=("points",))
async def redeem_which(ctx: MemberContext, draft: Exchange, person_id: int) -> Outcome:
    return await _chosen(ctx, draft, person_id)


async def _chosen(ctx: MemberContext, draft: Exchange, person_id: int) -> Outcome:
    found = await ledger.find_members(ctx.session, ctx.compound_id, person_id=person_id)
    if not found:
        return Stay(Reply(ctx.t("Please type the person's name, or send /cancel.")))
    return Go("points", draft.model_copy(update={"person_id": person_id, "name": found[0][1], "candidates": ()}))


async def _ask_points(ctx: MemberContext, draft: Exchange) -> Reply:
    total = await ledger.balance(ctx.session, ctx.compound_id, draft.person_id)
    return Reply(ctx.t("{name} has {balance} points. How many points are exchanged?", name=draft.name,
                       balance=total))


@redeem_flow.step("points", ask=_ask_points, answer=answers.Count(1, MAX_REDEEM, units=("积分", "分")),
                  next=("item",))
async def redeem_points(ctx: MemberContext, draft: Exchange, points: int) -> Outcome:
    total = await ledger.balance(ctx.session, ctx.compound_id, draft.person_id)
    if not ledger.can_debit(total, points):
        return Stay(Reply(ctx.t("{name} has only {balance} points, so {points} cannot be exchanged. Please type a "
                                "smaller number, or send /cancel.", name=draft.name, balance=total, points=points)))
    return Go("item", draft.model_copy(update={"points": points}))


def _ask_item(ctx: Context, draft: Exchange) -> Reply:
    return Reply(ctx.t("What did they receive? (for example: 洗衣液一瓶)"))


@redeem_flow.step("item", ask=_ask_item, answer=answers.Text(200, what=N_("item")), next=("points",))
async def redeem_item(ctx: MemberContext, draft: Exchange, item: str) -> Outcome:
    t = ctx.t
    redemption = await ledger.record_redemption(ctx.session, ctx.compound_id, draft.person_id, draft.points, item,
                                                ctx.person_id, ctx.now)
    if redemption is None:  # the balance went down while we talked
        total = await ledger.balance(ctx.session, ctx.compound_id, draft.person_id)
        return Go("points", say=(Reply(t("{name} has only {balance} points, so {points} cannot be exchanged. Please "
                                         "type a smaller number, or send /cancel.", name=draft.name, balance=total,
                                         points=draft.points)),))
    rt = await ctx.translator_for(draft.person_id)
    yuan = draft.points * yuan_per_point(ctx.compound)
    ask = Reply(rt("The service centre recorded that you exchanged {points} points (worth {yuan} yuan) for: {item}. "
                   "Please confirm.", points=draft.points, yuan=yuan, item=item),
                buttons=((Button.do(rt("Confirm"), "points.redeem_confirm", redemption=redemption.id),
                          Button.do(rt("That's not right"), "points.redeem_decline", redemption=redemption.id)),),
                to=ToPerson(draft.person_id))
    return Done([Reply(t("Recorded: {name} exchanges {points} points (worth {yuan} yuan) for {item}. I asked them to "
                         "confirm; the points are deducted when they do.", name=draft.name, points=draft.points,
                         yuan=yuan, item=item)), ask])


@router.button("points.redeem_confirm", private=True)
async def redeem_confirmed(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    redemption_id = int(ctx.args.get("redemption", 0))
    outcome = await ledger.confirm_redemption(ctx.session, redemption_id, ctx.person_id, ctx.now)
    redemption = await ctx.session.get(Redemption, redemption_id)
    if outcome == Confirmation.MISSING or redemption is None:
        return Reply(t("This redemption is not yours."), toast=t("Not for you"))
    if outcome == Confirmation.DONE:
        return Reply(t("This redemption was already answered."), toast=t("Already done"))
    total = await ledger.balance(ctx.session, redemption.compound_id, ctx.person_id)
    st = await ctx.translator_for(redemption.created_by)
    about = {"name": ctx.person.name, "points": redemption.points, "item": redemption.item, "balance": total}
    secretary = ToPerson(redemption.created_by)
    if outcome == Confirmation.SHORT:
        return [Reply(t("You have only {balance} points, so {points} cannot be deducted. Please speak to the "
                        "service centre.", balance=total, points=redemption.points)),
                Reply(st("{name} could not confirm the exchange of {points} points for {item}: their balance is "
                         "only {balance}.", **about), to=secretary)]
    return [Reply(t("Confirmed: {points} points deducted for {item}. Your balance: {balance}.",
                    points=redemption.points, item=redemption.item, balance=total), toast=t("Confirmed")),
            Reply(st("{name} confirmed the exchange of {points} points for {item}. Their balance: {balance}.",
                     **about), to=secretary)]


@router.button("points.redeem_decline", private=True)
async def redeem_declined(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    redemption_id = int(ctx.args.get("redemption", 0))
    redemption = await ctx.session.get(Redemption, redemption_id)
    if redemption is None or redemption.person_id != ctx.person_id:
        return Reply(t("This redemption is not yours."), toast=t("Not for you"))
    if not await ledger.decline_redemption(ctx.session, redemption_id, ctx.person_id, ctx.now):
        return Reply(t("This redemption was already answered."), toast=t("Already done"))
    st = await ctx.translator_for(redemption.created_by)
    return [Reply(t("Noted: nothing was deducted. The service centre will check with you.")),
            Reply(st("{name} said the exchange of {points} points for {item} is not right; nothing was deducted.",
                     name=ctx.person.name, points=redemption.points, item=redemption.item),
                  to=ToPerson(redemption.created_by))]


router.flow(redeem_flow)

__all__ = ["router"]


# ---- the points ledger (积分台账) ----------------------------------------------------------------------------

# Who may export the whole compound's points ledger (or one member's); anyone else gets their own.
LEDGER_ROLES = frozenset({Role.SECRETARY, Role.COMMITTEE, Role.SUPERVISOR})
ENTRY_COLUMNS = (xlsx.Column(N_("Time"), xlsx.Kind.DATETIME), xlsx.Column(N_("Name")),
                 xlsx.Column(N_("Kind"), labels=ledger.ENTRY_KINDS), xlsx.Column(N_("Reason"), width=36),
                 xlsx.Column(N_("Points"), xlsx.Kind.INT), xlsx.Column(N_("Balance"), xlsx.Kind.INT))
BALANCE_COLUMNS = (xlsx.Column(N_("Name")), xlsx.Column(N_("Balance before"), xlsx.Kind.INT),
                   xlsx.Column(N_("Earned"), xlsx.Kind.INT), xlsx.Column(N_("Redeemed"), xlsx.Kind.INT),
                   xlsx.Column(N_("Corrections"), xlsx.Kind.INT), xlsx.Column(N_("Balance"), xlsx.Kind.INT))


@router.command("export points", group="volunteer", member=True, private=True, order=35,
                help="Export a points ledger (XLSX)")
async def export_points(ctx: MemberContext, msg: Incoming) -> Replies:
    """`/export points [#ID] [FROM [TO]]`: the compound's ledger for its secretary, committee and supervisors (or
    one member's with #ID), a member's own for everyone else; by default from the first entry to today."""
    t, zone = ctx.t, ctx.zone(ctx.compound)
    usage = Reply(t("Usage: /export points [#ID] [FROM TO], dates as 2026-11-01."))
    words = str(ctx.args.get("command_args", "")).split()
    staff = bool(ctx.roles & LEDGER_ROLES)
    person_id: int | None = None if staff else ctx.person_id
    if words and words[0].lstrip("#").isdigit() and len(words[0].lstrip("#")) <= len(str(MAX_ID)):
        if not staff:
            return Reply(t("Only the secretary, the committee and the supervisors can export another member's "
                           "points; send /export points for your own."))
        wanted = int(words.pop(0).lstrip("#"))
        found = await ledger.find_members(ctx.session, ctx.compound_id, person_id=wanted, limit=1)
        if not found:
            return Reply(t("There is no member #{id} in {compound}.", id=wanted, compound=ctx.compound.name))
        person_id = wanted
    days = [day for day in (parse_day(word, ctx.now, zone) for word in words) if day is not None]
    today = ctx.now.astimezone(zone).date()
    if len(words) > 2 or len(days) < len(words) or (len(days) == 2 and days[0] > days[1]):
        return usage
    first, last = (days[0] if days else None), (days[1] if len(days) > 1 else today)
    start = datetime(first.year, first.month, first.day, tzinfo=zone) if first else None
    end = datetime(last.year, last.month, last.day, tzinfo=zone) + timedelta(days=1)
    entries, balances = await ledger.ledger_rows(ctx.session, ctx.compound_id, start, end, person_id)
    opened = entries[0][0] if entries else None
    since = first or (opened.astimezone(zone).date() if isinstance(opened, datetime) else last)
    shown_period = xlsx.period(t, min(since, last), last)
    sheets = [xlsx.Sheet(N_("Points entries"), ENTRY_COLUMNS, entries)]
    if person_id is None:
        sheets.append(xlsx.Sheet(N_("Points balances"), BALANCE_COLUMNS, balances))
    whose = ctx.compound.name if person_id is None else " · ".join(
        [ctx.compound.name, str(balances[0][0]) if balances else (await ctx.session.get(Person, person_id) or
                                                               Person(name=f"#{person_id}")).name])
    data = xlsx.render(t, xlsx.Ledger(N_("Points ledger"), whose, shown_period, sheets, zone))
    name = f"points-{ctx.compound.code}{'' if person_id is None else f'-{person_id}'}-{last:%Y%m%d}.xlsx"
    return Reply(t("The points ledger of {whose}, {period}.", whose=whose, period=shown_period),
                 document=Media(data, name, XLSX))
