"""The `linli` command as an operator meets it: every refused setting or argument is one line naming it, in the
operator's language, with exit status 2 and no traceback; compounds listed, shown and changed; a backup restored;
the console chat free of the scheduler's log lines. Runs `bot.cli.main` in-process on a copy of the test database
(and `python -m bot` where a process of its own matters)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import pytest
from sqlmodel import select

from bot import cli
from bot.core.i18n import LANGUAGES
from bot.settings import Language, Settings
from storage.compounds import COMPOUND_SETTINGS, Compound
from storage.db import make_engine, make_sessionmaker, transaction
from tests.conftest import sqlite_url

ROOT = Path(__file__).resolve().parents[1]
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def database(sqlite_template_db: str, tmp_path: Path) -> Path:
    path = tmp_path / "linli.db"
    shutil.copy(sqlite_template_db, path)
    return path


@pytest.fixture
def linli(database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """`linli ARGS` in this process with only the given settings: (exit status, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("DATABASE_URL", sqlite_url(database))
    capsys.readouterr()

    def run(*argv: str, **env: str) -> tuple[int, str, str]:
        with monkeypatch.context() as scoped:
            for key, value in env.items():
                scoped.setenv(key, value)
            status = cli.main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def compound_row(database: Path, code: str = "XFL") -> Compound:
    async def read() -> Compound:
        engine = make_engine(sqlite_url(database))
        try:
            async with transaction(make_sessionmaker(engine)) as session:
                return (await session.exec(select(Compound).where(Compound.code == code))).one()
        finally:
            await engine.dispose()

    return asyncio.run(read())


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ---- settings refused at start -------------------------------------------------------------------------------

BAD_SETTINGS = [
    ({"DEFAULT_LANGUAGE": "fr"}, "DEFAULT_LANGUAGE", "zh_TW"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL", "WARNING"),
    ({"TIMEZONE": "Mars/Base"}, "TIMEZONE", "Asia/Shanghai"),
    ({"TIMEZONE": "Asia"}, "TIMEZONE", "Asia/Shanghai"),
    ({"DATABASE_URL": "postgres://linli:hunter2@db.example.org/linli"}, "DATABASE_URL",
     "postgresql+asyncpg://linli:***@db.example.org/linli"),
    ({"DATABASE_URL": "postgresql://linli:hunter2@db.example.org/linli"}, "DATABASE_URL", "postgresql+asyncpg://"),
    ({"DATABASE_URL": "sqlite:///linli.db"}, "DATABASE_URL", "sqlite+aiosqlite:///linli.db"),
    ({"DATABASE_URL": "mysql://linli@db/linli"}, "DATABASE_URL", "sqlite+aiosqlite:///"),
    ({"DATABASE_URL": "sqlite+aiosqlite:///no-such-folder/linli.db"}, "DATABASE_URL", "mkdir -p"),
    ({"DATABASE_URL": "postgresql+asyncpg://linli:hunter2@127.0.0.1:1/linli"}, "DATABASE_URL", "127.0.0.1:1"),
    ({"WECOM_BOT_ID": "aibXXXX"}, "WECOM_BOT_SECRET", "WECOM_BOT_ID"),
    ({"WECOM_BOT_SECRET": "hunter2"}, "WECOM_BOT_ID", "WECOM_BOT_SECRET"),
    ({"WECOM_CALLBACK_TOKEN": "hunter2"}, "WECOM_CALLBACK_AES_KEY", "WECOM_CALLBACK_TOKEN"),
    ({"WECOM_CALLBACK_TOKEN": "tok", "WECOM_CALLBACK_AES_KEY": "hunter2"}, "WECOM_CALLBACK_AES_KEY", "43"),
    ({"WECOM_CORP_ID": "ww123"}, "WECOM_CONTACT_SECRET", "WECOM_CORP_ID"),
    ({"TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram/webhook"}, "TELEGRAM_WEBHOOK_SECRET",
     "TELEGRAM_WEBHOOK_URL"),
    ({"TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram/webhook", "TELEGRAM_WEBHOOK_SECRET": "s3cret"},
     "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_URL"),
    ({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_WEBHOOK_URL": "https://b.example.org/",
      "TELEGRAM_WEBHOOK_SECRET": "hunter2 with spaces"}, "TELEGRAM_WEBHOOK_SECRET", "A-Z"),
    ({"HTTP_PORT": "eighty"}, "HTTP_PORT", ""),
    ({"WECOM_CALLBACK_WINDOW_SECONDS": "0"}, "WECOM_CALLBACK_WINDOW_SECONDS", "1"),
    ({"DEMO": "maybe"}, "DEMO", ""),
]


@pytest.mark.parametrize(("env", "setting", "hint"), BAD_SETTINGS,
                         ids=[f"{setting}-{n}" for n, (_env, setting, _hint) in enumerate(BAD_SETTINGS)])
def test_a_refused_setting_is_one_line_naming_it(linli: Run, env: dict[str, str], setting: str, hint: str) -> None:
    status, out, err = linli("compound", "list", **env)
    assert status == 2
    line = one_line(err)
    assert line.startswith(f"设置 {setting}："), line  # zh_CN: the operator's language by default
    assert hint in line
    assert "hunter2" not in line and "hunter2" not in out  # secrets and passwords are never shown
    assert out == ""


def test_a_missing_sqlite_folder_is_refused_not_created(linli: Run, tmp_path: Path) -> None:
    status, _out, err = linli("migrate", DATABASE_URL=sqlite_url(tmp_path / "data" / "linli.db"))
    assert status == 2 and "DATABASE_URL" in one_line(err)
    assert not (tmp_path / "data").exists()


def test_several_refused_settings_each_get_their_line(linli: Run) -> None:
    status, _out, err = linli("compound", "list", TIMEZONE="Mars/Base", LOG_LEVEL="loud")
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 2 and any("TIMEZONE" in line for line in lines) and any("LOG_LEVEL" in line for line in lines)


def test_messages_follow_the_operators_language(linli: Run) -> None:
    _status, _out, english = linli("compound", "list", DEFAULT_LANGUAGE="en", TIMEZONE="Mars/Base")
    assert one_line(english) == "Setting TIMEZONE: Mars/Base is not a time zone: write one like Asia/Shanghai"
    _status, _out, traditional = linli("compound", "list", DEFAULT_LANGUAGE="zh_TW", TIMEZONE="Mars/Base")
    assert one_line(traditional).startswith("設定 TIMEZONE：")
    # A refused DEFAULT_LANGUAGE cannot choose the language: the default, zh_CN, speaks.
    _status, _out, refused = linli("compound", "list", DEFAULT_LANGUAGE="fr")
    assert one_line(refused).startswith("设置 DEFAULT_LANGUAGE：")


def test_secrets_are_secret_types_never_shown() -> None:
    given: dict[str, Any] = dict(telegram_bot_token="123:hunter2", wecom_bot_id="aib", wecom_bot_secret="hunter2",
                                 wecom_callback_token="hunter2", wecom_corp_id="ww", wecom_contact_secret="hunter2",
                                 wecom_callback_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
    settings = Settings(_env_file=None, **given)  # type: ignore[call-arg]
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())
    assert settings.telegram_bot_token.get_secret_value() == "123:hunter2"


def test_the_example_settings_are_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    assert Settings(_env_file=ROOT / ".env.example").database_url == "sqlite+aiosqlite:///linli.db"  # type: ignore[call-arg]


def test_languages_and_log_levels_are_fixed_choices() -> None:
    assert set(get_args(Language)) == set(LANGUAGES)
    assert Settings(_env_file=None, log_level="debug").log_level == "DEBUG"  # type: ignore[call-arg, arg-type]


# ---- arguments -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "named"), [
    (("report", "--month", "2026-13", "--all"), "--month"),
    (("report", "--month", "November", "--compound", "XFL"), "--month"),
    (("export", "cases", "--compound", "XFL", "--from", "2026-02-30", "--to", "2026-03-01"), "--from"),
    (("compound", "create", "--name", "X", "--code", "X", "--timezone", "Mars/Base"), "--timezone"),
    (("report", "--month", "2026-11"), "--compound"),
    (("export", "assembly", "first"), "id"),
])
def test_a_wrong_argument_is_one_line_naming_it(linli: Run, argv: tuple[str, ...], named: str) -> None:
    status, out, err = linli(*argv)
    assert status == 2 and out == ""
    assert named in one_line(err)


def test_a_month_is_read_and_the_report_written(linli: Run, tmp_path: Path) -> None:
    status, out, _err = linli("report", "--month", "2026-1", "--compound", "XFL", "--out", str(tmp_path / "r"),
                              DEFAULT_LANGUAGE="en")
    assert status == 0
    assert "report-XFL-2026-01.xlsx" in out


# ---- linli compound list / show / set / unset ----------------------------------------------------------------


def test_compound_list_and_show_print_the_codes_again(linli: Run, database: Path) -> None:
    status, out, _err = linli("compound", "list", DEFAULT_LANGUAGE="en")
    assert status == 0
    assert re.search(r"XFL\s+幸福里.*XFL2026", out)
    status, out, _err = linli("compound", "show", "xfl", DEFAULT_LANGUAGE="en")
    assert status == 0
    assert "Invite code for residents: XFL2026" in out
    assert "complaints.respond_hours = 24  (default)" in out
    status, _out, err = linli("compound", "show", "NOPE")
    assert status == 2 and "NOPE" in one_line(err)


def test_compound_set_checks_the_key_and_the_value(linli: Run, database: Path) -> None:
    from storage.complaints import deadline_settings

    status, out, _err = linli("compound", "set", "XFL", "complaints.respond_hours", "12")
    assert status == 0 and "complaints.respond_hours = 12" in out
    compound = compound_row(database)
    assert compound.settings["complaints.respond_hours"] == 12
    assert deadline_settings(compound)[0] == 12  # the feature reads what was set
    assert linli("compound", "set", "XFL", "assembly.reminders", "Opening, 24h")[0] == 0
    assert linli("compound", "set", "XFL", "timezone", "Asia/Urumqi")[0] == 0
    assert linli("compound", "set", "XFL", "complaints.routing", '{"noise": {"level": 2, "role": "property"}}')[0] == 0
    compound = compound_row(database)
    assert compound.timezone == "Asia/Urumqi" and compound.settings["assembly.reminders"] == "opening,24h"

    refused = [
        (("complaints.respond_hours", "soon"), "complaints.respond_hours"),
        (("complaints.respond_hours", "0"), "complaints.respond_hours"),
        (("complaints.deadline", "3"), "complaints.deadline"),
        (("volunteer_reminder_hours", "72"), "48"),
        (("organiser_reminder_time", "25:00"), "organiser_reminder_time"),
        (("assembly_online_replaces_paper", "maybe"), "assembly_online_replaces_paper"),
        (("assembly.reminders", "opening, halfway, 72h, 48h, 24h"), "assembly.reminders"),
        (("complaints.routing", '{"noise": {"role": "boss"}}'), "complaints.routing"),
        (("board_schedule", '{"day_of_week": "someday"}'), "board_schedule"),
        (("timezone", "Mars/Base"), "timezone"),
        (("language", "fr"), "language"),
    ]
    for (key, value), named in refused:
        status, out, err = linli("compound", "set", "XFL", key, value)
        assert status == 2 and out == "", (key, value)
        assert named in one_line(err)
    after = compound_row(database)
    assert after.settings == compound.settings and after.timezone == "Asia/Urumqi"  # nothing refused was stored

    status, out, _err = linli("compound", "unset", "XFL", "complaints.respond_hours", DEFAULT_LANGUAGE="en")
    assert status == 0 and "default (24)" in out
    assert "complaints.respond_hours" not in compound_row(database).settings


def test_the_known_settings_are_the_ones_the_features_read() -> None:
    from storage import board, complaints, meetings, points, property, volunteering

    defaults = {key: spec.default for key, spec in COMPOUND_SETTINGS.items()}
    assert defaults["complaints.respond_hours"] == complaints.RESPOND_HOURS
    assert {int(k): v for k, v in defaults["complaints.resolve_days"].items()} == complaints.RESOLVE_DAYS
    assert defaults["complaints.remind_hours"] == complaints.REMIND_AFTER.total_seconds() / 3600
    assert defaults["complaints.close_unrated_hours"] == complaints.CLOSE_UNRATED_AFTER.total_seconds() / 3600
    assert defaults["points_per_hour"] == points.DEFAULT_HOURLY_RATE
    assert defaults["points_per_activity"] == points.DEFAULT_ACTIVITY_RATE
    assert defaults["yuan_per_point"] == points.DEFAULT_YUAN_PER_POINT
    assert defaults["volunteer_reminder_hours"] == volunteering.DEFAULT_REMINDER_HOURS
    assert defaults["organiser_reminder_time"] == volunteering.DEFAULT_ORGANISER_REMINDER
    assert defaults["meeting_reminder_minutes"] == list(meetings.DEFAULT_REMINDER_MINUTES)
    assert defaults["board_schedule"] == board.DEFAULT_SCHEDULE
    for key, value in property.DEFAULTS.items():
        assert defaults[f"property.{key}"] == value
    # Every key a feature reads with compound_setting is a known one.
    read: set[str] = set()
    for folder in ("handlers", "storage"):
        for path in (ROOT / folder).rglob("*.py"):
            read |= set(re.findall(r"compound_setting\(\s*\w+,\s*\"([^\"]+)\"", path.read_text(encoding="utf-8")))
    assert read and read <= set(COMPOUND_SETTINGS), read - set(COMPOUND_SETTINGS)


# ---- linli backup / linli restore ----------------------------------------------------------------------------


def test_backup_and_restore_round_trip(linli: Run, database: Path, tmp_path: Path) -> None:
    saved = tmp_path / "backups" / "linli-2026-11-23.db"
    saved.parent.mkdir()
    status, out, _err = linli("backup", str(saved))
    assert status == 0 and str(saved) in out
    assert linli("backup", str(saved))[0] == 2  # an existing file is never overwritten

    assert linli("compound", "set", "XFL", "name", "改过的名字")[0] == 0
    assert compound_row(database).name == "改过的名字"
    status, out, err = linli("restore", str(saved))
    assert status == 0, err
    assert compound_row(database).name == "幸福里"  # the change made after the backup is gone
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    not_a_backup = tmp_path / "notes.db"
    not_a_backup.write_text("not a database" * 100)
    status, _out, err = linli("restore", str(not_a_backup))
    assert status == 2 and "notes.db" in one_line(err)
    assert compound_row(database).name == "幸福里"


def test_restore_is_refused_while_the_bot_runs(linli: Run, database: Path, tmp_path: Path) -> None:
    saved = tmp_path / "saved.db"
    assert linli("backup", str(saved))[0] == 0
    env = {k: v for k, v in os.environ.items() if k.upper() not in {n.upper() for n in Settings.model_fields}}
    env.update(DATABASE_URL=sqlite_url(database), PYTHONPATH=str(ROOT))
    bot = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert bot.stdin is not None and bot.stdout is not None
        bot.stdin.write("/help\n")
        bot.stdin.flush()
        while "bot →" not in (line := bot.stdout.readline()):
            assert line, "the console ended before answering"
        status, _out, err = linli("restore", str(saved))
        assert status == 2 and str(database) in one_line(err)
    finally:
        bot.stdin.close()  # type: ignore[union-attr]
        bot.wait(timeout=30)
    assert linli("restore", str(saved))[0] == 0  # stopped: now it restores


def test_postgresql_gets_pg_dump_guidance(linli: Run) -> None:
    url = "postgresql+asyncpg://linli:hunter2@db.example.org:5432/linli?ssl=require"
    status, out, err = linli("backup", "linli.dump", DATABASE_URL=url, DEFAULT_LANGUAGE="en")
    line = one_line(err)
    assert status == 2 and out == ""
    assert "pg_dump --format=custom --file=linli.dump 'postgresql://linli@db.example.org:5432/linli?sslmode=require'" \
        in line
    assert "hunter2" not in line
    status, _out, err = linli("restore", "linli.dump", DATABASE_URL=url, DEFAULT_LANGUAGE="en")
    assert status == 2 and "pg_restore" in one_line(err)


# ---- the console chat ----------------------------------------------------------------------------------------


def test_the_console_shows_the_chat_and_no_log_lines(database: Path, tmp_path: Path) -> None:
    env: dict[str, Any] = {k: v for k, v in os.environ.items()
                           if k.upper() not in {n.upper() for n in Settings.model_fields}}
    env.update(DATABASE_URL=sqlite_url(database), PYTHONPATH=str(ROOT), LOG_LEVEL="INFO")
    done = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, input="/help\n",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "bot →" in done.stdout
    assert "apscheduler" not in done.stderr + done.stdout and " INFO " not in done.stderr + done.stdout
