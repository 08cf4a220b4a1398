"""The per-message path (storage/intake.py): what every message writes besides its handler's own work."""

from __future__ import annotations

import itertools
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import SQLModel, select

from bot.app import App, build_app
from bot.core.clock import Clock
from bot.core.types import Incoming
from bot.settings import Settings
from bot.transports.console import Console
from storage.demo import DEMO_INVITE
from storage.people import Identity, Role
from tests.conftest import START, _pg_admin, _pg_url, add_console_person, on_postgres, sqlite_url
from tests.test_foundation import join_until_phone


@contextmanager
def statements(console: Console) -> Iterator[list[str]]:
    """The SQL statements the engine runs inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    engine = console.app.core.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def last_seen(console: Console, user: str) -> Any:
    async with console.app.core.sessions() as session:
        return (await session.exec(select(Identity.last_seen_at).where(Identity.platform_user_id == user))).one()


async def test_last_seen_is_written_behind(console: Console) -> None:
    console.app.core.intake = False  # every statement through the engine's events, where they are counted
    console.as_("路人甲")
    await console.say("/help")
    first = await last_seen(console, "路人甲")
    assert first == console.app.core.clock.now()
    console.app.core.clock.advance(minutes=4)
    with statements(console) as run:
        await console.say("/help")
    assert not [s for s in run if s.startswith("UPDATE identity")], run  # within five minutes: nothing written
    assert await last_seen(console, "路人甲") == first
    console.app.core.clock.advance(minutes=2)
    with statements(console) as run:
        await console.say("/help")
    assert len([s for s in run if s.startswith("UPDATE identity")]) == 1
    assert await last_seen(console, "路人甲") == first + timedelta(minutes=6)


async def skip_statements(console: Console, name: str) -> list[str]:
    """The statements of a join request's last step (Skip: the secretaries are asked to approve)."""
    await console.say(f"/join {DEMO_INVITE}")
    for label in ("2栋", "2单元", "202", "业主"):
        await console.press(label)
    with statements(console) as run:
        await console.press("跳过")
    assert "等待支部书记审核" in console.last.text
    # The message's own transaction, up to its update claim (the console then delivers the outbox).
    return run[: next(i for i, s in enumerate(run) if s.startswith("INSERT INTO processedupdate")) + 1]


async def test_join_request_fans_out_in_a_fixed_number_of_statements(console: Console) -> None:
    console.app.core.intake = False  # every statement through the engine's events, where they are counted
    console.as_("路人甲")
    one = await skip_statements(console, "路人甲")
    for n in range(5):
        await add_console_person(console.app, f"书记{n}", 1, Role.SECRETARY)
        console.as_(f"书记{n}")
        await console.say("/help")  # a private chat to write to
    console.as_("路人乙")
    six = await skip_statements(console, "路人乙")
    assert len(six) == len(one)
    for n in range(5):
        assert "新成员申请：路人乙" in console.last_for(f"书记{n}").text


# ---- the plain-SQL path against the ORM's ---------------------------------------------------------------------


async def conversation_of_residents(console: Console) -> None:
    """Newcomers joining (approved by the roster phone, and by the secretary), menus, a typed answer, a stale
    button, a repeated update, someone who writes too fast, a group's message and a new group."""
    await join_until_phone(console, "路人甲")
    await console.press("跳过")
    await join_until_phone(console, "路人乙", room="201", relation="业主")
    await console.contact("13900000000")
    console.as_("王书记")
    await console.say("/start")
    await console.press("通过")
    await console.press("通过")  # a second press
    for name in ("路人甲", "路人乙", "王书记"):
        console.as_(name)
        await console.say("/help")
        await console.say("/start")
        console.app.core.clock.advance(minutes=3)
    console.as_("路人丙")
    await console.say(f"/join {DEMO_INVITE}")
    await console.say("2栋")  # the button's label typed
    await console.say("这是什么")
    console.app.core.clock.advance(minutes=40)
    await console.say("3单元")  # after the conversation expired
    console.app.core.clock.advance(minutes=2)
    for _ in range(10):  # over the limit: one polite answer, then nothing
        await console.say("/help")
    console.as_("王书记")
    console.chat = "group"
    await console.say("/help")
    console.chat = "private"


async def every_row(app: App) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted (the update ids the console numbers per process, the delivery pace in real
    time and the delivering worker's name are left out)."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with app.core.sessions() as session:
        for table in SQLModel.metadata.sorted_tables:
            columns = [c for c in table.columns if c.name != "update_id" and (table.name, c.name) not in (
                ("outboxpace", "next_at"), ("outboxmessage", "claimed_by"))]
            found = (await session.execute(sa.select(*columns))).all()
            rows[table.name] = sorted((tuple(_bot_time(value) for value in row) for row in found), key=repr)
    return rows


def _bot_time(value: Any) -> Any:
    """A moment stamped by the machine's clock (a row's default `created_at`), not the bot's, differs between two
    runs whatever the path: it is compared as such."""
    return "machine time" if isinstance(value, datetime) and value > START + timedelta(days=5) else value


async def database_of(template_db: str, path: Path) -> str:
    """A fresh database made from the template: a file on SQLite, a database of the test server on PostgreSQL
    (dropped with the test server)."""
    if on_postgres():
        name = f"t_{uuid.uuid4().hex[:12]}"
        await _pg_admin(f"CREATE DATABASE {name} TEMPLATE {template_db}")
        return _pg_url(name)
    shutil.copy(template_db, path)
    return sqlite_url(path)


async def test_the_plain_sql_path_writes_what_the_orm_path_writes(
        template_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[dict[str, list[tuple[Any, ...]]]] = []
    for plain in (True, False):
        counter = itertools.count(1)
        # Button sets' and conversations' keys numbered, so that both runs make the same ones.
        monkeypatch.setattr("storage.conversations.new_set_key", lambda c=counter: f"t{next(c)}")
        monkeypatch.setattr("bot.core.context.new_key", lambda c=counter: f"k{next(c)}")
        url = await database_of(template_db, tmp_path / f"{plain}.db")
        settings = Settings(_env_file=None, database_url=url,  # type: ignore[call-arg]
                            flood_messages_per_minute=8)
        app = build_app(settings, clock=Clock(START, frozen=True))
        app.core.intake = plain
        try:
            console = Console(app)
            await conversation_of_residents(console)
            # A platform repeating an update gets the same answer, and nothing is done twice.
            repeated = Incoming(platform="console", update_id="same", chat_id="p:路人甲", chat_kind="private",
                                user_id="路人甲", user_name="路人甲", text="/help", command="help")
            first = await app.core.handle(repeated)
            assert await app.core.handle(repeated) == first
            written.append(await every_row(app))
        finally:
            await app.close()
    plain_rows, orm_rows = written
    assert plain_rows.keys() == orm_rows.keys()
    for table in plain_rows:
        assert plain_rows[table] == orm_rows[table], table
    assert len(plain_rows["processedupdate"]) > 30 and plain_rows["membership"] != []


# ---- the fixed queries of storage.db.Prepared against the ORM's ---------------------------------------------


async def test_the_fixed_queries_find_what_the_orm_finds(console: Console, app: App) -> None:
    """Each Prepared query of /start and of a newcomer's messages, run on the driver and through the ORM (a
    session marked ORM_ONLY), finds the same rows, with the same values, for everyone of the demo."""
    from storage import announcements, assembly, complaints, volunteering
    from storage.compounds import compound_by_code
    from storage.db import ORM_ONLY, transaction
    from storage.people import compounds_of
    from tests.conftest import person_ids
    from tests.test_menus import _open_vote

    now = app.core.clock.now()
    people = await person_ids(app)
    await _open_vote(app)
    async with transaction(app.core.sessions) as session:
        compound = await compound_by_code(session, "XFL")
        assert compound is not None
        session.add(announcements.Announcement(compound_id=1, author_id=1, text="停水", due_at=now, created_at=now,
                                               status=announcements.AnnouncementStatus.SENT))
        session.add(announcements.Announcement(compound_id=1, author_id=1, text="党员学习会", audience="party",
                                               due_at=now, created_at=now,
                                               status=announcements.AnnouncementStatus.SENT))
        task = await volunteering.post_task(
            session, compound_id=1, organiser_id=people["王书记"], title="清扫", description="", place="小广场",
            starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=2), wanted=3, skills=[],
            mode="activity", rate=10, now=now)
        assert task is not None
        await volunteering.sign_up(session, task, people["张三"], now)
        await complaints.file_case(session, compound, people["张三"], "环境卫生", "楼道堆物", now)

    async def found(orm: bool, person_id: int) -> list[Any]:
        async with app.core.sessions() as session:
            if orm:
                session.info[ORM_ONLY] = True
            results = [
                await assembly.awaiting_ballot(session, person_id, 1, now),
                await volunteering.signed_up_tasks(session, person_id, 1, now),
                await complaints.cases_of_reporter(session, person_id, 1),
                *[await announcements.unread(session, person_id, 1, now, owner=owner, party=party)
                  for owner in (False, True) for party in (False, True)],
                await compounds_of(session, person_id),
                # A fan-out's lists of people, of one and of several (each length is its own text on SQLite).
                *[sorted((pid, t.language) for pid, t in (await app.core.translators_for(session, ids)).items())
                  for ids in ([person_id], [person_id, *people.values()])],
                *[sorted((pid, identity.model_dump()) for pid, identity in (
                    await app.core.private_addresses(session, ids)).items())
                  for ids in ([person_id], [person_id, *people.values()])],
            ]
            return [[row.model_dump() if hasattr(row, "model_dump") else row for row in (
                part if isinstance(part, list) else [part])] for part in results]

    for person_id in people.values():
        assert await found(False, person_id) == await found(True, person_id), person_id
    # Not an empty comparison: the resident has a vote, a task, a case and the announcements open.
    seen = await found(False, people["张三"])
    assert all(part != [] and part != [None] for part in seen[:5]), seen


async def test_a_fixed_statement_fails_as_sqlalchemy_would(app: App) -> None:
    """The core retries a message on SQLAlchemy's IntegrityError: a driver statement raises that, not sqlite3's."""
    from sqlalchemy.exc import IntegrityError

    from storage.conversations import ButtonSet
    from storage.db import PreparedInsert, transaction

    row = {"key": "same", "created_at": app.core.clock.now()}
    with pytest.raises(IntegrityError):
        async with transaction(app.core.sessions) as session:
            await PreparedInsert(ButtonSet).run(session, [row, row])
