"""Supervisors (业主监事会 / 监督组) read the case ledger and the monthly report with least privilege, through the
console: the ledger they export names no reporter (anonymous or not) and so writes no access-log row, while the
secretary's export names the named reporters and logs each name shown (via export); an anonymous reporter is in no
ledger. The monthly report is figures only, for their own compound. (And /partner sits in Management · 成员与角色.)"""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlmodel import select

from bot.app import App
from bot.transports.console import Console
from storage.access_log import Access, Via
from tests.conftest import person_ids, second_compound
from tests.test_complaints import file_case


def cells(data: bytes) -> set[str]:
    book = load_workbook(io.BytesIO(data))
    return {str(cell.value) for sheet in book.worksheets for row in sheet.iter_rows() for cell in row
            if cell.value is not None}


async def access_rows(app: App, viewer: int) -> list[Access]:
    async with app.core.sessions() as session:
        return list((await session.exec(select(Access).where(Access.viewer_id == viewer))).all())


async def test_a_supervisor_exports_the_ledger_without_reporters(console: Console, app: App) -> None:
    ids = await person_ids(app)
    named = await file_case(console, "张三", "乱停车", "小区门口长期有车占用消防通道。", place="公共区域")
    await file_case(console, "李四", "噪音", "楼上每天夜里还在装修，电钻声很大。", place="公共区域", anonymous=True)
    console.as_("王书记")
    await console.say(f"/grant {ids['陈阿姨']} supervisor")

    console.as_("陈阿姨")
    await console.say("/export cases")
    assert console.last.has_document
    shown = cells(console.transport.documents[-1][1])
    assert named in shown
    assert not {"张三", "李四"} & shown and not any("张三" in c or "李四" in c for c in shown)
    assert "实名住户" in shown and "匿名" in shown
    assert await access_rows(app, ids["陈阿姨"]) == []  # nothing personal was shown: nothing to log

    console.as_("王书记")
    await console.say("/export cases")
    shown = cells(console.transport.documents[-1][1])
    assert "张三" in shown and "李四" not in shown  # the anonymous reporter is in no ledger
    logged = [row for row in await access_rows(app, ids["王书记"]) if row.via == Via.EXPORT]
    assert [(row.subject_id, row.shown, row.hidden) for row in logged] == [(ids["张三"], "name", False)]


async def test_a_supervisor_reads_the_monthly_report_of_their_compound_only(console: Console, app: App) -> None:
    ids = await person_ids(app)
    await file_case(console, "张三", "乱停车", "小区门口长期有车占用消防通道。", place="公共区域")
    await second_compound(app)
    console.as_("王书记")
    await console.say(f"/grant {ids['陈阿姨']} supervisor")
    console.as_("陈阿姨")
    await console.say("/monthly")
    report = console.seen_by("陈阿姨", "private")[-2:]
    assert report[0].has_image and not report[0].text.startswith("抱歉")
    assert not any("张三" in shown.text for shown in report)
    await console.say("/monthly HPY")
    assert "和平苑" in console.last.text and not console.last.has_image  # not theirs to oversee
    assert await access_rows(app, ids["陈阿姨"]) == []


async def test_partner_units_are_under_members_and_roles_in_help(console: Console) -> None:
    console.as_("王书记")
    await console.say("/help")
    sections = console.last.text.split("\n\n")
    members = next(section for section in sections if section.startswith("管理 · 成员与角色"))
    assert "/partner" in members
    assert not any("/partner" in section for section in sections if section.startswith(("更多", "管理 · 更多")))
