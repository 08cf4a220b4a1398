"""The 红黑榜: /nominate (any member), review by the secretary (approve / edit / reject with a reason), the
weekly posting with its poster, /board, and marking a black entry corrected (已整改)."""

from __future__ import annotations

from datetime import timedelta

from bot.core import answers
from bot.core.context import BaseContext, Context, JobContext, MemberContext
from bot.core.flows import Done, Draft, Flow, Go, Outcome, Stay
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Media, Photo, Replies, Reply, ToGroups, ToPerson, rows
from handlers import pages
from storage import board as store
from storage.board import BLACK, RED, BoardEntry, Color
from storage.compounds import Compound, compound_setting
from storage.people import Role
from storage.poster import BLACK_COLOUR, GREEN_COLOUR, RED_COLOUR, PosterSection, render_poster

router = Router("board")

REVIEWERS = (Role.SECRETARY,)
CORRECTORS = (Role.SECRETARY, Role.PROPERTY)
# Words a person may type instead of pressing the red or black button.
COLOR_WORDS = {"红": RED, "红榜": RED, "紅": RED, "紅榜": RED, "red": RED,
               "黑": BLACK, "黑榜": BLACK, "black": BLACK}


def _entry_line(entry: BoardEntry) -> str:
    return f"{entry.subject} — {entry.text}" if entry.subject else entry.text


async def _black_refusal(ctx: MemberContext, text: str) -> Reply | None:
    """Why a black entry's text may not stand: it gives a phone number, a room or someone's name (names and
    rooms are allowed when the compound says so). The reply names the kind found, never the text it matched.
    None when it describes conduct and place only."""
    t = ctx.t
    found = await store.black_entry_exposure(ctx.session, ctx.compound_id, text,
                                             bool(compound_setting(ctx.compound, "board_black_allow_names", False)))
    if found == store.Exposure.PHONE:
        return Reply(t("Please do not give a phone number in a black entry: the 红黑榜 is about conduct and place, "
                       "not people. Please send it again without the number."))
    if found == store.Exposure.ROOM:
        return Reply(t("Please do not give a room number in a black entry: describe the conduct and the place "
                       "instead, for example 3栋楼下消防通道长期停放私家车. Please send it again."))
    if found == store.Exposure.NAME:
        return Reply(t("Please do not name anyone in a black entry, also not in pinyin or by a name that sounds the "
                       "same: the 红黑榜 is about conduct, not people. Describe what happens and where, and send it "
                       "again."))
    return None


# ---- nominating ------------------------------------------------------------------------------------------


class Nomination(Draft):
    color: Color = RED
    subject: str = ""
    text: str = ""


nomination = Flow("nominate", Nomination, title=N_("a 红黑榜 nomination"), member=True)


def _color_buttons(t: Translator) -> tuple[tuple[Button, ...], ...]:
    return ((Button.choice(t("🔴 Red: a good deed"), RED.value), Button.choice(t("⚫ Black: bad conduct"), BLACK.value)),)


def _no_photo(t: Translator) -> tuple[tuple[Button, ...], ...]:
    return ((Button.choice(t("No photo"), "none"),),)


def _ask_color(ctx: Context, draft: Nomination) -> Reply:
    return Reply(ctx.t("Red list (a good deed) or black list (conduct that harms the neighbourhood)?"),
                 buttons=_color_buttons(ctx.t))


def _ask_who(ctx: Context, draft: Nomination) -> Reply:
    return Reply(ctx.t("Who did it? A person or a household, for example 2栋 陈阿姨 or 1栋1单元全体住户."))


def _ask_place(ctx: Context, draft: Nomination) -> Reply:
    return Reply(ctx.t("Where does it happen? Give the place only, for example 3栋楼下消防通道. Please do not name "
                       "anyone or give a room number."))


def _ask_text(ctx: Context, draft: Nomination) -> Reply:
    if draft.color == BLACK:
        return Reply(ctx.t("What is the conduct? For example: 私家车长期占用消防通道."))
    return Reply(ctx.t("What did they do?"))


def _ask_photo(ctx: Context, draft: Nomination) -> Reply:
    return Reply(ctx.t("A photo helps the secretary check it. Send one, or press No photo."), buttons=_no_photo(ctx.t))


@router.command("nominate", group="notices", private=True, member=True, flow=True, help="Nominate for the 红黑榜", order=50)
async def nominate(ctx: MemberContext, msg: Incoming) -> Replies:
    return await nomination.begin(ctx, Nomination())


# A button, or red / black named in a word (红, 黑榜, black).
@nomination.step("color", ask=_ask_color, next=("who", "place"),
                 answer=answers.Either((answers.Choice(values=(RED.value, BLACK.value)), answers.Text(10))))
async def step_color(ctx: MemberContext, draft: Nomination, value: str) -> Outcome:
    color = COLOR_WORDS.get(value.casefold(), value)
    if color not in (RED, BLACK):
        return Stay(Reply(ctx.t("Please choose red or black with the buttons."), buttons=_color_buttons(ctx.t)))
    draft = draft.model_copy(update={"color": Color(color)})
    return Go("who" if color == RED else "place", draft)


@nomination.step("who", ask=_ask_who, next=("text",),
                 answer=answers.Text(store.PLACE_MAX, what=N_("name or household")))
async def step_who(ctx: MemberContext, draft: Nomination, text: str) -> Outcome:
    return Go("text", draft.model_copy(update={"subject": text}))


@nomination.step("place", ask=_ask_place, next=("text",), answer=answers.Text(store.PLACE_MAX, what=N_("place")))
async def step_place(ctx: MemberContext, draft: Nomination, text: str) -> Outcome:
    if (refusal := await _black_refusal(ctx, text)) is not None:
        return Stay(refusal)
    return Go("text", draft.model_copy(update={"subject": text}))


@nomination.step("text", ask=_ask_text, next=("photo",), answer=answers.Text(store.TEXT_MAX, what=N_("description")))
async def step_text(ctx: MemberContext, draft: Nomination, text: str) -> Outcome:
    # The place and the description are checked together too: 3栋 and 301门口 make a room.
    if draft.color == BLACK and (refusal := await _black_refusal(ctx, f"{draft.subject}\n{text}")) is not None:
        return Stay(refusal)
    return Go("photo", draft.model_copy(update={"text": text}))


# A photo or the No photo button; any text gets the button again.
@nomination.step("photo", ask=_ask_photo,
                 answer=answers.Either((answers.PhotoOrDone(done="none"), answers.Text(10_000))))
async def step_photo(ctx: MemberContext, draft: Nomination, photo: Photo | str | None) -> Outcome:
    t = ctx.t
    if isinstance(photo, str):
        return Stay(Reply(t("Please send a photo, or press No photo."), buttons=_no_photo(t)))
    entry = await store.nominate(ctx.session, ctx.compound_id, ctx.person_id, draft.color, draft.subject, draft.text,
                                 photo.platform if photo else "", photo.file_id if photo else "", ctx.now)
    image = await _photo(ctx, entry)
    return Done([Reply(t("Thank you! Your nomination is with the secretary for review; I will tell you the outcome.")),
                 *await ctx.tell_role(REVIEWERS, ctx.compound_id,
                                      lambda st: _review_request(st, entry, ctx.person.name, image))])


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
        st("New 红黑榜 nomination #{id} from {name}:", id=entry.id, name=nominator or st("(no name given)"))
        + "\n" + st("{label}: {entry}", label=label, entry=_entry_line(entry)),
        image=image,
        buttons=((Button.do(st("Approve"), "board.approve", entry=entry.id),
                  Button.do(st("Edit text"), "board.edit", entry=entry.id),
                  Button.do(st("Reject"), "board.reject", entry=entry.id)),),
    )


# ---- reviewing ---------------------------------------------------------------------------------------------


async def _pending(ctx: MemberContext, entry_id: int) -> BoardEntry | Reply:
    """The nomination a button or a review flow refers to, if it is in this compound and still waits for the
    decision; else the refusal."""
    t = ctx.t
    entry = await store.entry_in(ctx.session, entry_id, ctx.compound_id)
    if entry is None:
        return Reply(t("This nomination does not belong to your compound."), toast=t("Not allowed"))
    if entry.status != store.EntryStatus.PENDING:
        return Reply(t("This nomination was already reviewed."), toast=t("Already decided"))
    return entry


def _entry_arg(ctx: MemberContext) -> int:
    value = ctx.args.get("entry")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def _told_approved(ctx: MemberContext, entry: BoardEntry, edited: bool) -> list[Reply]:
    rt = await ctx.translator_for(entry.nominator_id)
    mine = ctx.t("Approved #{id}; it appears in the next posting.", id=entry.id)
    return [Reply(mine, toast=mine[:60]),
            Reply(rt("Your 红黑榜 nomination was approved{edited} and will appear in the next posting: {line}",
                     edited=rt(" (with small edits)") if edited else "", line=_entry_line(entry)),
                  to=ToPerson(entry.nominator_id))]


async def _told_rejected(ctx: MemberContext, entry: BoardEntry) -> list[Reply]:
    rt = await ctx.translator_for(entry.nominator_id)
    mine = ctx.t("Rejected #{id}; the nominator is told why.", id=entry.id)
    return [Reply(mine, toast=mine[:60]),
            Reply(rt("Your 红黑榜 nomination ({line}) was not accepted. Reason: {reason}", line=_entry_line(entry),
                     reason=entry.reason), to=ToPerson(entry.nominator_id))]


def _already(ctx: MemberContext) -> Reply:
    return Reply(ctx.t("This nomination was already reviewed."), toast=ctx.t("Already decided"))


@router.button("board.approve", roles=REVIEWERS, private=True)
async def approve(ctx: MemberContext, msg: Incoming) -> Replies:
    entry = await _pending(ctx, _entry_arg(ctx))
    if isinstance(entry, Reply):
        return entry
    if not await store.approve(ctx.session, entry, ctx.person_id, ctx.now):
        return _already(ctx)
    return await _told_approved(ctx, entry, edited=False)


class Review(Draft):
    entry: int


editing = Flow("board_edit", Review, title=N_("editing a 红黑榜 nomination"), roles=REVIEWERS)
rejecting = Flow("board_reject", Review, title=N_("rejecting a 红黑榜 nomination"), roles=REVIEWERS)


async def _ask_edit(ctx: Context, draft: Review) -> Reply:
    entry = await ctx.session.get(BoardEntry, draft.entry)  # checked to be in the compound when the flow began
    return Reply(ctx.t("Send the corrected description; it will be approved as you write it. Now it reads: {text}",
                       text=entry.text if entry is not None else "-"))


def _ask_reason(ctx: Context, draft: Review) -> Reply:
    return Reply(ctx.t("Why is it rejected? The nominator will read your reason."))


@router.button("board.edit", roles=REVIEWERS, private=True)
async def edit(ctx: MemberContext, msg: Incoming) -> Replies:
    entry = await _pending(ctx, _entry_arg(ctx))
    if isinstance(entry, Reply):
        return entry
    return await editing.begin(ctx, Review(entry=_entry_arg(ctx)))


@editing.step("text", ask=_ask_edit, answer=answers.Text(store.TEXT_MAX, what=N_("description")))
async def edit_text(ctx: MemberContext, draft: Review, text: str) -> Outcome:
    entry = await _pending(ctx, draft.entry)
    if isinstance(entry, Reply):
        return Done(entry)
    if entry.color == BLACK and (refusal := await _black_refusal(ctx, f"{entry.subject}\n{text}")) is not None:
        return Stay(refusal)
    if not await store.approve(ctx.session, entry, ctx.person_id, ctx.now, text=text):
        return Done(_already(ctx))
    return Done(await _told_approved(ctx, entry, edited=True))


@router.button("board.reject", roles=REVIEWERS, private=True)
async def reject(ctx: MemberContext, msg: Incoming) -> Replies:
    entry = await _pending(ctx, _entry_arg(ctx))
    if isinstance(entry, Reply):
        return entry
    return await rejecting.begin(ctx, Review(entry=_entry_arg(ctx)))


@rejecting.step("reason", ask=_ask_reason, answer=answers.Text(store.REASON_MAX, what=N_("reason")))
async def reject_reason(ctx: MemberContext, draft: Review, reason: str) -> Outcome:
    entry = await _pending(ctx, draft.entry)
    if isinstance(entry, Reply):
        return Done(entry)
    if not await store.reject(ctx.session, entry, ctx.person_id, reason, ctx.now):
        return Done(_already(ctx))
    return Done(await _told_rejected(ctx, entry))


# ---- the board -----------------------------------------------------------------------------------------------


def _no_black(tr: Translator, still_open: int) -> str:
    return tr("(nothing new)") if still_open else tr("(none — thank you, neighbours)")


def _still_open(tr: Translator, still_open: int) -> str:
    return tr("{n} black-list item(s) posted before are still being corrected (/board shows them).", n=still_open)


def board_text(tr: Translator, compound: Compound, date: str, red: list[BoardEntry], black: list[BoardEntry],
               corrected: list[BoardEntry], still_open: int = 0) -> str:
    """The board as text: on /board everything open; in the weekly posting only what is new or changed, and the
    count of black entries still open (`still_open`)."""
    lines = [tr("红黑榜 of {compound} · {date}", compound=compound.name, date=date)]
    lines.append("🔴 " + tr("Red list (good deeds)"))
    lines += [f"{n}. {_entry_line(e)}" for n, e in enumerate(red, 1)] or [tr("(none this time)")]
    lines.append("⚫ " + tr("Black list (to be corrected)"))
    lines += [f"{n}. {_entry_line(e)}" for n, e in enumerate(black, 1)] or [_no_black(tr, still_open)]
    if still_open:
        lines.append(_still_open(tr, still_open))
    if corrected:
        lines.append("✅ " + tr("Corrected (已整改): {items}", items="；".join(_entry_line(e) for e in corrected)))
    return "\n".join(lines)


def poster(tr: Translator, compound: Compound, date: str, red: list[BoardEntry], black: list[BoardEntry],
           corrected: list[BoardEntry], still_open: int = 0) -> bytes | None:
    sections = [
        PosterSection(tr("Red list (good deeds)"),
                      tuple(f"{n}. {_entry_line(e)}" for n, e in enumerate(red, 1)) or (tr("(none this time)"),),
                      RED_COLOUR),
        PosterSection(tr("Black list (to be corrected)"),
                      tuple(f"{n}. {_entry_line(e)}" for n, e in enumerate(black, 1))
                      + ((_still_open(tr, still_open),) if still_open else ())
                      or (_no_black(tr, still_open),), BLACK_COLOUR),
    ]
    if corrected:
        sections.append(PosterSection(tr("Corrected (已整改)"), tuple(f"✓ {_entry_line(e)}" for e in corrected),
                                      GREEN_COLOUR))
    return render_poster(tr("{compound} 红黑榜", compound=compound.name), date, sections,
                         tr("Nominate with /nominate · 小区党支部"))


@router.command("board", group="notices", member=True, help="The 红黑榜", order=51)
async def show_board(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    red, black, corrected = await store.current(ctx.session, ctx.compound_id)
    schedule = await store.schedule_of(ctx.session, ctx.compound, ctx.now)
    text = board_text(t, ctx.compound, ctx.local(ctx.now, ctx.compound, "%Y-%m-%d"), red, black, corrected)
    text += "\n" + t("Next posting: {when}.", when=ctx.local(schedule.next_at, ctx.compound))
    replies = [Reply(text)]
    if ctx.private and ctx.has(*CORRECTORS) and black:
        replies.append(Reply(t("Mark a black entry as corrected (已整改):"), buttons=rows(
            *(Button.do(t("Corrected: {n}", n=n), "board.corrected", entry=e.id) for n, e in enumerate(black, 1)),
            per_row=3)))
    if ctx.private and ctx.has(*REVIEWERS):
        for entry, nominator in await store.pending(ctx.session, ctx.compound_id):
            replies.append(_review_request(t, entry, nominator, None))
    return replies


@router.button("board.corrected", roles=CORRECTORS, private=True)
async def mark_corrected(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    entry = await store.entry_in(ctx.session, _entry_arg(ctx), ctx.compound_id)
    if entry is None or entry.color != BLACK:
        return Reply(t("This entry does not belong to your compound."), toast=t("Not allowed"))
    if not await store.mark_corrected(ctx.session, entry, ctx.now):
        return Reply(t("Already marked as corrected."), toast=t("Already done"))
    rt = await ctx.translator_for(entry.nominator_id)
    return [Reply(t("Marked as corrected; it moves to the corrected line of the next posting."),
                  toast=t("Marked as corrected")),
            Reply(rt("Good news: the problem you reported is corrected (已整改): {line}", line=_entry_line(entry)),
                  to=ToPerson(entry.nominator_id))]


@router.job("post", every=timedelta(minutes=1))
async def post_board(ctx: JobContext) -> Replies:
    """Each compound's posting when its time has come; after a downtime it is sent late, once."""
    replies: list[Reply] = []
    for row, compound in await store.due_postings(ctx.session, ctx.now):
        if not await store.claim_posting(ctx.session, compound, row.next_at, ctx.now):
            continue
        news = await store.posting_news(ctx.session, row.compound_id)
        if news.empty:  # nothing new or changed: no posting that repeats last week's
            continue
        red, black, corrected = news.red, news.black, news.corrected
        tr = ctx.translator(compound.language)
        date = ctx.local(ctx.now, compound, "%Y-%m-%d")
        key = f"board:{compound.id}:{date}"
        replies.append(Reply(board_text(tr, compound, date, red, black, corrected, news.still_open),
                             to=ToGroups(row.compound_id), posting=key,
                             buttons=pages.link_buttons(tr, ctx.settings, pages.board_path(compound) + "#board")))
        png = poster(tr, compound, date, red, black, corrected, news.still_open)
        if png is not None:
            replies.append(Reply(tr("红黑榜 poster, {date}", date=date), to=ToGroups(row.compound_id),
                                 image=Media(png, f"board-{date}.png", "image/png")))
        await store.mark_posted(ctx.session, news.posted, corrected, ctx.now)
    return replies


router.flow(nomination, editing, rejecting)
