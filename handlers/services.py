"""/services, /myorders, /addservice: order-a-service (点单式服务) at the party-and-masses service centre."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.core.context import Context, JobContext
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, ToPerson, rows
from storage import services as store
from storage.people import Person, Role, compounds_of, people_with_role

router = Router("services")
TITLE_MAX = 100


def _when(ctx: Context | JobContext, slot: store.ServiceSlot) -> str:
    zone = ctx.zone(getattr(ctx, "compound", None))
    return f"{slot.starts_at.astimezone(zone):%m-%d %H:%M}–{slot.ends_at.astimezone(zone):%H:%M}"


async def _handlers_of(ctx: Context, service: store.Service) -> list[int]:
    if service.provider_person_id is not None:
        return [service.provider_person_id]
    return await people_with_role(ctx.session, service.compound_id, Role.SECRETARY)


# ---- staff: defining services ----------------------------------------------------------------------------


@router.command("addservice", roles=[Role.SECRETARY], private=True, flow=True, help="Offer a service with time slots",
                order=35)
async def add_service(ctx: Context, msg: Incoming) -> Replies:
    ctx.convo.start("addservice", "title")
    return Reply(ctx.t("What is the service called? (for example: free legal consultation)"))


@router.step("addservice", "title")
async def add_title(ctx: Context, msg: Incoming) -> Replies:
    title = ctx.text_answer(msg, TITLE_MAX, refusal=ctx.t("Please send the name as text (at most {n} characters).",
                                                          n=TITLE_MAX))
    if isinstance(title, Reply):
        return title
    ctx.convo.draft["title"] = title
    ctx.convo.goto("provider")
    return Reply(ctx.t("Who provides it? Send a name (a partner organisation, a volunteer), or #NUMBER of a member "
                       "from /members who should receive and handle the orders."))


@router.step("addservice", "provider")
async def add_provider(ctx: Context, msg: Incoming) -> Replies:
    text = ctx.text_answer(msg, TITLE_MAX, refusal=ctx.t(
        "Please send the provider's name as text (at most {n} characters).", n=TITLE_MAX))
    if isinstance(text, Reply):
        return text
    if text.startswith("#") and text[1:].isdigit():
        assert ctx.compound is not None
        person_id = int(text[1:])
        person = await ctx.session.get(Person, person_id)
        if person is None or ctx.compound.id not in await compounds_of(ctx.session, person_id):
            return Reply(ctx.t("That person is not a member of your compound."))
        ctx.convo.draft.update(provider_name=person.name, provider_person_id=person_id)
    else:
        ctx.convo.draft.update(provider_name=text, provider_person_id=None)
    ctx.convo.goto("slots")
    return Reply(ctx.t("Now the time slots, one per line: date, start time, minutes, places. For example:\n"
                       "2026-11-28 09:00 60 5\n2026-11-28 14:00 60 5"))


@router.step("addservice", "slots")
async def add_slots(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    if not msg.text or len(msg.text) > 4000:
        return Reply(t("Please send the slots as text, one per line, like: 2026-11-28 09:00 60 5"))
    slots, bad = store.parse_slots(msg.text, ctx.zone(ctx.compound), ctx.now)
    if bad or not slots:
        return Reply(t("I could not read line(s) {lines}. Each line needs a future date and time, minutes and "
                       "places, like: 2026-11-28 09:00 60 5. Please send all slots again.",
                       lines=", ".join(map(str, bad)) or "1"))
    assert ctx.compound is not None and ctx.compound.id is not None
    draft = ctx.convo.draft
    service = store.Service(compound_id=ctx.compound.id, title=str(draft["title"]),
                            provider_name=str(draft["provider_name"]),
                            provider_person_id=draft.get("provider_person_id"), created_at=ctx.now)
    ctx.session.add(service)
    await ctx.session.flush()
    for start, end, capacity in slots:
        ctx.session.add(store.ServiceSlot(service_id=service.id or 0, starts_at=start, ends_at=end, capacity=capacity))
    ctx.convo.end()
    return Reply(t("The service {title} is on the list with {n} time slots. Residents order it with /services.",
                   title=service.title, n=len(slots)))


# ---- residents: ordering -------------------------------------------------------------------------------


@router.command("services", member=True, private=True, help="Order a service at the service centre", order=32)
async def services(ctx: Context, msg: Incoming) -> Replies:
    assert ctx.compound is not None
    offered = await store.active_services(ctx.session, ctx.compound.id or 0)
    if not offered:
        return Reply(ctx.t("No services are offered at the moment."))
    lines = [ctx.t("Services offered by the service centre:")]
    lines += [f"· {s.title} — {s.provider_name}" for s in offered]
    return Reply("\n".join(lines), buttons=rows(*(Button.do(s.title, "services.slots", service=s.id) for s in offered)))


@router.button("services.slots", member=True, private=True)
async def slots(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    service = await ctx.session.get(store.Service, int(ctx.args["service"]))
    if service is None or ctx.compound is None or service.compound_id != ctx.compound.id or not service.active:
        return Reply(t("That service is not offered any more."))
    listed = await store.open_slots(ctx.session, service.id or 0, ctx.now)
    if not listed:
        return Reply(t("{title} has no upcoming time slots.", title=service.title))
    buttons = []
    for slot, left in listed:
        label = t("{when} ({n} left)", when=_when(ctx, slot), n=left) if left > 0 else t("{when} (full)",
                                                                                          when=_when(ctx, slot))
        buttons.append(Button.do(label, "services.order", slot=slot.id))
    return Reply(t("{title} by {provider}: choose a time.", title=service.title, provider=service.provider_name),
                 buttons=rows(*buttons))


@router.button("services.order", member=True, private=True)
async def order(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    slot = await store.lock_slot(ctx.session, int(ctx.args["slot"]))
    service = await ctx.session.get(store.Service, slot.service_id) if slot else None
    if slot is None or service is None or ctx.compound is None or service.compound_id != ctx.compound.id:
        return Reply(t("That service is not offered any more."))
    if slot.starts_at <= ctx.now:
        return Reply(t("That time has already passed. Please choose another with /services."))
    existing = (await ctx.session.exec(select(store.ServiceOrder).where(
        store.ServiceOrder.slot_id == slot.id, store.ServiceOrder.person_id == ctx.person_id))).first()
    if existing is not None and existing.status in store.HOLDING:
        return Reply(t("You have already ordered this time slot."), toast=t("Already ordered"))
    if await store.taken(ctx.session, slot.id or 0) >= slot.capacity:
        return Reply(t("Sorry, that time slot is full. Please choose another with /services."), toast=t("Full"))
    if existing is not None:
        existing.status, existing.created_at, existing.rating = "requested", ctx.now, None
        row = existing
    else:
        row = store.ServiceOrder(service_id=service.id or 0, slot_id=slot.id or 0, person_id=ctx.person_id,
                                 created_at=ctx.now)
    ctx.session.add(row)
    await ctx.session.flush()
    replies = [Reply(t("Ordered: {title}, {when}. The provider will confirm; I will remind you before it starts.",
                       title=service.title, when=_when(ctx, slot)))]
    for handler in await _handlers_of(ctx, service):
        st = await ctx.translator_for(handler)
        replies.append(Reply(
            st("New order #{id}: {name} ordered {title} for {when}.", id=row.id, name=ctx.person.name,
               title=service.title, when=_when(ctx, slot)),
            buttons=((Button.do(st("Take the order"), "services.accept", order=row.id),
                      Button.do(st("Propose another time"), "services.propose", order=row.id)),
                     (Button.do(st("Mark done"), "services.done", order=row.id),)),
            to=ToPerson(handler)))
    return replies


async def _order(ctx: Context, staff: bool) -> tuple[store.ServiceOrder, store.Service, store.ServiceSlot] | Reply:
    """The unfinished order a button refers to, if this person may act on it: as its provider or the secretary
    (`staff`), or as the resident who ordered it. Else the polite refusal."""
    t = ctx.t
    row = await ctx.session.get(store.ServiceOrder, int(ctx.args["order"]))
    if not staff and (row is None or row.person_id != ctx.person_id):
        return Reply(t("That order is not yours."), toast=t("Not allowed"))
    service = await ctx.session.get(store.Service, row.service_id) if row else None
    slot = await ctx.session.get(store.ServiceSlot, row.slot_id) if row else None
    if row is None or service is None or slot is None:
        return Reply(t("That order no longer exists."))
    if staff and ctx.person_id not in await _handlers_of(ctx, service) and not ctx.has(Role.SECRETARY):
        return Reply(t("Only the provider or the secretary can handle this order."), toast=t("Not allowed"))
    if row.status in ("done", "cancelled"):
        return Reply(t("Order #{id} is already finished or cancelled.", id=row.id), toast=t("Already finished"))
    return row, service, slot


@router.button("services.accept", member=True)
async def accept(ctx: Context, msg: Incoming) -> Replies:
    found = await _order(ctx, staff=True)
    if isinstance(found, Reply):
        return found
    row, service, slot = found
    row.status = "accepted"
    ctx.session.add(row)
    rt = await ctx.translator_for(row.person_id)
    return [Reply(ctx.t("Order #{id} accepted.", id=row.id), toast=ctx.t("Accepted")),
            Reply(rt("Your order of {title} for {when} was accepted (接单).", title=service.title,
                     when=_when(ctx, slot)), to=ToPerson(row.person_id))]


@router.button("services.propose", member=True)
async def propose(ctx: Context, msg: Incoming) -> Replies:
    found = await _order(ctx, staff=True)
    if isinstance(found, Reply):
        return found
    row, service, slot = found
    choices = [(s, left) for s, left in await store.open_slots(ctx.session, service.id or 0, ctx.now)
               if s.id != slot.id and left > 0]
    if not choices:
        return Reply(ctx.t("There is no other time slot with free places. Add slots with /addservice."))
    return Reply(ctx.t("Which time do you propose instead?"),
                 buttons=rows(*(Button.do(_when(ctx, s), "services.proposed", order=row.id, slot=s.id)
                                for s, _left in choices)))


@router.button("services.proposed", member=True)
async def proposed(ctx: Context, msg: Incoming) -> Replies:
    found = await _order(ctx, staff=True)
    if isinstance(found, Reply):
        return found
    row, service, _slot = found
    new_slot = await ctx.session.get(store.ServiceSlot, int(ctx.args["slot"]))
    if new_slot is None or new_slot.service_id != service.id:
        return Reply(ctx.t("That order no longer exists."))
    row.status, row.proposed_slot_id = "proposed", new_slot.id
    ctx.session.add(row)
    rt = await ctx.translator_for(row.person_id)
    return [Reply(ctx.t("Proposed {when} for order #{id}.", when=_when(ctx, new_slot), id=row.id)),
            Reply(rt("The provider of {title} proposes another time: {when}. Does it suit you?", title=service.title,
                     when=_when(ctx, new_slot)),
                  buttons=((Button.do(rt("Accept the new time"), "services.move", order=row.id),
                            Button.do(rt("Cancel my order"), "services.cancel", order=row.id)),),
                  to=ToPerson(row.person_id))]


@router.button("services.move", member=True, private=True)
async def move(ctx: Context, msg: Incoming) -> Replies:
    found = await _order(ctx, staff=False)
    if isinstance(found, Reply):
        return found
    row = found[0]
    if row.status != "proposed" or row.proposed_slot_id is None:
        return Reply(ctx.t("This button no longer works: what it belonged to has ended or moved on."))
    slot = await store.lock_slot(ctx.session, row.proposed_slot_id)
    if slot is None or await store.taken(ctx.session, slot.id or 0) >= slot.capacity:
        return Reply(ctx.t("Sorry, that time slot is full. Please choose another with /services."))
    clash = (await ctx.session.exec(select(store.ServiceOrder).where(
        store.ServiceOrder.slot_id == slot.id, store.ServiceOrder.person_id == ctx.person_id))).first()
    if clash is not None:
        await ctx.session.delete(clash)
        await ctx.session.flush()
    row.slot_id, row.proposed_slot_id, row.status, row.reminded_at = slot.id or 0, None, "accepted", None
    ctx.session.add(row)
    return Reply(ctx.t("Done: your order is now for {when}.", when=_when(ctx, slot)))


@router.button("services.cancel", member=True, private=True)
async def cancel(ctx: Context, msg: Incoming) -> Replies:
    found = await _order(ctx, staff=False)
    if isinstance(found, Reply):
        return found
    row = found[0]
    row.status = "cancelled"
    ctx.session.add(row)
    return Reply(ctx.t("Order #{id} cancelled; the place is free for someone else.", id=row.id),
                 toast=ctx.t("Cancelled"))


@router.button("services.done", member=True)
async def done(ctx: Context, msg: Incoming) -> Replies:
    found = await _order(ctx, staff=True)
    if isinstance(found, Reply):
        return found
    row, service, _slot = found
    row.status, row.done_at = "done", ctx.now
    ctx.session.add(row)
    rt = await ctx.translator_for(row.person_id)
    return [Reply(ctx.t("Order #{id} marked done.", id=row.id), toast=ctx.t("Done")),
            Reply(rt("{title} is done. How satisfied are you? (服务评价)", title=service.title),
                  buttons=(tuple(Button.do("★" * n, "services.rate", order=row.id, stars=n) for n in range(1, 6)),),
                  to=ToPerson(row.person_id))]


@router.button("services.rate", member=True, private=True)
async def rate(ctx: Context, msg: Incoming) -> Replies:
    row = await ctx.session.get(store.ServiceOrder, int(ctx.args["order"]))
    stars = int(ctx.args.get("stars", 0))
    if row is None or row.person_id != ctx.person_id or row.status != "done" or not 1 <= stars <= 5:
        return Reply(ctx.t("That order is not yours."), toast=ctx.t("Not allowed"))
    if row.rating is not None:
        return Reply(ctx.t("You have already rated this service. Thank you!"), toast=ctx.t("Already rated"))
    row.rating = stars
    ctx.session.add(row)
    return Reply(ctx.t("Thank you for rating it {n} of 5.", n=stars), toast="★" * stars)


@router.command("myorders", member=True, private=True, help="My service orders", order=33)
async def my_orders(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    listed = await store.orders_of(ctx.session, ctx.person_id)
    if not listed:
        return Reply(t("You have no service orders. See /services."))
    status = {"requested": t("waiting for the provider"), "accepted": t("accepted"),
              "proposed": t("another time proposed"), "done": t("done"), "cancelled": t("cancelled")}
    lines = [t("Your service orders:")]
    buttons = []
    for row, service, slot in listed:
        lines.append(f"#{row.id} {service.title} · {_when(ctx, slot)} · {status.get(row.status, row.status)}")
        if row.status in ("requested", "accepted") and slot.starts_at > ctx.now:
            buttons.append(Button.do(t("Cancel #{id}", id=row.id), "services.cancel", order=row.id))
    return Reply("\n".join(lines), buttons=rows(*buttons, per_row=2))


@router.job("reminders", every=timedelta(minutes=10))
async def reminders(ctx: JobContext) -> Replies:
    replies = []
    for row, service, slot in await store.due_reminders(ctx.session, ctx.now):
        if not await store.claim_reminder(ctx.session, row.id or 0, ctx.now):
            continue
        rt = await ctx.translator_for(row.person_id)
        replies.append(Reply(rt("Reminder: {title} ({provider}) starts at {when}.", title=service.title,
                                provider=service.provider_name, when=_when(ctx, slot)),
                             to=ToPerson(row.person_id), expires_at=slot.starts_at))
    return replies
