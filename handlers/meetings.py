"""Meetings: organisers create them in a private chat, they are announced with Attend / Can't attend buttons,
reminded before they start, moved or cancelled (everyone who answered is told), and get minutes (纪要)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.core.context import BaseContext, Context, JobContext, text_answer
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, Target, ToGroups, ToPerson, rows
from storage import meetings as store
from storage.compounds import Building, Compound, buildings_of
from storage.meetings import AUDIENCES, KINDS, ORGANISER_ROLES, Meeting
from storage.people import Role, led_buildings

router = Router("meetings")

FLOW, MOVE_FLOW, MINUTES_FLOW = "meeting", "meeting_move", "meeting_minutes"
WEEKDAY_NAMES = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
                 N_("Sunday"))
# A meeting more than a year ahead is almost certainly a typing mistake.
MAX_AHEAD = timedelta(days=366)
MIN_AHEAD = timedelta(minutes=10)


# ---- texts shared by postings, lists and reminders ------------------------------------------------------------


def weekday_name(tr: Translator, moment: datetime) -> str:
    return tr(WEEKDAY_NAMES[moment.weekday()])


async def describe(c: BaseContext, tr: Translator, meeting: Meeting, compound: Compound) -> str:
    local = meeting.starts_at.astimezone(c.zone(compound))
    audience = tr(AUDIENCES.get(meeting.audience, AUDIENCES["all"]))
    if meeting.audience == "building" and meeting.building_id:
        building = await c.session.get(Building, meeting.building_id)
        audience = building.name if building else audience
    lines = [
        f"【{tr(KINDS.get(meeting.kind, KINDS['council']))}】{meeting.title}",
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
    assert meeting.id is not None
    replies: list[Reply] = []
    for target in await audience_targets(c, meeting):
        tr = await c.translator_for(target.person_id) if isinstance(target, ToPerson) else c.translator(
            compound.language)
        counts = await _counts(c, tr, meeting)
        text = "\n".join(part for part in (await describe(c, tr, meeting, compound), counts) if part)
        replies.append(Reply(text, buttons=rsvp_buttons(tr, meeting.id), to=target,
                             posting=f"meeting:{meeting.id}" if isinstance(target, ToGroups) else None))
    return replies


async def _counts(c: BaseContext, tr: Translator, meeting: Meeting) -> str:
    answers = await store.rsvps(c.session, meeting.id or 0)
    if not answers:
        return ""
    yes = sum(1 for a in answers if a.attending)
    return tr("Attending: {yes} · Can't attend: {no}", yes=yes, no=len(answers) - yes)


async def _posting_update(c: BaseContext, meeting: Meeting, compound: Compound, note: str = "",
                          buttons: bool = True) -> Reply:
    """The group posting, edited in place (answers so far, or that it was moved or cancelled)."""
    tr = c.translator(compound.language)
    text = "\n".join(part for part in (note, await describe(c, tr, meeting, compound), await _counts(c, tr, meeting))
                     if part)
    return Reply(text, buttons=rsvp_buttons(tr, meeting.id or 0) if buttons else (), edit=f"meeting:{meeting.id}")


# ---- creating ---------------------------------------------------------------------------------------------


@router.command("newmeeting", roles=ORGANISER_ROLES, private=True, flow=True, help="Call a meeting", order=40)
async def new_meeting(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    ctx.convo.start(FLOW, "kind")
    return Reply(t("What kind of meeting is it?"),
                 buttons=rows(*(Button.choice(t(label), code) for code, label in KINDS.items())))


def typed_text(t: Translator, msg: Incoming, limit: int, what: str) -> tuple[str | None, Reply | None]:
    """`bot.core.context.text_answer` as a pair, for callers not moved to `ctx.text_answer` yet."""
    answer = text_answer(t, msg, limit, what)
    return (None, answer) if isinstance(answer, Reply) else (answer, None)


@router.step(FLOW, "kind")
async def step_kind(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    if value not in KINDS:
        return Reply(t("Please choose the kind of meeting with the buttons above."))
    ctx.convo.draft["kind"] = value
    ctx.convo.goto("title")
    return Reply(t("The meeting's title? (for example: 11月集中说事日：停车难问题)"))


@router.step(FLOW, "title")
async def step_title(ctx: Context, msg: Incoming) -> Replies:
    text = ctx.text_answer(msg, store.TITLE_MAX, ctx.t("title"))
    if isinstance(text, Reply):
        return text
    ctx.convo.draft["title"] = text
    ctx.convo.goto("place")
    return Reply(ctx.t("Where is it held? (for example: 党群服务中心二楼会议室)"))


@router.step(FLOW, "place")
async def step_place(ctx: Context, msg: Incoming) -> Replies:
    text = ctx.text_answer(msg, store.PLACE_MAX, ctx.t("place"))
    if isinstance(text, Reply):
        return text
    ctx.convo.draft["place"] = text
    ctx.convo.goto("time")
    return Reply(_time_question(ctx))


def _time_question(ctx: Context) -> str:
    return ctx.t("When does it start? For example: 2026-11-28 09:00, 11-28 9:00, 明天 19:30 or 周六 9:00.")


def _parse_time(ctx: Context, msg: Incoming) -> tuple[datetime | None, Reply | None]:
    t = ctx.t
    text = ctx.text_answer(msg, 40, t("time"))
    if isinstance(text, Reply):
        return None, text
    when = store.parse_when(text, ctx.now, ctx.zone(ctx.compound))
    if when is None:
        return None, Reply(t("I could not read {text} as a date and time. Please write it like 2026-11-28 09:00, "
                             "11-28 9:00 or 明天 19:30.", text=text[:40]))
    if when < ctx.now + MIN_AHEAD:
        return None, Reply(t("{when} is already past (or too soon). Please give a time in the future.",
                             when=when.strftime("%Y-%m-%d %H:%M")))
    if when > ctx.now + MAX_AHEAD:
        return None, Reply(t("{when} is more than a year away. Please check the date.",
                             when=when.strftime("%Y-%m-%d %H:%M")))
    return when, None


@router.step(FLOW, "time")
async def step_time(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    when, refusal = _parse_time(ctx, msg)
    if refusal:
        return refusal
    assert when is not None
    ctx.convo.draft["starts_at"] = when.isoformat()
    ctx.convo.goto("agenda")
    return Reply(t("The agenda (what will be discussed)? Or press Skip."),
                 buttons=((Button.choice(t("Skip"), "skip"),),))


@router.step(FLOW, "agenda")
async def step_agenda(ctx: Context, msg: Incoming) -> Replies:
    if ctx.args.get("value") == "skip":
        ctx.convo.draft["agenda"] = ""
    else:
        text = ctx.text_answer(msg, store.AGENDA_MAX, ctx.t("agenda"))
        if isinstance(text, Reply):
            return text
        ctx.convo.draft["agenda"] = text
    ctx.convo.goto("audience")
    return await _ask_audience(ctx)


async def _organiser_buildings(ctx: Context) -> list[Building] | None:
    """None: may call meetings for the whole compound. A building leader only: the buildings they lead."""
    assert ctx.compound is not None and ctx.compound.id is not None
    buildings = await buildings_of(ctx.session, ctx.compound.id)
    if ctx.has(Role.SECRETARY, Role.COMMITTEE):
        return None
    led = set(await led_buildings(ctx.session, ctx.person_id, ctx.compound.id))
    return [b for b in buildings if b.id in led]


async def _ask_audience(ctx: Context) -> Reply:
    t = ctx.t
    limited = await _organiser_buildings(ctx)
    if limited is not None:
        ctx.convo.goto("building")
        return Reply(t("As a building leader you call meetings of your building. Which building?"),
                     buttons=rows(*(Button.choice(b.name, b.id) for b in limited), per_row=3))
    return Reply(t("Who is it for?"), buttons=rows(*(Button.choice(t(label), code) for code, label in AUDIENCES.items()),
                                                   per_row=2))


@router.step(FLOW, "audience")
async def step_audience(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    if value not in AUDIENCES:
        return Reply(t("Please choose who the meeting is for with the buttons above."))
    ctx.convo.draft["audience"] = value
    if value == "building":
        assert ctx.compound is not None
        ctx.convo.goto("building")
        buildings = await buildings_of(ctx.session, ctx.compound.id or 0)
        return Reply(t("Which building?"), buttons=rows(*(Button.choice(b.name, b.id) for b in buildings), per_row=3))
    ctx.convo.draft["building_id"] = None
    return _ask_recurrence(ctx)


@router.step(FLOW, "building")
async def step_building(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    limited = await _organiser_buildings(ctx)
    assert ctx.compound is not None
    allowed = limited if limited is not None else await buildings_of(ctx.session, ctx.compound.id or 0)
    value = ctx.args.get("value")
    if value not in {b.id for b in allowed}:
        return Reply(t("Please choose the building with the buttons above."))
    ctx.convo.draft["audience"] = "building"
    ctx.convo.draft["building_id"] = value
    return _ask_recurrence(ctx)


def _ask_recurrence(ctx: Context) -> Reply:
    t = ctx.t
    ctx.convo.goto("recurrence")
    local = datetime.fromisoformat(ctx.convo.draft["starts_at"]).astimezone(ctx.zone(ctx.compound))
    weekday, time = weekday_name(t, local), local.strftime("%H:%M")
    return Reply(t("Does it repeat?"), buttons=rows(
        Button.choice(t("Just once"), ""),
        Button.choice(t("Every {weekday} at {time}", weekday=weekday, time=time), "weekly"),
        Button.choice(t("The first {weekday} of every month at {time}", weekday=weekday, time=time), "monthly_first"),
    ))


@router.step(FLOW, "recurrence")
async def step_recurrence(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    if value not in store.RECURRENCES:
        return Reply(t("Please answer with the buttons above: once, weekly or monthly."))
    ctx.convo.draft["recurrence"] = value
    ctx.convo.goto("confirm")
    assert ctx.compound is not None
    preview = await describe(ctx, t, _draft_meeting(ctx), ctx.compound)
    return Reply(t("Please check:") + "\n" + preview,
                 buttons=((Button.choice(t("Publish"), "publish"), Button.choice(t("Discard"), "discard")),))


def _draft_meeting(ctx: Context) -> Meeting:
    return Meeting(compound_id=(ctx.compound.id if ctx.compound else None) or 0, organiser_id=ctx.person_id,
                   **_fields(ctx.convo.draft))


def _fields(draft: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": draft["kind"], "title": draft["title"], "place": draft["place"],
        "starts_at": datetime.fromisoformat(draft["starts_at"]), "agenda": draft.get("agenda", ""),
        "audience": draft["audience"], "building_id": draft.get("building_id"),
        "recurrence": draft.get("recurrence", ""),
    }


@router.step(FLOW, "confirm")
async def step_confirm(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    if value == "discard":
        ctx.convo.end()
        return Reply(t("Discarded; nothing was announced."))
    if value != "publish":
        return Reply(t("Please press Publish or Discard."))
    assert ctx.compound is not None
    fields = _fields(ctx.convo.draft)
    if fields["starts_at"] < ctx.now + MIN_AHEAD:
        ctx.convo.goto("time")
        return Reply(t("The time you gave has passed in the meantime.") + "\n" + _time_question(ctx))
    meeting = await store.create_meeting(ctx.session, ctx.compound, {**fields, "organiser_id": ctx.person_id},
                                         ctx.now)
    if meeting.recurrence:
        meeting.series_id = meeting.id
        ctx.session.add(meeting)
    ctx.convo.end()
    return [Reply(t("Published. Reminders go out before it starts; see /meetings."))
            , *await announcement(ctx, meeting, ctx.compound)]


# ---- answering and listing ----------------------------------------------------------------------------------


async def _meeting(ctx: Context, meeting_id: int | None = None, manage: bool = False,
                   scheduled: bool = True) -> Meeting | Reply:
    """The meeting a button (or the open conversation, by `meeting_id`) refers to, if it is in this compound; with
    `manage`, if this person may change it; with `scheduled`, if it is not cancelled. Else the polite refusal."""
    t = ctx.t
    meeting = await ctx.session.get(Meeting, int(ctx.args.get("meeting", 0) if meeting_id is None else meeting_id))
    if meeting is None or ctx.compound is None or meeting.compound_id != ctx.compound.id or (
            manage and not _may_manage(ctx, meeting)):
        return Reply(t("Only the organiser or the secretary can change this meeting.") if manage
                     else t("This meeting does not belong to your compound."), toast=t("Not allowed"))
    if scheduled and meeting.status != store.SCHEDULED:
        return Reply(t("This meeting was cancelled."), toast=t("Cancelled"))
    return meeting


@router.button("meetings.rsvp", member=True)
async def rsvp(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    meeting = await _meeting(ctx)
    if isinstance(meeting, Reply):
        return meeting
    if meeting.starts_at <= ctx.now:
        return Reply(t("This meeting has already begun."), toast=t("Too late"))
    assert ctx.compound is not None
    buildings = await store.buildings_of_person(ctx.session, ctx.person_id, meeting.compound_id)
    if not store.audience_allows(meeting.audience, meeting.building_id, ctx.roles, buildings):
        return Reply(t("This meeting is for {audience}; thank you for your interest.",
                       audience=t(AUDIENCES[meeting.audience]) if meeting.audience != "building" else t(
                           "the residents of that building")), toast=t("Not for you"))
    attending = bool(ctx.args.get("attending"))
    await store.set_rsvp(ctx.session, meeting.id or 0, ctx.person_id, attending, ctx.now)
    when = ctx.local(meeting.starts_at, ctx.compound)
    answer = (t("Noted: you will attend {title} on {when}. I will remind you before it starts.", title=meeting.title,
                when=when) if attending else
              t("Noted: you cannot attend {title} on {when}.", title=meeting.title, when=when))
    toast = t("You will attend") if attending else t("Noted")
    replies = [Reply(answer, toast=toast) if ctx.private else Reply(answer, to=ToPerson(ctx.person_id), toast=toast)]
    replies.append(await _posting_update(ctx, meeting, ctx.compound))
    return replies


@router.command("meetings", member=True, help="Upcoming meetings", order=41)
async def list_meetings(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    meetings = await store.upcoming(ctx.session, ctx.compound.id, ctx.now)
    answers = await store.rsvp_of(ctx.session, [m.id or 0 for m in meetings], ctx.person_id)
    replies: list[Reply] = []
    may_manage = ctx.has(*ORGANISER_ROLES)
    if not meetings:
        replies.append(Reply(t("No meetings are planned at the moment.")))
    for meeting in meetings:
        assert meeting.id is not None
        answer = answers.get(meeting.id)
        mine = (t("Your answer: attending") if answer else t("Your answer: cannot attend") if answer is False
                else t("Your answer: not yet given"))
        buttons: list[tuple[Button, ...]] = [*rsvp_buttons(t, meeting.id)]
        if may_manage and ctx.private and _may_manage(ctx, meeting):
            manage = [Button.do(t("Move"), "meetings.move", meeting=meeting.id),
                      Button.do(t("Cancel meeting"), "meetings.cancel", meeting=meeting.id)]
            if meeting.recurrence:
                manage.append(Button.do(t("End the series"), "meetings.cancel", meeting=meeting.id, series=True))
            buttons.append(tuple(manage))
        replies.append(Reply(await describe(ctx, t, meeting, ctx.compound) + "\n" + mine, buttons=tuple(buttons)))
    if may_manage and ctx.private:
        for meeting in await store.recent_of_organiser(ctx.session, ctx.compound.id, ctx.person_id, ctx.now):
            if not meeting.minutes:
                replies.append(Reply(t("{title} ({when}) has taken place. Post its minutes (纪要)?",
                                       title=meeting.title, when=ctx.local(meeting.starts_at, ctx.compound)),
                                     buttons=((Button.do(t("Post minutes"), "meetings.minutes", meeting=meeting.id),),)))
    return replies


def _may_manage(ctx: Context, meeting: Meeting) -> bool:
    return meeting.organiser_id == ctx.person_id or ctx.has(Role.SECRETARY)


# ---- moving, cancelling, minutes -----------------------------------------------------------------------------


async def _tell_change(c: BaseContext, meeting: Meeting, notice: str, render: Callable[[Translator], str]
                       ) -> list[Reply]:
    """A meeting moved or cancelled: the notice to its group chats (a party meeting has none), and privately to
    everyone who answered (attending or not), each in their own language."""
    replies = [Reply(notice, to=target) for target in await audience_targets(c, meeting) if isinstance(target, ToGroups)]
    for answer in await store.rsvps(c.session, meeting.id or 0):
        pt = await c.translator_for(answer.person_id)
        replies.append(Reply(render(pt), to=ToPerson(answer.person_id)))
    return replies


@router.button("meetings.cancel", roles=ORGANISER_ROLES, private=True)
async def cancel(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    meeting = await _meeting(ctx, manage=True)
    if isinstance(meeting, Reply):
        return meeting
    assert ctx.compound is not None
    if meeting.starts_at <= ctx.now:
        return Reply(t("This meeting has already begun."), toast=t("Too late"))
    meeting.status = store.CANCELLED
    end_series = bool(ctx.args.get("series"))
    if end_series:
        # No further occurrences: the series job looks for unfinished recurring meetings only.
        meeting.recurrence = ""
    ctx.session.add(meeting)
    tr = ctx.translator(ctx.compound.language)
    when = ctx.local(meeting.starts_at, ctx.compound)
    notice = tr("Cancelled: {title} on {when} will not take place.", title=meeting.title, when=when)
    replies = [Reply(t("The meeting is cancelled; everyone who answered is told.")),
               await _posting_update(ctx, meeting, ctx.compound, note="❌ " + notice, buttons=False)]
    replies += await _tell_change(ctx, meeting, notice, lambda pt: pt(
        "Cancelled: {title} on {when} will not take place. Sorry for the inconvenience.", title=meeting.title,
        when=when))
    return replies


@router.button("meetings.move", roles=ORGANISER_ROLES, private=True)
async def move(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    meeting = await _meeting(ctx, manage=True)
    if isinstance(meeting, Reply):
        return meeting
    if (busy := ctx.busy()) is not None:
        return busy
    ctx.convo.start(MOVE_FLOW, "time", {"meeting": meeting.id})
    return Reply(t("Moving {title}.", title=meeting.title) + "\n" + _time_question(ctx))


@router.step(MOVE_FLOW, "time")
async def move_time(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    when, refusal = _parse_time(ctx, msg)
    if refusal:
        return refusal
    assert when is not None and ctx.compound is not None
    meeting = await _meeting(ctx, int(ctx.convo.draft["meeting"]), manage=True)
    ctx.convo.end()
    if isinstance(meeting, Reply):
        return meeting
    old = ctx.local(meeting.starts_at, ctx.compound)
    meeting.starts_at = when
    ctx.session.add(meeting)
    await store.plan_reminders(ctx.session, meeting, ctx.compound, ctx.now)
    new = ctx.local(when, ctx.compound)
    tr = ctx.translator(ctx.compound.language)
    notice = tr("Moved: {title} is now on {new} (was {old}).", title=meeting.title, new=new, old=old)
    replies = [Reply(t("Moved to {new}; everyone who answered is told.", new=new)),
               await _posting_update(ctx, meeting, ctx.compound, note="🕘 " + notice)]
    replies += await _tell_change(ctx, meeting, notice, lambda pt: pt(
        "Moved: {title} is now on {new} (was {old}). If you can no longer come, please answer again with /meetings.",
        title=meeting.title, new=new, old=old))
    return replies


@router.button("meetings.minutes", roles=ORGANISER_ROLES, private=True)
async def minutes(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    meeting = await _meeting(ctx, manage=True, scheduled=False)
    if isinstance(meeting, Reply):
        return meeting
    if meeting.starts_at > ctx.now:
        return Reply(t("Minutes can be posted once the meeting has taken place."))
    if (busy := ctx.busy()) is not None:
        return busy
    ctx.convo.start(MINUTES_FLOW, "text", {"meeting": meeting.id})
    return Reply(t("Please send the minutes (纪要) of {title}: decisions, who does what, by when.",
                   title=meeting.title))


@router.step(MINUTES_FLOW, "text")
async def minutes_text(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    text = ctx.text_answer(msg, store.MINUTES_MAX, t("minutes"))
    if isinstance(text, Reply):
        return text
    assert ctx.compound is not None
    meeting = await _meeting(ctx, int(ctx.convo.draft["meeting"]), scheduled=False)
    ctx.convo.end()
    if isinstance(meeting, Reply):
        return meeting
    meeting.minutes, meeting.minutes_at = text, ctx.now
    ctx.session.add(meeting)
    replies = [Reply(t("The minutes are posted."))]
    for target in await audience_targets(ctx, meeting):
        tr = await ctx.translator_for(target.person_id) if isinstance(target, ToPerson) else ctx.translator(
            ctx.compound.language)
        replies.append(Reply(tr("Minutes (纪要) of {title}, {when}:", title=meeting.title,
                                when=ctx.local(meeting.starts_at, ctx.compound)) + "\n" + text, to=target))
    return replies


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
        if meeting is None or meeting.status != store.SCHEDULED:
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

    # Dropped by the outbox if still undelivered when the meeting begins.
    for target in await audience_targets(ctx, meeting):
        if isinstance(target, ToGroups):
            tr = ctx.translator(compound.language)
            replies.append(Reply(await text(tr), to=target, expires_at=meeting.starts_at))
    for answer in await store.rsvps(ctx.session, meeting.id):
        if answer.attending:
            pt = await ctx.translator_for(answer.person_id)
            replies.append(Reply(await text(pt), to=ToPerson(answer.person_id), expires_at=meeting.starts_at))
    if meeting.audience == "party":
        answered = {a.person_id for a in await store.rsvps(ctx.session, meeting.id)}
        for person_id in await store.audience_people(ctx.session, meeting):
            if person_id not in answered:
                pt = await ctx.translator_for(person_id)
                replies.append(Reply(await text(pt), buttons=rsvp_buttons(pt, meeting.id), to=ToPerson(person_id),
                                     expires_at=meeting.starts_at))
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
