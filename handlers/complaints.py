"""Complaints (诉求): filing, three-level routing, handling buttons, deadlines and escalation, resident updates,
satisfaction ratings, look-ups, anonymity, the ledger export and the month's figures."""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.core.context import BaseContext, Context, JobContext
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Media, Replies, Reply, ToPerson, rows
from storage import complaints as store
from storage.complaints import (
    ACTIVE,
    CATEGORIES,
    CATEGORY_BY_CODE,
    DEPARTMENT_RATINGS,
    EVENT_NAMES,
    MAX_PHOTOS,
    STATE_NAMES,
    TOP_LEVEL,
    Case,
    Event,
    State,
)
from storage.compounds import Building, Compound, Room, buildings_of, describe_room
from storage.people import STAFF, Membership, MembershipStatus, Person, Role, people_with_role, roles_in

router = Router("complaints")

FLOW, NOTE_FLOW, ANSWER_FLOW = "complain", "case_note", "case_answer"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LEVEL_NAMES = {1: N_("building"), 2: N_("compound"), 3: N_("department")}
HANDLER_ROLES = [Role.BUILDING_LEADER, Role.PROPERTY, Role.SECRETARY, Role.COMMITTEE, Role.OFFICIAL]
NUMBER = re.compile(r"^[A-Za-z0-9]{1,16}-\d{4}-\d{4,}$")


def _category_label(t: Translator, code: str) -> str:
    category = CATEGORY_BY_CODE.get(code)
    return t(category.label) if category else code


# ---- filing ------------------------------------------------------------------------------------------------


@router.command("complain", private=True, member=True, flow=True, help="File a complaint or request", order=10)
async def complain(ctx: Context, msg: Incoming) -> Replies:
    ctx.convo.start(FLOW, "category")
    return _ask_category(ctx)


def _ask_category(ctx: Context) -> Reply:
    t = ctx.t
    return Reply(t("What is it about? Choose a category."),
                 buttons=rows(*(Button.choice(t(c.label), c.code) for c in CATEGORIES), per_row=2))


def _next(ctx: Context, step: str) -> str:
    """While editing from the summary, every step returns to the summary."""
    return "confirm" if ctx.convo.draft.get("editing") else step


@router.step(FLOW, "category")
async def step_category(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    if value not in CATEGORY_BY_CODE and msg.text:
        typed = msg.text.strip()
        value = next((c.code for c in CATEGORIES if typed in (t(c.label), c.label, c.code)), None)
    if value not in CATEGORY_BY_CODE:
        return Reply(t("Please choose a category with the buttons above (or type its name)."))
    ctx.convo.draft["category"] = value
    return await _goto(ctx, _next(ctx, "description"))


@router.step(FLOW, "description")
async def step_description(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    if msg.text is None or msg.photo is not None:
        return Reply(t("Please describe the problem in words first; you can add photos in the next step. "
                       "Your earlier answers are kept."))
    problem = store.validate_description(msg.text)
    if problem is not None:
        return Reply(t(problem, min=store.DESCRIPTION_MIN, max=store.DESCRIPTION_MAX, length=len(msg.text.strip())))
    ctx.convo.draft["description"] = msg.text.strip()
    return await _goto(ctx, _next(ctx, "photos"))


@router.step(FLOW, "photos")
async def step_photos(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    photos: list[str] = list(ctx.convo.draft.get("photos", []))
    if msg.photo is not None:
        if len(photos) >= MAX_PHOTOS:
            return Reply(t("You already added {max} photos, the most a case can have.", max=MAX_PHOTOS))
        photos.append(msg.photo.file_id)
        ctx.convo.draft["photos"] = photos
        ctx.convo.draft["photo_platform"] = msg.photo.platform
        ctx.convo.touch()
        if len(photos) >= MAX_PHOTOS:
            return await _goto(ctx, _next(ctx, "place"))
        return Reply(t("Photo {n} of {max} added. Send another, or press Done.", n=len(photos), max=MAX_PHOTOS),
                     buttons=((Button.choice(t("Finish photos"), "done"),),))
    if ctx.args.get("value") in ("done", "skip"):
        return await _goto(ctx, _next(ctx, "place"))
    return Reply(t("Please send a photo, or press Done (or Skip) to go on."),
                 buttons=((Button.choice(t("Finish photos") if photos else t("Skip"), "done"),),))


async def _own_buildings(ctx: Context) -> dict[int, int]:
    """building id -> the resident's room in it."""
    assert ctx.compound is not None
    result = await ctx.session.exec(
        select(Room.building_id, Room.id).join(Membership, col(Membership.room_id) == Room.id)
        .where(Membership.person_id == ctx.person_id, Membership.compound_id == ctx.compound.id,
               Membership.status == MembershipStatus.APPROVED)
    )
    return {building: room or 0 for building, room in result.all()}


@router.step(FLOW, "place")
async def step_place(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    own = await _own_buildings(ctx)
    if value == "common":
        ctx.convo.draft.update(building_id=None, room_id=None)
    elif isinstance(value, int) and value in own:
        ctx.convo.draft.update(building_id=value, room_id=own[value])
    elif value == "other":
        ctx.convo.goto("other_building")
        assert ctx.compound is not None
        buildings = await buildings_of(ctx.session, ctx.compound.id or 0)
        return Reply(t("Which building?"), buttons=rows(*(Button.choice(b.name, b.id) for b in buildings[:60]),
                                                       per_row=3))
    else:
        return Reply(t("Please choose where it is with the buttons above."))
    return await _goto(ctx, _next(ctx, "anonymous"))


@router.step(FLOW, "other_building")
async def step_other_building(ctx: Context, msg: Incoming) -> Replies:
    assert ctx.compound is not None
    buildings = {b.id: b.name for b in await buildings_of(ctx.session, ctx.compound.id or 0)}
    value = ctx.args.get("value")
    if value not in buildings and msg.text:
        value = next((i for i, name in buildings.items() if msg.text.strip() in (name, name.rstrip("栋"))), None)
    if value not in buildings:
        return Reply(ctx.t("Please choose the building with the buttons above."))
    ctx.convo.draft.update(building_id=value, room_id=None)
    return await _goto(ctx, _next(ctx, "anonymous"))


@router.step(FLOW, "anonymous")
async def step_anonymous(ctx: Context, msg: Incoming) -> Replies:
    value = ctx.args.get("value")
    if value not in ("yes", "no"):
        return Reply(ctx.t("Please answer with the buttons above: anonymous or not."))
    ctx.convo.draft["anonymous"] = value == "yes"
    return await _goto(ctx, "confirm")


async def _goto(ctx: Context, step: str) -> Reply:
    """Move to a step and ask its question."""
    t = ctx.t
    ctx.convo.goto(step)
    if step == "category":
        return _ask_category(ctx)
    if step == "description":
        return Reply(t("Please describe the problem ({min}–{max} characters): what, where exactly, since when.",
                       min=store.DESCRIPTION_MIN, max=store.DESCRIPTION_MAX))
    if step == "photos":
        return Reply(t("You may send up to {max} photos now, or skip.", max=MAX_PHOTOS),
                     buttons=((Button.choice(t("Skip"), "skip"),),))
    if step == "place":
        own = await _own_buildings(ctx)
        names = {b.id: b.name for b in await buildings_of(ctx.session, ctx.compound.id or 0)} if ctx.compound else {}
        buttons = [Button.choice(t("My building ({building})", building=names.get(b, "?")), b) for b in own]
        buttons += [Button.choice(t("Another building"), "other"), Button.choice(t("A common area"), "common")]
        return Reply(t("Where is it?"), buttons=rows(*buttons))
    if step == "anonymous":
        return Reply(t("Should the case be anonymous? Then only the secretary sees who you are; property staff "
                       "and departments do not see your name, phone or room."),
                     buttons=((Button.choice(t("Anonymous"), "yes"), Button.choice(t("Show my name"), "no")),))
    ctx.convo.draft.pop("editing", None)
    return await _summary(ctx)


async def _summary(ctx: Context) -> Reply:
    t = ctx.t
    draft = ctx.convo.draft
    building = await ctx.session.get(Building, draft["building_id"]) if draft.get("building_id") else None
    text = t("Please check your case:\nCategory: {category}\nPlace: {place}\nPhotos: {photos}\nAnonymous: {anonymous}"
             "\n\n{description}",
             category=_category_label(t, str(draft.get("category"))),
             place=building.name if building else t("a common area"),
             photos=len(draft.get("photos", [])),
             anonymous=t("yes") if draft.get("anonymous") else t("no"),
             description=draft.get("description", ""))
    return Reply(text, buttons=((Button.choice(t("Confirm"), "confirm"), Button.choice(t("Edit"), "edit"),
                                 Button.choice(t("Cancel"), "cancel")),))


EDITABLE = {"category": N_("Category"), "description": N_("Description"), "photos": N_("Photos"),
            "place": N_("Place"), "anonymous": N_("Anonymity")}


@router.step(FLOW, "confirm")
async def step_confirm(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    if value == "cancel":
        ctx.convo.end()
        return Reply(t("Cancelled. Nothing was filed."))
    if value == "edit":
        ctx.convo.goto("edit")
        return Reply(t("What would you like to change?"),
                     buttons=rows(*(Button.choice(t(label), step) for step, label in EDITABLE.items()), per_row=3))
    if value != "confirm":
        return Reply(t("Please press Confirm, Edit or Cancel above."))
    return await _file(ctx)


@router.step(FLOW, "edit")
async def step_edit(ctx: Context, msg: Incoming) -> Replies:
    value = ctx.args.get("value")
    if value not in EDITABLE:
        return Reply(ctx.t("Please choose what to change with the buttons above."))
    ctx.convo.draft["editing"] = True
    if value == "photos":
        ctx.convo.draft["photos"] = []
    return await _goto(ctx, str(value))


async def _file(ctx: Context) -> Replies:
    t = ctx.t
    compound = ctx.compound
    assert compound is not None and compound.id is not None
    draft = ctx.convo.draft
    case = await store.file_case(ctx.session, compound, ctx.person_id, str(draft["category"]),
                                 str(draft["description"]), ctx.now, photos=list(draft.get("photos", [])),
                                 photo_platform=draft.get("photo_platform", ""), building_id=draft.get("building_id"),
                                 room_id=draft.get("room_id"), anonymous=bool(draft.get("anonymous")))
    ctx.convo.end()
    replies = [Reply(t("Thank you. Your case {number} is filed and has gone to the {level} level; you will hear "
                       "here about every step. Send /case {number} to follow it.",
                       number=case.number, level=t(LEVEL_NAMES[case.level])))]
    replies += await tell_handler(ctx, compound, case, "new")
    return replies


# ---- showing a case ----------------------------------------------------------------------------------------


async def _card(ctx: BaseContext, t: Translator, compound: Compound, case: Case, viewer_id: int,
                viewer_roles: frozenset[Role], with_history: bool = False) -> str:
    session = ctx.session
    place = t("a common area")
    if case.building_id is not None:
        building = await session.get(Building, case.building_id)
        place = building.name if building else place
    lines = [
        t("Case {number} · {category}", number=case.number, category=_category_label(t, case.category)),
        t("Status: {state} · level {level} ({level_name})", state=t(STATE_NAMES[State(case.state)]),
          level=case.level, level_name=t(LEVEL_NAMES[case.level])),
        t("Place: {place}", place=place),
    ]
    if store.reporter_visible(case.anonymous, viewer_id == case.reporter_id, viewer_roles):
        reporter = await session.get(Person, case.reporter_id)
        room = await describe_room(session, case.room_id) if case.room_id else "-"
        lines.append(t("Reporter: {name}, room {room}, phone {phone}{anonymous}",
                       name=reporter.name if reporter else "?", room=room,
                       phone=(reporter.phone if reporter else "") or "-",
                       anonymous=t(" (anonymous to others)") if case.anonymous else ""))
    else:
        lines.append(t("Reporter: anonymous"))
    if case.handler_id is not None:
        handler = await session.get(Person, case.handler_id)
        lines.append(t("Handler: {name}", name=handler.name if handler else "?"))
    lines.append(t("Opened: {opened}", opened=ctx.local(case.opened_at, compound)))
    if case.state in ACTIVE and case.resolve_by is not None:
        lines.append(t("Resolve by: {deadline}", deadline=ctx.local(case.resolve_by, compound)))
    if case.overdue_count:
        lines.append(t("Overdue {n} time(s)", n=case.overdue_count))
    if case.photos.get("ids"):
        lines.append(t("Photos: {n}", n=len(case.photos["ids"])))
    if case.rating is not None:
        lines.append(t("Rating: {stars} of 5", stars=case.rating))
    if case.department_rating:
        lines.append(t("Department response: {rating}", rating=t(DEPARTMENT_RATINGS[case.department_rating])))
    lines += ["", case.description]
    if case.resolution:
        lines += ["", t("Resolution: {note}", note=case.resolution)]
    if with_history:
        lines += ["", t("History:")]
        names: dict[int, str] = {}
        for event in await store.history(session, case.id or 0):
            who = t("system")
            if event.actor_id is not None:
                if event.actor_id == case.reporter_id and not store.reporter_visible(
                        case.anonymous, viewer_id == case.reporter_id, viewer_roles):
                    who = t("the reporter")
                else:
                    if event.actor_id not in names:
                        person = await session.get(Person, event.actor_id)
                        names[event.actor_id] = person.name if person else "?"
                    who = names[event.actor_id]
            line = f"{ctx.local(event.at, compound)} {t(EVENT_NAMES[Event(event.event)])} · {who}"
            if event.note:
                line += f" · {event.note[:200]}"
            lines.append(line)
    return "\n".join(lines)


def _handler_buttons(t: Translator, case: Case, secretary: bool) -> tuple[tuple[Button, ...], ...]:
    if case.state not in ACTIVE:
        return ()
    buttons: list[Button] = []
    if case.state == State.OPEN:
        buttons.append(Button.do(t("Accept"), "complaints.accept", case=case.id, v=case.version))
    buttons.append(Button.do(t("Ask for more"), "complaints.ask", case=case.id, v=case.version))
    buttons.append(Button.do(t("Resolve"), "complaints.resolve", case=case.id, v=case.version))
    if case.level < TOP_LEVEL:
        label = t("Blow the whistle") if case.level == 2 and secretary else t("Hand over / Escalate")
        buttons.append(Button.do(label, "complaints.escalate", case=case.id, v=case.version))
    return rows(*buttons, per_row=2)


async def tell_handler(ctx: BaseContext, compound: Compound, case: Case, why: str) -> list[Reply]:
    """The new handler gets the case with its buttons; without one, the secretaries are told."""
    assert compound.id is not None
    if case.handler_id is None:
        replies = []
        for secretary_id, st in await ctx.role_translators(compound.id, Role.SECRETARY):
            text = st("Case {number} has no one to handle it at the {level} level. Please grant that role "
                      "(for example /grant N official) and hand the case on.", number=case.number,
                      level=st(LEVEL_NAMES[case.level]))
            card = await _card(ctx, st, compound, case, secretary_id, frozenset({Role.SECRETARY}))
            replies.append(Reply(f"{text}\n\n{card}", to=ToPerson(secretary_id)))
        return replies
    tr = await ctx.translator_for(case.handler_id)
    roles = await roles_in(ctx.session, case.handler_id, compound.id)
    heading = {
        "new": tr("A new case for you:"),
        "overdue": tr("An overdue case was escalated to you:"),
        "escalated": tr("A case was escalated to you:"),
        "reopened": tr("The reporter was not satisfied; this case is reopened and needs your attention:"),
        "answered": tr("The reporter answered:"),
    }[why]
    card = await _card(ctx, tr, compound, case, case.handler_id, roles)
    return [Reply(f"{heading}\n\n{card}", buttons=_handler_buttons(tr, case, Role.SECRETARY in roles),
                  to=ToPerson(case.handler_id))]


async def _tell_reporter(ctx: BaseContext, case: Case, text_id: str, **values: object) -> Reply:
    rt = await ctx.translator_for(case.reporter_id)
    return Reply(rt(text_id, number=case.number, **values), to=ToPerson(case.reporter_id))


# ---- handling ----------------------------------------------------------------------------------------------

MOVED_ON = N_("This case has moved on; this button does nothing any more. Send /case {number} to see where it is.")


async def _staff_case(ctx: Context, need_current: bool = True) -> Case | Reply:
    """The pressed case, if it is this compound's, still as the button saw it, and the presser may act on it."""
    t = ctx.t
    case = await store.load_case(ctx.session, int(ctx.args.get("case", 0)))
    if case is None or ctx.compound is None or case.compound_id != ctx.compound.id:
        return Reply(t("This case does not belong to your compound."), toast=t("Not allowed"))
    if need_current and case.version != int(ctx.args.get("v", -1)):
        return Reply(t(MOVED_ON, number=case.number), toast=t("This case has moved on"))
    if case.handler_id != ctx.person_id and not ctx.has(Role.SECRETARY):
        return Reply(t("This case is not yours to handle."), toast=t("Not allowed"))
    return case


@router.button("complaints.accept", roles=HANDLER_ROLES)
async def accept(ctx: Context, msg: Incoming) -> Replies:
    case = await _staff_case(ctx)
    if isinstance(case, Reply):
        return case
    case.responded_at = ctx.now
    case.due_at = case.resolve_by
    await store.transition(ctx.session, case, Event.ACCEPT, ctx.person_id, ctx.now)
    t = ctx.t
    return [
        Reply(t("You accepted case {number}. Resolve it by {deadline}.", number=case.number,
                deadline=ctx.local(case.resolve_by or ctx.now, ctx.compound)),
              buttons=_handler_buttons(t, case, ctx.has(Role.SECRETARY)), toast=t("Case accepted")),
        await _tell_reporter(ctx, case, N_("Your case {number} was accepted and is being handled.")),
    ]


@router.button("complaints.ask", roles=HANDLER_ROLES)
async def ask(ctx: Context, msg: Incoming) -> Replies:
    return await _start_note(ctx, "ask")


@router.button("complaints.resolve", roles=HANDLER_ROLES)
async def resolve(ctx: Context, msg: Incoming) -> Replies:
    return await _start_note(ctx, "resolve")


async def _start_note(ctx: Context, action: str) -> Replies:
    t = ctx.t
    case = await _staff_case(ctx)
    if isinstance(case, Reply):
        return case
    if (busy := ctx.busy()) is not None:
        return busy
    if not ctx.private:
        return Reply(t("Please handle cases in your private chat with me."))
    ctx.convo.start(NOTE_FLOW, action, {"case": case.id, "v": case.version})
    if action == "ask":
        return Reply(t("What do you need to know from the reporter of {number}? Type your question.",
                       number=case.number))
    return Reply(t("How was case {number} resolved? Type a short note for the reporter and the ledger.",
                   number=case.number))


async def _note_text(ctx: Context, msg: Incoming) -> str | Reply:
    t = ctx.t
    if not msg.text or msg.photo is not None:
        return Reply(t("Please type the note as text (or send /cancel)."))
    text = msg.text.strip()
    if len(text) < 2 or len(text) > store.DESCRIPTION_MAX:
        return Reply(t("Please keep the note between 2 and {max} characters.", max=store.DESCRIPTION_MAX))
    return text


async def _note(ctx: Context, msg: Incoming) -> tuple[str, Case] | Reply:
    """The handler's typed note and the case it is about, which must not have moved on meanwhile; the conversation
    ends unless the note itself is refused (then the step stays)."""
    text = await _note_text(ctx, msg)
    if isinstance(text, Reply):
        return text
    ctx.args = {"case": ctx.convo.draft.get("case"), "v": ctx.convo.draft.get("v")}
    case = await _staff_case(ctx)
    ctx.convo.end()
    return case if isinstance(case, Reply) else (text, case)


@router.step(NOTE_FLOW, "ask")
async def ask_note(ctx: Context, msg: Incoming) -> Replies:
    noted = await _note(ctx, msg)
    if isinstance(noted, Reply):
        return noted
    note, case = noted
    case.responded_at = case.responded_at or ctx.now
    case.asked_at = ctx.now
    case.due_at = None  # The clock stops while the reporter is asked.
    await store.transition(ctx.session, case, Event.ASK, ctx.person_id, ctx.now, note)
    rt = await ctx.translator_for(case.reporter_id)
    return [
        Reply(ctx.t("Your question was sent to the reporter of {number}.", number=case.number)),
        Reply(rt("About your case {number}, the handler asks: {question}\nPress Answer to reply.",
                 number=case.number, question=note),
              buttons=((Button.do(rt("Answer"), "complaints.answer", case=case.id, v=case.version),),),
              to=ToPerson(case.reporter_id)),
    ]


@router.step(NOTE_FLOW, "resolve")
async def resolve_note(ctx: Context, msg: Incoming) -> Replies:
    noted = await _note(ctx, msg)
    if isinstance(noted, Reply):
        return noted
    note, case = noted
    assert ctx.compound is not None and ctx.compound.id is not None
    case.responded_at = case.responded_at or ctx.now
    case.resolved_at = ctx.now
    case.resolution = note
    case.reminded = False
    case.due_at = ctx.now + store.rating_windows(ctx.compound)[0]
    department = case.level == TOP_LEVEL
    await store.transition(ctx.session, case, Event.RESOLVE, ctx.person_id, ctx.now, note)
    replies = [Reply(ctx.t("Case {number} is marked resolved; the reporter is asked to rate it.",
                           number=case.number)),
               await _rating_request(ctx, case, False)]
    if department:
        replies += await ctx.tell_role(Role.SECRETARY, ctx.compound.id, lambda st: Reply(
            st("The department resolved case {number}: {note}\nHow do you rate the department's response?",
               number=case.number, note=note),
            buttons=(tuple(Button.do(st(label), "complaints.department", case=case.id, rating=code)
                           for code, label in DEPARTMENT_RATINGS.items()),)))
    return replies


async def _rating_request(ctx: BaseContext, case: Case, reminder: bool) -> Reply:
    rt = await ctx.translator_for(case.reporter_id)
    if reminder:
        text = rt("A reminder: how satisfied are you with the handling of case {number}? (1 = not at all, "
                  "5 = very). Without a rating the case closes in two days.", number=case.number)
    else:
        text = rt("Your case {number} was resolved: {note}\nHow satisfied are you? (1 = not at all, 5 = very)",
                  number=case.number, note=case.resolution)
    buttons = tuple(Button.do(str(n), "complaints.rate", case=case.id, v=case.version, stars=n) for n in range(1, 6))
    return Reply(text, buttons=(buttons,), to=ToPerson(case.reporter_id))


@router.button("complaints.escalate", roles=HANDLER_ROLES)
async def escalate(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    case = await _staff_case(ctx)
    if isinstance(case, Reply):
        return case
    compound = ctx.compound
    assert compound is not None and compound.id is not None
    if case.level >= TOP_LEVEL:
        return Reply(t("This case is already with a department; it cannot go higher."))
    if case.level + 1 == TOP_LEVEL:
        if not ctx.has(Role.SECRETARY):
            # Only the secretary blows the whistle: hand the case to them at the compound level.
            secretaries = await people_with_role(ctx.session, compound.id, Role.SECRETARY)
            if not secretaries:
                return Reply(t("There is no secretary to hand this case to."))
            case.handler_id = secretaries[0]
            store.set_deadlines(case, compound, ctx.now)
            await store.transition(ctx.session, case, Event.HAND_OVER, ctx.person_id, ctx.now,
                                   t("asks the secretary to blow the whistle"))
            return [Reply(t("Case {number} was handed to the secretary, who can call in a department.",
                            number=case.number)),
                    *await tell_handler(ctx, compound, case, "escalated"),
                    await _tell_reporter(ctx, case, N_("Your case {number} was handed over to the secretary."))]
        officials = await people_with_role(ctx.session, compound.id, Role.OFFICIAL)
        if not officials:
            return Reply(t("No department (official) is registered in this compound yet. Grant the role with "
                           "/grant N official first."))
        names = {p.id: p.name for p in (await ctx.session.exec(select(Person).where(
            col(Person.id).in_(officials)))).all()}
        return Reply(t("Which department should respond to case {number}?", number=case.number),
                     buttons=rows(*(Button.do(names.get(o, "?"), "complaints.whistle", case=case.id, v=case.version,
                                              official=o) for o in officials), per_row=2))
    return await _escalate(ctx, case, None)


@router.button("complaints.whistle", roles=[Role.SECRETARY])
async def whistle(ctx: Context, msg: Incoming) -> Replies:
    case = await _staff_case(ctx)
    if isinstance(case, Reply):
        return case
    assert ctx.compound is not None and ctx.compound.id is not None
    official = int(ctx.args.get("official", 0))
    if official not in await people_with_role(ctx.session, ctx.compound.id, Role.OFFICIAL):
        return Reply(ctx.t("That person is not a department official of this compound."))
    return await _escalate(ctx, case, official)


async def _escalate(ctx: Context, case: Case, handler: int | None) -> Replies:
    compound = ctx.compound
    assert compound is not None
    case.level += 1
    case.handler_id = handler or await store.handler_for(ctx.session, compound, case, case.level,
                                                         store.compound_role_of(compound, case))
    store.set_deadlines(case, compound, ctx.now)
    await store.transition(ctx.session, case, Event.ESCALATE, ctx.person_id, ctx.now)
    t = ctx.t
    return [Reply(t("Case {number} was escalated to the {level} level.", number=case.number,
                    level=t(LEVEL_NAMES[case.level])), toast=t("Escalated")),
            *await tell_handler(ctx, compound, case, "escalated"),
            await _tell_reporter(ctx, case, N_("Your case {number} was escalated to the {level} level."),
                                 level=(await ctx.translator_for(case.reporter_id))(LEVEL_NAMES[case.level]))]


@router.button("complaints.department", roles=[Role.SECRETARY])
async def rate_department(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    case = await _staff_case(ctx, need_current=False)
    if isinstance(case, Reply):
        return case
    rating = str(ctx.args.get("rating"))
    if rating not in DEPARTMENT_RATINGS or case.level != TOP_LEVEL:
        return Reply(t(MOVED_ON, number=case.number))
    if case.department_rating is not None:
        return Reply(t("The department's response to {number} was already rated.", number=case.number))
    case.department_rating = rating
    await store.transition(ctx.session, case, Event.RATE_DEPARTMENT, ctx.person_id, ctx.now, rating)
    return Reply(t("Thank you. The department's response to {number} is rated: {rating}.", number=case.number,
                   rating=t(DEPARTMENT_RATINGS[rating])), toast=t("Rated"))


# ---- the reporter's side -----------------------------------------------------------------------------------


async def _reporter_case(ctx: Context) -> Case | Reply:
    t = ctx.t
    case = await store.load_case(ctx.session, int(ctx.args.get("case", 0)))
    if case is None or case.reporter_id != ctx.person_id:
        return Reply(t("This is not your case."), toast=t("Not allowed"))
    if case.version != int(ctx.args.get("v", -1)):
        return Reply(t(MOVED_ON, number=case.number), toast=t("This case has moved on"))
    return case


@router.button("complaints.answer")
async def answer(ctx: Context, msg: Incoming) -> Replies:
    case = await _reporter_case(ctx)
    if isinstance(case, Reply):
        return case
    if (busy := ctx.busy()) is not None:
        return busy
    ctx.convo.start(ANSWER_FLOW, "text", {"case": case.id, "v": case.version})
    return Reply(ctx.t("Please type your answer about case {number}.", number=case.number))


@router.step(ANSWER_FLOW, "text")
async def answer_text(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    note = await _note_text(ctx, msg)
    if isinstance(note, Reply):
        return note
    ctx.args = {"case": ctx.convo.draft.get("case"), "v": ctx.convo.draft.get("v")}
    case = await _reporter_case(ctx)
    ctx.convo.end()
    if isinstance(case, Reply):
        return case
    compound = await ctx.session.get(Compound, case.compound_id)
    assert compound is not None
    if case.asked_at is not None and case.resolve_by is not None:
        case.resolve_by += ctx.now - case.asked_at  # The time spent waiting for the answer does not count.
    case.due_at = case.resolve_by
    await store.transition(ctx.session, case, Event.ANSWER, ctx.person_id, ctx.now, note)
    return [Reply(t("Thank you, your answer was added to case {number}.", number=case.number)),
            *await tell_handler(ctx, compound, case, "answered")]


@router.button("complaints.rate")
async def rate(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    case = await _reporter_case(ctx)
    if isinstance(case, Reply):
        return case
    stars = int(ctx.args.get("stars", 0))
    if not 1 <= stars <= 5:
        return Reply(t("Please rate from 1 to 5."))
    compound = await ctx.session.get(Compound, case.compound_id)
    assert compound is not None and compound.id is not None
    event = store.rating_event(stars, case.reopened)
    case.rating = stars
    if event == Event.RATE:
        case.closed_at, case.due_at = ctx.now, None
        await store.transition(ctx.session, case, Event.RATE, ctx.person_id, ctx.now, str(stars))
        return Reply(t("Thank you for rating case {number} ({stars} of 5). The case is closed.",
                       number=case.number, stars=stars), toast=t("Rated"))
    # A low rating: back to the compound, in front of the secretary, once.
    secretaries = await people_with_role(ctx.session, compound.id, Role.SECRETARY)
    case.reopened += 1
    case.level = 2
    case.handler_id = secretaries[0] if secretaries else case.handler_id
    case.resolved_at = None
    store.set_deadlines(case, compound, ctx.now)
    await store.transition(ctx.session, case, Event.REOPEN, ctx.person_id, ctx.now, str(stars))
    return [Reply(t("We are sorry it was not solved well. Case {number} is reopened and the secretary will look "
                    "at it.", number=case.number), toast=t("Reopened")),
            *await tell_handler(ctx, compound, case, "reopened")]


# ---- look-ups ----------------------------------------------------------------------------------------------


def _status_line(t: Translator, case: Case, ctx: BaseContext, compound: Compound | None) -> str:
    overdue = t(" · overdue") if case.due_at is not None and case.due_at <= ctx.now and case.state in ACTIVE else ""
    return (f"{case.number} · {_category_label(t, case.category)} · {t(STATE_NAMES[State(case.state)])}"
            f"{overdue} · {ctx.local(case.opened_at, compound, '%m-%d')}")


@router.command("mycases", member=True, private=True, help="Your complaints and their status", order=11)
async def mycases(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    cases = await store.cases_of_reporter(ctx.session, ctx.person_id, ctx.compound.id)
    if not cases:
        return Reply(t("You have not filed any cases yet. Send /complain to file one."))
    lines = [t("Your cases:")] + [_status_line(t, c, ctx, ctx.compound) for c in cases]
    lines.append(t("Send /case NUMBER for details."))
    return Reply("\n".join(lines))


@router.command("case", private=True, help="One case with its full history", order=12)
async def show_case(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    number = str(ctx.args.get("command_args", "")).strip().upper()
    if not NUMBER.match(number):
        return Reply(t("Send /case followed by a case number, for example /case XFL-2026-0001."))
    return await _show(ctx, await store.case_by_number(ctx.session, number), number)


@router.button("complaints.view", private=True)
async def view(ctx: Context, msg: Incoming) -> Replies:
    case = await ctx.session.get(Case, int(ctx.args.get("case", 0)))
    return await _show(ctx, case, case.number if case else "?")


async def _show(ctx: Context, case: Case | None, number: str) -> Replies:
    t = ctx.t
    roles = await roles_in(ctx.session, ctx.person_id, case.compound_id) if case else frozenset()
    # The reporter and that compound's staff only; anyone else learns nothing, not even that it exists.
    if case is None or (case.reporter_id != ctx.person_id and not roles & STAFF):
        return Reply(t("I could not find case {number} among the cases you may see.", number=number[:40]))
    compound = await ctx.session.get(Compound, case.compound_id)
    assert compound is not None
    text = await _card(ctx, t, compound, case, ctx.person_id, roles, with_history=True)
    buttons: tuple[tuple[Button, ...], ...] = ()
    if case.handler_id == ctx.person_id or Role.SECRETARY in roles:
        buttons = _handler_buttons(t, case, Role.SECRETARY in roles)
    if case.photos.get("ids"):
        buttons += ((Button.do(t("Show the photos"), "complaints.photos", case=case.id),),)
    return Reply(text, buttons=buttons)


@router.button("complaints.photos", private=True)
async def photos(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    case = await ctx.session.get(Case, int(ctx.args.get("case", 0)))
    roles = await roles_in(ctx.session, ctx.person_id, case.compound_id) if case else frozenset()
    if case is None or (case.reporter_id != ctx.person_id and not roles & STAFF):
        return Reply(t("This is not your case."), toast=t("Not allowed"))
    replies: list[Reply] = []
    for index, file_id in enumerate(case.photos.get("ids", []), 1):
        try:
            data = await ctx.core.fetch_photo(str(case.photos.get("platform", "")), str(file_id))
        except Exception:  # A platform may have dropped an old file; say so instead of failing the rest.
            replies.append(Reply(t("Photo {n} of case {number} is no longer available.", n=index,
                                   number=case.number)))
            continue
        replies.append(Reply(t("Photo {n} of case {number}", n=index, number=case.number),
                             image=Media(data, f"{case.number}-{index}.jpg", "image/jpeg")))
    return replies


@router.command("cases", roles=HANDLER_ROLES, private=True, help="Your queue of cases to handle", order=13)
async def cases(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    handler = None if ctx.has(Role.SECRETARY) else ctx.person_id
    found = await store.queue(ctx.session, ctx.compound.id, handler, ctx.now)
    if not found:
        return Reply(t("No open cases in your queue."))
    lines = [t("Open cases (overdue first):")] + [_status_line(t, c, ctx, ctx.compound) for c in found]
    return Reply("\n".join(lines), buttons=rows(*(Button.do(c.number, "complaints.view", case=c.id)
                                                  for c in found[:12]), per_row=2))


# ---- ledger and figures ------------------------------------------------------------------------------------


def ledger_labels(t: Translator) -> tuple[tuple[str, ...], dict[str, str]]:
    headers = (t("Number"), t("Opened"), t("Category"), t("Place"), t("Reporter"), t("Anonymous"), t("State"),
               t("Level"), t("Handler"), t("Times overdue"), t("Resolved"), t("Rating"), t("Department rating"),
               t("Description"), t("Resolution"))
    labels = {c.code: t(c.label) for c in CATEGORIES}
    labels.update({s.value: t(name) for s, name in STATE_NAMES.items()})
    labels.update({code: t(label) for code, label in DEPARTMENT_RATINGS.items()})
    labels.update(common=t("a common area"), anonymous=t("anonymous"))
    return headers, labels


def parse_range(text: str, today: date) -> tuple[date, date] | None:
    """`[cases] [FROM [TO]]` as YYYY-MM-DD; by default this month so far."""
    parts = [p for p in text.split() if p.lower() != "cases"]
    try:
        dates = [date.fromisoformat(p) for p in parts[:2]]
    except ValueError:
        return None
    if not dates:
        return today.replace(day=1), today
    first, last = dates[0], dates[1] if len(dates) > 1 else today
    return (first, last) if first <= last else None


@router.command("export", roles=[Role.SECRETARY], private=True, help="Export the case ledger (XLSX)", order=64)
async def export(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    compound = ctx.compound
    assert compound is not None
    args = str(ctx.args.get("command_args", "")).strip()
    if args and args.split()[0].lower() != "cases":
        return Reply(t("Usage: /export cases [FROM TO], dates as 2026-11-01."))
    zone = ZoneInfo(compound.timezone)
    span = parse_range(args, ctx.now.astimezone(zone).date())
    if span is None:
        return Reply(t("Usage: /export cases [FROM TO], dates as 2026-11-01."))
    start, end = store.day_bounds(span[0], span[1], zone)
    headers, labels = ledger_labels(t)
    data = await store.ledger_xlsx(ctx.session, compound, start, end, headers, labels)
    name = f"cases-{compound.code}-{span[0]:%Y%m%d}-{span[1]:%Y%m%d}.xlsx"
    return Reply(t("The case ledger of {compound}, {first} to {last}.", compound=compound.name,
                   first=span[0].isoformat(), last=span[1].isoformat()), document=Media(data, name, XLSX))


@router.command("stats", roles=HANDLER_ROLES, help="This month's case figures", order=65)
async def stats(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    compound = ctx.compound
    assert compound is not None and compound.id is not None
    start, end = store.month_bounds(ctx.now, ZoneInfo(compound.timezone))
    found = store.figures(await store.ledger(ctx.session, compound.id, start, end))
    lines = [t("Cases in {compound}, {month}:", compound=compound.name, month=start.strftime("%Y-%m")),
             t("Opened: {n}", n=found.opened), t("Resolved: {n}", n=found.resolved),
             t("Overdue at some point: {n}", n=found.overdue)]
    if found.by_category:
        lines.append(t("By category: {list}", list="、".join(f"{_category_label(t, code)} {n}"
                                                           for code, n in found.by_category.items())))
    lines.append(t("Median time to resolve: {hours} hours", hours=f"{found.median_hours:.1f}")
                 if found.median_hours is not None else t("Median time to resolve: none resolved yet"))
    lines.append(t("Satisfaction (4–5 stars): {rate}% of {n} rated", rate=f"{found.satisfaction * 100:.0f}",
                   n=found.rated) if found.satisfaction is not None else t("Satisfaction: no ratings yet"))
    return Reply("\n".join(lines))


# ---- deadlines ---------------------------------------------------------------------------------------------


@router.job("overdue", every=timedelta(minutes=5))
async def overdue(ctx: JobContext) -> Replies:
    """Escalate overdue cases one level, remind unrated ones, close those left unrated too long."""
    replies: list[Reply] = []
    for due in await store.due_cases(ctx.session, ctx.now):
        case = await store.load_case(ctx.session, due.id or 0)
        if case is None:
            continue
        compound = await ctx.session.get(Compound, case.compound_id)
        assert compound is not None and compound.id is not None
        if case.state in ACTIVE:
            replies += await _overdue(ctx, compound, case)
        elif case.state == State.RESOLVED and not case.reminded:
            case.reminded = True
            case.due_at = (case.resolved_at or ctx.now) + store.rating_windows(compound)[1]
            await store.transition(ctx.session, case, Event.REMIND, None, ctx.now)
            replies.append(await _rating_request(ctx, case, True))
        elif case.state == State.RESOLVED:
            case.closed_at, case.due_at = ctx.now, None
            await store.transition(ctx.session, case, Event.EXPIRE, None, ctx.now)
            replies.append(await _tell_reporter(ctx, case, N_("Your case {number} is closed without a rating. Thank "
                                                           "you for reporting it.")))
        else:
            case.due_at = None
            ctx.session.add(case)
    return replies


async def _overdue(ctx: JobContext, compound: Compound, case: Case) -> list[Reply]:
    assert compound.id is not None
    case.overdue_count += 1
    if case.level < TOP_LEVEL:
        case.level += 1
        case.handler_id = await store.handler_for(ctx.session, compound, case, case.level,
                                                  store.compound_role_of(compound, case))
        store.set_deadlines(case, compound, ctx.now)
    else:
        # Nowhere higher to go: the department is chased again tomorrow, and the secretary told.
        hours, _days = store.deadline_settings(compound)
        case.due_at = ctx.now + timedelta(hours=hours)
    await store.transition(ctx.session, case, Event.OVERDUE, None, ctx.now)
    replies = await tell_handler(ctx, compound, case, "overdue")
    replies += await ctx.tell_role(Role.SECRETARY, compound.id, lambda st: Reply(
        st("Case {number} missed its deadline and is now at the {level} level.", number=case.number,
           level=st(LEVEL_NAMES[case.level])),
        buttons=((Button.do(st("Show"), "complaints.view", case=case.id),),)), skip=(case.handler_id,))
    rt = await ctx.translator_for(case.reporter_id)
    replies.append(Reply(rt("Your case {number} was not handled in time, so it has gone up to the {level} level.",
                            number=case.number, level=rt(LEVEL_NAMES[case.level])), to=ToPerson(case.reporter_id)))
    return replies
