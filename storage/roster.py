"""The owners' roster: buildings, units, rooms (exclusive floor area) and owners loaded from CSV or XLSX.

Reading and checking a file are plain functions (`read_roster`); `import_roster` writes a checked roster in
one transaction with batch inserts, so a district's thousands of rooms load in seconds and a bad file loads
nothing. Re-importing a file is idempotent: places are reused, areas updated, the rooms' owners replaced.

Places are stored in one form whatever the spelling (`building_name`, `unit_name`, `room_number`): 1号楼, 1幢,
1# and 1 are the building 1栋, 0301 is the room 301, so one building is never split in two by how a row wrote it
(which would split its votes), and a re-import written another way finds the rooms people already belong to.
Phones are checked by `storage.people.phone_number`, the same check as a phone typed when joining."""

from __future__ import annotations

import csv
import io
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from sqlmodel import col, delete, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession
from tqdm import tqdm

from bot.core.i18n import N_, Translate
from storage.compounds import Building, Compound, Room, RosterOwner, Unit, compound_by_code
from storage.people import normalize_phone, phone_number

if TYPE_CHECKING:
    from bot.settings import Settings

# Column names as deployers write them (English or Chinese), after `_header_key` has simplified them.
COLUMNS: dict[str, str] = {
    "building": "building", "bldg": "building", "楼栋": "building", "楼号": "building", "楼栋号": "building",
    "栋": "building", "樓棟": "building", "棟別": "building", "楼宇": "building", "樓宇": "building",
    "unit": "unit", "entrance": "unit", "单元": "unit", "单元号": "unit", "單元": "unit",
    "room": "room", "roomnumber": "room", "number": "room", "房号": "room", "房间号": "room", "室": "room",
    "房號": "room", "门牌号": "room", "門牌號": "room",
    "floor": "floor", "楼层": "floor", "层": "floor", "樓層": "floor",
    "area": "area", "exclusivearea": "area", "面积": "area", "专有面积": "area", "专有部分面积": "area",
    "面積": "area", "專有面積": "area", "專有部分面積": "area", "建筑面积": "area", "建築面積": "area",
    "owner": "owner", "owners": "owner", "ownername": "owner", "ownernames": "owner", "name": "owner",
    "业主": "owner", "业主姓名": "owner", "姓名": "owner", "業主": "owner", "業主姓名": "owner",
    "phone": "phone", "phones": "phone", "mobile": "phone", "手机": "phone", "手机号": "phone",
    "手机号码": "phone", "电话": "phone", "电话号码": "phone", "联系电话": "phone", "手機": "phone",
    "手機號": "phone", "手機號碼": "phone", "電話": "phone", "電話號碼": "phone", "聯繫電話": "phone",
    "聯絡電話": "phone", "行動電話": "phone",
    "unsold": "unsold", "未售": "unsold", "未售出": "unsold",
    "ownerid": "owner_ref", "ownerids": "owner_ref", "业主编号": "owner_ref", "业主id": "owner_ref",
    "产权人编号": "owner_ref", "業主編號": "owner_ref", "業主id": "owner_ref",
    # Columns rosters often carry that say nothing about rooms or owners: read past.
    "序号": "", "序號": "", "no": "", "#": "", "备注": "", "備註": "", "note": "", "notes": "", "remark": "",
    "remarks": "",
}
REQUIRED = ("building", "room", "area")
# How each column is headed in the template and named in messages (in the reader's language).
COLUMN_LABELS: dict[str, str] = {
    "building": N_("Building"), "unit": N_("Unit"), "room": N_("Room"), "floor": N_("Floor"),
    "area": N_("Exclusive area (m²)"), "owner": N_("Owner name"), "phone": N_("Phone"), "owner_ref": N_("Owner ID"),
    "unsold": N_("Unsold"),
}
# A title (小区花名册), a date or notes may stand above the column names: they are looked for this far down.
HEADER_SEARCH = 10
# Several owners of one room share a cell: "张三;李四", "张三、李四".
_SEPARATORS = re.compile(r"[;；、,，/|]+")
_UNITS_OF_AREA = re.compile(r"(㎡|m²|m2|平方米|平米)$", re.IGNORECASE)
_YES = {"1", "y", "yes", "true", "x", "√", "✓", "是", "未售", "unsold"}
_NO = {"", "0", "n", "no", "false", "否", "已售"}
MAX_AREA = Decimal("100000")
BATCH = 500  # rows per INSERT (well under SQLite's bound-parameter limit)
PLACES = ("building", "unit", "room")


def english(msgid: str, /, **values: Any) -> str:
    """The message ids are English: what a message says when no translator is at hand (logs, `str`)."""
    return msgid.format(**values) if values else msgid


@dataclass(frozen=True, slots=True)
class RosterRow:
    line: int  # the row number in the file (the header is row 1 when it comes first)
    building: str  # the normal forms (`building_name`, `unit_name`, `room_number`)
    unit: str
    room: str
    floor: int
    area: Decimal
    unsold: bool = False
    owners: tuple[tuple[str, str], ...] = ()  # (name, phone digits)
    refs: tuple[str, ...] = ()  # the roster's owner ids (业主编号), in the owners' order; "" where none
    written: tuple[str, str, str] = ("", "", "")  # building, unit and room as the file wrote them

    @property
    def key(self) -> tuple[str, str, str]:
        return self.building, self.unit, self.room


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str  # an English text marked with N_, with {placeholders} filled from `values`
    values: dict[str, Any] = field(default_factory=dict)

    def text(self, t: Translate = english) -> str:
        # A column is named by its label, in the reader's language.
        values = {key: t(COLUMN_LABELS[value]) if key == "column" else
                  " / ".join(t(COLUMN_LABELS[c]) for c in value) if key == "columns" else value
                  for key, value in self.values.items()}
        reason = t(self.reason, **values)
        return t("row {line}: {reason}", line=self.line, reason=reason) if self.line else reason

    def __str__(self) -> str:
        return self.text()


@dataclass
class Roster:
    rows: list[RosterRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


Changes = tuple[tuple[str, str], ...]  # (as written, as stored)


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
    # Per place kind ("building", "unit", "room"): names the file wrote another way, and places already in the
    # database renamed to the one form (the same rows, so their members and votes stay with them).
    written: dict[str, Changes] = field(default_factory=dict)
    renamed: dict[str, Changes] = field(default_factory=dict)

    def lines(self, t: Translate = english) -> list[str]:
        lines = [
            t("buildings: {count} ({new} new)", count=self.buildings, new=self.new_buildings),
            t("units: {count} ({new} new)", count=self.units, new=self.new_units),
            t("rooms: {count} ({new} new, {updated} updated)", count=self.rooms, new=self.new_rooms,
              updated=self.updated_rooms),
            t("owners: {count}", count=self.owners),
            t("total area: {area} m²", area=self.total_area),
        ]
        for kind in PLACES:
            if self.written.get(kind):
                lines.append(t("{column} stored in one form: {changes}", column=t(COLUMN_LABELS[kind]),
                               changes=_changes(self.written[kind], t)))
        for kind in PLACES:
            if self.renamed.get(kind):
                lines.append(t("{column} already here renamed to that form (the same places, their members "
                               "stay): {changes}", column=t(COLUMN_LABELS[kind]),
                               changes=_changes(self.renamed[kind], t)))
        return lines


def _changes(pairs: Changes, t: Translate, shown: int = 8) -> str:
    text = ", ".join(f"{before} → {after}" for before, after in pairs[:shown])
    if len(pairs) > shown:
        text += " " + t("and {count} more", count=len(pairs) - shown)
    return text


# ---- place names in one form (no database) ---------------------------------------------------------------

_CHINESE_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6,
                   "七": 7, "八": 8, "九": 9}
_NUMBER = r"\d+|[零〇一二两兩三四五六七八九十]+|[A-Z]{1,2}\d{0,2}"
_BUILDING = re.compile(rf"第?(?P<n>{_NUMBER})(?:号楼|號樓|#楼|#樓|号|號|栋|棟|幢|座|楼|樓|#)?")
_UNIT = re.compile(rf"第?(?P<n>{_NUMBER})(?:号单元|號單元|单元|單元|号|號|门|門|梯)?")
_ROOM_SUFFIX = re.compile(r"(?:室|号|號|户|戶)$")


def _plain(text: str) -> str:
    """Full-width digits and letters as ASCII (NFKC), no spaces, letters upper-case."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()


def _number(text: str) -> str:
    """"01" → "1", "十二" → "12", "A" → "A"."""
    if text.isdigit():
        return str(int(text))
    if text[0] in _CHINESE_DIGITS or text[0] == "十":
        tens, _, ones = text.rpartition("十")
        if "十" in tens or not all(ch in _CHINESE_DIGITS for ch in tens + ones):
            return text
        if "十" not in text:
            return str(int("".join(str(_CHINESE_DIGITS[ch]) for ch in text)))
        return str((_CHINESE_DIGITS[tens] if tens else 1) * 10 + (_CHINESE_DIGITS[ones] if ones else 0))
    return text


def _place(text: str, pattern: re.Pattern[str], suffix: str) -> str:
    plain = _plain(text)
    found = pattern.fullmatch(plain)
    return f"{_number(found.group('n'))}{suffix}" if found else plain


def building_name(text: str) -> str:
    """1号楼, 1栋, 1幢, 1座, 1#, １, 01 and 一号楼 are the building "1栋"; A座 is "A栋"; other names (商业楼) as written,
    without spaces and with ASCII digits."""
    return _place(text, _BUILDING, "栋") if text.strip() else ""


def unit_name(text: str) -> str:
    """1, 1单元, 一单元 and 01 are the unit "1单元"; no unit stays ""."""
    return _place(text, _UNIT, "单元") if text.strip() else ""


def room_number(text: str) -> str:
    """0301, 301, 301室 and ３０１ are the room "301" (a number's leading zeros are no part of it); 3-01 or B101
    are kept as written (without spaces, digits in ASCII), as a dash may separate a unit from its room."""
    plain = _plain(text)
    plain = _ROOM_SUFFIX.sub("", plain) or plain
    return str(int(plain)) if plain.isdigit() else plain


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
    reasons: list[RowError] = []

    def wrong(reason: str, **values: Any) -> None:
        reasons.append(RowError(line, reason, values))

    written = (cells.get("building", "").strip(), cells.get("unit", "").strip(), cells.get("room", "").strip())
    building, unit, room = building_name(written[0]), unit_name(written[1]), room_number(written[2])
    if not building:
        wrong(N_("missing building"))
    elif len(building) > 50:
        wrong(N_("building name longer than 50 characters"))
    if len(unit) > 50:
        wrong(N_("unit name longer than 50 characters"))
    if not room:
        wrong(N_("missing room number"))
    elif len(room) > 20:
        wrong(N_("room number longer than 20 characters"))
    area_text = cells.get("area", "").strip()
    area = parse_area(area_text) if area_text else None
    if not area_text:
        wrong(N_("missing area"))
    elif area is None:
        wrong(N_("area '{value}' is not a positive number of m²"), value=area_text)
    floor_text = cells.get("floor", "").strip()
    floor: int | None
    if floor_text:
        floor = int(floor_text) if re.fullmatch(r"-?\d+", floor_text) else None
        if floor is None:
            wrong(N_("floor '{value}' is not a whole number"), value=floor_text)
    else:
        floor = floor_from_room(room)
        if floor is None and room:
            wrong(N_("no floor given and none can be read from the room number '{room}'"), room=written[2])
    unsold_text = cells.get("unsold", "").strip().lower()
    unsold = unsold_text in _YES
    if unsold_text not in _YES and unsold_text not in _NO:
        wrong(N_("unsold '{value}' is not yes or no (1/0, 是/否)"), value=unsold_text)
    names = [n.strip() for n in _SEPARATORS.split(cells.get("owner", "")) if n.strip()]
    phones = [p.strip() for p in _SEPARATORS.split(cells.get("phone", "")) if p.strip()]
    digits: list[str] = []
    for phone in phones:
        number = phone_number(phone)
        if number is None:
            wrong(N_("phone '{phone}' is not a valid phone number (a mainland mobile has 11 digits, such as "
                     "13123456789)"), phone=phone)
        digits.append(number or "")
    if any(len(name) > 100 for name in names):
        wrong(N_("owner name longer than 100 characters"))
    refs = [r.strip() for r in _SEPARATORS.split(cells.get("owner_ref", "")) if r.strip()]
    if any(len(ref) > 64 for ref in refs):
        wrong(N_("owner id longer than 64 characters"))
    if building and room:
        first = seen.get((building, unit, room))
        if first is not None:
            wrong(N_("duplicate room {room} (first on row {first})"), room=f"{building}{unit}{room}", first=first)
        else:
            seen[(building, unit, room)] = line
    if reasons:
        return reasons
    assert area is not None and floor is not None
    # Names and phones pair up in order; a phone without a name still lets its owner join at once.
    count = max(len(names), len(digits), len(refs))
    owners = tuple(
        (names[i] if i < len(names) else "", digits[i] if i < len(digits) else "") for i in range(count)
    )
    return RosterRow(line, building, unit, room, floor, area, unsold, owners,
                     tuple(refs[i] if i < len(refs) else "" for i in range(count)) if refs else (), written)


def _known_columns(cells: Sequence[str]) -> int:
    return sum(1 for cell in cells if COLUMNS.get(_header_key(cell)))


def _read_header(line: int, cells: Sequence[str]) -> tuple[dict[int, str], list[RowError]]:
    """The column of each cell of the header row (ignored columns left out), and what is wrong with it."""
    header: dict[int, str] = {}
    errors: list[RowError] = []
    for index, title in enumerate(cells):
        if not title:
            continue
        column = COLUMNS.get(_header_key(title))
        if column is None:
            errors.append(RowError(line, N_("unknown column '{title}'"), {"title": title}))
        elif column and column in header.values():
            errors.append(RowError(line, N_("column '{title}' appears twice"), {"title": title}))
        elif column:
            header[index] = column
    errors += [RowError(line, N_("missing column '{column}'"), {"column": column})
               for column in REQUIRED if column not in header.values()]
    return header, errors


def check_rows(table: Iterable[tuple[int, Sequence[Any]]], progress: Translate | None = None) -> Roster:
    """Rows as (row number, cells), the header among the first rows: every row checked before anything is
    written. Rows above the header (a title, a date, notes) are read past. With `progress`, a progress bar
    labelled in its language."""
    roster = Roster()
    header: dict[int, str] | None = None
    ignored: set[int] = set()
    above = 0  # non-empty rows read before the header
    seen: dict[tuple[str, str, str], int] = {}
    bar = tqdm(desc=progress(N_("checking")) if progress else "", unit=" rows", disable=progress is None,
               file=sys.stderr)
    for line, values in table:
        cells = [_cell(v) for v in values]
        if not any(cells):
            continue
        if header is None:
            # The column names are the first row naming two known columns.
            if _known_columns(cells) < 2:
                above += 1
                if above >= HEADER_SEARCH:
                    break
                continue
            header, errors = _read_header(line, cells)
            roster.errors += errors
            if roster.errors:
                break
            ignored = {i for i, cell in enumerate(cells) if cell and i not in header}
            continue
        named = {column: cells[index] if index < len(cells) else "" for index, column in header.items()}
        extra = [c for i, c in enumerate(cells) if c and i not in header and i not in ignored]
        checked = check_row(line, named, seen)
        if extra:
            roster.errors.append(RowError(line, N_("values outside the named columns: {values}"),
                                          {"values": ", ".join(extra[:3])}))
        if isinstance(checked, RosterRow):
            roster.rows.append(checked)
        else:
            roster.errors.extend(checked)
        bar.update()
    bar.close()
    if header is None:
        if above:
            roster.errors.append(RowError(0, N_("no row of column names found in the first {count} rows: the "
                                                "roster needs at least the columns {columns}"),
                                          {"count": HEADER_SEARCH, "columns": REQUIRED}))
        else:
            roster.errors.append(RowError(1, N_("the file is empty")))
    elif not roster.rows and not roster.errors:
        roster.errors.append(RowError(1, N_("the file has a header but no rooms")))
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


def read_roster(path: Path, progress: Translate | None = None) -> Roster:
    if not path.is_file():
        return Roster(errors=[RowError(0, N_("no such file: {path}"), {"path": str(path)})])
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        try:
            return check_rows(_xlsx_rows(path), progress)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            return Roster(errors=[RowError(0, N_("cannot read the spreadsheet: {error}"), {"error": str(exc)})])
    if suffix in (".csv", ".txt", ".tsv"):
        return check_rows(_csv_rows(path.read_bytes()), progress)
    return Roster(errors=[RowError(0, N_("unsupported file type '{suffix}': use .csv or .xlsx"), {"suffix": suffix})])


# ---- writing --------------------------------------------------------------------------------------------

P = TypeVar("P")
K = TypeVar("K")


def _sort_key(name: str, fallback: int) -> int:
    number = re.match(r"\d+", name)
    return int(number.group()) if number else fallback


def _batches(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _one_form(places: Iterable[P], key: Callable[[P], K], in_form: Callable[[P], bool]) -> dict[K, P]:
    """Places already stored, by the one form of their names: the place already named in that form, else the
    first stored. An import before names had one form may have stored 1号楼; it is the building 1栋."""
    found: dict[K, P] = {}
    for place in places:
        known = found.get(key(place))
        if known is None or (in_form(place) and not in_form(known)):
            found[key(place)] = place
    return found


def _written(rows: Sequence[RosterRow]) -> dict[str, Changes]:
    """The names the file wrote another way than their one form, each once."""
    written: dict[str, Changes] = {}
    for index, kind in enumerate(PLACES):
        pairs = dict.fromkeys((row.written[index], row.key[index]) for row in rows
                              if row.written[index] and row.written[index] != row.key[index])
        if pairs:
            written[kind] = tuple(pairs)
    return written


async def import_roster(
    session: AsyncSession, compound: Compound, rows: Sequence[RosterRow], progress: Translate | None = None
) -> ImportSummary:
    """Writes checked rows in the caller's transaction; existing places are reused and updated. A place stored
    under another spelling of the same name (1号楼 for 1栋, 0301 for 301) is that place, renamed to the one form."""
    assert compound.id is not None
    compound_id = compound.id
    bar = tqdm(total=len(rows) * 2, desc=progress(N_("importing")) if progress else "", unit=" rows",
               disable=progress is None, file=sys.stderr)
    renamed: dict[str, list[tuple[str, str]]] = {kind: [] for kind in PLACES}

    stored_buildings = (await session.exec(select(Building).where(Building.compound_id == compound_id).order_by(
        col(Building.id)))).all()
    buildings = _one_form(stored_buildings, lambda b: building_name(b.name),
                          lambda b: b.name == building_name(b.name))
    count = len(stored_buildings)
    new_buildings: list[str] = []
    for name in dict.fromkeys(r.building for r in rows):
        building = buildings.get(name)
        if building is None:
            count += 1
            building = Building(compound_id=compound_id, name=name, sort=_sort_key(name, 1000 + count))
            new_buildings.append(name)
        elif building.name != name:  # no stored building has the name in its one form (`_one_form` prefers it)
            renamed["building"].append((building.name, name))
            building.name = name
        session.add(building)
        buildings[name] = building
    await session.flush()

    building_ids = {name: b.id or 0 for name, b in buildings.items()}
    stored_units = (await session.exec(select(Unit).where(
        col(Unit.building_id).in_(list(building_ids.values()))).order_by(col(Unit.id)))).all()
    units = _one_form(stored_units, lambda u: (u.building_id, unit_name(u.name)),
                      lambda u: u.name == unit_name(u.name))
    wanted_units = dict.fromkeys((building_ids[r.building], r.unit) for r in rows)
    new_units: list[tuple[int, str]] = []
    for building_id, name in wanted_units:
        unit = units.get((building_id, name))
        if unit is None:
            unit = Unit(building_id=building_id, name=name, sort=_sort_key(name, 1000 + len(new_units) + 1))
            new_units.append((building_id, name))
        elif unit.name != name:
            renamed["unit"].append((unit.name, name))
            unit.name = name
        session.add(unit)
        units[(building_id, name)] = unit
    await session.flush()
    unit_ids = {key: u.id or 0 for key, u in units.items()}

    stored_rooms = (await session.exec(select(Room.id, Room.unit_id, Room.number).where(
        Room.compound_id == compound_id).order_by(col(Room.id)))).all()
    existing = _one_form(stored_rooms, lambda r: (r[1], room_number(r[2])), lambda r: r[2] == room_number(r[2]))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for row in rows:
        building_id = building_ids[row.building]
        unit_id = unit_ids[(building_id, row.unit)]
        values = {"floor": row.floor, "area": row.area, "unsold": row.unsold, "number": row.room}
        found = existing.get((unit_id, row.room))
        if found is None:
            inserts.append({"compound_id": compound_id, "building_id": building_id, "unit_id": unit_id, **values})
        else:
            if found[2] != row.room:
                renamed["room"].append((found[2], row.room))
            updates.append({"id": found[0], **values})
    for batch in _batches(inserts):
        await session.exec(insert(Room), params=list(batch))
        bar.update(len(batch))
    for batch in _batches(updates):
        # ORM bulk UPDATE by primary key: one executemany per batch.
        await session.exec(update(Room), params=list(batch))
        bar.update(len(batch))

    room_ids: dict[tuple[int, str], int] = {(unit_id, number): room_id or 0 for room_id, unit_id, number in (
        await session.exec(select(Room.id, Room.unit_id, Room.number).where(Room.compound_id == compound_id))).all()}
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
        written=_written(rows),
        renamed={kind: tuple(pairs) for kind, pairs in renamed.items() if pairs},
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



# ---- the command line (`linli roster import`, `linli roster template`) ------------------------------------


def print_errors(errors: Sequence[RowError], out: TextIO, t: Translate = english, limit: int = 200) -> None:
    print(t("The roster was NOT imported: problems found: {count}. Fix them and run the import again.",
            count=len(errors)), file=out)
    for error in errors[:limit]:
        print(f"  {error.text(t)}", file=out)
    if len(errors) > limit:
        print("  " + t("and {count} more", count=len(errors) - limit), file=out)


async def import_roster_file(
    session: AsyncSession, compound_code: str, path: Path, progress: Translate | None = None
) -> ImportSummary | list[RowError]:
    """Read, check, then write in the caller's transaction; the errors instead when there are any."""
    compound = await compound_by_code(session, compound_code)
    if compound is None:
        return [RowError(0, N_("there is no compound with the code '{code}'"), {"code": compound_code.upper()})]
    roster = read_roster(path, progress)
    if roster.errors:
        return roster.errors
    return await import_roster(session, compound, roster.rows, progress)


def _translator(settings: Settings, language: str | None) -> Translate:
    from bot.core.i18n import Catalogs

    return Catalogs().translator(language or settings.default_language)


async def import_roster_cli(settings: Settings, path: Path, code: str, language: str | None = None) -> int:
    """`linli roster import FILE --compound CODE [--lang LANGUAGE]`: 0 when imported, 1 when nothing was (with the
    reasons), in the operator's language (DEFAULT_LANGUAGE unless `language` says otherwise: Chinese by default)."""
    from storage.db import make_engine, make_sessionmaker, transaction

    t = _translator(settings, language)
    engine = make_engine(settings.database_url)
    try:
        # One transaction: any failure while writing rolls everything back.
        async with transaction(make_sessionmaker(engine)) as session:
            result = await import_roster_file(session, code, path, progress=t)
    finally:
        await engine.dispose()
    if isinstance(result, list):
        # Errors are found before anything is written, so nothing was imported.
        print_errors(result, sys.stderr, t)
        return 1
    print(t("Imported {file} into {code}:", file=path.name, code=code.upper()))
    for line in result.lines(t):
        print(f"  {line}")
    return 0


TEMPLATE_COLUMNS = ("building", "unit", "room", "floor", "area", "owner", "phone", "owner_ref", "unsold")
# The example row: a room with two owners, as a roster usually writes it. 13123456789 is the numbering plan's
# own example of a mainland mobile, nobody's phone.
TEMPLATE_EXAMPLE = ("1栋", "1单元", "301", 3, 89.5, "张三、李四", "13123456789、13123456780", "", "否")
TEMPLATE_NOTES = (
    N_("One row per room. Building, room and exclusive area are required; the other columns may stay empty."),
    N_("Building: 1, 1栋, 1号楼, 1幢 and 1# are the same building (stored as 1栋). Unit: 1 and 1单元 are the same "
       "unit. Room: 0301 and 301 are the same room."),
    N_("Floor: may stay empty when the room number says it (1502 is on the 15th floor)."),
    N_("Owner name and phone: several owners of one room in one cell, separated by 、 or ; with their phones in "
       "the same order. An owner whose phone is here is approved at once when joining with it."),
    N_("Phone: a mainland mobile has 11 digits (13123456789); a number of another country starts with + and its "
       "country code."),
    N_("Owner ID: the same ID on every room of one owner, so that the owner counts once in votes."),
    N_("Unsold: 是 for a room the developer has not sold, else empty or 否."),
    N_("A title row above the column names (such as 小区花名册) may stay. Replace the example row with your rooms, "
       "then import the file with: linli roster import FILE --compound CODE"),
)


def write_template(path: Path, t: Translate = english) -> Path:
    """The roster template: the column names in the reader's language with an example row, and the notes on
    filling it in on a second sheet (the import reads the first sheet only)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = t("Roster")[:31]
    sheet.append([t(COLUMN_LABELS[column]) for column in TEMPLATE_COLUMNS])
    sheet.append(list(TEMPLATE_EXAMPLE))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index, column in enumerate(TEMPLATE_COLUMNS):
        letter = sheet.cell(row=1, column=index + 1).column_letter
        sheet.column_dimensions[letter].width = 26 if column in ("owner", "phone") else 14
        # Rooms, phones and owner ids are text: Excel would drop 0301's zero or show a phone as 1.31E+10.
        # The column's style is what Excel gives the rows typed in later; the cells written here carry it too.
        if column in ("room", "phone", "owner_ref", "unit", "building"):
            sheet.column_dimensions[letter].number_format = "@"
            for cell in sheet[letter]:
                cell.number_format = "@"
    sheet.freeze_panes = "A2"
    notes = book.create_sheet(t("Instructions")[:31])
    notes.column_dimensions["A"].width = 100
    for note in TEMPLATE_NOTES:
        notes.append([t(note)])
        notes.cell(row=notes.max_row, column=1).alignment = Alignment(wrap_text=True, vertical="top")
    book.save(path)
    return path


def template_cli(settings: Settings, path: Path, language: str | None = None) -> int:
    """`linli roster template [FILE] [--lang LANGUAGE]`."""
    t = _translator(settings, language)
    if path.exists():  # it may be a roster filled in already
        print(t("{file} already exists: name another file.", file=path), file=sys.stderr)
        return 1
    try:
        write_template(path, t)
    except OSError as error:
        print(t("Cannot write {file}: {reason}", file=path, reason=error.strerror or error), file=sys.stderr)
        return 1
    print(t("Roster template written to {file}: fill in one row per room, then run "
            "linli roster import {file} --compound CODE", file=path))
    return 0
