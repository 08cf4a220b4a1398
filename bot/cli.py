"""The `linli` command: migrate, run, console, and the deployer's tools (compounds, rosters, exports)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import re
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from bot.core.i18n import N_, Catalogs, Translator
from bot.settings import SQLITE_SCHEME, Settings, operator_language, problems, redact_url, zone_exists
from storage import migrate as migrations
from storage.db import make_engine, make_sessionmaker, transaction


class Refusal(Exception):
    """A configuration or argument error: `main` prints its lines (one per problem, each naming the setting or
    argument) on stderr and returns 2, with no traceback."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@functools.cache
def _catalogs() -> Catalogs:
    return Catalogs()


def _operator() -> Translator:
    return _catalogs().translator(operator_language())


def tr(msgid: str, /, **kwargs: Any) -> str:
    """A text of `linli` itself, in the operator's language (DEFAULT_LANGUAGE; zh_CN when that is refused)."""
    return _operator()(msgid, **kwargs)


def _setting_refused(setting: str, problem: str) -> Refusal:
    return Refusal(tr("Setting {setting}: {problem}", setting=setting, problem=problem))


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise Refusal(*(tr("Setting {setting}: {problem}", setting=found.setting,
                           problem=tr(found.message, setting=found.setting, **found.values))
                        for found in problems(error))) from None


def _database_errors() -> tuple[type[BaseException], ...]:
    """What opening an unreachable or unusable database raises (no server, wrong password, not a database)."""
    import asyncpg
    from sqlalchemy.exc import SQLAlchemyError

    return OSError, TimeoutError, SQLAlchemyError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError


def _unreachable(settings: Settings, error: BaseException) -> Refusal:
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    return _setting_refused("DATABASE_URL", tr("cannot open the database {url}: {reason}",
                                               url=redact_url(settings.database_url),
                                               reason=reason[0] if reason else type(error).__name__))


def _run_async(factory: Callable[[], Awaitable[int | None]]) -> int:
    return asyncio.run(factory()) or 0  # type: ignore[arg-type]


async def _with_session(settings: Settings, work: Callable[..., Awaitable[int | None]]) -> int:
    _require_migrated(settings)
    engine = make_engine(settings.database_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return (await work(session)) or 0
    finally:
        await engine.dispose()


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        migrations.upgrade(settings.database_url)
    except _database_errors() as error:
        raise _unreachable(settings, error) from None
    print(f"database is up to date ({_redact(settings.database_url)})")
    return 0


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _platform_configured(settings: Settings) -> bool:
    return bool(settings.telegram_bot_token or settings.wecom_bot_id or settings.wecom_callback_token
                or settings.wechat_kf_open_kfid)


def _configure_logging(level: str, console: bool = False) -> None:
    """A server logs at LOG_LEVEL; the console chat shows only warnings and errors besides the chat. APScheduler's
    line for every job run (a tick every few seconds) appears only at DEBUG, and httpx's request lines never:
    their URLs carry the Telegram bot's token."""
    chosen = getattr(logging, level)
    root = max(logging.WARNING, chosen) if console else chosen
    logging.basicConfig(level=root, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(root if chosen == logging.DEBUG and not console
                                              else max(logging.WARNING, root))
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root))


def _require_migrated(settings: Settings) -> None:
    try:
        current = migrations.is_current(settings.database_url)
    except _database_errors() as error:
        raise _unreachable(settings, error) from None
    if not current:
        raise SystemExit(f"The database {_redact(settings.database_url)} is not up to date: run `linli migrate` "
                         "first (`make run` does it for you).")


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    _require_migrated(settings)
    if not _platform_configured(settings):
        return cmd_console(args)
    _configure_logging(settings.log_level)
    if args.workers > 1:
        from bot.workers import supervise

        return supervise(args.workers, settings.database_url)
    from bot.app import serve

    asyncio.run(serve(settings))
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    settings = _settings()
    _require_migrated(settings)
    _configure_logging(settings.log_level, console=True)
    script = getattr(args, "script", None)

    async def main() -> int:
        from bot.app import build_app
        from bot.core.clock import Clock
        from bot.transports.console import run_console
        from storage.demo import seed_demo

        app = build_app(settings, clock=Clock())
        if settings.demo:
            async with transaction(app.core.sessions) as session:
                if await seed_demo(session):
                    print("Seeded the demo compound 幸福里 (invite code XFL2026). Try `:as 王书记` then /help.\n")
        source = open(script, encoding="utf-8") if script else None  # noqa: ASYNC230
        app.scheduler.start()
        try:
            await run_console(app, source, echo=bool(script) or not sys.stdin.isatty())
        finally:
            if source is not None:
                source.close()
            await app.close()
        return 0

    return asyncio.run(main())


def cmd_compound_create(args: argparse.Namespace) -> int:
    from storage.compounds import compound_by_code, create_compound

    async def work(session: object) -> int:
        from sqlmodel.ext.asyncio.session import AsyncSession

        assert isinstance(session, AsyncSession)
        if await compound_by_code(session, args.code) is not None:
            print(f"A compound with the code {args.code.upper()} already exists.", file=sys.stderr)
            return 1
        compound = await create_compound(session, args.name, args.code, timezone=args.timezone, street=args.street)
        compound.community = args.community
        session.add(compound)
        print(f"Created {compound.name} ({compound.code}).")
        print(f"Invite code for residents:      {compound.invite_code}")
        print(f"One-time secretary claim code:  {compound.claim_code}   (the secretary sends /claim CODE privately)")
        return 0

    return asyncio.run(_with_session(_settings(), work))


def cmd_roster_import(args: argparse.Namespace) -> int:
    from storage.roster import import_roster_cli

    settings = _settings()
    _require_migrated(settings)
    return asyncio.run(import_roster_cli(settings, Path(args.file), args.compound, args.lang or operator_language()))


def cmd_roster_template(args: argparse.Namespace) -> int:
    from storage.roster import template_cli

    return template_cli(_settings(), Path(args.file), args.lang or operator_language())


def cmd_export_party(args: argparse.Namespace) -> int:
    from storage.party import export_party_cli

    settings = _settings()
    _require_migrated(settings)
    return asyncio.run(export_party_cli(settings, args.compound, args.year, Path(args.out)))


def cmd_export_assembly(args: argparse.Namespace) -> int:
    from storage.assembly import export_assembly_cli

    settings = _settings()
    _require_migrated(settings)
    return asyncio.run(export_assembly_cli(settings.database_url, args.id, Path(args.out) if args.out else None))


def cmd_report(args: argparse.Namespace) -> int:
    """Writes the monthly report (PNG + XLSX) of a compound, a street or every compound into --out."""
    from bot.core.i18n import Catalogs
    from handlers.reports import compound_report, street_report
    from storage.compounds import Compound, compound_by_code

    settings = _settings()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    async def work(session: object) -> int:
        from sqlmodel import select
        from sqlmodel.ext.asyncio.session import AsyncSession

        from bot.core.context import JobContext
        from bot.core.dispatcher import Core

        assert isinstance(session, AsyncSession)
        core = Core(settings, make_engine(settings.database_url), [])
        ctx = JobContext(core, session, core.clock.now())
        t = Catalogs().translator(settings.default_language)
        if args.street:
            replies = await street_report(ctx, t, args.street, args.month)
        else:
            if args.all:
                compounds = list((await session.exec(select(Compound))).all())
            else:
                found = await compound_by_code(session, args.compound or "")
                if found is None:
                    print(f"There is no compound with the code {args.compound}.", file=sys.stderr)
                    return 1
                compounds = [found]
            replies = []
            for compound in compounds:
                replies += await compound_report(ctx, t, compound, args.month)
        for reply in replies:
            for media in (reply.image, reply.document):
                if media is not None:
                    (out / media.filename).write_bytes(media.data)
                    print(out / media.filename)
        await core.engine.dispose()
        return 0

    return asyncio.run(_with_session(settings, work))


def cmd_export_cases(args: argparse.Namespace) -> int:
    """The complaints ledger (台账) of one compound for a date range, as the secretary's /export cases sends it."""
    from zoneinfo import ZoneInfo

    from sqlmodel.ext.asyncio.session import AsyncSession

    from storage.complaints import day_bounds, ledger_xlsx
    from storage.compounds import compound_by_code

    first, last = args.date_from, args.date_to  # dates already: see _day
    settings = _settings()

    async def work(session: AsyncSession) -> int:
        compound = await compound_by_code(session, args.compound)
        if compound is None:
            print(f"There is no compound with the code {args.compound}.", file=sys.stderr)
            return 1
        start, end = day_bounds(first, last, ZoneInfo(compound.timezone))
        data = await ledger_xlsx(session, compound, start, end,
                                 Catalogs().translator(compound.language or settings.default_language))
        out = Path(args.out or f"cases-{compound.code}-{first:%Y%m%d}-{last:%Y%m%d}.xlsx")
        await asyncio.to_thread(out.write_bytes, data)
        print(out)
        return 0

    return asyncio.run(_with_session(settings, work))


# ---- argument types: a wrong value is one line naming the argument, exit status 2 ----------------------------


def _month(text: str) -> str:
    match = re.fullmatch(r"(\d{4})-(\d{1,2})", text.strip())
    if match is None or not 1 <= int(match[2]) <= 12:
        raise argparse.ArgumentTypeError(tr("{value} is not a month: write it as 2026-11", value=text))
    return f"{match[1]}-{int(match[2]):02d}"


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(tr("{value} is not a day: write it as 2026-11-01", value=text)) from None


def _language(text: str) -> str:
    from bot.core.i18n import language_named

    language = language_named(text)
    if language is None:
        raise argparse.ArgumentTypeError(tr("{key} takes {kind}; {value} is not one.", key="--lang", value=text,
                                            kind=tr(_KIND_TEXTS["language"])))
    return language


def _zone(text: str) -> str:
    if not zone_exists(text):
        raise argparse.ArgumentTypeError(tr("{value} is not a time zone: write one like Asia/Shanghai", value=text))
    return text


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line in the operator's language (through Refusal): no usage block."""

    def error(self, message: str) -> NoReturn:
        raise Refusal(tr("{command}: {problem} (see `{command} --help`)", command=self.prog, problem=message))


# ---- linli compound list / show / set / unset ----------------------------------------------------------------

_KIND_TEXTS = {
    "integer": N_("a whole number"),
    "number": N_("a number"),
    "boolean": N_("true or false"),
    "clock": N_("a time of day such as {example}"),
    "clocks": N_("times of day such as 19:00,08:30"),
    "minutes": N_("minutes before, such as 1440,60"),
    "fraction": N_("a fraction from 0 to 1 such as {example}"),
    "object": N_("a JSON object such as {example}"),
    "text": N_("a text"),
    "time_zone": N_("a time zone such as Asia/Shanghai"),
    "language": N_("zh_CN, zh_TW or en"),
}


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


async def _compound_named(session: Any, code: str) -> Any:
    from storage.compounds import compound_by_code

    compound = await compound_by_code(session, code)
    if compound is None:
        raise Refusal(tr("There is no compound with the code {code} (`linli compound list` shows them).", code=code))
    return compound


def _setting_refusal(refused: Any, code: str, given: str) -> Refusal:
    spec = refused.spec
    if refused.why == "unknown" or spec is None:
        return Refusal(tr("{key} is not a setting of a compound (`linli compound show {code}` lists them).",
                          key=refused.key, code=code))
    if refused.why == "range":
        low = "-" if spec.minimum is None else f"{spec.minimum:g}"
        high = "-" if spec.maximum is None else f"{spec.maximum:g}"
        return Refusal(tr("{key} must be from {low} to {high}; {value} is not.", key=refused.key, low=low, high=high,
                          value=given))
    example = _shown(spec.example if spec.example is not None else spec.default)
    return Refusal(tr("{key} takes {kind}; {value} is not one.", key=refused.key, value=given,
                      kind=tr(_KIND_TEXTS[spec.kind.value], example=example)))


def cmd_compound_list(args: argparse.Namespace) -> int:
    from storage.compounds import all_compounds

    async def work(session: Any) -> int:
        compounds = await all_compounds(session)
        if not compounds:
            print(tr("No compound yet: `linli compound create` makes one."))
        for compound in compounds:
            print(tr("{code}  {name}  street: {street}  invite code: {invite}", code=compound.code,
                     name=compound.name, street=compound.street or "-", invite=compound.invite_code))
        return 0

    return asyncio.run(_with_session(_settings(), work))


def cmd_compound_show(args: argparse.Namespace) -> int:
    from storage.compounds import COMPOUND_SETTINGS

    async def work(session: Any) -> int:
        compound = await _compound_named(session, args.code)
        print(f"{compound.name} ({compound.code})")
        print(tr("Invite code for residents: {invite}", invite=compound.invite_code))
        if compound.claim_code:
            print(tr("Secretary claim code: {claim} (the secretary sends /claim {claim} privately)",
                     claim=compound.claim_code))
        else:
            print(tr("Secretary claim code: used"))
        print(tr("Time zone {zone} · language {language} · street {street} · community {community}",
                 zone=compound.timezone, language=compound.language, street=compound.street or "-",
                 community=compound.community or "-"))
        print(tr("Settings (`linli compound set {code} KEY VALUE`, `linli compound unset {code} KEY`):",
                 code=compound.code))
        for key, spec in COMPOUND_SETTINGS.items():
            if key in compound.settings:
                print(f"  {key} = {_shown(compound.settings[key])}")
            else:
                print(f"  {key} = {_shown(spec.default)}  " + tr("(default)"))
        for key in sorted(set(compound.settings) - set(COMPOUND_SETTINGS)):
            print(f"  {key} = {_shown(compound.settings[key])}  " + tr("(not a known setting: unused)"))
        return 0

    return asyncio.run(_with_session(_settings(), work))


def cmd_compound_set(args: argparse.Namespace) -> int:
    from storage.compounds import SettingRefused, set_compound_setting

    async def work(session: Any) -> int:
        compound = await _compound_named(session, args.code)
        try:
            value = set_compound_setting(compound, args.key, args.value)
        except SettingRefused as refused:
            raise _setting_refusal(refused, compound.code, args.value) from None
        session.add(compound)
        print(tr("{code}: {key} = {value}", code=compound.code, key=args.key, value=_shown(value)))
        return 0

    return asyncio.run(_with_session(_settings(), work))


def cmd_compound_unset(args: argparse.Namespace) -> int:
    from storage.compounds import COMPOUND_SETTINGS, SettingRefused, unset_compound_setting

    async def work(session: Any) -> int:
        compound = await _compound_named(session, args.code)
        try:
            unset_compound_setting(compound, args.key)
        except SettingRefused as refused:
            raise _setting_refusal(refused, compound.code, "") from None
        session.add(compound)
        print(tr("{code}: {key} is back to its default ({value})", code=compound.code, key=args.key,
                 value=_shown(COMPOUND_SETTINGS[args.key].default)))
        return 0

    return asyncio.run(_with_session(_settings(), work))


def cmd_compound_qr(args: argparse.Namespace) -> int:
    """A printable PNG of the compound's invite QR codes: the Telegram deep link, and the WeCom/WeChat link."""
    from bot.core.i18n import Catalogs
    from bot.qr import deep_link, invite_png

    settings = _settings()
    bot_username = (args.bot or settings.telegram_bot_username).strip().lstrip("@")
    wecom = (args.wecom or settings.wecom_join_url).strip()
    if not bot_username and not wecom:
        raise Refusal(tr("Name the Telegram bot with --bot USERNAME (or TELEGRAM_BOT_USERNAME), or give a WeCom link "
                         "with --wecom URL (or WECOM_JOIN_URL)."))

    made: list[tuple[Path, bytes, str]] = []

    async def work(session: Any) -> int:
        compound = await _compound_named(session, args.code)
        pt = Catalogs().translator(compound.language or settings.default_language)
        codes = [("Telegram", deep_link(bot_username, compound.invite_code))] if bot_username else []
        if wecom:
            codes.append((pt("WeCom / WeChat"), wecom))
        png = invite_png(pt("Scan to join {compound}", compound=compound.name),
                         pt("Invite code {code}", code=compound.invite_code), codes)
        made.append((Path(args.out or f"qr-{compound.code}.png"), png, " · ".join(link for _, link in codes)))
        return 0

    asyncio.run(_with_session(settings, work))
    for out, png, links in made:
        out.write_bytes(png)
        print(tr("Wrote {file}: {links}", file=out, links=links))
    return 0


def cmd_compound_wechat_link(args: argparse.Namespace) -> int:
    """A 微信客服 link for the compound (kf/add_contact_way with a scene, then `scene_param` = the invite code) and a
    QR PNG of it: a resident who opens it arrives in the join flow of that compound."""
    from urllib.parse import quote

    import aiohttp

    from bot.qr import invite_png
    from bot.transports.wechat.api import KfClient, KfError

    settings = _settings()
    if not settings.wechat_kf_open_kfid:
        raise Refusal(tr("Set WECHAT_KF_OPEN_KFID, WECHAT_KF_CORP_ID and WECHAT_KF_SECRET first (see .env.example)."))
    made: list[tuple[Path, bytes, str]] = []

    async def work(session: Any) -> int:
        compound = await _compound_named(session, args.code)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            async def opened() -> aiohttp.ClientSession:
                return http

            client = KfClient(opened, settings.wecom_api_base_url, settings.wechat_kf_corp_id,
                              settings.wechat_kf_secret.get_secret_value())
            try:
                url = await client.add_contact_way(settings.wechat_kf_open_kfid, f"join{compound.code}"[:30])
            except (KfError, aiohttp.ClientError) as error:
                raise Refusal(tr("微信客服 refused the link: {error}", error=str(error))) from None
        link = f"{url}{'&' if '?' in url else '?'}scene_param={quote(compound.invite_code)}"
        pt = Catalogs().translator(compound.language or settings.default_language)
        png = invite_png(pt("Scan to join {compound}", compound=compound.name),
                         pt("Invite code {code}", code=compound.invite_code), [(pt("WeChat"), link)])
        made.append((Path(args.out or f"wechat-{compound.code}.png"), png, link))
        return 0

    asyncio.run(_with_session(settings, work))
    for out, png, link in made:
        out.write_bytes(png)
        print(link)
        print(tr("Wrote {file}: {links}", file=out, links=link))
    return 0


# ---- linli backup FILE / linli restore FILE ---------------------------------------------------------------------


def _sqlite_file(settings: Settings, action: str, file: str) -> str:
    """The configured SQLite file; for PostgreSQL, its own tools' command line as the refusal."""
    from sqlalchemy.engine import URL, make_url

    url = make_url(settings.database_url)
    if url.drivername != SQLITE_SCHEME:
        # libpq's form: no password (it reads PGPASSWORD or ~/.pgpass), asyncpg's ssl= as sslmode=.
        query = {"sslmode": url.query["ssl"]} if "ssl" in url.query else {}
        plain = URL.create("postgresql", username=url.username, host=url.host, port=url.port, database=url.database,
                           query=query).render_as_string(hide_password=False)
        command = (f"pg_dump --format=custom --file={file} '{plain}'" if action == "backup"
                   else f"pg_restore --clean --if-exists --dbname='{plain}' {file}")
        raise _setting_refused("DATABASE_URL", tr("PostgreSQL is saved and restored with its own tools, with the "
                                                  "password in PGPASSWORD or ~/.pgpass: {command}", command=command))
    if not url.database or url.database == ":memory:":
        raise _setting_refused("DATABASE_URL", tr("an in-memory database cannot be saved or restored"))
    return os.path.abspath(url.database)


def cmd_backup(args: argparse.Namespace) -> int:
    """SQLite's online backup (sqlite3.Connection.backup): a consistent copy while the bot runs."""
    settings = _settings()
    database = _sqlite_file(settings, "backup", args.file)
    target = Path(args.file)
    if not os.path.isfile(database):
        raise _setting_refused("DATABASE_URL", tr("there is no database at {path} yet", path=database))
    if target.exists():
        raise Refusal(tr("{file} exists already: choose a new file name", file=target))
    if not target.absolute().parent.is_dir():
        raise Refusal(tr("The folder {folder} does not exist", folder=target.absolute().parent))
    partial = target.with_name(target.name + ".partial")
    try:
        source = sqlite3.connect(database, timeout=15)
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, whatever the source's mode
            checked = copy.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            copy.close()
            source.close()
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise _unreachable(settings, error) from None
    if checked != "ok":
        partial.unlink(missing_ok=True)
        raise _setting_refused("DATABASE_URL", tr("the copy of {path} failed its check: {result}", path=database,
                                                  result=checked))
    os.replace(partial, target)
    print(tr("Saved {database} to {file} ({size} KB).", database=database, file=target,
             size=max(1, target.stat().st_size // 1024)))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Writes a backup over the configured SQLite database, in one transaction, only when no other process has
    the database open: a running bot always holds a connection, so it is refused while the bot runs."""
    settings = _settings()
    database = _sqlite_file(settings, "restore", args.file)
    source_path = Path(args.file)
    if not source_path.is_file():
        raise Refusal(tr("{file} does not exist", file=source_path))
    try:
        source = sqlite3.connect(source_path)
        checked = source.execute("PRAGMA quick_check").fetchone()[0]
        linli = source.execute("SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'").fetchone()[0]
    except sqlite3.DatabaseError:
        checked, linli = "", 0
    if checked != "ok" or not linli:
        raise Refusal(tr("{file} is not a backup of a linli database", file=source_path))
    target = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        try:
            # Leaving WAL mode needs the only connection to the file: it fails while a bot (or any process) has it.
            mode = target.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        except sqlite3.OperationalError:
            mode = ""
        if mode != "delete":
            raise Refusal(tr("The database {path} is in use (is the bot running?): stop the bot first, then restore.",
                             path=database))
        source.backup(target)
        target.execute("PRAGMA journal_mode=WAL")
    finally:
        target.close()
        source.close()
    print(tr("Restored {file} into {database}.", file=source_path, database=database))
    if not migrations.is_current(settings.database_url):
        print(tr("The backup is from another version of linli: run `linli migrate` before starting the bot."))
    return 0


def cmd_person_forget(args: argparse.Namespace) -> int:
    """Erase a person's name, phone and accounts; the records keep them under a pseudonym (see handlers/privacy.py)."""
    from handlers.privacy import forget_cli

    settings = _settings()
    _require_migrated(settings)
    return asyncio.run(forget_cli(settings, args.id))


# ---- linli street / community / company / partner: organisations beyond the room ---------------------------


def cmd_organisations(args: argparse.Namespace) -> int:
    """Streets, communities, departments' street admins, property companies and partner units (the work and its
    texts are handlers/organisations.py's)."""
    from handlers.organisations import ShellRefusal, shell

    settings = _settings()

    async def work(session: Any) -> int:
        from bot.core.clock import Clock

        try:
            lines = await shell(session, _operator(), args, Clock().now())
        except ShellRefusal as refusal:
            raise Refusal(str(refusal)) from None
        for line in lines:
            print(line)
        return 0

    return asyncio.run(_with_session(settings, work))


# ---- linli audit: the personal-data access log ----------------------------------------------------------------

_SHOWN_TEXTS = {"name": N_("name"), "room": N_("room"), "phone": N_("phone")}
_VIA_TEXTS = {"lookup": N_("looked up"), "notice": N_("sent with the case"), "export": N_("in a ledger export"),
              "self": N_("their own data (/mydata)")}


def cmd_audit(args: argparse.Namespace) -> int:
    """Who was shown whose name, room or phone, or an anonymous case's hidden identity (storage/access_log.py),
    oldest first, times in each compound's zone; `--since` is a day in the compound's zone (all compounds: in
    TIMEZONE)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from storage.access_log import entries

    settings = _settings()

    async def work(session: Any) -> int:
        compound = await _compound_named(session, args.compound) if args.compound else None
        since = None
        if args.since is not None:
            zone = ZoneInfo(compound.timezone if compound else settings.timezone)
            since = datetime(args.since.year, args.since.month, args.since.day, tzinfo=zone)
        found = await entries(session, compound.id if compound else None, since)
        if not found:
            print(tr("No one has been shown anyone's personal data (in the part of the log asked for)."))
        for entry in found:
            print(tr("{at} {compound} {viewer} (#{viewer_id}) was shown {subject} (#{subject_id}): {shown} · case "
                     "{case} · {via}{hidden}", at=entry.at.astimezone(ZoneInfo(entry.timezone)).strftime(
                         "%Y-%m-%d %H:%M"), compound=entry.compound_code, viewer=entry.viewer,
                     viewer_id=entry.viewer_id, subject=entry.subject, subject_id=entry.subject_id,
                     shown=tr(", ").join(tr(_SHOWN_TEXTS[piece.value]) for piece in entry.shown),
                     case=entry.case_number or "-", via=tr(_VIA_TEXTS[entry.via.value]),
                     hidden=tr(" · the identity of an anonymous case") if entry.hidden else ""))
        return 0

    return asyncio.run(_with_session(settings, work))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="linli", description="邻里 linli — a chatbot for running compounds together")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    run = sub.add_parser("run", help="start the bot (the console when no platform token is configured)")
    run.add_argument("--workers", type=int, default=1, help="worker processes sharing one database")
    run.set_defaults(func=cmd_run)

    console = sub.add_parser("console", help="a terminal chat with simulated people and groups")
    console.add_argument("--script", help="read console lines from this file")
    console.set_defaults(func=cmd_console)

    compound = sub.add_parser("compound", help="compounds").add_subparsers(dest="action", required=True)
    create = compound.add_parser("create", help="create a compound and print its invite and claim codes")
    create.add_argument("--name", required=True)
    create.add_argument("--code", required=True, help="short code used in case numbers, e.g. XFL")
    create.add_argument("--timezone", type=_zone, default="Asia/Shanghai")
    create.add_argument("--street", default="", help="街道: the street office that oversees it")
    create.add_argument("--community", default="", help="社区: the community it belongs to")
    create.set_defaults(func=cmd_compound_create)
    compound.add_parser("list", help="every compound: code, name, street, invite code").set_defaults(
        func=cmd_compound_list)
    show = compound.add_parser("show", help="a compound's invite and claim codes and its settings")
    show.add_argument("code")
    show.set_defaults(func=cmd_compound_show)
    change = compound.add_parser("set", help="change a compound setting (checked against the known settings)")
    change.add_argument("code")
    change.add_argument("key", help="e.g. complaints.respond_hours, name, timezone (`linli compound show` lists them)")
    change.add_argument("value", help="e.g. 12, true, 20:00, 19:00,08:30 or a JSON object")
    change.set_defaults(func=cmd_compound_set)
    unset = compound.add_parser("unset", help="put a compound setting back to its default")
    unset.add_argument("code")
    unset.add_argument("key")
    unset.set_defaults(func=cmd_compound_unset)
    qr = compound.add_parser("qr", help="a printable PNG of the invite QR codes (t.me/<bot>?start=CODE, WeCom link)")
    qr.add_argument("code")
    qr.add_argument("--bot", default="", help="the Telegram bot's username (default TELEGRAM_BOT_USERNAME)")
    qr.add_argument("--wecom", default="", help="a WeCom/WeChat link to print beside it (default WECOM_JOIN_URL)")
    qr.add_argument("--out", help="the PNG file to write (default: qr-CODE.png)")
    qr.set_defaults(func=cmd_compound_qr)
    wechat = compound.add_parser("wechat-link", help="a 微信客服 link (and its QR PNG) that joins residents from WeChat")
    wechat.add_argument("code")
    wechat.add_argument("--out", help="the PNG file to write (default: wechat-CODE.png)")
    wechat.set_defaults(func=cmd_compound_wechat_link)

    roster = sub.add_parser("roster", help="rosters").add_subparsers(dest="action", required=True)
    importer = roster.add_parser("import", help="load buildings, units, rooms and owners from CSV or XLSX")
    importer.add_argument("file")
    importer.add_argument("--compound", required=True, help="the compound's code")
    importer.add_argument("--lang", type=_language, help="the language of the report (default DEFAULT_LANGUAGE: "
                          "zh_CN)")
    importer.set_defaults(func=cmd_roster_import)
    template = roster.add_parser("template", help="write an XLSX roster template: the columns and an example row")
    template.add_argument("file", nargs="?", default="roster-template.xlsx",
                          help="the XLSX file to write (default: roster-template.xlsx)")
    template.add_argument("--lang", type=_language, help="the language of the columns and notes (default "
                          "DEFAULT_LANGUAGE: zh_CN)")
    template.set_defaults(func=cmd_roster_template)

    person = sub.add_parser("person", help="people").add_subparsers(dest="action", required=True)
    forget = person.add_parser("forget", help="erase a person's name, phone and accounts (PIPL); the records keep "
                               "a pseudonym")
    forget.add_argument("id", type=int, help="the person's number, as /members shows it")
    forget.set_defaults(func=cmd_person_forget)

    # `linli export cases|party|assembly ...`: each feature adds its exporter here.
    exports = sub.add_parser("export", help="write XLSX exports").add_subparsers(dest="what", required=True)
    party = exports.add_parser("party", help="one XLSX per party member: 报到, 承诺/践诺, 请假, volunteering, points")
    party.add_argument("--compound", required=True, help="the compound's code")
    party.add_argument("--year", type=int, required=True)
    party.add_argument("--out", default=".", help="directory to write the files into")
    party.set_defaults(func=cmd_export_party)
    assembly = exports.add_parser("assembly", help="an owners' assembly's ledger for 公示, in the compound's language "
                                  "and time: the tally sheet (every Art. 278 figure and the outcome per motion and "
                                  "candidate) and every ballot (room, area, owners, choice, online / paper / by "
                                  "proxy, who entered it, when)")
    assembly.add_argument("id", type=int, help="the assembly's number, as /results shows it")
    assembly.add_argument("--out", help="the XLSX file to write (default: assembly-ID.xlsx)")
    assembly.set_defaults(func=cmd_export_assembly)
    cases = exports.add_parser("cases", help="the complaints ledger (台账) of a compound for a date range")
    cases.add_argument("--compound", required=True, help="the compound's code")
    cases.add_argument("--from", dest="date_from", type=_day, required=True, help="first day, e.g. 2026-11-01")
    cases.add_argument("--to", dest="date_to", type=_day, required=True, help="last day, e.g. 2026-11-30")
    cases.add_argument("--out", help="the XLSX file to write (default: cases-CODE-FROM-TO.xlsx)")
    cases.set_defaults(func=cmd_export_cases)

    audit = sub.add_parser("audit", help="print the personal-data access log: who was shown whose name, room or "
                           "phone, in which case, when")
    audit.add_argument("--compound", help="only this compound (its code)")
    audit.add_argument("--since", type=_day, help="from this day on, e.g. 2026-11-01")
    audit.set_defaults(func=cmd_audit)

    _organisation_parsers(sub)

    report = sub.add_parser("report", help="write a monthly report (PNG + XLSX)")
    report.add_argument("--month", type=_month, required=True, help="YYYY-MM")
    which = report.add_mutually_exclusive_group(required=True)
    which.add_argument("--compound", help="a compound's code")
    which.add_argument("--street", help="every compound of this street (街道)")
    which.add_argument("--all", action="store_true", help="every compound of the deployment")
    report.add_argument("--out", default=".", help="folder for the files")
    report.set_defaults(func=cmd_report)

    backup = sub.add_parser("backup", help="copy the SQLite database to FILE while the bot runs (PostgreSQL: "
                            "pg_dump)")
    backup.add_argument("file")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="replace the SQLite database by a backup (stop the bot first)")
    restore.add_argument("file")
    restore.set_defaults(func=cmd_restore)

    return parser


def _organisation_parsers(sub: Any) -> None:
    street = sub.add_parser("street", help="streets (街道): create, list, link compounds, add street admins")
    street = street.add_subparsers(dest="action", required=True)
    street.add_parser("create", help="create a street").add_argument("name")
    street.add_parser("list", help="every street with its compounds, departments and admins")
    link = street.add_parser("link", help="the compounds (by code) belong to the street (and a community of it)")
    link.add_argument("street")
    link.add_argument("codes", nargs="+")
    link.add_argument("--community", default="")
    admin = street.add_parser("admin", help="street admins").add_subparsers(dest="admin_action", required=True)
    add = admin.add_parser("add", help="make a person (number or phone) a street admin, or print an invite code")
    add.add_argument("street")
    add.add_argument("who", nargs="?", default="")
    add.add_argument("--invite", action="store_true", help="print a one-time code instead (sent as /join CODE)")
    community = sub.add_parser("community", help="communities (社区) of a street").add_subparsers(dest="action",
                                                                                              required=True)
    create = community.add_parser("create", help="create a community of a street")
    create.add_argument("street")
    create.add_argument("name")
    company = sub.add_parser("company", help="property companies (物业公司)").add_subparsers(dest="action",
                                                                                       required=True)
    create = company.add_parser("create", help="register a property company (or find it) and link the compounds it "
                                "serves")
    create.add_argument("name")
    create.add_argument("compounds", nargs="*")
    create.add_argument("--contact", default="")
    create.add_argument("--invite", action="store_true", help="print a one-time code for a staff member")
    partner = sub.add_parser("partner", help="partner units (共驻共建单位)").add_subparsers(dest="action", required=True)
    create = partner.add_parser("create", help="add a partner unit with its contact person to a compound")
    create.add_argument("compound")
    create.add_argument("name")
    create.add_argument("--category", choices=["school", "hospital", "business", "employer", "other"],
                        default="other")
    create.add_argument("--contact", required=True)
    create.add_argument("--phone", required=True)
    for what, parser in (("street", street), ("community", community), ("company", company), ("partner", partner)):
        for choice in parser.choices.values():
            choice.set_defaults(func=cmd_organisations, what=what)
    admin.choices["add"].set_defaults(func=cmd_organisations, what="street", action="admin")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except Refusal as refusal:
        for line in refusal.lines:
            print(line, file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
