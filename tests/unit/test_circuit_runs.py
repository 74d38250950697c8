"""A run on a circuit (bridge/compile/run.py's Run) against brute force.

Random formulas over a few facts of two or three values are built into a
circuit with its own constructors (leaves, and, or, not; shared facts make
decisions) and a random partial case is run on it. The reference reads the
formula itself, not the circuit, over every completion of the case:

- the value is true (false) when every completion makes the formula true
  (false), else unknown;
- the missing facts are the unknown facts some pair of completions differing
  in that fact alone tells apart;
- the explanation is the smallest set of the case's facts that forces the
  value, the lowest-numbered among sets of that size.

Each is checked on nodes prepared for runs and on nodes built later.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policykb.bridge.compile import run as runs
from policykb.bridge.compile.circuit import Circuit
from policykb.bridge.compile.prepared import FAILS, HOLDS, UNKNOWN, Prepared, Undecided
from policykb.bridge.compile.run import Run

# ("leaf", fact, mask) | ("and"|"or", [formulas]) | ("not", formula) | ("if", leaf, then, else)
Formula = tuple[Any, ...]


def formulas(sizes: Sequence[int]) -> st.SearchStrategy[Formula]:
    leaves = st.integers(0, len(sizes) - 1).flatmap(
        lambda fact: st.integers(1, (1 << sizes[fact]) - 2).map(lambda mask: ("leaf", fact, mask))
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(["and", "or"]), st.lists(inner, min_size=2, max_size=3)),
            st.tuples(st.just("not"), inner),
            # if a leaf then one formula else another: shared facts make decisions
            st.tuples(st.just("if"), leaves, inner, inner),
        ),
        max_leaves=8,
    )


def build(circuit: Circuit, formula: Formula) -> int:
    kind = formula[0]
    if kind == "leaf":
        return circuit.leaf(formula[1], formula[2])
    if kind == "not":
        return circuit.negate(build(circuit, formula[1]))
    if kind == "if":
        test, then, otherwise = (build(circuit, part) for part in formula[1:])
        return circuit.disjoin(
            [circuit.conjoin([test, then]), circuit.conjoin([circuit.negate(test), otherwise])]
        )
    parts = [build(circuit, part) for part in formula[1]]
    return circuit.conjoin(parts) if kind == "and" else circuit.disjoin(parts)


def holds(formula: Formula, vector: Sequence[int]) -> bool:
    kind = formula[0]
    if kind == "leaf":
        return bool(formula[2] >> vector[formula[1]] & 1)
    if kind == "not":
        return not holds(formula[1], vector)
    if kind == "if":
        return holds(formula[2] if holds(formula[1], vector) else formula[3], vector)
    parts = (holds(part, vector) for part in formula[1])
    return all(parts) if kind == "and" else any(parts)


def completions(vector: Sequence[int], sizes: Sequence[int]) -> list[list[int]]:
    unknown = [fact for fact, value in enumerate(vector) if value < 0]
    found = []
    for choice in itertools.product(*(range(sizes[fact]) for fact in unknown)):
        complete = list(vector)
        for fact, value in zip(unknown, choice, strict=True):
            complete[fact] = value
        found.append(complete)
    return found


def three_valued(formula: Formula, vector: Sequence[int], sizes: Sequence[int]) -> int:
    seen = {holds(formula, complete) for complete in completions(vector, sizes)}
    return UNKNOWN if len(seen) == 2 else HOLDS if seen == {True} else FAILS


def cases(sizes: Sequence[int]) -> st.SearchStrategy[list[int]]:
    return st.tuples(*(st.integers(-1, size - 1) for size in sizes)).map(list)


SIZES = st.lists(st.integers(2, 3), min_size=2, max_size=5)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), sizes=SIZES)
def test_a_run_gives_the_exact_value_missing_facts_and_smallest_explanation(
    data: st.DataObject, sizes: list[int]
) -> None:
    circuit = Circuit(sizes)
    formula = data.draw(formulas(sizes))
    # Prepared before the formula is built, a run values its nodes on demand
    # (as it does the conjunctions explanations build after compiling).
    before = Prepared(circuit)
    root = build(circuit, formula)
    after = Prepared(circuit)
    for prepared in (before, after) * 2:
        vector = data.draw(cases(sizes))
        run = Run(prepared, vector)
        value = three_valued(formula, vector, sizes)
        assert run.value(root) == value
        known = [fact for fact, v in enumerate(vector) if v >= 0]
        if value == UNKNOWN:
            missing = {
                fact
                for fact, v in enumerate(vector)
                if v < 0
                and any(
                    holds(formula, complete)
                    != holds(formula, [*complete[:fact], other, *complete[fact + 1 :]])
                    for complete in completions(vector, sizes)
                    for other in range(sizes[fact])
                )
            }
            assert {f for f in range(len(sizes)) if run.missing(root) >> f & 1} == missing
            continue
        forcing = next(
            subset
            for size in range(len(known) + 1)
            for subset in itertools.combinations(known, size)
            if three_valued(
                formula, [v if f in subset else -1 for f, v in enumerate(vector)], sizes
            )
            == value
        )
        assert run.explain(root, value) == forcing, (formula, vector)


def _same_support_branches(facts: int, sizes: list[int]) -> tuple[Circuit, int]:
    """A decision on fact 0 between the conjunction of facts 1..facts and the
    same with the last fact negated: the branches read the same facts and
    differ, so a case leaving those facts unknown needs 2**facts comparisons."""
    circuit = Circuit(sizes)
    shared = [circuit.leaf(f, 0b10) for f in range(1, facts)]
    branches = [
        circuit.conjoin([*shared, circuit.leaf(facts, 0b10)]),
        circuit.conjoin([*shared, circuit.leaf(facts, 0b01)]),
    ]
    return circuit, circuit.decide(0, branches)


def test_branches_equal_under_the_case_do_not_make_their_decision_missing() -> None:
    # x ? (a and b) : (a and c), with b and c true: either way it is a.
    circuit = Circuit([2, 2, 2, 2])
    a, b, c = (circuit.leaf(f, 0b10) for f in (1, 2, 3))
    root = circuit.decide(0, [circuit.conjoin([a, c]), circuit.conjoin([a, b])])
    prepared = Prepared(circuit)
    assert Run(prepared, [-1, -1, 1, 1]).missing(root) == 0b0010
    assert Run(prepared, [-1, -1, 1, 0]).missing(root) == 0b0011  # a or false: x matters


def test_comparing_branches_stops_past_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs, "MAX_CHECKED", 8)
    for facts, limited in ((3, False), (4, True)):  # 2**3 = 8 comparisons allowed, 16 not
        circuit, root = _same_support_branches(facts, [2] * (facts + 1))
        run = Run(Prepared(circuit), [-1] * (facts + 1))
        if limited:
            with pytest.raises(Undecided):
                run.missing(root)
        else:
            assert run.missing(root) == (1 << (facts + 1)) - 1


def test_a_child_is_skipped_only_when_its_bound_for_the_wanted_value_cannot_win() -> None:
    # (p and q) or (x = 0 and (a or b or c)) or (x = 1 and (d or e or f)): the
    # decision on x is cheap to make true (2 facts) and dear to make false (4),
    # so only its bound for true may decide whether (x, a) can beat (p, q).
    x, a, b, c, d, e, f, p, q = (("leaf", fact, 0b10) for fact in range(9))
    x_is_0 = ("leaf", 0, 0b01)
    formula: Formula = (
        "or",
        [
            ("and", [p, q]),
            ("and", [x_is_0, ("or", [a, b, c])]),
            ("and", [x, ("or", [d, e, f])]),
        ],
    )
    sizes = [2] * 9
    circuit = Circuit(sizes)
    root = build(circuit, formula)
    vector = [0, 1, 0, 0, 0, 0, 0, 1, 1]
    assert three_valued(formula, vector, sizes) == HOLDS
    negated = circuit.negate(root)  # the same by De Morgan, for the value false
    run = Run(Prepared(circuit), vector)
    assert run.explain(root, HOLDS) == (0, 1)
    assert run.explain(negated, FAILS) == (0, 1)


def test_a_child_that_may_be_smaller_is_never_skipped() -> None:
    # (a and b) or c, all true: c alone explains it, though its fact comes later.
    a, b, c = (("leaf", fact, 0b10) for fact in range(3))
    formula: Formula = ("or", [("and", [a, b]), c])
    circuit = Circuit([2, 2, 2])
    root = build(circuit, formula)
    assert Run(Prepared(circuit), [1, 1, 1]).explain(root, HOLDS) == (2,)


def test_a_child_past_one_that_cannot_win_is_still_explained() -> None:
    # (a and b) or (d and e and f) or g, all true: g alone, after a child of three.
    a, b, d, e, f, g = (("leaf", fact, 0b10) for fact in range(6))
    formula: Formula = ("or", [("and", [a, b]), ("and", [d, e, f]), g])
    circuit = Circuit([2] * 6)
    root = build(circuit, formula)
    assert Run(Prepared(circuit), [1] * 6).explain(root, HOLDS) == (5,)


def test_branches_that_share_facts_are_explained_together() -> None:
    # x unknown, x ? (b or c) : (a or b), all else true: b alone holds either way.
    circuit = Circuit([2, 2, 2, 2])
    a, b, c = (circuit.leaf(fact, 0b10) for fact in (1, 2, 3))
    root = circuit.decide(0, [circuit.disjoin([a, b]), circuit.disjoin([b, c])])
    assert Run(Prepared(circuit), [-1, 1, 1, 1]).explain(root, HOLDS) == (2,)


def test_a_false_branch_costs_nothing_to_explain() -> None:
    # y and (x = 0: false, x = 1: a and b, x = 2: c) with y false and x = 0:
    # either fact alone makes it false; x comes first.
    circuit = Circuit([3, 2, 2, 2, 2])
    y = circuit.leaf(4, 0b10)
    a, b, c = (circuit.leaf(fact, 0b10) for fact in (1, 2, 3))
    decision = circuit.decide(0, [0, circuit.conjoin([a, b]), c])  # node 0 is false
    root = circuit.conjoin([y, decision])
    negated = circuit.negate(root)  # a true branch, by De Morgan
    run = Run(Prepared(circuit), [0, 1, 1, 1, 0])
    assert run.explain(root, FAILS) == (0,)
    assert run.explain(negated, HOLDS) == (0,)


def test_the_bound_of_branches_that_share_facts_is_not_their_sum() -> None:
    # y or (x unknown: x ? (b or c) : (a or b)), all else true: b alone makes
    # the decision true, as y does, and comes first.
    circuit = Circuit([2, 2, 2, 2, 2])
    y = circuit.leaf(4, 0b10)
    a, b, c = (circuit.leaf(fact, 0b10) for fact in (1, 2, 3))
    decision = circuit.decide(0, [circuit.disjoin([a, b]), circuit.disjoin([b, c])])
    root = circuit.disjoin([y, decision])
    assert Run(Prepared(circuit), [-1, 1, 1, 1, 1]).explain(root, HOLDS) == (2,)


def test_a_decision_is_false_as_cheaply_as_its_cheapest_way() -> None:
    # (y or z) and (x ? three conjunctions of three), y, z false, x = 0 and
    # a = 0: (x, a) makes the decision false, as (y, z) does the other child,
    # and comes first; the decision's bound for false is 2 (keep x), not its
    # bound for true (4) nor three false branches (3).
    circuit = Circuit([3, *[2] * 11])
    y, z = circuit.leaf(10, 0b10), circuit.leaf(11, 0b10)
    either = circuit.disjoin([y, z])
    branches = [circuit.conjoin([circuit.leaf(f, 0b10) for f in (1, 2, 3)])]
    branches += [
        circuit.conjoin([circuit.leaf(f, 0b10) for f in (4 + 3 * k, 5 + 3 * k, 6 + 3 * k)])
        for k in range(2)
    ]
    root = circuit.conjoin([either, circuit.decide(0, branches)])
    vector = [0, 0, *[1] * 8, 0, 0]
    assert Run(Prepared(circuit), vector).explain(root, FAILS) == (0, 1)


def test_branches_that_share_a_false_fact_are_false_through_it() -> None:
    # y and (x unknown: x ? (a and c) : (a and b)), y false, a false: (a) alone
    # makes the decision false whatever x is, and comes before y.
    circuit = Circuit([2, 2, 2, 2, 2])
    y = circuit.leaf(4, 0b10)
    a, b, c = (circuit.leaf(fact, 0b10) for fact in (1, 2, 3))
    decision = circuit.decide(0, [circuit.conjoin([a, b]), circuit.conjoin([a, c])])
    root = circuit.conjoin([y, decision])
    assert Run(Prepared(circuit), [-1, 0, 1, 1, 0]).explain(root, FAILS) == (1,)


def test_a_conjunction_past_the_node_limit_is_undecided(monkeypatch: pytest.MonkeyPatch) -> None:
    from policykb.bridge.compile import circuit as circuits

    circuit = Circuit([2, 2, 2])
    a, b = circuit.leaf(0, 0b10), circuit.leaf(1, 0b10)
    prepared = Prepared(circuit)
    monkeypatch.setattr(circuits, "MAX_NODES", len(circuit))
    with pytest.raises(Undecided, match="nodes"):
        prepared.together((a, b), HOLDS)
    monkeypatch.undo()
    both = prepared.together((a, b), HOLDS)
    assert prepared.together((a, b), HOLDS) == both == circuit.conjoin([a, b])
    assert prepared.together((a, b), FAILS) == circuit.conjoin(
        [circuit.negate(a), circuit.negate(b)]
    )
