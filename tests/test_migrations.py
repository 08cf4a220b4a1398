"""Migrations from an empty database: `alembic upgrade heads` builds exactly the schema the SQLModel tables
describe (autogenerate finds nothing to do), and `downgrade base` removes it again."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage import migrate
from storage.conversations import get_token, typed_choice
from storage.db import make_engine, make_sessionmaker
from storage.tables import metadata
from tests.conftest import _pg_admin, _pg_url, on_postgres

own_sqlite_file = pytest.mark.skipif(
    bool(os.environ.get("LINLI_TEST_DATABASE_URL")), reason="runs on its own empty SQLite file"
)


def _diff(sync_conn: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True, "compare_server_default": False})
    return list(compare_metadata(context, metadata))


def _tables(sync_conn: sa.Connection) -> set[str]:
    return set(sa.inspect(sync_conn).get_table_names())


@own_sqlite_file
async def test_upgrade_matches_the_models_and_downgrade_removes_everything(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(_tables)
            diff = await conn.run_sync(_diff)
            heads = set(ScriptDirectory.from_config(migrate.alembic_config(url)).get_heads())
            applied = {row[0] for row in (await conn.execute(sa.text("SELECT version_num FROM alembic_version")))}
        assert {t.name for t in metadata.sorted_tables} <= tables
        assert applied == heads
        assert diff == [], "the migrations and the models differ (add or fix a migration):\n" + "\n".join(
            map(repr, diff))
    finally:
        await engine.dispose()

    migrate.downgrade(url, "base")
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            left = await conn.run_sync(_tables)
        assert left <= {"alembic_version"}
    finally:
        await engine.dispose()

    # And up again: every downgrade left the database in a state its upgrade can build on.
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


@own_sqlite_file
def test_commands_refuse_a_database_that_is_not_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import cli

    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert not migrate.is_current(url)
    with pytest.raises(SystemExit, match="linli migrate"):
        cli.main(["console", "--script", os.devnull])
    migrate.upgrade(url)
    assert migrate.is_current(url)


async def test_buttons_sent_before_button_sets_still_work_after(tmp_path: Path) -> None:
    """A message's buttons became one row (0058_button_sets): the buttons already sent, a row each, keep their
    meaning under the same token, and a step's typed label still counts as pressing it."""
    if on_postgres():
        name = f"m_{uuid.uuid4().hex[:12]}"
        await _pg_admin(f"CREATE DATABASE {name}")
        url = _pg_url(name)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'before.db'}"
    try:
        for before in ("0045_conversation_message", "0057_parked_press"):
            await asyncio.to_thread(migrate.upgrade, url, before)
        engine = make_engine(url)
        rows = [("AbCdE0123456789x", "start.menu", '{"group": "cases"}', None, None, None),
                ("AbCdF0123456789y", "~step", '{"value": "2"}', "convkey", "room", "二单元")]
        async with engine.begin() as conn:
            for token, action, args, key, step, label in rows:
                await conn.execute(sa.text(
                    "INSERT INTO buttontoken (token, action, args, conversation_key, step, label, created_at) "
                    "VALUES (:token, :action, :args, :key, :step, :label, :now)"),
                    {"token": token, "action": action, "args": args, "key": key, "step": step, "label": label,
                     "now": "2026-12-01 08:00:00.000000" if not on_postgres() else datetime(2026, 12, 1, tzinfo=UTC)})
        await engine.dispose()
        await asyncio.to_thread(migrate.upgrade, url)
        engine = make_engine(url)
        async with make_sessionmaker(engine)() as session:
            menu = await get_token(session, "AbCdE0123456789x")
            assert menu is not None and (menu.action, menu.args, menu.conversation_key) == (
                "start.menu", {"group": "cases"}, None)
            step = await get_token(session, "AbCdF0123456789y")
            assert step is not None and (step.action, step.args, step.conversation_key, step.step, step.label) == (
                "~step", {"value": "2"}, "convkey", "room", "二单元")
            assert await get_token(session, "AbCdE0123456789z") is None  # another place in a set of one
            # typed_choice only reads a person's own step buttons: these have nobody's, as none was stored here.
            assert await typed_choice(session, 1, "convkey", "room", "二单元") is None
        await engine.dispose()
    finally:
        if on_postgres():
            await _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
