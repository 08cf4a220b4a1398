"""/company, /assess, /property: the property company's periodic assessment (物业服务质量考核), its A/B/C grade,
the rectification order after a C (限期整改), and the prepared motion after two Cs in a row."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

from bot.core import answers
from bot.core.context import Context, JobContext, MemberContext
from bot.core.flows import Done, Draft, Flow, Go, Outcome
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, ToGroups, ToPerson
from storage import organisations as orgs
from storage import property as store
from storage.compounds import Compound, compound_setting
from storage.people import Person, Role, own_rooms

router = Router("property")

ITEM_LABELS = {
    "cleaning": N_("Cleaning"),
    "greening": N_("Greenery"),
    "security": N_("Order and gate security"),
    "repairs": N_("Repair response"),
    "elevator": N_("Elevators"),
    "fees": N_("Openness about fees"),
}
STAFF = [Role.SECRETARY, Role.COMMITTEE]
ORDER_STATES = {store.RectificationStatus.OPEN: N_("to be put right"), store.RectificationStatus.RESPONDED: N_("reported"),
                store.RectificationStatus.ESCALATED: N_("escalated"), store.RectificationStatus.VERIFIED: N_("verified")}
STAFF_REFUSAL = N_("You work for the property company, so you do not assess it.")


def _setting(compound: Compound, key: str) -> object:
    return compound_setting(compound, f"property.{key}", store.DEFAULTS[key])


def percent(value: Fraction) -> str:
    return f"{float(value):.1f}"


@router.command("company", group="civic", roles=STAFF, private=True, help="Register the property company", order=70)
async def company(ctx: MemberContext, msg: Incoming) -> Replies:
    """`/company NAME CONTACT`: the compound's property company is the organisation of that name (created, or an
    existing one linked; storage.organisations decides), the one whose staff hold the property role here."""
    t = ctx.t
    text = answers.clean_text(str(ctx.args.get("command_args", ""))[:300])
    if not text:
        existing = await orgs.property_company_of(ctx.session, ctx.compound_id)
        if existing is None:
            return Reply(t("No property company is registered. Send /company NAME CONTACT, for example "
                           "/company 幸福物业 0717-1234567"))
        return await _company_card(ctx, existing)
    name, _, contact = text.partition(" ")
    if len(name) > 100 or len(contact) > 100:
        return Reply(t("The name and the contact must each be at most 100 characters."))
    row, outcome = await orgs.set_property_company(ctx.session, ctx.compound_id, name, contact, ctx.person_id)
    if outcome == orgs.CompanySet.UPDATED:
        return await _company_card(ctx, row)
    return [Reply(t("{company} now serves {compound}. Its staff join with a code from /staffcode and need no room.",
                    company=row.name, compound=ctx.compound.name)), await _company_card(ctx, row)]


async def _company_card(ctx: MemberContext, row: orgs.Organisation) -> Reply:
    t = ctx.t
    contact = " ".join(part for part in (row.contact_name, row.contact_phone) if part) or "-"
    staff = [await ctx.session.get(Person, person) for person in await orgs.company_staff(ctx.session, row.stored_id)]
    return Reply("\n".join([t("Property company: {name} ({contact}).", name=row.name, contact=contact),
                            t("Its staff on linli: {names}", names="、".join(p.name or "?" for p in staff if p) or "-")]))


@router.command("assess", group="civic", roles=STAFF, private=True, help="Open the property company's assessment", order=71)
async def assess(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    if await store.open_assessment(ctx.session, ctx.compound_id) is not None:
        return Reply(t("An assessment is already open. It closes by itself; see /property."))
    days = int(str(_setting(ctx.compound, "answer_days")))
    closes = ctx.now + timedelta(days=days)
    row = store.Assessment(compound_id=ctx.compound_id, period=store.quarter_of(ctx.now.astimezone(ctx.zone(
        ctx.compound))), opened_by=ctx.person_id, opened_at=ctx.now, closes_at=closes)
    ctx.session.add(row)
    await ctx.session.flush()
    replies = [Reply(t("The assessment {period} is open until {closes}. Every household is asked now.",
                       period=row.period, closes=ctx.local(closes, ctx.compound)))]
    told: set[int] = set()
    for members in (await store.households(ctx.session, ctx.compound_id)).values():
        for person in members:
            if person in told:
                continue
            told.add(person)
            pt = await ctx.translator_for(person)
            replies.append(Reply(
                pt("{compound} asks every household to rate the property company's service this quarter ({period}): "
                   "six questions, 1 to 5 stars. One answer per household; it closes {closes}.",
                   compound=ctx.compound.name, period=row.period, closes=ctx.local(closes, ctx.compound)),
                buttons=((Button.do(pt("Start the questionnaire"), "property.answer", assessment=row.id),),),
                to=ToPerson(person)))
    return replies


class Questionnaire(Draft):
    assessment: int
    # Stars per item, in the order of store.ITEMS: its length says which question is next.
    scores: tuple[int, ...] = ()


questionnaire = Flow("assess", Questionnaire, title=N_("the property questionnaire"), member=True)


def _ask_item(ctx: Context, draft: Questionnaire) -> Reply:
    index = len(draft.scores)
    return Reply(ctx.t("{n}/{total} {item}: how satisfied are you?", n=index + 1, total=len(store.ITEMS),
                       item=ctx.t(ITEM_LABELS[store.ITEMS[index]])),
                 buttons=(tuple(Button.choice("★" * stars, stars) for stars in range(1, 6)),))


def _ask_comment(ctx: Context, draft: Questionnaire) -> Reply:
    return Reply(ctx.t("Anything to add? Write a comment, or skip."), buttons=((Button.choice(ctx.t("Skip"), "skip"),),))


@questionnaire.step("item", ask=_ask_item, next=("item", "comment"), answer=answers.Choice(
    values=(1, 2, 3, 4, 5), refusal=N_("Please answer with the star buttons (1 to 5).")))
async def item(ctx: Context, draft: Questionnaire, stars: int) -> Outcome:
    draft = draft.model_copy(update={"scores": (*draft.scores, stars)})
    return Go("item" if len(draft.scores) < len(store.ITEMS) else "comment", draft)


@questionnaire.step("comment", ask=_ask_comment, answer=answers.Text(500, what=N_("comment"), skip="skip"))
async def comment(ctx: Context, draft: Questionnaire, text: str) -> Outcome:
    scores = dict(zip(store.ITEMS, draft.scores, strict=True))
    done = await store.submit_answer(ctx.session, draft.assessment, ctx.person_id, scores, text, ctx.now)
    if done == store.Submitted.CLOSED:
        return Done(Reply(ctx.t("This assessment has closed.")))
    if done == store.Submitted.NOT_HOUSEHOLD:
        return Done(Reply(ctx.t("Only households of the compound answer this questionnaire.")))
    if done == store.Submitted.STAFF:
        return Done(Reply(ctx.t(STAFF_REFUSAL)))
    if done == store.Submitted.REPLACED:
        return Done(Reply(ctx.t("Thank you. Your household's earlier answer was replaced by this one.")))
    return Done(Reply(ctx.t("Thank you for your answer. The grade is published when the assessment closes.")))


@router.button("property.answer", member=True, private=True)
async def answer(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    assessment = int(ctx.args["assessment"])
    row = await ctx.session.get(store.Assessment, assessment)
    if row is None or row.compound_id != ctx.compound_id:
        return Reply(t("That assessment is not in your compound."), toast=t("Not allowed"))
    if not store.accepting(row, ctx.now):
        return Reply(t("This assessment has closed."), toast=t("Closed"))
    if ctx.person_id in await store.company_staff_here(ctx.session, row.compound_id):
        return Reply(t(STAFF_REFUSAL))
    if not await own_rooms(ctx.session, ctx.person_id, row.compound_id):
        return Reply(t("Only households of the compound answer this questionnaire."))
    return await questionnaire.begin(ctx, Questionnaire(assessment=assessment))


@router.command("property", group="civic", member=True, help="The property company's grades", order=72)
async def property_history(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    past = await store.history(ctx.session, ctx.compound_id)
    lines = [t("Property company: {name}", name=await store.company_name(ctx.session, ctx.compound_id) or "-")]
    if not past:
        lines.append(t("No assessment has been completed yet."))
    previous: Fraction | None = None
    for row in past:
        total = Fraction(row.total or "0")
        trend = "" if previous is None else ("↑" if total > previous else "↓" if total < previous else "→")
        lines.append(f"{row.period}  {row.grade}  {percent(total)} {trend}")
        previous = total
    current = await store.open_assessment(ctx.session, ctx.compound_id)
    if current is not None:
        lines.append(t("Assessment {period} open until {closes}.", period=current.period,
                       closes=ctx.local(current.closes_at, ctx.compound)))
    if ctx.has(Role.PROPERTY, Role.SECRETARY, Role.COMMITTEE, Role.SUPERVISOR):  # the company sees its orders
        for order in await store.unverified_rectifications(ctx.session, ctx.compound_id):
            lines.append(t("Rectification order #{id}: {items}, due {deadline} ({state}).", id=order.id,
                           items="、".join(t(ITEM_LABELS[i]) for i in order.items.split(",") if i in ITEM_LABELS),
                           deadline=ctx.local(order.deadline, ctx.compound), state=t(ORDER_STATES[order.status])))
    return Reply("\n".join(lines))


# ---- scheduled: reminders, closing, rectification deadlines --------------------------------------------------


@router.job("assessments", every=timedelta(minutes=10))
async def assessments(ctx: JobContext) -> Replies:
    replies: list[Reply] = []
    for row in await store.open_assessments(ctx.session):
        compound = await ctx.session.get(Compound, row.compound_id)
        if compound is None or row.id is None:
            continue
        if row.closes_at <= ctx.now:
            if await store.claim_close(ctx.session, row.id):
                replies += await _close(ctx, compound, row)
        elif row.closes_at - timedelta(hours=24) <= ctx.now and await store.claim_reminder(ctx.session, row.id, ctx.now):
            replies += await _remind(ctx, compound, row)
    return replies


async def _remind(ctx: JobContext, compound: Compound, row: store.Assessment) -> list[Reply]:
    answered = {a.room_id for a in await store.answers_of(ctx.session, row.stored_id)}
    replies = []
    told: set[int] = set()
    for room_id, members in (await store.households(ctx.session, compound.stored_id)).items():
        if room_id in answered:
            continue
        for person in members:
            if person in told:
                continue
            told.add(person)
            pt = await ctx.translator_for(person)
            replies.append(Reply(pt("Reminder: your household has not rated the property company yet ({period}); "
                                    "the questionnaire closes {closes}.", period=row.period,
                                    closes=ctx.local(row.closes_at, compound)),
                                 buttons=((Button.do(pt("Start the questionnaire"), "property.answer",
                                                     assessment=row.id),),),
                                 to=ToPerson(person), expires_at=row.closes_at))
    return replies


async def _close(ctx: JobContext, compound: Compound, row: store.Assessment) -> list[Reply]:
    answers = [{k: int(v) for k, v in a.scores.items()} for a in await store.answers_of(ctx.session, row.stored_id)]
    figures = await store.case_figures(ctx.session, compound.stored_id, row.opened_at - timedelta(days=91), row.closes_at)
    settings = {key: compound_setting(compound, f"property.{key}", value) for key, value in store.DEFAULTS.items()}
    result = store.grade(answers, figures, settings)
    row.grade, row.total = result.grade, str(result.total)
    row.details = {"answers": result.answers, "survey": str(result.survey),
                   "complaints": None if result.complaints is None else str(result.complaints),
                   "items": {k: str(v) for k, v in result.item_averages.items()}, "cases": figures.cases,
                   "overdue": figures.overdue}
    ctx.session.add(row)
    tr = ctx.translator(compound.language)
    replies = [Reply(_result_text(tr, compound, row, result), to=ToGroups(compound.stored_id)),
               *await ctx.tell_role(Role.PROPERTY, compound.stored_id, lambda pt: _result_text(pt, compound, row, result))]
    if result.grade == "C":
        replies += await _rectify(ctx, compound, row, result)
        previous = [p for p in await store.history(ctx.session, compound.stored_id) if p.id != row.id]
        if previous and previous[-1].grade == "C":
            replies += await _prepared_motion(ctx, compound, row)
    return replies


def _result_text(tr: Translator, compound: Compound, row: store.Assessment, result: store.Grade) -> str:
    items = "；".join(f"{tr(ITEM_LABELS[k])} {float(v):.1f}" for k, v in result.item_averages.items() if v)
    complaints = "-" if result.complaints is None else percent(result.complaints)
    return tr("Property assessment {period} of {compound}: grade {grade} ({total} points). Questionnaire "
              "{survey} from {answers} households ({items}); complaint handling {complaints}.",
              period=row.period, compound=compound.name, grade=result.grade, total=percent(result.total),
              survey=percent(result.survey), answers=result.answers, items=items or "-", complaints=complaints)


async def _rectify(ctx: JobContext, compound: Compound, row: store.Assessment, result: store.Grade) -> list[Reply]:
    days = int(str(compound_setting(compound, "property.rectify_days", store.DEFAULTS["rectify_days"])))
    worst = result.worst_items()
    order = store.Rectification(assessment_id=row.stored_id, compound_id=compound.stored_id, items=",".join(worst),
                                deadline=ctx.now + timedelta(days=days))
    ctx.session.add(order)
    await ctx.session.flush()
    deadline = ctx.local(order.deadline, compound)
    return [
        *await ctx.tell_role(Role.PROPERTY, compound.stored_id, lambda pt: Reply(
            pt("Grade C (不合格): a rectification order (限期整改) is open for {items}, due {deadline}. Reply with "
               "what you have done.", items="、".join(pt(ITEM_LABELS[i]) for i in worst), deadline=deadline),
            buttons=((Button.do(pt("Report what was done"), "property.respond", order=order.id),),))),
        *await ctx.tell_role(Role.SECRETARY, compound.stored_id, lambda st: st(
            "Grade C: rectification order #{id} is open for {items}, due {deadline}.", id=order.id,
            items="、".join(st(ITEM_LABELS[i]) for i in worst), deadline=deadline)),
    ]


async def _prepared_motion(ctx: JobContext, compound: Compound, row: store.Assessment) -> list[Reply]:
    grades = " → ".join(f"{p.period} {p.grade}" for p in await store.history(ctx.session, compound.stored_id))
    return await ctx.tell_role(STAFF, compound.stored_id, lambda pt: Reply(
        pt("Two C grades in a row ({grades}). Under Civil Code Art. 278, hiring or dismissing the property "
           "company is an ordinary matter for the owners' assembly. A motion to replace the property company "
           "is prepared with the grade history.", grades=grades),
        buttons=((Button.do(pt("Open the assembly on replacing it"), "property.motion", assessment=row.id),),)))


@router.button("property.motion", roles=STAFF, private=True)
async def open_motion(ctx: MemberContext, msg: Incoming) -> Replies:
    """Hands the prepared motion to the assembly flow, which asks for the voting window."""
    grades = " → ".join(f"{p.period} {p.grade}" for p in await store.history(ctx.session, ctx.compound_id))
    title = ctx.t("Replace the property company (grades: {grades})", grades=grades)
    from handlers.assembly import start_prepared_assembly

    return await start_prepared_assembly(ctx, title, [(title, "ordinary")])


async def _open_rectification(ctx: MemberContext, order_id: int) -> store.Rectification | Reply:
    """The rectification order a button or flow refers to, if it is in this compound and not verified yet."""
    order = await ctx.session.get(store.Rectification, order_id)
    if order is None or order.compound_id != ctx.compound_id:
        return Reply(ctx.t("That rectification order is not in your compound."))
    if order.status == store.RectificationStatus.VERIFIED:
        return Reply(ctx.t("Rectification order #{id} is already verified.", id=order.id))
    return order


class RectifyReport(Draft):
    order: int


rectify = Flow("rectify", RectifyReport, title=N_("the report on a rectification order"), roles=[Role.PROPERTY])


def _ask_response(ctx: Context, draft: RectifyReport) -> Reply:
    return Reply(ctx.t("What has been put right? The secretary will check it."))


@rectify.step("response", ask=_ask_response, answer=answers.Text(1000, what=N_("report")))
async def response(ctx: MemberContext, draft: RectifyReport, text: str) -> Outcome:
    order = await _open_rectification(ctx, draft.order)
    if isinstance(order, Reply):
        return Done(order)
    await store.respond(ctx.session, order, text)
    return Done([Reply(ctx.t("Thank you; the secretary will verify it.")),
                 *await ctx.tell_role(Role.SECRETARY, order.compound_id, lambda st: Reply(
                     st("The property company reports on rectification order #{id}: {text}", id=order.id, text=text),
                     buttons=((Button.do(st("Verified"), "property.verify", order=order.id, ok=True),
                               Button.do(st("Not yet"), "property.verify", order=order.id, ok=False)),)))])


@router.button("property.respond", roles=[Role.PROPERTY], private=True)
async def respond(ctx: MemberContext, msg: Incoming) -> Replies:
    order = await _open_rectification(ctx, int(ctx.args["order"]))
    if isinstance(order, Reply):
        return order
    return await rectify.begin(ctx, RectifyReport(order=int(ctx.args["order"])))


@router.button("property.verify", roles=[Role.SECRETARY], private=True)
async def verify(ctx: MemberContext, msg: Incoming) -> Replies:
    order = await _open_rectification(ctx, int(ctx.args["order"]))
    if isinstance(order, Reply):
        return order
    if not ctx.args.get("ok"):
        return await send_back.begin(ctx, RectifyReport(order=int(ctx.args["order"])))
    await store.verify(ctx.session, order, ctx.now)
    return [Reply(ctx.t("Rectification order #{id}: {state}.", id=order.id, state=ctx.t("verified"))),
            *await ctx.tell_role(Role.PROPERTY, order.compound_id, N_("Rectification order #{id} is verified as done."),
                                 id=order.id)]


send_back = Flow("rectify_return", RectifyReport, title=N_("sending back a rectification order"),
                 roles=[Role.SECRETARY])


def _ask_reason(ctx: Context, draft: RectifyReport) -> Reply:
    return Reply(ctx.t("What is not done yet? The property company reads this with the order."))


@send_back.step("reason", ask=_ask_reason, answer=answers.Text(500, what=N_("reason")))
async def reason(ctx: MemberContext, draft: RectifyReport, text: str) -> Outcome:
    order = await _open_rectification(ctx, draft.order)
    if isinstance(order, Reply):
        return Done(order)
    await store.send_back(ctx.session, order, text, ctx.now)
    return Done([Reply(ctx.t("Rectification order #{id}: {state}.", id=order.id, state=ctx.t("sent back"))),
                 *await ctx.tell_role(Role.PROPERTY, order.compound_id, N_(
                     "Rectification order #{id} is not done yet, says the secretary: {reason}\nPlease keep at it and "
                     "report again."), id=order.id, reason=text)])


@router.job("rectifications", every=timedelta(minutes=30))
async def rectifications(ctx: JobContext) -> Replies:
    replies: list[Reply] = []
    for order in await store.overdue_rectifications(ctx.session, ctx.now):
        if not await store.claim_escalation(ctx.session, order.stored_id, ctx.now):
            continue
        compound = await ctx.session.get(Compound, order.compound_id)
        replies += await ctx.tell_role(
            (Role.OFFICIAL, Role.SECRETARY), order.compound_id,
            N_("Rectification order #{id} of {compound}'s property company is overdue and is escalated to the "
               "community and street officials."), id=order.id, compound=compound.name if compound else "?")
    return replies


router.flow(questionnaire, rectify, send_back)

__all__ = ["router"]
