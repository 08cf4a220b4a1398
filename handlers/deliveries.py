"""What the outbox could not deliver, for the secretary: `/deliveries` lists failed and waiting messages of
their compound, and a job tells the secretaries once (one summary, however many rows) when postings to
group chats failed for good."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.context import Context, JobContext
from bot.core.i18n import Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, ToPerson, rows
from storage import outbox as store
from storage.compounds import Compound, chat_at
from storage.people import Person, Role, people_with_role

router = Router("deliveries")

SHOWN = 10
SNIPPET = 40


def _snippet(row: store.OutboxMessage) -> str:
    text = " ".join(str(row.payload.get("text", "")).split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


async def _where(ctx: Context | JobContext, t: Translator, row: store.OutboxMessage) -> str:
    if row.chat_kind == "private" and row.person_id is not None:
        person = await ctx.session.get(Person, row.person_id)
        return t("private message to {name}", name=person.name if person else "?")
    chat = await chat_at(ctx.session, row.platform, row.chat_id)
    return chat.title if chat and chat.title else t("group chat {id}", id=row.chat_id)


async def _lines(ctx: Context, rows_: Sequence[store.OutboxMessage], failed: bool) -> list[str]:
    t = ctx.t
    lines = []
    for row in rows_:
        where = await _where(ctx, t, row)
        if failed:
            when = ctx.local(row.finished_at or row.created_at, ctx.compound)
            lines.append(t("• #{id} {when} → {where}: “{text}” ({error})", id=row.id, when=when, where=where,
                           text=_snippet(row), error=row.last_error or t("no reason given")))
        else:
            lines.append(t("• #{id} → {where}: “{text}”, attempts {attempts}, next try {next}{error}",
                           id=row.id, where=where, text=_snippet(row), attempts=row.attempts,
                           next=ctx.local(row.next_attempt_at, ctx.compound, "%H:%M:%S"),
                           error=f" ({row.last_error})" if row.last_error else ""))
    return lines


@router.command("deliveries", group="members", roles=[Role.SECRETARY], private=True, help="Messages the bot could not deliver",
                order=70)
async def deliveries(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    if ctx.compound is None or ctx.compound.id is None:
        return Reply(t("Choose your compound first with /compound."))
    failed = await store.failures(ctx.session, ctx.compound.id, limit=SHOWN)
    waiting = await store.waiting(ctx.session, ctx.compound.id, ctx.now, limit=SHOWN)
    waiting_total = await store.count_waiting(ctx.session, ctx.compound.id, ctx.now)
    if not failed and not waiting:
        return Reply(t("Every message of {compound} has been delivered; nothing is waiting.",
                       compound=ctx.compound.name))
    parts = []
    if failed:
        parts.append(t("Could not be delivered (latest {n}):", n=len(failed)))
        parts.extend(await _lines(ctx, failed, failed=True))
    if waiting:
        parts.append(t("Waiting to be sent ({n}):", n=waiting_total))
        parts.extend(await _lines(ctx, waiting, failed=False))
    buttons = rows(Button.do(t("Try the failed ones again"), "deliveries.retry")) if failed else ()
    return Reply("\n".join(parts), buttons=buttons)


@router.button("deliveries.retry", roles=[Role.SECRETARY], private=True)
async def retry(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    if ctx.compound is None or ctx.compound.id is None:
        return Reply(t("Choose your compound first with /compound."))
    count = await store.retry_failed(ctx.session, ctx.compound.id, ctx.now)
    if not count:
        return Reply(t("Nothing to try again."))
    return Reply(t("Trying {n} messages again. /deliveries shows how it goes.", n=count))


@router.job("failure_alerts")
async def failure_alerts(ctx: JobContext) -> Replies:
    """One summary per compound and round, to each of its secretaries privately."""
    replies: list[Reply] = []
    for compound_id, failed in (await store.unalerted_group_failures(ctx.session)).items():
        compound = await ctx.session.get(Compound, compound_id)
        for secretary in await people_with_role(ctx.session, compound_id, Role.SECRETARY):
            st = await ctx.translator_for(secretary)
            places = list(dict.fromkeys([await _where(ctx, st, row) for row in failed]))
            shown = "、".join(places[:3]) + (st(" and {n} more", n=len(places) - 3) if len(places) > 3 else "")
            text = st("{n} messages could not be delivered to the group chats of {compound} ({chats}). The last "
                      "reason: {error}. Check that the bot is still in these groups, then see /deliveries.",
                      n=len(failed), compound=compound.name if compound else "", chats=shown,
                      error=failed[-1].last_error or st("no reason given"))
            replies.append(Reply(text, to=ToPerson(secretary)))
    return replies
