"""/monthly and the scheduled monthly reports: a PNG with charts (readable on a phone) and an XLSX with the
figures, for a compound's secretary and committee, and for officials per street (街道)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.context import Context, JobContext, MemberContext
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import XLSX, Incoming, Media, Replies, Reply, ToPerson
from handlers import charts
from storage import ledger
from storage import reports as store
from storage.compounds import Compound, all_compounds, compound_by_code
from storage.ledger import Kind
from storage.people import Role, holders_in

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


FIGURE_COLUMNS = (
    (N_("Compound"), Kind.TEXT), (N_("Complaints opened"), Kind.INT), (N_("Complaints resolved"), Kind.INT),
    (N_("Overdue"), Kind.INT), (N_("Overdue rate"), Kind.PERCENT), (N_("Median time to resolve (hours)"), Kind.NUMBER),
    (N_("Satisfaction rate"), Kind.PERCENT), (N_("Ratings"), Kind.INT), (N_("Volunteer hours"), Kind.NUMBER),
    (N_("Points given"), Kind.INT), (N_("Points redeemed"), Kind.INT), (N_("Assembly turnout (rooms)"), Kind.PERCENT),
    (N_("Meetings held"), Kind.INT), (N_("People attending"), Kind.INT), (N_("Meetings: signed in (签到)"), Kind.INT),
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
    png = await asyncio.to_thread(charts.render_compound_png, t, compound.name, figures,
                                  previous.get(compound.stored_id))
    xlsx = render_xlsx(t, [(compound.name, figures)], previous)
    summary = "\n".join([t("{compound} · {month} monthly report", compound=compound.name, month=month),
                         *(t("{label}: {value}", label=label, value=value) for label, value in figure_rows(t, figures))])
    return [Reply(summary, image=Media(png, f"report-{compound.code}-{month}.png", "image/png")),
            Reply(t("The figures as a spreadsheet."),
                  document=Media(xlsx, f"report-{compound.code}-{month}.xlsx", XLSX))]


async def street_report(ctx: Context | JobContext, t: Translator, street: str, month: str) -> list[Reply]:
    compounds = await store.compounds_in_street(ctx.session, street)
    ids = [c.stored_id for c in compounds]
    figures = await store.month_figures(ctx.session, month, ids)
    previous = await store.month_figures(ctx.session, store.previous_month(month), ids)
    rows = [(c.name, figures[c.stored_id]) for c in compounds]
    # One order and one "needs attention" rule for the text and the chart (storage.reports.street_standings).
    standings = store.street_standings([f for _, f in rows])
    names = {c.stored_id: c.name for c in compounds}
    png = await asyncio.to_thread(charts.render_street_png, t, street, month, standings, names, previous)
    xlsx = render_xlsx(t, rows, previous, street)
    lines = charts.street_lines(t, street, month, standings, names, previous)
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
