"""What goes instead when a platform lacks a capability: the core chooses, from the transport's declared
`Capabilities`, so every transport gets the same fallback and none invents its own.

- no buttons: the labels as lines under the text ("· 同意"); a flow's step takes a typed label as its press, and a
  link keeps its address;
- no images: a picture goes as a file where files go, else its file name is named under the text;
- no files: the file name is named under the text;
- no pins: the posting is not pinned;
- no edits: the tidy-chat marks (replace this message, retire those buttons) are dropped, and the outbox does not
  ask the platform to change a posting (a live posting keeps its first text).

Sharing a phone number with a button (`contact_sharing`) and deep links stay the transport's: what a person is
told instead names the platform ("WeChat cannot share a phone number with a button")."""

from __future__ import annotations

from dataclasses import replace

from bot.core.types import Capabilities, OutButton, OutMessage


def _button_line(button: OutButton) -> str:
    return f"· {button.label}: {button.data}" if button.kind == "url" else f"· {button.label}"


def fit_capabilities(message: OutMessage, caps: Capabilities) -> OutMessage:
    """`message` as a platform with `caps` can show it; unchanged when it can show all of it."""
    text = message.text
    buttons = message.buttons
    image, document = message.image, message.document
    if buttons and not caps.buttons:
        # A contact button is the transport's to replace (its hint names the platform).
        shown = [b for row in buttons for b in row if b.kind != "contact"]
        kept = tuple(row for row in (tuple(b for b in line if b.kind == "contact") for line in buttons) if row)
        text = "\n".join([text.rstrip(), "", *(_button_line(b) for b in shown)]).strip() if shown else text
        buttons = kept
    if image is not None and not caps.images:
        if caps.documents and document is None:
            document = image
        else:
            text = f"{text.rstrip()}\n📎 {image.filename}".strip()
        image = None
    if document is not None and not caps.documents:
        text = f"{text.rstrip()}\n📎 {document.filename}".strip()
        document = None
    changed = (text, buttons, image, document) != (message.text, message.buttons, message.image, message.document)
    if changed:
        message = replace(message, text=text, buttons=buttons, image=image, document=document)
    if message.pin and not caps.pin:
        message = replace(message, pin=False)
    if not caps.edit and (message.replaces or message.spent):
        message = replace(message, replaces=None, spent=())
    return message
