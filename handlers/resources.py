"""/resources, /addresource: the resources list (资源清单) — venues, equipment, skills and funds offered by the
compound's partner units (共驻共建单位) and residents. The secretary adds and retires entries and matches a
resident's need to one (from the list, or from the need's triage); the match tells the unit's contact (or the
resident who offered it), the need's poster and its supporters."""

from __future__ import annotations

from bot.core import answers
from bot.core.context import Context, MemberContext
from bot.core.flows import Done, Draft, Flow, Go, Outcome, Stay
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, ToPerson, rows
from storage import needs
from storage import resources as store
from storage.needs import Need, Refused
from storage.people import Role
from storage.resources import Resource

router = Router("resources")

KIND_LABELS = {
    "venue": N_("Venue"),
    "equipment": N_("Equipment"),
    "skill": N_("Skills"),
    "funds": N_("Funds"),
    "other": N_("Other"),
}
SECRETARIES = [Role.SECRETARY]


async def _line(ctx: Context, t: Translator, row: Resource) -> str:
    who = await store.offerer(ctx.session, row)
    by = (t("{unit} (contact: {name})", unit=who.unit, name=who.name or "-") if who.unit else who.name or "-")
    line = t("#{id} [{kind}] {title} — offered by {by}", id=row.id, kind=t(KIND_LABELS.get(row.kind, "Other")),
             title=row.title, by=by)
    return line + (f"\n  {row.description}" if row.description else "")


@router.command("resources", group="cases", member=True, help="Resources offered to the compound (资源清单)", order=33)
async def resources(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    listed = await store.active(ctx.session, ctx.compound_id)
    lines = [t("Resources offered to {compound} by partner units and residents:", compound=ctx.compound.name)]
    lines += [await _line(ctx, t, row) for row in listed] or [t("Nothing is on the list yet.")]
    if not (ctx.private and ctx.has(Role.SECRETARY)):
        if listed:
            lines.append(t("Need one of them? Post a need with /need; the secretary can match it."))
        return Reply("\n".join(lines))
    buttons = [Button.do(t("Add a resource"), "resources.add")]
    for row in listed:
        buttons += [Button.do(t("Match #{id} to a need", id=row.id), "resources.match", resource=row.id),
                    Button.do(t("Retire #{id}", id=row.id), "resources.retire", resource=row.id)]
    return Reply("\n".join(lines), buttons=rows(*buttons, per_row=2))


# ---- adding and retiring -----------------------------------------------------------------------------------------


class NewResource(Draft):
    kind: str = ""
    title: str = ""
    description: str = ""


adding = Flow("resource", NewResource, title=N_("the new resource"), roles=SECRETARIES)


@router.command("addresource", roles=SECRETARIES, private=True, flow=True, help="Add to the resources list", order=34)
async def add_resource(ctx: MemberContext, msg: Incoming) -> Replies:
    return await adding.begin(ctx, NewResource())


@router.button("resources.add", roles=SECRETARIES, private=True)
async def add_pressed(ctx: MemberContext, msg: Incoming) -> Replies:
    return await adding.begin(ctx, NewResource())


def _ask_kind(ctx: Context, draft: NewResource) -> Reply:
    t = ctx.t
    return Reply(t("What kind of resource is offered?"),
                 buttons=rows(*(Button.choice(t(label), code) for code, label in KIND_LABELS.items()), per_row=3))


@adding.step("kind", ask=_ask_kind, next=("title",), answer=answers.Choice(
    values=store.KINDS, refusal=N_("Please choose the kind with the buttons above.")))
async def add_kind(ctx: MemberContext, draft: NewResource, kind: str) -> Outcome:
    return Go("title", draft.model_copy(update={"kind": kind}))


def _ask_title(ctx: Context, draft: NewResource) -> Reply:
    return Reply(ctx.t("What is offered? (for example: 幸福小学操场，周末开放)"))


@adding.step("title", ask=_ask_title, next=("description",), answer=answers.Text(store.TITLE_MAX, what=N_("title")))
async def add_title(ctx: MemberContext, draft: NewResource, text: str) -> Outcome:
    return Go("description", draft.model_copy(update={"title": text}))


def _ask_description(ctx: Context, draft: NewResource) -> Reply:
    t = ctx.t
    return Reply(t("Any details (when, how much, conditions)? Or press Skip."),
                 buttons=((Button.choice(t("Skip"), "skip"),),))


@adding.step("description", ask=_ask_description, next=("offerer",),
             answer=answers.Text(store.DESCRIPTION_MAX, what=N_("details"), skip="skip"))
async def add_description(ctx: MemberContext, draft: NewResource, text: str) -> Outcome:
    return Go("offerer", draft.model_copy(update={"description": text}))


async def _ask_offerer(ctx: MemberContext, draft: NewResource) -> Reply:
    t = ctx.t
    units = await store.offerers(ctx.session, ctx.compound_id)
    text = t("Who offers it? Press the partner unit (its contact is told of matches), or send #NUMBER of the "
             "resident from /members who offers it.")
    if not units:
        text += "\n" + t("No partner unit is linked to {compound} yet.", compound=ctx.compound.name)
    return Reply(text, buttons=rows(*(Button.choice(u.name, u.id) for u in units), per_row=2))


@adding.step("offerer", ask=_ask_offerer, answer=answers.Either(
    (answers.Choice(), answers.Text(20, what=N_("member number")))))
async def add_offerer(ctx: MemberContext, draft: NewResource, value: int | str) -> Outcome:
    t = ctx.t
    unit: int | None = value if isinstance(value, int) else None
    person: int | None = None
    if unit is None:
        text = str(value).strip()
        person = answers.whole_number(text[1:], 1, 10**answers.MAX_DIGITS) if text.startswith(("#", "＃")) else None
        if person is None:
            return Stay(Reply(t("Please press a partner unit, or send #NUMBER of a resident (for example #12).")))
    row = await store.add_resource(ctx.session, ctx.compound_id, draft.kind, draft.title, draft.description,
                                   organisation_id=unit, offered_by_id=person, by=ctx.person_id, now=ctx.now)
    if row is None:
        return Stay(Reply(t("That is neither a partner unit of {compound} nor one of its residents. Please try again.",
                            compound=ctx.compound.name)))
    return Done(Reply(t("On the resources list:") + "\n" + await _line(ctx, t, row)))


@router.button("resources.retire", roles=SECRETARIES, private=True)
async def retire(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    row = await store.retire(ctx.session, int(ctx.args.get("resource", 0)), ctx.compound_id, ctx.now)
    if row is None:
        return Reply(t("That resource is no longer on the list."), toast=t("Already retired"))
    return Reply(t("#{id} {title} is off the list; its past matches are kept.", id=row.id, title=row.title),
                 toast=t("Retired"))


# ---- matching a need to a resource --------------------------------------------------------------------------------


class Matching(Draft):
    need: int = 0
    resource: int = 0


# From the list (the resource chosen, the need asked) or from a need's triage (the need chosen, the resource asked).
match_need = Flow("resource_match", Matching, title=N_("matching a need to a resource"), roles=SECRETARIES)
match_resource = Flow("need_resource", Matching, title=N_("matching a need to a resource"), roles=SECRETARIES)


@router.button("resources.match", roles=SECRETARIES, private=True)
async def match_pressed(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    row = await store.resource_in(ctx.session, int(ctx.args.get("resource", 0)), ctx.compound_id)
    if row is None:
        return Reply(t("That resource is no longer on the list."), toast=t("Already retired"))
    if not await needs.open_needs(ctx.session, ctx.compound_id):
        return Reply(t("There are no open needs to match."))
    return await match_need.begin(ctx, Matching(resource=row.stored_id))


async def from_triage(ctx: MemberContext, need: Need) -> Replies:
    """The needs triage's "Match a resource": the secretary picks the resource."""
    t = ctx.t
    if not await store.active(ctx.session, ctx.compound_id):
        return Reply(t("Nothing is on the resources list yet, so need #{id} stays open. Add one with /addresource, "
                       "then press this button again.", id=need.id), toast=t("No resources"))
    return await match_resource.begin(ctx, Matching(need=need.stored_id))


async def _ask_need(ctx: MemberContext, draft: Matching) -> Reply:
    t = ctx.t
    listed = await needs.open_needs(ctx.session, ctx.compound_id)
    lines = [t("Which need does #{id} meet?", id=draft.resource)]
    lines += [f"#{row.id} {row.text[:60]}" for row, _count in listed]
    return Reply("\n".join(lines), buttons=rows(*(Button.choice(f"#{row.id}", row.id) for row, _c in listed),
                                                per_row=4))


async def _ask_resource(ctx: MemberContext, draft: Matching) -> Reply:
    t = ctx.t
    listed = await store.active(ctx.session, ctx.compound_id)
    lines = [t("Which resource meets need #{id}?", id=draft.need)] + [await _line(ctx, t, row) for row in listed]
    return Reply("\n".join(lines), buttons=rows(*(Button.choice(f"#{row.id} {row.title[:20]}", row.id)
                                                  for row in listed), per_row=2))


@match_need.step("need", ask=_ask_need, answer=answers.Choice(
    refusal=N_("Please choose with the buttons above, or send /cancel.")))
async def need_chosen(ctx: MemberContext, draft: Matching, value: int) -> Outcome:
    return await _match(ctx, value, draft.resource)


@match_resource.step("resource", ask=_ask_resource, answer=answers.Choice(
    refusal=N_("Please choose with the buttons above, or send /cancel.")))
async def resource_chosen(ctx: MemberContext, draft: Matching, value: int) -> Outcome:
    return await _match(ctx, draft.need, value)


async def _match(ctx: MemberContext, need_id: int, resource_id: int) -> Outcome:
    """storage.needs decides (the need still open, the resource still listed); then the offerer, the poster and
    the supporters are told, and the secretary is the go-between."""
    t = ctx.t
    made = await needs.into_resource(ctx.session, need_id, ctx.compound_id, ctx.person_id, resource_id, ctx.now)
    if made == Refused.NO_RESOURCE:
        return Done(Reply(t("That resource is no longer on the list.")))
    if isinstance(made, Refused):
        return Done(Reply(t("That need has already been dealt with.")))
    need, resource = made
    who = await store.offerer(ctx.session, resource)
    secretary, phone = ctx.person.name, ctx.person.phone or "-"
    replies: list[Reply] = []
    if who.person_id is not None:
        rt = await ctx.translator_for(who.person_id)
        replies.append(Reply(rt("Your resource “{title}” was matched to a neighbour's need #{id}: {text}\nThe secretary "
                                "{secretary} ({phone}) will arrange it with you. Thank you!", title=resource.title,
                                id=need.id, text=need.text[:300], secretary=secretary, phone=phone),
                             to=ToPerson(who.person_id)))
        told = t("{name} is told.", name=who.name or who.unit)
    else:  # a unit whose contact does not use the bot yet: the secretary calls them
        told = t("{unit}'s contact {name} ({phone}) does not use linli yet: please call them.", unit=who.unit,
                 name=who.name or "-", phone=who.phone or "-")
    replies.insert(0, Reply(t("Need #{id} is matched to #{resource} “{title}”.", id=need.id, resource=resource.id,
                              title=resource.title) + " " + told))
    offered_by = who.unit or who.name
    for person in dict.fromkeys([need.poster_id, *await needs.supporters_of(ctx.session, need.stored_id)]):
        pt = await ctx.translator_for(person)
        replies.append(Reply(pt("Good news about need #{id} ({text}): it is matched to “{title}”, offered by {by}. The "
                                "secretary will arrange the details.", id=need.id, text=need.text[:60],
                                title=resource.title, by=offered_by), to=ToPerson(person)))
    return Done(replies)


router.flow(adding, match_need, match_resource)

__all__ = ["from_triage", "router"]
