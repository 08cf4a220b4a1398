"""/need, /needs: the needs list (需求清单), with support instead of twins and the secretary's triage."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, ToPerson, rows
from storage import needs as store
from storage.people import Role, people_with_role

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
OUTCOME_TOLD = {
    "service": N_("it will be handled as a service order at the service centre"),
    "task": N_("it will become a volunteer task"),
    "case": N_("it will be handled as a complaint case"),
    "agenda": N_("it goes on the agenda of the next residents' meeting"),
}


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
    for secretary in await people_with_role(ctx.session, ctx.compound.id, Role.SECRETARY):
        st = await ctx.translator_for(secretary)
        replies.append(Reply(
            st("New need #{id} ({category}) from {name}: {text}", id=row.id, category=st(CATEGORY_LABELS[row.category]),
               name=ctx.person.name, text=row.text),
            buttons=_triage_buttons(st, row.id or 0), to=ToPerson(secretary)))
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
    if outcome == "declined":
        if ctx.convo.active:
            return Reply(t("You are in the middle of something else. Finish it first, or send /cancel to leave it."))
        ctx.convo.start("need_decline", "reason", {"need": row.id})
        return Reply(t("Why is need #{id} declined? The poster and supporters will read your reason.", id=row.id))
    return await _decide(ctx, row, outcome, "")


@router.step("need_decline", "reason")
async def decline_reason(ctx: Context, msg: Incoming) -> Replies:
    reason = (msg.text or "").strip()
    if not reason or len(reason) > 500:
        return Reply(ctx.t("Please write the reason as text (at most 500 characters)."))
    row = await ctx.session.get(store.Need, int(ctx.convo.draft["need"]))
    ctx.convo.end()
    if row is None or row.status != "open":
        return Reply(ctx.t("That need has already been dealt with. Send /need again to post yours."))
    return await _decide(ctx, row, "declined", reason)


async def _decide(ctx: Context, row: store.Need, outcome: str, note: str) -> Replies:
    row.status = "declined" if outcome == "declined" else "triaged"
    row.outcome, row.outcome_note = outcome, note
    row.decided_by, row.decided_at = ctx.person_id, ctx.now
    ctx.session.add(row)
    replies = [Reply(ctx.t("Need #{id}: {outcome}.", id=row.id, outcome=ctx.t(OUTCOME_LABELS[outcome])),
                     toast=ctx.t("Done"))]
    for person in [row.poster_id, *await store.supporters_of(ctx.session, row.id or 0)]:
        pt = await ctx.translator_for(person)
        if outcome == "declined":
            text = pt("Need #{id} ({text}) was declined by the secretary: {reason}", id=row.id, text=row.text[:60],
                      reason=note)
        else:
            text = pt("Good news about need #{id} ({text}): {what}.", id=row.id, text=row.text[:60],
                      what=pt(OUTCOME_TOLD[outcome]))
        replies.append(Reply(text, to=ToPerson(person)))
    return replies
