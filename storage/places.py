"""How people type a place: one normalisation for the names of buildings, units and rooms and for a room's whole
label, shared by the join flow and the paper-ballot room lookup. "1棟1單元301室", "１栋１单元３０１" and "1栋1单元301"
name the same room; a Taiwan or Hong Kong keyboard writes 棟, 單元, 號 and 樓 where the roster says 栋, 单元, 号, 楼."""

from __future__ import annotations

import re
import unicodedata

# The place words a traditional-character keyboard writes differently (號樓 becomes 号楼 through 號 and 樓).
_TRADITIONAL = (("單元", "单元"), ("棟", "栋"), ("號", "号"), ("樓", "楼"))
# Words that end a building's, unit's or room's name: "2", "2栋" and "2号楼" name the same building.
_PLACE_WORD = r"号楼|单元|栋|幢|座|楼|号|室|#"
_PLACE_SUFFIX = re.compile(rf"(?:{_PLACE_WORD})$")
_PLACE_WORDS = re.compile(rf"(?:{_PLACE_WORD})+")


def place_text(typed: str) -> str:
    """The text with full-width digits and letters made plain (NFKC), spaces dropped, case folded and the
    traditional place words in their simplified form."""
    text = "".join(unicodedata.normalize("NFKC", typed).split()).casefold()
    for traditional, simplified in _TRADITIONAL:
        text = text.replace(traditional, simplified)
    return text


def place_key(name: str) -> str:
    """One name (a building, a unit or a room) without its 栋/单元/号/室: "2棟", "2號樓" and "２" give "2"."""
    text = place_text(name)
    return _PLACE_SUFFIX.sub("", text) or text


def label_key(label: str) -> str:
    """A room's whole label, its place words as separators: "1棟1單元301室" and "1栋1单元301" give "1/1/301" (a
    separator keeps 1栋11单元 apart from 11栋1单元)."""
    return "/".join(part for part in _PLACE_WORDS.split(place_text(label)) if part)
