"""The monthly report's charts, read from their axes (not their pixels): whole-number ticks for counts, values
at the bars with units, this month beside last month, categories folded into the top six and 其他, no pie, the
CJK font, text a phone can read at 390 px and no two labels overlapping; the street report's one order, 无数据,
its axis and the compounds that need attention, the same in its text and its chart. Every picture is also
written to build/charts/ (gitignored; the README names it) and opened, so anyone can look at them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from bot.app import App
from bot.core.i18n import Catalogs, Translator
from bot.transports.console import Console
from handlers import charts
from storage.complaints import CATEGORIES, Case
from storage.people import Role
from storage.poster import cjk_font_path
from storage.reports import OVERDUE_BOUND, SATISFACTION_BOUND, MonthFigures, street_standings
from tests.conftest import add_console_person, second_compound

OUT = Path(__file__).resolve().parents[1] / "build" / "charts"
ZONE = ZoneInfo("Asia/Shanghai")
COUNTS = {"parking": 9, "noise": 7, "leak": 5, "drain": 4, "elevator": 3, "fee": 3, "sanitation": 2, "security": 2,
          "neighbour": 2, "facility": 1, "fire_lane": 1, "throwing": 1, "construction": 1, "other": 2}
BEFORE = {"parking": 12, "noise": 4, "leak": 6, "drain": 2, "elevator": 5, "fee": 1, "other": 6}


def translator(language: str = "zh_CN") -> Translator:
    return Catalogs().translator(language)


def november() -> tuple[MonthFigures, MonthFigures]:
    now = MonthFigures(1, "2026-11", opened=sum(COUNTS.values()), resolved=30, overdue=4, by_category=COUNTS,
                       by_level={1: 30, 2: 13}, median_hours=20.5, rated=20, satisfied=17, volunteer_hours=13.5,
                       points_given=120, points_redeemed=30)
    before = MonthFigures(1, "2026-10", opened=36, resolved=33, overdue=2, by_category=BEFORE,
                          by_level={1: 25, 2: 9, 3: 2}, median_hours=26, rated=22, satisfied=20, volunteer_hours=9)
    return now, before


def save(figure: Figure, name: str) -> Image.Image:
    """Writes the picture to build/charts/NAME.png and opens it again."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    path.write_bytes(charts.png(figure))
    image = Image.open(path)
    image.load()
    return image


def texts(figure: Figure) -> list[Text]:
    """Every piece of text a person sees: figure texts, titles, tick labels, value labels, legends."""
    found = [artist for artist in figure.findobj(Text) if artist.get_visible() and artist.get_text().strip()]
    return [artist for artist in found if artist.get_window_extent().width > 0]


def readable_and_apart(figure: Figure) -> None:
    figure.canvas.draw()
    all_texts = texts(figure)
    box = figure.bbox
    for text in all_texts:
        # A point is WIDTH*72 parts of the picture's width; on a 390 px screen 11 px is the least one reads.
        assert text.get_fontsize() * 390 / (charts.WIDTH * 72) >= 11, text.get_text()
        extent = text.get_window_extent()
        assert box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1, f"{text.get_text()!r} leaves the picture"
        assert box.y0 - 1 <= extent.y0 and extent.y1 <= box.y1 + 1, f"{text.get_text()!r} leaves the picture"
    for n, first in enumerate(all_texts):
        for second in all_texts[n + 1:]:
            a, b = first.get_window_extent().padded(-1), second.get_window_extent().padded(-1)
            assert not a.overlaps(b), f"{first.get_text()!r} overlaps {second.get_text()!r}"


def key_figures(figure: Figure) -> list[tuple[str, ...]]:
    """The table above the charts as (label, this month, last month) rows, from its three columns."""
    columns = [text.get_text().split("\n") for text in figure.texts if text.get_gid() == "table"]
    assert len(columns) == 3
    return list(zip(*columns, strict=True))


def bars(ax: Any) -> tuple[list[str], list[float], list[float]]:
    """(row labels top to bottom, this month's values, last month's values) of a paired bar chart."""
    labels = [label.get_text() for label in ax.get_yticklabels()]
    now, before = ax.containers
    return labels, list(now.datavalues), list(before.datavalues)


def test_compound_chart_answers_its_questions() -> None:
    now, before = november()
    figure = charts.compound_figure(translator(), "幸福里", now, before)
    readable_and_apart(figure)
    categories, levels = figure.axes
    labels, this_month, last_month = bars(categories)
    # The six largest by name, most first, the other eight (and 其他 itself) folded into 其他 at the end.
    assert labels == ["乱停车", "噪音", "房屋漏水", "下水道/管道堵塞", "电梯", "物业费纠纷", "其他"]
    assert this_month == [9, 7, 5, 4, 3, 3, 2 + 2 + 2 + 1 + 1 + 1 + 1 + 2]
    assert last_month == [12, 4, 6, 2, 5, 1, 6]
    assert sum(this_month) == now.opened
    # Values at the bars; whole-number ticks for counts; the unit in the heading.
    shown = [text.get_text() for text in categories.texts]
    assert shown == [str(n) for n in this_month] + [str(n) for n in last_month]
    ticks = categories.get_xticks()
    assert len(ticks) >= 3 and all(float(tick).is_integer() for tick in ticks)
    assert categories.get_title(loc="left") == "诉求分类（件）"
    assert [text.get_text() for text in categories.get_legend().get_texts()] == ["本月", "上月"]
    # Response levels as bars (no pie): a level with no case is a readable 0, with its share.
    assert not any(type(patch).__name__ == "Wedge" for patch in figure.findobj())
    labels, this_month, last_month = bars(levels)
    assert labels == ["楼栋调解", "小区调解", "联合调解"]
    assert (this_month, last_month) == ([30, 13, 0], [25, 9, 2])
    assert [text.get_text() for text in levels.texts][:3] == ["30（69.8%）", "13（30.2%）", "0（0%）"]
    assert all(float(tick).is_integer() for tick in levels.get_xticks())
    # The key figures with their units, last month beside this month.
    table = key_figures(figure)
    for row in (("新增诉求", "43 件", "36 件"), ("志愿服务时长", "13.5 小时", "9 小时"), ("满意率", "85%", "90.9%"),
                ("业主大会参与率（按户）", "无数据", "无数据")):
        assert row in table
    image = save(figure, "compound")
    assert image.width == charts.WIDTH * charts.DPI and image.height > image.width


def test_the_chinese_font_draws_every_text() -> None:
    from matplotlib import font_manager

    path = cjk_font_path()
    assert path is not None, "the CJK font `make` installs"
    figure = charts.compound_figure(translator(), "幸福里", *november())
    for text in texts(figure):
        found = font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)
        assert "CJK" in Path(found).name, (text.get_text(), found)
        # The simplified Chinese face of the collection, not the first (Japanese) one.
        assert text.get_fontproperties().get_family()[0].endswith(" SC")


def test_a_month_without_complaints_says_so() -> None:
    figure = charts.compound_figure(translator(), "和平苑", MonthFigures(2, "2026-11"), None)
    readable_and_apart(figure)
    categories, levels = figure.axes
    for ax in (categories, levels):
        assert not ax.containers and [text.get_text() for text in ax.texts] == ["本月和上月均无诉求。"]
    assert ("满意率", "无数据", "无数据") in key_figures(figure)
    save(figure, "compound-empty")


@pytest.mark.parametrize("language", ["zh_TW", "en"])
def test_the_charts_fit_in_every_language(language: str) -> None:
    now, before = november()
    figure = charts.compound_figure(translator(language), "幸福里", now, before)
    readable_and_apart(figure)
    save(figure, f"compound-{language}")
    standings, names, previous = street()
    figure = charts.street_figure(translator(language), "西陵街道", "2026-11", standings, names, previous)
    readable_and_apart(figure)
    save(figure, f"street-{language}")


def street() -> tuple[list[Any], dict[int, str], dict[int, MonthFigures]]:
    figures = [
        MonthFigures(1, "2026-11", opened=41, overdue=4, rated=20, satisfied=17),  # 9.8 %, 85 %: fine
        MonthFigures(2, "2026-11"),  # nothing at all: 无数据 twice
        MonthFigures(3, "2026-11", opened=10, overdue=0, rated=5, satisfied=3),  # 60 % satisfied
        MonthFigures(4, "2026-11", opened=25, overdue=1, rated=10, satisfied=10),  # 4 %, 100 %
        MonthFigures(5, "2026-11", opened=8, overdue=3),  # 37.5 % overdue, no rating
    ]
    names = {1: "幸福里", 2: "和平苑", 3: "长青苑", 4: "阳光花园三期", 5: "东湖小区"}
    previous = {1: MonthFigures(1, "2026-10", opened=36, overdue=2, rated=22, satisfied=20),
                3: MonthFigures(3, "2026-10", opened=6, overdue=1, rated=4, satisfied=4)}
    return street_standings(figures), names, previous


def test_the_street_order_and_who_needs_attention() -> None:
    standings, names, previous = street()
    # Those over a bound first (by overdue rate, then satisfaction), then the rest, then those without figures.
    assert [names[s.figures.compound_id] for s in standings] == ["东湖小区", "长青苑", "幸福里", "阳光花园三期", "和平苑"]
    assert [s.needs_attention for s in standings] == [True, True, False, False, False]
    assert (standings[0].overdue_high, standings[0].satisfaction_low) == (True, False)
    assert (standings[1].overdue_high, standings[1].satisfaction_low) == (False, True)
    # The bounds themselves do not mark: above 10 %, below 80 %.
    edge = street_standings([MonthFigures(9, "2026-11", opened=10, overdue=1, rated=5, satisfied=4)])[0]
    assert (OVERDUE_BOUND, SATISFACTION_BOUND, edge.needs_attention) == (0.10, 0.80, False)

    figure = charts.street_figure(translator(), "西陵街道", "2026-11", standings, names, previous)
    readable_and_apart(figure)
    overdue, satisfaction = figure.axes
    rows = [label.get_text() for label in overdue.get_yticklabels()]
    assert rows == ["▲ 东湖小区", "▲ 长青苑", "幸福里", "阳光花园三期", "和平苑"]
    marked = [label.get_text() for label in overdue.get_yticklabels() if label.get_color() == charts.ALERT]
    assert marked == ["▲ 东湖小区", "▲ 长青苑"]
    # 无数据 where there is no figure, at that compound's row, never a bar of 0 %.
    for ax, rows_without in ((overdue, [4]), (satisfaction, [0, 4])):
        empty = [text for text in ax.texts if text.get_gid() == "no-data"]
        assert [text.get_text() for text in empty] == ["无数据"] * len(rows_without)
        assert [round(text.get_position()[1]) for text in empty] == rows_without
        assert len([p for p in ax.patches]) == 5 - len(rows_without)
    values = [text.get_text() for text in overdue.texts if text.get_gid() == "value"]
    assert values == ["37.5%", "0%", "9.8%", "4%"]
    values = [text.get_text() for text in satisfaction.texts if text.get_gid() == "value"]
    assert values == ["60%", "85%", "100%"]
    # Sensible axes: percentages from 0, past the bound; satisfaction to 100 %.
    assert overdue.get_xlim()[0] == 0 and overdue.get_xlim()[1] >= 0.375
    assert satisfaction.get_xlim() == (0, pytest.approx(1.12))
    assert [tick.get_text() for tick in satisfaction.get_xticklabels()] == ["0%", "50%", "100%"]
    # Last month as a marker where there was one: 幸福里 and 长青苑.
    markers = [line for line in overdue.get_lines() if line.get_gid() == "last-month"]
    assert sorted(round(float(line.get_ydata()[0])) for line in markers) == [1, 2]
    save(figure, "street")


def test_a_street_with_nothing_overdue_has_a_sensible_axis() -> None:
    quiet = [MonthFigures(n, "2026-11", opened=5, overdue=0, rated=2, satisfied=2) for n in (1, 2)]
    figure = charts.street_figure(translator(), "西陵街道", "2026-11", street_standings(quiet),
                                  {1: "幸福里", 2: "和平苑"}, {})
    overdue = figure.axes[0]
    assert overdue.get_xlim()[0] == 0 and overdue.get_xlim()[1] >= 2 * OVERDUE_BOUND
    assert all(tick >= 0 for tick in overdue.get_xticks())
    assert [tick.get_text() for tick in overdue.get_xticklabels()][:2] == ["0%", "10%"]
    readable_and_apart(figure)


async def test_the_street_text_and_chart_share_one_order(console: Console, app: App,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the bot: an official's /monthly lists the compounds in the chart's order, with the same marks."""
    other = await second_compound(app)
    rng = random.Random(3)
    async with app.core.sessions() as session:
        for n in range(12):  # 幸福里: 8 cases, none overdue; 和平苑: 4 cases, 2 overdue (50 %)
            compound = 1 if n < 8 else other
            opened = datetime(2026, 11, 2, tzinfo=ZONE) + timedelta(days=n)
            session.add(Case(compound_id=compound, number=f"T-{n}", reporter_id=1, description="测试诉求描述",
                             category=rng.choice(CATEGORIES).code, level=1, opened_at=opened,
                             overdue_count=1 if compound == other and n % 2 else 0, state="open"))
        await session.commit()
    await add_console_person(app, "西陵街道刘主任", 1, Role.OFFICIAL)
    drawn: list[Figure] = []

    def spy(*args: Any) -> bytes:
        drawn.append(charts.street_figure(*args))
        return charts.png(drawn[-1])

    monkeypatch.setattr(charts, "render_street_png", spy)
    console.as_("西陵街道刘主任")
    await console.say("/monthly 2026-11")
    report = console.seen_by()[-2]
    assert report.has_image
    lines = report.text.splitlines()
    assert lines[1] == "▲ 需关注：逾期率高于 10% 或满意率低于 80%"
    assert lines[2].startswith("▲ 和平苑：逾期率 50%，满意率 无数据，诉求 4 件")
    assert lines[3].startswith("幸福里：逾期率 0%，满意率 无数据，诉求 8 件")
    rows = [label.get_text() for label in drawn[0].axes[0].get_yticklabels()]
    assert rows == ["▲ 和平苑", "幸福里"]
    assert [line.split("：")[0] for line in lines[2:]] == rows
