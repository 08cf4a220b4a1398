"""Party members: 报到, 承诺, 践诺 confirmed by the secretary, 请假, and the yearly export read back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from bot.app import App
from bot.cli import build_parser
from bot.core.i18n import Catalogs
from bot.core.when import parse_day
from bot.settings import Settings
from bot.transports.console import Console
from storage.db import transaction
from storage.party import PartyLeave, PartyReport, Pledge, PledgeStatus, export_party_cli
from storage.people import Role
from tests.conftest import revoke_role, second_compound, switch_to
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
    # 王书记, 李楼长 and 陈阿姨 are the demo party members; and the branch summary.
    assert len(files) == 4
    mine = [f for f in files if "陈阿姨" in f.name]
    assert len(mine) == 1
    book = load_workbook(mine[0])
    # Headers are in the compound's language; the catalogue (shared by all features) says which words.
    t = Catalogs().translator("zh_CN")
    summary = {row[0]: row[1] for row in book[t("Summary")].iter_rows(min_row=4, values_only=True)}
    assert summary["姓名"] == "陈阿姨" and summary["工作单位"] == "西陵区人民医院"
    assert summary[t("Pledges")] == 2 and summary[t("Pledges fulfilled")] == 1
    assert summary[t("Volunteer tasks")] == 1 and summary[t("Volunteer hours")] == 2
    assert summary[t("Points earned this year")] == 4 and summary[t("Points balance")] == 4
    pledges = [row[1:] for row in book[t("Pledges")].iter_rows(min_row=3, values_only=True)]  # after 序号
    assert pledges[0][0] == "承诺内容"
    states = {row[0]: row[3] for row in pledges[1:]}
    assert states == {"每月参加一次志愿服务": "进行中", "为独居老人代购": "已践诺"}
    leave = [row[1:] for row in book[t("Leave")].iter_rows(min_row=3, values_only=True)]
    assert leave[1] == (datetime(2026, 11, 23), datetime(2026, 11, 30), "外出学习")  # dates, not text
    volunteering = [row[1:] for row in book[t("Volunteering")].iter_rows(min_row=3, values_only=True)]
    assert volunteering[1][0] == "清理楼道杂物" and volunteering[1][3] == 4
    # Another year holds none of it.
    assert await export_party_cli(settings, "XFL", 2025, tmp_path / "2025") == 0
    old = [f for f in (tmp_path / "2025").glob("*.xlsx") if "陈阿姨" in f.name]
    assert list(load_workbook(old[0])[t("Pledges")].iter_rows(min_row=4, values_only=True)) == [("本期间无记录。",
                                                                                                 *[None] * 7)]


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


# ---- every party flow is bound to its compound and re-checks the role at every step (issue 15: 2, 3, 5) --------


@dataclass(frozen=True)
class Rows:
    """What the party tables hold: (compound, person, what) per row, and each pledge's state."""

    reports: tuple[tuple[int, str], ...]
    pledges: tuple[tuple[int, str, str, str, str], ...]
    leave: tuple[tuple[int, str], ...]


async def party_rows(app: App) -> Rows:
    async with app.core.sessions() as session:
        reports = (await session.exec(select(PartyReport).order_by(col(PartyReport.id)))).all()
        pledges = (await session.exec(select(Pledge).order_by(col(Pledge.id)))).all()
        leave = (await session.exec(select(PartyLeave).order_by(col(PartyLeave.id)))).all()
    return Rows(tuple((r.compound_id, r.employer) for r in reports),
                tuple((p.compound_id, p.text, p.status, p.evidence_text, p.sent_back_reason) for p in pledges),
                tuple((le.compound_id, le.reason) for le in leave))


async def start_report(console: Console) -> str:
    await console.say("/report")
    return "西陵区人民医院"


async def start_pledge(console: Console) -> str:
    await console.say("/pledge 每周巡楼一次")
    assert "什么时候" in console.last.text
    return "12-31"


async def start_fulfil(console: Console) -> str:
    await console.say("/pledge 每周巡楼一次")
    await console.say("12-31")
    await console.say("/pledges")
    await console.press("已践诺")
    assert "巡楼" in console.last.text
    return "巡楼四次，记录在册"


async def start_leave(console: Console) -> str:
    await console.say("/leave")
    await console.say("外出学习")
    await console.press("从今天开始")
    return "2026-11-30"


MEMBER_FLOWS = {"party_report": start_report, "pledge": start_pledge, "fulfil": start_fulfil,
                "party_leave": start_leave}


@pytest.mark.parametrize("flow", MEMBER_FLOWS)
async def test_a_revoked_party_member_finishes_nothing(console: Console, app: App, flow: str) -> None:
    """The party report and the pledge used to complete after the role was revoked mid-flow."""
    console.as_("陈阿姨")
    last_answer = await MEMBER_FLOWS[flow](console)
    before = await party_rows(app)
    await revoke_role(app, "陈阿姨", Role.PARTY_MEMBER)
    await console.say(last_answer)
    assert "身份已有变化" in console.last.text
    assert await party_rows(app) == before
    assert not any("陈阿姨" in shown.text for shown in console.seen_by("王书记", "private"))
    await console.say(last_answer)
    assert "您想怎么办" in console.last.text  # the flow is gone: offered as a first message


@pytest.mark.parametrize("flow", MEMBER_FLOWS)
async def test_switching_compound_mid_party_flow_keeps_it_where_it_began(console: Console, app: App,
                                                                      flow: str) -> None:
    """/compound mid-flow used to move the action into the other compound, where she is no party member."""
    console.as_("陈阿姨")
    last_answer = await MEMBER_FLOWS[flow](console)
    other = await second_compound(app, ("陈阿姨", ()))
    await switch_to(console, "和平苑")
    await console.say(last_answer)
    assert "身份已有变化" not in console.last.text and "只有" not in console.last.text
    rows = await party_rows(app)
    written = [*rows.reports, *rows.pledges, *rows.leave]
    assert written and all(row[0] == 1 for row in written) and not any(row[0] == other for row in written)
    if flow == "fulfil":
        assert rows.pledges[0][2] == PledgeStatus.CLAIMED
    if flow != "pledge":  # the secretary of 幸福里, where it began, is told
        assert "陈阿姨" in console.last_for("王书记").text


async def claimed_pledge(console: Console) -> None:
    console.as_("陈阿姨")
    await start_fulfil(console)
    await console.say("巡楼四次，记录在册")
    console.as_("王书记")


async def test_sending_a_pledge_back_asks_the_reason_the_member_reads(console: Console, app: App,
                                                                       settings: Settings, tmp_path: Path) -> None:
    """退回 used to reopen the pledge at once, with no reason for the member or the record."""
    await claimed_pledge(console)
    await console.press("退回")
    assert "原因" in console.last.text and "陈阿姨" in console.last.text
    assert (await party_rows(app)).pledges[0][2] == PledgeStatus.CLAIMED  # nothing decided before the reason
    await console.photo()
    assert "原因" in console.last.text  # a photo is no reason: asked again
    await console.say("请附上巡楼记录表的照片")
    assert "恢复为进行中" in console.last.text
    told = console.last_for("陈阿姨").text
    assert "恢复为进行中" in told and "请附上巡楼记录表的照片" in told
    assert (await party_rows(app)).pledges[0][2:] == (PledgeStatus.OPEN, "巡楼四次，记录在册", "请附上巡楼记录表的照片")
    console.as_("陈阿姨")
    await console.say("/pledges")
    assert "请附上巡楼记录表的照片" in console.last.text and "已践诺" in console.last.labels[0]
    assert await export_party_cli(settings, "XFL", 2026, tmp_path) == 0
    mine = next(f for f in tmp_path.glob("*.xlsx") if "陈阿姨" in f.name)  # noqa: ASYNC240
    t = Catalogs().translator("zh_CN")
    pledges = list(load_workbook(mine)[t("Pledges")].iter_rows(min_row=3, values_only=True))  # under the title
    assert pledges[0][-1] == "退回原因" and pledges[1][-1] == "请附上巡楼记录表的照片"


async def test_a_revoked_secretary_sends_nothing_back(console: Console, app: App) -> None:
    await claimed_pledge(console)
    await console.press("退回")
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.say("证据不足")
    assert "身份已有变化" in console.last.text
    assert (await party_rows(app)).pledges[0][2:] == (PledgeStatus.CLAIMED, "巡楼四次，记录在册", "")


async def test_switching_compound_while_sending_back_keeps_it_in_the_pledges_compound(console: Console,
                                                                                       app: App) -> None:
    await claimed_pledge(console)
    await console.press("退回")
    await second_compound(app, ("王书记", ()))
    await switch_to(console, "和平苑")
    await console.say("证据不足")
    assert "恢复为进行中" in console.last.text
    assert (await party_rows(app)).pledges[0][2:] == (PledgeStatus.OPEN, "巡楼四次，记录在册", "证据不足")
    assert "证据不足" in console.last_for("陈阿姨").text


async def test_strangers_and_residents_start_no_party_flow(console: Console) -> None:
    for command in ("/report", "/pledge 多做好事", "/pledges", "/leave"):
        console.as_("陌生人")
        await console.say(command)
        assert "还没有加入小区" in console.last.text
        console.as_("张三")
        await console.say(command)
        assert "只有党员" in console.last.text


async def test_bad_answers_keep_the_step_and_the_draft(console: Console, app: App) -> None:
    console.as_("陈阿姨")
    await console.say("/pledge")
    await console.photo()
    assert "文字" in console.last.text
    await console.say("巡" * 10_000)
    assert "500" in console.last.text
    await console.say("每周\x1b巡楼\ud800一次")  # ESC and a lone surrogate are dropped, not stored
    for bad in ("²月3日", "①", "9" * 20_000, "2026-02-30", "2025-12-31"):
        await console.say(bad)
        assert "日期" in console.last.text, bad
    await console.press("年底前")
    assert "2026-12-31 周四" in console.last.text
    assert (await party_rows(app)).pledges == ((1, "每周巡楼一次", PledgeStatus.OPEN, "", ""),)
    await console.say("/leave")
    await console.say("/cancel")
    assert console.last.text == "已取消：请假，刚才的内容没有保存。"  # /cancel names what it cancelled
    assert (await party_rows(app)).leave == ()
