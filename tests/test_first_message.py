"""A first message outside any conversation is understood: text and photos are offered as a complaint or a need
(kept with the buttons, not asked again), a voice message gets a polite request to type, a shared contact begins
joining, and someone who has not joined is led to joining. `/start CODE` joins with the invite code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import qrcode
from PIL import Image
from sqlmodel import col, select

from bot import cli, qr
from bot.settings import Settings
from bot.transports.console import Console
from storage.complaints import Case
from storage.demo import DEMO_INVITE
from storage.needs import Need
from storage.people import Membership, Person, Role, roles_in
from tests.conftest import sqlite_url


async def _cases(console: Console) -> list[Case]:
    async with console.app.core.sessions() as session:
        return list((await session.exec(select(Case).order_by(col(Case.id)))).all())


async def test_text_outside_a_flow_becomes_a_complaint_without_asking_again(console: Console) -> None:
    console.as_("张三")
    await console.say("楼下有人乱停车，堵住了消防通道")
    assert "楼下有人乱停车" in console.last.text
    assert console.last.labels == ["反映诉求", "提需求", "查看菜单"]
    await console.press("反映诉求")
    assert "选择类别" in console.last.text
    await console.press("停车")
    # The description was the first message: the next question is already the photos.
    assert "照片" in console.last.text and "描述" not in console.last.text
    await console.press("跳过")
    await console.press("我的楼栋")
    await console.press("显示我的姓名")
    assert "楼下有人乱停车，堵住了消防通道" in console.last.text  # the summary
    await console.press("确认")
    assert "已登记" in console.last.text or "XFL-" in console.last.text
    [case] = await _cases(console)
    assert case.description == "楼下有人乱停车，堵住了消防通道"


async def test_text_outside_a_flow_becomes_a_need(console: Console) -> None:
    console.as_("李四")
    await console.say("家里老人需要有人每周陪同去医院复查")
    await console.press("提需求")
    await console.press("助老")
    assert "照片" in console.last.text  # the text is not asked for again
    await console.press("跳过")
    async with console.app.core.sessions() as session:
        [need] = (await session.exec(select(Need))).all()
    assert need.text == "家里老人需要有人每周陪同去医院复查" and need.category == "elderly"


async def test_the_menu_button_and_a_second_press(console: Console) -> None:
    console.as_("王五")
    await console.say("你好")  # too short for a description: the flow will ask for one
    await console.press("查看菜单")
    assert "幸福里" in console.last.text
    await console.press("反映诉求")
    await console.press("噪音")
    assert "描述" in console.last.text
    await console.press("反映诉求")  # pressed again in the middle of the flow: nothing lost
    assert "还有一件事没有办完" in console.last.text
    await console.say("楼上每晚十二点还在装修")
    assert "照片" in console.last.text


async def test_photo_outside_a_flow_offers_a_complaint_with_that_photo(console: Console) -> None:
    console.as_("张三")
    await console.photo("单元门口的垃圾三天没人清理")
    assert console.last.labels == ["反映诉求", "查看菜单"]
    await console.press("反映诉求")
    await console.press("环境卫生")
    assert "照片" in console.last.text  # the caption is the description
    await console.press("跳过")
    await console.press("我的楼栋")
    await console.press("显示我的姓名")
    assert "照片：1" in console.last.text
    await console.press("确认")
    [case] = await _cases(console)
    assert case.description == "单元门口的垃圾三天没人清理" and case.photos["ids"] == ["photo-1"]


async def test_voice_message_gets_a_polite_request_to_type(console: Console) -> None:
    console.as_("张三")
    await console._send(other="voice")
    assert "语音" in console.last.text and "打字" in console.last.text
    assert "没看懂" not in console.last.text


async def test_a_contact_outside_a_flow_begins_joining_with_that_phone(console: Console) -> None:
    console.as_("刘六")
    await console.contact("+86 138 0000 0006")
    assert "邀请码" in console.last.text
    await console.say(DEMO_INVITE)
    await console.press("3栋")
    await console.press("1单元")
    await console.press("101")
    await console.press("业主")
    # No phone question: the shared number matched the owners' roster at once.
    assert "与业主名册一致" in console.last.text
    async with console.app.core.sessions() as session:
        person = (await session.exec(select(Person).where(Person.name == "刘六"))).one()
        assert person.id is not None
        assert await roles_in(session, person.id, 1) == {Role.RESIDENT, Role.OWNER}


async def test_someone_elses_contact_is_refused(console: Console) -> None:
    console.as_("路人甲")
    await console.contact("13912345678", own=False)
    assert "本人的手机号" in console.last.text


async def test_a_stranger_is_led_to_joining(console: Console) -> None:
    console.as_("路人乙")
    await console.say("楼下有人乱停车")
    assert "邀请码" in console.last.text
    await console.say(DEMO_INVITE)
    assert console.last.text.startswith("欢迎来到幸福里")
    console.as_("路人丙")
    await console.say(DEMO_INVITE.lower())  # an invite code on its own joins at once
    assert console.last.text.startswith("欢迎来到幸福里")


async def test_start_with_an_invite_code_joins(console: Console) -> None:
    console.as_("路人丁")
    await console.say(f"/start {DEMO_INVITE}")  # what t.me/<bot>?start=XFL2026 sends
    assert console.last.text.startswith("欢迎来到幸福里")
    await console.press("2栋")
    await console.press("1单元")
    await console.press("202")
    await console.press("租户")
    await console.press("跳过")
    async with console.app.core.sessions() as session:
        person = (await session.exec(select(Person).where(Person.name == "路人丁"))).one()
        assert len((await session.exec(select(Membership).where(Membership.person_id == person.id))).all()) == 1
    # A member opening the link of their own compound gets the menu, not a second joining.
    console.as_("张三")
    await console.say(f"/start {DEMO_INVITE}")
    assert "幸福里" in console.last.text and "哪栋楼" not in console.last.text
    # A wrong code says so and still shows the welcome.
    console.as_("路人戊")
    await console.say("/start NOPE1234")
    assert "NOPE1234" in console.last.text


async def test_ten_thousand_characters_outside_a_flow(console: Console) -> None:
    console.as_("张三")
    await console.say("楼" * 10_000)
    assert console.last.labels == ["反映诉求", "提需求", "查看菜单"] and len(console.last.text) < 300
    await console.press("反映诉求")
    await console.press("噪音")
    assert "描述" in console.last.text  # too long to be the description: asked for it


# ---- the printable invite QR code --------------------------------------------------------------------------


def _modules(png: Path, link: str, left: int) -> bool:
    """Whether the PNG holds, at `left`, exactly the QR code of `link` (each module sampled at its centre): no QR
    decoder is installed, so the code is read back by comparing it with the one the link makes."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=qr.BORDER)
    code.add_data(link)
    code.make(fit=True)
    image = Image.open(png).convert("L")
    top = qr.MARGIN + 60 + 44 + 24
    return all((image.getpixel((left + int((c + 0.5) * qr.BOX), top + int((r + 0.5) * qr.BOX))) < 128) == dark
               for r, row in enumerate(code.get_matrix()) for c, dark in enumerate(row))


def test_compound_qr_writes_a_png_of_the_deep_link(sqlite_template_db: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "linli.db"
    shutil.copy(sqlite_template_db, database)
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("DATABASE_URL", sqlite_url(database))
    assert cli.main(["compound", "qr", "XFL"]) == 2  # no bot named, no WeCom link: said so
    assert cli.main(["compound", "qr", "XFL", "--bot", "@linli_demo_bot"]) == 0
    png = tmp_path / "qr-XFL.png"
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    link = "https://t.me/linli_demo_bot?start=XFL2026"
    assert _modules(png, link, qr.MARGIN)
    assert not _modules(png, "https://t.me/linli_demo_bot?start=XFL2027", qr.MARGIN)  # the check can fail
    # With a WeCom link configured, its code stands beside the Telegram one.
    monkeypatch.setenv("WECOM_JOIN_URL", "https://work.weixin.qq.com/ca/cawcde0123")
    assert cli.main(["compound", "qr", "xfl", "--bot", "linli_demo_bot", "--out", "both.png"]) == 0
    both = tmp_path / "both.png"
    first = qr.qr_image(link).width
    assert _modules(both, link, qr.MARGIN)
    assert _modules(both, "https://work.weixin.qq.com/ca/cawcde0123", qr.MARGIN + first + qr.GAP)
    assert cli.main(["compound", "qr", "NOPE", "--bot", "linli_demo_bot"]) == 2
