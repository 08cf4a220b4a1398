"""/monthly and the scheduled monthly reports: a PNG with charts (readable on a phone) and an XLSX with the
figures, for a compound's secretary and committee, and for officials per street (街道)."""

from __future__ import annotations

import asyncio
import functools
import io
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.context import Context, JobContext, MemberContext
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import XLSX, Incoming, Media, Replies, Reply, ToPerson
from storage import ledger
from storage import reports as store
from storage.complaints import CATEGORY_BY_CODE
from storage.compounds import Compound, all_compounds, compound_by_code
from storage.ledger import Kind
from storage.people import Role, holders_in
from storage.poster import cjk_font_path

router = Router("reports")
MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
LEVELS = {1: N_("Settled in the building"), 2: N_("Settled in the compound"), 3: N_("Joint handling with departments")}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def figure_rows(t: Translator, f: store.MonthFigures) -> list[tuple[str, str]]:
    """The figures as (label, value) rows: the text summary, the XLSX and the PNG all show these."""
    return [
        (t("Complaints opened"), str(f.opened)),
        (t("Complaints resolved"), str(f.resolved)),
        (t("Overdue"), str(f.overdue)),
        (t("Median time to resolve (hours)"), "-" if f.median_hours is None else f"{f.median_hours:.1f}"),
        (t("Satisfaction rate"), _pct(f.satisfaction)),
        (t("Volunteer hours"), f"{f.volunteer_hours:g}"),
        (t("Points given / redeemed"), f"{f.points_given} / {f.points_redeemed}"),
        (t("Assembly turnout (rooms)"), _pct(f.turnout)),
        (t("Meetings held / attending"), f"{f.meetings} / {f.attending}"),
        (t("Meetings: signed in (签到)"), str(f.signed_in)),
        (t("Needs posted / settled"), f"{f.needs_posted} / {f.needs_settled}"),
        (t("Service orders / done"), f"{f.orders} / {f.orders_done}"),
        (t("Property grade"), f.property_grade or "-"),
    ]


@functools.cache
def _plt() -> Any:
    """pyplot with the CJK font registered, once per process (registering parses the font file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    path = cjk_font_path()
    if path is not None:
        font_manager.fontManager.addfont(path)
        plt.rcParams["font.family"] = font_manager.FontProperties(fname=path).get_name()
    plt.rcParams["axes.unicode_minus"] = False
    return plt


def render_compound_png(t: Translator, compound_name: str, f: store.MonthFigures) -> bytes:
    """A tall image for a phone: the key figures, complaints by category, and the three response levels."""
    plt = _plt()
    fig = plt.figure(figsize=(7.2, 12), dpi=150)
    fig.suptitle(t("{compound} · {month} monthly report", compound=compound_name, month=f.month), fontsize=22,
                 fontweight="bold")
    # The figures as two multi-line texts (labels left, values right): two layouts instead of 24.
    rows = figure_rows(t, f)
    fig.text(0.06, 0.92, "\n".join(label for label, _ in rows), fontsize=15, va="top", linespacing=1.6)
    fig.text(0.94, 0.92, "\n".join(value for _, value in rows), fontsize=15, va="top", ha="right",
             fontweight="bold", linespacing=1.6, multialignment="right")
    bars = fig.add_axes((0.32, 0.31, 0.62, 0.22))
    categories = sorted(f.by_category.items(), key=lambda item: item[1])
    names = [t(CATEGORY_BY_CODE[c].label) if c in CATEGORY_BY_CODE else c for c, _ in categories] or ["-"]
    bars.barh(names, [n for _, n in categories] or [0], color="#c8102e")
    # A fixed title height: matplotlib otherwise measures every tick label again to place it.
    bars.set_title(t("Complaints by category"), fontsize=16, y=1.01)
    bars.tick_params(labelsize=13)
    levels = fig.add_axes((0.1, 0.01, 0.8, 0.21))
    shares = [f.by_level.get(level, 0) for level in (1, 2, 3)]
    if sum(shares):
        levels.pie(shares, labels=[t(LEVELS[level]) for level in (1, 2, 3)], autopct="%1.0f%%",
                   textprops={"fontsize": 12}, colors=["#2e7d32", "#f9a825", "#c62828"])
    else:
        levels.axis("off")
    levels.set_title(t("Response levels"), fontsize=16, y=1.0)
    out = io.BytesIO()
    # A light zlib level: a flat-colour chart compresses nearly as well, in a fraction of the time.
    fig.savefig(out, format="png", pil_kwargs={"compress_level": 1})
    plt.close(fig)
    return out.getvalue()


def render_street_png(t: Translator, street: str, month: str, rows: list[tuple[str, store.MonthFigures]]) -> bytes:
    plt = _plt()
    height = max(6.0, 2 + 0.5 * len(rows))
    fig, (sat, over) = plt.subplots(1, 2, figsize=(9, height), dpi=120)
    fig.suptitle(t("{street} · {month}: compounds compared", street=street, month=month), fontsize=18)
    by_sat = sorted(rows, key=lambda r: r[1].satisfaction or 0)
    sat.barh([n for n, _ in by_sat], [(f.satisfaction or 0) * 100 for _, f in by_sat], color="#2e7d32")
    sat.set_title(t("Satisfaction rate (%)"), fontsize=14)
    by_over = sorted(rows, key=lambda r: -(r[1].overdue_rate or 0))
    over.barh([n for n, _ in by_over], [(f.overdue_rate or 0) * 100 for _, f in by_over], color="#c62828")
    over.set_title(t("Overdue rate (%)"), fontsize=14)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


FIGURE_COLUMNS = (
    (N_("Compound"), Kind.TEXT), (N_("Complaints opened"), Kind.INT), (N_("Complaints resolved"), Kind.INT),
    (N_("Overdue"), Kind.INT), (N_("Overdue rate"), Kind.PERCENT), (N_("Median time to resolve (hours)"), Kind.NUMBER),
    (N_("Satisfaction rate"), Kind.PERCENT), (N_("Ratings"), Kind.INT), (N_("Volunteer hours"), Kind.NUMBER),
    (N_("Points given"), Kind.INT), (N_("Points redeemed"), Kind.INT), (N_("Assembly turnout (rooms)"), Kind.PERCENT),
    (N_("Meetings held"), Kind.INT), (N_("Attending"), Kind.INT), (N_("Meetings: signed in (签到)"), Kind.INT),
    (N_("Needs posted"), Kind.INT), (N_("Needs settled"), Kind.INT), (N_("Service orders"), Kind.INT),
    (N_("Service orders done"), Kind.INT), (N_("Property grade"), Kind.CODE),
    (N_("Complaints opened last month"), Kind.INT), (N_("Change"), Kind.INT),
)


def render_xlsx(t: Translator, rows: list[tuple[str, store.MonthFigures]], previous: dict[int, store.MonthFigures],
                place: str | None = None) -> bytes:
    """The month's figures (月度数据), one row per compound, through the one ledger writer: counts as numbers,
    rates as numbers shown as percentages, an empty cell where there is nothing to measure."""
    month = rows[0][1].month if rows else ""
    lines = []
    for name, f in rows:
        before = previous.get(f.compound_id)
        lines.append((name, f.opened, f.resolved, f.overdue, f.overdue_rate, f.median_hours, f.satisfaction, f.rated,
                      f.volunteer_hours, f.points_given, f.points_redeemed, f.turnout, f.meetings, f.attending,
                      f.signed_in, f.needs_posted, f.needs_settled, f.orders, f.orders_done, f.property_grade,
                      before.opened if before else None, f.opened - before.opened if before else None))
    sheet = ledger.Sheet(N_("Monthly figures"), [ledger.Column(header, kind) for header, kind in FIGURE_COLUMNS],
                         lines)
    return ledger.render(t, ledger.Ledger(N_("Monthly report"), place if place is not None else
                                          rows[0][0] if len(rows) == 1 else "", month, [sheet]))


def default_month(now: datetime, zone: ZoneInfo) -> str:
    local = now.astimezone(zone)
    return store.previous_month(f"{local.year}-{local.month:02d}")


async def compound_report(ctx: Context | JobContext, t: Translator, compound: Compound, month: str) -> list[Reply]:
    figures = (await store.month_figures(ctx.session, month, [compound.stored_id], compound.timezone))[compound.stored_id]
    previous = await store.month_figures(ctx.session, store.previous_month(month), [compound.stored_id],
                                         compound.timezone)
    png = await asyncio.to_thread(render_compound_png, t, compound.name, figures)
    xlsx = render_xlsx(t, [(compound.name, figures)], previous)
    summary = "\n".join([t("{compound} · {month} monthly report", compound=compound.name, month=month),
                         *(f"{label}: {value}" for label, value in figure_rows(t, figures))])
    return [Reply(summary, image=Media(png, f"report-{compound.code}-{month}.png", "image/png")),
            Reply(t("The figures as a spreadsheet."),
                  document=Media(xlsx, f"report-{compound.code}-{month}.xlsx", XLSX))]


async def street_report(ctx: Context | JobContext, t: Translator, street: str, month: str) -> list[Reply]:
    compounds = await store.compounds_in_street(ctx.session, street)
    ids = [c.stored_id for c in compounds]
    figures = await store.month_figures(ctx.session, month, ids)
    previous = await store.month_figures(ctx.session, store.previous_month(month), ids)
    rows = [(c.name, figures[c.stored_id]) for c in compounds]
    png = await asyncio.to_thread(render_street_png, t, street, month, rows)
    xlsx = render_xlsx(t, rows, previous, street)
    ranked = sorted(rows, key=lambda r: -(r[1].satisfaction or 0))
    lines = [t("{street} · {month}: compounds compared", street=street, month=month)]
    for name, f in ranked:
        before = previous.get(f.compound_id)
        change = "" if before is None else f" ({f.opened - before.opened:+d})"
        lines.append(t("{name}: satisfaction {satisfaction}, overdue {overdue}, complaints {opened}{change}",
                       name=name, satisfaction=_pct(f.satisfaction), overdue=_pct(f.overdue_rate),
                       opened=f.opened, change=change))
    return [Reply("\n".join(lines), image=Media(png, f"report-{month}.png", "image/png")),
            Reply(t("The figures as a spreadsheet."), document=Media(xlsx, f"report-{month}.xlsx", XLSX))]


@router.command("monthly", group="notices", roles=[Role.SECRETARY, Role.COMMITTEE, Role.OFFICIAL, Role.SUPERVISOR], private=True,
                help="Monthly report with charts", order=75)
async def monthly(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    month, code = default_month(ctx.now, ctx.zone(ctx.compound)), ""
    for word in str(ctx.args.get("command_args", "")).split():
        match = MONTH.match(word)
        if match:
            month = f"{match.group(1)}-{int(match.group(2)):02d}"
        else:
            code = word
    if not 1 <= int(month[5:]) <= 12:
        return Reply(t("Please give the month as YYYY-MM, for example /monthly 2026-11."))
    compound = ctx.compound
    if code:
        found = await compound_by_code(ctx.session, code)
        if found is None:
            return Reply(t("There is no compound with the code {code}.", code=code[:16]))
        compound = found
    if Role.OFFICIAL in ctx.roles and not ctx.has(Role.SECRETARY, Role.COMMITTEE):
        if not compound.street or compound.street != ctx.compound.street:
            return Reply(t("You do not oversee {compound}.", compound=compound.name))
        if not code:
            return await street_report(ctx, t, compound.street, month)
    elif compound.id != ctx.compound.id:
        return Reply(t("You do not oversee {compound}.", compound=compound.name))
    return await compound_report(ctx, t, compound, month)


@router.job("monthly", every=timedelta(minutes=10))
async def monthly_job(ctx: JobContext) -> Replies:
    """On the first day of the month from 09:00 (compound time): last month's report to the secretary and the
    committee of every compound, and the street report to every official."""
    replies: list[Reply] = []
    streets: dict[str, Compound] = {}
    for compound in await all_compounds(ctx.session):
        local = ctx.now.astimezone(ZoneInfo(compound.timezone))
        if local.day != 1 or local.hour < 9:
            continue
        month = store.previous_month(f"{local.year}-{local.month:02d}")
        if compound.street:
            streets.setdefault(compound.street, compound)
        if not await store.claim_delivery(ctx.session, f"compound:{compound.id}:{month}", ctx.now):
            continue
        for person, pt in await ctx.role_translators(compound.stored_id, (Role.SECRETARY, Role.COMMITTEE)):
            for reply in await compound_report(ctx, pt, compound, month):
                replies.append(_to(reply, person))
    for street, compound in streets.items():
        local = ctx.now.astimezone(ZoneInfo(compound.timezone))
        month = store.previous_month(f"{local.year}-{local.month:02d}")
        ids = [c.stored_id for c in await store.compounds_in_street(ctx.session, street)]
        for person in await holders_in(ctx.session, Role.OFFICIAL, ids):
            if not await store.claim_delivery(ctx.session, f"official:{person}:{street}:{month}", ctx.now):
                continue
            pt = await ctx.translator_for(person)
            for reply in await street_report(ctx, pt, street, month):
                replies.append(_to(reply, person))
    return replies


def _to(reply: Reply, person: int) -> Reply:
    return Reply(reply.text, image=reply.image, document=reply.document, to=ToPerson(person))
