"""Migrations from an empty database: `alembic upgrade heads` builds exactly the schema the SQLModel tables
describe (autogenerate finds nothing to do), and `downgrade base` removes it again."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage import migrate
from storage.db import make_engine
from storage.tables import metadata

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("LINLI_TEST_DATABASE_URL")), reason="runs on its own empty SQLite file"
)


def _diff(sync_conn: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True, "compare_server_default": False})
    return list(compare_metadata(context, metadata))


def _tables(sync_conn: sa.Connection) -> set[str]:
    return set(sa.inspect(sync_conn).get_table_names())


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


def test_commands_refuse_a_database_that_is_not_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import cli

    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert not migrate.is_current(url)
    with pytest.raises(SystemExit, match="linli migrate"):
        cli.main(["console", "--script", os.devnull])
    migrate.upgrade(url)
    assert migrate.is_current(url)
