"""Button tokens and SQLite's commit: what a /start's six tokens cost to insert and commit, with tokens as
`storage.conversations.new_token` makes them (a sortable prefix of the moment, then 64 random bits) and as plain
random text (`secrets.token_urlsafe(8)`, what it made before). A fresh SQLite file with the message path's pragmas
(WAL, synchronous=NORMAL, no checkpoint in a commit) and the real `buttontoken` table, `--stored` tokens in it
first; then `--messages` transactions of six tokens each. Prints the time per transaction, per commit, and the
write-ahead log written per commit.

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

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from storage.conversations import ButtonToken, new_token
from storage.db import sqlite_time

TOKENS_A_MESSAGE = 6  # a /start menu's buttons


def _random() -> str:
    return secrets.token_urlsafe(8)


def _schema() -> list[str]:
    table: sa.Table = ButtonToken.__table__  # type: ignore[attr-defined]
    dialect = sqlite_dialect.dialect()
    return [str(CreateTable(table).compile(dialect=dialect))] + [
        str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes]


def run(path: Path, make: Callable[[], str], stored: int, messages: int) -> tuple[float, float, float]:
    """(ms a transaction, ms a commit, KiB of log a commit)."""
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "wal_autocheckpoint=0"):
        connection.execute(f"PRAGMA {pragma}")
    for statement in _schema():
        connection.execute(statement)
    insert = ("INSERT INTO buttontoken (token, action, args, person_id, compound_id, conversation_key, step, label, "
              "created_at, expires_at) VALUES (?, 'start.menu', ?, ?, 1, NULL, NULL, NULL, ?, ?)")
    now = datetime.now(UTC)
    args = json.dumps({"group": "cases"})
    connection.execute("BEGIN")
    connection.executemany(insert, [(make(), args, n % 10_000 + 1, sqlite_time(now), sqlite_time(now + timedelta(
        days=30))) for n in range(stored)])
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    committing = 0.0
    started = time.perf_counter()
    for n in range(messages):
        moment = now + timedelta(seconds=n)
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(insert, [(make(), args, n % 10_000 + 1, sqlite_time(moment), sqlite_time(
            moment + timedelta(days=30))) for _ in range(TOKENS_A_MESSAGE)])
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
    print(f"{options.stored} tokens stored, {options.messages} transactions of {TOKENS_A_MESSAGE} tokens")
    with tempfile.TemporaryDirectory() as directory:
        for round_ in range(options.rounds):
            for name, make in (("random (token_urlsafe)", _random), ("new_token (sorted prefix)", new_token)):
                path = Path(directory) / f"{round_}-{make.__name__}.db"
                per_message, commit, log = run(path, make, options.stored, options.messages)
                print(f"{name:28s} {per_message:6.3f} ms a transaction  commit {commit:6.3f} ms  "
                      f"log {log:5.1f} KiB a commit")


if __name__ == "__main__":
    main()
