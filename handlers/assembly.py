"""Owners' assemblies (业主大会): opening with motions and elections, announcing, voting per room, paper
ballots, reminders (催票), closing with the Art. 278 tally, results and cancellation."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from bot.core.context import BaseContext, Context, JobContext
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, ToGroups, ToPerson, rows
from storage import assembly as store
from storage.assembly import ABSTAIN, CANCELLED, CLOSED, ELECTION, NO, OPEN, ORDINARY, SCHEDULED, SPECIAL, YES
from storage.compounds import Compound, compound_setting
from storage.people import Person, Role

router = Router("assembly")

STAFF = (Role.SECRETARY, Role.COMMITTEE)
CHOICE_LABELS = {YES: N_("Agree"), NO: N_("Against"), ABSTAIN: N_("Abstain")}
TYPED_CHOICES = {"同意": YES, "赞成": YES, "agree": YES, "yes": YES, "反对": NO, "反對": NO, "against": NO, "no": NO,
                 "弃权": ABSTAIN, "棄權": ABSTAIN, "abstain": ABSTAIN}
KIND_LABELS = {ORDINARY: N_("ordinary matter: more than half must agree"),
               SPECIAL: N_("special matter: at least three quarters must agree"),
               ELECTION: N_("election")}
ART_278 = N_(
    "Civil Code Art. 278: special matters (at least 3/4 of the participating area and owners must agree) are "
    "raising maintenance funds; rebuilding or reconstructing buildings and their facilities; changing the use of "
    "common parts or running a business with them. Everything else is ordinary (more than 1/2): the assembly's "
    "rules, the management covenant, electing or replacing committee members, hiring or dismissing the property "
    "company, using maintenance funds, other major matters.")
STATUS_LABELS = {SCHEDULED: N_("voting not open yet"), OPEN: N_("voting open"), CLOSED: N_("voting closed"),
                 CANCELLED: N_("assembly cancelled")}
MAX_MOTIONS = 20
MAX_CANDIDATES = 20


def posting_key(assembly_id: int) -> str:
    return f"assembly:{assembly_id}"


def percent(share: Fraction) -> str:
    return f"{float(share) * 100:.1f}%"


def area_text(area: Fraction) -> str:
    return f"{float(area):.2f}"


def bound_text(bound: Fraction) -> str:
    return f"{bound.numerator}/{bound.denominator}"


# ---- opening ---------------------------------------------------------------------------------------------


@router.command("assembly", roles=STAFF, private=True, flow=True, help="Open an owners' assembly vote", order=40)
async def open_assembly(ctx: Context, msg: Incoming) -> Replies:
    ctx.convo.start("assembly", "title", {"motions": []})
    return Reply(ctx.t("A new owners' assembly. What is its title? For example: 2026年第一次业主大会."))


@router.step("assembly", "title")
async def assembly_title(ctx: Context, msg: Incoming) -> Replies:
    title = (msg.text or "").strip()
    if not title or len(title) > 200:
        return Reply(ctx.t("Please type the title as text (at most 200 characters), or send /cancel."))
    ctx.convo.draft["title"] = title
    ctx.convo.goto("motion")
    return _ask_motion_text(ctx)


def _ask_motion_text(ctx: Context) -> Reply:
    t = ctx.t
    motions: list[dict[str, Any]] = ctx.convo.draft["motions"]
    buttons = [Button.choice(t("Add an election"), "election")]
    if motions:
        buttons.append(Button.choice(t("Done with motions"), "done"))
        return Reply(t("Motion {n} added. Send the text of the next motion, add an election, or press Done.",
                       n=len(motions)), buttons=rows(*buttons, per_row=2))
    return Reply(t("Send the text of motion 1, or press Add an election."), buttons=rows(*buttons))


@router.step("assembly", "motion")
async def assembly_motion(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    draft = ctx.convo.draft
    value = ctx.args.get("value")
    if value == "done" and draft["motions"]:
        ctx.convo.goto("opens")
        return Reply(t("When does voting open? Type a time such as 2026-11-24 09:00, or press Now."),
                     buttons=rows(Button.choice(t("Now"), "now")))
    if len(draft["motions"]) >= MAX_MOTIONS:
        return Reply(t("An assembly can have at most {n} motions. Please press Done.", n=MAX_MOTIONS))
    if value == "election":
        ctx.convo.goto("candidates")
        return Reply(t("Send the candidates' names, separated by commas or 、."))
    text = (msg.text or "").strip()
    if not text or len(text) > 1000:
        return Reply(t("Please type the motion as text (at most 1000 characters), or use the buttons."))
    draft["pending"] = text
    ctx.convo.goto("kind")
    suggested = store.suggest_kind(text)
    buttons = [Button.choice(("✓ " if kind == suggested else "") + t(KIND_LABELS[kind]), kind)
               for kind in (ORDINARY, SPECIAL)]
    return Reply(t("{rules}\n\nI suggest: {kind}. Please confirm the class of this motion.", rules=t(ART_278),
                   kind=t(KIND_LABELS[suggested])), buttons=rows(*buttons))


@router.step("assembly", "kind")
async def assembly_kind(ctx: Context, msg: Incoming) -> Replies:
    value = ctx.args.get("value")
    if value not in (ORDINARY, SPECIAL):
        return Reply(ctx.t("Please choose the class with one of the buttons above."))
    draft = ctx.convo.draft
    draft["motions"].append({"text": draft.pop("pending"), "kind": value})
    ctx.convo.goto("motion")
    return _ask_motion_text(ctx)


@router.step("assembly", "candidates")
async def assembly_candidates(ctx: Context, msg: Incoming) -> Replies:
    names = [n for n in re.split(r"[,，、;；\s]+", (msg.text or "").strip()) if n]
    names = list(dict.fromkeys(n[:50] for n in names))
    if not names or len(names) > MAX_CANDIDATES:
        return Reply(ctx.t("Please send between 1 and {n} names, separated by commas or 、.", n=MAX_CANDIDATES))
    ctx.convo.draft["candidates"] = names
    ctx.convo.goto("seats")
    return Reply(ctx.t("How many seats are to be filled? Each owner may approve up to that many candidates "
                       "(1 to {n}).", n=len(names)))


@router.step("assembly", "seats")
async def assembly_seats(ctx: Context, msg: Incoming) -> Replies:
    draft = ctx.convo.draft
    names: list[str] = draft["candidates"]
    text = (msg.text or "").strip()
    if not text.isdigit() or not 1 <= int(text) <= len(names):
        return Reply(ctx.t("Please send a number from 1 to {n}.", n=len(names)))
    draft["motions"].append({"text": ctx.t("Election of: {names}", names="、".join(names)), "kind": ELECTION,
                             "seats": int(text), "candidates": draft.pop("candidates")})
    ctx.convo.goto("motion")
    return _ask_motion_text(ctx)


def parse_when(text: str, now: datetime, compound: Compound | None, ctx: BaseContext) -> datetime | None:
    """"2026-11-24 09:00", "2026/11/24 9:00" or "11-24 09:00" in the compound's time zone."""
    found = re.fullmatch(r"(?:(\d{4})[-/.年])?(\d{1,2})[-/.月](\d{1,2})日?\s+(\d{1,2})[:：点](\d{2})?分?", text.strip())
    if not found:
        return None
    zone = ctx.zone(compound)
    local_now = now.astimezone(zone)
    year = int(found.group(1) or local_now.year)
    try:
        return datetime(year, int(found.group(2)), int(found.group(3)), int(found.group(4)),
                        int(found.group(5) or 0), tzinfo=zone)
    except ValueError:
        return None


@router.step("assembly", "opens")
async def assembly_opens(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    if ctx.args.get("value") == "now":
        opens = ctx.now
    else:
        parsed = parse_when(msg.text or "", ctx.now, ctx.compound, ctx)
        if parsed is None or parsed < ctx.now - timedelta(minutes=1):
            return Reply(t("Please type a time that has not passed yet, such as 2026-11-24 09:00, or press Now."),
                         buttons=rows(Button.choice(t("Now"), "now")))
        opens = parsed
    ctx.convo.draft["opens"] = opens.isoformat()
    ctx.convo.goto("closes")
    return Reply(t("When does voting close? Type a time such as {example}.",
                   example=ctx.local(opens + timedelta(days=7), ctx.compound)))


@router.step("assembly", "closes")
async def assembly_closes(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    draft = ctx.convo.draft
    opens = datetime.fromisoformat(draft["opens"])
    closes = parse_when(msg.text or "", ctx.now, ctx.compound, ctx)
    if closes is None or closes <= opens + timedelta(hours=1):
        return Reply(t("Please type a closing time at least one hour after voting opens, such as {example}.",
                       example=ctx.local(opens + timedelta(days=7), ctx.compound)))
    draft["closes"] = closes.isoformat()
    ctx.convo.goto("confirm")
    lines = [t("Please check the assembly. Once it is open, the motions and the voting window cannot change; "
               "it can only be cancelled with a reason."), "", f"《{draft['title']}》"]
    lines += _motion_lines(t, draft["motions"])
    lines.append(t("Voting: {opens} to {closes}.", opens=ctx.local(opens, ctx.compound),
                   closes=ctx.local(closes, ctx.compound)))
    return Reply("\n".join(lines), buttons=((Button.choice(t("Confirm and open"), "confirm"),
                                              Button.choice(t("Discard"), "discard")),))


def _motion_lines(t: Translator, motions: list[dict[str, Any]]) -> list[str]:
    lines = []
    for n, motion in enumerate(motions, 1):
        kind = t(KIND_LABELS[motion["kind"]])
        if motion["kind"] == ELECTION:
            kind = t("election, {seats} seats; each owner may approve up to {seats}", seats=motion["seats"])
        lines.append(f"{n}. {motion['text']}（{kind}）")
    return lines


@router.step("assembly", "confirm")
async def assembly_confirm(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    if value == "discard":
        ctx.convo.end()
        return Reply(t("Discarded. Nothing was opened."))
    if value != "confirm":
        return Reply(t("Please press Confirm and open, or Discard."))
    assert ctx.compound is not None and ctx.compound.id is not None
    draft = ctx.convo.draft
    opens = datetime.fromisoformat(draft["opens"])
    assembly = store.Assembly(
        compound_id=ctx.compound.id, title=draft["title"], opens_at=opens,
        closes_at=datetime.fromisoformat(draft["closes"]), created_by=ctx.person_id, created_at=ctx.now,
        online_replaces_paper=bool(compound_setting(ctx.compound, "assembly_online_replaces_paper", False)))
    ctx.session.add(assembly)
    await ctx.session.flush()
    assert assembly.id is not None
    for position, motion in enumerate(draft["motions"], 1):
        options = {"candidates": motion["candidates"]} if motion["kind"] == ELECTION else {}
        ctx.session.add(store.Motion(assembly_id=assembly.id, position=position, text=motion["text"],
                                     kind=motion["kind"], seats=int(motion.get("seats", 0)), options=options))
    await ctx.session.flush()
    ctx.convo.end()
    if opens <= ctx.now:
        return [Reply(t("The assembly {title} is open. I posted it to the group chats and told every owner.",
                        title=assembly.title)), *await announce(ctx, assembly, ctx.compound)]
    return Reply(t("The assembly {title} will open at {opens}; I will post it and tell every owner then.",
                   title=assembly.title, opens=ctx.local(opens, ctx.compound)))


# ---- announcing and turnout ------------------------------------------------------------------------------


async def posting_text(ctx: BaseContext, t: Translator, assembly: store.Assembly, compound: Compound | None) -> str:
    assert assembly.id is not None
    motions = await store.motions_of(ctx.session, assembly.id)
    lines = [t("Owners' assembly of {compound}: {title}", compound=compound.name if compound else "",
               title=assembly.title)]
    lines += _motion_lines(t, [{"text": m.text, "kind": m.kind, "seats": m.seats} for m in motions])
    lines.append(t("Voting: {opens} to {closes}.", opens=ctx.local(assembly.opens_at, compound),
                   closes=ctx.local(assembly.closes_at, compound)))
    if assembly.status == CANCELLED:
        lines.append(t("Cancelled: {reason}", reason=assembly.cancel_reason))
        return "\n".join(lines)
    if assembly.status == CLOSED:
        lines.append(t("Voting has closed; the result has been posted."))
        return "\n".join(lines)
    turnout = await store.assembly_turnout(ctx.session, assembly)
    lines.append(t("Turnout so far: area {area} of {total} m² ({area_share}), owners {owners} of {all} "
                   "({owner_share}); at least 2/3 of each must take part.",
                   area=area_text(turnout.taking_part.area), total=area_text(turnout.total.area),
                   area_share=percent(turnout.area_share), owners=turnout.taking_part.owners,
                   all=turnout.total.owners, owner_share=percent(turnout.owner_share)))
    return "\n".join(lines)


def _vote_button(t: Translator, assembly_id: int) -> tuple[tuple[Button, ...], ...]:
    return ((Button.private(t("Vote"), "assembly.vote", assembly=assembly_id),),)


async def announce(ctx: BaseContext, assembly: store.Assembly, compound: Compound | None) -> list[Reply]:
    """Open the window: the group posting with a Vote button, and a private word to every owner."""
    assert assembly.id is not None
    assembly.status = OPEN
    assembly.announced_at = ctx.now
    ctx.session.add(assembly)
    tr = ctx.translator(compound.language if compound else None)
    replies = [Reply(await posting_text(ctx, tr, assembly, compound), buttons=_vote_button(tr, assembly.id),
                     to=ToGroups(assembly.compound_id), posting=posting_key(assembly.id))]
    for person_id in await store.owner_people(ctx.session, assembly.compound_id):
        pt = await ctx.translator_for(person_id)
        replies.append(Reply(
            pt("The owners' assembly {title} is open for voting until {closes}. As an owner, please vote: "
               "press the button below.", title=assembly.title, closes=ctx.local(assembly.closes_at, compound)),
            buttons=((Button.do(pt("Vote"), "assembly.vote", assembly=assembly.id),),), to=ToPerson(person_id)))
    return replies


async def refresh_posting(ctx: BaseContext, assembly: store.Assembly, compound: Compound | None) -> Reply:
    """The group posting's new text; the outbox folds quick successive edits into one."""
    assert assembly.id is not None
    tr = ctx.translator(compound.language if compound else None)
    buttons = _vote_button(tr, assembly.id) if assembly.status == OPEN else ()
    # A job's replies must name a target; an edit goes to wherever the posting went.
    return Reply(await posting_text(ctx, tr, assembly, compound), buttons=buttons, edit=posting_key(assembly.id),
                 to=ToGroups(assembly.compound_id))


# ---- voting ----------------------------------------------------------------------------------------------


async def _room_labels(ctx: BaseContext, compound_id: int) -> dict[int, str]:
    return {room_id: label for room_id, (label, _area) in (await store.room_labels(ctx.session, compound_id)).items()}


def _window_refusal(t: Translator, ctx: Context, assembly: store.Assembly, compound: Compound | None) -> Reply | None:
    if assembly.status == CANCELLED:
        return Reply(t("The assembly {title} was cancelled: {reason}", title=assembly.title,
                       reason=assembly.cancel_reason), toast=t("Cancelled"))
    if assembly.status == CLOSED or ctx.now >= assembly.closes_at:
        return Reply(t("Voting in {title} closed at {closes}. Ballots after the close cannot be accepted.",
                       title=assembly.title, closes=ctx.local(assembly.closes_at, compound)),
                     toast=t("Voting has closed"))
    if assembly.status == SCHEDULED or ctx.now < assembly.opens_at:
        return Reply(t("Voting in {title} opens at {opens}.", title=assembly.title,
                       opens=ctx.local(assembly.opens_at, compound)), toast=t("Not open yet"))
    return None


@router.button("assembly.vote", private=True)
async def vote(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assembly = await ctx.session.get(store.Assembly, int(ctx.args.get("assembly", 0)))
    if assembly is None or assembly.id is None:
        return Reply(t("This assembly does not exist."))
    compound = await ctx.session.get(Compound, assembly.compound_id)
    refusal = _window_refusal(t, ctx, assembly, compound)
    if refusal is not None:
        return refusal
    rooms = await store.owned_rooms(ctx.session, ctx.person_id, assembly.compound_id)
    if not rooms:
        return Reply(t("Only owners of a room in {compound} can vote in its owners' assembly. If you own a room "
                       "there, please register as its owner first (/join), or ask the secretary.",
                       compound=compound.name if compound else ""), toast=t("Owners only"))
    if ctx.convo.flow != "ballot" and (busy := ctx.busy()) is not None:
        return busy
    ctx.convo.start("ballot", "motion", {"assembly": assembly.id, "rooms": rooms, "choices": {}, "i": 0,
                                         "paper": False})
    if len(rooms) > 1:
        ctx.convo.goto("room")
        labels = await _room_labels(ctx, assembly.compound_id)
        ballots = await store.ballots_of(ctx.session, assembly.id)
        buttons = [Button.choice(labels.get(r, "?") + (t(" (voted)") if r in ballots else ""), r) for r in rooms]
        buttons.append(Button.choice(t("The same ballot for all my rooms"), "all"))
        return Reply(t("You own {n} rooms; each room has its own ballot, weighted by its area. Which room are you "
                       "voting for?", n=len(rooms)), buttons=rows(*buttons, per_row=2))
    return await _ask_choice(ctx)


@router.step("ballot", "room")
async def ballot_room(ctx: Context, msg: Incoming) -> Replies:
    value = ctx.args.get("value")
    rooms: list[int] = ctx.convo.draft["rooms"]
    if value == "all":
        pass
    elif isinstance(value, int) and value in rooms:
        ctx.convo.draft["rooms"] = [value]
    else:
        return Reply(ctx.t("Please choose a room with the buttons above."))
    ctx.convo.goto("motion")
    return await _ask_choice(ctx)


async def _ballot_motions(ctx: Context) -> list[store.Motion]:
    return await store.motions_of(ctx.session, int(ctx.convo.draft["assembly"]))


async def _ask_choice(ctx: Context) -> Reply:
    t = ctx.t
    draft = ctx.convo.draft
    motions = await _ballot_motions(ctx)
    index = int(draft["i"])
    if index >= len(motions):
        ctx.convo.goto("confirm")
        return await _summary(ctx, motions)
    motion = motions[index]
    head = t("Motion {n} of {total}: {text}", n=index + 1, total=len(motions), text=motion.text)
    if motion.kind == ELECTION:
        picked = set(draft.get("picked", []))
        buttons = [Button.choice(("✓ " if i in picked else "") + name, f"c{i}")
                   for i, name in enumerate(motion.candidates)]
        buttons.append(Button.choice(t("Done ({n} of at most {seats} chosen)", n=len(picked), seats=motion.seats),
                                     "next"))
        return Reply(head + "\n" + t("Approve up to {seats} candidates: press a name to choose it or to take it "
                                     "back, then press Done.", seats=motion.seats), buttons=rows(*buttons, per_row=2))
    kind = t(KIND_LABELS[motion.kind])
    return Reply(f"{head}\n（{kind}）", buttons=(tuple(Button.choice(t(CHOICE_LABELS[c]), c)
                                                    for c in (YES, NO, ABSTAIN)),))


@router.step("ballot", "motion")
async def ballot_choice(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    draft = ctx.convo.draft
    motions = await _ballot_motions(ctx)
    index = int(draft["i"])
    if index >= len(motions):
        return await _ask_choice(ctx)
    motion = motions[index]
    value = ctx.args.get("value")
    if motion.kind == ELECTION:
        picked: list[int] = list(draft.get("picked", []))
        if isinstance(value, str) and value.startswith("c") and value[1:].isdigit():
            candidate = int(value[1:])
            if candidate in picked:
                picked.remove(candidate)
            elif len(picked) >= motion.seats:
                return Reply(t("You may approve at most {seats} candidates. Take one back first.",
                               seats=motion.seats))
            elif 0 <= candidate < len(motion.candidates):
                picked.append(candidate)
            draft["picked"] = sorted(picked)
            ctx.convo.touch()
            return await _ask_choice(ctx)
        if value != "next":
            return Reply(t("Please use the buttons: press names to choose them, then Done."))
        draft["choices"][str(motion.id)] = sorted(picked)
        draft.pop("picked", None)
    else:
        if value is None and msg.text:
            value = TYPED_CHOICES.get(msg.text.strip().lower())
        if value not in (YES, NO, ABSTAIN):
            return Reply(t("Please answer with one of the buttons: Agree, Against or Abstain."))
        draft["choices"][str(motion.id)] = value
    draft["i"] = index + 1
    ctx.convo.touch()
    return await _ask_choice(ctx)


def _choice_text(t: Translator, motion: store.Motion, choice: Any) -> str:
    if motion.kind == ELECTION:
        names = [motion.candidates[i] for i in choice or [] if 0 <= i < len(motion.candidates)]
        return "、".join(names) if names else t("nobody")
    return t(CHOICE_LABELS.get(str(choice), "?"))


async def _summary(ctx: Context, motions: list[store.Motion]) -> Reply:
    t = ctx.t
    draft = ctx.convo.draft
    labels = await _room_labels(ctx, (await _assembly_of_draft(ctx)).compound_id)
    rooms = "、".join(labels.get(r, "?") for r in draft["rooms"])
    lines = [t("Your ballot for {rooms}:", rooms=rooms) if not draft.get("paper") else
             t("Paper ballot for {rooms}:", rooms=rooms)]
    for n, motion in enumerate(motions, 1):
        lines.append(f"{n}. {motion.text}: {_choice_text(t, motion, draft['choices'].get(str(motion.id)))}")
    lines.append(t("Press Submit to cast it. You can change it until the close; the last ballot counts."))
    return Reply("\n".join(lines), buttons=((Button.choice(t("Submit"), "submit"),
                                              Button.choice(t("Start over"), "restart")),))


async def _assembly_of_draft(ctx: Context) -> store.Assembly:
    assembly = await ctx.session.get(store.Assembly, int(ctx.convo.draft["assembly"]))
    assert assembly is not None
    return assembly


@router.step("ballot", "confirm")
async def ballot_submit(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    draft = ctx.convo.draft
    value = ctx.args.get("value")
    if value == "restart":
        draft["choices"], draft["i"] = {}, 0
        ctx.convo.goto("motion")
        return await _ask_choice(ctx)
    if value != "submit":
        return Reply(t("Please press Submit, or Start over."))
    assembly = await _assembly_of_draft(ctx)
    assert assembly.id is not None
    compound = await ctx.session.get(Compound, assembly.compound_id)
    refusal = _window_refusal(t, ctx, assembly, compound)
    if refusal is not None:
        ctx.convo.end()
        return refusal
    paper = bool(draft.get("paper"))
    rooms: list[int] = draft["rooms"]
    if not paper:
        # Ownership may have changed since the ballot was started.
        rooms = [r for r in rooms if r in await store.owned_rooms(ctx.session, ctx.person_id, assembly.compound_id)]
    labels = await _room_labels(ctx, assembly.compound_id)
    existing = await store.ballots_of(ctx.session, assembly.id)
    replies: list[Reply] = []
    recorded: list[str] = []
    kept: list[str] = []
    for room_id in rooms:
        before = existing.get(room_id)
        if before is not None and before.paper and not paper and not assembly.online_replaces_paper:
            kept.append(labels.get(room_id, "?"))
            continue
        if before is not None and paper and not before.paper:
            kept.append(labels.get(room_id, "?"))
            continue
        await store.record_ballot(ctx.session, assembly.id, room_id, dict(draft["choices"]), paper, ctx.person_id,
                                  ctx.now)
        recorded.append(labels.get(room_id, "?"))
        for co_owner in await store.owners_of_room(ctx.session, room_id):
            if co_owner == ctx.person_id:
                continue
            pt = await ctx.translator_for(co_owner)
            text = (pt("A paper ballot for {room} in {title} was entered by the committee. The last ballot counts "
                       "for the room.", room=labels.get(room_id, "?"), title=assembly.title) if paper else
                    pt("{name}, a co-owner of {room}, submitted the ballot for the room in {title}. A room has one "
                       "ballot: whichever co-owner submits last speaks for it.", name=ctx.person.name,
                       room=labels.get(room_id, "?"), title=assembly.title))
            replies.append(Reply(text, to=ToPerson(co_owner)))
    ctx.convo.end()
    lines = []
    if recorded:
        lines.append(t("Thank you! The ballot is recorded for {rooms}. You can change it until {closes} by pressing "
                       "Vote again; the last ballot counts.", rooms="、".join(recorded),
                       closes=ctx.local(assembly.closes_at, compound)) if not paper else
                     t("The paper ballot is recorded for {rooms}.", rooms="、".join(recorded)))
        replies.append(await refresh_posting(ctx, assembly, compound))
    if kept:
        lines.append(t("Not changed for {rooms}: a paper ballot is on record there and this assembly does not let an "
                       "online ballot replace it.", rooms="、".join(kept)) if not paper else
                     t("Not entered for {rooms}: the owner has already voted online.", rooms="、".join(kept)))
    return [Reply("\n".join(lines), toast=t("Recorded") if recorded else None), *replies]


# ---- paper ballots ---------------------------------------------------------------------------------------


@router.command("paperballot", roles=STAFF, private=True, flow=True, help="Enter a paper ballot (书面表决票)",
                order=42)
async def paperballot(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    open_ones = [a for a in await store.assemblies_of(ctx.session, ctx.compound.id) if a.status == OPEN]
    if not open_ones:
        return Reply(t("No assembly is open for voting in {compound}.", compound=ctx.compound.name))
    ctx.convo.start("paperballot", "assembly")
    if len(open_ones) == 1:
        ctx.convo.draft["assembly"] = open_ones[0].id
        ctx.convo.goto("room")
        return Reply(t("Paper ballot for {title}. Which room? Type it as on the roster, for example 1栋1单元301.",
                       title=open_ones[0].title))
    return Reply(t("Which assembly?"), buttons=rows(*(Button.choice(a.title, a.id) for a in open_ones)))


@router.step("paperballot", "assembly")
async def paper_assembly(ctx: Context, msg: Incoming) -> Replies:
    assembly = await ctx.session.get(store.Assembly, int(ctx.args.get("value") or 0))
    if assembly is None or ctx.compound is None or assembly.compound_id != ctx.compound.id:
        return Reply(ctx.t("Please choose an assembly with the buttons above."))
    ctx.convo.draft["assembly"] = assembly.id
    ctx.convo.goto("room")
    return Reply(ctx.t("Which room? Type it as on the roster, for example 1栋1单元301."))


@router.step("paperballot", "room")
async def paper_room(ctx: Context, msg: Incoming) -> Replies:
    assert ctx.compound is not None and ctx.compound.id is not None
    typed = re.sub(r"\s+", "", msg.text or "")
    labels = await _room_labels(ctx, ctx.compound.id)
    room_id = next((r for r, label in labels.items() if label == typed), None)
    if room_id is None:
        return Reply(ctx.t("I could not find the room {room}. Please type it like 1栋1单元301.", room=typed[:30]))
    ctx.convo.start("ballot", "motion", {"assembly": ctx.convo.draft["assembly"], "rooms": [room_id], "choices": {},
                                         "i": 0, "paper": True})
    return await _ask_choice(ctx)


# ---- results and cancelling ------------------------------------------------------------------------------


def result_lines(t: Translator, motions: list[store.Motion], results: list[store.MotionResult]) -> list[str]:
    by_id = {r.motion_id: r for r in results}
    lines: list[str] = []
    for n, motion in enumerate(motions, 1):
        r = by_id.get(motion.id or 0)
        if r is None:
            continue
        lines.append(f"{n}. {motion.text}（{t(KIND_LABELS[motion.kind])}）")
        lines.append(t("Taking part: area {area} of {total} m² ({area_share}, at least 2/3 needed); owners {owners} "
                       "of {all} ({owner_share}, at least 2/3 needed).", area=area_text(r.taking_part.area),
                       total=area_text(r.total.area), area_share=percent(r.area_share), owners=r.taking_part.owners,
                       all=r.total.owners, owner_share=percent(r.owner_share)))
        part_area, part_owners = r.taking_part.area, Fraction(r.taking_part.owners)

        def share(value: Fraction, whole: Fraction) -> str:
            return percent(value / whole) if whole else "0.0%"

        if motion.kind == ELECTION:
            for c in r.candidates:
                name = motion.candidates[c.index] if c.index < len(motion.candidates) else "?"
                status = (t("elected") if c.elected else t("approved but no seat left") if c.passed and r.quorum
                          else t("not elected"))
                lines.append(t("{name}: approved by area {area} m² ({area_share}) and {owners} owners ({owner_share}) "
                               "— {status}", name=name, area=area_text(c.approve.area),
                               area_share=share(c.approve.area, part_area), owners=c.approve.owners,
                               owner_share=share(Fraction(c.approve.owners), part_owners), status=status))
        else:
            for label, count in ((CHOICE_LABELS[YES], r.yes), (CHOICE_LABELS[NO], r.no),
                                 (CHOICE_LABELS[ABSTAIN], r.abstain)):
                lines.append(t("{choice}: area {area} m² ({area_share}), owners {owners} ({owner_share})",
                               choice=t(label), area=area_text(count.area), area_share=share(count.area, part_area),
                               owners=count.owners, owner_share=share(Fraction(count.owners), part_owners)))
        bound = t("at least 3/4") if motion.kind == SPECIAL else t("more than 1/2")
        if r.passed:
            lines.append(t("Result: passed.") if motion.kind != ELECTION else t("Result: the election is valid."))
        else:
            lines.append(t("Result: not passed — {why}.", why="；".join(_reason(t, code, value, bound)
                                                                       for code, value, _b in r.reasons)))
        lines.append("")
    return lines


def _reason(t: Translator, code: str, value: Fraction, bound: str) -> str:
    if code == "area_turnout":
        return t("participating area {share}, below 2/3", share=percent(value))
    if code == "owner_turnout":
        return t("participating owners {share}, below 2/3", share=percent(value))
    if code == "area_yes":
        return t("agreeing area {share} of the participating area, {bound} needed", share=percent(value), bound=bound)
    if code == "owner_yes":
        return t("agreeing owners {share} of the participating owners, {bound} needed", share=percent(value),
                 bound=bound)
    return t("no candidate was approved by more than half")


async def result_text(ctx: BaseContext, t: Translator, assembly: store.Assembly, compound: Compound | None) -> str:
    assert assembly.id is not None
    motions = await store.motions_of(ctx.session, assembly.id)
    lines = [t("Result of the owners' assembly {title} (voting {opens} to {closes}):", title=assembly.title,
               opens=ctx.local(assembly.opens_at, compound), closes=ctx.local(assembly.closes_at, compound)), ""]
    lines += result_lines(t, motions, store.result_from_json(assembly.result))
    lines.append(t("Counted under Civil Code Art. 278: area by each room's registered exclusive area; one owner of "
                   "several rooms counts once, the developer's unsold rooms count as one owner."))
    return "\n".join(lines).strip()


@router.command("results", member=True, help="Owners' assemblies and their results", order=41)
async def results(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    assemblies = await store.assemblies_of(ctx.session, ctx.compound.id)
    if not assemblies:
        return Reply(t("{compound} has held no owners' assembly yet.", compound=ctx.compound.name))
    lines = [t("Owners' assemblies of {compound}:", compound=ctx.compound.name)]
    buttons: list[Button] = []
    for assembly in assemblies:
        lines.append(f"#{assembly.id} {assembly.title} · {ctx.local(assembly.closes_at, ctx.compound)} · "
                     f"{t(STATUS_LABELS[assembly.status])}")
        if assembly.status == CLOSED:
            buttons.append(Button.do(t("Result #{id}", id=assembly.id), "assembly.result", assembly=assembly.id))
        elif assembly.status in (OPEN, SCHEDULED) and ctx.has(*STAFF) and ctx.private:
            buttons.append(Button.do(t("Cancel #{id}", id=assembly.id), "assembly.cancel", assembly=assembly.id))
    return Reply("\n".join(lines), buttons=rows(*buttons, per_row=2))


@router.button("assembly.result", member=True)
async def show_result(ctx: Context, msg: Incoming) -> Replies:
    assembly = await ctx.session.get(store.Assembly, int(ctx.args.get("assembly", 0)))
    if assembly is None or ctx.compound is None or assembly.compound_id != ctx.compound.id or assembly.status != CLOSED:
        return Reply(ctx.t("There is no result for that assembly."))
    return Reply(await result_text(ctx, ctx.t, assembly, ctx.compound))


@router.button("assembly.cancel", roles=STAFF, private=True)
async def cancel_pressed(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assembly = await ctx.session.get(store.Assembly, int(ctx.args.get("assembly", 0)))
    if assembly is None or ctx.compound is None or assembly.compound_id != ctx.compound.id:
        return Reply(t("That assembly does not belong to your compound."))
    if assembly.status not in (OPEN, SCHEDULED):
        return Reply(t("That assembly is already {status}.", status=t(STATUS_LABELS[assembly.status])))
    if (busy := ctx.busy()) is not None:
        return busy
    ctx.convo.start("assembly_cancel", "reason", {"assembly": assembly.id})
    return Reply(t("Why is {title} being cancelled? The reason is announced to the group chats and to every owner.",
                   title=assembly.title))


@router.step("assembly_cancel", "reason")
async def cancel_reason(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    reason = (msg.text or "").strip()
    if not reason or len(reason) > 500:
        return Reply(t("Please type the reason as text (at most 500 characters), or send /cancel."))
    assembly = await ctx.session.get(store.Assembly, int(ctx.convo.draft["assembly"]))
    ctx.convo.end()
    if assembly is None or assembly.id is None or assembly.status not in (OPEN, SCHEDULED):
        return Reply(t("That assembly can no longer be cancelled."))
    was_open = assembly.status == OPEN
    assembly.status, assembly.cancel_reason = CANCELLED, reason
    ctx.session.add(assembly)
    compound = ctx.compound
    tr = ctx.translator(compound.language if compound else None)
    replies = [Reply(t("{title} is cancelled; I told the group chats and the owners.", title=assembly.title)),
               Reply(tr("The owners' assembly {title} has been cancelled. Reason: {reason}", title=assembly.title,
                        reason=reason), to=ToGroups(assembly.compound_id))]
    if was_open:
        replies.append(await refresh_posting(ctx, assembly, compound))
    for person_id in await store.owner_people(ctx.session, assembly.compound_id):
        pt = await ctx.translator_for(person_id)
        replies.append(Reply(pt("The owners' assembly {title} has been cancelled. Reason: {reason}",
                                title=assembly.title, reason=reason), to=ToPerson(person_id)))
    return replies


# ---- scheduled: opening, reminders, closing --------------------------------------------------------------


@router.job("open", every=timedelta(minutes=1))
async def open_due(ctx: JobContext) -> Replies:
    replies: list[Reply] = []
    for assembly in await store.assemblies_in(ctx.session, SCHEDULED):
        if assembly.opens_at <= ctx.now:
            compound = await ctx.session.get(Compound, assembly.compound_id)
            replies += await announce(ctx, assembly, compound)
    return replies


def reminder_slots(assembly: store.Assembly, compound: Compound | None, now: datetime, zone: Any) -> list[str]:
    """The reminder slots due now: daily times (default 19:00) and hours before the close (default 24)."""
    slots: list[str] = []
    local = now.astimezone(zone)
    times = compound_setting(compound, "assembly_reminder_times", ["19:00"]) if compound else ["19:00"]
    for hhmm in times:
        hour, _, minute = str(hhmm).partition(":")
        slot = local.replace(hour=int(hour), minute=int(minute or 0), second=0, microsecond=0)
        if slot <= local < slot + timedelta(hours=1) and assembly.opens_at <= slot < assembly.closes_at:
            slots.append(f"daily:{slot:%Y-%m-%d %H:%M}")
    hours = compound_setting(compound, "assembly_reminder_hours_before_close", 24) if compound else 24
    before = assembly.closes_at - timedelta(hours=float(hours))
    if before >= assembly.opens_at and before <= now < assembly.closes_at:
        slots.append("before_close")
    return [s for s in slots if s not in assembly.reminded]


@router.job("remind", every=timedelta(minutes=5))
async def remind(ctx: JobContext) -> Replies:
    replies: list[Reply] = []
    for assembly in await store.assemblies_in(ctx.session, OPEN):
        assert assembly.id is not None
        compound = await ctx.session.get(Compound, assembly.compound_id)
        slots = reminder_slots(assembly, compound, ctx.now, ctx.zone(compound))
        if not slots or assembly.closes_at <= ctx.now:
            continue
        assembly.reminded = {**assembly.reminded, **{s: ctx.now.isoformat() for s in slots}}
        ctx.session.add(assembly)
        voted = set(await store.ballots_of(ctx.session, assembly.id))
        labels = await _room_labels(ctx, assembly.compound_id)
        for person_id, rooms in (await store.owner_people(ctx.session, assembly.compound_id)).items():
            missing = [r for r in rooms if r not in voted]
            if not missing:
                continue
            pt = await ctx.translator_for(person_id)
            replies.append(Reply(
                pt("Reminder: the owners' assembly {title} closes at {closes}, and {rooms} has not voted yet. "
                   "Every ballot counts towards the 2/3 turnout the law requires.", title=assembly.title,
                   closes=ctx.local(assembly.closes_at, compound), rooms="、".join(labels.get(r, "?") for r in missing)),
                buttons=((Button.do(pt("Vote"), "assembly.vote", assembly=assembly.id),),), to=ToPerson(person_id),
                expires_at=assembly.closes_at))
    return replies


@router.job("close", every=timedelta(minutes=1))
async def close_due(ctx: JobContext) -> Replies:
    replies: list[Reply] = []
    for assembly in await store.assemblies_in(ctx.session, OPEN):
        if assembly.closes_at > ctx.now or assembly.id is None:
            continue
        compound = await ctx.session.get(Compound, assembly.compound_id)
        assembly.result = store.result_to_json(await store.tally_assembly(ctx.session, assembly))
        assembly.status, assembly.closed_at = CLOSED, ctx.now
        ctx.session.add(assembly)
        tr = ctx.translator(compound.language if compound else None)
        replies.append(await refresh_posting(ctx, assembly, compound))
        replies.append(Reply(await result_text(ctx, tr, assembly, compound), to=ToGroups(assembly.compound_id)))
        voters: set[int] = set()
        for ballot in (await store.ballots_of(ctx.session, assembly.id)).values():
            voters.update(await store.owners_of_room(ctx.session, ballot.room_id))
            if not ballot.paper:
                voters.add(ballot.submitted_by)
        for person_id in sorted(voters):
            person = await ctx.session.get(Person, person_id)
            if person is None:
                continue
            pt = await ctx.translator_for(person_id)
            replies.append(Reply(await result_text(ctx, pt, assembly, compound), to=ToPerson(person_id)))
    return replies


# ---- for other features ----------------------------------------------------------------------------------


async def start_prepared_assembly(ctx: Context, title: str, motions: list[tuple[str, str]]) -> Replies:
    """Another feature (the property company's grades, say) prepares the motions; the creator reviews them, may
    add more, and sets the voting window as in /assembly. `motions`: (text, "ordinary" | "special")."""
    t = ctx.t
    if not ctx.has(*STAFF):
        return Reply(t("Sorry, only the secretary or a committee member can open an owners' assembly."))
    if (busy := ctx.busy()) is not None:
        return busy
    prepared = [{"text": text[:1000], "kind": kind if kind in (ORDINARY, SPECIAL) else ORDINARY}
                for text, kind in motions[:MAX_MOTIONS]]
    ctx.convo.start("assembly", "motion", {"title": title[:200], "motions": prepared})
    lines = [f"《{title[:200]}》", *_motion_lines(t, prepared)]
    return [Reply("\n".join(lines)), _ask_motion_text(ctx)]
