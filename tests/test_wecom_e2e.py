"""End to end: the real `linli run` process against the fake WeCom on loopback, driven as people do."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import pytest_asyncio
from sqlmodel import col, select

from bot.core.types import OutMessage
from bot.transports.wecom.commands import robot_chat_id
from storage import migrate
from storage.assembly import Assembly, Ballot, BallotHistory, motions_of
from storage.compounds import Chat, Compound
from storage.conversations import ProcessedUpdate, claim_update
from storage.db import make_engine, make_sessionmaker, transaction
from storage.outbox import OutboxMessage, store_media
from storage.people import Identity, Person
from tests.conftest import _seed
from tests.fake_telegram import FakeTelegram
from tests.fake_wecom import (
    BOT_ID,
    BOT_SECRET,
    CALLBACK_AES_KEY,
    CALLBACK_TOKEN,
    CallbackClient,
    FakeWeCom,
    click,
    enter_chat,
    text,
    vote,
)

ROOT = Path(__file__).resolve().parent.parent
SECRETARY = "wangshuji"
RESIDENT = "zhangsan"
NEIGHBOUR = "lisi"
GROUP = "wrXFLgroup"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def link_identities(db_url: str) -> None:
    """王书记 uses WeCom as `wangshuji`; the demo group is also a WeCom group the bot is in."""
    engine = make_engine(db_url)
    async with transaction(make_sessionmaker(engine)) as session:
        compound = (await session.exec(select(Compound).where(Compound.code == "XFL"))).one()
        for name, userid in (("王书记", SECRETARY), ("张三", RESIDENT), ("李四", NEIGHBOUR)):
            person = (await session.exec(select(Person).where(Person.name == name))).one()
            assert person.id is not None
            session.add(Identity(person_id=person.id, platform="wecom", platform_user_id=userid,
                                 private_chat_id=userid))
        session.add(Chat(platform="wecom", platform_chat_id=GROUP, kind="group", title="幸福里业主群(企业微信)",
                         compound_id=compound.id))
    await engine.dispose()


@dataclass
class Linli:
    process: asyncio.subprocess.Process
    port: int
    log_path: Path

    @property
    def callback_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/wecom/callback"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


async def start_linli(db_url: str, fake: FakeWeCom, workdir: Path, **env: str) -> Linli:
    port = free_port()
    environment = {
        "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "DATABASE_URL": db_url,
        "HTTP_PORT": str(port), "HTTP_HOST": "127.0.0.1", "DEMO": "false", "LOG_LEVEL": "INFO",
        "OUTBOX_TICK_SECONDS": "0.2", "SCHEDULER_TICK_SECONDS": "3600",
        # Quiet hours would hold the owners' notices when the suite runs at night (Shanghai time).
        "NOTIFICATION_BUDGET": "false",
        "WECOM_API_BASE_URL": fake.base_url, **env,
    }
    log_path = workdir / "linli.log"
    handle = log_path.open("wb")
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=workdir,
                                                   env=environment, stdout=handle, stderr=handle)
    linli = Linli(process, port, log_path)
    async with aiohttp.ClientSession() as session:
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            if process.returncode is not None:
                raise AssertionError("linli run exited:\n" + linli.log())
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("linli run did not start:\n" + linli.log())
    return linli


async def stop_linli(linli: Linli) -> None:
    if linli.process.returncode is None:
        linli.process.terminate()
        try:
            await asyncio.wait_for(linli.process.wait(), 10)
        except TimeoutError:
            linli.process.kill()
            await linli.process.wait()


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def db_url(template_db: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One database for the module's one `linli run` process (each test uses people of its own)."""
    path = tmp_path_factory.mktemp("wecom") / "linli.db"
    if Path(template_db).exists():
        shutil.copy(template_db, path)
        return f"sqlite+aiosqlite:///{path}"
    url = f"sqlite+aiosqlite:///{path}"  # the suite runs on PostgreSQL: this module keeps to SQLite
    migrate.upgrade(url)
    asyncio.run(_seed(url))
    return url


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def fake() -> AsyncIterator[FakeWeCom]:
    server = await FakeWeCom(robot_limit=3, robot_window=1.0).start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram().start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def linli(db_url: str, fake: FakeWeCom, telegram: FakeTelegram,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Linli]:
    """The real process with every WeCom channel at once (long connection, HTTP callback, robots, contact),
    and Telegram beside them."""
    await link_identities(db_url)
    process = await start_linli(db_url, fake, tmp_path_factory.mktemp("run"), WECOM_BOT_ID=BOT_ID,
                                WECOM_BOT_SECRET=BOT_SECRET, WECOM_WS_URL=fake.ws_url, WECOM_ROBOT_PER_MINUTE="240",
                                WECOM_CORP_ID="wwcorp", WECOM_CONTACT_SECRET="contact-secret",
                                WECOM_CALLBACK_TOKEN=CALLBACK_TOKEN, WECOM_CALLBACK_AES_KEY=CALLBACK_AES_KEY,
                                TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_API_BASE_URL=telegram.url)
    await fake.wait_for(lambda: fake.authenticated >= 1, timeout=30)
    yield process
    await stop_linli(process)


async def say(fake: FakeWeCom, body: dict[str, Any], chat: str, event: bool = False) -> list[Any]:
    before = len(fake.in_chat(chat))
    await fake.push(body, event=event)
    return await fake.wait_seen(chat, before)


async def press(fake: FakeWeCom, user: str, label: str, chat: str | None = None) -> list[Any]:
    where = chat or user
    card = fake.last_card(where)
    before = len(fake.in_chat(user))
    # A vote card (choices too long for buttons) is answered by choosing the option and submitting it.
    chosen = vote if card["card_type"] == "vote_interaction" else click
    await fake.push(chosen(user, card, label, chat=chat), event=True)
    await fake.wait_for(lambda: any(s.kind != "update" for s in fake.in_chat(user)[before:]))
    await asyncio.sleep(0.1)
    return fake.in_chat(user)[before:]


async def test_join_in_a_single_chat_and_the_secretary_approves_in_hers(fake: FakeWeCom, linli: Linli) -> None:
    newbie = "zhaoliu"
    shown = await say(fake, text(newbie, "/join XFL2026"), newbie)
    assert any(s.kind == "card" for s in shown), shown
    buildings = fake.last_card(newbie)
    await press(fake, newbie, buildings["button_list"][-1]["text"])
    # The pressed card is updated to show the choice, with no live buttons left.
    update = next(s for s in fake.in_chat(newbie) if s.kind == "update")
    assert update.card is not None and update.card["task_id"] == buildings["task_id"]
    assert update.card["button_list"][0]["key"] == "spent"
    # Pressing the old card again is a stale press: said so politely, and the conversation is not disturbed.
    before = len(fake.in_chat(newbie))
    await fake.push(click(newbie, update.card, update.card["button_list"][0]["text"]), event=True)
    await fake.wait_for(lambda: "失效" in " ".join(s.text for s in fake.in_chat(newbie)[before:]))
    await press(fake, newbie, fake.last_card(newbie)["button_list"][-1]["text"])  # the unit
    await press(fake, newbie, fake.last_card(newbie)["button_list"][-1]["text"])  # the room
    await press(fake, newbie, "租户")
    phone_step = fake.text_of(newbie)
    # No contact button in WeCom: an honest hint instead, and a typed number approves nobody by itself.
    assert "分享我的手机号" not in fake.last_card(newbie)["button_list"].__repr__()
    assert "企业微信无法用按钮分享手机号" in phone_step
    before_secretary = len(fake.in_chat(SECRETARY))
    await say(fake, text(newbie, "13912345678"), newbie)
    await fake.wait_seen(SECRETARY, before_secretary)
    approval = fake.last_card(SECRETARY)
    assert "通过" in [b["text"] for b in approval["button_list"]]
    assert "13912345678" in fake.text_of(SECRETARY) or "13912345678" in str(approval)
    before_newbie = len(fake.in_chat(newbie))
    await fake.push(click(SECRETARY, approval, "通过"), event=True)
    await fake.wait_seen(newbie, before_newbie)
    assert "好消息" in fake.text_of(newbie)


async def test_a_dropped_long_connection_reconnects_and_the_conversation_continues(
        fake: FakeWeCom, linli: Linli) -> None:
    newbie = "qianqi"
    await say(fake, text(newbie, "/join XFL2026"), newbie)
    buildings = fake.last_card(newbie)
    await fake.drop()
    await fake.wait_for(lambda: fake.authenticated >= 2, timeout=15)
    before = len(fake.in_chat(newbie))
    await fake.push(click(newbie, buildings, buildings["button_list"][0]["text"]), event=True)
    await fake.wait_for(lambda: any(s.kind == "card" for s in fake.in_chat(newbie)[before:]))
    assert "dropped" in linli.log() or "closed" in linli.log()


async def test_url_check_forged_and_replayed_callbacks(fake: FakeWeCom, linli: Linli, db_url: str) -> None:
    client = CallbackClient(linli.callback_url)
    status, echo = await client.verify_url("echo-123")
    assert (status, echo) == (200, "echo-123")
    forged = CallbackClient(linli.callback_url, token="not-the-token")
    assert (await forged.verify_url())[0] == 403

    body = text(SECRETARY, "/help", response_url=fake.response_url(SECRETARY))
    status, reply = await client.send(body)
    assert status == 200 and reply is not None and reply["msgtype"] in ("stream", "stream_with_template_card")
    assert reply["stream"]["finish"] is True and "/" in reply["stream"]["content"]

    query, data = client.envelope(body)
    status, _ = await client.post_raw(query, data)
    assert status == 409  # the same msgid again: refused, not processed

    forged_body = text("mallory", "/join XFL2026")
    query, data = forged.envelope(forged_body)
    assert (await forged.post_raw(query, data))[0] == 403
    query, data = client.envelope(forged_body)
    assert (await client.post_raw({**query, "msg_signature": "0" * 40}, data))[0] == 403
    assert (await client.post_raw({}, data))[0] == 403
    assert (await client.post_raw(query, b'{"encrypt": 5}'))[0] in (400, 403)
    # Signed correctly but not decryptable with our key.
    other = CallbackClient(linli.callback_url, aes_key="Z" * 43)
    query, data = other.envelope(text("mallory", "/join XFL2026"))
    assert (await client.post_raw(query, data))[0] == 400

    log = linli.log()
    assert "replayed; refused" in log and "bad signature refused" in log and "does not decrypt refused" in log
    # Nothing refused reached the core: the forger never became a person.
    engine = make_engine(db_url)
    async with make_sessionmaker(engine)() as session:
        forger = (await session.exec(select(Identity).where(Identity.platform_user_id == "mallory"))).first()
    await engine.dispose()
    assert forger is None


async def test_complaint_after_an_mention_in_a_group_continues_in_the_single_chat(
        fake: FakeWeCom, linli: Linli) -> None:
    shown = await say(fake, text(RESIDENT, "@邻里 /complain", chat=GROUP), GROUP)
    card = fake.last_card(GROUP)
    assert any(b["key"].startswith("dl:") for b in card["button_list"]), shown
    # No deep links in WeCom: the press makes the bot write to the person in their single chat.
    before = len(fake.in_chat(RESIDENT))
    await fake.push(click(RESIDENT, card, card["button_list"][0]["text"], chat=GROUP), event=True)
    await fake.wait_seen(RESIDENT, before)
    assert fake.in_chat(RESIDENT)[before:], "nothing arrived in the single chat"
    assert any(s.kind == "update" for s in fake.in_chat(GROUP))
    # Plain words after an @mention reach the bot too, with the mention stripped.
    await say(fake, text(RESIDENT, "@邻里 /help", chat=GROUP), GROUP)
    assert "/" in fake.text_of(GROUP) or fake.last_card(GROUP)


async def test_group_robot_postings_are_paced_retried_and_delivered_once(
        fake: FakeWeCom, linli: Linli, db_url: str) -> None:
    key = "robot-693a91f6-7xxx"
    shown = await say(fake, text(SECRETARY, f"/bindwebhook {key} 幸福里公告群"), SECRETARY)
    assert key not in " ".join(s.text for s in shown)  # never shown again
    chat_id = robot_chat_id(key)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    async with sessions() as session:
        chat = (await session.exec(select(Chat).where(Chat.platform_chat_id == chat_id))).one()
        assert chat.secrets["webhook_key"] == key and chat.compound_id is not None
    poster = bytes.fromhex("89504e470d0a1a0a") + b"poster" * 50
    count = 8
    async with transaction(sessions) as session:
        media_id = await store_media(session, poster, "image/png", "poster.png")
        xlsx_id = await store_media(session, b"PK\x03\x04xlsx", "application/vnd.ms-excel", "红黑榜.xlsx")
        for i in range(count):
            payload = OutMessage(f"公告 {i}：本周六上午清理楼道").to_payload()
            if i == 0:
                payload.update(media_id=media_id, media_kind="image")
            if i == 1:
                payload.update(media_id=xlsx_id, media_kind="document")
            session.add(OutboxMessage(platform="wecom", chat_id=chat_id, chat_kind="group",
                                      compound_id=chat.compound_id, payload=payload))
        session.add(OutboxMessage(platform="wecom", chat_id=GROUP, chat_kind="group", compound_id=chat.compound_id,
                                  payload=OutMessage("群里的公告").to_payload()))
    def markdown_posts() -> int:
        robot = fake.robots.get(key)
        return 0 if robot is None else [p["msgtype"] for p in robot.posts].count("markdown")

    await fake.wait_for(lambda: markdown_posts() >= count, timeout=30)
    await asyncio.sleep(0.5)
    found = fake.robots.get(key)
    assert found is not None
    texts = [p["markdown"]["content"] for p in found.posts if p["msgtype"] == "markdown"]
    assert sorted(texts) == sorted(f"公告 {i}：本周六上午清理楼道" for i in range(count))  # each exactly once
    assert [p["msgtype"] for p in found.posts].count("image") == 1
    files = [p for p in found.posts if p["msgtype"] == "file"]
    assert len(files) == 1 and fake.media[files[0]["file"]["media_id"]].startswith(b"PK")
    # Paced to WECOM_ROBOT_PER_MINUTE=240 (one row every 0.25 s), not fired at once.
    assert found.times[-1] - found.times[0] >= (count - 1) * 0.25 * 0.8
    assert found.refused >= 1  # past the robot's limit: 45009, waited and retried
    # The bot's own group gets its posting through aibot_send_msg.
    await fake.wait_for(lambda: "群里的公告" in fake.text_of(GROUP))
    async with sessions() as session:
        rows = (await session.exec(select(OutboxMessage).where(
            col(OutboxMessage.chat_id).in_([chat_id, GROUP])))).all()
    await engine.dispose()
    assert {r.state for r in rows} == {"delivered"}


async def test_a_customer_group_announcement_waits_for_staff_confirmation(
        fake: FakeWeCom, linli: Linli, db_url: str) -> None:
    await say(fake, text(SECRETARY, f"/bindcustomergroups {SECRETARY}"), SECRETARY)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)

    async def post(words: str) -> None:
        async with transaction(sessions) as session:
            chat = (await session.exec(select(Chat).where(Chat.platform_chat_id.startswith("customer:")))).one()
            assert chat.secrets["sender"] == SECRETARY
            session.add(OutboxMessage(platform="wecom", chat_id=chat.platform_chat_id, chat_kind="group",
                                      compound_id=chat.compound_id, payload=OutMessage(words).to_payload()))

    before = len(fake.in_chat(SECRETARY))
    await post("本周六上午九点召开业主大会，请准时参加。")
    await fake.wait_for(lambda: len(fake.templates) == 1)
    assert fake.templates[0]["chat_type"] == "group" and fake.templates[0]["sender"] == SECRETARY
    assert "业主大会" in fake.templates[0]["text"]["content"]
    await fake.wait_seen(SECRETARY, before)
    assert "客户群群发" in fake.text_of(SECRETARY)  # she is told what to confirm
    tokens = fake.tokens_issued
    fake.tokens_issued += 1  # the cached token expires on WeCom's side: 42001, a fresh token, one retry
    await post("红黑榜已更新。")
    await fake.wait_for(lambda: len(fake.templates) == 2)
    assert fake.tokens_issued == tokens + 2
    await asyncio.sleep(0.3)
    async with sessions() as session:
        rows = (await session.exec(select(OutboxMessage).where(
            OutboxMessage.chat_id.startswith("customer:")))).all()
    await engine.dispose()
    assert [r.state for r in rows] == ["waiting_confirm", "waiting_confirm"]


async def test_a_conversation_over_the_http_callback(fake: FakeWeCom, linli: Linli) -> None:
    client = CallbackClient(linli.callback_url)
    newbie = "sunba"
    status, reply = await client.send(text(newbie, "/join XFL2026", response_url=fake.response_url(newbie)))
    assert status == 200 and reply is not None and "template_card" in reply
    card = reply["template_card"]
    assert card["card_type"] == "button_interaction" and card["button_list"]
    status, update = await client.send(click(newbie, card, card["button_list"][0]["text"],
                                             response_url=fake.response_url(newbie)))
    # A press answers by updating the pressed card; the next question comes once through response_url.
    assert status == 200 and update is not None and update["response_type"] == "update_template_card"
    assert update["template_card"]["task_id"] == card["task_id"]
    await fake.wait_for(lambda: bool(fake.response_posts))
    chat, posted = fake.response_posts[0]
    assert chat == newbie and posted["msgtype"] in ("template_card", "markdown")


async def test_over_the_http_callback_a_group_flow_waits_for_the_single_chat(
        fake: FakeWeCom, linli: Linli) -> None:
    client = CallbackClient(linli.callback_url)
    person = NEIGHBOUR
    status, reply = await client.send(text(person, "@邻里 /complain", chat=GROUP,
                                           response_url=fake.response_url(GROUP)))
    assert status == 200 and reply is not None and "template_card" in reply
    card = reply["template_card"]
    private = next(b for b in card["button_list"] if b["key"].startswith("dl:"))
    status, update = await client.send(click(person, card, private["text"], chat=GROUP,
                                             response_url=fake.response_url(GROUP)))
    assert status == 200 and update is not None and update["response_type"] == "update_template_card"
    # The HTTP channel cannot write first: the group is told to continue in a single chat...
    await fake.wait_for(lambda: "单聊" in fake.text_of(GROUP))
    # ...and the flow is waiting there: the person's first words in the single chat continue it.
    status, reply = await client.send(text(person, "你好", response_url=fake.response_url(person)))
    assert status == 200 and reply is not None
    assert "请问是哪方面的问题" in json.dumps(reply, ensure_ascii=False), reply


async def test_entering_the_single_chat_gets_the_welcome_menu(fake: FakeWeCom, linli: Linli) -> None:
    before = len(fake.frames)
    shown = await say(fake, enter_chat("zhouyi"), "zhouyi", event=True)
    welcome = [f for f in fake.frames[before:] if f.get("cmd") == "aibot_respond_welcome_msg"]
    assert welcome, fake.frames[before:]
    assert welcome[0]["body"]["msgtype"] in ("text", "template_card")
    assert shown and (shown[0].text or shown[0].labels)


async def test_telegram_and_wecom_run_side_by_side(fake: FakeWeCom, telegram: FakeTelegram, linli: Linli) -> None:
    person = telegram.user(3101, "周二")
    after = len(telegram.calls)
    await telegram.say(person, None, "/help")
    assert (await telegram.reply_to(3101, after)).text
    shown = await say(fake, text("zhouer", "/help"), "zhouer")
    assert shown and shown[0].text


async def test_voting_by_card_clicks_and_a_stale_card_changes_nothing(
        fake: FakeWeCom, linli: Linli, db_url: str) -> None:
    """The secretary opens an assembly in her single chat; an owner votes by pressing cards; old cards (after
    the ballot was cast, and after the close) get a polite refusal and leave the ballot as it was."""
    voter = "chenayi"  # 陈阿姨 owns 2栋1单元102; a WeCom identity of her own, so no other test's flow is in the way
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    async with transaction(sessions) as session:
        person = (await session.exec(select(Person).where(Person.name == "陈阿姨"))).one()
        assert person.id is not None
        session.add(Identity(person_id=person.id, platform="wecom", platform_user_id=voter, private_chat_id=voter))
    # The secretary's conversation, all by text and card presses.
    await say(fake, text(SECRETARY, "/cancel"), SECRETARY)
    await say(fake, text(SECRETARY, "/assembly"), SECRETARY)
    await say(fake, text(SECRETARY, "2026年企业微信业主大会"), SECRETARY)
    await say(fake, text(SECRETARY, "选聘新的物业服务企业"), SECRETARY)
    # The Civil Code's nine classes, whole on a vote card; the suggested one is ticked.
    classes = fake.last_card(SECRETARY)["checkbox"]["option_list"]
    suggested = next(o["text"] for o in classes if o["text"].startswith("✓"))
    await press(fake, SECRETARY, suggested)
    await press(fake, SECRETARY, "事项录入完毕")
    await press(fake, SECRETARY, "立即开始")
    closes = (datetime.now(UTC) + timedelta(days=2)).astimezone(ZoneInfo("Asia/Shanghai"))
    await say(fake, text(SECRETARY, f"{closes:%Y-%m-%d %H:%M}"), SECRETARY)
    await press(fake, SECRETARY, "确认并发起")
    async with sessions() as session:
        assembly = (await session.exec(select(Assembly).where(Assembly.title == "2026年企业微信业主大会"))).one()
        assert assembly.status == "open" and assembly.id is not None
        [motion] = await motions_of(session, assembly.id)
    # Every owner is told privately, with a Vote card; the owner votes by pressing cards.
    await fake.wait_for(lambda: any(s.kind == "card" and "投票" in s.labels for s in fake.in_chat(voter)))
    assert "业主大会" in fake.text_of(voter)
    notice = fake.last_card(voter)
    await press(fake, voter, "投票")
    ballot_card = fake.last_card(voter)
    assert ballot_card["button_list"] and [b["text"] for b in ballot_card["button_list"]] == ["同意", "反对", "弃权"]
    await press(fake, voter, "同意")
    summary = fake.last_card(voter)
    assert "提交" in [b["text"] for b in summary["button_list"]]
    shown = await press(fake, voter, "提交")
    assert "表决票已记录" in " ".join(s.text for s in shown), shown
    # The pressed card was updated in place to show the choice.
    assert any(s.kind == "update" and s.card and s.card["task_id"] == summary["task_id"] for s in shown)

    async def ballots() -> list[tuple[Any, ...]]:
        async with sessions() as session:
            rows = (await session.exec(select(Ballot).where(Ballot.assembly_id == assembly.id))).all()
            history = (await session.exec(select(BallotHistory).where(
                BallotHistory.assembly_id == assembly.id))).all()
            return [(b.room_id, b.choices, b.paper, b.version, len(history)) for b in rows]

    recorded = await ballots()
    assert len(recorded) == 1 and recorded[0][1] == {str(motion.id): "yes"} and recorded[0][2:] == (False, 1, 0)

    async def press_stale(card: dict[str, Any], label: str) -> str:
        before = len(fake.in_chat(voter))
        await fake.push(click(voter, card, label), event=True)
        await fake.wait_for(lambda: any(s.kind != "update" for s in fake.in_chat(voter)[before:]))
        await asyncio.sleep(0.2)
        return " ".join(s.text for s in fake.in_chat(voter)[before:])

    # The old ballot card (its step has moved on) and the spent Submit card: refused, nothing recorded.
    assert "失效" in await press_stale(ballot_card, "反对")
    spent = next(s.card for s in fake.in_chat(voter) if s.kind == "update" and s.card
                 and s.card["task_id"] == summary["task_id"])
    assert "失效" in await press_stale(spent, spent["button_list"][0]["text"])
    assert await ballots() == recorded
    # After the close (the window's end has passed), the Vote card from the notice gets the closing notice.
    async with transaction(sessions) as session:
        closing = await session.get(Assembly, assembly.id)
        assert closing is not None
        closing.closes_at = datetime.now(UTC) - timedelta(minutes=1)
        session.add(closing)
    assert "截止" in await press_stale(notice, "投票")
    assert await ballots() == recorded
    await engine.dispose()


async def test_a_replay_handled_by_another_process_is_refused(fake: FakeWeCom, linli: Linli, db_url: str) -> None:
    """Several processes may serve the callback (PostgreSQL, `linli run --workers`): a msgid that another
    process's core has already handled is refused here too, and not processed again."""
    client = CallbackClient(linli.callback_url)
    body = text("replayer", "/join XFL2026", response_url=fake.response_url("replayer"))
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    async with transaction(sessions) as session:  # what the other process's core wrote when it handled it
        assert await claim_update(session, "wecom", body["msgid"], datetime.now(UTC))
    status, _ = await client.send(body)
    assert status == 409
    async with sessions() as session:
        replayer = (await session.exec(select(Identity).where(Identity.platform_user_id == "replayer"))).first()
    assert replayer is None  # never reached the core
    # A fresh message is handled, and its claim is what the next process would see: a replay of it anywhere
    # is refused.
    fresh = text("replayer", "/help", response_url=fake.response_url("replayer"))
    status, reply = await client.send(fresh)
    assert status == 200 and reply is not None
    async with sessions() as session:
        claimed = await session.get(ProcessedUpdate, ("wecom", fresh["msgid"]))
    await engine.dispose()
    assert claimed is not None
    query, data = client.envelope(fresh)
    assert (await client.post_raw(query, data))[0] == 409
