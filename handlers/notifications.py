"""The notification budget, as people see it: the 不再接收此类通知 button on a notice (and 撤销 to take it back),
/notifications to see and switch each kind, and the evening digest job that sends each person one message with
the notices the daily cap held back. `storage/notifications.py` decides; the core's enqueue step asks it."""

from __future__ import annotations

from datetime import timedelta

from bot.core.context import Context, JobContext
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, ToPerson
from storage import notifications as store
from storage.notifications import Notice, NoticeKind

router = Router("notify")

KIND_NAMES: dict[NoticeKind, str] = {
    NoticeKind.ANNOUNCEMENT: N_("announcements"),
    NoticeKind.URGENT_ANNOUNCEMENT: N_("urgent announcements (water, power)"),
    NoticeKind.MEETING_REMINDER: N_("meeting reminders"),
    NoticeKind.MEETING_SOON: N_("meetings starting within the hour"),
    NoticeKind.VOTE_REMINDER: N_("vote reminders"),
    NoticeKind.CASE_UPDATE: N_("updates on cases you reported"),
    NoticeKind.CASE_TO_ACT: N_("cases you must act on"),
    NoticeKind.ESCALATION: N_("escalated cases"),
    NoticeKind.TASK: N_("volunteer tasks"),
    NoticeKind.POINTS: N_("points"),
    NoticeKind.OTHER: N_("other notices"),
    NoticeKind.DIGEST: N_("the evening digest"),
}
# The digest shows this many buttons of the notices it merges (the newest kept out).
DIGEST_BUTTONS = 8


def _kind(value: object) -> NoticeKind | None:
    try:
        return NoticeKind(str(value))
    except ValueError:
        return None


# ---- opting out and in -----------------------------------------------------------------------------------------


@router.button("notify.off")
async def turn_off(ctx: Context, msg: Incoming) -> Replies:
    """The button under a notice (the token is the recipient's alone; the kind is checked again here)."""
    t = ctx.t
    kind = _kind(ctx.args.get("kind"))
    if kind is None or kind not in store.OPTIONAL_KINDS:
        return Reply(t("Notices of this kind cannot be turned off: they are sent only when something needs you "
                       "at once."))
    name = t(KIND_NAMES[kind])
    if not await store.opt_out(ctx.session, ctx.person_id, kind, ctx.now):
        return Reply(t("You already get no {kind}. Send /notifications to turn them back on.", kind=name),
                     toast=t("Already off"))
    return Reply(t("Done: no more {kind}. Send /notifications to turn them back on at any time.", kind=name),
                 buttons=((Button.do(t("Undo"), "notify.on", kind=kind.value),),), toast=t("Turned off"))


@router.button("notify.on")
async def turn_on(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    kind = _kind(ctx.args.get("kind"))
    if kind is None:
        return Reply(t("This button is out of date. Send /notifications to see your notices."))
    name = t(KIND_NAMES[kind])
    if not await store.opt_in(ctx.session, ctx.person_id, kind):
        return Reply(t("You already get {kind}.", kind=name), toast=t("Already on"))
    return Reply(t("Done: you get {kind} again.", kind=name), toast=t("Turned on"))


@router.command("notifications", group="account", private=True, help="Which notices you get, and when", order=91)
async def notifications(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    budget = store.Budget.of(ctx.compound, ctx.settings.timezone)
    off = await store.opted_out(ctx.session, ctx.person_id)
    lines = [t("Notices you did not ask for: at most {cap} a day, the rest merged into one message at {digest}; "
               "none between {quiet_from} and {quiet_until} (they wait until morning). Urgent ones (water or power "
               "cuts, a meeting within the hour, a case you must act on) always come at once.",
               cap=budget.cap, digest=budget.digest_time.strftime("%H:%M"),
               quiet_from=budget.quiet_from.strftime("%H:%M"), quiet_until=budget.quiet_until.strftime("%H:%M")), ""]
    buttons = []
    for kind in store.OPTIONAL_KINDS:
        name = t(KIND_NAMES[kind])
        if kind in off:
            lines.append(t("✗ {kind} (off)", kind=name))
            buttons.append((Button.do(t("Turn on: {kind}", kind=name), "notify.on", kind=kind.value),))
        else:
            lines.append(t("✓ {kind}", kind=name))
            buttons.append((Button.do(t("Turn off: {kind}", kind=name), "notify.off", kind=kind.value),))
    return Reply("\n".join(lines), buttons=tuple(buttons))


# ---- the evening digest ----------------------------------------------------------------------------------------


def digest_reply(t: Translator, digest: store.Digest) -> Reply:
    lines = [t("Today's other notices ({n}):", n=len(digest.lines)), *(f"• {line}" for line in digest.lines)]
    shown = digest.buttons[:DIGEST_BUTTONS]
    buttons = tuple((Button.do(b["label"], b["action"], **dict(b.get("args") or {})),) for b in shown)
    return Reply("\n".join(lines), buttons=buttons, to=ToPerson(digest.person_id),
                 notice=Notice(NoticeKind.DIGEST, compound_id=digest.compound_id))


@router.job("digest", every=timedelta(minutes=10))
async def digest(ctx: JobContext) -> Replies:
    """Each person's digest, once it is due: the database is the schedule, and each is claimed before it is sent."""
    due = await store.due_digests(ctx.session, ctx.now)
    translators = await ctx.translators_for(due)
    replies = []
    for person_id in due:
        found = await store.claim_digest(ctx.session, person_id, ctx.now)
        if found is not None and found.lines:
            replies.append(digest_reply(translators[person_id], found))
    return replies


@router.job("prune", every=timedelta(hours=24))
async def prune(ctx: JobContext) -> Replies:
    await store.prune(ctx.session, ctx.now)
    return None


__all__ = ["KIND_NAMES", "digest_reply", "router"]
