"""Owners' assemblies (业主大会): assemblies, motions, ballots (one per room), and the tally that Civil Code
Art. 278 and the Supreme People's Court interpretation on building ownership (法释〔2009〕7号, Art. 8–9)
require — a pure function over plain values, computed with exact fractions.

The domain actions decide here, not in the conversation: `open_assembly` (the voting window's rule),
`start_voting`, `ballot_rooms` (whether a person may vote now, for which rooms, and why not), `pick` (an
election's approvals), `cast_ballot` (one ballot per room, paper against online), `cancel_assembly`,
`due_reminders` (who is reminded when, each slot once) and `close_voting` (the tally kept as announced)."""

from __future__ import annotations

import json
import math
import operator
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from itertools import compress, repeat
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import ledger as xlsx
from storage.compounds import Building, Compound, Room, RosterOwner, Unit, compound_setting, room_label
from storage.db import JSONDict, Prepared, Stored, UTCDateTime, add_unless_exists, status_field, utcnow
from storage.ledger import N_
from storage.people import Membership, MembershipStatus, Person, Role
from storage.places import label_key


class MotionKind(StrEnum):
    ORDINARY = "ordinary"  # more than half must agree
    SPECIAL = "special"  # at least three quarters (Art. 278 items 6–8)
    ELECTION = "election"  # each owner approves up to `seats` candidates


class AssemblyStatus(StrEnum):
    """scheduled (window not open yet) → open → closed; or cancelled before closing."""

    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


ORDINARY, SPECIAL, ELECTION = MotionKind.ORDINARY, MotionKind.SPECIAL, MotionKind.ELECTION
SCHEDULED, OPEN, CLOSED = AssemblyStatus.SCHEDULED, AssemblyStatus.OPEN, AssemblyStatus.CLOSED
CANCELLED = AssemblyStatus.CANCELLED
# A ballot's answer to a motion (stored as these plain strings in the ballot's JSON).
YES, NO, ABSTAIN = "yes", "no", "abstain"
CHOICES = (YES, NO, ABSTAIN)

MAX_MOTIONS = 20
MAX_CANDIDATES = 20
# Voting closes at least this long after it opens.
MIN_WINDOW = timedelta(hours=1)

QUORUM = Fraction(2, 3)  # at least, of the total area and of all owners
SPECIAL_BOUND = Fraction(3, 4)  # at least, of the participating area and owners
ORDINARY_BOUND = Fraction(1, 2)  # more than



class Matter(StrEnum):
    """The matters owners decide together, in the order of Civil Code Art. 278 para. 1 (items 1–9)."""

    RULES = "rules"  # (一) 制定和修改业主大会议事规则
    COVENANT = "covenant"  # (二) 制定和修改管理规约
    COMMITTEE = "committee"  # (三) 选举业主委员会或者更换业主委员会成员
    MANAGER = "manager"  # (四) 选聘和解聘物业服务企业或者其他管理人
    USE_FUNDS = "use_funds"  # (五) 使用建筑物及其附属设施的维修资金
    RAISE_FUNDS = "raise_funds"  # (六) 筹集建筑物及其附属设施的维修资金
    REBUILD = "rebuild"  # (七) 改建、重建建筑物及其附属设施 (加装电梯 is 改建)
    COMMON_USE = "common_use"  # (八) 改变共有部分的用途或者利用共有部分从事经营活动
    OTHER = "other"  # (九) 有关共有和共同管理权利的其他重大事项


# Art. 278 para. 2: items 6–8 need 3/4 of the participating area and owners; "the other matters" more than half.
# Using maintenance funds (item 5) is one of the other matters since the Civil Code (the Property Law of 2007
# had raising and using in one item, decided by 2/3).
SPECIAL_MATTERS = frozenset({Matter.RAISE_FUNDS, Matter.REBUILD, Matter.COMMON_USE})

# Words that suggest a matter, checked in this order (the first match wins). The creator always confirms it.
MATTER_HINTS: tuple[tuple[Matter, tuple[str, ...]], ...] = (
    (Matter.RAISE_FUNDS, ("筹集", "筹措", "续筹", "补充维修资金", "补缴维修资金", "raise")),
    (Matter.USE_FUNDS, ("使用维修资金", "动用维修资金", "使用专项维修资金", "动用专项维修资金", "维修资金")),
    (Matter.REBUILD, ("电梯", "改建", "重建", "改造", "拆除", "扩建", "加建", "rebuild", "reconstruct", "elevator", "lift")),
    (Matter.COMMON_USE, ("改变用途", "改变共有部分", "经营", "出租", "广告", "用途", "change the use", "business",
                         "rent out")),
    (Matter.MANAGER, ("物业", "管理人", "property company", "manager")),
    (Matter.COMMITTEE, ("业委会", "业主委员会", "委员", "committee")),
    (Matter.COVENANT, ("管理规约", "covenant")),
    (Matter.RULES, ("议事规则", "rules")),
)


def suggest_matter(text: str) -> Matter:
    """The Art. 278 item a motion's text suggests; "other major matters" when nothing does."""
    lowered = text.lower()
    return next((matter for matter, hints in MATTER_HINTS if any(hint in lowered for hint in hints)), Matter.OTHER)


def kind_of(matter: Matter | str, marked_special: bool = False) -> MotionKind:
    """The class a matter is decided by: special for items 6–8, and for any matter the creator marks special
    (the compound's rules may ask more); never ordinary when the law says special."""
    return SPECIAL if marked_special or matter in SPECIAL_MATTERS else ORDINARY


_NAME_SEPARATORS = str.maketrans(dict.fromkeys(",，、;；", " "))


def candidate_names(text: str) -> tuple[str, ...]:
    """An election's candidates as the creator typed them: separated by commas, 、, semicolons or spaces; each
    name once, at most 50 characters."""
    return tuple(dict.fromkeys(name[:50] for name in text.translate(_NAME_SEPARATORS).split()))


def suggest_kind(text: str) -> MotionKind:
    """The class of the matter the text suggests (`suggest_matter`)."""
    return kind_of(suggest_matter(text))


# ---- tables ------------------------------------------------------------------------------------------------


class Assembly(Stored, SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    title: str = Field(max_length=200)
    status: AssemblyStatus = status_field(AssemblyStatus, AssemblyStatus.SCHEDULED, 16, index=True)
    opens_at: datetime = Field(sa_type=UTCDateTime)
    closes_at: datetime = Field(sa_type=UTCDateTime, index=True)
    # Whether an online ballot may replace the owner's paper ballot (fixed when the assembly is created).
    online_replaces_paper: bool = False
    created_by: int = Field(foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    announced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancel_reason: str = Field(default="", max_length=500)
    # The tally as it stood at the close (`result_to_json`): what was announced stays what is shown later.
    result: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDict)
    # The scope: the owners of one building, or of one unit of it, decide (加装电梯); neither: the compound's.
    building_id: int | None = Field(default=None, foreign_key="building.id")
    unit_id: int | None = Field(default=None, foreign_key="unit.id")


class Motion(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    assembly_id: int = Field(foreign_key="assembly.id", index=True)
    position: int = 0
    text: str = Field(max_length=1000)
    kind: MotionKind = status_field(MotionKind, MotionKind.ORDINARY, 16)
    # The Art. 278 item (a `Matter`); "" for an election (item 3 by its nature) and for motions made before.
    matter: str = Field(default="", max_length=16)
    # A narrower scope than the assembly's for this motion alone (one building or unit of it); none: the assembly's.
    building_id: int | None = Field(default=None, foreign_key="building.id")
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    seats: int = 0  # election: how many candidates each owner may approve and how many are elected
    # election: {"candidates": ["张三", ...]}
    options: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDict)

    @property
    def candidates(self) -> list[str]:
        return [str(c) for c in self.options.get("candidates", [])]


class Ballot(SQLModel, table=True):
    """The one ballot of a room in an assembly; a change overwrites it and the old one goes to the history."""

    __table_args__ = (sa.UniqueConstraint("assembly_id", "room_id"),)
    id: int | None = Field(default=None, primary_key=True)
    assembly_id: int = Field(foreign_key="assembly.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    # {motion_id: "yes" | "no" | "abstain"} or, for an election, {motion_id: [candidate indexes]}
    choices: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDict)
    paper: bool = False
    submitted_by: int = Field(foreign_key="person.id")
    submitted_at: datetime = Field(sa_type=UTCDateTime)
    version: int = 1
    # Cast by a proxy (委托): the owner who authorised `submitted_by` to vote for the room.
    proxy_for: int | None = Field(default=None, foreign_key="person.id")


class BallotHistory(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ballot_id: int = Field(foreign_key="ballot.id", index=True)
    assembly_id: int = Field(foreign_key="assembly.id", index=True)
    room_id: int = Field(foreign_key="room.id")
    choices: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDict)
    paper: bool = False
    submitted_by: int = Field(foreign_key="person.id")
    submitted_at: datetime = Field(sa_type=UTCDateTime)
    version: int = 1
    replaced_at: datetime = Field(sa_type=UTCDateTime)
    proxy_for: int | None = Field(default=None, foreign_key="person.id")


# ---- the tally (pure) --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TallyRoom:
    room_id: int
    # The exclusive area, exact: in m², or in 1/`area_unit` m² when that is given. The loader passes the
    # registered area (two decimals) as integer hundredths with area_unit=100: summed as they are.
    area: Decimal | Fraction | int
    # Who owns the room (person ids or roster names); empty when nobody is known: the room counts as one owner.
    owners: frozenset[Any] = frozenset()
    # Not sold or not delivered: every such room belongs to the developer, who counts as one owner.
    unsold: bool = False
    area_unit: int = 1


@dataclass(frozen=True, slots=True)
class TallyMotion:
    motion_id: int
    kind: str = ORDINARY
    seats: int = 0
    candidates: int = 0
    # The key of this motion in the ballots' choices (the stored JSON's "12"), when it is not `motion_id`:
    # ballots then need no conversion on loading.
    key: Any = None
    # The rooms whose owners decide this motion (one building's or unit's), when not all the rooms the tally
    # is given: the denominator of area and owners, and the only ballots counted, are this scope's.
    electorate: frozenset[int] | None = None

    @property
    def choice_key(self) -> Any:
        return self.motion_id if self.key is None else self.key


@dataclass(frozen=True, slots=True)
class TallyBallot:
    room_id: int
    # motion key -> "yes" | "no" | "abstain", or a collection of approved candidate indexes for an election.
    choices: Mapping[Any, Any]


@dataclass(frozen=True, slots=True)
class Count:
    area: Fraction = Fraction(0)
    owners: int = 0

    def shares_of(self, whole: Count) -> tuple[Fraction, Fraction]:
        """This count's share of `whole`'s area and of its owners (none of nothing)."""
        return _share(self.area, whole.area), _share(Fraction(self.owners), Fraction(whole.owners))


@dataclass(frozen=True, slots=True)
class CandidateResult:
    index: int
    approve: Count
    passed: bool
    elected: bool = False


class Standing(StrEnum):
    """Where a candidate of an election ended up."""

    ELECTED = "elected"
    NO_SEAT = "no_seat"  # approved by the ordinary rule with the quorum met, but the seats went to others
    NOT_ELECTED = "not_elected"


@dataclass(frozen=True, slots=True)
class MotionResult:
    motion_id: int
    kind: str
    total: Count
    taking_part: Count
    yes: Count
    no: Count
    abstain: Count
    quorum_area: bool
    quorum_owners: bool
    passed: bool
    # Why it failed: ("area_turnout" | "owner_turnout" | "area_yes" | "owner_yes", share, bound), in that order.
    reasons: tuple[tuple[str, Fraction, Fraction], ...] = ()
    candidates: tuple[CandidateResult, ...] = ()

    @property
    def area_share(self) -> Fraction:
        return _share(self.taking_part.area, self.total.area)

    @property
    def owner_share(self) -> Fraction:
        return _share(Fraction(self.taking_part.owners), Fraction(self.total.owners))

    @property
    def quorum(self) -> bool:
        return self.quorum_area and self.quorum_owners

    @property
    def elected(self) -> tuple[int, ...]:
        return tuple(c.index for c in self.candidates if c.elected)

    def vacant(self, seats: int) -> int:
        """An election's seats left unfilled: its seats less those elected (all of them without a quorum)."""
        return max(seats - len(self.elected), 0) if self.kind == ELECTION else 0

    def standing(self, candidate: CandidateResult) -> Standing:
        if candidate.elected:
            return Standing.ELECTED
        return Standing.NO_SEAT if candidate.passed and self.quorum else Standing.NOT_ELECTED


@dataclass(frozen=True, slots=True)
class Turnout:
    total: Count
    taking_part: Count

    @property
    def area_share(self) -> Fraction:
        return _share(self.taking_part.area, self.total.area)

    @property
    def owner_share(self) -> Fraction:
        return _share(Fraction(self.taking_part.owners), Fraction(self.total.owners))


def _share(part: Fraction, whole: Fraction) -> Fraction:
    return part / whole if whole else Fraction(0)


def _scaled_areas(rooms: Sequence[TallyRoom]) -> tuple[dict[int, int], int]:
    """Areas as integers over one common denominator (hundredths for registered areas): sums stay exact and
    fast, and become fractions only at the end. `as_integer_ratio` is exact for Decimal, Fraction and int."""
    if not rooms:
        return {}, 1
    ids = [r.room_id for r in rooms]
    areas = [r.area for r in rooms]
    area_units = {r.area_unit for r in rooms}
    if len(area_units) == 1 and set(map(type, areas)) == {int}:
        whole = cast(list[int], areas)  # every one an int: checked just above
        return dict(zip(ids, whole, strict=True)), area_units.pop()  # the loader's integer hundredths
    ratios = [(n, d * r.area_unit) for r in rooms for n, d in (r.area.as_integer_ratio(),)]
    numerators, denominators = zip(*ratios, strict=True)
    denominator = math.lcm(*set(denominators))
    scaled = map(operator.mul, numerators, map(operator.floordiv, repeat(denominator), denominators))
    return dict(zip(ids, scaled, strict=True)), denominator


@dataclass
class _Owners:
    """Owner counting units: rooms linked by a shared owner are one owner; unsold rooms are one owner."""

    unit_of: dict[int, int] = field(default_factory=dict)  # room -> unit index
    count: int = 0
    # Units of more than one room: only their heads need the per-owner rule (`_owner_choice`).
    shared: set[int] = field(default_factory=set)
    # The rooms of those units; every other room is a unit of its own, counted without the rule.
    shared_rooms: set[int] = field(default_factory=set)


_DEVELOPER = (object(),)  # the one owner of every unsold room


def owner_units(rooms: Sequence[TallyRoom]) -> _Owners:
    """SPC interpretation Art. 9: one exclusive part counts as one owner, but one buyer of several parts and
    the developer's unsold or undelivered parts each count as one. Co-owners of a room share its one count;
    rooms linked through any common owner form one counting unit (a union-find over owners). Only rooms that
    share an owner with an earlier room are linked, so the union-find touches the few, not the 10,000."""
    pairs = [(key, index) for index, room in enumerate(rooms)
             for key in (_DEVELOPER if room.unsold else room.owners)]
    first_room_of = dict(reversed(pairs))  # each owner's first room: the earliest index is written last
    links = [(index, first_room_of[key]) for key, index in pairs if first_room_of[key] != index]
    parent: dict[int, int] = {}  # non-roots only

    def find(index: int) -> int:
        root = index
        while root in parent:
            root = parent[root]
        while index != root:
            parent[index], index = root, parent[index]
        return root

    merged = 0
    for a, b in links:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[root_a] = root_b
            merged += 1
    # A unit is named by the index of one of its rooms: a lone room by its own.
    result = _Owners(unit_of={room.room_id: index for index, room in enumerate(rooms)}, count=len(rooms) - merged)
    for index in {i for link in links for i in link}:
        root, room_id = find(index), rooms[index].room_id
        result.unit_of[room_id] = root
        result.shared.add(root)
        result.shared_rooms.add(room_id)
    return result


def turnout(rooms: Sequence[TallyRoom], ballots: Iterable[TallyBallot]) -> Turnout:
    """Who has taken part at all (any ballot), for the running turnout shown while voting is open."""
    units = owner_units(rooms)
    area_of, denominator = _scaled_areas(rooms)
    voted = area_of.keys() & {b.room_id for b in ballots}
    part_area = Fraction(sum(map(area_of.__getitem__, voted)), denominator)
    # Lone rooms are one owner each; rooms of one owner count once.
    in_shared = voted & units.shared_rooms
    part_owners = len(voted) - len(in_shared) + len({units.unit_of[r] for r in in_shared})
    return Turnout(Count(Fraction(sum(area_of.values()), denominator), units.count), Count(part_area, part_owners))


def _owner_choice(area_by_choice: Mapping[str, int]) -> str:
    """An owner with several rooms counts once. When their rooms' ballots differ, their one head follows the
    choice that carries the largest part of their voting area; a tie counts as abstaining (taking part, but
    neither agreeing nor against), so a divided will never makes up an agreement."""
    best = max(area_by_choice.values())
    leaders = [c for c, a in area_by_choice.items() if a == best]
    return leaders[0] if len(leaders) == 1 else ABSTAIN


def _passes(kind: str, yes: Count, part: Count) -> list[tuple[str, Fraction, Fraction]]:
    """Why a motion fails its agreement bounds (empty: it passes)."""
    area_share = _share(yes.area, part.area)
    owner_share = _share(Fraction(yes.owners), Fraction(part.owners))
    reasons: list[tuple[str, Fraction, Fraction]] = []
    if kind == SPECIAL:  # "at least" 3/4: the bound itself passes
        if area_share < SPECIAL_BOUND:
            reasons.append(("area_yes", area_share, SPECIAL_BOUND))
        if owner_share < SPECIAL_BOUND:
            reasons.append(("owner_yes", owner_share, SPECIAL_BOUND))
    else:  # "more than" half: exactly half fails
        if area_share <= ORDINARY_BOUND:
            reasons.append(("area_yes", area_share, ORDINARY_BOUND))
        if owner_share <= ORDINARY_BOUND:
            reasons.append(("owner_yes", owner_share, ORDINARY_BOUND))
    return reasons


# A shared-unit room's ballot: (area, unit, choices).
_SharedEntry = tuple[int, int, Mapping[Any, Any]]


def tally(rooms: Sequence[TallyRoom], motions: Sequence[TallyMotion], ballots: Iterable[TallyBallot]) -> list[MotionResult]:
    """The result of every motion. A room takes part in a motion when its ballot answers it; the area is each
    room's own, the heads are counting units (see `owner_units`, `_owner_choice`). Exact throughout: areas
    are summed as integers over one denominator, shares compared as fractions. A motion with an `electorate`
    is decided by those rooms alone: their area and their owners (an owner's rooms outside it do not count)."""
    if all(m.electorate is None for m in motions):
        return _tally(rooms, motions, ballots)
    cast = list(ballots)
    scopes: dict[frozenset[int] | None, list[TallyMotion]] = {}
    for motion in motions:
        scopes.setdefault(motion.electorate, []).append(motion)
    results: dict[int, MotionResult] = {}
    for electorate, scoped in scopes.items():
        voters = rooms if electorate is None else [r for r in rooms if r.room_id in electorate]
        results.update((r.motion_id, r) for r in _tally(voters, scoped, cast))
    return [results[m.motion_id] for m in motions]


def _tally(rooms: Sequence[TallyRoom], motions: Sequence[TallyMotion], ballots: Iterable[TallyBallot]) -> list[MotionResult]:
    units = owner_units(rooms)
    area_of, denominator = _scaled_areas(rooms)
    total = Count(Fraction(sum(area_of.values()), denominator), units.count)
    # One ballot per room: the storage enforces it, the last one wins here; ballots of unknown rooms are ignored.
    by_room = {b.room_id: b.choices for b in ballots}
    if not by_room.keys() <= area_of.keys():
        for stray in by_room.keys() - area_of.keys():
            del by_room[stray]
    # Most rooms are a counting unit of their own: their heads and areas are counted in bulk (C loops over
    # columns); the rooms of owners with several rooms go through the per-owner rule one by one.
    shared_rooms = units.shared_rooms
    lone = [r for r in by_room if r not in shared_rooms]
    lone_areas = list(map(area_of.__getitem__, lone))
    lone_choices = list(map(by_room.__getitem__, lone))
    shared = [(area_of[r], units.unit_of[r], by_room[r]) for r in by_room if r in shared_rooms]
    results: list[MotionResult] = []
    for motion in motions:
        answers = list(map(operator.methodcaller("get", motion.choice_key), lone_choices))
        if motion.kind == ELECTION:
            results.append(_tally_election(motion, lone_areas, answers, shared, denominator, total))
        else:
            results.append(_tally_motion(motion, lone_areas, answers, shared, denominator, total))
    return results


def _tally_motion(motion: TallyMotion, lone_areas: Sequence[int], answers: list[Any], shared: Sequence[_SharedEntry],
                  denominator: int, total: Count) -> MotionResult:
    """A yes / no / abstain motion: `answers` are the lone rooms' choices, in the order of `lone_areas`."""
    sums: dict[str, int] = {}
    heads: dict[str, int] = {}
    for option in CHOICES:
        heads[option] = answers.count(option)
        sums[option] = sum(compress(lone_areas, map(operator.eq, answers, repeat(option))))
    key = motion.choice_key
    per_unit: dict[int, dict[str, int]] = {}  # owner of several rooms -> choice -> area
    for area, unit, choices in shared:
        choice = choices.get(key)
        if choice.__class__ is not str or choice not in sums:
            continue
        sums[choice] += area
        unit_choices = per_unit.get(unit)
        if unit_choices is None:
            per_unit[unit] = {choice: area}
        else:
            unit_choices[choice] = unit_choices.get(choice, 0) + area
    for unit_choices in per_unit.values():
        if len(unit_choices) == 1:  # the common case: all the owner's rooms answered alike
            heads[next(iter(unit_choices))] += 1
        else:
            heads[_owner_choice(unit_choices)] += 1
    part = Count(Fraction(sum(sums.values()), denominator), sum(heads.values()))
    yes, no, abstain = (Count(Fraction(sums[c], denominator), heads[c]) for c in (YES, NO, ABSTAIN))
    return _result(motion, total, part, yes, no, abstain)


def _quorum(total: Count, part: Count) -> list[tuple[str, Fraction, Fraction]]:
    """Art. 278: owners holding at least 2/3 of the area and at least 2/3 of the owners take part."""
    reasons: list[tuple[str, Fraction, Fraction]] = []
    area_share = _share(part.area, total.area)
    owner_share = _share(Fraction(part.owners), Fraction(total.owners))
    if area_share < QUORUM:
        reasons.append(("area_turnout", area_share, QUORUM))
    if owner_share < QUORUM:
        reasons.append(("owner_turnout", owner_share, QUORUM))
    return reasons


def _result(motion: TallyMotion, total: Count, part: Count, yes: Count, no: Count, abstain: Count,
            candidates: tuple[CandidateResult, ...] = ()) -> MotionResult:
    reasons = _quorum(total, part)
    quorum_area = not any(r[0] == "area_turnout" for r in reasons)
    quorum_owners = not any(r[0] == "owner_turnout" for r in reasons)
    if motion.kind != ELECTION:
        reasons += _passes(motion.kind, yes, part)
    elif not reasons and not any(c.elected for c in candidates):
        reasons.append(("nobody_elected", Fraction(0), ORDINARY_BOUND))
    return MotionResult(motion.motion_id, motion.kind, total, part, yes, no, abstain, quorum_area, quorum_owners,
                        not reasons, tuple(reasons), candidates)


# What an election answer may be: the candidates' indexes (a JSON list when stored). Anything else, e.g. a
# yes/no answer or a damaged value, is no answer to the election and must not stop the close.
_APPROVALS = (list, tuple, set, frozenset)


def _valid_picks(approved: Iterable[Any], candidates: int, seats: int) -> set[int]:
    picks = {int(i) for i in approved if 0 <= int(i) < candidates}
    # An over-filled ballot approves nobody, as a spoilt paper ballot would.
    return picks if len(picks) <= seats else set()


def _tally_election(motion: TallyMotion, lone_areas: Sequence[int], answers: list[Any],
                    shared: Sequence[_SharedEntry], denominator: int, total: Count) -> MotionResult:
    """Each owner approves up to `seats` candidates; a candidate passes with the ordinary rule (more than half
    of the participating area and owners approving), and the seats go to the passing candidates with the
    most approving area, then the most approving owners, then the order on the ballot. An owner of several
    rooms approves a candidate when the rooms approving carry more than half of their voting area."""
    n, key = motion.candidates, motion.choice_key
    approve_area, approve_heads = [0] * n, [0] * n
    part_area = part_heads = 0
    # Lone rooms: thousands of ballots but few distinct approvals, so each approval is checked and counted once.
    groups: dict[tuple[Any, ...], list[int]] = {}  # approval -> [area, rooms]
    for area, approved in zip(lone_areas, answers, strict=True):
        if not isinstance(approved, _APPROVALS):
            continue
        group = groups.get(approval := tuple(approved))
        if group is None:
            groups[approval] = [area, 1]
        else:
            group[0] += area
            group[1] += 1
    picks_of: dict[tuple[Any, ...], set[int]] = {}
    for approval, (area, rooms) in groups.items():
        part_area += area
        part_heads += rooms
        picks_of[approval] = _valid_picks(approval, n, motion.seats)
        for index in picks_of[approval]:
            approve_area[index] += area
            approve_heads[index] += rooms
    per_unit: dict[int, tuple[list[int], list[int]]] = {}  # owner of several rooms -> ([voting area], [for area])
    for area, unit, choices in shared:
        approved = choices.get(key)
        if not isinstance(approved, _APPROVALS):
            continue
        picks = picks_of.get(approval := tuple(approved))
        if picks is None:
            picks = picks_of[approval] = _valid_picks(approval, n, motion.seats)
        part_area += area
        unit_areas = per_unit.get(unit)
        if unit_areas is None:
            unit_areas = per_unit[unit] = ([0], [0] * n)
        voting, for_area = unit_areas
        voting[0] += area
        for index in picks:
            approve_area[index] += area
            for_area[index] += area
    for voting, for_area in per_unit.values():
        part_heads += 1
        for index, approving in enumerate(for_area):
            approve_heads[index] += approving * 2 > voting[0]  # a tie within one owner's rooms does not approve
    part = Count(Fraction(part_area, denominator), part_heads)
    counted = []
    for index in range(n):
        approve = Count(Fraction(approve_area[index], denominator), approve_heads[index])
        counted.append(CandidateResult(index, approve, not _passes(ORDINARY, approve, part)))
    quorum_ok = not _quorum(total, part)
    ranked = sorted((c for c in counted if c.passed and quorum_ok),
                    key=lambda c: (-c.approve.area, -c.approve.owners, c.index))
    winners = {c.index for c in ranked[: motion.seats]}
    candidates = tuple(CandidateResult(c.index, c.approve, c.passed, c.index in winners) for c in counted)
    zero = Count()
    return _result(motion, total, part, zero, zero, zero, candidates)


def _count_json(count: Count) -> list[Any]:
    return [str(count.area), count.owners]


def _count_of(value: list[Any]) -> Count:
    return Count(Fraction(str(value[0])), int(value[1]))


def result_to_json(results: Sequence[MotionResult]) -> dict[str, Any]:
    """Exact fractions as "n/d" strings, so a stored result reads back identically."""
    return {"motions": [{
        "motion_id": r.motion_id, "kind": r.kind, "total": _count_json(r.total), "part": _count_json(r.taking_part),
        "yes": _count_json(r.yes), "no": _count_json(r.no), "abstain": _count_json(r.abstain),
        "quorum_area": r.quorum_area, "quorum_owners": r.quorum_owners, "passed": r.passed,
        "reasons": [[code, str(share), str(bound)] for code, share, bound in r.reasons],
        "candidates": [[c.index, _count_json(c.approve), c.passed, c.elected] for c in r.candidates],
    } for r in results]}


def result_from_json(data: Mapping[str, Any]) -> list[MotionResult]:
    return [MotionResult(
        int(m["motion_id"]), str(m["kind"]), _count_of(m["total"]), _count_of(m["part"]), _count_of(m["yes"]),
        _count_of(m["no"]), _count_of(m["abstain"]), bool(m["quorum_area"]), bool(m["quorum_owners"]),
        bool(m["passed"]), tuple((str(c), Fraction(s), Fraction(b)) for c, s, b in m["reasons"]),
        tuple(CandidateResult(int(i), _count_of(a), bool(p), bool(e)) for i, a, p, e in m["candidates"]),
    ) for m in data.get("motions", [])]


# ---- queries -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose owners decide: the compound's (neither), one building's, or one unit's (of that building)."""

    building_id: int | None = None
    unit_id: int | None = None

    @property
    def whole(self) -> bool:
        return self.building_id is None and self.unit_id is None

    def within(self, outer: Scope) -> bool:
        """Whether this scope lies inside `outer` (a motion's inside its assembly's)."""
        if outer.unit_id is not None:
            return self.unit_id == outer.unit_id
        return outer.building_id is None or self.building_id == outer.building_id


def scope_of(item: Assembly | Motion) -> Scope:
    return Scope(item.building_id, item.unit_id)


def motion_scope(assembly: Assembly, motion: Motion) -> Scope:
    """A motion's own scope when it has one, else its assembly's."""
    own = scope_of(motion)
    return scope_of(assembly) if own.whole else own


def _scope_sql(scope: Scope) -> tuple[str, dict[str, int]]:
    if scope.unit_id is not None:
        return " AND unit_id = :u", {"u": scope.unit_id}
    if scope.building_id is not None:
        return " AND building_id = :b", {"b": scope.building_id}
    return "", {}


async def scope_rooms(session: AsyncSession, compound_id: int, scope: Scope) -> set[int] | None:
    """The rooms of a building or unit scope; None for the whole compound (every room, not listed)."""
    if scope.whole:
        return None
    where, values = _scope_sql(scope)
    rows = await (await session.connection()).execute(
        sa.text("SELECT id FROM room WHERE compound_id = :c" + where), {"c": compound_id, **values})
    return {room_id for (room_id,) in rows.all()}


async def electorate(session: AsyncSession, assembly: Assembly) -> set[int] | None:
    """The rooms whose owners are asked in this assembly: its scope's; None when it is the whole compound's."""
    return await scope_rooms(session, assembly.compound_id, scope_of(assembly))


def in_scope(rooms: Iterable[int], scoped: set[int] | None) -> list[int]:
    return list(rooms) if scoped is None else [r for r in rooms if r in scoped]


async def scope_name(session: AsyncSession, scope: Scope) -> str:
    """1栋 or 1栋2单元; "" for the whole compound."""
    if scope.unit_id is not None:
        unit = await session.get(Unit, scope.unit_id)
        building = await session.get(Building, unit.building_id) if unit is not None else None
        return f"{building.name if building else ''}{unit.name if unit else ''}"
    if scope.building_id is not None:
        building = await session.get(Building, scope.building_id)
        return building.name if building else ""
    return ""


async def tally_rooms(session: AsyncSession, compound_id: int, scope: Scope = Scope()) -> list[TallyRoom]:
    """Every room of the compound with its area, unsold flag and owners: the approved owner members and the
    roster's owners by its identity (`storage.roster.room_owner_keys`), so a person's rooms count once whether
    they joined or not. Plain SQL: the close tallies 10,000 rooms, and ORM rows would cost more than the tally."""
    from storage.roster import room_owner_keys

    conn = await session.connection()
    owners = await room_owner_keys(session, compound_id)
    # Areas are registered to the hundredth of a m² (Numeric(12, 2)): read them as exact integer hundredths.
    where, values = _scope_sql(scope)
    rooms = await conn.execute(sa.text(
        "SELECT id, CAST(ROUND(area * 100) AS INTEGER), unsold FROM room WHERE compound_id = :c" + where),
        {"c": compound_id, **values})
    none: frozenset[Any] = frozenset()
    return [TallyRoom(room_id, hundredths, frozenset(owners[room_id]) if room_id in owners else none, bool(unsold),
                      area_unit=100) for room_id, hundredths, unsold in rooms.all()]


def tally_motions(motions: Iterable[Motion]) -> list[TallyMotion]:
    return [TallyMotion(m.id or 0, m.kind, m.seats, len(m.candidates), key=str(m.id)) for m in motions]


async def tally_ballots(session: AsyncSession, assembly_id: int) -> list[TallyBallot]:
    conn = await session.connection()
    rows = await conn.execute(sa.text("SELECT room_id, choices FROM ballot WHERE assembly_id = :a"),
                              {"a": assembly_id})
    found = rows.all()
    texts = [choices for _room, choices in found]
    if all(isinstance(t, str) for t in texts):
        # One decode of one array is several times faster than 10,000 small ones.
        decoded = json.loads("[" + ",".join(texts) + "]")
    else:
        decoded = [json.loads(t) if isinstance(t, str) else dict(t or {}) for t in texts]
    # Choices stay keyed as stored ("12"), matching `tally_motions`' keys.
    return [TallyBallot(room_id, choices) for (room_id, _text), choices in zip(found, decoded, strict=True)]


async def motions_of(session: AsyncSession, assembly_id: int) -> list[Motion]:
    result = await session.exec(select(Motion).where(Motion.assembly_id == assembly_id).order_by(col(Motion.position)))
    return list(result.all())


async def motion_electorates(session: AsyncSession, assembly: Assembly,
                             motions: Sequence[Motion]) -> list[frozenset[int] | None]:
    """Each motion's own electorate, in the motions' order: the rooms of its narrower scope, or None when the
    assembly's owners decide it."""
    found: list[frozenset[int] | None] = []
    for motion in motions:
        own = not scope_of(motion).whole and scope_of(motion) != scope_of(assembly)
        rooms = await scope_rooms(session, assembly.compound_id, scope_of(motion)) if own else None
        found.append(frozenset(rooms or ()) if own else None)
    return found


async def asked_motions(session: AsyncSession, assembly: Assembly, rooms: Iterable[int]) -> list[bool]:
    """Which motions a ballot for `rooms` answers, in order: all the assembly's, and a motion of one building or
    unit only when one of the rooms is there."""
    rooms = set(rooms)
    return [scoped is None or bool(scoped & rooms)
            for scoped in await motion_electorates(session, assembly, await motions_of(session, assembly.stored_id))]


async def tally_assembly(session: AsyncSession, assembly: Assembly) -> list[MotionResult]:
    """Every motion tallied over its scope's rooms: the assembly's, or a motion's own narrower one."""
    assert assembly.id is not None
    motions = await motions_of(session, assembly.id)
    counted = [replace(motion, electorate=scoped) for motion, scoped in
               zip(tally_motions(motions), await motion_electorates(session, assembly, motions), strict=True)]
    return tally(await tally_rooms(session, assembly.compound_id, scope_of(assembly)), counted,
                 await tally_ballots(session, assembly.id))


async def assembly_turnout(session: AsyncSession, assembly: Assembly) -> Turnout:
    """Who has taken part so far, of the assembly's scope (its area and its owners)."""
    assert assembly.id is not None
    return turnout(await tally_rooms(session, assembly.compound_id, scope_of(assembly)),
                   await tally_ballots(session, assembly.id))


async def owned_rooms(session: AsyncSession, person_id: int, compound_id: int) -> list[int]:
    """The rooms the person owns in the compound: those they are an approved owner member of, then those only the
    roster links to them (`roster_links`), which they vote for online too."""
    result = await session.exec(select(Membership.room_id).where(
        Membership.person_id == person_id, Membership.compound_id == compound_id, Membership.relation == "owner",
        Membership.status == MembershipStatus.APPROVED).order_by(col(Membership.room_id)))
    rooms = list(dict.fromkeys(r for r in result.all() if r is not None))
    person = await session.get(Person, person_id)
    if not rooms or person is None:
        return rooms
    linked = roster_links({person_id: (person.name, person.phone, rooms)},
                          await _lines_that_may_name(session, compound_id, person.name, rooms))
    return rooms + linked.get(person_id, [])


async def _lines_that_may_name(session: AsyncSession, compound_id: int, name: str,
                               rooms: Sequence[int]) -> list[RosterLine]:
    """The roster lines `roster_links` needs for one owner, not the whole compound's (a /start during a vote asks
    this): the lines on their rooms, and those elsewhere in the compound whose owner id or name contains one of
    theirs (a superset of the lines with the same `roster_identity`: the database cannot strip text as Python
    does, so it looks for the text inside)."""
    own = await _roster_lines(session, compound_id, col(RosterOwner.room_id).in_(rooms))
    refs = {ref.strip() for *_, ref in own if ref.strip()}
    names = {line_name.strip() for _, _, line_name, _, _ in own if line_name.strip()} | (
        {name.strip()} if (name or "").strip() else set())
    wanted = [col(RosterOwner.owner_ref).contains(ref, autoescape=True) for ref in sorted(refs)] + [
        col(RosterOwner.name).contains(each, autoescape=True) for each in sorted(names)]
    if not wanted:
        return own
    elsewhere = await _roster_lines(session, compound_id, sa.and_(col(RosterOwner.room_id).not_in(rooms),
                                                                  sa.or_(*wanted)))
    return sorted(own + elsewhere, key=lambda line: (line[1], line[0]))


# A roster line: (line id, room, name, phone, owner id).
RosterLine = tuple[int, int, str, str, str]


async def _roster_lines(session: AsyncSession, compound_id: int, where: Any = None) -> list[RosterLine]:
    """The compound's roster lines (those `where` also says), by room."""
    columns: list[Any] = [RosterOwner.id, RosterOwner.room_id, RosterOwner.name, RosterOwner.phone,
                          RosterOwner.owner_ref]
    query = (sa.select(*columns).join(Room, col(Room.id) == RosterOwner.room_id)
             .where(col(Room.compound_id) == compound_id).order_by(col(RosterOwner.room_id), col(RosterOwner.id)))
    if where is not None:
        query = query.where(where)
    rows = await (await session.connection()).execute(query)
    return [(line, room, name or "", phone or "", ref or "") for line, room, name, phone, ref in rows.all()]


def roster_links(members: Mapping[int, tuple[str, str, Sequence[int]]],
                 lines: Iterable[RosterLine]) -> dict[int, list[int]]:
    """Each joined owner's rooms that only the roster links to them, as the headcount does (`storage.roster.
    owner_keys`): the roster lines that are the owner's own — on one of their rooms, with their phone (or, with
    no phone, their name) — say who they are on the roster (the owner id 业主编号, or name and phone), as do their
    own name and phone; every other room with a line saying the same is theirs too. `members`: person -> (name,
    phone, their rooms as a member)."""
    from storage.people import normalize_phone
    from storage.roster import roster_identity

    on_room: dict[int, list[tuple[tuple[Any, ...], str, str]]] = {}
    rooms_of: dict[tuple[Any, ...], list[int]] = {}
    for line_id, room_id, name, phone, ref in lines:
        identity = roster_identity(line_id, name, phone, ref)
        on_room.setdefault(room_id, []).append((identity, name.strip(), normalize_phone(phone)))
        if identity[0] != "line":  # a name or a phone alone says nothing about other rooms
            rooms_of.setdefault(identity, []).append(room_id)
    linked: dict[int, list[int]] = {}
    for person_id, (name, phone, rooms) in members.items():
        digits = normalize_phone(phone or "")
        who = {roster_identity(0, name or "", phone or "", "")}
        for room_id in rooms:
            who.update(identity for identity, line_name, line_phone in on_room.get(room_id, ())
                       if (digits and line_phone == digits) or (not line_phone and line_name == (name or "").strip()))
        found = [room for identity in who for room in rooms_of.get(identity, ()) if room not in rooms]
        if found:
            linked[person_id] = sorted(set(found))
    return linked


async def owners_of_room(session: AsyncSession, room_id: int) -> list[int]:
    result = await session.exec(select(Membership.person_id).where(
        Membership.room_id == room_id, Membership.relation == "owner", Membership.status == MembershipStatus.APPROVED
    ).order_by(col(Membership.id)))
    return list(dict.fromkeys(result.all()))


async def owner_people(session: AsyncSession, compound_id: int,
                       scoped: set[int] | None = None) -> dict[int, list[int]]:
    """Every approved owner of the compound and their rooms (also those only the roster links to them:
    `roster_links`); with `scoped` (`electorate`), only those rooms'."""
    result = await session.exec(select(Membership.person_id, Membership.room_id, Person.name, Person.phone)
                                .join(Person, col(Person.id) == Membership.person_id).where(
        Membership.compound_id == compound_id, Membership.relation == "owner", Membership.status == MembershipStatus.APPROVED
    ).order_by(col(Membership.id)))
    members: dict[int, tuple[str, str, list[int]]] = {}
    for person_id, room_id, name, phone in result.all():
        if room_id is not None:
            members.setdefault(person_id, (name, phone, []))[2].append(room_id)
    linked = roster_links(members, await _roster_lines(session, compound_id)) if members else {}
    people: dict[int, list[int]] = {}
    for person_id, (_name, _phone, rooms) in members.items():
        mine = [room for room in dict.fromkeys([*rooms, *linked.get(person_id, [])])
                if scoped is None or room in scoped]
        if mine:
            people[person_id] = mine
    return people


async def ballots_of(session: AsyncSession, assembly_id: int) -> dict[int, Ballot]:
    result = await session.exec(select(Ballot).where(Ballot.assembly_id == assembly_id))
    return {b.room_id: b for b in result.all()}


async def room_names(session: AsyncSession, compound_id: int) -> dict[int, str]:
    """Every room of the compound as the roster writes it (1栋1单元301)."""
    return {room_id: label for room_id, (label, _area) in (await room_labels(session, compound_id)).items()}


async def room_labels(session: AsyncSession, compound_id: int) -> dict[int, tuple[str, Decimal]]:
    rows = await session.exec(
        select(Room, col(Building.name), col(Unit.name))
        .join(Unit, col(Unit.id) == Room.unit_id).join(Building, col(Building.id) == Room.building_id)
        .where(Room.compound_id == compound_id).order_by(col(Building.sort), col(Unit.sort), col(Room.number))
    )
    return {room.id or 0: (room_label(b, u, room.number), room.area) for room, b, u in rows.all()}


async def assemblies_of(session: AsyncSession, compound_id: int, limit: int = 10) -> list[Assembly]:
    result = await session.exec(select(Assembly).where(Assembly.compound_id == compound_id)
                                .order_by(col(Assembly.closes_at).desc()).limit(limit))
    return list(result.all())


async def assembly_of(session: AsyncSession, assembly_id: int, compound_id: int) -> Assembly | None:
    """The assembly, if it is this compound's."""
    assembly = await session.get(Assembly, assembly_id)
    return assembly if assembly is not None and assembly.compound_id == compound_id else None


async def open_for_voting(session: AsyncSession, compound_id: int) -> list[Assembly]:
    result = await session.exec(select(Assembly).where(Assembly.compound_id == compound_id,
                                                       Assembly.status == AssemblyStatus.OPEN)
                                .order_by(col(Assembly.closes_at)))
    return list(result.all())


async def _in_status(session: AsyncSession, status: AssemblyStatus) -> list[Assembly]:
    result = await session.exec(select(Assembly).where(Assembly.status == status).order_by(col(Assembly.id)))
    return list(result.all())


async def due_to_open(session: AsyncSession, now: datetime) -> list[Assembly]:
    return [a for a in await _in_status(session, AssemblyStatus.SCHEDULED) if a.opens_at <= now]


async def voting_now(session: AsyncSession, now: datetime) -> list[Assembly]:
    return [a for a in await _in_status(session, AssemblyStatus.OPEN) if a.closes_at > now]


async def due_to_close(session: AsyncSession, now: datetime) -> list[Assembly]:
    return [a for a in await _in_status(session, AssemblyStatus.OPEN) if a.closes_at <= now]


async def room_by_label(session: AsyncSession, compound_id: int, typed: str) -> int | None:
    """The compound's room a person typed as the roster writes it (1栋1单元301); spaces, full-width digits,
    traditional characters and 室 are forgiven (1棟1單元301室), as when joining (storage/places.py)."""
    wanted = label_key(typed)
    return next((room_id for room_id, (label, _area) in (await room_labels(session, compound_id)).items()
                 if label_key(label) == wanted), None) if wanted else None


def _label_key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


async def voters_of(session: AsyncSession, assembly_id: int) -> list[int]:
    """Everyone a ballot speaks for: the owners of every room that voted, and who submitted an online ballot."""
    voters: set[int] = set()
    for ballot in (await ballots_of(session, assembly_id)).values():
        voters.update(await owners_of_room(session, ballot.room_id))
        if not ballot.paper:
            voters.add(ballot.submitted_by)
    return sorted(voters)


# ---- domain actions ----------------------------------------------------------------------------------------


class MotionSpec(BaseModel):
    """A motion as its creator wrote it, before the assembly exists."""

    model_config = ConfigDict(frozen=True)

    text: str
    kind: MotionKind = MotionKind.ORDINARY
    matter: Matter | None = None  # the Art. 278 item; a special one makes the motion special whatever `kind` says
    # A scope of this motion alone, inside the assembly's (one building, or one unit of it); none: the assembly's.
    building_id: int | None = None
    unit_id: int | None = None
    seats: int = 0  # election: how many are elected, and how many each owner may approve
    candidates: tuple[str, ...] = ()
    by_election_of: int | None = None  # a by-election: the election (motion id) whose seats stayed vacant


def by_election(assembly: Assembly, motion: Motion, text: str) -> MotionSpec | None:
    """The by-election of an election whose seats stayed vacant at the close: as many seats as are vacant, and the
    candidates who were not elected (standing again, unless the creator changes them); None without a vacancy.
    With fewer remaining candidates than vacant seats, the seats are as many as the candidates (none: no spec,
    the creator types new names)."""
    if motion.kind != ELECTION or assembly.status != AssemblyStatus.CLOSED:
        return None
    result = next((r for r in result_from_json(assembly.result) if r.motion_id == motion.id), None)
    if result is None or not (vacant := result.vacant(motion.seats)):
        return None
    remaining = tuple(name for index, name in enumerate(motion.candidates) if index not in result.elected)
    if not remaining:
        return None
    return MotionSpec(text=text[:1000], kind=ELECTION, seats=min(vacant, len(remaining)), candidates=remaining,
                      by_election_of=motion.id)


class WindowProblem(StrEnum):
    """What is wrong with a voting window."""

    CLOSES_FIRST = "closes_first"  # it would close before (or when) it opens
    TOO_SHORT = "too_short"  # it would close less than MIN_WINDOW after it opens


def voting_starts(opens: datetime, now: datetime) -> datetime:
    """When voting really begins: at `opens`, or at once if that has passed."""
    return max(opens, now)


def window_problem(opens: datetime, closes: datetime, now: datetime) -> WindowProblem | None:
    """The window's rule: voting closes at least MIN_WINDOW after it begins."""
    start = voting_starts(opens, now)
    if closes <= start:
        return WindowProblem.CLOSES_FIRST
    if closes - start < MIN_WINDOW:
        return WindowProblem.TOO_SHORT
    return None


async def _check_scope(session: AsyncSession, compound: Compound, scope: Scope) -> bool:
    """A scope names a building of the compound and, optionally, a unit of that building; ValueError otherwise."""
    if scope.whole:
        return True
    building = await session.get(Building, scope.building_id) if scope.building_id is not None else None
    unit = await session.get(Unit, scope.unit_id) if scope.unit_id is not None else None
    if building is None or building.compound_id != compound.id or (
            scope.unit_id is not None and (unit is None or unit.building_id != building.id)):
        raise ValueError("a scope is a building of the compound, or a unit of that building")
    return True


async def open_assembly(session: AsyncSession, compound: Compound, title: str, motions: Sequence[MotionSpec],
                        opens: datetime, closes: datetime, person_id: int, now: datetime,
                        scope: Scope = Scope()) -> Assembly | WindowProblem:
    """Create the assembly with its motions; voting opens at once when `opens` has come (the caller announces
    it then), else the `open` job opens it. Refused (the problem) when the window breaks its rule. `scope`:
    the building or unit whose owners decide (a motion may narrow it further); ValueError outside the compound."""
    problem = window_problem(opens, closes, now)
    if problem is not None:
        return problem
    await _check_scope(session, compound, scope)
    for motion in motions:
        own = Scope(motion.building_id, motion.unit_id)
        if not own.whole and not (own.within(scope) and await _check_scope(session, compound, own)):
            raise ValueError("a motion's scope lies inside its assembly's")
    if not title or not 1 <= len(motions) <= MAX_MOTIONS:
        raise ValueError(f"an assembly has a title and 1 to {MAX_MOTIONS} motions")
    for motion in motions:
        if motion.kind == MotionKind.ELECTION and not 1 <= motion.seats <= len(motion.candidates) <= MAX_CANDIDATES:
            raise ValueError("an election fills from one seat to as many as it has candidates")
    assert compound.id is not None
    assembly = Assembly(compound_id=compound.id, title=title[:200], opens_at=opens, closes_at=closes,
                        created_by=person_id, created_at=now, building_id=scope.building_id, unit_id=scope.unit_id,
                        online_replaces_paper=bool(compound_setting(compound, "assembly_online_replaces_paper", False)))
    if opens <= now:
        assembly.status, assembly.announced_at = AssemblyStatus.OPEN, now
    session.add(assembly)
    await session.flush()
    assert assembly.id is not None
    for position, motion in enumerate(motions, 1):
        election = motion.kind == MotionKind.ELECTION
        kind = motion.kind if election or motion.matter is None else kind_of(motion.matter, motion.kind == SPECIAL)
        session.add(Motion(assembly_id=assembly.id, position=position, text=motion.text[:1000], kind=kind,
                           matter="" if election or motion.matter is None else motion.matter,
                           building_id=motion.building_id, unit_id=motion.unit_id,
                           seats=motion.seats if election else 0,
                           options=({"candidates": list(motion.candidates)} | (
                               {"by_election_of": motion.by_election_of} if motion.by_election_of else {}))
                           if election else {}))
    await session.flush()
    if await nominate(session, compound, assembly):  # no ballot before the candidates are vetted
        assembly.status, assembly.announced_at = AssemblyStatus.SCHEDULED, None
        session.add(assembly)
    return assembly


async def start_due_voting(session: AsyncSession, now: datetime) -> list[Assembly]:
    """Every scheduled assembly whose time has come opens for voting: the ones opened now (to announce)."""
    return [assembly for assembly in await due_to_open(session, now) if await start_voting(session, assembly, now)]


async def start_voting(session: AsyncSession, assembly: Assembly, now: datetime) -> bool:
    """A scheduled assembly whose time has come, and whose candidates are all vetted, opens for voting (the caller
    announces it); False otherwise."""
    if assembly.status != AssemblyStatus.SCHEDULED or assembly.opens_at > now:
        return False
    if await vetting_pending(session, assembly.stored_id):
        return False
    assembly.status, assembly.announced_at = AssemblyStatus.OPEN, now
    session.add(assembly)
    return True


def cancellable(assembly: Assembly) -> bool:
    """An assembly can be cancelled until voting has closed."""
    return assembly.status in (AssemblyStatus.SCHEDULED, AssemblyStatus.OPEN)


async def cancel_assembly(session: AsyncSession, assembly_id: int, compound_id: int, reason: str) -> Assembly | None:
    """Cancel this compound's scheduled or open assembly, with the reason announced; None when it is not one
    that can still be cancelled."""
    assembly = await assembly_of(session, assembly_id, compound_id)
    if assembly is None or not cancellable(assembly):
        return None
    assembly.status, assembly.cancel_reason = AssemblyStatus.CANCELLED, reason[:500]
    session.add(assembly)
    return assembly


# ---- reminders (催票) ---------------------------------------------------------------------------------------

# When the owners who have not voted are reminded, at most: the private word when voting opens, halfway through
# the window, and these hours before the close. A compound chooses its own set (`assembly.reminders`), never more
# than MAX_REMINDERS; the group's turnout posting is edited as ballots come in, on no reminder's schedule.
OPENING, HALFWAY = "opening", "halfway"
REMINDERS = (OPENING, HALFWAY, "48h", "24h")
MAX_REMINDERS = 4
# Two reminders closer than this are one: the later one is dropped (a short window).
REMINDER_GAP = timedelta(hours=1)


def reminder_hours(slot: str) -> int | None:
    """The hours before the close of a slot written "48h"; None for another slot."""
    hours = slot[:-1] if slot.endswith("h") else ""
    return int(hours) if hours.isdigit() and 1 <= int(hours) <= 24 * 60 else None


def parse_reminders(items: Iterable[Any]) -> list[str]:
    """A compound's reminder set as an operator writes it: opening, halfway and "<hours>h" before the close
    (48h, 24h), each once, at most MAX_REMINDERS of them; ValueError otherwise."""
    slots = list(dict.fromkeys(word for item in items if (word := str(item).strip().lower())))
    if not slots or len(slots) > MAX_REMINDERS:
        raise ValueError(f"from 1 to {MAX_REMINDERS} reminders")
    for slot in slots:
        if slot not in (OPENING, HALFWAY) and reminder_hours(slot) is None:
            raise ValueError(f"{slot!r} is not opening, halfway or hours before the close such as 24h")
    return slots


def reminder_set(compound: Compound | None) -> list[str]:
    """The compound's reminder slots (`assembly.reminders`, "opening,halfway,48h,24h" by default); a damaged
    setting falls back to the default, and never more than MAX_REMINDERS are used."""
    chosen = compound_setting(compound, "assembly.reminders", ",".join(REMINDERS)) if compound else ""
    try:
        return parse_reminders(chosen if isinstance(chosen, list) else str(chosen).split(","))
    except ValueError:
        return list(REMINDERS)


def reminder_plan(slots: Sequence[str], starts: datetime, closes: datetime) -> list[tuple[str, datetime]]:
    """When each slot falls for a vote from `starts` to `closes`: the ones inside the window, in time order,
    none within REMINDER_GAP after the one before it."""
    timed: list[tuple[datetime, str]] = []
    for slot in slots[:MAX_REMINDERS]:
        if slot == OPENING:
            due = starts
        elif slot == HALFWAY:
            due = starts + (closes - starts) / 2
        elif (hours := reminder_hours(slot)) is not None:
            due = closes - timedelta(hours=hours)
        else:
            continue
        if starts <= due < closes:
            timed.append((due, slot))
    plan: list[tuple[str, datetime]] = []
    for due, slot in sorted(timed, key=lambda pair: (pair[0], pair[1] != OPENING)):
        if not plan or due - plan[-1][1] >= REMINDER_GAP:
            plan.append((slot, due))
    return plan


class AssemblyReminder(Stored, SQLModel, table=True):
    """One reminder slot of an assembly, planned when voting opens and claimed with UPDATE ... WHERE sent_at IS
    NULL when due, so that of two processes only one sends it."""

    __tablename__ = "assembly_reminder"
    __table_args__ = (sa.UniqueConstraint("assembly_id", "slot"),)
    id: int | None = Field(default=None, primary_key=True)
    assembly_id: int = Field(foreign_key="assembly.id", index=True)
    slot: str = Field(max_length=16)
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReminderStop(SQLModel, table=True):
    """An owner pressed 不再提醒 on a reminder of this assembly: no more of its reminders for them."""

    __tablename__ = "assembly_reminder_stop"
    assembly_id: int = Field(foreign_key="assembly.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


async def plan_reminders(session: AsyncSession, assembly: Assembly, compound: Compound | None) -> list[str]:
    """The assembly's reminder slots from when voting began (each row once: a second process planning at the same
    moment adds nothing). The slots planned."""
    starts = assembly.announced_at or assembly.opens_at
    planned = []
    for slot, due in reminder_plan(reminder_set(compound), starts, assembly.closes_at):
        if await add_unless_exists(session, AssemblyReminder(assembly_id=assembly.stored_id, slot=slot, due_at=due)):
            planned.append(slot)
    return planned


async def claim_reminders(session: AsyncSession, assembly: Assembly, compound: Compound | None,
                          now: datetime) -> list[str]:
    """The slots of an open assembly due now, each claimed once (UPDATE ... WHERE sent_at IS NULL): the ones this
    process is to send, in time order. Planned first when voting opened before there were slots."""
    if voting(assembly, now) != Voting.OPEN:
        return []
    rows = list((await session.exec(select(AssemblyReminder).where(
        AssemblyReminder.assembly_id == assembly.stored_id).order_by(col(AssemblyReminder.due_at)))).all())
    if not rows:
        await plan_reminders(session, assembly, compound)
        rows = list((await session.exec(select(AssemblyReminder).where(
            AssemblyReminder.assembly_id == assembly.stored_id).order_by(col(AssemblyReminder.due_at)))).all())
    claimed: list[str] = []
    for row in rows:
        if row.sent_at is not None or row.due_at > now:
            continue
        done = await session.exec(sa.update(AssemblyReminder).where(
            col(AssemblyReminder.id) == row.id, col(AssemblyReminder.sent_at).is_(None)).values(sent_at=now))
        if done.rowcount == 1:
            claimed.append(row.slot)
    return claimed


async def unvoted_owners(session: AsyncSession, assembly: Assembly) -> dict[int, list[int]]:
    """Every owner of the assembly's scope with rooms that have not voted yet, and those rooms."""
    assert assembly.id is not None
    voted = await ballots_of(session, assembly.id)
    owners = await owner_people(session, assembly.compound_id, await electorate(session, assembly))
    asked = set(await _asked_rooms(session, assembly, [room for rooms in owners.values() for room in rooms]))
    missing = {person: [r for r in rooms if r not in voted and r in asked] for person, rooms in owners.items()}
    return {person: rooms for person, rooms in missing.items() if rooms}


async def reminders_stopped(session: AsyncSession, assembly_id: int) -> set[int]:
    """Who pressed 不再提醒 in this assembly."""
    found = await session.exec(select(ReminderStop.person_id).where(ReminderStop.assembly_id == assembly_id))
    return set(found.all())


@dataclass(frozen=True, slots=True)
class Reminding:
    """The slots claimed now (the last is the one named) and the owners to remind, with their rooms not voted."""

    slots: tuple[str, ...] = ()
    owners: Mapping[int, list[int]] = field(default_factory=dict)

    @property
    def slot(self) -> str:
        return self.slots[-1] if self.slots else ""


async def due_reminders(session: AsyncSession, assembly: Assembly, compound: Compound | None,
                        now: datetime) -> Reminding:
    """The owners to remind now: those of the assembly's scope with a room not voted who have not pressed
    不再提醒. Slots due together (the bot was down) make one reminder. Nothing when no slot is due."""
    slots = await claim_reminders(session, assembly, compound, now)
    if not slots:
        return Reminding()
    stopped = await reminders_stopped(session, assembly.stored_id)
    owners = {person: rooms for person, rooms in (await unvoted_owners(session, assembly)).items()
              if person not in stopped}
    return Reminding(tuple(slots), owners)


class StopReminders(StrEnum):
    """What pressing 不再提醒 did."""

    STOPPED = "stopped"
    ALREADY = "already"  # pressed before: nothing changes
    OVER = "over"  # voting has ended (closed or cancelled): there are no more reminders anyway
    NOT_ASKED = "not_asked"  # the person is not an owner this assembly asks (no longer, or never was)


async def stop_reminders(session: AsyncSession, assembly: Assembly, person_id: int, now: datetime) -> StopReminders:
    """The owner wants no more reminders of this assembly; re-checked on every press."""
    if voting(assembly, now) in (Voting.CLOSED, Voting.CANCELLED):
        return StopReminders.OVER
    if await session.get(ReminderStop, (assembly.stored_id, person_id)) is not None:
        return StopReminders.ALREADY
    asked = await owner_people(session, assembly.compound_id, await electorate(session, assembly))
    if person_id not in asked:
        return StopReminders.NOT_ASKED
    if not await add_unless_exists(session, ReminderStop(assembly_id=assembly.stored_id, person_id=person_id,
                                                         created_at=now)):
        return StopReminders.ALREADY  # a second press at the same moment
    return StopReminders.STOPPED


async def close_due_voting(session: AsyncSession, now: datetime) -> list[Assembly]:
    """Every open assembly whose window has ended closes with its tally kept: the ones closed now (to announce)."""
    return [assembly for assembly in await due_to_close(session, now) if await close_voting(session, assembly, now)]


async def close_voting(session: AsyncSession, assembly: Assembly, now: datetime) -> bool:
    """The window has ended: tally and keep the result as announced. False when it is not open or not due."""
    if assembly.status != AssemblyStatus.OPEN or assembly.closes_at > now:
        return False
    assembly.result = result_to_json(await tally_assembly(session, assembly))
    assembly.status, assembly.closed_at = AssemblyStatus.CLOSED, now
    session.add(assembly)
    await start_publicity(session, assembly, now)  # final only when the 公示 period has ended
    return True


class Voting(StrEnum):
    """Whether an assembly takes ballots now (and, from `ballot_rooms`, from this person)."""

    OPEN = "open"
    NOT_YET = "not_yet"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    NOT_OWNER = "not_owner"  # voting is open, but the person owns no room in the assembly's compound
    NOT_IN_SCOPE = "not_in_scope"  # an owner of the compound, but not of a room in the building or unit that votes
    PROXY_REVOKED = "proxy_revoked"  # no room of their own, and the authorisation they had was taken back


def voting(assembly: Assembly, now: datetime) -> Voting:
    if assembly.status == AssemblyStatus.CANCELLED:
        return Voting.CANCELLED
    if assembly.status == AssemblyStatus.CLOSED or now >= assembly.closes_at:
        return Voting.CLOSED
    if assembly.status == AssemblyStatus.SCHEDULED or now < assembly.opens_at:
        return Voting.NOT_YET
    return Voting.OPEN


async def ballot_rooms(session: AsyncSession, assembly: Assembly, person_id: int,
                       now: datetime) -> tuple[Voting, list[int]]:
    """Whether the person may vote in the assembly now and for which rooms: the ones they own in its compound
    and those they were authorised to vote for (each has its own ballot). Otherwise why not, and no rooms."""
    state = voting(assembly, now)
    if state != Voting.OPEN:
        return state, []
    rooms = await owned_rooms(session, person_id, assembly.compound_id)
    rooms += [r for r in await proxied_rooms(session, assembly.stored_id, person_id, assembly.compound_id)
              if r not in rooms]
    # One building's or unit's vote (or one whose every motion is a building's or unit's): only its rooms.
    if rooms and not (rooms := await _asked_rooms(session, assembly, rooms)):
        return Voting.NOT_IN_SCOPE, []
    if not rooms and await proxies_taken_back(session, assembly.stored_id, person_id):
        return Voting.PROXY_REVOKED, []
    return (Voting.OPEN if rooms else Voting.NOT_OWNER), rooms


def pick(picked: Sequence[int], candidate: int, seats: int) -> tuple[int, ...] | None:
    """An election's approvals after pressing a candidate: chosen, or taken back when chosen already. None
    when it would approve more than `seats` candidates."""
    if candidate in picked:
        return tuple(p for p in picked if p != candidate)
    if len(picked) >= seats:
        return None
    return tuple(sorted((*picked, candidate)))


class Cast(StrEnum):
    """What a ballot did for one room."""

    RECORDED = "recorded"  # the room's first ballot
    REPLACED = "replaced"  # the room's owners voted online again: the last ballot counts
    PAPER_ON_RECORD = "paper_on_record"  # online, but the room's paper ballot stands (the assembly's rule)
    ONLINE_ON_RECORD = "online_on_record"  # paper, but the room's owners have voted online
    PAPER_TWICE = "paper_twice"  # paper, but a paper ballot for the room is entered already
    NOT_ALLOWED = "not_allowed"  # online by someone who does not own the room (any more); paper for another compound
    OUT_OF_SCOPE = "out_of_scope"  # the room is not in the building or unit whose owners vote
    PROXY_ON_RECORD = "proxy_on_record"  # the room's proxy has voted: their ballot stands, only they may change it
    PROXY_REVOKED = "proxy_revoked"  # by a proxy whose authorisation was taken back


TAKEN = (Cast.RECORDED, Cast.REPLACED)


@dataclass(frozen=True, slots=True)
class Casting:
    voting: Voting
    rooms: tuple[tuple[int, Cast], ...] = ()
    # Rooms voted for as a proxy, with the owner who authorised it.
    proxied: tuple[tuple[int, int], ...] = ()
    # The owner voted themselves: their authorisation that this ended.
    ended_proxy: Proxy | None = None

    def rooms_with(self, *outcomes: Cast) -> list[int]:
        return [room for room, outcome in self.rooms if outcome in outcomes]


def _second_ballot(before: Ballot, paper: bool, online_replaces_paper: bool) -> Cast:
    """A room has one ballot. Its owners may change their online ballot until the close; a paper ballot is
    entered once, stands against an online one unless the assembly says otherwise, and never replaces one."""
    if before.paper:
        if paper:
            return Cast.PAPER_TWICE
        return Cast.REPLACED if online_replaces_paper else Cast.PAPER_ON_RECORD
    return Cast.ONLINE_ON_RECORD if paper else Cast.REPLACED


def ballot_choices(motions: Sequence[Motion], answers: Sequence[Any]) -> dict[str, Any]:
    """The ballot's stored choices from its answers in the motions' order: yes / no / abstain, or for an
    election the approved candidates' indexes (at most its seats); None for a motion the ballot is not asked
    (one building's or unit's, none of whose rooms it is for: `asked_motions`). ValueError when they do not
    fit."""
    if len(answers) != len(motions):
        raise ValueError("a ballot answers every motion")
    choices: dict[str, Any] = {}
    for motion, answer in zip(motions, answers, strict=True):
        if answer is None:
            continue
        if motion.kind == MotionKind.ELECTION:
            picks = sorted({int(i) for i in answer}) if isinstance(answer, list | tuple) else None
            if picks is None or len(picks) > motion.seats or not all(0 <= i < len(motion.candidates) for i in picks):
                raise ValueError("an election's answer approves at most its seats of its candidates")
            choices[str(motion.id)] = picks
        elif answer in CHOICES:
            choices[str(motion.id)] = str(answer)
        else:
            raise ValueError("a motion is answered yes, no or abstain")
    return choices


async def cast_ballot(session: AsyncSession, assembly_id: int, rooms: Iterable[int], answers: Sequence[Any],
                      paper: bool, person_id: int, now: datetime) -> Casting:
    """One ballot for each of `rooms` while voting is open: online by their owner, or a paper ballot a staff
    member enters. Each room keeps one ballot (the unique key): see `_second_ballot` for a room that has one."""
    assembly = await session.get(Assembly, assembly_id)
    if assembly is None or assembly.id is None:
        raise LookupError(f"no assembly #{assembly_id}")
    state = voting(assembly, now)
    if state != Voting.OPEN:
        return Casting(state)
    motions = await motions_of(session, assembly.id)
    choices = ballot_choices(motions, answers)
    electorates = dict(zip((str(m.id) for m in motions), await motion_electorates(session, assembly, motions),
                           strict=True))
    rooms = list(rooms)
    wanted = set(rooms)
    if any(key not in choices and (scoped is None or scoped & wanted) for key, scoped in electorates.items()):
        raise ValueError("a ballot answers every motion its rooms are asked")
    proxied: dict[int, int] = {}
    if paper:
        allowed = set((await room_labels(session, assembly.compound_id)).keys())
    else:
        allowed = set(await owned_rooms(session, person_id, assembly.compound_id))
        proxied = {room: owner for room, owner in
                   (await proxied_rooms(session, assembly.id, person_id, assembly.compound_id)).items()
                   if room not in allowed}
    taken_back = {room for proxy in await proxies_taken_back(session, assembly.id, person_id) for room in proxy.room_ids}
    scoped = await electorate(session, assembly)
    outcomes: list[tuple[int, Cast]] = []
    for room_id in dict.fromkeys(rooms):
        if scoped is not None and room_id not in scoped:
            outcomes.append((room_id, Cast.OUT_OF_SCOPE))
            continue
        if room_id not in allowed and room_id not in proxied:
            outcomes.append((room_id, Cast.PROXY_REVOKED if room_id in taken_back else Cast.NOT_ALLOWED))
            continue
        # A room's ballot holds only the motions its owners decide.
        own = {key: choice for key, choice in choices.items()
               if (motion_rooms := electorates.get(key)) is None or room_id in motion_rooms}
        outcomes.append((room_id, await _record(session, assembly, room_id, own, paper, person_id, now,
                                                proxied.get(room_id))))
    casting = Casting(state, tuple(outcomes), tuple((r, o) for r, o in proxied.items()
                                                    if (r, Cast.RECORDED) in outcomes or (r, Cast.REPLACED) in outcomes))
    if not paper and any(room in allowed and outcome in TAKEN for room, outcome in outcomes):
        # The owner voted themselves: an authorisation not yet used ends (the README's rule).
        casting = replace(casting, ended_proxy=await end_proxy_by_own_vote(session, assembly.id, person_id, now))
    return casting


async def _record(session: AsyncSession, assembly: Assembly, room_id: int, choices: dict[str, Any], paper: bool,
                  person_id: int, now: datetime, proxy_for: int | None = None) -> Cast:
    assert assembly.id is not None
    room_ballot = select(Ballot).where(Ballot.assembly_id == assembly.id, Ballot.room_id == room_id)
    existing = (await session.exec(room_ballot)).first()
    if existing is None:
        ballot = Ballot(assembly_id=assembly.id, room_id=room_id, choices=choices, paper=paper,
                        submitted_by=person_id, submitted_at=now, proxy_for=proxy_for)
        if await add_unless_exists(session, ballot):
            return Cast.RECORDED
        # Another ballot for the room came in at the same moment: the unique key kept one; this one is second.
        existing = (await session.exec(room_ballot)).first()
        assert existing is not None
    if existing.proxy_for is not None and not paper and existing.submitted_by != person_id:
        return Cast.PROXY_ON_RECORD
    outcome = _second_ballot(existing, paper, assembly.online_replaces_paper)
    if outcome != Cast.REPLACED:
        return outcome
    session.add(BallotHistory(ballot_id=existing.id or 0, assembly_id=assembly.id, room_id=room_id,
                              choices=dict(existing.choices), paper=existing.paper,
                              submitted_by=existing.submitted_by, submitted_at=existing.submitted_at,
                              version=existing.version, replaced_at=now, proxy_for=existing.proxy_for))
    existing.choices, existing.paper, existing.submitted_by = choices, paper, person_id
    existing.proxy_for = proxy_for
    existing.submitted_at, existing.version = now, existing.version + 1
    session.add(existing)
    await session.flush()
    return Cast.REPLACED


# ---- candidate vetting (党支部把关 / 资格联审) ----------------------------------------------------------------


class Vetting(StrEnum):
    """A nominated candidate: pending → (the branch clears) cleared → (an official approves) approved, or
    rejected by either with a reason. Without the official's second approval, the branch's approval is final."""

    PENDING = "pending"
    CLEARED = "cleared"  # approved by the secretary; an official has yet to approve
    APPROVED = "approved"
    REJECTED = "rejected"


class CandidateVetting(Stored, SQLModel, table=True):
    """One nominated candidate of an election and the vetting decisions on them, kept after the ballot shows only
    the approved ones (the motion's `candidates`; the nominated list stays in its options as `nominated`)."""

    __table_args__ = (sa.UniqueConstraint("motion_id", "position"),)
    id: int | None = Field(default=None, primary_key=True)
    assembly_id: int = Field(foreign_key="assembly.id", index=True)
    motion_id: int = Field(foreign_key="motion.id", index=True)
    position: int = 0  # the order of nomination
    name: str = Field(max_length=50)
    status: Vetting = status_field(Vetting, Vetting.PENDING, 16, index=True)
    branch_by: int | None = Field(default=None, foreign_key="person.id")
    branch_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    branch_reason: str = Field(default="", max_length=500)
    street_by: int | None = Field(default=None, foreign_key="person.id")
    street_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    street_reason: str = Field(default="", max_length=500)


UNDECIDED = (Vetting.PENDING, Vetting.CLEARED)


def vetting_levels(compound: Compound) -> tuple[str, ...]:
    """Who vets candidates in this compound: the party branch (the secretary), and the street (an official of
    the compound) as a second approval where `assembly.vetting_by_official` says so; nobody when
    `assembly.candidate_vetting` is off."""
    if not compound_setting(compound, "assembly.candidate_vetting", True):
        return ()
    return ("branch", "street") if compound_setting(compound, "assembly.vetting_by_official", False) else ("branch",)


async def nominate(session: AsyncSession, compound: Compound, assembly: Assembly) -> bool:
    """Every election's candidates, as nominated, await vetting (when the compound vets): True when some do.
    The assembly then stays scheduled until each is decided (`start_voting`)."""
    if not vetting_levels(compound):
        return False
    nominated = False
    for motion in await motions_of(session, assembly.stored_id):
        for position, name in enumerate(motion.candidates if motion.kind == MotionKind.ELECTION else ()):
            session.add(CandidateVetting(assembly_id=assembly.stored_id, motion_id=motion.id or 0,
                                         position=position, name=name))
            nominated = True
    await session.flush()
    return nominated


async def vettings_of(session: AsyncSession, assembly_id: int) -> list[CandidateVetting]:
    result = await session.exec(select(CandidateVetting).where(CandidateVetting.assembly_id == assembly_id)
                                .order_by(col(CandidateVetting.motion_id), col(CandidateVetting.position)))
    return list(result.all())


async def vetting_pending(session: AsyncSession, assembly_id: int) -> bool:
    """Whether some candidate of the assembly is still undecided: no ballot until all are."""
    return any(v.status in UNDECIDED for v in await vettings_of(session, assembly_id))


async def to_vet(session: AsyncSession, compound_id: int, level: str) -> list[tuple[Assembly, CandidateVetting]]:
    """The candidates waiting for this level's decision in the compound's scheduled assemblies."""
    waiting = Vetting.PENDING if level == "branch" else Vetting.CLEARED
    rows = await session.exec(select(Assembly, CandidateVetting)
                              .join(CandidateVetting, col(CandidateVetting.assembly_id) == Assembly.id)
                              .where(Assembly.compound_id == compound_id, Assembly.status == AssemblyStatus.SCHEDULED,
                                     CandidateVetting.status == waiting)
                              .order_by(col(Assembly.id), col(CandidateVetting.motion_id),
                                        col(CandidateVetting.position)))
    return [(assembly, vetting) for assembly, vetting in rows.all()]


def vetted_text(text: str, nominated: Sequence[str], approved: Sequence[str]) -> str:
    """An election's text once vetting is done: the nominated names it was drafted with ("选举：赵大、钱二、孙三",
    joined with 、 in every language) become the approved ones, so that the group posting, the ballot and the
    printed ballot never name a rejected candidate. Set once, when the list is final, before voting opens."""
    joined = "、".join(nominated)
    at = text.rfind(joined) if joined else -1
    if at < 0:
        return text
    return (text[:at] + "、".join(approved) + text[at + len(joined):])[:1000]


class Vetted(StrEnum):
    """What a vetting decision did."""

    DECIDED = "decided"  # recorded; other candidates are still undecided
    LIST_DONE = "list_done"  # recorded, and every candidate of the assembly is decided: the list can be published
    STREET_NEXT = "street_next"  # recorded, the branch is done, and officials have candidates to approve
    STALE = "stale"  # already decided at this level, or the assembly is no longer waiting for it


async def decide_candidate(session: AsyncSession, vetting_id: int, compound: Compound, level: str, approve: bool,
                           reason: str, person_id: int, now: datetime) -> tuple[Vetted, CandidateVetting | None]:
    """The secretary's (level "branch") or an official's ("street") decision on one candidate, with its reason.
    When the last candidate is decided, the elections' ballots list only the approved ones."""
    vetting = await session.get(CandidateVetting, vetting_id)
    assembly = await session.get(Assembly, vetting.assembly_id) if vetting is not None else None
    levels = vetting_levels(compound)
    waiting = Vetting.PENDING if level == "branch" else Vetting.CLEARED
    if (vetting is None or assembly is None or assembly.compound_id != compound.id or level not in levels
            or assembly.status != AssemblyStatus.SCHEDULED or vetting.status != waiting):
        return Vetted.STALE, vetting
    reason = reason.strip()[:500]
    if level == "branch":
        vetting.branch_by, vetting.branch_at, vetting.branch_reason = person_id, now, reason
        cleared = Vetting.CLEARED if "street" in levels else Vetting.APPROVED
        vetting.status = cleared if approve else Vetting.REJECTED
    else:
        vetting.street_by, vetting.street_at, vetting.street_reason = person_id, now, reason
        vetting.status = Vetting.APPROVED if approve else Vetting.REJECTED
    session.add(vetting)
    await session.flush()
    everyone = await vettings_of(session, assembly.stored_id)
    if any(v.status in UNDECIDED for v in everyone):
        branch_done = not any(v.status == Vetting.PENDING for v in everyone)
        return (Vetted.STREET_NEXT if level == "branch" and branch_done else Vetted.DECIDED), vetting
    for motion in await motions_of(session, assembly.stored_id):
        mine = [v for v in everyone if v.motion_id == motion.id]
        if mine:
            approved = [v.name for v in mine if v.status == Vetting.APPROVED]
            motion.text = vetted_text(motion.text, motion.candidates, approved)
            motion.options = {**motion.options, "nominated": [v.name for v in mine], "candidates": approved}
            session.add(motion)
    await session.flush()
    return Vetted.LIST_DONE, vetting


# ---- proxies (委托投票) ---------------------------------------------------------------------------------------


class ProxyStatus(StrEnum):
    """active → revoked (by the owner, until the proxy has voted) or ended (the owner voted themselves first)."""

    ACTIVE = "active"
    REVOKED = "revoked"
    ENDED = "ended"


class Proxy(Stored, SQLModel, table=True):
    """An owner's authorisation of another person (家人, a neighbour) to vote for their rooms in one assembly."""

    id: int | None = Field(default=None, primary_key=True)
    assembly_id: int = Field(foreign_key="assembly.id", index=True)
    owner_id: int = Field(foreign_key="person.id", index=True)
    proxy_id: int = Field(foreign_key="person.id", index=True)
    # The owner's rooms when authorising, {"rooms": [ids]}: the proxy votes for those still the owner's.
    rooms: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDict)
    status: ProxyStatus = status_field(ProxyStatus, ProxyStatus.ACTIVE, 16, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def room_ids(self) -> list[int]:
        return [int(r) for r in self.rooms.get("rooms", [])]


class ProxyRefusal(StrEnum):
    """Why an authorisation is not given, or not revoked."""

    NOT_VOTING = "not_voting"  # the assembly is closed or cancelled
    NOT_OWNER = "not_owner"  # the owner owns no room in the compound
    SELF = "self"  # authorising oneself
    NOT_MEMBER = "not_member"  # the proxy is no member of the compound
    ALREADY = "already"  # the owner has an active authorisation in this assembly: revoke it first
    VOTED = "voted"  # every room of the owner has its ballot already / the proxy has voted: no longer revocable
    GONE = "gone"  # no such active authorisation of this owner


async def active_proxy(session: AsyncSession, assembly_id: int, owner_id: int) -> Proxy | None:
    return (await session.exec(select(Proxy).where(Proxy.assembly_id == assembly_id, Proxy.owner_id == owner_id,
                                                   Proxy.status == ProxyStatus.ACTIVE))).first()


async def authorise(session: AsyncSession, assembly: Assembly, owner_id: int, proxy_id: int,
                    now: datetime) -> Proxy | ProxyRefusal:
    """The owner authorises `proxy_id`, a member of the compound, to vote for their rooms in the assembly (before
    or while voting); recorded with who, when and for which rooms."""
    from storage.people import roles_in

    if voting(assembly, now) not in (Voting.OPEN, Voting.NOT_YET):
        return ProxyRefusal.NOT_VOTING
    rooms = await owned_rooms(session, owner_id, assembly.compound_id)
    if not rooms:
        return ProxyRefusal.NOT_OWNER
    if proxy_id == owner_id:
        return ProxyRefusal.SELF
    if not await roles_in(session, proxy_id, assembly.compound_id):
        return ProxyRefusal.NOT_MEMBER
    if await active_proxy(session, assembly.stored_id, owner_id) is not None:
        return ProxyRefusal.ALREADY
    if set(rooms) <= set(await ballots_of(session, assembly.stored_id)):
        return ProxyRefusal.VOTED
    proxy = Proxy(assembly_id=assembly.stored_id, owner_id=owner_id, proxy_id=proxy_id, rooms={"rooms": rooms},
                  created_at=now)
    session.add(proxy)
    await session.flush()
    return proxy


async def proxy_voted(session: AsyncSession, proxy: Proxy) -> bool:
    """Whether the proxy has cast a ballot under this authorisation."""
    found = await session.exec(select(Ballot.id).where(Ballot.assembly_id == proxy.assembly_id,
                                                       Ballot.proxy_for == proxy.owner_id,
                                                       Ballot.submitted_by == proxy.proxy_id))
    return found.first() is not None


async def revoke_proxy(session: AsyncSession, proxy_id: int, owner_id: int, now: datetime) -> Proxy | ProxyRefusal:
    """The owner takes the authorisation back: possible until the proxy has voted, and while voting is not over."""
    proxy = await session.get(Proxy, proxy_id)
    if proxy is None or proxy.owner_id != owner_id or proxy.status != ProxyStatus.ACTIVE:
        return ProxyRefusal.GONE
    assembly = await session.get(Assembly, proxy.assembly_id)
    if assembly is None or voting(assembly, now) not in (Voting.OPEN, Voting.NOT_YET):
        return ProxyRefusal.NOT_VOTING
    if await proxy_voted(session, proxy):
        return ProxyRefusal.VOTED
    proxy.status, proxy.ended_at = ProxyStatus.REVOKED, now
    session.add(proxy)
    return proxy


async def proxied_rooms(session: AsyncSession, assembly_id: int, person_id: int,
                        compound_id: int) -> dict[int, int]:
    """The rooms the person may vote for as a proxy in the assembly, with the owner who authorised it: the rooms
    of each active authorisation that its owner still owns."""
    rooms: dict[int, int] = {}
    for proxy in (await session.exec(select(Proxy).where(Proxy.assembly_id == assembly_id, Proxy.proxy_id == person_id,
                                                         Proxy.status == ProxyStatus.ACTIVE))).all():
        still = set(await owned_rooms(session, proxy.owner_id, compound_id))
        rooms.update({room: proxy.owner_id for room in proxy.room_ids if room in still})
    return rooms


async def proxies_taken_back(session: AsyncSession, assembly_id: int, person_id: int) -> list[Proxy]:
    """The person's authorisations in the assembly that were revoked or ended."""
    return list((await session.exec(select(Proxy).where(
        Proxy.assembly_id == assembly_id, Proxy.proxy_id == person_id,
        col(Proxy.status).in_((ProxyStatus.REVOKED, ProxyStatus.ENDED))))).all())


async def members_matching(session: AsyncSession, compound_id: int, typed: str) -> list[int]:
    """The compound's approved members whose phone number (digits only) or name is what the person typed."""
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", typed) if ch.isdigit())
    name = _label_key(typed)
    rows = await session.exec(select(Person.id, Person.name, Person.phone).join(
        Membership, col(Membership.person_id) == Person.id).where(
        Membership.compound_id == compound_id, Membership.status == MembershipStatus.APPROVED))
    found = [person_id for person_id, their_name, phone in rows.all() if person_id is not None and (
        (len(digits) >= 7 and "".join(ch for ch in phone if ch.isdigit()) == digits)
        or (name and _label_key(their_name) == name))]
    return list(dict.fromkeys(found))


async def end_proxy_by_own_vote(session: AsyncSession, assembly_id: int, owner_id: int, now: datetime) -> Proxy | None:
    """The owner voted themselves: their active authorisation ends (the proxy's ballots already cast stand)."""
    proxy = await active_proxy(session, assembly_id, owner_id)
    if proxy is None:
        return None
    proxy.status, proxy.ended_at = ProxyStatus.ENDED, now
    session.add(proxy)
    return proxy


# ---- publicity (公示) and objections (异议) ------------------------------------------------------------------

PUBLICITY_DAYS = 7


class Publicity(Stored, SQLModel, table=True):
    """The result's publication period after the close: final once it has ended and every objection lodged in it
    is answered. `final_at` is claimed with UPDATE ... WHERE final_at IS NULL, so the group is told once."""

    id: int | None = Field(default=None, primary_key=True)
    assembly_id: int = Field(foreign_key="assembly.id", unique=True)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime, index=True)
    final_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class ObjectionStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"


class Objection(Stored, SQLModel, table=True):
    """An owner's or a supervisor's objection (异议) to a published result, and the committee's answer."""

    id: int | None = Field(default=None, primary_key=True)
    assembly_id: int = Field(foreign_key="assembly.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    reason: str = Field(max_length=1000)
    lodged_at: datetime = Field(sa_type=UTCDateTime)
    status: ObjectionStatus = status_field(ObjectionStatus, ObjectionStatus.OPEN, 16, index=True)
    answer: str = Field(default="", max_length=1000)
    answered_by: int | None = Field(default=None, foreign_key="person.id")
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


async def start_publicity(session: AsyncSession, assembly: Assembly, now: datetime) -> Publicity:
    """The result is published at the close: the period runs `assembly.publicity_days` (default 7) days."""
    compound = await session.get(Compound, assembly.compound_id)
    days = compound_setting(compound, "assembly.publicity_days", PUBLICITY_DAYS) if compound else PUBLICITY_DAYS
    publicity = Publicity(assembly_id=assembly.stored_id, starts_at=now, ends_at=now + timedelta(days=int(days)))
    session.add(publicity)
    await session.flush()
    return publicity


async def publicity_of(session: AsyncSession, assembly_id: int) -> Publicity | None:
    return (await session.exec(select(Publicity).where(Publicity.assembly_id == assembly_id))).first()


async def objections_of(session: AsyncSession, assembly_id: int) -> list[Objection]:
    return list((await session.exec(select(Objection).where(Objection.assembly_id == assembly_id)
                                    .order_by(col(Objection.id)))).all())


class ObjectionRefusal(StrEnum):
    NOT_PUBLISHED = "not_published"  # no result in publicity: not closed yet, or the period has ended
    NOT_ALLOWED = "not_allowed"  # neither an owner nor a supervisor of the compound


OBJECTORS = (Role.OWNER, Role.SUPERVISOR)


async def lodge_objection(session: AsyncSession, assembly_id: int, compound_id: int, person_id: int, reason: str,
                          now: datetime) -> Objection | ObjectionRefusal:
    """An owner or a supervisor of the compound objects, with a reason, while the result is published."""
    from storage.people import roles_in

    assembly = await assembly_of(session, assembly_id, compound_id)
    publicity = await publicity_of(session, assembly_id) if assembly is not None else None
    if publicity is None or not publicity.starts_at <= now < publicity.ends_at:
        return ObjectionRefusal.NOT_PUBLISHED
    if not set(await roles_in(session, person_id, compound_id)) & set(OBJECTORS):
        return ObjectionRefusal.NOT_ALLOWED
    objection = Objection(assembly_id=assembly_id, person_id=person_id, reason=reason.strip()[:1000], lodged_at=now)
    session.add(objection)
    await session.flush()
    return objection


async def answer_objection(session: AsyncSession, objection_id: int, compound_id: int, person_id: int, answer: str,
                           now: datetime) -> Objection | None:
    """The committee's answer to an open objection of its compound; None when there is none to answer."""
    objection = await session.get(Objection, objection_id)
    if objection is None or objection.status != ObjectionStatus.OPEN \
            or await assembly_of(session, objection.assembly_id, compound_id) is None:
        return None
    objection.status, objection.answer = ObjectionStatus.ANSWERED, answer.strip()[:1000]
    objection.answered_by, objection.answered_at = person_id, now
    session.add(objection)
    return objection


async def finalise_due(session: AsyncSession, now: datetime) -> list[Assembly]:
    """Results whose period has ended with every objection answered become final, each claimed once
    (UPDATE ... WHERE final_at IS NULL): the assemblies this process finalised, to tell their groups."""
    unanswered = select(Objection.id).where(Objection.assembly_id == Publicity.assembly_id,
                                            Objection.status == ObjectionStatus.OPEN).exists()
    due = await session.exec(select(Publicity).where(col(Publicity.final_at).is_(None), Publicity.ends_at <= now,
                                                     ~unanswered))
    finalised: list[Assembly] = []
    for publicity in due.all():
        claimed = await session.exec(sa.update(Publicity).where(
            col(Publicity.id) == publicity.id, col(Publicity.final_at).is_(None)).values(final_at=now))
        if claimed.rowcount == 1 and (assembly := await session.get(Assembly, publicity.assembly_id)) is not None:
            finalised.append(assembly)
    return finalised


# ---- export ------------------------------------------------------------------------------------------------


# What the export's codes say, in the reader's language.
CLASS_LABELS: dict[str, str] = {ORDINARY: N_("Ordinary matter"), SPECIAL: N_("Special matter"), ELECTION: N_("Election")}
CHOICE_WORDS = {YES: N_("Agree"), NO: N_("Against"), ABSTAIN: N_("Abstain")}
HOW_LABELS = {"online": N_("Online"), "paper": N_("Paper ballot (书面表决票)")}
SCOPE_LABELS = {"compound": N_("Every owner of the compound")}
TURNOUT_LABELS = {"quorum": N_("At least 2/3 of the area and at least 2/3 of the owners")}
AGREEMENT_LABELS: dict[str, str] = {ORDINARY: N_("More than 1/2 of the participating area and owners"),
                    SPECIAL: N_("At least 3/4 of the participating area and owners"),
                    ELECTION: N_("A candidate: more than 1/2 of the participating area and owners")}
OUTCOME_LABELS: dict[str, str] = {"passed": N_("Passed"), "failed": N_("Not passed"), "valid": N_("Election valid"),
                  "invalid": N_("Election not valid"), Standing.ELECTED: N_("Elected"),
                  Standing.NO_SEAT: N_("Approved, no seat left"), Standing.NOT_ELECTED: N_("Not elected")}
COUNTING_RULE = N_("Counted under Civil Code Art. 278 and Art. 9 of the Supreme People's Court interpretation on "
                   "building distinct ownership: area by each room's registered exclusive area; one owner of several "
                   "rooms counts once, co-owners of a room as one, a room with no owner on record as one, the "
                   "developer's unsold rooms as one.")


def _tally_row(text: str, kind: str, scope: str, r: MotionResult, outcome: str, agree: Count | None = None,
               against: Count | None = None, abstain: Count | None = None) -> list[object]:
    """One line of the tally sheet: every Art. 278 figure of a motion (or of one candidate, `agree` its approvals)."""
    def area(count: Count | None) -> float | None:
        return None if count is None else round(float(count.area), 2)

    def shares(count: Count | None) -> tuple[float | None, float | None]:
        if count is None:
            return None, None
        by_area, by_owners = count.shares_of(r.taking_part)
        return float(by_area), float(by_owners)

    agree_area, agree_owners = shares(agree)
    return [text, kind, scope, area(r.total), r.total.owners, area(r.taking_part), float(r.area_share),
            r.taking_part.owners, float(r.owner_share), "quorum", r.quorum, area(agree), agree_area,
            None if agree is None else agree.owners, agree_owners, area(against),
            None if against is None else against.owners, area(abstain), None if abstain is None else abstain.owners,
            kind, outcome]


async def export_ledger(session: AsyncSession, assembly_id: int, t: Callable[..., str]) -> xlsx.Ledger | None:
    """The assembly as a ledger for 公示: the tally (every Art. 278 figure per motion and candidate, the thresholds
    and the outcome) and every ballot (one row per room and motion: area, owners, the choice in words, online,
    paper or 代投：the proxy, who entered it and when, in the compound's time). The result as announced once
    closed, the running tally before."""
    assembly = await session.get(Assembly, assembly_id)
    compound = await session.get(Compound, assembly.compound_id) if assembly is not None else None
    if assembly is None or compound is None:
        return None
    zone = ZoneInfo(compound.timezone)
    labels = await room_labels(session, assembly.compound_id)
    motions = await motions_of(session, assembly_id)
    closed = assembly.status == AssemblyStatus.CLOSED
    results = {r.motion_id: r for r in (result_from_json(assembly.result) if closed
                                        else await tally_assembly(session, assembly))}
    scope_names = {m.id: await scope_name(session, motion_scope(assembly, m)) or "compound" for m in motions}
    tally_rows: list[list[object]] = []
    for n, motion in enumerate(motions, 1):
        r = results.get(motion.id or 0)
        if r is None:
            continue
        scope = scope_names[motion.id]
        if motion.kind != ELECTION:
            tally_rows.append(_tally_row(f"{n}. {motion.text}", motion.kind, scope, r,
                                         "passed" if r.passed else "failed", r.yes, r.no, r.abstain))
            continue
        tally_rows.append(_tally_row(f"{n}. {motion.text}", motion.kind, scope, r, "valid" if r.passed else "invalid"))
        for candidate in r.candidates:
            name = motion.candidates[candidate.index] if candidate.index < len(motion.candidates) else "?"
            tally_rows.append(_tally_row(f"{n}. {name}", motion.kind, scope, r, r.standing(candidate),
                                         candidate.approve))
    names: dict[int, list[str]] = {}
    rows = await session.exec(select(Membership.room_id, Person.name).join(Person, col(Person.id) == Membership.person_id)
                              .where(Membership.compound_id == assembly.compound_id, Membership.relation == "owner",
                                     Membership.status == MembershipStatus.APPROVED))
    for room_id, name in rows.all():
        names.setdefault(room_id or 0, []).append(name)
    roster = await session.exec(select(RosterOwner.room_id, RosterOwner.name).where(
        col(RosterOwner.room_id).in_(list(labels))))
    for room_id, name in roster.all():
        if room_id not in names and name:
            names.setdefault(room_id, []).append(name)
    people = {p.id: p.name for p in (await session.exec(select(Person))).all()}
    asked = {m.id: await scope_rooms(session, assembly.compound_id, scope_of(m)) if not scope_of(m).whole else None
             for m in motions}
    ballot_rows: list[list[object]] = []
    ballots = sorted((await ballots_of(session, assembly_id)).values(), key=lambda b: labels.get(b.room_id, ("",))[0])
    for ballot in ballots:
        label, area = labels.get(ballot.room_id, ("?", Decimal(0)))
        how = (t("Proxy: {name}, authorised by {owner}", name=people.get(ballot.submitted_by, "?"),
                 owner=people.get(ballot.proxy_for, "?")) if ballot.proxy_for is not None
               else "paper" if ballot.paper else "online")
        for n, motion in enumerate(motions, 1):
            scoped = asked[motion.id]
            choice = ballot.choices.get(str(motion.id))
            if (scoped is not None and ballot.room_id not in scoped) or choice is None:
                continue
            if isinstance(choice, list):
                choice = "、".join(motion.candidates[int(i)] for i in choice if 0 <= int(i) < len(motion.candidates)) \
                    or t("nobody")
            ballot_rows.append([label, area, "、".join(names.get(ballot.room_id, [])), f"{n}. {motion.text}", str(choice),
                                how, people.get(ballot.submitted_by, ""), ballot.submitted_at, ballot.version])
    column, kind = xlsx.Column, xlsx.Kind
    tally_columns = [
        column(N_("Motion or candidate"), width=30), column(N_("Class"), labels=CLASS_LABELS),
        column(N_("Who decides"), labels=SCOPE_LABELS),
        column(N_("Total exclusive area (m²)"), kind.AREA), column(N_("Total owners"), kind.INT),
        column(N_("Participating area (m²)"), kind.AREA), column(N_("Participating area share"), kind.PERCENT),
        column(N_("Participating owners"), kind.INT), column(N_("Participating owners share"), kind.PERCENT),
        column(N_("Participation needed"), labels=TURNOUT_LABELS), column(N_("Participation reached"), kind.BOOL),
        column(N_("Agreeing area (m²)"), kind.AREA), column(N_("Agreeing area share"), kind.PERCENT),
        column(N_("Agreeing owners"), kind.INT), column(N_("Agreeing owners share"), kind.PERCENT),
        column(N_("Against area (m²)"), kind.AREA), column(N_("Against owners"), kind.INT),
        column(N_("Abstaining area (m²)"), kind.AREA), column(N_("Abstaining owners"), kind.INT),
        column(N_("Agreement needed"), labels=AGREEMENT_LABELS), column(N_("Outcome of the vote"), labels=OUTCOME_LABELS)]
    ballot_columns = [
        column(N_("Room"), kind.CODE), column(N_("Exclusive area (m²)"), kind.AREA), column(N_("Owner")), column(N_("Motion"), width=30),
        column(N_("Choice"), labels=CHOICE_WORDS), column(N_("How"), labels=HOW_LABELS),
        column(N_("Entered by")), column(N_("Submitted at"), kind.DATETIME), column(N_("Version"), kind.INT)]
    status = (t("Voting closed at {when}; the result as announced.", when=xlsx.local(assembly.closed_at, zone))
              if closed and assembly.closed_at else t("Voting has not closed: the tally so far."))
    local = xlsx.local
    window = t("Voting from {opens} to {closes}.", opens=f"{local(assembly.opens_at, zone):%Y-%m-%d %H:%M}",
               closes=f"{local(assembly.closes_at, zone):%Y-%m-%d %H:%M}")
    notes = (window, status, t(COUNTING_RULE))
    return xlsx.Ledger(t("Owners' assembly: {title}", title=assembly.title), compound.name,
                       xlsx.period(t, local(assembly.opens_at, zone).date(), local(assembly.closes_at, zone).date()),
                       [xlsx.Sheet(N_("Tally"), tally_columns, tally_rows, notes=notes),
                        xlsx.Sheet(N_("Ballots by room and motion"), ballot_columns, ballot_rows, notes=(window,))], zone)


async def export_xlsx(session: AsyncSession, assembly_id: int, t: Callable[..., str] | None = None) -> bytes | None:
    """The assembly's ledger (`export_ledger`) as an XLSX through the one ledger writer, in `t`'s language (the
    compound's by default)."""
    if t is None:
        assembly = await session.get(Assembly, assembly_id)
        compound = await session.get(Compound, assembly.compound_id) if assembly is not None else None
        t = xlsx.translator(compound.language if compound is not None else None)
    made = await export_ledger(session, assembly_id, t)
    return None if made is None else xlsx.render(t, made)


async def export_assembly_cli(database_url: str, assembly_id: int, out: Path | None) -> int:
    """`linli export assembly ID [--out FILE]`: the tally and the ballots, in the compound's language, for the
    committee's public disclosure (公示)."""
    from storage.db import make_engine, make_sessionmaker

    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            data = await export_xlsx(session, assembly_id)
    finally:
        await engine.dispose()
    if data is None:
        print(f"There is no assembly #{assembly_id}.", file=sys.stderr)
        return 1
    path = out or Path(f"assembly-{assembly_id}.xlsx")
    path.write_bytes(data)
    print(f"Wrote {path}")
    return 0


# Whether the compound has a vote open now: asked by every /start, with the menu's other lines (storage/start.py).
OPEN_NOW = Prepared(select(Assembly.id).where(
    Assembly.compound_id == sa.bindparam("compound_id"), Assembly.status == AssemblyStatus.OPEN,
    col(Assembly.opens_at) <= sa.bindparam("now", type_=UTCDateTime),
    col(Assembly.closes_at) > sa.bindparam("now", type_=UTCDateTime)).limit(1))


async def awaiting_ballot(session: AsyncSession, person_id: int, compound_id: int, now: datetime) -> list[Assembly]:
    """Assemblies open for voting now that ask a room the person owns which has no ballot yet, closing soonest
    first: only the rooms of the assembly's scope count, and of those only the ones some motion asks (a motion of
    one building or unit asks its rooms alone), so neither an owner outside a unit's vote nor one who voted for
    their room in it is led to it."""
    # Asked by every /start: most of the time no vote is open, which one fixed query on the driver says.
    if not await OPEN_NOW.rows(session, compound_id=compound_id, now=now):
        return []
    rooms = await owned_rooms(session, person_id, compound_id)
    if not rooms:
        return []
    result = await session.exec(select(Assembly).where(
        Assembly.compound_id == compound_id, Assembly.status == AssemblyStatus.OPEN, col(Assembly.opens_at) <= now,
        col(Assembly.closes_at) > now).order_by(col(Assembly.closes_at)))
    waiting = []
    for assembly in result.all():
        asked = await _asked_rooms(session, assembly, rooms)
        if not asked:
            continue
        ballots = await session.exec(select(sa.func.count()).select_from(Ballot).where(
            Ballot.assembly_id == assembly.id, col(Ballot.room_id).in_(asked)))
        if ballots.one() < len(asked):
            waiting.append(assembly)
    return waiting


async def _asked_rooms(session: AsyncSession, assembly: Assembly, rooms: Sequence[int]) -> list[int]:
    """Those of `rooms` the assembly asks: inside its scope (`electorate`), and in the scope of one of its motions."""
    mine = in_scope(rooms, await electorate(session, assembly))
    if not mine:
        return []
    scopes = await motion_electorates(session, assembly, await motions_of(session, assembly.stored_id))
    if any(scoped is None for scoped in scopes):
        return mine
    return [room for room in mine if any(room in scoped for scoped in scopes if scoped is not None)]
