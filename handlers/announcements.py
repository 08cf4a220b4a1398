"""Announcements (/announce, /announcements) and disclosures (/disclose, /disclosures)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.core import answers
from bot.core.context import Context, MemberContext
from bot.core.flows import Done, Draft, Flow, Go, Outcome, Stay
from bot.core.i18n import N_
from bot.core.router import Router
from bot.core.types import Button, FileRef, Incoming, Media, Photo, Replies, Reply, ToGroups, ToPerson, rows
from handlers import pages
from storage import announcements as store
from storage import printouts
from storage.announcements import AUDIENCES, DISCLOSURE_KINDS, Announcement, Disclosure, Result
from storage.compounds import buildings_of
from storage.notifications import Notice, announcement_kind
from storage.outbox import load_media, store_media
from storage.people import Role, people_with_role

router = Router("announcements")

ANNOUNCERS = (Role.SECRETARY, Role.COMMITTEE)
DISCLOSERS = (Role.COMMITTEE, Role.SECRETARY)
NO_ATTACHMENT = N_("No attachment")


async def _photo(ctx: Context, platform: str, file_id: str) -> Media | None:
    if not file_id:
        return None
    data = await ctx.core.fetch_photo(platform, file_id)
    mime, filename = store.image_mime(data)
    return Media(data, filename, mime)


async def _targets(ctx: MemberContext, audience: str, building_id: int | None) -> list[ToPerson | ToGroups]:
    """Groups for the compound or a building; owners and party members privately, one by one (the outbox
    paces such bulk messages)."""
    if audience == "owners":
        return [ToPerson(p) for p in await store.owners_of(ctx.session, ctx.compound_id)]
    if audience == "party":
        return [ToPerson(p) for p in await people_with_role(ctx.session, ctx.compound_id, Role.PARTY_MEMBER)]
    if audience == "building" and building_id:
        return [ToGroups(ctx.compound_id, building_id)]
    return [ToGroups(ctx.compound_id)]


def _skip_button(ctx: Context) -> tuple[tuple[Button, ...], ...]:
    return ((Button.choice(ctx.t(NO_ATTACHMENT), "none"),),)


async def _document(ctx: Context, ref: FileRef) -> Media | Reply:
    """A file sent as an attachment, checked: the document, or the polite refusal that keeps the step."""
    t = ctx.t
    skip = t(NO_ATTACHMENT)
    too_big = t("That file is larger than {limit} MB. Please send a smaller one, or press {skip}.",
                limit=store.DOCUMENT_MAX_BYTES // (1024 * 1024), skip=skip)
    if ref.size is not None and ref.size > store.DOCUMENT_MAX_BYTES:
        return Reply(too_big, buttons=_skip_button(ctx))
    try:
        data = await ctx.core.fetch_photo(ref.platform, ref.file_id)
    except Exception:
        return Reply(t("I could not fetch your file. Please send it again, or press {skip}.", skip=skip),
                     buttons=_skip_button(ctx))
    if len(data) > store.DOCUMENT_MAX_BYTES:
        return Reply(too_big, buttons=_skip_button(ctx))
    kind = store.document_type(data, ref.name)
    if kind is None:
        return Reply(t("Sorry, I can only take a {kinds} file or a photo, and {name} is none of these. Please send it "
                       "again in one of these forms, or press {skip}.", kinds=store.ALLOWED_DOCUMENTS,
                       name=ref.name or t("this file"), skip=skip), buttons=_skip_button(ctx))
    mime, filename = kind
    return Media(data, filename, mime)



# ---- /announce -------------------------------------------------------------------------------------------


class Announce(Draft):
    text: str = ""
    # A picture: the platform's file id, fetched when the announcement goes out.
    media_platform: str = ""
    media_file_id: str = ""
    # A file: kept at once in the outbox's media table (it may go out days later, when the platform's id is gone).
    document_id: int | None = None
    document_name: str = ""
    audience: str = "all"
    building_id: int | None = None
    building_name: str = ""
    # None: now.
    due_at: datetime | None = None


announce_flow = Flow("announce", Announce, title=N_("an announcement"), roles=ANNOUNCERS)


def _ask_text(ctx: Context, draft: Announce) -> Reply:
    return Reply(ctx.t("Please send the text of the announcement."))


def _ask_attachment(ctx: Context, draft: Announce) -> Reply:
    return Reply(ctx.t("Add a picture or a file ({kinds})? Send it now, or press No attachment.",
                       kinds=store.ALLOWED_DOCUMENTS), buttons=_skip_button(ctx))


def _ask_audience(ctx: Context, draft: Announce) -> Reply:
    t = ctx.t
    return Reply(t("Who is it for?"),
                 buttons=rows(*(Button.choice(t(label), code) for code, label in AUDIENCES.items()), per_row=2))


async def _ask_building(ctx: MemberContext, draft: Announce) -> Reply:
    buildings = await buildings_of(ctx.session, ctx.compound_id)
    return Reply(ctx.t("Which building?"), buttons=rows(*(Button.choice(b.name, b.id) for b in buildings), per_row=3))


def _ask_when(ctx: Context, draft: Announce) -> Reply:
    t = ctx.t
    return Reply(t("Send it now, or type when to send it (for example 2026-11-28 09:00 or 明天 8:00)."),
                 buttons=((Button.choice(t("Send now"), "now"),),))


def _ask_confirm(ctx: Context, draft: Announce) -> Reply:
    t = ctx.t
    when = t("now") if draft.due_at is None else answers.moment_text(t, draft.due_at, ctx)
    audience = draft.building_name or t(AUDIENCES[draft.audience])
    buttons = [Button.choice(t("Publish"), "publish")]
    if draft.audience in ("all", "building"):
        buttons.append(Button.choice(t("Publish and pin"), "pin"))
    buttons.append(Button.choice(t("Discard"), "discard"))
    attached = (t("with the file {name}", name=draft.document_name) if draft.document_id is not None
                else t("with a picture") if draft.media_file_id else t("no picture"))
    return Reply(t("Please check: to {audience}, sent {when}, {picture}.", audience=audience, when=when,
                   picture=attached) + "\n\n" + draft.text, buttons=rows(*buttons, per_row=3))


@router.command("announce", group="notices", roles=ANNOUNCERS, private=True, flow=True, help="Make an announcement", order=45)
async def announce(ctx: MemberContext, msg: Incoming) -> Replies:
    return await announce_flow.begin(ctx, Announce())


@announce_flow.step("text", ask=_ask_text, next=("attachment",),
                    answer=answers.Text(store.TEXT_MAX, what=N_("announcement")))
async def step_text(ctx: MemberContext, draft: Announce, text: str) -> Outcome:
    return Go("attachment", draft.model_copy(update={"text": text}))


NO_FILE = {"media_platform": "", "media_file_id": "", "document_id": None, "document_name": ""}


@announce_flow.step("attachment", ask=_ask_attachment, next=("audience",), answer=answers.Attachment(
    refusal=N_("Please send a photo or a file ({kinds}), or press No attachment."), skip_label=NO_ATTACHMENT,
    kinds=store.ALLOWED_DOCUMENTS))
async def step_attachment(ctx: MemberContext, draft: Announce, sent: Photo | FileRef | None) -> Outcome:
    if isinstance(sent, FileRef):
        document = await _document(ctx, sent)
        if isinstance(document, Reply):
            return Stay(document)
        document_id = await store_media(ctx.session, document.data, document.mime, document.filename)
        return Go("audience", draft.model_copy(update={**NO_FILE, "document_id": document_id,
                                                       "document_name": document.filename}))
    if isinstance(sent, Photo):
        return Go("audience", draft.model_copy(update={**NO_FILE, "media_platform": sent.platform,
                                                       "media_file_id": sent.file_id}))
    return Go("audience", draft.model_copy(update=NO_FILE))


@announce_flow.step("audience", ask=_ask_audience, next=("building", "when"), answer=answers.Choice(
    values=tuple(AUDIENCES), refusal=N_("Please choose who the announcement is for with the buttons above.")))
async def step_audience(ctx: MemberContext, draft: Announce, value: str) -> Outcome:
    draft = draft.model_copy(update={"audience": value, "building_id": None, "building_name": ""})
    return Go("building" if value == "building" else "when", draft)


@announce_flow.step("building", ask=_ask_building, next=("when",), answer=answers.Choice(
    refusal=N_("Please choose the building with the buttons above.")))
async def step_building(ctx: MemberContext, draft: Announce, value: int) -> Outcome:
    building = next((b for b in await buildings_of(ctx.session, ctx.compound_id) if b.id == value), None)
    if building is None:
        return Stay(Reply(ctx.t("Please choose the building with the buttons above.")))
    return Go("when", draft.model_copy(update={"building_id": building.id, "building_name": building.name}))


@announce_flow.step("when", ask=_ask_when, next=("confirm",), answer=answers.When(now="now"))
async def step_when(ctx: MemberContext, draft: Announce, when: datetime) -> Outcome:
    due = when if when > ctx.now else None
    if store.due_problem(due, ctx.now) is not None:
        return Stay(Reply(ctx.t("{when} is more than a year away. Please check the date.",
                                when=answers.moment_text(ctx.t, when, ctx))))
    return Go("confirm", draft.model_copy(update={"due_at": due}))


@announce_flow.step("confirm", ask=_ask_confirm, next=("attachment", "when"), answer=answers.Choice(
    values=("publish", "pin", "discard"), refusal=N_("Please press Publish or Discard.")))
async def step_confirm(ctx: MemberContext, draft: Announce, value: str) -> Outcome:
    t = ctx.t
    if value == "discard":
        return Done(Reply(t("Discarded; nothing was sent.")))
    try:
        image = await _photo(ctx, draft.media_platform, draft.media_file_id)
    except Exception:
        # The platform lost the file (or is down): keep the draft and let the author choose again.
        return Go("attachment", draft.model_copy(update=NO_FILE), say=(Reply(t(
            "I could not fetch your picture. Please send it again, or press No attachment.")),))
    document: Media | None = None
    if draft.document_id is not None:
        stored = await load_media(ctx.session, draft.document_id)
        document = Media(stored.data, stored.filename, stored.mime) if stored is not None else None
    fields = draft.model_dump(include={"text", "audience", "building_id", "media_platform", "media_file_id"})
    item = await store.publish_announcement(ctx.session, ctx.compound_id, ctx.person_id,
                                            {**fields, "pin": value == "pin"}, draft.due_at, ctx.now)
    if isinstance(item, Result):
        return Go("when", say=(Reply(t("{when} is more than a year away. Please check the date.",
                                       when=answers.moment_text(t, draft.due_at or ctx.now, ctx))),))
    scheduled = item.status == store.AnnouncementStatus.SCHEDULED
    tr = ctx.translator(ctx.compound.language)
    replies = [Reply(t("Scheduled for {when}. /announcements lists it; you can cancel it there until then.",
                       when=answers.moment_text(t, item.due_at, ctx)) if scheduled else t("Sent."),
                     buttons=((Button.do(t("Print for the notice board (PDF)"), "announcements.print",
                                         item=item.id),),))]
    targets = await _targets(ctx, item.audience, item.building_id)
    translators = await ctx.translators_for(target.person_id for target in targets if isinstance(target, ToPerson))
    for target in targets:
        pt = translators[target.person_id] if isinstance(target, ToPerson) else tr
        # Only what went to the whole compound is on its public board.
        link = pages.link_buttons(pt, ctx.settings, pages.board_path(ctx.compound) + "#announcements") \
            if item.audience == "all" else ()
        replies.append(Reply(pt("📢 Announcement") + "\n" + item.text, image=image, document=document, to=target,
                             buttons=link,
                             pin=item.pin, posting=item.posting_key, due_at=item.due_at if scheduled else None,
                             notice=Notice(announcement_kind(item.text), f"announcement:{item.id}",
                                           compound_id=ctx.compound_id)))
    return Done(replies)


@router.command("announcements", group="notices", roles=ANNOUNCERS, private=True, help="Scheduled announcements", order=46)
async def list_scheduled(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    items = await store.scheduled(ctx.session, ctx.compound_id, ctx.now)
    if not items:
        return Reply(t("No announcements are waiting to be sent."))
    return [Reply(t("To be sent {when}:", when=ctx.local(item.due_at, ctx.compound)) + "\n" + item.text[:300],
                  buttons=((Button.do(t("Cancel it"), "announcements.cancel", item=item.id),),)) for item in items]


@router.button("announcements.cancel", roles=ANNOUNCERS, private=True)
async def cancel(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    item = await ctx.session.get(Announcement, int(ctx.args.get("item", 0)))
    if item is None or item.compound_id != ctx.compound_id:
        return Reply(t("This announcement does not belong to your compound."), toast=t("Not allowed"))
    if await store.cancel_announcement(ctx.session, item, ctx.now) != Result.DONE:
        return Reply(t("Too late: this announcement has already been sent or cancelled."), toast=t("Too late"))
    return Reply(t("Cancelled; it will not be sent."), toast=t("Cancelled"))


@router.button("announcements.print", roles=ANNOUNCERS, private=True)
async def print_notice(ctx: MemberContext, msg: Incoming) -> Replies:
    """The announcement as an A4 PDF for the notice board (公告栏): its first line as the title when it has more."""
    t = ctx.t
    item = await ctx.session.get(Announcement, int(ctx.args.get("item", 0)))
    if item is None or item.compound_id != ctx.compound_id:
        return Reply(t("This announcement does not belong to your compound."), toast=t("Not allowed"))
    first, _, rest = item.text.strip().partition("\n")
    title, text = (first.strip(), rest.strip()) if rest.strip() and len(first) <= 40 else ("", item.text.strip())
    day = ctx.local(item.due_at, ctx.compound, "%Y-%m-%d")
    try:
        data = await asyncio.to_thread(printouts.notice_pdf, t, ctx.compound.name, title, text, day)
    except printouts.NoFont:
        return Reply(t("The printable notice needs a Chinese font on the server (fonts-noto-cjk); ask the operator."))
    return Reply(t("The announcement for the notice board, A4."),
                 document=Media(data, f"notice-{ctx.compound.code}-{item.id}.pdf", printouts.PDF))


# ---- disclosures (公示) -----------------------------------------------------------------------------------


class Disclose(Draft):
    kind: str = ""
    text: str = ""


disclose_flow = Flow("disclose", Disclose, title=N_("a disclosure"), roles=DISCLOSERS)


def _ask_kind(ctx: Context, draft: Disclose) -> Reply:
    t = ctx.t
    return Reply(t("What kind of disclosure?"),
                 buttons=rows(*(Button.choice(t(label), code) for code, label in DISCLOSURE_KINDS.items())))


def _ask_disclosure_text(ctx: Context, draft: Disclose) -> Reply:
    return Reply(ctx.t("A short text: the period or matter and the key figures (for example: 2026年10月 物业费收入 "
                       "52,300 元，支出 48,100 元，结余 4,200 元)."))


def _ask_statement(ctx: Context, draft: Disclose) -> Reply:
    return Reply(ctx.t("Now send the statement as a file ({kinds}) or as a photo (a picture of the table or the signed "
                       "sheet), or press No attachment.", kinds=store.ALLOWED_DOCUMENTS), buttons=_skip_button(ctx))


@router.command("disclose", group="notices", roles=DISCLOSERS, private=True, flow=True, help="Publish a disclosure (公示)", order=47)
async def disclose(ctx: MemberContext, msg: Incoming) -> Replies:
    return await disclose_flow.begin(ctx, Disclose())


@disclose_flow.step("kind", ask=_ask_kind, next=("text",), answer=answers.Choice(
    values=tuple(DISCLOSURE_KINDS), refusal=N_("Please choose the kind of disclosure with the buttons above.")))
async def disclose_kind(ctx: MemberContext, draft: Disclose, value: str) -> Outcome:
    return Go("text", draft.model_copy(update={"kind": value}))


@disclose_flow.step("text", ask=_ask_disclosure_text, next=("attachment",),
                    answer=answers.Text(store.DISCLOSURE_TEXT_MAX, what=N_("disclosure")))
async def disclose_text(ctx: MemberContext, draft: Disclose, text: str) -> Outcome:
    return Go("attachment", draft.model_copy(update={"text": text}))


@disclose_flow.step("attachment", ask=_ask_statement, answer=answers.Attachment(
    refusal=N_("Please send the statement as a file ({kinds}) or a photo, or press No attachment."),
    skip_label=NO_ATTACHMENT, kinds=store.ALLOWED_DOCUMENTS))
async def disclose_attachment(ctx: MemberContext, draft: Disclose, sent: Photo | FileRef | None) -> Outcome:
    t = ctx.t
    document: Media | None = None
    image: Media | None = None
    document_id: int | None = None
    if isinstance(sent, FileRef):
        checked = await _document(ctx, sent)
        if isinstance(checked, Reply):
            return Stay(checked)
        document = checked
        # Kept here for /disclosures: a platform's file id may expire (WeCom's after 3 days).
        document_id = await store_media(ctx.session, document.data, document.mime, document.filename)
    elif isinstance(sent, Photo):
        try:
            image = await _photo(ctx, sent.platform, sent.file_id)
        except Exception:
            return Stay(Reply(t("I could not fetch your picture. Please send it again, or press No attachment."),
                              buttons=_skip_button(ctx)))
    photo = (sent.platform, sent.file_id) if isinstance(sent, Photo) else None
    item = await store.publish_disclosure(ctx.session, ctx.compound_id, ctx.person_id, draft.kind, draft.text,
                                          ctx.now, photo=photo, document_id=document_id)
    tr = ctx.translator(ctx.compound.language)
    posting = f"【{tr('Disclosure')}·{tr(DISCLOSURE_KINDS[item.kind])}】\n{item.text}\n" + tr(
        "Past disclosures: send /disclosures to the bot.")
    return Done([Reply(t("Published to the compound's group chats and kept under /disclosures.")),
                 Reply(posting, image=image, document=document, to=ToGroups(ctx.compound_id),
                       posting=f"disclosure:{item.id}",
                       buttons=pages.link_buttons(tr, ctx.settings, pages.board_path(ctx.compound) + "#disclosures"))])


@router.command("disclosures", group="notices", member=True, help="Disclosures (公示)", order=48)
async def list_disclosures(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    items = await store.recent_disclosures(ctx.session, ctx.compound_id)
    if not items:
        return Reply(t("Nothing has been disclosed yet."))
    lines = [t("Disclosures of {compound}:", compound=ctx.compound.name)]
    buttons = []
    for number, item in enumerate(items, 1):
        lines.append(f"{number}. {ctx.local(item.created_at, ctx.compound, '%Y-%m-%d')} "
                     f"【{t(DISCLOSURE_KINDS[item.kind])}】 {item.text[:120]}")
        if item.media_file_id or item.media_id:
            buttons.append(Button.do(t("Attachment {n}", n=number), "disclosures.show", item=item.id))
    return Reply("\n".join(lines), buttons=rows(*buttons, per_row=3))


@router.button("disclosures.show", member=True)
async def show_disclosure(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    item = await ctx.session.get(Disclosure, int(ctx.args.get("item", 0)))
    if item is None or item.compound_id != ctx.compound_id:
        return Reply(t("This disclosure does not belong to your compound."), toast=t("Not allowed"))
    image = document = None
    try:
        if item.media_id is not None:
            stored = await load_media(ctx.session, item.media_id)
            document = Media(stored.data, stored.filename, stored.mime) if stored is not None else None
        else:
            image = await _photo(ctx, item.media_platform, item.media_file_id)
    except Exception:
        return Reply(t("Sorry, the attachment cannot be fetched at the moment. Please try again later."))
    caption = f"【{t(DISCLOSURE_KINDS[item.kind])}】{item.text}"
    if ctx.private:
        return Reply(caption, image=image, document=document)
    return Reply(caption, image=image, document=document, to=ToPerson(ctx.person_id), toast=t("Sent to you privately"))


router.flow(announce_flow, disclose_flow)
