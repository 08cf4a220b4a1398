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
