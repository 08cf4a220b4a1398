"""微信客服 messages (kf/sync_msg, path/94670) into the core's `Incoming`, and `OutMessage` into kf/send_msg bodies
(path/94677): text, and buttons as a `msgmenu` whose click items carry our server-side tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.core.types import FileRef, Incoming, Location, Media, OutMessage, Photo
from bot.transports.wecom.convert import split_bytes
from storage.wechat import PLATFORM

TEXT_LIMIT = 2048  # bytes of a text message's content
HEAD_LIMIT = 1024  # bytes of a menu's head_content (and tail_content)
LABEL_LIMIT = 128  # bytes of a click item's content
ID_LIMIT = 64  # bytes of a click item's id: our tokens are 11 characters
# Click items to a menu: a longer list comes as several menus, and to fit a reply into the budget two menus may
# be joined up to MENU_MERGED.
MENU_ITEMS = 10
MENU_MERGED = 20
# The click id of the digest's "read them" item: the transport's own, not a core token.
READ_NOTICES = "~notices"
# Customer messages (origin 3); system events come as origin 4, a person's replies as 5.
FROM_CUSTOMER = 3

_COMMAND = re.compile(r"^/([A-Za-z0-9_]+)(?:@\S+)?(?:\s+(.*))?$", re.S)
# Where a label that is too long may be cut: after a space or a punctuation mark, never inside a word.
_BREAK = re.compile(r"[\s，。、；：！？,.;:!?)）】」]")


def to_incoming(msg: dict[str, Any]) -> Incoming | None:
    """A resident's message as the core's `Incoming`; None for events and for what is not the resident's (a
    person's reply through WeCom, origin 5). Voice has no transcript here: `other="voice"`."""
    user = str(msg.get("external_userid", ""))
    if not user or msg.get("msgtype") == "event" or int(msg.get("origin", FROM_CUSTOMER)) != FROM_CUSTOMER:
        return None
    base: dict[str, Any] = {"platform": PLATFORM, "update_id": str(msg.get("msgid", "")), "chat_id": user,
                            "chat_kind": "private", "user_id": user, "raw": msg}
    msgtype = msg.get("msgtype")
    if msgtype == "text":
        text = msg.get("text") or {}
        menu_id = str(text.get("menu_id", ""))
        if menu_id:
            return Incoming(**base, button=menu_id)
        content = str(text.get("content", "")).strip()
        found = _COMMAND.match(content)
        if found:
            return Incoming(**base, text=content, command=found.group(1).lower(), args=(found.group(2) or "").strip())
        return Incoming(**base, text=content)
    if msgtype == "image":
        return Incoming(**base, photo=Photo(str((msg.get("image") or {}).get("media_id", "")), PLATFORM))
    if msgtype == "file":
        return Incoming(**base, document=FileRef(str((msg.get("file") or {}).get("media_id", "")), PLATFORM))
    if msgtype == "location":
        place = msg.get("location") or {}
        try:
            latitude, longitude = float(place["latitude"]), float(place["longitude"])
        except (KeyError, TypeError, ValueError):
            return Incoming(**base, other="location")
        label = " ".join(str(place[key]) for key in ("name", "address") if place.get(key))
        return Incoming(**base, location=Location(latitude, longitude, label))
    return Incoming(**base, other=str(msgtype or "unknown"))


def fit_label(label: str, limit: int = LABEL_LIMIT) -> str:
    """A click item's content within its byte limit, cut after a space or a punctuation mark (never inside a word)
    with "…"; only a label with no break at all is cut at a character."""
    if len(label.encode()) <= limit:
        return label
    room = limit - len("…".encode())
    head = label
    while len(head.encode()) > room:
        head = head[:-1]
    breaks = [m.end() for m in _BREAK.finditer(head)]
    if breaks and breaks[-1] >= len(head) // 2:
        head = head[: breaks[-1]]
    return head.rstrip() + "…"


@dataclass(frozen=True)
class Upload:
    """A picture or file that goes out as media: uploaded when its message is sent."""

    kind: str  # image | file
    media: Media


Body = dict[str, Any]


def _text(content: str) -> Body:
    return {"msgtype": "text", "text": {"content": content}}


def menu(items: list[Body], head: str = "", tail: str = "") -> Body:
    body: Body = {"list": items}
    if head:
        body["head_content"] = head
    if tail:
        body["tail_content"] = tail
    return {"msgtype": "msgmenu", "msgmenu": body}


def render(message: OutMessage, contact_hint: str = "") -> list[Body | Upload]:
    """One OutMessage as kf/send_msg bodies: the text (as a menu's head when it fits), buttons as click items (url
    buttons as view items) in menus of MENU_ITEMS, then a picture or file."""
    text = message.text.strip()
    items: list[Body] = []
    for button in (b for row in message.buttons for b in row):
        if button.kind == "url":
            items.append({"type": "view", "view": {"url": button.data, "content": fit_label(button.label)}})
        elif button.kind == "contact":
            # No button shares a phone number here: the person types it instead.
            if contact_hint:
                text = (text + "\n\n" + contact_hint).strip()
        elif button.data and len(button.data.encode()) <= ID_LIMIT:
            items.append({"type": "click", "click": {"id": button.data, "content": fit_label(button.label)}})
    bodies: list[Body | Upload] = []
    menus = [items[i : i + MENU_ITEMS] for i in range(0, len(items), MENU_ITEMS)]
    if menus and text and len(text.encode()) <= HEAD_LIMIT:
        bodies.append(menu(menus.pop(0), head=text))
        text = ""
    bodies.extend(_text(part) for part in (split_bytes(text, TEXT_LIMIT) if text else []))
    bodies.extend(menu(chunk) for chunk in menus)
    if message.image is not None:
        bodies.append(Upload("image", message.image))
    if message.document is not None:
        bodies.append(Upload("file", message.document))
    return bodies


def _merged(first: Body | Upload, second: Body | Upload) -> Body | None:
    """Two bodies as one, when the platform's limits allow: texts joined, a text as the head of the menu after it
    (or the tail of the menu before it), two menus' items in one."""
    if isinstance(first, Upload) or isinstance(second, Upload):
        return None
    kinds = (first["msgtype"], second["msgtype"])
    if kinds == ("text", "text"):
        joined = first["text"]["content"] + "\n\n" + second["text"]["content"]
        return _text(joined) if len(joined.encode()) <= TEXT_LIMIT else None
    if kinds == ("text", "msgmenu"):
        head = (first["text"]["content"] + "\n\n" + second["msgmenu"].get("head_content", "")).strip()
        if len(head.encode()) <= HEAD_LIMIT:
            return menu(second["msgmenu"]["list"], head, second["msgmenu"].get("tail_content", ""))
        return None
    if kinds == ("msgmenu", "text"):
        tail = (first["msgmenu"].get("tail_content", "") + "\n\n" + second["text"]["content"]).strip()
        if len(tail.encode()) <= HEAD_LIMIT:
            return menu(first["msgmenu"]["list"], first["msgmenu"].get("head_content", ""), tail)
        return None
    if kinds == ("msgmenu", "msgmenu"):
        a, b = first["msgmenu"], second["msgmenu"]
        items = a["list"] + b["list"]
        head = (a.get("head_content", "") + "\n\n" + b.get("head_content", "")).strip()
        if len(items) <= MENU_MERGED and not a.get("tail_content") and len(head.encode()) <= HEAD_LIMIT:
            return menu(items, head, b.get("tail_content", ""))
    return None


def fit(bodies: list[Body | Upload], allowance: int) -> list[Body | Upload]:
    """As few messages as needed to fit `allowance`: neighbours merged, first where the result is smallest.
    Returns more than `allowance` only when nothing more can be merged."""
    bodies = list(bodies)
    while len(bodies) > max(allowance, 1):
        candidates = [(len(str(m)), i, m) for i in range(len(bodies) - 1)
                      if (m := _merged(bodies[i], bodies[i + 1])) is not None]
        if not candidates:
            break
        _, index, merged = min(candidates, key=lambda c: (c[0], c[1]))
        bodies[index : index + 2] = [merged]
    return bodies


def shown_text(body: Body | Upload) -> str:
    """What a resident reads of a body (for logs and the benchmark)."""
    if isinstance(body, Upload):
        return f"[{body.kind}]"
    if body["msgtype"] == "text":
        return str(body["text"]["content"])
    if body["msgtype"] == "msgmenu":
        return str(body["msgmenu"].get("head_content", ""))
    return ""
