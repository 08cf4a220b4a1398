"""Printable PDFs (A4): the paper ballot (表决票) of an owners' assembly, one page per room, and an announcement
for the notice board. Drawn with fpdf2, which embeds a subset of the CJK font already installed (Noto Sans CJK,
the same font the posters and charts use), so the file prints the same anywhere. Pure rendering over plain
values and translated texts, like `storage.poster`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from storage.poster import cjk_font_path

Translate = Callable[..., str]
PDF = "application/pdf"


def N_(msgid: str) -> str:
    """Marks a text for translation where it is defined (storage does not import the core)."""
    return msgid


class NoFont(RuntimeError):
    """No font that covers Chinese is installed (Debian: fonts-noto-cjk; `make test` installs it)."""


@dataclass(frozen=True, slots=True)
class BallotMotion:
    position: int
    text: str
    # An election's candidates (each ticked or not); empty: 同意 / 反对 / 弃权.
    candidates: Sequence[str] = ()
    seats: int = 0


@dataclass(frozen=True, slots=True)
class BallotRoom:
    label: str  # 1栋1单元301
    area: str  # m², as registered: "88.25"
    owners: str = ""  # the roster's names, when known


@dataclass(frozen=True, slots=True)
class Ballot:
    compound: str
    title: str
    motions: Sequence[BallotMotion]
    rooms: Sequence[BallotRoom]
    closes: str  # already formatted in the compound's zone
    where: str = ""  # where a paper ballot is handed in
    notes: Sequence[str] = field(default_factory=tuple)


@functools.cache
def font_face() -> tuple[str, int]:
    """The CJK font file and, in a .ttc collection, the Simplified Chinese face (Noto's first face is
    Japanese, whose glyph shapes differ)."""
    path = cjk_font_path()
    if path is None:
        raise NoFont("no CJK font installed (Debian: apt-get install fonts-noto-cjk)")
    if not path.lower().endswith(".ttc"):
        return path, 0
    from fontTools.ttLib import TTCollection

    collection = TTCollection(path, lazy=True)
    for index, font in enumerate(collection.fonts):
        family = str(font["name"].getDebugName(1) or "")
        if family.endswith(" SC") or "GB" in family:
            return path, index
    return path, 0


def _pdf(title: str) -> object:
    from fpdf import FPDF

    path, index = font_face()
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(title)
    pdf.set_creator("linli")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(18, 16, 18)
    pdf.add_font("cjk", "", path, collection_font_number=index)
    return pdf


def _line(pdf: object, height: float, text: str, align: str = "L") -> None:
    """A paragraph over the full width, the next one starting at the left margin below it."""
    pdf.multi_cell(0, height, text, align=align, new_x="LMARGIN", new_y="NEXT")  # type: ignore[attr-defined]


def _box(pdf: object, x: float, y: float, size: float = 4.2) -> None:
    pdf.rect(x, y, size, size)  # type: ignore[attr-defined]


def ballot_pdf(t: Translate, ballot: Ballot) -> bytes:
    """One A4 page per room: the assembly, the room and its area, every motion with 同意 / 反对 / 弃权 boxes (or
    its candidates with a box each), and lines for the owner's signature and the date."""
    from fpdf import FPDF

    pdf = _pdf(t("Paper ballot: {title}", title=ballot.title))
    assert isinstance(pdf, FPDF)
    width = pdf.epw
    for room in ballot.rooms or [BallotRoom("", "")]:
        pdf.add_page()
        pdf.set_font("cjk", size=18)
        _line(pdf, 10, t("{compound} owners' assembly ballot", compound=ballot.compound), align="C")
        pdf.set_font("cjk", size=13)
        _line(pdf, 8, ballot.title, align="C")
        pdf.ln(3)
        pdf.set_font("cjk", size=11)
        _line(pdf, 7, t("Room: {room}    Exclusive area: {area} m²", room=room.label or "________",
                                   area=room.area or "____"))
        if room.owners:
            _line(pdf, 7, t("Owner of record: {names}", names=room.owners))
        _line(pdf, 7, t("Hand in by {closes}{where}.", closes=ballot.closes,
                                   where=t(", at {place}", place=ballot.where) if ballot.where else ""))
        for note in ballot.notes:
            _line(pdf, 6, note)
        pdf.ln(2)
        for motion in ballot.motions:
            pdf.set_font("cjk", size=11)
            _line(pdf, 7, f"{motion.position}. {motion.text}")
            if motion.candidates:
                pdf.set_font("cjk", size=10)
                _line(pdf, 6, t("Tick at most {seats} candidates.", seats=motion.seats or 1))
                y = pdf.get_y() + 1
                for candidate in motion.candidates:
                    if y > pdf.page_break_trigger - 8:
                        pdf.add_page()
                        y = pdf.get_y() + 1
                    _box(pdf, pdf.l_margin + 6, y)
                    pdf.set_xy(pdf.l_margin + 13, y - 0.8)
                    pdf.cell(width - 13, 6, candidate)
                    y += 7
                pdf.set_xy(pdf.l_margin, y)
            else:
                y = pdf.get_y() + 1
                x = pdf.l_margin + 6
                for label in (t("Agree"), t("Against"), t("Abstain")):
                    _box(pdf, x, y)
                    pdf.set_xy(x + 6, y - 0.8)
                    pdf.cell(30, 6, label)
                    x += 40
                pdf.set_xy(pdf.l_margin, y + 7)
            pdf.ln(2)
        pdf.ln(6)
        pdf.set_font("cjk", size=11)
        _line(pdf, 7, t("Tick one box per motion, then sign and date the ballot."))
        pdf.ln(8)
        pdf.cell(width / 2, 8, t("Owner's signature: ______________"))
        pdf.cell(width / 2, 8, t("Date: ____ / ____ / ______"))
    return bytes(pdf.output())


def notice_pdf(t: Translate, compound: str, title: str, text: str, day: str, signed: str = "") -> bytes:
    """An announcement for the notice board (公告栏): A4, the title large, the text, the compound and the day."""
    from fpdf import FPDF

    pdf = _pdf(title)
    assert isinstance(pdf, FPDF)
    pdf.add_page()
    pdf.set_font("cjk", size=26)
    _line(pdf, 14, t("Notice"), align="C")
    pdf.set_font("cjk", size=18)
    _line(pdf, 11, title, align="C")
    pdf.ln(6)
    pdf.set_font("cjk", size=14)
    for paragraph in text.split("\n"):
        _line(pdf, 9, paragraph.strip() or " ")
    pdf.ln(12)
    _line(pdf, 9, signed or compound, align="R")
    _line(pdf, 9, day, align="R")
    return bytes(pdf.output())
