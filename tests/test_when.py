"""bot.core.when: one date-time parser for what residents type. Every expected value was worked out by hand
from NOW: Friday 2026-12-04 10:00 in Shanghai (02:00 UTC), as the bot's clock gives it."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.when import echo_day, echo_when, parse_day, parse_time_of_day, parse_when

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)  # Friday 2026-12-04 10:00 in Shanghai
CN_WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
TW_WEEKDAYS = ("週一", "週二", "週三", "週四", "週五", "週六", "週日")
EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


# ---- days -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("今天", date(2026, 12, 4)), ("今日", date(2026, 12, 4)), ("today", date(2026, 12, 4)),
    ("明天", date(2026, 12, 5)), ("明日", date(2026, 12, 5)), ("Tomorrow", date(2026, 12, 5)),
    ("后天", date(2026, 12, 6)), ("後天", date(2026, 12, 6)), ("day after tomorrow", date(2026, 12, 6)),
    ("the day after tomorrow", date(2026, 12, 6)),
    ("大后天", date(2026, 12, 7)), ("大後天", date(2026, 12, 7)),
])
def test_day_words(text: str, expected: date) -> None:
    assert parse_day(text, NOW, SH) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # The coming one; today (a Friday) counts for a day alone.
    ("周六", date(2026, 12, 5)), ("星期六", date(2026, 12, 5)), ("礼拜六", date(2026, 12, 5)),
    ("禮拜六", date(2026, 12, 5)), ("週六", date(2026, 12, 5)), ("星期 六", date(2026, 12, 5)),
    ("星期天", date(2026, 12, 6)), ("星期日", date(2026, 12, 6)), ("周日", date(2026, 12, 6)),
    ("周天", date(2026, 12, 6)), ("周一", date(2026, 12, 7)), ("周四", date(2026, 12, 10)),
    ("周五", date(2026, 12, 4)),
    ("本周五", date(2026, 12, 4)), ("这周五", date(2026, 12, 4)), ("這週五", date(2026, 12, 4)),
    ("这个星期六", date(2026, 12, 5)),
    ("本周一", date(2026, 12, 7)),  # this week's Monday has passed: the coming one, never a past day
    # The following calendar week, Monday to Sunday 12-07..12-13.
    ("下周三", date(2026, 12, 9)), ("下星期三", date(2026, 12, 9)), ("下週三", date(2026, 12, 9)),
    ("下个星期三", date(2026, 12, 9)), ("下個禮拜三", date(2026, 12, 9)), ("下周一", date(2026, 12, 7)),
    ("下周五", date(2026, 12, 11)), ("下周日", date(2026, 12, 13)),
    ("Monday", date(2026, 12, 7)), ("mon", date(2026, 12, 7)), ("Tue", date(2026, 12, 8)),
    ("tues", date(2026, 12, 8)), ("Wednesday", date(2026, 12, 9)), ("thu", date(2026, 12, 10)),
    ("Thurs", date(2026, 12, 10)), ("fri", date(2026, 12, 4)), ("Sat.", date(2026, 12, 5)),
    ("sunday", date(2026, 12, 6)), ("this friday", date(2026, 12, 4)), ("this coming monday", date(2026, 12, 7)),
    ("next wed", date(2026, 12, 9)), ("Next Friday", date(2026, 12, 11)), ("next sunday", date(2026, 12, 13)),
])
def test_weekdays(text: str, expected: date) -> None:
    assert parse_day(text, NOW, SH) == expected


def test_next_week_is_the_following_calendar_week_even_on_a_sunday() -> None:
    sunday = datetime(2026, 12, 6, 12, 0, tzinfo=SH)
    assert parse_day("下周一", sunday, SH) == date(2026, 12, 7)
    assert parse_day("周一", sunday, SH) == date(2026, 12, 7)
    assert parse_day("下周日", sunday, SH) == date(2026, 12, 13)
    assert parse_day("周日", sunday, SH) == date(2026, 12, 6)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-05", date(2026, 12, 5)), ("2026/12/05", date(2026, 12, 5)), ("2026.12.05", date(2026, 12, 5)),
    ("2026-12-5", date(2026, 12, 5)), ("2026年12月5日", date(2026, 12, 5)), ("2026 年 12 月 5 日", date(2026, 12, 5)),
    ("二〇二六年十二月五日", date(2026, 12, 5)), ("12月5日", date(2026, 12, 5)), ("12月5号", date(2026, 12, 5)),
    ("12月5號", date(2026, 12, 5)), ("12月5", date(2026, 12, 5)), ("12-05", date(2026, 12, 5)),
    ("12/5", date(2026, 12, 5)), ("十二月五日", date(2026, 12, 5)), ("十二月二十五日", date(2026, 12, 25)),
    ("十二月廿五日", date(2026, 12, 25)), ("一月十日", date(2027, 1, 10)),
    ("Dec 5", date(2026, 12, 5)), ("dec. 5", date(2026, 12, 5)), ("5 Dec", date(2026, 12, 5)),
    ("December 5", date(2026, 12, 5)), ("December 5th", date(2026, 12, 5)), ("5th of December", date(2026, 12, 5)),
    ("Dec 5, 2027", date(2027, 12, 5)), ("Jan 10", date(2027, 1, 10)), ("sept 1", date(2027, 9, 1)),
    # A month-day already past is next year's; today stays this year.
    ("12-03", date(2027, 12, 3)), ("12-04", date(2026, 12, 4)), ("01-10", date(2027, 1, 10)),
    ("1/10", date(2027, 1, 10)), ("2026-01-10", date(2026, 1, 10)),
    # A day of the month alone: this month's, or next month's once past.
    ("5号", date(2026, 12, 5)), ("31号", date(2026, 12, 31)), ("3号", date(2027, 1, 3)), ("四日", date(2026, 12, 4)),
    # The weekday beside a date must agree.
    ("12月5日（周六）", date(2026, 12, 5)), ("2026-12-05 周六", date(2026, 12, 5)), ("Sat, Dec 5", date(2026, 12, 5)),
    ("2026-12-05 Saturday", date(2026, 12, 5)), ("12月5日 周日", None), ("Sun Dec 5", None),
    # Impossible or not a day.
    ("2月30日", None), ("2026-13-01", None), ("2026-02-29", None), ("13/01", None), ("12月32日", None),
    ("二月三十日", None), ("0001-01-01", None), ("2200-01-01", None), ("12.05", None), ("12月", None),
    ("周八", None), ("下下周三", None), ("", None), ("   ", None), ("明天 20:00", None), ("20:00", None),
])
def test_dates(text: str, expected: date | None) -> None:
    assert parse_day(text, NOW, SH) == expected


def test_february_29_without_a_year_waits_for_a_leap_year() -> None:
    assert parse_day("2月29日", datetime(2027, 3, 1, tzinfo=SH), SH) == date(2028, 2, 29)
    assert parse_day("2月29日", NOW, SH) is None  # 2027 is no leap year either


# ---- times of day -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("20:00", (20, 0)), ("20：00", (20, 0)), ("９:３０", (9, 30)), ("09:05", (9, 5)), ("9:00:00", (9, 0)),
    ("9点", (9, 0)), ("9點", (9, 0)), ("9点半", (9, 30)), ("9点15分", (9, 15)), ("9点15", (9, 15)),
    ("9点05", (9, 5)), ("9点零五分", (9, 5)), ("9点一刻", (9, 15)), ("9点三刻", (9, 45)), ("9点整", (9, 0)),
    ("九点钟", (9, 0)), ("9时", (9, 0)), ("9時30分", (9, 30)), ("0点", (0, 0)), ("12点", (12, 0)),
    ("下午3点", (15, 0)), ("下午 3 点", (15, 0)), ("下午3:30", (15, 30)), ("晚上8点", (20, 0)), ("晚8点", (20, 0)),
    ("晚上19:30", (19, 30)), ("中午12点", (12, 0)), ("中午1点", (13, 0)), ("上午9点", (9, 0)), ("早上7点", (7, 0)),
    ("早7点", (7, 0)), ("凌晨1点", (1, 0)), ("凌晨12点", (0, 0)), ("傍晚6点", (18, 0)), ("夜里11点", (23, 0)),
    ("夜里2点", (2, 0)), ("下午15点", (15, 0)), ("下午12点", (12, 0)),
    ("三点半", (3, 30)), ("十点", (10, 0)), ("两点", (2, 0)), ("兩點", (2, 0)), ("十二点", (12, 0)),
    ("二十三点五十九分", (23, 59)), ("下午三点四十五", (15, 45)), ("晚上七点半", (19, 30)),
    ("3pm", (15, 0)), ("3 pm", (15, 0)), ("3PM", (15, 0)), ("3:30pm", (15, 30)), ("8am", (8, 0)),
    ("8 a.m.", (8, 0)), ("10 p.m.", (22, 0)), ("12pm", (12, 0)), ("12am", (0, 0)), ("12:30am", (0, 30)),
    ("noon", (12, 0)), ("12 noon", (12, 0)), ("  20:00  ", (20, 0)),
    # Impossible, contradictory or incomplete.
    ("25:00", None), ("24:00", None), ("9:75", None), ("9:5", None), ("9:00:61", None), ("9点60分", None),
    ("25点", None), ("三十点", None), ("十十点", None), ("13pm", None), ("0am", None), ("下午3pm", None),
    ("上午15点", None), ("晚上12点", None), ("夜里12点", None), ("中午6点", None), ("9", None), ("下午3", None),
    ("20 00", None), ("", None), ("pm", None), ("点", None),
])
def test_times_of_day(text: str, expected: tuple[int, int] | None) -> None:
    assert parse_time_of_day(text) == expected


# ---- moments ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("明天 20:00", at(2026, 12, 5, 20)), ("明天20:00", at(2026, 12, 5, 20)), ("明天下午3点", at(2026, 12, 5, 15)),
    ("明天 下午 3点", at(2026, 12, 5, 15)), ("周六 9:00", at(2026, 12, 5, 9)), ("周六9点", at(2026, 12, 5, 9)),
    ("下周三 晚上7点半", at(2026, 12, 9, 19, 30)), ("12月5日 9点半", at(2026, 12, 5, 9, 30)),
    ("12月5日9点半", at(2026, 12, 5, 9, 30)), ("2026-12-05 09:00", at(2026, 12, 5, 9)),
    ("2026/12/05 9:00", at(2026, 12, 5, 9)), ("2026年12月5日 上午9点", at(2026, 12, 5, 9)),
    ("tomorrow 8pm", at(2026, 12, 5, 20)), ("tomorrow at 8pm", at(2026, 12, 5, 20)),
    ("next wed 9:00", at(2026, 12, 9, 9)), ("Dec 5 9:30", at(2026, 12, 5, 9, 30)),
    ("9:00 tomorrow", at(2026, 12, 5, 9)), ("3pm on Saturday", at(2026, 12, 5, 15)),
    ("晚上8点 明天", at(2026, 12, 5, 20)), ("01-10 20:00", at(2027, 1, 10, 20)), ("12-03 9:00", at(2027, 12, 3, 9)),
    ("十二月五日 十点", at(2026, 12, 5, 10)), ("后天 9点", at(2026, 12, 6, 9)), ("大后天 早上7点", at(2026, 12, 7, 7)),
    ("今晚8点", at(2026, 12, 4, 20)), ("明晚7点半", at(2026, 12, 5, 19, 30)), ("明早8点", at(2026, 12, 5, 8)),
    ("5号下午3点", at(2026, 12, 5, 15)), ("明天 noon", at(2026, 12, 5, 12)), ("明天，20:00", at(2026, 12, 5, 20)),
    ("2026-12-05 周六 09:00", at(2026, 12, 5, 9)), ("Sat, Dec 5, 2026 at 3pm", at(2026, 12, 5, 15)),
    ("２０２６年１２月５日　９：００", at(2026, 12, 5, 9)), ("\u200b明天 20:00\ufeff", at(2026, 12, 5, 20)),
    ("明天 20:00。", at(2026, 12, 5, 20)),
    # Today's date with a time already past is still today: the caller decides whether a past time will do.
    ("今天 9:00", at(2026, 12, 4, 9)), ("2026-12-04 09:00", at(2026, 12, 4, 9)),
    # Refused.
    ("明天", None), ("周六", None), ("2026-12-05", None), ("明天 25:00", None), ("2月30日 9点", None),
    ("2026-13-01 09:00", None), ("12月5日 周日 9点", None), ("明天 后天 9点", None), ("明天 9点 10点", None),
    ("开会", None), ("明天开会", None), ("tomorrow-ish 8pm", None),
])
def test_moments(text: str, expected: datetime | None) -> None:
    found = parse_when(text, NOW, SH)
    assert found == expected
    if found is not None:
        assert found.tzinfo is SH


@pytest.mark.parametrize(("text", "expected"), [
    ("20:00", at(2026, 12, 4, 20)), ("下午3点", at(2026, 12, 4, 15)), ("10:01", at(2026, 12, 4, 10, 1)),
    ("9:00", at(2026, 12, 5, 9)), ("10:00", at(2026, 12, 5, 10)), ("凌晨1点", at(2026, 12, 5, 1)),
])
def test_a_time_alone_is_today_while_ahead_else_tomorrow(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW, SH) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("周五 9:00", at(2026, 12, 11, 9)), ("本周五 9:00", at(2026, 12, 11, 9)), ("this friday 9am", at(2026, 12, 11, 9)),
    ("周五 20:00", at(2026, 12, 4, 20)), ("这周五 20:00", at(2026, 12, 4, 20)), ("下周五 9:00", at(2026, 12, 11, 9)),
    ("本周一 9:00", at(2026, 12, 7, 9)),
])
def test_a_coming_weekday_moves_a_week_on_once_todays_moment_has_passed(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW, SH) == expected


def test_today_is_the_day_in_the_zone_not_in_utc() -> None:
    late = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)  # 2026-12-04 04:00 in Shanghai
    assert parse_day("今天", late, SH) == date(2026, 12, 4)
    assert parse_when("明天 9:00", late, SH) == at(2026, 12, 5, 9)
    assert parse_when("9:00", late, SH) == at(2026, 12, 4, 9)
    assert parse_when("明天 9:00", late, NY) == datetime(2026, 12, 4, 9, 0, tzinfo=NY)  # 15:00 on the 3rd there
    naive = datetime(2026, 12, 4, 10, 0)  # taken as wall time in the zone
    assert parse_when("9:00", naive, SH) == at(2026, 12, 5, 9)


def test_a_wall_time_that_daylight_saving_skips_is_refused() -> None:
    march = datetime(2026, 3, 1, 12, 0, tzinfo=NY)
    assert parse_when("2026-03-08 02:30", march, NY) is None  # clocks jump from 02:00 to 03:00
    assert parse_when("2026-03-08 03:30", march, NY) == datetime(2026, 3, 8, 3, 30, tzinfo=NY)
    found = parse_when("2026-03-08 01:30", march, NY)
    assert found is not None and found.utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize("text", [
    "x" * 10_000, "明天 20:00" * 1000, "\ud800", "明天\ud80020:00", "²", "①", "①点", "⑨:00", "½", "\x00",
    "明天\x0020:00", "\x1f", "٣:٠٠", "𝟗:𝟎𝟎pm" + "\ud800", "🙂", "周" * 64, "9" * 64, "点" * 65,
    "明天 20:00 " + "a" * 100,
])
def test_junk_is_refused_quickly(text: str) -> None:
    started = time.perf_counter()
    assert parse_when(text, NOW, SH) is None
    assert parse_day(text, NOW, SH) is None
    assert parse_time_of_day(text) is None
    assert time.perf_counter() - started < 0.5


def test_not_text_is_refused() -> None:
    assert parse_when(None, NOW, SH) is None  # type: ignore[arg-type]
    assert parse_day(b"2026-12-05", NOW, SH) is None  # type: ignore[arg-type]
    assert parse_time_of_day(2000) is None  # type: ignore[arg-type]


def test_invisible_format_characters_are_dropped() -> None:
    assert parse_when("\u202e明天 20:00\u200d", NOW, SH) == at(2026, 12, 5, 20)


# ---- echo -------------------------------------------------------------------------------------------------


def test_echo() -> None:
    assert echo_when(at(2026, 12, 5, 9), SH, CN_WEEKDAYS) == "2026-12-05 周六 09:00"
    assert echo_when(datetime(2026, 12, 5, 1, 30, tzinfo=UTC), SH, EN_WEEKDAYS) == "2026-12-05 Saturday 09:30"
    assert echo_when(datetime(2026, 12, 4, 20, 0, tzinfo=UTC), SH, TW_WEEKDAYS) == "2026-12-05 週六 04:00"
    assert echo_day(date(2026, 12, 6), CN_WEEKDAYS) == "2026-12-06 周日"
    assert echo_day(date(2027, 1, 4), EN_WEEKDAYS) == "2027-01-04 Monday"
    with pytest.raises(ValueError):
        echo_day(date(2026, 12, 6), CN_WEEKDAYS[:6])
    with pytest.raises(ValueError):
        echo_when(datetime(2026, 12, 5, 9), SH, CN_WEEKDAYS)


# ---- properties -------------------------------------------------------------------------------------------

ZONES = st.sampled_from([SH, NY, ZoneInfo("UTC"), ZoneInfo("Australia/Lord_Howe")])
NOWS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))
# Pieces of the grammar, so that generated text reaches deep into it rather than failing at the first character.
PIECES = st.sampled_from([
    "明天", "今天", "后天", "大后天", "周", "星期", "下", "本", "六", "日", "天", "一", "十", "二", "三", "两", "〇", "廿",
    "年", "月", "号", "点", "半", "分", "刻", "整", "下午", "晚上", "凌晨", "中午", "夜里", "今晚", "(", ")", "（",
    "2026", "12", "5", "0", "9", "31", "29", "02", ":", "：", "-", "/", ".", " ", ",", "pm", "am", "a.m.", "noon",
    "tomorrow", "next", "this", "wed", "friday", "dec", "december", "5th", "of", "at", "２", "①", "²", "\ud800",
])
GRAMMARISH = st.lists(PIECES, max_size=12).map("".join)


def check_moment(found: datetime | None, zone: ZoneInfo) -> None:
    assert found is None or (found.tzinfo is zone and found.utcoffset() is not None)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=100) | GRAMMARISH, now=NOWS, zone=ZONES)
def test_parsers_never_raise(text: str, now: datetime, zone: ZoneInfo) -> None:
    check_moment(parse_when(text, now, zone), zone)
    day = parse_day(text, now, zone)
    assert day is None or type(day) is date
    clock = parse_time_of_day(text)
    assert clock is None or (0 <= clock[0] <= 23 and 0 <= clock[1] <= 59)


@settings(max_examples=300, deadline=None)
@given(text=GRAMMARISH, now=NOWS, zone=ZONES)
def test_a_time_alone_is_always_ahead_of_now(text: str, now: datetime, zone: ZoneInfo) -> None:
    clock = parse_time_of_day(text)
    found = parse_when(text, now, zone)
    if clock is not None and found is not None:
        assert now < found <= now + timedelta(days=1, hours=1)
        assert (found.hour, found.minute) == clock


@settings(max_examples=200, deadline=None)
@given(moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
       names=st.sampled_from([CN_WEEKDAYS, TW_WEEKDAYS, EN_WEEKDAYS]))
def test_what_is_echoed_parses_back(moment: datetime, names: tuple[str, ...]) -> None:
    moment = moment.replace(second=0, microsecond=0, tzinfo=SH)  # Shanghai has kept no daylight saving since 1991
    now = datetime(2050, 6, 1, tzinfo=UTC)
    assert parse_when(echo_when(moment, SH, names), now, SH) == moment
    assert parse_day(echo_day(moment.date(), names), now, SH) == moment.date()
