"""Party members: 报到 (/report), 承诺 (/pledge), 践诺 (fulfilling a pledge with evidence the secretary
confirms or sends back with a reason, from /pledges) and 请假 (/leave)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from bot.core import answers
from bot.core.context import BaseContext, Context, JobContext, MemberContext
from bot.core.flows import Done, Draft, Flow, Go, Outcome, Stay
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import XLSX, Button, Incoming, Media, Replies, Reply, ToPerson, rows
from storage import party as store
from storage.compounds import Building, buildings_of
from storage.people import Person, Role, people_with_role

router = Router("party")

MEMBERS = [Role.PARTY_MEMBER]
SECRETARIES = [Role.SECRETARY]


def _today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.zone(ctx.compound)).date()


# ---- 报到 -----------------------------------------------------------------------------------------------------


class Reporting(Draft):
    pass


reporting = Flow("party_report", Reporting, title=N_("reporting to the party branch"), roles=MEMBERS)


@router.command("report", group="party", roles=MEMBERS, private=True, flow=True, help="Report to the branch (报到)", order=40)
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


@router.command("pledge", group="party", roles=MEMBERS, private=True, flow=True, help="Make a pledge (承诺)", order=41)
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


@router.command("pledges", group="party", roles=MEMBERS, private=True, help="Your pledges (践诺)", order=42)
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


@router.command("leave", group="party", roles=MEMBERS, private=True, flow=True, help="Ask for leave (请假)", order=43)
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


# ---- the pledge reminder, three days before -------------------------------------------------------------------


@router.job("pledge_reminders", every=timedelta(minutes=30))
async def pledge_reminders(ctx: JobContext) -> Replies:
    """An open pledge is reminded three days before its target date (09:00 compound time), once: claimed with
    `UPDATE ... WHERE reminded_at IS NULL`."""
    replies: list[Reply] = []
    for item, _compound in await store.pledges_to_remind(ctx.session, ctx.now):
        if item.id is None or not await store.claim_pledge_reminder(ctx.session, item.id, ctx.now):
            continue
        pt = await ctx.translator_for(item.person_id)
        replies.append(Reply(pt("Reminder: your pledge “{text}” is due on {date}. When you have kept it, mark it "
                                "fulfilled with a photo or a few words.", text=item.text,
                                date=answers.day_text(pt, item.target_date)),
                             buttons=((Button.do(pt("Fulfilled #{id}", id=item.id), "party.fulfil", pledge=item.id),),),
                             to=ToPerson(item.person_id)))
    return replies


# ---- 党员责任区 / 中心户: who is responsible for which building or floor ----------------------------------------


async def area_copies(c: BaseContext, compound_id: int, people: list[int], render: Callable[[Translator], str],
                      skip: tuple[int, ...] = ()) -> list[Reply]:
    """A private copy to each responsible party member (found by `store.responsible_for`), in their language."""
    replies: list[Reply] = []
    for person_id in people:
        if person_id in skip:
            continue
        pt = await c.translator_for(person_id)
        replies.append(Reply(render(pt), to=ToPerson(person_id)))
    return replies


async def copy_case(c: BaseContext, compound_id: int, case_number: str, category: str, description: str,
                    reporter_id: int, building_id: int | None, room_id: int | None) -> list[Reply]:
    """A new case from a responsibility area, copied to its party members: the number, the kind and the
    description, never the reporter (they may help the neighbours, and follow the handler)."""
    from storage.complaints import CATEGORY_BY_CODE

    people = await store.responsible_for(c.session, compound_id, [room_id] if room_id else [], building_id)
    label = CATEGORY_BY_CODE[category].label if category in CATEGORY_BY_CODE else category
    return await area_copies(c, compound_id, people, lambda pt: pt(
        "For your responsibility area (党员责任区): case {number} ({category}) was filed. {description}\nIts handler "
        "is on it; you may help the neighbours settle it.", number=case_number, category=pt(label),
        description=description[:300]), skip=(reporter_id,))


async def copy_need(c: BaseContext, compound_id: int, need_id: int, text: str, poster_id: int) -> list[Reply]:
    """A new need posted by a resident of a responsibility area, copied to its party members."""
    people = await store.responsible_for_person(c.session, compound_id, poster_id)
    return await area_copies(c, compound_id, people, lambda pt: pt(
        "For your responsibility area (党员责任区): a neighbour posted need #{id}: {text}", id=need_id,
        text=text[:300]), skip=(poster_id,))


def _area_lines(t: Translator, found: list[tuple[store.PartyArea, Person, Building]]) -> list[str]:
    return [t("#{id} {name}: {area}", id=a.id, name=p.name, area=store.area_name(t, b, a.floor)) for a, p, b in found]


@router.command("areas", group="party", roles=[Role.SECRETARY, Role.PARTY_MEMBER], private=True,
                help="Party members' responsibility areas (党员责任区)", order=44)
async def areas(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    if not ctx.has(Role.SECRETARY):
        mine = await store.areas(ctx.session, ctx.compound_id, ctx.person_id)
        if not mine:
            return Reply(t("You have no responsibility area yet; the secretary assigns them."))
        return Reply(t("Your responsibility area (cases and needs from there are copied to you): {areas}",
                       areas="、".join(store.area_name(t, b, a.floor) for a, _p, b in mine)))
    return await _area_list(ctx)


async def _area_list(ctx: MemberContext) -> Reply:
    """The secretary's list: every area, each with Remove, and Assign an area."""
    t = ctx.t
    found = await store.areas(ctx.session, ctx.compound_id)
    lines = [t("Party members' responsibility areas (党员责任区):")]
    lines += _area_lines(t, found) or [t("No areas assigned yet.")]
    buttons = [Button.do(t("Remove #{id}", id=a.id), "party.area_remove", area=a.id) for a, _p, _b in found]
    buttons.append(Button.do(t("Assign an area"), "party.area_add"))
    return Reply("\n".join(lines), buttons=rows(*buttons, per_row=3))


class Assigning(Draft):
    member: int = 0
    name: str = ""
    building: int = 0


assigning = Flow("party_area", Assigning, title=N_("assigning a responsibility area"), roles=SECRETARIES)


@router.button("party.area_add", roles=SECRETARIES, private=True)
async def area_add(ctx: MemberContext, msg: Incoming) -> Replies:
    if not await people_with_role(ctx.session, ctx.compound_id, Role.PARTY_MEMBER):
        return Reply(ctx.t("There are no party members in {compound} yet.", compound=ctx.compound.name))
    return await assigning.begin(ctx, Assigning())


async def _ask_member(ctx: MemberContext, draft: Assigning) -> Reply:
    members = [await ctx.session.get(Person, pid) for pid in
               await people_with_role(ctx.session, ctx.compound_id, Role.PARTY_MEMBER)]
    return Reply(ctx.t("Which party member?"),
                 buttons=rows(*(Button.choice(p.name, p.id) for p in members if p is not None), per_row=3))


@assigning.step("member", ask=_ask_member, next=("building",), answer=answers.Choice(
    refusal=N_("Please choose the party member with the buttons above.")))
async def area_member(ctx: MemberContext, draft: Assigning, value: int) -> Outcome:
    if value not in await people_with_role(ctx.session, ctx.compound_id, Role.PARTY_MEMBER):
        return Stay(Reply(ctx.t("Please choose the party member with the buttons above.")))
    person = await ctx.session.get(Person, value)
    return Go("building", draft.model_copy(update={"member": value, "name": person.name if person else "?"}))


async def _ask_building(ctx: MemberContext, draft: Assigning) -> Reply:
    return Reply(ctx.t("Which building is {name} responsible for?", name=draft.name),
                 buttons=rows(*(Button.choice(b.name, b.id) for b in await buildings_of(ctx.session, ctx.compound_id)),
                              per_row=3))


@assigning.step("building", ask=_ask_building, next=("floor",), answer=answers.Choice(
    refusal=N_("Please choose the building with the buttons above.")))
async def area_building(ctx: MemberContext, draft: Assigning, value: int) -> Outcome:
    if value not in {b.id for b in await buildings_of(ctx.session, ctx.compound_id)}:
        return Stay(Reply(ctx.t("Please choose the building with the buttons above.")))
    return Go("floor", draft.model_copy(update={"building": value}))


WHOLE = "whole"


async def _ask_floor(ctx: MemberContext, draft: Assigning) -> Reply:
    t = ctx.t
    floors = await store.floors_of(ctx.session, draft.building)
    return Reply(t("The whole building, or one floor (中心户)?"), buttons=rows(
        Button.choice(t("The whole building"), WHOLE),
        *(Button.choice(t("Floor {floor}", floor=f), f) for f in floors), per_row=4))


@assigning.step("floor", ask=_ask_floor, answer=answers.Choice(
    refusal=N_("Please choose the whole building or a floor with the buttons above.")))
async def area_floor(ctx: MemberContext, draft: Assigning, value: int | str) -> Outcome:
    t = ctx.t
    floor = value if isinstance(value, int) else None
    if floor is not None and floor not in await store.floors_of(ctx.session, draft.building):
        return Stay(Reply(t("Please choose the whole building or a floor with the buttons above.")))
    area = await store.assign_area(ctx.session, ctx.compound_id, draft.member, draft.building, floor, ctx.person_id,
                                   ctx.now)
    building = await ctx.session.get(Building, draft.building)
    if area is None or building is None:
        return Done(Reply(t("{name} already has that area, or is no longer a party member here.", name=draft.name)))
    pt = await ctx.translator_for(draft.member)
    return Done([Reply(t("{name} is now responsible for {area}.", name=draft.name,
                         area=store.area_name(t, building, floor))),
                 Reply(pt("The secretary made you responsible for {area} (党员责任区). Cases and needs from there "
                          "will be copied to you; /areas shows your area.", area=store.area_name(pt, building, floor)),
                       to=ToPerson(draft.member))])


@router.button("party.area_remove", roles=SECRETARIES, private=True)
async def area_remove(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    area = await store.remove_area(ctx.session, int(ctx.args.get("area", 0)), ctx.compound_id)
    if area is None:
        return Reply(t("That area was already removed."), toast=t("Already removed"))
    return [Reply(t("Area #{id} removed.", id=area.id), toast=t("Removed")), await _area_list(ctx)]


router.flow(reporting, pledging, fulfilling, sending_back, leaving, assigning)

__all__ = ["router"]


@router.command("export party", group="party", roles=[Role.SECRETARY], private=True, order=58,
                help="Export the party branch's year (XLSX)")
async def export_party(ctx: MemberContext, msg: Incoming) -> Replies:
    """`/export party [YEAR]`: the branch summary (支部汇总), one row per party member; this year by default. The
    members' own records for their employers are `linli export party`."""
    t = ctx.t
    words = str(ctx.args.get("command_args", "")).split()
    this_year = ctx.now.astimezone(ctx.zone(ctx.compound)).year
    if len(words) > 1 or (words and not (words[0].isdigit() and 2000 <= int(words[0]) <= this_year)):
        return Reply(t("Usage: /export party [YEAR], for example /export party {year}.", year=this_year))
    year = int(words[0]) if words else this_year
    data = await store.branch_summary_xlsx(ctx.session, ctx.compound, year, t)
    return Reply(t("The party branch of {compound} in {year}.", compound=ctx.compound.name, year=year),
                 document=Media(data, f"party-{ctx.compound.code}-{year}-branch.xlsx", XLSX))
