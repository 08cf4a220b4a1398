"""Announcements (/announce, /announcements) and disclosures (/disclose, /disclosures)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core.context import Context
from bot.core.router import Router
from bot.core.types import Button, FileRef, Incoming, Media, Replies, Reply, Target, ToGroups, ToPerson, rows
from handlers.meetings import typed_text
from storage import announcements as store
from storage.announcements import AUDIENCES, DISCLOSURE_KINDS, Announcement, Disclosure
from storage.compounds import Building, buildings_of
from storage.meetings import parse_when
from storage.outbox import cancel_posting, load_media, store_media
from storage.people import Role, people_with_role

router = Router("announcements")

ANNOUNCERS = (Role.SECRETARY, Role.COMMITTEE)
DISCLOSERS = (Role.COMMITTEE, Role.SECRETARY)
FLOW, DISCLOSE_FLOW = "announce", "disclose"
MAX_AHEAD = timedelta(days=366)


async def _photo(ctx: Context, platform: str, file_id: str) -> Media | None:
    if not file_id:
        return None
    data = await ctx.core.fetch_photo(platform, file_id)
    mime, filename = store.image_mime(data)
    return Media(data, filename, mime)


async def _targets(ctx: Context, audience: str, building_id: int | None) -> list[Target]:
    """Groups for the compound or a building; owners and party members privately, one by one (the outbox
    paces such bulk messages)."""
    assert ctx.compound is not None and ctx.compound.id is not None
    if audience == "owners":
        return [ToPerson(p) for p in await store.owners_of(ctx.session, ctx.compound.id)]
    if audience == "party":
        return [ToPerson(p) for p in await people_with_role(ctx.session, ctx.compound.id, Role.PARTY_MEMBER)]
    if audience == "building" and building_id:
        return [ToGroups(ctx.compound.id, building_id)]
    return [ToGroups(ctx.compound.id)]


# ---- /announce -------------------------------------------------------------------------------------------


@router.command("announce", roles=ANNOUNCERS, private=True, flow=True, help="Make an announcement", order=45)
async def announce(ctx: Context, msg: Incoming) -> Replies:
    ctx.convo.start(FLOW, "text")
    return Reply(ctx.t("Please send the text of the announcement."))


@router.step(FLOW, "text")
async def step_text(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    text, refusal = typed_text(t, msg, store.TEXT_MAX, t("announcement"))
    if refusal:
        return refusal
    ctx.convo.draft["text"] = text
    ctx.convo.goto("attachment")
    return Reply(t("Add a picture or a file ({kinds})? Send it now, or press No attachment.",
                   kinds=store.ALLOWED_DOCUMENTS), buttons=((Button.choice(t("No attachment"), "none"),),))


@router.step(FLOW, "attachment")
async def step_attachment(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    draft = ctx.convo.draft
    if msg.document is not None:
        document, refusal = await _document(ctx, msg.document, t("No attachment"))
        if refusal is not None or document is None:
            return refusal
        # Kept at once: it goes out with the announcement, maybe days later, when the platform's id may be gone.
        draft["document_id"] = await store_media(ctx.session, document.data, document.mime, document.filename)
        draft["document_name"] = document.filename
        draft.pop("media_file_id", None)
    elif msg.photo is not None:
        draft["media_platform"], draft["media_file_id"] = msg.photo.platform, msg.photo.file_id
        draft.pop("document_id", None)
    elif ctx.args.get("value") != "none":
        return Reply(t("Please send a photo or a file ({kinds}), or press No attachment.", kinds=store.ALLOWED_DOCUMENTS),
                     buttons=((Button.choice(t("No attachment"), "none"),),))
    ctx.convo.goto("audience")
    return Reply(t("Who is it for?"),
                 buttons=rows(*(Button.choice(t(label), code) for code, label in AUDIENCES.items()), per_row=2))


@router.step(FLOW, "audience")
async def step_audience(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    assert ctx.compound is not None
    if value not in AUDIENCES:
        return Reply(t("Please choose who the announcement is for with the buttons above."))
    ctx.convo.draft["audience"] = value
    if value == "building":
        ctx.convo.goto("building")
        buildings = await buildings_of(ctx.session, ctx.compound.id or 0)
        return Reply(t("Which building?"), buttons=rows(*(Button.choice(b.name, b.id) for b in buildings), per_row=3))
    return _ask_when(ctx)


@router.step(FLOW, "building")
async def step_building(ctx: Context, msg: Incoming) -> Replies:
    assert ctx.compound is not None
    value = ctx.args.get("value")
    if value not in {b.id for b in await buildings_of(ctx.session, ctx.compound.id or 0)}:
        return Reply(ctx.t("Please choose the building with the buttons above."))
    ctx.convo.draft["building_id"] = value
    return _ask_when(ctx)


def _ask_when(ctx: Context) -> Reply:
    t = ctx.t
    ctx.convo.goto("when")
    return Reply(t("Send it now, or type when to send it (for example 2026-11-28 09:00 or 明天 8:00)."),
                 buttons=((Button.choice(t("Send now"), "now"),),))


@router.step(FLOW, "when")
async def step_when(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    if ctx.args.get("value") == "now":
        ctx.convo.draft["due_at"] = None
    else:
        text, refusal = typed_text(t, msg, 40, t("time"))
        if refusal:
            return refusal
        assert text is not None
        when = parse_when(text, ctx.now, ctx.zone(ctx.compound))
        if when is None:
            return Reply(t("I could not read {text} as a date and time. Please write it like 2026-11-28 09:00, "
                           "11-28 9:00 or 明天 19:30.", text=text[:40]))
        if when <= ctx.now:
            return Reply(t("{when} is already past. Please give a time in the future, or press Send now.",
                           when=when.strftime("%Y-%m-%d %H:%M")), buttons=((Button.choice(t("Send now"), "now"),),))
        if when > ctx.now + MAX_AHEAD:
            return Reply(t("{when} is more than a year away. Please check the date.",
                           when=when.strftime("%Y-%m-%d %H:%M")))
        ctx.convo.draft["due_at"] = when.isoformat()
    ctx.convo.goto("confirm")
    draft = ctx.convo.draft
    when_text = (t("now") if not draft.get("due_at") else
                 ctx.local(datetime.fromisoformat(draft["due_at"]), ctx.compound))
    audience = t(AUDIENCES[draft["audience"]])
    if draft.get("building_id"):
        building = await ctx.session.get(Building, int(draft["building_id"]))
        audience = building.name if building else audience
    pin_offered = draft["audience"] in ("all", "building")
    buttons = [Button.choice(t("Publish"), "publish")]
    if pin_offered:
        buttons.append(Button.choice(t("Publish and pin"), "pin"))
    buttons.append(Button.choice(t("Discard"), "discard"))
    attached = (t("with the file {name}", name=draft["document_name"]) if draft.get("document_id")
                else t("with a picture") if draft.get("media_file_id") else t("no picture"))
    return Reply(t("Please check: to {audience}, sent {when}, {picture}.", audience=audience, when=when_text,
                   picture=attached)
                 + "\n\n" + draft["text"], buttons=rows(*buttons, per_row=3))


@router.step(FLOW, "confirm")
async def step_confirm(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    if value == "discard":
        ctx.convo.end()
        return Reply(t("Discarded; nothing was sent."))
    if value not in ("publish", "pin"):
        return Reply(t("Please press Publish or Discard."))
    assert ctx.compound is not None and ctx.compound.id is not None
    draft = ctx.convo.draft
    due = datetime.fromisoformat(draft["due_at"]) if draft.get("due_at") else ctx.now
    if due < ctx.now:
        due = ctx.now
    try:
        image = await _photo(ctx, draft.get("media_platform", ""), draft.get("media_file_id", ""))
    except Exception:
        # The platform lost the file (or is down): keep the draft and let the author choose again.
        ctx.convo.goto("attachment")
        return Reply(t("I could not fetch your picture. Please send it again, or press No attachment."),
                     buttons=((Button.choice(t("No attachment"), "none"),),))
    document: Media | None = None
    if draft.get("document_id"):
        stored = await load_media(ctx.session, int(draft["document_id"]))
        document = Media(stored.data, stored.filename, stored.mime) if stored is not None else None
    item = Announcement(compound_id=ctx.compound.id, author_id=ctx.person_id, text=draft["text"],
                        audience=draft["audience"], building_id=draft.get("building_id"),
                        media_platform=draft.get("media_platform", ""), media_file_id=draft.get("media_file_id", ""),
                        pin=value == "pin", due_at=due, status=store.SCHEDULED if due > ctx.now else store.SENT,
                        created_at=ctx.now)
    ctx.session.add(item)
    await ctx.session.flush()
    ctx.convo.end()
    scheduled = due > ctx.now
    tr = ctx.translator(ctx.compound.language)
    replies = [Reply(t("Scheduled for {when}. /announcements lists it; you can cancel it there until then.",
                       when=ctx.local(due, ctx.compound)) if scheduled else t("Sent."))]
    for target in await _targets(ctx, item.audience, item.building_id):
        pt = await ctx.translator_for(target.person_id) if isinstance(target, ToPerson) else tr
        replies.append(Reply(pt("📢 Announcement") + "\n" + item.text, image=image, document=document, to=target,
                             pin=item.pin,
                             posting=item.posting_key, due_at=due if scheduled else None))
    return replies


@router.command("announcements", roles=ANNOUNCERS, private=True, help="Scheduled announcements", order=46)
async def list_scheduled(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    items = await store.scheduled(ctx.session, ctx.compound.id, ctx.now)
    if not items:
        return Reply(t("No announcements are waiting to be sent."))
    return [Reply(t("To be sent {when}:", when=ctx.local(item.due_at, ctx.compound)) + "\n" + item.text[:300],
                  buttons=((Button.do(t("Cancel it"), "announcements.cancel", item=item.id),),)) for item in items]


@router.button("announcements.cancel", roles=ANNOUNCERS, private=True)
async def cancel(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    item = await ctx.session.get(Announcement, int(ctx.args.get("item", 0)))
    if item is None or ctx.compound is None or item.compound_id != ctx.compound.id:
        return Reply(t("This announcement does not belong to your compound."), toast=t("Not allowed"))
    if item.status != store.SCHEDULED or item.due_at <= ctx.now:
        return Reply(t("Too late: this announcement has already been sent or cancelled."), toast=t("Too late"))
    await cancel_posting(ctx.session, item.posting_key)
    item.status = store.CANCELLED
    ctx.session.add(item)
    return Reply(t("Cancelled; it will not be sent."), toast=t("Cancelled"))


# ---- disclosures (公示) -----------------------------------------------------------------------------------


@router.command("disclose", roles=DISCLOSERS, private=True, flow=True, help="Publish a disclosure (公示)", order=47)
async def disclose(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    ctx.convo.start(DISCLOSE_FLOW, "kind")
    return Reply(t("What kind of disclosure?"),
                 buttons=rows(*(Button.choice(t(label), code) for code, label in DISCLOSURE_KINDS.items())))


@router.step(DISCLOSE_FLOW, "kind")
async def disclose_kind(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    if value not in DISCLOSURE_KINDS:
        return Reply(t("Please choose the kind of disclosure with the buttons above."))
    ctx.convo.draft["kind"] = value
    ctx.convo.goto("text")
    return Reply(t("A short text: the period or matter and the key figures (for example: 2026年10月 物业费收入 "
                   "52,300 元，支出 48,100 元，结余 4,200 元)."))


@router.step(DISCLOSE_FLOW, "text")
async def disclose_text(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    text, refusal = typed_text(t, msg, store.DISCLOSURE_TEXT_MAX, t("disclosure"))
    if refusal:
        return refusal
    ctx.convo.draft["text"] = text
    ctx.convo.goto("attachment")
    return Reply(t("Now send the statement as a file ({kinds}) or as a photo (a picture of the table or the signed "
                   "sheet), or press No attachment.", kinds=store.ALLOWED_DOCUMENTS),
                 buttons=((Button.choice(t("No attachment"), "none"),),))


async def _document(ctx: Context, ref: FileRef, skip: str) -> tuple[Media | None, Reply | None]:
    """A file sent as an attachment, checked: (the document, None) or (None, the polite refusal that keeps the
    step). `skip` is the label of the button that goes on without an attachment."""
    t = ctx.t
    again = ((Button.choice(skip, "none"),),)
    too_big = t("That file is larger than {limit} MB. Please send a smaller one, or press {skip}.",
                limit=store.DOCUMENT_MAX_BYTES // (1024 * 1024), skip=skip)
    if ref.size is not None and ref.size > store.DOCUMENT_MAX_BYTES:
        return None, Reply(too_big, buttons=again)
    try:
        data = await ctx.core.fetch_photo(ref.platform, ref.file_id)
    except Exception:
        return None, Reply(t("I could not fetch your file. Please send it again, or press {skip}.", skip=skip),
                           buttons=again)
    if len(data) > store.DOCUMENT_MAX_BYTES:
        return None, Reply(too_big, buttons=again)
    kind = store.document_type(data, ref.name)
    if kind is None:
        return None, Reply(t("Sorry, I can only take a {kinds} file or a photo, and {name} is none of these. Please "
                             "send it again in one of these forms, or press {skip}.",
                             kinds=store.ALLOWED_DOCUMENTS, name=ref.name or t("this file"), skip=skip), buttons=again)
    mime, filename = kind
    return Media(data, filename, mime), None


@router.step(DISCLOSE_FLOW, "attachment")
async def disclose_attachment(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    draft = ctx.convo.draft
    document: Media | None = None
    image: Media | None = None
    if msg.document is not None:
        document, refusal = await _document(ctx, msg.document, t("No attachment"))
        if refusal is not None:
            return refusal
        draft.pop("media_file_id", None)
    elif msg.photo is not None:
        draft["media_platform"], draft["media_file_id"] = msg.photo.platform, msg.photo.file_id
    elif ctx.args.get("value") != "none":
        return Reply(t("Please send the statement as a file ({kinds}) or a photo, or press No attachment.",
                       kinds=store.ALLOWED_DOCUMENTS), buttons=((Button.choice(t("No attachment"), "none"),),))
    try:
        image = await _photo(ctx, draft.get("media_platform", ""), draft.get("media_file_id", ""))
    except Exception:
        draft.pop("media_file_id", None)
        return Reply(t("I could not fetch your picture. Please send it again, or press No attachment."),
                     buttons=((Button.choice(t("No attachment"), "none"),),))
    assert ctx.compound is not None and ctx.compound.id is not None
    item = Disclosure(compound_id=ctx.compound.id, author_id=ctx.person_id, kind=draft["kind"], text=draft["text"],
                      media_platform=draft.get("media_platform", ""), media_file_id=draft.get("media_file_id", ""),
                      created_at=ctx.now)
    if document is not None:
        # Kept here for /disclosures: a platform's file id may expire (WeCom's after 3 days).
        item.media_kind = "document"
        item.media_id = await store_media(ctx.session, document.data, document.mime, document.filename)
    ctx.session.add(item)
    await ctx.session.flush()
    ctx.convo.end()
    tr = ctx.translator(ctx.compound.language)
    posting = f"【{tr('Disclosure')}·{tr(DISCLOSURE_KINDS[item.kind])}】\n{item.text}\n" + tr(
        "Past disclosures: send /disclosures to the bot.")
    return [Reply(t("Published to the compound's group chats and kept under /disclosures.")),
            Reply(posting, image=image, document=document, to=ToGroups(ctx.compound.id),
                  posting=f"disclosure:{item.id}")]


@router.command("disclosures", member=True, help="Disclosures (公示)", order=48)
async def list_disclosures(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    items = await store.recent_disclosures(ctx.session, ctx.compound.id)
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
async def show_disclosure(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    item = await ctx.session.get(Disclosure, int(ctx.args.get("item", 0)))
    if item is None or ctx.compound is None or item.compound_id != ctx.compound.id:
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
