"""Volunteer tasks: posting (secretary or building leader), signing up from the group or privately, reminders,
attendance and the points it earns; and residents' skills (/skills)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from bot.core.context import BaseContext, Context, JobContext
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, ToGroups, ToPerson, rows
from storage import points as ledger
from storage import volunteering as store
from storage.compounds import Compound, compound_setting
from storage.people import Person, Role
from storage.volunteering import SKILLS, TaskSignup, VolunteerTask

router = Router("volunteering")

SKILL_LABELS = {
    "law": N_("Law"),
    "medical": N_("Medical"),
    "education": N_("Education"),
    "repair": N_("Repairs"),
    "electrician": N_("Electrician"),
    "psychology": N_("Counselling"),
    "care": N_("Caregiving"),
    "other": N_("Other"),
}
ORGANISERS = (Role.SECRETARY, Role.BUILDING_LEADER)
MAX_WANTED = 500
# Reminders are looked for this far ahead; a compound's lead time beyond it is capped.
LOOKAHEAD = timedelta(hours=48)


def skill_names(t: Translator, codes: list[str]) -> str:
    return "、".join(t(SKILL_LABELS[c]) for c in codes if c in SKILL_LABELS)


def hourly_rate(compound: Compound) -> int:
    return int(compound_setting(compound, "points_per_hour", ledger.DEFAULT_HOURLY_RATE))


def activity_rate(compound: Compound) -> int:
    return int(compound_setting(compound, "points_per_activity", ledger.DEFAULT_ACTIVITY_RATE))


def earning_text(t: Translator, task: VolunteerTask) -> str:
    if task.mode == "activity":
        return t("{rate} points for taking part", rate=task.rate)
    return t("{rate} points per hour", rate=task.rate)


def task_text(ctx: BaseContext, t: Translator, task: VolunteerTask, compound: Compound | None, count: int) -> str:
    lines = [
        t("Volunteer task: {title}", title=task.title),
        t("When: {start} – {end}", start=ctx.local(task.starts_at, compound),
          end=ctx.local(task.ends_at, compound, "%H:%M")),
        t("Where: {place}", place=task.place or "-"),
    ]
    if task.description:
        lines.append(task.description)
    if task.skills:
        lines.append(t("Skills wanted: {skills}", skills=skill_names(t, store.skill_codes(task.skills))))
    lines.append(t("Earns: {earning}", earning=earning_text(t, task)))
    lines.append(t("{count}/{wanted} signed up", count=count, wanted=task.wanted))
    return "\n".join(lines)


async def posting(ctx: BaseContext, task: VolunteerTask, compound: Compound, edit: bool) -> Reply:
    """The group posting of a task, or the edit that brings its count up to date."""
    tr = ctx.translator(compound.language)
    count = await store.signup_count(ctx.session, task.id or 0)
    text = task_text(ctx, tr, task, compound, count)
    buttons: list[Button] = []
    if task.status == "open" and task.starts_at > ctx.now:
        if count < task.wanted:
            buttons.append(Button.do(tr("Sign up"), "vol.signup", task=task.id))
        else:
            text += "\n" + tr("This task is full. Thank you, everyone!")
        buttons.append(Button.do(tr("Withdraw"), "vol.withdraw", task=task.id))
    key = f"task:{task.id}"
    if edit:
        return Reply(text, buttons=rows(*buttons, per_row=2), edit=key)
    return Reply(text, buttons=rows(*buttons, per_row=2), to=ToGroups(compound.id or 0), posting=key)


# ---- skills ---------------------------------------------------------------------------------------------------


@router.command("skills", private=True, member=True, help="Your skills for volunteer tasks", order=31)
async def skills(ctx: Context, msg: Incoming) -> Replies:
    typed = str(ctx.args.get("command_args", "")).strip()
    if typed:
        codes = store.parse_skills(typed)
        if not codes and typed not in ("-", "无", "無", "none"):
            return Reply(ctx.t("I did not recognise those skills. Choose with the buttons below."),
                         buttons=_skill_buttons(ctx, store.skill_codes(ctx.person.skills)))
        ctx.person.skills = ",".join(codes)
        ctx.session.add(ctx.person)
        return _skills_saved(ctx)
    return Reply(ctx.t("Which skills can you offer? Residents with a matching skill are told about tasks that need "
                       "it. Press a skill to add or remove it."),
                 buttons=_skill_buttons(ctx, store.skill_codes(ctx.person.skills)))


def _skill_buttons(ctx: Context, mine: list[str]) -> tuple[tuple[Button, ...], ...]:
    buttons = [Button.do(("✓ " if code in mine else "") + ctx.t(SKILL_LABELS[code]), "vol.skill", skill=code)
               for code in SKILLS]
    return rows(*buttons, per_row=4)


def _skills_saved(ctx: Context) -> Reply:
    mine = store.skill_codes(ctx.person.skills)
    if not mine:
        return Reply(ctx.t("Your skills: none listed."), buttons=_skill_buttons(ctx, mine))
    return Reply(ctx.t("Your skills: {skills}.", skills=skill_names(ctx.t, mine)), buttons=_skill_buttons(ctx, mine))


@router.button("vol.skill", private=True)
async def skill_toggled(ctx: Context, msg: Incoming) -> Replies:
    code = str(ctx.args.get("skill"))
    mine = store.skill_codes(ctx.person.skills)
    if code in mine:
        mine.remove(code)
    elif code in SKILLS:
        mine.append(code)
    ctx.person.skills = ",".join(c for c in SKILLS if c in mine)
    ctx.session.add(ctx.person)
    return _skills_saved(ctx)


# ---- posting a task -----------------------------------------------------------------------------------------


@router.command("task", roles=ORGANISERS, private=True, flow=True, help="Post a volunteer task", order=32)
async def new_task(ctx: Context, msg: Incoming) -> Replies:
    ctx.convo.start("task", "title")
    return Reply(ctx.t("New volunteer task. What is its title? (for example: 周六清理楼道杂物)"))


def _text(msg: Incoming, limit: int) -> str | None:
    if not msg.text or not msg.text.strip():
        return None
    return msg.text.strip()[:limit]


@router.step("task", "title")
async def task_title(ctx: Context, msg: Incoming) -> Replies:
    title = _text(msg, 100)
    if title is None:
        return Reply(ctx.t("Please type the task's title, or send /cancel."))
    ctx.convo.draft["title"] = title
    ctx.convo.goto("description")
    return Reply(ctx.t("Describe the task in a few words (what volunteers will do, what to bring)."),
                 buttons=((Button.choice(ctx.t("No description"), "-"),),))


@router.step("task", "description")
async def task_description(ctx: Context, msg: Incoming) -> Replies:
    text = "" if ctx.args.get("value") == "-" else _text(msg, 1000)
    if text is None:
        return Reply(ctx.t("Please type a short description, or press No description."))
    ctx.convo.draft["description"] = text
    ctx.convo.goto("place")
    return Reply(ctx.t("Where does it take place? (for example: 1栋楼下)"))


@router.step("task", "place")
async def task_place(ctx: Context, msg: Incoming) -> Replies:
    place = _text(msg, 200)
    if place is None:
        return Reply(ctx.t("Please type the place, or send /cancel."))
    ctx.convo.draft["place"] = place
    ctx.convo.goto("start")
    return Reply(ctx.t("When does it start? Type the date and time, for example 2026-11-28 09:00 or 11-28 9:00."))


@router.step("task", "start")
async def task_start(ctx: Context, msg: Incoming) -> Replies:
    zone = ctx.zone(ctx.compound)
    start = store.parse_local_time(msg.text or "", ctx.now, zone)
    if start is None:
        return Reply(ctx.t("I could not read that time. Please type it like 2026-11-28 09:00."))
    if start <= ctx.now:
        return Reply(ctx.t("That time has already passed. Please give a time in the future."))
    ctx.convo.draft["start"] = start.isoformat()
    ctx.convo.goto("end")
    return Reply(ctx.t("When does it end? Type the time (for example 11:30), or a date and time."))


@router.step("task", "end")
async def task_end(ctx: Context, msg: Incoming) -> Replies:
    zone = ctx.zone(ctx.compound)
    start = datetime.fromisoformat(str(ctx.convo.draft["start"]))
    end = store.parse_local_time(msg.text or "", ctx.now, zone, day=start.astimezone(zone).date())
    if end is None:
        return Reply(ctx.t("I could not read that time. Please type it like 11:30 or 2026-11-28 11:30."))
    if end <= start:
        return Reply(ctx.t("The end must be after the start ({start}). Please type the end time again.",
                           start=ctx.local(start, ctx.compound)))
    ctx.convo.draft["end"] = end.isoformat()
    ctx.convo.goto("wanted")
    return Reply(ctx.t("How many volunteers are needed? Type a number."))


@router.step("task", "wanted")
async def task_wanted(ctx: Context, msg: Incoming) -> Replies:
    wanted = wanted_answer(ctx, msg)
    if isinstance(wanted, Reply):
        return wanted
    ctx.convo.draft["wanted"] = wanted
    ctx.convo.draft["skills"] = []
    ctx.convo.goto("skills")
    return _ask_task_skills(ctx)


def wanted_answer(ctx: Context, msg: Incoming) -> int | Reply:
    """How many volunteers a task wants ("5", "5人"), or the polite refusal that keeps the step."""
    text = (msg.text or "").strip().rstrip("人名位")
    if not text.isdigit() or not 1 <= int(text) <= MAX_WANTED:
        return Reply(ctx.t("Please type a number of volunteers between 1 and {max}.", max=MAX_WANTED))
    return int(text)


def _ask_task_skills(ctx: Context) -> Reply:
    chosen = list(ctx.convo.draft.get("skills", []))
    buttons = [Button.choice(("✓ " if c in chosen else "") + ctx.t(SKILL_LABELS[c]), c) for c in SKILLS]
    buttons.append(Button.choice(ctx.t("Done"), "done"))
    text = ctx.t("Which skills does it need? Residents with them are told privately. Press skills to choose, "
                 "then Done (or Done straight away if anyone can help).")
    if chosen:
        text += "\n" + ctx.t("Chosen: {skills}", skills=skill_names(ctx.t, chosen))
    return Reply(text, buttons=rows(*buttons, per_row=4))


@router.step("task", "skills")
async def task_skills(ctx: Context, msg: Incoming) -> Replies:
    value = ctx.args.get("value")
    chosen = list(ctx.convo.draft.get("skills", []))
    if value is None and msg.text:
        typed = store.parse_skills(msg.text)
        if not typed:
            return _ask_task_skills(ctx)
        chosen = typed
        value = "done"
    if value in SKILLS:
        chosen = [c for c in chosen if c != value] if value in chosen else [*chosen, value]
        ctx.convo.draft["skills"] = [c for c in SKILLS if c in chosen]
        ctx.convo.touch()
        return _ask_task_skills(ctx)
    if value != "done":
        return _ask_task_skills(ctx)
    ctx.convo.draft["skills"] = [c for c in SKILLS if c in chosen]
    ctx.convo.goto("mode")
    assert ctx.compound is not None
    return Reply(ctx.t("How does it earn points?"), buttons=(
        (Button.choice(ctx.t("Per hour ({rate} points/hour)", rate=hourly_rate(ctx.compound)), "hour"),),
        (Button.choice(ctx.t("Per activity ({rate} points)", rate=activity_rate(ctx.compound)), "activity"),),
    ))


@router.step("task", "mode")
async def task_mode(ctx: Context, msg: Incoming) -> Replies:
    value = ctx.args.get("value")
    if value not in ("hour", "activity"):
        return Reply(ctx.t("Please choose per hour or per activity with the buttons."))
    assert ctx.compound is not None
    ctx.convo.draft["mode"] = value
    ctx.convo.draft["rate"] = hourly_rate(ctx.compound) if value == "hour" else activity_rate(ctx.compound)
    ctx.convo.goto("confirm")
    task = _draft_task(ctx)
    return Reply(ctx.t("Please check the task:") + "\n\n" + task_text(ctx, ctx.t, task, ctx.compound, 0),
                 buttons=((Button.choice(ctx.t("Post it"), "post"), Button.choice(ctx.t("Cancel"), "cancel")),))


def _draft_task(ctx: Context) -> VolunteerTask:
    draft = ctx.convo.draft
    assert ctx.compound is not None
    return VolunteerTask(
        compound_id=ctx.compound.id or 0, organiser_id=ctx.person_id, title=str(draft["title"]),
        description=str(draft.get("description", "")), place=str(draft.get("place", "")),
        starts_at=datetime.fromisoformat(str(draft["start"])), ends_at=datetime.fromisoformat(str(draft["end"])),
        wanted=int(draft["wanted"]), skills=",".join(draft.get("skills", [])), mode=str(draft["mode"]),
        rate=int(draft["rate"]), created_at=ctx.now)


@router.step("task", "confirm")
async def task_confirm(ctx: Context, msg: Incoming) -> Replies:
    value = ctx.args.get("value")
    if value == "cancel":
        ctx.convo.end()
        return Reply(ctx.t("Cancelled; nothing was posted."))
    if value != "post":
        return Reply(ctx.t("Please press Post it or Cancel."))
    if not ctx.has(*ORGANISERS):  # checked again: roles may have changed while the draft was open
        ctx.convo.end()
        return Reply(ctx.t("Sorry, only a secretary or building leader can post tasks."))
    task = _draft_task(ctx)
    if task.starts_at <= ctx.now:
        ctx.convo.goto("start")
        return Reply(ctx.t("The start time has passed while we talked. Please type a new start time."))
    ctx.session.add(task)
    await ctx.session.flush()
    ctx.convo.end()
    assert ctx.compound is not None and task.id is not None
    return [Reply(ctx.t("Posted to the compound's group chats. I will tell you as people sign up, remind you "
                        "the evening before, and ask you for attendance afterwards.")),
            *await publish(ctx, task, ctx.compound)]


async def publish(ctx: Context, task: VolunteerTask, compound: Compound, told: Iterable[int] = ()) -> list[Reply]:
    """A new task's posting to the group chats, and a private word to each resident with a skill it needs
    (except the organiser and those in `told`, who hear of it otherwise)."""
    assert task.id is not None
    replies = [await posting(ctx, task, compound, edit=False)]
    codes = store.skill_codes(task.skills)
    skip = {ctx.person_id, *told}
    for person_id in await store.skilled_residents(ctx.session, compound.id or 0, codes):
        if person_id in skip:
            continue
        rt = await ctx.translator_for(person_id)
        person = await ctx.session.get(Person, person_id)
        theirs = [c for c in codes if person and c in store.skill_codes(person.skills)]
        replies.append(Reply(
            rt("A volunteer task needs your skill ({skills}):", skills=skill_names(rt, theirs)) + "\n\n"
            + task_text(ctx, rt, task, compound, 0),
            buttons=((Button.do(rt("Sign up"), "vol.signup", task=task.id),),), to=ToPerson(person_id)))
    return replies


# ---- signing up ---------------------------------------------------------------------------------------------


async def _answer(ctx: Context, text: str) -> Reply:
    """Pressed in a group: answer privately (the group sees the count change), unless we cannot reach them."""
    if ctx.private or await ctx.core.private_address(ctx.session, ctx.person_id) is None:
        return Reply(text, toast=text[:100])
    return Reply(text, to=ToPerson(ctx.person_id))


async def _task(ctx: Context, open_only: bool = False, organised: bool = False) -> VolunteerTask | Reply:
    """The task a button refers to (locked), if it is in this compound; with `open_only`, if it is still open; with
    `organised`, if this person may keep its attendance (its organiser or a secretary) and still may. Else the
    polite refusal."""
    t = ctx.t
    task = await store.lock_task(ctx.session, int(ctx.args.get("task", 0)))
    if task is None or ctx.compound is None or task.compound_id != ctx.compound.id:
        if organised:
            return Reply(t("This task does not belong to your compound."), toast=t("Not allowed"))
        return await _answer(ctx, t("This task is no longer open."))
    if open_only and task.status != "open":
        return await _answer(ctx, t("This task is no longer open."))
    if not organised:
        return task
    if task.organiser_id != ctx.person_id and not ctx.has(Role.SECRETARY):
        return Reply(t("Only the task's organiser or a secretary can keep its attendance."), toast=t("Not allowed"))
    if task.starts_at > ctx.now:
        return Reply(t("Attendance can be kept once the task has started."))
    if ctx.now > task.ends_at + ledger.CORRECTION_WINDOW:
        return Reply(t("Attendance can only be corrected within 7 days after the task."))
    return task


@router.button("vol.signup", member=True)
async def signup(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    task = await _task(ctx, open_only=True)
    if isinstance(task, Reply):
        return task
    if not ctx.roles:
        return await _answer(ctx, t("Only members of this compound can sign up. Send /join to join."))
    if task.starts_at <= ctx.now:
        return await _answer(ctx, t("This task has already started, so sign-ups are closed."))
    existing = await store.signup_of(ctx.session, task.id or 0, ctx.person_id)
    if existing is not None and existing.active:
        return await _answer(ctx, t("You are already signed up for “{title}”.", title=task.title))
    count = await store.signup_count(ctx.session, task.id or 0)
    if count >= task.wanted:
        return await _answer(ctx, t("Sorry, “{title}” already has all {wanted} volunteers it needs. Thank you for "
                                    "offering! Send /tasks to see other tasks.", title=task.title, wanted=task.wanted))
    if existing is not None:
        existing.active, existing.attended, existing.created_at = True, True, ctx.now
        ctx.session.add(existing)
    else:
        ctx.session.add(TaskSignup(task_id=task.id or 0, person_id=ctx.person_id, created_at=ctx.now))
    await ctx.session.flush()
    assert ctx.compound is not None
    answer = await _answer(ctx, t("You are signed up for “{title}” ({start}, {place}). I will remind you before it "
                                  "starts. Thank you!", title=task.title, start=ctx.local(task.starts_at, ctx.compound),
                                  place=task.place or "-"))
    return [answer, await posting(ctx, task, ctx.compound, edit=True)]


@router.button("vol.withdraw", member=True)
async def withdraw(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    task = await _task(ctx)
    if isinstance(task, Reply):
        return task
    existing = await store.signup_of(ctx.session, task.id or 0, ctx.person_id)
    if existing is None or not existing.active:
        return await _answer(ctx, t("You are not signed up for “{title}”.", title=task.title))
    if task.starts_at <= ctx.now:
        return await _answer(ctx, t("“{title}” has already started, so you cannot withdraw any more. If you cannot "
                                    "come, please tell the organiser.", title=task.title))
    existing.active = False
    ctx.session.add(existing)
    await ctx.session.flush()
    assert ctx.compound is not None
    return [await _answer(ctx, t("You have withdrawn from “{title}”.", title=task.title)),
            await posting(ctx, task, ctx.compound, edit=True)]


@router.command("tasks", member=True, help="Open volunteer tasks", order=30)
async def tasks(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    found = await store.open_tasks(ctx.session, ctx.compound.id, ctx.now)
    replies: list[Reply] = []
    if not found:
        replies.append(Reply(t("There are no open volunteer tasks right now.")))
    for task in found:
        count = await store.signup_count(ctx.session, task.id or 0)
        mine = await store.signup_of(ctx.session, task.id or 0, ctx.person_id)
        if mine is not None and mine.active:
            button = Button.do(t("Withdraw"), "vol.withdraw", task=task.id)
        else:
            button = Button.do(t("Sign up"), "vol.signup", task=task.id)
        replies.append(Reply(task_text(ctx, t, task, ctx.compound, count), buttons=((button,),)))
    if ctx.private and ctx.has(*ORGANISERS):
        for task in await _correctable(ctx):
            replies.append(Reply(t("Attendance of “{title}” ({start}) can be corrected until {until}.",
                                   title=task.title, start=ctx.local(task.starts_at, ctx.compound),
                                   until=ctx.local(task.ends_at + ledger.CORRECTION_WINDOW, ctx.compound)),
                                 buttons=((Button.do(t("Attendance sheet"), "vol.sheet", task=task.id),),)))
    return replies


async def _correctable(ctx: Context) -> list[VolunteerTask]:
    assert ctx.compound is not None
    return await store.correctable_tasks(ctx.session, ctx.compound.id or 0, ctx.person_id,
                                         ctx.now - ledger.CORRECTION_WINDOW, ctx.now)


# ---- reminders and the attendance request ------------------------------------------------------------------


@router.job("reminders", every=timedelta(minutes=10))
async def reminders(ctx: JobContext) -> Replies:
    replies: list[Reply] = []
    compounds: dict[int, Compound | None] = {}

    async def compound_of(task: VolunteerTask) -> Compound | None:
        if task.compound_id not in compounds:
            compounds[task.compound_id] = await ctx.session.get(Compound, task.compound_id)
        return compounds[task.compound_id]

    for task in await store.due_tasks(ctx.session, "volunteers_reminded_at", ctx.now + LOOKAHEAD, ctx.now):
        compound = await compound_of(task)
        lead = float(compound_setting(compound, "volunteer_reminder_hours", store.DEFAULT_REMINDER_HOURS)
                     ) if compound else store.DEFAULT_REMINDER_HOURS
        if task.starts_at - timedelta(hours=lead) > ctx.now:
            continue
        if not await store.claim(ctx.session, task.id or 0, "volunteers_reminded_at", ctx.now):
            continue
        for _signup, person in await store.volunteers(ctx.session, task.id or 0):
            rt = await ctx.translator_for(person.id or 0)
            replies.append(Reply(rt("Reminder: the volunteer task “{title}” starts at {start} at {place}. Thank you "
                                    "for helping!", title=task.title, start=ctx.local(task.starts_at, compound),
                                    place=task.place or "-"),
                                 to=ToPerson(person.id or 0), expires_at=task.starts_at))
    for task in await store.due_tasks(ctx.session, "organiser_reminded_at", ctx.now + LOOKAHEAD, ctx.now):
        compound = await compound_of(task)
        at = str(compound_setting(compound, "organiser_reminder_time", store.DEFAULT_ORGANISER_REMINDER)
                 ) if compound else store.DEFAULT_ORGANISER_REMINDER
        if store.organiser_reminder_due(task.starts_at, ctx.zone(compound), at) > ctx.now:
            continue
        if not await store.claim(ctx.session, task.id or 0, "organiser_reminded_at", ctx.now):
            continue
        names = [p.name for _s, p in await store.volunteers(ctx.session, task.id or 0)]
        rt = await ctx.translator_for(task.organiser_id)
        replies.append(Reply(rt("Tomorrow: “{title}” at {start}, {place}. Signed up ({count}/{wanted}): {names}",
                                title=task.title, start=ctx.local(task.starts_at, compound), place=task.place or "-",
                                count=len(names), wanted=task.wanted, names="、".join(names) or rt("nobody yet")),
                             to=ToPerson(task.organiser_id), expires_at=task.starts_at))
    for task in await store.due_tasks(ctx.session, "attendance_asked_at", ctx.now,
                                      ctx.now - ledger.CORRECTION_WINDOW):
        if not await store.claim(ctx.session, task.id or 0, "attendance_asked_at", ctx.now):
            continue
        rt = await ctx.translator_for(task.organiser_id)
        sheet = await _sheet(ctx, rt, task, await compound_of(task))
        replies.append(Reply(rt("“{title}” has ended. Please confirm who came and for how long; points are "
                                "credited when you press Confirm.", title=task.title) + "\n\n" + sheet.text,
                             buttons=sheet.buttons, to=ToPerson(task.organiser_id)))
    return replies


# ---- attendance ---------------------------------------------------------------------------------------------


async def _sheet(ctx: BaseContext, t: Translator, task: VolunteerTask, compound: Compound | None) -> Reply:
    """Who came and for how long, with buttons to change it; Confirm carries the sheet's version."""
    lines = [t("Attendance: {title} ({start})", title=task.title, start=ctx.local(task.starts_at, compound))]
    buttons: list[tuple[Button, ...]] = []
    planned = store.planned_hours(task)
    for index, (signup_row, person) in enumerate(await store.volunteers(ctx.session, task.id or 0), 1):
        hours = signup_row.hours if signup_row.hours is not None else planned
        if signup_row.attended:
            if task.mode == "hour":
                state = t("came, {hours} h", hours=store.format_hours(hours))
            else:
                state = t("came")
        else:
            state = t("did not come")
        points = ledger.points_for(task.mode, task.rate, hours) if signup_row.attended else 0
        lines.append(t("{n}. {name}: {state} → {points} points", n=index, name=person.name, state=state,
                       points=points))
        row = [Button.do(("✓ " if signup_row.attended else "✗ ") + person.name, "vol.att_toggle", task=task.id,
                         signup=signup_row.id)]
        if task.mode == "hour" and signup_row.attended:
            row.append(Button.do("−0.5h", "vol.att_hours", task=task.id, signup=signup_row.id, delta="-0.5"))
            row.append(Button.do("+0.5h", "vol.att_hours", task=task.id, signup=signup_row.id, delta="0.5"))
        buttons.append(tuple(row))
    if len(lines) == 1:
        lines.append(t("Nobody signed up."))
    buttons.append((Button.do(t("Confirm attendance"), "vol.att_confirm", task=task.id,
                              version=task.attendance_version),))
    return Reply("\n".join(lines), buttons=tuple(buttons))


@router.button("vol.sheet", member=True, private=True)
async def sheet(ctx: Context, msg: Incoming) -> Replies:
    task = await _task(ctx, organised=True)
    if isinstance(task, Reply):
        return task
    return await _sheet(ctx, ctx.t, task, ctx.compound)


async def _correct_sheet(ctx: Context, change: Callable[[VolunteerTask, TaskSignup], None]) -> Replies:
    """One correction on the attendance sheet (the pressed volunteer's row, if still signed up), then the sheet."""
    task = await _task(ctx, organised=True)
    if isinstance(task, Reply):
        return task
    row = await ctx.session.get(TaskSignup, int(ctx.args.get("signup", 0)))
    if row is not None and row.task_id == task.id and row.active:
        change(task, row)
        ctx.session.add(row)
        await ctx.session.flush()
    return await _sheet(ctx, ctx.t, task, ctx.compound)


@router.button("vol.att_toggle", member=True, private=True)
async def attendance_toggle(ctx: Context, msg: Incoming) -> Replies:
    def toggle(task: VolunteerTask, row: TaskSignup) -> None:
        row.attended = not row.attended

    return await _correct_sheet(ctx, toggle)


@router.button("vol.att_hours", member=True, private=True)
async def attendance_hours(ctx: Context, msg: Incoming) -> Replies:
    def add_hours(task: VolunteerTask, row: TaskSignup) -> None:
        current = row.hours if row.hours is not None else store.planned_hours(task)
        row.hours = min(max(current + Decimal(str(ctx.args.get("delta", "0"))), store.HOURS_STEP), store.MAX_HOURS)

    return await _correct_sheet(ctx, add_hours)


@router.button("vol.att_confirm", member=True, private=True)
async def attendance_confirm(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    task = await _task(ctx, organised=True)
    if isinstance(task, Reply):
        return task
    version = int(ctx.args.get("version", 0))
    if not await store.claim_attendance(ctx.session, task.id or 0, version, ctx.now):
        return Reply(t("This attendance sheet was already confirmed; nothing was credited twice."),
                     toast=t("Already confirmed"))
    assert ctx.compound is not None
    planned = store.planned_hours(task)
    replies: list[Reply] = []
    lines: list[str] = []
    for row, person in await store.volunteers(ctx.session, task.id or 0):
        hours = row.hours if row.hours is not None else planned
        if row.hours is None:
            row.hours = hours
            ctx.session.add(row)
        points = ledger.points_for(task.mode, task.rate, hours) if row.attended else 0
        rt = await ctx.translator_for(person.id or 0)
        change = await ledger.set_task_points(ctx.session, task.compound_id, task.id or 0, person.id or 0, points,
                                              rt("Volunteer task: {title}", title=task.title)[:200], ctx.person_id,
                                              ctx.now)
        if change is None:
            lines.append(t("{name}: not changed, the points were already spent.", name=person.name))
            continue
        lines.append(t("{name}: {points} points", name=person.name, points=points))
        if change == 0:
            continue
        total = await ledger.balance(ctx.session, task.compound_id, person.id or 0)
        if version == 0:
            text = rt("Thank you for volunteering at “{title}”! You earned {points} points. Your balance: {balance}.",
                      title=task.title, points=points, balance=total)
        else:
            text = rt("Your points for “{title}” were corrected by {change}. Your balance: {balance}.",
                      title=task.title, change=f"{change:+d}", balance=total)
        replies.append(Reply(text, to=ToPerson(person.id or 0)))
    summary = t("Attendance confirmed for “{title}”:", title=task.title) + "\n" + "\n".join(
        lines or [t("Nobody signed up.")])
    return [Reply(summary, toast=t("Confirmed")), *replies]
