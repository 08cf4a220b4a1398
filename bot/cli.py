"""The `linli` command: migrate, run, console, and the deployer's tools (compounds, rosters, exports)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.settings import Settings
from storage import migrate as migrations
from storage.db import make_engine, make_sessionmaker, transaction


def _settings() -> Settings:
    return Settings()


def _run_async(factory: Callable[[], Awaitable[int | None]]) -> int:
    return asyncio.run(factory()) or 0  # type: ignore[arg-type]


async def _with_session(settings: Settings, work: Callable[..., Awaitable[int | None]]) -> int:
    engine = make_engine(settings.database_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return (await work(session)) or 0
    finally:
        await engine.dispose()


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    migrations.upgrade(settings.database_url)
    print(f"database is up to date ({_redact(settings.database_url)})")
    return 0


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _platform_configured(settings: Settings) -> bool:
    return bool(settings.telegram_bot_token or settings.wecom_bot_id or settings.wecom_callback_token)


def _require_migrated(settings: Settings) -> None:
    if not migrations.is_current(settings.database_url):
        raise SystemExit(f"The database {_redact(settings.database_url)} is not up to date: run `linli migrate` "
                         "first (`make run` does it for you).")


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    _require_migrated(settings)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not _platform_configured(settings):
        return cmd_console(args)
    if args.workers > 1:
        from bot.workers import supervise

        return supervise(args.workers, settings.database_url)
    from bot.app import serve

    asyncio.run(serve(settings))
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    settings = _settings()
    _require_migrated(settings)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
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

    return asyncio.run(import_roster_cli(_settings(), Path(args.file), args.compound))


def cmd_export_party(args: argparse.Namespace) -> int:
    from storage.party import export_party_cli

    return asyncio.run(export_party_cli(_settings(), args.compound, args.year, Path(args.out)))


def cmd_export_assembly(args: argparse.Namespace) -> int:
    from storage.assembly import export_assembly_cli

    return asyncio.run(export_assembly_cli(_settings().database_url, args.id, Path(args.out) if args.out else None))


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
    from datetime import date
    from zoneinfo import ZoneInfo

    from sqlmodel.ext.asyncio.session import AsyncSession

    from bot.core.i18n import Catalogs
    from handlers.complaints import ledger_labels
    from storage.complaints import day_bounds, ledger_xlsx
    from storage.compounds import compound_by_code

    try:
        first, last = date.fromisoformat(args.date_from), date.fromisoformat(args.date_to)
    except ValueError:
        print("Dates are written as 2026-11-01.", file=sys.stderr)
        return 2
    settings = _settings()

    async def work(session: AsyncSession) -> int:
        compound = await compound_by_code(session, args.compound)
        if compound is None:
            print(f"There is no compound with the code {args.compound}.", file=sys.stderr)
            return 1
        headers, labels = ledger_labels(Catalogs().translator(compound.language or settings.default_language))
        start, end = day_bounds(first, last, ZoneInfo(compound.timezone))
        data = await ledger_xlsx(session, compound, start, end, headers, labels)
        out = Path(args.out or f"cases-{compound.code}-{first:%Y%m%d}-{last:%Y%m%d}.xlsx")
        await asyncio.to_thread(out.write_bytes, data)
        print(out)
        return 0

    return asyncio.run(_with_session(settings, work))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linli", description="邻里 linli — a chatbot for running compounds together")
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
    create.add_argument("--timezone", default="Asia/Shanghai")
    create.add_argument("--street", default="", help="街道: the street office that oversees it")
    create.add_argument("--community", default="", help="社区: the community it belongs to")
    create.set_defaults(func=cmd_compound_create)

    roster = sub.add_parser("roster", help="rosters").add_subparsers(dest="action", required=True)
    importer = roster.add_parser("import", help="load buildings, units, rooms and owners from CSV or XLSX")
    importer.add_argument("file")
    importer.add_argument("--compound", required=True, help="the compound's code")
    importer.set_defaults(func=cmd_roster_import)

    # `linli export cases|party|assembly ...`: each feature adds its exporter here.
    exports = sub.add_parser("export", help="write XLSX exports").add_subparsers(dest="what", required=True)
    party = exports.add_parser("party", help="one XLSX per party member: 报到, 承诺/践诺, 请假, volunteering, points")
    party.add_argument("--compound", required=True, help="the compound's code")
    party.add_argument("--year", type=int, required=True)
    party.add_argument("--out", default=".", help="directory to write the files into")
    party.set_defaults(func=cmd_export_party)
    assembly = exports.add_parser("assembly", help="every ballot of an owners' assembly (room, area, owner, choice, "
                                  "online/paper, time)")
    assembly.add_argument("id", type=int, help="the assembly's number, as /results shows it")
    assembly.add_argument("--out", help="the XLSX file to write (default: assembly-ID.xlsx)")
    assembly.set_defaults(func=cmd_export_assembly)
    cases = exports.add_parser("cases", help="the complaints ledger (台账) of a compound for a date range")
    cases.add_argument("--compound", required=True, help="the compound's code")
    cases.add_argument("--from", dest="date_from", required=True, help="first day, e.g. 2026-11-01")
    cases.add_argument("--to", dest="date_to", required=True, help="last day, e.g. 2026-11-30")
    cases.add_argument("--out", help="the XLSX file to write (default: cases-CODE-FROM-TO.xlsx)")
    cases.set_defaults(func=cmd_export_cases)

    report = sub.add_parser("report", help="write a monthly report (PNG + XLSX)")
    report.add_argument("--month", required=True, help="YYYY-MM")
    which = report.add_mutually_exclusive_group(required=True)
    which.add_argument("--compound", help="a compound's code")
    which.add_argument("--street", help="every compound of this street (街道)")
    which.add_argument("--all", action="store_true", help="every compound of the deployment")
    report.add_argument("--out", default=".", help="folder for the files")
    report.set_defaults(func=cmd_report)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    raise SystemExit(main())
