"""The one ledger writer (台账): every XLSX the compound exports is rendered here, so that a street office gets
the same kind of sheet from every feature.

A feature's storage computes the rows (plain values: str, int, float, Decimal, bool, date, aware datetime,
None, or a code its column labels); the writer lays them out: a title row (compound · ledger), the period,
序号, headers in the reader's language, widths, wrap, a frozen header, an autofilter, print set-up (A4
landscape, fit to width, the title and header rows repeated on every page), dates as real dates in the
compound's time zone, numbers as numbers, 是/否 and every code shown by its label. Pure rendering over plain
values, beside storage (like `storage.poster`) so that storage's exports, the handlers and the CLI share it."""

from __future__ import annotations

import functools
import io
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

Translate = Callable[..., str]


def N_(msgid: str) -> str:
    """Marks a text for translation where it is defined (storage does not import the core)."""
    return msgid


class Kind(StrEnum):
    """How a column's values are shown; the type of each value decides how it is stored."""

    TEXT = "text"  # wrapped when long
    CODE = "code"  # a short code or number-like text (case numbers, rooms): never wrapped
    INT = "int"  # counts
    NUMBER = "number"  # one decimal (hours, scores)
    AREA = "area"  # m², two decimals
    PERCENT = "percent"  # a fraction 0..1 shown as 0.0%
    DATE = "date"
    DATETIME = "datetime"
    BOOL = "bool"  # 是/否


@dataclass(frozen=True, slots=True)
class Column:
    header: str  # a message id (N_), translated for the reader
    kind: Kind = Kind.TEXT
    # code -> message id: a value equal to a code is shown by its translated label
    labels: Mapping[str, str] = field(default_factory=dict)
    width: float | None = None  # in characters; None: from the header and the values


@dataclass(frozen=True, slots=True)
class Sheet:
    name: str  # a message id; sheet names are cut to Excel's 31 characters
    columns: Sequence[Column]
    rows: Sequence[Sequence[object]]
    numbered: bool = True  # a 序号 column first
    # Already translated lines under the title (e.g. a branch's totals); the period line is always there.
    notes: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Ledger:
    title: str  # a message id: the ledger's name (诉求台账)
    compound: str  # the compound's name (or a street's)
    period: str  # already formatted, see `period`
    sheets: Sequence[Sheet]
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))


YES, NO = N_("Yes"), N_("No")
NUMBER_HEADER = N_("No.")  # 序号
FORMATS = {Kind.INT: "0", Kind.NUMBER: "0.0", Kind.AREA: "0.00", Kind.PERCENT: "0.0%", Kind.DATE: "yyyy-mm-dd",
           Kind.DATETIME: "yyyy-mm-dd hh:mm"}
WIDTHS = {Kind.INT: 8, Kind.NUMBER: 9, Kind.AREA: 10, Kind.PERCENT: 9, Kind.DATE: 12, Kind.DATETIME: 17,
          Kind.BOOL: 6}
MAX_WIDTH = 48
# What a worksheet cannot hold: control characters (openpyxl refuses the whole workbook for one ESC that an
# older row may still contain) and lone surrogates; and what a sheet title may not contain.
_NOT_IN_CELLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_NOT_IN_TITLES = re.compile(r"[\[\]:*?/\\]")


@functools.cache
def _catalogs() -> object:
    from bot.core.i18n import Catalogs  # only for exports made outside a conversation (the CLI, tests)

    return Catalogs()


def translator(language: str | None) -> Translate:
    """The translator of a language (the compound's, when nobody is reading in a chat)."""
    from bot.core.i18n import Catalogs

    catalogs = _catalogs()
    assert isinstance(catalogs, Catalogs)
    return catalogs.translator(language)


def period(t: Translate, first: date, last: date) -> str:
    """A period as the title rows say it: 2026-11-01 至 2026-11-30 (a single day alone)."""
    if first == last:
        return first.isoformat()
    return t("{first} to {last}", first=first.isoformat(), last=last.isoformat())


def text_width(text: str) -> int:
    """Columns a text needs in a spreadsheet: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def local(moment: datetime, zone: ZoneInfo) -> datetime:
    """A naive local datetime for a cell (spreadsheets have no time zones): the compound's wall clock."""
    if moment.tzinfo is None:  # stored naive means UTC (SQLite gives naive UTC back in places)
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(zone).replace(tzinfo=None, microsecond=0)


def cell_value(t: Translate, column: Column, value: object, zone: ZoneInfo) -> object:
    """The value a cell holds: numbers as numbers, dates as dates, 是/否, codes by their labels."""
    if value is None:
        return None
    if isinstance(value, bool):
        return t(YES) if value else t(NO)
    if isinstance(value, datetime):
        return local(value, zone) if column.kind != Kind.DATE else local(value, zone).date()
    if isinstance(value, date):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, int | float):
        return value
    text = str(value)
    if text in column.labels:
        return t(column.labels[text])
    return _NOT_IN_CELLS.sub("", text)


def sheet_title(t: Translate, name: str, taken: set[str]) -> str:
    title = _NOT_IN_TITLES.sub("", t(name)).strip("'")[:31] or "Sheet"
    base, n = title, 2
    while title.casefold() in taken:
        suffix = f" ({n})"
        title, n = base[:31 - len(suffix)] + suffix, n + 1
    taken.add(title.casefold())
    return title


def render(t: Translate, ledger: Ledger) -> bytes:
    """The workbook as bytes, every sheet laid out the same way."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.properties import PageSetupProperties

    book = Workbook()
    first_sheet = book.active
    assert first_sheet is not None  # a new workbook always has one
    book.remove(first_sheet)
    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    header_fill = PatternFill("solid", fgColor="E8EEF4")
    taken: set[str] = set()
    title_text = f"{ledger.compound} · {t(ledger.title)}" if ledger.compound else t(ledger.title)
    for spec in ledger.sheets:
        sheet = book.create_sheet(sheet_title(t, spec.name, taken))
        columns = ([Column(NUMBER_HEADER, Kind.INT, width=6)] if spec.numbered else []) + list(spec.columns)
        width = len(columns)
        last_letter = get_column_letter(width)
        # Title, period (and notes), then the header row.
        lines = [t("Period: {period}", period=ledger.period), *spec.notes]
        sheet.append([title_text])
        sheet.merge_cells(f"A1:{last_letter}1")
        sheet["A1"].font = Font(bold=True, size=14)
        sheet["A1"].alignment = Alignment(horizontal="center", vertical="center")
        sheet.row_dimensions[1].height = 24
        for line in lines:
            sheet.append([line])
            sheet.merge_cells(start_row=sheet.max_row, start_column=1, end_row=sheet.max_row, end_column=width)
            sheet.cell(sheet.max_row, 1).alignment = Alignment(horizontal="left", vertical="center")
        header_row = sheet.max_row + 1
        headers = [t(column.header) for column in columns]
        sheet.append(headers)
        for cell in sheet[header_row]:
            cell.font = Font(bold=True)
            cell.fill = header_fill
            cell.border = border
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        needed = [text_width(header) + 2 for header in headers]
        for number, row in enumerate(spec.rows, 1):
            values = ([number] if spec.numbered else []) + [
                cell_value(t, column, value, ledger.zone) for column, value in zip(spec.columns, row, strict=True)]
            sheet.append(values)
            for index, (column, cell) in enumerate(zip(columns, sheet[sheet.max_row], strict=True)):
                cell.border = border
                value = cell.value
                if isinstance(value, str):
                    if value.startswith("="):
                        cell.data_type = "s"  # what a person typed is text, never a formula
                    wrap = column.kind == Kind.TEXT
                    cell.alignment = Alignment(vertical="top", wrap_text=wrap)
                    longest = max((text_width(part) for part in value.split("\n")), default=0)
                    needed[index] = max(needed[index], min(longest + 2, MAX_WIDTH))
                else:
                    if isinstance(value, datetime):
                        number_format: str | None = FORMATS[Kind.DATETIME]
                    elif isinstance(value, date):
                        number_format = FORMATS[Kind.DATE]
                    else:
                        number_format = FORMATS.get(column.kind)
                    if number_format:
                        cell.number_format = number_format
                    cell.alignment = Alignment(vertical="top", horizontal="center" if index == 0 and spec.numbered
                                               else None)
                    if isinstance(value, int | float) and column.kind not in WIDTHS:
                        needed[index] = max(needed[index], len(f"{value:g}") + 2)
        if not spec.rows:
            sheet.append([t("No records in this period.")])
            sheet.merge_cells(start_row=sheet.max_row, start_column=1, end_row=sheet.max_row, end_column=width)
        for index, column in enumerate(columns):
            chosen = column.width or max(WIDTHS.get(column.kind, 6), needed[index])
            sheet.column_dimensions[get_column_letter(index + 1)].width = min(chosen, MAX_WIDTH)
        sheet.freeze_panes = f"A{header_row + 1}"
        last_row = header_row + max(len(spec.rows), 0)
        sheet.auto_filter.ref = f"A{header_row}:{last_letter}{last_row}"
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0  # as many pages down as needed
        sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        sheet.print_title_rows = f"1:{header_row}"
        sheet.print_options.horizontalCentered = True
        sheet.page_margins.left = sheet.page_margins.right = 0.4
        sheet.oddFooter.center.text = "&P / &N"
    if not book.worksheets:
        book.create_sheet(sheet_title(t, ledger.title, taken))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
