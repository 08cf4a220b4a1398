"""The one way to read an answer typed or pressed at a conversation step: text, whole numbers, money, a choice,
a moment, a day, a photo. Every flow step names one of these kinds; the kind either gives the value or the polite
refusal that keeps the step and the draft. Nothing else in the code reads `msg.text` of a step."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bot.core.i18n import N_, Translator
from bot.core.types import Button, FileRef, Incoming, Location, Photo, Reply, rows
from bot.core.when import echo_day, echo_when, parse_day, parse_time_of_day, parse_when
from storage.people import phone_number

if TYPE_CHECKING:
    from bot.core.context import Context

T = TypeVar("T")

# Monday first; shared by every echo of a parsed day so a person reads the weekday in their language.
WEEKDAY_NAMES = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))

# Characters a typed answer never keeps: controls (not newline and tab), lone surrogates, zero-width marks.
_UNWANTED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff\ud800-\udfff]")
# Only these count as digits: a superscript two or a circled one is not a number anybody typed on purpose.
_DIGITS = re.compile(r"[0-9０-９]+")
# More digits than this is no count, amount or id of ours (and would overflow a 64-bit column).
MAX_DIGITS = 15


def clean_text(raw: str) -> str:
    """Text without control characters, zero-width marks or lone surrogates, composed (NFC) and stripped. Not NFKC:
    that would turn Chinese full-width punctuation (，。！？（）) into ASCII in what people wrote; matching (numbers,
    labels, names) normalises with NFKC where it compares, not here."""
    text = _UNWANTED.sub("", raw)
    return unicodedata.normalize("NFC", text).strip()


def whole_number(raw: str, low: int, high: int) -> int | None:
    """A whole number typed with ASCII or full-width digits (spaces around it allowed), within [low, high]."""
    text = raw.strip()
    if not text or len(text) > MAX_DIGITS or not _DIGITS.fullmatch(text):
        return None
    value = int(unicodedata.normalize("NFKC", text))
    return value if low <= value <= high else None


_MONEY = re.compile(r"(?:¥|￥|RMB)?\s*([0-9]{1,12})(?:\.([0-9]{1,2}))?\s*(?:元|块|yuan)?", re.IGNORECASE)


def money(raw: str, low: Decimal, high: Decimal) -> Decimal | None:
    """An amount in yuan with at most two decimals: "12", "12.5", "¥12.50", "12元"."""
    text = unicodedata.normalize("NFKC", raw.strip()) if len(raw) <= 40 else ""
    found = _MONEY.fullmatch(text)
    if not found:
        return None
    try:
        value = Decimal(f"{found.group(1)}.{found.group(2) or '0'}")
    except InvalidOperation:
        return None
    return value if low <= value <= high else None


def typed(msg: Incoming) -> str | None:
    """The text of a message that is only text (a photo's caption, a contact or a sticker is no typed answer)."""
    if msg.photo is not None or msg.document is not None or msg.contact is not None or msg.other is not None:
        return None
    return msg.text


def day_text(t: Translator, day: date) -> str:
    return echo_day(day, [t(name) for name in WEEKDAY_NAMES])


def moment_text(t: Translator, moment: datetime, ctx: Context) -> str:
    """A moment in full for confirmation: 2026-12-05 周六 09:00, in the compound's zone."""
    return echo_when(moment, ctx.zone(ctx.compound), [t(name) for name in WEEKDAY_NAMES])


class Answer(Generic[T]):
    """A kind of answer. `read` gives the value, or the Reply that refuses it and keeps the step."""

    def read(self, ctx: Context, msg: Incoming) -> T | Reply:
        raise NotImplementedError


def _pressed(ctx: Context) -> Any:
    return ctx.args.get("value")


@dataclass(frozen=True)
class Text(Answer[str]):
    """Typed text of at most `limit` characters (after cleaning). `what` (marked with N_) names it in the refusal;
    `skip` is the value of a button that answers with no text."""

    limit: int
    what: str = N_("answer")
    minimum: int = 1
    skip: str | None = None

    def read(self, ctx: Context, msg: Incoming) -> str | Reply:
        t = ctx.t
        if self.skip is not None and _pressed(ctx) == self.skip:
            return ""
        raw = typed(msg)
        text = clean_text(raw) if raw is not None and len(raw) <= 4 * self.limit + 100 else raw
        if not text:
            return Reply(t("Please type the {what} as text (or send /cancel to stop).", what=t(self.what)))
        if len(text) > self.limit:
            return Reply(t("That is {length} characters; please keep the {what} within {limit} characters.",
                           length=len(text), what=t(self.what), limit=self.limit))
        if len(text) < self.minimum:
            return Reply(t("Please write at least {minimum} characters for the {what}.", minimum=self.minimum,
                           what=t(self.what)))
        return text


@dataclass(frozen=True)
class Number(Answer[int]):
    """A whole number between `low` and `high`, typed in digits."""

    low: int
    high: int

    def read(self, ctx: Context, msg: Incoming) -> int | Reply:
        value = _pressed(ctx)
        if isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high:
            return value
        number = whole_number(typed(msg) or "", self.low, self.high)
        if number is None:
            return Reply(ctx.t("Please send a whole number from {low} to {high}, in digits.", low=self.low,
                               high=self.high))
        return number


@dataclass(frozen=True)
class Money(Answer[Decimal]):
    low: Decimal = Decimal("0.01")
    high: Decimal = Decimal("1000000")

    def read(self, ctx: Context, msg: Incoming) -> Decimal | Reply:
        amount = money(typed(msg) or "", self.low, self.high)
        if amount is None:
            return Reply(ctx.t("Please send an amount in yuan from {low} to {high}, such as 12.50.", low=self.low,
                               high=self.high))
        return amount


@dataclass(frozen=True)
class Choice(Answer[Any]):
    """One of the step's buttons (typing a button's label counts as pressing it). `values` limits what a
    button may carry; empty means any value the step's own buttons carry."""

    values: tuple[Any, ...] = ()
    refusal: str = N_("Please choose with the buttons above.")

    def read(self, ctx: Context, msg: Incoming) -> Any:
        value = _pressed(ctx)
        if msg.button is None or value is None or (self.values and value not in self.values):
            return Reply(ctx.t(self.refusal))
        return value


@dataclass(frozen=True)
class When(Answer[datetime]):
    """A moment typed in Chinese or English (明天 20:00, 周六 9点半, 12月5日 下午3点, tomorrow 8pm), in the
    compound's time zone. `future`: not before now. `now`: the value of a button that answers "now"."""

    future: bool = True
    now: str | None = None

    def read(self, ctx: Context, msg: Incoming) -> datetime | Reply:
        t = ctx.t
        if self.now is not None and _pressed(ctx) == self.now:
            return ctx.now
        text = typed(msg) or ""
        moment = parse_when(text, ctx.now, ctx.zone(ctx.compound)) if len(text) <= 60 else None
        if moment is None:
            buttons = rows(Button.choice(t("Now"), self.now)) if self.now is not None else ()
            return Reply(t("I could not read a time in that. Please type a day and a time, such as 明天 20:00, "
                           "周六 9:00, 12月5日 下午3点 or 2026-12-05 09:00."), buttons=buttons)
        if self.future and moment < ctx.now - timedelta(minutes=1):
            return Reply(t("{moment} has already passed. Please type a time still to come.",
                           moment=moment_text(t, moment, ctx)))
        return moment


@dataclass(frozen=True)
class Day(Answer[date]):
    """A calendar day (2026-12-31, 12月31日, 下周三, 明天)."""

    future: bool = True

    def read(self, ctx: Context, msg: Incoming) -> date | Reply:
        t = ctx.t
        text = typed(msg) or ""
        zone = ctx.zone(ctx.compound)
        day = parse_day(text, ctx.now, zone) if len(text) <= 40 else None
        if day is None:
            return Reply(t("I could not read a day in that. Please type it like 12月31日, 下周三 or 2026-12-31."))
        if self.future and day < ctx.now.astimezone(zone).date():
            return Reply(t("{day} has already passed. Please type a day still to come.", day=day_text(t, day)))
        return day


@dataclass(frozen=True)
class PhotoOrDone(Answer[Photo | None]):
    """A photo, or the `done` button (None): for steps that collect pictures one by one."""

    done: str = "done"

    def read(self, ctx: Context, msg: Incoming) -> Photo | Reply | None:
        if msg.photo is not None:
            return msg.photo
        if _pressed(ctx) == self.done:
            return None
        return Reply(ctx.t("Please send a photo, or press the button to go on."))


@dataclass(frozen=True)
class Either(Answer[Any]):
    """The value of the first of `kinds` that reads the answer: a step button or a name typed instead
    (`Either((Choice(), Text(64)))`), a button or a typed day (`Either((Choice(values=("year_end",)), Day()))`).
    When none reads it: `refusal` (marked with N_) if given, else the last kind's own refusal."""

    kinds: tuple[Answer[Any], ...]
    refusal: str | None = None

    def read(self, ctx: Context, msg: Incoming) -> Any:
        refused: Reply | None = None
        for kind in self.kinds:
            value = kind.read(ctx, msg)
            if not isinstance(value, Reply):
                return value
            refused = value
        if self.refusal is not None or refused is None:
            return Reply(ctx.t(self.refusal or Choice.refusal))
        return refused


@dataclass(frozen=True, slots=True)
class Evidence:
    """What `PhotoOrText` read: a photo (its caption, if any, as `text`) or text alone."""

    photo: Photo | None
    text: str


@dataclass(frozen=True)
class PhotoOrText(Answer[Evidence]):
    """A photo (with or without a caption) or text of at most `limit` characters. `refusal` (marked with N_)
    answers anything else (a sticker, a contact, nothing typed); a text too long gets Text's refusal."""

    limit: int
    refusal: str
    what: str = N_("answer")

    def read(self, ctx: Context, msg: Incoming) -> Evidence | Reply:
        if msg.photo is not None:
            caption = msg.text or ""
            return Evidence(msg.photo, clean_text(caption[: 4 * self.limit])[: self.limit])
        if not clean_text((typed(msg) or "")[:100]):
            return Reply(ctx.t(self.refusal))
        text = Text(self.limit, what=self.what).read(ctx, msg)
        return text if isinstance(text, Reply) else Evidence(None, text)


@dataclass(frozen=True, slots=True)
class SharedPhone:
    """What `Phone` read: the number ("" when skipped) and whether the platform vouched it is the person's own."""

    number: str
    verified: bool


@dataclass(frozen=True)
class Phone(Answer[SharedPhone]):
    """The person's own phone number shared with the contact button (verified), a number typed (checked by
    `storage.people.phone_number`, the roster's check too, and kept as its digits, never verified), or the `skip`
    button (no number). `not_own` (N_) refuses someone else's contact; `refusal` (N_) anything else."""

    refusal: str
    not_own: str
    skip: str | None = None

    def read(self, ctx: Context, msg: Incoming) -> SharedPhone | Reply:
        if msg.contact is not None:
            if msg.contact.user_id is not None and msg.contact.user_id != msg.user_id:
                return Reply(ctx.t(self.not_own))
            number = clean_text(msg.contact.phone[:64])[:32]
            return SharedPhone(number, True) if number else Reply(ctx.t(self.refusal))
        if self.skip is not None and _pressed(ctx) == self.skip:
            return SharedPhone("", False)
        raw = typed(msg) or ""
        checked = phone_number(clean_text(raw)) if len(raw) <= 64 else None
        return SharedPhone(checked, False) if checked else Reply(ctx.t(self.refusal))


@dataclass(frozen=True)
class Clock(Answer[time]):
    """A time of day alone (11:30, 下午3点, 9点半, 3:30pm) as a `datetime.time`, for a step that knows the day
    itself: the end of something that starts that day. `Either((Clock(), When()))` also takes a day and a time.
    `refusal` (marked with N_) answers anything else; by default `When`'s own."""

    refusal: str = N_("I could not read a time in that. Please type a day and a time, such as 明天 20:00, "
                      "周六 9:00, 12月5日 下午3点 or 2026-12-05 09:00.")

    def read(self, ctx: Context, msg: Incoming) -> time | Reply:
        text = typed(msg) or ""
        found = parse_time_of_day(text) if len(text) <= 60 else None
        if found is None:
            return Reply(ctx.t(self.refusal))
        return time(*found)


@dataclass(frozen=True)
class Count(Answer[int]):
    """A whole number between `low` and `high` as `Number` reads it, perhaps followed by one of `units` as people
    type a count ("5人", "20分")."""

    low: int
    high: int
    units: tuple[str, ...] = ()

    def read(self, ctx: Context, msg: Incoming) -> int | Reply:
        raw = typed(msg) or ""
        text = clean_text(raw) if len(raw) <= 40 else ""
        for unit in sorted(self.units, key=len, reverse=True):
            if text.endswith(unit):
                text = text[: -len(unit)]
                break
        number = whole_number(text, self.low, self.high)
        if number is None:
            return Reply(ctx.t("Please send a whole number from {low} to {high}, in digits.", low=self.low,
                               high=self.high))
        return number


@dataclass(frozen=True)
class Attachment(Answer[Photo | FileRef | None]):
    """A photo, or a file sent as a file (a `FileRef`: fetching and checking its bytes is the step's work), or the
    `skip` button (None). `refusal` and `skip_label` (marked with N_; `refusal` may name `{kinds}`) answer
    anything else, offering the skip button again."""

    refusal: str
    skip_label: str
    skip: str = "none"
    kinds: str = ""

    def read(self, ctx: Context, msg: Incoming) -> Photo | FileRef | Reply | None:
        if msg.document is not None:
            return msg.document
        if msg.photo is not None:
            return msg.photo
        if _pressed(ctx) == self.skip:
            return None
        t = ctx.t
        return Reply(t(self.refusal, kinds=self.kinds), buttons=rows(Button.choice(t(self.skip_label), self.skip)))


@dataclass(frozen=True)
class SharedLocation(Answer[Location]):
    """A location the person shared (a map pin: Telegram's location, WeCom's location message), its label cleaned
    and cut to `label_limit`. `refusal` (marked with N_) answers anything else; usually one of `Either`'s kinds
    beside the step's buttons."""

    refusal: str = N_("Please share a location, or choose with the buttons above.")
    label_limit: int = 200

    def read(self, ctx: Context, msg: Incoming) -> Location | Reply:
        found = msg.location
        if found is None or not (-90 <= found.latitude <= 90 and -180 <= found.longitude <= 180):
            return Reply(ctx.t(self.refusal))
        return Location(round(found.latitude, 6), round(found.longitude, 6),
                        clean_text(found.label[: 4 * self.label_limit])[: self.label_limit])
