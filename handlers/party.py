"""Party members: 报到 (/report), 承诺 (/pledge), 践诺 (fulfilling a pledge with evidence the secretary
confirms or sends back with a reason, from /pledges) and 请假 (/leave)."""

from __future__ import annotations

from datetime import date

from bot.core import answers
from bot.core.context import Context, MemberContext
from bot.core.flows import Done, Draft, Flow, Go, Outcome, Stay
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Media, Replies, Reply, ToPerson, rows
from storage import party as store
from storage.people import Person, Role

router = Router("party")

MEMBERS = [Role.PARTY_MEMBER]
SECRETARIES = [Role.SECRETARY]


def _today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.zone(ctx.compound)).date()


# ---- 报到 -----------------------------------------------------------------------------------------------------


class Reporting(Draft):
    pass


reporting = Flow("party_report", Reporting, title=N_("reporting to the party branch"), roles=MEMBERS)


@router.command("report", roles=MEMBERS, private=True, flow=True, help="Report to the branch (报到)", order=40)
async def report(ctx: MemberContext, msg: Incoming) -> Replies:
    return await reporting.begin(ctx, Reporting())


async def _ask_employer(ctx: Context, draft: Reporting) -> Reply:
    t = ctx.t
    compound = ctx.compound
    if compound is None or compound.id is None:  # not in a role flow, which always has its compound
        return Reply(t("What is the name of your employer or work unit?"))
    text = t("Reporting to the party branch of {compound} (报到). What is the name of your employer or work unit?",
             compound=compound.name)
    latest = await store.latest_report(ctx.session, compound.id, ctx.person_id)
    if latest is not None:
        text += "\n" + t("Last time you reported with: {employer} ({when}).", employer=latest.employer,
                         when=answers.day_text(t, latest.reported_at.astimezone(ctx.zone(compound)).date()))
    return Reply(text)


@reporting.step("employer", ask=_ask_employer, answer=answers.Text(200, what=N_("employer")))
async def report_employer(ctx: MemberContext, draft: Reporting, employer: str) -> Outcome:
    await store.report(ctx.session, ctx.compound_id, ctx.person_id, employer, ctx.now)
    name = ctx.person.name
    return Done([Reply(ctx.t("Thank you: you have reported to the branch of {compound} ({employer}). Your pledges, "
                             "volunteering and leave are recorded for your unit's annual review.",
                             compound=ctx.compound.name, employer=employer)),
                 *await ctx.tell_role(Role.SECRETARY, ctx.compound_id, lambda st: st(
                     "Party member {name} reported to the branch (报到). Employer: {employer}.", name=name,
                     employer=employer), skip=[ctx.person_id])])


# ---- 承诺 -----------------------------------------------------------------------------------------------------


class Pledging(Draft):
    text: str = ""


pledging = Flow("pledge", Pledging, title=N_("making a pledge"), roles=MEMBERS)
PLEDGE_LIMIT = 500
YEAR_END = "year_end"


@router.command("pledge", roles=MEMBERS, private=True, flow=True, help="Make a pledge (承诺)", order=41)
async def pledge(ctx: MemberContext, msg: Incoming) -> Replies:
    # "/pledge 每月参加一次志愿服务" gives the pledge at once; too long or empty, it is asked for.
    typed = answers.clean_text(str(ctx.args.get("command_args", ""))[: 4 * PLEDGE_LIMIT])
    if 0 < len(typed) <= PLEDGE_LIMIT:
        return await pledging.begin(ctx, Pledging(text=typed), step="date")
    return await pledging.begin(ctx, Pledging())


def _ask_pledge(ctx: Context, draft: Pledging) -> Reply:
    return Reply(ctx.t("What do you pledge? (for example: 每月参加一次志愿服务)"))


@pledging.step("text", ask=_ask_pledge, answer=answers.Text(PLEDGE_LIMIT, what=N_("pledge")), next=("date",))
async def pledge_text(ctx: MemberContext, draft: Pledging, text: str) -> Outcome:
    return Go("date", draft.model_copy(update={"text": text}))


def _year_end(ctx: Context) -> date:
    return date(_today(ctx).year, 12, 31)


def _ask_due(ctx: Context, draft: Pledging) -> Reply:
    t = ctx.t
    return Reply(t("By when? Type a date such as 12月31日, 下周三 or 2026-12-31."),
                 buttons=((Button.choice(t("By the end of the year ({date})",
                                           date=answers.day_text(t, _year_end(ctx))), YEAR_END),),))


@pledging.step("date", ask=_ask_due, answer=answers.Either((answers.Choice(values=(YEAR_END,)), answers.Day())))
async def pledge_date(ctx: MemberContext, draft: Pledging, due: date | str) -> Outcome:
    t = ctx.t
    target = due if isinstance(due, date) else _year_end(ctx)
    item = await store.make_pledge(ctx.session, ctx.compound_id, ctx.person_id, draft.text, target, ctx.now)
    return Done(Reply(t("Your pledge is recorded: “{text}”, by {date}. When you have kept it, send /pledges and mark "
                        "it fulfilled with a photo or a few words.", text=item.text,
                        date=answers.day_text(t, target))))


@router.command("pledges", roles=MEMBERS, private=True, help="Your pledges (践诺)", order=42)
async def pledges(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    mine = await store.pledges_of(ctx.session, ctx.compound_id, ctx.person_id)
    if not mine:
        return Reply(t("You have no pledges yet. Send /pledge to make one."))
    lines = [t("Your pledges:")]
    buttons: list[Button] = []
    for item in mine:
        lines.append(t("#{id} {text} (by {date}): {state}", id=item.id, text=item.text,
                       date=answers.day_text(t, item.target_date), state=t(store.PLEDGE_STATES[item.status])))
        if item.status == store.PledgeStatus.OPEN:
            if item.sent_back_reason:
                lines.append("  " + t("Sent back by the secretary: {reason}", reason=item.sent_back_reason))
            buttons.append(Button.do(t("Fulfilled #{id}", id=item.id), "party.fulfil", pledge=item.id))
    return Reply("\n".join(lines), buttons=rows(*buttons, per_row=2))


# ---- 践诺 -----------------------------------------------------------------------------------------------------


class Fulfilling(Draft):
    pledge: int
    text: str = ""


fulfilling = Flow("fulfil", Fulfilling, title=N_("the evidence of a kept pledge"), roles=MEMBERS)
NOT_OPEN = N_("This pledge is not open any more.")


@router.button("party.fulfil", roles=MEMBERS, private=True)
async def fulfil(ctx: MemberContext, msg: Incoming) -> Replies:
    item = await store.open_pledge(ctx.session, int(ctx.args.get("pledge", 0)), ctx.compound_id, ctx.person_id)
    if item is None or item.id is None:
        return Reply(ctx.t(NOT_OPEN))
    return await fulfilling.begin(ctx, Fulfilling(pledge=item.id, text=item.text))


def _ask_evidence(ctx: Context, draft: Fulfilling) -> Reply:
    return Reply(ctx.t("How did you keep “{text}”? Send a photo, or describe it in a few words.", text=draft.text))


@fulfilling.step("evidence", ask=_ask_evidence, answer=answers.PhotoOrText(
    1000, refusal=N_("Please send a photo or a few words as evidence, or send /cancel."), what=N_("evidence")))
async def fulfil_evidence(ctx: MemberContext, draft: Fulfilling, evidence: answers.Evidence) -> Outcome:
    t = ctx.t
    photo = evidence.photo
    item = await store.claim_fulfilment(ctx.session, draft.pledge, ctx.compound_id, ctx.person_id, evidence.text,
                                        f"{photo.platform}:{photo.file_id}" if photo else "", ctx.now)
    if item is None:
        return Done(Reply(t(NOT_OPEN)))
    image: Media | None = None
    if photo is not None:
        try:
            image = Media(await ctx.core.fetch_photo(photo.platform, photo.file_id), "evidence.jpg", "image/jpeg")
        except Exception:  # the secretary still gets the text; the photo stays referenced on the pledge
            image = None
    name = ctx.person.name

    def ask(st: Translator) -> Reply:
        return Reply(st("{name} says they kept their pledge “{text}” (践诺). Evidence: {evidence}", name=name,
                        text=item.text, evidence=item.evidence_text or st("(a photo)")), image=image,
                     buttons=((Button.do(st("Confirm"), "party.confirm", pledge=item.id, accept=True),
                               Button.do(st("Send back"), "party.confirm", pledge=item.id, accept=False)),))

    return Done([Reply(t("Thank you. The secretary will confirm that you kept your pledge.")),
                 *await ctx.tell_role(Role.SECRETARY, ctx.compound_id, ask, skip=[ctx.person_id])])


class SendingBack(Draft):
    pledge: int
    text: str = ""
    member: str = ""


sending_back = Flow("pledge_return", SendingBack, title=N_("sending a pledge back"), roles=SECRETARIES)
ALREADY_DECIDED = N_("This fulfilment was already decided.")


@router.button("party.confirm", roles=SECRETARIES, private=True)
async def confirm(ctx: MemberContext, msg: Incoming) -> Replies:
    """Confirm at once; Send back (退回) asks the secretary for the reason the member will read."""
    t = ctx.t
    item = await store.pledge_in(ctx.session, int(ctx.args.get("pledge", 0)), ctx.compound_id)
    if item is None or item.id is None:
        return Reply(t("This pledge does not belong to your compound."), toast=t("Not allowed"))
    if item.status != store.PledgeStatus.CLAIMED:
        return Reply(t(ALREADY_DECIDED), toast=t("Already decided"))
    if not ctx.args.get("accept"):
        member = await ctx.session.get(Person, item.person_id)
        return await sending_back.begin(ctx, SendingBack(pledge=item.id, text=item.text,
                                                         member=member.name if member else "?"))
    await store.confirm_pledge(ctx.session, item.id, ctx.compound_id, ctx.person_id, ctx.now)
    rt = await ctx.translator_for(item.person_id)
    return [Reply(t("Confirmed: the pledge “{text}” is fulfilled.", text=item.text), toast=t("Confirmed")),
            Reply(rt("The secretary confirmed that you kept your pledge “{text}”. Thank you!", text=item.text),
                  to=ToPerson(item.person_id))]


def _ask_return_reason(ctx: Context, draft: SendingBack) -> Reply:
    return Reply(ctx.t("Why do you send back “{text}”? {name} will read your reason.", text=draft.text,
                       name=draft.member))


@sending_back.step("reason", ask=_ask_return_reason, answer=answers.Text(500, what=N_("reason")))
async def return_reason(ctx: MemberContext, draft: SendingBack, reason: str) -> Outcome:
    t = ctx.t
    item = await store.pledge_in(ctx.session, draft.pledge, ctx.compound_id)
    if item is None or not await store.send_back(ctx.session, draft.pledge, ctx.compound_id, reason, ctx.now):
        return Done(Reply(t(ALREADY_DECIDED)))
    rt = await ctx.translator_for(item.person_id)
    return Done([Reply(t("Sent back: the pledge “{text}” is open again.", text=item.text)),
                 Reply(rt("The secretary could not confirm your pledge “{text}” yet; it is open again.\nReason: "
                          "{reason}\nPlease add more evidence from /pledges or talk to the secretary.",
                          text=item.text, reason=reason), to=ToPerson(item.person_id))])


# ---- 请假 -----------------------------------------------------------------------------------------------------


class Leave(Draft):
    reason: str = ""
    start: date | None = None


leaving = Flow("party_leave", Leave, title=N_("asking for leave"), roles=MEMBERS)
TODAY = "today"


@router.command("leave", roles=MEMBERS, private=True, flow=True, help="Ask for leave (请假)", order=43)
async def leave(ctx: MemberContext, msg: Incoming) -> Replies:
    return await leaving.begin(ctx, Leave())


def _ask_reason(ctx: Context, draft: Leave) -> Reply:
    return Reply(ctx.t("Leave from the branch's activities (请假). What is the reason?"))


@leaving.step("reason", ask=_ask_reason, answer=answers.Text(500, what=N_("reason")), next=("from",))
async def leave_reason(ctx: MemberContext, draft: Leave, reason: str) -> Outcome:
    return Go("from", draft.model_copy(update={"reason": reason}))


def _ask_from(ctx: Context, draft: Leave) -> Reply:
    t = ctx.t
    return Reply(t("From which date? (for example 12月1日 or 2026-12-01)"),
                 buttons=((Button.choice(t("From today"), TODAY),),))


@leaving.step("from", ask=_ask_from, next=("to",),
              answer=answers.Either((answers.Choice(values=(TODAY,)), answers.Day(future=False))))
async def leave_from(ctx: MemberContext, draft: Leave, start: date | str) -> Outcome:
    return Go("to", draft.model_copy(update={"start": start if isinstance(start, date) else _today(ctx)}))


def _ask_to(ctx: Context, draft: Leave) -> Reply:
    return Reply(ctx.t("Until which date (inclusive)?"))


@leaving.step("to", ask=_ask_to, answer=answers.Day(future=False))
async def leave_to(ctx: MemberContext, draft: Leave, end: date) -> Outcome:
    t = ctx.t
    start = draft.start or _today(ctx)
    if end < start:
        return Stay(Reply(t("The last day must not be before the first ({start}). Please type it again.",
                            start=answers.day_text(t, start))))
    await store.take_leave(ctx.session, ctx.compound_id, ctx.person_id, draft.reason, start, end, ctx.now)
    name = ctx.person.name
    return Done([Reply(t("Your leave from {start} to {end} is recorded.", start=answers.day_text(t, start),
                         end=answers.day_text(t, end))),
                 *await ctx.tell_role(Role.SECRETARY, ctx.compound_id, lambda st: st(
                     "Party member {name} is on leave from {start} to {end}: {reason}", name=name,
                     start=answers.day_text(st, start), end=answers.day_text(st, end), reason=draft.reason),
                     skip=[ctx.person_id])])


router.flow(reporting, pledging, fulfilling, sending_back, leaving)

__all__ = ["router"]
