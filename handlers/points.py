"""Points: the balance and last entries (/points), the compound's ranking (/rank, names hidden by choice), and
redemption at the service centre (/redeem by a secretary, confirmed by the person)."""

from __future__ import annotations

from sqlmodel import col, select

from bot.core.context import Context
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, ToPerson, rows
from storage import points as ledger
from storage.compounds import compound_setting
from storage.people import Membership, MembershipStatus, Person, Role
from storage.points import Redemption

router = Router("points")

MAX_REDEEM = 100_000


def yuan_per_point(ctx: Context) -> int:
    assert ctx.compound is not None
    return int(compound_setting(ctx.compound, "yuan_per_point", ledger.DEFAULT_YUAN_PER_POINT))


@router.command("points", member=True, help="Your volunteer points", order=33)
async def my_points(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    total = await ledger.balance(ctx.session, ctx.compound.id, ctx.person_id)
    lines = [t("Your points in {compound}: {balance} (worth {yuan} yuan at the service centre).",
               compound=ctx.compound.name, balance=total, yuan=total * yuan_per_point(ctx))]
    entries = await ledger.last_entries(ctx.session, ctx.compound.id, ctx.person_id)
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


@router.command("rank", member=True, help="The compound's volunteer ranking", order=34)
async def rank(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    month = ledger.month_start(ctx.now, ctx.zone(ctx.compound))
    parts = []
    for title, since in ((t("Top 10 this month:"), month), (t("Top 10 of all time:"), None)):
        board = await ledger.top(ctx.session, ctx.compound.id, since)
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
    ctx.person.hide_name = bool(ctx.args.get("hide"))
    ctx.session.add(ctx.person)
    if ctx.person.hide_name:
        return Reply(ctx.t("Your name is now hidden in the ranking: others see “(a neighbour)”."))
    return Reply(ctx.t("Your name is now shown in the ranking."))


# ---- redemption ---------------------------------------------------------------------------------------------


@router.command("redeem", roles=[Role.SECRETARY], private=True, flow=True, help="Record a points redemption",
                order=61)
async def redeem(ctx: Context, msg: Incoming) -> Replies:
    ctx.convo.start("redeem", "person")
    typed = str(ctx.args.get("command_args", "")).strip()
    if typed:
        return await _pick_person(ctx, typed)
    return Reply(ctx.t("Who is exchanging points? Type their name (or #id as in /members)."))


@router.step("redeem", "person")
async def redeem_person(ctx: Context, msg: Incoming) -> Replies:
    value = ctx.args.get("value")
    if isinstance(value, int):
        return await _person_chosen(ctx, value)
    return await _pick_person(ctx, (msg.text or "").strip())


async def _pick_person(ctx: Context, typed: str) -> Reply:
    t = ctx.t
    assert ctx.compound is not None
    if not typed:
        return Reply(t("Please type the person's name, or send /cancel."))
    query = (select(Person).join(Membership, col(Membership.person_id) == Person.id)
             .where(Membership.compound_id == ctx.compound.id, Membership.status == MembershipStatus.APPROVED))
    if typed.lstrip("#").isdigit():
        query = query.where(Person.id == int(typed.lstrip("#")))
    else:
        query = query.where(col(Person.name).contains(typed[:50]))
    found = list({p.id: p for p in (await ctx.session.exec(query.order_by(col(Person.id)).limit(11))).all()}.values())
    if not found:
        return Reply(t("I found no member of {compound} called “{name}”. Please type the name again.",
                       compound=ctx.compound.name, name=typed[:50]))
    if len(found) == 1:
        return await _person_chosen(ctx, found[0].id or 0)
    return Reply(t("Which one?"), buttons=rows(*(Button.choice(f"#{p.id} {p.name}", p.id) for p in found[:10]),
                                               per_row=2))


async def _person_chosen(ctx: Context, person_id: int) -> Reply:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    person = await ctx.session.get(Person, person_id)
    if person is None:
        return Reply(t("Please type the person's name, or send /cancel."))
    total = await ledger.balance(ctx.session, ctx.compound.id, person_id)
    ctx.convo.draft.update(person_id=person_id, name=person.name)
    ctx.convo.goto("points")
    return Reply(t("{name} has {balance} points. How many points are exchanged?", name=person.name, balance=total))


@router.step("redeem", "points")
async def redeem_points(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    text = (msg.text or "").strip().rstrip("分")
    if not text.isdigit() or not 0 < int(text) <= MAX_REDEEM:
        return Reply(t("Please type a whole number of points, for example 20."))
    person_id = int(ctx.convo.draft["person_id"])
    total = await ledger.balance(ctx.session, ctx.compound.id, person_id)
    if not ledger.can_debit(total, int(text)):
        return Reply(t("{name} has only {balance} points, so {points} cannot be exchanged. Please type a smaller "
                       "number, or send /cancel.", name=ctx.convo.draft["name"], balance=total, points=int(text)))
    ctx.convo.draft["points"] = int(text)
    ctx.convo.goto("item")
    return Reply(t("What did they receive? (for example: 洗衣液一瓶)"))


@router.step("redeem", "item")
async def redeem_item(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    item = (msg.text or "").strip()[:200]
    if not item:
        return Reply(t("Please type what they received, or send /cancel."))
    draft = ctx.convo.draft
    person_id, points = int(draft["person_id"]), int(draft["points"])
    redemption = Redemption(compound_id=ctx.compound.id, person_id=person_id, points=points, item=item,
                            created_by=ctx.person_id, created_at=ctx.now)
    ctx.session.add(redemption)
    await ctx.session.flush()
    ctx.convo.end()
    rt = await ctx.translator_for(person_id)
    yuan = points * yuan_per_point(ctx)
    ask = Reply(rt("The service centre recorded that you exchanged {points} points (worth {yuan} yuan) for: {item}. "
                   "Please confirm.", points=points, yuan=yuan, item=item),
                buttons=((Button.do(rt("Confirm"), "points.redeem_confirm", redemption=redemption.id),
                          Button.do(rt("That's not right"), "points.redeem_decline", redemption=redemption.id)),),
                to=ToPerson(person_id))
    return [Reply(t("Recorded: {name} exchanges {points} points (worth {yuan} yuan) for {item}. I asked them to "
                    "confirm; the points are deducted when they do.", name=draft["name"], points=points, yuan=yuan,
                    item=item)), ask]


@router.button("points.redeem_confirm", private=True)
async def redeem_confirmed(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    redemption_id = int(ctx.args.get("redemption", 0))
    outcome = await ledger.confirm_redemption(ctx.session, redemption_id, ctx.person_id, ctx.now)
    redemption = await ctx.session.get(Redemption, redemption_id)
    if outcome == "missing" or redemption is None:
        return Reply(t("This redemption is not yours."), toast=t("Not for you"))
    if outcome == "done":
        return Reply(t("This redemption was already answered."), toast=t("Already done"))
    total = await ledger.balance(ctx.session, redemption.compound_id, ctx.person_id)
    st = await ctx.translator_for(redemption.created_by)
    about = {"name": ctx.person.name, "points": redemption.points, "item": redemption.item, "balance": total}
    secretary = ToPerson(redemption.created_by)
    if outcome == "short":
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
