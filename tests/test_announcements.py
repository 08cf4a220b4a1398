"""Announcements and disclosures through the console: now or scheduled, with a picture, pinned, cancelled
before their time; disclosures kept and listed; refusals and bad input."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.announcements import Announcement, Disclosure
from storage.people import Role
from tests.conftest import HPY_GROUP, hpy_with_group, outbox_to, revoke_role, switch_to

GROUP = "幸福里业主群"


async def announce(console: Console, text: str, when: str | None, photo: bool = False, audience: int = 1,
                   publish: int = 1) -> None:
    console.as_("王书记")
    await console.say("/announce")
    await console.say(text)
    if photo:
        await console.photo()
    else:
        await console.press(1)  # No picture
    await console.press(audience)
    if when is None:
        await console.press(1)  # Send now
    else:
        await console.say(when)
    if publish:
        await console.press(publish)


async def test_announcement_now_with_picture_and_pin(console: Console) -> None:
    await announce(console, "本周六上午9点停水，请提前储水。", None, photo=True, publish=2)
    posted = console.seen_by("王书记", GROUP)[-1]
    assert "停水" in posted.text and posted.has_image


async def test_scheduled_announcement_sent_on_time(console: Console) -> None:
    await announce(console, "明早8点起电梯检修两小时。", "2026-11-23 10:00")
    assert not [s for s in console.seen_by("王书记", GROUP) if "电梯检修" in s.text]
    await console.clock_to("+50m")
    assert not [s for s in console.seen_by("王书记", GROUP) if "电梯检修" in s.text]
    await console.clock_to("+20m")
    assert len([s for s in console.seen_by("王书记", GROUP) if "电梯检修" in s.text]) == 1


async def test_scheduled_announcement_cancelled_before_its_time(console: Console) -> None:
    await announce(console, "周日组织大扫除，欢迎参加。", "2026-11-23 10:00")
    await console.say("/announcements")
    assert "大扫除" in console.last.text
    await console.press(1)  # Cancel it
    await console.say("/announcements")
    assert "大扫除" not in console.last.text
    await console.clock_to("+2h")
    assert not [s for s in console.seen_by("王书记", GROUP) if "大扫除" in s.text]


async def test_announcement_to_owners_goes_privately(console: Console) -> None:
    await announce(console, "业主大会表决材料已发放。", None, audience=3)
    assert "表决材料" in console.last_for("张三").text  # an owner
    assert all("表决材料" not in s.text for s in console.seen_by("王五"))  # a tenant
    assert all("表决材料" not in s.text for s in console.seen_by("王书记", GROUP))


async def test_bad_inputs_and_refusals(console: Console) -> None:
    console.as_("张三")
    await console.say("/announce")
    assert "书记" in console.last.text or "secretary" in console.last.text
    console.as_("王书记")
    await console.say("/announce")
    await console.photo()
    assert "文字" in console.last.text or "text" in console.last.text
    await console.say("字" * 2500)
    assert "2000" in console.last.text
    await console.say("通知：本周五消防演练。")
    await console.press(1)
    await console.press(1)
    await console.say("2026-11-01 08:00")
    assert "2026-11-01 周日 08:00" in console.last.text  # in the past: refused, echoed in full
    await console.say("某天早上")
    assert "没能看懂这个时间" in console.last.text
    await console.press(1)  # Send now: the draft survived
    await console.press(1)
    assert "消防演练" in console.seen_by("王书记", GROUP)[-1].text


async def test_disclosure_posted_kept_and_listed(console: Console) -> None:
    console.as_("孙委员")
    await console.say("/disclose")
    await console.press(1)  # income and spending
    await console.say("2026年10月 物业费收入 52,300 元，支出 48,100 元，结余 4,200 元。")
    await console.say("没有附件")  # text where the attachment is expected: asked again
    assert console.last.labels
    await console.photo()
    posted = console.seen_by("孙委员", GROUP)[-1]
    assert "52,300" in posted.text and posted.has_image
    console.as_("张三")
    await console.say("/disclosures")
    assert "52,300" in console.last.text
    await console.press(1)  # the attachment, privately
    assert console.last.has_image
    await console.say("/disclose")
    assert "业委会" in console.last.text or "committee" in console.last.text


async def start_disclosure(console: Console, text: str) -> None:
    console.as_("孙委员")
    await console.say("/disclose")
    await console.press(1)  # income and spending
    await console.say(text)


async def test_disclosure_with_a_spreadsheet_is_posted_kept_and_sent_again(console: Console) -> None:
    await start_disclosure(console, "2026年11月 维修基金收支明细见附件。")
    assert "XLSX" in console.last.text
    sheet = b"PK\x03\x04" + bytes(range(256)) * 4  # a zip's first bytes: an Office Open XML file
    await console.document("2026年11月账目.xlsx", data=sheet)
    posted = console.seen_by("孙委员", GROUP)[-1]
    assert "维修基金" in posted.text and posted.has_document and not posted.has_image
    assert console.transport.documents[-1] == ("2026年11月账目.xlsx", sheet)
    console.as_("张三")
    await console.say("/disclosures")
    assert "维修基金" in console.last.text
    await console.press(1)  # the attachment, privately, from the bot's own copy
    assert console.last.has_document and "维修基金" in console.last.text
    assert console.transport.documents[-1] == ("2026年11月账目.xlsx", sheet)


async def test_disclosure_refuses_other_files_politely_and_keeps_the_draft(console: Console) -> None:
    await start_disclosure(console, "2026年11月 公共收益 8,000 元。")
    await console.document("readme.txt")
    assert "readme.txt" in console.last.text and "XLSX" in console.last.text and console.last.labels
    await console.document("账目.xlsx", data=b"MZ\x90\x00 not a spreadsheet")  # renamed program
    assert "XLSX" in console.last.text
    await console.document("大文件.pdf", size=25 * 1024 * 1024)
    assert "20 MB" in console.last.text
    assert not [s for s in console.seen_by("孙委员", GROUP) if "公共收益" in s.text]  # nothing published yet
    await console.document("审计报告.pdf")  # still on the step, the text kept
    posted = console.seen_by("孙委员", GROUP)[-1]
    assert "8,000" in posted.text and posted.has_document
    assert console.transport.documents[-1][0] == "审计报告.pdf"


async def test_a_file_is_no_answer_where_text_is_expected(console: Console) -> None:
    console.as_("孙委员")
    await console.say("/disclose")
    await console.press(1)
    await console.document("账目.xlsx", caption="看附件")
    assert "XLSX" not in console.last.text  # asked for the text again: a file's caption is no typed answer
    await console.say("2026年11月 收入 1 元。")
    assert "XLSX" in console.last.text


async def test_announcement_with_a_file_goes_out_later_with_it(console: Console) -> None:
    console.as_("王书记")
    await console.say("/announce")
    await console.say("12月停车收费新标准，详见附件。")
    assert "XLSX" in console.last.text
    await console.document("setup.exe", data=b"MZ\x90\x00")
    assert "setup.exe" in console.last.text and console.last.labels  # refused, still on the step
    pdf = b"%PDF-1.7\n" + bytes(200)
    await console.document("停车收费标准.pdf", data=pdf)
    await console.press(1)  # the whole compound
    await console.say("2026-11-23 11:00")
    assert "停车收费标准.pdf" in console.last.text  # the summary names the file
    await console.press(1)  # Publish
    assert not [s for s in console.seen_by("王书记", GROUP) if "停车收费" in s.text]
    await console.clock_to("+2h")
    posted = [s for s in console.seen_by("王书记", GROUP) if "停车收费" in s.text]
    assert len(posted) == 1 and posted[0].has_document
    assert console.transport.documents[-1] == ("停车收费标准.pdf", pdf)


# ---- the declared flows: authority at every step, the compound they began in, one time parser --------------



async def rows(app: App, table: type[Announcement] | type[Disclosure]) -> list[Any]:
    async with app.core.sessions() as session:
        return list((await session.exec(select(table))).all())


async def test_a_revoked_role_ends_announce_and_writes_nothing(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/announce")
    await console.say("本周五消防演练。")
    await console.press(1)  # no attachment
    await console.press(1)  # the whole compound
    await console.press(1)  # now
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.press(1)  # Publish
    assert "身份已有变化" in console.last.text
    assert await rows(app, Announcement) == []
    assert await outbox_to(app, GROUP) == []


async def test_switching_compound_mid_announce_publishes_where_it_began(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/announce")
    await console.say("本周五消防演练。")
    await hpy_with_group(app, ("王书记", ()))  # a tenant there: no announcer
    await switch_to(console, "和平苑")
    await console.press("无附件")
    await console.press(1)  # the whole compound (of 幸福里)
    await console.say("明天 8:00")
    await console.press(1)  # Publish
    assert [a.compound_id for a in await rows(app, Announcement)] == [1]
    assert await outbox_to(app, HPY_GROUP) == []
    await console.clock_to("2026-11-24 08:10")
    assert "消防演练" in console.seen_by("王书记", GROUP)[-1].text


@pytest.mark.parametrize(("typed", "due", "echo"), [
    ("明天 8:00", datetime(2026, 11, 24, 8, 0), "2026-11-24 周二 08:00"),
    ("周六 9点半", datetime(2026, 11, 28, 9, 30), "2026-11-28 周六 09:30"),
    ("下周三 晚上7点", datetime(2026, 12, 2, 19, 0), "2026-12-02 周三 19:00"),
])
async def test_a_typed_sending_time_is_read_and_echoed_in_full(console: Console, app: App, typed: str, due: datetime,
                                                               echo: str) -> None:
    await announce(console, "本周五消防演练。", typed, publish=0)
    assert echo in console.last.text
    await console.press(1)  # Publish
    [item] = await rows(app, Announcement)
    assert item.due_at == due.replace(tzinfo=ZoneInfo("Asia/Shanghai")) and echo in console.last.text


async def test_a_revoked_role_ends_disclose_and_writes_nothing(console: Console, app: App) -> None:
    await start_disclosure(console, "2026年10月 物业费收入 52,300 元。")
    await revoke_role(app, "孙委员", Role.COMMITTEE)
    await console.photo()
    assert "身份已有变化" in console.last.text
    assert await rows(app, Disclosure) == []
    assert await outbox_to(app, GROUP) == []


async def test_switching_compound_mid_disclose_publishes_where_it_began(console: Console, app: App) -> None:
    await start_disclosure(console, "2026年10月 物业费收入 52,300 元。")
    await hpy_with_group(app, ("孙委员", ()))
    await switch_to(console, "和平苑")
    await console.photo()
    assert [d.compound_id for d in await rows(app, Disclosure)] == [1]
    assert "52,300" in console.seen_by("孙委员", GROUP)[-1].text
    assert await outbox_to(app, HPY_GROUP) == []


async def test_a_stranger_cannot_announce_or_disclose(console: Console, app: App) -> None:
    console.as_("陌生人")
    for command in ("/announce", "/disclose"):
        await console.say(command)
        assert "加入" in console.last.text
    assert await rows(app, Announcement) == [] and await rows(app, Disclosure) == []


BAD_TEXT = ("字" * 10_000, "\x1b", "\ud800")
BAD_ANYWHERE = ("²", "①", "1" * 20, *BAD_TEXT)


async def refused(console: Console, *inputs: str, photo: bool = True) -> None:
    for text in inputs:
        before = len(console.seen_by())
        await console.say(text)
        assert len(console.seen_by()) > before and "系统出了点问题" not in console.last.text
    if photo:
        await console.photo()
        assert "系统出了点问题" not in console.last.text


async def test_bad_input_at_every_announce_step_is_refused_politely(console: Console, app: App) -> None:
    console.as_("王书记")
    await console.say("/announce")
    await refused(console, *BAD_TEXT)
    await console.say("本周五消防演练。")
    await refused(console, *BAD_ANYWHERE, photo=False)
    await console.press(1)
    await refused(console, *BAD_ANYWHERE)
    await console.press("无附件")  # a stale button: that step is over
    assert "失效" in console.last.text or "不再" in console.last.text
    await console.press("全小区")
    await refused(console, *BAD_ANYWHERE)
    await console.say("明天 8:00")
    await refused(console, *BAD_ANYWHERE)
    await console.press(1)
    [item] = await rows(app, Announcement)
    assert item.text == "本周五消防演练。" and item.compound_id == 1


async def test_bad_input_at_every_disclose_step_is_refused_politely(console: Console, app: App) -> None:
    console.as_("孙委员")
    await console.say("/disclose")
    await refused(console, *BAD_ANYWHERE)
    await console.press(1)
    await refused(console, *BAD_TEXT)
    await console.say("2026年10月 物业费收入 52,300 元。")
    await refused(console, *BAD_ANYWHERE, photo=False)
    await console.press(1)  # no attachment
    [item] = await rows(app, Disclosure)
    assert item.text == "2026年10月 物业费收入 52,300 元。"
