"""The demo district `make run` opens with: one compound 幸福里 (XFL), 3 buildings × 2 units × 6 rooms with
floor areas, a secretary, a building leader, property staff, residents and owners, and a bound group chat."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.compounds import Building, Chat, Compound, Room, RosterOwner, Unit, create_compound
from storage.people import Identity, Membership, MembershipStatus, Person, Role, RoleGrant

DEMO_CODE = "XFL"
DEMO_INVITE = "XFL2026"
DEMO_GROUP = "幸福里业主群"
CONSOLE = "console"

# name, building, unit, room, relation, roles (building leader leads the first building)
DEMO_PEOPLE: list[tuple[str, int, int, str, str, tuple[Role, ...]]] = [
    ("王书记", 1, 1, "301", "owner", (Role.SECRETARY, Role.PARTY_MEMBER)),
    ("李楼长", 1, 2, "201", "owner", (Role.BUILDING_LEADER, Role.PARTY_MEMBER)),
    ("赵物业", 3, 2, "101", "tenant", (Role.PROPERTY,)),
    ("孙委员", 2, 2, "302", "owner", (Role.COMMITTEE,)),
    ("张三", 1, 1, "101", "owner", ()),
    ("李四", 2, 1, "201", "owner", ()),
    ("王五", 3, 2, "302", "tenant", ()),
    ("陈阿姨", 2, 1, "102", "owner", (Role.PARTY_MEMBER,)),
]
# On the roster but not yet joined: sharing this phone number approves 刘六 at once.
DEMO_ROSTER_ONLY = [("刘六", 3, 1, "101", "13800000006")]


def _area(building: int, unit: int, floor: int, index: int) -> Decimal:
    return Decimal(78 + building * 6 + unit * 3 + index * 11) + Decimal(floor) / Decimal(4)


async def seed_demo(session: AsyncSession) -> bool:
    """Seeds the demo district once; returns False when it is already there."""
    if (await session.exec(select(Compound).where(Compound.code == DEMO_CODE))).first() is not None:
        return False
    compound = await create_compound(session, "幸福里", DEMO_CODE, street="西陵街道")
    compound.invite_code = DEMO_INVITE
    compound.community = "幸福社区"
    session.add(compound)
    assert compound.id is not None
    rooms: dict[tuple[int, int, str], Room] = {}
    for b in range(1, 4):
        building = Building(compound_id=compound.id, name=f"{b}栋", sort=b)
        session.add(building)
        await session.flush()
        for u in range(1, 3):
            unit = Unit(building_id=building.id or 0, name=f"{u}单元", sort=u)
            session.add(unit)
            await session.flush()
            for floor in range(1, 4):
                for index in range(1, 3):
                    number = f"{floor}0{index}"
                    room = Room(compound_id=compound.id, building_id=building.id or 0, unit_id=unit.id or 0,
                                number=number, floor=floor, area=_area(b, u, floor, index))
                    session.add(room)
                    rooms[(b, u, number)] = room
    await session.flush()
    buildings = {b.sort: b for b in (await session.exec(select(Building).where(
        Building.compound_id == compound.id))).all()}
    for index, (name, b, u, number, relation, roles) in enumerate(DEMO_PEOPLE, 1):
        person = Person(name=name, phone=f"1380000{index:04d}", current_compound_id=compound.id)
        session.add(person)
        await session.flush()
        assert person.id is not None
        session.add(Identity(person_id=person.id, platform=CONSOLE, platform_user_id=name,
                             private_chat_id=f"p:{name}"))
        room = rooms[(b, u, number)]
        session.add(Membership(person_id=person.id, compound_id=compound.id, room_id=room.id, relation=relation,
                               status=MembershipStatus.APPROVED))
        if relation == "owner":
            session.add(RosterOwner(room_id=room.id or 0, name=name, phone=person.phone))
        for role in roles:
            building_id = buildings[b].id if role == Role.BUILDING_LEADER else None
            session.add(RoleGrant(person_id=person.id, compound_id=compound.id, role=role, building_id=building_id))
    for name, b, u, number, phone in DEMO_ROSTER_ONLY:
        session.add(RosterOwner(room_id=rooms[(b, u, number)].id or 0, name=name, phone=phone))
    session.add(Chat(platform=CONSOLE, platform_chat_id=f"g:{DEMO_GROUP}", kind="group", title=DEMO_GROUP,
                     compound_id=compound.id))
    await session.flush()
    return True
