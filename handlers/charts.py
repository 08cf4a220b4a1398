"""The monthly report's pictures, drawn to answer questions on a phone (readable at 390 px wide).

A compound's report: its key figures with last month beside this month and their units, complaints by
category (the top six and 其他) and by response level as paired bars (this month, last month) with their values
and whole-number ticks. A street's report: its compounds in the order of `storage.reports.street_standings`
(what needs attention first), overdue rate and satisfaction with their values, last month as a marker, 无数据
where a compound has no figure, and the compounds that need attention marked ▲ (the rule and its bounds live
in storage, shared with the text, which `street_lines` writes in the same order).

The builders return matplotlib `Figure`s, so tests read the bars, ticks and labels from the axes; `png` renders
one. matplotlib is imported on first use: most processes never draw a chart."""

from __future__ import annotations

import functools
import io
import unicodedata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bot.core.i18n import N_, Translator
from storage import reports as store
from storage.complaints import CATEGORY_BY_CODE
from storage.poster import cjk_font_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH = 6.0  # inches: at 180 dpi a 1080 px image, and 13 pt text is still 11.7 px on a 390 px wide screen
DPI = 180
SMALL, NORMAL, HEADING, TITLE = 13, 15, 16, 20  # points; SMALL is the least a phone can read at 390 px
TOP = 6  # categories shown by name; the rest are folded into 其他
NOW, BEFORE, MUTED, ALERT, CALM = "#c8102e", "#b0b0b0", "#757575", "#c62828", "#78909c"
LEVELS = {1: N_("Settled in the building"), 2: N_("Settled in the compound"), 3: N_("Joint handling with departments")}
OTHER = "other"  # the category code that the folded rest joins
MARGIN = 0.05  # left and right, as a fraction of the width


@functools.cache
def _setup() -> None:
    """The CJK font registered once per process (registering parses the font file). A .ttc collection holds one
    face per region and Noto's first is Japanese, whose glyphs differ from the mainland's: take the SC face."""
    import matplotlib
    from matplotlib import font_manager

    families = []
    path = cjk_font_path()
    if path is not None:
        font_manager.fontManager.addfont(path)
        names = [entry.name for entry in font_manager.fontManager.ttflist if entry.fname == path]
        families.append(next((name for name in names if name.endswith(" SC")), names[0] if names else ""))
    matplotlib.rcParams["font.family"] = [name for name in families if name] + ["DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False


@functools.cache
def _line_height() -> float:
    """The font's line height in ems (its OS/2 ascender plus descender), which a fixed line spacing multiplies."""
    _setup()
    from matplotlib import font_manager

    font = font_manager.get_font(font_manager.findfont(font_manager.FontProperties()))
    metrics, head = font.get_sfnt_table("OS/2"), font.get_sfnt_table("head")
    if not metrics or not head:
        return 1.2
    return float(metrics["sTypoAscender"] - metrics["sTypoDescender"]) / float(head["unitsPerEm"])


def _figure(height: float) -> Figure:
    _setup()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, height), dpi=DPI)
    FigureCanvasAgg(figure)  # a canvas of its own: no pyplot state, safe in a worker thread
    return figure


def png(figure: Figure) -> bytes:
    out = io.BytesIO()
    # A light zlib level: a flat-colour chart compresses nearly as well, in a fraction of the time.
    figure.savefig(out, format="png", pil_kwargs={"compress_level": 1})
    return out.getvalue()


def number(value: float) -> str:
    """13.5 → '13.5', 14.0 → '14'."""
    return f"{value:.1f}".removesuffix(".0")


def percent(rate: float) -> str:
    """0.125 → '12.5%', 0.8 → '80%'."""
    return number(rate * 100) + "%"


def cases(t: Translator, n: int) -> str:
    return t("{n} case", n=n) if n == 1 else t("{n} cases", n=n)


def hours(t: Translator, value: float) -> str:
    return t("{n} h", n=number(value))


def key_figures(t: Translator, f: store.MonthFigures, before: store.MonthFigures | None) -> list[tuple[str, str, str]]:
    """(label, this month, last month) with their units: the table at the top of a compound's picture."""
    none = t("no data")

    def rate(value: float | None) -> str:
        return none if value is None else percent(value)

    rows: list[tuple[str, Callable[[store.MonthFigures], str]]] = [
        (t("Complaints opened"), lambda g: cases(t, g.opened)),
        (t("Complaints resolved"), lambda g: cases(t, g.resolved)),
        (t("Overdue"), lambda g: cases(t, g.overdue)),
        (t("Median time to resolve"), lambda g: none if g.median_hours is None else hours(t, g.median_hours)),
        (t("Satisfaction rate"), lambda g: rate(g.satisfaction)),
        (t("Volunteer hours"), lambda g: hours(t, g.volunteer_hours)),
        (t("Points given / redeemed"), lambda g: f"{g.points_given} / {g.points_redeemed}"),
        (t("Assembly turnout (rooms)"), lambda g: rate(g.turnout)),
        (t("Meetings held / attending"), lambda g: f"{g.meetings} / {g.attending}"),
        (t("Meetings: signed in (签到)"), lambda g: str(g.signed_in)),
        (t("Needs posted / settled"), lambda g: f"{g.needs_posted} / {g.needs_settled}"),
        (t("Service orders / done"), lambda g: f"{g.orders} / {g.orders_done}"),
        (t("Property grade"), lambda g: g.property_grade or none),
    ]
    return [(label, show(f), none if before is None else show(before)) for label, show in rows]


def fold(now: dict[str, int], before: dict[str, int], top: int = TOP) -> list[tuple[str, int, int]]:
    """(category, this month, last month), most this month first; beyond `top` categories the rest, and the
    category 'other' itself, are one row 'other' at the end (a list that fits shows every category)."""
    codes = sorted(set(now) | set(before), key=lambda c: (-now.get(c, 0), -before.get(c, 0), c))
    named = [c for c in codes if c != OTHER]
    if len(codes) <= top + 1:
        kept, rest = named, [c for c in codes if c == OTHER]
    else:
        kept, rest = named[:top], [*named[top:], *(c for c in codes if c == OTHER)]
    rows = [(c, now.get(c, 0), before.get(c, 0)) for c in kept]
    if rest:
        rows.append((OTHER, sum(now.get(c, 0) for c in rest), sum(before.get(c, 0) for c in rest)))
    return rows


def _paired_bars(ax: Axes, t: Translator, labels: list[str], now: list[int], before: list[int],
                 now_labels: list[str]) -> None:
    """Horizontal bars, this month above last month for each label, values at the bars' ends, whole-number ticks."""
    from matplotlib.ticker import MaxNLocator

    positions = list(range(len(labels)))
    this = ax.barh([p - 0.2 for p in positions], now, height=0.4, color=NOW, label=t("This month"))
    last = ax.barh([p + 0.2 for p in positions], before, height=0.4, color=BEFORE, label=t("Last month"))
    ax.bar_label(this, labels=now_labels, padding=4, fontsize=SMALL, fontweight="bold")
    ax.bar_label(last, labels=[str(n) for n in before], padding=4, fontsize=SMALL, color=MUTED)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    # Room for the value beside the longest bar; counts get whole-number ticks only.
    ax.set_xlim(0, max([*now, *before, 1]) * 1.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    ax.tick_params(labelsize=SMALL)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _heading(ax: Axes, text: str, legend: bool) -> None:
    """The heading from the picture's left margin, and below it the legend at the right, above the bars."""
    left, _, width, _ = ax.get_position().bounds
    ax.set_title(text, fontsize=HEADING, fontweight="bold", loc="left", x=(MARGIN - left) / width,
                 pad=SMALL * 2 if legend else 8)
    if legend:
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False, fontsize=SMALL,
                  borderaxespad=0.2, handlelength=1.0, handletextpad=0.4, columnspacing=0.8)


def _empty(ax: Axes, text: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=NORMAL, color=MUTED, transform=ax.transAxes)


def compound_figure(t: Translator, compound_name: str, f: store.MonthFigures,
                    before: store.MonthFigures | None) -> Figure:
    """A tall picture for a phone: the key figures (this month, last month), complaints by category and by
    response level, each as this month's bars beside last month's."""
    last = before or store.MonthFigures(f.compound_id, store.previous_month(f.month))
    table = key_figures(t, f, before)
    categories = fold(f.by_category, last.by_category)
    # Heights in inches, top to bottom: title, table header and rows, two charts with their headings.
    row = 0.33
    title_h, table_h = 0.75, row * (len(table) + 1)
    bars_h = 0.62 * max(len(categories), 1)
    levels_h = 0.62 * 3
    gap, axis_h = 0.95, 0.45
    height = title_h + table_h + gap + bars_h + axis_h + gap + levels_h + axis_h + 0.1
    fig = _figure(height)

    def y(inches: float) -> float:
        """A distance from the top in inches, as a figure fraction from the bottom."""
        return 1 - inches / height

    fig.text(0.5, y(0.2), t("{compound} · {month} monthly report", compound=compound_name, month=f.month),
             fontsize=TITLE, fontweight="bold", ha="center", va="top")
    top = title_h
    label_x, now_x, last_x = MARGIN, 0.76, 0.96
    fig.text(now_x, y(top), t("This month"), fontsize=SMALL, color=MUTED, ha="right", va="top", fontweight="bold")
    fig.text(last_x, y(top), t("Last month"), fontsize=SMALL, color=MUTED, ha="right", va="top", fontweight="bold")
    top += row
    # Three multi-line texts (labels, this month, last month) rather than 39 texts: a third of the drawing time.
    # Their lines are `row` apart, from the font's own line height.
    spacing = row * 72 / (NORMAL * _line_height())
    columns: list[tuple[float, int, str, str, str]] = [
        (label_x, 0, "left", "normal", "black"), (now_x, 1, "right", "bold", "black"), (last_x, 2, "right", "normal", MUTED)]
    for x, column, align, weight, colour in columns:
        fig.text(x, y(top), "\n".join(entry[column] for entry in table), fontsize=NORMAL, va="top", ha=align,
                 multialignment=align, fontweight=weight, color=colour, linespacing=spacing, gid="table")
    top += row * len(table)

    category_names = [_wrap(t("Other categories") if c == OTHER else t(CATEGORY_BY_CODE[c].label)
                            if c in CATEGORY_BY_CODE else c) for c, _, _ in categories]
    level_names = [_wrap(t(label)) for label in LEVELS.values()]
    # One left edge for both charts, as far in as their longest label needs.
    left, right = min(MARGIN + _width(category_names + level_names) / WIDTH + 0.03, 0.5), 1 - MARGIN
    top += gap
    bars = fig.add_axes((left, y(top + bars_h), right - left, bars_h / height))
    if categories:
        _paired_bars(bars, t, category_names, [n for _, n, _ in categories], [n for _, _, n in categories],
                     [str(n) for _, n, _ in categories])
    _heading(bars, t("Complaints by category (cases)"), legend=bool(categories))
    if not categories:
        _empty(bars, t("No complaints this month or last month."))
    top += bars_h + axis_h + gap

    levels = fig.add_axes((left, y(top + levels_h), right - left, levels_h / height))
    now = [f.by_level.get(level, 0) for level in LEVELS]
    then = [last.by_level.get(level, 0) for level in LEVELS]
    if sum(now) + sum(then):
        total = sum(now)
        # This month's count with its share: a pie cannot show a level of 0 % or three close shares legibly.
        shown = [t("{n} ({share})", n=n, share=percent(n / total)) if total else str(n) for n in now]
        _paired_bars(levels, t, level_names, now, then, shown)
    _heading(levels, t("Response levels (cases)"), legend=bool(sum(now) + sum(then)))
    if not sum(now) + sum(then):
        _empty(levels, t("No complaints this month or last month."))
    return fig


def _ems(text: str) -> float:
    """A text's width in ems, estimated: a Chinese character is one, a Latin letter about half."""
    return sum(1.0 if unicodedata.east_asian_width(char) in "WF" else 0.55 for char in text)


def _width(labels: Sequence[str], size: float = SMALL) -> float:
    """The widest line of the labels in inches at `size` points."""
    return max((_ems(line) for label in labels for line in label.split("\n")), default=0.0) * size / 72


def _wrap(label: str, ems: float = 9.0) -> str:
    """A long label on two lines (at a space: English; Chinese labels are short enough)."""
    if _ems(label) <= ems or " " not in label:
        return label
    words, first = label.split(" "), ""
    while words and _ems(f"{first} {words[0]}".strip()) <= max(ems, _ems(label) / 2):
        first = f"{first} {words.pop(0)}".strip()
    return f"{first}\n{' '.join(words)}" if first and words else label


def render_compound_png(t: Translator, compound_name: str, f: store.MonthFigures,
                        before: store.MonthFigures | None = None) -> bytes:
    return png(compound_figure(t, compound_name, f, before))


def street_figure(t: Translator, street: str, month: str, standings: Sequence[store.Standing],
                  names: dict[int, str], previous: dict[int, store.MonthFigures]) -> Figure:
    """Overdue rate and satisfaction of a street's compounds, side by side in the standings' order (top: what
    needs attention), values at the bars, 无数据 where there is none, last month as a hollow diamond, the
    bounds of the attention rule as dashed lines and the compounds that need attention marked ▲ in red."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, PercentFormatter

    labels = [("▲ " if s.needs_attention else "") + _wrap(names.get(s.figures.compound_id, "?"), 7)
              for s in standings]
    row, head, foot = 0.55, 1.3, 1.5
    height = head + row * max(len(standings), 1) + foot
    fig = _figure(height)
    fig.text(0.5, 1 - 0.2 / height, t("{street} · {month}: compounds compared", street=street, month=month),
             fontsize=TITLE - 2, fontweight="bold", ha="center", va="top")
    # The names as far in as the longest needs, then two panels of equal width with a gap for the values.
    bottom, top = (foot - 0.1) / height, 1 - head / height
    left = min(MARGIN + _width(labels) / WIDTH + 0.03, 0.4)
    panel = (1 - MARGIN - left - 0.07) / 2
    overdue = fig.add_axes((left, bottom, panel, top - bottom))
    satisfaction = fig.add_axes((1 - MARGIN - panel, bottom, panel, top - bottom), sharey=overdue)
    highest = max([r for s in standings for r in (s.figures.overdue_rate, _rate(previous, s)) if r is not None],
                  default=0.0)
    # The overdue axis reaches past its bound and its highest rate (never a span around 0); ticks every 10 %
    # or 20 %, satisfaction 0–100 % with room for a value or a marker at 100 %.
    overdue_limit = max(store.OVERDUE_BOUND * 2, highest) * 1.35
    overdue_step = 0.1 if overdue_limit <= 0.45 else 0.2 if overdue_limit <= 0.9 else 0.5
    panels: list[tuple[Axes, str, Callable[[store.MonthFigures], float | None], Callable[[store.Standing], bool],
                       float, float, list[float]]] = [
        (overdue, t("Overdue rate"), lambda g: g.overdue_rate, lambda s: s.overdue_high, store.OVERDUE_BOUND,
         overdue_limit, [n * overdue_step for n in range(int(overdue_limit / overdue_step) + 1)]),
        (satisfaction, t("Satisfaction rate"), lambda g: g.satisfaction, lambda s: s.satisfaction_low,
         store.SATISFACTION_BOUND, 1.12, [0.0, 0.5, 1.0]),
    ]
    positions = list(range(len(standings)))
    for ax, title, value_of, crossed, bound, limit, ticks in panels:
        ax.set_title(title, fontsize=HEADING, fontweight="bold", pad=8)
        ax.set_xlim(0, limit)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        ax.tick_params(labelsize=SMALL)
        ax.tick_params(axis="y", length=0)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.axvline(bound, color=ALERT, linestyle="--", linewidth=1.2, zorder=1)
        for position, standing in zip(positions, standings, strict=True):
            value = value_of(standing.figures)
            if value is None:
                # No cases (or no ratings): 无数据, never a bar of 0 %.
                ax.text(limit * 0.03, position, t("no data"), va="center", fontsize=SMALL, color=MUTED,
                        gid="no-data", zorder=3, bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
                continue
            ax.barh(position, value, height=0.6, color=ALERT if crossed(standing) else CALM, zorder=2)
            inside = value > limit * 0.62  # a long bar carries its value inside, a short one beside it
            ax.text(value - limit * 0.02 if inside else value + limit * 0.02, position, percent(value),
                    ha="right" if inside else "left", va="center", fontsize=SMALL, fontweight="bold",
                    color="white" if inside else "black", zorder=3, gid="value")
            before = previous.get(standing.figures.compound_id)
            earlier = None if before is None else value_of(before)
            if earlier is not None:
                ax.plot([earlier], [position], marker="D", markersize=7, markerfacecolor="none",
                        markeredgecolor="black", markeredgewidth=1.3, linestyle="none", zorder=4, gid="last-month")
    overdue.set_yticks(positions, labels)
    overdue.set_ylim(max(len(standings), 1) - 0.5, -0.5)  # the first standing at the top
    for label, standing in zip(overdue.get_yticklabels(), standings, strict=True):
        if standing.needs_attention:
            label.set_color(ALERT)
            label.set_fontweight("bold")
    satisfaction.tick_params(axis="y", labelleft=False)
    if not standings:
        overdue.text(0.5, 0.5, t("no data"), ha="center", va="center", fontsize=NORMAL, color=MUTED,
                     transform=overdue.transAxes)
    fig.text(MARGIN, 0.95 / height, attention_rule(t), fontsize=SMALL, color=ALERT, va="top", wrap=True)
    fig.legend(handles=[
        Line2D([], [], marker="D", markersize=7, markerfacecolor="none", markeredgecolor="black", linestyle="none",
               label=t("Last month")),
        Line2D([], [], color=ALERT, linestyle="--", linewidth=1.2, label=t("Bound of the rule")),
    ], loc="lower left", bbox_to_anchor=(MARGIN - 0.01, 0.0), ncol=2, frameon=False, fontsize=SMALL)
    return fig


def _rate(previous: dict[int, store.MonthFigures], standing: store.Standing) -> float | None:
    before = previous.get(standing.figures.compound_id)
    return None if before is None else before.overdue_rate


def attention_rule(t: Translator) -> str:
    return t("▲ needs attention: overdue rate above {overdue} or satisfaction below {satisfaction}",
             overdue=percent(store.OVERDUE_BOUND), satisfaction=percent(store.SATISFACTION_BOUND))


def render_street_png(t: Translator, street: str, month: str, standings: Sequence[store.Standing],
                      names: dict[int, str], previous: dict[int, store.MonthFigures]) -> bytes:
    return png(street_figure(t, street, month, standings, names, previous))


def street_lines(t: Translator, street: str, month: str, standings: Sequence[store.Standing],
                 names: dict[int, str], previous: dict[int, store.MonthFigures]) -> list[str]:
    """The street report's text: the same order and marks as its picture, values with their units."""
    none = t("no data")
    lines = [t("{street} · {month}: compounds compared", street=street, month=month), attention_rule(t)]
    for standing in standings:
        f = standing.figures
        before = previous.get(f.compound_id)
        change = "" if before is None else f" ({f.opened - before.opened:+d})"
        lines.append(t("{mark}{name}: overdue {overdue}, satisfaction {satisfaction}, complaints {opened}{change}",
                       mark="▲ " if standing.needs_attention else "", name=names.get(f.compound_id, "?"),
                       overdue=none if f.overdue_rate is None else percent(f.overdue_rate),
                       satisfaction=none if f.satisfaction is None else percent(f.satisfaction),
                       opened=cases(t, f.opened), change=change))
    return lines
