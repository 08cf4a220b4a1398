"""The one ledger writer (台账): every export opened with openpyxl and checked for its title, period, 序号, Chinese
labels, real types (a date is a date, a count a number, a rate a number shown as a percentage), frozen header,
autofilter and print set-up; /export cases, /monthly's figures, /export points and /export members through the
console the way the secretary, a committee member and a resident ask for them."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from bot.app import App
from bot.core.i18n import Catalogs
from bot.transports.console import Console
from storage import ledger
from storage.db import transaction
from storage.points import PointsEntry
from tests.conftest import person_ids
from tests.test_complaints import file_case

ZONE = ZoneInfo("Asia/Shanghai")


def sheets(console: Console) -> list[Worksheet]:
    _name, data = console.transport.documents[-1]
    return load_workbook(io.BytesIO(data)).worksheets


def laid_out(sheet: Worksheet, header_row: int = 3) -> None:
    """What every ledger sheet has: frozen header, autofilter over it, A4 landscape fit to one page wide, the
    title and header rows on every printed page."""
    assert sheet.freeze_panes == f"A{header_row + 1}"
    assert str(sheet.auto_filter.ref).startswith(f"A{header_row}:")
    assert sheet.page_setup.orientation == "landscape"
    assert int(sheet.page_setup.fitToWidth or 0) == 1 and int(sheet.page_setup.fitToHeight or 0) == 0
    assert sheet.sheet_properties.pageSetUpPr is not None and sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.print_title_rows == f"$1:${header_row}"
    assert sheet.cell(header_row, 1).value == "序号"


def rows(sheet: Worksheet, header_row: int = 3) -> list[dict[str, object]]:
    headers = [cell.value for cell in sheet[header_row]]
    return [dict(zip(headers, (cell.value for cell in row), strict=True))
            for row in sheet.iter_rows(min_row=header_row + 1)]


def cells(sheet: Worksheet, header: str, header_row: int = 3) -> list[object]:
    """The cells (not values) of one column: their number formats are checked too."""
    column = [cell.value for cell in sheet[header_row]].index(header) + 1
    return [sheet.cell(r, column) for r in range(header_row + 1, sheet.max_row + 1)]


async def test_case_ledger(console: Console) -> None:
    number = await file_case(console, "张三", "噪音", "楼上每天夜里十二点还在装修，电钻声很大。", anonymous=True)
    await file_case(console, "李四", "房屋漏水", "卫生间天花板一直在滴水，已经两天了。")
    console.as_("王书记")
    await console.say("/export cases 2026-11-01 2026-11-30")
    [sheet] = sheets(console)
    assert sheet.title == "诉求"
    assert sheet["A1"].value == "幸福里 · 诉求台账"
    assert sheet["A2"].value == "统计期间：2026-11-01 至 2026-11-30"
    laid_out(sheet)
    first, second = rows(sheet)
    assert first["序号"] == 1 and second["序号"] == 2
    assert first["编号"] == number and first["类别"] == "噪音" and first["匿名"] == "是" and second["匿名"] == "否"
    assert first["层级"] == "楼栋" and first["状态"] == "待受理"  # words, not a bare 1 and "open"
    assert first["逾期次数"] == 0 and isinstance(first["逾期次数"], int)
    opened = first["提交时间"]
    # The console's clock: Monday 2026-11-23 09:00 in Shanghai, a naive local datetime in the cell.
    assert isinstance(opened, datetime) and opened.tzinfo is None
    assert opened.date() == date(2026, 11, 23) and opened.hour == 9
    opened_cell = cells(sheet, "提交时间")[0]
    assert getattr(opened_cell, "number_format", "") == "yyyy-mm-dd hh:mm"
    assert first["办结时间"] is None  # empty, not ""
    widths = {letter: dim.width for letter, dim in sheet.column_dimensions.items()}
    assert widths["O"] >= 30  # the description is wide and wrapped
    assert sheet["O4"].alignment.wrap_text


async def test_on_the_first_the_month_just_ended(console: Console) -> None:
    """/export cases on the 1st exported the new, empty month; now it is the month that ended."""
    await file_case(console, "张三", "噪音", "楼上每天夜里十二点还在装修，电钻声很大。")
    console.app.core.clock.advance(days=7, hours=16)  # Monday 11-23 09:00 → Tuesday 12-01 01:00
    console.as_("王书记")
    await console.say("/export cases")
    assert "2026-11-01" in console.last.text and "2026-11-30" in console.last.text
    [sheet] = sheets(console)
    assert sheet["A2"].value == "统计期间：2026-11-01 至 2026-11-30"
    assert len(rows(sheet)) == 1
    console.app.core.clock.advance(days=1)
    await console.say("/export cases")
    assert "2026-12-01" in console.last.text and "2026-12-02" in console.last.text
    [sheet] = sheets(console)
    assert sheet["A4"].value == "本期间无记录。"


async def test_export_alone_lists_what_one_may_export(console: Console) -> None:
    console.as_("王书记")
    await console.say("/export")
    assert all(f"/export {what}" in console.last.text for what in ("cases", "points", "members"))
    console.as_("张三")
    await console.say("/export")
    assert "/export points" in console.last.text and "/export cases" not in console.last.text
    await console.say("/export cases")
    assert not console.last.has_document


async def test_monthly_figures_are_numbers(console: Console) -> None:
    await file_case(console, "张三", "噪音", "楼上每天夜里十二点还在装修，电钻声很大。")
    console.as_("王书记")
    await console.say("/monthly 2026-11")
    [sheet] = sheets(console)
    assert sheet.title == "月度数据" and sheet["A1"].value == "幸福里 · 月度报表"
    assert sheet["A2"].value == "统计期间：2026-11"
    laid_out(sheet)
    [row] = rows(sheet)
    assert row["小区"] == "幸福里" and row["新增诉求"] == 1 and isinstance(row["新增诉求"], int)
    assert row["逾期率"] == 0 and getattr(cells(sheet, "逾期率")[0], "number_format", "") == "0.0%"
    assert row["满意率"] is None  # nothing rated: an empty cell, not "-" nor 0 %


async def add_points(app: App, entries: list[tuple[str, int, str, str, datetime]]) -> None:
    ids = await person_ids(app)
    async with transaction(app.core.sessions) as session:
        for n, (name, amount, kind, reason, at) in enumerate(entries):
            session.add(PointsEntry(compound_id=1, person_id=ids[name], amount=amount, kind=kind, reason=reason,
                                    key=f"test:{n}", created_at=at))


async def test_points_ledger(console: Console, app: App) -> None:
    oct_, nov = datetime(2026, 10, 5, 2, tzinfo=UTC), datetime(2026, 11, 10, 2, tzinfo=UTC)
    await add_points(app, [("张三", 10, "attendance", "楼道清扫", oct_), ("张三", 6, "attendance", "核酸志愿", nov),
                           ("张三", -5, "redemption", "兑换：大米一袋", nov + timedelta(hours=1)),
                           ("李四", 3, "attendance", "楼道清扫", nov)])
    console.as_("王书记")
    await console.say("/export points 2026-11-01 2026-11-30")
    entries, balances = sheets(console)
    assert entries.title == "积分明细" and balances.title == "积分汇总"
    assert entries["A1"].value == "幸福里 · 积分台账"
    laid_out(entries)
    laid_out(balances)
    lines = rows(entries)
    assert [(r["姓名"], r["类型"], r["积分"], r["余额"]) for r in lines] == [
        ("张三", "志愿服务", 6, 16), ("李四", "志愿服务", 3, 3), ("张三", "兑换", -5, 11)]
    assert isinstance(lines[0]["时间"], datetime) and lines[0]["时间"] == datetime(2026, 11, 10, 10, 0)
    totals = {r["姓名"]: (r["期初余额"], r["获得"], r["兑换"], r["余额"]) for r in rows(balances)}
    assert totals == {"张三": (10, 6, 5, 11), "李四": (0, 3, 0, 3)}

    ids = await person_ids(app)
    await console.say(f"/export points #{ids['张三']}")  # one member's, from the first entry
    [mine] = sheets(console)
    assert mine["A1"].value == "幸福里 · 张三 · 积分台账"
    assert mine["A2"].value == "统计期间：2026-10-05 至 2026-11-23"
    assert [r["余额"] for r in rows(mine)] == [10, 16, 11]

    console.as_("李四")  # a resident gets their own, and no one else's
    await console.say("/export points")
    [own] = sheets(console)
    assert {r["姓名"] for r in rows(own)} == {"李四"}
    before = len(console.transport.documents)
    await console.say(f"/export points #{ids['张三']}")
    assert "只有" in console.last.text and len(console.transport.documents) == before


async def test_member_list(console: Console) -> None:
    console.as_("王书记")
    await console.say("/export members")
    book = sheets(console)
    assert [s.title for s in book][:2] == ["全部成员", "1栋"]
    everyone = book[0]
    assert everyone["A1"].value == "幸福里 · 成员名单"
    laid_out(everyone)
    listed = rows(everyone)
    assert [r["楼栋"] for r in listed if r["楼栋"]] == sorted(r["楼栋"] for r in listed if r["楼栋"])
    secretary = next(r for r in listed if r["姓名"] == "王书记")
    assert secretary["身份"] == "业主" and "书记" in str(secretary["角色"]) and secretary["房号"] == "301"
    assert secretary["手机号"]
    assert isinstance(secretary["加入日期"], datetime)
    assert {r["姓名"] for r in rows(book[1])} <= {r["姓名"] for r in listed if r["楼栋"] == "1栋"}

    console.as_("孙委员")  # the committee's copy has no phone numbers
    await console.say("/export members")
    assert "仅在书记" in console.last.text
    assert "手机号" not in rows(sheets(console)[0])[0]
    console.as_("张三")
    await console.say("/export members")
    assert not console.last.has_document


def test_the_writer_in_english_and_its_cells() -> None:
    """Values as the writer stores them: 是/否 words, codes by label, Decimal as a number, a typed formula as
    text, control characters dropped, an aware time in the compound's zone; headers in the reader's language."""
    t = Catalogs().translator("en")
    column = ledger.Column
    data = ledger.render(t, ledger.Ledger(ledger.N_("Case ledger"), "Xingfu", "2026-11", [ledger.Sheet(
        ledger.N_("Cases"), [column(ledger.N_("Anonymous"), ledger.Kind.BOOL), column("State", labels={"open": "open!"}),
                             column("Area", ledger.Kind.AREA), column("Text"), column("At", ledger.Kind.DATETIME)],
        [(True, "open", Decimal("88.25"), "=1+1\x1b", datetime(2026, 11, 30, 17, tzinfo=UTC))])], ZONE))
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    assert sheet.title == "Cases" and sheet["A1"].value == "Xingfu · Case ledger" and sheet["A3"].value == "No."
    row = [c.value for c in sheet[4]]
    assert row == [1, "Yes", "open!", 88.25, "=1+1", datetime(2026, 12, 1, 1, 0)]
    assert sheet["E4"].data_type == "s" and sheet["D4"].number_format == "0.00"


async def test_party_branch_summary(console: Console) -> None:
    console.as_("陈阿姨")
    await console.say("/pledge 为独居老人代购")
    console.as_("王书记")
    await console.say("/export party")
    [sheet] = sheets(console)
    assert sheet.title == "支部汇总" and sheet["A1"].value == "幸福里 · 党支部台账" and sheet["A2"].value == "统计期间：2026"
    laid_out(sheet)
    listed = {r["姓名"]: r for r in rows(sheet)}
    assert set(listed) == {"王书记", "李楼长", "陈阿姨"}  # the demo's party members
    assert isinstance(listed["陈阿姨"]["承诺"], int)
    await console.say("/export party 1999")
    assert "用法" in console.last.text
    console.as_("陈阿姨")
    await console.say("/export party")
    assert not console.last.has_document
