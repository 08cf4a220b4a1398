"""The Art. 278 tally, hand-computed: bounds exactly on 2/3, 3/4 and 1/2, owners of several rooms, the
developer's unsold rooms, co-owners, abstentions, an election, and properties over random ballots."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.assembly import (
    ABSTAIN,
    ELECTION,
    NO,
    ORDINARY,
    SPECIAL,
    YES,
    MotionResult,
    TallyBallot,
    TallyMotion,
    TallyRoom,
    owner_units,
    result_from_json,
    result_to_json,
    suggest_kind,
    tally,
    turnout,
)
from storage.roster import roster_identity

ORD = TallyMotion(1, ORDINARY)
SPE = TallyMotion(2, SPECIAL)


def rooms(*areas: int | str, owners: list[frozenset[object]] | None = None) -> list[TallyRoom]:
    return [TallyRoom(i, Decimal(str(a)), owners[i] if owners else frozenset({f"p{i}"})) for i, a in enumerate(areas)]


def ballots(*choices: tuple[int, str]) -> list[TallyBallot]:
    return [TallyBallot(room, {1: choice, 2: choice}) for room, choice in choices]


def test_exactly_two_thirds_is_a_quorum_and_just_below_is_not() -> None:
    # 3 owners of 100 m² each: 2 of 3 owners and 200 of 300 m² take part — exactly 2/3.
    three = rooms(100, 100, 100)
    [ordinary] = tally(three, [ORD], ballots((0, YES), (1, YES)))
    assert ordinary.taking_part.area == 200 and ordinary.total.area == 300
    assert ordinary.area_share == Fraction(2, 3) and ordinary.owner_share == Fraction(2, 3)
    assert ordinary.quorum and ordinary.passed
    # 200 of 300.01 m²: a hair under 2/3 of the area.
    [short] = tally(rooms(100, 100, "100.01"), [ORD], ballots((0, YES), (1, YES)))
    assert not short.quorum_area and short.quorum_owners and not short.passed
    assert short.reasons[0][0] == "area_turnout"


def test_exactly_three_quarters_passes_a_special_matter() -> None:
    four = rooms(10, 10, 10, 10)
    [special] = tally(four, [SPE], ballots((0, YES), (1, YES), (2, YES), (3, NO)))
    assert special.yes.area == 30 and special.taking_part.area == 40 and special.yes.owners == 3
    assert special.passed  # 3/4 of area and of owners: "at least" includes the bound
    [short] = tally(rooms(10, 10, 10, "10.01"), [SPE], ballots((0, YES), (1, YES), (2, YES), (3, NO)))
    assert not short.passed and [r[0] for r in short.reasons] == ["area_yes"]


def test_exactly_half_does_not_pass_an_ordinary_matter() -> None:
    four = rooms(10, 10, 10, 10)
    [half] = tally(four, [ORD], ballots((0, YES), (1, YES), (2, NO), (3, NO)))
    assert half.yes.area == 20 and not half.passed
    assert [r[0] for r in half.reasons] == ["area_yes", "owner_yes"]
    [more] = tally(rooms(10, 10, "10.01", 10), [ORD], ballots((0, YES), (1, NO), (2, YES), (3, NO)))
    # More than half of the area, but exactly half of the owners: still fails.
    assert more.yes.area > more.taking_part.area / 2 and not more.passed
    assert [r[0] for r in more.reasons] == ["owner_yes"]


def test_abstaining_takes_part_but_does_not_agree() -> None:
    [r] = tally(rooms(10, 10, 10), [ORD], ballots((0, YES), (1, ABSTAIN), (2, ABSTAIN)))
    assert r.quorum and r.taking_part.owners == 3 and r.abstain.owners == 2 and r.abstain.area == 20
    assert not r.passed  # 1 of 3 agreeing
    # Without the abstainers the vote would not be valid at all.
    [alone] = tally(rooms(10, 10, 10), [ORD], ballots((0, YES)))
    assert not alone.quorum


def test_owner_of_several_rooms_counts_once_with_each_rooms_area() -> None:
    a = frozenset({"A"})
    layout = rooms(50, 50, 50, 100, owners=[a, a, a, frozenset({"B"})])
    assert owner_units(layout).count == 2
    [r] = tally(layout, [ORD], ballots((0, YES), (1, YES), (2, NO), (3, NO)))
    # A: 100 m² agree and 50 m² against -> A's one head agrees; area counts per room.
    assert (r.yes.area, r.no.area) == (100, 150)
    assert (r.yes.owners, r.no.owners, r.taking_part.owners) == (1, 1, 2)
    assert not r.passed  # 100 of 250 m²


def test_split_owner_with_a_tie_counts_as_abstaining() -> None:
    a = frozenset({"A"})
    layout = rooms(50, 50, 40, owners=[a, a, frozenset({"B"})])
    [r] = tally(layout, [ORD], ballots((0, YES), (1, NO), (2, YES)))
    assert (r.yes.owners, r.no.owners, r.abstain.owners) == (1, 0, 1)
    assert r.yes.area == 90 and r.no.area == 50


def test_developer_unsold_rooms_count_as_one_owner() -> None:
    layout = [TallyRoom(0, Decimal(80), frozenset({"A"})), TallyRoom(1, Decimal(80), frozenset({"B"})),
              TallyRoom(2, Decimal(90), unsold=True), TallyRoom(3, Decimal(90), unsold=True),
              TallyRoom(4, Decimal(90), unsold=True)]
    assert owner_units(layout).count == 3
    # A and B take part: 2 of 3 owners (2/3 exactly) but 160 of 430 m² — not a valid vote.
    result = turnout(layout, ballots((0, YES), (1, YES)))
    assert result.taking_part.owners == 2 and result.total.owners == 3
    assert result.area_share == Fraction(160, 430)
    [r] = tally(layout, [ORD], ballots((0, YES), (1, YES)))
    assert r.quorum_owners and not r.quorum_area and not r.passed


def test_co_owners_share_one_room_and_link_their_other_rooms() -> None:
    # Room 0 is owned by A and B together; B also owns room 1: one counting unit. C owns room 2.
    layout = rooms(60, 40, 100, owners=[frozenset({"A", "B"}), frozenset({"B"}), frozenset({"C"})])
    assert owner_units(layout).count == 2
    [r] = tally(layout, [ORD], ballots((0, YES), (1, YES), (2, NO)))
    assert r.yes.owners == 1 and r.no.owners == 1 and r.yes.area == 100
    assert not r.passed  # exactly half the area and half the owners


def test_rooms_without_known_owner_count_one_each_and_unknown_rooms_are_ignored() -> None:
    layout = [TallyRoom(i, Decimal(10)) for i in range(3)]
    assert owner_units(layout).count == 3
    [r] = tally(layout, [ORD], [*ballots((0, YES), (1, YES)), TallyBallot(99, {1: YES})])
    assert r.taking_part.owners == 2 and r.passed


def test_election_fills_seats_by_area_then_headcount() -> None:
    election = TallyMotion(7, ELECTION, seats=2, candidates=4)
    layout = rooms(100, 100, 100, 90, 90)
    votes = [TallyBallot(0, {7: (0, 1)}), TallyBallot(1, {7: (0, 2)}), TallyBallot(2, {7: (1, 2)}),
             TallyBallot(3, {7: (0, 1)}), TallyBallot(4, {7: (2, 3)})]
    [r] = tally(layout, [election], votes)
    approvals = {c.index: (c.approve.area, c.approve.owners) for c in r.candidates}
    # 0: 290 m²/3, 1: 290 m²/3, 2: 290 m²/3, 3: 90 m²/1 of 480 m²/5.
    assert approvals == {0: (290, 3), 1: (290, 3), 2: (290, 3), 3: (90, 1)}
    assert [c.passed for c in r.candidates] == [True, True, True, False]
    # Three candidates tie on area and heads: the order on the ballot decides the last seat.
    assert r.elected == (0, 1) and r.passed
    # Change one vote: candidate 2 gains room 0's 100 m², candidate 1 loses it.
    votes[0] = TallyBallot(0, {7: (0, 2)})
    [again] = tally(layout, [election], votes)
    assert again.elected == (0, 2)


def test_election_over_filled_ballot_approves_nobody_and_no_quorum_elects_nobody() -> None:
    election = TallyMotion(7, ELECTION, seats=1, candidates=2)
    [r] = tally(rooms(10, 10, 10), [election], [TallyBallot(0, {7: (0, 1)}), TallyBallot(1, {7: (0,)}),
                                                 TallyBallot(2, {7: (0,)})])
    assert r.candidates[0].approve.owners == 2 and r.elected == (0,)
    [none] = tally(rooms(10, 10, 10), [election], [TallyBallot(0, {7: (0,)})])
    assert none.elected == () and not none.passed


def test_results_survive_a_round_trip_through_json() -> None:
    layout = rooms(10, "10.25", "33.33")
    results = tally(layout, [ORD, SPE, TallyMotion(3, ELECTION, 1, 2)],
                    [TallyBallot(0, {1: YES, 2: NO, 3: (1,)}), TallyBallot(2, {1: ABSTAIN, 2: YES, 3: ()})])
    assert result_from_json(result_to_json(results)) == results


def test_class_suggestion_follows_article_278() -> None:
    assert suggest_kind("续筹专项维修资金") == SPECIAL
    assert suggest_kind("利用小区广场设置广告位经营") == SPECIAL
    assert suggest_kind("使用维修资金更换电梯") == ORDINARY
    assert suggest_kind("选聘新的物业服务企业") == ORDINARY


# ---- properties ----------------------------------------------------------------------------------------

CHOICE = st.sampled_from([YES, NO, ABSTAIN, None])


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[TallyRoom], list[TallyBallot]]:
    count = draw(st.integers(1, 12))
    owners = draw(st.lists(st.integers(0, 5), min_size=count, max_size=count))
    layout = [TallyRoom(i, Decimal(draw(st.integers(1, 20000))) / 100, frozenset({owners[i]}),
                        unsold=draw(st.booleans()) and i % 3 == 0) for i in range(count)]
    cast: list[TallyBallot] = []
    for i in range(count):
        first, second = draw(CHOICE), draw(CHOICE)
        choices = {k: v for k, v in ((1, first), (2, second)) if v is not None}
        keep_empty: bool = draw(st.booleans())
        if choices or keep_empty:
            cast.append(TallyBallot(i, choices))
    return layout, cast


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.randoms())
def test_order_of_ballots_does_not_matter(scenario: tuple[list[TallyRoom], list[TallyBallot]], rnd: object) -> None:
    layout, cast = scenario
    shuffled = list(cast)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert tally(layout, [ORD, SPE], cast) == tally(layout, [ORD, SPE], shuffled)
    reordered = list(layout)
    rnd.shuffle(reordered)  # type: ignore[attr-defined]
    assert tally(reordered, [ORD, SPE], cast) == tally(layout, [ORD, SPE], cast)


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.integers(0, 1000))
def test_moving_a_ballot_from_against_to_agree_never_fails_a_passed_motion(
        scenario: tuple[list[TallyRoom], list[TallyBallot]], pick: int) -> None:
    layout, cast = scenario
    for motion in (ORD, SPE):
        against = [i for i, b in enumerate(cast) if b.choices.get(motion.motion_id) == NO]
        if not against:
            continue
        index = against[pick % len(against)]
        changed = list(cast)
        changed[index] = TallyBallot(cast[index].room_id, {**cast[index].choices, motion.motion_id: YES})
        [before] = [r for r in tally(layout, [motion], cast)]
        [after] = [r for r in tally(layout, [motion], changed)]
        assert after.yes.area >= before.yes.area and after.yes.owners >= before.yes.owners
        assert not (before.passed and not after.passed)


# ---- the fast tally against a plain reference -----------------------------------------------------------
# The tally counts 10,000 rooms in bulk (integer hundredths, C loops over columns, a union-find over the few
# linked rooms). This reference follows the rules word by word with `Fraction`s and no shortcuts; the two
# must agree on every count, every bound and every seat.

_DEV = object()


def reference_units(layout: list[TallyRoom]) -> list[set[int]]:
    """Merge rooms into owners until no two groups share an owner (the developer owns every unsold room)."""
    groups = [({r.room_id}, {_DEV} if r.unsold else set(r.owners)) for r in layout]
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if groups[i][1] & groups[j][1]:
                    groups[i][0].update(groups[j][0])
                    groups[i][1].update(groups[j][1])
                    del groups[j]
                    merged = True
                    break
            if merged:
                break
    return [rooms_ for rooms_, _ in groups]


def share(part: Fraction | int, whole: Fraction | int) -> Fraction:
    return Fraction(part) / Fraction(whole) if whole else Fraction(0)


def fails(yes_area: Fraction, yes_heads: int, part: tuple[Fraction, int], kind: str) -> list[str]:
    """Special: at least 3/4 of the participating area and owners; ordinary: more than half of each."""
    shares = (("area_yes", share(yes_area, part[0])), ("owner_yes", share(yes_heads, part[1])))
    if kind == SPECIAL:
        return [code for code, s in shares if not s >= Fraction(3, 4)]
    return [code for code, s in shares if not s > Fraction(1, 2)]


def reference_tally(everyone: list[TallyRoom], motions: list[TallyMotion],
                    cast: list[TallyBallot]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for m in motions:
        # A scoped motion (one building's or unit's) is decided by its electorate's rooms alone.
        layout = [r for r in everyone if m.electorate is None or r.room_id in m.electorate]
        area = {r.room_id: Fraction(r.area) / r.area_unit for r in layout}
        units = reference_units(layout)
        last = {}
        for b in cast:
            if b.room_id in area:
                last[b.room_id] = b.choices
        total = (sum(area.values(), Fraction(0)), len(units))
        key = m.choice_key
        part_area, part_heads = Fraction(0), 0
        count_area = {c: Fraction(0) for c in (YES, NO, ABSTAIN)}
        count_heads = {c: 0 for c in (YES, NO, ABSTAIN)}
        approve_area = [Fraction(0)] * m.candidates
        approve_heads = [0] * m.candidates
        for unit in units:
            if m.kind == ELECTION:
                voting, for_area = Fraction(0), [Fraction(0)] * m.candidates
                took_part = False
                for room in unit:
                    value = last.get(room, {}).get(key)
                    if not isinstance(value, list | tuple | set | frozenset):
                        continue
                    took_part = True
                    picks = {int(i) for i in value if 0 <= int(i) < m.candidates}
                    if len(picks) > m.seats:
                        picks = set()
                    voting += area[room]
                    part_area += area[room]
                    for i in picks:
                        for_area[i] += area[room]
                        approve_area[i] += area[room]
                if took_part:
                    part_heads += 1
                    for i in range(m.candidates):
                        approve_heads[i] += for_area[i] > voting / 2
                continue
            by_choice: dict[str, Fraction] = {}
            for room in unit:
                value = last.get(room, {}).get(key)
                if isinstance(value, str) and value in count_area:
                    by_choice[value] = by_choice.get(value, Fraction(0)) + area[room]
                    count_area[value] += area[room]
                    part_area += area[room]
            if by_choice:
                part_heads += 1
                best = max(by_choice.values())
                leaders = [c for c, a in by_choice.items() if a == best]
                count_heads[leaders[0] if len(leaders) == 1 else ABSTAIN] += 1

        reasons = []
        if share(part_area, total[0]) < Fraction(2, 3):
            reasons.append("area_turnout")
        if share(part_heads, total[1]) < Fraction(2, 3):
            reasons.append("owner_turnout")
        quorum = not reasons

        candidates: list[tuple[object, ...]] = []
        if m.kind == ELECTION:
            passing = [i for i in range(m.candidates) if not fails(approve_area[i], approve_heads[i], (part_area, part_heads), ORDINARY)]
            ranked = sorted(passing, key=lambda i: (-approve_area[i], -approve_heads[i], i)) if quorum else []
            elected = set(ranked[:m.seats])
            candidates = [(i, approve_area[i], approve_heads[i], i in passing, i in elected) for i in range(m.candidates)]
            if quorum and not elected:
                reasons.append("nobody_elected")
        else:
            reasons += fails(count_area[YES], count_heads[YES], (part_area, part_heads), m.kind)
        out.append((m.motion_id, total, (part_area, part_heads), [(count_area[c], count_heads[c]) for c in (YES, NO, ABSTAIN)]
                    if m.kind != ELECTION else None, quorum, not reasons, reasons, candidates))
    return out


def project(results: list[MotionResult]) -> list[tuple[object, ...]]:
    return [(r.motion_id, (r.total.area, r.total.owners), (r.taking_part.area, r.taking_part.owners),
             [(c.area, c.owners) for c in (r.yes, r.no, r.abstain)] if r.kind != ELECTION else None,
             r.quorum, r.passed, [code for code, _, _ in r.reasons],
             [(c.index, c.approve.area, c.approve.owners, c.passed, c.elected) for c in r.candidates])
            for r in results]


AREA: st.SearchStrategy[Decimal | Fraction | int] = st.one_of(
    st.sampled_from([Decimal(10), Decimal("20.00"), 10]),  # equal areas: ties within one owner's rooms
    st.integers(1, 30000).map(lambda n: Decimal(n) / 100),  # registered: hundredths
    st.fractions(Fraction(1, 7), Fraction(300), max_denominator=12),  # anything exact
    st.integers(1, 300))
GARBAGE = st.sampled_from([None, "maybe", 3])
CHOSEN = st.one_of(st.sampled_from([YES, NO, ABSTAIN]), st.sampled_from([YES, NO, ABSTAIN]), GARBAGE,
                   st.lists(st.integers(0, 3), max_size=2))
APPROVED = st.one_of(st.lists(st.integers(0, 3), max_size=2, unique=True), st.tuples(st.integers(0, 1)),
                     st.lists(st.integers(-1, 4), max_size=4), GARBAGE, st.just(YES))


# An owner as the tally gets it: a member's person id, or the roster's identity of an owner (by owner id, by
# name and phone written any way, or a line that names the owner of its own room only).
OWNER = st.one_of(st.integers(0, 6), st.sampled_from([
    roster_identity(1, "老周", "13900000009", ""), roster_identity(2, "老周", "+86 139 0000 0009", ""),
    roster_identity(3, "周建国", "", "YZ-7"), roster_identity(4, "", "13900000001", "YZ-7"),
    roster_identity(5, "张伟", "", ""), roster_identity(6, "张伟", "", "")]))


@st.composite
def elections(draw: st.DrawFn) -> tuple[list[TallyRoom], list[TallyMotion], list[TallyBallot]]:
    count = draw(st.integers(0, 14))
    # As the loader gives them (integer hundredths), or as exact numbers in m²; most layouts use one way.
    hundredths = draw(st.integers(0, 3)) > 0
    layout = [TallyRoom(i, draw(st.integers(1, 30000)) if hundredths and draw(st.integers(0, 9)) else draw(AREA),
                        frozenset(draw(st.lists(OWNER, max_size=2))),
                        unsold=draw(st.integers(0, 5)) == 0) for i in range(count)]
    layout = [TallyRoom(r.room_id, r.area, r.owners, r.unsold, area_unit=100) if hundredths and isinstance(r.area, int)
              else r for r in layout]
    # Some motions are decided by one building's or unit's rooms only (a scoped electorate), sometimes the same.
    scope = st.one_of(st.none(), st.frozensets(st.integers(0, count + 1)))
    shared_scope = draw(scope)
    motions = [TallyMotion(1, ORDINARY, electorate=draw(st.one_of(scope, st.just(shared_scope)))),
               TallyMotion(2, SPECIAL, electorate=draw(st.one_of(scope, st.just(shared_scope)))),
               TallyMotion(3, ELECTION, seats=draw(st.integers(1, 3)), candidates=draw(st.integers(1, 4)),
                           electorate=draw(st.one_of(scope, st.just(shared_scope))))]
    # Some rooms vote twice (the last counts), some ballots name a room that is not in the compound.
    cast = [TallyBallot(draw(st.integers(0, count + 1)), {
        k: v for k, v in ((1, draw(CHOSEN)), (2, draw(CHOSEN)), (3, draw(APPROVED))) if v is not None})
        for _ in range(draw(st.integers(0, count + 4)))]
    return layout, motions, cast


@settings(max_examples=400, deadline=None)
@given(elections())
def test_fast_tally_agrees_with_the_plain_reference(
        case: tuple[list[TallyRoom], list[TallyMotion], list[TallyBallot]]) -> None:
    layout, motions, cast = case
    assert project(tally(layout, motions, cast)) == reference_tally(layout, motions, cast)
    units = reference_units(layout)
    voted = {b.room_id for b in cast} & {r.room_id for r in layout}
    expected = turnout(layout, cast)
    assert expected.total.owners == len(units)
    assert expected.taking_part.owners == sum(1 for unit in units if unit & voted)
    assert expected.taking_part.area == sum((Fraction(r.area) / r.area_unit for r in layout if r.room_id in voted),
                                            Fraction(0))


def test_reference_check_catches_a_wrong_owner_count() -> None:
    # The comparison is not vacuous: a tally that ignored one owner's second room would be caught.
    a = frozenset({"A"})
    layout = rooms(50, 50, 40, owners=[a, a, frozenset({"B"})])
    cast = ballots((0, YES), (1, YES), (2, NO))
    assert reference_tally(layout, [ORD], cast)[0][3] == [(100, 1), (40, 1), (0, 0)]
    assert project(tally(layout, [ORD], cast)) == reference_tally(layout, [ORD], cast)
