"""One parser for the dates and times residents type, in Chinese (simplified and traditional) and English.

Pure functions, no database: `parse_when` (a moment), `parse_day` (a calendar day), `parse_time_of_day`,
and `echo_when` / `echo_day` to say back what was understood ("2026-12-05 周六 09:00").

What is understood (after NFKC, so full-width digits, `：`, `／`, `（）` and ideographic spaces work):

- Days: 今天/今日/today, 明天/明日/tomorrow, 后天/後天/"day after tomorrow", 大后天/大後天; 今晚/明晚/明早 mean
  that day plus 晚上/早上.
- Weekdays: 周六, 週六, 星期六, 礼拜六/禮拜六, 周日/周天/星期日/星期天, English Monday..Sunday and Mon..Sun.
  A bare weekday, 本周/这周/這週 and "this"/"coming" name the *coming* one: today counts while the moment is
  still ahead (parse_day always counts today), otherwise the same weekday a week later. So 本周一 said on a
  Friday is next Monday, never a day that has passed.
  下周三/下星期三/下個星期三 and "next wed" are the Wednesday of the following calendar week (weeks start on
  Monday): said on Friday 2026-12-04, 下周三 is 2026-12-09 and 下周五 is 2026-12-11.
- Dates: 2026-12-05, 2026/12/05, 2026.12.05, 2026年12月5日, 二〇二六年十二月五日, 12月5日, 12月5号, 十二月五日,
  12-05, 12/5, 5号 (that day of this month, or of next month once past), Dec 5, 5 Dec, December 5th,
  "Dec 5, 2026". A weekday may stand beside a date ("12月5日（周六）", "Sat Dec 5"); it must agree, or the
  text is refused. Without a year a month-day already past is next year's; today's date stays this year.
  Years more than 100 from now, and impossible dates (2月30日, 2026-13-01), are refused.
- Times: 20:00, 9点, 9點, 9点半, 9点15分, 9点15, 9点05, 9点一刻, 9点整, 9点钟, 9时, 三点半, 十点, 两点;
  with 凌晨/早上/上午/中午/下午/傍晚/晚上/夜里 (下午3点 = 15:00, 下午15点 stays 15:00, 中午1点 = 13:00,
  夜里2点 = 02:00, 夜里11点 = 23:00, 凌晨12点 = 00:00; 晚上12点 is refused: it is midnight, and of which day
  is anyone's guess); 3pm, 3 pm, 3:30pm, 8am, 8 a.m., 12pm = 12:00, 12am = 00:00, noon.
- A day and a time in either order, with or without a space, "at"/"on" or a comma between.
  A time alone is today's if still ahead of `now`, else tomorrow's; a day alone is no moment (parse_when
  returns None so the caller can ask for the time).
- A wall time that daylight saving skips does not exist and is refused.

Anything else gives None; nothing raises on any text (long, control characters, lone surrogates). Circled
and superscript digits (①, ²) are refused rather than read as digits: they are list marks, not times.

Libraries weighed (as on PyPI when this was written), with the inputs each got wrong:
- dateparser 1.5 (+ regex, pytz, tzlocal, python-dateutil: ~11 MB; the first Chinese parse ~170 ms, then
  ~0.3 ms) reads English and ISO forms and rolls "01-10" into next year, but returns None for 下午3点,
  明天下午3点, 晚上8点, 后天 9点, 三点半, 12月5日 9点半, 十二月五日, 下周三, 本周五, 凌晨1点 and "next wed 9:00".
- JioNLP's time parser (`jionlp` pulls in jiojio, numpy and requests: ~245 MB, import 0.3-0.5 s; the
  standalone `jionlp-time` repackaging is 0.8 MB, last released 2023) reads the Chinese forms but no
  English (raises on "tomorrow 8pm", "Dec 5 9:30", "12am"), reads "25:00" as 10:25 today, keeps "01-10" in
  the past year, raises ValueError on whatever it does not understand and takes ~5 s on 10,000 characters.
- cn2an 0.5 (+ proces, ~0.5 MB, import ~0.17 s) converts numerals, but its strict mode refuses 两 and 〇
  (两点, 〇五) and its other modes read 点 as a decimal point (十点五 = 10.5): it would need the same special
  cases as `_number` below, which covers all a day or a time needs (0-99, 两, 〇, 廿, 卅) and agrees with
  cn2an's strict mode on every numeral of up to three characters that the latter accepts.
Hence a small own grammar and no new dependency.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["echo_day", "echo_when", "parse_day", "parse_time_of_day", "parse_when"]

# Real inputs are a few words; the cap keeps every parse (which tries each split point) well under a millisecond.
_MAX_LEN = 64

# ---- numbers ----------------------------------------------------------------------------------------------

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_CN_NUMBER = re.compile(
    r"(?:(?P<tens>[一二三四五六七八九])?十|(?P<twenty>廿)|(?P<thirty>卅))(?P<unit>[一二三四五六七八九])?"
    r"|[零〇]?(?P<digit>[零〇一二两兩三四五六七八九])"
)
# A number in a day or a time: one or two ASCII digits (NFKC made full-width ones ASCII), or Chinese numerals.
_NUM = r"[0-9]{1,2}|[零〇一二两兩三四五六七八九十廿卅]{1,3}"


def _number(token: str) -> int | None:
    """'15' → 15, '十五' → 15, '二十三' → 23, '廿' → 20, '零五' → 5, '两' → 2; None for '十十', '五五'."""
    if token.isascii():
        return int(token) if token.isdigit() else None
    found = _CN_NUMBER.fullmatch(token)
    if found is None:
        return None
    if found["digit"] is not None:
        return _CN_DIGITS[found["digit"]]
    tens = 2 if found["twenty"] else 3 if found["thirty"] else _CN_DIGITS[found["tens"]] if found["tens"] else 1
    return tens * 10 + (_CN_DIGITS[found["unit"]] if found["unit"] else 0)


# ---- text -------------------------------------------------------------------------------------------------

# Short words that stand for a day plus a part of it.
_CONTRACTIONS = (("今晚上", "今天晚上"), ("今晚", "今天晚上"), ("明晚上", "明天晚上"), ("明晚", "明天晚上"),
                 ("今早上", "今天早上"), ("今早", "今天早上"), ("明早上", "明天早上"), ("明早", "明天早上"),
                 ("明晨", "明天早晨"))
_FILLER = re.compile(r"(?:^| )(?:at|on)(?= |$)")


def _normalise(text: str) -> str | None:
    """Lower-case NFKC text with single spaces, or None when it cannot be a date or time."""
    if not isinstance(text, str) or len(text) > _MAX_LEN:
        return None
    kept: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cf":  # zero-width spaces and byte-order marks that copy-paste leaves behind
            continue
        if category == "No" or (category[0] == "C" and not char.isspace()):
            return None
        kept.append(char)
    normal = unicodedata.normalize("NFKC", "".join(kept)).lower().replace(",", " ").rstrip("。! ")
    for short, long in _CONTRACTIONS:
        normal = normal.replace(short, long)
    normal = " ".join(_FILLER.sub(" ", " ".join(normal.split())).split())
    return normal if 0 < len(normal) <= _MAX_LEN else None


# ---- time of day ------------------------------------------------------------------------------------------

# Part of the day → how it moves the hour: see _adjust.
_PERIODS = {"凌晨": "dawn", "淩晨": "dawn", "早上": "am", "早晨": "am", "清晨": "am", "上午": "am", "早": "am",
            "中午": "noon", "正午": "noon", "下午": "pm", "午后": "pm", "午後": "pm", "傍晚": "evening",
            "晚上": "evening", "晚间": "evening", "晚間": "evening", "夜晚": "evening", "晚": "evening",
            "夜里": "night", "夜裡": "night", "夜间": "night", "夜間": "night", "半夜": "night", "深夜": "night"}
_PERIOD = "|".join(sorted(_PERIODS, key=len, reverse=True))
_AMPM = r"am|pm|a\.m\.|p\.m\.|a\.m|p\.m"

_CN_CLOCK = re.compile(
    rf"(?:(?P<period>{_PERIOD}) ?)?(?P<h>{_NUM}) ?[点點时時]"
    rf"(?: ?(?:(?P<half>半)|(?P<quarter>[一三])刻|整|[钟鐘]|(?P<m>{_NUM}) ?分?))?"
)
_DIGIT_CLOCK = re.compile(
    rf"(?:(?P<period>{_PERIOD}) ?)?(?P<h>[0-9]{{1,2}})(?::(?P<m>[0-9]{{2}})(?::(?P<s>[0-9]{{2}}))?)?"
    rf"(?: ?(?P<ampm>{_AMPM}))?"
)
_NOON = re.compile(r"(?:12 ?)?noon|midday")


def _adjust(period: str | None, hour: int) -> int | None:
    """The 24-hour hour that `hour` said with a part of the day means; None when the two contradict."""
    kind = _PERIODS.get(period or "")
    if kind is None:
        return hour
    if kind in ("am", "dawn"):
        if hour > 12:
            return None
        return 0 if kind == "dawn" and hour == 12 else hour
    if kind == "noon":
        if 1 <= hour <= 3:
            return hour + 12
        return hour if 11 <= hour <= 14 else None
    if hour == 0:
        return None
    if hour == 12:
        # 下午12点 is noon; 晚上12点 / 夜里12点 is midnight, and which day's midnight is a guess: ask again.
        return 12 if kind == "pm" else None
    if kind == "night" and hour <= 5:
        return hour  # 夜里2点 is the small hours
    return hour + 12 if hour < 12 else hour


def _clock(text: str) -> tuple[int, int] | None:
    if _NOON.fullmatch(text):
        return 12, 0
    found = _CN_CLOCK.fullmatch(text)
    if found is not None:
        hour = _number(found["h"])
        if found["half"]:
            minute: int | None = 30
        elif found["quarter"]:
            minute = 15 if found["quarter"] == "一" else 45
        else:
            minute = _number(found["m"]) if found["m"] else 0
        if hour is None or minute is None or hour > 23:
            return None
        hour = _adjust(found["period"], hour)
    else:
        found = _DIGIT_CLOCK.fullmatch(text)
        # A bare number ("9") is no time: it needs minutes, 点 or am/pm.
        if found is None or (found["m"] is None and found["ampm"] is None):
            return None
        hour, minute = int(found["h"]), int(found["m"] or 0)
        if found["s"] is not None and int(found["s"]) > 59:
            return None
        if found["ampm"] is not None:
            if found["period"] is not None or not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if found["ampm"].startswith("p") else 0)
        elif hour > 23:
            return None
        else:
            hour = _adjust(found["period"], hour)
    if hour is None or not 0 <= hour <= 23 or not 0 <= minute <= 59:
        return None
    return hour, minute


# ---- days -------------------------------------------------------------------------------------------------

_RELATIVE = {"今天": 0, "今日": 0, "today": 0, "明天": 1, "明日": 1, "tomorrow": 1, "后天": 2, "後天": 2,
             "day after tomorrow": 2, "the day after tomorrow": 2, "大后天": 3, "大後天": 3}
_CN_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_EN_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CN_WEEKDAY = r"(?:周|週|星期|礼拜|禮拜) ?[一二三四五六日天]"
_EN_WEEKDAY = (r"(?:mon(?:day)?|tue(?:s|sday)?|wed(?:s|nesday)?|thu(?:r|rs|rsday)?|fri(?:day)?|sat(?:urday)?"
               r"|sun(?:day)?)\.?")
_WEEKDAY = re.compile(
    rf"(?:(?P<which>本|这|這|下|this|next|coming|this coming)(?: ?(?:个|個))? ?)?(?P<day>{_CN_WEEKDAY}|{_EN_WEEKDAY})"
)
# A date with its weekday beside it, as notices write it: "12月5日（周六）", "Sat, Dec 5".
_DATE_AND_WEEKDAY = re.compile(
    rf"(?P<date>.+?) ?\(? ?(?P<after>{_CN_WEEKDAY}|{_EN_WEEKDAY}) ?\)?|\(?(?P<before>{_CN_WEEKDAY}|{_EN_WEEKDAY})\)? ?(?P<date2>.+)"
)

_YMD = re.compile(r"(?P<y>[0-9]{4})(?P<sep>[-/.])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})")
_MD = re.compile(r"(?P<m>[0-9]{1,2})[-/](?P<d>[0-9]{1,2})")
_CN_DATE = re.compile(
    rf"(?:(?P<y>[0-9]{{4}}|[〇零一二三四五六七八九]{{4}}) ?年 ?)?(?P<m>{_NUM}) ?月 ?(?P<d>{_NUM}) ?(?:日|号|號)?"
)
_DAY_OF_MONTH = re.compile(rf"(?P<d>{_NUM}) ?(?:日|号|號)")
_MONTH = (r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t|tember)?"
          r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_ORDINAL = r"(?:st|nd|rd|th)?"
_EN_DATE = re.compile(
    rf"(?:(?P<mon>{_MONTH})\.? ?(?P<d>[0-9]{{1,2}}){_ORDINAL}|(?P<d2>[0-9]{{1,2}}){_ORDINAL} ?(?:of )?(?P<mon2>{_MONTH})\.?)"
    rf"(?: (?P<y>[0-9]{{4}}))?"
)


def _weekday_index(word: str) -> int:
    word = word.replace(" ", "")
    if word[-1] in _CN_WEEKDAYS:
        return _CN_WEEKDAYS[word[-1]]
    return _EN_WEEKDAYS.index(word[:3])


def _year(token: str | None) -> int | None:
    if token is None:
        return None
    return int(token) if token.isascii() else int("".join(str(_CN_DIGITS[c]) for c in token))


def _calendar(year: int | None, month: int | None, day: int | None, today: date) -> date | None:
    """The date; without a year, this year's unless already past, then next year's."""
    if month is None or day is None:
        return None
    if year is not None:
        if abs(year - today.year) > 100:
            return None
        candidates = [year]
    else:
        candidates = [today.year, today.year + 1]
    for candidate in candidates:
        try:
            found = date(candidate, month, day)
        except ValueError:
            continue  # 2月29日 in a common year may still be next year's
        if year is not None or found >= today:
            return found
    return None


def _date(text: str, today: date) -> date | None:
    """An explicit date: numbers or names of a month and day, perhaps a year."""
    found = _YMD.fullmatch(text) or _MD.fullmatch(text)
    if found is not None:
        year = int(found["y"]) if "y" in found.groupdict() else None
        return _calendar(year, int(found["m"]), int(found["d"]), today)
    found = _CN_DATE.fullmatch(text)
    if found is not None:
        return _calendar(_year(found["y"]), _number(found["m"]), _number(found["d"]), today)
    found = _EN_DATE.fullmatch(text)
    if found is not None:
        month = _MONTHS.index((found["mon"] or found["mon2"])[:3]) + 1
        year = int(found["y"]) if found["y"] else None
        return _calendar(year, month, int(found["d"] or found["d2"]), today)
    found = _DAY_OF_MONTH.fullmatch(text)
    if found is not None:
        day = _number(found["d"])
        if day is None:
            return None
        for first in (today.replace(day=1), (today.replace(day=1) + timedelta(days=32)).replace(day=1)):
            try:
                candidate = first.replace(day=day)
            except ValueError:
                return None  # 31号 in a 30-day month: no guess at which month was meant
            if candidate >= today:
                return candidate
    return None


def _day(text: str, today: date) -> tuple[date, bool] | None:
    """The day named, and whether it is a coming weekday (which moves a week on once its moment has passed)."""
    if text in _RELATIVE:
        return today + timedelta(days=_RELATIVE[text]), False
    found = _WEEKDAY.fullmatch(text)
    if found is not None:
        target = _weekday_index(found["day"])
        if found["which"] in ("下", "next"):
            monday = today - timedelta(days=today.weekday())
            return monday + timedelta(days=7 + target), False
        return today + timedelta(days=(target - today.weekday()) % 7), True
    explicit = _date(text, today)
    if explicit is not None:
        return explicit, False
    found = _DATE_AND_WEEKDAY.fullmatch(text)
    if found is not None:
        explicit = _date(found["date"] or found["date2"], today)
        weekday = found["after"] or found["before"]
        if explicit is not None and explicit.weekday() == _weekday_index(weekday.rstrip(".")):
            return explicit, False
    return None


# ---- moments ----------------------------------------------------------------------------------------------


def _local_now(now: datetime, zone: ZoneInfo) -> datetime:
    # A naive `now` is taken to be wall time in `zone` already.
    return now.astimezone(zone) if now.tzinfo is not None else now.replace(tzinfo=zone)


def _at(day: date, clock: tuple[int, int], zone: ZoneInfo) -> datetime | None:
    wall = datetime(day.year, day.month, day.day, clock[0], clock[1])
    moment = wall.replace(tzinfo=zone)
    # A wall time skipped by a daylight-saving jump comes back different from a round trip through UTC.
    if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return moment


def parse_when(text: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    """A moment as people type it, in `zone` (tz-aware result in that zone); None when not understood or impossible."""
    normal = _normalise(text)
    if normal is None:
        return None
    local_now = _local_now(now, zone)
    today = local_now.date()
    # Compared in UTC: two wall times in the same zone compare naively, wrong in the hour a clock turns back.
    now_utc = local_now.astimezone(UTC)
    found: set[datetime] = set()

    def add(day: date, clock: tuple[int, int], step: int) -> None:
        """Add the moment; a step (days) moves it on when it is not ahead of now (`step` 0: never)."""
        moment = _at(day, clock, zone)
        if step and (moment is None or moment.astimezone(UTC) <= now_utc):
            moment = _at(day + timedelta(days=step), clock, zone)
        if moment is not None:
            found.add(moment)

    clock = _clock(normal)
    if clock is not None:
        add(today, clock, 1)
    # Try every place the day could end and the time begin, both ways round; a text that reads two ways is refused.
    for cut in range(1, len(normal)):
        left, right = normal[:cut].strip(), normal[cut:].strip()
        if not left or not right:
            continue
        for day_text, clock_text in ((left, right), (right, left)):
            clock = _clock(clock_text)
            if clock is None:
                continue
            day = _day(day_text, today)
            if day is not None:
                add(day[0], clock, 7 if day[1] and day[0] == today else 0)
    return found.pop() if len(found) == 1 else None


def parse_day(text: str, now: datetime, zone: ZoneInfo) -> date | None:
    """A calendar day (no time of day), same vocabulary for the day part."""
    normal = _normalise(text)
    if normal is None:
        return None
    day = _day(normal, _local_now(now, zone).date())
    return day[0] if day is not None else None


def parse_time_of_day(text: str) -> tuple[int, int] | None:
    """(hour, minute) of a time of day alone: "20:00", "下午3点", "3:30pm"; None otherwise."""
    normal = _normalise(text)
    return _clock(normal) if normal is not None else None


def echo_when(moment: datetime, zone: ZoneInfo, weekday_names: Sequence[str]) -> str:
    """'2026-12-05 周六 09:00' – the full date, the weekday name given by the caller (already translated, Monday
    first), the time."""
    if moment.tzinfo is None:
        raise ValueError("echo_when needs an aware datetime")
    local = moment.astimezone(zone)
    return f"{echo_day(local.date(), weekday_names)} {local.hour:02d}:{local.minute:02d}"


def echo_day(day: date, weekday_names: Sequence[str]) -> str:
    """'2026-12-05 周六'."""
    if len(weekday_names) != 7:
        raise ValueError("seven weekday names are needed, Monday first")
    return f"{day.isoformat()} {weekday_names[day.weekday()]}"
