"""/need, /needs: the needs list (需求清单), with support instead of twins and the secretary's triage, which
creates the real thing: a volunteer task, a complaint case filed for the poster, a service order for the poster,
or an item on the next 集中说事日 / 周末议事日 agenda; the poster and supporters are told its number."""

from __future__ import annotations

from bot.core import answers
from bot.core.context import Context, MemberContext
from bot.core.flows import Done, Draft, Flow, Go, Outcome, Stay
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Photo, Replies, Reply, ToPerson, rows
from handlers import party, resources, volunteering

# A case or task made from a need is announced exactly as the complaints and volunteering flows announce theirs.
from handlers.complaints import LEVEL_NAMES, tell_handler
from handlers.volunteering import Schedule, hourly_rate
from storage import needs as store
from storage import services
from storage.needs import Need, NeedOutcome, Refused
from storage.people import Person, Role

router = Router("needs")

CATEGORY_LABELS = {
    "elderly": N_("Help for the elderly"),
    "disability": N_("Help for the disabled"),
    "childcare": N_("Childcare"),
    "facilities": N_("Facilities"),
    "environment": N_("Environment"),
    "other": N_("Other"),
}
OUTCOME_LABELS = {
    NeedOutcome.SERVICE: N_("Service order"),
    NeedOutcome.TASK: N_("Volunteer task"),
    NeedOutcome.CASE: N_("Complaint case"),
    NeedOutcome.AGENDA: N_("Meeting agenda"),
    NeedOutcome.DECLINED: N_("Decline"),
    NeedOutcome.RESOURCE: N_("Match a resource"),
}
TRIAGERS = [Role.SECRETARY]
GONE = N_("That need has already been dealt with.")



# ---- posting a need ---------------------------------------------------------------------------------------


class NeedDraft(Draft):
    category: str = ""
    text: str = ""
    # Open needs much like this one, offered for support instead: (id, text).
    twins: tuple[tuple[int, str], ...] = ()


need_flow = Flow("need", NeedDraft, title=N_("the need you are posting"), member=True)


@router.command("need", group="cases", private=True, member=True, flow=True, help="Post a need of yours or your family's", order=30)
async def need(ctx: MemberContext, msg: Incoming) -> Replies:
    return await need_flow.begin(ctx, NeedDraft())


def _ask_category(ctx: Context, draft: NeedDraft) -> Reply:
    t = ctx.t
    return Reply(t("What kind of need is it?"),
                 buttons=rows(*(Button.choice(t(label), code) for code, label in CATEGORY_LABELS.items()), per_row=3))


@need_flow.step("category", ask=_ask_category, next=("text", "twins", "photo"), answer=answers.Choice(
    values=store.CATEGORIES, refusal=N_("Please choose a kind with the buttons above.")))
async def need_category(ctx: MemberContext, draft: NeedDraft, category: str) -> Outcome:
    draft = draft.model_copy(update={"category": category})
    if draft.text:  # kept from the message the person began with (outside any conversation): not asked again
        return await need_text(ctx, draft, draft.text)
    return Go("text", draft)


def _ask_text(ctx: Context, draft: NeedDraft) -> Reply:
    return Reply(ctx.t("Describe the need in a few sentences ({low}–{high} characters).", low=store.TEXT_MIN,
                       high=store.TEXT_MAX))


@need_flow.step("text", ask=_ask_text, next=("twins", "photo"), answer=answers.Text(
    store.TEXT_MAX, what=N_("description of the need"), minimum=store.TEXT_MIN))
async def need_text(ctx: MemberContext, draft: NeedDraft, text: str) -> Outcome:
    twins = await store.similar_open(ctx.session, ctx.compound_id, text)
    draft = draft.model_copy(update={"text": text, "twins": tuple((twin.stored_id, twin.text[:80]) for twin in twins)})
    return Go("twins" if twins else "photo", draft)


def _ask_twins(ctx: Context, draft: NeedDraft) -> Reply:
    t = ctx.t
    lines = [t("Neighbours have posted similar needs. You can support one of them instead:")]
    lines += [f"#{need_id} {text}" for need_id, text in draft.twins]
    buttons = [Button.choice(t("Support #{id}", id=need_id), need_id) for need_id, _ in draft.twins]
    return Reply("\n".join(lines), buttons=rows(*buttons, Button.choice(t("Post mine anyway"), "new")))


@need_flow.step("twins", ask=_ask_twins, answer=answers.Choice(), next=("photo",))
async def need_twins(ctx: MemberContext, draft: NeedDraft, value: int | str) -> Outcome:
    if value == "new" or not isinstance(value, int):
        return Go("photo")
    found = await store.need_in(ctx.session, value, ctx.compound_id)
    if found is None or found.status != store.NeedStatus.OPEN:
        return Done(Reply(ctx.t("That need has already been dealt with. Send /need again to post yours.")))
    await store.support(ctx.session, found, ctx.person_id, ctx.now)
    return Done(Reply(ctx.t("Thank you: your support was added to need #{id}. You will be told when it is dealt with.",
                            id=found.id)))


def _ask_photo(ctx: Context, draft: NeedDraft) -> Reply:
    return Reply(ctx.t("You may add one photo, or skip."), buttons=((Button.choice(ctx.t("Skip"), "skip"),),))


@need_flow.step("photo", ask=_ask_photo, answer=answers.PhotoOrDone(done="skip"))
async def need_photo(ctx: MemberContext, draft: NeedDraft, photo: Photo | None) -> Outcome:
    row = await store.post_need(ctx.session, ctx.compound_id, ctx.person_id, draft.category, draft.text, ctx.now,
                                photo.file_id if photo else None, photo.platform if photo else None)
    replies = [Reply(ctx.t("Your need #{id} is on the list. Neighbours can support it with /needs, and the "
                           "secretary will decide how to meet it.", id=row.id))]
    replies += await ctx.tell_role(Role.SECRETARY, ctx.compound_id, lambda st: Reply(
        st("New need #{id} ({category}) from {name}: {text}", id=row.id, category=st(CATEGORY_LABELS[row.category]),
           name=ctx.person.name, text=row.text),
        buttons=_triage_buttons(st, row.stored_id)))
    # Copied to the party members responsible for where the poster lives (党员责任区).
    replies += await party.copy_need(ctx, ctx.compound_id, row.stored_id, row.text, ctx.person_id)
    return Done(replies)


def _triage_buttons(st: Translator, need_id: int) -> tuple[tuple[Button, ...], ...]:
    return rows(*(Button.do(st(label), "needs.triage", need=need_id, outcome=code.value)
                  for code, label in OUTCOME_LABELS.items()), per_row=3)


# ---- the list and support -----------------------------------------------------------------------------------


@router.command("needs", group="cases", member=True, help="Open needs of the compound", order=31)
async def needs(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    listed = await store.open_needs(ctx.session, ctx.compound_id)
    if not listed:
        return Reply(t("There are no open needs. Post one with /need."))
    lines = [t("Open needs, most supported first:")]
    buttons = []
    for row, count in listed:
        lines.append(t("#{id} [{category}] {text} — {n} supporters", id=row.id,
                       category=t(CATEGORY_LABELS[row.category]), text=row.text[:60], n=count + 1))
        buttons.append(Button.do(t("Support #{id}", id=row.id), "needs.support", personal=False, need=row.id))
    return Reply("\n".join(lines), buttons=rows(*buttons[:10], per_row=2))


@router.button("needs.support", member=True)
async def support_pressed(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    row = await store.need_in(ctx.session, int(ctx.args["need"]), ctx.compound_id)
    if row is None:
        return Reply(t("That need is not in your compound."), toast=t("Not allowed"))
    if row.status != store.NeedStatus.OPEN:
        return Reply(t("Need #{id} has already been dealt with.", id=row.id), toast=t("Already dealt with"))
    if not await store.support(ctx.session, row, ctx.person_id, ctx.now):
        return Reply(t("You already support need #{id}.", id=row.id), toast=t("Already supported"))
    return Reply(t("Thank you: your support was added to need #{id}.", id=row.id), toast=t("Supported"))


# ---- triage -------------------------------------------------------------------------------------------------


@router.button("needs.triage", roles=TRIAGERS)
async def triage(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    row = await store.need_in(ctx.session, int(ctx.args["need"]), ctx.compound_id)
    outcome = str(ctx.args.get("outcome"))
    if row is None or outcome not in OUTCOME_LABELS:
        return Reply(t("That need is not in your compound."), toast=t("Not allowed"))
    if row.status != store.NeedStatus.OPEN:
        return Reply(t("Need #{id} has already been dealt with.", id=row.id), toast=t("Already dealt with"))
    if outcome == NeedOutcome.CASE:
        return await _into_case(ctx, row)
    if outcome == NeedOutcome.AGENDA:
        return await _onto_agenda(ctx, row)
    if outcome == NeedOutcome.RESOURCE:  # the resources list (资源清单): the secretary picks the resource
        return await resources.from_triage(ctx, row)
    # The other outcomes ask a few questions first.
    if outcome == NeedOutcome.DECLINED:
        return await decline_flow.begin(ctx, Decline(need=row.stored_id))
    if outcome == NeedOutcome.TASK:
        return await task_flow.begin(ctx, NeedTask(need=row.stored_id, text=row.text))
    if not await services.active_services(ctx.session, ctx.compound_id):
        return Reply(t("No services are offered yet, so need #{id} stays open. Offer one with /addservice, then press "
                       "this button again.", id=row.id), toast=t("No services"))
    return await service_flow.begin(ctx, ServiceChoice(need=row.stored_id))


async def _people_told(ctx: Context, row: Need) -> list[tuple[int, Translator]]:
    """The poster and every supporter, each with their own translator."""
    people = dict.fromkeys([row.poster_id, *await store.supporters_of(ctx.session, row.stored_id)])
    return [(person, await ctx.translator_for(person)) for person in people]


# ---- declined, with a reason ----------------------------------------------------------------------------------


class Decline(Draft):
    need: int


decline_flow = Flow("need_decline", Decline, title=N_("declining a need"), roles=TRIAGERS)


def _ask_reason(ctx: Context, draft: Decline) -> Reply:
    return Reply(ctx.t("Why is need #{id} declined? The poster and supporters will read your reason.", id=draft.need))


@decline_flow.step("reason", ask=_ask_reason, answer=answers.Text(500, what=N_("reason")))
async def decline_reason(ctx: MemberContext, draft: Decline, reason: str) -> Outcome:
    row = await store.decline(ctx.session, draft.need, ctx.compound_id, ctx.person_id, reason, ctx.now)
    if isinstance(row, Refused):
        return Done(Reply(ctx.t(GONE)))
    replies = [Reply(ctx.t("Need #{id} declined; the poster and supporters were told.", id=row.id))]
    for person, pt in await _people_told(ctx, row):
        replies.append(Reply(pt("Need #{id} ({text}) was declined by the secretary: {reason}", id=row.id,
                                text=row.text[:60], reason=reason), to=ToPerson(person)))
    return Done(replies)


# ---- into a volunteer task: place, start and end asked as /task asks them, then the volunteers wanted ---------


class NeedTask(Schedule):
    need: int
    text: str = ""


task_flow = Flow("need_task", NeedTask, title=N_("turning a need into a volunteer task"), roles=TRIAGERS)


def _ask_place(ctx: Context, draft: NeedTask) -> Reply:
    t = ctx.t
    return Reply(t("Need #{id} becomes a volunteer task “{title}”; the need's text is its description. A few "
                   "questions first (/cancel leaves the need open).", id=draft.need,
                   title=store.task_title(draft.text)) + "\n" + volunteering.ask_place(ctx, draft).text)


volunteering.schedule_steps(task_flow, after_end=("wanted",), ask=_ask_place)


@task_flow.step("wanted", ask=volunteering.ask_wanted, answer=volunteering.WANTED, next=("start",))
async def task_wanted(ctx: MemberContext, draft: NeedTask, wanted: int) -> Outcome:
    late = Go("start", say=(Reply(ctx.t("The start time has passed while we talked. Please type a new start time.")),))
    if draft.start is None or draft.end is None or draft.start <= ctx.now:
        return late
    made = await store.into_task(
        ctx.session, draft.need, ctx.compound_id, ctx.person_id, place=draft.place, starts_at=draft.start,
        ends_at=draft.end, wanted=wanted, rate=hourly_rate(ctx.compound), now=ctx.now,
        description=ctx.t("From need #{id}: {text}", id=draft.need, text=draft.text)[:1000])
    if made == Refused.LATE:
        return late
    if isinstance(made, Refused):
        return Done(Reply(ctx.t(GONE)))
    row, task = made
    replies = [Reply(ctx.t("Need #{id} is now volunteer task #{task} “{title}”, posted to the compound's group chats. "
                           "As its organiser you will be told as people sign up, reminded the evening before, and "
                           "asked for attendance afterwards.", id=row.id, task=task.id, title=task.title))]
    told = await _people_told(ctx, row)
    replies += await volunteering.publish(ctx, task, ctx.compound, told=[person for person, _ in told])
    when = ctx.local(task.starts_at, ctx.compound)
    for person, pt in told:
        replies.append(Reply(
            pt("Good news about need #{id} ({text}): it is now volunteer task #{task} “{title}”, {when} at {place}. "
               "Sign up if you can help.", id=row.id, text=row.text[:60], task=task.id, title=task.title, when=when,
               place=task.place),
            buttons=((Button.do(pt("Sign up"), "vol.signup", task=task.id),),), to=ToPerson(person)))
    return Done(replies)


# ---- into a complaint case, filed on behalf of the poster --------------------------------------------------


async def _into_case(ctx: MemberContext, row: Need) -> Replies:
    made = await store.into_case(ctx.session, row.stored_id, ctx.compound, ctx.person_id, ctx.now)
    if isinstance(made, Refused):
        return Reply(ctx.t(GONE))
    row, case = made
    replies = [Reply(ctx.t("Need #{id} is now complaint case {number}, filed on behalf of the poster and sent to the "
                           "{level} level.", id=row.id, number=case.number, level=ctx.t(LEVEL_NAMES[case.level])),
                     toast=ctx.t("Done"))]
    for person, pt in await _people_told(ctx, row):
        if person == row.poster_id:
            text = pt("Good news about need #{id} ({text}): the secretary filed it as complaint case {number} on your "
                      "behalf. You will hear about every step; send /case {number} to follow it.", id=row.id,
                      text=row.text[:60], number=case.number)
        else:
            text = pt("Good news about need #{id} ({text}): it is now handled as complaint case {number}.",
                      id=row.id, text=row.text[:60], number=case.number)
        replies.append(Reply(text, to=ToPerson(person)))
    # The handler (often this very secretary) gets the case card with its handling buttons, as for any case.
    replies += await tell_handler(ctx, ctx.compound, case, "new")
    return replies


# ---- onto the agenda of the next 集中说事日 / 周末议事日 -------------------------------------------------------


async def _onto_agenda(ctx: MemberContext, row: Need) -> Replies:
    t = ctx.t
    made = await store.onto_agenda(ctx.session, row.stored_id, ctx.compound_id, ctx.person_id,
                                   t("Need #{id}: {text}", id=row.id, text=row.text), ctx.now)
    if made == Refused.NO_MEETING:
        return Reply(t("There is no 集中说事日 or 周末议事日 meeting scheduled, so need #{id} stays open. Schedule one "
                       "with /newmeeting, then press this button again.", id=row.id), toast=t("No meeting"))
    if made == Refused.AGENDA_FULL:
        return Reply(t("The agenda of the next meeting is full, so need #{id} stays open. Shorten the agenda first.",
                       id=row.id), toast=t("Agenda full"))
    if isinstance(made, Refused):
        return Reply(t(GONE))
    row, meeting = made
    when = ctx.local(meeting.starts_at, ctx.compound)
    replies = [Reply(t("Need #{id} is on the agenda of “{title}” ({when}, {place}).", id=row.id,
                       title=meeting.title, when=when, place=meeting.place), toast=t("Done"))]
    for person, pt in await _people_told(ctx, row):
        replies.append(Reply(pt("Good news about need #{id} ({text}): it is on the agenda of “{title}” on {when} at "
                                "{place}. Come and talk it over with your neighbours.", id=row.id, text=row.text[:60],
                                title=meeting.title, when=when, place=meeting.place), to=ToPerson(person)))
    return replies


# ---- into a service order for the poster: the secretary picks the service and the time -----------------------


class ServiceChoice(Draft):
    need: int
    service: int = 0


service_flow = Flow("need_service", ServiceChoice, title=N_("ordering a service for a need"), roles=TRIAGERS)


def _slot_when(ctx: Context, slot: services.ServiceSlot) -> str:
    zone = ctx.zone(ctx.compound)
    return f"{slot.starts_at.astimezone(zone):%m-%d %H:%M}–{slot.ends_at.astimezone(zone):%H:%M}"


async def _ask_service(ctx: MemberContext, draft: ServiceChoice) -> Reply:
    offered = await services.active_services(ctx.session, ctx.compound_id)
    return Reply(ctx.t("Which service should be ordered for the poster of need #{id}?", id=draft.need),
                 buttons=rows(*(Button.choice(f"{s.title} — {s.provider_name}", s.id) for s in offered)))


async def _free_slots(ctx: Context, service_id: int) -> list[tuple[services.ServiceSlot, int]]:
    return [(slot, left) for slot, left in await services.open_slots(ctx.session, service_id, ctx.now) if left > 0]


@service_flow.step("service", ask=_ask_service, next=("slot",), answer=answers.Choice(
    refusal=N_("Please choose a service with the buttons above, or send /cancel.")))
async def service_chosen(ctx: MemberContext, draft: ServiceChoice, service_id: int) -> Outcome:
    t = ctx.t
    service = next((s for s in await services.active_services(ctx.session, ctx.compound_id) if s.id == service_id),
                   None)
    if service is None:
        return Stay(Reply(t("Please choose a service with the buttons above, or send /cancel.")))
    if not await _free_slots(ctx, service_id):
        return Stay(Reply(t("{title} has no free time slots. Choose another service, or send /cancel.",
                            title=service.title)))
    return Go("slot", draft.model_copy(update={"service": service_id}))


async def _ask_slot(ctx: Context, draft: ServiceChoice) -> Reply:
    t = ctx.t
    service = await ctx.session.get(services.Service, draft.service)
    return Reply(t("{title}: choose a time for the poster.", title=service.title if service else "-"),
                 buttons=rows(*(Button.choice(t("{when} ({n} left)", when=_slot_when(ctx, slot), n=left), slot.id)
                                for slot, left in await _free_slots(ctx, draft.service))))


@service_flow.step("slot", ask=_ask_slot, answer=answers.Choice(
    refusal=N_("Please choose a time with the buttons above, or send /cancel.")))
async def slot_chosen(ctx: MemberContext, draft: ServiceChoice, slot_id: int) -> Outcome:
    t = ctx.t
    made = await store.into_service(ctx.session, draft.need, ctx.compound_id, ctx.person_id, slot_id, ctx.now)
    if made == Refused.NO_SLOT:
        return Stay(Reply(t("That time is no longer free. Please choose another one.")))
    if isinstance(made, Refused):
        return Done(Reply(t(GONE)))
    row, placed = made
    order, service, slot = placed.order, placed.service, placed.slot
    assert order is not None and service is not None and slot is not None  # an order placed has all three
    when = _slot_when(ctx, slot)
    poster = await ctx.session.get(Person, row.poster_id)
    name = poster.name if poster else "?"
    handlers = await services.order_handlers(ctx.session, service)
    head = Reply(t("Need #{id} is now service order #{order}: {title} for {name}, {when}.", id=row.id, order=order.id,
                   title=service.title, name=name, when=when),
                 buttons=_order_buttons(t, order.id) if ctx.person_id in handlers else ())
    replies = [head]
    for person, pt in await _people_told(ctx, row):
        if person == row.poster_id:
            text = pt("Good news about need #{id} ({text}): the secretary ordered {title} ({provider}) for you, {when} "
                      "(order #{order}). See or cancel it with /myorders; I will remind you before it starts.",
                      id=row.id, text=row.text[:60], title=service.title, provider=service.provider_name, when=when,
                      order=order.id)
        else:
            text = pt("Good news about need #{id} ({text}): it is now a service order: {title} ({provider}), {when}.",
                      id=row.id, text=row.text[:60], title=service.title, provider=service.provider_name, when=when)
        replies.append(Reply(text, to=ToPerson(person)))
    for handler in handlers:
        if handler == ctx.person_id:
            continue  # the secretary who ordered it has the buttons on the answer above
        st = await ctx.translator_for(handler)
        replies.append(Reply(st("New order #{id}: {name} ordered {title} for {when}.", id=order.id, name=name,
                                title=service.title, when=when),
                             buttons=_order_buttons(st, order.id), to=ToPerson(handler)))
    return Done(replies)


def _order_buttons(st: Translator, order_id: int | None) -> tuple[tuple[Button, ...], ...]:
    return ((Button.do(st("Take the order"), "services.accept", order=order_id),
             Button.do(st("Propose another time"), "services.propose", order=order_id)),
            (Button.do(st("Mark done"), "services.done", order=order_id),))


router.flow(need_flow, decline_flow, task_flow, service_flow)

__all__ = ["router"]
