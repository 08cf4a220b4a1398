"""Apply (or create) Alembic migrations from code: `linli migrate`, `make run` and the tests use this."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(MIGRATIONS / "versions"))
    return config


def _in_thread(target: object) -> None:
    # Alembic's async env runs its own event loop; a thread keeps it clear of a caller's running loop.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()  # type: ignore[operator]
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def upgrade(url: str, revision: str = "heads") -> None:
    _in_thread(lambda: command.upgrade(alembic_config(url), revision))


def is_current(url: str) -> bool:
    """Whether the database has every migration applied (commands check this before they start)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import pool
    from sqlalchemy.engine import Connection

    from storage.db import make_engine

    heads: list[set[str]] = []

    def current(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    async def read() -> None:
        engine = make_engine(url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                heads.append(await connection.run_sync(current))
        finally:
            await engine.dispose()

    _in_thread(lambda: asyncio.run(read()))
    return heads[0] == set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def downgrade(url: str, revision: str) -> None:
    _in_thread(lambda: command.downgrade(alembic_config(url), revision))


def revision(url: str, message: str, head: str = "head", branch_label: str | None = None) -> None:
    """Autogenerate a migration against a database at the current heads (for developers)."""
    _in_thread(lambda: command.revision(alembic_config(url), message=message, autogenerate=True, head=head,
                                        branch_label=branch_label))
