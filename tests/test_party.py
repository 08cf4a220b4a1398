"""Party members: 报到, 承诺, 践诺 confirmed by the secretary, 请假, and the yearly export read back."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlmodel import select

from bot.cli import build_parser
from bot.core.i18n import Catalogs
from bot.core.when import parse_day
from bot.settings import Settings
from bot.transports.console import Console
from storage.db import transaction
from storage.party import Pledge, export_party_cli
from tests.test_volunteering import GROUP, post_task


async def test_report_pledge_fulfil_leave_and_export(console: Console, settings: Settings, tmp_path: Path) -> None:
    console.as_("陈阿姨")
    await console.say("/report")
    assert "工作单位" in console.last.text
    await console.say("西陵区人民医院")
    assert "已向幸福里党支部报到" in console.last.text
    assert "西陵区人民医院" in console.last_for("王书记").text

    await console.say("/pledge 每月参加一次志愿服务")
    await console.say("明年")  # unreadable: asked again, the text is kept
    assert "没能看懂" in console.last.text
    await console.say("12-31")
    assert "2026-12-31" in console.last.text
    await console.say("/pledge 为独居老人代购")
    await console.press("年底前")

    await console.say("/pledges")
    await console.press("已践诺")
    await console.photo()
    assert "书记确认后" in console.last.text
    secretary_sees = console.last_for("王书记")
    assert "（照片）" in secretary_sees.text and secretary_sees.has_image
    console.as_("王书记")
    await console.press("确认")
    assert "已践诺" in console.last.text
    await console.press("确认")  # a second press changes nothing
    assert "已经处理" in console.last.text
    assert "书记已确认" in console.last_for("陈阿姨").text

    console.as_("陈阿姨")
    await console.say("/leave")
    await console.say("外出学习")
    await console.press("从今天开始")
    await console.say("2026-11-20")  # before the first day: asked again
    assert "不能早于" in console.last.text
    await console.say("2026-11-30")
    assert "2026-11-23 周一 至 2026-11-30 周一" in console.last.text  # days echoed in full

    # She volunteers too: hours and points appear in her record.
    await post_task(console, wanted=3, start="2026-11-23 14:00", end="16:00")
    console.as_("陈阿姨")
    console.in_(GROUP)
    await console.press("报名")
    await console.clock_to("2026-11-23 16:10")
    console.as_("王书记")
    await console.press("确认出勤")

    assert await export_party_cli(settings, "xfl", 2026, tmp_path) == 0
    files = sorted(tmp_path.glob("*.xlsx"))  # noqa: ASYNC240
    # 王书记, 李楼长 and 陈阿姨 are the demo party members.
    assert len(files) == 3
    mine = [f for f in files if "陈阿姨" in f.name]
    assert len(mine) == 1
    book = load_workbook(mine[0])
    # Headers are in the compound's language; the catalogue (shared by all features) says which words.
    t = Catalogs().translator("zh_CN")
    summary = {row[0]: row[1] for row in book[t("Summary")].iter_rows(values_only=True)}
    assert summary["姓名"] == "陈阿姨" and summary["工作单位"] == "西陵区人民医院"
    assert summary[t("Pledges")] == 2 and summary[t("Pledges fulfilled")] == 1
    assert summary[t("Volunteer tasks")] == 1 and summary[t("Volunteer hours")] == 2
    assert summary[t("Points earned this year")] == 4 and summary[t("Points balance")] == 4
    pledges = list(book[t("Pledges")].iter_rows(values_only=True))
    assert pledges[0][0] == "承诺内容"
    states = {row[0]: row[3] for row in pledges[1:]}
    assert states == {"每月参加一次志愿服务": "进行中", "为独居老人代购": "已践诺"}
    leave = list(book[t("Leave")].iter_rows(values_only=True))
    assert leave[1] == ("2026-11-23", "2026-11-30", "外出学习")
    volunteering = list(book[t("Volunteering")].iter_rows(values_only=True))
    assert volunteering[1][0] == "清理楼道杂物" and volunteering[1][3] == 4
    # Another year holds none of it.
    assert await export_party_cli(settings, "XFL", 2025, tmp_path / "2025") == 0
    old = [f for f in (tmp_path / "2025").glob("*.xlsx") if "陈阿姨" in f.name]
    assert len(list(load_workbook(old[0])[t("Pledges")].iter_rows())) == 1


async def test_only_party_members_and_secretaries(console: Console) -> None:
    console.as_("张三")
    await console.say("/pledge 多做好事")
    assert "只有" in console.last.text
    console.as_("陈阿姨")
    await console.say("/pledge 每周巡楼一次")
    await console.say("2026-12-31")
    await console.say("/pledges")
    await console.press("已践诺")
    await console.say("巡楼四次，记录在册")
    console.as_("张三")  # a resident cannot confirm: the button was the secretary's, and the role is checked
    async with transaction(console.app.core.sessions) as session:
        pledge = (await session.exec(select(Pledge))).one()
        assert pledge.status == "claimed"
    console.as_("王书记")
    await console.press("退回")
    await console.say("请补充巡楼记录的照片")  # 退回 asks for the reason the member reads
    assert "恢复为进行中" in console.last_for("陈阿姨").text
    async with transaction(console.app.core.sessions) as session:
        pledge = (await session.exec(select(Pledge))).one()
        assert pledge.status == "open" and pledge.evidence_text == "巡楼四次，记录在册"


def test_export_command_and_dates() -> None:
    args = build_parser().parse_args(["export", "party", "--compound", "XFL", "--year", "2026", "--out", "out"])
    assert args.compound == "XFL" and args.year == 2026 and args.out == "out"
    # The party flows read days with the one parser (bot.core.when) that the pledge and leave steps use.
    now, zone = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")), ZoneInfo("Asia/Shanghai")
    assert parse_day("2026年12月31日", now, zone) == date(2026, 12, 31)
    assert parse_day("1-5", now, zone) == date(2027, 1, 5)
    assert parse_day("2026-02-30", now, zone) is None
