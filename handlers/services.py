"""/services, /myorders, /addservice: order-a-service (点单式服务) at the party-and-masses service centre."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core import answers
from bot.core.context import Context, JobContext, MemberContext
from bot.core.flows import Done, Draft, Flow, Go, Outcome, Stay
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, ToPerson, rows
from storage import services as store
from storage.compounds import Compound
from storage.people import Role

router = Router("services")


def _when(zone: ZoneInfo, slot: store.ServiceSlot) -> str:
    """A slot in short, for buttons and lists: 11-25 09:00–10:00."""
    return f"{slot.starts_at.astimezone(zone):%m-%d %H:%M}–{slot.ends_at.astimezone(zone):%H:%M}"


def _in_full(t: Translator, ctx: Context, starts_at: datetime, minutes: int) -> str:
    """A slot in full, for confirmations: 2026-11-25 周三 09:00–10:00."""
    ends = (starts_at + timedelta(minutes=minutes)).astimezone(ctx.zone(ctx.compound))
    return f"{answers.moment_text(t, starts_at, ctx)}–{ends:%H:%M}"


def _slot_in_full(t: Translator, ctx: Context, slot: store.ServiceSlot) -> str:
    return _in_full(t, ctx, slot.starts_at, int((slot.ends_at - slot.starts_at).total_seconds() // 60))


# ---- staff: defining services ----------------------------------------------------------------------------


class SlotDraft(Draft):
    starts_at: datetime
    minutes: int
    places: int


class NewService(Draft):
    title: str = ""
    provider_name: str = ""
    provider_person_id: int | None = None
    # The slot being entered: its start, then its length; it joins `slots` with its places.
    starts_at: datetime | None = None
    minutes: int = 0
    slots: tuple[SlotDraft, ...] = ()


adding = Flow("addservice", NewService, title=N_("adding a service"), roles=[Role.SECRETARY])


def _ask_title(ctx: Context, draft: NewService) -> Reply:
    return Reply(ctx.t("What is the service called? (for example: free legal consultation)"))


def _ask_provider(ctx: Context, draft: NewService) -> Reply:
    return Reply(ctx.t("Who provides it? Send a name (a partner organisation, a volunteer), or #NUMBER of a member "
                       "from /members who should receive and handle the orders."))


def _ask_start(ctx: Context, draft: NewService) -> Reply:
    return Reply(ctx.t("When does a time slot begin? Type a day and a time, such as 明天 9:00, 周六 14:00 or "
                       "2026-11-28 09:00."))


def _ask_minutes(ctx: Context, draft: NewService) -> Reply:
    t = ctx.t
    assert draft.starts_at is not None  # set by the step before
    return Reply(t("The slot begins {moment}. How many minutes does it last?",
                   moment=answers.moment_text(t, draft.starts_at, ctx)),
                 buttons=(tuple(Button.choice(t("{n} minutes", n=n), n) for n in (30, 60, 90, 120)),))


def _ask_places(ctx: Context, draft: NewService) -> Reply:
    return Reply(ctx.t("How many people can it take? Send a number from {low} to {high}.",
                       low=store.SLOT_PLACES[0], high=store.SLOT_PLACES[1]))


def _ask_more(ctx: Context, draft: NewService) -> Reply:
    t = ctx.t
    lines = [t("{title} by {provider}:", title=draft.title, provider=draft.provider_name)]
    lines += [t("{n}. {when}, {places} places", n=n, when=_in_full(t, ctx, slot.starts_at, slot.minutes),
                places=slot.places) for n, slot in enumerate(draft.slots, 1)]
    lines.append(t("Add another time slot, or put the service on the list?"))
    return Reply("\n".join(lines), buttons=(
        (Button.choice(t("Add another time slot"), "more"), Button.choice(t("Remove the last one"), "undo")),
        (Button.choice(t("Put it on the list"), "publish"),)))


@router.command("addservice", group="services", roles=[Role.SECRETARY], private=True, flow=True, help="Offer a service with time slots",
                order=35)
async def add_service(ctx: MemberContext, msg: Incoming) -> Replies:
    return await adding.begin(ctx, NewService())


@adding.step("title", ask=_ask_title, next=("provider",),
             answer=answers.Text(store.TITLE_MAX, what=N_("name of the service")))
async def add_title(ctx: MemberContext, draft: NewService, title: str) -> Outcome:
    return Go("provider", draft.model_copy(update={"title": title}))


@adding.step("provider", ask=_ask_provider, next=("start",),
             answer=answers.Text(store.TITLE_MAX, what=N_("provider's name")))
async def add_provider(ctx: MemberContext, draft: NewService, text: str) -> Outcome:
    if not text.startswith(("#", "＃")):
        return Go("start", draft.model_copy(update={"provider_name": text, "provider_person_id": None}))
    person_id = answers.whole_number(text[1:], 1, 10**answers.MAX_DIGITS)
    name = await store.member_name(ctx.session, ctx.compound_id, person_id) if person_id is not None else None
    if person_id is None or name is None:
        return Stay(Reply(ctx.t("That person is not a member of your compound.")))
    return Go("start", draft.model_copy(update={"provider_name": name or f"#{person_id}",
                                                "provider_person_id": person_id}))


@adding.step("start", ask=_ask_start, next=("minutes",), answer=answers.When(future=True))
async def add_start(ctx: MemberContext, draft: NewService, moment: datetime) -> Outcome:
    return Go("minutes", draft.model_copy(update={"starts_at": moment}))


# A button, or minutes typed (60, 60分钟, 90 min).
@adding.step("minutes", ask=_ask_minutes, next=("places",), answer=answers.Either((
    answers.Number(*store.SLOT_MINUTES), answers.Count(*store.SLOT_MINUTES, units=("分钟", "分鐘", "分", "min", "minutes")))))
async def add_minutes(ctx: MemberContext, draft: NewService, minutes: int) -> Outcome:
    return Go("places", draft.model_copy(update={"minutes": minutes}))


@adding.step("places", ask=_ask_places, next=("more",),
             answer=answers.Count(*store.SLOT_PLACES, units=("人", "位", "个", "個", "名", "people")))
async def add_places(ctx: MemberContext, draft: NewService, places: int) -> Outcome:
    assert draft.starts_at is not None  # set two steps before
    slot = SlotDraft(starts_at=draft.starts_at, minutes=draft.minutes, places=places)
    return Go("more", draft.model_copy(update={"slots": (*draft.slots, slot), "starts_at": None, "minutes": 0}))


@adding.step("more", ask=_ask_more, next=("start", "more"),
             answer=answers.Choice(values=("more", "undo", "publish")))
async def add_more(ctx: MemberContext, draft: NewService, choice: str) -> Outcome:
    t = ctx.t
    if choice == "undo":
        slots = draft.slots[:-1]
        return Go("more" if slots else "start", draft.model_copy(update={"slots": slots}))
    if choice == "more":
        if len(draft.slots) >= store.SLOTS_AT_ONCE:
            return Stay(Reply(t("That is {n} time slots, as many as one service takes at once. Put it on the list; "
                                "you can add more with /addservice later.", n=store.SLOTS_AT_ONCE)))
        return Go("start")
    new = [store.NewSlot(s.starts_at, s.minutes, s.places) for s in draft.slots]
    service = await store.add_service(ctx.session, ctx.compound_id, draft.title, draft.provider_name,
                                      draft.provider_person_id, new, ctx.now)
    if service is None:
        return Stay(Reply(t("A time slot has begun meanwhile. Remove it with “Remove the last one”, or give up with "
                            "/cancel and start again.")))
    return Done(Reply(t("The service {title} is on the list with {n} time slots. Residents order it with /services.",
                        title=service.title, n=len(new))))


# ---- residents: ordering -------------------------------------------------------------------------------


@router.command("services", group="services", member=True, private=True, help="Order a service at the service centre", order=32)
async def services(ctx: MemberContext, msg: Incoming) -> Replies:
    offered = await store.active_services(ctx.session, ctx.compound_id)
    if not offered:
        return Reply(ctx.t("No services are offered at the moment."))
    lines = [ctx.t("Services offered by the service centre:")]
    lines += [f"· {s.title} — {s.provider_name}" for s in offered]
    return Reply("\n".join(lines), buttons=rows(*(Button.do(s.title, "services.slots", service=s.id) for s in offered)))


def _int_arg(ctx: Context, name: str) -> int:
    value = ctx.args.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@router.button("services.slots", member=True, private=True)
async def slots(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    service = await ctx.session.get(store.Service, _int_arg(ctx, "service"))
    if service is None or service.compound_id != ctx.compound_id or not service.active:
        return Reply(t("That service is not offered any more."))
    listed = await store.open_slots(ctx.session, _int_arg(ctx, "service"), ctx.now)
    if not listed:
        return Reply(t("{title} has no upcoming time slots.", title=service.title))
    zone = ctx.zone(ctx.compound)
    buttons = []
    for slot, left in listed:
        label = t("{when} ({n} left)", when=_when(zone, slot), n=left) if left > 0 else t("{when} (full)",
                                                                                          when=_when(zone, slot))
        buttons.append(Button.do(label, "services.order", slot=slot.id))
    return Reply(t("{title} by {provider}: choose a time.", title=service.title, provider=service.provider_name),
                 buttons=rows(*buttons))


def _order_buttons(st: Translator, order_id: int | None) -> tuple[tuple[Button, ...], ...]:
    return ((Button.do(st("Take the order"), "services.accept", order=order_id),
             Button.do(st("Propose another time"), "services.propose", order=order_id)),
            (Button.do(st("Mark done"), "services.done", order=order_id),))


@router.button("services.order", member=True, private=True)
async def order(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    placed = await store.place_order(ctx.session, _int_arg(ctx, "slot"), ctx.person_id, ctx.compound_id, ctx.now)
    if placed.outcome == store.Ordered.GONE:
        return Reply(t("That service is not offered any more."))
    if placed.outcome == store.Ordered.PASSED:
        return Reply(t("That time has already passed. Please choose another with /services."))
    if placed.outcome == store.Ordered.ALREADY:
        return Reply(t("You have already ordered this time slot."), toast=t("Already ordered"))
    if placed.outcome == store.Ordered.FULL:
        return Reply(t("Sorry, that time slot is full. Please choose another with /services."), toast=t("Full"))
    row, service, slot = placed.order, placed.service, placed.slot
    assert row is not None and service is not None and slot is not None  # an order placed has all three
    replies = [Reply(t("Ordered: {title}, {when}. The provider will confirm; I will remind you before it starts.",
                       title=service.title, when=_slot_in_full(t, ctx, slot)))]
    for handler in await store.order_handlers(ctx.session, service):
        st = await ctx.translator_for(handler)
        replies.append(Reply(
            st("New order #{id}: {name} ordered {title} for {when}.", id=row.id, name=ctx.person.name,
               title=service.title, when=_slot_in_full(st, ctx, slot)),
            buttons=_order_buttons(st, row.id), to=ToPerson(handler)))
    return replies


async def _order(ctx: MemberContext, staff: bool) -> tuple[store.ServiceOrder, store.Service, store.ServiceSlot] | Reply:
    """The unfinished order a button refers to, if this person may act on it: as its provider or the secretary
    (`staff`), or as the resident who ordered it. Else the polite refusal."""
    t = ctx.t
    row = await ctx.session.get(store.ServiceOrder, _int_arg(ctx, "order"))
    if not staff and (row is None or row.person_id != ctx.person_id):
        return Reply(t("That order is not yours."), toast=t("Not allowed"))
    service = await ctx.session.get(store.Service, row.service_id) if row else None
    slot = await ctx.session.get(store.ServiceSlot, row.slot_id) if row else None
    if row is None or service is None or slot is None or service.compound_id != ctx.compound_id:
        return Reply(t("That order no longer exists."))
    if staff and not await store.may_handle(ctx.session, service, ctx.person_id):
        return Reply(t("Only the provider or the secretary can handle this order."), toast=t("Not allowed"))
    if store.finished(row):
        return Reply(t("Order #{id} is already finished or cancelled.", id=row.id), toast=t("Already finished"))
    return row, service, slot


@router.button("services.accept", member=True)
async def accept(ctx: MemberContext, msg: Incoming) -> Replies:
    found = await _order(ctx, staff=True)
    if isinstance(found, Reply):
        return found
    row, service, slot = found
    if not await store.accept(ctx.session, row):
        return Reply(ctx.t("Order #{id} is already accepted.", id=row.id), toast=ctx.t("Accepted"))
    rt = await ctx.translator_for(row.person_id)
    return [Reply(ctx.t("Order #{id} accepted.", id=row.id), toast=ctx.t("Accepted")),
            Reply(rt("Your order of {title} for {when} was accepted (接单).", title=service.title,
                     when=_slot_in_full(rt, ctx, slot)), to=ToPerson(row.person_id))]


@router.button("services.propose", member=True)
async def propose(ctx: MemberContext, msg: Incoming) -> Replies:
    found = await _order(ctx, staff=True)
    if isinstance(found, Reply):
        return found
    row, _service, slot = found
    choices = [(s, left) for s, left in await store.open_slots(ctx.session, row.service_id, ctx.now)
               if s.id != slot.id and left > 0]
    if not choices:
        return Reply(ctx.t("There is no other time slot with free places. Add slots with /addservice."))
    zone = ctx.zone(ctx.compound)
    return Reply(ctx.t("Which time do you propose instead?"),
                 buttons=rows(*(Button.do(_when(zone, s), "services.proposed", order=row.id, slot=s.id)
                                for s, _left in choices)))


@router.button("services.proposed", member=True)
async def proposed(ctx: MemberContext, msg: Incoming) -> Replies:
    found = await _order(ctx, staff=True)
    if isinstance(found, Reply):
        return found
    row, service, _slot = found
    outcome = await store.propose(ctx.session, row, _int_arg(ctx, "slot"), ctx.now)
    if outcome != store.Proposal.PROPOSED:
        return Reply(ctx.t("That time is no longer free. Please choose another one."))
    new_slot = await ctx.session.get(store.ServiceSlot, _int_arg(ctx, "slot"))
    assert new_slot is not None  # the proposal checked it
    rt = await ctx.translator_for(row.person_id)
    return [Reply(ctx.t("Proposed {when} for order #{id}.", when=_slot_in_full(ctx.t, ctx, new_slot), id=row.id)),
            Reply(rt("The provider of {title} proposes another time: {when}. Does it suit you?", title=service.title,
                     when=_slot_in_full(rt, ctx, new_slot)),
                  buttons=((Button.do(rt("Accept the new time"), "services.move", order=row.id),
                            Button.do(rt("Cancel my order"), "services.cancel", order=row.id)),),
                  to=ToPerson(row.person_id))]


@router.button("services.move", member=True, private=True)
async def move(ctx: MemberContext, msg: Incoming) -> Replies:
    found = await _order(ctx, staff=False)
    if isinstance(found, Reply):
        return found
    outcome, slot = await store.move(ctx.session, found[0], ctx.now)
    if outcome == store.Moved.STALE or slot is None:
        return Reply(ctx.t("This button no longer works: what it belonged to has ended or moved on."))
    if outcome == store.Moved.FULL:
        return Reply(ctx.t("Sorry, that time slot is full. Please choose another with /services."))
    if outcome == store.Moved.CLASH:
        return Reply(ctx.t("You have already ordered this time slot."), toast=ctx.t("Already ordered"))
    return Reply(ctx.t("Done: your order is now for {when}.", when=_slot_in_full(ctx.t, ctx, slot)))


@router.button("services.cancel", member=True, private=True)
async def cancel(ctx: MemberContext, msg: Incoming) -> Replies:
    found = await _order(ctx, staff=False)
    if isinstance(found, Reply):
        return found
    row = found[0]
    if not await store.cancel_order(ctx.session, row, ctx.person_id):
        return Reply(ctx.t("Order #{id} is already finished or cancelled.", id=row.id),
                     toast=ctx.t("Already finished"))
    return Reply(ctx.t("Order #{id} cancelled; the place is free for someone else.", id=row.id),
                 toast=ctx.t("Cancelled"))


@router.button("services.done", member=True)
async def done(ctx: MemberContext, msg: Incoming) -> Replies:
    found = await _order(ctx, staff=True)
    if isinstance(found, Reply):
        return found
    row, service, _slot = found
    if not await store.complete(ctx.session, row, ctx.now):
        return Reply(ctx.t("Order #{id} is already finished or cancelled.", id=row.id),
                     toast=ctx.t("Already finished"))
    rt = await ctx.translator_for(row.person_id)
    return [Reply(ctx.t("Order #{id} marked done.", id=row.id), toast=ctx.t("Done")),
            Reply(rt("{title} is done. How satisfied are you? (服务评价)", title=service.title),
                  buttons=(tuple(Button.do("★" * n, "services.rate", order=row.id, stars=n) for n in range(1, 6)),),
                  to=ToPerson(row.person_id))]


@router.button("services.rate", member=True, private=True)
async def rate(ctx: MemberContext, msg: Incoming) -> Replies:
    row = await ctx.session.get(store.ServiceOrder, _int_arg(ctx, "order"))
    stars = _int_arg(ctx, "stars")
    rated = store.Rated.REFUSED if row is None else await store.rate(ctx.session, row, ctx.person_id, stars)
    if rated == store.Rated.REFUSED:
        return Reply(ctx.t("That order is not yours."), toast=ctx.t("Not allowed"))
    if rated == store.Rated.ALREADY:
        return Reply(ctx.t("You have already rated this service. Thank you!"), toast=ctx.t("Already rated"))
    return Reply(ctx.t("Thank you for rating it {n} of 5.", n=stars), toast="★" * stars)


STATUS_NAMES = {store.OrderStatus.REQUESTED: N_("waiting for the provider"), store.OrderStatus.ACCEPTED: N_("accepted"),
                store.OrderStatus.PROPOSED: N_("another time proposed"), store.OrderStatus.DONE: N_("done"),
                store.OrderStatus.CANCELLED: N_("cancelled")}


@router.command("myorders", group="services", member=True, private=True, help="My service orders", order=33)
async def my_orders(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    listed = await store.orders_of(ctx.session, ctx.person_id)
    if not listed:
        return Reply(t("You have no service orders. See /services."))
    zone = ctx.zone(ctx.compound)
    lines = [t("Your service orders:")]
    buttons = []
    for row, service, slot in listed:
        lines.append(f"#{row.id} {service.title} · {_when(zone, slot)} · {t(STATUS_NAMES[row.status])}")
        if row.status in (store.OrderStatus.REQUESTED, store.OrderStatus.ACCEPTED) and slot.starts_at > ctx.now:
            buttons.append(Button.do(t("Cancel #{id}", id=row.id), "services.cancel", order=row.id))
    return Reply("\n".join(lines), buttons=rows(*buttons, per_row=2))


@router.job("reminders", every=timedelta(minutes=10))
async def reminders(ctx: JobContext) -> Replies:
    replies = []
    for row, service, slot in await store.due_reminders(ctx.session, ctx.now):
        if row.id is None or not await store.claim_reminder(ctx.session, row.id, ctx.now):
            continue
        rt = await ctx.translator_for(row.person_id)
        # In the compound's own time zone, not the server's.
        zone = ctx.zone(await ctx.session.get(Compound, service.compound_id))
        replies.append(Reply(rt("Reminder: {title} ({provider}) starts at {when}.", title=service.title,
                                provider=service.provider_name, when=_when(zone, slot)),
                             to=ToPerson(row.person_id), expires_at=slot.starts_at))
    return replies


router.flow(adding)
