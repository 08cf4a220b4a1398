"""/need, /needs: the needs list (需求清单), with support instead of twins and the secretary's triage, which
creates the real thing: a volunteer task, a complaint case filed for the poster, a service order for the poster,
or an item on the next 集中说事日 / 周末议事日 agenda; the poster and supporters are told its number."""

from __future__ import annotations

from datetime import datetime

from bot.core.context import Context
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, ToPerson, rows
from handlers import volunteering

# A case or task made from a need is announced exactly as the complaints and volunteering flows announce theirs.
from handlers.complaints import LEVEL_NAMES, tell_handler
from handlers.volunteering import hourly_rate
from storage import complaints as cases
from storage import meetings, services
from storage import needs as store
from storage import volunteering as tasks
from storage.people import Person, Role, people_with_role

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
    "service": N_("Service order"),
    "task": N_("Volunteer task"),
    "case": N_("Complaint case"),
    "agenda": N_("Meeting agenda"),
    "declined": N_("Decline"),
}
# The meetings where residents' matters are talked over: a need goes on the next one's agenda.
AGENDA_KINDS = ("talk_day", "weekend")


@router.command("need", private=True, member=True, flow=True, help="Post a need of yours or your family's", order=30)
async def need(ctx: Context, msg: Incoming) -> Replies:
    ctx.convo.start("need", "category")
    t = ctx.t
    return Reply(t("What kind of need is it?"),
                 buttons=rows(*(Button.choice(t(label), code) for code, label in CATEGORY_LABELS.items()), per_row=3))


@router.step("need", "category")
async def need_category(ctx: Context, msg: Incoming) -> Replies:
    value = ctx.args.get("value")
    if value not in CATEGORY_LABELS:
        return Reply(ctx.t("Please choose a kind with the buttons above."))
    ctx.convo.draft["category"] = value
    ctx.convo.goto("text")
    return Reply(ctx.t("Describe the need in a few sentences ({low}–{high} characters).",
                       low=store.TEXT_MIN, high=store.TEXT_MAX))


@router.step("need", "text")
async def need_text(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    text = (msg.text or "").strip()
    if not text:
        return Reply(t("Please describe the need in words first; you can add a photo afterwards."))
    if len(text) < store.TEXT_MIN or len(text) > store.TEXT_MAX:
        return Reply(t("The description must be {low}–{high} characters long; yours has {n}. Please send it again.",
                       low=store.TEXT_MIN, high=store.TEXT_MAX, n=len(text)))
    ctx.convo.draft["text"] = text
    assert ctx.compound is not None
    twins = await store.similar_open(ctx.session, ctx.compound.id or 0, text)
    if twins:
        ctx.convo.goto("twins")
        lines = [t("Neighbours have posted similar needs. You can support one of them instead:")]
        buttons = []
        for twin in twins:
            lines.append(f"#{twin.id} {twin.text[:80]}")
            buttons.append(Button.choice(t("Support #{id}", id=twin.id), twin.id))
        buttons.append(Button.choice(t("Post mine anyway"), "new"))
        return Reply("\n".join(lines), buttons=rows(*buttons))
    return _ask_photo(ctx)


def _ask_photo(ctx: Context) -> Reply:
    ctx.convo.goto("photo")
    return Reply(ctx.t("You may add one photo, or skip."), buttons=((Button.choice(ctx.t("Skip"), "skip"),),))


@router.step("need", "twins")
async def need_twins(ctx: Context, msg: Incoming) -> Replies:
    value = ctx.args.get("value")
    if value == "new":
        return _ask_photo(ctx)
    if not isinstance(value, int):
        return Reply(ctx.t("Please press one of the buttons above."))
    found = await ctx.session.get(store.Need, value)
    ctx.convo.end()
    if found is None or found.status != "open":
        return Reply(ctx.t("That need has already been dealt with. Send /need again to post yours."))
    await store.support(ctx.session, found, ctx.person_id, ctx.now)
    return Reply(ctx.t("Thank you: your support was added to need #{id}. You will be told when it is dealt with.",
                       id=found.id))


@router.step("need", "photo")
async def need_photo(ctx: Context, msg: Incoming) -> Replies:
    if msg.photo is not None:
        ctx.convo.draft["photo"] = [msg.photo.file_id, msg.photo.platform]
    elif ctx.args.get("value") != "skip":
        return Reply(ctx.t("Please send a photo, or press Skip."))
    return await _save(ctx)


async def _save(ctx: Context) -> Replies:
    assert ctx.compound is not None and ctx.compound.id is not None
    draft = ctx.convo.draft
    photo = draft.get("photo") or [None, None]
    row = store.Need(compound_id=ctx.compound.id, poster_id=ctx.person_id, category=str(draft["category"]),
                     text=str(draft["text"]), photo_file_id=photo[0], photo_platform=photo[1], created_at=ctx.now)
    ctx.session.add(row)
    await ctx.session.flush()
    ctx.convo.end()
    replies = [Reply(ctx.t("Your need #{id} is on the list. Neighbours can support it with /needs, and the "
                           "secretary will decide how to meet it.", id=row.id))]
    replies += await ctx.tell_role(Role.SECRETARY, ctx.compound.id, lambda st: Reply(
        st("New need #{id} ({category}) from {name}: {text}", id=row.id, category=st(CATEGORY_LABELS[row.category]),
           name=ctx.person.name, text=row.text),
        buttons=_triage_buttons(st, row.id or 0)))
    return replies


def _triage_buttons(st: Translator, need_id: int) -> tuple[tuple[Button, ...], ...]:
    return rows(*(Button.do(st(label), "needs.triage", need=need_id, outcome=code)
                  for code, label in OUTCOME_LABELS.items()), per_row=3)


@router.command("needs", member=True, help="Open needs of the compound", order=31)
async def needs(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None
    listed = await store.open_needs(ctx.session, ctx.compound.id or 0)
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
async def support_pressed(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    row = await ctx.session.get(store.Need, int(ctx.args["need"]))
    if row is None or ctx.compound is None or row.compound_id != ctx.compound.id:
        return Reply(t("That need is not in your compound."), toast=t("Not allowed"))
    if row.status != "open":
        return Reply(t("Need #{id} has already been dealt with.", id=row.id), toast=t("Already dealt with"))
    if not await store.support(ctx.session, row, ctx.person_id, ctx.now):
        return Reply(t("You already support need #{id}.", id=row.id), toast=t("Already supported"))
    return Reply(t("Thank you: your support was added to need #{id}.", id=row.id), toast=t("Supported"))


@router.button("needs.triage", roles=[Role.SECRETARY])
async def triage(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    row = await ctx.session.get(store.Need, int(ctx.args["need"]))
    outcome = str(ctx.args.get("outcome"))
    if row is None or ctx.compound is None or row.compound_id != ctx.compound.id or outcome not in OUTCOME_LABELS:
        return Reply(t("That need is not in your compound."), toast=t("Not allowed"))
    if row.status != "open":
        return Reply(t("Need #{id} has already been dealt with.", id=row.id), toast=t("Already dealt with"))
    if outcome == "case":
        return await _into_case(ctx, row)
    if outcome == "agenda":
        return await _onto_agenda(ctx, row)
    # The other outcomes ask a few questions first.
    if (busy := ctx.busy()) is not None:
        return busy
    if outcome == "declined":
        ctx.convo.start("need_decline", "reason", {"need": row.id})
        return Reply(t("Why is need #{id} declined? The poster and supporters will read your reason.", id=row.id))
    if outcome == "task":
        ctx.convo.start("need_task", "place", {"need": row.id})
        return Reply(t("Need #{id} becomes a volunteer task “{title}”; the need's text is its description. "
                       "A few questions first (/cancel leaves the need open).", id=row.id,
                       title=store.task_title(row.text)) + "\n"
                     + t("Where does it take place? (for example: 3栋1单元门口)"))
    return await _ask_service(ctx, row)


async def _still_open(ctx: Context) -> store.Need | None:
    """The need of the current triage conversation, ending the conversation when someone else dealt with it."""
    assert ctx.compound is not None
    row = await store.open_need(ctx.session, int(ctx.convo.draft["need"]), ctx.compound.id or 0)
    if row is None:
        ctx.convo.end()
    return row


GONE = N_("That need has already been dealt with.")


@router.step("need_decline", "reason")
async def decline_reason(ctx: Context, msg: Incoming) -> Replies:
    reason = (msg.text or "").strip()
    if not reason or len(reason) > 500:
        return Reply(ctx.t("Please write the reason as text (at most 500 characters)."))
    row = await _still_open(ctx)
    if row is None:
        return Reply(ctx.t(GONE))
    ctx.convo.end()
    replies = [Reply(ctx.t("Need #{id} declined; the poster and supporters were told.", id=row.id))]
    _decide(ctx, row, "declined", note=reason)
    for person, pt in await _people_told(ctx, row):
        replies.append(Reply(pt("Need #{id} ({text}) was declined by the secretary: {reason}", id=row.id,
                                text=row.text[:60], reason=reason), to=ToPerson(person)))
    return replies


def _decide(ctx: Context, row: store.Need, outcome: str, ref: str = "", note: str = "") -> None:
    row.status = "declined" if outcome == "declined" else "triaged"
    row.outcome, row.outcome_ref, row.outcome_note = outcome, ref, note
    row.decided_by, row.decided_at = ctx.person_id, ctx.now
    ctx.session.add(row)


async def _people_told(ctx: Context, row: store.Need) -> list[tuple[int, Translator]]:
    """The poster and every supporter, each with their own translator."""
    people = dict.fromkeys([row.poster_id, *await store.supporters_of(ctx.session, row.id or 0)])
    return [(person, await ctx.translator_for(person)) for person in people]


# ---- into a volunteer task: place, start, end, volunteers wanted; then it is posted like any task ------------


# The task's place and times are asked exactly as /task asks them (same steps, same draft keys).
router.step("need_task", "place")(volunteering.task_place)
router.step("need_task", "start")(volunteering.task_start)
router.step("need_task", "end")(volunteering.task_end)


@router.step("need_task", "wanted")
async def task_wanted(ctx: Context, msg: Incoming) -> Replies:
    wanted = volunteering.wanted_answer(ctx, msg)
    if isinstance(wanted, Reply):
        return wanted
    if not ctx.has(Role.SECRETARY):  # roles may have changed while the conversation was open
        ctx.convo.end()
        return Reply(ctx.t("Sorry, only a secretary can triage needs."))
    row = await _still_open(ctx)
    if row is None:
        return Reply(ctx.t(GONE))
    draft = ctx.convo.draft
    start = datetime.fromisoformat(str(draft["start"]))
    if start <= ctx.now:
        ctx.convo.goto("start")
        return Reply(ctx.t("The start time has passed while we talked. Please type a new start time."))
    compound = ctx.compound
    assert compound is not None and compound.id is not None
    task = tasks.VolunteerTask(
        compound_id=compound.id, organiser_id=ctx.person_id, title=store.task_title(row.text),
        description=ctx.t("From need #{id}: {text}", id=row.id, text=row.text)[:1000], place=str(draft["place"]),
        starts_at=start, ends_at=datetime.fromisoformat(str(draft["end"])), wanted=wanted,
        skills=store.TASK_SKILLS.get(row.category, ""), mode="hour", rate=hourly_rate(compound), created_at=ctx.now)
    ctx.session.add(task)
    await ctx.session.flush()
    ctx.convo.end()
    _decide(ctx, row, "task", f"task:{task.id}")
    replies = [Reply(ctx.t("Need #{id} is now volunteer task #{task} “{title}”, posted to the compound's group chats. "
                           "As its organiser you will be told as people sign up, reminded the evening before, and "
                           "asked for attendance afterwards.", id=row.id, task=task.id, title=task.title))]
    told = await _people_told(ctx, row)
    replies += await volunteering.publish(ctx, task, compound, told=[person for person, _ in told])
    when = ctx.local(task.starts_at, compound)
    for person, pt in told:
        replies.append(Reply(
            pt("Good news about need #{id} ({text}): it is now volunteer task #{task} “{title}”, {when} at {place}. "
               "Sign up if you can help.", id=row.id, text=row.text[:60], task=task.id, title=task.title, when=when,
               place=task.place),
            buttons=((Button.do(pt("Sign up"), "vol.signup", task=task.id),),), to=ToPerson(person)))
    return replies


# ---- into a complaint case, filed on behalf of the poster --------------------------------------------------


async def _into_case(ctx: Context, row: store.Need) -> Replies:
    compound = ctx.compound
    assert compound is not None and compound.id is not None
    case = await cases.file_case(ctx.session, compound, row.poster_id, store.CASE_CATEGORY.get(row.category, "other"),
                                 row.text, ctx.now, photos=[row.photo_file_id] if row.photo_file_id else [],
                                 photo_platform=row.photo_platform or "", actor_id=ctx.person_id,
                                 note=f"need #{row.id}")
    _decide(ctx, row, "case", f"case:{case.number}")
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
    replies += await tell_handler(ctx, compound, case, "new")
    return replies


# ---- onto the agenda of the next 集中说事日 / 周末议事日 -------------------------------------------------------


async def _onto_agenda(ctx: Context, row: store.Need) -> Replies:
    t = ctx.t
    assert ctx.compound is not None
    meeting = await meetings.next_of_kinds(ctx.session, ctx.compound.id or 0, AGENDA_KINDS, ctx.now)
    if meeting is None:
        return Reply(t("There is no 集中说事日 or 周末议事日 meeting scheduled, so need #{id} stays open. Schedule one "
                       "with /newmeeting, then press this button again.", id=row.id), toast=t("No meeting"))
    if not meetings.add_agenda_item(meeting, t("Need #{id}: {text}", id=row.id, text=row.text)):
        return Reply(t("The agenda of “{title}” is full, so need #{id} stays open. Shorten the agenda first.",
                       title=meeting.title, id=row.id), toast=t("Agenda full"))
    ctx.session.add(meeting)
    _decide(ctx, row, "agenda", f"meeting:{meeting.id}")
    when = ctx.local(meeting.starts_at, ctx.compound)
    replies = [Reply(t("Need #{id} is on the agenda of “{title}” ({when}, {place}).", id=row.id,
                       title=meeting.title, when=when, place=meeting.place), toast=t("Done"))]
    for person, pt in await _people_told(ctx, row):
        replies.append(Reply(pt("Good news about need #{id} ({text}): it is on the agenda of “{title}” on {when} at "
                                "{place}. Come and talk it over with your neighbours.", id=row.id, text=row.text[:60],
                                title=meeting.title, when=when, place=meeting.place), to=ToPerson(person)))
    return replies


# ---- into a service order for the poster: the secretary picks the service and the time -----------------------


def _slot_when(ctx: Context, slot: services.ServiceSlot) -> str:
    zone = ctx.zone(ctx.compound)
    return f"{slot.starts_at.astimezone(zone):%m-%d %H:%M}–{slot.ends_at.astimezone(zone):%H:%M}"


async def _ask_service(ctx: Context, row: store.Need) -> Replies:
    t = ctx.t
    assert ctx.compound is not None
    offered = await services.active_services(ctx.session, ctx.compound.id or 0)
    if not offered:
        return Reply(t("No services are offered yet, so need #{id} stays open. Offer one with /addservice, then press "
                       "this button again.", id=row.id), toast=t("No services"))
    ctx.convo.start("need_service", "service", {"need": row.id})
    return Reply(t("Which service should be ordered for the poster of need #{id}?", id=row.id),
                 buttons=rows(*(Button.choice(f"{s.title} — {s.provider_name}", s.id) for s in offered)))


@router.step("need_service", "service")
async def service_chosen(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    service = await ctx.session.get(services.Service, value) if isinstance(value, int) else None
    if service is None or ctx.compound is None or service.compound_id != ctx.compound.id or not service.active:
        return Reply(t("Please choose a service with the buttons above, or send /cancel."))
    free = [(slot, left) for slot, left in await services.open_slots(ctx.session, service.id or 0, ctx.now)
            if left > 0]
    if not free:
        return Reply(t("{title} has no free time slots. Choose another service, or send /cancel.", title=service.title))
    ctx.convo.draft["service"] = service.id
    ctx.convo.goto("slot")
    return Reply(t("{title}: choose a time for the poster.", title=service.title),
                 buttons=rows(*(Button.choice(t("{when} ({n} left)", when=_slot_when(ctx, slot), n=left), slot.id)
                                for slot, left in free)))


@router.step("need_service", "slot")
async def slot_chosen(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    slot = await services.lock_slot(ctx.session, value) if isinstance(value, int) else None
    if slot is None or slot.service_id != ctx.convo.draft.get("service"):
        return Reply(t("Please choose a time with the buttons above, or send /cancel."))
    if slot.starts_at <= ctx.now or await services.taken(ctx.session, slot.id or 0) >= slot.capacity:
        return Reply(t("That time is no longer free. Please choose another one."))
    row = await _still_open(ctx)
    if row is None:
        return Reply(t(GONE))
    service = await ctx.session.get(services.Service, slot.service_id)
    assert service is not None
    existing = await services.order_of(ctx.session, slot.id or 0, row.poster_id)
    if existing is not None and existing.status in services.HOLDING:
        order = existing  # the poster already ordered this very slot: link to it rather than refuse
    else:
        order = existing or services.ServiceOrder(service_id=service.id or 0, slot_id=slot.id or 0,
                                                  person_id=row.poster_id)
        order.status, order.created_at, order.rating = "requested", ctx.now, None
        ctx.session.add(order)
        await ctx.session.flush()
    ctx.convo.end()
    _decide(ctx, row, "service", f"order:{order.id}")
    when = _slot_when(ctx, slot)
    poster = await ctx.session.get(Person, row.poster_id)
    replies = [Reply(t("Need #{id} is now service order #{order}: {title} for {name}, {when}.", id=row.id,
                       order=order.id, title=service.title, name=poster.name if poster else "?", when=when))]
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
    handlers = ([service.provider_person_id] if service.provider_person_id is not None
                else await people_with_role(ctx.session, service.compound_id, Role.SECRETARY))
    for handler in handlers:
        if handler == ctx.person_id:
            continue  # the secretary who ordered it gets the buttons below instead
        st = await ctx.translator_for(handler)
        replies.append(Reply(
            st("New order #{id}: {name} ordered {title} for {when}.", id=order.id, name=poster.name if poster else "?",
               title=service.title, when=when),
            buttons=_order_buttons(st, order.id or 0), to=ToPerson(handler)))
    if ctx.person_id in handlers:
        replies[0] = Reply(replies[0].text, buttons=_order_buttons(t, order.id or 0))
    return replies


def _order_buttons(st: Translator, order_id: int) -> tuple[tuple[Button, ...], ...]:
    return ((Button.do(st("Take the order"), "services.accept", order=order_id),
             Button.do(st("Propose another time"), "services.propose", order=order_id)),
            (Button.do(st("Mark done"), "services.done", order=order_id),))
