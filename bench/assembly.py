"""Assembly tally benchmark: 10,000 rooms (5 % the developer's unsold, a tenth of the owners with two rooms, some
co-owned), 10,000 ballots on three motions (ordinary, special, an election of 3 from 6). Reports the pure tally
and turnout (plain values in memory) and load + tally (a fresh session reading rooms, owners, motions and
ballots from a migrated SQLite database, then tallying). Target: at most 50 ms per tally. Also one voter's
roster links (`owned_rooms`, asked on every /start during a vote), from the roster lines that may name them
and from the whole roster.

    .venv/bin/python -m bench.assembly                  # 10,000 rooms and ballots
    .venv/bin/python -m bench.assembly --rooms 2000 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import migrate
from storage.assembly import (
    ABSTAIN,
    ELECTION,
    NO,
    ORDINARY,
    SPECIAL,
    YES,
    Assembly,
    AssemblyStatus,
    Ballot,
    Motion,
    RosterLine,
    _lines_that_may_name,
    _roster_lines,
    assembly_turnout,
    motions_of,
    roster_links,
    tally,
    tally_assembly,
    tally_ballots,
    tally_motions,
    tally_rooms,
    turnout,
)
from storage.compounds import Building, Room, RosterOwner, Unit, create_compound
from storage.db import make_engine, make_sessionmaker, transaction
from storage.people import Membership, MembershipStatus, Person

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


async def seed(url: str, rooms: int, rng: random.Random) -> int:
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    async with transaction(maker) as session:
        compound = await create_compound(session, "基准小区", "BENCH")
        assert compound.id is not None
        building = Building(compound_id=compound.id, name="1栋")
        session.add(building)
        await session.flush()
        unit = Unit(building_id=building.id or 0, name="1单元")
        session.add(unit)
        await session.flush()
        placed = [Room(compound_id=compound.id, building_id=building.id or 0, unit_id=unit.id or 0,
                       number=str(1000 + i), floor=i // 20, area=Decimal(rng.randint(4000, 18000)) / 100,
                       unsold=rng.random() < 0.05) for i in range(rooms)]
        session.add_all(placed)
        await session.flush()
        people = [Person(name=f"业主{i}") for i in range(rooms)]
        session.add_all(people)
        await session.flush()
        memberships: list[Membership] = []
        for index, room in enumerate(placed):
            if room.unsold:
                continue
            # A tenth of the owners hold a second room (the one before); one room in fifty is co-owned.
            owner = people[index - 1] if index % 10 == 1 else people[index]
            memberships.append(Membership(person_id=owner.id or 0, compound_id=compound.id, room_id=room.id,
                                          relation="owner", status=MembershipStatus.APPROVED, created_at=NOW))
            if index % 50 == 7:
                memberships.append(Membership(person_id=people[(index + 3) % rooms].id or 0, compound_id=compound.id,
                                              room_id=room.id, relation="owner", status=MembershipStatus.APPROVED, created_at=NOW))
        session.add_all(memberships)
        # The roster names each sold room's owner by name and phone (what `owned_rooms` matches a voter against).
        for index, room in enumerate(placed):
            if not room.unsold:
                owner = people[index - 1] if index % 10 == 1 else people[index]
                owner.phone = f"139{int(owner.name[2:]):08d}"
                session.add(RosterOwner(room_id=room.id or 0, name=owner.name, phone=owner.phone))
        assembly = Assembly(compound_id=compound.id, title="bench", status=AssemblyStatus.OPEN, opens_at=NOW,
                            closes_at=NOW + timedelta(days=7), created_by=people[0].id or 0)
        session.add(assembly)
        await session.flush()
        motions = [Motion(assembly_id=assembly.id or 0, position=1, text="ordinary", kind=ORDINARY),
                   Motion(assembly_id=assembly.id or 0, position=2, text="special", kind=SPECIAL),
                   Motion(assembly_id=assembly.id or 0, position=3, text="election", kind=ELECTION, seats=3,
                          options={"candidates": [f"候选人{i}" for i in range(6)]})]
        session.add_all(motions)
        await session.flush()
        weights = [0.62, 0.28, 0.10]
        session.add_all([Ballot(
            assembly_id=assembly.id or 0, room_id=room.id or 0, submitted_by=people[0].id or 0, submitted_at=NOW,
            choices={str(motions[0].id): rng.choices([YES, NO, ABSTAIN], weights)[0],
                     str(motions[1].id): rng.choices([YES, NO, ABSTAIN], weights)[0],
                     str(motions[2].id): sorted(rng.sample(range(6), rng.randint(0, 3)))},
        ) for room in placed])
        assembly_id = assembly.id or 0
    await engine.dispose()
    return assembly_id


Timings = tuple[list[float], list[float]]  # wall-clock ms, process CPU ms


def timed(work: Callable[[], Any], runs: int) -> Timings:
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        work()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


async def timed_async(work: Callable[[], Awaitable[Any]], runs: int) -> Timings:
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        await work()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


def report(name: str, timings: Timings) -> None:
    # CPU time shows the cost apart from other processes competing for the cores.
    wall, cpu = timings
    print(f"{name:<26} wall median {statistics.median(wall):6.1f} ms  best {min(wall):6.1f} ms  "
          f"worst {max(wall):6.1f} ms | CPU median {statistics.median(cpu):6.1f} ms  ({len(wall)} runs)")


async def main(rooms: int, runs: int) -> None:
    rng = random.Random(278)
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        migrate.upgrade(url)
        started = time.perf_counter()
        assembly_id = await seed(url, rooms, rng)
        print(f"seeded {rooms:,} rooms and {rooms:,} ballots in {time.perf_counter() - started:.1f} s")
        engine = make_engine(url)
        maker = make_sessionmaker(engine)
        async with maker() as session:
            assembly = await session.get(Assembly, assembly_id)
            assert assembly is not None
            plain_rooms = await tally_rooms(session, assembly.compound_id)
            plain_motions = tally_motions(await motions_of(session, assembly_id))
            plain_ballots = await tally_ballots(session, assembly_id)
        results = tally(plain_rooms, plain_motions, plain_ballots)
        for result in results:
            print(f"  motion {result.motion_id} ({result.kind}): taking part {float(result.area_share):.1%} of the "
                  f"area, {result.taking_part.owners:,} of {result.total.owners:,} owners; passed: {result.passed}")
        report("pure tally (3 motions)", timed(lambda: tally(plain_rooms, plain_motions, plain_ballots), runs))
        report("pure turnout", timed(lambda: turnout(plain_rooms, plain_ballots), runs))

        async def load_and_tally() -> None:
            async with maker() as fresh:
                loaded = await fresh.get(Assembly, assembly_id)
                assert loaded is not None
                await tally_assembly(fresh, loaded)

        async def load_and_turnout() -> None:
            async with maker() as fresh:
                loaded = await fresh.get(Assembly, assembly_id)
                assert loaded is not None
                await assembly_turnout(fresh, loaded)

        # One voter's rooms, as every /start and ballot press during a vote asks (`owned_rooms`): their roster
        # links found in the lines that may name them, against (as before) in the whole compound's roster.
        voter = rng.randrange(2, rooms - 2)
        async with maker() as session:
            person = await session.get(Person, voter)
            assert person is not None
            own = [room for room in (await session.exec(select(Membership.room_id).where(
                Membership.person_id == voter))).all() if room is not None]
            assert own, "the voter owns a room"

        async def links(read: Callable[[AsyncSession], Awaitable[list[RosterLine]]]) -> None:
            async with maker() as fresh:
                roster_links({voter: (person.name, person.phone, own)}, await read(fresh))

        report("one owner's roster links", await timed_async(
            lambda: links(lambda fresh: _lines_that_may_name(fresh, 1, person.name, own)), runs))
        report("  from the whole roster", await timed_async(lambda: links(lambda fresh: _roster_lines(fresh, 1)),
                                                             runs))
        report("load + tally (SQLite)", await timed_async(load_and_tally, runs))
        report("load + turnout (SQLite)", await timed_async(load_and_turnout, runs))
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    options = parser.parse_args()
    asyncio.run(main(options.rooms, options.runs))
