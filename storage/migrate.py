"""Apply (or create) Alembic migrations from code: `linli migrate`, `make run` and the tests use this."""

from __future__ import annotations

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


def downgrade(url: str, revision: str) -> None:
    _in_thread(lambda: command.downgrade(alembic_config(url), revision))


def revision(url: str, message: str, head: str = "head", branch_label: str | None = None) -> None:
    """Autogenerate a migration against a database at the current heads (for developers)."""
    _in_thread(lambda: command.revision(alembic_config(url), message=message, autogenerate=True, head=head,
                                        branch_label=branch_label))
