"""The one converter both WeCom channels share: WeCom's message JSON (path/100719, events path/101027) into
`Incoming`, and `OutMessage` into WeCom bodies (stream, markdown, template card; path/101031)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from bot.core.types import FileRef, Incoming, Location, OutButton, OutMessage, Photo

PLATFORM = "wecom"
STREAM_LIMIT = 20_480  # bytes of a stream's markdown content
MARKDOWN_LIMIT = 4_096  # bytes of a markdown message (aibot_send_msg, response_url, group robots)
ROBOT_TEXT_LIMIT = 2_048
CARD_TITLE_CHARS = 26
CARD_SUBTITLE_CHARS = 112
CARD_BUTTON_CHARS = 10
CARD_MAX_BUTTONS = 6
# Choices longer than a button holds go on a vote card (vote_interaction): one option per line, the whole label,
# up to 20 options a card, a single choice sent with the submit button. Its key, and the question's.
CARD_MAX_OPTIONS = 20
VOTE_KEY = "vote"
QUESTION_KEY = "choice"
# Button keys we put on cards: our server-side token, prefixed for a "continue privately" button.
DEEPLINK_PREFIX = "dl:"
# The key of the one button left on a card after it was pressed: pressing it again is a stale press.
SPENT_KEY = "spent"
# A link button (a page on the web) is a jump on a card (text_notice: `jump_list` of type 1 with the url, at most
# 3 a card, and `card_action` opening the first; path/101032 for the intelligent bot, path/99110 for group robots).
CARD_MAX_JUMPS = 3
JUMP_URL = 1

_MENTION = re.compile(r"^\s*@\S+\s*")
_LINK = re.compile(r"\]\s*\(")
_USER_MENTION = re.compile(r"<\s*@")
_COMMAND = re.compile(r"^/([A-Za-z0-9_]+)(?:@\S+)?(?:\s+(.*))?$", re.S)


def neutralise(text: str) -> str:
    """Stop text (a resident's complaint, a name) from becoming a markdown link or a `<@userid>` mention:
    a zero-width space between the parts keeps what people read and breaks what WeCom parses."""
    return _USER_MENTION.sub("<\u200b@", _LINK.sub("]\u200b(", text))


def split_bytes(text: str, limit: int) -> list[str]:
    """Split at line breaks where possible so that no part exceeds `limit` UTF-8 bytes."""
    if len(text.encode()) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line.encode()) > limit:
            head = line
            while len(head.encode()) > limit:
                head = head[: max(1, len(head) * limit // len(head.encode()) - 1)]
            if current:
                parts.append(current)
                current = ""
            parts.append(head)
            line = line[len(head) :]
        if len((current + line).encode()) > limit:
            parts.append(current)
            current = ""
        current += line
    if current:
        parts.append(current)
    return [p.rstrip("\n") for p in parts if p.strip()]


def photo_id(url: str, aes_key: str) -> str:
    return f"{aes_key}|{url}"


def parse_photo_id(file_id: str) -> tuple[str, str]:
    aes_key, _, url = file_id.partition("|")
    return url, aes_key


def _text_fields(text: str) -> dict[str, Any]:
    text = text.strip()
    found = _COMMAND.match(text)
    if found:
        return {"text": text, "command": found.group(1).lower(), "args": (found.group(2) or "").strip()}
    return {"text": text}


def chat_of(body: dict[str, Any]) -> tuple[str, str]:
    """(chat id, kind): a single chat is addressed by the person's userid, a group by its chatid."""
    user = str((body.get("from") or {}).get("userid", ""))
    if body.get("chattype") == "group" and body.get("chatid"):
        return str(body["chatid"]), "group"
    return user, "private"


def update_key(body: dict[str, Any]) -> str:
    """What a callback is claimed and de-duplicated under: its msgid, or, for one without (some events, stream
    refreshes), a hash of the whole decrypted body. Two callbacks that differ in anything (sender, chat, card,
    time) are two updates; the same body again, however it was encrypted and stamped, is a repeat."""
    msgid = str(body.get("msgid") or "")
    if msgid:
        return msgid
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "body:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def to_incoming(body: dict[str, Any]) -> Incoming | None:
    """One callback body as the core's `Incoming`; None for what the bot ignores (a stream refresh, feedback)."""
    user = str((body.get("from") or {}).get("userid", ""))
    if not user:
        return None
    chat_id, kind = chat_of(body)
    base: dict[str, Any] = {
        "platform": PLATFORM, "update_id": update_key(body), "chat_id": chat_id, "chat_kind": kind,
        "user_id": user, "user_name": user, "raw": body,
    }
    msgtype = body.get("msgtype")
    if msgtype == "event":
        event = body.get("event") or {}
        eventtype = event.get("eventtype")
        if eventtype == "enter_chat":
            return Incoming(**base, text="/start", command="start")
        if eventtype == "template_card_event":
            card = event.get("template_card_event") or event
            key = pressed_key(card)
            if not key:
                return None  # a vote card submitted with nothing chosen
            if key.startswith(DEEPLINK_PREFIX):
                # No deep links in WeCom: the press continues in the person's single chat.
                base.update(chat_id=user, chat_kind="private")
                key = key[len(DEEPLINK_PREFIX) :]
            return Incoming(**base, button=key)
        return None
    if msgtype == "text":
        text = str((body.get("text") or {}).get("content", ""))
        if kind == "group":
            # In a group the bot only hears messages that @mention it; the mention comes first. A bare mention
            # is a call for attention: it gets the group's help, not silence.
            text = _MENTION.sub("", text, count=1)
            if not text.strip():
                return Incoming(**base, text="/help", command="help")
        return Incoming(**base, **_text_fields(text))
    if msgtype == "voice":  # WeCom transcribes voice messages; the words are what counts.
        return Incoming(**base, **_text_fields(str((body.get("voice") or {}).get("content", ""))))
    if msgtype == "image":
        image = body.get("image") or {}
        return Incoming(**base, photo=Photo(photo_id(str(image.get("url", "")), str(image.get("aeskey", ""))),
                                            PLATFORM))
    if msgtype == "file":  # single chats only; the name and type come only with the download
        file = body.get("file") or {}
        return Incoming(**base, document=FileRef(photo_id(str(file.get("url", "")), str(file.get("aeskey", ""))),
                                                 PLATFORM))
    if msgtype == "mixed":
        text, photo = "", None
        for item in (body.get("mixed") or {}).get("msg_item", []):
            if item.get("msgtype") == "text" and not text:
                text = str((item.get("text") or {}).get("content", ""))
            if item.get("msgtype") == "image" and photo is None:
                image = item.get("image") or {}
                photo = Photo(photo_id(str(image.get("url", "")), str(image.get("aeskey", ""))), PLATFORM)
        if kind == "group":
            text = _MENTION.sub("", text, count=1)
        fields = _text_fields(text) if text else {}
        return Incoming(**base, photo=photo, **fields)
    if msgtype == "stream":
        return None
    if msgtype == "location" and (place := _location(body.get("location") or {})) is not None:
        return Incoming(**base, location=place)
    return Incoming(**base, other=str(msgtype or "unknown"))


def _location(found: dict[str, Any]) -> Location | None:
    """A location message's pin: latitude/longitude with a name or address (the application message's
    Location_X/Location_Y/Label read the same); None when the degrees are missing or not numbers."""
    try:
        latitude = float(found.get("latitude", found.get("location_x", "")))
        longitude = float(found.get("longitude", found.get("location_y", "")))
    except (TypeError, ValueError):
        return None
    label = " ".join(str(found[key]) for key in ("name", "label", "address") if found.get(key))
    return Location(latitude, longitude, label)


_task_counter = itertools.count()


def new_task_id() -> str:
    # Unique per bot, at most 128 bytes: process-unique prefix plus a counter.
    return f"t{os.getpid():x}{os.urandom(4).hex()}{next(_task_counter):x}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Rendered:
    """One OutMessage for WeCom: markdown parts, then cards carrying the buttons."""

    texts: list[str] = field(default_factory=list)
    cards: list[dict[str, Any]] = field(default_factory=list)


def jump_cards(title: str, links: list[OutButton], sub_title: str = "", task_ids: bool = True
               ) -> list[dict[str, Any]]:
    """Text-notice cards whose jumps open the links (3 a card); a tap anywhere on the card opens its first."""
    cards: list[dict[str, Any]] = []
    for start in range(0, len(links), CARD_MAX_JUMPS):
        chunk = links[start : start + CARD_MAX_JUMPS]
        card: dict[str, Any] = {
            "card_type": "text_notice",
            "main_title": {"title": title or "…"},
            "jump_list": [{"type": JUMP_URL, "title": b.label, "url": b.data} for b in chunk],
            "card_action": {"type": JUMP_URL, "url": chunk[0].data},
        }
        if sub_title and not start:
            card["sub_title_text"] = sub_title
        if task_ids:
            card["task_id"] = new_task_id()
        cards.append(card)
    return cards


def render(message: OutMessage, contact_hint: str = "", text_limit: int = STREAM_LIMIT,
           task_ids: bool = True) -> Rendered:
    """The message's text (markdown parts) and cards: its buttons on a button or vote card, its links as jumps on a
    text-notice card, or, beside buttons, as links in the text with the button card opening the first on a tap.
    `task_ids`: False for a group robot, whose cards take no presses."""
    text = neutralise(message.text.strip())
    lines: list[str] = []
    card_buttons: list[OutButton] = []
    links = [b for row in message.buttons for b in row if b.kind == "url"]
    for button in (b for row in message.buttons for b in row):
        if button.kind == "contact":
            # No shared-contact button in WeCom: say so instead of showing a button that does nothing.
            if contact_hint:
                lines.append(contact_hint)
        elif button.kind != "url":
            card_buttons.append(button)
    rendered = Rendered()
    if links and not card_buttons:
        if lines:
            text = (text + "\n\n" + "\n".join(lines)).strip()
        first_line, _, rest = text.partition("\n")
        fits = len(first_line) <= CARD_TITLE_CHARS and len(rest.strip()) <= CARD_SUBTITLE_CHARS
        if not fits:
            rendered.texts = split_bytes(text, text_limit) if text else []
        rendered.cards = jump_cards(_title(first_line), links, rest.strip() if fits else "", task_ids)
        return rendered
    # Beside buttons the links stay in the text, where they can be seen; the card itself opens the first.
    lines[:0] = [f"[{neutralise(b.label)}]({b.data})" for b in links]
    if lines:
        text = (text + "\n\n" + "\n".join(lines)).strip()
    if not card_buttons:
        rendered.texts = split_bytes(text, text_limit) if text else []
        return rendered
    first_line, _, rest = text.partition("\n")
    # A text carrying a link goes as markdown, where the link is one; a card's text shows it raw.
    fits = len(first_line) <= CARD_TITLE_CHARS and len(rest) <= CARD_SUBTITLE_CHARS and not links
    if not fits:
        rendered.texts = split_bytes(text, text_limit)
    title = _title(first_line)
    if any(len(b.label) > CARD_BUTTON_CHARS for b in card_buttons):
        # Long choices ("一般事项：须过半数同意") are never cut to fit a button: a vote card shows them whole.
        for start in range(0, len(card_buttons), CARD_MAX_OPTIONS):
            chunk = card_buttons[start : start + CARD_MAX_OPTIONS]
            vote: dict[str, Any] = {
                "card_type": "vote_interaction",
                "main_title": {"title": title},
                "checkbox": {"question_key": QUESTION_KEY, "mode": 0, "option_list": [
                    {"id": _key(b), "text": b.label, "is_checked": False} for b in chunk]},
                "submit_button": {"key": VOTE_KEY},  # WeCom labels it 提交 in the reader's language
                "task_id": new_task_id(),
            }
            if fits and rest.strip():
                vote["sub_title_text"] = rest.strip()
            rendered.cards.append(vote)
        return rendered
    for start in range(0, len(card_buttons), CARD_MAX_BUTTONS):
        chunk = card_buttons[start : start + CARD_MAX_BUTTONS]
        card: dict[str, Any] = {
            "card_type": "button_interaction",
            "main_title": {"title": title},
            "button_list": [
                {"text": b.label, "style": 1, "key": _key(b)} for b in chunk
            ],
            "task_id": new_task_id(),
        }
        if fits and rest.strip():
            card["sub_title_text"] = rest.strip()
        if links:
            card["card_action"] = {"type": JUMP_URL, "url": links[0].data}
        rendered.cards.append(card)
    return rendered


# Text folded into a card sent on its own (response_url takes one message): up to this many characters; a longer
# text goes first and its card with the chat's next response_url.
FOLD_CHARS = 1000
_CLAUSE = re.compile(rf"^.{{1,{CARD_TITLE_CHARS - 1}}}?[：:。！？!?]")


def card_with_text(card: dict[str, Any], text: str) -> dict[str, Any] | None:
    """The card carrying the message's text as well, for a channel that takes one message (response_url): a short
    first line is the title and the rest the card's text; a longer first line is titled by its first clause and
    the whole text follows. None when the text is too long for a card."""
    text = text.strip()
    if len(text) > FOLD_CHARS:
        return None
    folded = {key: value for key, value in card.items() if key not in ("sub_title_text", "quote_area")}
    first_line, _, rest = text.partition("\n")
    if len(first_line) <= CARD_TITLE_CHARS:
        title, body = first_line, rest.strip()
    else:
        clause = _CLAUSE.match(first_line)
        title, body = (clause.group(0) if clause else "…"), text
    folded["main_title"] = {"title": title or "…"}
    if len(body) <= CARD_SUBTITLE_CHARS:
        if body:
            folded["sub_title_text"] = body
    else:
        folded["quote_area"] = {"type": 0, "quote_text": body}
    return folded


def _key(button: OutButton) -> str:
    return (DEEPLINK_PREFIX + button.data) if button.kind == "deeplink" else button.data


def _title(first_line: str) -> str:
    """A card's title: the text's first line when it fits, else its first clause, else its start."""
    if len(first_line) <= CARD_TITLE_CHARS:
        return first_line or "…"
    clause = _CLAUSE.match(first_line)
    return clause.group(0) if clause else _short(first_line, CARD_TITLE_CHARS)


def pressed_key(card_event: dict[str, Any]) -> str:
    """What a card press chose: a button's key, or on a vote card the option submitted ("" when none was)."""
    key = str(card_event.get("event_key", ""))
    if card_event.get("card_type") not in ("vote_interaction", "multiple_interaction") and key != VOTE_KEY:
        return key
    selected: Any = card_event.get("selected_items") or {}
    items = selected.get("selected_item", []) if isinstance(selected, dict) else selected
    for item in items if isinstance(items, list) else [items]:
        options: Any = (item or {}).get("option_ids") or {}
        ids = options.get("option_id", []) if isinstance(options, dict) else options
        ids = ids if isinstance(ids, list) else [ids]
        if ids:
            return str(ids[0])
    return ""


def spent_card(card: dict[str, Any] | None, pressed_key: str) -> dict[str, Any]:
    """The card after a press: what was chosen, and no live buttons (WeCom wants the same task_id back)."""
    if card is not None and card.get("card_type") == "vote_interaction":
        # The options stay readable, whole, with the one chosen ticked; nothing can be submitted again.
        checkbox = dict(card.get("checkbox") or {})
        checkbox["option_list"] = [dict(option, is_checked=option.get("id") == pressed_key)
                                   for option in checkbox.get("option_list", [])]
        checkbox["disable"] = True
        spent = {key: value for key, value in card.items() if key != "submit_button"}
        return {**spent, "checkbox": checkbox, "submit_button": {"text": "✓", "key": SPENT_KEY}, "replace_text": "✓"}
    label = "✓"
    title = "✓"
    task_id = ""
    if card is not None:
        task_id = str(card.get("task_id", ""))
        title = str((card.get("main_title") or {}).get("title", "✓"))
        for button in card.get("button_list", []):
            if button.get("key") == pressed_key:
                chosen = str(button.get("text", ""))
                # Whole, ticked where the tick fits: never "✓ 一般事项：须过…".
                label = "✓ " + chosen if len(chosen) + 2 <= CARD_BUTTON_CHARS else chosen
    updated: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": {"title": title},
        "button_list": [{"text": label, "style": 2, "key": SPENT_KEY}],
        "task_id": task_id,
    }
    if card is not None and card.get("sub_title_text"):
        updated["sub_title_text"] = card["sub_title_text"]
    if card is not None and card.get("card_action"):
        updated["card_action"] = card["card_action"]  # the page still opens from the pressed card
    return updated


def reply_bodies(messages: list[OutMessage], contact_hint: str = "") -> list[dict[str, Any]]:
    """Bodies for one answer: the first goes as the passive reply (a finished stream, with the first card
    when there is one), the rest as messages of their own (markdown or template card)."""
    texts: list[str] = []
    cards: list[dict[str, Any]] = []
    for message in messages:
        rendered = render(message, contact_hint)
        texts.extend(rendered.texts)
        cards.extend(rendered.cards)
    joined = split_bytes("\n\n".join(texts), STREAM_LIMIT) if texts else []
    bodies: list[dict[str, Any]] = []
    stream_id = new_task_id()
    if joined and cards:
        bodies.append({"msgtype": "stream_with_template_card",
                       "stream": {"id": stream_id, "finish": True, "content": joined[0]},
                       "template_card": cards.pop(0)})
    elif joined:
        bodies.append({"msgtype": "stream", "stream": {"id": stream_id, "finish": True, "content": joined[0]}})
    for extra in joined[1:]:
        bodies.extend(markdown_bodies(extra))
    bodies.extend({"msgtype": "template_card", "template_card": card} for card in cards)
    return bodies


def markdown_bodies(text: str) -> list[dict[str, Any]]:
    return [{"msgtype": "markdown", "markdown": {"content": part}} for part in split_bytes(text, MARKDOWN_LIMIT)]


def active_bodies(message: OutMessage, contact_hint: str = "") -> list[dict[str, Any]]:
    """A message the bot starts (aibot_send_msg, response_url): markdown parts then cards."""
    rendered = render(message, contact_hint, MARKDOWN_LIMIT)
    bodies: list[dict[str, Any]] = []
    for text in rendered.texts:
        bodies.extend(markdown_bodies(text))
    bodies.extend({"msgtype": "template_card", "template_card": card} for card in rendered.cards)
    return bodies


def cards_in(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b["template_card"] for b in bodies if "template_card" in b]
