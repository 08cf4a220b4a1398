"""Party members: 报到 (/report), 承诺 (/pledge), 践诺 (fulfilling a pledge with evidence the secretary
confirms, from /pledges) and 请假 (/leave)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from bot.core.context import Context
from bot.core.i18n import Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Media, Replies, Reply, ToPerson, rows
from storage import party as store
from storage.party import PartyLeave, PartyReport, Pledge
from storage.people import Role, people_with_role

router = Router("party")

MEMBERS = [Role.PARTY_MEMBER]


def _today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.zone(ctx.compound)).date()


async def _to_secretaries(ctx: Context, build: Callable[[Translator, int], Reply]) -> list[Reply]:
    """One message per secretary of the compound, each in their language."""
    assert ctx.compound is not None
    replies: list[Reply] = []
    for secretary_id in await people_with_role(ctx.session, ctx.compound.id or 0, Role.SECRETARY):
        if secretary_id == ctx.person_id:
            continue
        reply = build(await ctx.translator_for(secretary_id), secretary_id)
        replies.append(reply)
    return replies


# ---- 报到 -----------------------------------------------------------------------------------------------------


@router.command("report", roles=MEMBERS, private=True, flow=True, help="Report to the branch (报到)", order=40)
async def report(ctx: Context, msg: Incoming) -> Replies:
    ctx.convo.start("party_report", "employer")
    assert ctx.compound is not None
    latest = await store.latest_report(ctx.session, ctx.compound.id or 0, ctx.person_id)
    text = ctx.t("Reporting to the party branch of {compound} (报到). What is the name of your employer or work "
                 "unit?", compound=ctx.compound.name)
    if latest is not None:
        text += "\n" + ctx.t("Last time you reported with: {employer} ({when}).", employer=latest.employer,
                             when=ctx.local(latest.reported_at, ctx.compound, "%Y-%m-%d"))
    return Reply(text)


@router.step("party_report", "employer")
async def report_employer(ctx: Context, msg: Incoming) -> Replies:
    employer = (msg.text or "").strip()[:200]
    if not employer:
        return Reply(ctx.t("Please type your employer's or work unit's name, or send /cancel."))
    assert ctx.compound is not None
    ctx.session.add(PartyReport(compound_id=ctx.compound.id or 0, person_id=ctx.person_id, employer=employer,
                                reported_at=ctx.now))
    ctx.convo.end()
    name = ctx.person.name
    return [Reply(ctx.t("Thank you: you have reported to the branch of {compound} ({employer}). Your pledges, "
                        "volunteering and leave are recorded for your unit's annual review.",
                        compound=ctx.compound.name, employer=employer)),
            *await _to_secretaries(ctx, lambda st, sid: Reply(
                st("Party member {name} reported to the branch (报到). Employer: {employer}.", name=name,
                   employer=employer), to=ToPerson(sid)))]


# ---- 承诺 -----------------------------------------------------------------------------------------------------


@router.command("pledge", roles=MEMBERS, private=True, flow=True, help="Make a pledge (承诺)", order=41)
async def pledge(ctx: Context, msg: Incoming) -> Replies:
    ctx.convo.start("pledge", "text")
    typed = str(ctx.args.get("command_args", "")).strip()
    if typed:
        return _pledge_text(ctx, typed)
    return Reply(ctx.t("What do you pledge? (for example: 每月参加一次志愿服务)"))


@router.step("pledge", "text")
async def pledge_text(ctx: Context, msg: Incoming) -> Replies:
    return _pledge_text(ctx, (msg.text or "").strip())


def _pledge_text(ctx: Context, text: str) -> Reply:
    if not text:
        return Reply(ctx.t("Please type your pledge, or send /cancel."))
    ctx.convo.draft["text"] = text[:500]
    ctx.convo.goto("date")
    year_end = date(_today(ctx).year, 12, 31)
    return Reply(ctx.t("By when? Type a date such as 2026-12-31."),
                 buttons=((Button.choice(ctx.t("By the end of the year ({date})", date=year_end.isoformat()),
                                         year_end.isoformat()),),))


@router.step("pledge", "date")
async def pledge_date(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    target = store.parse_date(str(value) if value else (msg.text or ""), _today(ctx))
    if target is None:
        return Reply(t("I could not read that date. Please type it like 2026-12-31."))
    if target < _today(ctx):
        return Reply(t("That date has passed. Please give a date from today on."))
    assert ctx.compound is not None
    item = Pledge(compound_id=ctx.compound.id or 0, person_id=ctx.person_id, text=str(ctx.convo.draft["text"]),
                  target_date=target, created_at=ctx.now)
    ctx.session.add(item)
    ctx.convo.end()
    return Reply(t("Your pledge is recorded: “{text}”, by {date}. When you have kept it, send /pledges and mark it "
                   "fulfilled with a photo or a few words.", text=item.text, date=target.isoformat()))


@router.command("pledges", roles=MEMBERS, private=True, help="Your pledges (践诺)", order=42)
async def pledges(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None
    mine = await store.pledges_of(ctx.session, ctx.compound.id or 0, ctx.person_id)
    if not mine:
        return Reply(t("You have no pledges yet. Send /pledge to make one."))
    states = {"open": t("open"), "claimed": t("waiting for confirmation"), "fulfilled": t("fulfilled")}
    lines = [t("Your pledges:")]
    buttons: list[Button] = []
    for item in mine:
        lines.append(t("#{id} {text} (by {date}): {state}", id=item.id, text=item.text,
                       date=item.target_date.isoformat(), state=states.get(item.status, item.status)))
        if item.status == "open":
            buttons.append(Button.do(t("Fulfilled #{id}", id=item.id), "party.fulfil", pledge=item.id))
    return Reply("\n".join(lines), buttons=rows(*buttons, per_row=2))


@router.button("party.fulfil", roles=MEMBERS, private=True)
async def fulfil(ctx: Context, msg: Incoming) -> Replies:
    item = await ctx.session.get(Pledge, int(ctx.args.get("pledge", 0)))
    if item is None or item.person_id != ctx.person_id or item.status != "open":
        return Reply(ctx.t("This pledge is not open any more."))
    if (busy := ctx.busy()) is not None:
        return busy
    ctx.convo.start("fulfil", "evidence", {"pledge": item.id})
    return Reply(ctx.t("How did you keep “{text}”? Send a photo, or describe it in a few words.", text=item.text))


@router.step("fulfil", "evidence")
async def fulfil_evidence(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    if msg.photo is None and not (msg.text or "").strip():
        return Reply(t("Please send a photo or a few words as evidence, or send /cancel."))
    item = await ctx.session.get(Pledge, int(ctx.convo.draft["pledge"]))
    ctx.convo.end()
    if item is None or item.status != "open":
        return Reply(t("This pledge is not open any more."))
    item.evidence_text = (msg.text or "").strip()[:1000]
    item.evidence_photo = f"{msg.photo.platform}:{msg.photo.file_id}"[:300] if msg.photo else ""
    item.status, item.claimed_at = "claimed", ctx.now
    ctx.session.add(item)
    image: Media | None = None
    if msg.photo is not None:
        try:
            data = await ctx.core.fetch_photo(msg.photo.platform, msg.photo.file_id)
            image = Media(data, "evidence.jpg", "image/jpeg")
        except Exception:  # the secretary still gets the text; the photo stays referenced on the pledge
            image = None
    name = ctx.person.name

    def ask(st: Translator, sid: int) -> Reply:
        evidence = item.evidence_text or st("(a photo)")
        return Reply(st("{name} says they kept their pledge “{text}” (践诺). Evidence: {evidence}", name=name,
                        text=item.text, evidence=evidence), image=image,
                     buttons=((Button.do(st("Confirm"), "party.confirm", pledge=item.id, accept=True),
                               Button.do(st("Send back"), "party.confirm", pledge=item.id, accept=False)),),
                     to=ToPerson(sid))

    return [Reply(t("Thank you. The secretary will confirm that you kept your pledge.")),
            *await _to_secretaries(ctx, ask)]


@router.button("party.confirm", roles=[Role.SECRETARY], private=True)
async def confirm(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    item = await ctx.session.get(Pledge, int(ctx.args.get("pledge", 0)))
    if item is None or ctx.compound is None or item.compound_id != ctx.compound.id:
        return Reply(t("This pledge does not belong to your compound."), toast=t("Not allowed"))
    accept = bool(ctx.args.get("accept"))
    if not await store.confirm_pledge(ctx.session, item.id or 0, ctx.person_id, ctx.now, accept):
        return Reply(t("This fulfilment was already decided."), toast=t("Already decided"))
    rt = await ctx.translator_for(item.person_id)
    if accept:
        return [Reply(t("Confirmed: the pledge “{text}” is fulfilled.", text=item.text), toast=t("Confirmed")),
                Reply(rt("The secretary confirmed that you kept your pledge “{text}”. Thank you!", text=item.text),
                      to=ToPerson(item.person_id))]
    return [Reply(t("Sent back: the pledge “{text}” is open again.", text=item.text)),
            Reply(rt("The secretary could not confirm your pledge “{text}” yet; it is open again. Please add more "
                     "evidence from /pledges or talk to the secretary.", text=item.text), to=ToPerson(item.person_id))]


# ---- 请假 -----------------------------------------------------------------------------------------------------


@router.command("leave", roles=MEMBERS, private=True, flow=True, help="Ask for leave (请假)", order=43)
async def leave(ctx: Context, msg: Incoming) -> Replies:
    ctx.convo.start("party_leave", "reason")
    return Reply(ctx.t("Leave from the branch's activities (请假). What is the reason?"))


@router.step("party_leave", "reason")
async def leave_reason(ctx: Context, msg: Incoming) -> Replies:
    reason = (msg.text or "").strip()[:500]
    if not reason:
        return Reply(ctx.t("Please type the reason, or send /cancel."))
    ctx.convo.draft["reason"] = reason
    ctx.convo.goto("from")
    return Reply(ctx.t("From which date? (for example 2026-12-01)"),
                 buttons=((Button.choice(ctx.t("From today"), _today(ctx).isoformat()),),))


@router.step("party_leave", "from")
async def leave_from(ctx: Context, msg: Incoming) -> Replies:
    value = ctx.args.get("value")
    start = store.parse_date(str(value) if value else (msg.text or ""), _today(ctx))
    if start is None:
        return Reply(ctx.t("I could not read that date. Please type it like 2026-12-31."))
    ctx.convo.draft["from"] = start.isoformat()
    ctx.convo.goto("to")
    return Reply(ctx.t("Until which date (inclusive)?"))


@router.step("party_leave", "to")
async def leave_to(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    start = date.fromisoformat(str(ctx.convo.draft["from"]))
    end = store.parse_date(msg.text or "", start)
    if end is None:
        return Reply(t("I could not read that date. Please type it like 2026-12-31."))
    if end < start:
        return Reply(t("The last day must not be before the first ({start}). Please type it again.",
                       start=start.isoformat()))
    assert ctx.compound is not None
    reason = str(ctx.convo.draft["reason"])
    ctx.session.add(PartyLeave(compound_id=ctx.compound.id or 0, person_id=ctx.person_id, reason=reason,
                               starts_on=start, ends_on=end, created_at=ctx.now))
    ctx.convo.end()
    name = ctx.person.name
    return [Reply(t("Your leave from {start} to {end} is recorded.", start=start.isoformat(), end=end.isoformat())),
            *await _to_secretaries(ctx, lambda st, sid: Reply(
                st("Party member {name} is on leave from {start} to {end}: {reason}", name=name,
                   start=start.isoformat(), end=end.isoformat(), reason=reason), to=ToPerson(sid)))]
