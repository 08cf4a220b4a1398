"""Printable invite QR codes (`linli compound qr CODE`): the compound's Telegram deep link t.me/<bot>?start=CODE
and, when configured, its WeCom/WeChat link, side by side on one PNG with the compound's name and invite code.
Scanning opens the chat with the bot, which joins the person with the code (handlers/start.py)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import qrcode
from PIL import Image, ImageDraw, ImageFont

from storage.poster import cjk_font_path

# Module size and quiet zone (the standard's 4 modules) in pixels: 12 px modules print at about 1 mm at 300 dpi.
BOX, BORDER = 12, 4
MARGIN, GAP = 48, 48


def deep_link(bot_username: str, invite_code: str) -> str:
    return f"https://t.me/{bot_username.lstrip('@')}?start={invite_code}"


def qr_image(link: str) -> Image.Image:
    """One QR code (error correction M: still reads with a smudge or a staple through it), black on white."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=BOX, border=BORDER)
    code.add_data(link)
    code.make(fit=True)
    made = code.make_image(fill_color="black", back_color="white")
    image: Image.Image = made.get_image().convert("RGB")
    return image


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = cjk_font_path()
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size)


def _printable(text: str) -> str:
    """Without a CJK font Chinese would print as boxes: then only what is ASCII is printed."""
    return text if cjk_font_path() else "".join(ch for ch in text if ch.isascii()).strip()


def invite_png(title: str, subtitle: str, codes: Sequence[tuple[str, str]]) -> bytes:
    """`codes`: (caption, link) pairs, one QR each, left to right; the title and subtitle above them."""
    images = [(caption, link, qr_image(link)) for caption, link in codes]
    heading, small = _font(44), _font(26)
    width = MARGIN * 2 + sum(image.width for _, _, image in images) + GAP * (len(images) - 1)
    side = max(image.height for _, _, image in images)
    height = MARGIN + 60 + 44 + 24 + side + 90 + MARGIN
    poster = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(poster)
    draw.text((width // 2, MARGIN), _printable(title), fill="black", font=heading, anchor="mt")
    draw.text((width // 2, MARGIN + 60), _printable(subtitle), fill="black", font=small, anchor="mt")
    x, top = MARGIN, MARGIN + 60 + 44 + 24
    for caption, link, image in images:
        poster.paste(image, (x, top))
        centre = x + image.width // 2
        draw.text((centre, top + image.height + 8), _printable(caption), fill="black", font=small, anchor="mt")
        draw.text((centre, top + image.height + 44), link, fill="black", font=_font(18), anchor="mt")
        x += image.width + GAP
    out = io.BytesIO()
    poster.save(out, format="PNG", dpi=(300, 300))
    return out.getvalue()
