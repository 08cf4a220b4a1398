"""`linli roster import`: CSV and XLSX rosters, checked row by row, imported all or nothing, idempotently; an
owner on the roster then joins and is approved at once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlmodel import col, func, select

from bot.app import App
from bot.transports.console import Console
from storage.compounds import Building, Compound, Room, RosterOwner, Unit, create_compound
from storage.db import transaction
from storage.people import Membership, Person
from storage.roster import check_rows, floor_from_room, import_roster_cli, parse_area, read_roster


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


async def new_compound(app: App, code: str = "HYY") -> Compound:
    async with transaction(app.core.sessions) as session:
        return await create_compound(session, "和悦园", code)


async def counts(app: App, compound_id: int) -> tuple[int, int, int, int]:
    async with app.core.sessions() as session:
        buildings = (await session.exec(select(func.count()).select_from(Building).where(
            Building.compound_id == compound_id))).one()
        units = (await session.exec(select(func.count()).select_from(Unit).join(Building).where(
            Building.compound_id == compound_id))).one()
        rooms = (await session.exec(select(func.count()).select_from(Room).where(
            Room.compound_id == compound_id))).one()
        owners = (await session.exec(select(func.count()).select_from(RosterOwner).join(Room).where(
            Room.compound_id == compound_id))).one()
    return buildings, units, rooms, owners


# ---- pure rules -----------------------------------------------------------------------------------------


def test_floor_is_read_from_the_room_number() -> None:
    assert floor_from_room("1502") == 15
    assert floor_from_room("301") == 3
    assert floor_from_room("2-1502") == 15
    assert floor_from_room("12") is None
    assert floor_from_room("商铺A") is None


def test_area_accepts_units_and_refuses_nonsense() -> None:
    assert parse_area("89.5") == Decimal("89.50")
    assert parse_area("120㎡") == Decimal("120.00")
    assert parse_area("1,234.567 m²") == Decimal("1234.57")
    for bad in ("0", "-3", "abc", "NaN", "Infinity", "1e9"):
        assert parse_area(bad) is None, bad


def test_chinese_headers_several_owners_and_derived_floors() -> None:
    roster = check_rows(enumerate([
        ["楼栋", "单元", "房号", "专有部分面积（㎡）", "业主姓名", "手机", "未售"],
        ["1", "2", "1502", "98.76", "张三、李四", "13900000001;+86 139 0000 0002", ""],
        ["1栋", "2单元", "1503", 88, "", "", "是"],
    ], 1))
    assert roster.errors == []
    first, second = roster.rows
    assert (first.building, first.unit, first.room, first.floor) == ("1栋", "2单元", "1502", 15)
    assert first.owners == (("张三", "13900000001"), ("李四", "13900000002"))
    assert second.unsold and second.owners == () and second.area == Decimal("88.00")


def test_every_bad_row_is_reported_with_its_reason() -> None:
    roster = check_rows(enumerate([
        ["building", "unit", "room", "area", "colour"],
    ], 1))
    assert [str(e) for e in roster.errors] == ["row 1: unknown column 'colour'"]
    roster = check_rows(enumerate([
        ["building", "room"],
        ["1", "101"],
    ], 1))
    assert [str(e) for e in roster.errors] == ["row 1: missing column 'Exclusive area (m²)'"]
    roster = check_rows(enumerate([
        ["building", "unit", "room", "floor", "area", "phone", "unsold"],
        ["1", "1", "101", "", "", "", ""],
        ["1", "1", "102", "", "-5", "", ""],
        ["1", "1", "101", "", "80", "", ""],
        ["", "1", "X", "", "80", "12", "maybe"],
        ["1", "1", "103", "three", "80", "", ""],
    ], 1))
    reasons = [str(e) for e in roster.errors]
    assert "row 2: missing area" in reasons
    assert "row 3: area '-5' is not a positive number of m²" in reasons
    assert "row 4: duplicate room 1栋1单元101 (first on row 2)" in reasons
    assert "row 5: missing building" in reasons
    assert "row 5: phone '12' is not a valid phone number (a mainland mobile has 11 digits, such as 13123456789)" \
        in reasons
    assert any(r.startswith("row 5: unsold 'maybe' is not yes or no") for r in reasons)
    assert any(r.startswith("row 5: no floor given") for r in reasons)
    assert "row 6: floor 'three' is not a whole number" in reasons
    assert roster.rows == []


def test_gbk_csv_from_chinese_excel(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "gbk.csv", ["楼栋,房号,面积", "3,201,76.5"], encoding="gbk")
    roster = read_roster(path)
    assert roster.errors == []
    assert roster.rows[0].building == "3栋" and roster.rows[0].unit == ""


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    assert "unsupported file type" in str(read_roster(write_csv(tmp_path / "r.json", ["{}"])).errors[0])
    assert "no such file" in str(read_roster(tmp_path / "none.csv").errors[0])


# ---- the import through the command's entry point -------------------------------------------------------


async def test_bad_file_imports_nothing_then_good_file_imports_all(
    app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    compound = await new_compound(app)
    assert compound.id is not None
    bad = write_csv(tmp_path / "bad.csv", [
        "building,unit,room,area,owner,phone",
        "1,1,101,90.5,周七,13911110001",
        "1,1,102,,,",
        "1,1,101,91,,",
    ])
    assert await import_roster_cli(app.settings, bad, "HYY", "en") == 1
    err = capsys.readouterr().err
    assert "NOT imported" in err
    assert "row 3: missing area" in err
    assert "row 4: duplicate room 1栋1单元101 (first on row 2)" in err
    assert await counts(app, compound.id) == (0, 0, 0, 0)

    rows: list[list[object]] = [["楼栋", "单元", "房号", "楼层", "专有面积", "业主姓名", "手机", "未售"]]
    for building in (1, 2):
        for unit in (1, 2):
            for floor in range(1, 11):
                for index in (1, 2):
                    rows.append([building, f"{unit}单元", f"{floor}0{index}", None, 80 + index * 12.5,
                                 "", "", "1" if building == 2 and floor == 10 else ""])
    rows[1][5:7] = ["周七;吴八", "13911110001;13911110002"]
    good = write_xlsx(tmp_path / "good.xlsx", rows)
    assert await import_roster_cli(app.settings, good, "hyy", "en") == 0
    out = capsys.readouterr().out
    assert "rooms: 80 (80 new, 0 updated)" in out
    assert "owners: 2" in out
    assert "total area: 7900.00 m²" in out
    assert await counts(app, compound.id) == (2, 4, 80, 2)
    async with app.core.sessions() as session:
        room = (await session.exec(select(Room).where(Room.compound_id == compound.id, Room.number == "1001",
                                                      Room.unsold == True))).all()  # noqa: E712
        assert len(room) == 2 and room[0].floor == 10

    # Again, with one area corrected and the first room's owners replaced: nothing is duplicated.
    rows[1][4] = 93.25
    rows[1][5:7] = ["郑九", "13911110009"]
    again = write_xlsx(tmp_path / "again.xlsx", rows)
    assert await import_roster_cli(app.settings, again, "HYY", "en") == 0
    assert "rooms: 80 (0 new, 80 updated)" in capsys.readouterr().out
    assert await counts(app, compound.id) == (2, 4, 80, 1)
    async with app.core.sessions() as session:
        first = (await session.exec(select(Room).join(Building).where(
            Building.compound_id == compound.id, Building.name == "1栋", Room.number == "101").order_by(
            col(Room.id)))).first()
        assert first is not None and first.area == Decimal("93.25")
        owners = (await session.exec(select(RosterOwner).where(RosterOwner.room_id == first.id))).all()
        assert [(o.name, o.phone) for o in owners] == [("郑九", "13911110009")]


async def test_unknown_compound(app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "r.csv", ["building,room,area", "1,101,80"])
    assert await import_roster_cli(app.settings, path, "NOPE", "en") == 1
    assert "no compound with the code 'NOPE'" in capsys.readouterr().err
    assert await import_roster_cli(app.settings, path, "NOPE") == 1  # the operator's language: Chinese by default
    assert "没有代码为“NOPE”的小区" in capsys.readouterr().err


async def test_roster_owner_joins_and_is_approved_at_once(
    app: App, console: Console, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    compound = await new_compound(app)
    path = write_csv(tmp_path / "r.csv", [
        "building,unit,room,area,owner,phone",
        "5,1,1201,101.5,钱十;钱太太,13922220001;13922220002",
        "5,1,1202,99,,",
    ])
    assert await import_roster_cli(app.settings, path, "HYY") == 0
    capsys.readouterr()
    console.as_("钱太太")
    await console.say(f"/join {compound.invite_code}")
    assert "和悦园" in console.last.text
    assert console.last.labels == ["5栋"]
    await console.press("5栋")  # a single unit is chosen without asking
    assert console.last.labels == ["1201", "1202"]
    await console.press("1201")
    await console.press("业主")
    await console.contact("+86 139 2222 0002")
    assert "业主名册" in console.last.text and "5栋1单元1201" in console.last.text
    async with app.core.sessions() as session:
        person = (await session.exec(select(Person).where(Person.name == "钱太太"))).one()
        membership = (await session.exec(select(Membership).where(Membership.person_id == person.id))).one()
        assert (membership.status, membership.relation, membership.compound_id) == ("approved", "owner", compound.id)
    await console.say("/help")
    assert "/compound" in console.last.text
