"""The implicit hitting-set driver against brute force on random set systems."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from policykb.bridge.solving.hitting_sets import Correction, MinimalSets

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
