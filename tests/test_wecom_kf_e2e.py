"""End to end: the real `linli run` process against the fake 微信客服 (tests/fake_wecom_kf.py) on loopback, driven
as WeChat residents do: joining by a link's scene_param and approved by the secretary (also on WeChat), a
complaint with a photo, an owners' assembly opened and voted by menu clicks, and a reminder that waits for the
resident's window and is then delivered once. One process for the module; each story has people of its own."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import pytest_asyncio
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.types import OutMessage
from storage import wechat as store
from storage.assembly import Assembly, Ballot
from storage.complaints import Case
from storage.db import make_engine, make_sessionmaker, transaction
from storage.outbox import OutboxMessage
from storage.people import Identity, Membership, Person
from tests.fake_wecom_kf import CALLBACK_AES_KEY, CALLBACK_TOKEN, CORP_ID, OPEN_KFID, SECRET, FakeKf

ROOT = Path(__file__).resolve().parent.parent
SECRETARY = "wmWangShuji"  # 王书记's WeChat
# Demo people who use WeChat in these stories: each story has its own, so no conversation is in another's way.
WECHAT_PEOPLE = {"王书记": SECRETARY, "张三": "wmZhangSan", "陈阿姨": "wmChenAyi", "李四": "wmLiSi"}
# A small PNG: what a resident's camera sends, as far as the bot can tell.
PHOTO = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489") + b"photo" * 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Linli:
    """`linli run` in a subprocess with only the 微信客服 transport configured."""

    process: asyncio.subprocess.Process
    port: int
    log_path: Path

    @property
    def callback_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/wechat/callback"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-6000:]


def kf_env(db_url: str, kf: FakeKf, port: int) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "DATABASE_URL": db_url,
            "HTTP_PORT": str(port), "HTTP_HOST": "127.0.0.1", "DEMO": "false", "LOG_LEVEL": "INFO",
            "OUTBOX_TICK_SECONDS": "0.2", "SCHEDULER_TICK_SECONDS": "3600",
            # Quiet hours would hold the secretary's notices when the suite runs at night.
            "NOTIFICATION_BUDGET": "false",
            "WECOM_API_BASE_URL": kf.base_url, "WECHAT_KF_CORP_ID": CORP_ID, "WECHAT_KF_SECRET": SECRET,
            "WECHAT_KF_CALLBACK_TOKEN": CALLBACK_TOKEN, "WECHAT_KF_CALLBACK_AES_KEY": CALLBACK_AES_KEY,
            "WECHAT_KF_OPEN_KFID": OPEN_KFID}


async def start_linli(db_url: str, kf: FakeKf, workdir: Path, **env: str) -> Linli:
    """Start the process and wait for /healthz; the fake's callbacks then go to it."""
    port = free_port()
    log_path = workdir / "linli.log"
    with log_path.open("wb") as handle:
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=workdir,
                                                       env={**kf_env(db_url, kf, port), **env},
                                                       stdout=handle, stderr=handle)
    linli = Linli(process, port, log_path)
    async with aiohttp.ClientSession() as session:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while loop.time() < deadline:
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
    kf.callback_url = linli.callback_url
    return linli


async def stop_linli(linli: Linli) -> None:
    if linli.process.returncode is None:
        linli.process.terminate()
        try:
            await asyncio.wait_for(linli.process.wait(), 10)
        except TimeoutError:
            linli.process.kill()
            await linli.process.wait()


async def link_wechat(db_url: str, people: dict[str, str]) -> None:
    """Demo people who now write from WeChat (as `/link CODE` would have made them)."""
    engine = make_engine(db_url)
    async with transaction(make_sessionmaker(engine)) as session:
        for name, user in people.items():
            person = (await session.exec(select(Person).where(Person.name == name))).one()
            assert person.id is not None
            session.add(Identity(person_id=person.id, platform=store.PLATFORM, platform_user_id=user,
                                 private_chat_id=user, last_seen_at=datetime.now(UTC)))
    await engine.dispose()


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def db_url(sqlite_template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One SQLite database for the module's one `linli run` process."""
    path = tmp_path_factory.mktemp("wechat") / "linli.db"
    shutil.copy(sqlite_template_db, path)
    yield f"sqlite+aiosqlite:///{path}"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def kf() -> AsyncIterator[FakeKf]:
    server = await FakeKf().start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def linli(db_url: str, kf: FakeKf, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Linli]:
    await link_wechat(db_url, WECHAT_PEOPLE)
    process = await start_linli(db_url, kf, tmp_path_factory.mktemp("run"))
    yield process
    await stop_linli(process)


@asynccontextmanager
async def database(db_url: str) -> AsyncIterator[AsyncSession]:
    """The test's own look at (or change to) the process's database, one transaction."""
    engine = make_engine(db_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            yield session
    finally:
        await engine.dispose()


async def click_until(kf: FakeKf, user: str, wanted: set[str]) -> None:
    """Take the first item of each menu (a building, a unit, a room) until one offers a label in `wanted`."""
    for _ in range(6):
        if wanted & set(kf.to(user)[-1].labels):
            return
        await kf.clicked(user, kf.to(user)[-1].labels[0])
    raise AssertionError(f"no menu with {wanted}: {kf.text_to(user)[-400:]}")


async def test_join_by_link_and_the_secretary_approves_on_wechat(kf: FakeKf, linli: Linli, db_url: str) -> None:
    newbie = "wmZhaoLiu"
    kf.nicknames[newbie] = "赵六"
    await kf.said(SECRETARY, "/cancel")  # she wrote: her window is open for the request to come
    await kf.enter(newbie, scene_param="XFL2026")
    await kf.wait_for(lambda: bool(kf.to(newbie)))
    welcome = kf.to(newbie)[0]
    # Straight into the join flow of the link's compound, greeted once with the welcome_code.
    assert welcome.via == "welcome" and welcome.body["msgtype"] == "msgmenu", welcome
    assert "幸福里" in welcome.text and "1栋" in welcome.labels
    await click_until(kf, newbie, {"租户"})
    shown = await kf.clicked(newbie, "租户")
    assert "微信里无法用按钮分享手机号" in shown[-1].text  # the phone step, with no contact button here
    before = len(kf.to(SECRETARY))
    await kf.clicked(newbie, "跳过")
    assert "审核" in kf.text_to(newbie)
    await kf.wait_sent(SECRETARY, before)
    request = kf.to(SECRETARY)[-1]
    assert "通过" in request.labels and "赵六" in request.text, request.text  # the name fetched from WeChat
    await kf.clicked(SECRETARY, "通过")
    await kf.wait_for(lambda: "好消息" in kf.text_to(newbie))
    async with database(db_url) as session:
        person = (await session.exec(select(Person).join(Identity, col(Identity.person_id) == Person.id).where(
            Identity.platform == store.PLATFORM, Identity.platform_user_id == newbie))).one()
        joined = (await session.exec(select(Membership).where(Membership.person_id == person.id))).all()
    assert person.name == "赵六" and [m.status for m in joined] == ["approved"]
    assert [newbie] in kf.batchgets  # asked once, when the new resident first arrived
    assert kf.refused == []


async def test_a_complaint_with_a_photo(kf: FakeKf, linli: Linli, db_url: str) -> None:
    resident = WECHAT_PEOPLE["张三"]
    shown = await kf.said(resident, "/complain")
    await kf.clicked(resident, shown[-1].labels[0])  # the first category
    await kf.said(resident, "3栋2单元楼道的灯坏了两个星期，晚上很黑，老人上下楼不安全")
    before = len(kf.to(resident))
    await kf.send_image(resident, PHOTO)
    shown = await kf.wait_sent(resident, before)
    assert "完成上传" in shown[-1].labels  # photo 1 of 3 taken: another, or done
    await kf.clicked(resident, "完成上传")
    await kf.clicked(resident, kf.to(resident)[-1].labels[0])  # my building
    await kf.clicked(resident, "显示我的姓名")
    assert "照片" in kf.to(resident)[-1].text  # the summary counts the photo
    shown = await kf.clicked(resident, "确认")
    assert "已" in shown[-1].text and "/case" in shown[-1].text, shown[-1].text
    async with database(db_url) as session:
        reporter = (await session.exec(select(Identity.person_id).where(
            Identity.platform_user_id == resident))).one()
        case = (await session.exec(select(Case).where(Case.reporter_id == reporter))).one()
    assert case.photos["platform"] == store.PLATFORM and len(case.photos["ids"]) == 1
    # The case card offers its photos: fetched from the platform (media/get) and sent back as a picture.
    await kf.said(resident, f"/case {case.number}")
    before = len(kf.to(resident))
    await kf.click(resident, "查看照片")
    await kf.wait_for(lambda: any(s.body["msgtype"] == "image" for s in kf.to(resident)[before:]))
    sent = next(s for s in kf.to(resident)[before:] if s.body["msgtype"] == "image")
    assert kf.media[sent.body["image"]["media_id"]] == PHOTO  # uploaded again (media/upload), the same bytes
    assert kf.refused == []


async def test_an_assembly_is_opened_and_voted_by_menu_clicks(kf: FakeKf, linli: Linli, db_url: str) -> None:
    voter = WECHAT_PEOPLE["陈阿姨"]  # owns 2栋1单元102
    await kf.said(voter, "/cancel")  # she wrote today: the notice may reach her at once
    await kf.said(SECRETARY, "/cancel")
    await kf.said(SECRETARY, "/assembly")
    await kf.said(SECRETARY, "2026年微信业主大会")
    shown = await kf.said(SECRETARY, "选聘新的物业服务企业")
    # The Civil Code's nine classes, each a whole label in the menu; the suggested one is ticked.
    suggested = next(label for s in shown for label in s.labels if label.startswith("✓"))
    await kf.clicked(SECRETARY, suggested)
    await kf.clicked(SECRETARY, "事项录入完毕")
    await kf.clicked(SECRETARY, "立即开始")
    closes = (datetime.now(UTC) + timedelta(days=2)).astimezone(ZoneInfo("Asia/Shanghai"))
    await kf.said(SECRETARY, f"{closes:%Y-%m-%d %H:%M}")
    before = len(kf.to(voter))
    await kf.clicked(SECRETARY, "确认并发起")
    await kf.wait_for(lambda: any("投票" in s.labels for s in kf.to(voter)[before:]))
    assert "业主大会" in kf.text_to(voter)
    await kf.clicked(voter, "投票")
    await kf.clicked(voter, "同意")
    shown = await kf.clicked(voter, "提交")
    assert "表决票已记录" in " ".join(s.text for s in shown), shown
    async with database(db_url) as session:
        assembly = (await session.exec(select(Assembly).where(Assembly.title == "2026年微信业主大会"))).one()
        ballots = (await session.exec(select(Ballot).where(Ballot.assembly_id == assembly.id))).all()
    assert [list(b.choices.values()) for b in ballots] == [["yes"]]
    stale = await kf.clicked(voter, "同意")  # the ballot's old menu: a stale press, answered, nothing changed
    assert "失效" in stale[-1].text or "不再有效" in stale[-1].text, stale[-1].text
    async with database(db_url) as session:
        again = (await session.exec(select(Ballot).where(Ballot.assembly_id == assembly.id))).all()
    assert [(b.choices, b.version) for b in again] == [(b.choices, b.version) for b in ballots]
    assert kf.refused == []


async def test_a_reminder_waits_for_the_window_and_is_delivered_once(kf: FakeKf, linli: Linli, db_url: str) -> None:
    resident = WECHAT_PEOPLE["李四"]
    await kf.said(resident, "/cancel")
    # Two days pass without a word from 李四: his window is over, on the platform and in the bot's books.
    kf.residents[resident].last_message_at -= 49 * 3600
    async with database(db_url) as session:
        await session.exec(update(store.ReplyWindow).where(col(store.ReplyWindow.chat_id) == resident)
                           .values(last_inbound_at=datetime.now(UTC) - timedelta(hours=49)))
        person = (await session.exec(select(Identity.person_id).where(Identity.platform_user_id == resident))).one()
        session.add(OutboxMessage(platform=store.PLATFORM, chat_id=resident, chat_kind="private", person_id=person,
                                  payload=OutMessage("提醒：业主大会投票明天截止，请尽快投票").to_payload()))
    await asyncio.sleep(1.5)  # several outbox ticks
    assert "投票明天截止" not in kf.text_to(resident)
    assert kf.refused == []  # nothing was sent into the platform's refusal
    # He writes again: the digest comes first in the new budget, and the reminder when he asks for it.
    shown = await kf.said(resident, "你好")
    assert shown[0].text.startswith("您有 1 条新通知") and "查看通知" in shown[0].labels
    await kf.clicked(resident, "查看通知")
    await kf.wait_for(lambda: "投票明天截止" in kf.text_to(resident))
    await kf.notify()  # another callback, nothing new: nothing goes twice
    await asyncio.sleep(1.0)
    assert kf.text_to(resident).count("投票明天截止") == 1
    async with database(db_url) as session:
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.chat_id == resident))).all()
    reminders = [row for row in rows if "投票明天截止" in str(row.payload)]
    assert [row.state for row in reminders] == ["delivered"] and kf.refused == []
    assert "Traceback" not in linli.log()
