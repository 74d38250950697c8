"""The implicit hitting-set driver against brute force on random set systems."""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from policykb.bridge.solving.hitting_sets import Correction, MinimalSets
from tests.sampling import examples

ITEMS = "abcde"
families = st.lists(
    st.frozensets(st.sampled_from(ITEMS), min_size=1, max_size=3), min_size=1, max_size=4
)


def _brute_minimal(family: list[frozenset[str]]) -> set[frozenset[str]]:
    valid = [
        frozenset(s)
        for n in range(len(ITEMS) + 1)
        for s in combinations(ITEMS, n)
        if any(required <= set(s) for required in family)
    ]
    return {s for s in valid if not any(t < s for t in valid)}


@settings(max_examples=200, deadline=None)
@given(family=families)
def test_search_yields_exactly_the_minimal_valid_sets_by_increasing_size(
    family: list[frozenset[str]],
) -> None:
    """A set is valid when it holds one of the family's sets. Every candidate is
    tested in order of size, and the accepted ones are exactly the minimal
    valid sets."""
    tested: list[int] = []

    def test(candidate: list[str]) -> Correction[str] | None:
        tested.append(len(candidate))
        if any(required <= set(candidate) for required in family):
            return None
        # A valid set must hold an item of the family this one lacks.
        relevant = set().union(*family)
        return Correction([item for item in ITEMS if item in relevant and item not in candidate])

    found = [frozenset(s) for s in MinimalSets(list(ITEMS)).search(test)]
    assert set(found) == _brute_minimal(family)
    assert len(found) == len(set(found))
    assert tested == sorted(tested)


def test_distinct_groups_give_one_set_per_combination_of_groups_first() -> None:
    """Items x1, x2 (one group) and y (another): every single item is valid. A
    distinct search gives one x and y; a second search gives the other x."""
    items = ["x1", "x2", "y"]
    search = MinimalSets(items, [["x1", "x2"], ["y"]])

    def test(candidate: list[str]) -> Correction[str] | None:
        return None if candidate else Correction(items)

    first = [tuple(s) for s in search.search(test, distinct_groups=True)]
    assert len(first) == 2 and ("y",) in first
    second = [tuple(s) for s in search.search(test)]
    assert len(second) == 1
    assert {*first, *second} == {("x1",), ("x2",), ("y",)}


def test_alike_groups_stand_for_all_their_items() -> None:
    """Once a set with one item of an alike group is accepted, the same set with
    another item of that group is not proposed."""
    items = ["l1", "l2", "l3", "z"]
    search = MinimalSets(items, [["l1", "l2", "l3"], ["z"]], alike=[0])

    def test(candidate: list[str]) -> Correction[str] | None:
        return None if candidate else Correction(items)

    found = [tuple(s) for s in search.search(test)]
    assert sorted(len(s) for s in found) == [1, 1]
    assert ("z",) in found


def test_every_search_starts_from_the_empty_set() -> None:
    """When every set is valid, each search, in either mode, gives the empty set
    alone; a later search in another mode starts from size 0 again."""
    items = ["x1", "x2", "y"]
    search = MinimalSets(items, [["x1", "x2"], ["y"]])
    assert list(search.search(lambda candidate: None, distinct_groups=True)) == [[]]
    fresh = MinimalSets(items, [["x1", "x2"], ["y"]])
    refuse_empty = list(
        fresh.search(lambda c: None if c else Correction(items), distinct_groups=True)
    )
    assert len(refuse_empty) == 2
    # Back to plain mode: nothing smaller than the sets found is left, and the
    # remaining x is found at size 1, not skipped.
    assert len(list(fresh.search(lambda c: None if c else Correction(items)))) == 1


# Items in exclusive groups (as a change search's values of one fact), and
# hidden constraints as a change search learns them: a valid set holds one
# of `items` or lacks one of `unless`. A refuted candidate is told the first
# constraint it breaks.
GROUPED = {"a1": 0, "a2": 0, "a3": 0, "b1": 1, "b2": 1, "c": 2, "d": 3}
GROUPS = [[item for item, group in GROUPED.items() if group == index] for index in range(4)]
constraints = st.lists(
    st.tuples(
        st.frozensets(st.sampled_from(list(GROUPED)), min_size=1, max_size=4),
        st.frozensets(st.sampled_from(list(GROUPED)), max_size=2),
    ),
    min_size=1,
    max_size=5,
)


def _meets(chosen: frozenset[str], constraint: tuple[frozenset[str], frozenset[str]]) -> bool:
    items, unless = constraint
    return bool(chosen & items) or not unless <= chosen


def _sets_of_groups() -> list[frozenset[str]]:
    """Every set that picks at most one item of each group."""
    found = [frozenset()]
    for group in GROUPS:
        found = [s | {item} for s in found for item in group] + found
    return found


def _minimal_valid(family: list[tuple[frozenset[str], frozenset[str]]]) -> set[frozenset[str]]:
    valid = [s for s in _sets_of_groups() if all(_meets(s, c) for c in family)]
    return {s for s in valid if not any(t < s for t in valid)}


def _tester(
    family: list[tuple[frozenset[str], frozenset[str]]], tested: list[int]
) -> Callable[[list[str]], Correction[str] | None]:
    def test(candidate: list[str]) -> Correction[str] | None:
        tested.append(len(candidate))
        chosen = frozenset(candidate)
        for constraint in family:
            if not _meets(chosen, constraint):
                items, unless = constraint
                return Correction(sorted(items), unless=sorted(unless))
        return None

    return test


def _groups_of(chosen: frozenset[str]) -> set[int]:
    return {GROUPED[item] for item in chosen}


@settings(max_examples=examples(300), deadline=None)
@given(family=constraints, largest=st.integers(0, 4), known=st.integers(0, 5))
def test_a_distinct_search_then_a_plain_one_give_every_minimal_valid_set(
    family: list[tuple[frozenset[str], frozenset[str]]], largest: int, known: int
) -> None:
    """What the change search asks (changes.py): first one set per
    combination of groups, up to a size, then the other sets of those sizes,
    then every other minimal valid set; against brute force over every set
    that picks at most one item per group. The first `known` constraints are
    required before searching (as the parts a grounding kept), so that a
    size can have no candidate at all while a larger one has. Candidates come
    by increasing size, and what earlier searches learned is kept."""
    search = MinimalSets(list(GROUPED), GROUPS)
    search.require_all(
        Correction(sorted(items), sorted(unless)) for items, unless in family[:known]
    )
    minimal = _minimal_valid(family)
    tested: list[int] = []
    test = _tester(family, tested)

    def past(size: int) -> bool:
        return size > largest

    distinct = [frozenset(s) for s in search.search(test, past, distinct_groups=True)]
    assert tested == sorted(tested)
    assert set(distinct) <= minimal and len(distinct) == len(set(distinct))
    for index, later in enumerate(distinct):
        assert not any(_groups_of(s) <= _groups_of(later) for s in distinct[:index])
    small = {s for s in minimal if len(s) <= largest}
    for s in small:
        assert any(_groups_of(found) <= _groups_of(s) for found in distinct), s

    tested.clear()
    plain = [frozenset(s) for s in search.search(test, past)]
    assert tested == sorted(tested)
    assert not set(plain) & set(distinct)
    assert set(plain) | set(distinct) == small

    tested.clear()
    rest = [frozenset(s) for s in search.search(test)]
    assert tested == sorted(tested)
    assert set(rest) == minimal - small
    assert len(rest) == len(set(rest))


@settings(max_examples=examples(300), deadline=None)
@given(family=constraints)
def test_alike_groups_give_one_set_for_all_their_items(
    family: list[tuple[frozenset[str], frozenset[str]]],
) -> None:
    """With group 0 alike (a list's options), every accepted set is a
    minimal valid set, and every minimal valid set is stood for by one that
    picks the same other items and from no other alike group."""
    search = MinimalSets(list(GROUPED), GROUPS, alike=[0])
    tested: list[int] = []
    found = [frozenset(s) for s in search.search(_tester(family, tested))]
    minimal = _minimal_valid(family)
    assert tested == sorted(tested)
    assert set(found) <= minimal

    def outside(chosen: frozenset[str]) -> frozenset[str]:
        return frozenset(item for item in chosen if GROUPED[item] != 0)

    for s in minimal:
        assert any(
            outside(f) <= outside(s) and (0 not in _groups_of(f) or 0 in _groups_of(s))
            for f in found
        ), s
    for index, later in enumerate(found):
        for earlier in found[:index]:
            same_rest = outside(earlier) <= outside(later)
            assert not (same_rest and _groups_of(earlier) & {0} <= _groups_of(later)), later
