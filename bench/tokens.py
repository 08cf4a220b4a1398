"""Button tokens and SQLite's commit: what a /start's six buttons cost to insert and commit, kept as one row each
(as before 0058_button_sets: the `buttontoken` table, with plain random tokens and with tokens of a sortable prefix
of the moment) and as one set for the message (`storage.conversations.ButtonSet`, what the bot keeps now). A
fresh SQLite file with the message path's pragmas (WAL, synchronous=NORMAL, no checkpoint in a commit), `--stored`
rows in it first; then `--messages` transactions of one message's buttons each. Prints the time per
transaction, per commit, and the write-ahead log written per commit.

    .venv/bin/python -m bench.tokens
    .venv/bin/python -m bench.tokens --stored 200000 --messages 3000
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from storage.conversations import ButtonSet, new_set_key
from storage.db import sqlite_time

BUTTONS_A_MESSAGE = 6  # a /start menu's buttons
# The table a button had a row of its own in, as migrations 0001 and 0015 made it.
_ROW_A_BUTTON = [
    "CREATE TABLE buttontoken (token VARCHAR(16) NOT NULL PRIMARY KEY, action VARCHAR(60) NOT NULL, args JSON NOT "
    "NULL, person_id INTEGER, compound_id INTEGER, conversation_key VARCHAR(24), step VARCHAR(40), label "
    "VARCHAR(64), created_at DATETIME NOT NULL, expires_at DATETIME)",
    "CREATE INDEX ix_buttontoken_expires_at ON buttontoken (expires_at)",
    "CREATE INDEX ix_buttontoken_conversation_key ON buttontoken (conversation_key)",
]
_INSERT_ROW = ("INSERT INTO buttontoken (token, action, args, person_id, compound_id, conversation_key, step, "
               "label, created_at, expires_at) VALUES (?, 'start.menu', ?, ?, 1, NULL, NULL, NULL, ?, ?)")
_INSERT_SET = ("INSERT INTO buttonset (key, buttons, person_id, compound_id, conversation_key, step, created_at, "
               "expires_at) VALUES (?, ?, ?, 1, NULL, NULL, ?, ?)")
_ARGS = {"group": "cases"}


def _random() -> str:
    return secrets.token_urlsafe(8)


def _set_schema() -> list[str]:
    table: sa.Table = ButtonSet.__table__  # type: ignore[attr-defined]
    dialect = sqlite_dialect.dialect()
    return [str(CreateTable(table).compile(dialect=dialect))] + [
        str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes]


def _rows_a_button(make: Callable[[], str]) -> Callable[[int, datetime], tuple[str, list[tuple[Any, ...]]]]:
    args = json.dumps(_ARGS)

    def message(person: int, moment: datetime) -> tuple[str, list[tuple[Any, ...]]]:
        return _INSERT_ROW, [(make(), args, person, sqlite_time(moment), sqlite_time(moment + timedelta(days=30)))
                             for _ in range(BUTTONS_A_MESSAGE)]
    return message


def _one_set(person: int, moment: datetime) -> tuple[str, list[tuple[Any, ...]]]:
    buttons = json.dumps({str(place): {"action": "start.menu", "args": _ARGS} for place in range(BUTTONS_A_MESSAGE)})
    return _INSERT_SET, [(new_set_key(), buttons, person, sqlite_time(moment),
                          sqlite_time(moment + timedelta(days=30)))]


def run(path: Path, schema: list[str], message: Callable[[int, datetime], tuple[str, list[tuple[Any, ...]]]],
        stored: int, messages: int) -> tuple[float, float, float]:
    """(ms a transaction, ms a commit, KiB of log a commit)."""
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "wal_autocheckpoint=0"):
        connection.execute(f"PRAGMA {pragma}")
    for statement in schema:
        connection.execute(statement)
    now = datetime.now(UTC)
    connection.execute("BEGIN")
    for n in range(0, stored, BUTTONS_A_MESSAGE):
        connection.executemany(*message(n % 10_000 + 1, now))
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    committing = 0.0
    started = time.perf_counter()
    for n in range(messages):
        moment = now + timedelta(seconds=n)
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(*message(n % 10_000 + 1, moment))
        before = time.perf_counter()
        connection.execute("COMMIT")
        committing += time.perf_counter() - before
    took = time.perf_counter() - started
    log = os.path.getsize(f"{path}-wal")
    connection.close()
    return took / messages * 1000, committing / messages * 1000, log / messages / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stored", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    print(f"{options.stored} buttons stored, {options.messages} transactions of a message's {BUTTONS_A_MESSAGE}")
    layouts: list[tuple[str, list[str], Callable[[int, datetime], tuple[str, list[tuple[Any, ...]]]]]] = [
        ("a row each, random token", _ROW_A_BUTTON, _rows_a_button(_random)),
        ("a row each, sorted prefix", _ROW_A_BUTTON, _rows_a_button(new_set_key)),
        ("one set (ButtonSet)", _set_schema(), _one_set)]
    with tempfile.TemporaryDirectory() as directory:
        for round_ in range(options.rounds):
            for number, (name, schema, message) in enumerate(layouts):
                path = Path(directory) / f"{round_}-{number}.db"
                per_message, commit, log = run(path, schema, message, options.stored, options.messages)
                print(f"{name:28s} {per_message:6.3f} ms a transaction  commit {commit:6.3f} ms  "
                      f"log {log:5.1f} KiB a commit")


if __name__ == "__main__":
    main()
