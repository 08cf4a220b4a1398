"""The owner headcount follows the roster and the law (SPC interpretation on building distinct ownership, Art. 9):
a compound loaded with `linli roster import`, where 老周 owns three rooms and never joined the bot. Counted per
room he was three owners: a valid vote was announced as short of the 2/3 turnout, and when his paper ballots
came in, a motion agreed by exactly half of the owners was announced as passed."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app import App
from bot.transports.console import Console
from handlers.assembly import percent
from storage.assembly import TallyRoom, owner_units, room_by_label, roster_links
from storage.compounds import Chat, create_compound, describe_room
from storage.db import transaction
from storage.people import Membership, MembershipStatus, Person, Role
from storage.roster import import_roster_cli, owner_keys, roster_identity
from tests.conftest import add_console_person

GROUP = "和美园业主群"
CLOSES = "2026-11-24 21:00"
# 老周 owns 1栋1单元202, 301 and 302 (50 m² each) and has not joined; 甲, 乙 and 丙 own one room of 100 m² each.
ROSTER = """楼栋,单元,房号,专有面积,业主姓名,联系电话
1,1,101,100,甲,13900000001
1,1,102,100,乙,13900000002
1,1,201,100,丙,13900000003
1,1,202,50,老周,13900000009
1,1,301,50,老周,139 0000 0009
1,1,302,50,老周,+86 13900000009
"""
MEMBERS = {"甲": ("101", "13900000001"), "乙": ("102", "13900000002"), "丙": ("201", "13900000003")}


async def roster_compound(app: App, tmp_path: Path, roster: str = ROSTER, code: str = "HMY",
                          members: dict[str, tuple[str, ...]] = MEMBERS, group: str = GROUP) -> int:
    """和美园 as a deployer sets it up: the compound, its roster imported with `linli roster import`, a bound
    group chat, a secretary, and the owners who joined (approved, as a matching phone approves a join)."""
    async with transaction(app.core.sessions) as session:
        compound = await create_compound(session, "和美园", code, street="西陵街道")
        compound_id = compound.id or 0
        session.add(Chat(platform="console", platform_chat_id=f"g:{group}", kind="group", title=group,
                         compound_id=compound_id))
    path = tmp_path / "roster.csv"
    path.write_text(roster, encoding="utf-8")
    assert await import_roster_cli(app.settings, path, code) == 0
    await add_console_person(app, "周书记", compound_id, Role.SECRETARY)

    for name, (*place, phone) in members.items():
        person_id = await add_console_person(app, name, compound_id)
        async with transaction(app.core.sessions) as session:
            person = await session.get(Person, person_id)
            assert person is not None
            person.phone = phone
            session.add(person)
            # A room as on the roster (1栋2单元101), or by its number alone where that is unique.
            room_id = await room_by_label(session, compound_id, "".join(place) if len(place) > 1 else
                                          f"1栋1单元{place[0]}")
            session.add(Membership(person_id=person_id, compound_id=compound_id, room_id=room_id,
                                   relation="owner", status=MembershipStatus.APPROVED))
    return compound_id


async def open_vote(console: Console, motion: str = "更换小区门禁系统", kind: str = "一般事项") -> None:
    console.as_("周书记")
    await console.say("/assembly")
    await console.say("2026年第一次业主大会")
    await console.say(motion)
    await console.press(kind)
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say(CLOSES)
    await console.press("确认并发起")


async def vote(console: Console, person: str, choice: str, group: str = GROUP) -> None:
    console.as_(person)
    console.in_(group)
    await console.press("投票")
    await console.press(choice)
    await console.press("提交")
    assert "已记录" in console.last.text, console.last.text


async def paper(console: Console, room: str, choice: str) -> None:
    console.as_("周书记")
    await console.say("/paperballot")
    await console.say(room)
    await console.press(choice)
    await console.press("提交")
    assert "书面表决票已录入" in console.last.text, console.last.text


async def close(console: Console, group: str = GROUP) -> str:
    target = datetime.strptime(CLOSES, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    console.app.core.clock.set(target - timedelta(minutes=10))
    await console.clock_to("+20m")
    return [s for s in console.seen_by("周书记", group) if "表决结果" in s.text][-1].text


async def test_an_owner_of_three_rooms_on_the_roster_counts_once_and_the_vote_is_valid(
        console: Console, app: App, tmp_path: Path) -> None:
    """Was: 业主 3 / 6 人（50.0%）… 未达 2/3. 3 of the 4 owners took part, with 300 of 450 m²: valid."""
    await roster_compound(app, tmp_path)
    await open_vote(console)
    posting = console.seen_by("周书记", GROUP)[-1].text
    assert "业主 0 / 4 人" in posting
    for person in ("甲", "乙", "丙"):
        await vote(console, person, "同意")
    result = await close(console)
    assert "业主 3 / 4 人（75.0%" in result and "未达" not in result
    # Exactly 2/3 of the area: 66.7% alone would not say whether the bound is met.
    assert "面积 300.00 / 450.00 m²（66.7% = 2/3，须达 2/3）" in result
    assert "结果：通过" in result


async def test_paper_ballots_for_three_rooms_of_one_owner_are_one_head(
        console: Console, app: App, tmp_path: Path) -> None:
    """Was: 业主 6 / 6 人 … 同意 4 人（66.7%）结果：通过. 老周 and 甲 agree, 乙 and 丙 are against: 2 of 4 owners,
    exactly half, which is not more than half."""
    await roster_compound(app, tmp_path)
    await open_vote(console)
    for number in ("202", "301", "302"):
        await paper(console, f"1栋1单元{number}", "同意")
    await vote(console, "甲", "同意")
    await vote(console, "乙", "反对")
    await vote(console, "丙", "反对")
    result = await close(console)
    assert "业主 4 / 4 人（100.0%" in result
    assert "同意：面积 250.00 m²" in result and "业主 2 人（50.0% = 1/2）" in result
    assert "结果：未通过" in result and "同意人数占参与人数 50.0% = 1/2，须超过 1/2" in result



# ---- each rule of counting owners, against a plain reference ---------------------------------------------
# SPC interpretation Art. 9: one exclusive part (专有部分) counts as one owner; one buyer of several parts
# counts once; the developer's unsold or undelivered parts count as one owner. Co-owners of one part are one.


def _units(rooms: list[TallyRoom]) -> int:
    return owner_units(rooms).count


def _layout(keys: dict[int, set[Any]], count: int, unsold: frozenset[int] = frozenset()) -> list[TallyRoom]:
    return [TallyRoom(i, Decimal(50), frozenset(keys.get(i, ())), i in unsold) for i in range(count)]


def test_roster_identity_is_the_owner_id_else_name_and_phone() -> None:
    assert roster_identity(1, "周建国", "13900000009", "A-17") == roster_identity(2, "老周", "", "A-17")
    assert roster_identity(1, "老周", "13900000009", "") == roster_identity(2, "老周", "+86 139 0000 0009", "")
    assert roster_identity(1, "老周", "13900000009", "") != roster_identity(2, "周建国", "13900000009", "")
    # A name alone (two 张伟 are two people) or a phone alone names the owner of that line's room only.
    assert roster_identity(1, "张伟", "", "") != roster_identity(2, "张伟", "", "")
    assert roster_identity(1, "", "13900000009", "") != roster_identity(2, "", "13900000009", "")


def test_one_owner_of_several_rooms_on_the_roster_counts_once() -> None:
    lines = [(i, i, "老周", "13900000009", "") for i in range(3)] + [(3, 3, "甲", "13900000001", "")]
    assert _units(_layout(owner_keys([], lines), 4)) == 2


def test_a_member_for_one_room_and_the_roster_for_the_others_is_one_owner() -> None:
    lines = [(i, i, "老周", "13900000009", "") for i in range(3)]
    assert _units(_layout(owner_keys([(0, 42, "老周", "13900000009")], lines), 3)) == 1
    # Joined for a room the roster leaves empty: their name and phone are the roster's owner of the others.
    others = [(i, i, "老周", "139 0000 0009", "") for i in (1, 2)]
    assert _units(_layout(owner_keys([(0, 42, "老周", "13900000009")], others), 3)) == 1
    assert _units(_layout(owner_keys([(0, 42, "周建国", "13900000009")], others), 3)) == 2
    # And by membership alone: the same person approved for two rooms.
    assert _units(_layout(owner_keys([(0, 42, "", ""), (1, 42, "", "")], []), 3)) == 2


def test_co_owners_of_one_room_count_as_one() -> None:
    lines = [(0, 0, "甲", "13900000001", ""), (1, 0, "乙", "13900000002", ""), (2, 1, "丙", "13900000003", "")]
    assert _units(_layout(owner_keys([(0, 7, "甲", "13900000001")], lines), 2)) == 2


def test_a_room_with_no_owner_on_record_counts_as_one() -> None:
    assert _units(_layout({}, 5)) == 5
    assert _units(_layout(owner_keys([], [(0, 0, "甲", "13900000001", "")]), 3)) == 3


def test_the_developers_unsold_rooms_count_as_one_owner() -> None:
    assert _units(_layout({}, 6, unsold=frozenset({0, 1, 2, 3}))) == 3


def test_names_alone_do_not_merge_rooms() -> None:
    lines = [(0, 0, "张伟", "", ""), (1, 1, "张伟", "", "")]
    assert _units(_layout(owner_keys([], lines), 2)) == 2


Member = tuple[int, int, str, str]  # room, person id, name, phone
Line = tuple[int, int, str, str, str]  # line id, room, name, phone, owner id
PHONES = ("13900000{:03d}", "139 0000 0{:03d}", "+86 13900000{:03d}")


@st.composite
def ownerships(draw: st.DrawFn) -> tuple[list[set[int]], set[int], list[Member], list[Line]]:
    """Who really owns each room (people 0..7; an empty set: nobody on record), which rooms are unsold, and how
    the records say it: some owners joined for some of their rooms (with their name and phone), and the roster
    names the owners of sold rooms by an owner id or by name and phone, the phone written any way; a joined
    owner may be missing from the roster of that room unless the roster knows them by an owner id only."""
    count = draw(st.integers(0, 12))
    truth = [set(draw(st.lists(st.integers(0, 7), max_size=2))) for _ in range(count)]
    unsold = {i for i in range(count) if draw(st.integers(0, 6)) == 0}
    with_ref = draw(st.sets(st.integers(0, 7)))
    members: list[Member] = []
    lines: list[Line] = []
    for room, people in enumerate(truth):
        if room in unsold:
            continue
        for person in people:
            phone = draw(st.sampled_from(PHONES)).format(person)
            joined = draw(st.booleans())
            if joined:
                members.append((room, 1000 + person, f"业主{person}", phone))
            if not joined or person in with_ref or draw(st.booleans()):
                ref = f"YZ-{person}" if person in with_ref else ""
                lines.append((len(lines), room, f"业主{person}" if not ref or draw(st.booleans()) else "",
                              phone if not ref or draw(st.booleans()) else "", ref))
    return truth, unsold, members, lines


def plain_owner_count(truth: list[set[int]], unsold: set[int]) -> int:
    """Art. 9 word by word: the developer is one owner of all unsold rooms; rooms owned by one buyer (or
    linked through a co-owner) are one owner; every other room, owners on record or not, is one owner."""
    groups: list[tuple[set[int], set[Any]]] = []
    for room, people in enumerate(truth):
        owners: set[Any] = {"developer"} if room in unsold else set(people) or {("nobody", room)}
        joined = [g for g in groups if g[1] & owners]
        merged = ({room} | {r for g in joined for r in g[0]}, owners | {o for g in joined for o in g[1]})
        groups = [g for g in groups if g not in joined] + [merged]
    return len(groups)


@settings(max_examples=300, deadline=None)
@given(ownerships())
def test_headcount_from_members_and_roster_agrees_with_the_plain_count(
        case: tuple[list[set[int]], set[int], list[Member], list[Line]]) -> None:
    truth, unsold, members, lines = case
    layout = _layout(owner_keys(members, lines), len(truth), frozenset(unsold))
    assert _units(layout) == plain_owner_count(truth, unsold)


def test_percent_shows_the_exact_share_where_the_rounded_one_reads_as_the_bound() -> None:
    two_thirds, half, three_quarters = Fraction(2, 3), Fraction(1, 2), Fraction(3, 4)
    assert percent(two_thirds, two_thirds) == "66.7% = 2/3"
    assert percent(Fraction(19999, 30000), two_thirds) == "66.7% ≈ 19999/30000 < 2/3"
    assert percent(Fraction(20003, 30000), two_thirds) == "66.7% ≈ 20003/30000 > 2/3"
    assert percent(Fraction(2, 4), half) == "50.0% = 1/2"
    assert percent(Fraction(7499, 10000), three_quarters) == "75.0% ≈ 7499/10000 < 3/4"
    assert percent(Fraction(3, 5), two_thirds) == "60.0%" and percent(two_thirds) == "66.7%"


async def test_the_demo_can_hold_a_valid_vote(app: App) -> None:
    """The demo's roster names an owner for every room (the developer's 3栋2单元 unsold): 11 owners, of whom the 6
    who joined vote online; two paper ballots of owners who did not join make it valid."""
    from storage.assembly import YES, TallyBallot, TallyMotion, room_names, tally, tally_rooms

    async with app.core.sessions() as session:
        rooms = await tally_rooms(session, 1)
        labels = {label: room_id for room_id, label in (await room_names(session, 1)).items()}
    assert owner_units(rooms).count == 11
    online = ["1栋1单元301", "1栋2单元201", "2栋2单元302", "1栋1单元101", "2栋1单元201", "2栋1单元102"]
    [short] = tally(rooms, [TallyMotion(1)], [TallyBallot(labels[r], {1: YES}) for r in online])
    assert not short.quorum and short.taking_part.owners == 6
    # The committee enters the paper ballots of 周建国, 吴桂英 and 郑海涛 for their rooms; 刘六 and the developer
    # do not vote: 9 of 11 owners, and all but 3栋2单元 and one room of the area.
    unsold = {r.room_id for r in rooms if r.unsold}
    voted = [room_id for label, room_id in labels.items() if room_id not in unsold and label != "3栋1单元101"]
    [valid] = tally(rooms, [TallyMotion(1)], [TallyBallot(room_id, {1: YES}) for room_id in voted])
    assert valid.quorum and valid.taking_part.owners == 9 and valid.passed


async def test_a_joined_owner_votes_online_for_the_rooms_the_roster_links_to_him(
        console: Console, app: App, tmp_path: Path) -> None:
    """老周 joined for 202 only; the roster names him (the same name and phone, written three ways) on 301 and 302
    too: he is asked, and his online ballot lists and records all three rooms."""
    members = {**MEMBERS, "老周": ("202", "13900000009")}
    await roster_compound(app, tmp_path, members=members)
    await open_vote(console)
    assert any("正在投票" in s.text for s in console.seen_by("老周", "private"))
    console.as_("老周")
    console.in_(GROUP)
    await console.press("投票")
    assert console.last.labels[:3] == ["1栋1单元202", "1栋1单元301", "1栋1单元302"]
    await console.press("所有房屋投同样的票")
    await console.press("同意")
    await console.press("提交")
    assert "已记录" in console.last.text and "1栋1单元301" in console.last.text
    result = await close(console)
    assert "面积 150.00 / 450.00 m²" in result and "业主 1 / 4 人" in result  # his three rooms, one owner


def test_roster_links_by_owner_id_and_by_name_and_phone() -> None:
    lines = [(1, 10, "老周", "13900000009", "Z-9"), (2, 11, "周建国", "", "Z-9"),  # the same owner id
             (3, 12, "老周", "+86 139 0000 0009", ""),  # the same name and phone
             (4, 13, "老周", "", ""),  # a name alone names nobody elsewhere
             (5, 14, "甲", "13900000001", "")]
    assert roster_links({7: ("老周", "13900000009", [10])}, lines) == {7: [11, 12]}
    # A joined co-owner of room 10 who is not 老周 gets none of his rooms.
    assert roster_links({8: ("周太太", "13900000008", [10])}, lines) == {}


# 老周 by owner id on 301 and 302 (one line without his phone), by name and phone elsewhere; a 老周 by name alone and
# another person's lines with the same name, the characters LIKE treats specially, and whitespace around.
TRICKY_ROSTER = """楼栋,单元,房号,专有面积,业主姓名,联系电话,业主编号
1,1,101,100,甲,13900000001,
1,1,102,100,乙,13900000002,Y_2
1,1,201,100,丙,13900000003,
1,1,202,50,老周,13900000009,Z-9
1,1,301,50,周建国,,Z-9
1,1,302,50,老周,13900000009,Z-9
1,1,401,50,老周,+86 139 0000 0009,
1,1,402,50,老周,,
1,1,501,50,老周,13900000008,
1,1,502,50,100%乙,13900000002,
1,1,601,50,乙,139 0000 0002,
1,1,602,50,甲,13900000001,
"""


async def test_one_owners_rooms_read_from_their_own_roster_lines_are_those_of_the_whole_roster(
        app: App, tmp_path: Path) -> None:
    """`owned_rooms` (every /start and ballot during a vote) reads only the roster lines that may name the owner,
    not the whole compound's: what it finds must be what `roster_links` finds in all of them."""
    from sqlmodel import select

    from storage.assembly import _roster_lines, owned_rooms
    from storage.compounds import RosterOwner

    members = {"甲": ("101", "13900000001"), "乙": ("102", "13900000002"), "老周": ("202", "13900000009"),
               "丙": ("201", "13900000003")}
    compound_id = await roster_compound(app, tmp_path, roster=TRICKY_ROSTER, members=members)
    async with transaction(app.core.sessions) as session:
        # Lines written by hand, with what an import would have stripped: whitespace that only Python strips.
        room_602 = await room_by_label(session, compound_id, "1栋1单元602")
        room_501 = await room_by_label(session, compound_id, "1栋1单元501")
        assert room_602 is not None and room_501 is not None
        session.add(RosterOwner(room_id=room_602, name="\u3000老周\t", phone="13900000009", owner_ref=""))
        session.add(RosterOwner(room_id=room_501, name="", phone="", owner_ref=" Z-9\u3000"))
    found: dict[str, list[int]] = {}
    async with transaction(app.core.sessions) as session:
        people = {p.name: p for p in (await session.exec(select(Person))).all() if p.name in members}
        everything = await _roster_lines(session, compound_id)
        for name, person in people.items():
            rooms = await owned_rooms(session, (person.id or 0), compound_id)
            own = rooms[:1]
            expected = own + roster_links({(person.id or 0): (person.name, person.phone, own)}, everything).get(
                (person.id or 0), [])
            assert rooms == expected, name
            found[name] = rooms
    labels = {}
    async with transaction(app.core.sessions) as session:
        for name, rooms in found.items():
            labels[name] = [await describe_room(session, room) for room in rooms]
    assert labels["老周"] == ["1栋1单元202", "1栋1单元301", "1栋1单元302", "1栋1单元401", "1栋1单元501",
                              "1栋1单元602"]
    assert labels["乙"] == ["1栋1单元102", "1栋1单元601"] and labels["甲"] == ["1栋1单元101", "1栋1单元602"]
