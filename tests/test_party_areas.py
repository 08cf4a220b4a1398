"""党员责任区 / 中心户 and the pledge reminder, through the console: the secretary makes party members responsible
for a building or a floor; a case and a need from there are copied to them privately (and to nobody else's
area); the yearly export shows the area; a pledge is reminded three days before its date, once."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from bot.app import App
from bot.core.i18n import Catalogs
from bot.settings import Settings
from bot.transports.console import Console
from storage.party import export_party_cli

ZONE = ZoneInfo("Asia/Shanghai")


def skip_to(app: App, moment: str) -> None:
    app.core.clock.set(datetime.strptime(moment, "%Y-%m-%d %H:%M").replace(tzinfo=ZONE))


def copies(console: Console, name: str) -> list[str]:
    return [s.text for s in console.seen_by(name, "private") if "党员责任区" in s.text and "您的责任区" in s.text]


async def assign(console: Console, member: str, building: str, floor: str) -> None:
    console.as_("王书记")
    await console.say("/areas")
    await console.press("划分责任区")
    await console.press(member)
    await console.press(building)
    await console.press(floor)


async def test_cases_and_needs_from_an_area_are_copied_to_its_party_member(console: Console, settings: Settings,
                                                                            tmp_path: Path) -> None:
    await assign(console, "陈阿姨", "1栋", "整栋")
    assert "陈阿姨现在负责1栋" in console.last.text
    assert "1栋" in console.last_for("陈阿姨").text and "/areas" in console.last_for("陈阿姨").text
    await assign(console, "李楼长", "2栋", "2层")  # 中心户 of one floor
    await console.say("/areas")
    assert "陈阿姨：1栋" in console.last.text and "李楼长：2栋2层" in console.last.text
    await assign(console, "陈阿姨", "1栋", "整栋")  # twice: refused, nothing added
    assert "已经负责" in console.last.text

    # 张三 (1栋) files a case about his building: 陈阿姨 gets a copy, with no reporter; 李楼长's floor is elsewhere.
    console.as_("张三")
    await console.say("/complain")
    await console.press("乱停车")
    await console.say("楼下消防通道天天有车乱停")
    await console.press("跳过")
    await console.press("我的楼栋")
    await console.press("显示我的姓名")
    await console.press("确认")
    number = next(w for w in console.last.text.replace("，", " ").replace("。", " ").split() if w.startswith("XFL-"))
    assert len(copies(console, "陈阿姨")) == 1
    copy = copies(console, "陈阿姨")[0]
    assert number in copy and "消防通道" in copy and "张三" not in copy
    assert copies(console, "李楼长") == []

    # 李四 (2栋, 2nd floor) posts a need: 李楼长, 中心户 of that floor, gets a copy; 陈阿姨 does not.
    console.as_("李四")
    await console.say("/need")
    await console.press("助老")
    await console.say("楼上独居老人需要每周有人帮忙买菜")
    await console.press("跳过")
    assert len(copies(console, "李楼长")) == 1 and "买菜" in copies(console, "李楼长")[0]
    assert len(copies(console, "陈阿姨")) == 1

    # A party member sees their own area; a resident cannot ask.
    console.as_("陈阿姨")
    await console.say("/areas")
    assert "1栋" in console.last.text and "李楼长" not in console.last.text
    console.as_("张三")
    await console.say("/areas")
    assert "1栋" not in console.last.text

    # The yearly export shows the area.
    assert await export_party_cli(settings, "XFL", 2026, tmp_path) == 0
    mine = next(f for f in tmp_path.glob("*.xlsx") if "陈阿姨" in f.name)  # noqa: ASYNC240
    t = Catalogs().translator("zh_CN")
    summary = {row[0]: row[1] for row in load_workbook(mine)[t("Summary")].iter_rows(values_only=True)}
    assert summary["党员责任区"] == "1栋"

    # Removed: no more copies.
    console.as_("王书记")
    await console.say("/areas")
    await console.press("撤销 #1")
    assert "陈阿姨：1栋" not in console.last.text and "李楼长：2栋2层" in console.last.text
    console.as_("张三")
    await console.say("/complain")
    await console.press("乱停车")
    await console.say("楼下又有车堵住了单元门口")
    await console.press("跳过")
    await console.press("我的楼栋")
    await console.press("显示我的姓名")
    await console.press("确认")
    assert len(copies(console, "陈阿姨")) == 1


async def test_a_pledge_is_reminded_three_days_before_once(console: Console, app: App) -> None:
    console.as_("陈阿姨")
    await console.say("/pledge 为独居老人代购")
    await console.say("2026-11-30")
    await console.say("/pledge 清理楼道小广告")
    await console.say("2026-11-25")  # made within three days of its date: no reminder at once
    skip_to(app, "2026-11-23 09:05")
    await console.clock_to("2026-11-23 09:40")
    assert not [s for s in console.seen_by("陈阿姨") if "提醒" in s.text]

    skip_to(app, "2026-11-27 08:30")
    await console.clock_to("2026-11-27 08:55")
    assert not [s for s in console.seen_by("陈阿姨") if "提醒" in s.text]
    await console.clock_to("2026-11-27 09:40")
    reminders = [s for s in console.seen_by("陈阿姨") if "提醒" in s.text]
    assert len(reminders) == 1 and "为独居老人代购" in reminders[0].text and "2026-11-30" in reminders[0].text
    await console.clock_to("+3h")
    assert len([s for s in console.seen_by("陈阿姨") if "提醒" in s.text]) == 1
    # The reminder's button marks it fulfilled.
    await console.press("已践诺 #1")
    assert "为独居老人代购" in console.last.text
