"""The Telegram transport's conversions, in process, against the fake Bot API server over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Update

from bot.core.types import Contact, Media, OutButton, OutMessage
from bot.settings import Settings
from bot.transports.telegram import TelegramTransport, api_urls, text_incoming, to_incoming
from tests.fake_telegram import FakeTelegram, chat_member, render_html

USER = {"id": 42, "is_bot": False, "first_name": "张", "last_name": "三", "language_code": "en"}
PRIVATE = {"id": 42, "type": "private", "first_name": "张"}
GROUP = {"id": -100777, "type": "supergroup", "title": "幸福里业主群"}


def update(**content: Any) -> Update:
    return Update.de_json({"update_id": 9, **content}, None)


def message(chat: dict[str, Any] = PRIVATE, **content: Any) -> dict[str, Any]:
    return {"message_id": 5, "date": 0, "chat": chat, "from": USER, **content}


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram().start()
    server.chats.update({"42": PRIVATE, "-100777": GROUP})
    yield server
    await server.stop()


@pytest.fixture
async def transport(fake: FakeTelegram) -> AsyncIterator[TelegramTransport]:
    settings = Settings(_env_file=None, telegram_bot_token=fake.token,  # type: ignore[call-arg]
                        telegram_api_base_url=fake.url)
    telegram = TelegramTransport(settings)
    await telegram.sender.initialize()
    telegram.username = telegram.sender.username
    yield telegram
    await telegram.sender.shutdown()


def test_api_urls_accept_the_root_or_the_ptb_form() -> None:
    assert api_urls("http://127.0.0.1:81") == ("http://127.0.0.1:81/bot", "http://127.0.0.1:81/file/bot")
    assert api_urls("http://127.0.0.1:81/bot/") == ("http://127.0.0.1:81/bot", "http://127.0.0.1:81/file/bot")
    assert api_urls("")[0] == "https://api.telegram.org/bot"


def test_commands_text_and_addressing() -> None:
    ours = to_incoming(update(message=message(GROUP, text="/Join@Linli_Bot XFL2026")), "linli_bot")
    assert ours is not None and ours.command == "join" and ours.args == "XFL2026"
    assert ours.chat_kind == "group" and ours.chat_id == "-100777" and ours.update_id == "9"
    assert ours.user_name == "张 三" and ours.language == "en"
    assert to_incoming(update(message=message(GROUP, text="/join@other_bot")), "linli_bot") is None
    plain = to_incoming(update(message=message(text="hello")), "linli_bot")
    assert plain is not None and plain.text == "hello" and plain.command is None and plain.chat_kind == "private"


def test_text_read_straight_from_json_is_what_the_full_conversion_gives() -> None:
    """The webhook reads text messages from the JSON itself (`text_incoming`): the same Incoming as through
    python-telegram-bot's objects, and None (the full way) for anything else."""
    channel = {"id": -100999, "type": "channel", "title": "news"}
    no_last = {"id": 43, "is_bot": False, "first_name": "李"}
    texts = [
        {"message": message(text="hello")},
        {"message": message(text="/start join-XFL")},
        {"message": message(GROUP, text="/Join@Linli_Bot XFL2026")},
        {"message": message(GROUP, text="3号楼的灯", reply_to_message=message(GROUP, text="x"))},
        {"message": {**message(text="/help"), "from": no_last, "entities": [{"type": "bot_command", "offset": 0,
                                                                             "length": 5}]}},
    ]
    for content in texts:
        data = {"update_id": 9, **content}
        quick = text_incoming(data, "linli_bot")
        assert quick is not None and quick == to_incoming(Update.de_json(data, None), "linli_bot"), content
    others = [
        {"message": message(GROUP, text="/join@other_bot")},  # someone else's: the full way drops it
        {"message": message(channel, text="post")},
        {"message": message(photo=[{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}])},
        {"edited_message": message(text="edited")},
        {"message": message(text="hi"), "callback_query": {}},
        {"message": {"message_id": 5, "date": 0, "chat": PRIVATE, "text": "no sender"}},
    ]
    assert [text_incoming({"update_id": 9, **content}, "linli_bot") for content in others] == [None] * len(others)
    assert text_incoming([], "b") is None and text_incoming({"update_id": "x", "message": message(text="a")}, "b") is None


def test_photo_contact_and_other_content() -> None:
    sizes = [{"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
             {"file_id": "large", "file_unique_id": "l", "width": 1280, "height": 720},
             {"file_id": "mid", "file_unique_id": "m", "width": 320, "height": 240}]
    photo = to_incoming(update(message=message(photo=sizes, caption="a leak")), "b")
    assert photo is not None and photo.photo is not None
    assert (photo.photo.file_id, photo.photo.platform, photo.text) == ("large", "telegram", "a leak")
    own = to_incoming(update(message=message(contact={"phone_number": "138", "first_name": "x", "user_id": 42})), "b")
    other = to_incoming(update(message=message(contact={"phone_number": "139", "first_name": "y", "user_id": 7})), "b")
    book = to_incoming(update(message=message(contact={"phone_number": "137", "first_name": "z"})), "b")
    assert own is not None and own.contact == Contact("138", "42")
    assert other is not None and other.contact == Contact("139", "7")
    # An address-book contact without a Telegram account is never "one's own".
    assert book is not None and book.contact is not None and book.contact.user_id != book.user_id
    sticker = to_incoming(update(message=message(sticker={"file_id": "s", "file_unique_id": "u", "type": "regular",
                                                          "width": 1, "height": 1, "is_animated": False,
                                                          "is_video": False})), "b")
    assert sticker is not None and sticker.other == "sticker"


def test_buttons_chat_events_and_migration() -> None:
    press = to_incoming(update(callback_query={"id": "q1", "from": USER, "chat_instance": "c", "data": "tok123",
                                               "message": message(GROUP, text="vote")}), "b")
    assert press is not None and press.button == "tok123" and press.chat_id == "-100777"
    bot_user = {"id": 1, "is_bot": True, "first_name": "bot"}

    def member(old: str, new: str) -> Update:
        return update(my_chat_member={"chat": GROUP, "from": USER, "date": 0,
                                      "old_chat_member": chat_member(bot_user, old),
                                      "new_chat_member": chat_member(bot_user, new)})

    added = to_incoming(member("left", "member"), "b")
    removed = to_incoming(member("administrator", "kicked"), "b")
    assert added is not None and added.event == "bot_added"
    assert removed is not None and removed.event == "bot_removed"
    assert to_incoming(member("member", "administrator"), "b") is None  # promoted: nothing to tell the core
    moved = to_incoming(update(message=message({"id": -5, "type": "group", "title": "g"},
                                               migrate_to_chat_id=-100555)), "b")
    assert moved is not None and moved.event == "migrated" and moved.args == "-100555" and moved.chat_id == "-5"


async def test_text_is_escaped_split_and_buttons_ride_on_the_last_part(
        fake: FakeTelegram, transport: TelegramTransport) -> None:
    line = "<b>not bold</b> & <a href='http://evil.example'>x</a>\n"
    text = line * 120  # about 6,000 characters
    buttons = ((OutButton("Vote", "callback", "tok_vote"), OutButton("Privately", "deeplink", "tok_dl")),
               (OutButton("Site", "url", "https://example.org"),))
    result = await transport.deliver("-100777", "group", OutMessage(text, buttons, pin=True))
    sent = fake.sent("-100777")
    assert result.ok and len(sent) == 2
    assert all(len(c.text) <= 4096 for c in sent) and "".join(c.text + "\n" for c in sent) == text
    assert all(c.result["entities"] == [] for c in sent)  # nothing became markup
    assert sent[0].markup == {} and result.message_id == str(sent[1].result["message_id"])
    assert sent[1].button("Vote")["callback_data"] == "tok_vote"
    assert sent[1].button("Privately")["url"] == f"https://t.me/{fake.username}?start=tok_dl"
    assert sent[1].button("Site")["url"] == "https://example.org"
    pins = [c for c in fake.calls if c.method == "pinchatmessage"]
    assert len(pins) == 1 and int(pins[0].params["message_id"]) == sent[0].result["message_id"]


async def test_media_captions_and_contact_keyboard(fake: FakeTelegram, transport: TelegramTransport) -> None:
    image = Media(b"\x89PNG-poster", "poster.png", "image/png")
    long_caption = "长" * 1500
    assert (await transport.deliver("42", "private", OutMessage("short <i>", image=image))).ok
    assert (await transport.deliver("42", "private", OutMessage(long_caption, image=image))).ok
    xlsx = Media(b"PK-xlsx", "cases.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert (await transport.deliver("42", "private", OutMessage("export", document=xlsx))).ok
    calls = [c for c in fake.calls if c.method.startswith("send")]
    assert [c.method for c in calls] == ["sendphoto", "sendphoto", "sendmessage", "senddocument"]
    assert calls[0].text == "short <i>" and calls[0].files["photo"] == image.data
    assert "caption" not in calls[1].params and calls[2].text == long_caption
    assert calls[3].files["document"] == xlsx.data and calls[3].text == "export"
    ask = OutMessage("Share?", ((OutButton("Share my phone number", "contact"),), (OutButton("Skip", "callback", "t"),)))
    assert (await transport.deliver("42", "private", ask)).ok
    question, keyboard = fake.sent("42")[-2:]
    assert question.button("Skip") and keyboard.markup["keyboard"][0][0]["request_contact"] is True
    assert keyboard.markup["one_time_keyboard"] is True


async def test_failures_become_deliveries(fake: FakeTelegram, transport: TelegramTransport) -> None:
    fake.arm("sendMessage", 429, retry_after=3, chat_id="-100777")
    limited = await transport.deliver("-100777", "group", OutMessage("hi"))
    assert not limited.ok and limited.retry_after == 3 and not limited.permanent
    fake.arm("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id="42")
    blocked = await transport.deliver("42", "private", OutMessage("hi"))
    assert not blocked.ok and blocked.permanent
    gone = await transport.deliver("31337", "private", OutMessage("hi"))
    assert not gone.ok and gone.permanent and "chat not found" in gone.error.lower()
    fake.arm("sendMessage", 502, "Bad Gateway")
    flaky = await transport.deliver("42", "private", OutMessage("hi"))
    assert not flaky.ok and not flaky.permanent and flaky.retry_after is None
    fake.arm("sendMessage", delay=0.3)  # a slow Bot API server is waited for
    assert (await transport.deliver("42", "private", OutMessage("hi"))).ok


async def test_a_message_out_in_part_says_so_and_resumes_where_it_stopped(
        fake: FakeTelegram, transport: TelegramTransport) -> None:
    """A poster with a long text is three messages; the Bot API fails on the second. The outbox must learn that
    one part is out (not "delivered", which lost the text; not nothing, which repeated the poster)."""
    image = Media(b"\x89PNG-poster", "poster.png", "image/png")
    text = "第一行的内容\n" * 1000  # 7,000 characters: past the caption, two text messages
    fake.arm("sendMessage", 502, "Bad Gateway", chat_id="-100777")
    first = await transport.deliver("-100777", "group", OutMessage(text, image=image))
    assert not first.ok and first.parts_sent == 1 and not first.permanent
    second = await transport.deliver("-100777", "group", OutMessage(text, image=image), first_part=first.parts_sent)
    assert second.ok
    sent = fake.sent("-100777")
    assert [c.method for c in sent] == ["sendphoto", "sendmessage", "sendmessage"]
    assert "".join(c.text + "\n" for c in sent[1:]) == text


async def test_edits(fake: FakeTelegram, transport: TelegramTransport) -> None:
    first = await transport.deliver("-100777", "group", OutMessage("3/8 signed up",
                                                                   ((OutButton("Sign up", "callback", "t1"),),)))
    assert first.ok and first.message_id is not None
    changed = await transport.edit("-100777", first.message_id, OutMessage("4/8 signed up <3",
                                                                           ((OutButton("Sign up", "callback", "t1"),),)))
    assert changed.ok and fake.messages[("-100777", int(first.message_id))]["text"] == "4/8 signed up <3"
    same = await transport.edit("-100777", first.message_id, OutMessage("4/8 signed up <3",
                                                                        ((OutButton("Sign up", "callback", "t1"),),)))
    assert same.ok  # "message is not modified" is success
    missing = await transport.edit("-100777", "999999", OutMessage("x"))
    assert not missing.ok and missing.permanent
    poster = await transport.deliver("-100777", "group", OutMessage("old", image=Media(b"img", "a.png", "image/png")))
    assert poster.ok and poster.message_id is not None
    assert (await transport.edit("-100777", poster.message_id, OutMessage("new caption"))).ok
    assert fake.messages[("-100777", int(poster.message_id))]["caption"] == "new caption"


async def test_fetch_file(fake: FakeTelegram, transport: TelegramTransport) -> None:
    fake.files["big-0"] = b"\xff\xd8jpeg-bytes"
    assert await transport.fetch_file("big-0") == b"\xff\xd8jpeg-bytes"


def test_fake_renders_html_like_telegram() -> None:
    assert render_html("<b>x</b> &lt;y&gt;") == ("x <y>", [{"type": "bold", "offset": 0, "length": 1}])


async def test_a_document_arrives_with_its_name_type_and_size_and_can_be_fetched(
        fake: FakeTelegram, transport: TelegramTransport) -> None:
    sheet = {"file_id": "doc-1", "file_unique_id": "d1", "file_name": "2026年11月账目.xlsx", "file_size": 5432,
             "mime_type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    incoming = to_incoming(update(message=message(document=sheet, caption="资金收支")), "b")
    assert incoming is not None and incoming.document is not None and incoming.other is None
    assert (incoming.document.file_id, incoming.document.name, incoming.document.size, incoming.text) == (
        "doc-1", "2026年11月账目.xlsx", 5432, "资金收支")
    assert incoming.document.mime.endswith("spreadsheetml.sheet") and incoming.document.platform == "telegram"
    fake.files["doc-1"] = b"PK\x03\x04sheet"
    assert await transport.fetch_file("doc-1") == b"PK\x03\x04sheet"
