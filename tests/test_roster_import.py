"""The roster as deployers really send it: a title row above the column names, buildings and rooms written every
which way (1号楼, 1栋, 1#, 0301), phones that are no phones, messages in the operator's language (Chinese by
default), and the template they should start from. Also /lang with every language name the bot shows."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import func, select

from bot import cli
from bot.app import App
from bot.core.i18n import language_named
from bot.settings import Settings
from bot.transports.console import Console
from storage.compounds import Building, Compound, Room, RosterOwner, Unit, create_compound
from storage.db import transaction
from storage.demo import DEMO_INVITE
from storage.people import Membership, MembershipStatus, Person, phone_number
from storage.roster import (
    building_name,
    check_rows,
    import_roster_cli,
    read_roster,
    room_number,
    unit_name,
    write_template,
)
from tests.conftest import sqlite_url

HEADERS = ["楼栋", "单元", "房号", "专有面积", "业主姓名", "手机号"]


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def new_compound(app: App, code: str = "HYY") -> Compound:
    async with transaction(app.core.sessions) as session:
        return await create_compound(session, "和悦园", code)


async def places(app: App, compound_id: int) -> tuple[list[str], list[str], list[str]]:
    """The compound's building names, unit names and room numbers, sorted."""
    async with app.core.sessions() as session:
        buildings = (await session.exec(select(Building.name).where(Building.compound_id == compound_id))).all()
        units = (await session.exec(select(Unit.name).join(Building).where(
            Building.compound_id == compound_id))).all()
        rooms = (await session.exec(select(Room.number).where(Room.compound_id == compound_id))).all()
    return sorted(buildings), sorted(units), sorted(rooms)


# ---- place names and phones (no database) ---------------------------------------------------------------------


def test_place_names_have_one_form() -> None:
    for written in ("1号楼", "1栋", "1幢", "1#", "1", "１", "01", "1 号楼", "1#楼", "一号楼", "1棟", "第1栋"):
        assert building_name(written) == "1栋", written
    assert building_name("十二栋") == "12栋" and building_name("A座") == "A栋"
    assert building_name("商业楼") == "商业楼"  # a name, not a number: as written
    for written in ("1", "1单元", "01", "一单元", "１单元"):
        assert unit_name(written) == "1单元", written
    assert unit_name("") == ""
    for written in ("0301", "301", "301室", "３０１", " 301 "):
        assert room_number(written) == "301", written
    # A dash may separate a unit from its room: kept as written.
    assert room_number("3-01") == "3-01" and room_number("b101") == "B101"


def test_one_phone_check_for_roster_and_join() -> None:
    assert phone_number("13912345678") == "13912345678"
    assert phone_number("+86 139 1234 5678") == phone_number("0086-139-1234-5678") == "13912345678"
    assert phone_number("１３９１２３４５６７８") == "13912345678"
    assert phone_number("010-12345678") == "01012345678"
    assert phone_number("+852 9123 4567") == "85291234567"
    for bad in ("1390000000x", "12345678901", "1390000000", "95588", "1-800-FLOWERS", "13912345678x5", "12", ""):
        assert phone_number(bad) is None, bad


# ---- a title row above the column names --------------------------------------------------------------------


def test_a_title_row_above_the_headers_is_read_past(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["和悦园小区花名册"])
    sheet.merge_cells("A1:H1")
    sheet.append(["制表日期：2026年11月1日", None, None, "单位：㎡"])
    sheet.append([])
    sheet.append(["序号", *HEADERS, "备注"])
    sheet.append([1, "1号楼", "1单元", "0301", 89.5, "张三", "13912345678", "已装修"])
    sheet.append([2, "1号楼", "1单元", "0302", 90, "李四", "13912345679", ""])
    path = tmp_path / "花名册.xlsx"
    book.save(path)
    roster = read_roster(path)
    assert roster.errors == []
    assert [(r.line, r.building, r.unit, r.room, r.floor) for r in roster.rows] == [
        (5, "1栋", "1单元", "301", 3), (6, "1栋", "1单元", "302", 3)]

    # Rows keep their numbers in the file: a wrong one is reported where the deployer sees it.
    sheet.append([3, "1号楼", "1单元", "0303", "", "王五", ""])
    book.save(path)
    assert [str(e) for e in read_roster(path).errors] == ["row 7: missing area"]

    # No column names anywhere near the top: said so, naming the columns needed.
    roster = check_rows(enumerate([["小区花名册"], *[["说明"]] * 12, HEADERS], 1))
    assert [str(e) for e in roster.errors] == [
        "no row of column names found in the first 10 rows: the roster needs at least the columns "
        "Building / Room / Exclusive area (m²)"]


# ---- one building, however it is written --------------------------------------------------------------------


async def test_spellings_of_one_building_and_room_make_one_place(
    app: App, console: Console, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    compound = await new_compound(app)
    assert compound.id is not None
    first = write_csv(tmp_path / "first.csv", [
        ",".join(HEADERS),
        "1号楼,1,0301,89.5,钱十,13922220001",
        "1栋,1单元,0302,90,,",
        "1幢,01,0401,91,,",
        "1#,1,402,92,,",
        "２,1,101,80,,",
    ])
    assert await import_roster_cli(app.settings, first, "HYY") == 0
    out = capsys.readouterr().out
    # Without one form these were four buildings; their votes would have been split.
    assert await places(app, compound.id) == (["1栋", "2栋"], ["1单元", "1单元"], ["101", "301", "302", "401", "402"])
    assert "楼栋统一写法：1号楼 → 1栋, 1幢 → 1栋, 1# → 1栋, ２ → 2栋" in out
    assert "房号统一写法：0301 → 301, 0302 → 302, 0401 → 401" in out

    # The owner joins for the room the roster wrote 0301.
    console.as_("钱十")
    await console.say(f"/join {compound.invite_code}")
    await console.press("1栋")
    await console.press("301")
    await console.press("业主")
    await console.contact("+86 139 2222 0001")
    assert "业主名册" in console.last.text and "1栋1单元301" in console.last.text

    # The same roster again, written the other ways: the same rooms, the member still in theirs.
    again = write_csv(tmp_path / "again.csv", [
        ",".join(HEADERS),
        "1,1单元,301,89.75,钱十,+86 139 2222 0001",
        "1号楼,1,302,90,,",
        "1栋,1,401,91,,",
        "1 # ,1,0402,92,,",
        "2号楼,1,0101,80,,",
    ])
    assert await import_roster_cli(app.settings, again, "HYY") == 0
    assert "房屋：5 户（新增 0，更新 5）" in capsys.readouterr().out
    assert await places(app, compound.id) == (["1栋", "2栋"], ["1单元", "1单元"], ["101", "301", "302", "401", "402"])
    async with app.core.sessions() as session:
        person = (await session.exec(select(Person).where(Person.name == "钱十"))).one()
        membership = (await session.exec(select(Membership).where(Membership.person_id == person.id))).one()
        room = await session.get(Room, membership.room_id)
        assert room is not None and room.number == "301" and room.area == Decimal("89.75")
        assert membership.status == MembershipStatus.APPROVED
        owners = (await session.exec(select(RosterOwner.phone).where(RosterOwner.room_id == room.id))).all()
        assert owners == ["13922220001"]


async def test_a_place_stored_under_an_old_spelling_is_renamed_not_split(
    app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A roster imported before names had one form stored 2号楼 and 0101, and someone joined for that room."""
    compound = await new_compound(app)
    assert compound.id is not None
    async with transaction(app.core.sessions) as session:
        building = Building(compound_id=compound.id, name="2号楼", sort=2)
        session.add(building)
        await session.flush()
        unit = Unit(building_id=building.id or 0, name="1单元", sort=1)
        session.add(unit)
        await session.flush()
        room = Room(compound_id=compound.id, building_id=building.id or 0, unit_id=unit.id or 0, number="0101",
                    floor=1, area=Decimal(80))
        person = Person(name="孙七")
        session.add_all([room, person])
        await session.flush()
        session.add(Membership(person_id=person.id or 0, compound_id=compound.id, room_id=room.id,
                               relation="owner", status=MembershipStatus.APPROVED))
        room_id = room.id
    path = write_csv(tmp_path / "r.csv", [",".join(HEADERS), "2,1,101,81,孙七,13933330001"])
    assert await import_roster_cli(app.settings, path, "HYY") == 0
    out = capsys.readouterr().out
    assert "已有的楼栋改为统一写法（仍是原来的房屋，成员不变）：2号楼 → 2栋" in out
    assert "已有的房号改为统一写法（仍是原来的房屋，成员不变）：0101 → 101" in out
    assert "新增 0" in out
    assert await places(app, compound.id) == (["2栋"], ["1单元"], ["101"])
    async with app.core.sessions() as session:
        room = await session.get(Room, room_id)
        assert room is not None and room.area == Decimal("81.00")
        members = (await session.exec(select(func.count()).select_from(Membership).where(
            Membership.room_id == room_id))).one()
        assert members == 1


# ---- phones ---------------------------------------------------------------------------------------------


async def test_a_bad_phone_is_refused_with_its_row(
    app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    compound = await new_compound(app)
    assert compound.id is not None
    path = write_csv(tmp_path / "r.csv", [
        ",".join(HEADERS),
        "1,1,101,80,甲,+86 139 0000 0001",
        "1,1,102,80,乙,1390000000x",
        "1,1,201,80,丙;丁,13900000003;12345678901",
        "1,1,202,80,戊,０１０－１２３４５６７８",
    ])
    assert await import_roster_cli(app.settings, path, "HYY") == 1
    err = capsys.readouterr().err
    assert "花名册没有导入：发现 2 处问题。请改正后重新导入。" in err
    assert "第 3 行：手机号“1390000000x”不是有效的号码（大陆手机号为 11 位数字，如 13123456789）" in err
    assert "第 4 行：手机号“12345678901”不是有效的号码" in err
    assert "第 2 行" not in err and "第 5 行" not in err
    assert await places(app, compound.id) == ([], [], [])

    fixed = write_csv(tmp_path / "fixed.csv", [
        ",".join(HEADERS),
        "1,1,101,80,甲,+86 139 0000 0001",
        "1,1,202,80,戊,０１０－１２３４５６７８",
    ])
    assert await import_roster_cli(app.settings, fixed, "HYY") == 0
    async with app.core.sessions() as session:
        phones = (await session.exec(select(RosterOwner.phone).join(Room).where(
            Room.compound_id == compound.id).order_by(RosterOwner.name))).all()
    assert sorted(phones) == ["01012345678", "13900000001"]


async def test_joining_refuses_the_phone_the_roster_refuses(console: Console) -> None:
    console.as_("路人丙")
    await console.say(f"/join {DEMO_INVITE}")
    for answer in ("2栋", "2单元", "202", "租户"):
        await console.say(answer)
    for bad in ("1390000000x", "12345678901", "1-800-FLOWERS"):
        await console.say(bad)
        assert console.last.text == "请用按钮分享手机号，或点“跳过”。", bad
    await console.say("+86 139 1234 5678")
    assert "等待支部书记审核" in console.last.text
    assert "手机：13912345678（" in console.last_for("王书记").text


# ---- the operator's language and the template --------------------------------------------------------------


@pytest.fixture
def cli_db(sqlite_template_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`linli` run as a deployer runs it: settings from the environment, a migrated demo database."""
    database = tmp_path / "linli.db"
    shutil.copy(sqlite_template_db, database)
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("DATABASE_URL", sqlite_url(database))
    return tmp_path


def test_messages_are_chinese_by_default_and_follow_lang(cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write_csv(cli_db / "bad.csv", ["building,room", "1,101"])
    assert cli.main(["roster", "import", str(bad), "--compound", "XFL"]) == 1
    assert "花名册没有导入" in capsys.readouterr().err
    assert cli.main(["roster", "import", str(bad), "--compound", "XFL", "--lang", "繁體中文"]) == 1
    err = capsys.readouterr().err
    assert "名冊沒有匯入" in err and "缺少「專有面積（m²）」欄" in err
    assert cli.main(["roster", "import", str(bad), "--compound", "XFL", "--lang", "en"]) == 1
    assert "row 1: missing column 'Exclusive area (m²)'" in capsys.readouterr().err
    assert cli.main(["roster", "import", str(bad), "--compound", "XFL", "--lang", "klingon"]) == 2
    assert "--lang" in capsys.readouterr().err


def test_the_template_reads_back_and_imports_as_it_is(cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["roster", "template"]) == 0
    path = cli_db / "roster-template.xlsx"
    assert "花名册模板已写入" in capsys.readouterr().out
    book = load_workbook(path)
    sheet = book.worksheets[0]
    assert sheet.title == "花名册" and sheet.freeze_panes == "A2"
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["楼栋", "单元", "房号", "楼层", "专有面积（m²）", "业主姓名", "手机号", "业主编号", "未售"]
    assert rows[1][:7] == ["1栋", "1单元", "301", 3, 89.5, "张三、李四", "13123456789、13123456780"]
    assert len(rows) == 2
    notes = [str(cell.value) for cell in book.worksheets[1]["A"]]
    assert book.sheetnames[1] == "填写说明" and any("小区花名册" in note for note in notes)
    # A second run does not overwrite a roster that may be filled in already.
    assert cli.main(["roster", "template"]) == 1
    assert "已经存在" in capsys.readouterr().err

    assert cli.main(["roster", "import", str(path), "--compound", "XFL"]) == 0
    out = capsys.readouterr().out
    assert "已将 roster-template.xlsx 导入 XFL：" in out and "房屋：1 户（新增 0，更新 1）" in out


@pytest.mark.parametrize("language", ["zh_TW", "en"])
def test_the_template_in_each_language_reads_back(tmp_path: Path, language: str) -> None:
    from bot.core.i18n import Catalogs

    path = write_template(tmp_path / f"{language}.xlsx", Catalogs().translator(language))
    roster = read_roster(path)
    assert roster.errors == []
    assert roster.rows[0].owners == (("张三", "13123456789"), ("李四", "13123456780"))


# ---- /lang takes every language name the bot shows ---------------------------------------------------------


def test_language_names_and_codes() -> None:
    for named, code in (("繁體中文", "zh_TW"), ("繁体中文", "zh_TW"), ("zh-Hant", "zh_TW"), ("zh_TW", "zh_TW"),
                        ("zh-hk", "zh_TW"), ("简体中文", "zh_CN"), ("zh_CN", "zh_CN"), ("zh-Hans", "zh_CN"),
                        ("zh", "zh_CN"), ("English", "en"), ("english", "en"), ("en-US", "en"), ("英文", "en")):
        assert language_named(named) == code, named
    for unknown in ("klingon", "fr", "entropy", "", "繁" * 1000):
        assert language_named(unknown) is None, unknown


async def test_lang_takes_the_names_the_bot_shows(console: Console, app: App) -> None:
    console.as_("张三")
    await console.say("/lang klingon")
    refusal = console.last
    assert refusal.text == "不支持这种语言。请从以下选择：简体中文, 繁體中文, English。"
    assert refusal.labels == ["简体中文", "繁體中文", "English"]
    # Every name that refusal offers is taken as typed.
    await console.say("/lang 繁體中文")
    assert console.last.text == "語言已設為繁體中文。"
    await console.say("/lang English")
    assert console.last.text == "Language set to English."
    await console.say("/lang zh-Hant")
    assert console.last.text == "語言已設為繁體中文。"
    await console.say("/lang 简体中文")
    assert console.last.text == "语言已设为简体中文。"
    await console.say("/lang 繁體中文")
    async with app.core.sessions() as session:
        person = (await session.exec(select(Person).where(Person.name == "张三"))).one()
        assert person.language == "zh_TW"
