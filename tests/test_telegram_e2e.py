"""End to end: the real `linli run` process, on Telegram, against the fake Bot API server over HTTP.

One polling process serves most tests (each uses its own people and chats); the webhook test runs its own.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.core.types import Reply, ToGroups, ToPerson
from bot.settings import Settings
from storage.db import make_engine, make_sessionmaker, transaction
from tests.conftest import sqlite_url
from tests.fake_telegram import GROUP_ID, TELEGRAM_PEOPLE, BotProcess, FakeTelegram, link_telegram

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _copy_db(template: Path, target: Path) -> str:
    shutil.copy(template, target)
    url = sqlite_url(target)
    await link_telegram(url)
    return url


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def e2e_db(sqlite_template_db: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return await _copy_db(Path(sqlite_template_db), tmp_path_factory.mktemp("tg") / "linli.db")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram().start()
    for user_id in TELEGRAM_PEOPLE.values():  # chats Telegram knows because these people talked to the bot
        server.chats[str(user_id)] = {"id": user_id, "type": "private", "first_name": "x"}
    server.chats[str(GROUP_ID)] = server.group(GROUP_ID, "幸福里业主群")
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def bot(fake: FakeTelegram, e2e_db: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotProcess]:
    process = BotProcess(e2e_db, fake, tmp_path_factory.mktemp("run"))
    await process.start()
    yield process
    await process.stop()


def _db_rows(db_url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_url.split("///", 1)[1]) as conn:
        return conn.execute(sql, args).fetchall()


async def _enqueue(db_url: str, reply: Reply) -> None:
    """Write an outbox row the way a scheduled posting does; the running bot's outbox delivers it."""
    from bot.app import build_app

    settings = Settings(_env_file=None, database_url=db_url)  # type: ignore[call-arg]
    app = build_app(settings, engine=make_engine(db_url))
    try:
        async with transaction(make_sessionmaker(app.engine)) as session:
            target = reply.to
            assert target is not None
            assert await app.core.enqueue(session, reply, target, None, app.core.clock.now())
    finally:
        await app.close()


def _compound_id(db_url: str) -> int:
    return int(_db_rows(db_url, "select id from compound where code = 'XFL'")[0][0])


def _person_id(db_url: str, name: str) -> int:
    return int(_db_rows(db_url, "select id from person where name = ?", name)[0][0])


async def test_start_registers_command_menus(bot: BotProcess, fake: FakeTelegram) -> None:
    private_zh = [c["command"] for c in fake.commands[("all_private_chats", "zh")]]
    admins_en = {c["command"]: c["description"] for c in fake.commands[("all_chat_administrators", "en")]}
    assert "join" in private_zh and "help" in private_zh and "bindgroup" not in private_zh
    assert admins_en["bindgroup"] == "Bind this group chat to your compound"
    assert fake.commands[("all_group_chats", "zh")] and fake.commands[("all_private_chats", "")]
    zh = {c["command"]: c["description"] for c in fake.commands[("all_private_chats", "zh")]}
    assert zh["help"] != "What I can do for you"  # translated


async def test_join_with_a_shared_contact(bot: BotProcess, fake: FakeTelegram) -> None:
    liu = fake.user(2001, "刘六", "en")
    after = len(fake.calls)
    await fake.say(liu, None, "/join XFL2026")
    buildings = await fake.reply_to(2001, after)
    for label in ("3栋", "1单元", "101", "Owner"):
        after = len(fake.calls)
        await fake.press(liu, buildings, label)
        buildings = await fake.reply_to(2001, after)
    # The last step: the text with a Skip button, then the keyboard that shares the phone number.
    keyboard = await fake.wait_for(lambda c: c.chat_id == "2001" and "keyboard" in c.markup, after=after)
    assert keyboard.markup["keyboard"][0][0]["request_contact"] is True
    after = len(fake.calls)
    await fake.contact(liu, "13800000006", owner_id=4242)  # someone else's contact card
    refused = await fake.reply_to(2001, after)
    assert "your own phone number" in refused.text
    after = len(fake.calls)
    await fake.contact(liu, "13800000006")
    welcome = await fake.reply_to(2001, after)
    assert "matches the owners' roster" in welcome.text
    assert welcome.markup == {"remove_keyboard": True}
    rows = _db_rows(bot.db_url, "select m.status, m.relation from membership m join person p on p.id = m.person_id "
                                "join identity i on i.person_id = p.id where i.platform_user_id = '2001'")
    assert rows == [("approved", "owner")]


async def test_group_command_continues_privately_through_the_deep_link(bot: BotProcess, fake: FakeTelegram) -> None:
    zhang = fake.user(TELEGRAM_PEOPLE["张三"], "张三", "zh-hans")
    group = fake.chats[str(GROUP_ID)]
    after = len(fake.calls)
    await fake.say(zhang, group, "/help@some_other_bot")
    await fake.say(zhang, group, "今天电梯又坏了")  # group chatter: none of the bot's business
    await fake.say(zhang, group, f"/complain@{fake.username}")
    redirect = await fake.reply_to(GROUP_ID, after)
    assert [c for c in fake.calls[after:] if c.method == "sendmessage" and c.chat_id == str(GROUP_ID)] == [redirect]
    url = redirect.buttons[0]["url"]
    prefix = f"https://t.me/{fake.username}?start="
    assert url.startswith(prefix)
    after = len(fake.calls)
    await fake.say(zhang, None, f"/start {url[len(prefix):]}")  # what Telegram sends when the link is opened
    question = await fake.reply_to(TELEGRAM_PEOPLE["张三"], after)
    assert len(question.buttons) >= 2 and all("callback_data" in b for b in question.buttons)
    # The complaint flow is open in the private chat, not in the group.
    flows = _db_rows(bot.db_url, "select c.flow, ch.kind from conversation c join chat ch on ch.id = c.chat_id "
                                 "where c.person_id = ?", _person_id(bot.db_url, "张三"))
    assert [kind for _flow, kind in flows] == ["private"]
    # On through the flow: a category, a description, then a photo (its largest size is what is kept).
    zhang_id = TELEGRAM_PEOPLE["张三"]
    after = len(fake.calls)
    await fake.press(zhang, question, 0)
    await fake.reply_to(zhang_id, after)
    after = len(fake.calls)
    await fake.say(zhang, None, "3号楼楼道的灯坏了一个星期了，晚上很黑")
    await fake.reply_to(zhang_id, after)
    after = len(fake.calls)
    await fake.photo(zhang, None, b"\xff\xd8jpeg-bytes")
    added = await fake.reply_to(zhang_id, after)
    assert added.buttons  # "Finish photos"
    drafts = _db_rows(bot.db_url, "select draft from conversation where person_id = ?", _person_id(bot.db_url, "张三"))
    assert "big-0" in drafts[0][0] and "small-0" not in drafts[0][0]


async def test_a_stale_button_is_answered_and_refused(bot: BotProcess, fake: FakeTelegram) -> None:
    user = fake.user(2002, "Stale", "en")
    after = len(fake.calls)
    await fake.say(user, None, "/join XFL2026")
    buildings = await fake.reply_to(2002, after)
    after = len(fake.calls)
    await fake.press(user, buildings, "1栋")
    await fake.reply_to(2002, after)
    after = len(fake.calls)
    query = await fake.press(user, buildings, "2栋")  # the step has moved on
    refused = await fake.reply_to(2002, after)
    assert "no longer works" in refused.text
    answer = await fake.wait_for(lambda c: c.method == "answercallbackquery"
                                 and c.params.get("callback_query_id") == query)
    assert answer.params["text"] == "This button has expired"


async def test_markup_cannot_be_injected_and_a_429_delays_a_delivery_once(bot: BotProcess, fake: FakeTelegram) -> None:
    mal = fake.user(2003, "<b>Mal</b>", "en", last_name='<a href="http://evil.example">x</a>')
    after = len(fake.calls)
    await fake.say(mal, None, "/join <b>bold</b>")
    refused = await fake.reply_to(2003, after)
    assert "<b>bold</b>" in refused.text and refused.result["entities"] == []
    secretary = TELEGRAM_PEOPLE["王书记"]
    fake.arm("sendMessage", 429, retry_after=1, chat_id=secretary)
    after = len(fake.calls)
    await fake.say(mal, None, "XFL2026")
    step = await fake.reply_to(2003, after)
    for label in ("3栋", "2单元", "201", "Tenant", "Skip"):
        after = len(fake.calls)
        await fake.press(mal, step, label)
        step = await fake.reply_to(2003, after)
    request = await fake.wait_for(lambda c: c.chat_id == str(secretary) and c.ok and "<b>Mal</b>" in c.text)
    assert request.result["entities"] == [] and '<a href="http://evil.example">x</a>' in request.text
    to_secretary = [c for c in fake.calls if c.method == "sendmessage" and c.chat_id == str(secretary)]
    limited = [c for c in to_secretary if not c.ok]
    assert len(limited) == 1 and limited[0].error is not None and limited[0].error["parameters"] == {"retry_after": 1}
    assert [c for c in to_secretary if c.ok] == [request]  # delivered once...
    assert request.at - limited[0].at >= 0.95  # ...after the wait


async def test_a_group_posting_waits_out_a_429_and_is_edited_later(bot: BotProcess, fake: FakeTelegram) -> None:
    fake.arm("sendMessage", 429, retry_after=1, chat_id=GROUP_ID)
    after = len(fake.calls)
    await _enqueue(bot.db_url, Reply("明天 9:00-12:00 停水 <请储水>", to=ToGroups(_compound_id(bot.db_url)),
                                     posting="e2e:water"))
    posted = await fake.wait_for(lambda c: c.method == "sendmessage" and c.ok and c.chat_id == str(GROUP_ID)
                                 and "停水" in c.text, after=after)
    tries = [c for c in fake.calls[after:] if c.method == "sendmessage" and c.chat_id == str(GROUP_ID)]
    assert [c.ok for c in tries] == [False, True] and posted.at - tries[0].at >= 0.95
    assert posted.text == "明天 9:00-12:00 停水 <请储水>"
    await asyncio.sleep(0.3)  # the outbox records the delivery before an edit can find it
    await _enqueue(bot.db_url, Reply("已恢复供水", to=ToGroups(_compound_id(bot.db_url)), edit="e2e:water"))
    edit = await fake.wait_for(lambda c: c.method == "editmessagetext", after=after)
    assert int(edit.params["message_id"]) == posted.result["message_id"] and edit.ok


async def test_a_blocked_user_is_marked_unreachable_without_retries(bot: BotProcess, fake: FakeTelegram) -> None:
    li = TELEGRAM_PEOPLE["李四"]
    fake.arm("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=li, times=5)
    after = len(fake.calls)
    await _enqueue(bot.db_url, Reply("您的报修已受理", to=ToPerson(_person_id(bot.db_url, "李四"))))
    await fake.wait_for(lambda c: c.chat_id == str(li) and not c.ok, after=after)
    for _ in range(40):
        if _db_rows(bot.db_url, "select unreachable from identity where platform_user_id = ?", str(li)) == [(1,)]:
            break
        await asyncio.sleep(0.05)
    assert _db_rows(bot.db_url, "select unreachable from identity where platform_user_id = ?", str(li)) == [(1,)]
    await asyncio.sleep(1.0)  # several outbox ticks: a permanent refusal is not retried
    assert len([c for c in fake.calls[after:] if c.chat_id == str(li)]) == 1


async def test_bot_added_migrated_and_removed(bot: BotProcess, fake: FakeTelegram) -> None:
    user = fake.user(2005, "Adder", "en")
    group = fake.group(-1009000077, "3号楼群")
    after = len(fake.calls)
    await fake.bot_membership(user, group, "left", "member")
    hello = await fake.reply_to(group["id"], after)
    assert "/bindgroup" in hello.text
    # The group becomes a supergroup: Telegram's last message in the old chat names the new id.
    await fake.inject({"message": fake._message(user, group, migrate_to_chat_id=-1009000078)})
    for _ in range(100):
        rows = _db_rows(bot.db_url, "select platform_chat_id from chat where title = '3号楼群'")
        if rows == [("-1009000078",)]:
            break
        await asyncio.sleep(0.05)
    assert rows == [("-1009000078",)]
    await fake.bot_membership(user, fake.group(-1009000078, "3号楼群"), "member", "left")
    for _ in range(100):
        if _db_rows(bot.db_url, "select active from chat where title = '3号楼群'") == [(0,)]:
            break
        await asyncio.sleep(0.05)
    assert _db_rows(bot.db_url, "select active from chat where title = '3号楼群'") == [(0,)]


async def test_a_restart_keeps_the_conversation_and_the_updates(bot: BotProcess, fake: FakeTelegram) -> None:
    user = fake.user(2004, "Restart", "en")
    after = len(fake.calls)
    await fake.say(user, None, "/join XFL2026")
    buildings = await fake.reply_to(2004, after)
    assert await bot.stop() == 0  # SIGTERM: a clean shutdown
    after = len(fake.calls)
    await fake.press(user, buildings, "1栋")  # pressed while the bot is down
    await bot.start()
    units = await fake.reply_to(2004, after)
    assert "unit" in units.text.lower() and any("1单元" in b["text"] for b in units.buttons)
    assert len([c for c in fake.sent(2004) if c is units or c.at > units.at]) == 1


async def test_webhook_accepts_only_the_right_secret(
        fake: FakeTelegram, sqlite_template_db: str, tmp_path_factory: pytest.TempPathFactory, bot: BotProcess) -> None:
    await bot.stop()  # one process at a time talks to the fake
    db_url = await _copy_db(Path(sqlite_template_db), tmp_path_factory.mktemp("hook") / "linli.db")
    hook = BotProcess(db_url, fake, tmp_path_factory.mktemp("hookrun"), webhook_secret="s3cret-value")
    await hook.start()
    try:
        assert fake.webhook == {"url": hook.webhook_url, "secret_token": "s3cret-value"}
        stranger = fake.user(3002, "Intruder", "en")
        forged = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": fake.private(stranger),
                                              "from": stranger, "text": "/help"}}
        fake.chats["3002"] = fake.private(stranger)
        async with aiohttp.ClientSession() as session:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with session.post(hook.webhook_url, json=forged, headers=headers) as response:
                    assert response.status == 401
        user = fake.user(3001, "Hooked", "en")
        after = len(fake.calls)
        await fake.say(user, None, "/help")
        helped = await fake.reply_to(3001, after)
        assert "/join" in helped.text
        assert helped.webhook  # answered in the webhook's response, not by a request of the bot's
        after = len(fake.calls)
        await fake.say(stranger, None, "/cancel")
        await fake.reply_to(3002, after)
        assert len(fake.sent(3002)) == 1  # the forged /help never ran
    finally:
        assert await hook.stop() == 0
    # The access log keeps the refusals and leaves out the pushes that were taken (one line per message).
    lines = [line for line in hook.log().splitlines() if "/telegram/webhook HTTP" in line]
    assert any('" 401 ' in line for line in lines) and not any('" 200 ' in line for line in lines), lines
