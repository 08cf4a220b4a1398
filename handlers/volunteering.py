"""Volunteer tasks: posting (secretary or building leader), signing up from the group or privately, reminders,
attendance and the points it earns; and residents' skills (/skills)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.core import answers
from bot.core.context import BaseContext, Context, JobContext, MemberContext
from bot.core.flows import Done, Draft, Flow, Go, Outcome, Stay
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, ToGroups, ToPerson, rows
from storage import points as ledger
from storage import volunteering as store
from storage.compounds import Compound, compound_setting
from storage.people import Person, Role
from storage.volunteering import SKILLS, SignUp, TaskStatus, VolunteerTask, Withdrawal

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
WEEKDAY_NAMES = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
                 N_("Sunday"))
MAX_WANTED = 500
# Reminders are looked for this far ahead; a compound's lead time beyond it is capped.
LOOKAHEAD = timedelta(hours=48)


def skill_names(t: Translator, codes: list[str]) -> str:
    return "、".join(t(SKILL_LABELS[c]) for c in codes if c in SKILL_LABELS)


def hourly_rate(compound: Compound | None) -> int:
    if compound is None:
        return ledger.DEFAULT_HOURLY_RATE
    return int(compound_setting(compound, "points_per_hour", ledger.DEFAULT_HOURLY_RATE))


def activity_rate(compound: Compound | None) -> int:
    if compound is None:
        return ledger.DEFAULT_ACTIVITY_RATE
    return int(compound_setting(compound, "points_per_activity", ledger.DEFAULT_ACTIVITY_RATE))


def earning_text(t: Translator, task: VolunteerTask) -> str:
    if task.mode == "activity":
        return t("{rate} points for taking part", rate=task.rate)
    return t("{rate} points per hour", rate=task.rate)


def task_text(ctx: BaseContext, t: Translator, task: VolunteerTask, compound: Compound | None, count: int,
              when: str | None = None) -> str:
    """The task as residents read it; `when` replaces its usual time line (the confirmation echoes times in full)."""
    lines = [
        t("Volunteer task: {title}", title=task.title),
        when or t("When: {start} – {end}", start=ctx.local(task.starts_at, compound),
                  end=ctx.local(task.ends_at, compound, "%H:%M")),
        t("Where: {place}", place=task.place or "-"),
    ]
    if task.description:
        lines.append(task.description)
    if task.skills:
        lines.append(t("Skills wanted: {skills}", skills=skill_names(t, store.skill_codes(task.skills))))
    lines.append(t("Earns: {earning}", earning=earning_text(t, task)))
    if task.recurrence:
        lines.append(repeat_text(ctx, t, task.recurrence, task.starts_at, compound))
    lines.append(t("{count}/{wanted} signed up", count=count, wanted=task.wanted))
    return "\n".join(lines)


def repeat_text(ctx: BaseContext, t: Translator, recurrence: str, starts_at: datetime, compound: Compound | None
                ) -> str:
    """How a recurring task repeats; each occurrence has its own sign-ups."""
    local = starts_at.astimezone(ctx.zone(compound))
    if recurrence == "weekly":
        return t("Repeats every {weekday} at {time}; each week has its own sign-ups.",
                 weekday=t(WEEKDAY_NAMES[local.weekday()]), time=local.strftime("%H:%M"))
    return t("Repeats on day {day} of every month at {time}; each month has its own sign-ups.", day=local.day,
             time=local.strftime("%H:%M"))


async def posting(ctx: BaseContext, task: VolunteerTask, compound: Compound, edit: bool) -> Reply:
    """The group posting of a task, or the edit that brings its count up to date."""
    tr = ctx.translator(compound.language)
    count = await store.signup_count(ctx.session, task.stored_id)
    text = task_text(ctx, tr, task, compound, count)
    buttons: list[Button] = []
    if task.status == TaskStatus.OPEN and task.starts_at > ctx.now:
        if count < task.wanted:
            buttons.append(Button.do(tr("Sign up"), "vol.signup", task=task.id))
        else:
            text += "\n" + tr("This task is full. Thank you, everyone!")
        buttons.append(Button.do(tr("Withdraw"), "vol.withdraw", task=task.id))
    key = f"task:{task.id}"
    if edit:
        return Reply(text, buttons=rows(*buttons, per_row=2), edit=key)
    return Reply(text, buttons=rows(*buttons, per_row=2), to=ToGroups(task.compound_id), posting=key)


# ---- skills ---------------------------------------------------------------------------------------------------


@router.command("skills", group="volunteer", private=True, member=True, help="Your skills for volunteer tasks", order=31)
async def skills(ctx: MemberContext, msg: Incoming) -> Replies:
    typed = str(ctx.args.get("command_args", "")).strip()
    if typed:
        codes = store.parse_skills(typed)
        if not codes and typed not in ("-", "无", "無", "none"):
            return Reply(ctx.t("I did not recognise those skills. Choose with the buttons below."),
                         buttons=_skill_buttons(ctx, store.skill_codes(ctx.person.skills)))
        await store.set_skills(ctx.session, ctx.person, codes)
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
    await store.set_skills(ctx.session, ctx.person, [c for c in mine if c != code] if code in mine else [*mine, code])
    return _skills_saved(ctx)


# ---- where, when and how many: asked alike by /task and by a need turned into a task ------------------------


class Schedule(Draft):
    """The part of a draft that says where and when a task takes place and how many volunteers it wants. /task
    and the needs triage (`handlers.needs`) declare the same steps over it: `schedule_steps`."""

    place: str = ""
    start: datetime | None = None
    end: datetime | None = None
    wanted: int = 0
    # The time was asked again from the confirmation: after the end, straight back to it.
    editing: bool = False


WANTED = answers.Count(1, MAX_WANTED, units=("人", "名", "位"))


def ask_place(ctx: Context, draft: Schedule) -> Reply:
    return Reply(ctx.t("Where does it take place? (for example: 1栋楼下)"))


async def place(ctx: MemberContext, draft: Schedule, text: str) -> Outcome:
    return Go("start", draft.model_copy(update={"place": text}))


def ask_start(ctx: Context, draft: Schedule) -> Reply:
    return Reply(ctx.t("When does it start? Type a day and a time, for example 明天 9:00, 周六 14:30 or 11-28 9:00."))


async def start(ctx: MemberContext, draft: Schedule, moment: datetime) -> Outcome:
    return Go("end", draft.model_copy(update={"start": moment}))


def ask_end(ctx: Context, draft: Schedule) -> Reply:
    begins = answers.moment_text(ctx.t, draft.start, ctx) if draft.start is not None else "-"
    return Reply(ctx.t("It starts {start}. When does it end? Type the time (for example 11:30), or a day and a time.",
                       start=begins))


async def end(ctx: MemberContext, draft: Schedule, value: time | datetime) -> Outcome:
    if draft.start is None:  # a draft from before its start was asked: ask it
        return Go("start", draft)
    if isinstance(value, datetime):
        moment = value
    else:
        day = draft.start.astimezone(ctx.zone(ctx.compound)).date()
        moment = datetime.combine(day, value, ctx.zone(ctx.compound))
    if moment <= draft.start:
        return Stay(Reply(ctx.t("The end ({end}) must be after the start ({start}). Please type the end time again.",
                                end=answers.moment_text(ctx.t, moment, ctx),
                                start=answers.moment_text(ctx.t, draft.start, ctx))))
    if moment - draft.start > store.MAX_LENGTH:
        return Stay(Reply(ctx.t("A task lasts at most {hours} hours; please type an earlier end, or post a longer "
                                "one day by day.", hours=int(store.MAX_LENGTH.total_seconds()) // 3600)))
    return Go("confirm" if draft.editing else "wanted", draft.model_copy(update={"end": moment}))


def ask_wanted(ctx: Context, draft: Schedule) -> Reply:
    return Reply(ctx.t("How many volunteers are needed? Type a number."))


def schedule_steps(flow: Flow[Any], after_end: tuple[str, ...], ask: Callable[[Context, Any], Reply] = ask_place
                   ) -> None:
    """Declare the place, start and end steps on `flow` (whose draft is a Schedule); `ask` may introduce the place
    question. The end goes to "wanted" (declared by the flow itself), or to "confirm" when editing."""
    flow.step("place", ask=ask, answer=answers.Text(200, what=N_("place")), next=("start",))(place)
    flow.step("start", ask=ask_start, answer=answers.When(), next=("end",))(start)
    flow.step("end", ask=ask_end, answer=answers.Either((answers.Clock(), answers.When())),
              next=(*after_end, "start"))(end)


# ---- posting a task -----------------------------------------------------------------------------------------


class TaskDraft(Schedule):
    title: str = ""
    description: str = ""
    skills: tuple[str, ...] = ()
    mode: str = ""
    recurrence: str = ""


task_flow = Flow("task", TaskDraft, title=N_("the new volunteer task"), roles=ORGANISERS)


@router.command("task", group="volunteer", roles=ORGANISERS, private=True, flow=True, help="Post a volunteer task", order=32)
async def new_task(ctx: MemberContext, msg: Incoming) -> Replies:
    return await task_flow.begin(ctx, TaskDraft())


def _ask_title(ctx: Context, draft: TaskDraft) -> Reply:
    return Reply(ctx.t("New volunteer task. What is its title? (for example: 周六清理楼道杂物)"))


@task_flow.step("title", ask=_ask_title, answer=answers.Text(100, what=N_("title")), next=("description",))
async def task_title(ctx: MemberContext, draft: TaskDraft, text: str) -> Outcome:
    return Go("description", draft.model_copy(update={"title": text}))


def _ask_description(ctx: Context, draft: TaskDraft) -> Reply:
    return Reply(ctx.t("Describe the task in a few words (what volunteers will do, what to bring)."),
                 buttons=((Button.choice(ctx.t("No description"), "-"),),))


@task_flow.step("description", ask=_ask_description, answer=answers.Text(1000, what=N_("description"), skip="-"),
                next=("place",))
async def task_description(ctx: MemberContext, draft: TaskDraft, text: str) -> Outcome:
    return Go("place", draft.model_copy(update={"description": text}))


schedule_steps(task_flow, after_end=("wanted", "confirm"))


@task_flow.step("wanted", ask=ask_wanted, answer=WANTED, next=("skills",))
async def task_wanted(ctx: MemberContext, draft: TaskDraft, wanted: int) -> Outcome:
    return Go("skills", draft.model_copy(update={"wanted": wanted}))


def _ask_skills(ctx: Context, draft: TaskDraft) -> Reply:
    buttons = [Button.choice(("✓ " if c in draft.skills else "") + ctx.t(SKILL_LABELS[c]), c) for c in SKILLS]
    buttons.append(Button.choice(ctx.t("Done"), "done"))
    text = ctx.t("Which skills does it need? Residents with them are told privately. Press skills to choose, "
                 "then Done (or Done straight away if anyone can help).")
    if draft.skills:
        text += "\n" + ctx.t("Chosen: {skills}", skills=skill_names(ctx.t, list(draft.skills)))
    return Reply(text, buttons=rows(*buttons, per_row=4))


@task_flow.step("skills", ask=_ask_skills, next=("mode",), answer=answers.Either(
    (answers.Choice(values=(*SKILLS, "done")), answers.Text(200, what=N_("skills")))))
async def task_skills(ctx: MemberContext, draft: TaskDraft, value: str) -> Outcome:
    if value == "done":
        return Go("mode")
    if value in SKILLS:  # pressed: one skill more or less, asked again
        chosen = [c for c in draft.skills if c != value] if value in draft.skills else [*draft.skills, value]
        changed = draft.model_copy(update={"skills": tuple(c for c in SKILLS if c in chosen)})
        return Stay(_ask_skills(ctx, changed), changed)
    typed = store.parse_skills(value)  # typed skill names (电工、法律): those, and on
    if not typed:
        return Stay(_ask_skills(ctx, draft))
    return Go("mode", draft.model_copy(update={"skills": tuple(typed)}))


def _ask_mode(ctx: Context, draft: TaskDraft) -> Reply:
    return Reply(ctx.t("How does it earn points?"), buttons=(
        (Button.choice(ctx.t("Per hour ({rate} points/hour)", rate=hourly_rate(ctx.compound)), "hour"),),
        (Button.choice(ctx.t("Per activity ({rate} points)", rate=activity_rate(ctx.compound)), "activity"),),
    ))


@task_flow.step("mode", ask=_ask_mode, next=("confirm",), answer=answers.Choice(
    values=store.MODES, refusal=N_("Please choose per hour or per activity with the buttons.")))
async def task_mode(ctx: MemberContext, draft: TaskDraft, mode: str) -> Outcome:
    return Go("confirm", draft.model_copy(update={"mode": mode}))


def _repeat_buttons(ctx: Context, draft: TaskDraft) -> tuple[Button, ...]:
    """On the confirmation: make the task repeat (a weekly 代购 for elderly neighbours), or not after all."""
    t = ctx.t
    if draft.recurrence:
        return (Button.choice(t("Just once"), "once"),)
    local = (draft.start or ctx.now).astimezone(ctx.zone(ctx.compound))
    time_text = local.strftime("%H:%M")
    return (Button.choice(t("Repeat every {weekday} at {time}", weekday=t(WEEKDAY_NAMES[local.weekday()]),
                            time=time_text), "weekly"),
            Button.choice(t("Repeat on day {day} of every month", day=local.day), "monthly"))


def _rate(compound: Compound | None, mode: str) -> int:
    return hourly_rate(compound) if mode == "hour" else activity_rate(compound)


def _draft_task(ctx: Context, draft: TaskDraft) -> VolunteerTask:
    """The task as it would be posted, for the confirmation only: never written (storage.post_task writes it)."""
    moment = draft.start or ctx.now
    return VolunteerTask(
        compound_id=0, organiser_id=ctx.person_id, title=draft.title,
        description=draft.description, place=draft.place, starts_at=moment, ends_at=draft.end or moment,
        wanted=draft.wanted, skills=",".join(draft.skills), mode=draft.mode, rate=_rate(ctx.compound, draft.mode),
        recurrence=draft.recurrence)


def _ask_confirm(ctx: Context, draft: TaskDraft) -> Reply:
    t = ctx.t
    task = _draft_task(ctx, draft)
    when = t("When: {start} – {end}", start=answers.moment_text(t, task.starts_at, ctx),
             end=answers.moment_text(t, task.ends_at, ctx))
    return Reply(t("Please check the task:") + "\n\n" + task_text(ctx, t, task, ctx.compound, 0, when=when),
                 buttons=((Button.choice(t("Post it"), "post"), Button.choice(t("Cancel"), "cancel")),
                          _repeat_buttons(ctx, draft)))


@task_flow.step("confirm", ask=_ask_confirm, next=("start",), answer=answers.Choice(
    values=("post", "cancel", "once", "weekly", "monthly"), refusal=N_("Please press Post it or Cancel.")))
async def task_confirm(ctx: MemberContext, draft: TaskDraft, value: str) -> Outcome:
    t = ctx.t
    if value == "cancel":
        return Done(Reply(t("Cancelled; nothing was posted.")))
    if value in ("once", "weekly", "monthly"):  # each occurrence its own task, made when the one before starts
        changed = draft.model_copy(update={"recurrence": "" if value == "once" else value})
        return Stay(_ask_confirm(ctx, changed), changed)
    task = None
    if draft.start is not None and draft.end is not None:
        task = await store.post_task(
            ctx.session, compound_id=ctx.compound_id, organiser_id=ctx.person_id, title=draft.title,
            description=draft.description, place=draft.place, starts_at=draft.start, ends_at=draft.end,
            wanted=draft.wanted, skills=list(draft.skills), mode=draft.mode, rate=_rate(ctx.compound, draft.mode),
            now=ctx.now, recurrence=draft.recurrence)
    if task is None:  # the start has passed while we talked: only the time is asked again
        return Go("start", draft.model_copy(update={"editing": True}),
                  say=(Reply(t("The start time has passed while we talked. Please type a new start time.")),))
    return Done([Reply(t("Posted to the compound's group chats. I will tell you as people sign up, remind you "
                         "the evening before, and ask you for attendance afterwards.")),
                 *await publish(ctx, task, ctx.compound)])


async def publish(ctx: BaseContext, task: VolunteerTask, compound: Compound, told: Iterable[int] = ()) -> list[Reply]:
    """A new task's posting to the group chats, and a private word to each resident with a skill it needs
    (except the organiser and those in `told`, who hear of it otherwise)."""
    replies = [await posting(ctx, task, compound, edit=False)]
    codes = store.skill_codes(task.skills)
    skip = {task.organiser_id, *told}
    for person_id in await store.skilled_residents(ctx.session, task.compound_id, codes):
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


async def _task(ctx: MemberContext, open_only: bool = False, organised: bool = False) -> VolunteerTask | Reply:
    """The task a button refers to (locked), if it is in this compound; with `open_only`, if it is still open; with
    `organised`, if this person may keep its attendance (its organiser or a secretary) and still may. Else the
    polite refusal."""
    t = ctx.t
    task = await store.lock_task(ctx.session, int(ctx.args.get("task", 0)))
    if task is None or task.compound_id != ctx.compound_id:
        if organised:
            return Reply(t("This task does not belong to your compound."), toast=t("Not allowed"))
        return await _answer(ctx, t("This task is no longer open."))
    if open_only and task.status != TaskStatus.OPEN:
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
async def signup(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    task = await _task(ctx, open_only=True)
    if isinstance(task, Reply):
        return task
    done = await store.sign_up(ctx.session, task, ctx.person_id, ctx.now)
    if done == SignUp.CLOSED:
        return await _answer(ctx, t("This task is no longer open."))
    if done == SignUp.STARTED:
        return await _answer(ctx, t("This task has already started, so sign-ups are closed."))
    if done == SignUp.ALREADY:
        return await _answer(ctx, t("You are already signed up for “{title}”.", title=task.title))
    if done == SignUp.FULL:
        return await _answer(ctx, t("Sorry, “{title}” already has all {wanted} volunteers it needs. Thank you for "
                                    "offering! Send /tasks to see other tasks.", title=task.title, wanted=task.wanted))
    answer = await _answer(ctx, t("You are signed up for “{title}” ({start}, {place}). I will remind you before it "
                                  "starts. Thank you!", title=task.title, start=ctx.local(task.starts_at, ctx.compound),
                                  place=task.place or "-"))
    return [answer, await posting(ctx, task, ctx.compound, edit=True)]


@router.button("vol.withdraw", member=True)
async def withdraw(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    task = await _task(ctx)
    if isinstance(task, Reply):
        return task
    done = await store.withdraw(ctx.session, task, ctx.person_id, ctx.now)
    if done == Withdrawal.NOT_SIGNED:
        return await _answer(ctx, t("You are not signed up for “{title}”.", title=task.title))
    if done == Withdrawal.STARTED:
        return await _answer(ctx, t("“{title}” has already started, so you cannot withdraw any more. If you cannot "
                                    "come, please tell the organiser.", title=task.title))
    return [await _answer(ctx, t("You have withdrawn from “{title}”.", title=task.title)),
            await posting(ctx, task, ctx.compound, edit=True)]


@router.command("tasks", group="volunteer", member=True, help="Open volunteer tasks", order=30)
async def tasks(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    found = await store.open_tasks(ctx.session, ctx.compound_id, ctx.now)
    replies: list[Reply] = []
    if not found:
        replies.append(Reply(t("There are no open volunteer tasks right now.")))
    for task in found:
        count = await store.signup_count(ctx.session, task.stored_id)
        mine = await store.signup_of(ctx.session, task.stored_id, ctx.person_id)
        if mine is not None and mine.active:
            button = Button.do(t("Withdraw"), "vol.withdraw", task=task.id)
        else:
            button = Button.do(t("Sign up"), "vol.signup", task=task.id)
        buttons: list[tuple[Button, ...]] = [(button,)]
        if task.recurrence and ctx.private and (task.organiser_id == ctx.person_id or ctx.has(Role.SECRETARY)):
            buttons.append((Button.do(t("Stop repeating"), "vol.stop_series", task=task.id),))
        replies.append(Reply(task_text(ctx, t, task, ctx.compound, count), buttons=tuple(buttons)))
    if ctx.private and ctx.has(*ORGANISERS):
        for task in await store.correctable_tasks(ctx.session, ctx.compound_id, ctx.person_id,
                                                  ctx.now - ledger.CORRECTION_WINDOW, ctx.now):
            replies.append(Reply(t("Attendance of “{title}” ({start}) can be corrected until {until}.",
                                   title=task.title, start=ctx.local(task.starts_at, ctx.compound),
                                   until=ctx.local(task.ends_at + ledger.CORRECTION_WINDOW, ctx.compound)),
                                 buttons=((Button.do(t("Attendance sheet"), "vol.sheet", task=task.id),),)))
    return replies


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
        if not await store.claim(ctx.session, task.stored_id, "volunteers_reminded_at", ctx.now):
            continue
        for signed, _person in await store.volunteers(ctx.session, task.stored_id):
            rt = await ctx.translator_for(signed.person_id)
            replies.append(Reply(rt("Reminder: the volunteer task “{title}” starts at {start} at {place}. Thank you "
                                    "for helping!", title=task.title, start=ctx.local(task.starts_at, compound),
                                    place=task.place or "-"),
                                 to=ToPerson(signed.person_id), expires_at=task.starts_at))
    for task in await store.due_tasks(ctx.session, "organiser_reminded_at", ctx.now + LOOKAHEAD, ctx.now):
        compound = await compound_of(task)
        at = str(compound_setting(compound, "organiser_reminder_time", store.DEFAULT_ORGANISER_REMINDER)
                 ) if compound else store.DEFAULT_ORGANISER_REMINDER
        if store.organiser_reminder_due(task.starts_at, ctx.zone(compound), at) > ctx.now:
            continue
        if not await store.claim(ctx.session, task.stored_id, "organiser_reminded_at", ctx.now):
            continue
        names = [p.name for _s, p in await store.volunteers(ctx.session, task.stored_id)]
        rt = await ctx.translator_for(task.organiser_id)
        replies.append(Reply(rt("Tomorrow: “{title}” at {start}, {place}. Signed up ({count}/{wanted}): {names}",
                                title=task.title, start=ctx.local(task.starts_at, compound), place=task.place or "-",
                                count=len(names), wanted=task.wanted, names="、".join(names) or rt("nobody yet")),
                             to=ToPerson(task.organiser_id), expires_at=task.starts_at))
    for task in await store.due_tasks(ctx.session, "attendance_asked_at", ctx.now,
                                      ctx.now - ledger.CORRECTION_WINDOW):
        if not await store.claim(ctx.session, task.stored_id, "attendance_asked_at", ctx.now):
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
    for index, (signup_row, person) in enumerate(await store.volunteers(ctx.session, task.stored_id), 1):
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
async def sheet(ctx: MemberContext, msg: Incoming) -> Replies:
    task = await _task(ctx, organised=True)
    if isinstance(task, Reply):
        return task
    return await _sheet(ctx, ctx.t, task, ctx.compound)


async def _correct_sheet(ctx: MemberContext, change: Callable[[VolunteerTask, int], Awaitable[bool]]) -> Replies:
    """One correction on the attendance sheet (the pressed volunteer's row, if still signed up), then the sheet."""
    task = await _task(ctx, organised=True)
    if isinstance(task, Reply):
        return task
    await change(task, int(ctx.args.get("signup", 0)))
    return await _sheet(ctx, ctx.t, task, ctx.compound)


@router.button("vol.att_toggle", member=True, private=True)
async def attendance_toggle(ctx: MemberContext, msg: Incoming) -> Replies:
    return await _correct_sheet(ctx, lambda task, signup_id: store.toggle_attended(ctx.session, task, signup_id))


@router.button("vol.att_hours", member=True, private=True)
async def attendance_hours(ctx: MemberContext, msg: Incoming) -> Replies:
    try:
        delta = Decimal(str(ctx.args.get("delta", "0")))
    except InvalidOperation:
        delta = Decimal(0)
    return await _correct_sheet(ctx, lambda task, signup_id: store.change_hours(ctx.session, task, signup_id, delta))


@router.button("vol.att_confirm", member=True, private=True)
async def attendance_confirm(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    task = await _task(ctx, organised=True)
    if isinstance(task, Reply):
        return task
    version = int(ctx.args.get("version", 0))
    if not await store.claim_attendance(ctx.session, task.stored_id, version, ctx.now):
        return Reply(t("This attendance sheet was already confirmed; nothing was credited twice."),
                     toast=t("Already confirmed"))
    replies: list[Reply] = []
    lines: list[str] = []
    for row, person, hours in await store.settle_hours(ctx.session, task):
        points = ledger.points_for(task.mode, task.rate, hours) if row.attended else 0
        rt = await ctx.translator_for(row.person_id)
        change = await ledger.set_task_points(ctx.session, task.compound_id, task.stored_id, row.person_id, points,
                                              rt("Volunteer task: {title}", title=task.title)[:200], ctx.person_id,
                                              ctx.now)
        if change is None:
            lines.append(t("{name}: not changed, the points were already spent.", name=person.name))
            continue
        lines.append(t("{name}: {points} points", name=person.name, points=points))
        if change == 0:
            continue
        total = await ledger.balance(ctx.session, task.compound_id, row.person_id)
        if version == 0:
            text = rt("Thank you for volunteering at “{title}”! You earned {points} points. Your balance: {balance}.",
                      title=task.title, points=points, balance=total)
        else:
            text = rt("Your points for “{title}” were corrected by {change}. Your balance: {balance}.",
                      title=task.title, change=f"{change:+d}", balance=total)
        replies.append(Reply(text, to=ToPerson(row.person_id)))
    summary = t("Attendance confirmed for “{title}”:", title=task.title) + "\n" + "\n".join(
        lines or [t("Nobody signed up.")])
    return [Reply(summary, toast=t("Confirmed")), *replies]


@router.button("vol.stop_series", roles=ORGANISERS, private=True)
async def stop_series(ctx: MemberContext, msg: Incoming) -> Replies:
    """The organiser (or a secretary) ends a recurring task: the occurrences already posted stay."""
    t = ctx.t
    task = await _task(ctx)
    if isinstance(task, Reply):
        return task
    if task.organiser_id != ctx.person_id and not ctx.has(Role.SECRETARY):
        return Reply(t("Only the task's organiser or a secretary can change it."), toast=t("Not allowed"))
    if not await store.stop_repeating(ctx.session, task):
        return Reply(t("“{title}” does not repeat any more.", title=task.title), toast=t("Already stopped"))
    return Reply(t("“{title}” will not be posted again; the times already posted stay as they are.",
                   title=task.title), toast=t("Stopped"))


@router.job("series", every=timedelta(minutes=10))
async def next_occurrences(ctx: JobContext) -> Replies:
    """A recurring task that has started gets its next occurrence (made once), posted like a new task; the
    organiser is told."""
    replies: list[Reply] = []
    for task in await store.series_due(ctx.session, ctx.now):
        compound = await ctx.session.get(Compound, task.compound_id)
        if compound is None:
            continue
        made = await store.repeat(ctx.session, task, ctx.zone(compound), ctx.now)
        if made is None:
            continue
        replies += await publish(ctx, made, compound)
        rt = await ctx.translator_for(made.organiser_id)
        replies.append(Reply(rt("The next “{title}” ({start}) is posted; its sign-ups start afresh.", title=made.title,
                                start=ctx.local(made.starts_at, compound)), to=ToPerson(made.organiser_id)))
    return replies


router.flow(task_flow)

__all__ = ["router"]
