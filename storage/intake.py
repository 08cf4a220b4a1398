"""The fixed statements every incoming message runs, before and after its handler's own work.

They run for every message, so they are kept few and cheap; feature code never calls them."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.compounds import Chat, Compound
from storage.conversations import Conversation, ProcessedUpdate, claim_update
from storage.db import (
    JSONDict,
    PgDriver,
    PgStatement,
    Prepared,
    UTCDateTime,
    asyncpg_driver,
    attach,
    on_driver,
    pg_compiled,
    sqlite_binder,
    sqlite_driver,
    sqlite_reader,
    sqlite_time,
)
from storage.organisations import ADMINISTERS_READ
from storage.people import ROLES_QUERY, Identity, Person, Role, roles_of

# "Last seen" is written behind: at most once per identity in this long, not on every message.
SEEN_EVERY = timedelta(minutes=5)

_identity = Identity.__table__  # type: ignore[attr-defined]
# The age check is in the statement itself, so two processes handling the same person's messages write it once.
_SEEN = Prepared(
    sa.update(_identity)
    .where(_identity.c.id == sa.bindparam("identity_id"),
           _identity.c.last_seen_at < sa.bindparam("stale_before", type_=UTCDateTime))
    .values(last_seen_at=sa.bindparam("now", type_=UTCDateTime))
)


def seen_is_stale(last_seen_at: datetime, now: datetime) -> bool:
    return now - last_seen_at >= SEEN_EVERY


async def mark_seen(session: AsyncSession, identity_id: int, now: datetime) -> None:
    """Write the identity's `last_seen_at`, unless another message wrote it within `SEEN_EVERY`."""
    await _SEEN.run(session, identity_id=identity_id, stale_before=now - SEEN_EVERY, now=now)


# ---- the joined read and the claim, in plain SQL ------------------------------------------------------------
#
# Through SQLAlchemy's ORM each fixed statement of a message costs 0.2–0.6 ms; the same statement on the driver
# costs microseconds. So the statements every message runs are written here as plain parameterised SQL (the
# same text for SQLite and PostgreSQL), run on the session's own connection inside the handlers' transaction,
# and their rows become ORM objects attached to the session, as if the ORM had loaded them: handlers change
# and save them as usual. Feature code keeps the ORM. tests/test_intake.py runs the same messages through this
# path and through the ORM's and compares every row written.

_TABLES: tuple[tuple[str, type[SQLModel]], ...] = (
    ("i", Identity), ("p", Person), ("c", Compound), ("ch", Chat), ("cv", Conversation))


def _columns(model: type[SQLModel]) -> list[sa.Column[Any]]:
    return list(model.__table__.columns)  # type: ignore[attr-defined]


_SELECTED = ", ".join(f'{alias}."{column.name}"' for alias, model in _TABLES for column in _columns(model))
# The sender's identity and person, the compound they act in, the chat and their open conversation in it: one
# read. A chat seen for the first time (or a new person) leaves its part empty, and the core creates it.
# With them, how many streets the sender administers (organisations.streets_administered: most /help and /start
# ask it, of people who administer none).
_STREETS = ("(SELECT count(*) FROM affiliation AS a WHERE a.person_id = i.person_id AND a.street_id IS NOT NULL "
            "AND a.removed_at IS NULL)")
_ARRIVAL = f"""
SELECT {_SELECTED}, {_STREETS}{{counted}}
FROM identity AS i
JOIN person AS p ON p.id = i.person_id
LEFT OUTER JOIN compound AS c ON c.id = p.current_compound_id
LEFT OUTER JOIN chat AS ch ON ch.platform = :platform AND ch.platform_chat_id = :chat_id
LEFT OUTER JOIN conversation AS cv ON cv.person_id = i.person_id AND cv.chat_id = ch.id
WHERE i.platform = :platform AND i.platform_user_id = :user_id
"""
# Flood control's count of the person's messages in the last minute (as `storage.conversations.sent_since`).
_COUNTED = ", (SELECT count(*) FROM processedupdate AS u WHERE u.person_id = i.person_id AND u.processed_at > :since)"
ARRIVAL_SQL = _ARRIVAL.format(counted="")
ARRIVAL_COUNTED_SQL = _ARRIVAL.format(counted=_COUNTED)
# On PostgreSQL the conversation is locked by the same read (two processes may have the same person's messages:
# the lock orders them), in a subquery, as a lock cannot reach the outer join's nullable side.
_LOCKED = ("LEFT OUTER JOIN LATERAL (SELECT * FROM conversation WHERE conversation.person_id = i.person_id "
           "AND conversation.chat_id = ch.id FOR UPDATE) AS cv ON true")
_UNLOCKED = "LEFT OUTER JOIN conversation AS cv ON cv.person_id = i.person_id AND cv.chat_id = ch.id"
assert _UNLOCKED in _ARRIVAL
# The same read also brings the sender's roles (ROLES_QUERY) in the compound they most likely act in (the group's,
# else their current one: as the core chooses it), each as "kind/value": `roles` uses them when asked for that
# compound, and asks the database otherwise. One statement fewer on every message.
_ACTING_IN = "COALESCE(CASE WHEN ch.kind = 'group' THEN ch.compound_id END, p.current_compound_id)"


@functools.cache
def _on_sqlite_sql(sql: str) -> str:
    """The joined read as SQLite runs it: the roles read with the sender."""
    return sql.replace("\nFROM identity AS i", _arrival_roles_sql(postgresql=False), 1)


@functools.cache
def _on_postgres_sql(sql: str, seen: bool) -> str:
    """The joined read as PostgreSQL runs it: the conversation locked, the roles read with the sender; `seen`:
    "last seen" written by the same statement when it is stale (`mark_seen`), one round trip fewer."""
    sql = sql.replace(_UNLOCKED, _LOCKED).replace("\nFROM identity AS i", _arrival_roles_sql(postgresql=True), 1)
    if seen:
        # The read sees the rows as they were before the statement: the identity's time is the one written.
        sql = _SEEN_FIRST + sql.replace('i."last_seen_at"', 'COALESCE((SELECT last_seen_at FROM seen), i."last_seen_at")', 1)
    return sql


_SEEN_FIRST = ("WITH seen AS (UPDATE identity SET last_seen_at = :seen_at WHERE platform = :platform "
               "AND platform_user_id = :user_id AND last_seen_at < :stale_before RETURNING last_seen_at)")


def _arrival_roles_sql(postgresql: bool) -> str:
    from sqlalchemy.sql import visitors

    def outer(element: Any, **_: Any) -> Any:
        if isinstance(element, sa.BindParameter) and element.key == "person_id":
            return sa.literal_column("i.person_id")
        if isinstance(element, sa.BindParameter) and element.key == "compound_id":
            return sa.literal_column(_ACTING_IN)
        return None

    query = visitors.replacement_traverse(ROLES_QUERY, {}, outer)
    dialect = postgresql_dialect.dialect() if postgresql else sqlite_dialect.dialect()
    roles = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    # PostgreSQL gives an array; SQLite has none, so its rows are joined by commas (no kind or role has one).
    held = "ARRAY(SELECT {} FROM ({}) AS r)" if postgresql else "(SELECT group_concat({}, ',') FROM ({}) AS r)"
    return f", {held.format(_HELD, roles)}, {_ACTING_IN}\nFROM identity AS i"


_HELD = "r.kind || '/' || r.value"


_ROLES_READ = "intake.roles"
_ANSWER_TEXT = cast(Callable[[Any], str], sqlite_binder(JSONDict()))  # processedupdate.answer as the ORM writes it
CLAIM_SQL = ("INSERT INTO processedupdate (platform, update_id, processed_at, answer, person_id) "
             "VALUES (:platform, :update_id, :processed_at, :answer, :person_id) ON CONFLICT DO NOTHING")


# Per model: (its columns' names, their readers), in the order of the joined read.
_LAYOUT = [(model, [c.name for c in _columns(model)], [sqlite_reader(c.type) for c in _columns(model)]) for _, model in _TABLES]
_PERSON_AT = [c.name for c in _columns(Identity)].index("person_id")  # the sender's person in the joined read


@dataclass(slots=True)
class Arrival:
    """What the joined read found: the sender (None when the identity is new) and the chat and conversation
    (None when not there yet), each attached to the session."""

    identity: Identity
    person: Person
    compound: Compound | None
    chat: Chat | None
    conversation: Conversation | None
    recent: int
    # The conversation's row is locked by the read (PostgreSQL), as `load_conversation(lock=True)` would.
    locked: bool = False


def _attach(session: AsyncSession, model: type[SQLModel], names: list[str], readers: list[Any],
            values: Sequence[Any]) -> Any:
    """The row as a persistent ORM object of the session, as though the ORM had loaded it (unless the session
    has it already: then that one, unchanged)."""
    if values[0] is None:  # an outer join found nothing
        return None
    return attach(session, model, {name: (read(value) if read is not None else value)
                                   for name, read, value in zip(names, readers, values, strict=True)})


async def arrival(session: AsyncSession, platform: str, user_id: str, chat_id: str,
                  since: datetime | None, now: datetime | None = None) -> Arrival | None:
    """The joined read of a message's sender, chat and conversation; None for a person never seen. `since`: count
    the person's messages after it (flood control), else None. `now`: on PostgreSQL the read also writes "last
    seen" when it is stale, as `mark_seen` would (the identity read then says `now`)."""
    params: dict[str, Any] = {"platform": platform, "user_id": user_id, "chat_id": chat_id}
    sql = ARRIVAL_SQL
    if since is not None:
        sql = ARRIVAL_COUNTED_SQL
    locked = False
    held: list[str] | None = None  # the roles read with the sender (not through the ORM)
    acting_in: int | None = None
    driver = await sqlite_driver(session)
    if driver is not None:
        if since is not None:
            params["since"] = sqlite_time(since)
        found = on_driver(driver, _on_sqlite_sql(sql), params).fetchone()
        if found is not None:
            *found, joined, acting_in = found
            held = joined.split(",") if joined else []
    else:
        if since is not None:
            params["since"] = since
        pg = await asyncpg_driver(session)
        if pg is not None:
            sql = _on_postgres_sql(sql, now is not None)
            if now is not None:
                params.update(seen_at=now, stale_before=now - SEEN_EVERY)
            rows = await pg.rows(_on_postgres(sql, lambda: sa.text(sql), pg.dialect), params)
            found, locked = (rows[0] if rows else None), True
            if found is not None:
                *found, held, acting_in = found
        else:
            found = (await session.execute(sa.text(sql), params)).first()
    if found is None:
        return None
    objects: list[Any] = []
    start = 0
    for model, names, readers in _LAYOUT:
        objects.append(_attach(session, model, names, readers, found[start: start + len(names)]))
        start += len(names)
    identity, person, compound, chat, conversation = objects
    # Kept for this transaction (which attaching the rows began).
    transaction = session.sync_session.get_transaction()
    session.info[ADMINISTERS_READ] = (transaction, person.id, found[start])
    if held is not None:
        session.info[_ROLES_READ] = (transaction, person.id, acting_in, roles_of(
            cast(tuple[str, str], value.split("/", 1)) for value in held))
    return Arrival(identity, person, compound, chat, conversation, int(found[start + 1]) if since is not None else 0,
                   locked)


async def roles(session: AsyncSession, person_id: int, compound_id: int | None) -> frozenset[Role]:
    """`storage.people.roles_in` on the driver: as the joined read brought them when they are for this person and
    compound (`arrival`), else read."""
    if compound_id is None:
        return frozenset()
    read = session.info.pop(_ROLES_READ, None)
    if read is not None and read[0] is session.sync_session.get_transaction() and read[1:3] == (
            person_id, compound_id):
        return cast(frozenset[Role], read[3])
    return roles_of(await _ROLES.rows(session, person_id=person_id, compound_id=compound_id))


async def claim(session: AsyncSession, platform: str, update_id: str, now: datetime, answer: dict[str, Any] | None,
                person_id: int | None) -> bool:
    """`storage.conversations.claim_update` in plain SQL: True the first time the update is seen."""
    driver = await sqlite_driver(session)
    if driver is None:
        pg = await asyncpg_driver(session)
        if pg is not None:
            statement = _on_postgres("claim", lambda: _CLAIM_POSTGRESQL, pg.dialect, column_keys=list(_CLAIMED))
            return await pg.run(statement, {"platform": platform, "update_id": update_id, "processed_at": now,
                                            "answer": answer, "person_id": person_id}) == 1
        return await claim_update(session, platform, update_id, now, answer, person_id)
    cursor = on_driver(driver, CLAIM_SQL, {"platform": platform, "update_id": update_id,
                                           "processed_at": sqlite_time(now), "answer": _ANSWER_TEXT(answer),
                                           "person_id": person_id})
    return cursor.rowcount == 1


# ---- on PostgreSQL: the same statements on asyncpg's connection (storage.db.asyncpg_driver) --------------------

_ROLES = Prepared(ROLES_QUERY)
_CLAIMED = ("platform", "update_id", "processed_at", "answer", "person_id")
_CLAIM_POSTGRESQL = postgresql_dialect.insert(ProcessedUpdate.__table__).on_conflict_do_nothing()  # type: ignore[attr-defined]
_COMPILED: dict[str, PgStatement] = {}


def _on_postgres(key: str, statement: Any, dialect: Any, **kwargs: Any) -> PgStatement:
    """The statement (built by `statement()` the first time) compiled for asyncpg, once."""
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _COMPILED[key] = pg_compiled(statement(), dialect, **kwargs)
    return compiled


# ---- a newcomer's rows ------------------------------------------------------------------------------------------
#
# Someone's first message creates their person, identity and chat: through the ORM each is a flush of its own
# (its id is needed at once). Here each is one INSERT ... RETURNING on the driver.

_INSERTS: dict[type[SQLModel], tuple[str, list[sa.Column[Any]], dict[str, Any]]] = {}


def _insert_of(model: type[SQLModel]) -> tuple[str, list[sa.Column[Any]], dict[str, Any]]:
    if model not in _INSERTS:
        table = model.__table__  # type: ignore[attr-defined]
        columns = [c for c in table.columns if c is not table.autoincrement_column]
        compiled = sa.insert(table).returning(table.autoincrement_column).compile(
            dialect=sqlite_dialect.dialect(paramstyle="named"), column_keys=[c.name for c in columns])
        _INSERTS[model] = (str(compiled), columns, {name: binder for name in compiled._bind_processors
                                                    if (binder := sqlite_binder(compiled.binds[name].type))})
    return _INSERTS[model]


async def insert_row(session: AsyncSession, row: SQLModel) -> None:
    """Store a new row at once (its id set), as `session.add(row)` and a flush would, and keep it in the
    session as a persistent object."""
    driver = await sqlite_driver(session)
    if driver is None:
        pg = await asyncpg_driver(session)
        if pg is not None:
            await _insert_on_postgres(session, pg, row)
            return
        session.add(row)
        await session.flush()
        return
    sql, columns, processors = _insert_of(type(row))
    values = {name: (process(value) if (process := processors.get(name)) is not None else value)
              for name, value in _filled(row, columns).items()}
    (new_id,) = on_driver(driver, sql, values).fetchone()
    row.__dict__["id"] = new_id
    make_transient_to_detached(row)
    session.add(row)


def _filled(row: SQLModel, columns: list[sa.Column[Any]]) -> dict[str, Any]:
    """The new row's values by column, a column left empty taking its default (set on the row too, as a flush
    would)."""
    values = {}
    for column in columns:
        value = getattr(row, column.key)
        default: Any = column.default
        if value is None and default is not None:
            value = default.arg(None) if default.is_callable else default.arg
            setattr(row, column.key, value)
        values[column.name] = value
    return values


async def _insert_on_postgres(session: AsyncSession, pg: PgDriver, row: SQLModel) -> None:
    """`insert_row` on asyncpg: the same INSERT ... RETURNING, compiled for PostgreSQL."""
    table = row.__table__  # type: ignore[attr-defined]
    columns = [c for c in table.columns if c is not table.autoincrement_column]
    statement = _on_postgres(f"insert {table.name}", lambda: sa.insert(table).returning(table.autoincrement_column),
                             pg.dialect, column_keys=[c.name for c in columns])
    ((new_id,),) = await pg.rows(statement, _filled(row, columns))
    row.__dict__["id"] = new_id
    make_transient_to_detached(row)
    session.add(row)
