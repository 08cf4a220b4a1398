"""The 红黑榜 poster: a PNG drawn with Pillow and a CJK font found on the system, sized to be read on a phone.
Without a CJK font there is no poster (the text posting still goes out): boxes instead of characters would
be worse than nothing."""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

# Tried in order; fontconfig is asked first when it is installed.
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
WIDTH, MARGIN = 1080, 64
NO_LINE_START = set("，。、；：？！）」』》”’,.;:?!)")
RED_COLOUR, BLACK_COLOUR, GREEN_COLOUR = (200, 30, 35), (40, 40, 40), (30, 130, 70)


@dataclass(frozen=True, slots=True)
class PosterSection:
    heading: str
    lines: tuple[str, ...]
    colour: tuple[int, int, int]


@lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    if shutil.which("fc-match"):
        try:
            found = subprocess.run(["fc-match", "-f", "%{file}", ":lang=zh-cn"], capture_output=True, text=True,
                                   timeout=5, check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        # fc-match always answers something; only a font that covers Chinese will do.
        if found and Path(found).exists() and _covers_chinese(found):
            return found
    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists() and _covers_chinese(candidate):
            return candidate
    return None


def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    """In a .ttc collection prefer the Simplified Chinese face (Noto's first face is Japanese)."""
    for index in range(10):
        try:
            font = ImageFont.truetype(path, size, index=index)
        except OSError:
            break
        family = " ".join(str(part) for part in font.getname())
        if " SC" in family or "GB" in family:
            return font
    return ImageFont.truetype(path, size)


def _covers_chinese(path: str) -> bool:
    try:
        font = ImageFont.truetype(path, 40)
    except OSError:
        return False
    # A font without the glyph draws the same "missing" box for both characters.
    mask_a, mask_b = font.getmask("榜"), font.getmask("红")
    return bool(mask_a.getbbox()) and bytes(mask_a) != bytes(mask_b)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Chinese has no spaces: break wherever the line is full."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for ch in paragraph:
            # Closing punctuation never starts a line (禁则): it stays, slightly over the margin.
            if draw.textlength(line + ch, font=font) > width and line and ch not in NO_LINE_START:
                lines.append(line)
                line = ch
            else:
                line += ch
        lines.append(line)
    return lines


def render_poster(title: str, subtitle: str, sections: list[PosterSection], footer: str) -> bytes | None:
    """The poster as PNG bytes, or None when no CJK font is installed."""
    path = cjk_font_path()
    if path is None:
        return None
    title_font, heading_font, body_font, small_font = (_font(path, s) for s in (64, 46, 36, 28))
    scratch = ImageDraw.Draw(Image.new("RGB", (WIDTH, 10)))
    text_width = WIDTH - 2 * MARGIN - 40
    blocks: list[tuple[str, ImageFont.FreeTypeFont, tuple[int, int, int], int]] = []  # text, font, colour, gap
    for section in sections:
        blocks.append((section.heading, heading_font, section.colour, 36))
        for line in section.lines:
            for index, wrapped in enumerate(_wrap(scratch, line, body_font, text_width)):
                blocks.append((wrapped, body_font, (30, 30, 30), 16 if index == 0 else 4))
    line_height = {id(heading_font): 62, id(body_font): 50}
    height = 260 + sum(gap + line_height[id(font)] for _, font, _, gap in blocks) + 140
    image = Image.new("RGB", (WIDTH, height), (255, 250, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 200), fill=RED_COLOUR)
    draw.text((WIDTH // 2, 80), title, font=title_font, fill=(255, 255, 255), anchor="mm")
    draw.text((WIDTH // 2, 158), subtitle, font=small_font, fill=(255, 235, 220), anchor="mm")
    y = 240
    for text, font, colour, gap in blocks:
        y += gap
        x = MARGIN if font is heading_font else MARGIN + 40
        if font is heading_font:
            draw.rectangle((MARGIN - 24, y + 6, MARGIN - 12, y + 50), fill=colour)
        draw.text((x, y), text, font=font, fill=colour)
        y += line_height[id(font)]
    draw.line((MARGIN, height - 100, WIDTH - MARGIN, height - 100), fill=(200, 190, 180), width=2)
    draw.text((WIDTH // 2, height - 56), footer, font=small_font, fill=(120, 110, 100), anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
