"""Complaints (诉求): filing, the handlers' buttons, deadlines and escalation, the reporter's answers and ratings,
look-ups, anonymity, the ledger export and the month's figures. Three declared flows: `complain` (filing, any
answer editable from the summary), `case_note` (a handler's question or resolution, or the optional note of an
escalation, hand-over, whistle or referral to mediation), `case_answer` (a question opened in the reporter's private
chat: their next text or photo there is the answer) and `mediation` (a mediator records the outcome of a neighbour
dispute's mediation: an agreement with its document, or none). Every change of a case is a domain action in
`storage.complaints`."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.core import answers
from bot.core.context import BaseContext, Context, JobContext, MemberContext
from bot.core.flows import Done, Draft, Flow, Go, Outcome, Stay
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import (
    XLSX,
    Button,
    FileRef,
    Incoming,
    Location,
    Media,
    Photo,
    Replies,
    Reply,
    ToPerson,
    rows,
)
from bot.core.when import parse_day
from handlers import pages, party
from storage import announcements as documents
from storage import complaints as store
from storage import property as property_store
from storage.access_log import Via
from storage.complaints import (
    ACTIVE,
    DEPARTMENT_RATINGS,
    LEVEL_NAMES,
    STATE_NAMES,
    Acted,
    Case,
    Event,
    Sight,
    State,
)
from storage.compounds import Building, Compound, buildings_of
from storage.conversations import open_for
from storage.notifications import Notice, NoticeKind
from storage.organisations import departments_of_compound
from storage.outbox import load_media, store_media
from storage.people import Person, Role, people_with_role, roles_in

router = Router("complaints")

HANDLER_ROLES = [Role.BUILDING_LEADER, Role.PROPERTY, Role.SECRETARY, Role.COMMITTEE, Role.OFFICIAL]
NUMBER = re.compile(r"^[A-Za-z0-9]{1,16}-\d{4}-\d{4,}$")
MOVED_ON = N_("This case has moved on; this button does nothing any more. Send /case {number} to see where it is.")
REFUSALS = {  # why storage did not act (an `Acted`), said to whoever asked
    Acted.NOT_YOURS: N_("This is not your case."),
    Acted.ALREADY_ASKED: N_("The reporter of {number} was already asked and has not answered yet; you will be told "
                            "when they do."),
    Acted.ALREADY_RATED: N_("The department's response to {number} was already rated."),
    Acted.TOP_LEVEL: N_("This case is already with a department; it cannot go higher."),
    Acted.NO_SECRETARY: N_("There is no secretary to hand this case to."),
    Acted.NOT_OFFICIAL: N_("That person is not a department official of this compound."),
    Acted.NOT_DEPARTMENT: N_("That department is not one of this compound's street."),
    Acted.NOT_HERE: N_("This case does not belong to your compound."),
    Acted.NOT_HANDLER: N_("This case is not yours to handle."),
    Acted.SECRETARY_ONLY: N_("Only the secretary can call in a department."),
    Acted.NOT_MEDIABLE: N_("Only a neighbour dispute at the compound level can go to the mediation committee."),
    Acted.ANONYMOUS: N_("An anonymous case cannot go to mediation: mediation brings the parties together."),
    Acted.NO_MEDIATOR: N_("This compound has no mediation committee yet. The secretary grants the role with /grant N "
                          "mediator."),
    Acted.ALREADY_MEDIATED: N_("Case {number} went to the mediation committee already."),
    Acted.NOT_MEDIATOR: N_("Only a member of the mediation committee records a mediation's outcome."),
    Acted.MEDIATION_DONE: N_("The outcome of the mediation of case {number} was recorded already."),
}


def _category_label(t: Translator, code: str) -> str:
    category = store.CATEGORY_BY_CODE.get(code)
    return t(category.label) if category else code


def _refused(t: Translator, acted: Acted, number: str) -> Reply:
    if acted in REFUSALS:
        return Reply(t(REFUSALS[acted], number=number), toast=t("Not allowed"))
    return Reply(t(MOVED_ON, number=number), toast=t("This case has moved on"))


def _version(ctx: Context) -> int:
    """The case's version a handling or rating button was made for: once the case moves on, it is stale."""
    return int(ctx.args.get("v", -1))


def _choices(ctx: Context, text: str, options: Iterable[tuple[str, object]], per_row: int = 2,
             **values: object) -> Reply:
    """A question (marked with N_) with its answers as step buttons: (label, value)."""
    return Reply(ctx.t(text, **values), buttons=rows(*(Button.choice(label, value) for label, value in options),
                                                     per_row=per_row))


# ---- filing ------------------------------------------------------------------------------------------------


class Complaint(Draft):
    category: str = ""
    description: str = ""
    photos: tuple[str, ...] = ()
    photo_platform: str = ""
    building_id: int | None = None
    room_id: int | None = None
    anonymous: bool = False
    # A map pin shared at the place step: (latitude, longitude, label).
    location: tuple[float, float, str] | None = None
    editing: bool = False  # one answer is being changed from the summary: its step goes back there


complain_flow = Flow("complain", Complaint, title=N_("filing a complaint"), member=True)
EDITABLE = {"category": N_("Category"), "description": N_("Description"), "photos": N_("Photos"),
            "place": N_("Place"), "anonymous": N_("Anonymity")}


def _onward(draft: Complaint, step: str, **changes: object) -> Go:
    """On to `step` with these answers, or back to the summary when one answer was being changed."""
    draft = draft.model_copy(update=changes)
    return Go("confirm", draft.model_copy(update={"editing": False})) if draft.editing else Go(step, draft)



@router.command("complain", group="cases", private=True, member=True, flow=True, help="File a complaint or request", order=10)
async def complain(ctx: MemberContext, msg: Incoming) -> Replies:
    return await complain_flow.begin(ctx, Complaint())


@complain_flow.step("category", next=("description", "photos", "confirm"), ask=lambda ctx, draft: _choices(
    ctx, N_("What is it about? Choose a category."), ((ctx.t(c.label), c.code) for c in store.CATEGORIES)),
    answer=answers.Choice(values=tuple(store.CATEGORY_BY_CODE),
                          refusal=N_("Please choose a category with the buttons above (or type its name).")))
async def category(ctx: MemberContext, draft: Complaint, code: str) -> Outcome:
    # A description kept from the message the person began with (outside any conversation) is not asked again.
    return _onward(draft, "photos" if draft.description else "description", category=code)


@complain_flow.step("description", next=("photos", "confirm"), ask=lambda ctx, draft: Reply(ctx.t(
    "Please describe the problem ({min}–{max} characters): what, where exactly, since when.",
    min=store.DESCRIPTION_MIN, max=store.DESCRIPTION_MAX)),
    answer=answers.Text(store.DESCRIPTION_MAX, what=N_("description"), minimum=store.DESCRIPTION_MIN))
async def description(ctx: MemberContext, draft: Complaint, text: str) -> Outcome:
    return _onward(draft, "photos", description=text)


@complain_flow.step("photos", next=("place", "confirm"), answer=answers.PhotoOrDone(), ask=lambda ctx, draft: _choices(
    ctx, N_("You may send up to {max} photos now, or skip."), ((ctx.t("Skip"), "done"),), max=store.MAX_PHOTOS))
async def photos_step(ctx: MemberContext, draft: Complaint, photo: Photo | None) -> Outcome:
    if photo is not None:
        draft = draft.model_copy(update={"photos": (*draft.photos, photo.file_id), "photo_platform": photo.platform})
    if photo is None or len(draft.photos) >= store.MAX_PHOTOS:
        return _onward(draft, "place")
    return Stay(_choices(ctx, N_("Photo {n} of {max} added. Send another, or press Done."),
                         ((ctx.t("Finish photos"), "done"),), n=len(draft.photos), max=store.MAX_PHOTOS), draft)


async def _ask_place(ctx: MemberContext, draft: Complaint) -> Reply:
    t = ctx.t
    names = {b.id: b.name for b in await buildings_of(ctx.session, ctx.compound_id)}
    own = await store.reporter_buildings(ctx.session, ctx.person_id, ctx.compound_id)
    return _choices(ctx, N_("Where is it? You may also share its location (📍) first."),
                    [*((t("My building ({building})", building=names.get(b, "?")), b) for b in own),
                     (t("Another building"), "other"), (t("A common area"), "common")], per_row=1)


@complain_flow.step("place", ask=_ask_place, next=("other_building", "anonymous", "confirm"),
                    answer=answers.Either((answers.Choice(), answers.SharedLocation()), refusal=N_(
                        "Please choose where it is with the buttons above, or share its location.")))
async def place(ctx: MemberContext, draft: Complaint, value: object) -> Outcome:
    if isinstance(value, Location):  # the pin is kept; the building still decides who handles the case
        pinned = draft.model_copy(update={"location": (value.latitude, value.longitude, value.label)})
        return Stay(Reply(ctx.t("Location noted: {place}. Now choose the building, or a common area, above.",
                                place=_pin(value.latitude, value.longitude, value.label))), pinned)
    if value == "other":
        return Go("other_building", draft)
    if value == "common":
        return _onward(draft, "anonymous", building_id=None, room_id=None)
    own = await store.reporter_buildings(ctx.session, ctx.person_id, ctx.compound_id)
    if not isinstance(value, int) or value not in own:
        return Stay(Reply(ctx.t("Please choose where it is with the buttons above.")))
    return _onward(draft, "anonymous", building_id=value, room_id=own[value])


async def _ask_building(ctx: MemberContext, draft: Complaint) -> Reply:
    buildings = await buildings_of(ctx.session, ctx.compound_id)
    return _choices(ctx, N_("Which building?"), ((b.name, b.id) for b in buildings[:60]), per_row=3)


@complain_flow.step("other_building", ask=_ask_building, next=("anonymous", "confirm"),
                    answer=answers.Choice(refusal=N_("Please choose the building with the buttons above.")))
async def other_building(ctx: MemberContext, draft: Complaint, value: object) -> Outcome:
    if value not in {b.id for b in await buildings_of(ctx.session, ctx.compound_id)}:
        return Stay(Reply(ctx.t("Please choose the building with the buttons above.")))
    return _onward(draft, "anonymous", building_id=value, room_id=None)


@complain_flow.step("anonymous", next=("confirm",), ask=lambda ctx, draft: _choices(
    ctx, N_("Should the case be anonymous? Then only the secretary sees who you are; property staff and departments "
            "do not see your name, phone or room."), ((ctx.t("Anonymous"), "yes"), (ctx.t("Show my name"), "no"))),
    answer=answers.Choice(values=("yes", "no"), refusal=N_("Please answer with the buttons above: anonymous or not.")))
async def anonymous(ctx: MemberContext, draft: Complaint, value: str) -> Outcome:
    return _onward(draft, "confirm", anonymous=value == "yes")


async def _summary(ctx: Context, draft: Complaint) -> Reply:
    t = ctx.t
    building = await ctx.session.get(Building, draft.building_id) if draft.building_id else None
    where = building.name if building else t("a common area")
    return _choices(ctx, N_("Please check your case:\nCategory: {category}\nPlace: {place}\nPhotos: {photos}\n"
                            "Anonymous: {anonymous}\n\n{description}"),
                    ((t("Confirm"), "confirm"), (t("Edit"), "edit"), (t("Cancel"), "cancel")), per_row=3,
                    category=_category_label(t, draft.category), photos=len(draft.photos),
                    place=f"{where} · 📍 {_pin(*draft.location)}" if draft.location else where,
                    anonymous=t("yes") if draft.anonymous else t("no"), description=draft.description)


@complain_flow.step("confirm", ask=_summary, next=("edit",), answer=answers.Choice(
    values=("confirm", "edit", "cancel"), refusal=N_("Please press Confirm, Edit or Cancel above.")))
async def confirm(ctx: MemberContext, draft: Complaint, value: str) -> Outcome:
    t = ctx.t
    if value != "confirm":
        return Go("edit") if value == "edit" else Done(Reply(t("Cancelled. Nothing was filed.")))
    case = await store.file_case(ctx.session, ctx.compound, ctx.person_id, draft.category, draft.description, ctx.now,
                                 photos=draft.photos, photo_platform=draft.photo_platform,
                                 building_id=draft.building_id, room_id=draft.room_id, anonymous=draft.anonymous,
                                 location=draft.location)
    return Done([Reply(t("Thank you. Your case {number} is filed and has gone to the {level} level; you will hear "
                         "here about every step. Send /case {number} to follow it.",
                         number=case.number, level=t(LEVEL_NAMES[case.level]))),
                 *await tell_handler(ctx, ctx.compound, case, "new"),
                 # Copied to the party members responsible for that building or floor (an anonymous case: the
                 # building only, so no floor points at its reporter).
                 *await party.copy_case(ctx, ctx.compound_id, case.number, case.category, case.description,
                                        case.reporter_id, case.building_id, None if case.anonymous else case.room_id)])


@complain_flow.step("edit", next=tuple(EDITABLE), ask=lambda ctx, draft: _choices(
    ctx, N_("What would you like to change?"), ((ctx.t(label), step) for step, label in EDITABLE.items()), per_row=3),
    answer=answers.Choice(values=tuple(EDITABLE), refusal=N_("Please choose what to change with the buttons above.")))
async def edit(ctx: MemberContext, draft: Complaint, step: str) -> Outcome:
    cleared: dict[str, dict[str, object]] = {"photos": {"photos": ()}, "place": {"location": None}}
    return Go(step, draft.model_copy(update={"editing": True, **cleared.get(step, {})}))


def _pin(latitude: float, longitude: float, label: str) -> str:
    """A shared location as people read it: its name, then the degrees (which any map app takes)."""
    return f"{label} ({latitude:.5f}, {longitude:.5f})" if label else f"{latitude:.5f}, {longitude:.5f}"


# ---- showing a case ----------------------------------------------------------------------------------------


def _note_shown(t: Translator, event: store.CaseEvent) -> str:
    """An event's note as the history shows it: a rating in words, never its stored code."""
    if event.event == Event.RATE_DEPARTMENT and event.note in DEPARTMENT_RATINGS:
        return t(DEPARTMENT_RATINGS[store.DepartmentRating(event.note)])
    if event.event in (Event.RATE, Event.REOPEN) and event.note in ("1", "2", "3", "4", "5"):
        return t("Rating: {stars} of 5", stars=event.note)
    return event.note[:200]


def _reporter_line(t: Translator, case: Case, shown: store.ReporterShown) -> str:
    if shown.sight == Sight.ANONYMOUS:
        return t("Reporter: anonymous")
    if shown.sight == Sight.NAMED:
        return (t("Reporter: a named resident ({building})", building=shown.building) if shown.building
                else t("Reporter: a named resident"))
    return t("Reporter: {name}, room {room}, phone {phone}{anonymous}", name=shown.name or "?", room=shown.room or "-",
             phone=shown.phone or "-", anonymous=t(" (anonymous to others)") if case.anonymous else "")


async def _card(ctx: BaseContext, t: Translator, compound: Compound, case: Case, viewer_id: int,
                viewer_roles: frozenset[Role], with_history: bool = False, via: Via = Via.NOTICE) -> str:
    """The case as this viewer (holding `viewer_roles` in its compound) may see it: storage decides how much of the
    reporter (`store.show_reporter`, which logs a shown identity)."""
    session = ctx.session
    building = await session.get(Building, case.building_id) if case.building_id is not None else None
    lines = [t("Case {number} · {category}", number=case.number, category=_category_label(t, case.category)),
             t("Status: {state} · level {level} ({level_name})", state=t(STATE_NAMES[case.state]),
               level=case.level, level_name=t(LEVEL_NAMES[case.level])),
             t("Place: {place}", place=building.name if building else t("a common area"))]
    if case.latitude is not None and case.longitude is not None:
        lines.append(t("Location: {pin}", pin=_pin(case.latitude, case.longitude, case.location_label)))
    shown = await store.show_reporter(session, case, viewer_id, viewer_roles, ctx.now, via)
    lines.append(_reporter_line(t, case, shown))
    if department := await store.department_name(session, case):
        lines.append(t("Department: {department}", department=department))
    mediation = await store.mediation_of(session, case.stored_id) if case.id is not None else None
    document = await store.agreement_document(session, mediation)
    if mediation is not None:
        lines.append(_mediation_line(ctx, t, compound, mediation, document))
    if case.handler_id is not None and (handler := await session.get(Person, case.handler_id)) is not None:
        lines.append(t("Handler: {name}", name=handler.name))
    lines.append(t("Opened: {opened}", opened=ctx.local(case.opened_at, compound)))
    if case.state in ACTIVE and case.resolve_by is not None:
        lines.append(t("Resolve by: {deadline}", deadline=ctx.local(case.resolve_by, compound)))
    if case.overdue_count:
        lines.append(t("Overdue {n} time(s)", n=case.overdue_count))
    if case.photos.get("ids"):
        lines.append(t("Photos: {n}", n=len(case.photos["ids"])))
    if shot := store.resolution_photos(case)[1]:
        lines.append(t("Photos of the result: {n}", n=len(shot)))
    if case.rating is not None:
        lines.append(t("Rating: {stars} of 5", stars=case.rating))
    if case.department_rating:
        lines.append(t("Department response: {rating}", rating=t(DEPARTMENT_RATINGS[case.department_rating])))
    lines += ["", case.description] + (["", t("Resolution: {note}", note=case.resolution)] if case.resolution else [])
    if with_history:
        lines += ["", t("History:")]
        for event in await store.history(session, case.id):
            who = t("system") if event.actor_id is None else t("the reporter")
            if event.actor_id == case.reporter_id and shown.sight == Sight.IDENTITY:
                who = shown.name or "?"
            elif event.actor_id is not None and event.actor_id != case.reporter_id:
                who = person.name if (person := await session.get(Person, event.actor_id)) else "?"
            note = _note_shown(t, event)
            attached = [f"📎 {document[0]}"] if event.event == Event.AGREEMENT and document else []
            lines.append(" · ".join([f"{ctx.local(event.at, compound)} {t(store.EVENT_NAMES[event.event])}", who,
                                     *([note] if note else []), *([f"📷 {event.photos}"] if event.photos else []),
                                     *attached]))
    return "\n".join(lines)


# What a handler may do (`store.handler_actions`) as buttons, (label, action): every way on is the one "escalate"
# button, which asks storage again which way the case goes when it is pressed.
BUTTONS = {Event.ACCEPT: (N_("Accept"), "accept"), Event.ASK: (N_("Ask for more"), "ask"),
           Event.RESOLVE: (N_("Resolve"), "resolve"), Event.ESCALATE: (N_("Hand over / Escalate"), "escalate"),
           Event.HAND_OVER: (N_("Hand over / Escalate"), "escalate"), Event.WHISTLE: (N_("Blow the whistle"), "escalate")}


def _buttons(t: Translator, case: Case, person_id: int, roles: frozenset[Role],
             photos: bool = False) -> tuple[tuple[Button, ...], ...]:
    """A case's buttons for this person: what they may do to it now (storage decides), the reporter's 补充 while it is
    open, then its photos if asked."""
    actions = store.handler_actions(case, roles) if store.may_handle(case, person_id, roles) else ()
    shown = rows(*(Button.do(t(BUTTONS[event][0]), f"complaints.{BUTTONS[event][1]}", case=case.id, v=case.version)
                   for event in actions), per_row=2)
    if person_id == case.reporter_id and case.state in ACTIVE:
        shown += ((Button.do(t("Add information"), "complaints.supplement", case=case.id),),)
    if photos and (case.photos.get("ids") or store.resolution_photos(case)[1]):
        shown += ((Button.do(t("Show the photos"), "complaints.photos", case=case.id),),)
    return shown


HEADINGS = {"new": N_("A new case for you:"), "overdue": N_("An overdue case was escalated to you:"),
            "escalated": N_("A case was escalated to you:"),
            "reopened": N_("The reporter was not satisfied; this case is reopened and needs your attention:"),
            "answered": N_("The reporter answered:"), "supplemented": N_("The reporter added information:"),
            "mediation_failed": N_("The mediation reached no agreement, so the case is with you now:")}


async def tell_handler(ctx: BaseContext, compound: Compound, case: Case, why: str, note: str = "") -> list[Reply]:
    """The new handler gets the case with its buttons (and `note`: what the reporter answered); without one, the
    secretaries are told."""
    if case.handler_id is None:
        department = await store.department_name(ctx.session, case)
        return [Reply((st("Case {number} went to {department}, which has no official on linli yet. Please ask the "
                          "street admin to add one; the case waits there and the department is reminded when its "
                          "deadline passes.", number=case.number, department=department) if department else
                       st("Case {number} has no one to handle it at the {level} level. Please give someone that "
                          "role with /grant (a department's officials are added by the street admin) and hand the "
                          "case on.", number=case.number,
                          level=st(LEVEL_NAMES[case.level]))) + "\n\n"
                      + await _card(ctx, st, compound, case, secretary, frozenset({Role.SECRETARY})),
                      to=ToPerson(secretary), notice=Notice(NoticeKind.CASE_TO_ACT, f"case:{case.id}:nobody",
                                                            f"{case.level}:{case.department_id}"))
                for secretary, st in await ctx.role_translators(compound.stored_id, Role.SECRETARY)]
    tr = await ctx.translator_for(case.handler_id)
    roles = await roles_in(ctx.session, case.handler_id, compound.stored_id)
    card = await _card(ctx, tr, compound, case, case.handler_id, roles)
    return [Reply(f"{tr(HEADINGS[why])} {note}".strip() + f"\n\n{card}", to=ToPerson(case.handler_id),
                  buttons=(*_buttons(tr, case, case.handler_id, roles, photos=why in ("answered", "supplemented")),
                           *await _mediation_buttons(ctx, tr, case, case.handler_id, roles)))]


async def _tell_reporter(ctx: BaseContext, case: Case, message: str | Callable[[Translator], Reply]) -> Reply:
    """`message` to the reporter, in their language: a text marked with N_ (it may name the case's {number} and
    {level}), or the Reply made from their translator."""
    rt = await ctx.translator_for(case.reporter_id)
    made = message(rt) if callable(message) else Reply(rt(message, number=case.number,
                                                          level=rt(LEVEL_NAMES[case.level])))
    return replace(made, to=ToPerson(case.reporter_id))


async def _photo_replies(ctx: BaseContext, platform: str, file_ids: Iterable[str], person_id: int,
                         caption: Callable[[int], str]) -> list[Reply]:
    """Photos sent on to someone (the reporter's to the handler, a resolution's to the reporter), each as an image
    with `caption(n)`; one the platform no longer has is left out rather than failing the rest."""
    replies = []
    for n, file_id in enumerate(file_ids, 1):
        try:
            data = await ctx.core.fetch_photo(platform, file_id)
        except Exception:  # an expired or unreachable file must not undo the action
            continue
        replies.append(Reply(caption(n), image=Media(data, f"photo-{n}.jpg", "image/jpeg"), to=ToPerson(person_id)))
    return replies


# ---- handling ----------------------------------------------------------------------------------------------


async def _case(ctx: MemberContext, case_id: int, event: Event | None, version: int | None) -> Case | Reply:
    """The case, if this person may do `event` (None: send it on, `store.onward`) to it now; else why not."""
    case = await store.load_case(ctx.session, case_id)
    if case is None:
        return _refused(ctx.t, Acted.NOT_YOURS if event in store.REPORTER_EVENTS else Acted.NOT_HERE, "")
    refused = store.refusal(case, event or store.onward(case, ctx.roles), ctx.person_id, ctx.compound_id,
                            ctx.roles, version)
    return case if refused is None else _refused(ctx.t, refused, case.number)


CaseAction = Callable[[MemberContext, Case, Event], Awaitable[Replies]]


def _case_button(action: str, event: Event | None, **route: Any) -> Callable[[CaseAction], CaseAction]:
    """Route the button `complaints.<action>` about one case (its `case` and `v` arguments) to `act`, once storage
    finds that the presser may do `event` to the case now (None: send it on); otherwise they are told why."""
    def register(act: CaseAction) -> CaseAction:
        async def pressed(ctx: MemberContext, msg: Incoming) -> Replies:
            found = await _case(ctx, int(ctx.args.get("case", 0)), event, _version(ctx))
            if isinstance(found, Reply):
                return found
            return await act(ctx, found, event or store.onward(found, ctx.roles))

        router.button(f"complaints.{action}", **route)(pressed)
        return act

    return register


@_case_button("accept", Event.ACCEPT, roles=HANDLER_ROLES)
async def accept(ctx: MemberContext, case: Case, event: Event) -> Replies:
    t = ctx.t
    acted = await store.accept(ctx.session, case, ctx.person_id, ctx.now, _version(ctx))
    if acted != Acted.DONE:
        return _refused(t, acted, case.number)
    return [Reply(t("You accepted case {number}. Resolve it by {deadline}.", number=case.number,
                    deadline=ctx.local(case.resolve_by or ctx.now, ctx.compound)),
                  buttons=_buttons(t, case, ctx.person_id, ctx.roles), toast=t("Case accepted")),
            await _tell_reporter(ctx, case, N_("Your case {number} was accepted and is being handled."))]


class CaseNote(Draft):
    case: int
    v: int
    number: str
    action: Event  # ask | resolve | escalate | hand_over | whistle | mediate
    official: int | None = None  # a whistle to an official (a compound in no street with departments)
    department: int | None = None  # a whistle to a department of the compound's street
    note: str = ""  # a resolution's note, while its photos are asked for
    photos: tuple[str, ...] = ()
    photo_platform: str = ""


case_note = Flow("case_note", CaseNote, title=N_("a note on a case"), roles=HANDLER_ROLES)
NOTE_QUESTIONS = {
    Event.ASK: N_("What do you need to know from the reporter of {number}? Type your question."),
    Event.RESOLVE: N_("How was case {number} resolved? Type a short note for the reporter and the ledger."),
    Event.ESCALATE: N_("Case {number} goes up to the compound level."),
    Event.HAND_OVER: N_("Case {number} goes to the secretary, who can call in a department."),
    Event.WHISTLE: N_("Case {number} goes to the department you chose."),
    Event.MEDIATE: N_("Case {number} goes to the compound's mediation committee (调解委员会)."),
}
MOVES = {  # a case sent on: what its former handler is told, and its reporter
    Event.ESCALATE: (N_("Case {number} was escalated to the {level} level."),
                     N_("Your case {number} was escalated to the {level} level.")),
    Event.HAND_OVER: (N_("Case {number} was handed to the secretary, who can call in a department."),
                      N_("Your case {number} was handed over to the secretary.")),
}
MOVES[Event.WHISTLE] = MOVES[Event.ESCALATE]


async def _begin_note(ctx: MemberContext, case: Case, event: Event) -> Replies:
    """Ask for the note the action carries: needed for a question or a resolution, optional when the case is sent
    on (a whistle's department is in its button)."""
    draft = CaseNote(case=case.stored_id, v=case.version, number=case.number, action=event,
                     official=ctx.args.get("official"), department=ctx.args.get("department"))
    return await case_note.begin(ctx, draft, "note" if event in (Event.ASK, Event.RESOLVE) else "remark")


_case_button("ask", Event.ASK, roles=HANDLER_ROLES, private=True)(_begin_note)
_case_button("resolve", Event.RESOLVE, roles=HANDLER_ROLES, private=True)(_begin_note)
_case_button("whistle", Event.WHISTLE, roles=[Role.SECRETARY], private=True)(_begin_note)


@_case_button("escalate", None, roles=HANDLER_ROLES, private=True)
async def escalate(ctx: MemberContext, case: Case, event: Event) -> Replies:
    """Send the case on, as storage says (`store.onward`): up a level or to the secretary, with a note; the
    secretary first chooses the department to call in."""
    if event != Event.WHISTLE:
        return await _begin_note(ctx, case, event)
    if streets := await departments_of_compound(ctx.session, ctx.compound_id):  # the street's departments
        return Reply(ctx.t("Which department should respond to case {number}?", number=case.number),
                     buttons=rows(*(Button.do(d.name, "complaints.whistle", case=case.id, v=case.version,
                                              department=d.id) for d in streets), per_row=2))
    if not (departments := await store.officials(ctx.session, ctx.compound_id)):
        return Reply(ctx.t("No department serves this compound yet. The street admin creates the street's "
                           "departments (/department) and adds their officials (/official)."))
    return Reply(ctx.t("Which department should respond to case {number}?", number=case.number),
                 buttons=rows(*(Button.do(p.name, "complaints.whistle", case=case.id, v=case.version, official=p.id)
                                for p in departments), per_row=2))


async def _act(ctx: MemberContext, draft: CaseNote, note: str) -> Outcome:
    """The handler's action, once its note is written: storage decides, then everyone concerned is told."""
    t, event = ctx.t, draft.action
    case = await _case(ctx, draft.case, event, draft.v)
    if isinstance(case, Reply):
        return Done(case)
    before = case.handler_id
    acted = await store.act(ctx.session, ctx.compound, case, event, ctx.person_id, ctx.now, note, draft.v,
                            draft.official, (draft.photo_platform, draft.photos) if draft.photos else None,
                            draft.department)
    if acted != Acted.DONE:
        return Done(_refused(t, acted, case.number))
    if event == Event.ASK:
        return Done(await _asked(ctx, case, note))
    if event == Event.RESOLVE:
        return Done(await _resolved(ctx, case, note))
    if event == Event.MEDIATE:
        return Done(await _mediated(ctx, case, note))
    said, told = MOVES[event]
    if department := await store.department_name(ctx.session, case):  # 吹哨 names the department
        said, told = (N_("Case {number} was referred to {department}."),
                      N_("Your case {number} was referred to {department}, a department of the street."))
    rt = await ctx.translator_for(case.reporter_id)
    return Done([Reply(t(said, number=case.number, level=t(LEVEL_NAMES[case.level]), department=department),
                       toast=t("Escalated")),
                 *await tell_handler(ctx, ctx.compound, case, "escalated"),
                 *await _tell_former(ctx, case, before, ctx.person_id),
                 Reply(rt(told, number=case.number, level=rt(LEVEL_NAMES[case.level]), department=department),
                       to=ToPerson(case.reporter_id),
                       notice=Notice(NoticeKind.CASE_UPDATE, f"case:{case.id}", f"level:{case.level}"))])


async def _tell_former(ctx: BaseContext, case: Case, former: int | None, actor: int | None) -> list[Reply]:
    """The handler who lost the case (sent on by someone else, or by its deadline) is told it left their queue."""
    if former is None or former in (actor, case.handler_id):
        return []
    if Role.SECRETARY in await roles_in(ctx.session, former, case.compound_id):
        return []  # the secretary follows every case of the compound and is told of each escalation anyway
    tr = await ctx.translator_for(former)
    return [Reply(tr("Case {number} is no longer yours: it went to the {level} level.", number=case.number,
                     level=tr(LEVEL_NAMES[case.level])), to=ToPerson(former),
                  notice=Notice(NoticeKind.CASE_UPDATE, f"case:{case.id}:former:{former}", f"level:{case.level}"))]


async def _noted(ctx: MemberContext, draft: CaseNote, note: str) -> Outcome:
    """A question goes at once; a resolution may first get photos of the result."""
    if draft.action == Event.RESOLVE:
        return Go("proof", draft.model_copy(update={"note": note}))
    return await _act(ctx, draft, note)


# Two steps that differ in data only: the note of a question or a resolution is needed; a case sent on may go
# without one.
case_note.step("note", answer=answers.Text(store.DESCRIPTION_MAX, what=N_("note"), minimum=2), next=("proof",),
               ask=lambda ctx, draft: Reply(ctx.t(NOTE_QUESTIONS[draft.action], number=draft.number)))(_noted)


@case_note.step("proof", answer=answers.PhotoOrDone(), ask=lambda ctx, draft: _choices(
    ctx, N_("You may send up to {max} photos of the result for the reporter, or finish without."),
    ((ctx.t("No photos"), "done"),), max=store.MAX_PHOTOS))
async def proof(ctx: MemberContext, draft: CaseNote, photo: Photo | None) -> Outcome:
    if photo is not None and photo.platform == (draft.photo_platform or photo.platform):
        draft = draft.model_copy(update={"photos": (*draft.photos, photo.file_id), "photo_platform": photo.platform})
    if photo is None or len(draft.photos) >= store.MAX_PHOTOS:
        return await _act(ctx, draft, draft.note)
    return Stay(_choices(ctx, N_("Photo {n} of {max} added. Send another, or press Done."),
                         ((ctx.t("Finish photos"), "done"),), n=len(draft.photos), max=store.MAX_PHOTOS), draft)
case_note.step("remark", answer=answers.Text(store.DESCRIPTION_MAX, what=N_("note"), skip="skip"),
               ask=lambda ctx, draft: _choices(
                   ctx, N_("{where} Add a note for the case history (why, what was tried), or go on without one."),
                   ((ctx.t("No note"), "skip"),), where=ctx.t(NOTE_QUESTIONS[draft.action], number=draft.number)))(_act)


async def _asked(ctx: MemberContext, case: Case, question: str) -> list[Reply]:
    """The question goes to the reporter, and their next text or photo in their private chat is the answer."""
    draft = CaseAnswer(case=case.stored_id, v=case.version, number=case.number)
    opened = await open_for(ctx.session, case.reporter_id, case_answer.name, case_answer.first,
                            draft.model_dump(mode="json"), case.compound_id, ctx.now,
                            ctx.now - timedelta(minutes=ctx.settings.conversation_idle_minutes))
    how = N_("Just reply here with text or a photo; or press Answer.") if opened else N_("Press Answer to reply.")
    return [Reply(ctx.t("Your question was sent to the reporter of {number}.", number=case.number)),
            await _tell_reporter(ctx, case, lambda rt: Reply(
                rt("About your case {number}, the handler asks: {question}", number=case.number, question=question)
                + "\n" + rt(how), buttons=((Button.do(rt("Answer"), "complaints.answer", case=case.id,
                                                      v=case.version),),)))]


async def _resolved(ctx: MemberContext, case: Case, note: str) -> list[Reply]:
    platform, shot = store.resolution_photos(case)
    rt = await ctx.translator_for(case.reporter_id)
    replies = [Reply(ctx.t("Case {number} is marked resolved; the reporter is asked to rate it.", number=case.number)),
               *await _photo_replies(ctx, platform, shot, case.reporter_id, lambda n: rt(
                   "Photo {n} of the result of case {number}", n=n, number=case.number)),
               await _rating_request(ctx, case, False)]
    if store.check(case, Event.RATE_DEPARTMENT) is None:  # a department resolved it: the secretary rates it
        replies += await ctx.tell_role(Role.SECRETARY, ctx.compound_id, lambda st: Reply(
            st("The department resolved case {number}: {note}\nHow do you rate the department's response?",
               number=case.number, note=note),
            buttons=(tuple(Button.do(st(label), "complaints.department", case=case.id, rating=code.value)
                           for code, label in DEPARTMENT_RATINGS.items()),)))
    return replies


async def _rating_request(ctx: BaseContext, case: Case, reminder: bool) -> Reply:
    def ask(rt: Translator) -> Reply:
        text = rt("A reminder: how satisfied are you with the handling of case {number}? (1 = not at all, 5 = "
                  "very). Without a rating the case closes in two days.", number=case.number) if reminder else rt(
            "Your case {number} was resolved: {note}\nHow satisfied are you? (1 = not at all, 5 = very)",
            number=case.number, note=case.resolution)
        return Reply(text, buttons=rows(*(Button.do(rt(label), "complaints.rate", case=case.id, v=case.version,
                                                    stars=n) for n, label in store.RATINGS.items())))

    return await _tell_reporter(ctx, case, ask)


@_case_button("department", Event.RATE_DEPARTMENT, roles=[Role.SECRETARY])
async def rate_department(ctx: MemberContext, case: Case, event: Event) -> Replies:
    t = ctx.t
    rating = next((r for r in store.DepartmentRating if r.value == ctx.args.get("rating")), None)
    acted = Acted.NOT_NOW if rating is None else await store.rate_department(ctx.session, case, ctx.person_id,
                                                                             rating, ctx.now)
    if rating is None or acted != Acted.DONE:
        return _refused(t, acted, case.number)
    return Reply(t("Thank you. The department's response to {number} is rated: {rating}.", number=case.number,
                   rating=t(DEPARTMENT_RATINGS[rating])), toast=t("Rated"))


# ---- the reporter's side -----------------------------------------------------------------------------------


class CaseAnswer(Draft):
    case: int
    v: int
    number: str
    asked: bool = True  # the answer to the handler's question; False: the reporter's own 补充


case_answer = Flow("case_answer", CaseAnswer, title=N_("your answer about a case"), member=True, question=True)


def _ask_answer(ctx: MemberContext, draft: CaseAnswer) -> Reply:
    if draft.asked:
        return Reply(ctx.t("Please type your answer about case {number}, or send a photo.", number=draft.number))
    return Reply(ctx.t("What would you like to add to case {number}? Type it, or send a photo (a caption may go "
                       "with it).", number=draft.number))


@case_answer.step("answer", ask=_ask_answer, answer=answers.PhotoOrText(
    store.DESCRIPTION_MAX, refusal=N_("Please type your answer as text, or send a photo.")))
async def answer_step(ctx: MemberContext, draft: CaseAnswer, given: answers.Evidence) -> Outcome:
    """The answer to a question, or a 补充 (storage decides which: a waiting question takes it); the handler gets
    it with the photo itself."""
    t = ctx.t
    case = await store.load_case(ctx.session, draft.case)
    photo = (given.photo.platform, given.photo.file_id) if given.photo is not None else None
    acted, event = (Acted.NOT_YOURS, Event.SUPPLEMENT) if case is None else await store.add_information(
        ctx.session, case, ctx.person_id, ctx.now, given.text, photo, draft.v if draft.asked else None)
    if case is None or acted != Acted.DONE:
        return Done(_refused(t, acted, draft.number))
    compound = await store.compound_of(ctx.session, case)
    replies = [Reply(t("Thank you, your answer was added to case {number}.", number=case.number)),
               *await tell_handler(ctx, compound, case, "answered" if event == Event.ANSWER else "supplemented",
                                   given.text or ("📷" if given.photo else ""))]
    if given.photo is not None and case.handler_id is not None:
        tr = await ctx.translator_for(case.handler_id)
        replies += await _photo_replies(ctx, given.photo.platform, [given.photo.file_id], case.handler_id,
                                        lambda n: tr("The reporter's photo for case {number}", number=case.number))
    return Done(replies)


@router.button("complaints.supplement", member=True, private=True)
async def supplement(ctx: MemberContext, msg: Incoming) -> Replies:
    """补充: the reporter adds text or a photo to their open case, asked or not."""
    case = await ctx.session.get(Case, int(ctx.args.get("case", 0)))
    if case is None or case.reporter_id != ctx.person_id:
        return _refused(ctx.t, Acted.NOT_YOURS, "")
    if case.state not in ACTIVE:
        return _refused(ctx.t, Acted.NOT_NOW, case.number)
    return await case_answer.begin(ctx, CaseAnswer(case=case.stored_id, v=case.version, number=case.number,
                                                   asked=False))


@_case_button("answer", Event.ANSWER, member=True, private=True)
async def answer(ctx: MemberContext, case: Case, event: Event) -> Replies:
    return await case_answer.begin(ctx, CaseAnswer(case=case.stored_id, v=case.version, number=case.number))


@router.button("complaints.rate")
async def rate(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    case = await store.load_case(ctx.session, int(ctx.args.get("case", 0)))
    if case is None:
        return _refused(t, Acted.NOT_YOURS, "")
    stars, compound = int(ctx.args.get("stars", 0)), await store.compound_of(ctx.session, case)
    acted = await store.rate(ctx.session, compound, case, ctx.person_id, stars, ctx.now, _version(ctx))
    if acted == Acted.CLOSED:
        return Reply(t("Thank you for rating case {number} ({stars} of 5). The case is closed.",
                       number=case.number, stars=stars), toast=t("Rated"))
    if acted == Acted.REOPENED:
        return [Reply(t("We are sorry it was not solved well. Case {number} is reopened and the secretary will look "
                        "at it.", number=case.number), toast=t("Reopened")),
                *await tell_handler(ctx, compound, case, "reopened")]
    return _refused(t, acted, case.number)


# ---- mediation (调解委员会): a neighbour dispute at the compound level ----------------------------------------


def _mediation_line(ctx: BaseContext, t: Translator, compound: Compound, mediation: store.Mediation,
                    document: tuple[str, str] | None) -> str:
    """Where the case's mediation stands, as its card shows it."""
    if mediation.outcome == store.MediationOutcome.AGREED:
        return t("Mediation: agreement reached {when}{document}: {summary}",
                 when=ctx.local(mediation.agreement_at or mediation.referred_at, compound),
                 document=f" (📎 {document[0]})" if document else t(" (oral agreement)"), summary=mediation.summary)
    if mediation.outcome == store.MediationOutcome.FAILED:
        return t("Mediation: no agreement ({when}): {summary}",
                 when=ctx.local(mediation.agreement_at or mediation.referred_at, compound), summary=mediation.summary)
    return t("Mediation: with the mediation committee since {when}", when=ctx.local(mediation.referred_at, compound))


async def _mediation_buttons(ctx: BaseContext, t: Translator, case: Case, person_id: int,
                             roles: frozenset[Role]) -> tuple[tuple[Button, ...], ...]:
    """Refer to mediation, for the handler or the secretary of a dispute that may go there now (storage decides);
    the agreement's document, for whoever sees the card of a case that has one."""
    if case.id is None:
        return ()
    shown: tuple[tuple[Button, ...], ...] = ()
    if await store.mediation_refusal(ctx.session, case, person_id, case.compound_id, roles) is None:
        shown += ((Button.do(t("Refer to mediation"), "complaints.mediate", case=case.id, v=case.version),),)
    if await store.agreement_document(ctx.session, await store.mediation_of(ctx.session, case.id)) is not None:
        shown += ((Button.do(t("Show the agreement"), "complaints.agreement", case=case.id),),)
    return shown


@router.button("complaints.mediate", roles=HANDLER_ROLES, private=True)
async def mediate(ctx: MemberContext, msg: Incoming) -> Replies:
    """The handler or the secretary gives the dispute to the mediation committee, with an optional note."""
    case = await store.load_case(ctx.session, int(ctx.args.get("case", 0)))
    if case is None:
        return _refused(ctx.t, Acted.NOT_HERE, "")
    refused = await store.mediation_refusal(ctx.session, case, ctx.person_id, ctx.compound_id, ctx.roles,
                                            _version(ctx))
    if refused is not None:
        return _refused(ctx.t, refused, case.number)
    return await _begin_note(ctx, case, Event.MEDIATE)


async def _mediated(ctx: MemberContext, case: Case, note: str) -> list[Reply]:
    """Referred: the mediators get the case (they see the named reporter, to bring the parties together) with the
    button that records the outcome; the reporter is told."""
    mediators = await people_with_role(ctx.session, case.compound_id, Role.MEDIATOR)
    replies = [Reply(ctx.t("Case {number} was referred to the mediation committee; you will be told of the outcome.",
                           number=case.number), toast=ctx.t("Referred"))]
    for mediator in mediators:
        pt = await ctx.translator_for(mediator)
        roles = await roles_in(ctx.session, mediator, case.compound_id)
        heading = pt("A neighbour dispute was referred to the mediation committee (调解委员会):")
        replies.append(Reply(f"{heading} {note}".strip() + "\n\n" + await _card(ctx, pt, ctx.compound, case, mediator,
                                                                                  roles),
                             to=ToPerson(mediator), notice=Notice(NoticeKind.CASE_TO_ACT, f"case:{case.id}:mediation"),
                             buttons=((Button.do(pt("Record the outcome"), "complaints.mediation", case=case.id),),)))
    replies.append(await _tell_reporter(ctx, case, lambda rt: Reply(
        rt("Your case {number} was referred to the compound's mediation committee (调解委员会); a mediator will contact "
           "you.", number=case.number), notice=Notice(NoticeKind.CASE_UPDATE, f"case:{case.id}", "mediation"))))
    return replies


class Mediating(Draft):
    case: int
    number: str
    agreed: bool = True
    # The agreement's document, kept in the media table at once (a platform's file id expires).
    document_id: int | None = None
    document_name: str = ""


mediation_flow = Flow("mediation", Mediating, title=N_("the outcome of a mediation"), roles=[Role.MEDIATOR])
ORAL = N_("Oral agreement, no document")


@router.button("complaints.mediation", roles=[Role.MEDIATOR], private=True)
async def mediation_pressed(ctx: MemberContext, msg: Incoming) -> Replies:
    """A mediator records the outcome of a referred dispute; once recorded (by anyone), the button does nothing."""
    case = await ctx.session.get(Case, int(ctx.args.get("case", 0)))
    mediation = await store.mediation_of(ctx.session, case.stored_id) if case is not None else None
    if case is None or mediation is None:
        return _refused(ctx.t, Acted.NOT_HERE, "")
    if case.compound_id != ctx.compound_id:
        return _refused(ctx.t, Acted.NOT_HERE, case.number)
    if mediation.outcome != store.MediationOutcome.REFERRED:
        return _refused(ctx.t, Acted.MEDIATION_DONE, case.number)
    return await mediation_flow.begin(ctx, Mediating(case=case.stored_id, number=case.number))


@mediation_flow.step("outcome", next=("document", "summary"), ask=lambda ctx, draft: _choices(
    ctx, N_("Did the mediation of case {number} reach an agreement (调解协议)?"),
    ((ctx.t("Agreement reached"), "agreed"), (ctx.t("No agreement"), "failed")), number=draft.number),
    answer=answers.Choice(values=("agreed", "failed"), refusal=N_(
        "Please answer with the buttons above: an agreement, or none.")))
async def mediation_outcome(ctx: MemberContext, draft: Mediating, value: str) -> Outcome:
    agreed = value == "agreed"
    return Go("document" if agreed else "summary", draft.model_copy(update={"agreed": agreed}))


@mediation_flow.step("document", next=("summary",), ask=lambda ctx, draft: Reply(ctx.t(
    "Send the signed agreement as a file ({kinds}) or a photo of it; it is kept with the case. Or press the button "
    "for an oral agreement (口头协议).", kinds=documents.ALLOWED_DOCUMENTS),
    buttons=((Button.choice(ctx.t(ORAL), "oral"),),)), answer=answers.Attachment(
    refusal=N_("Please send the agreement as a file ({kinds}) or a photo, or press the button for an oral "
               "agreement."), skip_label=ORAL, skip="oral", kinds=documents.ALLOWED_DOCUMENTS))
async def mediation_document(ctx: MemberContext, draft: Mediating, sent: Photo | FileRef | None) -> Outcome:
    t = ctx.t
    if sent is None:
        return Go("summary", draft.model_copy(update={"document_id": None, "document_name": ""}))
    again = Stay(Reply(t("I could not fetch your file. Please send it again, or press the button for an oral "
                         "agreement."), buttons=((Button.choice(t(ORAL), "oral"),),)))
    if isinstance(sent, FileRef) and sent.size is not None and sent.size > documents.DOCUMENT_MAX_BYTES:
        return Stay(Reply(t("That file is larger than {limit} MB. Please send a smaller one, or a photo of the "
                            "agreement.", limit=documents.DOCUMENT_MAX_BYTES // (1024 * 1024)),
                          buttons=((Button.choice(t(ORAL), "oral"),),)))
    try:
        data = await ctx.core.fetch_photo(sent.platform, sent.file_id)
    except Exception:  # the platform lost the file: the step stays, nothing entered is lost
        return again
    if isinstance(sent, Photo):
        mime, name = documents.image_mime(data)
        name = f"{draft.number}-agreement{name[name.rfind('.'):]}"
    elif len(data) > documents.DOCUMENT_MAX_BYTES or (kind := documents.document_type(data, sent.name)) is None:
        return Stay(Reply(t("Sorry, I can only take a {kinds} file or a photo. Please send the agreement again in one "
                            "of these forms, or press the button for an oral agreement.",
                            kinds=documents.ALLOWED_DOCUMENTS), buttons=((Button.choice(t(ORAL), "oral"),),)))
    else:
        mime, name = kind
    document_id = await store_media(ctx.session, data, mime, name)
    return Go("summary", draft.model_copy(update={"document_id": document_id, "document_name": name}))


def _ask_summary(ctx: Context, draft: Mediating) -> Reply:
    if draft.agreed:
        return Reply(ctx.t("In a few words, what did the parties agree? It goes on the case's timeline and to the "
                           "reporter."))
    return Reply(ctx.t("In a few words, why was no agreement reached? The case then goes to the secretary, who may "
                       "call in a department."))


@mediation_flow.step("summary", ask=_ask_summary, answer=answers.Text(500, what=N_("summary"), minimum=5))
async def mediation_summary(ctx: MemberContext, draft: Mediating, summary: str) -> Outcome:
    """Storage records the outcome once; the reporter and the handler are told (a failed mediation: the secretary,
    who has the case now)."""
    t = ctx.t
    case = await store.load_case(ctx.session, draft.case)
    if case is None or case.compound_id != ctx.compound_id:
        return Done(_refused(t, Acted.NOT_HERE, draft.number))
    before = case.handler_id
    acted = await store.record_mediation(ctx.session, ctx.compound, case, ctx.person_id, ctx.roles, ctx.now,
                                         draft.agreed, summary, draft.document_id)
    if acted != Acted.DONE:
        return Done(_refused(t, acted, case.number))
    if not draft.agreed:
        told = N_("The mediation of your case {number} reached no agreement. The secretary takes the case on and may "
                  "call in a department.")
        return Done([Reply(t("Recorded: no agreement. Case {number} went to the secretary.", number=case.number)),
                     *await tell_handler(ctx, ctx.compound, case, "mediation_failed", summary),
                     *await _tell_former(ctx, case, before, ctx.person_id),
                     replace(await _tell_reporter(ctx, case, told),
                             notice=Notice(NoticeKind.CASE_UPDATE, f"case:{case.id}", "mediation_failed"))])
    stored = await load_media(ctx.session, draft.document_id) if draft.document_id is not None else None

    def attached(text: str) -> Reply:
        if stored is None:
            return Reply(text)
        media = Media(stored.data, stored.filename, stored.mime)
        return Reply(text, image=media) if stored.mime.startswith("image/") else Reply(text, document=media)

    replies = [Reply(t("Recorded: the agreement is on the timeline of case {number}; the reporter and the handler "
                       "were told.", number=case.number)),
               replace(await _tell_reporter(ctx, case, lambda rt: attached(rt(
                   "The mediation of your case {number} reached an agreement (调解协议): {summary}",
                   number=case.number, summary=summary))),
                   notice=Notice(NoticeKind.CASE_UPDATE, f"case:{case.id}", "agreement"))]
    handlers = [case.handler_id] if case.handler_id is not None else await people_with_role(
        ctx.session, case.compound_id, Role.SECRETARY)
    for handler in handlers:
        if handler == ctx.person_id:
            continue
        pt = await ctx.translator_for(handler)
        roles = await roles_in(ctx.session, handler, case.compound_id)
        replies.append(Reply(pt("The mediation committee recorded an agreement for case {number}: {summary}\nYou can "
                                "resolve the case now.", number=case.number, summary=summary),
                             to=ToPerson(handler), buttons=_buttons(pt, case, handler, roles),
                             notice=Notice(NoticeKind.CASE_TO_ACT, f"case:{case.id}", "agreement")))
    return Done(replies)


@router.button("complaints.agreement", private=True)
async def agreement(ctx: Context, msg: Incoming) -> Replies:
    """The agreement's document, to whoever may look the case up."""
    t = ctx.t
    case = await ctx.session.get(Case, int(ctx.args.get("case", 0)))
    if case is None or not await store.may_look_up(ctx.session, case, ctx.person_id, await roles_in(
            ctx.session, ctx.person_id, case.compound_id)):
        return _refused(t, Acted.NOT_YOURS, "")
    mediation = await store.mediation_of(ctx.session, case.stored_id)
    stored = await load_media(ctx.session, mediation.agreement_media_id) if mediation is not None \
        and mediation.agreement_media_id is not None else None
    if stored is None:
        return Reply(t("Case {number} has no agreement document.", number=case.number))
    media = Media(stored.data, stored.filename, stored.mime)
    text = t("The mediation agreement (调解协议) of case {number}: {summary}", number=case.number,
             summary=mediation.summary if mediation else "")
    return Reply(text, image=media) if stored.mime.startswith("image/") else Reply(text, document=media)


# ---- look-ups ----------------------------------------------------------------------------------------------


def _status_line(t: Translator, case: Case, ctx: BaseContext, compound: Compound | None) -> str:
    overdue = t(" · overdue") if store.is_overdue(case, ctx.now) else ""
    return (f"{case.number} · {_category_label(t, case.category)} · {t(STATE_NAMES[case.state])}"
            f"{overdue} · {ctx.local(case.opened_at, compound, '%m-%d')}")


@router.command("mycases", group="cases", member=True, private=True, help="Your complaints and their status", order=11)
async def mycases(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    if not (found := await store.cases_of_reporter(ctx.session, ctx.person_id, ctx.compound_id)):
        return Reply(t("You have not filed any cases yet. Send /complain to file one."))
    return Reply("\n".join([t("Your cases:"), *(_status_line(t, c, ctx, ctx.compound) for c in found),
                            t("Press a case to see its card and history.")]), buttons=_case_list(found))


def _case_list(found: list[Case]) -> tuple[tuple[Button, ...], ...]:
    """One button per case, opening its card with the timeline."""
    return rows(*(Button.do(c.number, "complaints.view", case=c.id) for c in found), per_row=2)


@router.command("case", group="cases", private=True, help="One case with its full history", order=12)
async def show_case(ctx: Context, msg: Incoming) -> Replies:
    number = str(ctx.args.get("command_args", "")).strip().upper()
    if not NUMBER.match(number):
        return Reply(ctx.t("Send /case followed by a case number, for example /case XFL-2026-0001."))
    return await _show(ctx, await store.case_by_number(ctx.session, number), number)


@router.button("complaints.view", private=True)
async def view(ctx: Context, msg: Incoming) -> Replies:
    case = await ctx.session.get(Case, int(ctx.args.get("case", 0)))
    return await _show(ctx, case, case.number if case else "?")


async def _show(ctx: Context, case: Case | None, number: str) -> Replies:
    """The case with its history, to whoever may look it up (`store.may_look_up`); anyone else gets the answer a
    number that does not exist gets."""
    t = ctx.t
    roles = await roles_in(ctx.session, ctx.person_id, case.compound_id) if case else frozenset()
    if case is None or not await store.may_look_up(ctx.session, case, ctx.person_id, roles):
        return Reply(t("I could not find case {number} among the cases you may see.", number=number[:40]))
    compound = await store.compound_of(ctx.session, case)
    # The reporter's own case page on the web (a signed link that expires), when the pages are served.
    page = pages.case_buttons(t, ctx.settings, case, ctx.person_id, ctx.now) if case.reporter_id == ctx.person_id else ()
    return Reply(await _card(ctx, t, compound, case, ctx.person_id, roles, with_history=True, via=Via.LOOKUP),
                 buttons=(*_buttons(t, case, ctx.person_id, roles, photos=True),
                          *await _mediation_buttons(ctx, t, case, ctx.person_id, roles), *page))


@router.button("complaints.photos", private=True)
async def photos(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    case = await ctx.session.get(Case, int(ctx.args.get("case", 0)))
    if case is None or not await store.may_look_up(ctx.session, case, ctx.person_id, await roles_in(
            ctx.session, ctx.person_id, case.compound_id)):
        return _refused(t, Acted.NOT_YOURS, "")
    replies: list[Reply] = []
    resolution = store.resolution_photos(case)
    for (platform, ids), shown in (((str(case.photos.get("platform", "")), case.photos.get("ids", [])),
                                    N_("Photo {n} of case {number}")),
                                   (resolution, N_("Photo {n} of the result of case {number}"))):
        for index, file_id in enumerate(ids, 1):
            try:
                data = await ctx.core.fetch_photo(platform, str(file_id))
            except Exception:  # A platform may have dropped an old file; say so instead of failing the rest.
                replies.append(Reply(t("Photo {n} of case {number} is no longer available.", n=index,
                                       number=case.number)))
                continue
            replies.append(Reply(t(shown, n=index, number=case.number),
                                 image=Media(data, f"{case.number}-{index}.jpg", "image/jpeg")))
    return replies


@router.command("cases", group="cases", roles=HANDLER_ROLES, private=True, help="Your queue of cases to handle", order=13)
async def cases(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    found = await store.queue(ctx.session, ctx.compound_id, ctx.person_id, ctx.roles, ctx.now)
    if not found:
        return Reply(t("No open cases in your queue."))
    return Reply("\n".join([t("Open cases (overdue first):"), *(_status_line(t, c, ctx, ctx.compound) for c in found)]),
                 buttons=_case_list(found))


# ---- ledger and figures ------------------------------------------------------------------------------------


def ledger_labels(t: Translator) -> tuple[tuple[str, ...], dict[str, str]]:
    headers = tuple(t(header) for header in store.LEDGER_COLUMNS)
    labels = {c.code: t(c.label) for c in store.CATEGORIES}
    labels.update({s.value: t(name) for s, name in STATE_NAMES.items()})
    labels.update({code.value: t(label) for code, label in DEPARTMENT_RATINGS.items()})
    labels.update(common=t("a common area"), anonymous=t("anonymous"))
    return headers, labels


@router.command("export cases", group="cases", roles=[Role.SECRETARY, Role.SUPERVISOR], private=True,
                help="Export the case ledger (XLSX)", order=64)
async def export(ctx: MemberContext, msg: Incoming) -> Replies:
    """`/export cases [FROM [TO]]`, each a day as `bot.core.when` reads it; by default this month so far, and on
    the 1st of a month the month just ended (the new one is still empty)."""
    t, zone = ctx.t, ctx.zone(ctx.compound)
    usage = Reply(t("Usage: /export cases [FROM TO], dates as 2026-11-01."))
    words = str(ctx.args.get("command_args", "")).split()
    if len(words) > 2:
        return usage
    days = [day for day in (parse_day(word, ctx.now, zone) for word in words) if day is not None]
    today = ctx.now.astimezone(zone).date()
    month_ended = today.day == 1 and not days
    first = days[0] if days else (today - timedelta(days=1)).replace(day=1) if month_ended else today.replace(day=1)
    last = days[1] if len(days) > 1 else today - timedelta(days=1) if month_ended else today
    if len(days) < len(words) or first > last:
        return usage
    # Least privilege: a supervisor's ledger names no reporter; a name shown is access-logged (storage decides).
    data = await store.ledger_xlsx(ctx.session, ctx.compound, *store.day_bounds(first, last, zone), t,
                                   {"common": t("a common area"), "anonymous": t("anonymous"),
                                    "named": t("a named resident")},
                                   store.LedgerReader(ctx.person_id, ctx.roles, ctx.now))
    return Reply(t("The case ledger of {compound}, {first} to {last}.", compound=ctx.compound.name,
                   first=answers.day_text(t, first), last=answers.day_text(t, last)),
                 document=Media(data, f"cases-{ctx.compound.code}-{first:%Y%m%d}-{last:%Y%m%d}.xlsx", XLSX))


@router.command("stats", group="cases", roles=HANDLER_ROLES, help="This month's case figures", order=65)
async def stats(ctx: MemberContext, msg: Incoming) -> Replies:
    """This month's figures as the monthly report counts them (one definition: `storage.complaints.figures`)."""
    t = ctx.t
    start, end = store.month_bounds(ctx.now, ctx.zone(ctx.compound))
    found = (await store.figures(ctx.session, start, end, [ctx.compound_id])).get(ctx.compound_id, store.Figures())
    lines = [t("Cases in {compound}, {month}:", compound=ctx.compound.name, month=start.strftime("%Y-%m")),
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


# ---- after a failed rectification: the recommendation to revoke the company's qualification ----------------


class Revocation(Draft):
    order: int


revocation_flow = Flow("revocation", Revocation, title=N_("the recommendation to revoke the property company's "
                                                          "qualification"), roles=[Role.SECRETARY])


def evidence_labels(t: Translator) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...], dict[str, str]]:
    _headers, labels = ledger_labels(t)
    labels.update({status.value: t(name) for status, name in RECTIFICATION_STATES.items()})
    return (tuple(t(name) for name in store.EVIDENCE_SHEETS),
            tuple(tuple(t(h) for h in header) for header in store.EVIDENCE_COLUMNS), labels)


RECTIFICATION_STATES = {property_store.RectificationStatus.OPEN: N_("to be put right"),
                        property_store.RectificationStatus.RESPONDED: N_("reported"),
                        property_store.RectificationStatus.ESCALATED: N_("escalated"),
                        property_store.RectificationStatus.VERIFIED: N_("verified")}


@router.command("revocation", roles=[Role.SECRETARY], private=True, flow=True, order=66,
                help="Recommend revoking the property company's qualification (after a failed rectification)")
async def revocation(ctx: MemberContext, msg: Incoming) -> Replies:
    order = await property_store.failed_rectification(ctx.session, ctx.compound_id)
    if order is None:
        return Reply(ctx.t("A recommendation to revoke the property company's qualification can be made only after a "
                           "failed rectification: an order past its deadline, or one you found not done."))
    return await revocation_flow.begin(ctx, Revocation(order=order.stored_id))


@revocation_flow.step("reason", answer=answers.Text(1000, what=N_("reason"), minimum=5), ask=lambda ctx, draft: Reply(
    ctx.t("Rectification order #{order} failed. Why should the department revoke the property company's "
          "qualification (取消经营资质)? Type the reasons; the grades, the orders and the overdue cases go with it as "
          "one spreadsheet.", order=draft.order)))
async def revocation_reason(ctx: MemberContext, draft: Revocation, reason: str) -> Outcome:
    t = ctx.t
    order = await ctx.session.get(property_store.Rectification, draft.order)
    department = await store.department_for(ctx.session, ctx.compound)
    advice = None if order is None or order.compound_id != ctx.compound_id else await (
        property_store.recommend_revocation(ctx.session, order, ctx.person_id, reason, ctx.now,
                                            department.stored_id if department else None))
    if advice is None:
        return Done(Reply(t("That rectification order has not failed (it was verified, or is still in time); "
                            "nothing was recorded.")))

    async def evidence(tr: Translator) -> Media:
        sheets, columns, labels = evidence_labels(tr)
        data = await store.revocation_evidence_xlsx(ctx.session, ctx.compound, sheets, columns, labels)
        return Media(data, f"revocation-{ctx.compound.code}-{ctx.now:%Y%m%d}.xlsx", XLSX)

    name = department.name if department else ""
    replies = [Reply(t("The recommendation to revoke {company}'s qualification is recorded{to}. The evidence is "
                       "attached.", company=advice.company or t("the property company"),
                       to=t(" and sent to {department}", department=name) if name else ""),
                     document=await evidence(t))]
    for official in await property_officials(ctx, department.stored_id if department else None):
        tr = await ctx.translator_for(official)
        replies.append(Reply(tr("The secretary of {compound} recommends revoking the qualification of {company}, whose "
                                "rectification failed: {reason}\nThe evidence is attached.",
                                compound=ctx.compound.name, company=advice.company or tr("the property company"),
                                reason=reason), document=await evidence(tr), to=ToPerson(official)))
    return Done(replies)


async def property_officials(ctx: MemberContext, department_id: int | None) -> list[int]:
    """Who receives the recommendation: the department's officials (none: the secretary hands it over in person)."""
    from storage.organisations import officials_of

    return await officials_of(ctx.session, department_id) if department_id is not None else []


# ---- deadlines ---------------------------------------------------------------------------------------------


@router.job("overdue", every=timedelta(minutes=5))
async def overdue(ctx: JobContext) -> Replies:
    """Escalate overdue cases one level, remind unrated ones, close those left unrated too long."""
    replies: list[Reply] = []
    for case in await store.due_cases(ctx.session, ctx.now):
        compound = await store.compound_of(ctx.session, case)
        former = case.handler_id
        event = await store.on_due(ctx.session, compound, case, ctx.now)
        if event == Event.OVERDUE:
            replies += await _overdue(ctx, compound, case, former)
        elif event == Event.CHASE:
            replies += await _chased(ctx, compound, case)
        elif event == Event.REMIND:
            replies.append(await _rating_request(ctx, case, True))
        elif event == Event.EXPIRE:
            replies.append(await _tell_reporter(ctx, case, N_("Your case {number} is closed without a rating. Thank "
                                                           "you for reporting it.")))
    return replies


async def _overdue(ctx: JobContext, compound: Compound, case: Case, former: int | None) -> list[Reply]:
    """Escalated by its deadline: the new handler, the secretary, the handler who lost it and the reporter (once per
    level: a case at the department level is chased, never escalated again) are told."""
    told = await _tell_reporter(ctx, case, N_("Your case {number} was not handled in time, so it has gone up to the "
                                              "{level} level."))
    return [*await tell_handler(ctx, compound, case, "overdue"), *await ctx.tell_role(
        Role.SECRETARY, compound.stored_id, lambda st: Reply(
            st("Case {number} missed its deadline and is now at the {level} level.", number=case.number,
               level=st(LEVEL_NAMES[case.level])),
            buttons=((Button.do(st("Show"), "complaints.view", case=case.id),),),
            notice=Notice(NoticeKind.ESCALATION, f"case:{case.id}", f"level:{case.level}")), skip=(case.handler_id,)),
        *await _tell_former(ctx, case, former, None),
        replace(told, notice=Notice(NoticeKind.CASE_UPDATE, f"case:{case.id}", f"level:{case.level}"))]


async def _chased(ctx: JobContext, compound: Compound, case: Case) -> list[Reply]:
    """A department past its deadline: its officials (who must act: sent at once, each day) and the secretary (an
    unchanged escalation: after the first, a line of their daily digest) are reminded; the reporter is not told
    again, and the case keeps its state."""
    department = await store.department_name(ctx.session, case) or ""
    day = ctx.local(ctx.now, compound, "%Y-%m-%d")
    replies = []
    officials = await store.department_officials(ctx.session, case)
    for official in officials:
        tr = await ctx.translator_for(official)
        roles = await roles_in(ctx.session, official, compound.stored_id)
        # Not accepted yet, it missed the time to respond (its resolution deadline may be days away); accepted, the
        # time to resolve.
        chase = (tr("Reminder: case {number} has not been accepted in time at the department level (reminders so "
                    "far: {n}). Please accept it, and resolve it by its deadline.", number=case.number, n=case.chases)
                 if case.state == State.OPEN else
                 tr("Reminder: case {number} has passed its deadline to be resolved at the department level "
                    "(reminders so far: {n}). Please resolve it.", number=case.number, n=case.chases))
        replies.append(Reply(chase + "\n\n" + await _card(ctx, tr, compound, case, official, roles),
                             to=ToPerson(official), buttons=_buttons(tr, case, official, roles),
                             notice=Notice(NoticeKind.CASE_TO_ACT, f"case:{case.id}:chase", day)))
    reminded = N_("Case {number} is past its deadline at the department level ({department}); the department was "
                  "reminded.")
    nobody = N_("Case {number} is past its deadline at the department level, and {department} has no official on "
                "linli yet. Please ask the street admin to add one.")
    replies += await ctx.tell_role(Role.SECRETARY, compound.stored_id, lambda st: Reply(
        st(reminded if officials else nobody, number=case.number,
           department=department or st(LEVEL_NAMES[case.level])),
        buttons=((Button.do(st("Show"), "complaints.view", case=case.id),),),
        notice=Notice(NoticeKind.ESCALATION, f"case:{case.id}:chase", f"officials:{len(officials)}")))
    return replies


router.flow(complain_flow, case_note, case_answer, revocation_flow, mediation_flow)

__all__ = ["LEVEL_NAMES", "router", "tell_handler"]
