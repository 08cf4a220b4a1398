"""The 红黑榜: /nominate (any resident), review by the secretary (approve / edit / reject with a reason), the
weekly posting with its poster, /board, and marking a black entry corrected (已整改)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from bot.core.context import BaseContext, Context, JobContext
from bot.core.i18n import Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Media, Replies, Reply, ToGroups, ToPerson, rows
from storage import board as store
from storage.board import BLACK, RED, BoardEntry, BoardSchedule
from storage.compounds import Compound, compound_setting
from storage.people import Role
from storage.poster import BLACK_COLOUR, GREEN_COLOUR, RED_COLOUR, PosterSection, render_poster

router = Router("board")

FLOW, EDIT_FLOW, REJECT_FLOW = "nominate", "board_edit", "board_reject"
REVIEWERS = (Role.SECRETARY,)
CORRECTORS = (Role.SECRETARY, Role.PROPERTY)


def _entry_line(entry: BoardEntry) -> str:
    return f"{entry.subject} — {entry.text}" if entry.subject else entry.text


async def _entry_text(ctx: Context, text: str | Reply, black: bool) -> str | Reply:
    """The typed text of an entry (or the refusal it already is). Black entries name conduct and place, never a
    person or a room, unless the compound allows it."""
    t, compound = ctx.t, ctx.compound
    assert compound is not None
    if isinstance(text, Reply) or not black or compound_setting(compound, "board_black_allow_names", False):
        return text
    if store.has_room_number(text):
        return Reply(t("Please do not give a room number in a black entry: describe the conduct and the place "
                       "instead, for example 3栋楼下消防通道长期停放私家车. Please send it again."))
    names = store.named_people(text, await store.known_names(ctx.session, compound.id or 0))
    if names:
        return Reply(t("Please do not name anyone ({names}) in a black entry: the 红黑榜 is about conduct, not "
                       "people. Describe what happens and where, and send it again.", names="、".join(names)))
    return text


# ---- nominating ------------------------------------------------------------------------------------------


@router.command("nominate", private=True, member=True, flow=True, help="Nominate for the 红黑榜", order=50)
async def nominate(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    ctx.convo.start(FLOW, "color")
    return Reply(t("Red list (a good deed) or black list (conduct that harms the neighbourhood)?"),
                 buttons=_color_buttons(t))


def _color_buttons(t: Translator) -> tuple[tuple[Button, ...], ...]:
    return ((Button.choice(t("🔴 Red: a good deed"), RED), Button.choice(t("⚫ Black: bad conduct"), BLACK)),)


@router.step(FLOW, "color")
async def step_color(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    if value is None and msg.text:
        value = {"红": RED, "红榜": RED, "紅": RED, "red": RED, "黑": BLACK, "黑榜": BLACK, "black": BLACK}.get(
            msg.text.strip().lower())
    if value not in (RED, BLACK):
        return Reply(t("Please choose red or black with the buttons."), buttons=_color_buttons(t))
    ctx.convo.draft["color"] = value
    ctx.convo.goto("subject")
    if value == RED:
        return Reply(t("Who did it? A person or a household, for example 2栋 陈阿姨 or 1栋1单元全体住户."))
    return Reply(t("Where does it happen? Give the place only, for example 3栋楼下消防通道. Please do not name "
                   "anyone or give a room number."))


@router.step(FLOW, "subject")
async def step_subject(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    black = ctx.convo.draft["color"] == BLACK
    text = await _entry_text(ctx, ctx.text_answer(msg, store.PLACE_MAX, t("place") if black else t(
        "name or household")), black)
    if isinstance(text, Reply):
        return text
    ctx.convo.draft["subject"] = text
    ctx.convo.goto("text")
    if black:
        return Reply(t("What is the conduct? For example: 私家车长期占用消防通道."))
    return Reply(t("What did they do?"))


@router.step(FLOW, "text")
async def step_text(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    text = await _entry_text(ctx, ctx.text_answer(msg, store.TEXT_MAX, t("description")),
                             ctx.convo.draft["color"] == BLACK)
    if isinstance(text, Reply):
        return text
    ctx.convo.draft["text"] = text
    ctx.convo.goto("photo")
    return Reply(t("A photo helps the secretary check it. Send one, or press No photo."),
                 buttons=((Button.choice(t("No photo"), "none"),),))


@router.step(FLOW, "photo")
async def step_photo(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    draft = ctx.convo.draft
    if msg.photo is not None:
        draft["photo_platform"], draft["photo_file_id"] = msg.photo.platform, msg.photo.file_id
    elif ctx.args.get("value") != "none":
        return Reply(t("Please send a photo, or press No photo."), buttons=((Button.choice(t("No photo"), "none"),),))
    assert ctx.compound is not None and ctx.compound.id is not None
    entry = BoardEntry(compound_id=ctx.compound.id, color=draft["color"], subject=draft["subject"],
                       text=draft["text"], photo_platform=draft.get("photo_platform", ""),
                       photo_file_id=draft.get("photo_file_id", ""), nominator_id=ctx.person_id, created_at=ctx.now)
    ctx.session.add(entry)
    await ctx.session.flush()
    ctx.convo.end()
    image = await _photo(ctx, entry)
    return [Reply(t("Thank you! Your nomination is with the secretary for review; I will tell you the outcome.")),
            *await ctx.tell_role(REVIEWERS, ctx.compound.id,
                                 lambda st: _review_request(st, entry, ctx.person.name, image))]


async def _photo(c: BaseContext, entry: BoardEntry) -> Media | None:
    if not entry.photo_file_id:
        return None
    try:
        data = await c.core.fetch_photo(entry.photo_platform, entry.photo_file_id)
    except Exception:
        return None  # The review goes on without the picture.
    return Media(data, "nomination.png" if data.startswith(b"\x89PNG") else "nomination.jpg",
                 "image/png" if data.startswith(b"\x89PNG") else "image/jpeg")


def _review_request(st: Translator, entry: BoardEntry, nominator: str, image: Media | None) -> Reply:
    label = st("🔴 Red list") if entry.color == RED else st("⚫ Black list")
    return Reply(
        st("New 红黑榜 nomination #{id} from {name}:", id=entry.id, name=nominator or "?") + f"\n{label}: "
        + _entry_line(entry),
        image=image,
        buttons=((Button.do(st("Approve"), "board.approve", entry=entry.id),
                  Button.do(st("Edit text"), "board.edit", entry=entry.id),
                  Button.do(st("Reject"), "board.reject", entry=entry.id)),),
    )


# ---- reviewing ---------------------------------------------------------------------------------------------


async def _entry(ctx: Context, entry_id: int | None = None, correcting: bool = False) -> BoardEntry | Reply:
    """The entry a button (or the open conversation, by `entry_id`) refers to, if it is in this compound and still
    waits for the decision: a review, or with `correcting`, marking a black entry corrected. Else the refusal."""
    t = ctx.t
    entry = await ctx.session.get(BoardEntry, int(ctx.args.get("entry", 0) if entry_id is None else entry_id))
    if entry is None or ctx.compound is None or entry.compound_id != ctx.compound.id or (
            correcting and entry.color != BLACK):
        return Reply(t("This entry does not belong to your compound.") if correcting
                     else t("This nomination does not belong to your compound."), toast=t("Not allowed"))
    if correcting and entry.corrected_at is not None:
        return Reply(t("Already marked as corrected."), toast=t("Already done"))
    if not correcting and entry.status != store.PENDING:
        return Reply(t("This nomination was already reviewed."), toast=t("Already decided"))
    return entry


async def _start_review(ctx: Context, flow: str, step: str) -> BoardEntry | Reply:
    """The pending entry of the pressed button, with the reviewer's conversation (edit or reject) started."""
    entry = await _entry(ctx)
    if isinstance(entry, Reply):
        return entry
    if (busy := ctx.busy()) is not None:
        return busy
    ctx.convo.start(flow, step, {"entry": entry.id})
    return entry


async def _decide(ctx: Context, entry: BoardEntry, approve: bool, reason: str = "", edited: bool = False) -> Replies:
    t = ctx.t
    entry.status = store.APPROVED if approve else store.REJECTED
    entry.reason, entry.reviewed_by, entry.reviewed_at = reason, ctx.person_id, ctx.now
    ctx.session.add(entry)
    rt = await ctx.translator_for(entry.nominator_id)
    if approve:
        told = rt("Your 红黑榜 nomination was approved{edited} and will appear in the next posting: {line}",
                  edited=rt(" (with small edits)") if edited else "", line=_entry_line(entry))
        mine = t("Approved #{id}; it appears in the next posting.", id=entry.id)
    else:
        told = rt("Your 红黑榜 nomination ({line}) was not accepted. Reason: {reason}", line=_entry_line(entry),
                  reason=reason)
        mine = t("Rejected #{id}; the nominator is told why.", id=entry.id)
    return [Reply(mine, toast=mine[:60]), Reply(told, to=ToPerson(entry.nominator_id))]


@router.button("board.approve", roles=REVIEWERS, private=True)
async def approve(ctx: Context, msg: Incoming) -> Replies:
    entry = await _entry(ctx)
    if isinstance(entry, Reply):
        return entry
    return await _decide(ctx, entry, True)


@router.button("board.edit", roles=REVIEWERS, private=True)
async def edit(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    entry = await _start_review(ctx, EDIT_FLOW, "text")
    if isinstance(entry, Reply):
        return entry
    return Reply(t("Send the corrected description; it will be approved as you write it. Now it reads: {text}",
                   text=entry.text))


@router.step(EDIT_FLOW, "text")
async def edit_text(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    typed = ctx.text_answer(msg, store.TEXT_MAX, t("description"))
    if isinstance(typed, Reply):
        return typed
    entry = await _entry(ctx, int(ctx.convo.draft["entry"]))
    if isinstance(entry, Reply):
        ctx.convo.end()
        return entry
    text = await _entry_text(ctx, typed, entry.color == BLACK)
    if isinstance(text, Reply):
        return text
    entry.text = text
    ctx.convo.end()
    return await _decide(ctx, entry, True, edited=True)


@router.button("board.reject", roles=REVIEWERS, private=True)
async def reject(ctx: Context, msg: Incoming) -> Replies:
    entry = await _start_review(ctx, REJECT_FLOW, "reason")
    if isinstance(entry, Reply):
        return entry
    return Reply(ctx.t("Why is it rejected? The nominator will read your reason."))


@router.step(REJECT_FLOW, "reason")
async def reject_reason(ctx: Context, msg: Incoming) -> Replies:
    reason = ctx.text_answer(msg, 200, ctx.t("reason"))
    if isinstance(reason, Reply):
        return reason
    entry = await _entry(ctx, int(ctx.convo.draft["entry"]))
    ctx.convo.end()
    if isinstance(entry, Reply):
        return entry
    return await _decide(ctx, entry, False, reason=reason)


# ---- the board -----------------------------------------------------------------------------------------------


def board_text(tr: Translator, compound: Compound, date: str, red: list[BoardEntry], black: list[BoardEntry],
               corrected: list[BoardEntry]) -> str:
    lines = [tr("红黑榜 of {compound} · {date}", compound=compound.name, date=date)]
    lines.append("🔴 " + tr("Red list (good deeds)"))
    lines += [f"{n}. {_entry_line(e)}" for n, e in enumerate(red, 1)] or [tr("(none this time)")]
    lines.append("⚫ " + tr("Black list (to be corrected)"))
    lines += [f"{n}. {_entry_line(e)}" for n, e in enumerate(black, 1)] or [tr("(none — thank you, neighbours)")]
    if corrected:
        lines.append("✅ " + tr("Corrected (已整改): {items}", items="；".join(_entry_line(e) for e in corrected)))
    return "\n".join(lines)


def poster(tr: Translator, compound: Compound, date: str, red: list[BoardEntry], black: list[BoardEntry],
           corrected: list[BoardEntry]) -> bytes | None:
    sections = [
        PosterSection(tr("Red list (good deeds)"),
                      tuple(f"{n}. {_entry_line(e)}" for n, e in enumerate(red, 1)) or (tr("(none this time)"),),
                      RED_COLOUR),
        PosterSection(tr("Black list (to be corrected)"),
                      tuple(f"{n}. {_entry_line(e)}" for n, e in enumerate(black, 1))
                      or (tr("(none — thank you, neighbours)"),), BLACK_COLOUR),
    ]
    if corrected:
        sections.append(PosterSection(tr("Corrected (已整改)"), tuple(f"✓ {_entry_line(e)}" for e in corrected),
                                      GREEN_COLOUR))
    return render_poster(tr("{compound} 红黑榜", compound=compound.name), date, sections,
                         tr("Nominate with /nominate · 小区党支部"))


@router.command("board", member=True, help="The 红黑榜", order=51)
async def show_board(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    red, black, corrected = await store.current(ctx.session, ctx.compound.id)
    schedule = await store.schedule_of(ctx.session, ctx.compound, ctx.now)
    text = board_text(t, ctx.compound, ctx.local(ctx.now, ctx.compound, "%Y-%m-%d"), red, black, corrected)
    text += "\n" + t("Next posting: {when}.", when=ctx.local(schedule.next_at, ctx.compound))
    replies = [Reply(text)]
    if ctx.private and ctx.has(*CORRECTORS) and black:
        replies.append(Reply(t("Mark a black entry as corrected (已整改):"), buttons=rows(
            *(Button.do(t("Corrected: {n}", n=n), "board.corrected", entry=e.id) for n, e in enumerate(black, 1)),
            per_row=3)))
    if ctx.private and ctx.has(*REVIEWERS):
        for entry in await store.pending(ctx.session, ctx.compound.id):
            replies.append(_review_request(t, entry, "", None))
    return replies


@router.button("board.corrected", roles=CORRECTORS, private=True)
async def mark_corrected(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    entry = await _entry(ctx, correcting=True)
    if isinstance(entry, Reply):
        return entry
    entry.corrected_at = ctx.now
    ctx.session.add(entry)
    rt = await ctx.translator_for(entry.nominator_id)
    return [Reply(t("Marked as corrected; it moves to the corrected line of the next posting."),
                  toast=t("Marked as corrected")),
            Reply(rt("Good news: the problem you reported is corrected (已整改): {line}", line=_entry_line(entry)),
                  to=ToPerson(entry.nominator_id))]


@router.job("post", every=timedelta(minutes=1))
async def post_board(ctx: JobContext) -> Replies:
    """Each compound's posting when its time has come; after a downtime it is sent late, once."""
    replies: list[Reply] = []
    scheduled = set((await ctx.session.exec(select(BoardSchedule.compound_id))).all())
    for unscheduled in (await ctx.session.exec(select(Compound).where(col(Compound.id).not_in(scheduled)))).all():
        await store.schedule_of(ctx.session, unscheduled, ctx.now)
    due = (await ctx.session.exec(select(BoardSchedule).where(col(BoardSchedule.next_at) <= ctx.now))).all()
    for row in due:
        compound = await ctx.session.get(Compound, row.compound_id)
        if compound is None or not await store.claim_posting(ctx.session, compound, row.next_at, ctx.now):
            continue
        red, black, corrected = await store.current(ctx.session, row.compound_id)
        if not (red or black or corrected):
            continue
        tr = ctx.translator(compound.language)
        date = ctx.local(ctx.now, compound, "%Y-%m-%d")
        key = f"board:{compound.id}:{date}"
        replies.append(Reply(board_text(tr, compound, date, red, black, corrected), to=ToGroups(row.compound_id),
                             posting=key))
        png = poster(tr, compound, date, red, black, corrected)
        if png is not None:
            replies.append(Reply(tr("红黑榜 poster, {date}", date=date), to=ToGroups(row.compound_id),
                                 image=Media(png, f"board-{date}.png", "image/png")))
        await store.mark_posted(ctx.session, red, corrected, ctx.now)
    return replies
