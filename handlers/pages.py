"""The compound's 公示栏 on the web: the board (announcements, disclosures, the 红黑榜 history, the monthly
report), an assembly's result, a resident's own case (a signed link that expires) and a street's compounds side
by side for its officials (a signed link). Like a handler, this module reads storage and says what to show;
it renders HTML with the Jinja2 templates in `handlers/templates/pages/`, and `bot/web.py` serves it (caching,
rate limits, languages). It also makes the links that postings carry, and `/pages` sends them.

A public page shows exactly what was posted to the compound's groups: announcements to the whole compound,
disclosures, posted 红黑榜 entries, closed assemblies' results (never a ballot or a voter), and aggregate figures;
never a phone number, a nominator or a reporter."""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
import sqlalchemy as sa
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.context import Context
from bot.core.i18n import LANGUAGE_NAMES, LANGUAGES, N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, rows
from bot.settings import Settings
from handlers.reports import LEVELS, figure_rows
from storage import assembly as assemblies
from storage import board, reports
from storage import complaints as cases
from storage import organisations as orgs
from storage.announcements import DISCLOSURE_KINDS, Announcement, AnnouncementStatus, Disclosure
from storage.compounds import Building, Compound, compound_by_code
from storage.people import Person

router = Router("pages")
TEMPLATES = Path(__file__).resolve().parent / "templates" / "pages"

# Every word the pages show (templates get them translated as `L`); texts with values are formatted here.
LABELS = {
    "announcements": N_("Announcements"),
    "disclosures": N_("Public disclosures"),
    "board": N_("红黑榜"),
    "report": N_("Monthly report (月报)"),
    "assemblies": N_("Owners' assemblies"),
    "red": N_("Red list (good deeds)"),
    "black": N_("Black list (to be corrected)"),
    "corrected": N_("Corrected (已整改)"),
    "nothing": N_("Nothing yet."),
    "document": N_("Open the document"),
    "photo": N_("Photo"),
    "poster": N_("Poster"),
    "large": N_("Large type"),
    "normal": N_("Normal type"),
    "print": N_("Print (A4)"),
    "back": N_("Back to the board"),
    "contents": N_("Contents"),
    "by_category": N_("Complaints by category"),
    "by_level": N_("Where complaints were settled"),
    "taking_part": N_("Taking part"),
    "area": N_("Area (m²)"),
    "owners": N_("Owners"),
    "share": N_("Share"),
    "needed": N_("Needed"),
    "outcome": N_("Outcome of the vote"),
    "candidate": N_("Candidate"),
    "seats": N_("Seats"),
    "publicity": N_("Publication period (公示期)"),
    "objections": N_("Objections (异议) and answers"),
    "no_objections": N_("No objection was lodged."),
    "objection": N_("Objection"),
    "answer": N_("Answer"),
    "not_answered": N_("Not answered yet."),
    "timeline": N_("Timeline"),
    "description": N_("What was reported"),
    "resolution": N_("Resolution"),
    "photos": N_("Photos"),
    "result_photos": N_("Photos of the result"),
    "compound": N_("Compound"),
    "open_cases": N_("Open complaints"),
    "overdue_now": N_("Overdue now"),
    "opened_month": N_("Opened last month"),
    "overdue_month": N_("Overdue last month"),
    "satisfaction": N_("Satisfaction"),
    "open_black": N_("Black entries not corrected"),
    "open_objections": N_("Objections waiting for an answer"),
    "attention": N_("Figures that need attention are marked."),
    "private_note": N_("This page is for you alone: do not forward its address."),
    "footer": N_("邻里 linli · what was published in the compound's group chats"),
    "passed": N_("passed"),
    "not_passed": N_("not passed"),
    "result": N_("Result"),
}
PRIVATE_ERRORS = {
    "expired": (N_("This link has expired"), N_("Links to a personal page work for {days} days. Ask the bot for a "
                                                 "new one: /mycases, then the case.")),
    "forged": (N_("This link is not valid"), N_("The address is incomplete or was changed. Open the link the bot "
                                                  "sent you again.")),
    "missing": (N_("Page not found"), N_("There is no such page. It may have been removed.")),
    "busy": (N_("Too many requests"), N_("Please wait a minute and try again.")),
}


# A mobile number (138 0000 0001, +86-138-0000-0001) or a landline with its area code (0717-1234567), however
# spaced: masked in every text a page shows, also where a resident typed one.
PHONE = re.compile(r"(?<![\d+])(?:\+?86[-\s]?)?(?:1[3-9]\d(?:[-\s]?\d){8}|0\d{2,3}[-\s]?\d{7,8})(?!\d)")


def masked(text: str) -> str:
    return PHONE.sub("•••", text)


# ---- links ------------------------------------------------------------------------------------------------


def base_url(settings: Settings) -> str:
    return settings.public_base_url.strip().rstrip("/")


def board_path(compound: Compound) -> str:
    return f"/c/{compound.code}"


def assembly_path(compound: Compound, assembly_id: int) -> str:
    return f"/c/{compound.code}/assembly/{assembly_id}"


def link_buttons(t: Translator, settings: Settings, path: str,
                 label: str = N_("Open the page")) -> tuple[tuple[Button, ...], ...]:
    """The page's link as a URL button for a posting; none when PUBLIC_BASE_URL is not set."""
    if not base_url(settings):
        return ()
    return ((Button.link(t(label), base_url(settings) + path),),)


class _ClockSigner(TimestampSigner):
    """Timestamps from the given clock (the bot's, frozen in tests), not the machine's."""

    def __init__(self, *args: Any, now: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._now = now

    def get_timestamp(self) -> int:
        return int(self._now())


def _serializer(settings: Settings, now: datetime | None) -> URLSafeTimedSerializer:
    secret = settings.pages_secret.get_secret_value()
    if not secret:
        raise LookupError("PAGES_SECRET is not set")
    clock = (lambda: now.timestamp()) if now is not None else time.time
    return URLSafeTimedSerializer(secret, salt="linli-pages", signer=_ClockSigner, signer_kwargs={"now": clock})


def sign(settings: Settings, kind: str, ident: int, now: datetime, person_id: int = 0) -> str:
    """A signed token naming one page (`case` with its reporter, `street`) and when it was made."""
    return str(_serializer(settings, now).dumps([kind, ident, person_id]))


class Refused(StrEnum):
    EXPIRED = "expired"
    FORGED = "forged"


def unsign(settings: Settings, token: str, kind: str, now: datetime) -> tuple[int, int] | Refused:
    """(id, person id) of a token of this kind made less than PAGES_LINK_DAYS ago, else why not."""
    try:
        value = _serializer(settings, now).loads(token, max_age=settings.pages_link_days * 86_400)
    except SignatureExpired:
        return Refused.EXPIRED
    except (BadSignature, LookupError, ValueError):
        return Refused.FORGED
    if not (isinstance(value, list) and len(value) == 3 and value[0] == kind
            and all(isinstance(v, int) for v in value[1:])):
        return Refused.FORGED
    return int(value[1]), int(value[2])


def case_link(settings: Settings, case_id: int, person_id: int, now: datetime) -> str | None:
    """The reporter's own case page, or None without PUBLIC_BASE_URL."""
    if not base_url(settings):
        return None
    return f"{base_url(settings)}/case/{sign(settings, 'case', case_id, now, person_id)}"


def case_buttons(t: Translator, settings: Settings, case: cases.Case, person_id: int, now: datetime
                 ) -> tuple[tuple[Button, ...], ...]:
    """The reporter's button to their case page; none without PUBLIC_BASE_URL."""
    url = case_link(settings, case.stored_id, person_id, now)
    return ((Button.link(t("Open your case page (valid {days} days)", days=settings.pages_link_days), url),),) \
        if url else ()


def street_link(settings: Settings, street_id: int, now: datetime) -> str | None:
    if not base_url(settings):
        return None
    return f"{base_url(settings)}/street/{sign(settings, 'street', street_id, now)}"


@router.command("pages", group="notices", private=True, help="Links to the compound's pages on the web", order=95)
async def pages(ctx: Context, msg: Incoming) -> Replies:
    """The board's link (and for a street's admin or official, the street page's), when the pages are served."""
    t = ctx.t
    if not base_url(ctx.settings):
        return Reply(t("The compound's pages are not on the web here: the operator has not set PUBLIC_BASE_URL."))
    buttons: list[Button] = []
    if ctx.compound is not None:
        buttons.append(Button.link(t("{compound}: the board", compound=ctx.compound.name),
                                   base_url(ctx.settings) + board_path(ctx.compound)))
    streets = {s.stored_id: s.name for s in await orgs.streets_administered(ctx.session, ctx.person_id)}
    for department in await orgs.departments_of_person(ctx.session, ctx.person_id):
        if (street := await ctx.session.get(orgs.Street, department.street_id)) is not None:
            streets[street.stored_id] = street.name
    for street_id, name in sorted(streets.items()):
        if (url := street_link(ctx.settings, street_id, ctx.now)) is not None:
            buttons.append(Button.link(t("{street}: compounds side by side", street=name), url))
    if not buttons:
        return Reply(t("Join a compound first: its pages are linked here then."))
    days = ctx.settings.pages_link_days
    text = t("The compound's pages: announcements, disclosures, the 红黑榜, the monthly report and the assemblies' "
             "results.")
    if len(buttons) > (ctx.compound is not None):
        text += "\n" + t("The street page's link is yours alone and works for {days} days.", days=days)
    return Reply(text, buttons=rows(*buttons))


# ---- what the pages show ------------------------------------------------------------------------------------


@dataclass
class Flags:
    """How the reader asked for the page: language, large type, print view."""

    lang: str = "zh_CN"
    large: bool = False
    print: bool = False


@dataclass
class Page:
    """A rendered page: its HTML, and whether it is public (cacheable by anyone) or personal."""

    html: str
    public: bool = True
    status: int = 200

    @functools.cached_property
    def etag(self) -> str:  # once per rendering, not per response: a kept page answers many
        return '"' + hashlib.sha256(self.html.encode()).hexdigest()[:32] + '"'


@dataclass
class Bar:
    label: str
    value: int
    width: float  # percent of the widest


@dataclass
class Section:
    """One 红黑榜 posting: its moment and what it carried."""

    when: str
    stamp: int
    red: list[str] = field(default_factory=list)
    black: list[tuple[str, str]] = field(default_factory=list)  # (line, corrected on ... or "")
    corrected: list[str] = field(default_factory=list)


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                              lstrip_blocks=True, undefined=jinja2.StrictUndefined, auto_reload=False)


ENV = _env()
CSS = (TEMPLATES / "pages.css").read_text(encoding="utf-8")


def _local(moment: datetime | None, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(zone).strftime(fmt) if moment is not None else ""


def _query(flags: Flags, **changes: Any) -> str:
    values = {"lang": flags.lang, "large": "1" if flags.large else "", "print": "1" if flags.print else ""}
    values.update({k: ("1" if v is True else "" if v is False else v) for k, v in changes.items()})
    shown = {k: v for k, v in values.items() if v}
    return "?" + urlencode(shown) if shown else ""


def render(t: Translator, flags: Flags, template: str, title: str, path: str, public: bool = True,
           **data: Any) -> Page:
    """A page in the reader's language with the tools every page has: languages, large type, print view."""
    tools = {
        "languages": [(LANGUAGE_NAMES[lang], path + _query(flags, lang=lang), lang == flags.lang)
                      for lang in LANGUAGES],
        "large": path + _query(flags, large=not flags.large),
        "print": path + _query(flags, print=True),
        "screen": path + _query(flags, print=False),
    }
    html = ENV.get_template(template).render(
        L={key: t(text) for key, text in LABELS.items()}, title=title, css=CSS, flags=flags, tools=tools,
        html_lang={"zh_CN": "zh-Hans", "zh_TW": "zh-Hant"}.get(flags.lang, "en"), q=_query(flags), public=public,
        **data)
    return Page(html, public)


def error_page(t: Translator, flags: Flags, kind: str, status: int, days: int = 30) -> Page:
    title, text = PRIVATE_ERRORS[kind]
    page = render(t, flags, "error.html", t(title), "", public=False, text=t(text, days=days))
    page.status = status
    return page


# Last month's figures on a board are kept this long per compound (they only move with a late rating), instead of
# eleven aggregate queries on every rendering.
FIGURES_FOR = 600.0


@dataclass
class Kept:
    """What a board shows that seldom changes, kept between renderings (one per web server): last month's figures
    for FIGURES_FOR seconds, and the 红黑榜 history until its entries change (one aggregate query tells)."""

    seconds: float = FIGURES_FOR
    size: int = 1024
    figures: dict[tuple[int, str], tuple[float, reports.MonthFigures]] = field(default_factory=dict)
    history: dict[tuple[int, str, str], tuple[tuple[Any, ...], list[Section]]] = field(default_factory=dict)

    def _keep(self, kept: dict[Any, Any], key: Any, value: Any) -> None:
        kept.pop(key, None)
        kept[key] = value
        while len(kept) > self.size:
            kept.pop(next(iter(kept)))

    async def month(self, session: AsyncSession, compound: Compound, month: str) -> reports.MonthFigures:
        key = (compound.stored_id, month)
        found = self.figures.get(key)
        if found is not None and time.monotonic() - found[0] < self.seconds:
            return found[1]
        figures = (await reports.month_figures(session, month, [compound.stored_id],
                                               compound.timezone))[compound.stored_id]
        self._keep(self.figures, key, (time.monotonic(), figures))
        return figures

    async def board(self, session: AsyncSession, compound: Compound, zone: ZoneInfo, t: Translator
                    ) -> list[Section]:
        # Posted entries change only by a new posting, a correction, its posting or a withdrawal: each moves one
        # of these figures.
        entry = board.BoardEntry
        stamp = tuple((await session.execute(
            sa.select(func.count(), func.max(col(entry.id)), func.count(col(entry.corrected_at)),
                      func.max(col(entry.corrected_at)), func.count(col(entry.corrected_posted_at)),
                      func.max(col(entry.posted_at)))
            .where(col(entry.compound_id) == compound.stored_id, col(entry.status) == board.EntryStatus.APPROVED,
                   col(entry.posted_at).is_not(None)))).one())
        key = (compound.stored_id, t.language, zone.key)
        found = self.history.get(key)
        if found is not None and found[0] == stamp:
            return found[1]
        sections = await board_history(session, compound.stored_id, zone, t)
        self._keep(self.history, key, (stamp, sections))
        return sections


def _bars(items: Iterable[tuple[str, int]]) -> list[Bar]:
    listed = [(label, value) for label, value in items if value]
    widest = max((value for _, value in listed), default=0)
    return [Bar(label, value, round(100 * value / widest, 1) if widest else 0) for label, value in listed]


async def board_history(session: AsyncSession, compound_id: int, zone: ZoneInfo, t: Translator,
                        limit: int = 26) -> list[Section]:
    """The weekly postings as they went out, newest first: the red and black entries each carried (a black one
    with the date it was corrected) and the corrected lines."""
    # Plain columns, not ORM rows: half a year of postings is hundreds of entries.
    entry = board.BoardEntry
    posted = sa.and_(col(entry.compound_id) == compound_id, col(entry.status) == board.EntryStatus.APPROVED,
                     col(entry.posted_at).is_not(None))
    # Only the entries of the `limit` newest postings (and those corrected in them), not years of history.
    oldest = (await session.execute(
        sa.select(col(entry.posted_at)).where(posted).distinct().order_by(col(entry.posted_at).desc())
        .offset(limit - 1).limit(1))).scalar()
    shown = posted if oldest is None else sa.and_(posted, sa.or_(col(entry.posted_at) >= oldest,
                                                                 col(entry.corrected_posted_at) >= oldest))
    found = await session.execute(
        sa.select(col(entry.color), col(entry.subject), col(entry.text), col(entry.posted_at),
                  col(entry.corrected_at), col(entry.corrected_posted_at))
        .where(shown).order_by(col(entry.id)))
    sections: dict[datetime, Section] = {}

    def section(moment: datetime) -> Section:
        if moment not in sections:
            sections[moment] = Section(_local(moment, zone), int(moment.timestamp()))
        return sections[moment]

    for color, subject, text, posted_at, corrected_at, corrected_posted_at in found.all():
        line = masked(f"{subject} — {text}" if subject else text)
        if color == board.Color.RED:
            section(posted_at).red.append(line)
            continue
        fixed = t("corrected {date}", date=_local(corrected_at, zone, "%Y-%m-%d")) if corrected_at else ""
        section(posted_at).black.append((line, fixed))
        if corrected_posted_at is not None:
            section(corrected_posted_at).corrected.append(line)
    return [sections[moment] for moment in sorted(sections, reverse=True)[:limit]]


async def posting_entries(session: AsyncSession, compound_id: int, stamp: int) -> Section | None:
    """One posting of the history by its moment (seconds), for its poster."""
    zone = ZoneInfo("UTC")
    for found in await board_history(session, compound_id, zone, Translator("en", {}), limit=1000):
        if found.stamp == stamp:
            return found
    return None


async def board_page(session: AsyncSession, compound: Compound, t: Translator, flags: Flags, now: datetime,
                     poster_ready: bool, kept: Kept | None = None) -> Page:
    kept = kept or Kept(seconds=0)
    zone = ZoneInfo(compound.timezone)
    path = board_path(compound)
    announced = (await session.exec(select(Announcement).where(
        Announcement.compound_id == compound.id, Announcement.audience == "all",
        Announcement.status != AnnouncementStatus.CANCELLED, col(Announcement.due_at) <= now)
        .order_by(col(Announcement.due_at).desc(), col(Announcement.id).desc()).limit(30))).all()
    announcements = [{"when": _local(a.due_at, zone), "text": masked(a.text),
                      "photo": f"{path}/announcement/{a.id}/photo" if a.media_file_id else ""} for a in announced]
    disclosed = (await session.exec(select(Disclosure).where(Disclosure.compound_id == compound.id)
                                    .order_by(col(Disclosure.created_at).desc(), col(Disclosure.id).desc())
                                    .limit(30))).all()
    disclosures = [{"when": _local(d.created_at, zone), "kind": t(DISCLOSURE_KINDS.get(d.kind, d.kind)),
                    "text": masked(d.text),
                    "file": f"{path}/disclosure/{d.id}/file" if d.media_id or d.media_file_id else "",
                    "image": d.media_kind != "document" and bool(d.media_file_id)} for d in disclosed]
    history = await kept.board(session, compound, zone, t)
    local = now.astimezone(zone)
    month = reports.previous_month(f"{local.year}-{local.month:02d}")
    figures = await kept.month(session, compound, month)
    categories = _bars((t(cases.CATEGORY_BY_CODE[c].label) if c in cases.CATEGORY_BY_CODE else c, n)
                       for c, n in figures.by_category.items())
    levels = _bars((t(LEVELS[level]), figures.by_level.get(level, 0)) for level in (1, 2, 3))
    # The columns the list shows, not whole assemblies: each carries its stored result.
    held = (await session.execute(
        sa.select(col(assemblies.Assembly.id), col(assemblies.Assembly.title), col(assemblies.Assembly.closed_at),
                  col(assemblies.Assembly.closes_at))
        .where(col(assemblies.Assembly.compound_id) == compound.stored_id,
               col(assemblies.Assembly.status) == assemblies.AssemblyStatus.CLOSED)
        .order_by(col(assemblies.Assembly.closes_at).desc()).limit(20))).all()
    assembly_links = [{"title": title, "when": _local(closed_at or closes_at, zone, "%Y-%m-%d"),
                       "url": assembly_path(compound, ident) + _query(flags)}
                      for ident, title, closed_at, closes_at in held]
    return render(t, flags, "board.html", t("{compound} · notice board", compound=compound.name), path,
                  compound=compound, announcements=announcements, disclosures=disclosures, history=history,
                  poster_ready=poster_ready, poster_url=f"{path}/board", month=month,
                  report_title=t("{month} monthly report", month=month), figures=figure_rows(t, figures),
                  categories=categories, levels=levels, assemblies=assembly_links)


def _share_row(t: Translator, label: str, count: assemblies.Count, whole: assemblies.Count,
               bound: Fraction | None = None, needed: str = "") -> dict[str, Any]:
    from handlers.assembly import percent

    area_share, owner_share = count.shares_of(whole)
    return {"label": label, "area": f"{float(count.area):.2f}", "area_share": percent(area_share, bound),
            "owners": count.owners, "owner_share": percent(owner_share, bound), "needed": needed,
            "bar_area": round(float(area_share) * 100, 1), "bar_owners": round(float(owner_share) * 100, 1)}


async def assembly_page(session: AsyncSession, compound: Compound, assembly: assemblies.Assembly, t: Translator,
                        flags: Flags, now: datetime) -> Page:
    """Every motion with its Article 278 figures (from the result stored at the close), the election's seats, the
    publication period and the objections with their answers. No voter, no ballot."""
    # The assembly's own words for its figures; imported here because its postings link to this page.
    from handlers.assembly import BOUNDS, CHOICE_LABELS, KIND_LABELS, REASONS, STANDING, percent

    zone = ZoneInfo(compound.timezone)
    results = {r.motion_id: r for r in assemblies.result_from_json(assembly.result)}
    motions: list[dict[str, Any]] = []
    for n, motion in enumerate(await assemblies.motions_of(session, assembly.stored_id), 1):
        if motion.id is None or (r := results.get(motion.id)) is None:
            continue
        bound = assemblies.SPECIAL_BOUND if motion.kind == assemblies.SPECIAL else assemblies.ORDINARY_BOUND
        scope = await assemblies.scope_name(session, assemblies.scope_of(motion))
        item: dict[str, Any] = {
            "n": n, "text": masked(motion.text), "kind": t(KIND_LABELS[motion.kind]), "scope": scope,
            "turnout": _share_row(t, t(LABELS["taking_part"]), r.taking_part, r.total, assemblies.QUORUM,
                                  t("at least 2/3")),
            "total_area": f"{float(r.total.area):.2f}", "total_owners": r.total.owners,
            "passed": r.passed, "election": motion.kind == assemblies.ELECTION, "rows": [], "candidates": [],
        }
        if motion.kind == assemblies.ELECTION:
            item["seats"] = t("{seats} seats; {elected} filled, {vacant} vacant", seats=motion.seats,
                              elected=len(r.elected), vacant=r.vacant(motion.seats))
            item["candidates"] = [
                {**_share_row(t, motion.candidates[c.index] if c.index < len(motion.candidates) else "?", c.approve,
                              r.taking_part, assemblies.ORDINARY_BOUND, t(BOUNDS[assemblies.ORDINARY_BOUND])),
                 "standing": t(STANDING[r.standing(c)]), "elected": c.elected} for c in r.candidates]
        else:
            item["rows"] = [_share_row(t, t(CHOICE_LABELS[choice]), count, r.taking_part,
                                       bound if choice == assemblies.YES else None,
                                       t(BOUNDS[bound]) if choice == assemblies.YES else "")
                            for choice, count in ((assemblies.YES, r.yes), (assemblies.NO, r.no),
                                                  (assemblies.ABSTAIN, r.abstain))]
        if r.passed and motion.kind == assemblies.ELECTION:
            item["outcome"] = t("The election is valid.")
        elif r.passed:
            item["outcome"] = t(LABELS["passed"])
        else:
            item["outcome"] = t(LABELS["not_passed"]) + " — " + "；".join(
                t(REASONS[code], share=percent(share, bnd), bound=t(BOUNDS[bnd]) if bnd in BOUNDS else "")
                for code, share, bnd in r.reasons)
        motions.append(item)
    publicity = await assemblies.publicity_of(session, assembly.stored_id)
    if publicity is None:
        period = ""
    elif publicity.final_at is not None:
        period = t("Published {starts} to {ends}; final since {final}.", starts=_local(publicity.starts_at, zone),
                   ends=_local(publicity.ends_at, zone), final=_local(publicity.final_at, zone))
    elif now < publicity.ends_at:
        period = t("Published for objections until {ends}: owners and supervisors may object with /objection.",
                   ends=_local(publicity.ends_at, zone))
    else:
        period = t("The period ended {ends}; the result is final once every objection is answered.",
                   ends=_local(publicity.ends_at, zone))
    # Objections as the committee answered them: the reason and the answer, never who objected.
    objections = [{"when": _local(o.lodged_at, zone), "reason": masked(o.reason), "answer": masked(o.answer),
                   "answered": _local(o.answered_at, zone)}
                  for o in await assemblies.objections_of(session, assembly.stored_id)]
    scope = await assemblies.scope_name(session, assemblies.scope_of(assembly))
    return render(t, flags, "assembly.html", assembly.title, assembly_path(compound, assembly.stored_id),
                  compound=compound, board_url=board_path(compound) + _query(flags),
                  window=t("Voting {opens} to {closes}", opens=_local(assembly.opens_at, zone),
                           closes=_local(assembly.closes_at, zone)),
                  scope=t("Decided by the owners of {scope} only.", scope=scope) if scope else "",
                  motions=motions, period=period, objections=objections,
                  basis=t("Counted under Civil Code Art. 278: participation needs at least 2/3 of the area and of "
                          "the owners; an ordinary matter more than 1/2 of the participating area and owners, a "
                          "special one at least 3/4."))


async def case_page(session: AsyncSession, case: cases.Case, t: Translator, flags: Flags, path: str) -> Page:
    """The reporter's own case: its card, photos and timeline. Names only the handlers, as the chat does."""
    compound = await cases.compound_of(session, case)
    zone = ZoneInfo(compound.timezone)
    building = await session.get(Building, case.building_id) if case.building_id is not None else None
    category = cases.CATEGORY_BY_CODE.get(case.category)
    names: dict[int, str] = {}
    timeline: list[dict[str, str]] = []
    for event in await cases.history(session, case.id):
        if event.actor_id is None:
            who = t("system")
        elif event.actor_id == case.reporter_id:
            who = t("you")
        else:
            if event.actor_id not in names:
                person = await session.get(Person, event.actor_id)
                names[event.actor_id] = person.name if person else "?"
            who = names[event.actor_id]
        note = event.note[:500]
        if event.event in (cases.Event.RATE, cases.Event.REOPEN) and note in ("1", "2", "3", "4", "5"):
            note = t("Rating: {stars} of 5", stars=note)
        elif event.event == cases.Event.RATE_DEPARTMENT and note in cases.DEPARTMENT_RATINGS:
            note = t(cases.DEPARTMENT_RATINGS[cases.DepartmentRating(note)])
        timeline.append({"when": _local(event.at, zone), "what": t(cases.EVENT_NAMES[event.event]), "who": who,
                         "note": masked(note)})
    reported = [f"{path}/photo/{i}" for i in range(len(case.photos.get("ids", [])))]
    offset = len(reported)
    shot = [f"{path}/photo/{offset + i}" for i in range(len(cases.resolution_photos(case)[1]))]
    facts = [(t("Status"), t(cases.STATE_NAMES[case.state])),
             (t("Category"), t(category.label) if category else case.category),
             (t("Place"), building.name if building else t("a common area")),
             (t("Opened"), _local(case.opened_at, zone))]
    if case.location_label:
        facts.append((t("Location"), masked(case.location_label)))
    if case.state in cases.ACTIVE and case.resolve_by is not None:
        facts.append((t("Resolve by"), _local(case.resolve_by, zone)))
    if case.rating is not None:
        facts.append((t("Rating"), t("Rating: {stars} of 5", stars=case.rating)))
    return render(t, flags, "case.html", t("Case {number}", number=case.number), path, public=False,
                  compound=compound, facts=facts, description=masked(case.description), resolution=masked(case.resolution),
                  photos=reported, result_photos=shot, timeline=timeline)


def photo_of(case: cases.Case, index: int) -> tuple[str, str] | None:
    """(platform, file id) of the case's `index`th photo: the reporter's first, then the result's."""
    reported = [(str(case.photos.get("platform", "")), str(i)) for i in case.photos.get("ids", [])]
    platform, shot = cases.resolution_photos(case)
    every = reported + [(platform, i) for i in shot]
    return every[index] if 0 <= index < len(every) else None


async def street_page(session: AsyncSession, street: orgs.Street, t: Translator, flags: Flags, now: datetime,
                      path: str) -> Page:
    """The street's compounds side by side: what is open now and last month's figures, the worrying ones marked."""
    ids = await orgs.compounds_of_street(session, street.stored_id)
    found = list((await session.exec(select(Compound).where(col(Compound.id).in_(ids))
                                     .order_by(col(Compound.name)))).all()) if ids else []
    zone = ZoneInfo(found[0].timezone if found else "Asia/Shanghai")
    local = now.astimezone(zone)
    month = reports.previous_month(f"{local.year}-{local.month:02d}")
    figures = await reports.month_figures(session, month, ids, zone.key) if ids else {}
    open_cases = await _count_by_compound(session, select(cases.Case.compound_id).where(
        col(cases.Case.compound_id).in_(ids), col(cases.Case.state).in_(cases.ACTIVE)))
    overdue = await _count_by_compound(session, select(cases.Case.compound_id).where(
        col(cases.Case.compound_id).in_(ids), col(cases.Case.state).in_(cases.ACTIVE),
        col(cases.Case.resolve_by) < now))
    black = await _count_by_compound(session, select(board.BoardEntry.compound_id).where(
        col(board.BoardEntry.compound_id).in_(ids), board.BoardEntry.status == board.EntryStatus.APPROVED,
        board.BoardEntry.color == board.Color.BLACK, col(board.BoardEntry.corrected_at).is_(None)))
    objections = await _count_by_compound(session, select(assemblies.Assembly.compound_id).join(
        assemblies.Objection, col(assemblies.Objection.assembly_id) == assemblies.Assembly.id).where(
        col(assemblies.Assembly.compound_id).in_(ids), assemblies.Objection.status == assemblies.ObjectionStatus.OPEN))
    # The street report's one rule and order (storage.reports.street_standings, its bounds): the page marks and
    # ranks the compounds as the report's text and chart do, never by a rule of its own.
    from handlers.charts import attention_rule, percent

    names = {compound.stored_id: compound for compound in found}
    standings = reports.street_standings([figures[cid] for cid in names if cid in figures])
    table: list[dict[str, Any]] = []
    for standing in standings:
        f, compound = standing.figures, names[standing.figures.compound_id]
        cid = compound.stored_id
        table.append({
            "name": compound.name, "url": board_path(compound) + _query(flags),
            "attention": standing.needs_attention,
            "cells": [(open_cases.get(cid, 0), False),
                      (overdue.get(cid, 0), overdue.get(cid, 0) > 0),
                      (f.opened, False),
                      ("-" if f.overdue_rate is None else percent(f.overdue_rate), standing.overdue_high),
                      ("-" if f.satisfaction is None else percent(f.satisfaction), standing.satisfaction_low),
                      (black.get(cid, 0), black.get(cid, 0) > 0),
                      (objections.get(cid, 0), objections.get(cid, 0) > 0)]})
    for row in table:
        row["alarms"] = sum(1 for _, alarm in row["cells"] if alarm)
    return render(t, flags, "street.html", t("{street}: compounds side by side", street=street.name), path,
                  public=False, rows=table, month=month, zip=zip, rule=attention_rule(t),
                  headers=[t(LABELS[k]) for k in ("open_cases", "overdue_now", "opened_month", "overdue_month",
                                                  "satisfaction", "open_black", "open_objections")])


async def _count_by_compound(session: AsyncSession, query: Any) -> dict[int, int]:
    """Rows of the query per compound, counted by the database (not one row per case fetched)."""
    found = query.subquery()
    compound_id = next(iter(found.c))
    counted = await session.execute(sa.select(compound_id, func.count()).group_by(compound_id))
    return {int(cid): int(n) for cid, n in counted.all()}


async def compound_at(session: AsyncSession, code: str) -> Compound | None:
    return await compound_by_code(session, code) if 0 < len(code) <= 16 else None


def poster_sections(t: Translator, posting: Section) -> list[tuple[str, tuple[str, ...], str]]:
    """A posting of the history as the poster's sections: (heading, lines, colour name)."""
    sections = [(t(LABELS["red"]), tuple(f"{n}. {line}" for n, line in enumerate(posting.red, 1))
                 or (t(LABELS["nothing"]),), "red"),
                (t(LABELS["black"]), tuple(f"{n}. {line}" for n, (line, _) in enumerate(posting.black, 1))
                 or (t(LABELS["nothing"]),), "black")]
    if posting.corrected:
        sections.append((t(LABELS["corrected"]), tuple(f"✓ {line}" for line in posting.corrected), "green"))
    return sections


def poster_parts(t: Translator, compound: Compound, posting: Section
                 ) -> tuple[str, str, list[tuple[str, tuple[str, ...], str]], str]:
    """The poster of a posting of the history: title, date, sections and footer, as the weekly posting drew it."""
    date = _local(datetime.fromtimestamp(posting.stamp, UTC), ZoneInfo(compound.timezone), "%Y-%m-%d")
    return (t("{compound} 红黑榜", compound=compound.name), date, poster_sections(t, posting),
            t("Nominate with /nominate · 小区党支部"))


__all__ = ["router"]
