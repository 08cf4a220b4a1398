"""The owners' roster: buildings, units, rooms (exclusive floor area) and owners loaded from CSV or XLSX.

Reading and checking a file are plain functions (`read_roster`); `import_roster` writes a checked roster in
one transaction with batch inserts, so a district's thousands of rooms load in seconds and a bad file loads
nothing. Re-importing a file is idempotent: places are reused, areas updated, the rooms' owners replaced."""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sqlmodel import col, delete, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession
from tqdm import tqdm

from storage.compounds import Building, Compound, Room, RosterOwner, Unit, compound_by_code
from storage.people import normalize_phone

if TYPE_CHECKING:
    from bot.settings import Settings

# Column names as deployers write them (English or Chinese), after `_header_key` has simplified them.
COLUMNS: dict[str, str] = {
    "building": "building", "bldg": "building", "楼栋": "building", "楼号": "building", "楼栋号": "building",
    "栋": "building", "樓棟": "building",
    "unit": "unit", "entrance": "unit", "单元": "unit", "单元号": "unit", "單元": "unit",
    "room": "room", "roomnumber": "room", "number": "room", "房号": "room", "房间号": "room", "室": "room",
    "房號": "room", "门牌号": "room",
    "floor": "floor", "楼层": "floor", "层": "floor", "樓層": "floor",
    "area": "area", "exclusivearea": "area", "面积": "area", "专有面积": "area", "专有部分面积": "area",
    "面積": "area", "專有面積": "area", "專有部分面積": "area",
    "owner": "owner", "owners": "owner", "ownername": "owner", "ownernames": "owner", "name": "owner",
    "业主": "owner", "业主姓名": "owner", "姓名": "owner", "業主": "owner", "業主姓名": "owner",
    "phone": "phone", "phones": "phone", "mobile": "phone", "手机": "phone", "手机号": "phone",
    "电话": "phone", "联系电话": "phone", "手機": "phone", "電話": "phone", "聯繫電話": "phone",
    "unsold": "unsold", "未售": "unsold", "未售出": "unsold",
    "ownerid": "owner_ref", "ownerids": "owner_ref", "业主编号": "owner_ref", "业主id": "owner_ref",
    "产权人编号": "owner_ref", "業主編號": "owner_ref", "業主id": "owner_ref",
}
REQUIRED = ("building", "room", "area")
# Several owners of one room share a cell: "张三;李四", "张三、李四".
_SEPARATORS = re.compile(r"[;；、,，/|]+")
_UNITS_OF_AREA = re.compile(r"(㎡|m²|m2|平方米|平米)$", re.IGNORECASE)
_YES = {"1", "y", "yes", "true", "x", "√", "✓", "是", "未售", "unsold"}
_NO = {"", "0", "n", "no", "false", "否", "已售"}
MAX_AREA = Decimal("100000")
BATCH = 500  # rows per INSERT (well under SQLite's bound-parameter limit)


@dataclass(frozen=True, slots=True)
class RosterRow:
    line: int  # the row number in the file (the header is row 1 when it comes first)
    building: str
    unit: str
    room: str
    floor: int
    area: Decimal
    unsold: bool = False
    owners: tuple[tuple[str, str], ...] = ()  # (name, phone digits)
    refs: tuple[str, ...] = ()  # the roster's owner ids (业主编号), in the owners' order; "" where none

    @property
    def key(self) -> tuple[str, str, str]:
        return self.building, self.unit, self.room


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.line}: {self.reason}" if self.line else self.reason


@dataclass
class Roster:
    rows: list[RosterRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    buildings: int
    units: int
    rooms: int
    new_rooms: int
    updated_rooms: int
    owners: int
    total_area: Decimal
    new_buildings: int = 0
    new_units: int = 0

    def lines(self) -> list[str]:
        return [
            f"buildings:  {self.buildings} ({self.new_buildings} new)",
            f"units:      {self.units} ({self.new_units} new)",
            f"rooms:      {self.rooms} ({self.new_rooms} new, {self.updated_rooms} updated)",
            f"owners:     {self.owners}",
            f"total area: {self.total_area} m²",
        ]


# ---- reading and checking (no database) ----------------------------------------------------------------


def _header_key(text: Any) -> str:
    """"专有面积(m²)" → "专有面积", "Owner name" → "ownername"."""
    value = re.sub(r"[(（\[【].*?[)）\]】]", "", str(text or ""))
    return re.sub(r"[\s_\-:：]+", "", value).lower()


def _cell(value: Any) -> str:
    """Spreadsheets hand numbers back as floats: 301.0 is the room "301"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _place_name(value: str, suffix: str) -> str:
    """A bare number gets its usual suffix, so "1" and "1栋" are the same building."""
    value = value.strip()
    return f"{value}{suffix}" if value.isdigit() else value


def floor_from_room(number: str) -> int | None:
    """1502 → 15, 301 → 3, "2-1502" → 15; None when the number does not say."""
    digits = re.search(r"(\d+)$", number)
    if digits is None or len(digits.group(1)) < 3:
        return None
    return int(digits.group(1)[:-2])


def parse_area(text: str) -> Decimal | None:
    value = _UNITS_OF_AREA.sub("", text.strip().replace(",", "")).strip()
    try:
        area = Decimal(value)
    except InvalidOperation:
        return None
    if not area.is_finite() or area <= 0 or area >= MAX_AREA:
        return None
    return area.quantize(Decimal("0.01"))


def check_row(line: int, cells: dict[str, str], seen: dict[tuple[str, str, str], int]) -> RosterRow | list[RowError]:
    """One data row: a `RosterRow`, or every reason it is wrong."""
    reasons: list[str] = []
    building = _place_name(cells.get("building", ""), "栋")
    unit = _place_name(cells.get("unit", ""), "单元")
    room = cells.get("room", "").strip()
    if not building:
        reasons.append("missing building")
    elif len(building) > 50:
        reasons.append("building name longer than 50 characters")
    if len(unit) > 50:
        reasons.append("unit name longer than 50 characters")
    if not room:
        reasons.append("missing room number")
    elif len(room) > 20:
        reasons.append("room number longer than 20 characters")
    area_text = cells.get("area", "").strip()
    area = parse_area(area_text) if area_text else None
    if not area_text:
        reasons.append("missing area")
    elif area is None:
        reasons.append(f"area {area_text!r} is not a positive number of m²")
    floor_text = cells.get("floor", "").strip()
    floor: int | None
    if floor_text:
        floor = int(floor_text) if re.fullmatch(r"-?\d+", floor_text) else None
        if floor is None:
            reasons.append(f"floor {floor_text!r} is not a whole number")
    else:
        floor = floor_from_room(room)
        if floor is None and room:
            reasons.append(f"no floor given and none can be read from the room number {room!r}")
    unsold_text = cells.get("unsold", "").strip().lower()
    unsold = unsold_text in _YES
    if unsold_text not in _YES and unsold_text not in _NO:
        reasons.append(f"unsold {unsold_text!r} is not yes/no (1/0, 是/否)")
    names = [n.strip() for n in _SEPARATORS.split(cells.get("owner", "")) if n.strip()]
    phones = [p.strip() for p in _SEPARATORS.split(cells.get("phone", "")) if p.strip()]
    digits: list[str] = []
    for phone in phones:
        normal = normalize_phone(phone)
        if not 7 <= len(normal) <= 15:
            reasons.append(f"phone {phone!r} is not a phone number")
        digits.append(normal)
    if any(len(name) > 100 for name in names):
        reasons.append("owner name longer than 100 characters")
    refs = [r.strip() for r in _SEPARATORS.split(cells.get("owner_ref", "")) if r.strip()]
    if any(len(ref) > 64 for ref in refs):
        reasons.append("owner id longer than 64 characters")
    if building and room:
        first = seen.get((building, unit, room))
        if first is not None:
            reasons.append(f"duplicate room {building}{unit}{room} (first on row {first})")
        else:
            seen[(building, unit, room)] = line
    if reasons:
        return [RowError(line, reason) for reason in reasons]
    assert area is not None and floor is not None
    # Names and phones pair up in order; a phone without a name still lets its owner join at once.
    count = max(len(names), len(digits), len(refs))
    owners = tuple(
        (names[i] if i < len(names) else "", digits[i] if i < len(digits) else "") for i in range(count)
    )
    return RosterRow(line, building, unit, room, floor, area, unsold, owners,
                     tuple(refs[i] if i < len(refs) else "" for i in range(count)) if refs else ())


def check_rows(table: Iterable[tuple[int, Sequence[Any]]], progress: bool = False) -> Roster:
    """Rows as (row number, cells), the header first: every row checked before anything is written."""
    roster = Roster()
    header: dict[int, str] | None = None
    seen: dict[tuple[str, str, str], int] = {}
    bar = tqdm(desc="checking", unit=" rows", disable=not progress, file=sys.stderr)
    for line, values in table:
        cells = [_cell(v) for v in values]
        if not any(cells):
            continue
        if header is None:
            header = {}
            for index, title in enumerate(cells):
                if not title:
                    continue
                column = COLUMNS.get(_header_key(title))
                if column is None:
                    roster.errors.append(RowError(line, f"unknown column {title!r}"))
                elif column in header.values():
                    roster.errors.append(RowError(line, f"column {title!r} appears twice"))
                else:
                    header[index] = column
            for column in REQUIRED:
                if column not in header.values():
                    roster.errors.append(RowError(line, f"missing column {column!r}"))
            if roster.errors:
                break
            continue
        named = {column: cells[index] if index < len(cells) else "" for index, column in header.items()}
        extra = [c for i, c in enumerate(cells) if c and i not in header]
        checked = check_row(line, named, seen)
        if extra:
            roster.errors.append(RowError(line, f"values outside the named columns: {', '.join(extra[:3])}"))
        if isinstance(checked, RosterRow):
            roster.rows.append(checked)
        else:
            roster.errors.extend(checked)
        bar.update()
    bar.close()
    if header is None:
        roster.errors.append(RowError(1, "the file is empty"))
    elif not roster.rows and not roster.errors:
        roster.errors.append(RowError(1, "the file has a header but no rooms"))
    return roster


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    # Excel in China saves CSV as GBK; everything else sends UTF-8 (with or without a BOM).
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise ValueError("cannot decode the file")
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for values in reader:
        yield reader.line_num, values


def _xlsx_rows(path: Path) -> Iterator[tuple[int, Sequence[Any]]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        yield from enumerate(sheet.iter_rows(values_only=True), 1)
    finally:
        workbook.close()


def read_roster(path: Path, progress: bool = False) -> Roster:
    if not path.is_file():
        return Roster(errors=[RowError(0, f"no such file: {path}")])
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        try:
            return check_rows(_xlsx_rows(path), progress)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            return Roster(errors=[RowError(0, f"cannot read the spreadsheet: {exc}")])
    if suffix in (".csv", ".txt", ".tsv"):
        return check_rows(_csv_rows(path.read_bytes()), progress)
    return Roster(errors=[RowError(0, f"unsupported file type {suffix!r}: use .csv or .xlsx")])


# ---- writing --------------------------------------------------------------------------------------------


def _sort_key(name: str, fallback: int) -> int:
    number = re.match(r"\d+", name)
    return int(number.group()) if number else fallback


def _batches(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def import_roster(
    session: AsyncSession, compound: Compound, rows: Sequence[RosterRow], progress: bool = False
) -> ImportSummary:
    """Writes checked rows in the caller's transaction; existing places are reused and updated."""
    assert compound.id is not None
    compound_id = compound.id
    bar = tqdm(total=len(rows) * 2, desc="importing", unit=" rows", disable=not progress, file=sys.stderr)

    buildings = {b.name: b for b in (await session.exec(select(Building).where(
        Building.compound_id == compound_id))).all()}
    new_buildings = [name for name in dict.fromkeys(r.building for r in rows) if name not in buildings]
    for index, name in enumerate(new_buildings, len(buildings) + 1):
        building = Building(compound_id=compound_id, name=name, sort=_sort_key(name, 1000 + index))
        session.add(building)
        buildings[name] = building
    await session.flush()

    building_ids = {name: b.id or 0 for name, b in buildings.items()}
    units = {(u.building_id, u.name): u for u in (await session.exec(select(Unit).where(
        col(Unit.building_id).in_(list(building_ids.values()))))).all()}
    wanted_units = dict.fromkeys((building_ids[r.building], r.unit) for r in rows)
    new_units = [key for key in wanted_units if key not in units]
    for index, (building_id, name) in enumerate(new_units, 1):
        unit = Unit(building_id=building_id, name=name, sort=_sort_key(name, 1000 + index))
        session.add(unit)
        units[(building_id, name)] = unit
    await session.flush()
    unit_ids = {key: u.id or 0 for key, u in units.items()}

    existing = {(unit_id, number): room_id for room_id, unit_id, number in (await session.exec(
        select(Room.id, Room.unit_id, Room.number).where(Room.compound_id == compound_id))).all()}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for row in rows:
        building_id = building_ids[row.building]
        unit_id = unit_ids[(building_id, row.unit)]
        values = {"floor": row.floor, "area": row.area, "unsold": row.unsold}
        room_id = existing.get((unit_id, row.room))
        if room_id is None:
            inserts.append({"compound_id": compound_id, "building_id": building_id, "unit_id": unit_id,
                            "number": row.room, **values})
        else:
            updates.append({"id": room_id, **values})
    for batch in _batches(inserts):
        await session.exec(insert(Room), params=list(batch))
        bar.update(len(batch))
    for batch in _batches(updates):
        # ORM bulk UPDATE by primary key: one executemany per batch.
        await session.exec(update(Room), params=list(batch))
        bar.update(len(batch))

    room_ids: dict[tuple[int, str], int] = {(unit_id, number): room_id or 0 for room_id, unit_id, number in (await session.exec(
        select(Room.id, Room.unit_id, Room.number).where(Room.compound_id == compound_id))).all()}
    owners: list[dict[str, Any]] = []
    touched: list[int] = []
    for row in rows:
        room_id = room_ids[(unit_ids[(building_ids[row.building], row.unit)], row.room)]
        touched.append(room_id)
        refs = row.refs or ("",) * len(row.owners)
        owners.extend({"room_id": room_id, "name": name, "phone": phone, "owner_ref": ref}
                      for (name, phone), ref in zip(row.owners, refs, strict=True))
    # The file is the truth for its rooms: their previous roster owners are replaced.
    for batch in _batches(touched):
        await session.exec(delete(RosterOwner).where(col(RosterOwner.room_id).in_(list(batch))))
    for batch in _batches(owners):
        await session.exec(insert(RosterOwner), params=list(batch))
    for batch in _batches(rows):
        bar.update(len(batch))
    bar.close()
    return ImportSummary(
        buildings=len(dict.fromkeys(r.building for r in rows)),
        units=len(wanted_units),
        rooms=len(rows),
        new_rooms=len(inserts),
        updated_rooms=len(updates),
        owners=len(owners),
        total_area=sum((r.area for r in rows), Decimal("0")),
        new_buildings=len(new_buildings),
        new_units=len(new_units),
    )


# ---- who owns what, for counting owners ------------------------------------------------------------------


def roster_identity(row_id: int, name: str, phone: str, owner_ref: str) -> tuple[Any, ...]:
    """Who a roster line names, as a key equal for the same owner on any room: the roster's owner id (业主编号)
    when it has one, else the name and phone together. A line with only a name or only a phone does not say
    who the person is elsewhere (two 张伟 are two people): it names an owner of its own room only."""
    if owner_ref.strip():
        return ("ref", owner_ref.strip())
    digits = normalize_phone(phone)
    if name.strip() and digits:
        return ("owner", name.strip(), digits)
    return ("line", row_id)


def owner_keys(members: Iterable[tuple[int, int, str, str]],
               lines: Iterable[tuple[int, int, str, str, str]]) -> dict[int, set[Any]]:
    """Each room's owners as keys: approved owner members as (room, person id, name, phone), roster lines as
    (line id, room, name, phone, owner id) by `roster_identity`. A member is also who their name and phone
    say on the roster; a member and the roster line of the same room are co-owners of it. So the roster links
    the rooms of an owner who never joined, and the rooms of one who joined for some of them only. Rooms with
    no owner on record are absent."""
    owners: dict[int, set[Any]] = {}
    for room_id, person_id, name, phone in members:
        keys = owners.setdefault(room_id, set())
        keys.add(person_id)
        if (name or "").strip() and normalize_phone(phone or ""):
            keys.add(roster_identity(0, name or "", phone or "", ""))
    for line_id, room_id, name, phone, owner_ref in lines:
        owners.setdefault(room_id, set()).add(roster_identity(line_id, name or "", phone or "", owner_ref or ""))
    return owners


async def room_owner_keys(session: AsyncSession, compound_id: int) -> dict[int, set[Any]]:
    """`owner_keys` of every room of the compound. Plain SQL: the close reads 10,000 rooms."""
    from sqlalchemy import text

    conn = await session.connection()
    members = await conn.execute(text(
        "SELECT m.room_id, m.person_id, p.name, p.phone FROM membership m JOIN person p ON p.id = m.person_id "
        "WHERE m.compound_id = :c AND m.relation = 'owner' AND m.status = 'approved' AND m.room_id IS NOT NULL"),
        {"c": compound_id})
    lines = await conn.execute(text(
        "SELECT r.id, r.room_id, r.name, r.phone, r.owner_ref FROM rosterowner r JOIN room ON room.id = r.room_id "
        "WHERE room.compound_id = :c"), {"c": compound_id})
    return owner_keys(members.all(), lines.all())


def print_errors(errors: Sequence[RowError], out: TextIO, limit: int = 200) -> None:
    print(f"The roster was NOT imported: {len(errors)} problem(s) found. Fix them and run the import again.",
          file=out)
    for error in errors[:limit]:
        print(f"  {error}", file=out)
    if len(errors) > limit:
        print(f"  ... and {len(errors) - limit} more", file=out)


async def import_roster_file(
    session: AsyncSession, compound_code: str, path: Path, progress: bool = False
) -> ImportSummary | list[RowError]:
    """Read, check, then write in the caller's transaction; the errors instead when there are any."""
    compound = await compound_by_code(session, compound_code)
    if compound is None:
        return [RowError(0, f"there is no compound with the code {compound_code.upper()!r}")]
    roster = read_roster(path, progress)
    if roster.errors:
        return roster.errors
    return await import_roster(session, compound, roster.rows, progress)


async def import_roster_cli(settings: Settings, path: Path, code: str) -> int:
    """`linli roster import FILE --compound CODE`: 0 when imported, 1 when nothing was (with the reasons)."""
    from storage.db import make_engine, make_sessionmaker, transaction

    engine = make_engine(settings.database_url)
    try:
        # One transaction: any failure while writing rolls everything back.
        async with transaction(make_sessionmaker(engine)) as session:
            result = await import_roster_file(session, code, path, progress=True)
    finally:
        await engine.dispose()
    if isinstance(result, list):
        # Errors are found before anything is written, so nothing was imported.
        print_errors(result, sys.stderr)
        return 1
    print(f"Imported {path.name} into {code.upper()}:")
    for line in result.lines():
        print(f"  {line}")
    return 0


