"""微信客服 through the app: the fake 微信客服 over real HTTP (encrypted callbacks, sync_msg paging, send_msg with
its window and budget), the transport, the core and the outbox on a frozen clock."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from sqlmodel import col, select

from bot.app import App, build_app, make_web_app
from bot.core.clock import Clock
from bot.core.types import OutButton, OutMessage, Reply, ToPerson
from bot.settings import Settings
from bot.transports.wechat import WeChatTransport
from bot.transports.wechat.convert import LABEL_LIMIT, MENU_ITEMS, fit, fit_label, render
from storage import wechat as store
from storage.conversations import ProcessedUpdate
from storage.db import transaction
from storage.outbox import OutboxMessage
from storage.people import Identity, Person
from tests.conftest import START
from tests.fake_wecom_kf import (
    CALLBACK_AES_KEY,
    CALLBACK_TOKEN,
    CORP_ID,
    OPEN_KFID,
    SECRET,
    FakeKf,
)

RESIDENT = "wmResidentA"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Bot:
    app: App
    transport: WeChatTransport
    kf: FakeKf

    async def person(self, user: str) -> int:
        async with self.app.core.sessions() as session:
            identity = (await session.exec(select(Identity).where(Identity.platform == "wechat",
                                                                  Identity.platform_user_id == user))).one()
            return identity.person_id

    async def notify(self, user: str, text: str) -> None:
        """A notice nobody asked for (a reminder from a job), through the outbox."""
        person = await self.person(user)
        async with transaction(self.app.core.sessions) as session:
            await self.app.core.enqueue(session, Reply(text, to=ToPerson(person)), ToPerson(person), None,
                                        self.app.core.clock.now())
        self.app.core.on_outbox()

    async def rows(self, user: str) -> list[OutboxMessage]:
        async with self.app.core.sessions() as session:
            return list((await session.exec(select(OutboxMessage).where(OutboxMessage.chat_id == user)
                                            .order_by(OutboxMessage.id))).all())

    async def advance(self, hours: float) -> None:
        self.app.core.clock.advance(timedelta(hours=hours))
        self.kf.advance(hours)


def kf_settings(db_url: str, base_url: str, **extra: object) -> Settings:
    return Settings(_env_file=None, database_url=db_url, wecom_api_base_url=base_url,  # type: ignore[call-arg]
                    wechat_kf_corp_id=CORP_ID, wechat_kf_secret=SECRET, wechat_kf_callback_token=CALLBACK_TOKEN,
                    wechat_kf_callback_aes_key=CALLBACK_AES_KEY, wechat_kf_open_kfid=OPEN_KFID,
                    outbox_tick_seconds=0.1, **extra)


@pytest.fixture
async def bot(db_url: str) -> AsyncIterator[Bot]:
    kf = await FakeKf().start()
    settings = kf_settings(db_url, kf.base_url)
    transport = WeChatTransport(settings)
    app = build_app(settings, clock=Clock(START, frozen=True), transports=[transport])
    runner = web.AppRunner(make_web_app(app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    kf.callback_url = f"http://127.0.0.1:{port}/wechat/callback"
    await transport.start(app.core)
    stop = asyncio.Event()
    worker = asyncio.create_task(app.worker.run(stop))
    yield Bot(app, transport, kf)
    stop.set()
    await worker
    await transport.stop()
    await runner.cleanup()
    await app.close()
    await kf.stop()


async def test_url_check_and_forged_callbacks(bot: Bot) -> None:
    status, echo = await bot.kf.verify_url("hello-kf")
    assert (status, echo) == (200, "hello-kf")
    query, data, _ = bot.kf.envelope()
    import aiohttp

    async with aiohttp.ClientSession() as session:
        forged = dict(query, msg_signature="0" * 40)
        async with session.post(bot.kf.callback_url, params=forged, data=data) as resp:
            assert resp.status == 403
        old = bot.kf.envelope(stamped=1_000_000)
        async with session.post(bot.kf.callback_url, params=old[0], data=old[1]) as resp:
            assert resp.status == 403
    assert bot.kf.syncs == []  # nothing was pulled for a forged or stale callback


async def test_a_text_is_pulled_with_the_token_and_answered_by_send_msg(bot: Bot) -> None:
    shown = await bot.kf.said(RESIDENT, "/start")
    assert "/join" in shown[0].text  # the welcome of someone who has not joined
    assert bot.kf.syncs[0]["token"] in bot.kf.tokens and bot.kf.syncs[0]["open_kfid"] == OPEN_KFID
    async with bot.app.core.sessions() as session:
        assert await store.cursor_of(session, OPEN_KFID) == "1"
        assert await session.get(ProcessedUpdate, ("wechat", bot.kf.messages[0]["msgid"])) is not None


async def test_pages_are_pulled_while_has_more_and_each_message_is_handled_once(bot: Bot) -> None:
    bot.kf.page = 2
    for n in range(5):
        await bot.kf.say(f"wmPage{n}", "/help", notify=False)
    await bot.kf.notify()
    await bot.kf.wait_for(lambda: len({s.user for s in bot.kf.sent}) == 5)
    assert [s.get("cursor", "") for s in bot.kf.syncs] == ["", "2", "4"]
    answered = len(bot.kf.sent)
    await bot.kf.notify()  # a second callback with nothing new: nothing is handled twice
    await asyncio.sleep(0.5)
    assert len(bot.kf.sent) == answered
    async with bot.app.core.sessions() as session:
        assert await store.cursor_of(session, OPEN_KFID) == "5"


async def test_a_restarted_pull_skips_what_was_handled(bot: Bot) -> None:
    await bot.kf.said(RESIDENT, "/help")
    answered = len(bot.kf.sent)
    async with transaction(bot.app.core.sessions) as session:  # the cursor as if the process died before saving it
        await store.save_cursor(session, OPEN_KFID, "")
    await bot.kf.notify()
    await asyncio.sleep(0.5)
    assert len(bot.kf.sent) == answered


async def test_voice_asks_to_type(bot: Bot) -> None:
    before = len(bot.kf.to(RESIDENT))
    await bot.kf.send_voice(RESIDENT)
    shown = await bot.kf.wait_sent(RESIDENT, before)
    assert "打字" in shown[0].text or "输入" in shown[0].text


def test_long_lists_become_several_menus_and_labels_are_never_cut_inside_a_word() -> None:
    buttons = tuple((OutButton(f"{n}栋", "callback", f"tok{n:08d}"),) for n in range(25))
    bodies = render(OutMessage("选择楼栋", buttons))
    menus = [b for b in bodies if isinstance(b, dict) and b["msgtype"] == "msgmenu"]
    assert [len(m["msgmenu"]["list"]) for m in menus] == [MENU_ITEMS, MENU_ITEMS, 5]
    assert menus[0]["msgmenu"]["head_content"] == "选择楼栋"
    long = "Approve the request of the owner of room 1502 in building 3 " * 3
    label = fit_label(long)
    assert len(label.encode()) <= LABEL_LIMIT and label.endswith("…")
    assert long.startswith(label[:-1].rstrip()) and long[len(label[:-1].rstrip())] == " "
    # Replies fitted into the budget: texts and menus merged.
    many = [b for n in range(4) for b in render(OutMessage(f"第{n}条", ((OutButton("好", "callback", f"t{n}"),),)))]
    assert len(fit(many + render(OutMessage("尾")), 2)) <= 2


async def test_join_by_link_greets_with_the_welcome_code_and_menu_clicks_are_presses(bot: Bot) -> None:
    newbie = "wmNewbie"
    await bot.kf.enter(newbie, scene_param="XFL2026")
    await bot.kf.wait_for(lambda: bool(bot.kf.to(newbie)))
    welcome = bot.kf.to(newbie)[0]
    assert welcome.via == "welcome" and welcome.body["msgtype"] == "msgmenu"
    assert "幸福里" in welcome.text and "1栋" in welcome.labels  # straight into the join flow, at the building
    await bot.kf.clicked(newbie, welcome.labels[0])
    shown = await bot.kf.clicked(newbie, bot.kf.to(newbie)[-1].labels[0])  # a unit or a room
    while "业主" not in shown[-1].labels and "租户" not in shown[-1].labels:
        shown = await bot.kf.clicked(newbie, shown[-1].labels[0])
    shown = await bot.kf.clicked(newbie, "租户")
    assert "微信里无法用按钮分享手机号" in shown[-1].text  # the phone step: no contact button here
    shown = await bot.kf.clicked(newbie, "跳过")
    assert "等待书记审核" in bot.kf.text_to(newbie) or "审核" in shown[-1].text
    stale = await bot.kf.clicked(newbie, "跳过")  # the same item again: a stale press, answered politely
    assert "不再有效" in stale[-1].text or "失效" in stale[-1].text
    assert bot.kf.refused == []


async def test_a_reminder_waits_for_the_window_and_is_delivered_once(bot: Bot) -> None:
    await bot.kf.said(RESIDENT, "/help")
    await bot.notify(RESIDENT, "提醒：明天上午9点业主大会投票截止")
    await bot.kf.wait_for(lambda: "投票截止" in bot.kf.text_to(RESIDENT))  # inside the window: at once
    await bot.advance(49)
    await bot.notify(RESIDENT, "提醒：周六上午打扫楼道")
    await asyncio.sleep(0.6)
    assert "打扫楼道" not in bot.kf.text_to(RESIDENT)
    assert bot.kf.refused == []  # nothing was sent into a refusal
    shown = await bot.kf.said(RESIDENT, "你好")
    assert shown[0].text.startswith("您有 1 条新通知") and "查看通知" in shown[0].labels
    await asyncio.sleep(0.4)
    assert "打扫楼道" not in bot.kf.text_to(RESIDENT)  # held until asked for
    await bot.kf.clicked(RESIDENT, "查看通知")
    await bot.kf.wait_for(lambda: "打扫楼道" in bot.kf.text_to(RESIDENT))
    await bot.kf.notify()
    await asyncio.sleep(0.4)
    assert bot.kf.text_to(RESIDENT).count("打扫楼道") == 1
    assert [row.state for row in await bot.rows(RESIDENT)] == ["delivered", "delivered"]


async def test_the_budget_of_five_is_never_exceeded_and_the_rest_waits_in_order(bot: Bot) -> None:
    await bot.kf.said(RESIDENT, "/help")
    used = len(bot.kf.to(RESIDENT))
    for n in range(7):
        await bot.notify(RESIDENT, f"通知{n}")
    await bot.kf.wait_for(lambda: len(bot.kf.to(RESIDENT)) == 5)
    await asyncio.sleep(0.5)
    texts = [s.text for s in bot.kf.to(RESIDENT)[used:]]
    assert texts == [f"通知{n}" for n in range(5 - used)] and bot.kf.refused == []
    shown = await bot.kf.said(RESIDENT, "好的")
    assert shown[0].text.startswith(f"您有 {7 - (5 - used)} 条新通知")
    await bot.kf.clicked(RESIDENT, "查看通知")
    await bot.kf.wait_for(lambda: "通知6" in bot.kf.text_to(RESIDENT))
    later = [s.text for s in bot.kf.to(RESIDENT) if s.text.startswith("通知")]
    assert later == [f"通知{n}" for n in range(7)]


async def test_asking_for_a_person_hands_over_and_the_bot_stays_silent_until_it_comes_back(db_url: str) -> None:
    kf = await FakeKf().start()
    settings = kf_settings(db_url, kf.base_url, wechat_kf_servicer="wangshuji")
    transport = WeChatTransport(settings)
    app = build_app(settings, clock=Clock(START, frozen=True), transports=[transport])
    runner = web.AppRunner(make_web_app(app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    kf.callback_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/wechat/callback"  # type: ignore
    await transport.start(app.core)
    try:
        shown = await kf.said(RESIDENT, "人工")
        assert "转接" in shown[0].text
        assert kf.transfers[-1]["service_state"] == 3 and kf.transfers[-1]["servicer_userid"] == "wangshuji"
        before = len(kf.to(RESIDENT))
        await kf.say(RESIDENT, "/help")
        await asyncio.sleep(0.6)
        assert len(kf.to(RESIDENT)) == before and kf.refused == []  # the person answers, not the bot
        await kf.end_session(RESIDENT)
        shown = await kf.said(RESIDENT, "/help")
        assert shown and "/join" in kf.text_to(RESIDENT)
    finally:
        await transport.stop()
        await runner.cleanup()
        await app.close()
        await kf.stop()


async def test_msg_send_fail_puts_the_notice_back_for_the_next_window(bot: Bot) -> None:
    await bot.kf.said(RESIDENT, "/help")
    await bot.notify(RESIDENT, "提醒：停水通知")
    await bot.kf.wait_for(lambda: "停水" in bot.kf.text_to(RESIDENT))
    failed = next(s for s in bot.kf.to(RESIDENT) if "停水" in s.text)
    await bot.kf.event(RESIDENT, "msg_send_fail", fail_msgid=failed.msgid, fail_type=4)
    await asyncio.sleep(0.5)
    assert [row.state for row in await bot.rows(RESIDENT)] == ["pending"]
    shown = await bot.kf.said(RESIDENT, "在吗")
    assert shown[0].text.startswith("您有 1 条新通知")


async def test_wechat_link_prints_the_link_with_the_invite_code_and_writes_a_qr(db_url: str, tmp_path: Path) -> None:
    kf = await FakeKf().start()
    try:
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "DATABASE_URL": db_url,
               "WECOM_API_BASE_URL": kf.base_url, "WECHAT_KF_CORP_ID": CORP_ID, "WECHAT_KF_SECRET": SECRET,
               "WECHAT_KF_CALLBACK_TOKEN": CALLBACK_TOKEN, "WECHAT_KF_CALLBACK_AES_KEY": CALLBACK_AES_KEY,
               "WECHAT_KF_OPEN_KFID": OPEN_KFID}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "compound", "wechat-link", "XFL", "--out", str(tmp_path / "x.png"),
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await process.communicate()
        assert process.returncode == 0, out.decode()
        assert "scene_param=XFL2026" in out.decode()
        assert kf.contact_ways == [{"open_kfid": OPEN_KFID, "scene": "joinXFL"}]
        assert (tmp_path / "x.png").read_bytes().startswith(b"\x89PNG")
    finally:
        await kf.stop()


async def test_link_makes_the_wechat_account_one_more_account_of_a_joined_resident(bot: Bot) -> None:
    async with transaction(bot.app.core.sessions) as session:
        zhang = (await session.exec(select(Identity.person_id).join(
            Person, col(Person.id) == Identity.person_id).where(Person.name == "张三"))).first()
        assert zhang is not None
        code = await store.issue_link_code(session, zhang, bot.app.core.clock.now())
    shown = await bot.kf.said("wmZhang", f"/link {code}")
    assert "合为一个" in shown[-1].text
    assert await bot.person("wmZhang") == zhang
    again = await bot.kf.said("wmOther", f"/link {code}")  # used: refused politely
    assert "已使用" in again[-1].text
    shown = await bot.kf.said("wmZhang", "/start")
    assert "幸福里" in shown[0].text  # the menu of the compound 张三 joined on another platform
