"""Owners' assemblies (业主大会): opening with motions and elections (flow `assembly`), announcing, voting per
room (`ballot`), paper ballots (`paperballot`), reminders (催票), closing with the Art. 278 tally, results and
cancelling (`assembly_cancel`). Storage decides every step of an assembly's life; this module converses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from fractions import Fraction
from functools import partial
from typing import Any

from bot.core import answers
from bot.core.answers import moment_text
from bot.core.context import BaseContext, Context, JobContext, MemberContext
from bot.core.flows import Done, Draft, Flow, Go, Outcome, Stay
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Media, Replies, Reply, ToGroups, ToPerson, rows
from handlers import pages
from storage import assembly as store
from storage import printouts
from storage.assembly import ABSTAIN, ELECTION, NO, ORDINARY, SPECIAL, YES, AssemblyStatus, Cast, MotionSpec
from storage.compounds import Compound, buildings_of, units_of
from storage.notifications import Notice, NoticeKind
from storage.people import Person, Role, roles_in

router = Router("assembly")

STAFF = (Role.SECRETARY, Role.COMMITTEE)
CHOICE_LABELS = {YES: N_("Agree"), NO: N_("Against"), ABSTAIN: N_("Abstain")}
KIND_LABELS = {ORDINARY: N_("ordinary matter: more than half must agree"),
               SPECIAL: N_("special matter: at least three quarters must agree"),
               ELECTION: N_("election")}
ART_278 = N_(
    "Civil Code Art. 278: items (6) to (8) are special matters (at least 3/4 of the participating area and owners "
    "must agree); the other items are ordinary (more than 1/2). A matter the law calls ordinary may be marked "
    "special after choosing it.")
# Civil Code Art. 278 para. 1, items 1–9: the classification buttons, in the law's order.
MATTER_LABELS = {
    store.Matter.RULES: N_("(1) the assembly's rules of procedure"),
    store.Matter.COVENANT: N_("(2) the management covenant"),
    store.Matter.COMMITTEE: N_("(3) electing or replacing committee members"),
    store.Matter.MANAGER: N_("(4) hiring or dismissing the property company or another manager"),
    store.Matter.USE_FUNDS: N_("(5) using the maintenance funds"),
    store.Matter.RAISE_FUNDS: N_("(6) raising the maintenance funds"),
    store.Matter.REBUILD: N_("(7) rebuilding or reconstructing buildings and their facilities (adding an elevator)"),
    store.Matter.COMMON_USE: N_("(8) changing the use of common parts, or running a business with them"),
    store.Matter.OTHER: N_("(9) other major matters of common ownership and management"),
}
KIND_SHORT = {ORDINARY: N_("ordinary"), SPECIAL: N_("special")}
STATUS_LABELS = {AssemblyStatus.SCHEDULED: N_("voting not open yet"), AssemblyStatus.OPEN: N_("voting open"),
                 AssemblyStatus.CLOSED: N_("voting closed"), AssemblyStatus.CANCELLED: N_("assembly cancelled")}
# The motion step's buttons: numbers, so that a typed motion (always text) is never taken for one of them.
ADD_ELECTION, MOTIONS_DONE, MARK_SPECIAL, MOTION_SCOPE = 1, 2, 3, 4


def percent(share: Fraction, bound: Fraction | None = None) -> str:
    """A share as a percentage with one decimal. When it rounds to the same percentage as the `bound` it is
    measured against (66.7% for 2/3), the percentage cannot say whether the bound is met: the exact share
    and how it stands to the bound follow (66.7% = 2/3, 66.7% ≈ 19999/30000 < 2/3)."""
    shown = f"{float(share) * 100:.1f}%"
    if bound is None or shown != f"{float(bound) * 100:.1f}%":
        return shown
    fraction = f"{bound.numerator}/{bound.denominator}"
    if share == bound:
        return f"{shown} = {fraction}"
    return f"{shown} ≈ {share.numerator}/{share.denominator} {'<' if share < bound else '>'} {fraction}"


def _counted(count: store.Count, whole: store.Count, bound: Fraction | None = None) -> dict[str, Any]:
    """A count's placeholders: its {area} (m²) and {owners} with their shares of `whole` (exact where they round
    to the `bound`), and whole's {total} area and {all} owners."""
    area_share, owner_share = count.shares_of(whole)
    return {"area": f"{float(count.area):.2f}", "area_share": percent(area_share, bound), "owners": count.owners,
            "owner_share": percent(owner_share, bound), "total": f"{float(whole.area):.2f}", "all": whole.owners}


def _named(labels: dict[int, str], rooms: Iterable[int]) -> str:
    return "、".join(labels.get(room, "?") for room in rooms)


def _motion_lines(t: Translator, motions: Iterable[MotionSpec | store.Motion],
                  scopes: Sequence[str] = ()) -> list[str]:
    """The motions as numbered lines with their class; `scopes`: each motion's own building or unit ("" for the
    assembly's), from `_own_scopes`."""
    lines = []
    for n, motion in enumerate(motions, 1):
        kind = t(KIND_LABELS[motion.kind])
        if motion.matter:
            kind = f"{t(MATTER_LABELS[store.Matter(motion.matter)])}；{kind}"
        if motion.kind == ELECTION:
            kind = t("election, {seats} seats; each owner may approve up to {seats}", seats=motion.seats)
        if n <= len(scopes) and scopes[n - 1]:
            kind = f"{kind}；{t('decided by the owners of {scope} only', scope=scopes[n - 1])}"
        lines.append(f"{n}. {motion.text}（{kind}）")
    return lines


async def _own_scopes(ctx: BaseContext, motions: Iterable[MotionSpec | store.Motion]) -> list[str]:
    """Each motion's own building or unit (1栋2单元), "" where the assembly's owners decide it."""
    return [await store.scope_name(ctx.session, store.Scope(m.building_id, m.unit_id)) for m in motions]


# ---- opening: /assembly ----------------------------------------------------------------------------------


class NewAssembly(Draft):
    title: str = ""
    motions: tuple[MotionSpec, ...] = ()
    pending: str = ""  # a motion's text waiting for its class
    candidates: tuple[str, ...] = ()  # an election's names waiting for its seats
    opens: datetime | None = None
    closes: datetime | None = None
    # The scope: one building's owners, or one unit's of it, decide (加装电梯); neither: the compound's.
    building_id: int | None = None
    unit_id: int | None = None


opening = Flow("assembly", NewAssembly, title=N_("opening an owners' assembly"), roles=STAFF)


@opening.step("title", answer=answers.Text(200, what=N_("title")), next=("motion",), ask=lambda ctx, draft: Reply(
    ctx.t("A new owners' assembly. What is its title? For example: 2026年第一次业主大会.")))
async def title_step(ctx: MemberContext, draft: NewAssembly, title: str) -> Outcome:
    return Go("motion", draft.model_copy(update={"title": title}))


def _ask_motion(ctx: Context, draft: NewAssembly) -> Reply:
    t = ctx.t
    buttons = [Button.choice(t("Add an election"), ADD_ELECTION)]
    if draft.motions:
        buttons.append(Button.choice(t("Done with motions"), MOTIONS_DONE))
        if draft.motions[-1].kind == ORDINARY:
            buttons.append(Button.choice(t("Mark motion {n} special (3/4)", n=len(draft.motions)), MARK_SPECIAL))
        buttons.append(Button.choice(t("Who decides motion {n}: a building or unit", n=len(draft.motions)),
                                     MOTION_SCOPE))
        return Reply(t("Motion {n} added. Send the text of the next motion, add an election, or press Done.",
                       n=len(draft.motions)), buttons=rows(*buttons, per_row=2))
    return Reply(t("Send the text of motion 1, or press Add an election."), buttons=rows(*buttons))


@opening.step("motion", ask=_ask_motion, next=("motion", "kind", "candidates", "opens", "motion_scope"),
              answer=answers.Either((answers.Choice(values=(ADD_ELECTION, MOTIONS_DONE, MARK_SPECIAL, MOTION_SCOPE)),
                                     answers.Text(1000, what=N_("motion")))))
async def motion_step(ctx: MemberContext, draft: NewAssembly, answer: str | int) -> Outcome:
    t = ctx.t
    if answer == MOTIONS_DONE and draft.motions:
        return Go("opens")
    if answer == MOTION_SCOPE and draft.motions:
        return Go("motion_scope")
    if answer == MARK_SPECIAL:
        # Only ever up: a special matter stays special, and an election has no class to mark.
        if not draft.motions or draft.motions[-1].kind != ORDINARY:
            return Stay(Reply(t("Only a motion decided as an ordinary matter can be marked special.")))
        marked = draft.motions[-1].model_copy(update={"kind": SPECIAL})
        return Go("motion", draft.model_copy(update={"motions": (*draft.motions[:-1], marked)}),
                  say=(Reply(t("Motion {n} will be decided as a special matter (at least 3/4).",
                               n=len(draft.motions))),))
    if len(draft.motions) >= store.MAX_MOTIONS:
        return Stay(Reply(t("An assembly can have at most {n} motions. Please press Done.", n=store.MAX_MOTIONS)))
    if answer == ADD_ELECTION:
        return Go("candidates")
    if not isinstance(answer, str):
        return Stay(Reply(t("Send the text of motion 1, or press Add an election.")))
    return Go("kind", draft.model_copy(update={"pending": answer}))


def _ask_kind(ctx: Context, draft: NewAssembly) -> Reply:
    t = ctx.t
    suggested = store.suggest_matter(draft.pending)
    buttons = [Button.choice(("✓ " if matter == suggested else "") + t(label) + " · " + t(KIND_SHORT[store.kind_of(matter)]),
                             matter.value) for matter, label in MATTER_LABELS.items()]
    return Reply(t("{rules}\n\nI suggest: {kind}. Please confirm the class of this motion.", rules=t(ART_278),
                   kind=f"{t(KIND_LABELS[store.kind_of(suggested)])}（{t(MATTER_LABELS[suggested])}）"),
                 buttons=rows(*buttons))


@opening.step("kind", ask=_ask_kind, next=("motion",), answer=answers.Choice(
    values=tuple(m.value for m in store.Matter), refusal=N_("Please choose the class with one of the buttons above.")))
async def kind_step(ctx: MemberContext, draft: NewAssembly, matter: str) -> Outcome:
    chosen = store.Matter(matter)
    motion = MotionSpec(text=draft.pending, matter=chosen, kind=store.kind_of(chosen))
    return Go("motion", draft.model_copy(update={"motions": (*draft.motions, motion), "pending": ""}))


@opening.step("candidates", answer=answers.Text(1000, what=N_("candidates' names")), next=("seats",),
              ask=lambda ctx, draft: Reply(ctx.t("Send the candidates' names, separated by commas or 、.")))
async def candidates_step(ctx: MemberContext, draft: NewAssembly, text: str) -> Outcome:
    names = store.candidate_names(text)
    if not 1 <= len(names) <= store.MAX_CANDIDATES:
        return Stay(Reply(ctx.t("Please send between 1 and {n} names, separated by commas or 、.", n=store.MAX_CANDIDATES)))
    return Go("seats", draft.model_copy(update={"candidates": names}))


@opening.step("seats", answer=answers.Number(1, store.MAX_CANDIDATES), next=("motion",), ask=lambda ctx, draft: Reply(
    ctx.t("How many seats are to be filled? Each owner may approve up to that many candidates (1 to {n}).",
          n=len(draft.candidates))))
async def seats_step(ctx: MemberContext, draft: NewAssembly, seats: int) -> Outcome:
    if seats > len(draft.candidates):
        return Stay(Reply(ctx.t("Please send a number from 1 to {n}.", n=len(draft.candidates))))
    election = MotionSpec(text=ctx.t("Election of: {names}", names="、".join(draft.candidates)), kind=ELECTION,
                          seats=seats, candidates=draft.candidates)
    return Go("motion", draft.model_copy(update={"motions": (*draft.motions, election), "candidates": ()}))


async def _ask_motion_scope(ctx: MemberContext, draft: NewAssembly) -> Reply:
    t = ctx.t
    last = draft.motions[-1]  # the button comes after a motion
    buildings = await buildings_of(ctx.session, ctx.compound_id)
    buttons = [_scope_button(t("Like the whole assembly"), "assembly", last.building_id is None)]
    buttons += [_scope_button(b.name, f"b{b.id}", last.building_id == b.id) for b in buildings]
    return Reply(t("Whose owners decide motion {n} ({text})? One building's or unit's owners alone decide it by "
                   "their area and headcount; the assembly's other owners answer its other motions only.",
                   n=len(draft.motions), text=last.text[:60]), buttons=rows(*buttons, per_row=3))


def _scoped_last(draft: NewAssembly, building_id: int | None, unit_id: int | None) -> NewAssembly:
    last = draft.motions[-1].model_copy(update={"building_id": building_id, "unit_id": unit_id})
    return draft.model_copy(update={"motions": (*draft.motions[:-1], last)})


@opening.step("motion_scope", ask=_ask_motion_scope, next=("motion", "motion_unit"), answer=answers.Choice(
    refusal=N_("Please choose with the buttons above.")))
async def motion_scope_step(ctx: MemberContext, draft: NewAssembly, value: str) -> Outcome:
    if value == "assembly":
        return Go("motion", _scoped_last(draft, None, None), say=(Reply(ctx.t(
            "Motion {n} is decided like the whole assembly.", n=len(draft.motions))),))
    # The step's own buttons carry this compound's buildings.
    return Go("motion_unit", _scoped_last(draft, int(value[1:]), None))


async def _ask_motion_unit(ctx: MemberContext, draft: NewAssembly) -> Reply:
    t = ctx.t
    units = await units_of(ctx.session, draft.motions[-1].building_id or 0)
    buttons = [Button.choice(t("The whole building"), "building"), *(Button.choice(u.name, f"u{u.id}") for u in units)]
    return Reply(t("The whole building, or one unit of it?"), buttons=rows(*buttons, per_row=3))


@opening.step("motion_unit", ask=_ask_motion_unit, next=("motion",), answer=answers.Choice(
    refusal=N_("Please choose with the buttons above.")))
async def motion_unit_step(ctx: MemberContext, draft: NewAssembly, value: str) -> Outcome:
    last = draft.motions[-1]
    scoped = _scoped_last(draft, last.building_id, None if value == "building" else int(value[1:]))
    name = await store.scope_name(ctx.session, store.Scope(scoped.motions[-1].building_id, scoped.motions[-1].unit_id))
    return Go("motion", scoped, say=(Reply(ctx.t("Motion {n} will be decided by the owners of {scope} only.",
                                                 n=len(draft.motions), scope=name)),))


@opening.step("opens", answer=answers.When(future=True, now="now"), next=("closes",), ask=lambda ctx, draft: Reply(
    ctx.t("When does voting open? Type a day and a time, such as 明天 9:00, 周六 9:00 or 2026-11-24 09:00, or press "
          "Now."), buttons=rows(Button.choice(ctx.t("Now"), "now"))))
async def opens_step(ctx: MemberContext, draft: NewAssembly, opens: datetime) -> Outcome:
    return Go("closes", draft.model_copy(update={"opens": opens}))


def _window(ctx: Context, opens: datetime, closes: datetime | None = None) -> dict[str, str]:
    """The window's placeholders: {opens} (when voting really begins) and {closes} in full, and an {example}
    of a closing time, a week after the opening."""
    starts = store.voting_starts(opens, ctx.now)
    return {"opens": moment_text(ctx.t, starts, ctx), "closes": moment_text(ctx.t, closes, ctx) if closes else "",
            "example": ctx.local(starts + timedelta(days=7), ctx.compound)}


def _ask_closes(ctx: Context, draft: NewAssembly) -> Reply:
    assert draft.opens is not None  # set by the step before
    return Reply(ctx.t("Voting opens {opens}. When does it close? Type a day and a time, such as {example}.",
                       **_window(ctx, draft.opens)))


# What is wrong with the window, both moments in full, and what would do.
WINDOW_PROBLEMS = {
    store.WindowProblem.CLOSES_FIRST: N_("Voting would close {closes}, which is not after it opens ({opens}). Please "
                                         "type a closing time at least one hour after the opening, such as {example}."),
    store.WindowProblem.TOO_SHORT: N_("Voting would close {closes}, less than an hour after it opens ({opens}). "
                                      "Please type a closing time at least one hour after the opening, such as "
                                      "{example}."),
}


@opening.step("closes", ask=_ask_closes, answer=answers.When(future=False), next=("confirm",))
async def closes_step(ctx: MemberContext, draft: NewAssembly, closes: datetime) -> Outcome:
    assert draft.opens is not None
    problem = store.window_problem(draft.opens, closes, ctx.now)
    if problem is not None:
        return Stay(Reply(ctx.t(WINDOW_PROBLEMS[problem], **_window(ctx, draft.opens, closes))))
    return Go("confirm", draft.model_copy(update={"closes": closes}))


async def _scope_line(ctx: BaseContext, t: Translator, scope: store.Scope) -> str:
    """Who decides, in words: every owner of the compound, or only the owners of 1栋 / 1栋2单元."""
    if scope.whole:
        return t("Who decides: every owner of the compound.")
    return t("Who decides: only the owners of {scope}; the compound's other owners are not asked.",
             scope=await store.scope_name(ctx.session, scope))


async def _ask_confirm(ctx: Context, draft: NewAssembly) -> Reply:
    t = ctx.t
    assert draft.opens is not None and draft.closes is not None
    lines = [t("Please check the assembly. Once it is open, the motions and the voting window cannot change; "
               "it can only be cancelled with a reason."), "", f"《{draft.title}》",
             *_motion_lines(t, draft.motions, await _own_scopes(ctx, draft.motions)),
             t("Voting: {opens} to {closes}.", **_window(ctx, draft.opens, draft.closes)),
             await _scope_line(ctx, t, store.Scope(draft.building_id, draft.unit_id))]
    return Reply("\n".join(lines), buttons=((Button.choice(t("Confirm and open"), "confirm"),
                                              Button.choice(t("Discard"), "discard")),
                                             (Button.choice(t("Who decides: a building or unit"), "scope"),)))


def _scope_button(label: str, value: str, chosen: bool) -> Button:
    return Button.choice(("✓ " if chosen else "") + label, value)


async def _ask_scope(ctx: MemberContext, draft: NewAssembly) -> Reply:
    t = ctx.t
    buildings = await buildings_of(ctx.session, ctx.compound_id)
    buttons = [_scope_button(t("The whole compound"), "compound", draft.building_id is None)]
    buttons += [_scope_button(b.name, f"b{b.id}", draft.building_id == b.id) for b in buildings]
    return Reply(t("Whose owners decide this assembly? A matter of one building or unit (adding an elevator, say) "
                   "is decided by its owners alone, by their area and headcount."), buttons=rows(*buttons, per_row=3))


@opening.step("scope", ask=_ask_scope, next=("unit", "confirm"), answer=answers.Choice(
    refusal=N_("Please choose with the buttons above.")))
async def scope_step(ctx: MemberContext, draft: NewAssembly, value: str) -> Outcome:
    if value == "compound":
        return Go("confirm", draft.model_copy(update={"building_id": None, "unit_id": None}))
    # The step's own buttons carry this compound's buildings.
    return Go("unit", draft.model_copy(update={"building_id": int(value[1:]), "unit_id": None}))


def _within(draft: NewAssembly) -> tuple[NewAssembly, list[int]]:
    """A motion's own scope lies inside the assembly's: those that no longer do are decided like the assembly
    (their numbers returned, to say so)."""
    outer = store.Scope(draft.building_id, draft.unit_id)
    cleared = [n for n, m in enumerate(draft.motions, 1)
               if not store.Scope(m.building_id, m.unit_id).whole
               and not store.Scope(m.building_id, m.unit_id).within(outer)]
    motions = tuple(m.model_copy(update={"building_id": None, "unit_id": None}) if n in cleared else m
                    for n, m in enumerate(draft.motions, 1))
    return draft.model_copy(update={"motions": motions}), cleared


async def _ask_unit(ctx: Context, draft: NewAssembly) -> Reply:
    t = ctx.t
    units = await units_of(ctx.session, draft.building_id or 0)
    buttons = [Button.choice(t("The whole building"), "building"), *(Button.choice(u.name, f"u{u.id}") for u in units)]
    return Reply(t("The whole building, or one unit of it?"), buttons=rows(*buttons, per_row=3))


@opening.step("unit", ask=_ask_unit, next=("confirm",), answer=answers.Choice(
    refusal=N_("Please choose with the buttons above.")))
async def unit_step(ctx: MemberContext, draft: NewAssembly, value: str) -> Outcome:
    fitted, cleared = _within(draft.model_copy(update={"unit_id": None if value == "building" else int(value[1:])}))
    said = (Reply(ctx.t("Motions {numbers} lay outside the assembly's new scope: they are now decided like the whole "
                        "assembly.", numbers="、".join(map(str, cleared)))),) if cleared else ()
    return Go("confirm", fitted, say=said)


@opening.step("confirm", ask=_ask_confirm, next=("closes", "scope"), answer=answers.Choice(
    values=("confirm", "discard", "scope"), refusal=N_("Please press Confirm and open, or Discard.")))
async def confirm_step(ctx: MemberContext, draft: NewAssembly, value: str) -> Outcome:
    t = ctx.t
    if value == "discard":
        return Done(Reply(t("Discarded. Nothing was opened.")))
    if value == "scope":
        return Go("scope")
    assert draft.opens is not None and draft.closes is not None
    made = await store.open_assembly(ctx.session, ctx.compound, draft.title, draft.motions, draft.opens,
                                     draft.closes, ctx.person_id, ctx.now, store.Scope(draft.building_id, draft.unit_id))
    if isinstance(made, store.WindowProblem):  # the time spent confirming shortened the window
        return Go("closes", say=(Reply(t(WINDOW_PROBLEMS[made], **_window(ctx, draft.opens, draft.closes))),))
    if made.status == AssemblyStatus.OPEN:
        return Done([Reply(t("The assembly {title} is open. I posted it to the group chats and told every owner.",
                             title=made.title)), *await announce(ctx, made, ctx.compound)])
    if await store.vetting_pending(ctx.session, made.stored_id):
        vetters = await ctx.tell_role(Role.SECRETARY, ctx.compound_id, lambda tr: Reply(tr(
            "The candidates of {title} await the party branch's vetting (资格审核) before the ballot.",
            title=made.title), buttons=_vet_button(tr)))
        return Done([Reply(t("The assembly {title} is created. Its candidates are vetted first (资格审核): voting opens "
                             "once each is approved or rejected, at {opens} at the earliest.", title=made.title,
                             opens=ctx.local(made.opens_at, ctx.compound))), *vetters])
    return Done(Reply(t("The assembly {title} will open at {opens}; I will post it and tell every owner then.",
                        title=made.title, opens=ctx.local(made.opens_at, ctx.compound))))


@router.command("assembly", group="civic", roles=STAFF, private=True, flow=True,
                help="Open an owners' assembly vote", order=40)
async def open_assembly(ctx: MemberContext, msg: Incoming) -> Replies:
    return await opening.begin(ctx, NewAssembly())


async def start_prepared_assembly(ctx: MemberContext, title: str, motions: Sequence[tuple[str, str]]) -> Replies:
    """Another feature (the property company's grades, say) prepares the motions; the creator reviews them, may
    add more, and sets the voting window as in /assembly. `motions`: (text, "ordinary" | "special")."""
    prepared = tuple(MotionSpec(text=text[:1000], matter=(matter := store.suggest_matter(text)),
                                kind=store.kind_of(matter, kind == SPECIAL))
                     for text, kind in motions[:store.MAX_MOTIONS])
    draft = NewAssembly(title=title[:200], motions=prepared)
    before = ctx.convo.key
    asked = await opening.begin(ctx, draft, step="motion")
    if ctx.convo.key == before or not isinstance(asked, Reply):  # refused: busy, or not allowed
        return asked
    return [Reply("\n".join([f"《{draft.title}》", *_motion_lines(ctx.t, prepared)])), asked]


# ---- announcing and turnout ------------------------------------------------------------------------------

# How the group posting ends once voting is over; until then it shows the turnout so far.
POSTING_ENDS = {AssemblyStatus.CANCELLED: N_("Cancelled: {reason}"),
                AssemblyStatus.CLOSED: N_("Voting has closed; the result has been posted.")}


def _vote(t: Translator, assembly: store.Assembly) -> tuple[tuple[Button, ...], ...]:
    # Straight into a private chat with the bot, for anyone in the group (the route checks who may vote).
    return ((Button.private(t("Vote"), "assembly.vote", assembly=assembly.id),),)


async def refresh_posting(ctx: BaseContext, assembly: store.Assembly, compound: Compound | None,
                          first: bool = False) -> Reply:
    """The group posting as it stands now, with Vote while voting is open: posted `first` when voting opens,
    then edited (the outbox folds quick successive edits into one; a job's reply names its target)."""
    tr = ctx.translator(compound.language if compound else None)
    motions = await store.motions_of(ctx.session, assembly.stored_id)
    lines = [tr("Owners' assembly of {compound}: {title}", compound=compound.name if compound else "",
                title=assembly.title), *_motion_lines(tr, motions, await _own_scopes(ctx, motions)),
             tr("Voting: {opens} to {closes}.", opens=ctx.local(assembly.opens_at, compound),
                closes=ctx.local(assembly.closes_at, compound))]
    if not store.scope_of(assembly).whole:
        lines.insert(1, await _scope_line(ctx, tr, store.scope_of(assembly)))
    if assembly.status in POSTING_ENDS:
        lines.append(tr(POSTING_ENDS[assembly.status], reason=assembly.cancel_reason))
    else:
        turnout = await store.assembly_turnout(ctx.session, assembly)
        lines.append(tr("Turnout so far: area {area} of {total} m² ({area_share}), owners {owners} of {all} "
                        "({owner_share}); at least 2/3 of each must take part.",
                        **_counted(turnout.taking_part, turnout.total, store.QUORUM)))
    key = f"assembly:{assembly.id}"
    return Reply("\n".join(lines), to=ToGroups(assembly.compound_id), posting=key if first else None,
                 buttons=_vote(tr, assembly) if assembly.status == AssemblyStatus.OPEN else (),
                 edit=None if first else key)


async def _tell(ctx: BaseContext, people: Iterable[int], message: str | Callable[[Translator], str | Reply],
                **values: Any) -> list[Reply]:
    """A private message to each of `people` in their own language: a text marked with N_() and translated with
    `values`, or made (the text, or a Reply with buttons) with the person's translator."""
    replies = []
    people = list(people)
    translators = await ctx.translators_for(people)
    for person_id in people:
        tr = translators[person_id]
        made = tr(message, **values) if isinstance(message, str) else message(tr)
        replies.append(replace(Reply(made) if isinstance(made, str) else made, to=ToPerson(person_id)))
    return replies


async def announce(ctx: BaseContext, assembly: store.Assembly, compound: Compound | None) -> list[Reply]:
    """Voting has opened: the group posting with a Vote button, and the opening reminder: a private word to every
    owner of its scope (the compound's other owners are not asked) where the compound's reminders begin at the
    opening (`assembly.reminders`)."""
    return [await refresh_posting(ctx, assembly, compound, first=True), *await send_reminders(ctx, assembly, compound)]


OPENED = N_("The owners' assembly {title} is open for voting until {closes}. As an owner, please vote: press the "
            "button below.")
REMINDED = N_("Reminder: the owners' assembly {title} closes at {closes}, and {rooms} has not voted yet. Every "
              "ballot counts towards the 2/3 turnout the law requires.")


def _reminder_buttons(t: Translator, assembly: store.Assembly) -> tuple[tuple[Button, ...], ...]:
    return (*_vote(t, assembly), (Button.do(t("Stop reminding me"), "assembly.stop_reminders", assembly=assembly.id),))


async def send_reminders(ctx: BaseContext, assembly: store.Assembly, compound: Compound | None) -> list[Reply]:
    """The reminder slots due now, claimed so that each goes out once (storage decides who): one private message
    to each owner who has not voted for all their rooms and has not pressed Stop reminding me, with Vote and that
    button, marked as a vote reminder for the notification budget."""
    due = await store.due_reminders(ctx.session, assembly, compound, ctx.now)
    if not due.owners:
        return []
    labels = await store.room_names(ctx.session, assembly.compound_id)
    replies = []
    translators = await ctx.translators_for(due.owners)
    for person_id, missing in due.owners.items():
        pt = translators[person_id]
        text = OPENED if store.OPENING in due.slots else REMINDED
        replies.append(Reply(
            pt(text, title=assembly.title, closes=ctx.local(assembly.closes_at, compound), rooms=_named(labels, missing)),
            buttons=_reminder_buttons(pt, assembly), to=ToPerson(person_id), expires_at=assembly.closes_at,
            notice=Notice(NoticeKind.VOTE_REMINDER, f"assembly:{assembly.id}", due.slot,
                          compound_id=assembly.compound_id)))
    return replies


# What pressing Stop reminding me did (storage.assembly.StopReminders): the answer and its toast.
STOPPED = {
    store.StopReminders.STOPPED: (N_("Done: no more reminders about {title}. You can still vote until {closes} with "
                                     "the Vote button."), N_("No more reminders")),
    store.StopReminders.ALREADY: (N_("You have already turned off the reminders about {title}; you will get no more "
                                     "of them."), N_("Already off")),
    store.StopReminders.OVER: (N_("Voting in {title} is over, so there are no more reminders about it anyway."),
                               N_("Voting is over")),
    store.StopReminders.NOT_ASKED: (N_("{title} does not ask for your ballot, so you get no reminders about it."),
                                    N_("No reminders")),
}


@router.button("assembly.stop_reminders", private=True)
async def stop_reminders(ctx: Context, msg: Incoming) -> Replies:
    """不再提醒, re-checked on every press: the button is the person's own (its token names them), and storage
    checks the assembly is still voting, the person is one of its owners, and whether it was pressed before."""
    assembly = await ctx.session.get(store.Assembly, int(ctx.args["assembly"]))
    compound = await ctx.session.get(Compound, assembly.compound_id) if assembly is not None else None
    if assembly is None or compound is None:
        return Reply(ctx.t("This assembly does not exist."))
    done = await store.stop_reminders(ctx.session, assembly, ctx.person_id, ctx.now)
    text, toast = STOPPED[done]
    return Reply(ctx.t(text, title=assembly.title, closes=ctx.local(assembly.closes_at, compound)), toast=ctx.t(toast))


# ---- voting: the Vote button, and /paperballot -----------------------------------------------------------



# Why no ballot is taken (storage.assembly.ballot_rooms and cast_ballot): what the person is told, and the toast.
NOT_VOTING = {
    store.Voting.CANCELLED: (N_("The assembly {title} was cancelled: {reason}"), N_("Cancelled")),
    store.Voting.CLOSED: (N_("Voting in {title} closed at {closes}. Ballots after the close cannot be accepted."),
                          N_("Voting has closed")),
    store.Voting.NOT_YET: (N_("Voting in {title} opens at {opens}."), N_("Not open yet")),
    store.Voting.NOT_OWNER: (N_("Only owners of a room in {compound} can vote in its owners' assembly. If you own a "
                                "room there, please register as its owner first (/join), or ask the secretary."),
                             N_("Owners only")),
    store.Voting.NOT_IN_SCOPE: (N_("{title} is decided by the owners of one building or unit only, and you own no "
                                   "room there; nobody asks for your ballot in it."), N_("Not your building or unit")),
    store.Voting.PROXY_REVOKED: (N_("The authorisation to vote for another owner's rooms in {title} was taken back "
                                    "(revoked, or the owner voted themselves), so you cannot vote for them."),
                                 N_("No longer authorised")),
}


def _not_voting(ctx: Context, assembly: store.Assembly, compound: Compound, why: store.Voting) -> Reply:
    text, toast = NOT_VOTING[why]
    return Reply(ctx.t(text, title=assembly.title, reason=assembly.cancel_reason, compound=compound.name,
                       closes=ctx.local(assembly.closes_at, compound), opens=ctx.local(assembly.opens_at, compound)),
                 toast=ctx.t(toast))


class BallotDraft(Draft):
    assembly: int
    rooms: tuple[int, ...] = ()
    # The answers so far, in the motions' order: yes / no / abstain, or an election's approved candidates; None for
    # a motion of one building or unit that none of the rooms is in (not asked).
    choices: tuple[str | tuple[int, ...] | None, ...] = ()
    picked: tuple[int, ...] = ()  # the election being answered
    paper: bool = False


ballot = Flow("ballot", BallotDraft, title=N_("your ballot in the owners' assembly"), roles=[Role.OWNER])
paper = Flow("paperballot", BallotDraft, title=N_("entering a paper ballot"), roles=STAFF)
# A proxy (家人, a neighbour) need not own a room: any member of the compound the owner authorised.
proxy_ballot = Flow("proxyballot", BallotDraft, title=N_("voting as a proxy in the owners' assembly"))


@router.button("assembly.vote", private=True)
async def vote(ctx: Context, msg: Incoming) -> Replies:
    assembly = await ctx.session.get(store.Assembly, int(ctx.args["assembly"]))
    compound = await ctx.session.get(Compound, assembly.compound_id) if assembly is not None else None
    if assembly is None or compound is None:
        return Reply(ctx.t("This assembly does not exist."))
    why, rooms = await store.ballot_rooms(ctx.session, assembly, ctx.person_id, ctx.now)
    if why != store.Voting.OPEN:
        return _not_voting(ctx, assembly, compound, why)
    if ctx.convo.flow in (ballot.name, proxy_ballot.name):
        ctx.convo.end()  # Vote pressed again: a fresh ballot
    if ctx.compound is None or ctx.compound.id != compound.id:
        # From a notice about another of the person's compounds: the ballot belongs to the assembly's.
        ctx = replace(ctx, compound=compound, roles=await roles_in(ctx.session, ctx.person_id, assembly.compound_id))
    draft = BallotDraft(assembly=assembly.stored_id, rooms=tuple(rooms))
    flow = ballot if Role.OWNER in ctx.roles else proxy_ballot
    if len(rooms) > 1:
        return await flow.begin(ctx, draft, step="room")
    step, draft = await _next_asked(ctx, draft)
    return await flow.begin(ctx, draft, step=step)


async def _next_asked(ctx: BaseContext, draft: BallotDraft) -> tuple[str, BallotDraft]:
    """The ballot's next step: the next motion its rooms are asked (a motion of one building or unit none of them is
    in is skipped, answered None), or the summary when none is left."""
    assembly = await ctx.session.get(store.Assembly, draft.assembly)
    asked = await store.asked_motions(ctx.session, assembly, draft.rooms) if assembly is not None else []
    skipped = draft.choices
    while len(skipped) < len(asked) and not asked[len(skipped)]:
        skipped = (*skipped, None)
    draft = draft.model_copy(update={"choices": skipped}) if skipped != draft.choices else draft
    return ("motion" if len(skipped) < len(asked) else "confirm"), draft


async def _ask_room(ctx: MemberContext, draft: BallotDraft) -> Reply:
    t = ctx.t
    labels = await store.room_names(ctx.session, ctx.compound_id)
    voted = await store.ballots_of(ctx.session, draft.assembly)
    proxied = await store.proxied_rooms(ctx.session, draft.assembly, ctx.person_id, ctx.compound_id)
    names = await _names(ctx, set(proxied.values()))
    buttons = [Button.choice(labels.get(r, "?") + (t(" (voted)") if r in voted else "")
                             + (t(" (for {owner})", owner=names.get(proxied[r], "?")) if r in proxied else ""), r)
               for r in draft.rooms]
    buttons.append(Button.choice(t("The same ballot for all my rooms"), "all"))
    if proxied:
        return Reply(t("You vote for {n} rooms, your own and those you were authorised for; each room has its own "
                       "ballot, weighted by its area. Which room are you voting for?", n=len(draft.rooms)),
                     buttons=rows(*buttons, per_row=2))
    return Reply(t("You own {n} rooms; each room has its own ballot, weighted by its area. Which room are you "
                   "voting for?", n=len(draft.rooms)), buttons=rows(*buttons, per_row=2))


async def _names(ctx: BaseContext, people: Iterable[int]) -> dict[int, str]:
    return {person_id: person.name for person_id in people
            if (person := await ctx.session.get(Person, person_id)) is not None}


@ballot.step("room", ask=_ask_room, next=("motion",), answer=answers.Choice(
    refusal=N_("Please choose a room with the buttons above.")))
async def room_step(ctx: MemberContext, draft: BallotDraft, room: Any) -> Outcome:
    # The step's own buttons carry the person's rooms and "all"; nothing else reaches here.
    return Go(*await _next_asked(ctx, draft if room == "all" else draft.model_copy(update={"rooms": (room,)})))


@router.command("paperballot", group="civic", roles=STAFF, private=True, flow=True,
                help="Enter a paper ballot (书面表决票)", order=42)
async def paperballot(ctx: MemberContext, msg: Incoming) -> Replies:
    open_ones = await store.open_for_voting(ctx.session, ctx.compound_id)
    if not open_ones:
        return Reply(ctx.t("No assembly is open for voting in {compound}.", compound=ctx.compound.name))
    if len(open_ones) == 1:
        return await paper.begin(ctx, BallotDraft(assembly=open_ones[0].stored_id, paper=True), step="room")
    return await paper.begin(ctx, BallotDraft(assembly=0, paper=True))


async def _ask_assembly(ctx: MemberContext, draft: BallotDraft) -> Reply:
    open_ones = await store.open_for_voting(ctx.session, ctx.compound_id)
    return Reply(ctx.t("Which assembly?"), buttons=rows(*(Button.choice(a.title, a.id) for a in open_ones)))


@paper.step("assembly", ask=_ask_assembly, next=("room",), answer=answers.Choice(
    refusal=N_("Please choose an assembly with the buttons above.")))
async def paper_assembly(ctx: MemberContext, draft: BallotDraft, assembly_id: int) -> Outcome:
    # The buttons carry this compound's open assemblies; casting checks that voting is still open.
    return Go("room", draft.model_copy(update={"assembly": assembly_id}))


async def _ask_paper_room(ctx: MemberContext, draft: BallotDraft) -> Reply:
    assembly = await store.assembly_of(ctx.session, draft.assembly, ctx.compound_id)
    return Reply(ctx.t("Paper ballot for {title}. Which room? Type it as on the roster, for example 1栋1单元301.",
                       title=assembly.title if assembly else "?"))


@paper.step("room", ask=_ask_paper_room, answer=answers.Text(40, what=N_("room")), next=("motion",))
async def paper_room(ctx: MemberContext, draft: BallotDraft, typed: str) -> Outcome:
    room_id = await store.room_by_label(ctx.session, ctx.compound_id, typed)
    if room_id is None:
        return Stay(Reply(ctx.t("I could not find the room {room}. Please type it like 1栋1单元301.", room=typed)))
    assembly = await store.assembly_of(ctx.session, draft.assembly, ctx.compound_id)
    if assembly is not None and not store.in_scope((room_id,), await store.electorate(ctx.session, assembly)):
        return Stay(Reply(ctx.t("{room} is not in {scope}, whose owners alone decide {title}. Please type a room of "
                                "{scope}.", room=typed, title=assembly.title,
                                scope=await store.scope_name(ctx.session, store.scope_of(assembly)))))
    return Go(*await _next_asked(ctx, draft.model_copy(update={"rooms": (room_id,)})))


# ---- the ballot, motion by motion (both flows) -----------------------------------------------------------


async def _ask_choice(ctx: Context, draft: BallotDraft) -> Reply:
    t = ctx.t
    motions = await store.motions_of(ctx.session, draft.assembly)
    motion = motions[len(draft.choices)]  # the motion step comes while some are unanswered
    head = t("Motion {n} of {total}: {text}", n=len(draft.choices) + 1, total=len(motions), text=motion.text)
    if motion.kind == ELECTION:
        buttons = [Button.choice(("✓ " if i in draft.picked else "") + name, i)
                   for i, name in enumerate(motion.candidates)]
        buttons.append(Button.choice(t("Done ({n} of at most {seats} chosen)", n=len(draft.picked),
                                       seats=motion.seats), "next"))
        return Reply(head + "\n" + t("Approve up to {seats} candidates: press a name to choose it or to take it "
                                     "back, then press Done.", seats=motion.seats), buttons=rows(*buttons, per_row=2))
    return Reply(f"{head}\n（{t(KIND_LABELS[motion.kind])}）",
                 buttons=(tuple(Button.choice(t(CHOICE_LABELS[c]), c) for c in (YES, NO, ABSTAIN)),))


async def choice_step(ctx: MemberContext, draft: BallotDraft, value: Any) -> Outcome:
    t = ctx.t
    motions = await store.motions_of(ctx.session, draft.assembly)
    motion = motions[len(draft.choices)]
    if motion.kind != ELECTION:
        if value not in store.CHOICES:
            return Stay(Reply(t("Please answer with one of the buttons: Agree, Against or Abstain.")))
        answered = draft.model_copy(update={"choices": (*draft.choices, value)})
    elif isinstance(value, int) and 0 <= value < len(motion.candidates):
        picked = store.pick(draft.picked, value, motion.seats)
        if picked is None:
            return Stay(Reply(t("You may approve at most {seats} candidates. Take one back first.",
                                seats=motion.seats)))
        return Go("motion", draft.model_copy(update={"picked": picked}))
    elif value == "next":
        answered = draft.model_copy(update={"choices": (*draft.choices, draft.picked), "picked": ()})
    else:
        return Stay(Reply(t("Please use the buttons: press names to choose them, then Done.")))
    return Go(*await _next_asked(ctx, answered))


def _choice_text(t: Translator, motion: store.Motion, choice: Any) -> str:
    if motion.kind == ELECTION:
        names = [motion.candidates[i] for i in choice or () if 0 <= i < len(motion.candidates)]
        return "、".join(names) if names else t("nobody")
    return t(CHOICE_LABELS.get(str(choice), "?"))


async def _voted_for(ctx: MemberContext, t: Translator, rooms: Sequence[int], proxied: dict[int, int]) -> str:
    """The rooms in words, each one voted for as a proxy with whose it is: 2栋1单元102（受陈阿姨委托）."""
    labels = await store.room_names(ctx.session, ctx.compound_id)
    owners = await _names(ctx, {proxied[r] for r in rooms if r in proxied})
    return "、".join(t("{room} (on behalf of {owner})", room=labels.get(r, "?"), owner=owners.get(proxied[r], "?"))
                    if r in proxied else labels.get(r, "?") for r in rooms)


async def _summary(ctx: MemberContext, draft: BallotDraft) -> Reply:
    t = ctx.t
    motions = await store.motions_of(ctx.session, draft.assembly)
    proxied = {} if draft.paper else await store.proxied_rooms(ctx.session, draft.assembly, ctx.person_id,
                                                                 ctx.compound_id)
    rooms = await _voted_for(ctx, t, draft.rooms, proxied)
    lines = [t("Paper ballot for {rooms}:", rooms=rooms) if draft.paper else t("Your ballot for {rooms}:", rooms=rooms)]
    lines += [t("{n}. {text}: {choice}", n=n, text=motion.text, choice=_choice_text(t, motion, choice))
              for n, (motion, choice) in enumerate(zip(motions, draft.choices, strict=False), 1) if choice is not None]
    lines.append(t("Press Submit to cast it. You can change it until the close; the last ballot counts."))
    return Reply("\n".join(lines), buttons=((Button.choice(t("Submit"), "submit"),
                                              Button.choice(t("Start over"), "restart")),))


# Why a room's ballot was not taken (storage.assembly.Cast).
NOT_TAKEN = {
    Cast.PAPER_ON_RECORD: N_("Not changed for {rooms}: a paper ballot is on record there and this assembly does not "
                             "let an online ballot replace it."),
    Cast.ONLINE_ON_RECORD: N_("Not entered for {rooms}: the owner has already voted online."),
    Cast.PAPER_TWICE: N_("Not entered for {rooms}: a paper ballot for it is on record already, and a room has one "
                         "ballot."),
    Cast.NOT_ALLOWED: N_("Not recorded for {rooms}: you are not registered as its owner any more."),
    Cast.OUT_OF_SCOPE: N_("Not recorded for {rooms}: it is not in the building or unit whose owners decide."),
    Cast.PROXY_ON_RECORD: N_("Not changed for {rooms}: the proxy the owner authorised has voted for it, and that "
                             "ballot stands; only the proxy may change it until the close."),
    Cast.PROXY_REVOKED: N_("Not recorded for {rooms}: the owner's authorisation was taken back."),
}
# What the other owners of a room it was recorded for hear: an online ballot (by a co-owner), or a paper one.
CO_OWNER_TOLD = {
    False: N_("{name}, a co-owner of {room}, submitted the ballot for the room in {title}. A room has one ballot: "
              "whichever co-owner submits last speaks for it."),
    True: N_("A paper ballot for {room} in {title} was entered by the committee. The last ballot counts for the "
             "room."),
}
PROXY_TOLD = N_("{name}, whom you authorised, voted for {room} in {title} as your proxy.")
PROXY_ENDED = N_("{name} voted in {title} themselves, so your authorisation to vote for their rooms has ended.")


async def submit_step(ctx: MemberContext, draft: BallotDraft, value: str) -> Outcome:
    t = ctx.t
    if value == "restart":
        return Go(*await _next_asked(ctx, draft.model_copy(update={"choices": (), "picked": ()})))
    assembly = await store.assembly_of(ctx.session, draft.assembly, ctx.compound_id)
    if assembly is None:
        return Done(Reply(t("This assembly does not exist.")))
    cast = await store.cast_ballot(ctx.session, draft.assembly, draft.rooms, draft.choices, draft.paper,
                                   ctx.person_id, ctx.now)
    if cast.voting != store.Voting.OPEN:
        return Done(_not_voting(ctx, assembly, ctx.compound, cast.voting))
    labels = await store.room_names(ctx.session, ctx.compound_id)
    replies: list[Reply] = []
    proxied = dict(cast.proxied)
    for room_id in cast.rooms_with(*store.TAKEN):
        co_owners = [p for p in await store.owners_of_room(ctx.session, room_id) if p != ctx.person_id]
        told = PROXY_TOLD if room_id in proxied else CO_OWNER_TOLD[draft.paper]
        replies += await _tell(ctx, co_owners, told, name=ctx.person.name, room=labels.get(room_id, "?"),
                               title=assembly.title)
    if cast.ended_proxy is not None:
        replies += await _tell(ctx, [cast.ended_proxy.proxy_id], PROXY_ENDED, name=ctx.person.name,
                               title=assembly.title)
    lines = []
    if recorded := await _voted_for(ctx, t, cast.rooms_with(*store.TAKEN), proxied):
        lines.append(t("The paper ballot is recorded for {rooms}.", rooms=recorded) if draft.paper else
                     t("Thank you! The ballot is recorded for {rooms}. You can change it until {closes} by pressing "
                       "Vote again; the last ballot counts.", rooms=recorded,
                       closes=ctx.local(assembly.closes_at, ctx.compound)))
        replies.append(await refresh_posting(ctx, assembly, ctx.compound))
    lines += [t(why, rooms=_named(labels, rooms)) for outcome, why in NOT_TAKEN.items()
              if (rooms := cast.rooms_with(outcome))]
    return Done([Reply("\n".join(lines), toast=t("Recorded") if recorded else None), *replies])


# The steps the online, the proxy's and the paper ballot share.
proxy_ballot.step("room", ask=_ask_room, next=("motion",), answer=answers.Choice(
    refusal=N_("Please choose a room with the buttons above.")))(room_step)
for _flow in (ballot, proxy_ballot, paper):
    _flow.step("motion", ask=_ask_choice, answer=answers.Choice(), next=("motion", "confirm"))(choice_step)
    _flow.step("confirm", ask=_summary, next=("motion",), answer=answers.Choice(
        values=("submit", "restart"), refusal=N_("Please press Submit, or Start over.")))(submit_step)


# ---- proxies (委托投票): /proxy --------------------------------------------------------------------------------

PROXY_REFUSED = {
    store.ProxyRefusal.NOT_VOTING: N_("Voting in {title} is over, so the authorisation can no longer change."),
    store.ProxyRefusal.NOT_OWNER: N_("Only an owner of a room in the compound can authorise a proxy."),
    store.ProxyRefusal.SELF: N_("You cannot authorise yourself. Please name another person."),
    store.ProxyRefusal.NOT_MEMBER: N_("The proxy must have joined the compound (/join) first."),
    store.ProxyRefusal.ALREADY: N_("You have already authorised someone for {title}. Revoke that first with /proxy."),
    store.ProxyRefusal.VOTED: N_("Your proxy has already voted in {title}, so the authorisation can no longer be "
                                 "revoked; their ballot stands until the close."),
    store.ProxyRefusal.GONE: N_("That authorisation is no longer in force; nothing was changed."),
}


class ProxyDraft(Draft):
    assembly: int
    title: str
    proxy: int = 0
    proxy_name: str = ""


proxying = Flow("proxy", ProxyDraft, title=N_("authorising a proxy"), roles=[Role.OWNER])


def _proxy_refused(ctx: Context, why: store.ProxyRefusal, title: str) -> Reply:
    return Reply(ctx.t(PROXY_REFUSED[why], title=title), toast=ctx.t("Not changed"))


@router.command("proxy", group="civic", roles=[Role.OWNER], private=True, help="Authorise someone to vote for your rooms (委托投票)",
                order=44)
async def proxy_command(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    coming = [a for a in await store.assemblies_of(ctx.session, ctx.compound_id)
              if store.voting(a, ctx.now) in (store.Voting.OPEN, store.Voting.NOT_YET)]
    if not coming:
        return Reply(t("No owners' assembly of {compound} is open or coming up.", compound=ctx.compound.name))
    lines = [t("An owner may authorise one person (a family member or a neighbour who has joined {compound}) to "
               "vote for their rooms in an assembly. It can be revoked until the proxy votes; if you vote yourself "
               "first, it ends.", compound=ctx.compound.name)]
    buttons: list[Button] = []
    for assembly in coming:
        given = await store.active_proxy(ctx.session, assembly.stored_id, ctx.person_id)
        if given is None:
            lines.append(t("{title}: no proxy.", title=assembly.title))
            buttons.append(Button.do(t("Authorise for {title}", title=assembly.title), "assembly.proxy_new",
                                     assembly=assembly.id))
        else:
            name = (await _names(ctx, [given.proxy_id])).get(given.proxy_id, "?")
            lines.append(t("{title}: {name} is authorised since {when}.", title=assembly.title, name=name,
                           when=ctx.local(given.created_at, ctx.compound)))
            buttons.append(Button.do(t("Revoke for {title}", title=assembly.title), "assembly.proxy_revoke",
                                     proxy=given.id))
    return Reply("\n".join(lines), buttons=rows(*buttons))


@router.button("assembly.proxy_new", roles=[Role.OWNER], private=True)
async def proxy_new(ctx: MemberContext, msg: Incoming) -> Replies:
    assembly = await store.assembly_of(ctx.session, int(ctx.args["assembly"]), ctx.compound_id)
    if assembly is None:
        return Reply(ctx.t("That assembly does not belong to your compound."))
    return await proxying.begin(ctx, ProxyDraft(assembly=assembly.stored_id, title=assembly.title))


@proxying.step("who", answer=answers.Text(40, what=N_("phone number or name")), next=("confirm",),
               ask=lambda ctx, draft: Reply(ctx.t(
                   "Who will vote for your rooms in {title}? Type their phone number, or their name as registered in "
                   "{compound}.", title=draft.title, compound=ctx.compound.name)))
async def proxy_who(ctx: MemberContext, draft: ProxyDraft, typed: str) -> Outcome:
    t = ctx.t
    found = await store.members_matching(ctx.session, ctx.compound_id, typed)
    if not found:
        return Stay(Reply(t("I found nobody in {compound} by {typed}. The proxy must have joined {compound}; please "
                            "type their phone number or registered name.", compound=ctx.compound.name, typed=typed)))
    if len(found) > 1:
        return Stay(Reply(t("Several members are called {typed}. Please type the proxy's phone number.", typed=typed)))
    name = (await _names(ctx, found)).get(found[0], "?")
    return Go("confirm", draft.model_copy(update={"proxy": found[0], "proxy_name": name}))


async def _ask_proxy_confirm(ctx: MemberContext, draft: ProxyDraft) -> Reply:
    t = ctx.t
    rooms = _named(await store.room_names(ctx.session, ctx.compound_id),
                   await store.owned_rooms(ctx.session, ctx.person_id, ctx.compound_id))
    return Reply(t("Authorise {name} to vote for {rooms} in {title}?", name=draft.proxy_name, rooms=rooms,
                   title=draft.title),
                 buttons=((Button.choice(t("Authorise"), "yes"), Button.choice(t("Discard"), "no")),))


@proxying.step("confirm", ask=_ask_proxy_confirm, next=(), answer=answers.Choice(
    values=("yes", "no"), refusal=N_("Please press Authorise, or Discard.")))
async def proxy_confirm(ctx: MemberContext, draft: ProxyDraft, value: str) -> Outcome:
    t = ctx.t
    if value == "no":
        return Done(Reply(t("Discarded. Nothing was authorised.")))
    assembly = await store.assembly_of(ctx.session, draft.assembly, ctx.compound_id)
    if assembly is None:
        return Done(Reply(t("That assembly does not belong to your compound.")))
    given = await store.authorise(ctx.session, assembly, ctx.person_id, draft.proxy, ctx.now)
    if isinstance(given, store.ProxyRefusal):
        return Done(_proxy_refused(ctx, given, assembly.title))
    rooms = _named(await store.room_names(ctx.session, ctx.compound_id), given.room_ids)
    told = await _tell(ctx, [given.proxy_id], lambda pt: Reply(
        pt("{owner} has authorised you to vote for {rooms} in the owners' assembly {title}. Press Vote once voting "
           "is open; the owner can revoke this until you vote.", owner=ctx.person.name, rooms=rooms,
           title=assembly.title), buttons=_vote(pt, assembly)))
    return Done([Reply(t("Recorded at {when}: {name} may vote for {rooms} in {title}. I told them.",
                         when=ctx.local(given.created_at, ctx.compound), name=draft.proxy_name, rooms=rooms,
                         title=assembly.title)), *told])


@router.button("assembly.proxy_revoke", roles=[Role.OWNER], private=True)
async def proxy_revoke(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    revoked = await store.revoke_proxy(ctx.session, int(ctx.args["proxy"]), ctx.person_id, ctx.now)
    if isinstance(revoked, store.ProxyRefusal):
        proxy = await ctx.session.get(store.Proxy, int(ctx.args["proxy"]))
        assembly = await ctx.session.get(store.Assembly, proxy.assembly_id) if proxy else None
        return _proxy_refused(ctx, revoked, assembly.title if assembly else "")
    assembly = await store.assembly_of(ctx.session, revoked.assembly_id, ctx.compound_id)
    title = assembly.title if assembly else ""
    name = (await _names(ctx, [revoked.proxy_id])).get(revoked.proxy_id, "?")
    return [Reply(t("Revoked: {name} may no longer vote for your rooms in {title}.", name=name, title=title),
                  toast=t("Revoked")),
            *await _tell(ctx, [revoked.proxy_id], PROXY_REVOKED_TOLD, owner=ctx.person.name, title=title)]


PROXY_REVOKED_TOLD = N_("{owner} has revoked your authorisation to vote for their rooms in {title}.")

router.flow(proxy_ballot, proxying)


# ---- vetting the candidates (党支部把关 / 资格联审): /vet ---------------------------------------------------

VETTERS = (Role.SECRETARY, Role.OFFICIAL)
# Who decides a candidate at each vetting level, and the candidate's status that waits for them.
LEVEL_ROLE = {"branch": Role.SECRETARY, "street": Role.OFFICIAL}
LEVEL_OF = {store.Vetting.PENDING: "branch", store.Vetting.CLEARED: "street"}
PLAIN_APPROVAL = "plain"


def _vet_button(t: Translator) -> tuple[tuple[Button, ...], ...]:
    return ((Button.do(t("Vet the candidates"), "assembly.vet"),),)


def _levels_of(ctx: MemberContext) -> list[str]:
    return [level for level in store.vetting_levels(ctx.compound) if ctx.has(LEVEL_ROLE[level])]


@router.command("vet", roles=VETTERS, private=True, help="Vet the candidates of an election (资格审核)", order=43)
async def vet(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    waiting = [pair for level in _levels_of(ctx) for pair in await store.to_vet(ctx.session, ctx.compound_id, level)]
    if not waiting:
        return Reply(t("No candidate is waiting for your vetting in {compound}.", compound=ctx.compound.name))
    lines = [t("Candidates waiting for your decision (press one to approve or reject it, with a reason):")]
    lines += [f"· {vetting.name}（{assembly.title}）" for assembly, vetting in waiting]
    buttons = [Button.do(vetting.name, "assembly.vet_one", vetting=vetting.id) for _assembly, vetting in waiting]
    return Reply("\n".join(lines), buttons=rows(*buttons, per_row=3))


router.button("assembly.vet", roles=VETTERS, private=True)(vet)


class VetDraft(Draft):
    vetting: int
    name: str
    title: str
    level: str
    approve: bool = False


vetting_flow = Flow("vetting", VetDraft, title=N_("vetting a candidate"), roles=VETTERS)


@router.button("assembly.vet_one", roles=VETTERS, private=True)
async def vet_one(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    vetting = await ctx.session.get(store.CandidateVetting, int(ctx.args["vetting"]))
    assembly = await store.assembly_of(ctx.session, vetting.assembly_id, ctx.compound_id) if vetting else None
    level = LEVEL_OF.get(vetting.status) if vetting else None
    if vetting is None or assembly is None or level is None or level not in _levels_of(ctx):
        return Reply(t("That candidate is not waiting for your decision (already decided, or not your compound)."))
    return await vetting_flow.begin(ctx, VetDraft(vetting=vetting.stored_id, name=vetting.name, title=assembly.title,
                                                   level=level))


def _ask_decision(ctx: MemberContext, draft: VetDraft) -> Reply:
    t = ctx.t
    return Reply(t("Candidate {name} in {title}: do they meet the conditions for the owners' committee?",
                   name=draft.name, title=draft.title),
                 buttons=((Button.choice(t("Qualified"), "approve"), Button.choice(t("Not qualified"), "reject")),))


@vetting_flow.step("decision", ask=_ask_decision, next=("reason",), answer=answers.Choice(
    values=("approve", "reject"), refusal=N_("Please press Qualified or Not qualified.")))
async def decision_step(ctx: MemberContext, draft: VetDraft, value: str) -> Outcome:
    return Go("reason", draft.model_copy(update={"approve": value == "approve"}))


def _ask_reason(ctx: MemberContext, draft: VetDraft) -> Reply:
    t = ctx.t
    if draft.approve:
        return Reply(t("Why is {name} approved? Type a remark, or press Meets the conditions.", name=draft.name),
                     buttons=rows(Button.choice(t("Meets the conditions"), PLAIN_APPROVAL)))
    return Reply(t("Why is {name} rejected? The reason is kept on record and told to the committee, not posted to "
                   "the group.", name=draft.name))


@vetting_flow.step("reason", ask=_ask_reason, next=(), answer=answers.Either(
    (answers.Choice(values=(PLAIN_APPROVAL,)), answers.Text(500, what=N_("reason")))))
async def reason_step(ctx: MemberContext, draft: VetDraft, value: str) -> Outcome:
    t = ctx.t
    if value == PLAIN_APPROVAL and not draft.approve:
        return Stay(Reply(t("Please type the reason for rejecting {name}.", name=draft.name)))
    reason = t("Meets the conditions") if value == PLAIN_APPROVAL else value
    done, vetting = await store.decide_candidate(ctx.session, draft.vetting, ctx.compound, draft.level, draft.approve,
                                                 reason, ctx.person_id, ctx.now)
    if done == store.Vetted.STALE or vetting is None:
        return Done(Reply(t("{name} is no longer waiting for your decision; nothing was changed.", name=draft.name)))
    said = t("{name}: approved.", name=draft.name) if draft.approve else t("{name}: rejected.", name=draft.name)
    replies = [Reply(said, toast=said)]
    assembly = await store.assembly_of(ctx.session, vetting.assembly_id, ctx.compound_id)
    if assembly is None:
        return Done(replies)
    if done == store.Vetted.STREET_NEXT:
        replies += await ctx.tell_role(Role.OFFICIAL, ctx.compound_id, lambda tr: Reply(tr(
            "The party branch of {compound} has vetted the candidates of {title}; they await an official's second "
            "approval.", compound=ctx.compound.name, title=assembly.title), buttons=_vet_button(tr)))
    elif done == store.Vetted.LIST_DONE:
        replies += await vetted_list(ctx, assembly)
    else:
        left = len(await store.to_vet(ctx.session, ctx.compound_id, draft.level))
        if left:
            replies[0] = Reply(said + "\n" + t("{n} more candidates are waiting.", n=left), buttons=_vet_button(t),
                               toast=said)
    return Done(replies)


async def vetted_list(ctx: MemberContext, assembly: store.Assembly) -> list[Reply]:
    """Every candidate is decided: the vetted list goes to the group; the rejections with their reasons to the
    committee and the secretaries; and voting opens now if its time has come."""
    tr = ctx.translator(ctx.compound.language)
    vettings = await store.vettings_of(ctx.session, assembly.stored_id)
    approved = "、".join(v.name for v in vettings if v.status == store.Vetting.APPROVED) or tr("nobody")
    rejected = [v for v in vettings if v.status == store.Vetting.REJECTED]
    lines = [tr("Candidates of {title} after vetting (资格审核): approved {approved}.", title=assembly.title,
                approved=approved)]
    if rejected:
        lines.append(tr("Not approved: {names}.", names="、".join(v.name for v in rejected)))
    replies = [Reply("\n".join(lines), to=ToGroups(assembly.compound_id))]
    if rejected:
        replies += await ctx.tell_role(STAFF, assembly.compound_id, lambda pt: "\n".join([
            pt("Candidates of {title} not approved in vetting, with the reasons:", title=assembly.title),
            *(f"· {v.name}：{v.street_reason if v.street_by else v.branch_reason}" for v in rejected)]))
    if await store.start_voting(ctx.session, assembly, ctx.now):
        replies += await announce(ctx, assembly, ctx.compound)
    return replies


router.flow(vetting_flow)


# ---- results and cancelling ------------------------------------------------------------------------------

STANDING = {store.Standing.ELECTED: N_("elected"), store.Standing.NO_SEAT: N_("approved but no seat left"),
            store.Standing.NOT_ELECTED: N_("not elected")}
# Why a motion failed (storage.assembly.MotionResult.reasons), and the agreement its class needs.
REASONS = {"area_turnout": N_("participating area {share}, below 2/3"),
           "owner_turnout": N_("participating owners {share}, below 2/3"),
           "area_yes": N_("agreeing area {share} of the participating area, {bound} needed"),
           "owner_yes": N_("agreeing owners {share} of the participating owners, {bound} needed"),
           "nobody_elected": N_("no candidate was approved by more than half")}
BOUNDS = {store.SPECIAL_BOUND: N_("at least 3/4"), store.ORDINARY_BOUND: N_("more than 1/2")}


def _bound(kind: str) -> Fraction:
    """The share of the participating area and owners that must agree for a motion of this class."""
    return store.SPECIAL_BOUND if kind == SPECIAL else store.ORDINARY_BOUND


def result_text(ctx: BaseContext, t: Translator, assembly: store.Assembly, motions: Sequence[store.Motion],
                compound: Compound | None, scope: str = "", motion_scopes: Sequence[str] = ()) -> str:
    """The result as tallied at the close, motion by motion; `scope`: the building or unit that decided;
    `motion_scopes`: a motion's own (`_own_scopes`)."""
    by_id = {r.motion_id: r for r in store.result_from_json(assembly.result)}
    lines = [t("Result of the owners' assembly {title} (voting {opens} to {closes}):", title=assembly.title,
               opens=ctx.local(assembly.opens_at, compound), closes=ctx.local(assembly.closes_at, compound)), ""]
    if scope:
        lines.insert(1, t("Decided by the owners of {scope} only: its area and its owners are the whole.", scope=scope))
    for n, motion in enumerate(motions, 1):
        if (r := by_id.get(motion.id or 0)) is None:
            continue
        own = motion_scopes[n - 1] if n <= len(motion_scopes) else ""
        kind = t(KIND_LABELS[motion.kind]) + (f"；{t('decided by the owners of {scope} only', scope=own)}" if own else "")
        lines += [f"{n}. {motion.text}（{kind}）",
                  t("Taking part: area {area} of {total} m² ({area_share}, at least 2/3 needed); owners {owners} of "
                    "{all} ({owner_share}, at least 2/3 needed).", **_counted(r.taking_part, r.total, store.QUORUM))]
        if motion.kind == ELECTION:
            lines += [t("{name}: approved by area {area} m² ({area_share}) and {owners} owners ({owner_share}) — "
                        "{status}", name=motion.candidates[c.index] if c.index < len(motion.candidates) else "?",
                        status=t(STANDING[r.standing(c)]), **_counted(c.approve, r.taking_part, store.ORDINARY_BOUND))
                      for c in r.candidates]
        else:
            lines += [t("{choice}: area {area} m² ({area_share}), owners {owners} ({owner_share})",
                        choice=t(CHOICE_LABELS[choice]),
                        **_counted(count, r.taking_part, _bound(motion.kind) if choice == YES else None))
                      for choice, count in ((YES, r.yes), (NO, r.no), (ABSTAIN, r.abstain))]
        if r.passed and motion.kind != ELECTION:
            lines.append(t("Result: passed."))
        elif r.passed and not r.vacant(motion.seats):
            lines.append(t("Result: the election is valid; all {seats} seats are filled.", seats=motion.seats))
        elif r.passed:
            lines.append(t("Result: the election is valid, but only {elected} of {seats} seats are filled: {vacant} "
                           "vacant.", elected=len(r.elected), seats=motion.seats, vacant=r.vacant(motion.seats)))
        else:
            lines.append(t("Result: not passed — {why}.", why="；".join(
                t(REASONS[code], share=percent(share, bound), bound=t(BOUNDS[bound]) if bound in BOUNDS else "")
                for code, share, bound in r.reasons)))
        if r.vacant(motion.seats):
            lines.append(t("Vacant seats: {vacant} of {seats}. They stay vacant until a by-election (补选) fills them; "
                           "the committee opens it from this result (/results → the result → By-election).",
                           vacant=r.vacant(motion.seats), seats=motion.seats))
        lines.append("")
    lines.append(t("Counted under Civil Code Art. 278 and Art. 9 of the Supreme People's Court interpretation on "
                   "building distinct ownership: area by each room's registered exclusive area; one owner of several "
                   "rooms counts once (by membership, and by the roster's name and phone or owner id), co-owners of a "
                   "room count as one, a room with no owner on record as one, the developer's unsold rooms as one."))
    return "\n".join(lines).strip()


@router.command("results", group="civic", member=True, help="Owners' assemblies and their results", order=41)
async def results(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    assemblies = await store.assemblies_of(ctx.session, ctx.compound_id)
    if not assemblies:
        return Reply(t("{compound} has held no owners' assembly yet.", compound=ctx.compound.name))
    lines = [t("Owners' assemblies of {compound}:", compound=ctx.compound.name)]
    buttons: list[Button] = []
    for assembly in assemblies:
        lines.append(f"#{assembly.id} {assembly.title} · {ctx.local(assembly.closes_at, ctx.compound)} · "
                     f"{t(STATUS_LABELS[assembly.status])}")
        if assembly.status == AssemblyStatus.CLOSED:
            buttons.append(Button.do(t("Result #{id}", id=assembly.id), "assembly.result", assembly=assembly.id))
        elif store.cancellable(assembly) and ctx.has(*STAFF) and ctx.private:
            buttons.append(Button.do(t("Cancel #{id}", id=assembly.id), "assembly.cancel", assembly=assembly.id))
        if assembly.status != AssemblyStatus.CLOSED and ctx.has(*STAFF) and ctx.private:
            buttons.append(Button.do(t("Paper ballots #{id} (PDF)", id=assembly.id), "assembly.print",
                                     assembly=assembly.id))
    return Reply("\n".join(lines), buttons=rows(*buttons, per_row=2))


@router.button("assembly.result", member=True)
async def show_result(ctx: MemberContext, msg: Incoming) -> Replies:
    assembly = await store.assembly_of(ctx.session, int(ctx.args["assembly"]), ctx.compound_id)
    if assembly is None or assembly.status != AssemblyStatus.CLOSED:
        return Reply(ctx.t("There is no result for that assembly."))
    motions = await store.motions_of(ctx.session, assembly.stored_id)
    publicity = await store.publicity_of(ctx.session, assembly.stored_id)
    text = result_text(ctx, ctx.t, assembly, motions, ctx.compound,
                       await store.scope_name(ctx.session, store.scope_of(assembly)), await _own_scopes(ctx, motions))
    return Reply("\n\n".join(filter(None, (text, _publicity_line(ctx, ctx.t, publicity, ctx.compound)))),
                 buttons=_by_election_buttons(ctx, assembly, motions))


def _by_election_buttons(ctx: MemberContext, assembly: store.Assembly,
                         motions: Sequence[store.Motion]) -> tuple[tuple[Button, ...], ...]:
    """A By-election button for each election with vacant seats, for the staff in a private chat."""
    if not (ctx.private and ctx.has(*STAFF)):
        return ()
    by_id = {r.motion_id: r for r in store.result_from_json(assembly.result)}
    return rows(*(Button.do(ctx.t("By-election for motion {n}", n=n), "assembly.byelection", assembly=assembly.id,
                            motion=motion.id)
                  for n, motion in enumerate(motions, 1)
                  if (r := by_id.get(motion.id or 0)) is not None and r.vacant(motion.seats)))


@router.button("assembly.byelection", roles=STAFF, private=True)
async def by_election_pressed(ctx: MemberContext, msg: Incoming) -> Replies:
    """One press: a new assembly's draft with the by-election of the vacant seats (the candidates not elected
    stand again, unless changed), reviewed and given its window as in /assembly."""
    t = ctx.t
    assembly = await store.assembly_of(ctx.session, int(ctx.args["assembly"]), ctx.compound_id)
    motion = next((m for m in await store.motions_of(ctx.session, assembly.stored_id)
                   if m.id == int(ctx.args["motion"])), None) if assembly is not None else None
    if assembly is None or motion is None:
        return Reply(t("There is no result for that assembly."))
    if not _by_election_buttons(ctx, assembly, [motion]):
        return Reply(t("No seat of that election is vacant."))
    spec = store.by_election(assembly, motion, "")
    draft = NewAssembly(title=t("{title}: by-election", title=assembly.title)[:200],
                        building_id=assembly.building_id, unit_id=assembly.unit_id)
    if spec is None:
        return await opening.begin(ctx, draft, step="candidates")
    spec = spec.model_copy(update={"text": t("By-election of {seats} for the vacant seats of {title}: {names}",
                                              seats=spec.seats, title=assembly.title, names="、".join(spec.candidates))})
    prepared = draft.model_copy(update={"motions": (spec,)})
    before = ctx.convo.key
    asked = await opening.begin(ctx, prepared, step="motion")
    if ctx.convo.key == before or not isinstance(asked, Reply):  # refused: busy, or not allowed
        return asked
    return [Reply("\n".join([f"《{prepared.title}》", *_motion_lines(t, prepared.motions)])), asked]


CANCELLED_NOTICE = N_("The owners' assembly {title} has been cancelled. Reason: {reason}")


class Cancelling(Draft):
    assembly: int
    title: str


cancelling = Flow("assembly_cancel", Cancelling, title=N_("cancelling an owners' assembly"), roles=STAFF)


@router.button("assembly.cancel", roles=STAFF, private=True)
async def cancel_pressed(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    assembly = await store.assembly_of(ctx.session, int(ctx.args["assembly"]), ctx.compound_id)
    if assembly is None:
        return Reply(t("That assembly does not belong to your compound."))
    if not store.cancellable(assembly):
        return Reply(t("That assembly is already {status}.", status=t(STATUS_LABELS[assembly.status])))
    return await cancelling.begin(ctx, Cancelling(assembly=assembly.stored_id, title=assembly.title))


@cancelling.step("reason", answer=answers.Text(500, what=N_("reason")), ask=lambda ctx, draft: Reply(ctx.t(
    "Why is {title} being cancelled? The reason is announced to the group chats and to every owner.",
    title=draft.title)))
async def cancel_reason(ctx: MemberContext, draft: Cancelling, reason: str) -> Outcome:
    t = ctx.t
    assembly = await store.cancel_assembly(ctx.session, draft.assembly, ctx.compound_id, reason)
    if assembly is None:
        return Done(Reply(t("That assembly can no longer be cancelled.")))
    tr = ctx.translator(ctx.compound.language)
    replies = [Reply(t("{title} is cancelled; I told the group chats and the owners.", title=assembly.title)),
               Reply(tr(CANCELLED_NOTICE, title=assembly.title, reason=reason), to=ToGroups(assembly.compound_id))]
    if assembly.announced_at is not None:
        replies.append(await refresh_posting(ctx, assembly, ctx.compound))
    owners = await store.owner_people(ctx.session, assembly.compound_id, await store.electorate(ctx.session, assembly))
    return Done(replies + await _tell(ctx, owners, CANCELLED_NOTICE, title=assembly.title, reason=reason))


# ---- publicity (公示) and objections (异议): /objection --------------------------------------------------------

OBJECTION_REFUSED = {
    store.ObjectionRefusal.NOT_PUBLISHED: N_("The result of {title} is not in its publication period, so no objection "
                                             "can be lodged now."),
    store.ObjectionRefusal.NOT_ALLOWED: N_("Only owners and members of the owners' supervisory board can object to "
                                           "a result."),
}


def _publicity_line(ctx: BaseContext, t: Translator, publicity: store.Publicity | None,
                    compound: Compound | None) -> str:
    if publicity is None:
        return ""
    if publicity.final_at is not None:
        return t("The result is final since {when}.", when=ctx.local(publicity.final_at, compound))
    return t("Published for objections until {ends} (公示期): owners and supervisors may object with /objection; the "
             "result is final once the period has ended and every objection is answered.",
             ends=ctx.local(publicity.ends_at, compound))


def _object_button(t: Translator, assembly: store.Assembly) -> tuple[tuple[Button, ...], ...]:
    return ((Button.private(t("Lodge an objection"), "assembly.object", assembly=assembly.id),),)


class ObjectionDraft(Draft):
    assembly: int
    title: str
    reason: str = ""  # typed with /objection before the result was chosen: lodged once it is


objecting = Flow("objection", ObjectionDraft, title=N_("lodging an objection to a result"))


async def _published(ctx: MemberContext) -> list[store.Assembly]:
    """The compound's results in their publication period now."""
    return [a for a in await store.assemblies_of(ctx.session, ctx.compound_id)
            if (p := await store.publicity_of(ctx.session, a.stored_id)) is not None and ctx.now < p.ends_at]


@router.command("objection", group="civic", member=True, private=True, flow=True,
                help="Object to an assembly's published result (异议)", order=45)
async def objection_command(ctx: MemberContext, msg: Incoming) -> Replies:
    """/objection, or /objection with the reason: one published result takes the reason at once (or asks for it);
    of several, the person chooses which, and a reason typed with the command is kept for it."""
    t = ctx.t
    published = await _published(ctx)
    if not published:
        return Reply(t("No result of {compound} is in its publication period now.", compound=ctx.compound.name))
    typed = answers.clean_text(str(ctx.args.get("command_args", ""))[:4 * OBJECTION_LIMIT])
    said: list[Reply] = []
    if len(typed) > OBJECTION_LIMIT:
        said, typed = [Reply(t("Your objection is {length} characters; please send it again within {limit}.",
                               length=len(typed), limit=OBJECTION_LIMIT))], ""
    if len(published) > 1:
        asked = await objecting.begin(ctx, ObjectionDraft(assembly=0, title="", reason=typed), step="which")
    elif typed:
        return await _lodge(ctx, ObjectionDraft(assembly=published[0].stored_id, title=published[0].title), typed)
    else:
        asked = await objecting.begin(ctx, ObjectionDraft(assembly=published[0].stored_id, title=published[0].title))
    return [*said, *(asked if isinstance(asked, list) else [asked])]


@router.button("assembly.object", member=True, private=True)
async def object_pressed(ctx: MemberContext, msg: Incoming) -> Replies:
    assembly = await store.assembly_of(ctx.session, int(ctx.args["assembly"]), ctx.compound_id)
    if assembly is None:
        return Reply(ctx.t("That assembly does not belong to your compound."))
    return await objecting.begin(ctx, ObjectionDraft(assembly=assembly.stored_id, title=assembly.title))


OBJECTION_LIMIT = 1000


@objecting.step("reason", answer=answers.Text(OBJECTION_LIMIT, what=N_("objection")), ask=lambda ctx, draft: Reply(
    ctx.t("What is your objection to the result of {title}? Please give the reason; the committee answers it and I "
          "tell you the answer.", title=draft.title)))
async def objection_reason(ctx: MemberContext, draft: ObjectionDraft, reason: str) -> Outcome:
    return Done(await _lodge(ctx, draft, reason))


async def _ask_which(ctx: MemberContext, draft: ObjectionDraft) -> Reply:
    return Reply(ctx.t("Which result do you object to?"), buttons=rows(*(
        Button.choice(a.title, a.id) for a in await _published(ctx))))


@objecting.step("which", ask=_ask_which, next=("reason",), answer=answers.Choice(
    refusal=N_("Please choose the result with the buttons above.")))
async def objection_which(ctx: MemberContext, draft: ObjectionDraft, assembly_id: int) -> Outcome:
    # The buttons carry this compound's published results; lodging checks the period again.
    assembly = await store.assembly_of(ctx.session, assembly_id, ctx.compound_id)
    if assembly is None:
        return Stay(Reply(ctx.t("Please choose the result with the buttons above.")))
    chosen = draft.model_copy(update={"assembly": assembly.stored_id, "title": assembly.title})
    if draft.reason:
        return Done(await _lodge(ctx, chosen, draft.reason))
    return Go("reason", chosen)


async def _lodge(ctx: MemberContext, draft: ObjectionDraft, reason: str) -> list[Reply]:
    """The objection recorded (or refused, and why), and the committee told with an Answer button."""
    t = ctx.t
    lodged = await store.lodge_objection(ctx.session, draft.assembly, ctx.compound_id, ctx.person_id, reason, ctx.now)
    if isinstance(lodged, store.ObjectionRefusal):
        return [Reply(t(OBJECTION_REFUSED[lodged], title=draft.title))]
    told = await ctx.tell_role(STAFF, ctx.compound_id, lambda tr: Reply(
        tr("Objection #{n} to the result of {title}, from {name}: {reason}", n=lodged.id, title=draft.title,
           name=ctx.person.name, reason=lodged.reason),
        buttons=((Button.do(tr("Answer the objection"), "assembly.answer", objection=lodged.id),),)))
    return [Reply(t("Your objection #{n} is recorded; the committee will answer it.", n=lodged.id)), *told]


class AnswerDraft(Draft):
    objection: int
    reason: str


answering = Flow("objection_answer", AnswerDraft, title=N_("answering an objection"), roles=STAFF)


@router.button("assembly.answer", roles=STAFF, private=True)
async def answer_pressed(ctx: MemberContext, msg: Incoming) -> Replies:
    objection = await ctx.session.get(store.Objection, int(ctx.args["objection"]))
    if objection is None or objection.status != store.ObjectionStatus.OPEN \
            or await store.assembly_of(ctx.session, objection.assembly_id, ctx.compound_id) is None:
        return Reply(ctx.t("That objection is answered already, or not of your compound."))
    return await answering.begin(ctx, AnswerDraft(objection=objection.stored_id, reason=objection.reason))


@answering.step("answer", answer=answers.Text(1000, what=N_("the committee's answer")), ask=lambda ctx, draft: Reply(ctx.t(
    "The objection: {reason}\nWhat is the committee's answer? I send it to the objector.", reason=draft.reason)))
async def answer_step(ctx: MemberContext, draft: AnswerDraft, answer: str) -> Outcome:
    t = ctx.t
    answered = await store.answer_objection(ctx.session, draft.objection, ctx.compound_id, ctx.person_id, answer,
                                            ctx.now)
    if answered is None:
        return Done(Reply(t("That objection is answered already, or not of your compound.")))
    assembly = await ctx.session.get(store.Assembly, answered.assembly_id)
    return Done([Reply(t("The answer is sent to the objector.")), *await _tell(
        ctx, [answered.person_id], OBJECTION_ANSWERED, title=assembly.title if assembly else "",
        reason=answered.reason, answer=answered.answer)])


OBJECTION_ANSWERED = N_("The committee's answer to your objection to the result of {title} (“{reason}”): {answer}")
RESULT_FINAL = N_("The publication period of the result of {title} has ended ({n} objections, all answered): the "
                  "result is final.")
RESULT_FINAL_UNOPPOSED = N_("The publication period of the result of {title} has ended (no objections): the result is "
                            "final.")


@router.job("finalise", every=timedelta(minutes=5))
async def finalise(ctx: JobContext) -> Replies:
    replies: list[Reply] = []
    for assembly in await store.finalise_due(ctx.session, ctx.now):
        compound = await ctx.session.get(Compound, assembly.compound_id)
        tr = ctx.translator(compound.language if compound else None)
        count = len(await store.objections_of(ctx.session, assembly.stored_id))
        replies.append(Reply(tr(RESULT_FINAL if count else RESULT_FINAL_UNOPPOSED, title=assembly.title, n=count),
                             to=ToGroups(assembly.compound_id)))
    return replies


router.flow(objecting, answering)


# ---- scheduled: opening, reminders, closing --------------------------------------------------------------


@router.job("open", every=timedelta(minutes=1))
async def open_due(ctx: JobContext) -> Replies:
    replies: list[Reply] = []
    for assembly in await store.start_due_voting(ctx.session, ctx.now):
        replies += await announce(ctx, assembly, await ctx.session.get(Compound, assembly.compound_id))
    return replies


@router.job("remind", every=timedelta(minutes=5))
async def remind(ctx: JobContext) -> Replies:
    replies: list[Reply] = []
    for assembly in await store.voting_now(ctx.session, ctx.now):
        replies += await send_reminders(ctx, assembly, await ctx.session.get(Compound, assembly.compound_id))
    return replies


@router.job("close", every=timedelta(minutes=1))
async def close_due(ctx: JobContext) -> Replies:
    replies: list[Reply] = []
    for assembly in await store.close_due_voting(ctx.session, ctx.now):
        compound = await ctx.session.get(Compound, assembly.compound_id)
        motions = await store.motions_of(ctx.session, assembly.stored_id)
        voters = await store.voters_of(ctx.session, assembly.stored_id)
        tr = ctx.translator(compound.language if compound else None)
        scope = await store.scope_name(ctx.session, store.scope_of(assembly))
        own = await _own_scopes(ctx, motions)
        replies += [await refresh_posting(ctx, assembly, compound),
                    Reply(result_text(ctx, tr, assembly, motions, compound, scope, own), to=ToGroups(assembly.compound_id),
                          buttons=pages.link_buttons(tr, ctx.settings, pages.assembly_path(compound, assembly.stored_id))
                          if compound else ()),
                    *await _tell(ctx, voters, partial(result_text, ctx, assembly=assembly, motions=motions,
                                                      compound=compound, scope=scope, motion_scopes=own))]
        publicity = await store.publicity_of(ctx.session, assembly.stored_id)
        replies.append(Reply(_publicity_line(ctx, tr, publicity, compound), buttons=_object_button(tr, assembly),
                             to=ToGroups(assembly.compound_id)))
    return replies


router.flow(opening, ballot, paper, cancelling)

__all__ = ["router", "start_prepared_assembly"]


# ---- the printable paper ballot (表决票) ---------------------------------------------------------------------


@router.button("assembly.print", roles=STAFF, private=True)
async def print_ballots(ctx: MemberContext, msg: Incoming) -> Replies:
    """The paper ballots as one PDF, a page per room of the assembly's electorate (its building's or unit's rooms
    when scoped), for the owners who vote on paper."""
    t = ctx.t
    assembly = await store.assembly_of(ctx.session, int(ctx.args.get("assembly", 0)), ctx.compound_id)
    if assembly is None:
        return Reply(t("That assembly is not one of {compound}'s.", compound=ctx.compound.name),
                     toast=t("Not allowed"))
    motions = await store.motions_of(ctx.session, assembly.stored_id)
    scoped = await store.electorate(ctx.session, assembly)
    rooms = [printouts.BallotRoom(label, f"{area:.2f}")
             for room_id, (label, area) in (await store.room_labels(ctx.session, ctx.compound_id)).items()
             if scoped is None or room_id in scoped]
    ballot = printouts.Ballot(ctx.compound.name, assembly.title, [
        printouts.BallotMotion(n, motion.text, tuple(motion.candidates) if motion.kind == ELECTION else (),
                               motion.seats) for n, motion in enumerate(motions, 1)],
        rooms, ctx.local(assembly.closes_at, ctx.compound))
    try:
        data = await asyncio.to_thread(printouts.ballot_pdf, t, ballot)
    except printouts.NoFont:
        return Reply(t("The printable ballot needs a Chinese font on the server (fonts-noto-cjk); ask the operator."))
    return Reply(t("Paper ballots for #{id} {title}: {n} pages, one per room.", id=assembly.id, title=assembly.title,
                   n=len(rooms)), document=Media(data, f"ballots-{ctx.compound.code}-{assembly.id}.pdf", printouts.PDF))
