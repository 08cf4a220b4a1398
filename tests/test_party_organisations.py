"""The yearly party export shows organisations' people by organisation: a party member who is an official of a
street department (no room in the compound) is listed with their department, after the compound's residents, on
the branch summary and on their own record. The member export lists them by organisation, on a sheet of its own."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook

from bot.app import App
from bot.core.i18n import Catalogs
from bot.settings import Settings
from bot.transports.console import Console
from storage.db import transaction
from storage.party import export_party_cli
from storage.people import Role, RoleGrant
from tests.conftest import person_ids
from tests.test_ledger import rows, sheets


async def test_the_party_export_shows_an_officials_department(console: Console, app: App, settings: Settings,
                                                              tmp_path: Path) -> None:
    ids = await person_ids(app)
    async with transaction(app.core.sessions) as session:  # an official of 城管 who reports to this branch
        session.add(RoleGrant(person_id=ids["城管刘科长"], compound_id=1, role=Role.PARTY_MEMBER))
    console.as_("王书记")
    await console.say("/export party")
    [sheet] = sheets(console)
    listed = rows(sheet)
    names = [row["姓名"] for row in listed]
    assert names[-1] == "城管刘科长" and set(names[:-1]) == {"王书记", "李楼长", "陈阿姨"}  # by organisation
    by_name = {row["姓名"]: row for row in listed}
    assert by_name["城管刘科长"]["所属组织"] == "职能部门 城管" and not by_name["陈阿姨"]["所属组织"]

    assert await export_party_cli(settings, "XFL", 2026, tmp_path) == 0
    [record] = [f for f in tmp_path.glob("*.xlsx") if "城管刘科长" in f.name]  # noqa: ASYNC240
    t = Catalogs().translator("zh_CN")
    summary = {row[0]: row[1] for row in load_workbook(record)[t("Summary")].iter_rows(min_row=4, values_only=True)}
    assert summary["所属组织"] == "职能部门 城管"


async def test_the_member_export_lists_organisations_people_by_organisation(console: Console) -> None:
    console.as_("王书记")
    await console.say("/export members")
    book = sheets(console)
    organisations = book[-1]
    assert organisations.title == "组织与单位"
    listed = [(row["类型"], row["所属组织"], row["姓名"]) for row in rows(organisations)]
    assert ("职能部门", "城管", "城管刘科长") in listed and ("物业公司", "幸福物业", "赵物业") in listed
    assert ("共驻共建单位", "西陵小学", None) in listed or ("共驻共建单位", "西陵小学", "") in listed
    assert "赵物业" not in {row["姓名"] for row in rows(book[0])}  # not a fake tenant
    assert any(row["手机号"] for row in rows(organisations))
    console.as_("孙委员")  # the committee's copy: no phone numbers
    await console.say("/export members")
    assert "手机号" not in rows(sheets(console)[-1])[0]
