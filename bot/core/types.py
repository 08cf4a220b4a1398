"""The values that cross the line between transports and the core. Transports convert; handlers never see
platform types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from storage.notifications import Notice

ChatKind = Literal["private", "group"]


@dataclass(frozen=True, slots=True)
class Photo:
    file_id: str
    platform: str


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file a person sent (a spreadsheet, a PDF): its bytes are fetched only when a handler asks
    (`core.fetch_photo(platform, file_id)` fetches any file). The platform may not tell the name, type or
    size (WeCom gives them only with the download): then they are empty and the bytes say what it is."""

    file_id: str
    platform: str
    name: str = ""
    mime: str = ""
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str
    # The platform user the contact belongs to; only a person's own contact is accepted.
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    """A place a person shared (Telegram's location or venue, WeCom's location): WGS-84 degrees and what the
    platform calls it ("" when it names nothing)."""

    latitude: float
    longitude: float
    label: str = ""


@dataclass(frozen=True, slots=True)
class Incoming:
    platform: str
    update_id: str
    chat_id: str
    chat_kind: ChatKind
    user_id: str
    user_name: str = ""
    chat_title: str = ""
    language: str | None = None
    text: str | None = None
    # "/grant 12 secretary" arrives as command="grant", args="12 secretary".
    command: str | None = None
    args: str = ""
    button: str | None = None
    photo: Photo | None = None
    contact: Contact | None = None
    # A file sent as a file (Telegram's document, WeCom's file message); its caption, if any, is `text`.
    document: FileRef | None = None
    # Anything other than text, photo, document, contact or a button (a sticker, a voice message).
    other: str | None = None
    # A shared location (a map pin).
    location: Location | None = None
    # Chat events: "bot_added", "bot_removed", "migrated" (then `args` holds the new chat id).
    event: str | None = None
    # The platform's id of the bot's message whose button was pressed (where the platform tells it).
    message_id: str | None = None
    # For debugging only; no handler reads it.
    raw: Any = field(default=None, compare=False, repr=False)


# The spreadsheets every export sends (ledger, monthly report, personal data).
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True, slots=True)
class Media:
    data: bytes
    filename: str
    mime: str


ButtonKind = Literal["action", "choice", "private", "url", "contact"]


@dataclass(frozen=True, slots=True)
class Button:
    """What a handler offers to press. The core turns it into a short server-side token."""

    label: str
    kind: ButtonKind = "action"
    action: str = ""
    args: tuple[tuple[str, Any], ...] = ()
    url: str = ""
    # Only the person the reply goes to may press it (default for private replies).
    personal: bool | None = None

    @staticmethod
    def do(label: str, action: str, personal: bool | None = None, **args: Any) -> Button:
        """A button that runs a routed action (`router.button(action, ...)`) with these arguments."""
        return Button(label, "action", action, tuple(args.items()), personal=personal)

    @staticmethod
    def choice(label: str, value: Any) -> Button:
        """An answer to the current conversation step; stale once the step has moved on."""
        return Button(label, "choice", args=(("value", value),))

    @staticmethod
    def private(label: str, action: str, **args: Any) -> Button:
        """From a group: continue in a private chat with the bot (a deep link where the platform has one)."""
        return Button(label, "private", action, tuple(args.items()))

    @staticmethod
    def link(label: str, url: str) -> Button:
        return Button(label, "url", url=url)

    @staticmethod
    def share_contact(label: str) -> Button:
        return Button(label, "contact")


@dataclass(frozen=True, slots=True)
class ToPerson:
    person_id: int


@dataclass(frozen=True, slots=True)
class ToChat:
    chat_id: int  # storage Chat.id


@dataclass(frozen=True, slots=True)
class ToGroups:
    """Every active group chat bound to a compound (or to one of its buildings)."""

    compound_id: int
    building_id: int | None = None


Target = ToPerson | ToChat | ToGroups


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    image: Media | None = None
    document: Media | None = None
    # None: the chat the incoming message came from.
    to: Target | None = None
    pin: bool = False
    # Remember a group posting under this key so it can be edited later.
    posting: str | None = None
    # Edit the postings remembered under this key instead of sending a new message.
    edit: str | None = None
    # Send later (scheduled announcements); None is now.
    due_at: Any = None
    # Drop if still undelivered after this moment (a reminder once the meeting has begun).
    expires_at: Any = None
    # A short notice for a pressed button (Telegram shows it as a toast).
    toast: str | None = None
    # Tidy chats: replace the message whose button was pressed instead of sending a new one (a toggle showing its
    # new state). None lets the core decide: a flow's question asked again after a press on it, or a button's
    # answer that offers the pressed action again, replaces it in a private chat.
    replace: bool | None = None
    # Set by the core on a flow's question: the conversation key and step it asks ("key:step").
    asks: str | None = None
    # A message the person did not ask for (`to=ToPerson`, from a job or someone else's action): its kind, subject
    # and content, which the notification budget decides on (storage/notifications.py says how to mark one).
    notice: Notice | None = None


def rows(*buttons: Button, per_row: int = 1) -> tuple[tuple[Button, ...], ...]:
    """Lay buttons out `per_row` to a row."""
    return tuple(tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row))


Replies = Reply | list[Reply] | None


# What the core hands to transports: rendered, with tokens in place of meanings.


@dataclass(frozen=True, slots=True)
class OutButton:
    label: str
    kind: Literal["callback", "deeplink", "url", "contact"]
    data: str = ""


@dataclass(frozen=True, slots=True)
class OutMessage:
    text: str
    buttons: tuple[tuple[OutButton, ...], ...] = ()
    image: Media | None = None
    document: Media | None = None
    pin: bool = False
    toast: str | None = None
    # Tidy chats, for a platform that edits messages (the others ignore these): the platform id of an earlier
    # message of ours in this chat that this one replaces in place (sent anew when it cannot be edited) ...
    replaces: str | None = None
    # ... the ids of earlier messages whose buttons are spent (a step answered): their keyboards are removed, and
    # the pressed one shows the answer chosen ...
    spent: tuple[str, ...] = ()
    # ... and, on a flow's question, its "key:step": the transport tells the core the id it got
    # (`Core.remember_step`), so a typed answer can retire the question's buttons.
    asks: str | None = None

    def to_payload(self, media_id: int | None = None, media_kind: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "text": self.text,
            "buttons": [[{"label": b.label, "kind": b.kind, "data": b.data} for b in row] for row in self.buttons],
            "media_id": media_id,
            "media_kind": media_kind,
            "pin": self.pin,
        }
        # Only when set: outbox rows never carry them, a repeated update's stored answer does.
        if self.replaces:
            payload["replaces"] = self.replaces
        if self.spent:
            payload["spent"] = list(self.spent)
        if self.asks:
            payload["asks"] = self.asks
        return payload

    @staticmethod
    def from_payload(payload: dict[str, Any], media: Media | None = None) -> OutMessage:
        buttons = tuple(
            tuple(OutButton(b["label"], b["kind"], b.get("data", "")) for b in row) for row in payload.get("buttons", [])
        )
        kind = payload.get("media_kind")
        return OutMessage(
            text=payload.get("text", ""),
            buttons=buttons,
            image=media if kind == "image" else None,
            document=media if kind == "document" else None,
            pin=bool(payload.get("pin")),
            replaces=payload.get("replaces"),
            spent=tuple(payload.get("spent", ())),
            asks=payload.get("asks"),
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """A transport's answer to one send: delivered (with the platform's message id), or why not."""

    ok: bool
    message_id: str | None = None
    retry_after: float | None = None
    # The platform refused for good (blocked, kicked, chat gone): stop retrying.
    permanent: bool = False
    error: str = ""
    # Recorded instead of "delivered" when the platform accepted the message but has not sent it yet
    # (WeCom customer groups: "waiting_confirm" until a staff member confirms the mass send).
    state: str | None = None
    # On a failure: how many parts of a message sent in several (counted from its first) are out already.
    parts_sent: int = 0
    # The chat has a new id (a Telegram group became a supergroup): not a failure of the message, which is sent
    # again there once the chat's binding and queued messages have moved.
    moved_to: str | None = None
    # Not sent, through no fault of the message: the chat cannot receive now (its reply window is closed or spent).
    # The row waits, its attempt not counted, until the chat can receive again.
    waiting: bool = False


@dataclass(frozen=True, slots=True)
class Capabilities:
    buttons: bool = True
    images: bool = True
    documents: bool = True
    deep_links: bool = True
    contact_sharing: bool = True
    pin: bool = True
    edit: bool = True
    text_limit: int = 4096
