"""Meetings: organisers create them in a private chat, they are announced with Attend / Can't attend buttons,
reminded before they start, moved or cancelled (everyone who answered is told), and get minutes (纪要)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.core import answers
from bot.core.context import BaseContext, Context, JobContext, MemberContext
from bot.core.flows import Done, Draft, Flow, Go, Outcome, Stay
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, Target, ToGroups, ToPerson, rows
from storage import meetings as store
from storage.compounds import Building, Compound, buildings_of
from storage.meetings import AUDIENCES, KINDS, ORGANISER_ROLES, Meeting, Result
from storage.notifications import Notice, NoticeKind
from storage.people import Role, led_buildings

router = Router("meetings")

WEEKDAY_NAMES = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
                 N_("Sunday"))


# ---- texts shared by postings, lists and reminders ------------------------------------------------------------


def weekday_name(tr: Translator, moment: datetime) -> str:
    return tr(WEEKDAY_NAMES[moment.weekday()])


async def describe(c: BaseContext, tr: Translator, meeting: Meeting, compound: Compound,
                   moment: str | None = None) -> str:
    """The meeting as postings, lists and reminders show it; `moment`: its time echoed in full (a summary)."""
    local = meeting.starts_at.astimezone(c.zone(compound))
    audience = tr(AUDIENCES.get(meeting.audience, AUDIENCES["all"]))
    if meeting.audience == "building" and meeting.building_id:
        building = await c.session.get(Building, meeting.building_id)
        audience = building.name if building else audience
    lines = [
        f"【{tr(KINDS.get(meeting.kind, KINDS['council']))}】{meeting.title}",
        tr("Time: {moment}", moment=moment) if moment else
        tr("Time: {when} ({weekday})", when=local.strftime("%Y-%m-%d %H:%M"), weekday=weekday_name(tr, local)),
        tr("Venue: {place}", place=meeting.place),
        tr("For: {audience}", audience=audience),
    ]
    if meeting.agenda:
        lines.append(tr("Agenda: {agenda}", agenda=meeting.agenda))
    if meeting.recurrence == "weekly":
        lines.append(tr("Repeats every {weekday} at {time}.", weekday=weekday_name(tr, local),
                        time=local.strftime("%H:%M")))
    elif meeting.recurrence == "monthly_first":
        lines.append(tr("Repeats on the first {weekday} of every month at {time}.", weekday=weekday_name(tr, local),
                        time=local.strftime("%H:%M")))
    return "\n".join(lines)


def rsvp_buttons(tr: Translator, meeting_id: int) -> tuple[tuple[Button, ...], ...]:
    return ((Button.do(tr("Attend"), "meetings.rsvp", meeting=meeting_id, attending=True),
             Button.do(tr("Can't attend"), "meetings.rsvp", meeting=meeting_id, attending=False)),)


async def audience_targets(c: BaseContext, meeting: Meeting) -> list[Target]:
    """Party meetings go to each party member privately; the others to the compound's group chats (a building
    meeting to that building's groups and the compound-wide ones, where that building's residents are too)."""
    if meeting.audience == "party":
        return [ToPerson(p) for p in await store.audience_people(c.session, meeting)]
    if meeting.audience == "building" and meeting.building_id:
        return [ToGroups(meeting.compound_id, meeting.building_id)]
    return [ToGroups(meeting.compound_id)]


async def announcement(c: BaseContext, meeting: Meeting, compound: Compound) -> list[Reply]:
    replies: list[Reply] = []
    targets = await audience_targets(c, meeting)
    translators = await c.translators_for(target.person_id for target in targets if isinstance(target, ToPerson))
    for target in targets:
        tr = translators[target.person_id] if isinstance(target, ToPerson) else c.translator(compound.language)
        counts = await _counts(c, tr, meeting)
        text = "\n".join(part for part in (await describe(c, tr, meeting, compound), counts) if part)
        replies.append(Reply(text, buttons=rsvp_buttons(tr, meeting.stored_id), to=target,
                             posting=f"meeting:{meeting.id}" if isinstance(target, ToGroups) else None))
    return replies


async def _counts(c: BaseContext, tr: Translator, meeting: Meeting) -> str:
    given = await store.rsvps(c.session, meeting.stored_id)
    if not given:
        return ""
    yes = sum(1 for a in given if a.attending)
    return tr("Attending: {yes} · Can't attend: {no}", yes=yes, no=len(given) - yes)


async def _posting_update(c: BaseContext, meeting: Meeting, compound: Compound, note: str = "",
                          buttons: bool = True) -> Reply:
    """The group posting, edited in place (answers so far, or that it was moved or cancelled)."""
    tr = c.translator(compound.language)
    text = "\n".join(part for part in (note, await describe(c, tr, meeting, compound), await _counts(c, tr, meeting))
                     if part)
    return Reply(text, buttons=rsvp_buttons(tr, meeting.stored_id) if buttons else (), edit=f"meeting:{meeting.id}")


# ---- calling a meeting -------------------------------------------------------------------------------------


class NewMeeting(Draft):
    kind: str = ""
    title: str = ""
    place: str = ""
    starts_at: datetime | None = None
    agenda: str = ""
    audience: str = "all"
    building_id: int | None = None
    recurrence: str = ""
    # The summary was shown: a time given again goes straight back to it.
    editing: bool = False


newmeeting = Flow("newmeeting", NewMeeting, title=N_("calling a meeting"), roles=ORGANISER_ROLES)



def _ask_kind(ctx: Context, draft: NewMeeting) -> Reply:
    t = ctx.t
    return Reply(t("What kind of meeting is it?"),
                 buttons=rows(*(Button.choice(t(label), code) for code, label in KINDS.items())))


def _ask_title(ctx: Context, draft: NewMeeting) -> Reply:
    return Reply(ctx.t("The meeting's title? (for example: 11月集中说事日：停车难问题)"))


def _ask_place(ctx: Context, draft: NewMeeting) -> Reply:
    return Reply(ctx.t("Where is it held? (for example: 党群服务中心二楼会议室)"))


def _ask_time(ctx: Context, draft: Draft) -> Reply:
    return Reply(ctx.t("When does it start? For example: 2026-11-28 09:00, 11-28 9:00, 明天 19:30 or 周六 9:00."))


def _ask_agenda(ctx: Context, draft: NewMeeting) -> Reply:
    t = ctx.t
    return Reply(t("The agenda (what will be discussed)? Or press Skip."), buttons=((Button.choice(t("Skip"), "skip"),),))


def _ask_audience(ctx: Context, draft: NewMeeting) -> Reply:
    t = ctx.t
    return Reply(t("Who is it for?"), buttons=rows(*(Button.choice(t(label), code) for code, label in AUDIENCES.items()),
                                                   per_row=2))


async def _organiser_buildings(ctx: MemberContext) -> list[Building] | None:
    """None: may call meetings for the whole compound. A building leader only: the buildings they lead."""
    if ctx.has(Role.SECRETARY, Role.COMMITTEE):
        return None
    led = set(await led_buildings(ctx.session, ctx.person_id, ctx.compound_id))
    return [b for b in await buildings_of(ctx.session, ctx.compound_id) if b.id in led]


async def _ask_building(ctx: MemberContext, draft: NewMeeting) -> Reply:
    t = ctx.t
    limited = await _organiser_buildings(ctx)
    question = (t("Which building?") if limited is None else
                t("As a building leader you call meetings of your building. Which building?"))
    choices = await buildings_of(ctx.session, ctx.compound_id) if limited is None else limited
    return Reply(question, buttons=rows(*(Button.choice(b.name, b.id) for b in choices), per_row=3))


def _ask_recurrence(ctx: Context, draft: NewMeeting) -> Reply:
    t = ctx.t
    assert draft.starts_at is not None  # asked after the time step
    local = draft.starts_at.astimezone(ctx.zone(ctx.compound))
    weekday, time = weekday_name(t, local), local.strftime("%H:%M")
    return Reply(t("Does it repeat?"), buttons=rows(
        Button.choice(t("Just once"), ""),
        Button.choice(t("Every {weekday} at {time}", weekday=weekday, time=time), "weekly"),
        Button.choice(t("The first {weekday} of every month at {time}", weekday=weekday, time=time), "monthly_first"),
    ))


def _fields(draft: NewMeeting) -> dict[str, Any]:
    return draft.model_dump(include={"kind", "title", "place", "starts_at", "agenda", "audience", "building_id",
                                     "recurrence"})


async def _ask_confirm(ctx: MemberContext, draft: NewMeeting) -> Reply:
    t = ctx.t
    assert draft.starts_at is not None  # asked after the time step
    preview = Meeting(compound_id=ctx.compound_id, organiser_id=ctx.person_id, **_fields(draft))
    text = await describe(ctx, t, preview, ctx.compound, moment=answers.moment_text(t, draft.starts_at, ctx))
    return Reply(t("Please check:") + "\n" + text, buttons=rows(
        Button.choice(t("Publish"), "publish"), Button.choice(t("Change the time"), "time"),
        Button.choice(t("Discard"), "discard")))


TIME_REFUSALS = {
    Result.TOO_SOON: N_("{when} is already past (or too soon). Please give a time in the future."),
    Result.TOO_FAR: N_("{when} is more than a year away. Please check the date."),
}
REFUSALS = {
    Result.CANCELLED: N_("This meeting was cancelled."),
    Result.NOT_YET: N_("Sign-in opens at {when}, half an hour before the start. Please press 签到 again then."),
    Result.SIGNIN_CLOSED: N_("Sign-in has closed. If you were there, please tell the organiser."),
    Result.STARTED: N_("This meeting has already begun."),
    Result.NOT_HELD: N_("Minutes can be posted once the meeting has taken place."),
    Result.TOO_SOON: N_("The time you gave has passed in the meantime."),
    Result.TOO_FAR: N_("{when} is more than a year away. Please check the date."),
}


def _time_refusal(ctx: Context, when: datetime) -> Reply | None:
    """A time the parser read but no meeting can start at: the refusal echoing it in full, or None."""
    problem = store.start_problem(when, ctx.now)
    if problem is None:
        return None
    return Reply(ctx.t(TIME_REFUSALS[problem], when=answers.moment_text(ctx.t, when, ctx)))


def _no_building(ctx: MemberContext) -> Reply:
    return Reply(ctx.t("You lead no building in {compound}, so there is no meeting for you to call here.",
                       compound=ctx.compound.name))


@router.command("newmeeting", group="civic", roles=ORGANISER_ROLES, private=True, flow=True, help="Call a meeting", order=40)
async def new_meeting(ctx: MemberContext, msg: Incoming) -> Replies:
    if await _organiser_buildings(ctx) == []:
        return _no_building(ctx)
    return await newmeeting.begin(ctx, NewMeeting())


@newmeeting.step("kind", ask=_ask_kind, next=("title",), answer=answers.Choice(
    values=tuple(KINDS), refusal=N_("Please choose the kind of meeting with the buttons above.")))
async def step_kind(ctx: MemberContext, draft: NewMeeting, value: str) -> Outcome:
    return Go("title", draft.model_copy(update={"kind": value}))


@newmeeting.step("title", ask=_ask_title, next=("place",), answer=answers.Text(store.TITLE_MAX, what=N_("title")))
async def step_title(ctx: MemberContext, draft: NewMeeting, text: str) -> Outcome:
    return Go("place", draft.model_copy(update={"title": text}))


@newmeeting.step("place", ask=_ask_place, next=("time",), answer=answers.Text(store.PLACE_MAX, what=N_("place")))
async def step_place(ctx: MemberContext, draft: NewMeeting, text: str) -> Outcome:
    return Go("time", draft.model_copy(update={"place": text}))


@newmeeting.step("time", ask=_ask_time, next=("agenda", "confirm"), answer=answers.When())
async def step_time(ctx: MemberContext, draft: NewMeeting, when: datetime) -> Outcome:
    if (refusal := _time_refusal(ctx, when)) is not None:
        return Stay(refusal)
    return Go("confirm" if draft.editing else "agenda", draft.model_copy(update={"starts_at": when}))


@newmeeting.step("agenda", ask=_ask_agenda, next=("audience", "building"),
                 answer=answers.Text(store.AGENDA_MAX, what=N_("agenda"), skip="skip"))
async def step_agenda(ctx: MemberContext, draft: NewMeeting, text: str) -> Outcome:
    draft = draft.model_copy(update={"agenda": text})
    limited = await _organiser_buildings(ctx)
    if limited == []:
        return Done(_no_building(ctx))
    if limited is not None:
        return Go("building", draft.model_copy(update={"audience": "building"}))
    return Go("audience", draft)


@newmeeting.step("audience", ask=_ask_audience, next=("building", "recurrence"), answer=answers.Choice(
    values=tuple(AUDIENCES), refusal=N_("Please choose who the meeting is for with the buttons above.")))
async def step_audience(ctx: MemberContext, draft: NewMeeting, value: str) -> Outcome:
    draft = draft.model_copy(update={"audience": value, "building_id": None})
    return Go("building" if value == "building" else "recurrence", draft)


@newmeeting.step("building", ask=_ask_building, next=("recurrence",), answer=answers.Choice(
    refusal=N_("Please choose the building with the buttons above.")))
async def step_building(ctx: MemberContext, draft: NewMeeting, value: int) -> Outcome:
    limited = await _organiser_buildings(ctx)
    allowed = limited if limited is not None else await buildings_of(ctx.session, ctx.compound_id)
    if value not in {b.id for b in allowed}:
        return Stay(Reply(ctx.t("Please choose the building with the buttons above.")))
    return Go("recurrence", draft.model_copy(update={"audience": "building", "building_id": value}))


@newmeeting.step("recurrence", ask=_ask_recurrence, next=("confirm",), answer=answers.Choice(
    values=tuple(store.RECURRENCES), refusal=N_("Please answer with the buttons above: once, weekly or monthly.")))
async def step_recurrence(ctx: MemberContext, draft: NewMeeting, value: str) -> Outcome:
    return Go("confirm", draft.model_copy(update={"recurrence": value, "editing": True}))


@newmeeting.step("confirm", ask=_ask_confirm, next=("time",), answer=answers.Choice(
    values=("publish", "time", "discard"), refusal=N_("Please press Publish or Discard.")))
async def step_confirm(ctx: MemberContext, draft: NewMeeting, value: str) -> Outcome:
    t = ctx.t
    if value == "discard":
        return Done(Reply(t("Discarded; nothing was announced.")))
    if value == "time":
        return Go("time")
    meeting = await store.call_meeting(ctx.session, ctx.compound, ctx.person_id, _fields(draft), ctx.now)
    if isinstance(meeting, Result):  # the time no longer fits: asked again, then back to this summary
        return Go("time", say=(_refused(ctx, meeting, when=draft.starts_at),))
    return Done([Reply(t("Published. Reminders go out before it starts; see /meetings.")),
                 *await announcement(ctx, meeting, ctx.compound)])


# ---- answering and listing ----------------------------------------------------------------------------------


async def _meeting(ctx: MemberContext, meeting_id: int, manage: bool = False) -> Meeting | Reply:
    """The meeting a button or a flow refers to, if it is in this compound (with `manage`: if this person may
    change it), or the polite refusal."""
    t = ctx.t
    meeting = await ctx.session.get(Meeting, meeting_id)
    if meeting is None or meeting.compound_id != ctx.compound_id:
        return Reply(t("This meeting does not belong to your compound."), toast=t("Not allowed"))
    if manage and not _may_manage(ctx, meeting):
        return Reply(t("Only the organiser or the secretary can change this meeting."), toast=t("Not allowed"))
    return meeting


def _refused(ctx: Context, result: Result, toast: str | None = None, when: datetime | None = None) -> Reply:
    """Why storage refused an action on a meeting; `when`, the time that did not fit, echoed in full."""
    t = ctx.t
    moment = answers.moment_text(t, when, ctx) if when is not None else ""
    return Reply(t(REFUSALS[result], when=moment), toast=t(toast) if toast else None)


@router.button("meetings.rsvp", member=True)
async def rsvp(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    meeting = await _meeting(ctx, int(ctx.args.get("meeting", 0)))
    if isinstance(meeting, Reply):
        return meeting
    attending = bool(ctx.args.get("attending"))
    result = await store.answer(ctx.session, meeting, ctx.person_id, ctx.roles, attending, ctx.now)
    if result == Result.NOT_AUDIENCE:
        return Reply(t("This meeting is for {audience}; thank you for your interest.",
                       audience=t(AUDIENCES[meeting.audience]) if meeting.audience != "building" else t(
                           "the residents of that building")), toast=t("Not for you"))
    if result != Result.DONE:
        return _refused(ctx, result, N_("Too late") if result == Result.STARTED else N_("Cancelled"))
    when = ctx.local(meeting.starts_at, ctx.compound)
    text = (t("Noted: you will attend {title} on {when}. I will remind you before it starts.", title=meeting.title,
              when=when) if attending else
            t("Noted: you cannot attend {title} on {when}.", title=meeting.title, when=when))
    toast = t("You will attend") if attending else t("Noted")
    return [Reply(text, toast=toast) if ctx.private else Reply(text, to=ToPerson(ctx.person_id), toast=toast),
            await _posting_update(ctx, meeting, ctx.compound)]


@router.command("meetings", group="civic", member=True, help="Upcoming meetings", order=41)
async def list_meetings(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    meetings = await store.upcoming(ctx.session, ctx.compound_id, ctx.now)
    mine = await store.rsvp_of(ctx.session, [m.stored_id for m in meetings], ctx.person_id)
    replies: list[Reply] = []
    may_manage = ctx.has(*ORGANISER_ROLES)
    # Sign-in opens before the start: a meeting not begun yet is shown once, its card with the sign-in added.
    opening: set[int] = set()
    for meeting in await store.signing_in(ctx.session, ctx.compound_id, ctx.now):
        if any(m.stored_id == meeting.stored_id for m in meetings):
            opening.add(meeting.stored_id)
        else:
            replies.append(await _signin_card(ctx, meeting))
    if not meetings and not replies:
        replies.append(Reply(t("No meetings are planned at the moment.")))
    for meeting in meetings:
        given = mine.get(meeting.stored_id)
        line = (t("Your answer: attending") if given else t("Your answer: cannot attend") if given is False
                else t("Your answer: not yet given"))
        buttons: list[tuple[Button, ...]] = [*rsvp_buttons(t, meeting.stored_id)]
        if may_manage and ctx.private and _may_manage(ctx, meeting):
            manage = [Button.do(t("Move"), "meetings.move", meeting=meeting.id),
                      Button.do(t("Cancel meeting"), "meetings.cancel", meeting=meeting.id)]
            if meeting.recurrence:
                manage.append(Button.do(t("End the series"), "meetings.cancel", meeting=meeting.id, series=True))
            buttons.append(tuple(manage))
        if meeting.stored_id in opening:
            signin_line, signin_buttons = await _signin_part(ctx, meeting)
            line += "\n" + signin_line
            if signin_buttons:
                buttons.insert(0, tuple(signin_buttons))
        replies.append(Reply(await describe(ctx, t, meeting, ctx.compound) + "\n" + line, buttons=tuple(buttons)))
    if may_manage and ctx.private:
        for meeting in await store.recent_of_organiser(ctx.session, ctx.compound_id, ctx.person_id, ctx.now):
            sheet = Button.do(t("Sign-in sheet"), "meetings.sheet", meeting=meeting.id)
            if not meeting.minutes:
                replies.append(Reply(t("{title} ({when}) has taken place. Post its minutes (纪要)?",
                                       title=meeting.title, when=ctx.local(meeting.starts_at, ctx.compound)),
                                     buttons=((Button.do(t("Post minutes"), "meetings.minutes", meeting=meeting.id),
                                               sheet),)))
    return replies


# ---- sign-in (签到) -------------------------------------------------------------------------------------------


def signin_button(tr: Translator, meeting_id: int) -> tuple[tuple[Button, ...], ...]:
    return ((Button.do(tr("Sign in (签到)"), "meetings.signin", meeting=meeting_id),),)


async def _signin_part(ctx: MemberContext, meeting: Meeting) -> tuple[str, list[Button]]:
    """The sign-in line and buttons of a meeting whose sign-in is open: 签到 for everyone, the sheet for its
    organiser."""
    t = ctx.t
    signed = await store.attendance_of(ctx.session, meeting.stored_id, ctx.person_id)
    line = (t("You signed in at {time}.", time=ctx.local(signed.signed_at, ctx.compound, "%H:%M")) if signed
            else t("Sign-in is open: press 签到 when you are there."))
    buttons: list[Button] = [] if signed else [*signin_button(t, meeting.stored_id)[0]]
    if ctx.private and _may_manage(ctx, meeting):
        buttons.append(Button.do(t("Sign-in sheet"), "meetings.sheet", meeting=meeting.id))
    return line, buttons


async def _signin_card(ctx: MemberContext, meeting: Meeting) -> Reply:
    """A meeting begun whose sign-in is still open, in /meetings."""
    line, buttons = await _signin_part(ctx, meeting)
    return Reply(await describe(ctx, ctx.t, meeting, ctx.compound) + "\n" + line, buttons=rows(*buttons, per_row=2))


async def _private_answer(ctx: MemberContext, text: str, toast: str) -> Reply:
    """A press in a group is answered privately (the group is not told who signed in), unless we cannot reach
    the person there."""
    if ctx.private or await ctx.core.private_address(ctx.session, ctx.person_id) is None:
        return Reply(text, toast=toast)
    return Reply(text, to=ToPerson(ctx.person_id), toast=toast)


@router.button("meetings.signin", member=True)
async def signin(ctx: MemberContext, msg: Incoming) -> Replies:
    """签到, checked on the server: only while sign-in is open, only by someone the meeting is for, once."""
    t = ctx.t
    meeting = await _meeting(ctx, int(ctx.args.get("meeting", 0)))
    if isinstance(meeting, Reply):
        return meeting
    result = await store.sign_in(ctx.session, meeting, ctx.person_id, ctx.roles, ctx.now)
    if result == Result.DONE:
        return await _private_answer(ctx, t("Signed in to {title} at {time}. Welcome!", title=meeting.title,
                                            time=ctx.local(ctx.now, ctx.compound, "%H:%M")), t("Signed in"))
    if result == Result.ALREADY:
        signed = await store.attendance_of(ctx.session, meeting.stored_id, ctx.person_id)
        at = ctx.local(signed.signed_at, ctx.compound, "%H:%M") if signed else "-"
        return await _private_answer(ctx, t("You already signed in to {title} at {time}; once is enough.",
                                            title=meeting.title, time=at), t("Already signed in"))
    if result == Result.NOT_AUDIENCE:
        return await _private_answer(ctx, t("This meeting is for {audience}; thank you for your interest.",
                                            audience=t(AUDIENCES[meeting.audience]) if meeting.audience != "building"
                                            else t("the residents of that building")), t("Not for you"))
    opens, _closes = store.signin_window(meeting.starts_at)
    refusal = _refused(ctx, result, when=opens)
    return await _private_answer(ctx, refusal.text, t("Not now"))


async def _attendance_lines(c: BaseContext, tr: Translator, meeting: Meeting, compound: Compound) -> str:
    present = await store.attendance(c.session, meeting.stored_id)
    if not present:
        return tr("Signed in: nobody yet.")
    return tr("Signed in ({count}): {names}", count=len(present), names="、".join(p.name for _a, p in present))


async def _sheet(ctx: MemberContext, meeting: Meeting) -> Reply:
    """The organiser's sign-in sheet: who is present (✓, press to take back) and who said Attend but has not
    signed in (press to mark present)."""
    t = ctx.t
    present = await store.attendance(ctx.session, meeting.stored_id)
    here = {p.id for _a, p in present}
    buttons = [Button.do("✓ " + p.name, "meetings.mark", meeting=meeting.id, person=p.id, present=False)
               for _a, p in present]
    buttons += [Button.do("✗ " + p.name, "meetings.mark", meeting=meeting.id, person=p.id, present=True)
                for p in await store.expected(ctx.session, meeting.stored_id) if p.id not in here]
    lines = [t("Sign-in sheet: {title} ({when})", title=meeting.title, when=ctx.local(meeting.starts_at, ctx.compound)),
             await _attendance_lines(ctx, t, meeting, ctx.compound),
             t("✓ present, ✗ said they would attend: press a name to change it.")]
    return Reply("\n".join(lines), buttons=rows(*buttons, per_row=3))


@router.button("meetings.sheet", roles=ORGANISER_ROLES, private=True)
async def signin_sheet(ctx: MemberContext, msg: Incoming) -> Replies:
    meeting = await _meeting(ctx, int(ctx.args.get("meeting", 0)), manage=True)
    if isinstance(meeting, Reply):
        return meeting
    return await _sheet(ctx, meeting)


@router.button("meetings.mark", roles=ORGANISER_ROLES, private=True)
async def mark(ctx: MemberContext, msg: Incoming) -> Replies:
    meeting = await _meeting(ctx, int(ctx.args.get("meeting", 0)), manage=True)
    if isinstance(meeting, Reply):
        return meeting
    result = await store.mark_present(ctx.session, meeting, int(ctx.args.get("person", 0)),
                                      bool(ctx.args.get("present")), ctx.person_id, ctx.now)
    if result == Result.NOT_AUDIENCE:
        return Reply(ctx.t("That person is not a member of this compound."), toast=ctx.t("Not allowed"))
    if result != Result.DONE:
        opens, _closes = store.signin_window(meeting.starts_at)
        return _refused(ctx, result, N_("Not now"), when=opens)
    return await _sheet(ctx, meeting)


def _may_manage(ctx: Context, meeting: Meeting) -> bool:
    return meeting.organiser_id == ctx.person_id or ctx.has(Role.SECRETARY)


# ---- moving, cancelling, minutes -----------------------------------------------------------------------------


async def _tell_change(c: BaseContext, meeting: Meeting, notice: str, render: Callable[[Translator], str]
                       ) -> list[Reply]:
    """A meeting moved or cancelled: the notice to its group chats (a party meeting has none), and privately to
    everyone who answered (attending or not), each in their own language."""
    replies = [Reply(notice, to=target) for target in await audience_targets(c, meeting) if isinstance(target, ToGroups)]
    for given in await store.rsvps(c.session, meeting.stored_id):
        pt = await c.translator_for(given.person_id)
        replies.append(Reply(render(pt), to=ToPerson(given.person_id)))
    return replies


@router.button("meetings.cancel", roles=ORGANISER_ROLES, private=True)
async def cancel(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    meeting = await _meeting(ctx, int(ctx.args.get("meeting", 0)), manage=True)
    if isinstance(meeting, Reply):
        return meeting
    result = await store.cancel_meeting(ctx.session, meeting, ctx.now, end_series=bool(ctx.args.get("series")))
    if result != Result.DONE:
        return _refused(ctx, result, N_("Too late") if result == Result.STARTED else N_("Cancelled"))
    tr = ctx.translator(ctx.compound.language)
    when = ctx.local(meeting.starts_at, ctx.compound)
    notice = tr("Cancelled: {title} on {when} will not take place.", title=meeting.title, when=when)
    replies = [Reply(t("The meeting is cancelled; everyone who answered is told.")),
               await _posting_update(ctx, meeting, ctx.compound, note="❌ " + notice, buttons=False)]
    replies += await _tell_change(ctx, meeting, notice, lambda pt: pt(
        "Cancelled: {title} on {when} will not take place. Sorry for the inconvenience.", title=meeting.title,
        when=when))
    return replies


class MoveMeeting(Draft):
    meeting: int
    title: str = ""
    starts_at: datetime | None = None


move_flow = Flow("meeting_move", MoveMeeting, title=N_("moving a meeting"), roles=ORGANISER_ROLES)


def _ask_new_time(ctx: Context, draft: MoveMeeting) -> Reply:
    return Reply(ctx.t("Moving {title}.", title=draft.title) + "\n" + _ask_time(ctx, draft).text)


def _ask_move(ctx: Context, draft: MoveMeeting) -> Reply:
    t = ctx.t
    assert draft.starts_at is not None  # asked after the time step
    return Reply(t("Move {title} to {moment}? Everyone who answered will be told.", title=draft.title,
                   moment=answers.moment_text(t, draft.starts_at, ctx)),
                 buttons=rows(Button.choice(t("Move"), "move"), Button.choice(t("Change the time"), "time"),
                              Button.choice(t("Keep it as it is"), "keep")))


@router.button("meetings.move", roles=ORGANISER_ROLES, private=True)
async def move(ctx: MemberContext, msg: Incoming) -> Replies:
    meeting = await _meeting(ctx, int(ctx.args.get("meeting", 0)), manage=True)
    if isinstance(meeting, Reply):
        return meeting
    return await move_flow.begin(ctx, MoveMeeting(meeting=meeting.stored_id, title=meeting.title))


@move_flow.step("time", ask=_ask_new_time, next=("confirm",), answer=answers.When())
async def move_time(ctx: MemberContext, draft: MoveMeeting, when: datetime) -> Outcome:
    if (refusal := _time_refusal(ctx, when)) is not None:
        return Stay(refusal)
    return Go("confirm", draft.model_copy(update={"starts_at": when}))


@move_flow.step("confirm", ask=_ask_move, next=("time",), answer=answers.Choice(
    values=("move", "time", "keep"), refusal=N_("Please answer with the buttons above.")))
async def move_confirm(ctx: MemberContext, draft: MoveMeeting, value: str) -> Outcome:
    t = ctx.t
    if value == "keep":
        return Done(Reply(t("The meeting keeps its time; nobody was told anything.")))
    if value == "time" or draft.starts_at is None:
        return Go("time")
    meeting = await _meeting(ctx, draft.meeting, manage=True)
    if isinstance(meeting, Reply):
        return Done(meeting)
    old = ctx.local(meeting.starts_at, ctx.compound)
    result = await store.move_meeting(ctx.session, meeting, ctx.compound, draft.starts_at, ctx.now)
    if result in (Result.TOO_SOON, Result.TOO_FAR):
        return Go("time", say=(_refused(ctx, result, when=draft.starts_at),))
    if result != Result.DONE:
        return Done(_refused(ctx, result))
    new = ctx.local(meeting.starts_at, ctx.compound)
    tr = ctx.translator(ctx.compound.language)
    notice = tr("Moved: {title} is now on {new} (was {old}).", title=meeting.title, new=new, old=old)
    replies = [Reply(t("Moved to {new}; everyone who answered is told.",
                       new=answers.moment_text(t, meeting.starts_at, ctx))),
               await _posting_update(ctx, meeting, ctx.compound, note="🕘 " + notice)]
    replies += await _tell_change(ctx, meeting, notice, lambda pt: pt(
        "Moved: {title} is now on {new} (was {old}). If you can no longer come, please answer again with /meetings.",
        title=meeting.title, new=new, old=old))
    return Done(replies)


class Minutes(Draft):
    meeting: int
    title: str = ""


minutes_flow = Flow("meeting_minutes", Minutes, title=N_("the minutes of a meeting"), roles=ORGANISER_ROLES)


def _ask_minutes(ctx: Context, draft: Minutes) -> Reply:
    return Reply(ctx.t("Please send the minutes (纪要) of {title}: decisions, who does what, by when.",
                       title=draft.title))


@router.button("meetings.minutes", roles=ORGANISER_ROLES, private=True)
async def minutes(ctx: MemberContext, msg: Incoming) -> Replies:
    meeting = await _meeting(ctx, int(ctx.args.get("meeting", 0)), manage=True)
    if isinstance(meeting, Reply):
        return meeting
    if meeting.starts_at > ctx.now:
        return _refused(ctx, Result.NOT_HELD)
    return await minutes_flow.begin(ctx, Minutes(meeting=meeting.stored_id, title=meeting.title))


@minutes_flow.step("text", ask=_ask_minutes, answer=answers.Text(store.MINUTES_MAX, what=N_("minutes")))
async def minutes_text(ctx: MemberContext, draft: Minutes, text: str) -> Outcome:
    t = ctx.t
    meeting = await _meeting(ctx, draft.meeting, manage=True)
    if isinstance(meeting, Reply):
        return Done(meeting)
    result = await store.post_minutes(ctx.session, meeting, text, ctx.now)
    if result != Result.DONE:
        return Done(_refused(ctx, result))
    replies = [Reply(t("The minutes are posted."))]
    targets = await audience_targets(ctx, meeting)
    translators = await ctx.translators_for(target.person_id for target in targets if isinstance(target, ToPerson))
    for target in targets:
        tr = translators[target.person_id] if isinstance(target, ToPerson) else ctx.translator(ctx.compound.language)
        # The attendance (签到) belongs to the minutes, as on a paper record.
        present = await _attendance_lines(ctx, tr, meeting, ctx.compound)
        replies.append(Reply(tr("Minutes (纪要) of {title}, {when}:", title=meeting.title,
                                when=ctx.local(meeting.starts_at, ctx.compound)) + "\n" + text + "\n" + present,
                             to=target))
    return Done(replies)


router.flow(newmeeting, move_flow, minutes_flow)


# ---- scheduled: reminders and the next occurrence -------------------------------------------------------------


@router.job("reminders", every=timedelta(minutes=1))
async def send_reminders(ctx: JobContext) -> Replies:
    """Due reminders, claimed one by one. Late ones (the bot was down) still go out if the meeting has not
    begun; of several late reminders of one meeting only the latest is sent."""
    replies: list[Reply] = []
    due = await store.due_reminders(ctx.session, ctx.now)
    latest: dict[int, int] = {}
    for reminder in due:
        latest[reminder.meeting_id] = min(latest.get(reminder.meeting_id, reminder.offset_minutes),
                                          reminder.offset_minutes)
    for reminder in due:
        assert reminder.id is not None
        meeting = await ctx.session.get(Meeting, reminder.meeting_id)
        skip = ""
        if meeting is None or meeting.status != store.MeetingStatus.SCHEDULED:
            skip = "cancelled"
        elif meeting.starts_at <= ctx.now:
            skip = "started"
        elif reminder.offset_minutes != latest[reminder.meeting_id]:
            skip = "superseded"
        if not await store.claim_reminder(ctx.session, reminder.id, ctx.now, skip) or skip:
            continue
        assert meeting is not None
        replies += await _reminder(ctx, meeting)
    return replies


async def _reminder(ctx: JobContext, meeting: Meeting) -> list[Reply]:
    compound = await ctx.session.get(Compound, meeting.compound_id)
    assert compound is not None and meeting.id is not None
    left = meeting.starts_at - ctx.now
    replies: list[Reply] = []

    async def text(tr: Translator) -> str:
        hours = int(left.total_seconds() // 3600)
        minutes = int(left.total_seconds() % 3600 // 60)
        soon = (tr("in {hours} h {minutes} min", hours=hours, minutes=minutes) if hours
                else tr("in {minutes} min", minutes=minutes))
        return tr("⏰ Reminder: the meeting starts {soon}.", soon=soon) + "\n" + await describe(ctx, tr, meeting,
                                                                                                 compound)

    # Within the hour it is urgent (sent whatever the hour or the count); a moved meeting's reminder is new.
    notice = Notice(NoticeKind.MEETING_SOON if left <= timedelta(hours=1) else NoticeKind.MEETING_REMINDER,
                    f"meeting:{meeting.id}", meeting.starts_at.isoformat(), compound_id=compound.id)
    # Dropped by the outbox if still undelivered when the meeting begins.
    for target in await audience_targets(ctx, meeting):
        if isinstance(target, ToGroups):
            tr = ctx.translator(compound.language)
            replies.append(Reply(await text(tr), to=target, expires_at=meeting.starts_at))
    answers_given = await store.rsvps(ctx.session, meeting.id)
    party = await store.audience_people(ctx.session, meeting) if meeting.audience == "party" else []
    translators = await ctx.translators_for([*(a.person_id for a in answers_given if a.attending), *party])
    for answer in answers_given:
        if answer.attending:  # with 签到 to press on arrival (refused politely before sign-in opens)
            pt = translators[answer.person_id]
            replies.append(Reply(await text(pt) + "\n" + pt("Press 签到 when you arrive."),
                                 buttons=signin_button(pt, meeting.id), to=ToPerson(answer.person_id),
                                 expires_at=meeting.starts_at, notice=notice))
    if meeting.audience == "party":
        answered = {a.person_id for a in answers_given}
        for person_id in party:
            if person_id not in answered:
                pt = translators[person_id]
                replies.append(Reply(await text(pt), buttons=rsvp_buttons(pt, meeting.id), to=ToPerson(person_id),
                                     expires_at=meeting.starts_at, notice=notice))
    return replies


@router.job("series", every=timedelta(minutes=1))
async def next_in_series(ctx: JobContext) -> Replies:
    """A recurring meeting that has begun (or was cancelled) gets its next occurrence, announced at once."""
    replies: list[Reply] = []
    for meeting in await store.series_due(ctx.session, ctx.now):
        assert meeting.id is not None
        if not await store.claim_series(ctx.session, meeting.id, ctx.now):
            continue
        compound = await ctx.session.get(Compound, meeting.compound_id)
        assert compound is not None
        starts = meeting.starts_at
        following = store.next_occurrence(starts, meeting.recurrence, ctx.zone(compound))
        # After a long downtime, skip occurrences that are already past.
        while following is not None and following <= ctx.now:
            following = store.next_occurrence(following, meeting.recurrence, ctx.zone(compound))
        if following is None:
            continue
        fields = {name: getattr(meeting, name) for name in ("kind", "title", "place", "agenda", "audience",
                                                             "building_id", "recurrence", "organiser_id")}
        fields.update(starts_at=following, series_id=meeting.series_id or meeting.id)
        created = await store.create_meeting(ctx.session, compound, fields, ctx.now)
        replies += await announcement(ctx, created, compound)
    return replies


@router.job("signin", every=timedelta(minutes=1))
async def open_signin(ctx: JobContext) -> Replies:
    """When sign-in opens, the meeting's audience gets 签到 (its group chats, or party members privately); the
    posting is claimed once, and dropped by the outbox if still unsent when sign-in closes."""
    replies: list[Reply] = []
    for meeting in await store.signin_due(ctx.session, ctx.now):
        if not await store.claim_signin(ctx.session, meeting.stored_id, ctx.now):
            continue
        compound = await ctx.session.get(Compound, meeting.compound_id)
        assert compound is not None
        _opens, closes = store.signin_window(meeting.starts_at)
        targets = await audience_targets(ctx, meeting)
        translators = await ctx.translators_for(t.person_id for t in targets if isinstance(t, ToPerson))
        for target in targets:
            tr = translators[target.person_id] if isinstance(target, ToPerson) else ctx.translator(compound.language)
            replies.append(Reply(tr("Sign-in (签到): {title} starts at {time} at {place}. Press 签到 when you are there "
                                    "(open until {until}).", title=meeting.title,
                                    time=ctx.local(meeting.starts_at, compound, "%H:%M"), place=meeting.place,
                                    until=ctx.local(closes, compound, "%H:%M")),
                                 buttons=signin_button(tr, meeting.stored_id), to=target, expires_at=closes))
    return replies
