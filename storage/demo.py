"""The demo district `make run` opens with: one compound 幸福里 (XFL), 3 buildings × 2 units × 6 rooms with
floor areas, a secretary, a building leader, residents and owners, and a bound group chat; its street 西陵街道 with a
street admin and the 城管 department with an official, the property company 幸福物业 with 赵物业 on its staff, and
the partner unit 西陵小学 (none of these people has a room)."""

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

STAFF = "staff"  # the relation of someone in DEMO_PEOPLE who works for the property company and has no room
# name, building, unit, room, relation, roles (building leader leads the first building)
DEMO_PEOPLE: list[tuple[str, int, int, str, str, tuple[Role, ...]]] = [
    ("王书记", 1, 1, "301", "owner", (Role.SECRETARY, Role.PARTY_MEMBER)),
    ("李楼长", 1, 2, "201", "owner", (Role.BUILDING_LEADER, Role.PARTY_MEMBER)),
    ("赵物业", 0, 0, "", STAFF, ()),  # the property company's staff, no room: see _seed_organisations
    ("孙委员", 2, 2, "302", "owner", (Role.COMMITTEE,)),
    ("张三", 1, 1, "101", "owner", ()),
    ("李四", 2, 1, "201", "owner", ()),
    ("王五", 3, 2, "302", "tenant", ()),
    ("陈阿姨", 2, 1, "102", "owner", (Role.PARTY_MEMBER,)),
]
# People of organisations, with no room: (name, phone). The street admin, the department's official, the company's
# staff member.
DEMO_STREET, DEMO_COMMUNITY, DEMO_DEPARTMENT = "西陵街道", "幸福社区", "城管"
DEMO_STREET_ADMIN = ("周主任", "13800000101")
DEMO_OFFICIAL = ("城管刘科长", "13800000102")
DEMO_COMPANY = "幸福物业"
DEMO_PARTNER = ("西陵小学", "何老师", "07171234567")
# On the roster but not yet joined: sharing this phone number approves 刘六 at once.
DEMO_ROSTER_ONLY = [("刘六", 3, 1, "101", "13800000006")]
# The roster's owners of the other rooms, not joined (they vote on paper): one owner of the rest of each building
# or unit, counted once each (SPC interpretation Art. 9); 3栋2单元 is the developer's, unsold. So the assembly
# has 11 owners, and a valid vote (2/3 of owners and area) is possible with a few paper ballots.
DEMO_ROSTER_REST = {(1, 1): ("周建国", "13800000101"), (1, 2): ("周建国", "13800000101"),
                    (2, 1): ("吴桂英", "13800000102"), (2, 2): ("吴桂英", "13800000102"),
                    (3, 1): ("郑海涛", "13800000103")}


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
        if relation == STAFF:
            continue
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
    on_roster = {(b, u, number) for _n, b, u, number, relation, _r in DEMO_PEOPLE if relation == "owner"}
    on_roster |= {(b, u, number) for _n, b, u, number, _p in DEMO_ROSTER_ONLY}
    for (b, u, number), room in rooms.items():
        if (b, u, number) in on_roster:
            continue
        if (b, u) in DEMO_ROSTER_REST:
            name, phone = DEMO_ROSTER_REST[(b, u)]
            session.add(RosterOwner(room_id=room.id or 0, name=name, phone=phone))
        else:
            room.unsold = True
            session.add(room)
    session.add(Chat(platform=CONSOLE, platform_chat_id=f"g:{DEMO_GROUP}", kind="group", title=DEMO_GROUP,
                     compound_id=compound.id))
    await session.flush()
    staff = (await session.exec(select(Person).where(Person.name == "赵物业"))).one()
    await _seed_organisations(session, compound.id, staff)
    return True


async def _seed_organisations(session: AsyncSession, compound_id: int, staff: Person) -> None:
    from storage import organisations as orgs

    street = await orgs.create_street(session, DEMO_STREET)
    assert street is not None
    community = await orgs.create_community(session, street.stored_id, DEMO_COMMUNITY)
    await orgs.link_compound(session, compound_id, street, community)
    department = await orgs.create_department(session, street.stored_id, DEMO_DEPARTMENT, None)
    assert department is not None
    company = await orgs.create_organisation(session, orgs.OrganisationKind.PROPERTY, DEMO_COMPANY, None,
                                            contact_name=staff.name, contact_phone=staff.phone)
    await orgs.link_organisation(session, company.stored_id, compound_id)
    assert staff.id is not None
    await orgs.add_member(session, staff.id, None, organisation_id=company.id)
    for (name, phone), where in ((DEMO_STREET_ADMIN, {"street_id": street.id}),
                                 (DEMO_OFFICIAL, {"department_id": department.id})):
        person = Person(name=name, phone=phone, current_compound_id=compound_id)
        session.add(person)
        await session.flush()
        assert person.id is not None
        session.add(Identity(person_id=person.id, platform=CONSOLE, platform_user_id=name, private_chat_id=f"p:{name}"))
        await orgs.add_member(session, person.id, None, **where)
    unit, contact, phone = DEMO_PARTNER
    school = await orgs.create_organisation(session, orgs.OrganisationKind.PARTNER, unit, None,
                                           category=orgs.PartnerCategory.SCHOOL, contact_name=contact,
                                           contact_phone=phone)
    await orgs.link_organisation(session, school.stored_id, compound_id)
