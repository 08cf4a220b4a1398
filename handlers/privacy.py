"""Personal data (PIPL): /mydata sends a person everything held about them as a spreadsheet, /leavecompound leaves
a compound after a confirmation, /forget erases a person after a confirmation (`linli person forget ID` from the
shell), and a job forgets complaint photos a while after their case closed (`storage/privacy.py` decides)."""

from __future__ import annotations

import sys
from datetime import timedelta

from bot.core import answers
from bot.core.context import Context, JobContext, MemberContext
from bot.core.flows import Done, Draft, Flow, Outcome
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import XLSX, Button, Incoming, Media, Replies, Reply
from bot.settings import Settings
from storage import privacy as store
from storage.compounds import Compound, describe_room
from storage.people import Role, is_last_secretary, last_secretary_of

router = Router("privacy")

PSEUDONYM = N_("Deleted user #{tag}")


# ---- /mydata ---------------------------------------------------------------------------------------------------


@router.command("mydata", group="account", private=True, help="Everything we hold about you, as a spreadsheet", order=92)
async def mydata(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    sheets = await store.my_data(ctx.session, ctx.person_id, ctx.zone(ctx.compound))
    await store.log_own_export(ctx.session, ctx.person_id, ctx.compound.id if ctx.compound else None, ctx.now)
    data = store.workbook([store.Sheet(t(s.title), tuple(t(h) for h in s.headers),
                                       [[t(v) if isinstance(v, store.Label) else v for v in row] for row in s.rows])
                           for s in sheets])
    day = ctx.local(ctx.now, ctx.compound, "%Y%m%d")
    return Reply(t("Everything this service holds about you, one sheet per kind of record. To leave a compound send "
                   "/leavecompound; to have your name, phone number and accounts erased send /forget."),
                 document=Media(data, f"mydata-{ctx.person_id}-{day}.xlsx", XLSX))


# ---- /leavecompound --------------------------------------------------------------------------------------------


class Leaving(Draft):
    pass


leaving = Flow("leave_compound", Leaving, title=N_("leaving a compound"), member=True)
LAST_SECRETARY = N_("You are the only secretary of {compound}, and a compound must keep one. Grant the role to "
                    "someone else first (/members), then try again.")


def _compound_name(ctx: Context) -> str:
    return ctx.compound.name if ctx.compound is not None else "-"


def _ask_leave(ctx: Context, draft: Leaving) -> Reply:
    t = ctx.t
    return Reply(
        t("Leave {compound}? Your roles there end, anything you have not finished there is dropped, and you will no "
          "longer get its announcements, tasks and votes. What you did there stays in its records (complaints, "
          "points, ballots). You can join again later with the invite code.", compound=_compound_name(ctx)),
        buttons=((Button.choice(t("Leave {compound}", compound=_compound_name(ctx)), "leave"),
                  Button.choice(t("Stay"), "stay")),))


@router.command("leavecompound", group="account", private=True, member=True, flow=True, help="Leave this compound", order=93)
async def leave(ctx: MemberContext, msg: Incoming) -> Replies:
    if await is_last_secretary(ctx.session, ctx.person_id, ctx.compound_id):
        return Reply(ctx.t(LAST_SECRETARY, compound=ctx.compound.name))
    return await leaving.begin(ctx, Leaving())


@leaving.step("confirm", ask=_ask_leave, answer=answers.Choice(
    values=("leave", "stay"), refusal=N_("Please press one of the buttons above: leave, or stay.")))
async def leave_confirmed(ctx: MemberContext, draft: Leaving, choice: str) -> Outcome:
    t = ctx.t
    if choice != "leave":
        return Done(Reply(t("Nothing changed: you stay in {compound}.", compound=ctx.compound.name)))
    left = await store.leave_compound(ctx.session, ctx.person_id, ctx.compound_id, ctx.now, keep_chat=ctx.chat.id)
    if left.outcome == store.Left.LAST_SECRETARY:
        return Done(Reply(t(LAST_SECRETARY, compound=ctx.compound.name)))
    if left.outcome == store.Left.NOT_MEMBER:
        return Done(Reply(t("You are not a member of {compound}.", compound=ctx.compound.name)))
    rooms = "、".join([await describe_room(ctx.session, room) for room in left.rooms]) or "-"
    told = await ctx.tell_role(Role.SECRETARY, ctx.compound_id,
                               N_("{name} ({rooms}) has left {compound}; their roles there have ended."),
                               skip=[ctx.person_id], name=ctx.person.name, rooms=rooms, compound=ctx.compound.name)
    return Done([Reply(t("You have left {compound}. Thank you for taking part. You can join again at any time with "
                         "/join and the invite code.", compound=ctx.compound.name)), *told])


# ---- /forget ---------------------------------------------------------------------------------------------------


class Forgetting(Draft):
    pass


forgetting = Flow("forget", Forgetting, title=N_("erasing your data"), member=False)


def pseudonym(tr: Translator, person_id: int) -> str:
    """How a forgotten person is shown from now on, in the deployment's default language (已注销用户#3f9a1c)."""
    return tr(PSEUDONYM, tag=store.pseudonym_tag(person_id))


def _ask_forget(ctx: Context, draft: Forgetting) -> Reply:
    t = ctx.t
    return Reply(
        t("This erases your name, your phone number and your accounts here, for good: I will not recognise you any "
          "more. Your ballots, points, complaints and their history stay in the records under the name {pseudonym}, "
          "as they are part of your compound's decisions and ledgers; your name and number are taken out of the "
          "texts they appear in. Send /mydata first if you want a copy. Erase now?",
          pseudonym=pseudonym(ctx.translator(ctx.settings.default_language), ctx.person_id)),
        buttons=((Button.choice(t("Erase my data"), "forget"), Button.choice(t("Keep my data"), "keep")),))


async def _sole_secretary_refusal(ctx: Context) -> Reply | None:
    sole = await last_secretary_of(ctx.session, ctx.person_id)
    if not sole:
        return None
    compound = await ctx.session.get(Compound, sole[0])
    return Reply(ctx.t(LAST_SECRETARY, compound=compound.name if compound else "-"))


@router.command("forget", group="account", private=True, flow=True, help="Erase your personal data", order=94)
async def forget(ctx: Context, msg: Incoming) -> Replies:
    return await _sole_secretary_refusal(ctx) or await forgetting.begin(ctx, Forgetting())


@forgetting.step("confirm", ask=_ask_forget, answer=answers.Choice(
    values=("forget", "keep"), refusal=N_("Please press one of the buttons above: erase, or keep.")))
async def forget_confirmed(ctx: Context, draft: Forgetting, choice: str) -> Outcome:
    t = ctx.t
    if choice != "forget":
        return Done(Reply(t("Nothing was erased.")))
    if (refusal := await _sole_secretary_refusal(ctx)) is not None:
        return Done(refusal)
    name = pseudonym(ctx.translator(ctx.settings.default_language), ctx.person_id)
    forgotten = await store.forget(ctx.session, ctx.person_id, name, ctx.now, keep_chat=ctx.chat.id)
    return Done(Reply(t("Done: your name, phone number and accounts are erased, and the records show {pseudonym}. "
                        "If you write to me again, I will not know you. Goodbye, and thank you.",
                        pseudonym=forgotten.pseudonym)))


async def forget_cli(settings: Settings, person_id: int) -> int:
    """`linli person forget ID`: what /forget does, for a person the operator names by number (as /members shows
    it). Told in the operator's language (DEFAULT_LANGUAGE); a refusal goes to stderr with status 1."""
    from bot.core.clock import Clock
    from bot.core.i18n import Catalogs
    from storage.db import make_engine, make_sessionmaker, transaction

    tr = Catalogs().translator(settings.default_language)
    engine = make_engine(settings.database_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            forgotten = await store.forget(session, person_id, pseudonym(tr, person_id), Clock().now())
            compound = await session.get(Compound, forgotten.compound_id) if forgotten.compound_id else None
    finally:
        await engine.dispose()
    if forgotten.outcome == store.Forgot.NOT_FOUND:
        print(tr("There is no person #{id}.", id=person_id), file=sys.stderr)
        return 1
    if forgotten.outcome == store.Forgot.LAST_SECRETARY:
        print(tr("Person #{id} is the only secretary of {compound}: the role must go to someone else first.",
                 id=person_id, compound=f"{compound.name} ({compound.code})" if compound else "-"), file=sys.stderr)
        return 1
    if forgotten.outcome == store.Forgot.ALREADY:
        print(tr("Person #{id} was forgotten before: {pseudonym}.", id=person_id, pseudonym=forgotten.pseudonym))
        return 0
    print(tr("Person #{id} is forgotten and shown as {pseudonym}: {accounts} account(s) deleted, {texts} text(s) "
             "changed.", id=person_id, pseudonym=forgotten.pseudonym, accounts=forgotten.identities,
             texts=forgotten.texts))
    return 0


# ---- retention -------------------------------------------------------------------------------------------------


@router.job("photo_retention", every=timedelta(hours=1))
async def photo_retention(ctx: JobContext) -> Replies:
    """Complaint photos are forgotten `complaints.photo_retention_days` (default 365) after their case closed."""
    await store.erase_old_photos(ctx.session, ctx.now)
    return None


router.flow(leaving, forgetting)

__all__ = ["forget_cli", "router"]
