"""Shared fixtures: a migrated SQLite database with the demo district (migrated once, copied per test), the
app on a frozen clock, and a console to drive it as people do."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import App, build_app
from bot.core.clock import Clock
from bot.settings import Settings
from bot.transports.console import Console
from storage import migrate
from storage.db import make_engine, make_sessionmaker, transaction
from storage.demo import seed_demo

# Monday 2026-11-23 09:00 in Shanghai: every test starts here.
START = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Migrations run once per test session; each test gets a copy of the result."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(sqlite_url(path))

    async def seed() -> None:
        engine = make_engine(sqlite_url(path))
        async with transaction(make_sessionmaker(engine)) as session:
            await seed_demo(session)
        await engine.dispose()

    asyncio.run(seed())
    yield path


@pytest.fixture
def db_url(template_db: Path, tmp_path: Path) -> str:
    if os.environ.get("LINLI_TEST_DATABASE_URL"):
        return os.environ["LINLI_TEST_DATABASE_URL"]
    path = tmp_path / "linli.db"
    shutil.copy(template_db, path)
    return sqlite_url(path)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(_env_file=None, database_url=db_url)  # type: ignore[call-arg]


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[App]:
    application = build_app(settings, clock=Clock(START, frozen=True))
    yield application
    await application.close()


@pytest.fixture
def console(app: App) -> Console:
    return Console(app)
